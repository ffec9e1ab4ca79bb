"""Shared fixtures: per-test IDC home, settings for SQLite and for a throwaway PostgreSQL."""
from __future__ import annotations

import itertools
import os
from pathlib import Path

import pytest

from pipeline.settings import load_settings
from pipeline.store.pgserver import ThrowawayPostgres, find_bindir
from tests import PROJECT_ROOT

DATA = PROJECT_ROOT / "tests" / "data"
#: the bundled Iceland waveforms of the demo (config/demo-iceland.toml: [demo] data)
DEMO_WAVEFORMS = DATA / "iceland" / "waveforms"
TEST_CONFIG = PROJECT_ROOT / "config" / "test.toml"
_db_counter = itertools.count()


def pytest_configure(config):
    """The fault suite's outcomes go to one file for the whole session (also from xdist workers,
    which inherit this variable), so the controller can print the table at the end."""
    if not hasattr(config, "workerinput"):
        import tempfile

        fd, path = tempfile.mkstemp(prefix="idc_fault_ledger_", suffix=".jsonl")
        os.close(fd)
        os.environ["IDC_FAULT_LEDGER"] = path
        config._idc_fault_ledger = path


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    path = getattr(config, "_idc_fault_ledger", None)
    if not path:
        return
    from tests.faults.harness import Ledger, Outcome

    ledger = Ledger()
    with open(path) as fh:
        ledger.rows = [Outcome(**__import__("json").loads(line)) for line in fh if line.strip()]
    os.unlink(path)
    if ledger.rows:
        terminalreporter.write_sep("=", "fault injection: injected / fired / recovered / lost / duplicated / manual")
        terminalreporter.write_line(ledger.table())
        for r in ledger.rows:
            if not r.recovered or r.lost or r.duplicated or r.manual:
                terminalreporter.write_line(f"  NOT RECOVERED: {r.area}: {r.fault}: {r.note}")


def pytest_report_header(config):
    b = find_bindir()
    return f"PostgreSQL server binaries: {b or 'NOT FOUND (postgres tests will be skipped)'}"


@pytest.fixture(scope="session")
def pg_server():
    """One throwaway PostgreSQL server per test session (skipped with a reason when absent)."""
    if find_bindir() is None:
        pytest.skip("PostgreSQL server binaries (initdb/pg_ctl) not found on this machine")
    with ThrowawayPostgres() as pg:
        yield pg


def make_settings(home: Path, database_url: str = "", **overrides):
    env = {k: v for k, v in os.environ.items() if not k.startswith("IDC")}
    env["IDC_HOME"] = str(home)
    if database_url:
        env["IDC_DATABASE_URL"] = database_url
    return load_settings(TEST_CONFIG, env=env, overrides=overrides)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def backend(request):
    return request.param


@pytest.fixture
def settings(tmp_path, backend, request):
    """Settings with a fresh home (and a fresh database on the selected backend)."""
    url = ""
    if backend == "postgresql":
        pg = request.getfixturevalue("pg_server")
        url = pg.create_database(f"t{next(_db_counter)}_{os.getpid()}")
    return make_settings(tmp_path / "home", url)


@pytest.fixture
def sqlite_settings(tmp_path):
    return make_settings(tmp_path / "home")


@pytest.fixture(scope="session")
def _session_tables(tmp_path_factory):
    return tmp_path_factory.mktemp("traveltime")


@pytest.fixture(scope="session")
def tt_cache(_session_tables):
    """One travel-time table cache per test session (tables take seconds to build)."""
    return _session_tables


#: environment variable naming the session's table cache for the ``idc`` runs of the tests
_SHARED_TABLES = "PIPELINE_TEST_TABLES"


@pytest.fixture(scope="session", autouse=True)
def _shared_tables(_session_tables):
    os.environ[_SHARED_TABLES] = str(_session_tables)
    yield
    os.environ.pop(_SHARED_TABLES, None)


def share_tables(home) -> Path:
    """``home`` with its travel-time cache (``cache/traveltime``: tables and ellipticity
    coefficients) linked to the session's: an ``idc`` run in a fresh home does not rebuild a
    table another test of this process built (a global ak135 table takes about a minute). The
    commands under test behave the same whoever built the table; table building has its own
    tests (test_traveltime*)."""
    home = Path(home)
    shared = os.environ.get(_SHARED_TABLES)
    if shared:
        cache = home / "cache"
        cache.mkdir(parents=True, exist_ok=True)
        link = cache / "traveltime"
        if not link.exists() and not link.is_symlink():
            link.symlink_to(shared, target_is_directory=True)
    return home
