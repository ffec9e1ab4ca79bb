"""Engine, sessions and migrations of the store.

SQLite (embedded default) and PostgreSQL (``IDC_DATABASE_URL``) run the same code and the same
Alembic migrations.

Connecting to a database server waits for a server that is not accepting connections yet (see
:class:`ConnectRetry`): every connection the engine opens (``session_scope``, ``ensure_schema``,
a pool reconnect) goes through it; when it gives up, :class:`StoreError` says so in one line naming
the database (without its password).
"""
from __future__ import annotations

import logging
import time
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Iterator

from sqlalchemy import create_engine, event, inspect
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError as DatabaseError  # noqa: F401  (what a failed statement raises)
from sqlalchemy.orm import Session, sessionmaker

# the store is unreachable or not migrated (the message says what to do); importable from here
from pipeline.errors import StoreError  # noqa: F401

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
log = logging.getLogger("pipeline.store.db")



@dataclass(frozen=True)
class ConnectRetry:
    """How a process waits for a database server that refuses connections for a while: attempt
    ``attempts`` times, sleeping ``backoff_s`` after the first failure and twice as long after each
    next one, at most ``max_backoff_s``. Only :func:`transient_connect_error` failures are waited for.

    The library default is one attempt (no waiting); the ``idc`` commands and the Airflow tasks
    apply ``[store] connect_attempts / connect_backoff_s / connect_max_backoff_s`` (defaults 8,
    0.5 s, 8 s: sleeps of 0.5, 1, 2, 4, 8, 8, 8 s, about 30 s in all, enough for a PostgreSQL
    restart and its recovery) with :func:`set_connect_retry`.
    """

    attempts: int = 1
    backoff_s: float = 0.5
    max_backoff_s: float = 8.0


_connect_retry = ConnectRetry()

#: the server is (re)starting or has no free slot: worth waiting for (lower-case parts of the
#: driver's message; libpq gives no SQLSTATE for these). Not: authentication, unknown database, DNS.
TRANSIENT_CONNECT_ERRORS = (
    "the database system is starting up", "the database system is not yet accepting connections",
    "the database system is in recovery mode", "the database system is shutting down",
    "connection refused", "too many clients already", "remaining connection slots are reserved",
)


def set_connect_retry(policy: ConnectRetry) -> None:
    """Use ``policy`` for every connection this process opens from now on (all engines)."""
    global _connect_retry
    _connect_retry = policy


def transient_connect_error(exc: BaseException) -> bool:
    """Whether a failed connection attempt is worth retrying (:data:`TRANSIENT_CONNECT_ERRORS`)."""
    text = str(exc).lower()
    return any(t in text for t in TRANSIENT_CONNECT_ERRORS)


def redact_url(url) -> str:
    """A database URL without its password (for messages and logs)."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(url).render_as_string(hide_password=True)
    except (ArgumentError, TypeError, ValueError):  # not a URL: shown as given
        return str(url)


def _retrying_connect(engine: Engine):
    """``do_connect`` hook of ``engine``: the driver's connect under :class:`ConnectRetry`."""
    where = redact_url(engine.url)

    def do_connect(dialect, _record, cargs, cparams):
        policy, t0 = _connect_retry, time.monotonic()
        delay, attempt = policy.backoff_s, 1
        while True:
            try:
                return dialect.connect(*cargs, **cparams)
            except dialect.loaded_dbapi.Error as exc:
                why = " ".join(str(exc).split()) or type(exc).__name__
                if not transient_connect_error(exc) or attempt >= policy.attempts:
                    waited = f" (gave up after {attempt} attempts in {time.monotonic() - t0:.0f} s)" if attempt > 1 else ""
                    raise StoreError(f"cannot connect to the store {where}{waited}: {why}", database=where) from None
                log.warning("store %s: %s; attempt %d of %d in %.1f s", where, why, attempt + 1, policy.attempts, delay)
                time.sleep(delay)
                delay, attempt = min(2 * delay, policy.max_backoff_s), attempt + 1

    return do_connect


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


@lru_cache(maxsize=16)
def get_engine(url: str, echo: bool = False) -> Engine:
    """One engine per URL per process (cached)."""
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    if url.startswith("sqlite:///"):
        Path(url[len("sqlite:///"):]).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, echo=echo, connect_args={"timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
    else:
        engine = create_engine(url, echo=echo, pool_pre_ping=True)
        event.listen(engine, "do_connect", _retrying_connect(engine))
    return engine


def _alembic_config(url: str):
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(url: str, revision: str = "head") -> str:
    """Apply the Alembic migrations up to ``revision``; returns the resulting revision."""
    from alembic import command

    engine = get_engine(url)
    cfg = _alembic_config(url)
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)
    return current_revision(url) or ""


def current_revision(url: str) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with get_engine(url).connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def head_revision() -> str:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(_alembic_config("sqlite://")).get_current_head() or ""


def ensure_schema(url: str) -> None:
    """Migrate to head when needed (cheap when already current)."""
    if current_revision(url) != head_revision():
        upgrade(url)


def session_factory(url: str):
    """A factory of sessions on the store at ``url`` whose objects stay readable after commit
    (the web service opens one session per request with it)."""
    return sessionmaker(bind=get_engine(url), expire_on_commit=False)


@contextmanager
def session_scope(url: str, echo: bool = False) -> Iterator[Session]:
    """A transaction: commit on success, roll back on error."""
    factory = sessionmaker(bind=get_engine(url, echo), expire_on_commit=False)
    session = factory()
    try:
        yield session
        session.commit()
    except Exception:  # roll back whatever stopped the transaction, then re-raise it
        session.rollback()
        raise
    finally:
        session.close()


def table_names(url: str) -> list[str]:
    return sorted(inspect(get_engine(url)).get_table_names())


def driver_error(exc: DatabaseError) -> BaseException:
    """The database driver's exception behind a :data:`DatabaseError` (``exc.orig`` of a DBAPI
    error: its message has no SQL), else ``exc`` itself."""
    from sqlalchemy.exc import DBAPIError

    return exc.orig if isinstance(exc, DBAPIError) else exc


def short_error(exc: BaseException, limit: int = 200) -> str:
    """``exc`` as one log line without SQL: its class and the first line of its message, at most
    ``limit`` characters. For SQLAlchemy statement errors the message is the database driver's
    (``exc.orig``): SQLAlchemy's own text carries the whole statement and its parameters (a
    request of 1,000 selections made ~1 MB of log per failure)."""
    from sqlalchemy.exc import StatementError

    name = type(exc).__name__
    msg = str(exc)
    if isinstance(exc, StatementError):
        orig = exc.orig
        msg = "" if orig is None else str(orig)
        if orig is not None and type(orig).__name__ != name:
            name = f"{name} ({type(orig).__name__})"
    lines = msg.strip().splitlines()
    text = f"{name}: {lines[0].strip()}" if lines else name
    return text if len(text) <= limit else text[:limit - 1] + "…"
