"""The network seen by the associator: station geometry and the grid family it calls for.

The associator has to work on any network without hand-tuning: a dense local network (stations
a few km apart, events inside it), a regional or continental one (hundreds of stations over
hundreds to thousands of km, or a handful of broadband stations recording events far outside
their footprint) and the IMS (stations on every continent). What differs is the size of the
search region and how finely it must be sampled; both follow from the geometry of the stations
that actually reported picks:

* **aperture**: the largest station-to-station distance, km;
* **station spacing**: the median distance from a station to its nearest neighbour, km. The
  location resolution of a network (and so the node spacing that is worth voting on) scales with
  it;
* **centre and radius**: the spherical centroid of the stations and the largest
  centre-to-station distance (the network's footprint).

Family (see :func:`choose_scale`; ``[association] scale`` overrides it):

========  ======================================================================================
family    when (automatic choice)
========  ======================================================================================
local     aperture < ``local_aperture_km`` (300 km) **and** station spacing below
          ``local_max_station_spacing_km`` (30 km): a dense local network whose events lie inside
          or near it (flat lattice around the stations)
regional  otherwise, while the aperture is below ``regional_aperture_km`` (5,000 km): a
          regional/continental network, or a sparse one whose events may lie far outside it
          (spherical cap with a fine core over the stations and spacing growing outwards)
global    aperture >= ``regional_aperture_km``: stations on several continents (Fibonacci
          lattice over the globe)
========  ======================================================================================

The apertures follow the issue's definition of the regional family (~300-5,000 km); the
30 km spacing separates dense local networks (Iceland 7 km, Central Italy 6 km, NCSN 9 km median
nearest-neighbour distance) from sparse broadband deployments (typically 50-300 km).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from pipeline.location.geodesy import KM_PER_DEG, great_circle_deg

#: rows of the station-to-station distance matrix computed at once (bounds memory)
_ROWS = 512


@dataclass(frozen=True)
class NetworkGeometry:
    """Geometry of a set of stations (see the module docstring).

    :param n_stations: number of stations.
    :param centre_lat: / :param centre_lon: spherical centroid of the stations, deg.
    :param radius_km: largest distance from the centre to a station, km.
    :param aperture_km: largest station-to-station distance, km.
    :param spacing_km: median nearest-neighbour distance, km (0 for a single station).
    """

    n_stations: int
    centre_lat: float
    centre_lon: float
    radius_km: float
    aperture_km: float
    spacing_km: float

    def as_dict(self) -> dict:
        return {k: (round(v, 3) if isinstance(v, float) else v) for k, v in asdict(self).items()}


def network_geometry(latitude, longitude) -> NetworkGeometry:
    """:class:`NetworkGeometry` of stations at ``latitude``/``longitude`` (deg, arrays).

    Pairwise distances are computed in blocks of rows, so memory stays bounded for networks
    of thousands of stations."""
    lat = np.asarray(latitude, dtype=float).ravel()
    lon = np.asarray(longitude, dtype=float).ravel()
    n = lat.size
    if n == 0:
        return NetworkGeometry(0, 0.0, 0.0, 0.0, 0.0, 0.0)
    la, lo = np.radians(lat), np.radians(lon)
    v = np.column_stack([np.cos(la) * np.cos(lo), np.cos(la) * np.sin(lo), np.sin(la)]).sum(axis=0)
    norm = float(np.linalg.norm(v))
    if norm < 1e-9 * n:  # stations all around the globe: any centre will do
        clat, clon = 0.0, 0.0
    else:
        v = v / norm
        clat = math.degrees(math.asin(max(-1.0, min(1.0, v[2]))))
        clon = math.degrees(math.atan2(v[1], v[0]))
    radius = float(np.max(great_circle_deg(clat, clon, lat, lon))) * KM_PER_DEG
    aperture = 0.0
    nearest = np.full(n, np.inf)
    for i0 in range(0, n, _ROWS):
        d = great_circle_deg(lat[i0:i0 + _ROWS, None], lon[i0:i0 + _ROWS, None], lat[None, :],
                             lon[None, :]) * KM_PER_DEG
        aperture = max(aperture, float(d.max()))
        d[np.arange(d.shape[0]), np.arange(i0, i0 + d.shape[0])] = np.inf
        nearest[i0:i0 + d.shape[0]] = d.min(axis=1)
    spacing = float(np.median(nearest)) if n > 1 else 0.0
    return NetworkGeometry(n, float(clat), float(clon), radius, aperture, spacing)


def choose_scale(geometry: NetworkGeometry, local_aperture_km: float,
                 local_max_station_spacing_km: float, regional_aperture_km: float) -> str:
    """Grid family for a network (see the module docstring): ``"local"``, ``"regional"`` or
    ``"global"``."""
    if geometry.aperture_km >= regional_aperture_km:
        return "global"
    if geometry.aperture_km < local_aperture_km and geometry.spacing_km < local_max_station_spacing_km:
        return "local"
    return "regional"


def nice_spacing(km: float) -> float:
    """``km`` rounded to the nearest value (in ratio) of the series 1, 1.5, 2, 2.5, 3, 4, 5, 6, 8 x 10^k (0.1 km at
    least): grid spacings that read well in logs (e.g. 7.1 / 3.5 = 2.03 -> 2, 1.8 -> 2)."""
    if not (km > 0.1):
        return 0.1
    e = 10.0 ** math.floor(math.log10(km))
    series = np.array([1.0, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0]) * e
    return float(series[int(np.argmin(np.abs(np.log(series / km))))])
