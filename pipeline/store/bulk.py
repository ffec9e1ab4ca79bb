"""Bulk loading of rows into the store's own tables (benchmarks, large imports).

``BulkLoader`` writes rows given as tuples in a stated column order straight into a table of
:mod:`pipeline.store.models`, chunk by chunk (each chunk one transaction, so memory stays bounded
by what the caller hands over at a time):

* PostgreSQL: ``COPY <table> (<columns>) FROM STDIN`` through psycopg (about 10⁵ rows/s per core);
* SQLite (and any other dialect): one ``executemany`` INSERT per chunk.

Table and column names are checked against the models' metadata (nothing else reaches the SQL
text). Rows carry their primary keys; :meth:`BulkLoader.finish` moves PostgreSQL's id sequences
past the loaded keys (so later ORM inserts do not collide) and refreshes the planner statistics
(``ANALYZE``; ``PRAGMA optimize`` on SQLite).

No ORM objects, no validation beyond the database's own constraints: the caller owns the
consistency of what it loads (e.g. ``event.prefor`` naming an ``origin.orid`` of the same product).
"""
from __future__ import annotations

import json
from collections.abc import Iterable, Sequence

from sqlalchemy import JSON, insert

from pipeline.store import db
from pipeline.store.models import Base


def _table(name: str):
    try:
        return Base.metadata.tables[name]
    except KeyError:
        raise ValueError(f"no table {name!r} in the store schema") from None


class BulkLoader:
    """``with BulkLoader(url) as bl: bl.write("event", cols, rows); ...`` (``finish`` on exit)."""

    def __init__(self, url: str):
        self.url = url
        self.engine = db.get_engine(url)
        self.postgresql = self.engine.dialect.name == "postgresql"
        self.loaded: dict[str, int] = {}

    def write(self, table: str, columns: Sequence[str], rows: Iterable[Sequence]) -> int:
        """Write ``rows`` (tuples in ``columns`` order) into ``table`` in one transaction;
        returns the number of rows written."""
        t = _table(table)
        cols = list(columns)
        unknown = [c for c in cols if c not in t.c]
        if unknown:
            raise ValueError(f"table {table!r} has no column(s) {unknown}")
        json_ix = [i for i, c in enumerate(cols) if isinstance(t.c[c].type, JSON)]
        n = 0
        if self.postgresql:
            raw = self.engine.raw_connection()
            try:
                with raw.driver_connection.cursor() as cur:
                    stmt = f'COPY "{t.name}" ({", ".join(f"{chr(34)}{c}{chr(34)}" for c in cols)}) FROM STDIN'
                    with cur.copy(stmt) as cp:
                        for r in rows:
                            if json_ix:
                                r = list(r)
                                for i in json_ix:
                                    r[i] = None if r[i] is None else json.dumps(r[i])
                            cp.write_row(r)
                            n += 1
                raw.commit()
            finally:
                raw.close()
        else:
            batch = [dict(zip(cols, r)) for r in rows]
            n = len(batch)
            if batch:
                with self.engine.begin() as conn:
                    conn.execute(insert(t), batch)
        self.loaded[table] = self.loaded.get(table, 0) + n
        return n

    def finish(self) -> None:
        """After the last chunk: PostgreSQL's id sequences past the loaded keys, then the planner
        statistics of the database."""
        with self.engine.begin() as conn:
            if self.postgresql:
                for name in self.loaded:
                    t = _table(name)
                    pk = [c.name for c in t.primary_key.columns]
                    if len(pk) != 1 or not t.c[pk[0]].autoincrement:
                        continue
                    conn.exec_driver_sql(
                        f"SELECT setval(pg_get_serial_sequence('\"{t.name}\"', '{pk[0]}'), "
                        f'(SELECT COALESCE(MAX("{pk[0]}"), 0) + 1 FROM "{t.name}"), false) '
                        f"WHERE pg_get_serial_sequence('\"{t.name}\"', '{pk[0]}') IS NOT NULL")
        if self.postgresql:
            # VACUUM cannot run in a transaction: an autocommit connection
            with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.exec_driver_sql("VACUUM ANALYZE")
        else:
            with self.engine.begin() as conn:
                conn.exec_driver_sql("ANALYZE")

    def __enter__(self) -> "BulkLoader":
        return self

    def __exit__(self, exc_type, *exc) -> None:
        if exc_type is None:
            self.finish()
