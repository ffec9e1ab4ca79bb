"""Array geometry from station metadata: element offsets (km) relative to the array reference point.

An IMS array arrives as its elements (``IM.ARA0``, ``IM.ARA1``, ... for ARCES), each an ordinary
station in the StationXML. :func:`geometry_from_inventory` takes the element channels present in
the data, looks up their coordinates in the inventory and converts them with obspy's
:func:`obspy.signal.array_analysis.get_geometry` (flat-earth offsets from the centre, km) into
east/north/up offsets relative to the *reference point*: the reference element when one is named
(the IDC convention, e.g. ``ARA0``), else the geometric centre.

Slowness convention (the one of obspy's ``array_processing``): the horizontal slowness vector
``(sx, sy)`` (s/km, east and north) points in the direction of propagation, so a wave from
backazimuth ``baz`` has ``sx = -s sin(baz)``, ``sy = -s cos(baz)`` and reaches the element at
offset ``(x, y)`` at ``t0 + sx x + sy y`` (``t0``: time at the reference point).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from obspy import Inventory, UTCDateTime
from obspy.signal.array_analysis import get_geometry

from pipeline.errors import InputError
from pipeline.stations.arrays import reference_index

#: km per degree of great circle (6371 km sphere), for s/km <-> s/deg
KM_PER_DEG = 6371.0 * math.pi / 180.0


class ArrayGeometryError(InputError):
    """The array's elements cannot be placed (no coordinates, too few elements)."""


@dataclass(frozen=True)
class ArrayGeometry:
    """Positions of an array's elements.

    :ivar code: array code (the station code of the array's detections, e.g. ``ARCES``)
    :ivar seed_ids: element channel ids ``NET.STA.LOC.CHA``, in the order of the offsets
    :ivar x_km: / :ivar y_km: / :ivar z_km: east, north and up offsets from the reference point, km
    :ivar latitude: / :ivar longitude: reference point, deg; :ivar elevation_m: its elevation, m
    :ivar reference: reference element station code ("" = the geometric centre)
    """

    code: str
    seed_ids: tuple[str, ...]
    x_km: np.ndarray
    y_km: np.ndarray
    z_km: np.ndarray
    latitude: float
    longitude: float
    elevation_m: float
    reference: str = ""

    @property
    def n(self) -> int:
        return len(self.seed_ids)

    @property
    def aperture_km(self) -> float:
        """Largest distance between two elements, km."""
        d = np.hypot(self.x_km[:, None] - self.x_km[None, :], self.y_km[:, None] - self.y_km[None, :])
        return float(d.max())

    def delays_s(self, sx: np.ndarray | float, sy: np.ndarray | float) -> np.ndarray:
        """Arrival time at each element relative to the reference point, s, for slowness vectors
        ``(sx, sy)`` in s/km (scalars or arrays of shape ``S``): shape ``S + (n,)``."""
        sx = np.asarray(sx, dtype=float)[..., None]
        sy = np.asarray(sy, dtype=float)[..., None]
        return sx * self.x_km + sy * self.y_km

    def xy_array(self) -> np.ndarray:
        """``(n, 3)`` array of x, y, z offsets in km (obspy's ``coordsys="xy"`` geometry)."""
        return np.c_[self.x_km, self.y_km, self.z_km]


def slowness_vector(backazimuth_deg, slowness_s_deg):
    """``(sx, sy)`` in s/km of a plane wave from ``backazimuth_deg`` with horizontal slowness
    ``slowness_s_deg`` (s/deg). Accepts numpy arrays."""
    s = np.asarray(slowness_s_deg, dtype=float) / KM_PER_DEG
    b = np.radians(backazimuth_deg)
    return -s * np.sin(b), -s * np.cos(b)


def polar(sx, sy):
    """``(backazimuth_deg, slowness_s_deg)`` of slowness vectors ``(sx, sy)`` in s/km."""
    baz = (np.degrees(np.arctan2(sx, sy)) + 180.0) % 360.0
    return baz, np.hypot(sx, sy) * KM_PER_DEG


def geometry_from_inventory(inventory: Inventory, seed_ids, time: UTCDateTime | None = None,
                            code: str | None = None, reference: str | None = None) -> ArrayGeometry:
    """Geometry of the array made of the channels ``seed_ids`` (``NET.STA.LOC.CHA``).

    :param inventory: StationXML inventory holding every element (channel coordinates are used,
        station coordinates when the channel has none)
    :param time: when the geometry applies (default: the newest epoch)
    :param code: array code (default: the reference element's station code)
    :param reference: station code of the reference element; None = the element nearest the
        geometric centre when its station code ends in ``0`` (IMS: ``ARA0``, ``FIA0``, ``SPA0``),
        else the centre itself
    :raises ArrayGeometryError: an element has no coordinates, or fewer than 3 elements
    """
    seed_ids = tuple(seed_ids)
    if len(seed_ids) < 3:
        raise ArrayGeometryError(f"array {code or ''}: {len(seed_ids)} element(s), need at least 3")
    ll = np.empty((len(seed_ids), 3))
    for i, sid in enumerate(seed_ids):
        try:
            c = inventory.get_coordinates(sid, time)
        except Exception:  # noqa: BLE001 - obspy raises a bare Exception when not found
            raise ArrayGeometryError(f"array element {sid}: no coordinates in the inventory"
                                     + (f" at {time}" if time is not None else "")) from None
        # elevation in km, minus the local depth of the sensor
        ll[i] = (c["longitude"], c["latitude"], (c["elevation"] - (c.get("local_depth") or 0.0)) / 1000.0)
    geo = get_geometry(ll, coordsys="lonlat", return_center=True)
    xyz, (lon0, lat0, h0) = geo[:-1], geo[-1]
    stations = [s.split(".")[1] for s in seed_ids]
    ref = reference
    if ref is None:
        k = reference_index(stations, xyz[:, 0], xyz[:, 1])
        ref = stations[k] if k is not None else ""
    if ref:
        if ref not in stations:
            raise ArrayGeometryError(f"array {code or ref}: reference element {ref} is not among the elements")
        k = stations.index(ref)
        origin = xyz[k].copy()
        lon0, lat0, h0 = ll[k]
    else:
        origin = np.zeros(3)
    xyz = xyz - origin
    return ArrayGeometry(code=code or ref or stations[0], seed_ids=seed_ids, x_km=xyz[:, 0].copy(),
                         y_km=xyz[:, 1].copy(), z_km=xyz[:, 2].copy(), latitude=float(lat0),
                         longitude=float(lon0), elevation_m=float(h0) * 1000.0, reference=ref)
