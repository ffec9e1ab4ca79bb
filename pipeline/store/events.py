"""Query functions of the served events (fdsnws-event, the web UI's event list): the SQL of
:mod:`pipeline.service.fdsn.event`, :mod:`~pipeline.service.fdsn.index`,
:mod:`~pipeline.service.fdsn.cache` and :mod:`~pipeline.service.fdsn.quakeml_fast`.

Served = the newest version of every (product type, window). The functions return plain values
(rows with named columns, dicts, sets); the service keeps its caches, parameter checks and HTTP
errors. Statements are those the service ran before (same joins, conditions and order), so the
answers and the query plans are unchanged:

* the event query goes from origin (indexed time, ``ix_origin_time``) to event through
  ``origin.evid`` because ``event.prefor`` has no index;
* the newest versions are selected ``product_id IN (ids)`` when the caller knows the ids
  (on PostgreSQL as one array parameter), else by the "no newer version" anti-join.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable, Iterable

from sqlalchemy import and_, exists, false, func, or_, select, text
from sqlalchemy.orm import Session, aliased

from pipeline.store import models as m
from pipeline.store.selection import lon_condition

# --------------------------------------------------------------------------- product generation
#: the product generation (``(max(id), count(*), sum(runs), max(created))`` of ``product``: it
#: changes whenever a served row could), as plain SQL so that it runs on a bare DBAPI connection
#: too (:class:`GenerationReader`)
GENERATION_SQL = "SELECT max(id), count(*), sum(runs), max(created) FROM product"
#: seconds a generation read may take at most on PostgreSQL
GENERATION_TIMEOUT_S = 5.0


def generation_value(row) -> tuple:
    """The generation tuple of a :data:`GENERATION_SQL` row (comparable, hashable)."""
    return tuple(str(x) if x is not None and not isinstance(x, (int, float)) else x for x in row)


def product_generation(session: Session) -> tuple:
    """The product generation of the store (see :data:`GENERATION_SQL`)."""
    return generation_value(session.execute(text(GENERATION_SQL)).one())


class GenerationReader:
    """Reads :data:`GENERATION_SQL` on a DBAPI connection of its own, outside the engine's pool
    (no ORM, no transaction left open: autocommit; on PostgreSQL with a statement timeout of
    :data:`GENERATION_TIMEOUT_S`). Not thread-safe: the caller serialises :meth:`read`."""

    def __init__(self, engine):
        self.engine = engine
        self._conn = None

    def read(self) -> tuple:
        """The generation; a failed read drops the connection and is tried once more on a new one."""
        for attempt in (0, 1):
            try:
                if self._conn is None:
                    self._conn = self._connect()
                cur = self._conn.cursor()
                try:
                    cur.execute(GENERATION_SQL)
                    row = cur.fetchone()
                finally:
                    cur.close()
                return generation_value(row)
            except Exception:  # any failure of the held raw connection: reconnect once, then raise
                self.close()
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def _connect(self):
        raw = self.engine.raw_connection()
        dbapi = raw.driver_connection
        raw.detach()  # a connection of its own, outside the pool (closed by close())
        if self.engine.dialect.name == "postgresql":
            dbapi.autocommit = True  # one statement, no transaction left open
            cur = dbapi.cursor()
            cur.execute(f"SET statement_timeout = {int(GENERATION_TIMEOUT_S * 1000)}")
            cur.close()
        elif self.engine.dialect.name == "sqlite":
            dbapi.isolation_level = None  # autocommit: every SELECT sees the newest commit
        return dbapi

    def close(self) -> None:
        c, self._conn = self._conn, None
        if c is not None:
            try:
                c.close()
            except Exception:  # closing a connection that already failed: nothing left to do
                pass


# --------------------------------------------------------------------------- products
def _newest_version(P):
    P2 = aliased(m.Product)
    return ~exists().where(P2.type == P.type, P2.window_start == P.window_start, P2.window_end == P.window_end,
                           P2.version > P.version)


def product_versions(session: Session) -> list:
    """Every product version: rows with ``id``, ``type``, ``window_start``, ``window_end``,
    ``version``, ``runs``, ``created``."""
    P = m.Product
    return session.execute(select(P.id, P.type, P.window_start, P.window_end, P.version, P.runs,
                                  P.created)).all()


def newest_product_ids(session: Session) -> dict[str, list[int]]:
    """product type → sorted ids of the newest version of each of its windows."""
    P = m.Product
    best: dict[tuple, tuple[int, int]] = {}
    for pid, ptype, ws, we, version in session.execute(select(P.id, P.type, P.window_start, P.window_end,
                                                              P.version)):
        k = (ptype, ws, we)
        if k not in best or version > best[k][0]:
            best[k] = (version, pid)
    got: dict[str, list[int]] = {}
    for (ptype, _, _), (_, pid) in best.items():
        got.setdefault(ptype, []).append(pid)
    for ids in got.values():
        ids.sort()
    return got


def product_table(session: Session) -> dict[int, dict]:
    """product id → its ``type``, ``window_start``, ``window_end``, ``version``, ``created``."""
    P = m.Product
    return {r.id: {"type": r.type, "window_start": r.window_start, "window_end": r.window_end,
                   "version": r.version, "created": r.created}
            for r in session.execute(select(P.id, P.type, P.window_start, P.window_end, P.version, P.created))}


def product_types(session: Session) -> set[str]:
    """The product types the store holds (any version)."""
    return {t for (t,) in session.execute(select(m.Product.type).distinct())}


def types_holding_events(session: Session, types: Iterable[str]) -> set[str]:
    """Those of ``types`` whose newest product versions hold at least one event."""
    P = m.Product
    holding = set()
    for t in types:
        q = select(m.Event.evid).join(P, P.id == m.Event.product_id).where(P.type == t, _newest_version(P)).limit(1)
        if session.execute(q).first() is not None:
            holding.add(t)
    return holding


# --------------------------------------------------------------------------- event ids and ranks
def resolve_event_ids(session: Session, ids: Iterable[tuple[str, float, float, int]]) -> list[int]:
    """Event ids ``(type, window start, window end, rank)`` → orids of the preferred origins of
    the rank-th event (by origin time, orid) of the newest version of that window (ids that
    match nothing are skipped)."""
    P, E, O = m.Product, m.Event, m.Origin
    out = []
    for ptype, ws, we, n in ids:
        pid = session.scalar(select(P.id).where(P.type == ptype, P.window_start.between(ws - 1e-4, ws + 1e-4),
                                                P.window_end.between(we - 1e-4, we + 1e-4))
                             .order_by(P.version.desc()).limit(1))
        if pid is None or n < 1:
            continue
        orid = session.scalar(select(O.orid).join(E, E.prefor == O.orid).where(E.product_id == pid)
                              .order_by(O.time, O.orid).offset(n - 1).limit(1))
        if orid is not None:
            out.append(orid)
    return out


def preferred_origin_ranks(session: Session, rows, cache=None, generation=None) -> dict[int, int]:
    """orid → 1-based rank by (origin time, orid) within its product of the events of ``rows``
    (objects with ``product_id`` and ``orid``): what the public event ids are made of.

    With ``cache`` (``get(key, generation)`` / ``put(key, generation, value)``, e.g. the
    service's LRU) the ranks of every event of a product are computed once per product and
    ``generation``."""
    E, O = m.Event, m.Origin
    if cache is not None:
        ranks: dict[int, int] = {}
        missing = []
        for pid in sorted({r.product_id for r in rows}):
            got = cache.get(pid, generation)
            if got is None:
                missing.append(pid)
            else:
                ranks.update(got)
        for i in range(0, len(missing), 500):
            rn = func.row_number().over(partition_by=E.product_id, order_by=(O.time, O.orid)).label("rn")
            per: dict[int, dict[int, int]] = {pid: {} for pid in missing[i:i + 500]}
            for pid, orid, n in session.execute(select(E.product_id, O.orid, rn).select_from(E)
                                                .join(O, O.orid == E.prefor)
                                                .where(E.product_id.in_(missing[i:i + 500]))):
                per[pid][orid] = n
            for pid, d in per.items():
                cache.put(pid, generation, d)
                ranks.update(d)
        return ranks
    pids = sorted({r.product_id for r in rows})
    wanted = {r.orid for r in rows}
    ranks = {}
    for i in range(0, len(pids), 500):
        rn = func.row_number().over(partition_by=E.product_id, order_by=(O.time, O.orid)).label("rn")
        sub = (select(O.orid, rn).select_from(E).join(O, O.orid == E.prefor)
               .where(E.product_id.in_(pids[i:i + 500])).subquery())
        orids = sorted(wanted)
        for j in range(0, len(orids), 500):
            for orid, n in session.execute(select(sub.c.orid, sub.c.rn).where(sub.c.orid.in_(orids[j:j + 500]))):
                ranks[orid] = n
    return ranks


# --------------------------------------------------------------------------- the event query
#: the newest product versions are selected by id (``product_id IN (…)``) up to this many products,
#: else by the "no newer version" condition in SQL
MAX_NEWEST_IN = 5000

#: access hook of :class:`EventCriteria`: ``(select, types, Origin, Product) -> select``
AccessHook = Callable[[Any, list, Any, Any], Any]


@dataclass
class EventCriteria:
    """What :func:`select_events` selects (None = no condition). Times are epoch seconds,
    ``updated_after`` a datetime (UTC), depths km, angles degrees."""

    types: list[str]
    #: preferred origins of the asked event ids (None: no id selection; []: none matched)
    orids: list[int] | None = None
    #: ids of the newest versions of ``types`` (and the same as a PostgreSQL array literal);
    #: None: selected by the "no newer version" condition (the product columns are then selected)
    newest_ids: list[int] | None = None
    newest_literal: str | None = None
    #: an extra condition the caller builds on the query (the access rule of the service);
    #: when it changes the query, the product table is joined
    access: AccessHook | None = None
    start: float | None = None
    end: float | None = None
    minlatitude: float | None = None
    maxlatitude: float | None = None
    minlongitude: float | None = None
    maxlongitude: float | None = None
    mindepth: float | None = None
    maxdepth: float | None = None
    minmagnitude: float | None = None
    maxmagnitude: float | None = None
    #: type of the magnitude the limits, the order and the ``mag`` column use (None: the first)
    magnitude_type: str | None = None
    updated_after: datetime | None = None
    #: False: nothing matches (e.g. another contributor was asked for)
    anything: bool = True
    #: event type codes (``origin.etype``) kept, and whether "" (not reported) is kept too
    etype_codes: list[str] | None = None
    etype_unreported: bool = False
    #: bounding box of a radius search: (min lat, max lat, (lon lo, lon hi) or None)
    box: tuple | None = None
    #: ``time``, ``time-asc``, ``magnitude`` or ``magnitude-asc``
    order: str = "time"
    offset: int = 0
    #: None: no limit in SQL (the rows are then streamed)
    limit: int | None = None


#: columns of every row of :func:`select_events`
EVENT_COLUMNS = ("evid", "evname", "product_id", "orid", "time", "lat", "lon", "depth", "auth", "etype",
                 "mag", "magtype")
#: product columns added when the selection is by the "no newer version" condition
PRODUCT_COLUMNS = ("type", "window_start", "window_end", "version", "created")


def _id_in(session: Session, col, ids: list[int], literal: str | None = None):
    """``col IN ids``; on PostgreSQL one array parameter (``col = ANY(:ids)``) instead of one
    parameter per id (cheaper to render and send for a thousand products)."""
    if session.get_bind().dialect.name == "postgresql" and len(ids) > 50:
        from sqlalchemy import Integer, String, any_, bindparam, cast
        from sqlalchemy.dialects.postgresql import ARRAY

        # the array as one text literal: psycopg's list adaptation costs ~2 ms per 1 000 ids
        literal = literal or "{" + ",".join(map(str, ids)) + "}"
        return col == any_(cast(bindparam("newest_ids", literal, type_=String), ARRAY(Integer)))
    return col.in_(ids)


def _pref_netmag(col, magtype: str | None):
    q = select(col).where(m.Netmag.orid == m.Origin.orid)
    if magtype:
        q = q.where(func.lower(m.Netmag.magtype) == magtype.lower())
    return q.order_by(m.Netmag.magid).limit(1).scalar_subquery()


def select_events(session: Session, c: EventCriteria) -> Iterable:
    """The served events matching ``c`` in the asked order: rows with :data:`EVENT_COLUMNS`
    (``mag``/``magtype``: the first network magnitude of the preferred origin, of
    ``c.magnitude_type`` when given), plus :data:`PRODUCT_COLUMNS` when ``c.newest_ids`` is None.
    With ``c.limit`` a list of at most that many rows after ``c.offset``; without, an iterator
    streamed from the database (the caller pages it; it must be consumed inside the session)."""
    E, O, P = m.Event, m.Origin, m.Product
    magtype = c.magnitude_type
    mag = _pref_netmag(m.Netmag.magnitude, magtype).label("mag")
    magt = _pref_netmag(m.Netmag.magtype, magtype).label("magtype")
    by_ids = c.newest_ids is not None
    cols = [E.evid, E.evname, E.product_id, O.orid, O.time, O.lat, O.lon, O.depth, O.auth, O.etype]
    pcols = [P.type, P.window_start, P.window_end, P.version, P.created]
    # from origin (indexed time) to event by its primary key: event.prefor has no index
    q = (select(*cols, *(() if by_ids else pcols), mag, magt)
         .select_from(O).join(E, and_(E.evid == O.evid, E.prefor == O.orid)))
    if c.orids is not None:
        q = q.where(O.orid.in_(c.orids) if c.orids else false())
    joined = not by_ids
    if joined:
        q = q.join(P, P.id == E.product_id).where(P.type.in_(c.types), _newest_version(P))
    else:
        q = q.where(_id_in(session, E.product_id, c.newest_ids, c.newest_literal) if c.newest_ids else false())
    if c.access is not None:
        q0 = q
        q = c.access(q, c.types, O, P)
        if q is not q0 and not joined:  # the access rule names product columns
            q, joined = q.join(P, P.id == E.product_id), True
    if c.start is not None:
        q = q.where(O.time >= c.start)
    if c.end is not None:
        q = q.where(O.time <= c.end)
    if c.minlatitude is not None:
        q = q.where(O.lat >= c.minlatitude)
    if c.maxlatitude is not None:
        q = q.where(O.lat <= c.maxlatitude)
    if c.minlongitude is not None or c.maxlongitude is not None:
        cond = lon_condition(O.lon, -180.0 if c.minlongitude is None else c.minlongitude,
                             180.0 if c.maxlongitude is None else c.maxlongitude)
        if cond is not None:
            q = q.where(cond)
    if c.mindepth is not None:
        q = q.where(O.depth >= c.mindepth)
    if c.maxdepth is not None:
        q = q.where(O.depth <= c.maxdepth)
    if c.minmagnitude is not None:
        q = q.where(mag >= c.minmagnitude)
    if c.maxmagnitude is not None:
        q = q.where(mag <= c.maxmagnitude)
    if magtype and c.minmagnitude is None and c.maxmagnitude is None:
        q = q.where(mag.is_not(None))
    if c.updated_after is not None:
        if not joined:
            q, joined = q.join(P, P.id == E.product_id), True
        q = q.where(P.created > c.updated_after)
    if not c.anything:
        q = q.where(false())
    if c.etype_codes is not None:
        conds = [O.etype.in_(c.etype_codes)] if c.etype_codes else []
        if c.etype_unreported:
            conds.append(O.etype == "")
        q = q.where(or_(*conds) if conds else false())
    if c.box is not None:
        lo, hi, lons = c.box
        q = q.where(O.lat >= lo, O.lat <= hi)
        if lons is not None:
            cond = lon_condition(O.lon, *lons)
            if cond is not None:
                q = q.where(cond)
    if c.order == "time":
        q = q.order_by(O.time.desc(), O.orid.desc())
    elif c.order == "time-asc":
        q = q.order_by(O.time.asc(), O.orid.asc())
    elif c.order == "magnitude":
        q = q.order_by(mag.desc().nulls_last(), O.time.desc(), O.orid.desc())
    else:
        q = q.order_by(mag.asc().nulls_last(), O.time.asc(), O.orid.asc())
    if c.limit is not None:
        return session.execute(q.offset(c.offset).limit(c.limit)).all()
    return session.execute(q).yield_per(1000)


# --------------------------------------------------------------------------- rows of whole products
def served_event_rows(session: Session, product_ids: list[int]) -> dict:
    """What the in-memory event index keeps of the events of ``product_ids``:

    * ``events``: product id → rows ``(product_id, evid, evname, orid, origin evid, time, lat,
      lon, depth, etype, dtype, algorithm, nass, ndef, auth)`` in rank order (origin time, orid)
      of its events that have a preferred origin;
    * ``n_events``: product id → events (with or without a preferred origin);
    * ``errs``: orid → ``(stime, sdepth, smajax, sminax, strike, conf, sdobs)`` of the preferred origins;
    * ``mags``: orid → ``[(magid, magtype, magnitude, nsta, uncertainty, auth)]`` by magid;
    * ``assocs``: orid → rows with ``sta``, ``timedef``, ``delta``, ``esaz`` of the associations.
    """
    E, O, R, N, A, AR = m.Event, m.Origin, m.Origerr, m.Netmag, m.Assoc, m.Arrival
    pids = list(product_ids)
    evs = defaultdict(list)
    n_events: dict[int, int] = defaultdict(int)
    # rank order within a product: origin time, orid (as the ranks of the event query)
    for r in session.execute(
            select(E.product_id, E.evid, E.evname, O.orid, O.evid, O.time, O.lat, O.lon, O.depth, O.etype,
                   O.dtype, O.algorithm, O.nass, O.ndef, O.auth)
            .select_from(E).outerjoin(O, O.orid == E.prefor).where(E.product_id.in_(pids))
            .order_by(E.product_id, O.time, O.orid)):
        n_events[r[0]] += 1
        if r[3] is not None:
            evs[r[0]].append(r)
    errs = {}
    for orid, *e in session.execute(select(R.orid, R.stime, R.sdepth, R.smajax, R.sminax, R.strike, R.conf,
                                           R.sdobs).join(E, E.prefor == R.orid)
                                    .where(E.product_id.in_(pids))):
        errs[orid] = e
    mags = defaultdict(list)
    for orid, *n in session.execute(select(N.orid, N.magid, N.magtype, N.magnitude, N.nsta, N.uncertainty,
                                           N.auth).join(E, E.prefor == N.orid)
                                    .where(E.product_id.in_(pids)).order_by(N.magid)):
        mags[orid].append(n)
    assocs = defaultdict(list)
    for a in session.execute(select(A.orid, AR.sta, A.timedef, A.delta, A.esaz)
                             .join(AR, AR.arid == A.arid).join(E, E.prefor == A.orid)
                             .where(E.product_id.in_(pids))):
        assocs[a.orid].append(a)
    return {"events": evs, "n_events": n_events, "errs": errs, "mags": mags, "assocs": assocs}


def _chunks(values, n=500):
    values = list(values)
    for i in range(0, len(values), n):
        yield values[i:i + n]


def preferred_origin_rows(session: Session, orids: Iterable[int]) -> tuple[dict, dict, dict, dict]:
    """``(origins, errs, netmags, assocs)`` of origins ``orids``: orid → origin row (``orid``,
    ``time``, ``lat``, ``lon``, ``depth``, ``dtype``, ``algorithm``, ``nass``, ``ndef``,
    ``auth``); orid → origerr row (``stime``, ``sdepth``, ``smajax``, ``sminax``, ``strike``,
    ``conf``, ``sdobs``); orid → netmag rows by magid (``magid``, ``magtype``, ``magnitude``,
    ``nsta``, ``uncertainty``, ``auth``); orid → association rows by arid (``arid``, ``sta``,
    ``timedef``, ``delta``, ``esaz``)."""
    O, R, N, A, AR = m.Origin, m.Origerr, m.Netmag, m.Assoc, m.Arrival
    origins, errs, netmags, assocs = {}, {}, defaultdict(list), defaultdict(list)
    for part in _chunks(sorted(set(orids))):
        for o in session.execute(select(O.orid, O.time, O.lat, O.lon, O.depth, O.dtype, O.algorithm, O.nass,
                                        O.ndef, O.auth).where(O.orid.in_(part))):
            origins[o.orid] = o
        for e in session.execute(select(R.orid, R.stime, R.sdepth, R.smajax, R.sminax, R.strike, R.conf,
                                        R.sdobs).where(R.orid.in_(part))):
            errs[e.orid] = e
        for n in session.execute(select(N.orid, N.magid, N.magtype, N.magnitude, N.nsta, N.uncertainty, N.auth)
                                 .where(N.orid.in_(part)).order_by(N.magid)):
            netmags[n.orid].append(n)
        for a in session.execute(select(A.orid, A.arid, AR.sta, A.timedef, A.delta, A.esaz)
                                 .join(AR, AR.arid == A.arid).where(A.orid.in_(part)).order_by(A.arid)):
            assocs[a.orid].append(a)
    return origins, errs, netmags, assocs
