"""In-memory index of the served events of fdsnws-event (numpy arrays + pre-rendered output).

Why
---
A fdsnws-event query through SQL costs several milliseconds of server CPU (building and
compiling the statement, the round trips, the rows, the event ranks, the QuakeML); issue 6 asks
for ≥ 500 requests/s on a 2-core machine with 100 000 events in PostgreSQL. The served events
are few (the newest version of each product window: ~100 per REB day, 36 500 per REB year) and
change only when a product is written, so each server process keeps them in memory.

What is kept
------------
For the newest version of every (product type, window) — exactly the rows the SQL path
(:meth:`pipeline.service.fdsn.event.EventQuery.run`) selects — one :class:`Block` per product:
origin time, latitude, longitude, depth, preferred magnitude (the first network magnitude of the
preferred origin by ``magid``), the magnitude of the public rule (``[access.public_events]
magnitude_type``), event type, the event ids (rank by origin time within the product) and what
the QuakeML ``<event>`` element needs (origin, origerr, magnitudes, the association counts and
distances of the origin quality). All blocks are concatenated into one time-sorted
:class:`Snapshot`; a query is then a ``searchsorted`` on time and boolean masks (catalog, box,
depth, magnitude, event type, the public rule), the radius filter (the same bounding box and
great-circle distance, computed with :mod:`math` as the SQL path does), the same ordering
(``lexsort`` with the same tie-breaks: time, then orid) and offset/limit. Each event's text line
and ``<event>`` element are rendered once (lazily) and kept (up to :data:`MAX_RENDERED_BYTES` per
process), so an answer is a header + the events' pieces + a footer: the same bytes as the SQL
paths (``tests/test_service_event_index.py``).

Freshness
---------
A request uses the store's product generation (:func:`pipeline.service.fdsn.cache.generation`:
one aggregate over ``product``, read on a connection of its own, no ORM:
:class:`pipeline.store.events.GenerationReader`) read at most
``[service] event_generation_check_s`` seconds (default 0.05) before it started; when it changed
the index is brought up to date before the request is answered — only products that are new or
re-written are read again (a block is reused while its product id, ``runs`` and ``created`` are
unchanged). So an answer lags a product write by at most that bound (0: read for every request;
at 500 requests/s the default saves ~25 reads of 26).

Not handled (the SQL path answers): ``includeallorigins``, ``includeallmagnitudes``,
``includearrivals``, ``magnitudetype``, ``updatedafter`` (:func:`handles`).

Assumption (as in the rest of the service): the rows of a product are only written with it and
deleted with it, so ``(max(id), count, sum(runs), max(created))`` of ``product`` changes whenever
a served row does.

Cost: the index is built when the app starts (:func:`pipeline.service.fdsn.event.install_index`;
100 000 events from PostgreSQL: ~2.5 s) and takes ~100 MB per 100 000 events per server process,
plus the rendered pieces (at most :data:`MAX_RENDERED_BYTES`). Measured with
``bench/fdsn_event_throughput.py --events 100000 --backend postgresql`` on 2 cores shared with
PostgreSQL and the load generator: ~1 ms of server CPU per request (was ~9 ms through SQL).
"""
from __future__ import annotations

import gc
import math
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from pipeline.store.events import GenerationReader, product_versions, served_event_rows

#: parameters the index does not answer (the SQL path does)
UNHANDLED = ("includeallorigins", "includeallmagnitudes", "includearrivals", "magnitudetype", "updatedafter")
#: rendered text lines and QuakeML elements kept per process (bytes); beyond, they are rendered per request
MAX_RENDERED_BYTES = 128 * 1024 * 1024
#: products read per query when (re)building
LOAD_BATCH = 500
# seconds the generation read may take at most on PostgreSQL: pipeline.store.events.GENERATION_TIMEOUT_S
#: an index of at least this many events is moved out of the garbage collector's reach (gc.freeze)
GC_FREEZE_MIN_EVENTS = 10000


def handles(params: dict) -> bool:
    """Whether the index answers a parsed query (else the SQL path)."""
    return not any(params.get(k) for k in UNHANDLED)


# --------------------------------------------------------------------------- rows kept per event
@dataclass(slots=True)
class _Origin:
    orid: int
    time: float
    lat: float
    lon: float
    depth: float
    dtype: str
    algorithm: str
    nass: int
    ndef: int
    auth: str


@dataclass(slots=True)
class _Err:
    stime: Any
    sdepth: Any
    smajax: Any
    sminax: Any
    strike: Any
    conf: Any
    sdobs: Any


@dataclass(slots=True)
class _Mag:
    magid: int
    magtype: str
    magnitude: float
    nsta: Any
    uncertainty: Any
    auth: str


@dataclass
class Block:
    """The events of one product version (in rank order: origin time, orid)."""

    pid: int
    type: str
    window_start: float
    window_end: float
    version: int
    stamp: tuple                 # (runs, created): a re-written product is read again
    n_events: int                # events of the product (with or without a preferred origin)
    id_prefix: str               # public event id of rank k: id_prefix + str(k)
    searchable: np.ndarray       # bool: the event's preferred origin belongs to it (the SQL join)
    orid: np.ndarray
    time: np.ndarray
    lat: np.ndarray
    lon: np.ndarray
    depth: np.ndarray
    mag: np.ndarray              # preferred magnitude (NaN: none)
    pubmag: np.ndarray           # magnitude of the public rule (NaN: none)
    evname: list
    etype: list
    origin: list                 # _Origin
    err: list                    # _Err | None
    mags: list                   # list[_Mag] by magid
    quality: list                # quakeml_fast.quality_summary
    text: list = field(default_factory=list)
    xml: list = field(default_factory=list)


class Snapshot:
    """The served events of one product generation, sorted by (origin time, orid)."""

    def __init__(self, gen, blocks: dict[int, Block], products: list[tuple], public_magtype: str):
        self.gen = gen
        #: monotonic time of the generation read it was built after (set by EventIndex.snapshot)
        self.read_t = -math.inf
        self.blocks = blocks
        self.products = products  # (id, type, ws, we, version) of every product version
        self.public_magtype = public_magtype
        self.n_events_by_type: dict[str, int] = {}
        for b in blocks.values():
            self.n_events_by_type[b.type] = self.n_events_by_type.get(b.type, 0) + b.n_events
        self.types = sorted({b.type for b in blocks.values()})
        code = {t: i for i, t in enumerate(self.types)}
        parts = [(b, np.nonzero(b.searchable)[0]) for b in blocks.values()]
        parts = [(b, ix) for b, ix in parts if len(ix)]
        self.block_list = [b for b, _ in parts]

        def cat(name, dtype=None):
            if not parts:
                return np.empty(0, dtype=dtype or np.float64)
            return np.concatenate([getattr(b, name)[ix] for b, ix in parts])

        orid, t = cat("orid", np.int64), cat("time")
        order = np.lexsort((orid, t))
        inv = np.empty(len(order), dtype=np.int64)
        inv[order] = np.arange(len(order), dtype=np.int64)
        #: product id → (positions in the block, their indices in the snapshot)
        self.located: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        off = 0
        for b, ix in parts:
            self.located[b.pid] = (ix, inv[off:off + len(ix)])
            off += len(ix)
        self.orid, self.time = orid[order], t[order]
        self.lat, self.lon, self.depth = cat("lat")[order], cat("lon")[order], cat("depth")[order]
        self.mag, self.pubmag = cat("mag")[order], cat("pubmag")[order]
        if parts:
            self.blk = np.concatenate([np.full(len(ix), k, dtype=np.int32) for k, (_, ix) in enumerate(parts)])[order]
            self.pos = np.concatenate([ix for _, ix in parts]).astype(np.int64)[order]
            self.tcode = np.array([code[b.type] for b in self.block_list], dtype=np.int16)[self.blk]
        else:
            self.blk = self.pos = np.empty(0, dtype=np.int64)
            self.tcode = np.empty(0, dtype=np.int16)
        etypes = [self.block_list[k].etype[i] for k, i in zip(self.blk.tolist(), self.pos.tolist())]
        #: event type codes (origin.etype) in use and each event's index into them
        self.etype_values = sorted(set(etypes), key=lambda x: (x is None, x or ""))
        where = {v: k for k, v in enumerate(self.etype_values)}
        self.etype_code = np.array([where[v] for v in etypes], dtype=np.int32)


# --------------------------------------------------------------------------- the index of a store
class EventIndex:
    """The index of one store in one server process (see the module docstring)."""

    def __init__(self, engine, settings):
        self.engine = engine
        self.settings = settings
        self.agency = settings.service.agency_id
        self.public_magtype = settings.access.public_events.magnitude_type
        self._snap: Snapshot | None = None
        self._build_lock = threading.Lock()
        self._gen_lock = threading.Lock()
        self._gen_reader = GenerationReader(engine)
        self.rendered_bytes = 0
        self.builds = 0
        #: the store is a server (PostgreSQL): the generation read waits on the network
        self.remote = engine.dialect.name != "sqlite"
        #: seconds a generation read is reused (``[service] event_generation_check_s``)
        self.check_s = float(getattr(settings.service, "event_generation_check_s", 0.0))
        self._last_gen: tuple[float, tuple] | None = None  # (monotonic time the read started, generation)

    # ----------------------------------------------------------------- generation
    def recent_generation(self) -> tuple | None:
        """The generation read less than ``check_s`` seconds ago (None: :meth:`generation` reads it)."""
        last = self.recent_read()
        return None if last is None else last[1]

    def recent_read(self) -> tuple[float, tuple] | None:
        """(monotonic time the read started, generation) of a read less than ``check_s`` seconds
        ago, else None."""
        last = self._last_gen
        if last is not None and time.monotonic() - last[0] < self.check_s:
            return last
        return None

    def generation(self) -> tuple:
        """The store's product generation (same value as :func:`pipeline.service.fdsn.cache.generation`)."""
        return self.read()[1]

    def read(self) -> tuple[float, tuple]:
        """(monotonic time the read started, the store's product generation), read on a
        connection kept for it no earlier than ``check_s`` seconds before this call: a caller
        that waited for another's read takes its result when that read is recent enough
        (concurrent requests share one read)."""
        t0 = time.monotonic()
        with self._gen_lock:
            last = self._last_gen
            if last is not None and last[0] >= t0 - self.check_s:
                return last
            t0 = time.monotonic()
            self._last_gen = (t0, self._gen_reader.read())
            return self._last_gen

    def close(self) -> None:
        with self._gen_lock:
            self._gen_reader.close()

    # ----------------------------------------------------------------- snapshot
    @staticmethod
    def _serves(snap: Snapshot | None, gen, read_t: float | None) -> bool:
        """Whether ``snap`` may answer a request that uses generation ``gen`` read at ``read_t``:
        it is of that generation, or was built from a later read (a request that read the
        generation just before a product was written takes the newer snapshot rather than
        rebuilding an older one)."""
        if snap is None:
            return False
        return snap.gen == gen or (read_t is not None and snap.read_t > read_t)

    def current(self, gen, read_t: float | None = None) -> Snapshot | None:
        """The snapshot that answers generation ``gen`` (None: :meth:`snapshot` builds it)."""
        snap = self._snap
        return snap if self._serves(snap, gen, read_t) else None

    def snapshot(self, gen, session_factory, read_t: float | None = None) -> Snapshot:
        """The snapshot that answers generation ``gen`` read at ``read_t`` (monotonic; None: now),
        built or brought up to date when needed."""
        snap = self._snap
        if self._serves(snap, gen, read_t):
            return snap
        with self._build_lock:
            snap = self._snap
            if self._serves(snap, gen, read_t):
                return snap
            read_t = time.monotonic() if read_t is None else read_t
            with session_factory() as session:
                snap = self._build(session, gen, snap)
            snap.read_t = read_t
            self._snap = snap
            self.builds += 1
            # the index is ~10 objects per event that live until the next product is written:
            # keep them out of the cyclic garbage collector's full collections (which would scan
            # them all, a pause of tens of milliseconds each time); they are still freed by
            # reference counting when a later build drops them
            if len(snap.time) >= GC_FREEZE_MIN_EVENTS:
                gc.collect()
                gc.freeze()
            return snap

    def _build(self, session, gen, old: Snapshot | None) -> Snapshot:
        rows = product_versions(session)
        best: dict[tuple, Any] = {}
        for r in rows:
            k = (r.type, r.window_start, r.window_end)
            if k not in best or r.version > best[k].version:
                best[k] = r
        keep, load = {}, []
        for r in best.values():
            stamp = (r.runs, str(r.created))
            b = old.blocks.get(r.id) if old is not None else None
            if b is not None and b.stamp == stamp:
                keep[r.id] = b
            else:
                load.append(r)
        if old is not None:  # rendered pieces of dropped blocks no longer count
            self.rendered_bytes = sum(_rendered(b) for b in keep.values())
        load.sort(key=lambda r: r.id)
        for i in range(0, len(load), LOAD_BATCH):
            for b in self._load(session, load[i:i + LOAD_BATCH]):
                keep[b.pid] = b
        return Snapshot(gen, keep, [(r.id, r.type, r.window_start, r.window_end, r.version) for r in rows],
                        self.public_magtype)

    def _load(self, session, prods) -> list[Block]:
        from pipeline.service.fdsn.quakeml_fast import quality_summary
        from pipeline.store.products import event_id

        got = served_event_rows(session, [r.id for r in prods])
        evs, n_events, assocs = got["events"], got["n_events"], got["assocs"]
        errs = {orid: _Err(*e) for orid, e in got["errs"].items()}
        mags = {orid: [_Mag(*n) for n in v] for orid, v in got["mags"].items()}
        quality = {orid: quality_summary(v) for orid, v in assocs.items()}
        no_assoc = quality_summary(())
        out = []
        pmt = self.public_magtype
        nan = math.nan
        for p in prods:
            rows = evs.get(p.id, ())
            n = len(rows)
            orids = [r[3] for r in rows]
            ml = [mags.get(o, []) for o in orids]
            pub = [next((x.magnitude for x in v if not pmt or x.magtype == pmt), nan) for v in ml]
            out.append(Block(
                pid=p.id, type=p.type, window_start=p.window_start, window_end=p.window_end, version=p.version,
                stamp=(p.runs, str(p.created)), n_events=n_events.get(p.id, 0),
                id_prefix=event_id(p.type, p.window_start, p.window_end, 0)[:-1],
                searchable=np.array([r[4] == r[1] for r in rows], dtype=bool),
                orid=np.array(orids, dtype=np.int64),
                time=np.array([r[5] for r in rows], dtype=np.float64),
                lat=np.array([r[6] for r in rows], dtype=np.float64),
                lon=np.array([r[7] for r in rows], dtype=np.float64),
                depth=np.array([nan if r[8] is None else r[8] for r in rows], dtype=np.float64),
                mag=np.array([v[0].magnitude if v else nan for v in ml], dtype=np.float64),
                pubmag=np.array([nan if x is None else x for x in pub], dtype=np.float64),
                evname=[r[2] for r in rows], etype=[r[9] for r in rows],
                origin=[_Origin(*r[3:4], *r[5:9], *r[10:]) for r in rows],
                err=[errs.get(o) for o in orids], mags=ml,
                quality=[quality.get(o, no_assoc) for o in orids],
                text=[None] * n, xml=[None] * n))
        return out

    # ----------------------------------------------------------------- queries
    def select(self, snap: Snapshot, eq, principal, now: float | None = None) -> list[tuple[Block, int]]:
        """The events of query ``eq`` (an :class:`~pipeline.service.fdsn.event.EventQuery` the
        index :func:`handles`) for ``principal``, in answer order: ``(block, position)`` pairs.
        Raises the same :class:`FDSNError` as the SQL path (403 for a refused catalog, 413)."""
        from pipeline.service.auth import require_catalog
        from pipeline.service.fdsn.event import ETYPE_QUAKEML, _distance_deg, radius_box, radius_page
        from pipeline.service.fdsn.params import FDSNError

        p = eq.p
        if eq.ids:
            types = eq.catalogs or sorted({i[0] for i in eq.ids})
        else:
            types = eq.catalogs or [self.default_catalog(snap, principal.may_read)]
        full, partial = [], []
        for t in types:  # as pipeline.service.auth.event_filter: 403/401, products for the audit
            d = require_catalog(principal, t)
            (full if d.full else partial).append(t)
        t0, t1 = p.get("starttime"), p.get("endtime")
        lo = 0 if t0 is None else int(np.searchsorted(snap.time, t0.timestamp, side="left"))
        hi = len(snap.time) if t1 is None else int(np.searchsorted(snap.time, t1.timestamp, side="right"))
        if eq.ids:
            wanted = self._resolve_ids(snap, eq.ids)
            idx = np.array(sorted(j for j in wanted if lo <= j < hi), dtype=np.int64)
        else:
            idx = np.arange(lo, max(lo, hi), dtype=np.int64)
        if len(idx) == 0:
            return []
        tcode = snap.tcode[idx]
        keep = _code_mask(tcode, [snap.types.index(t) for t in types if t in snap.types], len(snap.types))
        if partial:
            cfg = principal.access.public_events
            now = time.time() if now is None else now
            pub = _code_mask(tcode, [snap.types.index(t) for t in partial if t in snap.types], len(snap.types))
            with np.errstate(invalid="ignore"):
                ok_pub = (snap.time[idx] <= now - cfg.min_age_days * 86400.0) & (snap.pubmag[idx] >= cfg.min_magnitude)
            keep &= ~pub | ok_pub
        lat, lon = snap.lat[idx], snap.lon[idx]
        with np.errstate(invalid="ignore"):
            if p.get("minlatitude") is not None:
                keep &= lat >= p["minlatitude"]
            if p.get("maxlatitude") is not None:
                keep &= lat <= p["maxlatitude"]
            if p.get("minlongitude") is not None or p.get("maxlongitude") is not None:
                m = _lon_mask(lon, p.get("minlongitude", -180.0), p.get("maxlongitude", 180.0))
                if m is not None:
                    keep &= m
            if p.get("mindepth") is not None:
                keep &= snap.depth[idx] >= p["mindepth"]
            if p.get("maxdepth") is not None:
                keep &= snap.depth[idx] <= p["maxdepth"]
            mag = snap.mag[idx]
            if p.get("minmagnitude") is not None:
                keep &= mag >= p["minmagnitude"]
            if p.get("maxmagnitude") is not None:
                keep &= mag <= p["maxmagnitude"]
        if p.get("contributor") is not None:
            if self.agency.lower() not in {c.strip().lower() for c in p["contributor"].split(",")}:
                return []
        if eq.eventtypes is not None:
            codes_ok = {c for c, (t, _) in ETYPE_QUAKEML.items() if t in eq.eventtypes}
            if "not reported" in eq.eventtypes:
                codes_ok.add("")
            keep &= _code_mask(snap.etype_code[idx], [k for k, v in enumerate(snap.etype_values) if v in codes_ok],
                               len(snap.etype_values))
        if eq.radius:
            lat0, lon0 = p["latitude"], p["longitude"]
            blo, bhi, lons = radius_box(lat0, lon0, p.get("maxradius", 180.0))
            keep &= (lat >= blo) & (lat <= bhi)
            if lons is not None:
                m = _lon_mask(lon, *lons)
                if m is not None:
                    keep &= m
        idx = idx[keep]
        order = p["orderby"]
        if order == "time":
            idx = idx[::-1]
        elif order == "magnitude":  # magnitude desc nulls last, then time desc, orid desc
            key = np.where(np.isnan(snap.mag[idx]), -np.inf, snap.mag[idx])
            idx = idx[np.argsort(key, kind="stable")][::-1]
        elif order == "magnitude-asc":  # magnitude asc nulls last, then time asc, orid asc
            key = np.where(np.isnan(snap.mag[idx]), np.inf, snap.mag[idx])
            idx = idx[np.argsort(key, kind="stable")]
        cap = self.settings.service.event_max_results
        limit = p.get("limit")
        want = min(limit, cap) if limit is not None else cap + 1
        offset = p["offset"] - 1
        if not eq.radius:
            sel = idx[offset:offset + want].tolist()
        else:
            rmin, rmax = p.get("minradius", 0.0), p.get("maxradius", 180.0)
            # numpy's distances decide where they are clearly inside or outside; those within
            # 1e-9 degrees of a bound are computed again as the SQL path does (math, _distance_deg)
            dist = _distances(lat0, lon0, snap.lat[idx], snap.lon[idx])
            inside = (dist >= rmin + 1e-9) & (dist <= rmax - 1e-9)
            unsure = ~inside & (dist >= rmin - 1e-9) & (dist <= rmax + 1e-9)
            def exact(k):  # surely inside -> rmin; surely outside -> inf; else as the SQL path
                j, ok, check = k
                if ok:
                    return rmin
                return _distance_deg(lat0, lon0, float(snap.lat[j]), float(snap.lon[j])) \
                    if check else math.inf

            sel = [k[0] for k in radius_page(zip(idx.tolist(), inside.tolist(), unsure.tolist()),
                                             exact, rmin, rmax, offset, want)]
        if limit is None and len(sel) > cap:
            raise FDSNError(413, f"More than {cap} events match the request; use 'limit' and 'offset' or a "
                                 "narrower selection")
        return [(snap.block_list[int(snap.blk[j])], int(snap.pos[j])) for j in sel]

    def default_catalog(self, snap: Snapshot, may_read=None) -> str:
        """As :func:`pipeline.service.fdsn.event.default_catalog`, from the snapshot."""
        from pipeline.service.fdsn.event import choose_default

        return choose_default({t for t, n in snap.n_events_by_type.items() if n > 0}, may_read)

    def _resolve_ids(self, snap: Snapshot, ids) -> set[int]:
        """Positions in the snapshot of event ids (as ``_resolve_ids`` + the newest-version rule)."""
        out = set()
        for ptype, ws, we, n in ids:
            cands = [r for r in snap.products if r[1] == ptype and ws - 1e-4 <= r[2] <= ws + 1e-4
                     and we - 1e-4 <= r[3] <= we + 1e-4]
            if not cands or n < 1:
                continue
            pid = max(cands, key=lambda r: r[4])[0]
            loc = snap.located.get(pid)  # None: not the newest version of its window (or no event)
            if loc is None:
                continue
            ix, where = loc
            k = int(np.searchsorted(ix, n - 1))
            if k < len(ix) and ix[k] == n - 1:  # else: no such rank, or its origin is not the event's
                out.add(int(where[k]))
        return out

    # ----------------------------------------------------------------- output
    @staticmethod
    def unrendered(picks: list[tuple[Block, int]], text: bool) -> int:
        """How many of ``picks`` are not rendered yet (text lines or QuakeML elements)."""
        return sum(1 for b, i in picks if (b.text if text else b.xml)[i] is None)

    def text(self, picks: list[tuple[Block, int]]) -> bytes:
        from pipeline.service.fdsn.event import TEXT_HEADER

        parts = [TEXT_HEADER, "\n"]
        for b, i in picks:
            s = b.text[i]
            if s is None:
                s = self._text_line(b, i)
            parts.append(s)
        return "".join(parts).encode("utf-8")

    def _text_line(self, b: Block, i: int) -> str:
        from pipeline.service.fdsn.event import text_line

        o, mags = b.origin[i], b.mags[i]
        r = {"eventid": b.id_prefix + str(i + 1), "etype": b.etype[i], "evname": b.evname[i], "time": o.time,
             "lat": o.lat, "lon": o.lon, "depth": o.depth, "auth": o.auth, "type": b.type,
             "mag": mags[0].magnitude if mags else None, "magtype": mags[0].magtype if mags else None}
        s = text_line(r, self.agency) + "\n"
        self._keep(b.text, i, s)
        return s

    def quakeml(self, picks: list[tuple[Block, int]]) -> bytes | None:
        """The QuakeML document (None when an event needs the obspy writer)."""
        from pipeline.service.fdsn.quakeml_fast import _Unsafe, document, event_xml

        parts = []
        try:
            for b, i in picks:
                s = b.xml[i]
                if s is None:
                    r = {"eventid": b.id_prefix + str(i + 1), "type": b.type, "etype": b.etype[i],
                         "evname": b.evname[i]}
                    try:
                        s = event_xml(r, b.origin[i], b.err[i], b.mags[i][:1], b.quality[i], self.agency)
                    except _Unsafe:
                        s = False
                    self._keep(b.xml, i, s)
                if s is False:
                    return None
                parts.append(s)
            return document(parts, self.agency)
        except _Unsafe:
            return None

    def _keep(self, slot: list, i: int, s) -> None:
        size = len(s) if s else 0
        if self.rendered_bytes + size <= MAX_RENDERED_BYTES:
            slot[i] = s
            self.rendered_bytes += size


def _rendered(b: Block) -> int:
    return sum(len(s) for s in b.text if s) + sum(len(s) for s in b.xml if s)


def _distances(lat0: float, lon0: float, lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    """Great-circle distances (degrees) as :func:`pipeline.service.fdsn.event._distance_deg`,
    vectorised (may differ from it in the last bits)."""
    p1, p2 = math.radians(lat0), np.radians(lat)
    c = math.sin(p1) * np.sin(p2) + math.cos(p1) * np.cos(p2) * np.cos(np.radians(lon - lon0))
    return np.degrees(np.arccos(np.clip(c, -1.0, 1.0)))


def _code_mask(tcode: np.ndarray, codes: list[int], n_types: int) -> np.ndarray:
    """``tcode in codes`` (a few codes: faster than np.isin); ``n_types``: codes in use."""
    if set(codes) >= set(range(n_types)):
        return np.ones(len(tcode), dtype=bool)
    out = np.zeros(len(tcode), dtype=bool)
    for c in codes:
        out |= tcode == c
    return out


def _lon_mask(lon: np.ndarray, lo: float, hi: float):
    """As :func:`pipeline.store.selection.lon_condition` (wrap-around; None = no condition)."""
    from pipeline.store.selection import lon_range

    r = lon_range(lo, hi)
    if r is None:
        return None
    lo, hi = r
    if lo <= hi:
        return (lon >= lo) & (lon <= hi)
    return (lon >= lo) | (lon <= hi)


_indexes_lock = threading.Lock()


def index_of(state) -> EventIndex:
    """The :class:`EventIndex` of a ``ServiceState`` (created on first use)."""
    idx = getattr(state, "_event_index", None)
    if idx is None:
        with _indexes_lock:
            idx = getattr(state, "_event_index", None)
            if idx is None:
                idx = state._event_index = EventIndex(state.engine, state.settings)
    return idx
