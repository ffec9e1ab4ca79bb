"""Array processing (pipeline.array): geometry from StationXML, beams, f-k, detection on beams.

Real data: ARCES/FINES element coordinates (ISC station list), the NORSAR array geometry table
(an independent source), real P arrivals planted into real noise (tests/data/arrays, see
SOURCE.txt), and the real 13-element DIA infrasound array recording (tests/data/arrays/dia).
"""
from __future__ import annotations

import json

import numpy as np
import pytest
from obspy import Stream, Trace, UTCDateTime

from pipeline.array import (KM_PER_DEG, ArrayConfig, ArrayGeometryError, beam_set, detect_array, element_data,
                            fk_grid, geometry_from_inventory, measure, polar, slowness_vector)
from tests.arrays_planted import DATA, array_inventory, arrivals, noise_pool, plant, signal

ONSET = UTCDateTime(2022, 1, 1) + 30.0


def _ids(inv):
    return [f"{n.code}.{s.code}..{s.channels[0].code}" for n in inv for s in n]


def test_geometry_matches_the_norsar_table():
    """Offsets from StationXML coordinates (obspy get_geometry) agree with NORSAR's own table of
    ARCES element offsets (km) within the rounding of the ISC coordinates (5 decimals: ~1 m N,
    ~0.4 m E) plus the table's own precision."""
    inv = array_inventory("ARCES")
    g = geometry_from_inventory(inv, _ids(inv), code="ARCES")
    assert g.reference == "ARA0" and g.code == "ARCES" and g.n == 26
    table = json.loads((DATA / "array_geometries.json").read_text())["ARCES"]
    ref = np.array([table["ARA0"]["dx"], table["ARA0"]["dy"]])
    errs = []
    for sid, x, y in zip(g.seed_ids, g.x_km, g.y_km):
        sta = sid.split(".")[1]
        t = np.array([table[sta]["dx"], table[sta]["dy"]]) - ref
        errs.append(np.hypot(x - t[0], y - t[1]))
    assert max(errs) < 0.02, max(errs)
    assert 2.9 < g.aperture_km < 3.3  # ARCES: ~3 km aperture


def test_geometry_errors_name_the_element():
    inv = array_inventory("FINES")
    with pytest.raises(ArrayGeometryError, match="IM.XXX0..BHZ"):
        geometry_from_inventory(inv, _ids(inv)[:3] + ["IM.XXX0..BHZ"])
    with pytest.raises(ArrayGeometryError, match="at least 3"):
        geometry_from_inventory(inv, _ids(inv)[:2])


def test_slowness_conventions():
    sx, sy = slowness_vector(90.0, KM_PER_DEG * 0.1)  # from the east: propagates west
    assert sx == pytest.approx(-0.1) and sy == pytest.approx(0.0, abs=1e-12)
    baz, slow = polar(*slowness_vector(np.array([10.0, 200.0, 359.0]), np.array([5.0, 13.7, 8.0])))
    np.testing.assert_allclose(baz, [10.0, 200.0, 359.0])
    np.testing.assert_allclose(slow, [5.0, 13.7, 8.0])


def test_beam_gain_and_fk_peak_on_a_planted_arrival():
    """The beam steered at the planted slowness has the largest power, and the f-k map of obspy
    (xarray time x sx x sy) peaks there."""
    inv = array_inventory("ARCES")
    r = arrivals().query("set == 'tune' and array == 'ARCES'").iloc[0]
    st = plant(signal(int(r["id"])), inv, r["backazimuth"], r["slowness"], noise_pool("tune"), 5.0,
               np.random.default_rng(3), statics_s=0.0, amp_spread=0.0)
    ed = element_data(st)
    g = geometry_from_inventory(inv, ed.seed_ids, code="ARCES")
    i0, i1 = int(29 * 40), int(34 * 40)
    bazs = np.array([r["backazimuth"], (r["backazimuth"] + 90) % 360, (r["backazimuth"] + 180) % 360])
    beams = beam_set(ed.data, g, ed.fs, bazs, [r["slowness"]] * 3, t0=ed.t0.timestamp)
    assert beams.dims == ("beam", "time") and beams.sizes["beam"] == 3
    power = (beams.values[:, i0:i1] ** 2).mean(axis=1)
    assert power.argmax() == 0 and power[0] > 2 * power[1:].max()
    grid = fk_grid(ed.data, g, ed.fs, ed.t0.timestamp, ONSET.timestamp - 1, ONSET.timestamp + 5, (2.0, 8.0),
                   25.0, 1.0, win_len_s=3.0, win_frac=0.5)
    assert grid.dims == ("time", "sx", "sy") and grid.sizes["time"] == 3
    best = grid.isel(time=int(np.argmax(grid.max(dim=("sx", "sy")).values)))
    ix, iy = np.unravel_index(int(best.values.argmax()), best.shape)
    baz, slow = polar(float(grid.sx[ix]), float(grid.sy[iy]))
    assert abs((baz - r["backazimuth"] + 180) % 360 - 180) < 10
    assert abs(slow - r["slowness"]) < 1.5


@pytest.mark.parametrize("kind", ["tune", "heldout"])
def test_planted_real_arrivals_are_detected_and_measured(kind):
    """Real P arrivals planted at their bulletin-predicted backazimuth/slowness into real noise
    (SNR 5): every one is detected on the beams and measured within 10 deg and 2.5 s/deg (SPITS,
    9 elements over ~1 km, resolves slowness worst); F is
    well above the ~1 of noise (the median within 5 deg and 1.5 s/deg). Subset of
    bench/array_validation.py (which prints the errors against SNR)."""
    rng = np.random.default_rng(11)
    pool = noise_pool(kind)
    rows = arrivals().query("set == @kind")
    rows = rows.iloc[::3] if kind == "heldout" else rows  # 5 of the 15 held-out, all 7 tuning arrivals
    baz_err, slow_err = [], []
    for _, r in rows.iterrows():
        inv = array_inventory(r["array"])
        st = plant(signal(int(r["id"])), inv, r["backazimuth"], r["slowness"], pool, 5.0, rng)
        d = detect_array(st, inv, ArrayConfig(), code=r["array"])
        near = d[(d["time"] - ONSET.timestamp).abs() <= 5.0]
        assert len(near), f"arrival {r['id']} ({r['array']} {r['label']}) not detected"
        x = near.loc[near["fstat"].idxmax()]
        assert x["station"] == r["array"] and x["phase"] == "P" and x["technology"] == "seismic"
        baz_err.append(abs((x["backazimuth"] - r["backazimuth"] + 180) % 360 - 180))
        slow_err.append(abs(x["slowness"] - r["slowness"]))
        assert x["fstat"] > 3 and 0 < x["semblance"] <= 1
        assert 0 < x["backazimuth_uncertainty"] < 20 and 0 < x["slowness_uncertainty"] < 3
    print(f"{kind}: |dbaz| {np.round(baz_err, 1)} deg, |dslow| {np.round(slow_err, 2)} s/deg")
    assert max(baz_err) <= 10 and max(slow_err) <= 2.5
    assert np.median(baz_err) <= 5 and np.median(slow_err) <= 1.5


def test_noise_alone_gives_low_f():
    """Real noise only (incoherent across elements): whatever triggers has F near 1, far below
    a planted arrival's (this test fails if F or semblance were computed on one element)."""
    inv = array_inventory("FINES")
    pool = noise_pool("tune")
    rng = np.random.default_rng(5)
    st = Stream()
    for i, sid in enumerate(_ids(inv)):
        net, sta, loc, cha = sid.split(".")
        st += Trace(pool[int(rng.integers(len(pool)))].copy(), header=dict(
            network=net, station=sta, location=loc, channel=cha, sampling_rate=40.0, starttime=UTCDateTime(2022, 1, 1)))
    ed = element_data(st)
    g = geometry_from_inventory(inv, ed.seed_ids)
    vals, fkmap = measure(ed.data, g, ed.fs, ed.t0.timestamp, ed.t0.timestamp + 30, ArrayConfig())
    assert vals["fstat"] < 5 and vals["semblance"] < 0.3
    assert fkmap.dims == ("sx", "sy")
