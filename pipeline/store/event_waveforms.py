"""What the web UI's waveform viewer (:mod:`pipeline.service.ui.waveforms`) and its array panel
(:mod:`pipeline.service.ui.array_view`) ask the store: the archived channels with data in a time
window (``wfavail``), their stations' coordinates and array membership (``site``). Reading and
processing the waveforms themselves is not done here (the SDS archive)."""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from pipeline.store.models import Site, WfAvail

#: longest ``wfavail`` segment: one SDS day file (plus a little for a last record past midnight)
_MAX_SEGMENT_S = 86400.0 + 3600.0


@dataclass(frozen=True)
class ArchivedChannel:
    """One channel with archived data in the window; coordinates of its station's site epoch at
    the window start (``None`` when the site table does not know the station)."""

    net: str
    sta: str
    loc: str
    chan: str
    samprate: float
    latitude: float | None = None
    longitude: float | None = None
    elevation_km: float | None = None

    @property
    def nslc(self) -> str:
        return f"{self.net}.{self.sta}.{self.loc}.{self.chan}"


def archived_channels(session: Session, start: float, end: float) -> list[ArchivedChannel]:
    """Channels with an archived segment (``wfavail`` rows of kind ``segment``) overlapping
    ``[start, end]`` (epoch seconds), sorted by NET.STA.LOC.CHA, each with the largest sampling
    rate of those segments and the coordinates of its station at ``start``."""
    W = WfAvail
    rows = session.execute(
        select(W.net, W.sta, W.loc, W.chan, func.max(W.samprate))
        .where(W.kind == "segment", W.endtime >= start, W.starttime <= end,
               W.starttime >= start - _MAX_SEGMENT_S)
        .group_by(W.net, W.sta, W.loc, W.chan)
        .order_by(W.net, W.sta, W.loc, W.chan)).all()
    if not rows:
        return []
    coords = site_coordinates(session, {r[1] for r in rows}, start)
    out = []
    for net, sta, loc, chan, fs in rows:
        c = coords.get((net, sta)) or coords.get(("", sta)) or (None, None, None)
        out.append(ArchivedChannel(net, sta, loc, chan, float(fs), *c))
    return out


def site_coordinates(session: Session, stations: set[str], t: float) -> dict[tuple[str, str], tuple]:
    """``{(net, sta): (lat, lon, elev_km)}`` of the site epochs of ``stations`` open at ``t``
    (epoch s); each station also under ``("", sta)`` (its first network) for picks without a
    network code."""
    if not stations:
        return {}
    S = Site
    rows = session.execute(select(S.net, S.sta, S.lat, S.lon, S.elev_km)
                           .where(S.sta.in_(sorted(stations)), S.ondate <= t)
                           .where((S.offdate.is_(None)) | (S.offdate > t))
                           .order_by(S.net, S.sta, S.ondate.desc())).all()
    out: dict[tuple[str, str], tuple] = {}
    for r in rows:
        c = (float(r.lat), float(r.lon), float(r.elev_km or 0.0))
        out.setdefault((r.net, r.sta), c)
        out.setdefault(("", r.sta), c)
    return out


def array_element_sites(session: Session, t: float) -> dict[tuple[str, str], str]:
    """``{(net, sta): array code}`` of the array elements in the site table at ``t`` (epoch s):
    the site epochs open at ``t`` with a ``refsta`` (CSS3.0: ``statype = "ar"``, ``refsta`` = the
    array code, as ``idc stations load`` writes them), for the web UI's array panel."""
    S = Site
    rows = session.execute(select(S.net, S.sta, S.refsta)
                           .where(S.refsta != "", S.ondate <= t)
                           .where((S.offdate.is_(None)) | (S.offdate > t))
                           .order_by(S.net, S.sta, S.ondate.desc())).all()
    out: dict[tuple[str, str], str] = {}
    for r in rows:
        out.setdefault((r.net, r.sta), r.refsta)
    return out
