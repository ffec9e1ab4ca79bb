"""SEB event characterisation and SSEB screening criteria (pure functions on obspy events).

Characterisation parameters (Treaty Annex 2: location, depth, ratio of surface-wave to body-wave
magnitude, ... [TREATY]; the GSE2.1 event-characterisation block carries mb−Ms and an offshore
flag [GSE21 p.98]): network mb and Ms (with uncertainties and station counts), depth with the
half-width of its 90 % confidence interval (CSS3.0 ``origerr.sdepth`` at ``conf`` = 0.9
[NNSA-KB]; none when the depth was fixed), distance to the coast and at-sea flag (bundled Natural
Earth coastline, :mod:`pipeline.geo.coast`), and the hydroacoustic energy measure when
hydroacoustic arrivals are associated.

Each criterion yields ``screened_out``, ``not_screened_out`` or ``not_applicable`` with the value
tested, the threshold, a reason and the criterion's source; an event is screened out when any
applicable criterion screens it out. The criteria's values are configuration
(:class:`~pipeline.screening.config.ScreeningConfig`); see there for which are sourced.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from obspy.core.event import Event
from scipy.stats import norm

from pipeline.screening.config import ScreeningConfig

SCREENED_OUT = "screened_out"
NOT_SCREENED_OUT = "not_screened_out"
NOT_APPLICABLE = "not_applicable"
#: obspy magnitude types counted as body-wave mb and surface-wave Ms (REFERENCE.md §1.1, §1.3, §1.5)
MB_TYPES = ("mb", "mb_idc", "mbmle")
MS_TYPES = ("ms", "ms_20", "msmle", "ms_bb", "ms(20)")


@dataclass(frozen=True)
class Characterization:
    """SEB parameters of one event (km, deg; None = not available)."""

    public_id: str
    origin_time: float
    latitude: float
    longitude: float
    mb: float | None
    mb_uncertainty: float | None
    mb_nsta: int | None
    ms: float | None
    ms_uncertainty: float | None
    ms_nsta: int | None
    depth_km: float
    depth_conf90_km: float | None
    depth_fixed: bool
    defining_stations: int
    distance_to_coast_km: float | None
    at_sea: bool | None
    hydro_energy: float | None
    hydro_nsta: int

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class CriterionResult:
    criterion: str
    applicable: bool
    outcome: str
    value: float | None = None
    uncertainty: float | None = None
    threshold: float | None = None
    reason: str = ""
    source: str = ""

    def as_dict(self) -> dict:
        return asdict(self)


def _magnitude(event: Event, origin, types) -> tuple[float | None, float | None, int | None]:
    mags = [m for m in event.magnitudes if m.mag is not None and m.magnitude_type
            and m.magnitude_type != "mB" and m.magnitude_type.lower() in types]
    own = [m for m in mags if m.origin_id is None or str(m.origin_id) == str(origin.resource_id)]
    pref = event.preferred_magnitude()
    pick = next((m for m in own if pref is not None and m.resource_id == pref.resource_id), None) \
        or (own[0] if own else (mags[0] if mags else None))
    if pick is None:
        return None, None, None
    unc = pick.mag_errors.uncertainty if pick.mag_errors and pick.mag_errors.uncertainty is not None else None
    return float(pick.mag), (None if unc is None else float(unc)), pick.station_count


def characterize(event: Event, config: ScreeningConfig = ScreeningConfig()) -> Characterization:
    """The SEB parameters of ``event`` (its preferred origin)."""
    from pipeline.geo.coast import distance_to_coast_km, is_at_sea

    o = event.preferred_origin() or (event.origins[0] if event.origins else None)
    if o is None or o.latitude is None or o.longitude is None:
        raise ValueError(f"event {event.resource_id}: no origin with an epicentre to characterise")
    mb, mb_u, mb_n = _magnitude(event, o, MB_TYPES)
    ms, ms_u, ms_n = _magnitude(event, o, MS_TYPES)
    depth = (o.depth or 0.0) / 1000.0
    de = o.depth_errors
    conf90 = None
    fixed = (o.depth_type == "operator assigned")
    if not fixed and de is not None and de.uncertainty is not None and de.uncertainty > 0:
        conf90 = de.uncertainty / 1000.0
        if de.confidence_level and abs(de.confidence_level - 90.0) > 1e-6:
            # rescale a half-width given at another confidence level (normal errors assumed)
            conf90 *= norm.ppf(0.95) / norm.ppf(0.5 + de.confidence_level / 200.0)
    picks = {str(p.resource_id): p for p in event.picks}
    hydro_phases = {p.upper() for p in config.hydroacoustic.phases}
    hydro_sta, energies, t_sta = set(), [], set()
    amps = {}
    for a in event.amplitudes:
        if a.pick_id is not None and a.snr is not None:
            amps.setdefault(str(a.pick_id), []).append(float(a.snr))
    for a in o.arrivals:
        pk = picks.get(str(a.pick_id))
        sta = pk.waveform_id.station_code if pk is not None and pk.waveform_id else None
        if (a.time_weight or 0) > 0 and sta:
            t_sta.add(sta)
        extra = (pk.get("extra") or {}) if pk is not None else {}
        tech = (extra.get("technology") or {}).get("value", "")
        if (a.phase or (pk.phase_hint if pk else "") or "").upper() in hydro_phases or tech == "hydroacoustic":
            hydro_sta.add(sta)
            # the amplitudes' SNR, else the detection's own (an H/T detection has no mb amplitude:
            # pick.extra snr of the chain's picks)
            snr = amps.get(str(a.pick_id), [])
            if not snr and "snr" in extra:
                try:
                    snr = [float(extra["snr"]["value"])]
                except (TypeError, ValueError, KeyError):
                    snr = []
            energies += snr
    res = config.coast_resolution
    return Characterization(
        public_id=str(event.resource_id), origin_time=float(o.time.timestamp), latitude=float(o.latitude),
        longitude=float(o.longitude), mb=mb, mb_uncertainty=mb_u, mb_nsta=mb_n, ms=ms, ms_uncertainty=ms_u,
        ms_nsta=ms_n, depth_km=depth, depth_conf90_km=conf90, depth_fixed=conf90 is None,
        defining_stations=len(t_sta),
        distance_to_coast_km=float(distance_to_coast_km(o.latitude, o.longitude, res)),
        at_sea=bool(is_at_sea(o.latitude, o.longitude, res)),
        hydro_energy=max(energies) if energies else None, hydro_nsta=len(hydro_sta))


# --------------------------------------------------------------------------- criteria
def ms_mb(c: Characterization, config: ScreeningConfig) -> CriterionResult:
    cfg = config.ms_mb
    src = cfg.source
    if not cfg.enabled:
        return CriterionResult("ms_mb", False, NOT_APPLICABLE, reason="disabled (screening.ms_mb.enabled)", source=src)
    if c.mb is None or c.ms is None:
        miss = " and ".join(x for x, v in (("mb", c.mb), ("Ms", c.ms)) if v is None)
        return CriterionResult("ms_mb", False, NOT_APPLICABLE, reason=f"no {miss}", source=src)
    few = [f"{t} from {n} station(s)" for t, n in (("mb", c.mb_nsta), ("Ms", c.ms_nsta))
           if n is not None and n < cfg.min_stations]
    if few:
        return CriterionResult("ms_mb", False, NOT_APPLICABLE, reason=f"{', '.join(few)} < screening.ms_mb."
                               f"min_stations = {cfg.min_stations}", source=src)
    s_mb = c.mb_uncertainty if c.mb_uncertainty is not None else cfg.default_magnitude_uncertainty
    s_ms = c.ms_uncertainty if c.ms_uncertainty is not None else cfg.default_magnitude_uncertainty
    sigma = math.hypot(s_ms, cfg.slope * s_mb)
    line = cfg.slope * c.mb + cfg.intercept
    value = c.ms - line
    z = float(norm.ppf(cfg.confidence))
    thr = z * sigma
    out = SCREENED_OUT if value > thr else NOT_SCREENED_OUT
    reason = (f"Ms {c.ms:.2f} is {value:+.2f} from the line Ms = {cfg.slope:g}·mb {cfg.intercept:+g} "
              f"(= {line:.2f} at mb {c.mb:.2f}); {'>' if value > thr else '<='} {z:.3f}σ = {thr:.2f} "
              f"(σ = {sigma:.2f}, one-sided {cfg.confidence:.0%})")
    return CriterionResult("ms_mb", True, out, round(value, 4), round(sigma, 4), round(thr, 4), reason, src)


def depth(c: Characterization, config: ScreeningConfig) -> CriterionResult:
    cfg = config.depth
    src = cfg.source
    if not cfg.enabled:
        return CriterionResult("depth", False, NOT_APPLICABLE, reason="disabled (screening.depth.enabled)", source=src)
    if c.depth_fixed or c.depth_conf90_km is None:
        return CriterionResult("depth", False, NOT_APPLICABLE, value=c.depth_km,
                               reason="depth fixed (no 90 % confidence interval)", source=src)
    if c.defining_stations < cfg.min_defining_stations:
        return CriterionResult("depth", False, NOT_APPLICABLE, value=c.depth_km,
                               reason=f"{c.defining_stations} time-defining stations < screening.depth."
                                      f"min_defining_stations = {cfg.min_defining_stations}", source=src)
    lower = c.depth_km - c.depth_conf90_km
    out = SCREENED_OUT if lower > cfg.min_depth_km else NOT_SCREENED_OUT
    reason = (f"depth {c.depth_km:.1f} ± {c.depth_conf90_km:.1f} km (90 %): shallowest {lower:.1f} km "
              f"{'>' if out == SCREENED_OUT else '<='} {cfg.min_depth_km:g} km")
    return CriterionResult("depth", True, out, round(lower, 4), round(c.depth_conf90_km, 4), cfg.min_depth_km,
                           reason, src)


def hydroacoustic(c: Characterization, config: ScreeningConfig) -> CriterionResult:
    cfg = config.hydroacoustic
    src = cfg.source
    if not cfg.enabled:
        return CriterionResult("hydroacoustic", False, NOT_APPLICABLE,
                               reason="disabled (screening.hydroacoustic.enabled)", source=src)
    if not c.at_sea:
        return CriterionResult("hydroacoustic", False, NOT_APPLICABLE,
                               reason=f"on land ({c.distance_to_coast_km:.0f} km from the coast)", source=src)
    if c.distance_to_coast_km is not None and c.distance_to_coast_km < cfg.min_offshore_km:
        return CriterionResult("hydroacoustic", False, NOT_APPLICABLE,
                               reason=f"at sea but {c.distance_to_coast_km:.1f} km from the coast < "
                                      f"screening.hydroacoustic.min_offshore_km = {cfg.min_offshore_km:g}",
                               source=src)
    if c.hydro_nsta < cfg.min_stations or c.hydro_energy is None:
        return CriterionResult("hydroacoustic", False, NOT_APPLICABLE,
                               reason=f"hydroacoustic observations at {c.hydro_nsta} station(s)"
                                      + ("" if c.hydro_nsta < cfg.min_stations else " without an energy measure")
                                      + f" (need {cfg.min_stations})", source=src)
    out = SCREENED_OUT if c.hydro_energy < cfg.max_energy else NOT_SCREENED_OUT
    reason = (f"at sea {c.distance_to_coast_km:.0f} km from the coast; hydroacoustic energy (SNR) "
              f"{c.hydro_energy:.1f} at {c.hydro_nsta} station(s) "
              f"{'<' if out == SCREENED_OUT else '>='} {cfg.max_energy:g}")
    return CriterionResult("hydroacoustic", True, out, round(c.hydro_energy, 4), None, cfg.max_energy, reason, src)


CRITERIA = (ms_mb, depth, hydroacoustic)


def screen_event(c: Characterization, config: ScreeningConfig = ScreeningConfig()) -> tuple[str, list[CriterionResult]]:
    """Every criterion for one event plus the overall outcome (last element, ``overall``)."""
    results = [f(c, config) for f in CRITERIA]
    out_by = [r.criterion for r in results if r.outcome == SCREENED_OUT]
    applied = [r.criterion for r in results if r.applicable]
    if out_by:
        overall, reason = SCREENED_OUT, f"screened out by {', '.join(out_by)}"
    elif applied:
        overall, reason = NOT_SCREENED_OUT, f"not screened out by {', '.join(applied)}"
    else:
        overall, reason = NOT_SCREENED_OUT, "no criterion applicable"
    results.append(CriterionResult("overall", bool(applied), overall, reason=reason, source="any criterion"))
    return overall, results
