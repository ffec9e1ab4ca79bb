"""Ellipticity corrections: shipped coefficients, table interpolation and their use by the locator.

The reference is ``ellipticipy`` (Russell et al. 2022, GJI 231, 2095) evaluated directly on
TauP ray paths; our tables store its coefficients per TauP phase, ray parameter and a few
source depths and interpolate them onto every table node.
"""
from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest
from obspy import UTCDateTime
from obspy.taup import TauPyModel

from pipeline.bulletin.read import read_bulletin
from pipeline.location import LocatorConfig, arrivals_from_event, locate, residuals_at
from pipeline.location.geodesy import KM_PER_DEG, distance_azimuth, geocentric_latitude
from pipeline.traveltime import TravelTimeTable
from pipeline.traveltime import ellipticity as ell
from tests import PROJECT_ROOT

ellipticipy = pytest.importorskip("ellipticipy")


@pytest.fixture(scope="module")
def ak135(tt_cache):
    return TravelTimeTable("ak135", ["P", "S", "PKP"], cache_dir=tt_cache)


@pytest.fixture(scope="module")
def taup():
    return TauPyModel("ak135")


def _direct(taup, phase, depth, dist, lat, az):
    """ellipticipy's correction for the first arrival of ``phase`` (TauP names)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        arrs = taup.get_ray_paths(depth, dist, phase_list=[phase])
        return float(ellipticipy.ellipticity_correction(arrs[0], azimuth=az, source_latitude=lat))


def test_shipped_files_exist_and_load():
    for model in ("ak135", "iasp91"):
        c = ell.EllipticityCoefficients.load(ell.DATA_DIR / f"ellipticity_{model}.npz")
        assert tuple(c.depths_km) == ell.COEFF_DEPTHS_KM
        assert {ph for ph, _ in c.samples} == set(ell.COEFF_PHASES)
        n = c.samples[("P", 0)].shape[1]
        assert n > 100  # every TauP ray of the phase, not a subsample


def test_legendre_weights_match_ellipticipy():
    from ellipticipy.tools import weighted_alp2

    for theta in np.radians([0.0, 17.0, 45.0, 90.0, 133.0, 180.0]):
        ours = ell.legendre_weights(theta)
        for m in range(3):
            assert ours[m] == pytest.approx(weighted_alp2(m, theta), abs=1e-12)


# (table phase, TauP phase, depth km, distance deg, source latitude, azimuth): teleseismic P at
# several depths (incl. between the tabulated ones), S, PKP, a regional P
CASES = [("P", "P", 10.0, 40.0, 45.0, 30.0), ("P", "P", 50.0, 62.0, -30.0, 200.0),
         ("P", "P", 250.0, 85.0, 10.0, 95.0), ("P", "P", 600.0, 30.0, 70.0, 300.0),
         ("P", "P", 66.8, 10.56, 39.45, 150.0), ("S", "S", 33.0, 55.0, 52.0, 10.0),
         ("PKP", "PKIKP", 100.0, 150.0, -20.0, 0.0)]


@pytest.mark.parametrize("phase,taup_phase,depth,dist,lat,az", CASES)
def test_table_correction_matches_ellipticipy(ak135, taup, phase, taup_phase, depth, dist, lat, az):
    ours = float(ak135.ellipticity(phase, dist, depth, lat, az))
    ref = _direct(taup, taup_phase, depth, dist, lat, az)
    print(f"\n{phase} h={depth} km D={dist} deg lat={lat} az={az}: ours {ours:+.3f} s, "
          f"ellipticipy {ref:+.3f} s, diff {ours - ref:+.3f} s")
    assert abs(ours - ref) <= 0.03 + 0.03 * abs(ref)


def test_iasp91_table_correction(tt_cache):
    tt = TravelTimeTable("iasp91", ["P"], cache_dir=tt_cache)
    ours = float(tt.ellipticity("P", 70.0, 35.0, -60.0, 120.0))
    ref = _direct(TauPyModel("iasp91"), "P", 35.0, 70.0, -60.0, 120.0)
    print(f"\niasp91 P: ours {ours:+.3f} s, ellipticipy {ref:+.3f} s")
    assert abs(ours - ref) <= 0.03


def test_layered_tables_have_no_correction(tt_cache):
    vmodel = PROJECT_ROOT / "tests" / "data" / "iceland" / "inputs" / "iceland_vmodel.txt"
    tt = TravelTimeTable(vmodel, ["P"], cache_dir=tt_cache)
    assert not tt.has_ellipticity
    assert float(tt.ellipticity("P", 0.5, 5.0, 64.0, 30.0)) == 0.0


def test_out_of_grid_is_nan(ak135):
    assert math.isnan(float(ak135.ellipticity("P", 181.0, 10.0, 0.0, 0.0)))


def _stations(n=24, seed=3):
    rng = np.random.default_rng(seed)
    lat = np.degrees(np.arcsin(rng.uniform(-1, 1, n)))
    lon = rng.uniform(-180, 180, n)
    return pd.DataFrame({"network": "XX", "station": [f"S{i:02d}" for i in range(n)],
                         "latitude": lat, "longitude": lon, "elevation_m": 0.0})


def test_locator_removes_ellipticity_bias(ak135, taup):
    """Times computed with ellipticipy's corrections on TauP (truth), located with and without
    the correction: with it the epicentre is back within 1 km, without it it is off."""
    st = _stations()
    lat, lon, depth, t0 = 52.0, 160.0, 40.0, UTCDateTime(2020, 1, 1)
    glat = float(geocentric_latitude(lat))
    rows = []
    for s in st.itertuples():
        d, az, _ = distance_azimuth(glat, lon, float(geocentric_latitude(s.latitude)), s.longitude)
        d, az = float(d), float(az)
        if not 25.0 <= d <= 95.0:
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            arr = taup.get_ray_paths(depth, d, phase_list=["P"])[0]
            corr = float(ellipticipy.ellipticity_correction(arr, azimuth=az, source_latitude=glat))
        rows.append({"station": s.station, "network": "XX", "phase": "P",
                     "time": t0 + arr.time + corr, "time_uncertainty": 0.1})
    arrivals = pd.DataFrame(rows)
    assert len(arrivals) >= 8
    with_ = locate(arrivals, st, ak135)
    without = locate(arrivals, st, ak135, LocatorConfig(ellipticity_corrections=False))

    def err(r):
        return float(distance_azimuth(r.latitude, r.longitude, lat, lon)[0]) * KM_PER_DEG

    print(f"\nplanted P ({len(arrivals)} stations) with ellipticity in the times: located "
          f"{err(with_):.2f} km / {abs(with_.depth_km - depth):.1f} km depth off with corrections, "
          f"{err(without):.2f} km / {abs(without.depth_km - depth):.1f} km without "
          f"(rms {with_.rms_s:.3f} vs {without.rms_s:.3f} s)")
    assert err(with_) < 1.0 and abs(with_.depth_km - depth) < 2.0
    assert with_.rms_s < 0.05
    assert without.rms_s > 2 * with_.rms_s
    col = with_.arrivals["ellipticity_correction_s"]
    assert col.notna().all() and (col.abs() > 0.05).any()
    assert without.arrivals["ellipticity_correction_s"].fillna(0).eq(0).all()


REB = PROJECT_ROOT / "tests" / "data" / "bulletins"


@pytest.mark.parametrize("name,index", [("reb_1995_gse2.txt", 0), ("reb_1995_2events_gse2.txt", 1)])
def test_reb_residuals_reproduced_at_the_reb_solution(ak135, name, index):
    """At the REB's own hypocentre our ak135 + ellipticity + elevation travel times give the
    REB's printed time residuals (0.1 s resolution) for every time-defining mantle P (10-80
    deg): the prototype IDC's LocSAT times (iasp91 + ellipticity) are reproduced, which they
    are not without ellipticity. Regional Pn (Vancouver Island event, 10-18 deg) differ more
    (IDC regional Pn tables are not ak135/iasp91): printed and bounded."""
    st = pd.read_csv(REB / "reb1995_stations.csv")
    cat, _ = read_bulletin(REB / name)
    ev = cat[index]
    o = ev.preferred_origin() or ev.origins[0]
    arr = arrivals_from_event(ev)
    phase = {str(p.resource_id): p.phase_hint for p in ev.picks}
    reb = {str(a.pick_id): a.time_residual for a in o.arrivals if a.time_weight}
    diffs = {}
    for ell_on in (True, False):
        res = residuals_at(arr, st, ak135, o.latitude, o.longitude, o.depth / 1000.0, o.time,
                           LocatorConfig(ellipticity_corrections=ell_on))
        ours = res.set_index("pick_id")["time_residual_s"]
        diffs[ell_on] = {pid: ours[pid] - r for pid, r in reb.items()}
    mantle = [pid for pid in reb if phase[pid] == "P"]
    worst = {k: max(abs(d[pid]) for pid in mantle) for k, d in diffs.items()}
    pn = [abs(diffs[True][pid]) for pid in reb if phase[pid] == "Pn"]
    print(f"\n{name}[{index}]: ours - REB residual with ellipticity: "
          + ", ".join(f"{phase[pid]} {diffs[True][pid]:+.2f}" for pid in reb)
          + f"; mantle P max |diff| {worst[True]:.2f} s with, {worst[False]:.2f} s without "
          f"ellipticity corrections")
    assert len(mantle) >= 3
    assert worst[True] <= 0.16  # REB residuals and times are printed to 0.1 s
    assert worst[False] > worst[True]
    assert all(d <= 0.4 for d in pn)
