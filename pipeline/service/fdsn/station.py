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

from pipeline.service.auth import Principal, current_principal, require
from pipeline.service.fdsn.event import _distance_deg, radius_box
from pipeline.service.fdsn.params import (
    SERVICE_VERSIONS,
    FDSNError,
    Param,
    Selection,
    iso,
    OPENAPI_POST_BODY,
    openapi_parameters,
    parse_params,
    read_post_body,
    split_codes,
    wadl,
)
from pipeline.store.availability import has_segment
from pipeline.store.selection import merge_selections
from pipeline.store.stations import (EpochBounds, archived_extents, query_channels, query_sites,
                                     stations_per_network)

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


def _epoch_bounds(p) -> EpochBounds:
    """The ``startbefore`` … ``updatedafter`` conditions of the parameters."""
    def ts(k):
        return None if p.get(k) is None else p[k].timestamp
    return EpochBounds(ts("startbefore"), ts("startafter"), ts("endbefore"), ts("endafter"),
                       None if p.get("updatedafter") is None else p["updatedafter"].datetime)


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

    def sites(self, session) -> list:
        """Station epochs (site rows) of the query, by network, station and start."""
        p = self.p
        box = radius_box(p["latitude"], p["longitude"], p.get("maxradius", 180.0)) if self.radius else None
        rows = query_sites(session, self.selections,
                           epochs=_epoch_bounds(p) if p["level"] in ("network", "station") else EpochBounds(),
                           minlatitude=p.get("minlatitude"), maxlatitude=p.get("maxlatitude"),
                           minlongitude=p.get("minlongitude"), maxlongitude=p.get("maxlongitude"), box=box)
        rows.sort(key=lambda s: (s.net, s.sta, s.ondate))
        if self.radius:
            rmin, rmax = p.get("minradius", 0.0), p.get("maxradius", 180.0)
            rows = [s for s in rows if rmin <= _distance_deg(p["latitude"], p["longitude"], s.lat, s.lon) <= rmax]
        return rows

    def channels(self, session, sites: list) -> list:
        """Channel epochs (sitechan rows) of the query at the stations of ``sites``, by network,
        station, location, channel and start."""
        p = self.p
        keys = sorted({(s.net, s.sta) for s in sites})
        if not keys:
            return []
        out = query_channels(session, self.selections, keys,
                             epochs=_epoch_bounds(p) if p["level"] in ("channel", "response") else EpochBounds())
        out.sort(key=lambda c: (c.net, c.sta, c.loc, c.chan, c.ondate))
        if p["matchtimeseries"]:
            out = [c for c in out if self._has_data(session, c)]
        return out

    def _has_data(self, session, c) -> bool:
        windows = [(s.starttime and s.starttime.timestamp, s.endtime and s.endtime.timestamp)
                   for s in self.selections if s.starttime or s.endtime]
        return has_segment(session, c.net, c.sta, c.loc, c.chan, c.ondate, c.offdate, windows)


def _availability(session, chans: list) -> dict[tuple, tuple[float, float]]:
    return archived_extents(session, {(c.net, c.sta) for c in chans})


def _find_response(inv, c):
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
    totals = stations_per_network(session)
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


def _epoch_channels(site, chans: list) -> list:
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
    return await answer_post(request, principal, "stations", SPECS, _respond)


async def answer_post(request: Request, principal: Principal, role: str, specs, respond):
    """``POST /query`` of fdsnws-station and fdsnws-dataselect: the caller's right to ``role``
    first, then the body (parameter and selection lines), answered by
    ``respond(request, params, selections)`` in the thread pool."""
    from starlette.concurrency import run_in_threadpool

    require(principal, role)
    params, selections = await read_post_body(request, specs)
    return await run_in_threadpool(respond, request, params, selections)


@router.get("/version", response_class=PlainTextResponse)
def version():
    return SERVICE_VERSIONS["station"]


@router.get("/application.wadl")
def application_wadl(request: Request):
    from pipeline.service.app import base_url

    return Response(wadl("station", base_url(request, "station"), SPECS, post=True), media_type="application/xml")
