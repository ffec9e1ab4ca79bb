"""The automatic chain after station processing: picks → association → location → magnitudes →
obspy ``Catalog`` (what SEL1/SEL2/SEL3 hold), and relocation of existing bulletins.

Used by ``idc associate``, ``idc locate``, ``idc process`` and the DAGs through
:mod:`pipeline.tasks`; nothing here reads files or the clock.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from obspy import UTCDateTime
from obspy.core.event import (
    Catalog,
    Comment,
    CreationInfo,
    Event,
    EventDescription,
    Magnitude,
    QuantityError,
    ResourceIdentifier,
    StationMagnitude,
    StationMagnitudeContribution,
    WaveformStreamID,
)

from pipeline.association.associator import Hypothesis, associate, distance_deg
from pipeline.association.config import AssociatorConfig
from pipeline.association.fused import FusedModels
from pipeline.io.common import body_amp_rank, region_name
from pipeline.location import LocatorConfig, arrivals_from_event, locate, to_obspy_origin
from pipeline.magnitude import MagnitudeConfig, compute_magnitudes

AGENCY = "IDC"
AUTHOR = "idc-pipeline"


@dataclass(frozen=True)
class ChainConfig:
    association: AssociatorConfig = AssociatorConfig()
    location: LocatorConfig = LocatorConfig()
    magnitude: MagnitudeConfig = MagnitudeConfig()
    #: infrasound celerity windows and hydroacoustic water-path model (``[infrasound]``,
    #: ``[hydroacoustic]``): the associator gathers those detections with them, the locator
    #: takes the water-path speed
    fused: FusedModels = FusedModels()

    @property
    def water_speed_km_s(self) -> float:
        return float(self.fused.hydroacoustic.sound_speed_km_s)


@dataclass
class ChainResult:
    catalog: Catalog
    unassociated: pd.DataFrame
    not_located: list[str] = field(default_factory=list)
    #: one line on the grid the associator chose (family, nodes, spacing, phases)
    grid: str = ""
    #: events dissolved as another event's later phases and coda (see :func:`coda_events`)
    coda_dissolved: int = 0

    def summary(self) -> dict:
        return {"events": len(self.catalog), "unassociated_picks": int(len(self.unassociated)),
                "not_located": len(self.not_located), "coda_dissolved": self.coda_dissolved}


def _locate_fn(tt, cfg: LocatorConfig, water_speed_km_s: float = FusedModels().hydroacoustic.sound_speed_km_s):
    """Adapter: association hypothesis → locator → refined hypothesis (None when it fails)."""

    def fn(hyp: Hypothesis, stations: pd.DataFrame):
        arr = _arrivals(hyp)
        res = locate(arr, stations, tt, cfg, start=(hyp.latitude, hyp.longitude, hyp.depth_km, hyp.time),
                     water_speed_km_s=water_speed_km_s)
        if not res.converged or not math.isfinite(res.latitude):
            return None
        # the location is kept with the hypothesis: the bulletin reuses it when the
        # associator ends with the same arrivals (no second location of the same data)
        return Hypothesis(time=float(UTCDateTime(res.time).timestamp), latitude=res.latitude,
                          longitude=res.longitude, depth_km=res.depth_km, picks=hyp.picks, score=hyp.score,
                          located=True, extra={"location": res})

    return fn


def _arrivals(hyp: Hypothesis) -> pd.DataFrame:
    arr = hyp.picks.copy()
    arr["phase"] = arr["assoc_phase"]
    return arr


def _magnitudes(ev: Event, origin, arrivals: pd.DataFrame, res, cfg: MagnitudeConfig) -> None:
    """Station and network magnitudes from the arrivals' amplitudes into ``ev``."""
    if not len(arrivals):
        return
    amp_cols = [c for c in ("amplitude", "amp_wa") if c in arrivals.columns]
    if not amp_cols or not np.isfinite(arrivals[amp_cols].to_numpy(dtype=float)).any():
        return  # no amplitude measured (e.g. a pick file without amplitudes): no magnitude
    a = arrivals.copy()
    # the locator's residual table is indexed like its input arrivals
    a["distance_deg"] = res.arrivals["distance_deg"].reindex(a.index).to_numpy()
    a["distance_km"] = a["distance_deg"] * 111.19492664455873
    stamags, nets = compute_magnitudes(a, res.depth_km, cfg)
    if stamags is None or not len(stamags):
        return
    amp_ids = {str(x.resource_id): x for x in ev.amplitudes}
    for magtype, net in nets.items():
        if not math.isfinite(net.value):
            continue
        mag = Magnitude(mag=round(float(net.value), 3), magnitude_type=magtype, origin_id=origin.resource_id,
                        station_count=int(net.n_used), method_id=ResourceIdentifier(f"smi:local/magnitude/{net.method}"),
                        evaluation_mode="automatic", creation_info=CreationInfo(agency_id=AGENCY, author=AUTHOR))
        if math.isfinite(net.uncertainty):
            mag.mag_errors = QuantityError(uncertainty=float(net.uncertainty))
        rows = stamags[(stamags["magtype"] == magtype) & stamags["value"].notna()]
        for r in rows.itertuples():
            # the ids pipeline.detection.products.picks_to_obspy gives the pick's amplitudes
            amp_type = "A5_2" if magtype.lower() == "mb" else ("AML" if magtype.upper() == "ML" else "AMs")
            amp_id = f"smi:local/amplitude/{r.pick_id}/{amp_type}"
            sm = StationMagnitude(mag=round(float(r.value), 3), station_magnitude_type=magtype,
                                  origin_id=origin.resource_id,
                                  waveform_id=WaveformStreamID(r.network or None, r.station, None, r.channel or None),
                                  creation_info=CreationInfo(agency_id=AGENCY, author=AUTHOR))
            if amp_id in amp_ids:
                sm.amplitude_id = ResourceIdentifier(amp_id)
            ev.station_magnitudes.append(sm)
            mag.station_magnitude_contributions.append(StationMagnitudeContribution(
                station_magnitude_id=sm.resource_id,
                residual=None if not np.isfinite(r.residual) else float(r.residual),
                weight=1.0 if bool(r.used) else 0.0))
        ev.magnitudes.append(mag)
    if ev.magnitudes:
        order = {t.lower(): i for i, t in enumerate(("mb", "Ms", "ML"))}
        best = min(ev.magnitudes, key=lambda m: order.get(m.magnitude_type.lower(), 9))
        ev.preferred_magnitude_id = best.resource_id


def next_event_times(events: list[pd.DataFrame]) -> list[np.ndarray]:
    """For each event's arrivals (DataFrames with ``station``, optional ``network``, and
    ``time`` epoch s): the first arrival at the same station of *another* event after this
    event's own first arrival there (epoch s, NaN where there is none), row by row.

    The magnitude stage rejects an ML reading whose Wood-Anderson maximum falls at or after
    that time: it belongs to the later event's waves (swarms, aftershocks)."""
    by_station: dict[tuple[str, str], list[tuple[float, int]]] = {}
    keys = []
    for e, arr in enumerate(events):
        net = arr["network"].fillna("").astype(str) if "network" in arr.columns else pd.Series("", index=arr.index)
        k = list(zip(net, arr["station"].astype(str)))
        keys.append(k)
        for key, t in zip(k, arr["time"].to_numpy(dtype=float)):
            by_station.setdefault(key, []).append((t, e))
    for lst in by_station.values():
        lst.sort()
    out = []
    for e, arr in enumerate(events):
        times = arr["time"].to_numpy(dtype=float)
        first: dict[tuple[str, str], float] = {}
        for key, t in zip(keys[e], times):
            first[key] = min(t, first.get(key, np.inf))
        nxt: dict[tuple[str, str], float] = {}
        for key, t0 in first.items():
            nxt[key] = next((t for t, other in by_station[key] if other != e and t > t0), np.nan)
        out.append(np.array([nxt[key] for key in keys[e]], dtype=float))
    return out


def events_from_picks(picks: pd.DataFrame, stations: pd.DataFrame, tt, config: ChainConfig = ChainConfig(),
                      product: str = "SEL3", progress=None, progress_events=None) -> ChainResult:
    """Associate, locate and measure magnitudes; returns obspy events (automatic).

    :param progress: optional ``progress(done_s, total_s, events)`` called by the associator
        after each processing window (see :func:`pipeline.association.associator.associate`)
    :param progress_events: optional ``progress_events(done, total)`` called after each event
        is located and measured
    """
    from pipeline.association.associator import Associator

    assoc = Associator(stations, tt, config.association,
                       locate=_locate_fn(tt, config.location, config.water_speed_km_s), fused=config.fused)
    hyps, rest = assoc.run(picks, progress=progress)
    grid_line = assoc.grid.describe() if getattr(assoc, "grid", None) is not None else ""
    cat = Catalog(creation_info=CreationInfo(agency_id=AGENCY, author=AUTHOR, creation_time=UTCDateTime()))
    not_located: list[str] = []
    owner: list[int] = []  # hypothesis of each event of cat
    later = next_event_times([h.picks for h in hyps])
    global _BUILD
    _BUILD = (hyps, later, picks, stations, tt, config, product)
    try:
        workers = min(assoc.workers, max(1, len(hyps) // _EVENTS_PER_TASK))
        batches = [range(k, min(k + _EVENTS_PER_TASK, len(hyps))) for k in range(0, len(hyps), _EVENTS_PER_TASK)]
        if workers > 1:
            # events are independent: location, obspy objects and magnitudes in forked workers
            import multiprocessing as mp

            with mp.get_context("fork").Pool(workers) as pool:
                results = pool.imap(_build_batch, batches)
                done = 0
                for part in results:
                    for k, ev, msg in part:
                        _collect(cat, not_located, ev, msg, k, owner)
                    done += len(part)
                    if progress_events is not None:
                        progress_events(done, len(hyps))
        else:
            for batch in batches:
                for k, ev, msg in _build_batch(batch):
                    _collect(cat, not_located, ev, msg, k, owner)
                if progress_events is not None:
                    progress_events(batch.stop, len(hyps))
    finally:
        _BUILD = None
    gone = coda_events(cat, config.association)
    if gone:  # one signal, one event: the coda events' picks are unassociated again
        back = []
        for i in gone:
            idx = hyps[owner[i]].picks.index.to_numpy()
            back.append(picks.iloc[idx] if len(idx) and idx.min() >= 0 and idx.max() < len(picks)
                        else hyps[owner[i]].picks)
        keep = [ev for i, ev in enumerate(cat) if i not in set(gone)]
        cat.events = keep
        rest = pd.concat([rest, *[b[[c for c in rest.columns if c in b.columns]] for b in back]])
    return ChainResult(cat, rest, not_located, grid_line, coda_dissolved=len(gone))


#: events per task of the event-building workers
_EVENTS_PER_TASK = 50
#: (hypotheses, next event times, picks, stations, tables, config, product) of the running
#: events_from_picks, for its forked workers
_BUILD = None


def _collect(cat: Catalog, not_located: list, ev, msg, k: int, owner: list) -> None:
    if ev is not None:
        cat.append(ev)
        owner.append(k)
    if msg:
        not_located.append(msg)


def _build_batch(batch: range) -> list:
    hyps, later, picks, stations, tt, config, product = _BUILD
    return [(k, *_build_event(hyps[k], later[k], picks, stations, tt, config, product)) for k in batch]


def _magnitude(ev: Event) -> float | None:
    m = ev.preferred_magnitude() or (ev.magnitudes[0] if ev.magnitudes else None)
    return float(m.mag) if m is not None and m.mag is not None else None


def _station_times(arrivals: list[tuple[str, float]]) -> dict[str, tuple[float, float]]:
    """Station -> (first, last) arrival time, from :func:`_station_arrivals`."""
    out: dict[str, tuple[float, float]] = {}
    for sta, t in arrivals:
        lo, hi = out.get(sta, (t, t))
        out[sta] = (min(lo, t), max(hi, t))
    return out


def coda_events(cat: Catalog, cfg: AssociatorConfig) -> list[int]:
    """Positions of events made of another event's signal (``coda_*`` keys of the association
    configuration): at the stations they share, the other event's onset came first, and most of
    their arrivals fall between that onset and the end of the other event's signal. One signal at
    a station belongs to the event whose onset it is."""
    if cfg.coda_s_at_m3 <= 0 or len(cat) < 2:
        return []
    mags = [_magnitude(ev) for ev in cat]
    arrs = [_station_arrivals(ev) for ev in cat]
    spans = [_station_times(a) for a in arrs]
    order = sorted(range(len(cat)), key=lambda i: -(mags[i] if mags[i] is not None else -9))
    gone: set[int] = set()
    for a in order:
        if a in gone or mags[a] is None:
            continue
        coda = cfg.coda_s_at_m3 * 10 ** (0.5 * (mags[a] - 3.0))
        for b in range(len(cat)):
            if b == a or b in gone or not arrs[b]:
                continue
            if mags[b] is not None and mags[b] > mags[a] + cfg.coda_magnitude_gap:
                continue  # a clearly larger event is never taken for a smaller one's coda
            inside = 0
            for sta, t in arrs[b]:
                if sta in spans[a]:
                    first, last = spans[a][sta]
                    if first < spans[b][sta][0] and first <= t <= last + coda:
                        inside += 1
            if inside >= cfg.coda_fraction * len(arrs[b]):
                gone.add(b)
    return sorted(gone)


def _station_arrivals(ev: Event) -> list[tuple[str, float]]:
    picks = {str(p.resource_id): p for p in ev.picks}
    out = []
    for a in ev.preferred_origin().arrivals:
        pk = picks.get(str(a.pick_id))
        if pk is not None and pk.time is not None:
            out.append((pk.waveform_id.station_code, float(pk.time.timestamp)))
    return out


def _build_event(hyp: Hypothesis, later, picks, stations, tt, config: ChainConfig, product: str):
    """One hypothesis -> (obspy Event, None), or (None, why it could not be located)."""
    from pipeline.detection.products import picks_to_obspy

    arr = _arrivals(hyp)
    arr["next_event_time"] = later
    res = hyp.extra.get("location")
    if res is None or not np.array_equal(np.sort(res.arrivals.index.to_numpy()), np.sort(arr.index.to_numpy())):
        res = locate(arr, stations, tt, config.location,
                     start=(hyp.latitude, hyp.longitude, hyp.depth_km, hyp.time),
                     water_speed_km_s=config.water_speed_km_s)
    if not math.isfinite(res.latitude):
        return None, f"hypothesis at {UTCDateTime(hyp.time)}: {res.message}"
    ev = Event(event_type="earthquake", event_type_certainty="suspected",
               creation_info=CreationInfo(agency_id=AGENCY, author=AUTHOR))
    # the associator's pick rows are positions in the table it was given (it resets the index)
    idx = hyp.picks.index.to_numpy()
    rows = picks.iloc[idx] if len(idx) and idx.min() >= 0 and idx.max() < len(picks) else hyp.picks
    obs_picks, amps = picks_to_obspy(rows.assign(phase=hyp.picks["assoc_phase"].to_numpy()))
    _mark_technology(obs_picks, hyp.picks)
    ev.picks.extend(obs_picks)
    ev.amplitudes.extend(amps)
    # pick ids by the arrivals' index: a location kept from the associator lists the same
    # arrivals in the order it was given them, not necessarily in this table's order
    origin = to_obspy_origin(res, arr, stations, pick_ids=dict(zip(arr.index, arr["pick_id"])))
    origin.creation_info = CreationInfo(agency_id=AGENCY, author=AUTHOR)
    origin.comments.append(Comment(text=f"{product} association score {hyp.score:.1f}"))
    ev.origins.append(origin)
    ev.preferred_origin_id = origin.resource_id
    region = region_name(res.latitude, res.longitude)
    if region:
        ev.event_descriptions.append(EventDescription(text=region, type="Flinn-Engdahl region"))
    _magnitudes(ev, origin, arr, res, config.magnitude)
    return ev, None


def _mark_technology(obs_picks, hyp_picks: pd.DataFrame) -> None:
    """An infrasound or hydroacoustic pick carries its technology in the IDC ``extra`` namespace
    (QuakeML ``<idc:technology>``; seismic picks carry none: the default, so seismic bulletins are
    unchanged). Its phase (I, Iw, Is, It; H, T) tells it too (IMS1.0 and the store keep it)."""
    from pipeline.detection.products import NAMESPACE
    from pipeline.picks import technologies

    tech = dict(zip(hyp_picks["pick_id"].astype(str),
                    technologies(hyp_picks.assign(phase=hyp_picks["assoc_phase"]))))
    for pk in obs_picks:
        t = tech.get(str(pk.resource_id).rsplit("/", 1)[-1], "seismic")
        if t != "seismic":
            extra = dict(pk.get("extra") or {})
            extra["technology"] = {"value": t, "namespace": NAMESPACE}
            pk.extra = extra


def amplitude_columns(ev: Event, pick_ids) -> pd.DataFrame:
    """The magnitude stage's amplitude columns (``amplitude``, ``period``; ``amp_wa``,
    ``amp_wa_period``, ``amp_wa_time``; nm, s, epoch s) of the picks ``pick_ids`` from the
    event's ``Amplitude`` objects: Wood-Anderson amplitudes (type ``AML``) feed ML, the others
    (in the order of :data:`pipeline.io.common.BODY_AMP_TYPES`, IDC ``A5/2`` first) mb or Ms.
    An amplitude in another unit than metres is not used."""
    body: dict[str, object] = {}
    wa: dict[str, object] = {}
    for a in ev.amplitudes:
        if a.pick_id is None or a.generic_amplitude is None or (a.unit not in (None, "m")):
            continue
        pid = str(a.pick_id)
        if (a.type or "").upper() == "AML":
            wa.setdefault(pid, a)
        elif pid not in body or body_amp_rank(a) < body_amp_rank(body[pid]):
            body[pid] = a
    rows = []
    for p in pick_ids:
        b, w = body.get(p), wa.get(p)
        tw = w.time_window if w is not None else None
        rows.append({
            "amplitude": b.generic_amplitude * 1e9 if b is not None else np.nan,
            "period": b.period if b is not None and b.period else np.nan,
            "amp_wa": w.generic_amplitude * 1e9 if w is not None else np.nan,
            "amp_wa_period": w.period if w is not None and w.period else np.nan,
            "amp_wa_time": float(tw.reference.timestamp) if tw is not None and tw.reference is not None else np.nan,
        })
    cols = ["amplitude", "period", "amp_wa", "amp_wa_period", "amp_wa_time"]
    return pd.DataFrame(rows, columns=cols, index=pick_ids.index if hasattr(pick_ids, "index") else None)


@dataclass
class RelocationReport:
    catalog: Catalog
    missing_stations: list[str]
    failed: list[str]


def relocate_catalog(catalog: Catalog, stations: pd.DataFrame, tt, config: ChainConfig = ChainConfig(),
                     context=()) -> RelocationReport:
    """Relocate every event of ``catalog`` from its own arrivals; recompute station and network
    magnitudes from the amplitudes and periods it carries. The new origin becomes preferred; the
    original origin and magnitudes stay in the event (provenance).

    :param context: other events (not relocated) whose arrivals, like those of the catalog's
        other events, tell an ML reading in a later event's waves (:func:`next_event_times`).
    """
    out = Catalog(creation_info=CreationInfo(agency_id=AGENCY, author=AUTHOR, creation_time=UTCDateTime()))
    missing: set[str] = set()
    failed = []
    tables = []
    for ev in list(catalog) + list(context):
        orig = ev.preferred_origin() or (ev.origins[0] if ev.origins else None)
        tables.append(arrivals_from_event(ev, orig, defining_only=True) if orig is not None else pd.DataFrame())
    later = next_event_times([t if len(t) else pd.DataFrame({"station": [], "time": []}) for t in tables])
    for ev, arr, nxt in zip(catalog, tables, later):
        if not len(arr):
            failed.append(f"{ev.resource_id}: no arrivals")
            out.append(ev)
            continue
        arr["next_event_time"] = nxt
        res = locate(arr, stations, tt, config.location, water_speed_km_s=config.water_speed_km_s)
        missing.update(res.missing_stations)
        if not math.isfinite(res.latitude):
            failed.append(f"{ev.resource_id}: {res.message}")
            out.append(ev)
            continue
        new = to_obspy_origin(res, arr, stations, pick_ids=list(arr["pick_id"]) if "pick_id" in arr else None)
        new.creation_info = CreationInfo(agency_id=AGENCY, author=AUTHOR)
        ev.origins.append(new)
        ev.preferred_origin_id = new.resource_id
        # recompute magnitudes from the amplitudes on the picks
        arr = pd.concat([arr.copy(), amplitude_columns(ev, arr["pick_id"])], axis=1)
        old_mags = list(ev.magnitudes)
        old_stamags = list(ev.station_magnitudes)
        ev.magnitudes, ev.station_magnitudes = [], []
        _magnitudes(ev, new, arr, res, config.magnitude)
        ev.magnitudes.extend(old_mags)
        ev.station_magnitudes.extend(old_stamags)
        out.append(ev)
    return RelocationReport(out, sorted(missing), failed)


def station_distances(lat: float, lon: float, stations: pd.DataFrame) -> np.ndarray:
    return distance_deg(lat, lon, stations["latitude"].to_numpy(), stations["longitude"].to_numpy())
