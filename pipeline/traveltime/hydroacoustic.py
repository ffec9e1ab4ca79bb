"""Hydroacoustic phases in the travel-time model: water-path times and blockage by land.

Sound from an oceanic source travels far in the SOFAR channel (the sound-speed minimum, ~1 km
deep) along the great circle, at an almost constant speed, so H (hydrophone) and T (converted to
seismic waves at an island slope and recorded by an island seismometer) arrivals are predicted
with one speed instead of ray tables:

* default speed **1.485 km/s**: iLoc's hydroacoustic ``H`` table gives 74.879 s per degree
  (REFERENCE.md section 7, [ILOC] ``ak135.H.tab``; the ``O`` table is identical), i.e.
  111.195 km / 74.879 s = 1.485 km/s, depth-independent. The IDC's own value and its
  T-phase speed model were *not found* (REFERENCE.md section 7), so the speed is configuration
  (``[hydroacoustic] sound_speed_km_s``) with this default.
* distances are great-circle on the 6371 km sphere (as :mod:`pipeline.traveltime.infrasound` and
  :mod:`pipeline.geo`), times in seconds. The short seismic leg of a T phase on the island
  (a few km at several km/s, ~1 s) is neglected: T times are the water-path times.

**Blockage.** Sound does not cross land: a source-station pair whose great circle crosses land
(:mod:`pipeline.geo`, Natural Earth 1:50m land polygons) has no predicted H/T arrival. The path
is sampled every ``step_km`` (default 5 km; islands smaller than that can be missed, and the
1:50m coastline itself is good to a few km). Land adjacent to either end is allowed up to
``max_land_leg_km`` (default 50 km): a T-phase station stands on its island, and an earthquake
under a coast converts to sound at the coastal slope; land anywhere else on the path, or a
longer land leg at an end, blocks the path. Bathymetric blockage (seamounts and ridges above the
SOFAR axis) is not modelled: no bathymetry is bundled.

Nothing here touches the seismic tables (:mod:`pipeline.traveltime.tables`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from pipeline.geo.coast import EARTH_RADIUS_KM, is_at_sea_array, unit_vectors

#: km per degree of great circle on the 6371 km sphere
KM_PER_DEG = EARTH_RADIUS_KM * math.pi / 180.0
#: default sound speed of the water path, km/s (iLoc H table, 74.879 s/deg; module docstring)
DEFAULT_SOUND_SPEED_KM_S = round(KM_PER_DEG / 74.879, 4)
#: the hydroacoustic phase names: H recorded by a hydrophone, T by an island seismometer
PHASES = ("H", "T")


def great_circle_points(lat1: float, lon1: float, lat2: float, lon2: float, step_km: float) -> np.ndarray:
    """Points along the shorter great circle from (lat1, lon1) to (lat2, lon2), both ends
    included, at most ``step_km`` apart: array (n, 3) of (lat, lon, km from the first point)."""
    if not step_km > 0:
        raise ValueError(f"step_km must be > 0, got {step_km}")
    a, b = unit_vectors(lat1, lon1), unit_vectors(lat2, lon2)
    omega = float(np.arctan2(np.linalg.norm(np.cross(a, b)), np.dot(a, b)))
    length = omega * EARTH_RADIUS_KM
    n = max(2, int(math.ceil(length / step_km)) + 1)
    t = np.linspace(0.0, 1.0, n)
    if omega < 1e-12:
        p = np.repeat(a[None, :], n, axis=0)
    else:  # spherical linear interpolation
        p = (np.sin((1 - t) * omega)[:, None] * a + np.sin(t * omega)[:, None] * b) / math.sin(omega)
    lat = np.degrees(np.arcsin(np.clip(p[:, 2], -1, 1)))
    lon = np.degrees(np.arctan2(p[:, 1], p[:, 0]))
    return np.column_stack([lat, lon, t * length])


@dataclass(frozen=True)
class PathCheck:
    """The blockage verdict of one path.

    :ivar blocked: True if land blocks the water path
    :ivar distance_km: great-circle length, km
    :ivar land_km: length of the path over land not counted as an end leg, km (approximate,
        samples x step)
    :ivar first_land_km: distance from the source of the first blocking land sample, km (NaN)
    :ivar source_leg_km, station_leg_km: land at the source / station end, km
    """

    blocked: bool
    distance_km: float
    land_km: float
    first_land_km: float
    source_leg_km: float
    station_leg_km: float


@dataclass(frozen=True)
class WaterPathModel:
    """Water-path travel times and blockage (module docstring for sources and limits).

    :ivar sound_speed_km_s: speed along the path, km/s
    :ivar step_km: sampling of the path for the land test, km
    :ivar max_land_leg_km: land allowed at either end of the path, km
    :ivar resolution: Natural Earth resolution of the land polygons ("50m" or "110m")
    """

    sound_speed_km_s: float = DEFAULT_SOUND_SPEED_KM_S
    step_km: float = 5.0
    max_land_leg_km: float = 50.0
    resolution: str = "50m"

    def __post_init__(self):
        if not 1.0 <= self.sound_speed_km_s <= 2.0:
            raise ValueError(f"sound_speed_km_s = {self.sound_speed_km_s}: need 1.0-2.0 km/s (water)")
        if not self.step_km > 0:
            raise ValueError(f"step_km = {self.step_km}: must be > 0")
        if self.max_land_leg_km < 0:
            raise ValueError(f"max_land_leg_km = {self.max_land_leg_km}: must be >= 0")

    def time(self, distance_deg):
        """Water-path travel time, s, over ``distance_deg`` (arrays ok)."""
        return np.asarray(distance_deg, dtype=float) * KM_PER_DEG / self.sound_speed_km_s

    def check_path(self, src_lat: float, src_lon: float, sta_lat: float, sta_lon: float) -> PathCheck:
        """Whether land blocks the great circle from the source to the station."""
        pts = great_circle_points(src_lat, src_lon, sta_lat, sta_lon, self.step_km)
        sea = is_at_sea_array(pts[:, 0], pts[:, 1], self.resolution)
        km = pts[:, 2]
        length = float(km[-1])
        if not sea.any():
            return PathCheck(True, length, length, 0.0, length, length)
        i0 = int(np.argmax(sea))                      # first water sample from the source
        i1 = len(sea) - 1 - int(np.argmax(sea[::-1]))  # last water sample before the station
        src_leg, sta_leg = float(km[i0]), float(length - km[i1])
        inner = ~sea[i0:i1 + 1]
        land_km = float(inner.sum() * (length / max(len(km) - 1, 1)))
        first = float(km[i0 + int(np.argmax(inner))]) if inner.any() else math.nan
        if src_leg > self.max_land_leg_km:
            first = 0.0 if math.isnan(first) else min(first, 0.0)
        elif sta_leg > self.max_land_leg_km and math.isnan(first):
            first = float(km[i1 + 1])
        blocked = bool(inner.any()) or src_leg > self.max_land_leg_km or sta_leg > self.max_land_leg_km
        return PathCheck(blocked, length, land_km, first, src_leg, sta_leg)

    def predict(self, src_lat: float, src_lon: float, origin_time: float, stations) -> list[dict]:
        """Predicted water-path arrivals of a source at each station.

        :param stations: iterable of mappings with ``station``, ``latitude``, ``longitude``
            (a stations DataFrame's ``to_dict("records")``)
        :returns: one dict per station: ``station``, ``distance_deg``, ``travel_time_s``,
            ``time`` (epoch s; NaN when blocked), ``blocked`` and the :class:`PathCheck` fields
            ``land_km``, ``first_land_km``. A blocked station gets no arrival (``time`` NaN).
        """
        out = []
        for s in stations:
            chk = self.check_path(src_lat, src_lon, float(s["latitude"]), float(s["longitude"]))
            dist = chk.distance_km / KM_PER_DEG
            tt = float(self.time(dist))
            out.append({"station": s["station"], "distance_deg": dist, "travel_time_s": tt,
                        "time": math.nan if chk.blocked else origin_time + tt, "blocked": chk.blocked,
                        "land_km": chk.land_km, "first_land_km": chk.first_land_km})
        return out
