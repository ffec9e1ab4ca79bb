"""The review queue in the store: SEL3 events → analyst actions (audited) → REB product versions.

Library functions called by ``idc review …``, the DAG tasks and (later) the HTTP API. Every
action is one transaction that updates the item's working copy (a one-event QuakeML document in
``review_item.event_xml``) and appends a ``review_action`` row with who (analyst), when, the
parameters and JSON snapshots of the event before and after (:func:`~pipeline.review.edits.
event_snapshot`).

Life of an item: ``pending`` → ``accepted`` or ``rejected`` (either can be changed again, each
change audited); ``merged`` items gave their arrivals to another item and are closed. Edits
(depth, arrivals, defining flags) mark the item ``needs_relocation`` until :func:`relocate`.
An accepted item that was edited stays accepted; the Event Definition Criteria are checked
again when the day is published. ``publish(day)`` freezes the accepted events of the UTC day
[D, D + 1 day) into a **new** REB product version each time (published versions are never
overwritten); rejected and merged events never enter the REB.
"""
from __future__ import annotations

import hashlib
import json
import time
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Iterable

from obspy import Catalog, UTCDateTime
from obspy.core.event import CreationInfo, ResourceIdentifier

from pipeline.errors import BAD_VALUE
from pipeline.io.quakeml import write_quakeml
from pipeline.review.edc import evaluate_edc
from pipeline.review.edits import (
    ReviewError,
    add_arrival,
    event_from_xml,
    event_snapshot,
    event_to_xml,
    fix_depth,
    merge_events,
    preferred_origin,
    relocate_event,
    remove_arrival,
    rename_arrival,
    set_defining,
    split_event,
)
from pipeline.store import review as rq

if TYPE_CHECKING:
    from pipeline.settings import Settings
    from pipeline.store.db import Session

DAY_S = 86400.0
STATUSES = ("pending", "accepted", "rejected", "merged")
#: queue items this close in origin time (s) are a relocation's neighbouring events
CONTEXT_S = 1800.0


def utc_day(day) -> UTCDateTime:
    """Midnight (UTC) of the day ``day`` (ISO date/time string, epoch or UTCDateTime) falls in."""
    try:
        t = UTCDateTime(day)
    except BAD_VALUE:
        raise ReviewError(f"day {day!r}: expected an ISO 8601 date such as 1995-01-16") from None
    return UTCDateTime(t.year, t.month, t.day)


def _analyst(settings: Settings, analyst: str | None) -> str:
    a = (analyst or settings.review.default_analyst).strip()
    if not a or len(a) > 64:
        raise ReviewError(f"analyst name {analyst!r}: expected 1-64 characters")
    return a


def _url(settings: Settings) -> str:
    from pipeline.store.db import ensure_schema

    ensure_schema(settings.database_url)
    return settings.database_url


def _item(s: Session, item_id: int, lock: bool = True):
    it = rq.item(s, item_id, lock)
    if it is None:
        raise ReviewError(f"no review item {item_id} (see `idc review list`)")
    return it


def _sync(it, ev) -> None:
    o = preferred_origin(ev)
    it.origin_time = float(o.time.timestamp)
    it.lat, it.lon, it.depth_km = float(o.latitude), float(o.longitude), (o.depth or 0.0) / 1000.0
    it.event_xml = event_to_xml(ev)


def _log(s: Session, it, action: str, analyst: str, detail: dict, before=None, after=None):
    return rq.log_action(s, it.id, action, analyst, detail, before, after)


def _editable(it) -> None:
    if it.status == "merged":
        raise ReviewError(f"review item {it.id} was merged into item {it.merged_into}; edit that one")


# --------------------------------------------------------------------------- queue
def _pick_keys(ev) -> list[tuple[str, str, float]]:
    """(station, phase, onset time) of an event's picks (phase from the pick or its arrival)."""
    phase_of = {}
    for o in ev.origins:
        for a in o.arrivals:
            phase_of[str(a.pick_id)] = (a.phase or "").upper()
    out = []
    for pk in ev.picks:
        if pk.time is None or pk.waveform_id is None:
            continue
        ph = phase_of.get(str(pk.resource_id)) or (pk.phase_hint or "").upper()
        out.append((pk.waveform_id.station_code or "", ph[:1], float(pk.time.timestamp)))
    return out


def _item_picks(it, cache: dict) -> list:
    if it.id not in cache:
        cache[it.id] = _pick_keys(event_from_xml(it.event_xml)) if it.event_xml else []
    return cache[it.id]


def _same_picks(a: list, b: list, cfg) -> bool:
    """Two events share enough picks to be versions of one event (either without picks: the
    origin match alone decides, as for bulletins imported without phase data)."""
    if not a or not b:
        return True
    by = {}
    for sta, ph, t in b:
        by.setdefault((sta, ph), []).append(t)
    shared = sum(1 for sta, ph, t in a if any(abs(t - u) <= cfg.match_pick_s for u in by.get((sta, ph), ())))
    return shared >= cfg.match_shared_picks * min(len(a), len(b))


def enqueue(settings: Settings, start, end, analyst: str = "system") -> dict:
    """Queue the events of the newest SEL3 versions of every window overlapping [start, end)
    whose origin time is in [start, end). Idempotent: an event already queued (same source
    product and event, or a version of it: origin within ``review.match_time_s`` and
    ``review.match_distance_km`` of a queued item *and* sharing ``review.match_shared_picks`` of
    the picks) is skipped; nearby events of a swarm with their own picks are all queued."""
    from pipeline.location.geodesy import KM_PER_DEG, great_circle_deg
    from pipeline.store.catalog import load_catalog
    from pipeline.store.db import session_scope

    t0, t1 = float(UTCDateTime(start).timestamp), float(UTCDateTime(end).timestamp)
    if not t1 > t0:
        raise ReviewError(f"window end {UTCDateTime(end)} must be after start {UTCDateTime(start)}")
    cfg = settings.review
    queued, skipped, products = [], 0, []
    with session_scope(_url(settings)) as s:
        prods = rq.product_versions(s, "SEL3", t0, t1)
        newest = {}
        for p in prods:
            newest[(p.window_start, p.window_end)] = p
        pick_cache: dict[int, list] = {}
        existing = rq.open_items_between(s, t0 - cfg.match_time_s - 1, t1 + cfg.match_time_s + 1)
        for p in newest.values():
            products.append({"window": [str(UTCDateTime(p.window_start)), str(UTCDateTime(p.window_end))],
                             "version": p.version})
            for ev in load_catalog(s, p):
                o = preferred_origin(ev)
                ot = float(o.time.timestamp)
                if not t0 <= ot < t1:
                    continue
                pub = str(ev.resource_id)
                mine = _pick_keys(ev)
                dup = any((x.source_product_id == p.id and x.source_public_id == pub) or (
                    abs(x.origin_time - ot) <= cfg.match_time_s
                    and float(great_circle_deg(x.lat, x.lon, o.latitude, o.longitude)) * KM_PER_DEG
                    <= cfg.match_distance_km
                    and _same_picks(mine, _item_picks(x, pick_cache), cfg)) for x in existing)
                if dup:
                    skipped += 1
                    continue
                it = rq.add_item(s, status="pending", source_product_id=p.id, source_public_id=pub[:200],
                                 origin_time=ot, lat=o.latitude, lon=o.longitude, depth_km=(o.depth or 0) / 1000.0,
                                 needs_relocation=False, event_xml="")
                ev.resource_id = ResourceIdentifier(f"smi:idc-pipeline/review/{it.id}")
                _sync(it, ev)
                snap = event_snapshot(ev)
                _log(s, it, "enqueue", analyst, {"source": f"SEL3 v{p.version}", "source_event": pub}, None, snap)
                existing.append(it)
                queued.append(it.id)
    return {"queued": len(queued), "items": queued, "already_queued": skipped, "sel3": products}


def list_queue(settings: Settings, status: str | Iterable[str] | None = None, start=None, end=None) -> list[dict]:
    """Queue items (oldest origin first) with their hypocentre, mb, counts and EDC outcome."""
    from pipeline.store.db import session_scope

    sts = None
    if status:
        sts = [status] if isinstance(status, str) else list(status)
        bad = set(sts) - set(STATUSES)
        if bad:
            raise ReviewError(f"status {', '.join(sorted(bad))}: expected one of {', '.join(STATUSES)}")
    t0 = float(UTCDateTime(start).timestamp) if start is not None else None
    t1 = float(UTCDateTime(end).timestamp) if end is not None else None
    out = []
    with session_scope(_url(settings)) as s:
        for it in rq.items(s, sts, t0, t1):
            ev = event_from_xml(it.event_xml)
            edc = evaluate_edc(ev, settings.review.edc)
            snap = event_snapshot(ev)
            mb = next((m["value"] for m in snap["magnitudes"] if (m["type"] or "").lower() == "mb"), None)
            # the preferred magnitude: the first network magnitude of the preferred origin (as
            # store.catalog.load_catalog and fdsnws-event define it)
            pref = snap["magnitudes"][0] if snap["magnitudes"] else {"type": None, "value": None}
            out.append({"id": it.id, "status": it.status, "time": str(UTCDateTime(it.origin_time)),
                        "latitude": round(it.lat, 4), "longitude": round(it.lon, 4),
                        "depth_km": round(it.depth_km, 1), "depth_fixed": it.fixed_depth_km is not None,
                        "magnitude": pref["value"], "magtype": pref["type"],
                        "mb": mb, "ndef": edc.values.get("defining_data"),
                        "nsta": edc.values.get("defining_stations"), "edc_passed": edc.passed,
                        "needs_relocation": it.needs_relocation, "published_version": it.published_version,
                        "merged_into": it.merged_into, "source_product_id": it.source_product_id,
                        "source_event": it.source_public_id})
    return out


def items_of_event(settings: Settings, product_id: int, source_event: str, event=None) -> list[int]:
    """Ids of the queue items that review one event of an automatic product, newest first: the
    items made from it (``source_event``: its resource id as
    :func:`pipeline.store.catalog.load_catalog` gives it) and, when ``event`` (obspy Event) is
    given, the items it was found to be a version of when it was queued (origin within
    ``[review] match_time_s``/``match_distance_km`` and enough shared picks, as :func:`enqueue`)."""
    from pipeline.location.geodesy import KM_PER_DEG, great_circle_deg
    from pipeline.store.db import session_scope

    cfg = settings.review
    with session_scope(_url(settings)) as s:
        exact = rq.items_from_source(s, product_id, source_event)
        if exact or event is None:
            return exact
        o = preferred_origin(event)
        ot = float(o.time.timestamp)
        mine = _pick_keys(event)
        near = rq.open_items_around(s, ot, cfg.match_time_s)
        return [x.id for x in near
                if float(great_circle_deg(x.lat, x.lon, o.latitude, o.longitude)) * KM_PER_DEG <= cfg.match_distance_km
                and _same_picks(mine, _item_picks(x, {}), cfg)]


def show(settings: Settings, item_id: int) -> dict:
    """One item: status, the event snapshot, the EDC outcome (with reasons) and its audit trail."""
    from pipeline.store.db import session_scope

    with session_scope(_url(settings)) as s:
        it = _item(s, item_id, lock=False)
        ev = event_from_xml(it.event_xml)
        actions = [{"id": a.id, "action": a.action, "analyst": a.analyst, "time": a.created.isoformat(),
                    "detail": a.detail, "before": a.before, "after": a.after}
                   for a in rq.actions(s, it.id)]
        return {"id": it.id, "status": it.status, "fixed_depth_km": it.fixed_depth_km,
                "needs_relocation": it.needs_relocation, "merged_into": it.merged_into,
                "published_version": it.published_version, "source_event": it.source_public_id,
                "source_product_id": it.source_product_id,
                "event": event_snapshot(ev), "edc": evaluate_edc(ev, settings.review.edc).as_dict(),
                "actions": actions}


def event_of(settings: Settings, item_id: int):
    """The working copy of an item as an obspy Event."""
    from pipeline.store.db import session_scope

    with session_scope(_url(settings)) as s:
        return event_from_xml(_item(s, item_id, lock=False).event_xml)


# --------------------------------------------------------------------------- decisions
def accept(settings: Settings, item_id: int, analyst: str | None = None, comment: str = "") -> dict:
    """Accept the event for the REB. :raises ReviewError: it fails the Event Definition Criteria
    (the message lists every reason) or it was merged."""
    from pipeline.store.db import session_scope

    who = _analyst(settings, analyst)
    with session_scope(_url(settings)) as s:
        it = _item(s, item_id)
        _editable(it)
        ev = event_from_xml(it.event_xml)
        edc = evaluate_edc(ev, settings.review.edc)
        if not edc.passed:
            raise ReviewError(f"review item {it.id} does not meet the Event Definition Criteria: {edc}")
        old = it.status
        it.status = "accepted"
        _log(s, it, "accept", who, {"status": [old, "accepted"], "edc": edc.as_dict(), "comment": comment})
        return {"id": it.id, "status": "accepted", "edc": edc.as_dict(), "needs_relocation": it.needs_relocation}


def reject(settings: Settings, item_id: int, analyst: str | None = None, reason: str = "") -> dict:
    """Reject the event: it will not enter the REB."""
    from pipeline.store.db import session_scope

    who = _analyst(settings, analyst)
    with session_scope(_url(settings)) as s:
        it = _item(s, item_id)
        _editable(it)
        old = it.status
        it.status = "rejected"
        _log(s, it, "reject", who, {"status": [old, "rejected"], "reason": reason})
        return {"id": it.id, "status": "rejected"}


def comment(settings: Settings, item_id: int, text: str, analyst: str | None = None) -> dict:
    from pipeline.store.db import session_scope

    if not text or not text.strip():
        raise ReviewError("comment: empty text")
    who = _analyst(settings, analyst)
    with session_scope(_url(settings)) as s:
        it = _item(s, item_id)
        row = _log(s, it, "comment", who, {"text": text.strip()})
        return {"id": it.id, "action_id": row.id}


# --------------------------------------------------------------------------- edits
def edit(settings: Settings, item_id: int, analyst: str | None = None, *, depth_km: float | str | None = None,
         remove: Iterable[str] = (), add: Iterable[dict] = (), rename: dict[str, str] | None = None,
         defining: dict[str, str] | None = None) -> dict:
    """Edit the working copy, in this order: fix (a number, km) or free (``"free"``) the depth,
    remove arrivals, rename arrival phases, set defining flags (``T``/``A``/``S``/``-``), add
    arrivals (dicts, see :func:`~pipeline.review.edits.add_arrival`). All or nothing; one audited
    action. The origin is not recomputed: :func:`relocate` next."""
    from pipeline.store.db import session_scope

    who = _analyst(settings, analyst)
    remove, add = list(remove or ()), list(add or ())
    rename, defining = dict(rename or {}), dict(defining or {})
    if depth_km is None and not (remove or add or rename or defining):
        raise ReviewError("edit: nothing to do (give a depth, arrivals to remove/add/rename or defining flags)")
    with session_scope(_url(settings)) as s:
        it = _item(s, item_id)
        _editable(it)
        ev = event_from_xml(it.event_xml)
        before = event_snapshot(ev)
        changes: list[dict] = []
        if depth_km is not None:
            if isinstance(depth_km, str) and depth_km.strip().lower() == "free":
                changes.append({"depth": ["fixed" if it.fixed_depth_km is not None else "free", "free"]})
                it.fixed_depth_km = None
            else:
                try:
                    d = float(depth_km)
                except (TypeError, ValueError):
                    raise ReviewError(f"depth {depth_km!r}: expected a number of km or 'free'") from None
                changes.append(fix_depth(ev, d))
                it.fixed_depth_km = d
        for r in remove:
            changes.append(remove_arrival(ev, r))
        for r, ph in rename.items():
            changes.append(rename_arrival(ev, r, ph))
        for r, fl in defining.items():
            changes.append(set_defining(ev, r, fl))
        for k, spec in enumerate(add):
            n = sum(1 for p in ev.picks if "/review/" in str(p.resource_id)) + 1
            changes.append(add_arrival(ev, {**spec, "analyst": who},
                                       f"smi:idc-pipeline/review/{it.id}/pick/m{n}"))
        if not preferred_origin(ev).arrivals:
            raise ReviewError("edit would leave the event without arrivals; reject it instead")
        it.needs_relocation = True
        _sync(it, ev)
        after = event_snapshot(ev)
        _log(s, it, "edit", who, {"changes": changes}, before, after)
        return {"id": it.id, "changes": changes, "needs_relocation": True}


def relocate(settings: Settings, item_id: int, analyst: str | None = None, *, stations=None, tt=None) -> dict:
    """Re-run the locator (and the magnitudes) on the edited, defining arrivals; the depth stays
    fixed when the analyst fixed it. ``stations`` (DataFrame) and ``tt`` (travel-time table)
    default to the store's site table and the configured model."""
    from pipeline import resources
    from pipeline.store.db import session_scope

    who = _analyst(settings, analyst)
    url = _url(settings)
    with session_scope(url) as s:
        it = _item(s, item_id, lock=False)
        _editable(it)
        xml0, fixed = it.event_xml, it.fixed_depth_km
        ev = event_from_xml(xml0)
        # the queue's neighbouring events (within the largest local/regional travel times):
        # an ML reading in one of their waves is not this event's
        near = rq.neighbours(s, it.id, it.origin_time, CONTEXT_S)
        context = [event_from_xml(o.event_xml) for o in near]
    stations = resources.station_table(settings) if stations is None else stations
    tt = resources.travel_times(settings) if tt is None else tt
    t = time.perf_counter()
    new, info = relocate_event(ev, stations, tt, resources.chain_config(settings), fixed, context=context)
    secs = time.perf_counter() - t
    with session_scope(url) as s:
        it = _item(s, item_id)
        if it.event_xml != xml0:
            raise ReviewError(f"review item {it.id} changed while relocating; relocate again")
        before = event_snapshot(ev)
        new.resource_id = ev.resource_id
        it.needs_relocation = False
        _sync(it, new)
        after = event_snapshot(new)
        _log(s, it, "relocate", who, {"fixed_depth_km": fixed, "seconds": round(secs, 2), **info}, before, after)
        return {"id": it.id, "origin": after["origin"], "magnitudes": after["magnitudes"],
                "edc": evaluate_edc(new, settings.review.edc).as_dict()}


def merge(settings: Settings, item_id: int, other_id: int, analyst: str | None = None) -> dict:
    """Move the arrivals of item ``other_id`` into item ``item_id``; ``other_id`` is closed
    (``merged``) and never enters the REB. Relocate ``item_id`` next."""
    from pipeline.store.db import session_scope

    who = _analyst(settings, analyst)
    if int(item_id) == int(other_id):
        raise ReviewError("merge: an item cannot be merged with itself")
    with session_scope(_url(settings)) as s:
        a, b = _item(s, item_id), _item(s, other_id)
        _editable(a)
        _editable(b)
        ea, eb = event_from_xml(a.event_xml), event_from_xml(b.event_xml)
        before_a, before_b = event_snapshot(ea), event_snapshot(eb)
        info = merge_events(ea, eb)
        a.needs_relocation = True
        _sync(a, ea)
        old_b = b.status
        b.status, b.merged_into = "merged", a.id
        _log(s, a, "merge", who, {"merged_item": b.id, **info}, before_a, event_snapshot(ea))
        _log(s, b, "merge", who, {"merged_into": a.id, "status": [old_b, "merged"]}, before_b, None)
        return {"id": a.id, "merged_item": b.id, **info, "needs_relocation": True}


def split(settings: Settings, item_id: int, arrivals: Iterable[str], analyst: str | None = None) -> dict:
    """Move the named arrivals of an item into a new (pending) item; relocate both next."""
    from pipeline.store.db import session_scope

    who = _analyst(settings, analyst)
    with session_scope(_url(settings)) as s:
        it = _item(s, item_id)
        _editable(it)
        ev = event_from_xml(it.event_xml)
        before = event_snapshot(ev)
        new_ev, info = split_event(ev, list(arrivals))
        it.needs_relocation = True
        _sync(it, ev)
        o = preferred_origin(new_ev)
        nit = rq.add_item(s, status="pending", source_product_id=it.source_product_id,
                          source_public_id=it.source_public_id, origin_time=float(o.time.timestamp), lat=o.latitude,
                          lon=o.longitude, depth_km=(o.depth or 0) / 1000.0, fixed_depth_km=it.fixed_depth_km,
                          needs_relocation=True, event_xml="")
        new_ev.resource_id = ResourceIdentifier(f"smi:idc-pipeline/review/{nit.id}")
        _sync(nit, new_ev)
        _log(s, it, "split", who, {"new_item": nit.id, **info}, before, event_snapshot(ev))
        _log(s, nit, "split", who, {"split_from": it.id, **info}, None, event_snapshot(new_ev))
        return {"id": it.id, "new_item": nit.id, **info, "needs_relocation": True}


# --------------------------------------------------------------------------- publication
def publish(settings: Settings, day, analyst: str | None = None, runner: str = "cli", run_id: str = "") -> dict:
    """Freeze the accepted events of the UTC day into a new REB product version for [D, D+1 day).

    Each publication of changed events is a new version (earlier versions stay readable, never
    overwritten); accepted events that no longer meet the Event Definition Criteria are left out
    and reported with the reasons. Publishing again what the newest version already holds (same
    events, same configuration: a re-run, e.g. after a crash) makes no new version: it returns
    that version (``"unchanged": True``) and writes its file if it is missing."""
    from pipeline import __version__
    from pipeline.store.catalog import store_catalog
    from pipeline.store.db import session_scope
    from pipeline.store.products import ProductKey, latest_version, lock_window, record_run, write_product
    from pipeline.util import fault_point, staged_files

    who = _analyst(settings, analyst)
    d0 = utc_day(day)
    t0 = float(d0.timestamp)
    key = ProductKey("REB", t0, t0 + DAY_S)
    started, tick = datetime.now(timezone.utc), time.perf_counter()
    url = _url(settings)
    with staged_files() as stage:
        with session_scope(url) as s:
            lock_window(s, key)  # one publisher of the day at a time: the next one sees this one's version
            items = rq.accepted_for_update(s, t0, t0 + DAY_S)
            cat = Catalog(creation_info=CreationInfo(agency_id="IDC", author=who, creation_time=UTCDateTime()))
            included, excluded, snaps = [], [], []
            for it in items:
                ev = event_from_xml(it.event_xml)
                edc = evaluate_edc(ev, settings.review.edc)
                if not edc.passed:
                    excluded.append({"id": it.id, "reasons": list(edc.reasons)})
                    continue
                o = preferred_origin(ev)
                o.evaluation_mode, o.evaluation_status = "manual", "reviewed"
                for m in ev.magnitudes:
                    m.evaluation_mode, m.evaluation_status = "manual", "reviewed"
                cat.append(ev)
                included.append(it)
                snaps.append(event_snapshot(ev))
            fingerprint = hashlib.sha256(json.dumps(snaps, sort_keys=True).encode()).hexdigest()
            config_hash = settings.config_hash("review", "location", "magnitude")
            newest = latest_version(s, key)
            unchanged = (newest is not None and newest.input_fingerprint == fingerprint
                         and newest.config_hash == config_hash)
            if unchanged:  # already published: a re-run adds no version and no audit rows
                prod, new = newest, False
                prod.runs = (prod.runs or 1) + 1
            else:
                prod, new = write_product(s, key, input_fingerprint=fingerprint, config_hash=config_hash,
                                          software_version=__version__,
                                          fill=lambda ss, p: {**store_catalog(ss, p, cat), "analyst": who,
                                                              "excluded": len(excluded)},
                                          force_new_version=True)
                fault_point("publish.rows_stored")  # REB rows flushed, items not marked yet
                for it in included:
                    it.published_version = prod.version
                    _log(s, it, "publish", who, {"product": "REB", "day": str(d0.date), "version": prod.version,
                                                 "included": True})
                for x in excluded:
                    _log(s, _item(s, x["id"], lock=False), "publish", who,
                         {"product": "REB", "day": str(d0.date), "version": prod.version, "included": False,
                          "reasons": x["reasons"]})
                fault_point("publish.items_marked")
            version = prod.version
            record_run(s, prod, new, len(cat), started, time.perf_counter() - tick, runner, run_id)
            out = settings.products_dir / "REB" / f"REB_{d0.strftime('%Y%m%d')}_v{version}.xml"
            if not (unchanged and out.exists()):
                write_quakeml(cat, stage.path(out), idc_extra=False)
                fault_point("publish.file_staged")
        fault_point("publish.committed")  # the version is stored, its file not renamed into place yet
    return {"product": "REB", "day": str(d0.date), "start": str(d0), "end": str(d0 + DAY_S),
            "version": version, "events": len(cat), "unchanged": unchanged,
            "items": [it.id for it in included], "excluded": excluded, "file": str(out)}


def load_reb(settings: Settings, day, version: int | None = None, product: str = "REB"):
    """A stored REB (or SEB/SSEB) version of a day as ``(Catalog, version)``; newest by default."""
    from pipeline.store.catalog import load_catalog
    from pipeline.store.db import session_scope
    from pipeline.store.products import ProductKey, select_version

    d0 = utc_day(day)
    key = ProductKey(product, float(d0.timestamp), float(d0.timestamp) + DAY_S)
    with session_scope(_url(settings)) as s:
        p = select_version(s, key, version, label=f"{product} {d0.date}",
                           missing=f"no {product} for {d0.date} (run `idc review publish --day {d0.date}`)")
        return load_catalog(s, p), p.version
