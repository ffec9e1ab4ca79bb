"""Airflow from the pipeline: the environment of our Airflow, in-process DAG runs (``dag.test()``,
used by ``make demo`` and the tests) and ``airflow standalone`` for operators (``idc airflow up``).

The DAG files in ``dags/`` are the only place schedules live; this module only runs them.

Airflow reads its configuration (``AIRFLOW_HOME``, metadata database) once per process, at its first
import. :func:`prepare` therefore sets the Airflow variables only when Airflow is not imported yet;
the pipeline's own settings reach the tasks through ``IDC_CONFIG`` / ``IDC_HOME`` /
``IDC_DATABASE_URL``, which are set for every run.
"""
from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from pipeline.errors import IdcError
from pipeline.settings import Settings

#: the DAG files, shipped inside the package (package data; the repository's ``dags/`` links here)
DAGS_FOLDER = Path(str(resources.files("pipeline").joinpath("dags")))
#: the folder the ``pipeline`` package is imported from (site-packages, or a source tree)
PACKAGE_PARENT = Path(str(resources.files("pipeline"))).parent


class AirflowRunError(IdcError, RuntimeError):
    """A DAG run failed; the message names the DAG, the window and the failed tasks."""


def airflow_home(settings: Settings) -> Path:
    home = settings.airflow.home
    return Path(home).expanduser().resolve() if home else settings.home / "airflow"


def idc_environ(settings: Settings) -> dict[str, str]:
    """What a task process needs to rebuild ``settings`` with :func:`pipeline.settings.load_settings`."""
    env = {"IDC_HOME": str(settings.home), "IDC_ROOT": str(settings.root)}
    if len(settings.sources) > 1:
        env["IDC_CONFIG"] = settings.sources[-1]
    if settings.store.database_url:
        env["IDC_DATABASE_URL"] = settings.store.database_url
    return env


def airflow_environ(settings: Settings) -> dict[str, str]:
    """The Airflow configuration of this IDC as environment variables (``AIRFLOW__…``)."""
    home = airflow_home(settings)
    a = settings.airflow
    return {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_FOLDER),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__PARALLELISM": str(a.parallelism),
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": str(a.paused_at_creation),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": a.database_url or f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW__API__PORT": str(a.port),
        # the API server (UI, REST, the tasks' execution API) binds loopback unless [airflow] host says otherwise
        "AIRFLOW__API__HOST": a.host,
        # task processes report to the API server's execution API: same port
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://{_client_host(a.host)}:{a.port}/execution/",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": a.log_level,
        # the pipeline is installed in the venv; DAG files import it inside their tasks
        "PYTHONPATH": os.pathsep.join(p for p in (str(PACKAGE_PARENT), os.environ.get("PYTHONPATH", "")) if p),
    }


def _client_host(host: str) -> str:
    """Where a client on this machine reaches a server bound to ``host``."""
    return "127.0.0.1" if host in ("0.0.0.0", "", "::") else host


def _airflow_bin() -> str:
    exe = Path(sys.executable).with_name("airflow")
    return str(exe) if exe.exists() else "airflow"


def prepare(settings: Settings) -> Path:
    """Point this process at our Airflow (when Airflow is not imported yet) and migrate its
    metadata database. Returns the Airflow home in effect."""
    if "airflow" not in sys.modules:
        os.environ.update(airflow_environ(settings))
    else:  # Airflow is configured already in this process: keep using (and exporting) its home
        from airflow.configuration import AIRFLOW_HOME, conf

        os.environ.setdefault("AIRFLOW_HOME", AIRFLOW_HOME)
        os.environ.setdefault("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", conf.get("database", "sql_alchemy_conn"))
        os.environ.setdefault("AIRFLOW__CORE__DAGS_FOLDER", str(DAGS_FOLDER))
    home = Path(os.environ.get("AIRFLOW_HOME", airflow_home(settings)))
    home.mkdir(parents=True, exist_ok=True)
    stamp = home / ".idc-migrated"
    env = {**os.environ}
    if not stamp.exists() or stamp.read_text() != env.get("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", ""):
        proc = subprocess.run([_airflow_bin(), "db", "migrate"], env=env, capture_output=True, text=True)
        if proc.returncode != 0:
            raise AirflowRunError(f"`airflow db migrate` failed (AIRFLOW_HOME={home}):\n{proc.stderr[-2000:]}")
        stamp.write_text(env.get("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", ""))
    return home


@dataclass
class DagRunResult:
    dag_id: str
    logical_date: str
    data_interval: tuple[str, str]
    state: str
    tasks: dict[str, str] = field(default_factory=dict)
    log: str = ""


def dagbag():
    """All DAGs of :data:`DAGS_FOLDER` (import errors are raised, naming the file)."""
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(str(DAGS_FOLDER))
    if bag.import_errors:
        raise AirflowRunError("DAG import errors:\n" + "\n".join(f"{k}: {v}" for k, v in bag.import_errors.items()))
    return bag


def run_dag(settings: Settings, dag_id: str, logical_date, log_file: Path | None = None) -> DagRunResult:
    """Run one DAG in this process with ``dag.test()`` for the data interval that ends at
    ``logical_date`` (Airflow 3: a run at T processes the last complete interval before T).

    Airflow's own log output goes to ``log_file`` (default ``<airflow home>/logs/dag_test.log``).
    :raises AirflowRunError: when a task fails, naming it and the log file.
    """
    import pendulum

    home = prepare(settings)
    bag = dagbag()
    if dag_id not in bag.dags:
        raise AirflowRunError(f"no DAG {dag_id!r} in {DAGS_FOLDER} (have {', '.join(sorted(bag.dags))})")
    dag = bag.dags[dag_id]
    for t in dag.tasks:  # in-process runs fail fast: dag.test() would sleep through the retry delays
        t.retries = 0
    when = pendulum.instance(logical_date) if not isinstance(logical_date, str) else pendulum.parse(logical_date)
    log_file = log_file or home / "logs" / "dag_test.log"
    log_file.parent.mkdir(parents=True, exist_ok=True)
    buf = io.StringIO()
    saved = {k: os.environ.get(k) for k in ("IDC_HOME", "IDC_CONFIG", "IDC_DATABASE_URL")}
    try:
        for k in saved:
            os.environ.pop(k, None)
        os.environ.update(idc_environ(settings))
        with contextlib.redirect_stdout(buf), contextlib.redirect_stderr(buf):
            dr = dag.test(logical_date=when)
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    with open(log_file, "a") as fh:
        fh.write(f"\n===== {dag_id} {when} =====\n{buf.getvalue()}")
    states = {}
    try:
        for ti in dr.get_task_instances():
            states[ti.task_id] = str(getattr(ti.state, "value", ti.state))
    except Exception:  # pragma: no cover - depends on the Airflow version's session handling; states stay empty
        pass
    res = DagRunResult(dag_id, str(when), (str(dr.data_interval_start), str(dr.data_interval_end)),
                       str(getattr(dr.state, "value", dr.state)), states, str(log_file))
    if res.state != "success":
        failed = [t for t, s in states.items() if s not in ("success", "skipped")]
        raise AirflowRunError(f"DAG {dag_id} for {res.data_interval[0]} – {res.data_interval[1]} ended "
                              f"{res.state}; tasks not successful: {', '.join(failed) or '?'}; log: {log_file}")
    return res


# ----------------------------------------------------------------------------- airflow standalone
def _pidfile(settings: Settings) -> Path:
    return airflow_home(settings) / "standalone.pid"


def status(settings: Settings) -> dict:
    """Is the Airflow of this configuration's home running? When it is not, ``other`` describes an
    Airflow that serves the configured port anyway (started from another home or by hand)."""
    pf = _pidfile(settings)
    if not pf.exists():
        return {"running": False, **_other(settings)}
    pid = int(pf.read_text().split()[0])
    try:
        os.killpg(pid, 0)
    except ProcessLookupError:
        return {"running": False, "stale_pidfile": str(pf), **_other(settings)}
    except PermissionError:
        pass
    return {"running": True, "pid": pid, "url": _url(settings), "home": str(airflow_home(settings)),
            "log": str(airflow_home(settings) / "standalone.log"), **_login(settings)}


def _url(settings: Settings) -> str:
    return f"http://{_client_host(settings.airflow.host)}:{settings.airflow.port}"


def _port_open(host: str, port: int) -> bool:
    import socket

    try:
        with socket.create_connection((_client_host(host), port), timeout=1.0):
            return True
    except OSError:
        return False


def _airflow_processes() -> list[dict]:
    """``airflow standalone`` / ``airflow api-server`` processes of this machine (Linux /proc), with
    their AIRFLOW_HOME when readable."""
    out = []
    for d in Path("/proc").glob("[0-9]*"):
        try:
            argv = (d / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        words = [a.decode(errors="replace") for a in argv if a]
        if not any(Path(w).name == "airflow" for w in words[:3]) or not {"standalone", "api-server"} & set(words[:4]):
            continue
        home = ""
        try:
            for kv in (d / "environ").read_bytes().split(b"\0"):
                if kv.startswith(b"AIRFLOW_HOME="):
                    home = kv.split(b"=", 1)[1].decode(errors="replace")
        except OSError:
            pass
        out.append({"pid": int(d.name), "command": " ".join(words[:4]), "home": home})
    return sorted(out, key=lambda p: p["pid"])


def _other(settings: Settings) -> dict:
    """An Airflow that is not this home's but serves this home's port (or runs at all)."""
    a = settings.airflow
    procs = [p for p in _airflow_processes() if p["home"] != str(airflow_home(settings))]
    if not _port_open(a.host, a.port):
        return {"other_processes": procs} if procs else {}
    return {"other": {"address": f"{_client_host(a.host)}:{a.port}", "processes": procs}}


def describe_other(st: dict) -> str:
    """One line on the Airflow of another home that :func:`status` found (empty when none)."""
    o = st.get("other")
    if not o:
        return ""
    who = "; ".join(f"pid {p['pid']}" + (f" (AIRFLOW_HOME {p['home']})" if p["home"] else "") for p in o["processes"])
    return (f"but an Airflow serves {o['address']} ({who or 'process not found: not ours, or another user'}): "
            "started from another home or configuration? Use the same --config / IDC_HOME, "
            "or stop it there")


def _login(settings: Settings) -> dict:
    """The admin login of `airflow standalone` (Simple auth manager): the user name and the file that
    holds the generated password (the password itself is not printed by ``idc airflow``)."""
    f = _password_file(settings)
    if f.exists():
        try:
            user = next(iter(json.loads(f.read_text())))
            return {"user": user, "password_file": str(f)}
        except (ValueError, StopIteration):
            pass
    return {}


def _password_file(settings: Settings) -> Path:
    return airflow_home(settings) / "simple_auth_manager_passwords.json.generated"


def prepare_home(settings: Settings) -> dict:
    """Make an IDC home ready for the scheduled DAGs: the store migrated, the configured stations
    (``stations.paths``) loaded, the folders (archive, products, quarantine, the drop folder)
    created. Safe to repeat (loading stations again updates nothing)."""
    from pipeline import tasks

    db = tasks.db_upgrade(settings)
    st = tasks.load_stations(settings)
    dirs = [settings.archive_dir, settings.products_dir, settings.quarantine_dir]
    if settings.ingest.drop_dir:
        drop = Path(settings.ingest.drop_dir).expanduser()
        dirs.append(drop if drop.is_absolute() else settings.home / drop)
    for d in dirs:
        d.mkdir(parents=True, exist_ok=True)
    return {"store": db, "stations": {"files": st["files"], "sites_new": st["sites_new"],
                                       "channels_new": st["channels_new"]},
            "drop_dir": str(dirs[3]) if len(dirs) > 3 else "", "folders": [str(d) for d in dirs]}


def up(settings: Settings, wait_s: float = 120.0, echo=print) -> dict:
    """Start ``airflow standalone`` (scheduler, DAG processor, triggerer, API server) in its own
    process group on the same store and DAG folder; wait until the API server is healthy."""
    import http.client
    import urllib.request

    st = status(settings)
    if st.get("running"):
        return {**st, "already_running": True}
    if st.get("other"):
        raise AirflowRunError(f"not started: {describe_other(st)}")
    try:
        ready = prepare_home(settings)
    except Exception as exc:  # no station files, store unreachable, ...: one line
        raise AirflowRunError(f"preparing the home {settings.home} for Airflow: {exc}") from None
    home = prepare(settings)
    env = {**os.environ, **airflow_environ(settings), **idc_environ(settings),
           "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
           # standalone starts `airflow scheduler`, `airflow api-server`, ... by name
           "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])}
    log = open(home / "standalone.log", "ab")
    proc = subprocess.Popen([_airflow_bin(), "standalone"], env=env, stdout=log, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, start_new_session=True,
                            cwd=str(settings.root) if settings.root.is_dir() else None)
    _pidfile(settings).write_text(f"{proc.pid}\n")
    url = _url(settings)
    t0 = time.monotonic()
    while time.monotonic() - t0 < wait_s:
        if proc.poll() is not None:
            _pidfile(settings).unlink(missing_ok=True)
            raise AirflowRunError(f"airflow standalone exited with {proc.returncode}; see {home / 'standalone.log'}")
        try:
            with urllib.request.urlopen(f"{url}/api/v2/monitor/health", timeout=2) as r:
                health = json.loads(r.read())
            if health.get("scheduler", {}).get("status") == "healthy":
                break
        except (OSError, ValueError, AttributeError, http.client.HTTPException):  # not up yet (refused, reset,
            # timeout, a half-written or other answer): try again
            pass
        time.sleep(1.0)
    else:
        down(settings)
        raise AirflowRunError(f"airflow standalone not healthy after {wait_s:.0f} s (stopped it again); "
                              f"see {home / 'standalone.log'}")
    return {"running": True, "pid": proc.pid, "url": url, "seconds": round(time.monotonic() - t0, 1),
            "log": str(home / "standalone.log"), "home_ready": ready, **_login(settings)}


def down(settings: Settings, timeout_s: float = 30.0) -> dict:
    """Stop the standalone process group (SIGTERM, then SIGKILL after ``timeout_s``)."""
    pf = _pidfile(settings)
    if not pf.exists():
        st = _other(settings)
        if st.get("other"):
            return {"stopped": False, "other": st["other"],
                    "reason": f"no Airflow of {airflow_home(settings)} to stop (no pid file) "
                              + describe_other(st)}
        return {"stopped": False, "reason": f"not running (no pid file in {airflow_home(settings)})"}
    pid = int(pf.read_text().split()[0])
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        pf.unlink(missing_ok=True)
        return {"stopped": False, "reason": "was not running (stale pid file removed)"}
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout_s:
        try:
            os.killpg(pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.5)
    else:
        os.killpg(pid, signal.SIGKILL)
    pf.unlink(missing_ok=True)
    return {"stopped": True, "pid": pid, "seconds": round(time.monotonic() - t0, 1)}


# ----------------------------------------------------------------------------- backfill (REST API)
#: the DAGs a backfill runs by default, in this order (ingest first: the SEL windows need its data)
BACKFILL_DAGS = ("ingest", "sel1", "sel2", "sel3")
#: the window of each windowed DAG (the DAG files are the truth; tests/test_dags.py checks these agree)
WINDOWS = {"ingest": 600.0, "sel1": 1200.0, "sel2": 1200.0, "sel3": 1200.0}
#: the daily DAGs (cron timetables): data interval [day + offset, next day + offset), in seconds
DAILY = {"reb_publish": 0.0, "station_health": 900.0}
FINISHED = ("success", "failed")


def _period(dag_id: str) -> tuple[float, float]:
    """(length, offset from 2014-08-24T00:00Z) of the data intervals of a backfillable DAG."""
    if dag_id in WINDOWS:
        return WINDOWS[dag_id], 0.0
    if dag_id in DAILY:
        return 86400.0, DAILY[dag_id]
    raise AirflowRunError(f"backfill: {dag_id!r} has no time windows to backfill (windowed: {', '.join(WINDOWS)}; "
                          f"daily: {', '.join(DAILY)}; 'distribute' runs when a product is written)")


class _Api:
    """The REST API of the running Airflow (``/api/v2``), logged in as the generated admin."""

    def __init__(self, settings: Settings):
        self.url = _url(settings)
        f = _password_file(settings)
        try:
            user, pw = next(iter(json.loads(f.read_text()).items()))
        except (OSError, ValueError, StopIteration):
            raise AirflowRunError(f"no Airflow login in {f}: start Airflow with `idc airflow up`") from None
        self.token = self._call("POST", "/auth/token", {"username": user, "password": pw}, auth=False)["access_token"]

    def _call(self, method: str, path: str, body=None, auth: bool = True):
        import urllib.error
        import urllib.request

        req = urllib.request.Request(self.url + path, method=method,
                                     data=json.dumps(body).encode() if body is not None else None,
                                     headers={"Content-Type": "application/json",
                                              **({"Authorization": f"Bearer {self.token}"} if auth else {})})
        for attempt in range(15):
            try:
                with urllib.request.urlopen(req, timeout=30) as r:
                    return json.loads(r.read() or b"null")
            except urllib.error.HTTPError as exc:
                detail = exc.read().decode(errors="replace")[:300]
                # Airflow's SQLite metadata database is locked while the scheduler writes: try again
                if exc.code == 503 and "locked" in detail and attempt < 14:
                    time.sleep(2.0)
                    continue
                raise AirflowRunError(f"Airflow API {method} {path}: HTTP {exc.code}: {detail}") from None
            except OSError as exc:
                raise AirflowRunError(f"Airflow API {self.url}: {exc}") from None

    def get(self, path):
        return self._call("GET", path)


def backfill_windows(dag_id: str, start, end) -> list[tuple]:
    """The windows [s, s + window) of ``dag_id`` that lie inside [start, end) (end exclusive),
    aligned to the DAG's schedule (multiples of the window since 2014-08-24T00:00Z; the daily DAGs'
    days start at their cron time)."""
    from obspy import UTCDateTime

    w, offset = _period(dag_id)
    t0, t1 = UTCDateTime(start), UTCDateTime(end)
    if t1 <= t0:
        raise ValueError(f"--end {t1} is not after --start {t0}")
    origin = UTCDateTime("2014-08-24T00:00:00") + offset
    k = -(-(t0 - origin) // w)  # first aligned window start >= start
    out, s = [], origin + k * w
    while s + w <= t1 + 1e-6:
        out.append((s, s + w))
        s += w
    return out


def backfill(settings: Settings, start, end, dag_ids=BACKFILL_DAGS, wait_s: float = 0.0,
             echo=print, poll_s: float = 5.0) -> dict:
    """Backfill the windows inside [start, end) of ``dag_ids`` on the running Airflow (``idc airflow
    up``): unpause each DAG (a paused DAG's backfill would sit queued), create one backfill per DAG
    through the REST API (logical date = window start; Airflow's own ``--to-date`` is inclusive, so it
    gets the start of the last window), and with ``wait_s`` > 0 wait for the runs and report their
    states. With ``wait_s`` the DAGs run one after the other in the order given (``ingest`` first, so
    the SEL windows see its data; SEL1 then comes first instead of sharing the cores with SEL2/SEL3).

    :raises AirflowRunError: Airflow not running, a DAG not known to it, a run failed."""
    st = status(settings)
    if not st.get("running"):
        raise AirflowRunError(f"Airflow of {airflow_home(settings)} is not running: start it with `idc airflow up`"
                              + (f" ({describe_other(st)})" if st.get("other") else ""))
    api = _Api(settings)
    plan = {d: backfill_windows(d, start, end) for d in dag_ids}
    empty = [d for d, w in plan.items() if not w]
    if empty:
        raise AirflowRunError(f"no whole window of {', '.join(empty)} inside {start} – {end} "
                              f"(windows: {', '.join(f'{d} {_period(d)[0] / 60:g} min' for d in empty)})")
    _wait_serialized(api, dag_ids, timeout_s=max(wait_s, 120.0), echo=echo)
    report: dict = {"dags": {}}
    ordered = sorted(dict.fromkeys(dag_ids), key=lambda d: d != "ingest")
    shown: dict = {}
    for dag_id in ordered:
        wins = plan[dag_id]
        api._call("PATCH", f"/api/v2/dags/{dag_id}", {"is_paused": False})
        bf = api._call("POST", "/api/v2/backfills", {
            "dag_id": dag_id, "from_date": wins[0][0].isoformat() + "Z", "to_date": wins[-1][0].isoformat() + "Z",
            "reprocess_behavior": "completed", "max_active_runs": 3})
        echo(f"{dag_id}: unpaused; backfill #{bf.get('id')}: {len(wins)} windows {wins[0][0].isoformat()[:16]} – "
             f"{wins[-1][1].isoformat()[:16]}")
        report["dags"][dag_id] = {"backfill_id": bf.get("id"), "windows": [[str(a), str(b)] for a, b in wins]}
        if wait_s > 0:
            _wait_runs(api, report, [dag_id], wait_s, echo, poll_s, shown)
    if wait_s > 0:
        bad = {d: r["states"] for d, r in report["dags"].items() if any(v != "success" for v in r["states"].values())}
        report["ok"] = not bad
    return report


def _wait_serialized(api: _Api, dag_ids, timeout_s: float, echo) -> None:
    """A fresh Airflow knows a DAG once its DAG processor parsed the file (a few seconds after `up`)."""
    t0, said = time.monotonic(), False
    while True:
        known = {d["dag_id"] for d in api.get("/api/v2/dags?limit=100").get("dags", [])}
        missing = [d for d in dag_ids if d not in known]
        if not missing:
            return
        if time.monotonic() - t0 > timeout_s:
            raise AirflowRunError(f"Airflow does not know the DAGs {', '.join(missing)} after {timeout_s:.0f} s "
                                  f"(DAG import errors? `airflow dags list-import-errors`)")
        if not said:
            echo(f"waiting for Airflow to parse {', '.join(missing)} ...")
            said = True
        time.sleep(2.0)


def _wait_runs(api: _Api, report: dict, dag_ids, wait_s: float, echo, poll_s: float, shown: dict) -> None:
    t0 = time.monotonic()
    while True:
        done = True
        for dag_id in dag_ids:
            r = report["dags"][dag_id]
            runs = api.get(f"/api/v2/dags/{dag_id}/dagRuns?run_type=backfill&limit=1000&order_by=logical_date")
            states = {}
            for run in runs.get("dag_runs", []):
                if run.get("data_interval_start") and [run["data_interval_start"][:19], run["data_interval_end"][:19]] \
                        in [[a[:19], b[:19]] for a, b in r["windows"]]:
                    states[run["data_interval_start"][:16]] = run["state"]
            r["states"] = states
            for win, state in states.items():
                if shown.get((dag_id, win)) != state and state in FINISHED:
                    echo(f"  {dag_id} {win}: {state} ({time.monotonic() - t0:.0f} s)")
                shown[(dag_id, win)] = state
            done &= len(states) == len(r["windows"]) and all(v in FINISHED for v in states.values())
        if done:
            return
        if time.monotonic() - t0 > wait_s:
            raise AirflowRunError(f"backfill not finished after {wait_s:.0f} s: "
                                  + "; ".join(f"{d} {report['dags'][d]['states']}" for d in dag_ids)
                                  + f" — watch it in the UI ({api.url}) or with `idc airflow backfill ... --wait`")
        time.sleep(poll_s)
