"""fdsnws-station 1.1 at ``/fdsnws/station/1/``: query (GET and POST), version, application.wadl.

Source of truth: the store's ``site`` (station epochs) and ``sitechan`` (channel epochs) tables;
for ``level=response`` the instrument responses come from the StationXML files of
``[stations] paths`` (the files ``idc stations load`` read), matched by network, station,
location, channel and epoch start. ``includeavailability`` reports the extent of the archived
segments (``wfavail``) per channel; ``matchtimeseries`` keeps channels that have archived data
in the requested time window. Every station is public today, so ``includerestricted`` is
accepted and changes nothing.

Levels and text formats: FDSN spec 1.2 (fdsnws-station 1.1) and REFERENCE.md §8.3–8.4.
"""
from __future__ import annotations

import io
from collections import defaultdict
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import PlainTextResponse, Response
from obspy import UTCDateTime
from sqlalchemy import and_, func, or_, select

from pipeline.service.auth import Principal, current_principal, require
from pipeline.service.fdsn.event import _distance_deg, lon_condition, radius_box
from pipeline.service.fdsn.params import (
    SERVICE_VERSIONS,
    FDSNError,
    Param,
    Selection,
    code_condition,
    iso,
    OPENAPI_POST_BODY,
    openapi_parameters,
    parse_params,
    read_post_body,
    split_codes,
    wadl,
)
from pipeline.store import models as m
from pipeline.store.availability import has_segment
from pipeline.store.selection import merge_selections, scalars_any

router = APIRouter(tags=["fdsnws-station"])

SPECS: list[Param] = [
    Param("starttime", "time", ("start",), selection=True, doc="Epochs active on or after this time."),
    Param("endtime", "time", ("end",), selection=True, doc="Epochs active on or before this time."),
    Param("startbefore", "time", doc="Epochs starting before this time."),
    Param("startafter", "time", doc="Epochs starting after this time."),
    Param("endbefore", "time", doc="Epochs ending before this time."),
    Param("endafter", "time", doc="Epochs ending after this time (or open)."),
    Param("network", "str", ("net",), selection=True, doc="Network code(s), wildcards * ?, comma list."),
    Param("station", "str", ("sta",), selection=True, doc="Station code(s)."),
    Param("location", "str", ("loc",), selection=True, doc="Location code(s); -- for empty."),
    Param("channel", "str", ("cha",), selection=True, doc="Channel code(s)."),
    Param("minlatitude", "float", ("minlat",), minimum=-90, maximum=90, doc="Southern bound, degrees."),
    Param("maxlatitude", "float", ("maxlat",), minimum=-90, maximum=90, doc="Northern bound, degrees."),
    Param("minlongitude", "float", ("minlon",), minimum=-180, maximum=180, doc="Western bound, degrees."),
    Param("maxlongitude", "float", ("maxlon",), minimum=-180, maximum=180, doc="Eastern bound, degrees."),
    Param("latitude", "float", ("lat",), minimum=-90, maximum=90, doc="Centre of a radius search, degrees."),
    Param("longitude", "float", ("lon",), minimum=-180, maximum=180, doc="Centre of a radius search, degrees."),
    Param("minradius", "float", minimum=0, maximum=180, doc="Minimum distance from the centre, degrees."),
    Param("maxradius", "float", minimum=0, maximum=180, doc="Maximum distance from the centre, degrees."),
    Param("level", "choice", choices=("network", "station", "channel", "response"), default="station",
          doc="Level of detail."),
    Param("includerestricted", "bool", default=True, doc="Include restricted stations (all are public)."),
    Param("includeavailability", "bool", default=False, doc="Archived data extent per channel."),
    Param("updatedafter", "time", doc="Metadata loaded or changed after this time."),
    Param("matchtimeseries", "bool", default=False, doc="Only channels with archived data."),
    Param("format", "choice", choices=("xml", "text"), default="xml", doc="StationXML (xml) or FDSN text."),
    Param("nodata", "choice", choices=("204", "404"), default="204", doc="Status code when nothing matches."),
]


def selection_from_params(p: dict[str, Any]) -> Selection:
    g = p.get("_given", {})
    codes = [split_codes(g.get(k, k), p.get(k), 8) for k in ("network", "station", "location", "channel")]
    return Selection(*codes, p.get("starttime"), p.get("endtime"))


def _epoch_window(cls, t0: UTCDateTime | None, t1: UTCDateTime | None):
    conds = []
    if t0 is not None:
        conds.append(or_(cls.offdate.is_(None), cls.offdate >= t0.timestamp))
    if t1 is not None:
        conds.append(cls.ondate <= t1.timestamp)
    return conds


def _before_after(cls, p):
    conds = []
    if p.get("startbefore") is not None:
        conds.append(cls.ondate < p["startbefore"].timestamp)
    if p.get("startafter") is not None:
        conds.append(cls.ondate > p["startafter"].timestamp)
    if p.get("endbefore") is not None:
        conds.append(and_(cls.offdate.is_not(None), cls.offdate < p["endbefore"].timestamp))
    if p.get("endafter") is not None:
        conds.append(or_(cls.offdate.is_(None), cls.offdate > p["endafter"].timestamp))
    if p.get("updatedafter") is not None:
        conds.append(cls.lddate > p["updatedafter"].datetime)
    return conds


def _sel_condition(cls, sel: Selection, with_channel: bool):
    conds = [c for c in (code_condition(cls.net, sel.network), code_condition(cls.sta, sel.station)) if c is not None]
    if with_channel:
        conds += [c for c in (code_condition(cls.loc, sel.location), code_condition(cls.chan, sel.channel))
                  if c is not None]
    conds += _epoch_window(cls, sel.starttime, sel.endtime)
    return and_(*conds) if conds else None


def _cost(sel: Selection) -> int:
    return 1 + sel.n_codes


class StationQuery:
    def __init__(self, p: dict[str, Any], selections: list[Selection]):
        self.p = p
        self.selections = selections
        for a, b in (("minlatitude", "maxlatitude"), ("minradius", "maxradius")):
            if p.get(a) is not None and p.get(b) is not None and p[a] > p[b]:
                raise FDSNError(400, f"Invalid parameters: '{p['_given'].get(a, a)}' ({p[a]}) is greater than "
                                     f"'{p['_given'].get(b, b)}' ({p[b]})")
        for s in selections:
            if s.starttime is not None and s.endtime is not None and s.starttime > s.endtime:
                raise FDSNError(400, "Invalid parameters: 'starttime' is after 'endtime'")
        # duplicate and overlapping lines of a POST body merged; asked in bounded batches below
        self.selections = selections = merge_selections(selections)
        self.radius = p.get("minradius") is not None or p.get("maxradius") is not None
        if self.radius and (p.get("latitude") is None or p.get("longitude") is None):
            raise FDSNError(400, "Parameters 'minradius'/'maxradius' need both 'latitude' and 'longitude'")
        if p["level"] == "response" and p["format"] == "text":
            raise FDSNError(400, "Invalid value for parameter 'format': text is not available for "
                                 "'level=response' (use format=xml)")
        self.channel_filter = (any(s.location is not None or s.channel is not None for s in selections)
                               or p["matchtimeseries"])

    def sites(self, session) -> list[m.Site]:
        p, S = self.p, m.Site
        q = select(S)
        for c in _before_after(S, p) if p["level"] in ("network", "station") else _before_after(S, {}):
            q = q.where(c)
        if p.get("minlatitude") is not None:
            q = q.where(S.lat >= p["minlatitude"])
        if p.get("maxlatitude") is not None:
            q = q.where(S.lat <= p["maxlatitude"])
        if p.get("minlongitude") is not None or p.get("maxlongitude") is not None:
            c = lon_condition(S.lon, p.get("minlongitude", -180.0), p.get("maxlongitude", 180.0))
            if c is not None:
                q = q.where(c)
        if self.radius:
            lo, hi, lons = radius_box(p["latitude"], p["longitude"], p.get("maxradius", 180.0))
            q = q.where(S.lat >= lo, S.lat <= hi)
            if lons is not None and (c := lon_condition(S.lon, *lons)) is not None:
                q = q.where(c)
        rows = scalars_any(session, q, self.selections, lambda s: _sel_condition(S, s, False), cost=_cost)
        rows.sort(key=lambda s: (s.net, s.sta, s.ondate))
        if self.radius:
            rmin, rmax = p.get("minradius", 0.0), p.get("maxradius", 180.0)
            rows = [s for s in rows if rmin <= _distance_deg(p["latitude"], p["longitude"], s.lat, s.lon) <= rmax]
        return rows

    def channels(self, session, sites: list[m.Site]) -> list[m.Sitechan]:
        p, C = self.p, m.Sitechan
        keys = sorted({(s.net, s.sta) for s in sites})
        if not keys:
            return []
        q = select(C)
        if p["level"] in ("channel", "response"):
            for c in _before_after(C, p):
                q = q.where(c)
        conds = [_sel_condition(C, s, True) for s in self.selections]
        if any(c is None for c in conds):  # a selection of every channel: those of the stations
            out = scalars_any(session, q, keys, lambda k: and_(C.net == k[0], C.sta == k[1]))
        else:
            wanted = set(keys)
            out = [c for c in scalars_any(session, q, self.selections, lambda s: _sel_condition(C, s, True),
                                          cost=_cost) if (c.net, c.sta) in wanted]
        out.sort(key=lambda c: (c.net, c.sta, c.loc, c.chan, c.ondate))
        if p["matchtimeseries"]:
            out = [c for c in out if self._has_data(session, c)]
        return out

    def _has_data(self, session, c: m.Sitechan) -> bool:
        windows = [(s.starttime and s.starttime.timestamp, s.endtime and s.endtime.timestamp)
                   for s in self.selections if s.starttime or s.endtime]
        return has_segment(session, c.net, c.sta, c.loc, c.chan, c.ondate, c.offdate, windows)


def _availability(session, chans: list[m.Sitechan]) -> dict[tuple, tuple[float, float]]:
    W = m.WfAvail
    keys = {(c.net, c.sta) for c in chans}
    out = {}
    for net, sta in keys:
        rows = session.execute(select(W.loc, W.chan, func.min(W.starttime), func.max(W.endtime))
                               .where(W.net == net, W.sta == sta, W.kind == "segment")
                               .group_by(W.loc, W.chan))
        for loc, chan, t0, t1 in rows:
            out[(net, sta, loc, chan)] = (t0, t1)
    return out


def _find_response(inv, c: m.Sitechan):
    """The response of channel epoch ``c`` in the StationXML files (None when absent)."""
    best = None
    for net in inv:
        if net.code != c.net:
            continue
        for sta in net:
            if sta.code != c.sta:
                continue
            for ch in sta:
                if ch.code != c.chan or (ch.location_code or "") != c.loc:
                    continue
                start = float(ch.start_date.timestamp) if ch.start_date else None
                if start is not None and abs(start - c.ondate) < 1.0:
                    return ch.response
                end = float(ch.end_date.timestamp) if ch.end_date else None
                if (start is None or start <= c.ondate + 1.0) and (end is None or c.ondate < end):
                    best = best or ch.response
    return best


def build(session, state, q: StationQuery, agency: str, url: str):
    """(obspy Inventory, text) of the query result, or (None, None) when nothing matches."""
    from obspy.core.inventory import Channel, Inventory, Network, Site, Station
    from obspy.core.inventory.util import DataAvailability

    p = q.p
    level = p["level"]
    sites = q.sites(session)
    chans = q.channels(session, sites) if (level in ("channel", "response") or q.channel_filter) else []
    by_station = defaultdict(list)
    for c in chans:
        by_station[(c.net, c.sta)].append(c)
    if q.channel_filter or level in ("channel", "response"):
        sites = [s for s in sites if _epoch_channels(s, by_station.get((s.net, s.sta), []))]
    if not sites:
        return None, None
    avail = _availability(session, chans) if p["includeavailability"] and chans else {}
    totals = dict(session.execute(select(m.Site.net, func.count(func.distinct(m.Site.sta))).group_by(m.Site.net)).all())
    inv_files = state.file_inventory() if level == "response" else None
    networks: dict[str, list] = defaultdict(list)
    for s in sites:
        networks[s.net].append(s)
    inv = Inventory(networks=[], source=agency, sender=agency, module="idc-pipeline fdsnws-station 1.1",
                    module_uri=url, created=UTCDateTime())
    text = []
    if level == "network":
        text.append("#Network|Description|StartTime|EndTime|TotalStations")
    elif level == "station":
        text.append("#Network|Station|Latitude|Longitude|Elevation|SiteName|StartTime|EndTime")
    else:
        text.append("#Network|Station|Location|Channel|Latitude|Longitude|Elevation|Depth|Azimuth|Dip|"
                    "SensorDescription|Scale|ScaleFreq|ScaleUnits|SampleRate|StartTime|EndTime")
    for code in sorted(networks):
        ss = networks[code]
        start = min(s.ondate for s in ss)
        end = None if any(s.offdate is None for s in ss) else max(s.offdate for s in ss)
        net = Network(code, start_date=UTCDateTime(start), end_date=None if end is None else UTCDateTime(end),
                      total_number_of_stations=totals.get(code, len(ss)),
                      selected_number_of_stations=len({s.sta for s in ss}))
        inv.networks.append(net)
        if level == "network":
            text.append(f"{code}||{iso(start)}|{iso(end)}|{len({s.sta for s in ss})}")
            continue
        for s in ss:
            all_ch = by_station.get((s.net, s.sta), [])
            epoch_ch = _epoch_channels(s, all_ch)
            sta = Station(s.sta, latitude=s.lat, longitude=s.lon, elevation=s.elev_km * 1000.0,
                          site=Site(name=s.staname or s.sta), start_date=UTCDateTime(s.ondate),
                          end_date=None if s.offdate is None else UTCDateTime(s.offdate),
                          creation_date=UTCDateTime(s.ondate))
            net.stations.append(sta)
            if level == "station":
                text.append("|".join([s.net, s.sta, f"{s.lat:.6f}", f"{s.lon:.6f}", f"{s.elev_km * 1000.0:.1f}",
                                      (s.staname or "").replace("|", " "), iso(s.ondate), iso(s.offdate)]))
                continue
            sta.total_number_of_channels = len(epoch_ch)
            sta.selected_number_of_channels = len(epoch_ch)
            for c in epoch_ch:
                dip = None if c.vang is None else c.vang - 90.0
                ch = Channel(c.chan, c.loc, latitude=s.lat, longitude=s.lon, elevation=s.elev_km * 1000.0,
                             depth=c.edepth_km * 1000.0, azimuth=c.hang, dip=dip, sample_rate=c.samprate,
                             start_date=UTCDateTime(c.ondate),
                             end_date=None if c.offdate is None else UTCDateTime(c.offdate),
                             description=c.descrip or None)
                if (c.net, c.sta, c.loc, c.chan) in avail:
                    t0, t1 = avail[(c.net, c.sta, c.loc, c.chan)]
                    ch.data_availability = DataAvailability(UTCDateTime(t0), UTCDateTime(t1))
                if inv_files is not None:
                    resp = _find_response(inv_files, c)
                    if resp is not None:
                        ch.response = resp
                sta.channels.append(ch)
                text.append("|".join([c.net, c.sta, c.loc, c.chan, f"{s.lat:.6f}", f"{s.lon:.6f}",
                                      f"{s.elev_km * 1000.0:.1f}", f"{c.edepth_km * 1000.0:.1f}",
                                      "" if c.hang is None else f"{c.hang:g}", "" if dip is None else f"{dip:g}",
                                      (c.descrip or "").replace("|", " "), "", "", "",
                                      "" if c.samprate is None else f"{c.samprate:g}", iso(c.ondate),
                                      iso(c.offdate)]))
    return inv, "\n".join(text) + "\n"


def _epoch_channels(site: m.Site, chans: list[m.Sitechan]) -> list[m.Sitechan]:
    """The channel epochs that overlap the station epoch ``site``."""
    out = []
    for c in chans:
        if site.offdate is not None and c.ondate >= site.offdate:
            continue
        if c.offdate is not None and c.offdate <= site.ondate:
            continue
        out.append(c)
    return out


def _respond(request: Request, params: dict, selections: list[Selection]):
    st = request.app.state.idc
    q = StationQuery(params, selections)
    with st.session() as session:
        inv, text = build(session, st, q, st.settings.service.agency_id, str(request.url).split("?")[0])
    if inv is None:
        if params["nodata"] == "404":
            raise FDSNError(404, "No stations match the selection")
        return Response(status_code=204)
    if params["format"] == "text":
        return PlainTextResponse(text)
    buf = io.BytesIO()
    inv.write(buf, format="STATIONXML", validate=False)
    return Response(buf.getvalue(), media_type="application/xml")


@router.get("/query", openapi_extra=openapi_parameters(SPECS))
def query(request: Request, principal: Principal = Depends(current_principal)):
    require(principal, "stations")
    params = parse_params(request.query_params.multi_items(), SPECS)
    return _respond(request, params, [selection_from_params(params)])


@router.post("/query", openapi_extra=OPENAPI_POST_BODY)
async def query_post(request: Request, principal: Principal = Depends(current_principal)):
    from starlette.concurrency import run_in_threadpool

    require(principal, "stations")
    params, selections = await read_post_body(request, SPECS)
    return await run_in_threadpool(_respond, request, params, selections)


@router.get("/version", response_class=PlainTextResponse)
def version():
    return SERVICE_VERSIONS["station"]


@router.get("/application.wadl")
def application_wadl(request: Request):
    from pipeline.service.app import base_url

    return Response(wadl("station", base_url(request, "station"), SPECS, post=True), media_type="application/xml")
