"""Spherical-Earth geometry for the locator, vectorised with numpy.

All functions take and return degrees. Distances are great-circle arcs on a sphere of radius
:data:`EARTH_RADIUS_KM` (the radius ak135/iasp91 and the travel-time tables use to map degrees to
km), computed with the haversine formula so that local distances of a few hundred metres keep
full precision (the ``arccos`` form loses ~1e-8 rad ≈ 60 m near zero distance).

The locator works with **geocentric** latitudes by default (as LocSAT does): geographic
(geodetic, WGS84) latitudes are converted with :func:`geocentric_latitude` before computing
distances and azimuths, and the epicentre is converted back with :func:`geographic_latitude`.
"""
from __future__ import annotations

import numpy as np

from pipeline.traveltime.models import EARTH_RADIUS_KM

#: km per degree of great-circle arc on the sphere of radius :data:`EARTH_RADIUS_KM`
KM_PER_DEG = EARTH_RADIUS_KM * np.pi / 180.0
#: WGS84 flattening
WGS84_FLATTENING = 1.0 / 298.257223563
_E2_FACTOR = (1.0 - WGS84_FLATTENING) ** 2


def geocentric_latitude(lat_deg):
    """Geocentric latitude (deg) of a geographic (WGS84 geodetic) latitude (deg)."""
    lat = np.radians(np.asarray(lat_deg, dtype=float))
    return np.degrees(np.arctan(_E2_FACTOR * np.tan(lat)))


def geographic_latitude(lat_deg):
    """Geographic (WGS84 geodetic) latitude (deg) of a geocentric latitude (deg)."""
    lat = np.radians(np.asarray(lat_deg, dtype=float))
    return np.degrees(np.arctan(np.tan(lat) / _E2_FACTOR))


def great_circle_deg(lat1, lon1, lat2, lon2):
    """Great-circle distance (haversine), degrees; arrays broadcast together."""
    p1, p2 = np.radians(np.asarray(lat1, dtype=float)), np.radians(np.asarray(lat2, dtype=float))
    dl = np.radians(np.asarray(lon2, dtype=float) - np.asarray(lon1, dtype=float))
    s = np.sin((p2 - p1) / 2.0) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2.0) ** 2
    return np.degrees(2.0 * np.arcsin(np.sqrt(np.clip(s, 0.0, 1.0))))


def distance_azimuth(lat1, lon1, lat2, lon2):
    """Great-circle distance and azimuths between points 1 and 2 (arrays broadcast together).

    :param lat1: latitude(s) of point 1, deg.
    :param lon1: longitude(s) of point 1, deg.
    :param lat2: latitude(s) of point 2, deg.
    :param lon2: longitude(s) of point 2, deg.
    :returns: ``(distance_deg, azimuth_deg, backazimuth_deg)``: arc length in degrees (haversine),
        azimuth of point 2 seen from point 1 and azimuth of point 1 seen from point 2, both
        clockwise from north in [0, 360).
    """
    p1, l1, p2, l2 = (np.radians(np.asarray(v, dtype=float)) for v in (lat1, lon1, lat2, lon2))
    dl = l2 - l1
    dist = great_circle_deg(lat1, lon1, lat2, lon2)
    c1, s1, c2, s2 = np.cos(p1), np.sin(p1), np.cos(p2), np.sin(p2)
    az = np.arctan2(np.sin(dl) * c2, c1 * s2 - s1 * c2 * np.cos(dl))
    baz = np.arctan2(-np.sin(dl) * c1, c2 * s1 - s2 * c1 * np.cos(dl))
    return dist, np.degrees(az) % 360.0, np.degrees(baz) % 360.0


def destination(lat_deg, lon_deg, azimuth_deg, distance_deg):
    """Point reached from (lat, lon) along a great circle (arrays broadcast together).

    :param lat_deg: start latitude(s), deg.
    :param lon_deg: start longitude(s), deg.
    :param azimuth_deg: direction(s) clockwise from north, deg.
    :param distance_deg: arc length(s), deg.
    :returns: ``(lat_deg, lon_deg)`` with longitudes in [-180, 180).
    """
    p1, l1, az, d = (np.radians(np.asarray(v, dtype=float))
                     for v in (lat_deg, lon_deg, azimuth_deg, distance_deg))
    sp2 = np.sin(p1) * np.cos(d) + np.cos(p1) * np.sin(d) * np.cos(az)
    p2 = np.arcsin(np.clip(sp2, -1.0, 1.0))
    l2 = l1 + np.arctan2(np.sin(az) * np.sin(d) * np.cos(p1), np.cos(d) - np.sin(p1) * sp2)
    lon = (np.degrees(l2) + 180.0) % 360.0 - 180.0
    return np.degrees(p2), lon


def move_km(lat_deg, lon_deg, east_km, north_km):
    """Move a point by a local (east, north) displacement in km along the great circle."""
    dist = np.hypot(east_km, north_km) / KM_PER_DEG
    az = np.degrees(np.arctan2(east_km, north_km))
    return destination(lat_deg, lon_deg, az, dist)


def disc_grid(lat_deg: float, lon_deg: float, radius_deg: float, spacing_deg: float):
    """Points covering a spherical cap of ``radius_deg`` around (lat, lon) about every
    ``spacing_deg`` (concentric rings, each rotated by the golden angle).

    :returns: ``(lat_deg, lon_deg)`` arrays (the centre first).
    """
    radius_deg = float(min(max(radius_deg, 0.0), 180.0))
    n_rings = int(np.floor(radius_deg / spacing_deg + 1e-9))
    lats, lons = [np.array([lat_deg], float)], [np.array([lon_deg], float)]
    golden = 180.0 * (3.0 - np.sqrt(5.0))
    for k in range(1, n_rings + 1):
        r = k * spacing_deg
        n = max(1, int(np.ceil(2.0 * np.pi * np.sin(np.radians(r)) / np.radians(spacing_deg))))
        az = (np.arange(n) * 360.0 / n + k * golden) % 360.0
        la, lo = destination(lat_deg, lon_deg, az, r)
        lats.append(la)
        lons.append(lo)
    return np.concatenate(lats), np.concatenate(lons)


def wrap180(angle_deg):
    """Angle(s) wrapped to [-180, 180) deg."""
    return (np.asarray(angle_deg, dtype=float) + 180.0) % 360.0 - 180.0
