"""Land, coastlines, "at sea" and distance to the coast from bundled Natural Earth data (no downloads).

Data: Natural Earth v4.1.0 land polygons (public domain, https://www.naturalearthdata.com/), 1:50m
(default) and 1:110m, as redistributed in the npm package ``world-atlas@2.0.2`` (ISC licence) and
converted by :mod:`pipeline.geo.build_coast` into ``pipeline/geo/data/land_*.npz`` (see
``pipeline/geo/data/SOURCE.txt``).

Conventions and limits:

* Coordinates are geographic degrees (longitude east, latitude north) on a sphere of radius
  :data:`EARTH_RADIUS_KM` = 6371.0 km (the IUGG mean Earth radius, Moritz 2000, "Geodetic Reference
  System 1980", J. Geodesy 74, 128-133). A spherical distance differs from the ellipsoidal one by
  at most ~0.5 %, well inside the accuracy of a 1:50m coastline (vertices every ~8 km, median).
* "Land" is the Natural Earth land layer: large lakes are land, but the Caspian Sea is water (it is
  a hole in the land layer), and Antarctic ice shelves are land.
* The source topology is "stitched" (antimeridian and polar cuts removed, as d3 ``geoStitch`` does);
  :func:`land_polygons` cuts it again at +/-180 deg so shapely's planar predicates work, and closes
  Antarctica through the South Pole.
* :func:`distance_to_coast_km` is the great-circle distance to the nearest point of the coastline
  polyline (segments densified to <= :data:`DENSIFY_KM` and searched with a k-d tree on unit vectors;
  error well below 1 km relative to the bundled polyline, whose own error is a few km).
"""
from __future__ import annotations

from functools import lru_cache
from importlib import resources

import numpy as np

EARTH_RADIUS_KM = 6371.0
DENSIFY_KM = 2.0
RESOLUTIONS = ("50m", "110m")
_POLE_RING_LAT = -89.99  # rings entirely south of this are the polar-cut remnant, not coast


def _check_resolution(resolution: str) -> str:
    if resolution not in RESOLUTIONS:
        raise ValueError(f"resolution must be one of {RESOLUTIONS}, got {resolution!r}")
    return resolution


@lru_cache(maxsize=None)
def _rings(resolution: str = "50m") -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    """Rings (lon, lat) in degrees as stored, with the polygon index and the hole flag of each ring."""
    _check_resolution(resolution)
    ref = resources.files("pipeline.geo") / "data" / f"land_{resolution}.npz"
    try:
        with resources.as_file(ref) as path, np.load(path) as d:
            xy = d["xy"] * d["scale"] + d["translate"]
            starts = d["ring_start"]
            rings = [xy[starts[i]:starts[i + 1]] for i in range(len(starts) - 1)]
            return rings, d["ring_polygon"].copy(), d["ring_is_hole"].copy()
    except FileNotFoundError as e:
        raise FileNotFoundError(f"bundled coastline data missing: {ref} (rebuild with "
                                "python -m pipeline.geo.build_coast, see pipeline/geo/data/SOURCE.txt)") from e


def _is_pole_ring(ring: np.ndarray) -> bool:
    return bool(ring[:, 1].max() < _POLE_RING_LAT)


def _unwrap(ring: np.ndarray) -> np.ndarray:
    """Make longitudes continuous (may leave [-180, 180]) by removing +/-360 deg jumps."""
    lon = ring[:, 0].copy()
    d = np.diff(lon)
    shift = np.concatenate([[0.0], np.cumsum(np.where(d > 180, -360.0, np.where(d < -180, 360.0, 0.0)))])
    return np.column_stack([lon + shift, ring[:, 1]])


def _planar_ring(ring: np.ndarray) -> np.ndarray:
    """Unwrapped ring; a ring that encircles a pole is closed along that pole's latitude."""
    u = _unwrap(ring)
    net = u[-1, 0] - u[0, 0]
    if abs(net) > 180:  # goes once around the globe: close via the pole on its side
        pole = -90.0 if u[:, 1].mean() < 0 else 90.0
        u = np.vstack([u, [[u[-1, 0], pole], [u[0, 0], pole]], u[:1]])
    return u


@lru_cache(maxsize=None)
def land_polygons(resolution: str = "50m") -> list:
    """Natural Earth land as a list of shapely Polygons in lon/lat degrees, all within [-180, 180].

    Cached; polygons crossing the antimeridian are cut there (so Chukotka and the Fiji islands appear
    on both sides), Antarctica is closed through the South Pole.
    """
    import shapely
    from shapely.affinity import translate
    from shapely.geometry import Polygon, box

    rings, ring_polygon, ring_is_hole = _rings(resolution)
    world = box(-180.0, -90.0, 180.0, 90.0)
    by_poly: dict[int, list[np.ndarray]] = {}
    for ring, p, hole in zip(rings, ring_polygon, ring_is_hole):
        if _is_pole_ring(ring):
            continue
        by_poly.setdefault(int(p), []).append((ring, bool(hole)))
    out = []
    for parts in by_poly.values():
        ext = [_planar_ring(r) for r, hole in parts if not hole]
        holes = [_planar_ring(r) for r, hole in parts if hole]
        if len(ext) != 1:
            raise ValueError(f"land polygon with {len(ext)} exterior rings in land_{resolution}.npz")
        shell = ext[0]
        lo, hi = shell[:, 0].min(), shell[:, 0].max()
        aligned = []
        for h in holes:  # put each hole in the same longitude window as its shell
            c = h[:, 0].mean()
            h = h.copy()
            h[:, 0] += 360.0 * np.round(((lo + hi) / 2 - c) / 360.0)
            aligned.append(h)
        geom = shapely.make_valid(Polygon(shell, aligned))
        for k in (-1, 0, 1):
            piece = translate(geom, xoff=360.0 * k).intersection(world)
            for g in getattr(piece, "geoms", [piece]):
                if g.geom_type == "Polygon" and g.area > 0:
                    out.append(g)
    return out


@lru_cache(maxsize=None)
def _land_tree(resolution: str = "50m"):
    """An STRtree over the land polygons (robust where cut pieces share an edge)."""
    from shapely import STRtree

    return STRtree(land_polygons(resolution))


@lru_cache(maxsize=None)
def _coastlines_cached(resolution: str) -> tuple[np.ndarray, ...]:
    out = []
    for ring in _rings(resolution)[0]:
        if _is_pole_ring(ring):
            continue
        jumps = np.where(np.abs(np.diff(ring[:, 0])) > 180)[0]
        for piece in np.split(ring, jumps + 1):
            if len(piece) >= 2:
                piece.setflags(write=False)
                out.append(piece)
    return tuple(out)


def coastlines(resolution: str = "50m") -> list[np.ndarray]:
    """Coastlines for drawing: a list of (n, 2) arrays of (lon, lat) degrees, split at the antimeridian.

    The arrays are cached and read-only; copy before modifying.
    """
    return list(_coastlines_cached(_check_resolution(resolution)))


def coastlines_in(lon_min: float, lon_max: float, lat_min: float, lat_max: float,
                  resolution: str = "50m") -> list[np.ndarray]:
    """The coastline pieces with at least one vertex inside a lon/lat box (for maps)."""
    out = []
    for c in coastlines(resolution):
        inside = ((c[:, 0] >= lon_min) & (c[:, 0] <= lon_max) & (c[:, 1] >= lat_min) & (c[:, 1] <= lat_max))
        if inside.any():
            out.append(c)
    return out


def unit_vectors(lat, lon) -> np.ndarray:
    """Unit vectors (x, y, z) of points on the sphere (arrays broadcast; last axis xyz)."""
    la, lo = np.radians(np.asarray(lat, dtype=float)), np.radians(np.asarray(lon, dtype=float))
    return np.stack([np.cos(la) * np.cos(lo), np.cos(la) * np.sin(lo), np.sin(la)], axis=-1)


@lru_cache(maxsize=None)
def _coast_index(resolution: str = "50m"):
    """Densified coast vertices (unit vectors), their successor index (-1 at a line end) and a k-d tree."""
    from scipy.spatial import cKDTree

    verts, nxt = [], []
    n0 = 0
    max_chord = DENSIFY_KM / EARTH_RADIUS_KM
    for ring in _rings(resolution)[0]:
        if _is_pole_ring(ring):
            continue
        v = unit_vectors(ring[:, 1], ring[:, 0])
        seg = np.linalg.norm(np.diff(v, axis=0), axis=1)
        nsub = np.maximum(1, np.ceil(seg / max_chord).astype(int))
        pts = [v[:1]]
        for a, b, n in zip(v[:-1], v[1:], nsub):
            t = (np.arange(1, n + 1) / n)[:, None]
            p = a + (b - a) * t
            pts.append(p / np.linalg.norm(p, axis=1, keepdims=True))
        pts = np.concatenate(pts)
        verts.append(pts)
        nx = np.arange(n0 + 1, n0 + len(pts) + 1)
        nx[-1] = -1
        nxt.append(nx)
        n0 += len(pts)
    verts = np.concatenate(verts)
    return verts, np.concatenate(nxt), cKDTree(verts)


def _point_segment_chord(p: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Euclidean distance from points p to segments a-b (all (..., 3) unit-sphere chords)."""
    ab = b - a
    t = np.clip(np.einsum("...i,...i", p - a, ab) / np.maximum(np.einsum("...i,...i", ab, ab), 1e-30), 0, 1)
    return np.linalg.norm(p - (a + ab * t[..., None]), axis=-1)


def distance_to_coast_km_array(lat, lon, resolution: str = "50m", k: int = 6) -> np.ndarray:
    """Vectorised :func:`distance_to_coast_km`: arrays (or scalars) of lat/lon degrees -> km array."""
    lat = np.asarray(lat, dtype=float)
    lon = np.asarray(lon, dtype=float)
    _check_latlon(lat, lon)
    verts, nxt, tree = _coast_index(_check_resolution(resolution))
    p = unit_vectors(lat, lon).reshape(-1, 3)
    _, idx = tree.query(p, k=k)
    idx = idx.reshape(len(p), k)
    best = np.full(len(p), np.inf)
    # segments starting at each candidate vertex and ending at it (predecessor found via successor map)
    prev = np.full(len(verts), -1)
    has_next = nxt >= 0
    prev[nxt[has_next]] = np.nonzero(has_next)[0]
    a = verts[idx]
    for other in (nxt[idx], prev[idx]):
        ok = other >= 0
        b = np.where(ok[..., None], verts[np.where(ok, other, 0)], a)
        best = np.minimum(best, _point_segment_chord(p[:, None, :], a, b).min(axis=1))
    arc = 2.0 * np.arcsin(np.clip(best / 2.0, 0.0, 1.0))
    return (arc * EARTH_RADIUS_KM).reshape(lat.shape)


def distance_to_coast_km(lat: float, lon: float, resolution: str = "50m") -> float:
    """Great-circle distance (km) from a point to the nearest Natural Earth coastline (land or sea side)."""
    return float(distance_to_coast_km_array(lat, lon, resolution))


def _check_latlon(lat: np.ndarray, lon: np.ndarray) -> None:
    if lat.shape != lon.shape and lat.size != 1 and lon.size != 1:
        raise ValueError(f"lat and lon shapes differ: {lat.shape} vs {lon.shape}")
    if not np.all(np.isfinite(lat)) or not np.all(np.isfinite(lon)):
        raise ValueError("lat/lon must be finite numbers")
    if np.any(np.abs(lat) > 90):
        raise ValueError(f"latitude out of range [-90, 90]: {lat[np.abs(lat) > 90].ravel()[:3]}")


def is_at_sea_array(lat, lon, resolution: str = "50m") -> np.ndarray:
    """Vectorised :func:`is_at_sea`: True where the point is outside the Natural Earth land polygons."""
    import shapely

    lat = np.asarray(lat, dtype=float)
    lon = np.asarray(lon, dtype=float)
    _check_latlon(lat, lon)
    lon = (lon + 180.0) % 360.0 - 180.0
    lat, lon = np.broadcast_arrays(lat, lon)
    pts = shapely.points(lon.ravel(), lat.ravel())
    hit = _land_tree(_check_resolution(resolution)).query(pts, predicate="intersects")
    land = np.zeros(pts.shape, dtype=bool)
    land[hit[0]] = True
    return ~land.reshape(lat.shape)


def is_at_sea(lat: float, lon: float, resolution: str = "50m") -> bool:
    """True if the point (degrees) lies outside Natural Earth land (a point on the coastline is land)."""
    return bool(is_at_sea_array(lat, lon, resolution))
