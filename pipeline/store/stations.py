"""site / sitechan rows from obspy Inventories, and channel look-ups for ingest."""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from obspy import Inventory, UTCDateTime
from sqlalchemy import select
from sqlalchemy.orm import Session

from pipeline.stations.arrays import described_array
from pipeline.stations.inventory import OPEN_START, has_placeholder_response
from pipeline.store.models import Site, Sitechan


def _epoch(t: UTCDateTime | None) -> float | None:
    return None if t is None else float(t.timestamp)


def upsert_inventory(session: Session, inv: Inventory, source: str) -> dict[str, int]:
    """Insert or update site/sitechan rows for every station/channel epoch of ``inv``.

    Keyed by (net, sta, ondate) and (net, sta, loc, chan, ondate): loading the same file twice
    changes nothing. A station described as ``element of array CODE``
    (:func:`pipeline.stations.arrays.described_array`) gets ``statype = "ar"`` and
    ``refsta = CODE``, as in the IDC's CSS3.0 site table.
    """
    counts = {"sites_new": 0, "sites_updated": 0, "channels_new": 0, "channels_updated": 0}
    for net in inv:
        for sta in net:
            on = _epoch(sta.start_date or net.start_date or OPEN_START)
            # an array element (CSS3.0: statype "ar", refsta the array code) when its metadata says so
            refsta = (described_array(sta) or "")[:8]
            row = session.scalar(select(Site).where(Site.net == net.code, Site.sta == sta.code,
                                                    Site.ondate == on))
            values = dict(offdate=_epoch(sta.end_date), lat=sta.latitude, lon=sta.longitude,
                          elev_km=(sta.elevation or 0.0) / 1000.0,
                          staname=((sta.site.name if sta.site and sta.site.name else "") or "")[:100],
                          statype="ar" if refsta else "ss", refsta=refsta, source=source)
            if row is None:
                session.add(Site(net=net.code, sta=sta.code, ondate=on, **values))
                counts["sites_new"] += 1
            elif any(getattr(row, k) != v for k, v in values.items()):
                for k, v in values.items():
                    setattr(row, k, v)
                counts["sites_updated"] += 1
            for ch in sta.channels:
                con = _epoch(ch.start_date or sta.start_date or OPEN_START)
                crow = session.scalar(select(Sitechan).where(
                    Sitechan.net == net.code, Sitechan.sta == sta.code,
                    Sitechan.loc == (ch.location_code or ""), Sitechan.chan == ch.code,
                    Sitechan.ondate == con))
                if ch.response is not None and ch.response.response_stages:
                    resp = "placeholder" if has_placeholder_response(ch) else "real"
                elif ch.response is not None and ch.response.instrument_sensitivity is not None:
                    resp = "placeholder" if has_placeholder_response(ch) else "real"
                else:
                    resp = "none"
                cvalues = dict(offdate=_epoch(ch.end_date), edepth_km=(ch.depth or 0.0) / 1000.0,
                               hang=ch.azimuth, vang=None if ch.dip is None else ch.dip + 90.0,
                               samprate=float(ch.sample_rate) if ch.sample_rate else None,
                               descrip=(ch.description or "")[:100], response=resp, source=source)
                if crow is None:
                    session.add(Sitechan(net=net.code, sta=sta.code, loc=ch.location_code or "",
                                         chan=ch.code, ondate=con, **cvalues))
                    counts["channels_new"] += 1
                elif any(getattr(crow, k) != v for k, v in cvalues.items()):
                    for k, v in cvalues.items():
                        setattr(crow, k, v)
                    counts["channels_updated"] += 1
    session.flush()
    return counts


@dataclass(frozen=True)
class ChannelEpoch:
    net: str
    sta: str
    loc: str
    chan: str
    ondate: float
    offdate: float | None
    samprate: float | None

    def covers(self, t: float) -> bool:
        return self.ondate <= t and (self.offdate is None or t < self.offdate)


class ChannelIndex:
    """In-memory view of site/sitechan for fast per-trace checks during ingest."""

    def __init__(self, session: Session):
        self.channels: dict[tuple[str, str, str, str], list[ChannelEpoch]] = defaultdict(list)
        self.networks_of_station: dict[str, set[str]] = defaultdict(set)
        self.stations: set[tuple[str, str]] = set()
        for r in session.scalars(select(Sitechan)):
            self.channels[(r.net, r.sta, r.loc, r.chan)].append(
                ChannelEpoch(r.net, r.sta, r.loc, r.chan, r.ondate, r.offdate, r.samprate))
        for s in session.scalars(select(Site)):
            self.networks_of_station[s.sta].add(s.net)
            self.stations.add((s.net, s.sta))

    def __len__(self) -> int:
        return len(self.channels)

    def network_for(self, sta: str) -> str | None:
        nets = self.networks_of_station.get(sta, set())
        return next(iter(nets)) if len(nets) == 1 else None

    def lookup(self, net: str, sta: str, loc: str, chan: str, t: float) -> ChannelEpoch | None:
        for ep in self.channels.get((net, sta, loc, chan), []):
            if ep.covers(t):
                return ep
        return None


def list_sites(session: Session) -> list[tuple[Site, list[Sitechan]]]:
    chans: dict[tuple[str, str], list[Sitechan]] = defaultdict(list)
    for c in session.scalars(select(Sitechan).order_by(Sitechan.net, Sitechan.sta, Sitechan.loc,
                                                       Sitechan.chan, Sitechan.ondate)):
        chans[(c.net, c.sta)].append(c)
    out = []
    for s in session.scalars(select(Site).order_by(Site.net, Site.sta, Site.ondate)):
        out.append((s, chans.get((s.net, s.sta), [])))
    return out


def newest_sites(session: Session) -> list[Site]:
    """The newest epoch of every (network, station) of the site table, by network and station."""
    seen, out = set(), []
    for r in session.scalars(select(Site).order_by(Site.net, Site.sta, Site.ondate.desc())):
        if (r.net, r.sta) not in seen:
            seen.add((r.net, r.sta))
            out.append(r)
    return out


# --------------------------------------------------------------------------- fdsnws-station queries
@dataclass(frozen=True)
class EpochBounds:
    """Conditions on epochs (fdsnws-station ``startbefore`` … ``updatedafter``; epoch seconds, the
    last a UTC datetime; None = no condition)."""

    start_before: float | None = None
    start_after: float | None = None
    end_before: float | None = None
    end_after: float | None = None
    updated_after: object | None = None

    def conditions(self, cls) -> list:
        from sqlalchemy import and_, or_

        conds = []
        if self.start_before is not None:
            conds.append(cls.ondate < self.start_before)
        if self.start_after is not None:
            conds.append(cls.ondate > self.start_after)
        if self.end_before is not None:
            conds.append(and_(cls.offdate.is_not(None), cls.offdate < self.end_before))
        if self.end_after is not None:
            conds.append(or_(cls.offdate.is_(None), cls.offdate > self.end_after))
        if self.updated_after is not None:
            conds.append(cls.lddate > self.updated_after)
        return conds


def _epoch_window(cls, t0, t1) -> list:
    from sqlalchemy import or_

    conds = []
    if t0 is not None:
        conds.append(or_(cls.offdate.is_(None), cls.offdate >= t0.timestamp))
    if t1 is not None:
        conds.append(cls.ondate <= t1.timestamp)
    return conds


def _selection_condition(cls, sel, with_channel: bool):
    """SQL condition of a :class:`~pipeline.store.selection.Selection` on site (codes of network
    and station) or sitechan rows (also location and channel), and its time window."""
    from sqlalchemy import and_

    from pipeline.store.selection import code_condition

    conds = [c for c in (code_condition(cls.net, sel.network), code_condition(cls.sta, sel.station)) if c is not None]
    if with_channel:
        conds += [c for c in (code_condition(cls.loc, sel.location), code_condition(cls.chan, sel.channel))
                  if c is not None]
    conds += _epoch_window(cls, sel.starttime, sel.endtime)
    return and_(*conds) if conds else None


def _selection_cost(sel) -> int:
    return 1 + sel.n_codes


def query_sites(session: Session, selections, *, epochs: EpochBounds = EpochBounds(),
                minlatitude: float | None = None, maxlatitude: float | None = None,
                minlongitude: float | None = None, maxlongitude: float | None = None,
                box: tuple | None = None) -> list[Site]:
    """Station epochs (site rows, in no particular order) matching any of ``selections``
    (network and station codes, time window), ``epochs``, the latitude/longitude limits (min >
    max longitude crosses the antimeridian) and ``box`` ``(min lat, max lat, (lon lo, lon hi) or
    None)`` (the bounding box of a radius search)."""
    from pipeline.store.selection import lon_condition, scalars_any

    S = Site
    q = select(S)
    for c in epochs.conditions(S):
        q = q.where(c)
    if minlatitude is not None:
        q = q.where(S.lat >= minlatitude)
    if maxlatitude is not None:
        q = q.where(S.lat <= maxlatitude)
    if minlongitude is not None or maxlongitude is not None:
        c = lon_condition(S.lon, -180.0 if minlongitude is None else minlongitude,
                          180.0 if maxlongitude is None else maxlongitude)
        if c is not None:
            q = q.where(c)
    if box is not None:
        lo, hi, lons = box
        q = q.where(S.lat >= lo, S.lat <= hi)
        if lons is not None and (c := lon_condition(S.lon, *lons)) is not None:
            q = q.where(c)
    return scalars_any(session, q, selections, lambda s: _selection_condition(S, s, False), cost=_selection_cost)


def query_channels(session: Session, selections, stations, *, epochs: EpochBounds = EpochBounds()) -> list[Sitechan]:
    """Channel epochs (sitechan rows, in no particular order) of ``stations`` ((net, sta) pairs)
    matching any of ``selections`` (all four codes, time window) and ``epochs``."""
    from sqlalchemy import and_

    from pipeline.store.selection import scalars_any

    C = Sitechan
    keys = sorted(set(stations))
    if not keys:
        return []
    q = select(C)
    for c in epochs.conditions(C):
        q = q.where(c)
    conds = [_selection_condition(C, s, True) for s in selections]
    if any(c is None for c in conds):  # a selection of every channel: those of the stations
        return scalars_any(session, q, keys, lambda k: and_(C.net == k[0], C.sta == k[1]))
    wanted = set(keys)
    return [c for c in scalars_any(session, q, selections, lambda s: _selection_condition(C, s, True),
                                   cost=_selection_cost) if (c.net, c.sta) in wanted]


def archived_extents(session: Session, stations) -> dict[tuple, tuple[float, float]]:
    """(net, sta, loc, chan) → (first start, last end) of the archived segments (``wfavail``)
    of the channels of ``stations`` ((net, sta) pairs)."""
    from sqlalchemy import func

    from pipeline.store.models import WfAvail as W

    out = {}
    for net, sta in set(stations):
        rows = session.execute(select(W.loc, W.chan, func.min(W.starttime), func.max(W.endtime))
                               .where(W.net == net, W.sta == sta, W.kind == "segment")
                               .group_by(W.loc, W.chan))
        for loc, chan, t0, t1 in rows:
            out[(net, sta, loc, chan)] = (t0, t1)
    return out


def stations_per_network(session: Session) -> dict[str, int]:
    """network code → number of distinct stations in the site table."""
    from sqlalchemy import func

    return dict(session.execute(select(Site.net, func.count(func.distinct(Site.sta))).group_by(Site.net)).all())


def sites(session: Session) -> list[Site]:
    """Every site epoch, by network, station and start (``ondate``)."""
    return list(session.scalars(select(Site).order_by(Site.net, Site.sta, Site.ondate)))


def channels(session: Session) -> list[Sitechan]:
    """Every channel epoch, by network, station, location, channel and start (``ondate``)."""
    return list(session.scalars(select(Sitechan).order_by(Sitechan.net, Sitechan.sta, Sitechan.loc,
                                                          Sitechan.chan, Sitechan.ondate)))


def sites_by_start(session: Session) -> list[Site]:
    """Every site epoch, oldest start (``ondate``) first (so the newest epoch of a station comes last)."""
    return list(session.scalars(select(Site).order_by(Site.ondate)))


def site_positions_at(session: Session, t: float) -> dict[tuple[str, str], tuple]:
    """``{(net, sta): (lat, lon, elev_km)}`` of the site epochs open at ``t`` (epoch s: ``ondate <= t``
    and no ``offdate`` or ``offdate > t``)."""
    out = {}
    for site in session.scalars(select(Site)):
        if site.ondate <= t and (site.offdate is None or site.offdate > t):
            out[(site.net, site.sta)] = (site.lat, site.lon, site.elev_km)
    return out
