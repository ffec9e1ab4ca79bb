"""TravelTimeTable.lookup (all quantities, one or mixed phases in one call) and the locator's
vectorised elevation corrections: the fast paths must give exactly the values of the
single-purpose, per-phase calls they replace."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipeline.traveltime.tables import TravelTimeTable, local_grid

ICELAND_VMODEL = Path(__file__).parent / "data" / "iceland" / "inputs" / "iceland_vmodel.txt"


@pytest.fixture(scope="module")
def iceland(tmp_path_factory):
    # a small grid (0-0.6 deg, top-20 km) keeps the TauP build short
    return TravelTimeTable(ICELAND_VMODEL, ["P", "S"],
                           cache_dir=tmp_path_factory.mktemp("tt-lookup-cache"),
                           grid=local_grid(-3.0, max_distance_deg=0.6, max_depth_km=20.0))


def _points(rng, n):
    x = rng.uniform(-0.05, 0.65, n)  # a few outside the grid (NaN)
    z = rng.uniform(-3.5, 21.0, n)
    x[:5] = [0.0, 0.005, 0.6, np.nan, 0.3]
    z[:5] = [-3.0, 0.0, 20.0, 5.0, np.nan]
    return x, z


def test_lookup_equals_single_phase_methods(iceland):
    rng = np.random.default_rng(11)
    x, z = _points(rng, 3000)
    for phase in ("P", "S"):
        t, dd, u, dh = iceland.lookup(phase, x, z)
        t1, dd1, dh1 = iceland.derivatives(phase, x, z)
        for a, b in ((t, t1), (dd, dd1), (dh, dh1), (u, iceland.slowness(phase, x, z)),
                     (t, iceland.time(phase, x, z))):
            np.testing.assert_array_equal(a, b)
        assert np.isfinite(t[np.isfinite(x) & np.isfinite(z) & (x >= 0) & (x <= 0.6)
                             & (z >= -3) & (z <= 20)]).all()
        assert np.isnan(t[(x < 0) | (x > 0.6) | (z < -3) | (z > 20) | np.isnan(x)
                          | np.isnan(z)]).all()


def test_lookup_mixed_phases_and_batches(iceland):
    """One call with a phase per point (names or indices) equals per-phase calls, and a point's
    value does not depend on the batch it is in (single points, 2-D arrays)."""
    rng = np.random.default_rng(12)
    x, z = _points(rng, 2000)
    names = np.where(rng.uniform(size=x.size) < 0.5, "P", "S")
    idx = np.array([iceland.phases.index(p) for p in names])
    t, dd, u, dh = iceland.lookup(names, x, z)
    t2 = iceland.lookup(idx, x, z)[0]
    np.testing.assert_array_equal(t, t2)
    for p in ("P", "S"):
        m = names == p
        np.testing.assert_array_equal(t[m], iceland.time(p, x[m], z[m]))
        np.testing.assert_array_equal(u[m], iceland.slowness(p, x[m], z[m]))
    for k in range(0, 40, 7):  # single points
        tk, ddk, uk, dhk = iceland.lookup(str(names[k]), x[k], z[k])
        assert tk.shape == ()
        np.testing.assert_array_equal([tk, ddk, uk, dhk], [t[k], dd[k], u[k], dh[k]])
    # 2-D: phase per column broadcast over rows
    X = x[:600].reshape(20, 30)
    cols = names[:30]
    T = iceland.time(np.broadcast_to(cols, X.shape), X, 8.0)
    for c in range(30):
        np.testing.assert_array_equal(T[:, c], iceland.time(str(cols[c]), X[:, c], 8.0))
    with pytest.raises(KeyError, match="Pn"):
        iceland.lookup(np.array(["P", "Pn"]), [1.0, 1.0], [5.0, 5.0])
    with pytest.raises(ValueError, match="indices"):
        iceland.lookup(np.array([0, 5]), [1.0, 1.0], [5.0, 5.0])


def test_locator_elevation_interpolation_matches_numpy_interp(iceland):
    """The locator's vectorised elevation correction equals numpy.interp per arrival."""
    from pipeline.location.config import LocatorConfig
    from pipeline.location.locator import _Problem

    stations = pd.DataFrame({"network": "VI", "station": ["A", "B", "C", "D"],
                             "latitude": [64.6, 64.7, 64.8, 64.9],
                             "longitude": [-17.0, -16.9, -16.8, -16.7],
                             "elevation_m": [1800.0, 600.0, -200.0, 2900.0]})
    arrivals = pd.DataFrame({"station": ["A", "B", "C", "D", "A"], "phase": ["P", "P", "S", "S", "S"],
                             "time": [10.0, 11.0, 12.0, 13.0, 14.0]})
    prob = _Problem(arrivals, stations, iceland, LocatorConfig())
    rng = np.random.default_rng(13)
    for phase, idx in prob.groups.items():
        pk, vals = prob._ec_table(phase)
        p = rng.uniform(-0.05, pk[-1] * 1.1, (50, idx.size))
        p[0, :] = pk[3]  # on a node
        p[1, :] = pk[-1]
        p[2, 0] = np.nan
        got = prob._elevation(phase, idx, p)
        ref = np.empty(p.shape)
        q = np.nan_to_num(np.abs(p))
        for c, i in enumerate(idx):
            ref[:, c] = np.interp(q[:, c], pk, vals[:, i])
        np.testing.assert_array_equal(got, ref)


def test_lookup_broadcasts_phases_with_points(iceland):
    """Phases, distances and depths broadcast together (one point, several phases)."""
    t = iceland.time(np.array(["P", "S"]), 0.2, 5.0)
    assert t.shape == (2,)
    assert t[0] == iceland.time("P", 0.2, 5.0) and t[1] == iceland.time("S", 0.2, 5.0)
    assert t[1] > t[0] > 0
