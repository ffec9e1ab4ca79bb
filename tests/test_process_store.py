"""`idc process` and the store under concurrency and a restarting database (issue 13, defect 8a/8b).

Real processes on the demo data (Z7 waveforms of tests/data/iceland, config/demo-iceland.toml),
as an operator or two schedulers would run them:

* two `idc process` of the same window at once: both succeed, one writes version 1 and the other
  replaces it (nothing duplicated, no IntegrityError with an SQL dump). To make the two meet at the
  write every time, the test holds the store's write lock (SQLite) / a lock on the product table
  (PostgreSQL) until both runs are waiting for it, as happens when two runs finish computing within
  the other's write;
* `idc process` while PostgreSQL restarts ("connection refused", then "the database system is
  starting up"): it waits and succeeds; against a server that never comes, it gives up after the
  configured attempts with one line naming the database, without its password.
"""
from __future__ import annotations

import os
import re
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import func, select

from pipeline import tasks
from pipeline.settings import load_settings
from pipeline.store import db
from pipeline.store.models import Event, Product
from pipeline.store.pgserver import ThrowawayPostgres, find_bindir
from tests import PROJECT_ROOT
from tests.conftest import DEMO_WAVEFORMS, share_tables
from tests.servers import free_port

IDC = Path(sys.executable).parent / "idc"
DEMO = PROJECT_ROOT / "config" / "demo-iceland.toml"
WINDOW = ["--product", "SEL1", "--start", "2014-08-24T00:01", "--end", "2014-08-24T00:02"]


def _env(home: Path, url: str = "", **extra) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("IDC")}
    env["IDC_HOME"] = str(share_tables(home))
    if url:
        env["IDC_DATABASE_URL"] = url
    env.update(extra)
    return env


def _settings(home: Path, url: str = ""):
    return load_settings(DEMO, env=_env(home, url))


def _process(home: Path, url: str = "", **extra) -> subprocess.Popen:
    return subprocess.Popen([str(IDC), "--config", str(DEMO), "process", *WINDOW], cwd=PROJECT_ROOT,
                            env=_env(home, url, **extra), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.fixture(scope="module")
def tt_cache(tmp_path_factory):
    """The demo's travel-time table, built once (copied into each home)."""
    home = tmp_path_factory.mktemp("demo_tt")
    tasks.travel_times(_settings(home))
    return home / "cache"


def _demo_home(home: Path, tt_cache: Path, url: str = ""):
    """A home with the demo's stations and waveforms in the store (SQLite, or ``url``)."""
    shutil.copytree(tt_cache, home / "cache")
    s = _settings(home, url)
    db.upgrade(s.database_url)
    tasks.load_stations(s)
    assert tasks.ingest_files(s, [DEMO_WAVEFORMS], progress=False)["accepted"] == 27
    return s


def _cpu_s(pid: int) -> float:
    f = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")


def _wait_until_idle(procs, quiet_s: float = 1.5, timeout_s: float = 300.0) -> None:
    """Until every process has used no CPU for ``quiet_s`` (SQLite: all waiting for the write lock)."""
    t_end = time.monotonic() + timeout_s
    last = {p.pid: (_cpu_s(p.pid), time.monotonic()) for p in procs}
    while time.monotonic() < t_end:
        time.sleep(0.25)
        now = time.monotonic()
        for p in procs:
            assert p.poll() is None, p.communicate()
            cpu = _cpu_s(p.pid)
            if cpu != last[p.pid][0]:
                last[p.pid] = (cpu, now)
        if all(now - t >= quiet_s for _, t in last.values()):
            return
    raise AssertionError("the runs did not reach the store's write lock")


def _lock_waiters(pg_url: str, dbname: str) -> int:
    with psycopg.connect(pg_url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True) as c:
        return c.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND wait_event_type = 'Lock'",
                         (dbname,)).fetchone()[0]


def _check_two_runs(procs, s) -> None:
    outs = [p.communicate(timeout=600) for p in procs]
    for p, (out, err) in zip(procs, outs):
        print(out, err)
        assert p.returncode == 0, err
        assert "IntegrityError" not in err and "INSERT INTO" not in err
    states = sorted("new version" if "(new version)" in out else "re-run replaced" if "(re-run replaced)" in out
                    else out for out, _ in outs)
    assert states == ["new version", "re-run replaced"]
    events = {int(out.split(" events,")[0].rsplit(" ", 1)[1]) for out, _ in outs}
    with db.session_scope(s.database_url) as ss:
        prods = ss.scalars(select(Product).where(Product.type == "SEL1")).all()
        assert [(p.version, p.runs) for p in prods] == [(1, 2)]
        n_events = ss.scalar(select(func.count()).select_from(Event).where(Event.product_id == prods[0].id))
    assert events == {n_events} and n_events > 0  # the second run replaced the rows, nothing twice


def test_two_concurrent_process_runs_of_one_window_sqlite(tmp_path, tt_cache):
    s = _demo_home(tmp_path / "home", tt_cache)
    lock = sqlite3.connect(s.database_url[len("sqlite:///"):], isolation_level=None)
    lock.execute("BEGIN IMMEDIATE")  # the store's write lock, held until both runs wait for it
    try:
        procs = [_process(tmp_path / "home") for _ in range(2)]
        _wait_until_idle(procs)
    finally:
        lock.execute("ROLLBACK")
        lock.close()
    _check_two_runs(procs, s)


@pytest.mark.postgres
def test_two_concurrent_process_runs_of_one_window_postgresql(tmp_path, tt_cache, pg_server):
    name = f"conc_{os.getpid()}"
    url = pg_server.create_database(name)
    s = _demo_home(tmp_path / "home", tt_cache, url)
    lock = psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"))
    lock.execute("LOCK TABLE product IN EXCLUSIVE MODE")  # reads pass, writes wait
    try:
        procs = [_process(tmp_path / "home", url) for _ in range(2)]
        t_end = time.monotonic() + 300
        while _lock_waiters(url, name) < 2:
            assert time.monotonic() < t_end and all(p.poll() is None for p in procs), \
                [p.communicate() for p in procs]
            time.sleep(0.25)
    finally:
        lock.rollback()
        lock.close()
    _check_two_runs(procs, s)


# --------------------------------------------------------------------------- a restarting server
@pytest.fixture
def own_pg():
    """A PostgreSQL server of this test alone (it is restarted)."""
    if find_bindir() is None:
        pytest.skip("PostgreSQL server binaries (initdb/pg_ctl) not found on this machine")
    with ThrowawayPostgres() as pg:
        yield pg


@pytest.mark.postgres
def test_process_waits_for_a_restarting_postgresql(tmp_path, tt_cache, own_pg):
    url = own_pg.create_database("idc")
    s = _demo_home(tmp_path / "home", tt_cache, url)
    db.get_engine(url).dispose()  # this process holds no connection across the restart
    own_pg.restart_slowly(starting_up_s=8)  # longer than the run's start-up (imports)
    p = _process(tmp_path / "home", url)
    out, err = p.communicate(timeout=600)
    print(out, err)
    assert p.returncode == 0, err
    # it waited, and said so on stderr (one line per retry)
    assert re.search(r"FATAL: the database system is starting up; attempt \d of 8 in \d\.\d s", err)
    assert "SEL1 2014-08-24T00:01:00.000000Z" in out and "version 1 (new version)" in out
    with db.session_scope(s.database_url) as ss:
        assert ss.scalar(select(func.count()).select_from(Product)) == 1


def test_process_gives_up_on_an_unreachable_database_in_one_line(tmp_path):
    url = f"postgresql+psycopg://idc:s3cret@127.0.0.1:{free_port()}/idc"  # nothing listens there
    t0 = time.monotonic()
    p = _process(tmp_path / "home", url, IDC__STORE__CONNECT_ATTEMPTS="3", IDC__STORE__CONNECT_BACKOFF_S="0.2")
    out, err = p.communicate(timeout=120)
    print(err)
    assert p.returncode == 1 and out == "" and "Traceback" not in err and "s3cret" not in err
    where = url.replace(":s3cret@", ":***@")
    retries = [ln for ln in err.splitlines() if "; attempt" in ln]
    assert [ln.startswith(f"store {where}: ") and "Connection refused" in ln for ln in retries] == [True, True]
    assert retries[0].endswith("; attempt 2 of 3 in 0.2 s") and retries[1].endswith("; attempt 3 of 3 in 0.4 s")
    (error,) = [ln for ln in err.splitlines() if ln.startswith("Error:")]
    assert f"cannot connect to the store {where} (gave up after 3 attempts in " in error
    assert "Connection refused" in error and err.rstrip().endswith(error)  # the last line, one line
    assert 0.6 <= time.monotonic() - t0 < 60  # slept 0.2 + 0.4 s
