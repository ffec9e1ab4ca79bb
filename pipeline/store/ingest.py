"""Store side of waveform ingest: accepted inputs, rejections, availability rows, the batch journal.

The ingest stage (:mod:`pipeline.ingest.runner`) calls these; no SQL lives there. A batch's rows
(segments, gaps, overlaps, accepted inputs and its journal row) are written in one transaction by
:func:`commit_batch`; :func:`finish_batch` deletes the journal row once the batch's staged day
files are in the archive.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Iterable, Sequence

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from pipeline.store.models import IngestedFile, IngestError, IngestJournal, WfAvail
from pipeline.util import fault_point


@dataclass(frozen=True)
class DayRows:
    """Availability of one SDS day file: its path and contiguous (start, end, samprate, npts)."""

    net: str
    sta: str
    loc: str
    chan: str
    path: str
    segments: tuple[tuple[float, float, float, int], ...]


@dataclass(frozen=True)
class OverlapRow:
    net: str
    sta: str
    loc: str
    chan: str
    path: str
    start: float
    end: float
    samprate: float
    nsamp: int
    detail: str


def is_ingested(session: Session, sha256: str) -> bool:
    return session.get(IngestedFile, sha256) is not None


def replace_day_rows(session: Session, day: DayRows) -> None:
    """Replace the segment and gap rows of one day file with ``day.segments``."""
    session.execute(delete(WfAvail).where(WfAvail.path == day.path, WfAvail.kind.in_(("segment", "gap"))))
    prev = None
    for start, end, fs, npts in day.segments:
        if prev is not None:
            session.add(WfAvail(net=day.net, sta=day.sta, loc=day.loc, chan=day.chan, kind="gap",
                                starttime=prev[1], endtime=start, samprate=fs, nsamp=0, path=day.path))
        session.add(WfAvail(net=day.net, sta=day.sta, loc=day.loc, chan=day.chan, kind="segment",
                            starttime=start, endtime=end, samprate=fs, nsamp=npts, path=day.path))
        prev = (start, end)


def commit_batch(session: Session, batch: str, days: Iterable[DayRows], overlaps: Iterable[OverlapRow],
                 files: Sequence[dict], nfiles: int) -> list[str]:
    """All rows of one ingest batch plus its journal row (one transaction: the caller's session).
    Returns the quarantined copies of earlier rejections these inputs resolve (to delete after
    the commit; their rows keep the message and say the copy was released)."""
    for day in days:
        replace_day_rows(session, day)
    for ov in overlaps:
        session.add(WfAvail(net=ov.net, sta=ov.sta, loc=ov.loc, chan=ov.chan, kind="overlap",
                            starttime=ov.start, endtime=ov.end, samprate=ov.samprate, nsamp=ov.nsamp,
                            path=ov.path, detail=ov.detail))
    for row in files:
        session.merge(IngestedFile(**row))
    released: list[str] = []
    if files:  # a previously rejected copy of an input is now resolved
        shas = [row["sha256"] for row in files]
        for err in session.scalars(select(IngestError).where(IngestError.sha256.in_(shas))):
            err.resolved = True
            if err.quarantine_path:
                released.append(err.quarantine_path)
                err.quarantine_path = ""
    if nfiles:
        session.add(IngestJournal(batch=batch, nfiles=nfiles))
    session.flush()  # every statement sent: a crash here leaves an open transaction behind
    fault_point("ingest.in_transaction")
    return released


def journal_batches(session: Session) -> set[str]:
    """Batches committed in the store whose staged files may not all be in the archive yet."""
    return set(session.scalars(select(IngestJournal.batch)))


def finish_batch(session: Session, batch: str) -> None:
    session.execute(delete(IngestJournal).where(IngestJournal.batch == batch))


def record_rejection(session: Session, source: str, kind: str, message: str, quarantine_path: str,
                     sha256: str) -> None:
    """One unresolved ``ingest_error`` row per (input, kind): a repeated rejection refreshes it."""
    row = session.scalar(select(IngestError).where(IngestError.sha256 == sha256, IngestError.kind == kind,
                                                   IngestError.resolved.is_(False)))
    if row is None:
        session.add(IngestError(source=source, kind=kind, message=message, quarantine_path=quarantine_path,
                                sha256=sha256))
    else:
        row.message, row.source, row.created = message, source, datetime.now(timezone.utc)
        row.quarantine_path = quarantine_path or row.quarantine_path


def segment_rows_by_path(session: Session) -> dict[str, list[tuple[float, float, float, int]]]:
    """Every day file's segment rows: path → sorted (start, end, samprate, npts)."""
    out: dict[str, list] = {}
    q = select(WfAvail.path, WfAvail.starttime, WfAvail.endtime, WfAvail.samprate, WfAvail.nsamp).where(
        WfAvail.kind == "segment")
    for path, a, b, fs, n in session.execute(q):
        out.setdefault(path, []).append((a, b, fs, n))
    for v in out.values():
        v.sort()
    return out


def delete_day_rows(session: Session, path: str) -> int:
    """Remove every availability row of a day file that no longer exists; returns the count."""
    res = session.execute(delete(WfAvail).where(WfAvail.path == path))
    return int(res.rowcount or 0)
