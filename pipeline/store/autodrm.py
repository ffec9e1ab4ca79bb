"""The AutoDRM e-mail log in the store (``autodrm_message``): one row per received message.

A message is claimed for answering by inserting its row (or by moving a ``retry``/``failed`` row,
or one left ``answering`` by a crashed run, back to ``answering`` with a conditional UPDATE), so
two processes reading the same mailbox never answer a message twice
(:mod:`pipeline.autodrm.mail`). Each function here is one transaction of its own.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from pipeline.store.db import session_scope
from pipeline.store.models import AutoDRMMessage as M

#: the columns of :func:`message_log`
LOG_COLUMNS = ("received", "status", "answer", "sender", "user_name", "role", "state", "request_id", "subject",
               "reply_to", "channel", "products", "parts", "bytes", "attempts", "error", "file", "message_id",
               "answered")


def claim_message(url: str, key: str, *, message_id: str, sender: str, subject: str, now: datetime,
                  stale_s: float) -> tuple[bool, str]:
    """Take message ``key`` for answering: ``(True, previous status)`` ("" for a new message), or
    ``(False, status)`` when it was answered (or is being answered) already. A row ``answering``
    since more than ``stale_s`` seconds before ``now`` is taken over (its run died)."""
    try:
        with session_scope(url) as s:
            row = s.scalar(select(M).where(M.message_key == key))
            if row is None:
                s.add(M(message_key=key, message_id=message_id, sender=sender[:200], subject=subject[:200],
                        status="answering", attempts=1, received=now))
                return True, ""
            status = row.status
            received = row.received if row.received.tzinfo else row.received.replace(tzinfo=timezone.utc)
            stale = status == "answering" and received < now - timedelta(seconds=stale_s)
            if status in ("retry", "failed") or stale:
                n = s.execute(update(M).where(M.id == row.id, M.status == status)
                              .values(status="answering", attempts=M.attempts + 1)).rowcount
                return n == 1, status
            return False, status
    except IntegrityError:  # another process inserted it first
        return False, "answering"


def update_message(url: str, key: str, **values) -> None:
    """Set columns of the row of message ``key`` (values already cut to the column sizes)."""
    with session_scope(url) as s:
        s.execute(update(M).where(M.message_key == key).values(**values))


def message_log(url: str, limit: int = 50) -> list[dict]:
    """The newest ``limit`` rows of the e-mail log (:data:`LOG_COLUMNS`), newest first."""
    with session_scope(url) as s:
        rows = s.scalars(select(M).order_by(M.received.desc(), M.id.desc()).limit(limit))
        return [{c: getattr(r, c) for c in LOG_COLUMNS} for r in rows]
