"""Engine, sessions and migrations of the store.

SQLite (embedded default) and PostgreSQL (``IDC_DATABASE_URL``) run the same code and the same
Alembic migrations.
"""
from __future__ import annotations

from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Iterator

from sqlalchemy import create_engine, event, inspect
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


class StoreError(RuntimeError):
    """The store is unreachable or not migrated; the message says what to do."""


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


@contextmanager
def session_scope(url: str, echo: bool = False) -> Iterator[Session]:
    """A transaction: commit on success, roll back on error."""
    factory = sessionmaker(bind=get_engine(url, echo), expire_on_commit=False)
    session = factory()
    try:
        yield session
        session.commit()
    except Exception:
        session.rollback()
        raise
    finally:
        session.close()


def table_names(url: str) -> list[str]:
    return sorted(inspect(get_engine(url)).get_table_names())


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
