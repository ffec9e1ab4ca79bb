"""The download audit in the store: ``download_audit`` rows (who read what, when, how much).

Written by the web service (:mod:`pipeline.service.audit` queues rows and writes them in
batches) and by AutoDRM for each answered e-mail; read by the operators' reports. Each write is
its own transaction on the store's engine, outside any request transaction, so an audit row never
holds or rolls back the work it describes.
"""
from __future__ import annotations

from pipeline.store.db import get_engine
from pipeline.store.models import DownloadAudit

#: the columns written (all but the id) and the value of a column a row leaves out (COPY)
COLUMNS = {"created": None, "user_name": None, "state": "", "role": "", "client": "", "method": None,
           "endpoint": None, "product": "", "query": "", "status": None, "bytes": 0, "duration_ms": 0.0}


def write_audit_row(url: str, row: dict) -> None:
    """One ``download_audit`` row (column → value), committed at once."""
    with get_engine(url).begin() as conn:
        conn.execute(DownloadAudit.__table__.insert().values(**row))


def write_audit_rows(url: str, rows: list[dict]) -> None:
    """Rows into ``download_audit`` in one transaction: one ``COPY ... FROM STDIN`` on PostgreSQL
    with psycopg 3 (a tenth of the CPU of an INSERT per row), else one multi-row ``INSERT``."""
    if not rows:
        return
    engine = get_engine(url)
    if engine.dialect.name == "postgresql" and engine.dialect.driver == "psycopg":
        _copy_rows(engine, rows)
    else:
        with engine.begin() as conn:
            conn.execute(DownloadAudit.__table__.insert(), rows)


def _copy_rows(engine, rows: list[dict]) -> None:
    """Rows into ``download_audit`` with one ``COPY ... FROM STDIN`` (PostgreSQL, psycopg 3)."""
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        with cur.copy(f"COPY download_audit ({', '.join(COLUMNS)}) FROM STDIN") as copy:
            for r in rows:
                copy.write_row(tuple(r.get(c, d) for c, d in COLUMNS.items()))
        cur.close()
        raw.commit()
    except Exception:  # roll back whatever stopped the copy, then re-raise it
        raw.rollback()
        raise
    finally:
        raw.close()
