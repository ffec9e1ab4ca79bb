"""site / sitechan rows from obspy Inventories, and channel look-ups for ingest."""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from obspy import Inventory, UTCDateTime
from sqlalchemy import select
from sqlalchemy.orm import Session

from pipeline.stations.inventory import OPEN_START, has_placeholder_response
from pipeline.store.models import Site, Sitechan


def _epoch(t: UTCDateTime | None) -> float | None:
    return None if t is None else float(t.timestamp)


def upsert_inventory(session: Session, inv: Inventory, source: str) -> dict[str, int]:
    """Insert or update site/sitechan rows for every station/channel epoch of ``inv``.

    Keyed by (net, sta, ondate) and (net, sta, loc, chan, ondate): loading the same file twice
    changes nothing.
    """
    counts = {"sites_new": 0, "sites_updated": 0, "channels_new": 0, "channels_updated": 0}
    for net in inv:
        for sta in net:
            on = _epoch(sta.start_date or net.start_date or OPEN_START)
            row = session.scalar(select(Site).where(Site.net == net.code, Site.sta == sta.code,
                                                    Site.ondate == on))
            values = dict(offdate=_epoch(sta.end_date), lat=sta.latitude, lon=sta.longitude,
                          elev_km=(sta.elevation or 0.0) / 1000.0,
                          staname=((sta.site.name if sta.site and sta.site.name else "") or "")[:100],
                          statype="ss", source=source)
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
