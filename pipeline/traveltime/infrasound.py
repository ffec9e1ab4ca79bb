"""Infrasound phases in the travel-time model: celerity windows instead of ray tables.

Infrasound travels through the atmosphere along ducts whose speed depends on the winds and the
temperature, so the IDC predicts infrasound arrivals with *celerity* (great-circle distance /
travel time) ranges per phase rather than with a velocity model. The phase names are those of
LocSAT's defaults (REFERENCE.md 2.1: Iw, Is, It): ``Iw`` tropospheric (ducted near the ground),
``Is`` stratospheric, ``It`` thermospheric; ``I`` is any of them.

Default windows (km/s), documented in :data:`DEFAULT_CELERITY_KM_S`; the IDC's own Iw/Is/It
windows were *not found* (REFERENCE.md section 7), so they are configuration
(``[infrasound] celerity_km_s``) with these defaults:

* outer bounds 0.24-0.35 km/s: infrapy's default arrival-time window (LANL infrapy
  ``cli/cli_utils.py``, REFERENCE.md [INFRAPY]);
* splits at 0.31 and 0.26 km/s: the tropospheric/stratospheric and stratospheric/thermospheric
  bounds of infrapy's path-geometry model (``propagation/infrasound.py``, ``tropo_strat_bnd =
  1/0.31``, ``strat_therm_bnd = 1/0.26`` s/km).

For comparison, iLoc's ``I`` table (REFERENCE.md section 7) corresponds to 0.295-0.325 km/s.

Distances are great-circle degrees (6371 km sphere, as the seismic tables); times in seconds.
Nothing here touches the seismic tables (:mod:`pipeline.traveltime.tables`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

#: km per degree of great circle on the 6371 km sphere
KM_PER_DEG = 6371.0 * math.pi / 180.0

#: default celerity window of each infrasound phase, km/s (sources: module docstring)
DEFAULT_CELERITY_KM_S: dict[str, tuple[float, float]] = {
    "Iw": (0.31, 0.35),
    "Is": (0.26, 0.31),
    "It": (0.24, 0.26),
}

#: the generic infrasound phase name (any duct)
ANY_PHASE = "I"


@dataclass(frozen=True)
class CelerityModel:
    """Travel-time windows of infrasound phases from celerity ranges.

    :ivar windows: phase name -> (slowest, fastest) celerity, km/s
    """

    windows: dict[str, tuple[float, float]] = field(default_factory=lambda: dict(DEFAULT_CELERITY_KM_S))

    def __post_init__(self):
        for name, (lo, hi) in self.windows.items():
            if not (0 < lo < hi):
                raise ValueError(f"infrasound phase {name}: celerity window ({lo}, {hi}) km/s needs 0 < min < max")

    @property
    def phases(self) -> tuple[str, ...]:
        return tuple(self.windows)

    def bounds(self, phase: str = ANY_PHASE) -> tuple[float, float]:
        """(slowest, fastest) celerity of ``phase`` (``"I"``: the envelope of all), km/s."""
        if phase == ANY_PHASE:
            return min(lo for lo, _ in self.windows.values()), max(hi for _, hi in self.windows.values())
        try:
            return self.windows[phase]
        except KeyError:
            raise KeyError(f"unknown infrasound phase {phase!r} (known: {', '.join(self.windows)}, I)") from None

    def time_window(self, phase: str, distance_deg):
        """``(earliest, latest)`` travel time, s, of ``phase`` at ``distance_deg`` (arrays ok)."""
        lo, hi = self.bounds(phase)
        d_km = np.asarray(distance_deg, dtype=float) * KM_PER_DEG
        return d_km / hi, d_km / lo

    def time(self, phase: str, distance_deg):
        """Central travel time, s: distance over the middle of the celerity window."""
        lo, hi = self.bounds(phase)
        return np.asarray(distance_deg, dtype=float) * KM_PER_DEG / (0.5 * (lo + hi))

    def arrival_window(self, phase: str, distance_deg, origin_time: float):
        """``(earliest, latest)`` arrival time (epoch s) of ``phase`` for an origin at
        ``origin_time`` (epoch s) ``distance_deg`` away: what an associator predicts."""
        t0, t1 = self.time_window(phase, distance_deg)
        return origin_time + t0, origin_time + t1

    def origin_window(self, phase: str, distance_deg, arrival_time: float):
        """``(earliest, latest)`` origin time (epoch s) consistent with an arrival of ``phase``
        at ``arrival_time`` ``distance_deg`` from the source."""
        t0, t1 = self.time_window(phase, distance_deg)
        return arrival_time - t1, arrival_time - t0

    def phase_for(self, distance_deg: float, travel_time_s: float) -> str:
        """The phase whose window holds the observed celerity (``""`` if none)."""
        if travel_time_s <= 0:
            return ""
        c = distance_deg * KM_PER_DEG / travel_time_s
        for name, (lo, hi) in self.windows.items():
            if lo <= c <= hi:
                return name
        return ""
