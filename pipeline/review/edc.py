"""Event Definition Criteria (EDC): may a reviewed event enter the REB?

Pure functions on obspy events; the thresholds are :class:`~pipeline.review.config.EventDefinitionCriteria`
(configuration: the IDC's REB EDC are not found, REFERENCE.md §5). The quantities follow
REFERENCE.md §2.4 [GSE21 p.91, NNSA-KB]: an arrival is time-, azimuth- or slowness-defining when
its obspy weight (``time_weight``, ``backazimuth_weight``, ``horizontal_slowness_weight``) is > 0
(CSS3.0 ``assoc.timedef/azdef/slodef = "d"``); Nsta counts stations with a time-defining arrival;
the gap is the largest azimuthal gap between event-to-station azimuths of those stations.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from obspy.core.event import Event

from pipeline.review.config import EventDefinitionCriteria


@dataclass(frozen=True)
class EdcResult:
    """Outcome of the EDC for one event: ``passed`` and, when not, one reason per failed test."""

    passed: bool
    reasons: tuple[str, ...]
    values: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {"passed": self.passed, "reasons": list(self.reasons), "values": dict(self.values)}

    def __str__(self) -> str:
        return "meets the Event Definition Criteria" if self.passed else "; ".join(self.reasons)


def _w(x) -> bool:
    return x is not None and x > 0


def _gap(azimuths: list[float]) -> float | None:
    if not azimuths:
        return None
    a = sorted(x % 360.0 for x in azimuths)
    return float(max([b - c for c, b in zip(a, a[1:])] + [a[0] + 360.0 - a[-1]]))


def edc_values(event: Event) -> dict:
    """The quantities the EDC test, from the event's preferred origin (None when absent)."""
    o = event.preferred_origin() or (event.origins[0] if event.origins else None)
    if o is None:
        return {"origin": False}
    picks = {str(p.resource_id): p for p in event.picks}
    t_sta: dict[str, float | None] = {}
    n_t = n_data = 0
    for a in o.arrivals:
        pk = picks.get(str(a.pick_id))
        sta = (pk.waveform_id.station_code if pk is not None and pk.waveform_id else None) or "?"
        if _w(a.time_weight):
            n_t += 1
            if sta not in t_sta or t_sta[sta] is None:
                t_sta[sta] = a.azimuth
        n_data += _w(a.time_weight) + _w(a.backazimuth_weight) + _w(a.horizontal_slowness_weight)
    ou = o.origin_uncertainty
    smaj = (ou.max_horizontal_uncertainty / 1000.0 if ou is not None and ou.max_horizontal_uncertainty is not None
            else None)
    azs = [x for x in t_sta.values() if x is not None]
    gap = _gap(azs) if len(azs) == len(t_sta) and azs else (o.quality.azimuthal_gap if o.quality else None)
    return {"origin": True, "time_defining": n_t, "defining_stations": len(t_sta), "defining_data": int(n_data),
            "semi_major_km": smaj, "azimuthal_gap_deg": gap,
            "rms_s": o.quality.standard_error if o.quality else None,
            "magnitudes": sorted({m.magnitude_type or "" for m in event.magnitudes
                                  if m.origin_id is None or str(m.origin_id) == str(o.resource_id)})}


def evaluate_edc(event: Event, edc: EventDefinitionCriteria) -> EdcResult:
    """Test ``event`` against the criteria; every failed test gives a reason naming the
    configuration key (``review.edc.*``), the event's value and the limit."""
    v = edc_values(event)
    if not v.get("origin"):
        return EdcResult(False, ("the event has no origin",), v)
    reasons = []
    if v["defining_stations"] < edc.min_defining_stations:
        reasons.append(f"{v['defining_stations']} stations with a time-defining arrival < "
                       f"review.edc.min_defining_stations = {edc.min_defining_stations}")
    if v["time_defining"] < edc.min_time_defining:
        reasons.append(f"{v['time_defining']} time-defining arrivals < review.edc.min_time_defining = "
                       f"{edc.min_time_defining}")
    if v["defining_data"] < edc.min_defining_data:
        reasons.append(f"{v['defining_data']} defining observations (time+azimuth+slowness) < "
                       f"review.edc.min_defining_data = {edc.min_defining_data}")
    if math.isfinite(edc.max_semi_major_km):
        if v["semi_major_km"] is None:
            reasons.append("no 90 % error ellipse (review.edc.max_semi_major_km needs one; relocate the event)")
        elif v["semi_major_km"] > edc.max_semi_major_km:
            reasons.append(f"error-ellipse semi-major axis {v['semi_major_km']:.1f} km > "
                           f"review.edc.max_semi_major_km = {edc.max_semi_major_km:g}")
    if edc.max_azimuthal_gap_deg < 360.0 and v["azimuthal_gap_deg"] is not None \
            and v["azimuthal_gap_deg"] > edc.max_azimuthal_gap_deg:
        reasons.append(f"azimuthal gap {v['azimuthal_gap_deg']:.0f} deg > review.edc.max_azimuthal_gap_deg = "
                       f"{edc.max_azimuthal_gap_deg:g}")
    if edc.max_rms_s > 0 and v["rms_s"] is not None and v["rms_s"] > edc.max_rms_s:
        reasons.append(f"rms {v['rms_s']:.2f} s > review.edc.max_rms_s = {edc.max_rms_s:g}")
    if edc.require_magnitude and not v["magnitudes"]:
        reasons.append("no network magnitude (review.edc.require_magnitude = true)")
    return EdcResult(not reasons, tuple(reasons), v)
