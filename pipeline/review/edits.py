"""Analyst edits of one obspy ``Event`` (pure functions; the store side is :mod:`pipeline.review.queue`).

Arrivals are referred to by a *reference*: the full pick resource id, its last path segment (the
arrival id printed by ``idc review show``), ``STA`` when the station has a single arrival, or
``STA:PHASE``. Defining flags follow IMS1.0 (``T``/``A``/``S``, REFERENCE.md §2.4 [GSE21 p.96]) and
are kept as obspy weights (1 = defining, 0 = not).
"""
from __future__ import annotations

import copy
import io
import math

from obspy import Catalog, UTCDateTime, read_events
from obspy.core.event import (
    Amplitude,
    Arrival,
    CreationInfo,
    Event,
    Pick,
    QuantityError,
    ResourceIdentifier,
    WaveformStreamID,
)

from pipeline.errors import BAD_VALUE, IdcError
from pipeline.io.quakeml import quakeml_bytes


class ReviewError(IdcError, ValueError):
    """A review action cannot be done; the message says why (and what to do)."""


# --------------------------------------------------------------------------- (de)serialisation
def event_to_xml(event: Event) -> str:
    return quakeml_bytes(Catalog(events=[event]), idc_extra=False).decode("utf-8")


def event_from_xml(text: str) -> Event:
    cat = read_events(io.BytesIO(text.encode("utf-8")), format="QUAKEML")
    if len(cat) != 1:
        raise ReviewError(f"stored working copy holds {len(cat)} events, expected 1")
    return cat[0]


def preferred_origin(event: Event):
    o = event.preferred_origin() or (event.origins[0] if event.origins else None)
    if o is None:
        raise ReviewError(f"event {event.resource_id} has no origin")
    return o


def short_id(rid) -> str:
    return str(rid).rstrip("/").rsplit("/", 1)[-1]


def _r(x, n=3):
    return None if x is None or (isinstance(x, float) and not math.isfinite(x)) else round(float(x), n)


def defining_code(a: Arrival) -> str:
    return "".join(c if (w or 0) > 0 else "_" for c, w in
                   (("T", a.time_weight), ("A", a.backazimuth_weight), ("S", a.horizontal_slowness_weight)))


# --------------------------------------------------------------------------- snapshots
def event_snapshot(event: Event) -> dict:
    """JSON-able summary of the event for the audit trail and ``show``: preferred origin (time,
    epicentre, depth and its type, 90 % ellipse, rms, counts), its network magnitudes and every
    associated arrival (id, station, phase, time, residuals, defining flags)."""
    o = preferred_origin(event)
    picks = {str(p.resource_id): p for p in event.picks}
    arrivals = []
    for a in o.arrivals:
        pk = picks.get(str(a.pick_id))
        arrivals.append({
            "id": short_id(a.pick_id), "pick_id": str(a.pick_id),
            "station": pk.waveform_id.station_code if pk is not None and pk.waveform_id else None,
            "phase": a.phase or (pk.phase_hint if pk else None),
            "time": str(pk.time) if pk is not None else None,
            "distance_deg": _r(a.distance), "time_residual_s": _r(a.time_residual),
            "azimuth_residual_deg": _r(a.backazimuth_residual),
            "slowness_residual_s_deg": _r(a.horizontal_slowness_residual), "defining": defining_code(a)})
    ou = o.origin_uncertainty
    q = o.quality
    mags = [{"type": m.magnitude_type, "value": _r(m.mag, 2), "nsta": m.station_count,
             "uncertainty": _r(m.mag_errors.uncertainty, 2) if m.mag_errors else None}
            for m in event.magnitudes if m.origin_id is None or str(m.origin_id) == str(o.resource_id)]
    return {
        "event": str(event.resource_id), "origin_id": str(o.resource_id),
        "origin": {"time": str(o.time), "latitude": _r(o.latitude, 4), "longitude": _r(o.longitude, 4),
                   "depth_km": _r((o.depth or 0.0) / 1000.0, 2), "depth_type": o.depth_type,
                   "depth_uncertainty_km": _r(o.depth_errors.uncertainty / 1000.0, 2)
                   if o.depth_errors and o.depth_errors.uncertainty is not None else None,
                   "semi_major_km": _r(ou.max_horizontal_uncertainty / 1000.0, 1)
                   if ou and ou.max_horizontal_uncertainty is not None else None,
                   "semi_minor_km": _r(ou.min_horizontal_uncertainty / 1000.0, 1)
                   if ou and ou.min_horizontal_uncertainty is not None else None,
                   "strike_deg": _r(ou.azimuth_max_horizontal_uncertainty, 0) if ou else None,
                   "rms_s": _r(q.standard_error) if q else None,
                   "ndef": q.used_phase_count if q else None, "nsta": q.used_station_count if q else None,
                   "gap_deg": _r(q.azimuthal_gap, 0) if q else None},
        "magnitudes": mags, "arrivals": arrivals}


# --------------------------------------------------------------------------- arrivals
def find_arrival(event: Event, ref: str) -> Arrival:
    """The preferred origin's arrival named by ``ref`` (see the module docstring)."""
    o = preferred_origin(event)
    picks = {str(p.resource_id): p for p in event.picks}
    ref = str(ref).strip()
    exact = [a for a in o.arrivals if str(a.pick_id) == ref]
    if exact:
        return exact[0]
    by_id = [a for a in o.arrivals if short_id(a.pick_id) == ref]
    if len(by_id) == 1:
        return by_id[0]
    sta, _, phase = ref.partition(":")

    def sta_of(a):
        pk = picks.get(str(a.pick_id))
        return pk.waveform_id.station_code if pk is not None and pk.waveform_id else ""

    cand = [a for a in o.arrivals if sta_of(a).upper() == sta.upper()
            and (not phase or (a.phase or "").upper() == phase.upper())]
    if len(cand) == 1:
        return cand[0]
    known = ", ".join(f"{short_id(a.pick_id)} ({sta_of(a)} {a.phase})" for a in o.arrivals)
    if len(cand) > 1 or len(by_id) > 1:
        raise ReviewError(f"arrival {ref!r} is ambiguous; use its id (one of: {known})")
    raise ReviewError(f"no arrival {ref!r} in event {event.resource_id} (arrivals: {known or 'none'})")


def remove_arrival(event: Event, ref: str) -> dict:
    """Disassociate an arrival: its arrival, pick, amplitudes and station magnitudes leave the event."""
    a = find_arrival(event, ref)
    o = preferred_origin(event)
    pid = str(a.pick_id)
    o.arrivals = [x for x in o.arrivals if x is not a]
    event.picks = [p for p in event.picks if str(p.resource_id) != pid]
    gone_amps = {str(x.resource_id) for x in event.amplitudes if str(x.pick_id) == pid}
    event.amplitudes = [x for x in event.amplitudes if str(x.resource_id) not in gone_amps]
    gone_sm = {str(s.resource_id) for s in event.station_magnitudes if str(s.amplitude_id) in gone_amps}
    event.station_magnitudes = [s for s in event.station_magnitudes if str(s.resource_id) not in gone_sm]
    for m in event.magnitudes:
        m.station_magnitude_contributions = [c for c in m.station_magnitude_contributions
                                             if str(c.station_magnitude_id) not in gone_sm]
    return {"removed": short_id(pid), "pick_id": pid, "phase": a.phase}


def rename_arrival(event: Event, ref: str, phase: str) -> dict:
    if not phase or len(phase) > 8 or not phase.replace("*", "").isalnum():
        raise ReviewError(f"phase name {phase!r}: expected 1-8 letters/digits (e.g. P, Pn, S, Lg)")
    a = find_arrival(event, ref)
    old = a.phase
    a.phase = phase
    for p in event.picks:
        if str(p.resource_id) == str(a.pick_id):
            p.phase_hint = phase
    return {"arrival": short_id(a.pick_id), "phase": [old, phase]}


def set_defining(event: Event, ref: str, flags: str) -> dict:
    """``flags``: any of ``T``, ``A``, ``S`` (``-`` or empty = none defining)."""
    f = (flags or "").upper().replace("_", "").replace("-", "")
    if set(f) - set("TAS"):
        raise ReviewError(f"defining flags {flags!r}: use any of T (time), A (azimuth), S (slowness) or -")
    a = find_arrival(event, ref)
    old = defining_code(a)
    a.time_weight = 1.0 if "T" in f else 0.0
    a.backazimuth_weight = 1.0 if "A" in f else 0.0
    a.horizontal_slowness_weight = 1.0 if "S" in f else 0.0
    return {"arrival": short_id(a.pick_id), "defining": [old, defining_code(a)]}


def add_arrival(event: Event, spec: dict, pick_id: str) -> dict:
    """Associate a new arrival. ``spec``: ``station``, ``phase``, ``time`` (ISO 8601) and optional
    ``network``, ``channel``, ``backazimuth`` (deg), ``slowness`` (s/deg), ``amplitude_nm``,
    ``period_s``, ``snr``, ``time_uncertainty`` (s), ``defining`` (default ``"T"``)."""
    missing = [k for k in ("station", "phase", "time") if not spec.get(k)]
    if missing:
        raise ReviewError(f"new arrival: missing {', '.join(missing)} (need station, phase, time)")
    try:
        t = UTCDateTime(spec["time"])
    except BAD_VALUE:
        raise ReviewError(f"new arrival: time {spec['time']!r} is not an ISO 8601 time") from None
    o = preferred_origin(event)

    def num(key):
        v = spec.get(key)
        if v in (None, ""):
            return None
        try:
            return float(v)
        except (TypeError, ValueError):
            raise ReviewError(f"new arrival: {key} = {v!r} is not a number") from None

    wid = WaveformStreamID(spec.get("network") or None, spec["station"], None, spec.get("channel") or None)
    pk = Pick(resource_id=ResourceIdentifier(pick_id), time=t, waveform_id=wid, phase_hint=spec["phase"],
              backazimuth=num("backazimuth"), horizontal_slowness=num("slowness"), evaluation_mode="manual",
              creation_info=CreationInfo(agency_id="IDC", author=spec.get("analyst") or None))
    if num("time_uncertainty") is not None:
        pk.time_errors = QuantityError(uncertainty=num("time_uncertainty"))
    event.picks.append(pk)
    if num("amplitude_nm") is not None:
        event.amplitudes.append(Amplitude(generic_amplitude=num("amplitude_nm") * 1e-9, unit="m", type="A5/2",
                                          period=num("period_s"), snr=num("snr"), pick_id=pk.resource_id,
                                          waveform_id=wid, magnitude_hint="mb"))
    arr = Arrival(pick_id=pk.resource_id, phase=spec["phase"], time_weight=0.0, backazimuth_weight=0.0,
                  horizontal_slowness_weight=0.0)
    o.arrivals.append(arr)
    set_defining(event, pick_id, spec.get("defining", "T"))
    return {"added": short_id(pick_id), "station": spec["station"], "phase": spec["phase"], "time": str(t)}


def fix_depth(event: Event, depth_km: float) -> dict:
    if not (isinstance(depth_km, (int, float)) and math.isfinite(depth_km) and 0.0 <= depth_km <= 800.0):
        raise ReviewError(f"depth {depth_km!r} km: expected 0-800 km (LocSAT depth limits, REFERENCE.md §2.1)")
    o = preferred_origin(event)
    old = (o.depth or 0.0) / 1000.0
    o.depth = float(depth_km) * 1000.0
    o.depth_type = "operator assigned"
    o.depth_errors = QuantityError()
    return {"depth_km": [round(old, 3), float(depth_km)], "depth_type": "operator assigned"}


def merge_events(target: Event, other: Event) -> dict:
    """Move the arrivals (with picks, amplitudes) of ``other``'s preferred origin into ``target``'s."""
    o_t, o_o = preferred_origin(target), preferred_origin(other)
    have = {str(a.pick_id) for a in o_t.arrivals}
    picks = {str(p.resource_id): p for p in other.picks}
    moved = []
    for a in o_o.arrivals:
        pid = str(a.pick_id)
        if pid in have or pid not in picks:
            continue
        target.picks.append(copy.deepcopy(picks[pid]))
        target.amplitudes.extend(copy.deepcopy(x) for x in other.amplitudes if str(x.pick_id) == pid)
        b = copy.deepcopy(a)
        b.resource_id = ResourceIdentifier()
        b.distance = b.azimuth = b.time_residual = b.backazimuth_residual = None
        b.horizontal_slowness_residual = None
        o_t.arrivals.append(b)
        moved.append(short_id(pid))
    return {"moved_arrivals": moved}


def split_event(event: Event, refs: list[str]) -> tuple[Event, dict]:
    """Move the arrivals named by ``refs`` out of ``event`` into a new event (starting from a copy
    of the origin, to be relocated)."""
    if not refs:
        raise ReviewError("split: name at least one arrival to move to the new event")
    arrs = [find_arrival(event, r) for r in refs]
    pids = {str(a.pick_id) for a in arrs}
    o = preferred_origin(event)
    if len(pids) >= len(o.arrivals):
        raise ReviewError("split: at least one arrival must stay with the original event")
    new = Event(event_type=event.event_type, event_type_certainty=event.event_type_certainty,
                creation_info=CreationInfo(agency_id="IDC"))
    no = copy.deepcopy(o)
    no.resource_id = ResourceIdentifier()
    no.arrivals = [copy.deepcopy(a) for a in o.arrivals if str(a.pick_id) in pids]
    for a in no.arrivals:
        a.resource_id = ResourceIdentifier()
    no.origin_uncertainty = None
    new.origins.append(no)
    new.preferred_origin_id = no.resource_id
    new.picks = [copy.deepcopy(p) for p in event.picks if str(p.resource_id) in pids]
    new.amplitudes = [copy.deepcopy(x) for x in event.amplitudes if str(x.pick_id) in pids]
    for pid in sorted(pids):
        remove_arrival(event, pid)
    return new, {"moved_arrivals": sorted(short_id(p) for p in pids)}


# --------------------------------------------------------------------------- relocation
def relocate_event(event: Event, stations, tt, chain, fixed_depth_km: float | None = None,
                   context=()) -> tuple[Event, dict]:
    """Relocate from the defining arrivals and recompute magnitudes (:func:`pipeline.bulletin.build.
    relocate_catalog`); depth fixed at ``fixed_depth_km`` when given. Only the new origin and its
    magnitudes stay in the event (the previous ones are in the audit trail). ``context``: the
    neighbouring events (their arrivals mark ML readings in a later event's waves).

    :raises ReviewError: the locator could not locate the event (message from the locator).
    """
    from pipeline.bulletin.build import ChainConfig, relocate_catalog

    loc = chain.location
    if fixed_depth_km is not None:
        loc = loc.model_copy(update={"depth_mode": "fixed", "fixed_depth_km": float(fixed_depth_km)})
    cfg = ChainConfig(association=chain.association, location=loc, magnitude=chain.magnitude, fused=chain.fused)
    old = preferred_origin(event)
    ev = copy.deepcopy(event)
    rep = relocate_catalog(Catalog(events=[ev]), stations, tt, cfg, context=context)
    if rep.failed:
        raise ReviewError(f"relocation failed: {rep.failed[0].split(': ', 1)[-1]}"
                          + (f" (stations not in the station table: {', '.join(rep.missing_stations)})"
                             if rep.missing_stations else ""))
    out = rep.catalog[0]
    new = out.preferred_origin()
    if new is None or str(new.resource_id) == str(old.resource_id):
        raise ReviewError("relocation produced no new origin")
    if fixed_depth_km is not None:
        new.depth_type = "operator assigned"
    new.evaluation_mode = "manual"
    out.origins = [new]
    out.magnitudes = [m for m in out.magnitudes if str(m.origin_id) == str(new.resource_id)]
    out.station_magnitudes = [s for s in out.station_magnitudes if str(s.origin_id) == str(new.resource_id)]
    out.preferred_magnitude_id = out.magnitudes[0].resource_id if out.magnitudes else None
    return out, {"missing_stations": list(rep.missing_stations)}
