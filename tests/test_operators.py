"""Issue 14 (operators and States), defects 3, 4, 8, 10: what operators meet with `idc airflow` and the
CLI. The real Airflow runs are in tests/test_dags.py (dag.test) and the README's measured backfill;
here the operator tools run against a small fake of the Airflow REST API and a throwaway store."""
from __future__ import annotations

import json
import os
import shutil
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from click.testing import CliRunner
from obspy import UTCDateTime
from obspy.core.event import Catalog, Event, Origin

from pipeline import orchestration, tasks
from pipeline.cli.main import cli
from pipeline.store import db
from pipeline.store.catalog import store_catalog
from pipeline.store.products import ProductKey, record_run, write_product
from tests import PROJECT_ROOT
from tests.conftest import make_settings

WAVEFORMS = PROJECT_ROOT / "tests" / "data" / "iceland" / "waveforms"


def _env(home, **extra):
    return {**{k: None for k in os.environ if k.startswith("IDC")}, "IDC_HOME": str(home), **extra}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ------------------------------------------------------------------ defect 8: security of the operator tools
def test_airflow_api_server_binds_loopback_by_default(tmp_path):
    s = make_settings(tmp_path / "h")
    env = orchestration.airflow_environ(s)
    assert env["AIRFLOW__API__HOST"] == "127.0.0.1"
    assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"].startswith("http://127.0.0.1:")
    wide = make_settings(tmp_path / "h", **{"airflow.host": "0.0.0.0"})
    assert orchestration.airflow_environ(wide)["AIRFLOW__API__HOST"] == "0.0.0.0"


def _fake_running_home(home, port):
    """A home whose pid file names a live process group (this test's) and holds a generated login."""
    ahome = home / "airflow"
    ahome.mkdir(parents=True)
    (ahome / "standalone.pid").write_text(f"{os.getpgid(0)}\n")
    (ahome / "simple_auth_manager_passwords.json.generated").write_text(json.dumps({"admin": "s3cret-pw"}))
    return _env(home, IDC__AIRFLOW__PORT=str(port))


def test_status_names_the_password_file_not_the_password(tmp_path):
    env = _fake_running_home(tmp_path / "home", _free_port())
    res = CliRunner().invoke(cli, ["airflow", "status"], env=env)
    assert res.exit_code == 0, res.output
    assert "s3cret-pw" not in res.output
    assert "simple_auth_manager_passwords.json.generated" in res.output and '"running": true' in res.output


@pytest.fixture
def busy_port():
    """Something (an Airflow of another home, as far as `idc airflow` can tell) serving a port."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    yield srv.getsockname()[1]
    srv.close()


@pytest.mark.parametrize("command", ["status", "down"])
def test_status_and_down_of_another_home_say_an_airflow_serves_the_port(tmp_path, busy_port, command):
    env = _env(tmp_path / "other-home", IDC__AIRFLOW__PORT=str(busy_port))
    res = CliRunner().invoke(cli, ["airflow", command], env=env)
    assert res.exit_code == 1, res.output
    assert f"an Airflow serves 127.0.0.1:{busy_port}" in res.output
    assert "another home" in res.output


def test_status_with_nothing_running_is_not_an_error(tmp_path):
    res = CliRunner().invoke(cli, ["airflow", "status"], env=_env(tmp_path / "h", IDC__AIRFLOW__PORT=str(_free_port())))
    assert res.exit_code == 0 and '"running": false' in res.output


# ------------------------------------------------------------------ defect 3: a fresh home for Airflow
def test_airflow_up_prepares_a_fresh_home_before_starting(tmp_path, monkeypatch):
    """`idc airflow up` migrates the store, loads the configured stations and creates the folders
    (the drop folder too) before Airflow starts; here Airflow itself is not started."""
    s = make_settings(tmp_path / "home", **{"ingest.drop_dir": "drop", "airflow.port": _free_port()})

    class Stop(Exception):
        pass

    def no_airflow(settings):
        raise Stop

    monkeypatch.setattr(orchestration, "prepare", no_airflow)
    with pytest.raises(Stop):
        orchestration.up(s)
    assert (s.home / "drop").is_dir() and s.archive_dir.is_dir() and s.quarantine_dir.is_dir()
    assert db.current_revision(s.database_url) == db.head_revision()
    sta = tasks.station_table(s)
    assert {"DYJN", "FLUR"} <= set(sta["station"])


# ------------------------------------------------------------------ defect 4: backfill
def test_backfill_windows_are_exactly_those_inside_start_end():
    w = orchestration.backfill_windows
    assert [(str(a)[11:16], str(b)[11:16]) for a, b in w("sel1", "2014-08-24T00:00", "2014-08-24T01:00")] == \
        [("00:00", "00:20"), ("00:20", "00:40"), ("00:40", "01:00")]
    assert len(w("ingest", "2014-08-24T00:00", "2014-08-24T00:20")) == 2
    # unaligned ends: only whole windows inside the range
    assert [str(a)[11:16] for a, _ in w("sel2", "2014-08-24T00:05", "2014-08-24T01:10")] == ["00:20", "00:40"]
    with pytest.raises(orchestration.AirflowRunError, match="no time windows"):
        w("distribute", "2014-08-24", "2014-08-25")
    assert w("reb_publish", "2014-08-24", "2014-08-25") == [(UTCDateTime(2014, 8, 24), UTCDateTime(2014, 8, 25))]


class _FakeAirflow(BaseHTTPRequestHandler):
    """The part of Airflow's REST API `idc airflow backfill` uses; backfill runs succeed at once."""

    calls: list = []
    paused: dict = {}

    def log_message(self, *a):
        pass

    def _send(self, code, body):
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return json.loads(self.rfile.read(n)) if n else None

    def do_POST(self):
        body = self._body()
        self.calls.append(("POST", self.path, body))
        if self.path == "/auth/token":
            ok = body == {"username": "admin", "password": "s3cret-pw"}
            return self._send(201 if ok else 401, {"access_token": "tok"} if ok else {"detail": "no"})
        assert self.headers["Authorization"] == "Bearer tok"
        if self.path == "/api/v2/backfills":
            if self.paused.get(body["dag_id"], True):  # what real Airflow does: runs sit queued
                return self._send(201, {"id": len(self.calls)})
            t0, t1 = UTCDateTime(body["from_date"]), UTCDateTime(body["to_date"])
            delta = orchestration.WINDOWS[body["dag_id"]]
            runs, t = [], t0
            while t <= t1:  # Airflow: logical dates from_date ... to_date inclusive, window = [ld, ld + delta)
                runs.append({"data_interval_start": str(t)[:19] + "Z", "data_interval_end": str(t + delta)[:19] + "Z",
                             "state": "success"})
                t += delta
            self.server.runs[body["dag_id"]] = runs
            return self._send(201, {"id": len(self.calls)})
        self._send(404, {})

    def do_PATCH(self):
        body = self._body()
        self.calls.append(("PATCH", self.path, body))
        self.paused[self.path.rsplit("/", 1)[1]] = body["is_paused"]
        self._send(200, {})

    def do_GET(self):
        self.calls.append(("GET", self.path, None))
        if self.path.startswith("/api/v2/dags?"):
            return self._send(200, {"dags": [{"dag_id": d} for d in ("ingest", "sel1", "sel2", "sel3")]})
        if "/dagRuns" in self.path:
            dag = self.path.split("/")[4]
            return self._send(200, {"dag_runs": self.server.runs.get(dag, [{"data_interval_start": None}])})
        self._send(404, {})


@pytest.fixture
def fake_airflow():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _FakeAirflow)
    srv.runs = {}
    _FakeAirflow.calls, _FakeAirflow.paused = [], {}
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield srv
    srv.shutdown()
    srv.server_close()


def test_backfill_unpauses_runs_exactly_the_windows_and_reports(tmp_path, fake_airflow):
    env = _fake_running_home(tmp_path / "home", fake_airflow.server_address[1])
    res = CliRunner().invoke(cli, ["airflow", "backfill", "--start", "2014-08-24T00:00", "--end", "2014-08-24T01:00",
                                   "--dag", "sel1", "--dag", "ingest"], env=env)
    assert res.exit_code == 0, res.output
    posts = [c for c in _FakeAirflow.calls if c[1] == "/api/v2/backfills"]
    assert [p[2]["dag_id"] for p in posts] == ["ingest", "sel1"]  # ingest first: SEL needs its data
    for p in posts:  # unpaused before the backfill was created
        i = _FakeAirflow.calls.index(p)
        assert ("PATCH", f"/api/v2/dags/{p[2]['dag_id']}", {"is_paused": False}) in _FakeAirflow.calls[:i]
    sel1 = next(p[2] for p in posts if p[2]["dag_id"] == "sel1")
    # Airflow's to_date is inclusive (a logical date): the start of the last window inside the range
    assert (sel1["from_date"], sel1["to_date"]) == ("2014-08-24T00:00:00Z", "2014-08-24T00:40:00Z")
    assert "sel1 2014-08-24T00:40: success" in res.output
    assert "sel1: 3/3 windows success" in res.output and "ingest: 6/6 windows success" in res.output


def test_backfill_without_a_running_airflow_says_how_to_start_it(tmp_path):
    res = CliRunner().invoke(cli, ["airflow", "backfill", "--start", "2014-08-24", "--end", "2014-08-24T01:00"],
                             env=_env(tmp_path / "h", IDC__AIRFLOW__PORT=str(_free_port())))
    assert res.exit_code == 1 and "idc airflow up" in res.output


def test_backfill_latency_is_measured_from_data_arrival(tmp_path):
    """A backfill of 2014 data in 2026 reported 4,488 days: its latency counts from the arrival of
    the window's newest data in the store (the availability rows' load date), not the window end."""
    from datetime import datetime, timedelta, timezone

    from pipeline.store.models import WfAvail
    from pipeline.store.products import newest_arrival

    s = make_settings(tmp_path / "home")
    db.upgrade(s.database_url)
    t0, t1 = UTCDateTime("2014-08-24T00:00:00"), UTCDateTime("2014-08-24T00:20:00")
    arrived = datetime.now(timezone.utc) - timedelta(seconds=90)
    with db.session_scope(s.database_url) as ss:
        ss.add(WfAvail(net="Z7", sta="FLUR", loc="", chan="HHZ", kind="segment", starttime=t0.timestamp + 60,
                       endtime=t0.timestamp + 600, samprate=100.0, nsamp=54000, path="x", lddate=arrived))
    with db.session_scope(s.database_url) as ss:
        assert newest_arrival(ss, t0.timestamp, t1.timestamp) == pytest.approx(arrived.timestamp(), abs=1e-3)
        assert newest_arrival(ss, t1.timestamp, t1.timestamp + 1200) is None
        prod, new = write_product(ss, ProductKey("SEL1", t0.timestamp, t1.timestamp), input_fingerprint="f",
                                  config_hash="c", software_version="t", fill=lambda s_, p: {})
        late = record_run(ss, prod, new, 0, arrived, 1.0, "airflow", "sel1/scheduled__x")
        back = record_run(ss, prod, new, 0, arrived, 1.0, "airflow", "sel1/backfill__x",
                          data_arrival=newest_arrival(ss, t0.timestamp, t1.timestamp))
    assert late["latency_s"] > 12 * 365 * 86400 and late["latency_from"] == "window_end"
    assert 89 < back["latency_s"] < 600 and back["latency_from"] == "data_arrival"


# ------------------------------------------------------------------ defect 10: CLI
def _store_sel3(settings, start, minutes_after):
    t0 = UTCDateTime(start)
    cat = Catalog([Event(origins=[Origin(time=t0 + 60 * m, latitude=64.6, longitude=-17.4, depth=5000.0)])
                   for m in minutes_after])
    for ev in cat:
        ev.preferred_origin_id = ev.origins[0].resource_id
    with db.session_scope(settings.database_url) as ss:
        write_product(ss, ProductKey("SEL3", t0.timestamp, (t0 + 1200).timestamp), input_fingerprint=str(start),
                      config_hash="c", software_version="t", fill=lambda s_, p: store_catalog(s_, p, cat))


def test_export_of_a_day_writes_every_window_inside_it(tmp_path):
    s = make_settings(tmp_path / "home")
    db.upgrade(s.database_url)
    _store_sel3(s, "2014-08-24T00:00:00", [1, 5])
    _store_sel3(s, "2014-08-24T00:20:00", [3])
    _store_sel3(s, "2014-08-25T00:00:00", [2])  # the next day: not exported
    out = tmp_path / "day.xml"
    res = CliRunner().invoke(cli, ["export", "--product", "SEL3", "--start", "2014-08-24", "--end", "2014-08-25",
                                   "--format", "quakeml", "-o", str(out)], env=_env(s.home))
    assert res.exit_code == 0, res.output
    assert "SEL3 2 windows (newest versions): 3 events" in res.output
    from obspy import read_events

    assert len(read_events(str(out))) == 3
    # one window still exports that window, with its version
    res = CliRunner().invoke(cli, ["export", "--product", "SEL3", "--start", "2014-08-24T00:20", "--end",
                                   "2014-08-24T00:40", "-o", str(out)], env=_env(s.home))
    assert res.exit_code == 0 and "SEL3 version 1: 1 events" in res.output, res.output
    res = CliRunner().invoke(cli, ["export", "--product", "SEL3", "--start", "2014-08-26", "--end", "2014-08-27",
                                   "-o", str(out)], env=_env(s.home))
    assert res.exit_code == 1 and "no SEL3 product window inside" in res.output


@pytest.mark.parametrize("args,option", [
    (["process", "--product", "SEL1", "--start", "2014-13-45", "--end", "2014-08-24T00:20"], "--start"),
    (["export", "--product", "SEL3", "--start", "2014-08-24", "--end", "tomorrow", "-o", "x.xml"], "--end"),
    (["latency", "--since", "yesterday"], "--since"),
    (["availability", "--start", "2014-08-24", "--end", "soon"], "--end"),
])
def test_date_errors_name_the_option(tmp_path, args, option):
    res = CliRunner().invoke(cli, args, env=_env(tmp_path / "h"))
    assert res.exit_code == 2, res.output
    assert f"Invalid value for '{option}'" in res.output and "Traceback" not in res.output


def test_latency_rejects_an_unknown_product(tmp_path):
    s = make_settings(tmp_path / "home")
    db.upgrade(s.database_url)
    res = CliRunner().invoke(cli, ["latency", "-p", "FOO"], env=_env(s.home))
    assert res.exit_code == 2 and "Invalid value for '--product'" in res.output
    assert CliRunner().invoke(cli, ["latency", "-p", "sel1"], env=_env(s.home)).exit_code == 0


READ_COMMANDS = [["stations", "list"], ["availability"], ["quarantine", "list"], ["latency"], ["db", "current"],
                 ["export", "--product", "SEL1", "--start", "2014-08-24", "--end", "2014-08-25", "-o", "x.xml"]]


@pytest.mark.parametrize("args", READ_COMMANDS, ids=lambda a: " ".join(a[:2]))
def test_a_mistyped_home_is_reported_not_created(tmp_path, args):
    home = tmp_path / "no-such-home"
    res = CliRunner().invoke(cli, args, env=_env(home))
    assert res.exit_code == 1, res.output
    assert res.output.strip().count("\n") == 0, res.output
    assert f"no store in {home}" in res.output
    assert not home.exists()


@pytest.mark.parametrize("url", ["postgresql+psycopg://idc@127.0.0.1:{port}/idc", "postgress://idc@127.0.0.1/idc"],
                         ids=["unreachable", "mistyped-scheme"])
@pytest.mark.parametrize("args", READ_COMMANDS + [["db", "upgrade"], ["stations", "load"],
                                                  ["process", "--product", "SEL1", "--start", "2014-08-24",
                                                   "--end", "2014-08-24T00:20"]],
                         ids=lambda a: " ".join(a[:2]))
def test_an_unusable_database_is_one_line(tmp_path, args, url):
    """Every command leaves through one error path (cli.main.with_settings): an unreachable server
    or a mistyped URL (baseline: a NoSuchModuleError traceback) is one line naming the store."""
    env = _env(tmp_path / "h", IDC_DATABASE_URL=url.format(port=_free_port()), IDC__STORE__CONNECT_ATTEMPTS="1")
    res = CliRunner().invoke(cli, args, env=env)
    assert res.exit_code == 1, res.output
    assert not isinstance(res.exception, Exception) or isinstance(res.exception, SystemExit), repr(res.exception)
    assert res.output.strip().count("\n") == 0 and "127.0.0.1" in res.output, res.output


def test_process_shows_progress_over_its_stages(tmp_path):
    s = make_settings(tmp_path / "home")
    db.upgrade(s.database_url)
    tasks.load_stations(s, [PROJECT_ROOT / "stations" / "Z7.xml"])
    res = CliRunner().invoke(
        cli, ["process", "--product", "SEL1", "--start", "2014-08-24T00:00", "--end", "2014-08-24T00:20",
              "--progress"], env=_env(s.home))
    assert res.exit_code == 0, res.output + res.stderr
    assert "SEL1 store (0 events)" in res.stderr and "4/4 stages" in res.stderr


def test_help_texts_list_every_format():
    from pipeline.cli.main import export_cmd

    short = export_cmd.help.split("\n\n")[0]
    for name in ("QuakeML", "IMS1.0", "GSE2.0", "CSS3.0", "CSV", "GeoJSON", "IMS2.0", "JSON"):
        assert name in short, name
    # the --format choices the line names (bulletins: 6; the radionuclide reports: rrr, json)
    assert len(export_cmd.params[3].type.choices) == 8
    res = CliRunner().invoke(cli, ["ingest", "--help"])
    assert "any waveform format obspy reads" in " ".join(res.output.lower().split())


def test_ingest_of_a_folder_skips_side_files_with_one_summary_line(tmp_path):
    s = make_settings(tmp_path / "home")
    db.upgrade(s.database_url)
    tasks.load_stations(s, [PROJECT_ROOT / "stations" / "Z7.xml"])
    folder = tmp_path / "delivery"
    folder.mkdir()
    for f in sorted(WAVEFORMS.iterdir())[:2]:
        shutil.copy2(f, folder / f.name)
    for name in ("20140824000109140.event", "FLUR.picks", "FLUR.amps", "notes.txt"):
        (folder / name).write_text("side file\n")
    res = CliRunner().invoke(cli, ["ingest", str(folder)], env=_env(s.home))
    assert res.exit_code == 0, res.output + res.stderr
    assert "accepted 2, already ingested 0, rejected 0" in res.output
    assert "skipped 4 side files" in res.output and "REJECTED" not in res.stderr
