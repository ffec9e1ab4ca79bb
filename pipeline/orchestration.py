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
from pathlib import Path

from pipeline.settings import PROJECT_ROOT, Settings

DAGS_FOLDER = PROJECT_ROOT / "dags"


class AirflowRunError(RuntimeError):
    """A DAG run failed; the message names the DAG, the window and the failed tasks."""


def airflow_home(settings: Settings) -> Path:
    home = settings.airflow.home
    return Path(home).expanduser().resolve() if home else settings.home / "airflow"


def idc_environ(settings: Settings) -> dict[str, str]:
    """What a task process needs to rebuild ``settings`` with :func:`pipeline.settings.load_settings`."""
    env = {"IDC_HOME": str(settings.home)}
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
        # task processes report to the API server's execution API: same port
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://localhost:{a.port}/execution/",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": a.log_level,
        # the pipeline is installed in the venv; DAG files import it inside their tasks
        "PYTHONPATH": os.pathsep.join(p for p in (str(PROJECT_ROOT), os.environ.get("PYTHONPATH", "")) if p),
    }


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
    """All DAGs of ``dags/`` (import errors are raised, naming the file)."""
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
    except Exception:  # pragma: no cover - depends on the Airflow version's session handling
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
    pf = _pidfile(settings)
    if not pf.exists():
        return {"running": False}
    pid = int(pf.read_text().split()[0])
    try:
        os.killpg(pid, 0)
    except ProcessLookupError:
        return {"running": False, "stale_pidfile": str(pf)}
    except PermissionError:
        pass
    return {"running": True, "pid": pid, "url": f"http://localhost:{settings.airflow.port}",
            "log": str(airflow_home(settings) / "standalone.log"), **_login(settings)}


def _login(settings: Settings) -> dict:
    """The generated admin login of `airflow standalone` (Simple auth manager)."""
    home = airflow_home(settings)
    for name in ("simple_auth_manager_passwords.json.generated",):
        f = home / name
        if f.exists():
            try:
                users = json.loads(f.read_text())
                user, pw = next(iter(users.items()))
                return {"user": user, "password": pw, "password_file": str(f)}
            except (ValueError, StopIteration):
                pass
    return {}


def up(settings: Settings, wait_s: float = 120.0, echo=print) -> dict:
    """Start ``airflow standalone`` (scheduler, DAG processor, triggerer, API server) in its own
    process group on the same store and DAG folder; wait until the API server is healthy."""
    import urllib.request

    st = status(settings)
    if st.get("running"):
        return {**st, "already_running": True}
    home = prepare(settings)
    env = {**os.environ, **airflow_environ(settings), **idc_environ(settings),
           "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
           # standalone starts `airflow scheduler`, `airflow api-server`, ... by name
           "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])}
    log = open(home / "standalone.log", "ab")
    proc = subprocess.Popen([_airflow_bin(), "standalone"], env=env, stdout=log, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, start_new_session=True, cwd=str(PROJECT_ROOT))
    _pidfile(settings).write_text(f"{proc.pid}\n")
    url = f"http://localhost:{settings.airflow.port}"
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
        except Exception:
            pass
        time.sleep(1.0)
    else:
        down(settings)
        raise AirflowRunError(f"airflow standalone not healthy after {wait_s:.0f} s (stopped it again); "
                              f"see {home / 'standalone.log'}")
    return {"running": True, "pid": proc.pid, "url": url, "seconds": round(time.monotonic() - t0, 1),
            "log": str(home / "standalone.log"), **_login(settings)}


def down(settings: Settings, timeout_s: float = 30.0) -> dict:
    """Stop the standalone process group (SIGTERM, then SIGKILL after ``timeout_s``)."""
    pf = _pidfile(settings)
    if not pf.exists():
        return {"stopped": False, "reason": "not running (no pid file)"}
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
