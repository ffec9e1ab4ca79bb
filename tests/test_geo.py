"""Bundled Natural Earth coastlines: land/sea, distance to the coast (pipeline.geo.coast)."""
from __future__ import annotations

import numpy as np
import pytest

from pipeline.geo import coast


def test_bundled_data_is_small_and_loads():
    from importlib import resources

    data = resources.files("pipeline.geo") / "data"
    for res in coast.RESOLUTIONS:
        assert (data / f"land_{res}.npz").stat().st_size < 2_000_000
    assert "Natural Earth" in (data / "SOURCE.txt").read_text()
    polys = coast.land_polygons()
    assert len(polys) > 1000 and all(p.is_valid for p in polys)
    assert len(coast.land_polygons("110m")) < len(polys)
    with pytest.raises(ValueError, match="resolution"):
        coast.land_polygons("10m")


def test_coastlines_stay_inside_the_map_and_do_not_jump_across_it():
    lines = coast.coastlines()
    assert len(lines) > 1000
    allpts = np.concatenate(lines)
    assert allpts[:, 0].min() >= -180 and allpts[:, 0].max() <= 180
    assert allpts[:, 1].min() > -89.9  # the polar-cut remnant is not coastline
    assert max(np.abs(np.diff(c[:, 0])).max() for c in lines) < 180
    iceland = coast.coastlines_in(-25, -13, 63, 67)
    assert iceland and all(len(c) >= 2 for c in iceland)


def test_land_fraction_of_the_globe():
    """Land covers about 29 % of the Earth's surface (CIA World Factbook, "World": land 29.2 %)."""
    n = 40_000  # Fibonacci lattice: equal-area points
    i = np.arange(n) + 0.5
    lat = np.degrees(np.arcsin(1 - 2 * i / n))
    lon = (np.degrees(np.pi * (1 + 5 ** 0.5) * i) + 180) % 360 - 180
    land = ~coast.is_at_sea_array(lat, lon)
    assert land.mean() == pytest.approx(0.292, abs=0.01)


@pytest.mark.parametrize("name, lat, lon, at_sea, dmin, dmax", [
    # Point Nemo, oceanic pole of inaccessibility, 2,688 km from the nearest land (Lukatela 2000,
    # Hipparchus geocoding; Ducie Island, Motu Nui and Maher Island are equidistant).
    ("Point Nemo", -48.8767, -123.3933, True, 2650, 2730),
    ("mid-Pacific", 10.0, -150.0, True, 500, 5000),
    ("Iceland interior (Hofsjokull)", 64.8, -18.8, False, 60, 150),
    ("Reykjavik harbour (either side at 1:50m)", 64.151, -21.941, None, 0, 5),
    # Paris to the nearest Channel coast (around Dieppe / the Somme bay) is about 150 km.
    ("Paris", 48.8566, 2.3522, False, 130, 200),
    ("Chukotka east of 180", 66.0, -175.0, False, 10, 200),
    ("Chukotka west of 180", 66.0, 175.0, False, 10, 200),
    ("Viti Levu, Fiji", -17.8, 178.0, False, 10, 80),
    ("Caspian Sea (water in Natural Earth land)", 42.0, 51.0, True, 50, 250),
    ("Antarctic plateau, Vostok", -78.46, 106.84, False, 800, 1500),
])
def test_known_points(name, lat, lon, at_sea, dmin, dmax):
    if at_sea is not None:
        assert coast.is_at_sea(lat, lon) is at_sea, name
    d = coast.distance_to_coast_km(lat, lon)
    assert dmin <= d <= dmax, (name, d)


@pytest.mark.parametrize("lat", [-22.0, -25.0, -29.0])
def test_point_100_km_off_a_straight_coast(lat):
    """Chile's coast runs north-south: 100 km west along the parallel is at most 100 km off, and
    little less where the coast is straight."""
    lons = np.arange(-73.0, -69.0, 0.005)
    sea = coast.is_at_sea_array(np.full_like(lons, lat), lons)
    lon_coast = lons[np.argmin(sea)]  # first land point from the west
    assert sea[:np.argmin(sea)].all()
    dlon = 100.0 / (np.pi / 180 * coast.EARTH_RADIUS_KM * np.cos(np.radians(lat)))
    d = coast.distance_to_coast_km(lat, lon_coast - dlon)
    assert 90.0 <= d <= 100.5


def test_distance_agrees_with_exact_ellipsoidal_distance_to_the_polyline():
    """Independent check: project the coast into an azimuthal equidistant projection (WGS84)
    centred on each point, where distances from the centre are exact, and let shapely measure the
    distance to the polyline; spherical vs ellipsoidal differ by < 0.5 %."""
    pyproj = pytest.importorskip("pyproj")
    from shapely.geometry import LineString, Point

    rng = np.random.default_rng(7)
    lats = rng.uniform(-60, 70, 12)
    lons = rng.uniform(-180, 180, 12)
    got = coast.distance_to_coast_km_array(lats, lons)
    lines = coast.coastlines()
    for lat, lon, d in zip(lats, lons, got):
        proj = pyproj.Proj(proj="aeqd", lat_0=lat, lon_0=lon, ellps="WGS84")
        # candidate lines: those with a vertex within d + 300 km (great-circle prefilter)
        best = np.inf
        for c in lines:
            la, lo = np.radians(c[:, 1]), np.radians(c[:, 0])
            cosang = (np.sin(np.radians(lat)) * np.sin(la)
                      + np.cos(np.radians(lat)) * np.cos(la) * np.cos(lo - np.radians(lon)))
            ang = np.degrees(np.arccos(np.clip(cosang, -1, 1)))
            if ang.min() * 111.2 > d + 300 or ang.min() > 60:
                continue
            x, y = proj(c[:, 0], c[:, 1])
            best = min(best, Point(0, 0).distance(LineString(np.column_stack([x, y]))) / 1000.0)
        assert d == pytest.approx(best, rel=0.006, abs=1.0), (lat, lon, d, best)


def test_vectorised_matches_scalar_and_keeps_shape():
    lat = np.array([[64.15, 0.0], [48.8566, -48.8767]])
    lon = np.array([[-21.94, -150.0], [2.3522, -123.3933]])
    d = coast.distance_to_coast_km_array(lat, lon)
    s = coast.is_at_sea_array(lat, lon)
    assert d.shape == s.shape == (2, 2)
    for i in range(2):
        for j in range(2):
            assert d[i, j] == pytest.approx(coast.distance_to_coast_km(lat[i, j], lon[i, j]))
            assert s[i, j] == coast.is_at_sea(lat[i, j], lon[i, j])
    # longitudes outside [-180, 180] wrap
    assert coast.is_at_sea(66.0, 185.0) == coast.is_at_sea(66.0, -175.0)


def test_bad_input_is_rejected_with_a_clear_error():
    with pytest.raises(ValueError, match="latitude"):
        coast.is_at_sea(91.0, 0.0)
    with pytest.raises(ValueError, match="finite"):
        coast.distance_to_coast_km(float("nan"), 0.0)
