"""Travel-time tables: layered-model → TauP, accuracy against direct TauP calls, cache, speed.

Tables are built once per module in a temporary cache folder (module-scoped fixtures): the
global ak135 table on the default grid (~8 s) and the Iceland local table on the default local
grid (TauP model build + table ~12 s). Run with ``-s`` to see the measured errors and timings.
"""
from __future__ import annotations

import csv
import time
from unittest import mock

import numpy as np
import pytest

from tests import PROJECT_ROOT
from pipeline.traveltime import (
    GLOBAL_GRID,
    LayeredModel,
    TableGrid,
    TravelTimeTable,
    VelocityFileError,
    local_grid,
    read_velocity_file,
    resolve_model,
)
from pipeline.traveltime.tables import table_key

ICELAND_VMODEL = PROJECT_ROOT / "tests" / "data" / "iceland" / "inputs" / "iceland_vmodel.txt"
GLOBAL_PHASES = ["P", "S", "Pn", "PKP"]


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("traveltime-cache")


@pytest.fixture(scope="module")
def ak135(cache_dir):
    return TravelTimeTable("ak135", GLOBAL_PHASES, cache_dir=cache_dir)


@pytest.fixture(scope="module")
def iceland(cache_dir):
    return TravelTimeTable(ICELAND_VMODEL, ["P", "S"], cache_dir=cache_dir)


def _taup_first(model, phases, depth_km, distance_deg, receiver_depth_km=0.0):
    arr = model.get_travel_times(float(depth_km), float(distance_deg), list(phases),
                                 receiver_depth_in_km=receiver_depth_km)
    return min(a.time for a in arr) if len(arr) else np.nan


def _compare(table, phase, dist, depth, taup_depth_offset_km=0.0):
    """Table vs direct TauP at the points: (errors, table values, TauP values)."""
    model = table.model.taupy()
    got = table.time(phase, dist, depth)
    ref = np.array([_taup_first(model, table.groups[phase].phases, z + taup_depth_offset_km, d)
                    for d, z in zip(dist, depth)])
    return got - ref, got, ref


# -- velocity files and the layered TauP model -----------------------------------------------
def test_iceland_velocity_file_and_model_id(tmp_path):
    m = read_velocity_file(ICELAND_VMODEL)
    assert m.name == "iceland_vmodel"
    assert len(m.top_km) == 19 and m.top_km[0] == -3.0 and m.top_km[-1] == 42.0
    assert m.vp_km_s[0] == 1.5 and m.vs_km_s[-1] == 4.157
    name, digest = m.model_id.rsplit("-", 1)
    assert name == "iceland_vmodel" and len(digest) == 16 and int(digest, 16) >= 0
    # the id follows the content: same numbers with other formatting -> same id ...
    other = tmp_path / "iceland_vmodel.txt"
    rows = list(csv.reader(ICELAND_VMODEL.read_text().splitlines()))
    other.write_text("# reformatted\nvs, vp ,depth\n"
                     + "".join(f"{r[2]}, {r[1]}, {float(r[0]):g}\n" for r in rows[1:]))
    assert read_velocity_file(other).model_id == m.model_id
    # ... one changed velocity -> another id (so another cache entry)
    rows[5][1] = "6.405"
    other.write_text("\n".join(",".join(r) for r in rows) + "\n")
    changed = read_velocity_file(other)
    assert changed.model_id != m.model_id


@pytest.mark.parametrize("content, line, words", [
    ("Depth,Vp,Vs\n0,5.0,3.0\n2,6.0,3.5\n1,6.5,3.7\n", 4, ["depth 1", "previous layer top 2"]),
    ("Depth,Vp,Vs\n0,5.0,3.0\n2,6.0,-3.5\n", 3, ["Vs = -3.5", "negative"]),
    ("Depth,Vp,Vs\n0,5.0,3.0\n2,-6.0,3.5\n", 3, ["Vp = -6", "positive"]),
    ("Depth,Vp\n0,5.0\n2,6.0\n", 1, ["missing column 'Vs'"]),
    ("Depth,Vp,Vs\n0,5.0,3.0\n2,6.0\n", 3, ["missing value", "'Vs'"]),
    ("Depth,Vp,Vs\n0,5.0,abc\n", 2, ["'abc' is not a number"]),
    ("Depth,Vp,Vs\n0,5.0,6.0\n", 2, ["smaller than Vp"]),
])
def test_bad_velocity_file_names_file_and_line(tmp_path, content, line, words):
    bad = tmp_path / "bad_vmodel.txt"
    bad.write_text(content)
    with pytest.raises(VelocityFileError) as err:
        read_velocity_file(bad)
    msg = str(err.value)
    print(msg)
    assert f"{bad}:{line}:" in msg
    for w in words:
        assert w in msg


def test_layered_model_taup_files(iceland, cache_dir):
    info = iceland.model
    nd = cache_dir / "models" / f"{info.model_id}.nd"
    assert nd.exists() and (cache_dir / "models" / f"{info.model_id}.npz").exists()
    rows = [ln.split() for ln in nd.read_text().splitlines() if ln and not ln.startswith("#")]
    assert rows[0] == ["0.000000", "1.500000", "0.843000", rows[0][3]]  # model top = TauP 0
    assert ["mantle"] in rows                                             # named Moho
    # model top 3 km above sea level: TauP planet radius 6374 km, sea level stays at 6371 km
    assert info.top_km == -3.0
    assert info.radius_km == pytest.approx(6374.0)
    assert info.moho_km == pytest.approx(42.0)  # top of the deepest layer (uppermost mantle)
    assert float(info.taup_depth(10.0)) == 13.0


def test_local_vertical_time_matches_hand_calculation(iceland):
    """P (and S) time at 0 distance = sum of layer thickness / velocity from the source up to
    the model top (the table's receiver), computed here directly from the CSV."""
    rows = list(csv.DictReader(ICELAND_VMODEL.read_text().splitlines()))
    tops = np.array([float(r["Depth"]) for r in rows])
    bots = np.append(tops[1:], np.inf)
    for wave, col in (("P", "Vp"), ("S", "Vs")):
        v = np.array([float(r[col]) for r in rows])
        for depth in (0.0, 2.0, 5.5, 7.3, 10.0, 12.5, 21.7, 35.0):
            thick = np.clip(np.minimum(bots, depth) - tops, 0.0, None)
            by_hand = float(np.sum(thick / v))
            got = float(iceland.time(wave, 0.0, depth))
            print(f"{wave} vertical time from {depth:5.1f} km: table {got:.4f} s, "
                  f"by hand {by_hand:.4f} s")
            assert got == pytest.approx(by_hand, abs=0.02)


# -- accuracy against direct TauP calls --------------------------------------------------------
@pytest.mark.parametrize("phase, distances, depths, n", [
    ("P", (0.0, 100.0), (0.0, 700.0), 40),
    ("S", (0.0, 100.0), (0.0, 700.0), 30),
    ("Pn", (1.0, 18.0), (0.0, 34.0), 20),
    ("PKP", (115.0, 180.0), (0.0, 700.0), 30),
])
def test_ak135_interpolation_vs_taup(ak135, phase, distances, depths, n):
    rng = np.random.default_rng({"P": 1, "S": 2, "Pn": 3, "PKP": 4}[phase])
    dist = rng.uniform(*distances, n)
    depth = rng.uniform(*depths, n)
    if phase == "PKP":  # always sample the PKP B caustic, where the first arrival jumps
        dist[:6] = rng.uniform(142.5, 146.0, 6)
    err, got, ref = _compare(ak135, phase, dist, depth)
    both = np.isfinite(got) & np.isfinite(ref)
    print(f"ak135 {phase}: {both.sum()} points, max |error| {np.max(np.abs(err[both])):.4f} s, "
          f"median {np.median(np.abs(err[both])):.5f} s")
    assert not np.any(np.isfinite(got) & ~np.isfinite(ref)), "table value where TauP has none"
    assert both.sum() >= 0.8 * n
    assert np.max(np.abs(err[both])) < 0.1


@pytest.mark.parametrize("phase", ["P", "S"])
def test_iceland_interpolation_vs_taup(iceland, phase):
    rng = np.random.default_rng(7 if phase == "P" else 8)
    n = 12
    dist = rng.uniform(0.0, 2.0, n)
    depth = rng.uniform(-3.0, 40.0, n)  # from the model top (3 km above sea level)
    dist[:3] = rng.uniform(0.0, 0.1, 3)  # near the epicentre, where curvature is largest
    depth[:2] = rng.uniform(-3.0, 1.0, 2)  # in the 1.5 km/s surface layer
    err, got, ref = _compare(iceland, phase, dist, depth, taup_depth_offset_km=3.0)
    print(f"Iceland {phase}: {n} points, max |error| {np.max(np.abs(err)):.4f} s, "
          f"median {np.median(np.abs(err)):.5f} s")
    assert np.all(np.isfinite(got)) and np.all(np.isfinite(ref))
    assert np.max(np.abs(err)) < 0.05


def test_elevation_correction_matches_buried_receiver(iceland):
    """Station at 0.5 km above sea level = 2.5 km below the Iceland model top."""
    model = iceland.model.taupy()
    for phase in ("P", "S"):
        for d, z in ((0.0, 10.0), (0.3, 8.0), (1.2, 15.0)):
            ref = _taup_first(model, iceland.groups[phase].phases, z + 3.0, d,
                              receiver_depth_km=2.5)
            got = iceland.time(phase, d, z) + iceland.elevation_correction(phase, d, z, 0.5)
            assert float(got) == pytest.approx(ref, abs=0.02)


def test_elevation_correction_above_global_model_top(ak135):
    """ak135's top is sea level: above it the usual correction with the surface velocity."""
    d, z = np.array([0.0, 30.0, 70.0]), np.array([10.0, 33.0, 100.0])
    p = ak135.slowness("P", d, z) / 111.19493  # s/km
    expected = 1.2 * np.sqrt(1 / 5.8**2 - p**2)
    np.testing.assert_allclose(ak135.elevation_correction("P", d, z, 1.2), expected, atol=1e-4)
    assert float(ak135.elevation_correction("S", 0.0, 10.0, 1.2)) == pytest.approx(1.2 / 3.46)


# -- derivatives, NaN, shapes -------------------------------------------------------------
def test_derivatives_and_slowness(ak135):
    d = np.array([5.0, 30.0, 60.0, 85.0])
    z = np.array([15.0, 100.0, 250.0, 500.0])
    t, dtdd, dtdh = ak135.derivatives("P", d, z)
    h = 1e-3
    num_dd = (ak135.time("P", d + h, z) - ak135.time("P", d - h, z)) / (2 * h)
    num_dh = (ak135.time("P", d, z + h) - ak135.time("P", d, z - h)) / (2 * h)
    np.testing.assert_allclose(dtdd, num_dd, atol=2e-3)
    np.testing.assert_allclose(dtdh, num_dh, atol=2e-3)
    np.testing.assert_allclose(ak135.slowness("P", d, z), dtdd, atol=0.02)
    # dT/dh agrees with the ray: -cos(takeoff)/v at the source
    np.testing.assert_allclose(dtdh, ak135.dtdh_ray("P", d, z), atol=0.005)
    assert np.all(dtdh < 0) and np.all(ak135.takeoff_angle("P", d, z) < 90)
    model = ak135.model.taupy()
    for di, zi, p in zip(d, z, ak135.slowness("P", d, z)):
        arr = model.get_travel_times(zi, di, ["p", "P", "Pn", "Pg", "Pdiff"])
        assert p == pytest.approx(arr[0].ray_param_sec_degree, abs=0.01)


def test_nan_where_phase_does_not_exist_and_shapes(ak135):
    assert np.isnan(ak135.time("PKP", 60.0, 10.0))        # no PKP at 60 deg
    assert np.isnan(ak135.time("Pn", 5.0, 100.0))         # no Pn from below the Moho
    assert np.isnan(ak135.time("P", 181.0, 10.0))         # outside the grid
    assert np.isnan(ak135.time("P", 50.0, 750.0))
    grid_d, grid_z = np.meshgrid(np.linspace(10, 90, 7), np.linspace(0, 600, 5))
    assert ak135.time("P", grid_d, grid_z).shape == (5, 7)
    assert ak135.time("S", 40.0, np.array([10.0, 20.0])).shape == (2,)
    assert list(ak135.taup_phase("P", [0.5, 40.0, 110.0], 10.0)) == ["p", "P", "Pdiff"]
    with pytest.raises(KeyError, match="not in this table"):
        ak135.time("Lg", 5.0, 10.0)


# -- cache ---------------------------------------------------------------------------------
def test_cache_round_trip_without_taup(ak135, iceland, cache_dir):
    assert ak135.path.exists() and ak135.path.suffix == ".nc"
    assert ak135.path.name.startswith(ak135.model.model_id)
    stamp = ak135.path.stat().st_mtime_ns
    boom = mock.Mock(side_effect=AssertionError("TauP called although the table is cached"))
    with mock.patch("pipeline.traveltime.tables.compute_table_dataset", boom), \
            mock.patch("obspy.taup.tau.TauPyModel.get_travel_times", boom), \
            mock.patch("obspy.taup.tau_model.TauModel.depth_correct", boom), \
            mock.patch("obspy.taup.tau_model.TauModel.from_file", boom), \
            mock.patch("obspy.taup.taup_create.build_taup_model", boom):
        t0 = time.perf_counter()
        again = TravelTimeTable("ak135", GLOBAL_PHASES, cache_dir=cache_dir)
        local_again = TravelTimeTable(ICELAND_VMODEL, ["P", "S"], cache_dir=cache_dir)
        print(f"two tables loaded from the cache in {time.perf_counter() - t0:.3f} s")
    assert boom.call_count == 0
    assert not again.computed and not local_again.computed and ak135.computed
    assert again.path == ak135.path and ak135.path.stat().st_mtime_ns == stamp
    assert again.dataset.equals(ak135.dataset)
    assert again.dataset.attrs["model_id"] == ak135.dataset.attrs["model_id"]
    pts = (np.linspace(1, 99, 50), np.linspace(0, 650, 50))
    np.testing.assert_array_equal(again.time("P", *pts), ak135.time("P", *pts))
    np.testing.assert_array_equal(local_again.time("S", 0.5, 9.0), iceland.time("S", 0.5, 9.0))
    loaded = TravelTimeTable.load(local_again.path)
    assert loaded.dataset.equals(iceland.dataset)
    assert float(loaded.elevation_correction("P", 0.0, 10.0, 0.5)) == pytest.approx(-2.5 / 1.5)


def test_cache_key_follows_model_grid_and_phases(ak135, tmp_path):
    info = ak135.model
    groups = [ak135.groups[p] for p in GLOBAL_PHASES]
    base = table_key(info, groups, GLOBAL_GRID, 0.0, None, 5.0)
    assert base == ak135.key
    finer = TableGrid(GLOBAL_GRID.distance_deg, ((0.0, 700.0, 5.0),))
    assert table_key(info, groups, finer, 0.0, None, 5.0) != base
    assert table_key(info, groups[:2], GLOBAL_GRID, 0.0, None, 5.0) != base
    assert table_key(info, groups, GLOBAL_GRID, 0.5, None, 5.0) != base
    m = read_velocity_file(ICELAND_VMODEL)
    changed = LayeredModel(m.name, m.top_km, (1.6,) + m.vp_km_s[1:], m.vs_km_s)
    a = resolve_model(m, tmp_path)   # no TauP build needed for the key
    b = resolve_model(changed, tmp_path)
    assert a.model_id != b.model_id and a.sha256 != b.sha256
    assert not (tmp_path / "models").exists()


def test_grid_is_configurable(iceland):
    g = local_grid(-3.0, max_distance_deg=1.0, distance_step_deg=0.005, max_depth_km=20.0,
                   depth_step_km=0.5, refine_near_receiver=False)
    assert g.distances()[1] == pytest.approx(0.005) and g.distances()[-1] == 1.0
    assert g.depths()[0] == -3.0 and g.depths()[1] == -2.5 and g.depths()[-1] == 20.0
    # default local grid: <= 0.01 deg x <= 1 km, finer next to the receiver (model top, x = 0)
    assert np.all(np.diff(iceland.distance_deg) <= 0.01 + 1e-9)
    assert np.all(np.diff(iceland.depth_km) <= 1.0 + 1e-9)
    assert iceland.depth_km[0] == -3.0 and iceland.depth_km[-1] == 40.0
    assert iceland.distance_deg[0] == 0.0 and iceland.distance_deg[-1] == 2.0
    assert iceland.distance_deg[1] == pytest.approx(0.0025) and iceland.depth_km[1] == -2.75
    assert TableGrid.from_mapping({"distance_deg": [[0, 10, 0.5]],
                                   "depth_km": [[0, 50, 10]]}).depths().tolist() == \
        [0, 10, 20, 30, 40, 50]
    with pytest.raises(ValueError, match="step"):
        TableGrid(((0, 10, 0),), ((0, 10, 1),)).distances()


def test_cell_locator_matches_searchsorted(ak135, iceland):
    from pipeline.traveltime.tables import _CellLocator

    rng = np.random.default_rng(9)
    for nodes in (ak135.distance_deg, ak135.depth_km, iceland.distance_deg, iceland.depth_km):
        q = np.concatenate([rng.uniform(nodes[0] - 1, nodes[-1] + 1, 20_000), nodes,
                            nodes - 1e-9, nodes + 1e-9])
        expected = np.clip(np.searchsorted(nodes, q, "right") - 1, 0, nodes.size - 2)
        np.testing.assert_array_equal(_CellLocator(nodes)(q), expected)


def test_lookup_speed(ak135, iceland):
    """Print the time of 10,000 look-ups (no timing assert: see bench/)."""
    rng = np.random.default_rng(3)
    d, z = rng.uniform(0, 100, 10_000), rng.uniform(0, 700, 10_000)
    ak135.time("P", d, z)
    n = 20
    t0 = time.perf_counter()
    for _ in range(n):
        t = ak135.time("P", d, z)
    per = (time.perf_counter() - t0) / n
    t0 = time.perf_counter()
    for _ in range(n):
        ak135.derivatives("P", d, z)
    per_d = (time.perf_counter() - t0) / n
    dl, zl = rng.uniform(0, 2, 10_000), rng.uniform(0, 40, 10_000)
    t0 = time.perf_counter()
    for _ in range(n):
        iceland.time("P", dl, zl)
    per_l = (time.perf_counter() - t0) / n
    print(f"10,000 look-ups: ak135 P time {per * 1e3:.2f} ms, time+derivatives "
          f"{per_d * 1e3:.2f} ms, Iceland P time {per_l * 1e3:.2f} ms")
    assert np.isfinite(t).all()
