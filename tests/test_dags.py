"""Airflow DAGs: they load, their graphs and schedules are as specified, DAG files stay thin, and real
in-process runs (``dag.test()``) of ingest → SEL1 → late data → SEL2/SEL3 → distribute behave."""
from __future__ import annotations

import ast
import datetime
import json
import os
import shutil
import subprocess

import pytest

from pipeline import orchestration, tasks
from pipeline.settings import load_settings
from tests import PROJECT_ROOT
from tests.conftest import DEMO_WAVEFORMS

DAGS = PROJECT_ROOT / "dags"
ALLOWED_TOP_LEVEL = {"airflow.sdk", "pendulum", "datetime"}


def _demo_settings(home):
    env = {k: v for k, v in os.environ.items() if not k.startswith("IDC")}
    env["IDC_HOME"] = str(home)
    return load_settings(PROJECT_ROOT / "config" / "demo-iceland.toml", env=env)


@pytest.fixture(scope="module")
def flow_settings(tmp_path_factory):
    s = _demo_settings(tmp_path_factory.mktemp("dagflow") / "home")
    tasks.db_upgrade(s)
    tasks.load_stations(s)
    orchestration.prepare(s)
    return s


@pytest.fixture(scope="module")
def bag(flow_settings):
    return orchestration.dagbag()


def test_dag_files_import_only_light_modules_at_top_level():
    files = sorted(DAGS.glob("*.py"))
    assert {f.stem for f in files} >= {"ingest", "sel", "reb_publish", "distribute", "station_health"}
    for f in files:
        tree = ast.parse(f.read_text())
        for node in tree.body:
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                continue
            assert set(names) <= ALLOWED_TOP_LEVEL, f"{f.name}:{node.lineno}: top-level import of {names}"
        assert len(f.read_text().splitlines()) <= 45, f"{f.name}: DAG files are wiring only"


def test_dagbag_graphs_and_schedules(bag):
    from airflow.sdk import CronDataIntervalTimetable, DeltaDataIntervalTimetable

    assert set(bag.dags) == {"ingest", "sel1", "sel2", "sel3", "reb_publish", "distribute", "station_health",
                             "radionuclide"}
    ingest = bag.dags["ingest"]
    assert isinstance(ingest.timetable, DeltaDataIntervalTimetable)
    assert ingest.timetable.delta == datetime.timedelta(minutes=10)
    for p in ("sel1", "sel2", "sel3"):
        d = bag.dags[p]
        assert isinstance(d.timetable, DeltaDataIntervalTimetable)
        assert d.timetable.delta == datetime.timedelta(minutes=20)
        assert not d.catchup
        assert set(d.task_dict) == {"wait_for_late_data", "process"} | ({"enqueue_review"} if p == "sel3" else set())
        assert d.task_dict["process"].upstream_task_ids == {"wait_for_late_data"}
        proc = d.task_dict["process"]
        assert [a.uri for a in proc.outlets] == [f"idc://products/{p.upper()}"]
        assert proc.retries >= 1 and proc.retry_exponential_backoff
    # later products wait longer for late data
    import importlib.util

    spec = importlib.util.spec_from_file_location("sel_dags", DAGS / "sel.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    assert mod.DELAYS["SEL1"] < mod.DELAYS["SEL2"] < mod.DELAYS["SEL3"]
    reb = bag.dags["reb_publish"]
    assert isinstance(reb.timetable, CronDataIntervalTimetable) and reb.timetable.expression == "0 0 * * *"
    assert bag.dags["sel3"].task_dict["enqueue_review"].upstream_task_ids == {"process"}
    assert reb.task_dict["screen"].upstream_task_ids == {"publish"}
    assert reb.task_dict["publish"].upstream_task_ids == {"wait_for_review_deadline"}
    assert {a.uri for a in reb.task_dict["screen"].outlets} == {"idc://products/SEB", "idc://products/SSEB"}
    health = bag.dags["station_health"]
    assert isinstance(health.timetable, CronDataIntervalTimetable)
    # distribute is triggered by any product Asset
    dist = bag.dags["distribute"]
    uris = {a.uri for a in dist.timetable.asset_condition.objects}
    assert uris == {f"idc://products/{p}" for p in ("SEL1", "SEL2", "SEL3", "REB", "SEB", "SSEB")}


def test_backfill_over_a_past_range_plans_every_window(flow_settings):
    env = {**os.environ, **orchestration.airflow_environ(flow_settings), **orchestration.idc_environ(flow_settings)}
    env["AIRFLOW_HOME"] = os.environ.get("AIRFLOW_HOME", env["AIRFLOW_HOME"])
    env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = os.environ.get("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN",
                                                                env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"])
    # the scheduler's DAG processor serialises the DAGs into the metadata DB; do it by hand here
    r = subprocess.run([orchestration._airflow_bin(), "dags", "reserialize"], env=env, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    r = subprocess.run([orchestration._airflow_bin(), "backfill", "create", "--dag-id", "sel2", "--from-date",
                        "2014-08-25T00:00:00", "--to-date", "2014-08-25T01:00:00", "--dry-run"],
                       env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    runs = [ln for ln in r.stdout.splitlines() if ln.startswith("| 2014-08-25")]
    print("\n" + "\n".join(runs))
    assert len(runs) == 4  # 00:00, 00:20, 00:40, 01:00


def test_ingest_sel1_late_data_sel2_sel3_distribute(flow_settings):
    """Data for a window arrives after SEL1 ran: SEL2/SEL3 include it, the product history shows
    SEL1 -> SEL2 -> SEL3 for the window, a re-run of SEL3 keeps one version, distribute writes the outbox."""
    s = flow_settings
    files = sorted(p for p in DEMO_WAVEFORMS.iterdir() if p.is_file())[:8]  # 00:01:09 .. 00:03:28
    drop = s.home / s.ingest.drop_dir
    drop.mkdir(parents=True, exist_ok=True)
    for f in files[:4]:
        shutil.copy2(f, drop / f.name)
    when = "2014-08-24T00:20:00"
    assert orchestration.run_dag(s, "ingest", "2014-08-24T00:10:00").state == "success"
    r1 = orchestration.run_dag(s, "sel1", when)
    assert r1.data_interval == ("2014-08-24 00:00:00+00:00", "2014-08-24 00:20:00+00:00")
    assert r1.tasks == {"wait_for_late_data": "success", "process": "success"}
    for f in files[4:]:  # the late data
        shutil.copy2(f, drop / f.name)
    orchestration.run_dag(s, "ingest", when)
    orchestration.run_dag(s, "sel2", when)
    r3 = orchestration.run_dag(s, "sel3", when)
    assert r3.tasks == {"wait_for_late_data": "success", "process": "success", "enqueue_review": "success"}
    # identical re-run, the way the README tells operators to test a DAG
    env = {**os.environ, **orchestration.idc_environ(s), "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING"}
    r = subprocess.run([orchestration._airflow_bin(), "dags", "test", "sel3", when], env=env,
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, (r.stdout + r.stderr)[-3000:]
    hist = tasks.product_history(s, start="2014-08-24T00:00:00", end=when)
    print("\n" + "\n".join(f"{h['type']} v{h['version']} runs {h['runs']}: {h['events']} events, "
                           f"{h['arrivals']} arrivals, inputs {h['input_fingerprint']}" for h in hist))
    assert [h["type"] for h in hist] == ["SEL1", "SEL2", "SEL3"]
    sel1, sel2, sel3 = hist
    assert all(h["version"] == 1 for h in hist) and sel3["runs"] == 2
    assert sel1["input_fingerprint"] != sel2["input_fingerprint"] == sel3["input_fingerprint"]
    assert sel2["arrivals"] > sel1["arrivals"] and sel2["events"] > sel1["events"]
    assert (sel2["events"], sel2["arrivals"]) == (sel3["events"], sel3["arrivals"])
    # latency is logged per run, by Airflow
    lat = tasks.latency_report(s)["products"]
    assert lat["SEL3"]["runs"] == 2 and lat["SEL3"]["windows"] == 1 and lat["SEL1"]["runs"] == 1
    assert lat["SEL3"]["last"]["runner"] == "airflow"
    # the SEL3 DAG queued its events for review: queuing again adds nothing
    again = tasks.review_enqueue(s, "2014-08-24T00:00:00", when)
    assert again["queued"] == 0 and again["already_queued"] == sel3["events"]
    assert lat["SEL1"]["latency_s"]["median"] > 12 * 365 * 86400  # 2014 data processed in 2026
    # distribute (run by hand: everything not in the outbox yet)
    orchestration.run_dag(s, "distribute", when)
    out = sorted(p.name for p in (s.products_dir / "outbox").rglob("*_v1.*"))
    assert out == sorted(f"{p}_20140824T000000_20140824T002000_v1.{e}" for p in ("SEL1", "SEL2", "SEL3")
                         for e in ("ims1", "xml"))
    # `idc latency`
    from click.testing import CliRunner

    from pipeline.cli.main import cli

    env = orchestration.idc_environ(s)
    res = CliRunner().invoke(cli, ["latency", "--json"], env=env)
    assert res.exit_code == 0, res.output
    assert set(json.loads(res.output)["products"]) == {"SEL1", "SEL2", "SEL3"}
    res = CliRunner().invoke(cli, ["latency"], env=env)
    assert "SEL3" in res.output and "median" in res.output


def test_station_health_dag_writes_the_daily_report(flow_settings):
    s = flow_settings
    if not any(s.archive_dir.rglob("*.D.*")):
        pytest.skip("runs after the flow test (needs archived data)")
    orchestration.run_dag(s, "station_health", "2014-08-25T00:15:00")
    txt = (s.products_dir / "station_health" / "2014-08-24T000000.txt").read_text()
    assert "12 stations with data" in txt


def test_a_failing_task_is_reported_with_its_name(flow_settings, tmp_path):
    s = flow_settings.model_copy(update={"home": tmp_path / "empty"})
    (tmp_path / "empty").mkdir()
    bad = s.model_copy(update={"ingest": s.ingest.model_copy(update={"drop_dir": "no-such-folder"})})
    with pytest.raises(orchestration.AirflowRunError, match="ingest"):
        # the task process rebuilds settings from the environment: point it at the broken drop dir
        os.environ["IDC__INGEST__DROP_DIR"] = "no-such-folder"
        try:
            orchestration.run_dag(bad, "ingest", "2014-08-24T00:10:00")
        finally:
            os.environ.pop("IDC__INGEST__DROP_DIR")


def test_backfill_windows_match_the_dag_schedules(bag):
    """`idc airflow backfill` plans windows from orchestration.WINDOWS: they are the DAGs' own."""
    for dag_id, seconds in orchestration.WINDOWS.items():
        assert bag.dags[dag_id].timetable.delta == datetime.timedelta(seconds=seconds), dag_id
        assert bag.dags[dag_id].start_date == datetime.datetime(2014, 8, 24, tzinfo=datetime.timezone.utc)
    assert set(orchestration.BACKFILL_DAGS) <= set(orchestration.WINDOWS)
    # the daily DAGs: cron data intervals starting at the offset of DAILY
    for dag_id, offset in orchestration.DAILY.items():
        minute, hour, *rest = bag.dags[dag_id].timetable.expression.split()
        assert rest == ["*", "*", "*"] and int(hour) * 3600 + int(minute) * 60 == offset, dag_id
        wins = orchestration.backfill_windows(dag_id, "2014-08-24T00:00:00", "2014-08-27T00:00:00")
        assert all(a.timestamp % 86400 == offset and b - a == 86400 for a, b in wins), dag_id
        assert len(wins) == (3 if offset == 0 else 2), (dag_id, wins)
    with pytest.raises(orchestration.AirflowRunError, match="distribute"):
        orchestration.backfill_windows("distribute", "2014-08-24", "2014-08-25")


def test_an_ingest_run_that_rejects_everything_fails(tmp_path):
    """Issue 14 defect 3: on a home without stations every file was rejected (unknown_channel) and
    the ingest task showed success. Now the task fails, naming the count and the quarantine."""
    s = _demo_settings(tmp_path / "home")
    tasks.db_upgrade(s)  # the store, but no stations loaded
    drop = s.home / s.ingest.drop_dir
    drop.mkdir(parents=True)
    for f in sorted(p for p in DEMO_WAVEFORMS.iterdir() if p.is_file())[:3]:
        shutil.copy2(f, drop / f.name)
    with pytest.raises(tasks.IngestRejected, match="all 3 new inputs rejected .unknown_channel."):
        tasks.ingest_scheduled(s, "2014-08-24T00:00:00", "2014-08-24T00:10:00")
    # quarantined inputs leave the drop folder (processed/); the same files delivered again
    # are rejected again and the DAG's task fails
    assert not any(drop.iterdir())
    for f in sorted(p for p in DEMO_WAVEFORMS.iterdir() if p.is_file())[:3]:
        shutil.copy2(f, drop / f.name)
    with pytest.raises(orchestration.AirflowRunError, match="ingest"):
        orchestration.run_dag(s, "ingest", "2014-08-24T00:10:00")


def test_a_home_prepared_for_airflow_ingests_the_demo_files(tmp_path):
    """What `idc airflow up` does to a fresh home (orchestration.prepare_home) is all the ingest DAG
    needs: the drop folder exists and the stations are loaded, so the files are accepted."""
    s = _demo_settings(tmp_path / "home")
    ready = orchestration.prepare_home(s)
    assert ready["stations"]["sites_new"] == 12 and ready["drop_dir"] == str(s.home / "drop")
    for f in sorted(p for p in DEMO_WAVEFORMS.iterdir() if p.is_file())[:3]:
        shutil.copy2(f, s.home / "drop" / f.name)
    assert orchestration.run_dag(s, "ingest", "2014-08-24T00:10:00").state == "success"
    assert len(tasks.availability(s)["channels"]) > 0
    assert orchestration.prepare_home(s)["stations"]["sites_new"] == 0  # safe to repeat
