"""The web UI of ``idc serve`` (issue 6 item 7): plain HTML/JS/CSS under ``/ui/`` plus its JSON API.

Pages (one page, hash-routed, ``static/app.js``): event map, bulletin browser (filters, paging,
downloads), event page (origin, magnitudes, arrivals with residuals, record section), station
availability, the analyst review queue, and a login page where the user pastes an API token
(``idc accounts token``). The token is kept in ``sessionStorage`` and sent as
``Authorization: Bearer <token>`` with every ``fetch()``; nothing of it reaches the server
otherwise (no cookies, never in a URL). Every asset is bundled (no CDN, no map tiles): the map
draws the Natural Earth coastlines of :mod:`pipeline.geo.coast` in an equirectangular projection.

JSON endpoints (``/ui/api/...``) go through the same access policy as the FDSN services
(:func:`pipeline.service.auth.current_principal`, :func:`~pipeline.service.auth.event_filter`,
:func:`~pipeline.service.auth.require`) and reuse the fdsnws-event query
(:class:`pipeline.service.fdsn.event.EventQuery`, same parameters and event ids):

* ``GET /ui/api/coastlines?resolution=110m|50m`` — GeoJSON MultiLineString (public, cached);
* ``GET /ui/api/events?<fdsnws-event parameters>`` — JSON page of events (``limit`` default 100,
  ``more`` tells whether another page exists);
* ``GET /ui/api/export?format=ims1&<fdsnws-event parameters>`` — the selection as an IMS1.0
  bulletin (:func:`pipeline.bulletin.export.write_catalog`); QuakeML and text come from
  fdsnws-event itself;
* ``GET /ui/api/event/{eventid}`` — origin, magnitudes and arrivals (with residuals);
* ``GET /ui/api/event/{eventid}/record-section.png`` — record section from the SDS archive
  (:func:`pipeline.plots.plot_event_record_section`; needs the ``waveforms`` product);
* ``GET /ui/api/event/{eventid}/waveforms``, ``.../arrays``, ``.../array/{station}`` — the waveform
  viewer and the array arrivals' beam / f-k panel (:mod:`~pipeline.service.ui.waveforms`,
  :mod:`~pipeline.service.ui.array_view`);
* ``GET /ui/api/stations`` — stations of the store (site table);
* ``GET /ui/api/availability?start=&end=&pattern=`` — per-channel coverage and gaps
  (:func:`pipeline.store.availability.channel_coverage`, as ``idc availability``);
* ``GET /ui/api/review?status=`` — the review queue (:func:`pipeline.review.queue.list_queue`),
  readable by whoever may read SEL3;
* ``POST /ui/api/review/{id}/accept`` / ``.../reject`` (JSON body ``{"comment": ...}`` /
  ``{"reason": ...}``) — only for the roles in :data:`REVIEW_ROLES`; the analyst recorded in
  the review audit trail is the account name of the token.
"""
from __future__ import annotations

import json
import math
import tempfile
import threading
from functools import lru_cache
from pathlib import Path

from fastapi import APIRouter, Depends, Request
from fastapi.responses import FileResponse, JSONResponse, PlainTextResponse, RedirectResponse, Response
from obspy import UTCDateTime

from pipeline.errors import BAD_VALUE
from pipeline.service.auth import Principal, current_principal, event_filter, require, require_role
from pipeline.service.fdsn.params import FDSNError

router = APIRouter(tags=["web UI"])

STATIC = Path(__file__).parent / "static"
#: roles that may accept or reject review items (issue 6 item 4: analysts and operators)
REVIEW_ROLES = ("analyst", "operator")
#: the automatic bulletins whose events are reviewed (the queue is filled from the SEL3)
REVIEW_SOURCES = ("SEL3",)
#: default and largest page of the bulletin browser / map
PAGE_DEFAULT = 100
PAGE_MAX = 2000
#: record sections kept in memory (PNG bytes by event id)
_RS_CACHE_SIZE = 32
_MEDIA = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
          ".css": "text/css; charset=utf-8", ".svg": "image/svg+xml", ".png": "image/png"}


# --------------------------------------------------------------------------- pages and assets
@router.get("/", include_in_schema=False)
def root(request: Request):
    """Browsers go to the UI; other clients get the list of services."""
    if "text/html" in request.headers.get("accept", ""):
        return RedirectResponse("/ui/", status_code=307)
    return PlainTextResponse(
        "idc-pipeline web services\n"
        "  /fdsnws/event/1/      fdsnws-event 1.2 (query, version, application.wadl, catalogs, contributors)\n"
        "  /fdsnws/station/1/    fdsnws-station 1.1 (query, version, application.wadl)\n"
        "  /fdsnws/dataselect/1/ fdsnws-dataselect 1.1 (query GET/POST, version, application.wadl)\n"
        "  /ims1/request         IMS1.0 request messages (AutoDRM)\n"
        "  /alerts/              CAP 1.2 and GeoJSON alert feeds\n"
        "  /open/                open data exports\n"
        "  /radionuclide/1/      radionuclide samples, their reports (RRR), spectra and PHD messages\n"
        "  /accounts/1/          whoami, request outputs\n"
        "  /ui/                  web UI (event map, bulletins, stations, review queue)\n")


@router.get("/ui", include_in_schema=False)
@router.get("/ui/", include_in_schema=False)
def index():
    return FileResponse(STATIC / "index.html", media_type=_MEDIA[".html"],
                        headers={"Cache-Control": "no-cache"})


@router.get("/ui/static/{name}", include_in_schema=False)
def static(name: str):
    """The bundled assets (only files of ``static/``, no sub-paths)."""
    f = STATIC / name
    if "/" in name or "\\" in name or name.startswith(".") or not f.is_file() or f.suffix not in _MEDIA:
        raise FDSNError(404, f"No such UI asset: {name!r}")
    return FileResponse(f, media_type=_MEDIA[f.suffix], headers={"Cache-Control": "no-cache"})


# --------------------------------------------------------------------------- map data
@lru_cache(maxsize=2)
def coastline_geojson(resolution: str = "110m", decimals: int = 2) -> bytes:
    """The bundled Natural Earth coastlines (:func:`pipeline.geo.coast.coastlines`) as a GeoJSON
    MultiLineString, coordinates rounded to ``decimals`` (0.01 deg ≈ 1 km, below the 1:110m
    and 1:50m generalisation) and consecutive duplicates dropped."""
    from pipeline.geo import coast

    lines = []
    for c in coast.coastlines(resolution):
        pts, last = [], None
        for lon, lat in c.tolist():
            p = [round(lon, decimals), round(lat, decimals)]
            if p != last:
                pts.append(p)
                last = p
        if len(pts) >= 2:
            lines.append(pts)
    doc = {"type": "Feature", "properties": {"source": "Natural Earth v4.1.0 land (public domain)",
                                             "resolution": resolution},
           "geometry": {"type": "MultiLineString", "coordinates": lines}}
    return json.dumps(doc, separators=(",", ":")).encode()


@router.get("/ui/api/coastlines")
def coastlines(request: Request, resolution: str = "110m"):
    from pipeline.geo.coast import RESOLUTIONS

    if resolution not in RESOLUTIONS:
        raise FDSNError(400, f"Invalid value for parameter 'resolution': {resolution!r} "
                             f"(one of {', '.join(RESOLUTIONS)})")
    body = coastline_geojson(resolution)
    headers = {"Cache-Control": "max-age=86400", "Vary": "Accept-Encoding"}
    if "gzip" in request.headers.get("accept-encoding", ""):
        body = _gzipped(resolution)
        headers["Content-Encoding"] = "gzip"
    return Response(body, media_type="application/geo+json", headers=headers)


@lru_cache(maxsize=2)
def _gzipped(resolution: str) -> bytes:
    import gzip

    return gzip.compress(coastline_geojson(resolution), compresslevel=6, mtime=0)


# --------------------------------------------------------------------------- events
def _event_query(request: Request, principal: Principal, drop: tuple[str, ...] = ()):
    """Parse the fdsnws-event parameters of ``request`` (UI-only ones in ``drop`` removed) into an
    access-filtered :class:`EventQuery`."""
    from pipeline.service.fdsn.event import SPECS, EventQuery
    from pipeline.service.fdsn.params import parse_params

    items = [(k, v) for k, v in request.query_params.multi_items() if k not in drop and v != ""]
    params = parse_params(items, SPECS)
    eq = EventQuery(params, request.app.state.idc.settings)
    eq.access = event_filter(principal)
    return eq, params


def _row_json(r: dict) -> dict:
    return {"eventid": r["eventid"], "time": str(UTCDateTime(r["time"])), "latitude": r["lat"],
            "longitude": r["lon"], "depth_km": r["depth"], "magnitude": r["mag"], "magtype": r["magtype"],
            "catalog": r["type"], "version": r["version"], "author": r["auth"] or "", "name": r["evname"] or ""}


@router.get("/ui/api/events")
def events(request: Request, principal: Principal = Depends(current_principal)):
    """A page of events: the fdsnws-event parameters (``limit`` default :data:`PAGE_DEFAULT`, at
    most :data:`PAGE_MAX`); ``more`` is true when the next page (``offset + limit``) is not empty."""
    st = request.app.state.idc
    eq, params = _event_query(request, principal, drop=("format", "nodata"))
    limit = params.get("limit") or PAGE_DEFAULT
    if limit > PAGE_MAX:
        raise FDSNError(400, f"Invalid value for parameter 'limit': {limit} (the UI pages at most {PAGE_MAX})")
    eq.p = dict(params, limit=limit + 1)
    with st.session() as s:
        rows = [r for r in eq.run(s) if principal.may_read(r["type"])]
    more = len(rows) > limit
    return JSONResponse({"offset": params["offset"], "limit": limit, "more": more,
                         "events": [_row_json(r) for r in rows[:limit]]})


@router.get("/ui/api/export")
def export(request: Request, format: str = "ims1", principal: Principal = Depends(current_principal)):
    """The selected events (with arrivals) as an IMS1.0 bulletin, for download."""
    from pipeline.bulletin.export import write_catalog
    from pipeline.service.fdsn.event import to_catalog

    if format != "ims1":
        raise FDSNError(400, f"Invalid value for parameter 'format': {format!r} (ims1; QuakeML and text "
                             "come from /fdsnws/event/1/query)")
    st = request.app.state.idc
    eq, params = _event_query(request, principal, drop=("format", "nodata"))
    with st.session() as s:
        rows = [r for r in eq.run(s) if principal.may_read(r["type"])]
        if not rows:
            return Response(status_code=204)
        cat = to_catalog(s, rows, all_origins=False, all_magnitudes=True, arrivals=True, magtype=None,
                         agency=st.settings.service.agency_id)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "bulletin.ims1"
        write_catalog(cat, out, "ims1", title=f"{st.settings.service.agency_id} bulletin: {len(cat)} events "
                                              "selected in the web UI")
        body = out.read_bytes()
    return Response(body, media_type="text/plain; charset=utf-8",
                    headers={"Content-Disposition": 'attachment; filename="bulletin.ims1.txt"'})


def _one_event(request: Request, principal: Principal, eventid: str, arrivals: bool = True):
    """(row, obspy Event) of one event id, within the access policy (404 when unknown)."""
    from pipeline.service.fdsn.event import EventQuery, to_catalog

    st = request.app.state.idc
    params = {"eventid": eventid, "offset": 1, "orderby": "time", "format": "xml", "_given": {}}
    eq = EventQuery(params, st.settings)
    eq.access = event_filter(principal)
    with st.session() as s:
        rows = [r for r in eq.run(s) if principal.may_read(r["type"])]
        if not rows:
            raise FDSNError(404, f"No event {eventid!r} (or not readable with this account)")
        cat = to_catalog(s, rows[:1], all_origins=False, all_magnitudes=True, arrivals=arrivals, magtype=None,
                         agency=st.settings.service.agency_id)
    return rows[0], cat[0]


def _num(x, nd=None):
    if x is None:
        return None
    x = float(x)
    if not math.isfinite(x):
        return None
    return round(x, nd) if nd is not None else x


def event_json(row: dict, ev) -> dict:
    """Origin, magnitudes and arrivals of an obspy Event from :func:`to_catalog` for the event page."""
    from pipeline.picks import pick_technology

    o = ev.preferred_origin() or ev.origins[0]
    q = o.quality
    unc = o.origin_uncertainty
    picks = {str(p.resource_id): p for p in ev.picks}
    arrivals = []
    for a in o.arrivals:
        p = picks.get(str(a.pick_id))
        wid = p.waveform_id if p is not None else None
        arrivals.append({
            "network": (wid.network_code or "") if wid else "", "station": (wid.station_code or "") if wid else "",
            "channel": (wid.channel_code or "") if wid else "", "phase": a.phase or "",
            # seismic / infrasound / hydroacoustic: the pick's IDC extra, else told by the phase
            "technology": pick_technology(a.phase or (p.phase_hint if p is not None else "") or "",
                                          ((p.get("extra") or {}).get("technology") or {}).get("value", "")
                                          if p is not None else ""),
            "time": str(p.time) if p is not None and p.time is not None else None,
            "distance_deg": _num(a.distance, 3), "azimuth_deg": _num(a.azimuth, 1),
            "time_residual_s": _num(a.time_residual, 3), "time_defining": bool(a.time_weight),
            "backazimuth_deg": _num(p.backazimuth, 1) if p is not None else None,
            "backazimuth_residual_deg": _num(a.backazimuth_residual, 1),
            "slowness_s_deg": _num(p.horizontal_slowness, 2) if p is not None else None,
            "slowness_residual": _num(a.horizontal_slowness_residual, 2)})
    arrivals.sort(key=lambda x: (x["distance_deg"] is None, x["distance_deg"] or 0.0, x["time"] or ""))
    return {
        "eventid": row["eventid"], "catalog": row["type"], "version": row["version"],
        "window": [str(UTCDateTime(row["window_start"])), str(UTCDateTime(row["window_end"]))],
        "name": row["evname"] or "",
        "origin": {"time": str(o.time), "latitude": o.latitude, "longitude": o.longitude,
                   "depth_km": _num(o.depth / 1000.0 if o.depth is not None else None, 2),
                   "time_error_s": _num(o.time_errors.uncertainty if o.time_errors else None, 3),
                   "depth_error_km": _num(o.depth_errors.uncertainty / 1000.0
                                          if o.depth_errors and o.depth_errors.uncertainty is not None else None, 2),
                   "depth_type": o.depth_type or "",
                   "semi_major_km": _num(unc.max_horizontal_uncertainty / 1000.0
                                         if unc and unc.max_horizontal_uncertainty is not None else None, 1),
                   "semi_minor_km": _num(unc.min_horizontal_uncertainty / 1000.0
                                         if unc and unc.min_horizontal_uncertainty is not None else None, 1),
                   "ellipse_azimuth": _num(unc.azimuth_max_horizontal_uncertainty if unc else None, 1),
                   "author": o.creation_info.author if o.creation_info else "",
                   "evaluation_mode": o.evaluation_mode or "",
                   "rms_s": _num(q.standard_error if q else None, 3),
                   "defining_phases": q.used_phase_count if q else None,
                   "stations": q.associated_station_count if q else None,
                   "azimuthal_gap_deg": _num(q.azimuthal_gap if q else None, 1),
                   "min_distance_deg": _num(q.minimum_distance if q else None, 2),
                   "max_distance_deg": _num(q.maximum_distance if q else None, 2)},
        "magnitudes": [{"type": mg.magnitude_type or "", "value": _num(mg.mag, 2),
                        "uncertainty": _num(mg.mag_errors.uncertainty if mg.mag_errors else None, 2),
                        "stations": mg.station_count} for mg in ev.magnitudes],
        "arrivals": arrivals}


def fill_distances(session, doc: dict) -> int:
    """Distance and azimuth of the arrivals that the bulletin gives without them, from the site
    table's coordinates (great circle on the sphere with geocentric latitudes, as the locator:
    :mod:`pipeline.location.geodesy`); such arrivals get ``"distance_from": "site"``. Returns how
    many were filled."""
    from pipeline.location.geodesy import distance_azimuth, geocentric_latitude
    from pipeline.store.event_waveforms import site_coordinates

    todo = [a for a in doc["arrivals"] if a["distance_deg"] is None and a["station"]]
    if not todo:
        return 0
    t = float(UTCDateTime(doc["origin"]["time"]).timestamp)
    coords = site_coordinates(session, {a["station"] for a in todo}, t)
    o = doc["origin"]
    n = 0
    for a in todo:
        c = coords.get((a["network"], a["station"])) or coords.get(("", a["station"]))
        if c is None:
            continue
        d, az, _ = distance_azimuth(geocentric_latitude(o["latitude"]), o["longitude"], geocentric_latitude(c[0]), c[1])
        a["distance_deg"], a["azimuth_deg"], a["distance_from"] = round(float(d), 3), round(float(az), 1), "site"
        n += 1
    doc["arrivals"].sort(key=lambda x: (x["distance_deg"] is None, x["distance_deg"] or 0.0, x["time"] or ""))
    return n


@router.get("/ui/api/event/{eventid}")
def event(eventid: str, request: Request, principal: Principal = Depends(current_principal)):
    """The event page: :func:`event_json`, the preferred magnitude, and (for whoever may read the
    review queue) the queue items reviewing this automatic event (``review.items``, newest first)."""
    from pipeline.review.queue import items_of_event
    from pipeline.store.catalog import event_resource_id

    row, ev = _one_event(request, principal, eventid)
    doc = event_json(row, ev)
    doc["preferred_magnitude"] = {"value": _num(row["mag"], 2), "type": row["magtype"] or ""}
    st = request.app.state.idc
    with st.session() as s:
        fill_distances(s, doc)
        source = event_resource_id(s, row["evid"]) if row["type"] in REVIEW_SOURCES else None
    if source is not None and principal.may_read("SEL3"):
        items = items_of_event(st.settings, row["product_id"], source, ev)
        doc["review"] = {"items": items, "may_decide": _may_decide(principal)}
    return JSONResponse(doc)


_rs_lock = threading.Lock()
_rs_cache: dict[tuple, bytes] = {}


_tt_lock = threading.Lock()
_tt_tables: dict[str, object] = {}


def record_section_table(app):
    """The travel-time table of the record sections: ``app.state.ui_travel_times()`` when the app
    has one (a callable returning a :class:`~pipeline.traveltime.tables.TravelTimeTable`, e.g. on
    a narrower grid), else :func:`pipeline.tasks.travel_times` of the settings (the table of
    ``[traveltime]``, built once into ``$IDC_HOME/cache`` and kept in memory per process)."""
    from pipeline import tasks

    provider = getattr(app.state, "ui_travel_times", None)
    if provider is not None:
        return provider()
    settings = app.state.idc.settings
    key = f"{settings.cache_dir}|{settings.traveltime!r}"
    with _tt_lock:
        if key not in _tt_tables:
            _tt_tables[key] = tasks.travel_times(settings)
        return _tt_tables[key]


def record_section_png(settings, ev, title: str, tt) -> bytes:
    """PNG of the record section of ``ev`` from the SDS archive (vertical components) with the
    predicted phases of the travel-time table ``tt`` (as ``idc plot record-section``)."""
    from obspy.clients.filesystem.sds import Client

    from pipeline import tasks
    from pipeline.plots import plot_event_record_section
    from pipeline.plots.common import PlotInputError

    o = ev.preferred_origin() or ev.origins[0]
    if not Path(settings.archive_dir).is_dir():
        raise FDSNError(404, f"No waveform archive at {settings.archive_dir}")
    t0 = o.time
    picked = [float(p.time - t0) for p in ev.picks if p.time is not None]
    t_last = max(picked) if picked else 600.0
    stream = Client(str(settings.archive_dir)).get_waveforms("*", "*", "*", "??Z", t0 - 60, t0 + 1.3 * t_last + 30)
    if not len(stream):
        raise FDSNError(404, f"No vertical-component waveforms in the archive around {t0} for this event")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "rs.png"
        try:
            plot_event_record_section(ev, stream, tasks.plot_stations(settings), tt, out, title=title)
        except PlotInputError as exc:
            raise FDSNError(404, f"No record section: {exc}") from None
        return out.read_bytes()


@router.get("/ui/api/event/{eventid}/record-section.png")
def record_section(eventid: str, request: Request, principal: Principal = Depends(current_principal)):
    require(principal, "waveforms")
    row, ev = _one_event(request, principal, eventid)
    st = request.app.state.idc
    key = (eventid, row["version"], str(st.archive_dir))
    with _rs_lock:
        png = _rs_cache.get(key)
    if png is None:
        png = record_section_png(st.settings, ev, f"{eventid} (version {row['version']})",
                                 record_section_table(request.app))
        with _rs_lock:
            if len(_rs_cache) >= _RS_CACHE_SIZE:
                _rs_cache.pop(next(iter(_rs_cache)))
            _rs_cache[key] = png
    return Response(png, media_type="image/png", headers={"Cache-Control": "private, max-age=300"})


# --------------------------------------------------------------------------- stations
@router.get("/ui/api/stations")
def stations(request: Request, principal: Principal = Depends(current_principal)):
    """Stations of the store's site table (newest epoch per network and station)."""
    from pipeline.store.stations import newest_sites

    require(principal, "stations")
    with request.app.state.idc.session() as s:
        out = [{"network": r.net, "station": r.sta, "latitude": r.lat, "longitude": r.lon,
                "elevation_m": _num(r.elev_km * 1000.0, 1), "name": r.staname or ""} for r in newest_sites(s)]
    return JSONResponse({"stations": out})


@router.get("/ui/api/availability")
def availability(request: Request, start: str = "", end: str = "", pattern: str = "*", maxgaps: int = 200,
                 principal: Principal = Depends(current_principal)):
    """Per-channel coverage of the archive's availability table (the ``idc availability`` report)
    with the first ``maxgaps`` gaps of each channel for the timeline."""
    from pipeline.store.availability import channel_coverage

    require(principal, "stations")
    t = {}
    for name, v in (("start", start), ("end", end)):
        if v:
            try:
                t[name] = float(UTCDateTime(v).timestamp)
            except BAD_VALUE:
                raise FDSNError(400, f"Invalid value for parameter '{name}': {v!r} (ISO 8601 time)") from None
    if "start" in t and "end" in t and t["end"] <= t["start"]:
        raise FDSNError(400, "Invalid parameters: 'end' must be after 'start'")
    if not 0 <= maxgaps <= 10000:
        raise FDSNError(400, "Invalid value for parameter 'maxgaps': 0 to 10000")
    with request.app.state.idc.session() as s:
        rows = channel_coverage(s, t.get("start"), t.get("end"), pattern or "*")
    out = []
    for r in rows:
        d = r.as_dict()
        d["first_iso"], d["last_iso"] = str(UTCDateTime(r.first)), str(UTCDateTime(r.last))
        d["gap_list"] = [[round(a, 3), round(b, 3)] for a, b in r.gaps[:maxgaps]]
        d["window"] = list(r.window) if r.window else None
        out.append(d)
    return JSONResponse({"channels": out, "start": t.get("start"), "end": t.get("end")})


# --------------------------------------------------------------------------- review queue
def _review_reader(principal: Principal) -> None:
    require(principal, "SEL3")


def _review_actor(principal: Principal) -> None:
    require_role(principal, REVIEW_ROLES,
                 "Review decisions need an API token of an analyst or operator (Authorization: Bearer ...)",
                 "Review decisions are for the roles {roles}; account {name} has role {role}")


def _may_decide(principal: Principal) -> bool:
    return bool(set(principal.roles) & set(REVIEW_ROLES))


def _link_events(request: Request, items: list[dict]) -> None:
    """Give each queue item the public id of the automatic event it was made from (``eventid``,
    the event page's address), or None when that SEL3 version has been superseded."""
    from pipeline.store.products import event_id
    from pipeline.store.catalog import event_ranks

    with request.app.state.idc.session() as s:
        keys = event_ranks(s, {i["source_product_id"] for i in items})
    for i in items:
        k = keys.get((i["source_product_id"], i["source_event"]))
        i["eventid"] = event_id(*k) if k else None


@router.get("/ui/api/review")
def review_list(request: Request, status: str = "", principal: Principal = Depends(current_principal)):
    from pipeline.review.edits import ReviewError
    from pipeline.review.queue import list_queue

    _review_reader(principal)
    sts = [x.strip() for x in status.split(",") if x.strip()] or None
    try:
        items = list_queue(request.app.state.idc.settings, status=sts)
    except ReviewError as exc:
        raise FDSNError(400, f"Invalid value for parameter 'status': {exc}") from None
    _link_events(request, items)
    return JSONResponse({"items": items, "may_decide": _may_decide(principal)})


@router.get("/ui/api/review/{item_id}")
def review_item(item_id: int, request: Request, principal: Principal = Depends(current_principal)):
    """One item: its working copy (origin, magnitudes, arrivals with ids and defining flags), the
    Event Definition Criteria, the audit trail, and the automatic event it came from."""
    from pipeline.review import queue
    from pipeline.review.edits import ReviewError

    _review_reader(principal)
    if not 1 <= item_id < 2**31:
        raise FDSNError(404, f"No review item {item_id}")
    try:
        doc = queue.show(request.app.state.idc.settings, item_id)
    except ReviewError as exc:
        raise FDSNError(404, str(exc)) from None
    _link_events(request, [doc])
    doc["may_decide"] = _may_decide(principal)
    return JSONResponse(doc)


async def _json_body(request: Request) -> dict:
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except ValueError as exc:
        raise FDSNError(400, f"Request body is not JSON: {exc}") from None
    if not isinstance(body, dict):
        raise FDSNError(400, "Request body must be a JSON object")
    return body


def _text_field(body: dict, name: str) -> str:
    v = body.get(name, "")
    if not isinstance(v, str) or len(v) > 2000:
        raise FDSNError(400, f"Field '{name}' of the request body: a string of at most 2000 characters")
    return v


#: what the event page may do with a queue item
REVIEW_ACTIONS = ("accept", "reject", "edit", "relocate")


def _edit_fields(body: dict) -> dict:
    """The arguments of :func:`pipeline.review.queue.edit` from the JSON body ``{"depth_km": km |
    "free", "rename": {arrival: phase}, "defining": {arrival: "T"|"-"|...}, "remove": [arrival]}``
    (arrival: its id as ``/ui/api/review/<id>`` lists it); a malformed field is a 400 naming it."""
    out: dict = {}
    unknown = set(body) - {"depth_km", "rename", "defining", "remove"}
    if unknown:
        raise FDSNError(400, f"Unknown field(s) of the edit: {', '.join(sorted(unknown))} "
                             "(depth_km, rename, defining, remove)")
    d = body.get("depth_km")
    if d is not None:
        ok = (isinstance(d, (int, float)) and not isinstance(d, bool) and math.isfinite(d) and -10 <= d <= 800) \
            or d == "free"
        if not ok:
            raise FDSNError(400, f"Field 'depth_km' of the edit: a depth in km (-10 to 800) or \"free\", not {d!r}")
        out["depth_km"] = d
    for name in ("rename", "defining"):
        v = body.get(name) or {}
        if not isinstance(v, dict) or not all(isinstance(k, str) and isinstance(x, str) and 0 < len(x) <= 8
                                              for k, x in v.items()):
            raise FDSNError(400, f"Field '{name}' of the edit: an object of arrival id -> short text")
        if v:
            out[name] = v
    rm = body.get("remove") or []
    if not isinstance(rm, list) or not all(isinstance(x, str) for x in rm):
        raise FDSNError(400, "Field 'remove' of the edit: a list of arrival ids")
    if rm:
        out["remove"] = rm
    return out


def _relocate(app, item_id: int, analyst: str) -> dict:
    """Relocate an item with the site table and the travel-time table the UI already holds."""
    from pipeline import tasks
    from pipeline.review import queue

    settings = app.state.idc.settings
    return queue.relocate(settings, item_id, analyst, stations=tasks.station_table(settings),
                          tt=record_section_table(app))


@router.post("/ui/api/review/{item_id}/{action}")
async def review_decide(item_id: int, action: str, request: Request,
                        principal: Principal = Depends(current_principal)):
    from starlette.concurrency import run_in_threadpool

    from pipeline.review import queue
    from pipeline.review.edits import ReviewError

    if action not in REVIEW_ACTIONS:
        raise FDSNError(404, f"No review action {action!r} ({', '.join(REVIEW_ACTIONS)})")
    if not 1 <= item_id < 2**31:
        raise FDSNError(404, f"No review item {item_id}")
    _review_actor(principal)
    body = await _json_body(request)
    settings = request.app.state.idc.settings
    try:
        if action == "accept":
            res = await run_in_threadpool(queue.accept, settings, item_id, principal.name,
                                          _text_field(body, "comment"))
        elif action == "reject":
            res = await run_in_threadpool(queue.reject, settings, item_id, principal.name,
                                          _text_field(body, "reason"))
        elif action == "edit":
            res = await run_in_threadpool(lambda: queue.edit(settings, item_id, principal.name,
                                                             **_edit_fields(body)))
        else:
            res = await run_in_threadpool(_relocate, request.app, item_id, principal.name)
    except ReviewError as exc:
        status = 404 if str(exc).startswith("no review item") else 409
        raise FDSNError(status, str(exc)) from None
    return JSONResponse(res)


# --------------------------------------------------------------------------- the other pages' endpoints
from pipeline.service.ui import array_view, dashboard, waveforms  # noqa: E402  (they use the helpers above)

router.include_router(waveforms.router)
router.include_router(array_view.router)
router.include_router(dashboard.router)
