"""fdsnws-event 1.2 at ``/fdsnws/event/1/``: query, version, application.wadl, catalogs, contributors.

What is served
--------------
* **Catalogs** are the product types in the store (SEL1, SEL2, SEL3, REB, SEB, SSEB). For each
  (type, window) only the **newest version** is served; older versions stay in the store.
* **Default catalog** (no ``catalog`` parameter): of the catalogs the *caller may read*, ``REB``
  when the REB holds any event, else the first of ``SEL3``, ``SEL2``, ``SEL1`` that holds events
  (the newest, most complete bulletin); when none of them holds events, the first the caller may
  read. So the public's default query is the public part of the REB (never a 403 for a catalog it
  did not name). With ``eventid`` the catalog named in the id. ``catalog`` takes one type or a
  comma list. Which catalogs hold events is re-evaluated at most every
  :data:`DEFAULT_CATALOG_TTL_S` (5) seconds.
* **Access**: a catalog the caller may not read answers 403; without credentials, a catalog that
  accounts may read answers **401** with the ``WWW-Authenticate`` challenges (HTTP Digest first),
  so obspy's ``Client(base_url, user=..., password=...)`` (which sends credentials only when
  challenged) gets it; ``queryauth`` is ``query`` for authenticated callers only (FDSN).
  ``catalogs`` lists the catalogs holding products that the caller may read.
* **Event ids** are ``<TYPE>-<window start>-<window end>-<n>``, e.g.
  ``REB-19950116T000000-19950117T000000-1``: product type, window (UTC, ``YYYYMMDDTHHMMSS``) and
  the event's rank by origin time within that product version. They do not use database keys,
  so an identical re-run of a window (which rewrites its rows) keeps every id. The QuakeML
  resource id of an event is ``smi:idc-pipeline/event/<id>``; ``eventid`` accepts either form.
* One contributor: ``[service] agency_id`` (default ``IDC``).
* The preferred magnitude is the first network magnitude of the preferred origin (as in
  :func:`pipeline.store.catalog.load_catalog`); with ``magnitudetype`` the magnitude filters,
  the ordering and the text output use the first magnitude of that type instead.

Filtering happens in SQL, in the store's query functions (:mod:`pipeline.store.events`: no SQL in
this package; origin time is indexed: ``ix_origin_time``; the query goes from origin to event
through ``origin.evid`` because ``event.prefor`` has no index); the radius search
selects a bounding box in SQL and keeps the exact great-circle distance (sphere, degrees) in
Python, so ``limit``/``offset`` are then applied in Python. More than
``[service] event_max_results`` events without ``limit`` → HTTP 413. Parameters and aliases: FDSN spec 1.2 and REFERENCE.md §8.1.

Fast paths (same bytes as the obspy path, ``tests/test_service_fast_paths.py`` and
``tests/test_service_event_index.py``): the common queries are answered from an in-memory
index of the served events (:mod:`.index`: numpy selection, pre-rendered text lines and QuakeML
``<event>`` elements, brought up to date when a product is written; built when the app starts)
on the event loop, without SQL. Queries with ``includearrivals``/``includeallorigins``/
``includeallmagnitudes``/``magnitudetype``/``updatedafter`` take the SQL path in a thread:
the newest product versions, product rows and event ranks are cached per product generation
(:mod:`.cache`); QuakeML without the ``include*`` options is written directly from SQL rows
(:mod:`.quakeml_fast`), the other requests build obspy objects (:func:`to_catalog`, with the
event loader of :func:`pipeline.store.catalog.load_catalog`: :class:`~pipeline.store.catalog.EventRows`,
:func:`~pipeline.store.catalog.event_from_rows`). Answers
of both paths are cached per (parameters, access class, product generation).
"""
from __future__ import annotations

import math
import re
import threading
import time
from collections import defaultdict
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import PlainTextResponse, Response
from starlette.concurrency import run_in_threadpool
from obspy import UTCDateTime

from pipeline.errors import BAD_VALUE
from pipeline.io.quakeml import quakeml_bytes as obspy_quakeml
from pipeline.service.auth import Principal, current_principal, event_filter
from pipeline.service.fdsn.cache import (
    MAX_ONE_RESPONSE,
    access_class,
    caches_of,
    newest_ids_for,
    product_rows,
)
from pipeline.service.fdsn.index import handles, index_of
from pipeline.service.fdsn.params import (
    SERVICE_VERSIONS,
    FDSNError,
    Param,
    iso,
    openapi_parameters,
    parse_params,
    simple_list_xml,
    wadl,
)
from pipeline.store import events as store_events
from pipeline.store.catalog import ETYPE_QUAKEML, REVIEWED_TYPES
from pipeline.store.events import MAX_NEWEST_IN, EventCriteria
from pipeline.store.products import PRODUCT_TYPES, event_id

router = APIRouter(tags=["fdsnws-event"])

AUTOMATIC = ("SEL3", "SEL2", "SEL1")
REVIEWED = REVIEWED_TYPES
RID_PREFIX = "smi:idc-pipeline/event/"
# ETYPE_QUAKEML (IMS1.0 event type code → QuakeML type, certainty): pipeline.store.catalog

SPECS: list[Param] = [
    Param("starttime", "time", ("start",), doc="Events on or after this origin time (UTC)."),
    Param("endtime", "time", ("end",), doc="Events on or before this origin time (UTC)."),
    Param("minlatitude", "float", ("minlat",), minimum=-90, maximum=90, doc="Southern bound, degrees."),
    Param("maxlatitude", "float", ("maxlat",), minimum=-90, maximum=90, doc="Northern bound, degrees."),
    Param("minlongitude", "float", ("minlon",), minimum=-180, maximum=180,
          doc="Western bound, degrees (min > max crosses the antimeridian)."),
    Param("maxlongitude", "float", ("maxlon",), minimum=-180, maximum=180, doc="Eastern bound, degrees."),
    Param("latitude", "float", ("lat",), minimum=-90, maximum=90, doc="Centre of a radius search, degrees."),
    Param("longitude", "float", ("lon",), minimum=-180, maximum=180, doc="Centre of a radius search, degrees."),
    Param("minradius", "float", minimum=0, maximum=180, doc="Minimum distance from the centre, degrees."),
    Param("maxradius", "float", minimum=0, maximum=180, doc="Maximum distance from the centre, degrees."),
    Param("mindepth", "float", minimum=-10, maximum=7000, doc="Minimum depth, km."),
    Param("maxdepth", "float", minimum=-10, maximum=7000, doc="Maximum depth, km."),
    Param("minmagnitude", "float", ("minmag",), minimum=-12, maximum=12, doc="Minimum magnitude."),
    Param("maxmagnitude", "float", ("maxmag",), minimum=-12, maximum=12, doc="Maximum magnitude."),
    Param("magnitudetype", "str", ("magtype",), doc="Magnitude type the magnitude limits apply to (mb, Ms, ML)."),
    Param("eventtype", "str", doc="Comma list of QuakeML event types ('not reported' for events without one)."),
    Param("includeallorigins", "bool", default=False, doc="All origins of each event, not only the preferred."),
    Param("includeallmagnitudes", "bool", default=False, doc="All magnitudes, not only the preferred."),
    Param("includearrivals", "bool", default=False, doc="Picks, arrivals, amplitudes and station magnitudes."),
    Param("eventid", "str", doc="Event id(s) as given by this service (comma list)."),
    Param("limit", "int", minimum=1, maximum=2**31 - 1, doc="Return at most this many events."),
    Param("offset", "int", minimum=1, maximum=2**31 - 1, default=1, doc="Index (1-based) of the first event returned."),
    Param("orderby", "choice", choices=("time", "time-asc", "magnitude", "magnitude-asc"), default="time",
          doc="Order of the events."),
    Param("catalog", "str", doc="Product type(s): SEL1, SEL2, SEL3, REB, SEB, SSEB (comma list)."),
    Param("contributor", "str", doc="Contributing agency."),
    Param("updatedafter", "time", doc="Events of products (re)written after this time."),
    Param("format", "choice", choices=("xml", "text"), default="xml", doc="QuakeML (xml) or FDSN text."),
    Param("nodata", "choice", choices=("204", "404"), default="204", doc="Status code when nothing matches."),
]

TEXT_HEADER = ("#EventID|Time|Latitude|Longitude|Depth/km|Author|Catalog|Contributor|ContributorID|MagType|"
               "Magnitude|MagAuthor|EventLocationName|EventType")


# --------------------------------------------------------------------------- event ids
_ID_RE = re.compile(r"^(?P<type>[A-Z0-9]+)-(?P<ws>\d{8}T\d{6}(?:\.\d{1,6})?)-(?P<we>\d{8}T\d{6}(?:\.\d{1,6})?)"
                    r"-(?P<n>\d{1,9})$")


def parse_event_id(text: str) -> tuple[str, float, float, int]:
    raw = text.strip()
    if raw.startswith("smi:") or raw.startswith("quakeml:"):
        raw = raw.rsplit("/", 1)[-1]
    mt = _ID_RE.match(raw)
    if not mt or mt["type"] not in PRODUCT_TYPES:
        raise FDSNError(400, f"Invalid value for parameter 'eventid': {text!r} is not an event id of this service "
                             "(TYPE-YYYYMMDDTHHMMSS-YYYYMMDDTHHMMSS-N, TYPE one of " + ", ".join(PRODUCT_TYPES) + ")")
    try:
        ws, we = UTCDateTime(mt["ws"]).timestamp, UTCDateTime(mt["we"]).timestamp
    except BAD_VALUE:
        raise FDSNError(400, f"Invalid value for parameter 'eventid': {text!r} holds an invalid window time") from None
    return mt["type"], float(ws), float(we), int(mt["n"])


# --------------------------------------------------------------------------- default catalog
# MAX_NEWEST_IN: the newest product versions are selected by id up to this many products
# (pipeline.store.events)

#: seconds the default catalog is remembered (it changes only when a first REB/SEL product appears)
DEFAULT_CATALOG_TTL_S = 5.0
_default_cache: dict[str, tuple[float, frozenset]] = {}
_default_lock = threading.Lock()

#: the default catalog candidates, in order of preference
DEFAULT_ORDER = ("REB",) + AUTOMATIC


def choose_default(holding, may_read=None) -> str:
    """The default catalog: the first of :data:`DEFAULT_ORDER` that the caller may read
    (``may_read(type) -> bool``, None = all) and that is in ``holding`` (types holding events);
    else the first the caller may read; else ``REB`` (which is then refused)."""
    readable = [t for t in DEFAULT_ORDER if may_read is None or may_read(t)]
    return next((t for t in readable if t in holding), readable[0] if readable else "REB")


def default_catalog(session, may_read=None) -> str:
    """:func:`choose_default` over the catalogs holding events in their newest versions
    (remembered for :data:`DEFAULT_CATALOG_TTL_S` seconds per store)."""
    key = str(session.get_bind().url)
    now = time.monotonic()
    with _default_lock:
        hit = _default_cache.get(key)
    if hit is None or now - hit[0] >= DEFAULT_CATALOG_TTL_S:
        hit = (now, frozenset(store_events.types_holding_events(session, DEFAULT_ORDER)))
        with _default_lock:
            _default_cache[key] = hit
    return choose_default(hit[1], may_read)


def _resolve_ids(session, ids: list[tuple[str, float, float, int]]) -> list[int]:
    """Event ids → orids of the preferred origins (ids that match nothing are skipped)."""
    return store_events.resolve_event_ids(session, ids)


def _ranks(session, rows, cache=None, generation=None) -> dict[int, int]:
    """orid → 1-based rank by origin time within its product (for the event ids) of ``rows``.

    With ``cache`` (an :class:`~pipeline.service.fdsn.cache.LRU`) the ranks of every event of a
    product are computed once per product and store ``generation``."""
    return store_events.preferred_origin_ranks(session, rows, cache, generation)


def _distance_deg(lat1, lon1, lat2, lon2) -> float:
    """Great-circle distance on a sphere, degrees (FDSN radius parameters are in degrees)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dl = math.radians(lon2 - lon1)
    c = math.sin(p1) * math.sin(p2) + math.cos(p1) * math.cos(p2) * math.cos(dl)
    return math.degrees(math.acos(max(-1.0, min(1.0, c))))


def radius_page(items, distance_deg, rmin: float, rmax: float, offset: int, want: int) -> list:
    """The first ``want`` of ``items`` with ``rmin <= distance_deg(item) <= rmax``, after
    skipping ``offset`` of those (FDSN radius selection with offset/limit, in query order)."""
    out, skipped = [], 0
    for it in items:
        d = distance_deg(it)
        if d < rmin or d > rmax:
            continue
        if skipped < offset:
            skipped += 1
            continue
        out.append(it)
        if len(out) >= want:
            break
    return out


def radius_box(lat: float, lon: float, maxr: float):
    """(minlat, maxlat, lon ranges) bounding a spherical cap of radius ``maxr`` degrees."""
    lo, hi = lat - maxr, lat + maxr
    if lo <= -90 or hi >= 90 or maxr >= 90:
        return max(lo, -90.0), min(hi, 90.0), None
    dlon = math.degrees(math.asin(min(1.0, math.sin(math.radians(maxr)) / math.cos(math.radians(lat)))))
    return lo, hi, (lon - dlon - 1e-9, lon + dlon + 1e-9)


# --------------------------------------------------------------------------- the query
class EventQuery:
    """A parsed and validated fdsnws-event query, run against one session."""

    #: access restriction ``(query, types, Origin, Product) -> query`` (see pipeline.service.auth.event_filter)
    access = None

    def __init__(self, params: dict[str, Any], settings):
        self.p = params
        self.settings = settings
        p = params
        for a, b in (("minlatitude", "maxlatitude"), ("mindepth", "maxdepth"), ("minmagnitude", "maxmagnitude"),
                     ("minradius", "maxradius"), ("starttime", "endtime")):
            if p.get(a) is not None and p.get(b) is not None and p[a] > p[b]:
                raise FDSNError(400, f"Invalid parameters: '{p['_given'].get(a, a)}' ({p[a]}) is greater than "
                                     f"'{p['_given'].get(b, b)}' ({p[b]})")
        self.radius = p.get("minradius") is not None or p.get("maxradius") is not None
        if self.radius and (p.get("latitude") is None or p.get("longitude") is None):
            raise FDSNError(400, "Parameters 'minradius'/'maxradius' need both 'latitude' and 'longitude'")
        self.ids = [parse_event_id(x) for x in p["eventid"].split(",") if x.strip()] if p.get("eventid") else []
        if p.get("eventid") is not None and not self.ids:
            raise FDSNError(400, "Invalid value for parameter 'eventid': empty")
        self.catalogs: list[str] | None = None
        if p.get("catalog"):
            cats = [c.strip().upper() for c in p["catalog"].split(",") if c.strip()]
            bad = [c for c in cats if c not in PRODUCT_TYPES]
            if bad or not cats:
                raise FDSNError(400, f"Invalid value for parameter 'catalog': {p['catalog']!r} (catalogs: "
                                     f"{', '.join(PRODUCT_TYPES)})")
            self.catalogs = cats
        self.eventtypes = None
        if p.get("eventtype") and p["eventtype"].strip() != "*":
            self.eventtypes = {x.strip().lower() for x in p["eventtype"].split(",") if x.strip()}

    #: caches and store generation (set by the route; None = no cache)
    caches = None
    rank_cache = None
    generation = None

    def criteria(self, session, types: list[str], orids: list[int] | None) -> EventCriteria:
        """The store's selection (:func:`pipeline.store.events.select_events`) of this query."""
        p = self.p
        c = EventCriteria(types=types, orids=orids, access=self.access, magnitude_type=p.get("magnitudetype"),
                          order=p["orderby"])
        # newest versions: by id from the cache (no product join needed), else "no newer version" in SQL
        if self.caches is not None:
            newest, newest_literal = newest_ids_for(session, self.caches, self.generation, types)
            if len(newest) <= MAX_NEWEST_IN:
                c.newest_ids, c.newest_literal = newest, newest_literal
        if p.get("starttime") is not None:
            c.start = p["starttime"].timestamp
        if p.get("endtime") is not None:
            c.end = p["endtime"].timestamp
        for k in ("minlatitude", "maxlatitude", "minlongitude", "maxlongitude", "mindepth", "maxdepth",
                  "minmagnitude", "maxmagnitude"):
            setattr(c, k, p.get(k))
        if p.get("updatedafter") is not None:
            c.updated_after = p["updatedafter"].datetime
        if p.get("contributor") is not None:
            wanted = {x.strip().lower() for x in p["contributor"].split(",")}
            c.anything = self.settings.service.agency_id.lower() in wanted
        if self.eventtypes is not None:
            c.etype_codes = [code for code, (t, _) in ETYPE_QUAKEML.items() if t in self.eventtypes]
            c.etype_unreported = "not reported" in self.eventtypes
        if self.radius:
            c.box = radius_box(p["latitude"], p["longitude"], p.get("maxradius", 180.0))
        return c

    def run(self, session) -> list[dict]:
        p = self.p
        if self.ids:
            orids = _resolve_ids(session, self.ids)
            types = self.catalogs or sorted({i[0] for i in self.ids})
        else:
            orids = None
            types = self.catalogs or [default_catalog(session, getattr(self.access, "may_read", None))]
        c = self.criteria(session, types, orids)
        products = None if c.newest_ids is None else product_rows(session, self.caches, self.generation)
        cap = self.settings.service.event_max_results
        limit = p.get("limit")
        want = min(limit, cap) if limit is not None else cap + 1
        offset = p["offset"] - 1
        if not self.radius:
            c.offset, c.limit = offset, want
            rows = store_events.select_events(session, c)
        else:
            lat0, lon0 = p["latitude"], p["longitude"]
            rows = radius_page(store_events.select_events(session, c),
                               lambda r: _distance_deg(lat0, lon0, r.lat, r.lon),
                               p.get("minradius", 0.0), p.get("maxradius", 180.0), offset, want)
        if limit is None and len(rows) > cap:
            raise FDSNError(413, f"More than {cap} events match the request; use 'limit' and 'offset' or a "
                                 "narrower selection")
        ranks = _ranks(session, rows, self.rank_cache, self.generation)
        out = []
        for r in rows:
            d = r._asdict()
            if products is not None:
                d.update(products[d["product_id"]])
            d["eventid"] = event_id(d["type"], d["window_start"], d["window_end"], ranks.get(r.orid, 0))
            out.append(d)
        return out


# --------------------------------------------------------------------------- output
def text_line(r: dict, agency: str) -> str:
    """One event of the FDSN text format (no line end)."""
    etype = ETYPE_QUAKEML.get(r["etype"] or "", (None, None))[0] or ""
    name = (r["evname"] or "").replace("|", " ")
    mag = "" if r["mag"] is None else f"{r['mag']:.2f}"
    return "|".join([
        r["eventid"], iso(r["time"]), f"{r['lat']:.4f}", f"{r['lon']:.4f}", f"{r['depth']:.1f}",
        (r["auth"] or agency).replace("|", " "), r["type"], agency, r["eventid"], r["magtype"] or "", mag,
        agency if r["mag"] is not None else "", name, etype])


def to_text(rows: list[dict], agency: str) -> str:
    return "\n".join([TEXT_HEADER] + [text_line(r, agency) for r in rows]) + "\n"


def to_catalog(session, rows: list[dict], *, all_origins: bool, all_magnitudes: bool, arrivals: bool,
               magtype: str | None, agency: str):
    """obspy Catalog of the selected events, with the same mapping as
    :func:`pipeline.store.catalog.load_catalog` (units: depth m, amplitudes m) and stable ids."""
    from obspy.core.event import Catalog, CreationInfo, ResourceIdentifier

    from pipeline.store.catalog import AUTH, EventRows, event_from_rows

    cat = Catalog(resource_id=ResourceIdentifier("smi:idc-pipeline/fdsnws/event/1/query"))
    cat.creation_info = CreationInfo(agency_id=agency, author=AUTH, creation_time=UTCDateTime())
    if not rows:
        return cat
    evids = [r["evid"] for r in rows]
    pref = {r["orid"] for r in rows}
    # arrivals are needed for the quality figures of the origins, as in load_catalog
    found = (EventRows.of_origins(session, evids=evids, details=arrivals) if all_origins
             else EventRows.of_origins(session, orids=pref, details=arrivals))
    origins = list(found.origins.values())
    by_ev = defaultdict(list)
    for o in origins:
        by_ev[o.evid].append(o)
    for r in rows:
        prefix = RID_PREFIX + r["eventid"]
        ev_origins = sorted(by_ev.get(r["evid"], []), key=lambda o: (o.orid != r["orid"], o.orid)) or []
        if not ev_origins:
            ev_origins = [o for o in origins if o.orid == r["orid"]]
        cat.append(event_from_rows(
            found, ev_origins, r["orid"], rid=prefix, prefix=prefix,
            mode="manual" if r["type"] in REVIEWED else "automatic", agency=agency, evname=r["evname"],
            etype=r["etype"], numbered=True, arrivals=arrivals,
            magnitudes="all" if all_magnitudes else "preferred", magtype=magtype, row_authors=True,
            creation_info=True))
    return cat


# --------------------------------------------------------------------------- routes
def _nodata(params) -> Response:
    if params.get("nodata") == "404":
        raise FDSNError(404, "No events match the selection")
    return Response(status_code=204)


async def _principal(request: Request):
    # the caller first (401/429 come before parameter errors); without credentials the
    # principal needs no store access
    if "authorization" in request.headers:
        return await run_in_threadpool(current_principal, request)
    return current_principal(request)


@router.get("/query", openapi_extra=openapi_parameters(SPECS))
async def query(request: Request):
    """fdsnws-event ``query``. Async: a request the in-memory index answers (the common ones)
    is computed on the event loop without a thread hop (no store access besides the generation
    read, :meth:`~pipeline.service.fdsn.index.EventIndex.generation`); a token check, an index
    (re)build, a large rendering and the SQL path run in the thread pool."""
    return await _answer(request, await _principal(request))


@router.get("/queryauth", openapi_extra=openapi_parameters(SPECS))
async def queryauth(request: Request):
    """As ``query``, for authenticated callers only (401 without credentials): HTTP Digest with
    user = account name and password = API token (FDSN), or Bearer / Basic with the token."""
    from pipeline.service.auth import AccessDenied

    principal = await _principal(request)
    if not principal.authenticated:
        raise AccessDenied(401, "queryauth needs credentials: an API token as 'Authorization: Bearer <token>' or "
                                "as the password of HTTP Digest or Basic (user = the account name)")
    return await _answer(request, principal)


async def _answer(request: Request, principal):
    st = request.app.state.idc
    items = request.query_params.multi_items()
    params = parse_params(items, SPECS)
    eq = EventQuery(params, st.settings)
    eq.access = event_filter(principal)
    caches = caches_of(st)
    index = index_of(st)
    # the store's product generation, read at most [service] event_generation_check_s ago
    # (a read over the network runs in a thread)
    read = index.recent_read()
    if read is None:
        read = await run_in_threadpool(index.read) if index.remote else index.read()
    read_t, gen = read
    key = (tuple(sorted(items)), access_class(principal))
    hit = caches.responses.get(key, gen)
    if hit is not None:  # the same answer as computed below (see pipeline.service.fdsn.cache)
        body, media_type, products = hit
        for prod in products:  # what the answer read, for the download audit
            if prod not in principal.products:
                principal.products.append(prod)
        return Response(body, media_type=media_type)
    answer = None
    if handles(params):  # the in-memory index (pipeline.service.fdsn.index): same bytes, no SQL
        snap = index.current(gen, read_t)
        if snap is None:
            snap = await run_in_threadpool(index.snapshot, gen, st.session, read_t)
        picks = index.select(snap, eq, principal)
        readable = {t: principal.may_read(t) for t in {b.type for b, _ in picks}}
        picks = [(b, i) for b, i in picks if readable[b.type]]
        if not picks:
            return _nodata(params)
        text = params["format"] == "text"
        render = index.text if text else index.quakeml
        if len(picks) > INLINE_PICKS_MAX or index.unrendered(picks, text) > INLINE_RENDER_MAX:
            body = await run_in_threadpool(render, picks)
        else:
            body = render(picks)
        # None: a text needs obspy's QuakeML writer (the SQL path below)
        answer = None if body is None else (body, "text/plain; charset=utf-8" if text else "application/xml")
    if answer is None:
        answer = await run_in_threadpool(_sql_answer, st, eq, params, principal, caches, gen)
        if answer is None:
            return _nodata(params)
    body, media_type = answer
    if len(body) <= MAX_ONE_RESPONSE:
        caches.responses.put(key, gen, (body, media_type, tuple(principal.products)), len(body))
    return Response(body, media_type=media_type)


#: events rendered on the event loop at most (more: in the thread pool)
INLINE_RENDER_MAX = 100
#: events of an answer assembled on the event loop at most (more: in the thread pool)
INLINE_PICKS_MAX = 2000


def _sql_answer(st, eq: EventQuery, params, principal, caches, gen) -> tuple[bytes, str] | None:
    """(body, media type) of a query through SQL (None: no event matches)."""
    with st.session() as session:
        return _sql_rows_answer(session, eq, params, principal, caches, gen, st.settings.service.agency_id)


def _sql_rows_answer(session, eq: EventQuery, params, principal, caches, gen, agency) -> tuple[bytes, str] | None:
    eq.caches, eq.rank_cache, eq.generation = caches, caches.ranks, gen
    rows = eq.run(session)
    rows = [r for r in rows if principal.may_read(r["type"])]
    if not rows:
        return None
    if params["format"] == "text":
        return to_text(rows, agency).encode("utf-8"), "text/plain; charset=utf-8"
    body = None
    if not (params["includeallorigins"] or params["includeallmagnitudes"] or params["includearrivals"]):
        from pipeline.service.fdsn.quakeml_fast import quakeml_bytes

        body = quakeml_bytes(session, rows, magtype=params.get("magnitudetype"), agency=agency)
    if body is None:
        cat = to_catalog(session, rows, all_origins=params["includeallorigins"],
                         all_magnitudes=params["includeallmagnitudes"], arrivals=params["includearrivals"],
                         magtype=params.get("magnitudetype"), agency=agency)
        body = obspy_quakeml(cat, idc_extra=False)
    return body, "application/xml"


def install_index(app) -> None:
    """Build the in-memory event index (:mod:`pipeline.service.fdsn.index`) when the app starts,
    before it serves (a server process answers its first queries without waiting for it); a
    store that cannot be read then is logged and the index is built by the first query."""
    from contextlib import asynccontextmanager

    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(a):
        st = a.state.idc
        index = index_of(st)
        try:
            await run_in_threadpool(lambda: index.snapshot(index.generation(), st.session))
        except Exception as exc:  # the service still starts; queries build the index or fail clearly
            import logging

            logging.getLogger("pipeline.service").warning("fdsnws-event index not built at startup: %s", exc)
        try:
            async with inner(a) as state:
                yield state
        finally:
            index.close()

    app.router.lifespan_context = lifespan
    # GET .../query without FastAPI's per-request work (dependency solving, parameter
    # validation: the handler takes only the request and checks its parameters itself); the
    # route of the router above stays for the OpenAPI schema (and answers the same)
    from starlette.routing import Route

    path = next(r.path for r in app.router.routes if getattr(r, "endpoint", None) is query)
    fast = Route(path, query, methods=["GET"], include_in_schema=False)
    fast.methods = {"GET"}  # as the router's route (Starlette would add HEAD)
    app.router.routes.insert(0, fast)


@router.get("/version", response_class=PlainTextResponse)
def version():
    return SERVICE_VERSIONS["event"]


@router.get("/application.wadl")
def application_wadl(request: Request):
    from pipeline.service.app import base_url

    return Response(wadl("event", base_url(request, "event"), SPECS, extra_resources=("catalogs", "contributors"),
                         queryauth=True),
                    media_type="application/xml")


@router.get("/catalogs")
def catalogs(request: Request, principal: Principal = Depends(current_principal)):
    """The catalogs holding products that the caller may read (all or the public part of)."""
    st = request.app.state.idc
    with st.session() as session:
        present = store_events.product_types(session)
    return Response(simple_list_xml("Catalog", [t for t in PRODUCT_TYPES if t in present and principal.may_read(t)]),
                    media_type="application/xml")


@router.get("/contributors")
def contributors(request: Request):
    return Response(simple_list_xml("Contributor", [request.app.state.idc.settings.service.agency_id]),
                    media_type="application/xml")
