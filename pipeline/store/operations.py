"""Store side of the operators' view (``idc latency``, the web UI's dashboard): the product run log,
ingest activity, the quarantine, per-station data freshness. Every query of those lives here; the
callers (:func:`pipeline.tasks.latency_report`, :mod:`pipeline.service.ui.dashboard`) get plain
rows back, never SQLAlchemy objects.

Two clocks meet here. *Data time* (epoch seconds, float): product windows and waveform samples.
*Arrival time* (timezone-aware UTC datetimes): when a run finished, a file was accepted, an input was
quarantined. Datetimes are returned timezone-aware in UTC on every backend (SQLite gives them back
naive; they are stored in UTC).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from pipeline.store.models import IngestedFile, IngestError, ProductRun, Site, WfAvail


def _utc(t: datetime | None) -> datetime | None:
    if t is None:
        return None
    return t if t.tzinfo else t.replace(tzinfo=timezone.utc)


# --------------------------------------------------------------------------- product run log
@dataclass(frozen=True)
class RunRow:
    """One logged run of a product stage (:class:`~pipeline.store.models.ProductRun`)."""

    type: str
    window_start: float
    window_end: float
    version: int
    new_version: bool
    events: int
    started: datetime
    finished: datetime
    #: data-window end (or, for a backfill, the newest data's arrival) → product stored, s
    latency_s: float
    duration_s: float
    runner: str
    run_id: str


def product_runs(session: Session, product: str | None = None, since: float | None = None,
                 until: float | None = None) -> list[RunRow]:
    """The logged runs whose data window ends in ``[since, until]`` (epoch s, both ends inclusive,
    ``None`` = open), of one product type or all, oldest run (by ``finished``) first."""
    q = select(ProductRun)
    if product:
        q = q.where(ProductRun.type == product)
    if since is not None:
        q = q.where(ProductRun.window_end >= float(since))
    if until is not None:
        q = q.where(ProductRun.window_end <= float(until))
    return [RunRow(type=r.type, window_start=r.window_start, window_end=r.window_end, version=r.version,
                   new_version=bool(r.new_version), events=int(r.events), started=_utc(r.started),
                   finished=_utc(r.finished), latency_s=float(r.latency_s), duration_s=float(r.duration_s),
                   runner=r.runner, run_id=r.run_id)
            for r in session.scalars(q.order_by(ProductRun.finished, ProductRun.id))]


def newest_run(session: Session) -> tuple[float | None, datetime | None]:
    """``(newest window end, newest finish time)`` of the run log (``None`` when empty)."""
    we, fin = session.execute(select(func.max(ProductRun.window_end), func.max(ProductRun.finished))).one()
    return (None if we is None else float(we)), _utc(fin)


# --------------------------------------------------------------------------- waveform data
def newest_sample(session: Session) -> float | None:
    """End of the newest archived segment (epoch s), ``None`` when the archive is empty."""
    t = session.scalar(select(func.max(WfAvail.endtime)).where(WfAvail.kind == "segment"))
    return None if t is None else float(t)


def station_newest_samples(session: Session, until: float) -> dict[tuple[str, str], tuple[float, int]]:
    """Per (network, station): the newest archived sample at or before ``until`` (epoch s; a
    segment running past ``until`` counts as ``until``) and the number of its channels with data
    up to then. Stations whose data all starts after ``until`` are absent."""
    W = WfAvail
    newest = func.max(case((W.endtime > until, until), else_=W.endtime))
    nchan = func.count(func.distinct(W.loc + "." + W.chan))
    q = (select(W.net, W.sta, newest, nchan).where(W.kind == "segment", W.starttime <= until)
         .group_by(W.net, W.sta))
    return {(net, sta): (float(t), int(n)) for net, sta, t, n in session.execute(q)}


@dataclass(frozen=True)
class KnownStation:
    net: str
    sta: str
    name: str
    lat: float
    lon: float


def known_stations(session: Session, since: float, until: float) -> list[KnownStation]:
    """Stations of the site table with an epoch overlapping ``[since, until]`` (one row per
    network and station: its newest such epoch), sorted by network and station."""
    S = Site
    q = (select(S.net, S.sta, S.staname, S.lat, S.lon, S.ondate).where(S.ondate <= until)
         .where((S.offdate.is_(None)) | (S.offdate >= since)).order_by(S.net, S.sta, S.ondate.desc()))
    out, seen = [], set()
    for net, sta, name, lat, lon, _ in session.execute(q):
        if (net, sta) in seen:
            continue
        seen.add((net, sta))
        out.append(KnownStation(net, sta, name or "", float(lat), float(lon)))
    return out


# --------------------------------------------------------------------------- ingest and quarantine
def accepted_files(session: Session, since: datetime, until: datetime) -> list[tuple[datetime, int, int]]:
    """``(accepted at, bytes, samples)`` of every input accepted into the archive in
    ``[since, until)`` (arrival time), oldest first."""
    F = IngestedFile
    q = (select(F.lddate, F.size_bytes, F.nsamples).where(F.lddate >= since, F.lddate < until)
         .order_by(F.lddate))
    return [(_utc(t), int(b or 0), int(n or 0)) for t, b, n in session.execute(q)]


def rejections(session: Session, since: datetime, until: datetime) -> list[datetime]:
    """When each input rejected in ``[since, until)`` (arrival time) was (last) rejected, oldest first."""
    E = IngestError
    return [_utc(t) for t in session.scalars(select(E.created).where(E.created >= since, E.created < until)
                                             .order_by(E.created))]


def newest_activity(session: Session) -> datetime | None:
    """The newest arrival-time record of the store: a run finished, an input accepted or rejected."""
    ts = [_utc(session.scalar(select(func.max(c)))) for c in
          (ProductRun.finished, IngestedFile.lddate, IngestError.created)]
    ts = [t for t in ts if t is not None]
    return max(ts) if ts else None


def ingest_totals(session: Session) -> dict:
    """Inputs accepted over the store's life: count, bytes, samples, and the newest acceptance."""
    F = IngestedFile
    n, b, s, last = session.execute(select(func.count(), func.sum(F.size_bytes), func.sum(F.nsamples),
                                           func.max(F.lddate))).one()
    return {"files": int(n or 0), "bytes": int(b or 0), "samples": int(s or 0), "newest": _utc(last)}


@dataclass(frozen=True)
class QuarantineRow:
    id: int
    source: str
    kind: str
    message: str
    quarantine_path: str
    resolved: bool
    created: datetime


def quarantine_summary(session: Session, since: datetime, until: datetime, recent: int = 10) -> dict:
    """The quarantine (``ingest_error``): ``in_period`` rejections recorded in ``[since, until)``,
    ``held`` unresolved ones with a quarantined copy (the files an operator has to look at),
    ``unresolved`` all unresolved ones (also those without a copy), ``recent``: the newest
    ``recent`` rows (any state), newest first."""
    E = IngestError
    in_period = session.scalar(select(func.count()).where(E.created >= since, E.created < until))
    held = session.scalar(select(func.count()).where(E.resolved.is_(False), E.quarantine_path != ""))
    unresolved = session.scalar(select(func.count()).where(E.resolved.is_(False)))
    rows = session.scalars(select(E).order_by(E.created.desc(), E.id.desc()).limit(int(recent)))
    return {"in_period": int(in_period or 0), "held": int(held or 0), "unresolved": int(unresolved or 0),
            "recent": [QuarantineRow(r.id, r.source, r.kind, r.message, r.quarantine_path or "", bool(r.resolved),
                                     _utc(r.created)) for r in rows]}


def ingest_errors(session: Session, unresolved_only: bool = True) -> list[IngestError]:
    """The rejected inputs (``ingest_error`` rows), oldest first; only those not resolved by a
    later ingest unless ``unresolved_only`` is false (``idc quarantine list``)."""
    q = select(IngestError).order_by(IngestError.created)
    if unresolved_only:
        q = q.where(IngestError.resolved.is_(False))
    return list(session.scalars(q))
