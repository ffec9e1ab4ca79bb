"""The download audit writer: ``download_audit`` rows written in batches by a background thread.

Every request that went through :func:`pipeline.service.auth.current_principal` gets one
``download_audit`` row (:class:`pipeline.service.auth.AccessMiddleware`). Writing it with its own
``INSERT`` and commit inside the request cost a thread hop and a database round trip per
request; instead the middleware hands the row to :class:`AuditWriter` (a queue, no I/O) and one
thread per server process writes the queued rows with one multi-row ``INSERT`` per batch.

Timing and durability
---------------------
* The thread writes what is queued every :data:`FLUSH_INTERVAL_S` (0.1 s), in ``INSERT`` s of
  at most :data:`MAX_BATCH` (200) rows; so a row is in the store about a tenth of a second after
  its response was sent (at 500 requests/s: one ``INSERT`` of ~50 rows per tick).
* :meth:`AuditWriter.flush` blocks until every row queued before the call is written
  (``pipeline.service.auth.flush_audit(app)`` for an app); the app's lifespan calls
  :meth:`AuditWriter.close` at shutdown (uvicorn's graceful stop), which flushes; an ``atexit``
  hook flushes too, for processes that never ran the lifespan (``TestClient`` without ``with``).
  Rows still queued when a process is killed (SIGKILL) are lost, as was a row whose request was
  killed before its ``INSERT``.
* The audit never breaks a response: a batch that cannot be written is logged
  (``pipeline.service.auth`` logger, WARNING) and dropped.
"""
from __future__ import annotations

import atexit
import logging
import threading
import weakref
from collections import deque

from pipeline.store.db import short_error

log = logging.getLogger("pipeline.service.auth")

#: seconds between two writes of the queued rows
FLUSH_INTERVAL_S = 0.1
#: rows per INSERT at most
MAX_BATCH = 200

_writers: "weakref.WeakSet[AuditWriter]" = weakref.WeakSet()


class AuditWriter:
    """Rows queued by the request handlers and the thread that writes them (started on first use).

    Queuing is a ``deque.append`` (no lock, no wake-up of the thread: waking a thread per row
    costs a GIL hand-over per request); the thread wakes every ``interval_s`` seconds, or at once
    for :meth:`flush`/:meth:`close`, and writes what is queued in ``INSERT`` s of ``max_batch``
    rows."""

    def __init__(self, url: str, *, interval_s: float = FLUSH_INTERVAL_S, max_batch: int = MAX_BATCH):
        self.url = url
        self.interval_s = interval_s
        self.max_batch = max_batch
        self._rows: deque = deque()
        self._wake = threading.Event()
        self._flushes: deque = deque()  # threading.Event per waiting flush()
        self._stop = False
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self._write_lock = threading.Lock()
        self.written = 0
        self.failed = 0
        _writers.add(self)

    # ----------------------------------------------------------------- producer side
    def submit(self, row: dict) -> None:
        """Queue one row (``created`` is set now); never blocks."""
        self._rows.append(dict(row, created=_utcnow()))
        t = self._thread
        if t is None or not t.is_alive():
            self._start()

    def pending(self) -> int:
        return len(self._rows)

    def flush(self, timeout: float = 30.0) -> bool:
        """Block until every row queued before this call is written (False on timeout)."""
        t = self._thread
        if t is None or not t.is_alive():
            self._drain()
            return True
        done = threading.Event()
        self._flushes.append(done)
        self._wake.set()
        return done.wait(timeout)

    def close(self, timeout: float = 30.0) -> None:
        """Write what is queued and stop the thread (a later :meth:`submit` starts a new one)."""
        with self._start_lock:
            t = self._thread
            if t is not None and t.is_alive():
                self._stop = True
                self._wake.set()
                t.join(timeout)
            self._thread = None
            self._stop = False
        self._drain()

    # ----------------------------------------------------------------- the thread
    def _start(self) -> None:
        with self._start_lock:
            if self._thread is None or not self._thread.is_alive():
                self._stop = False
                self._thread = threading.Thread(target=self._run, name="idc-audit-writer", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while True:
            self._wake.wait(self.interval_s)
            self._wake.clear()
            waiting = []
            while self._flushes:
                waiting.append(self._flushes.popleft())
            self._drain()
            for w in waiting:
                w.set()
            if self._stop:
                return

    def _drain(self) -> None:
        with self._write_lock:
            while self._rows:
                batch = []
                while self._rows and len(batch) < self.max_batch:
                    batch.append(self._rows.popleft())
                self._write(batch)

    def _write(self, rows: list[dict]) -> None:
        if not rows:
            return
        from pipeline.store.audit import write_audit_rows

        try:
            write_audit_rows(self.url, rows)
            self.written += len(rows)
        except Exception as exc:  # the audit never breaks the service; logged with the row count
            self.failed += len(rows)
            log.warning("download audit: %d row(s) not written: %s", len(rows), short_error(exc))


def _utcnow():
    from datetime import datetime, timezone

    return datetime.now(timezone.utc)


@atexit.register
def _flush_all() -> None:  # pragma: no cover - runs at interpreter exit
    for w in list(_writers):
        try:
            w.close(timeout=10.0)
        except Exception:  # interpreter exit: nothing left to report to
            pass
