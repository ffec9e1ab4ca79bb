"""Location stage: planted local and teleseismic events, ellipse coverage, REB relocation,
obspy conversion and input validation.

Planted events: arrival times predicted from the travel-time tables at a known hypocentre
(station elevation corrections included) must be located from the default start (grid
search). The geometry of the planted data is computed here independently of the locator
(obspy's spherical ``locations2degrees`` with geocentric latitudes); elevation corrections come
from the table's own ``elevation_correction`` (Iceland) or from ``h * sqrt(1/v² - p²)`` with
v = 5.8 / 3.46 km/s (ak135 stations above the model top).

The 1995 REB excerpts are relocated from their own defining arrivals with ak135. Station
coordinates (tests/data/bulletins/reb1995_stations.csv) were copied from iLoc's ISC station list
../shared/data/iloc_station_registry/isc_stalist (IstvanBondar/iLoc @ cecf63b, BSD-3-Clause;
ISC International Registry of Seismograph Stations).

Tables are built once per module in a temporary folder (~8 s ak135, ~10 s Iceland). Run with
``-s`` to see the measured errors.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from obspy import UTCDateTime, read_events, read_inventory
from obspy.core.event import Catalog, Event
from obspy.geodetics import locations2degrees

from pipeline.bulletin.read import read_bulletin
from pipeline.location import (
    LocationError,
    LocatorConfig,
    arrivals_from_event,
    f_critical,
    locate,
    to_obspy_origin,
)
from pipeline.location.ellipse import error_ellipse, jordan_sverdrup
from pipeline.location.locator import backazimuth_uncertainty_from_slowness
from pipeline.location.geodesy import KM_PER_DEG, destination, distance_azimuth, move_km
from pipeline.picks import stations_from_inventory
from pipeline.traveltime import TravelTimeTable
from tests import PROJECT_ROOT

DATA = PROJECT_ROOT / "tests" / "data"
ICELAND_VMODEL = DATA / "iceland" / "inputs" / "iceland_vmodel.txt"
T0 = UTCDateTime(2014, 8, 24, 0, 3, 0).timestamp
_F = 1.0 / 298.257223563


# -- independent geometry for planting ---------------------------------------------------------
def _geoc(lat):
    return np.degrees(np.arctan((1.0 - _F) ** 2 * np.tan(np.radians(lat))))


def _dist_baz(ev_lat, ev_lon, st_lat, st_lon):
    """Distance (deg) and station-to-event azimuth (deg) on the sphere, geocentric latitudes."""
    e, s = _geoc(ev_lat), _geoc(np.asarray(st_lat, float))
    d = np.array([locations2degrees(e, ev_lon, a, b) for a, b in zip(s, st_lon)])
    p1, p2 = np.radians(s), np.radians(e)
    dl = np.radians(ev_lon - np.asarray(st_lon, float))
    baz = np.degrees(np.arctan2(np.sin(dl) * np.cos(p2),
                                np.cos(p1) * np.sin(p2) - np.sin(p1) * np.cos(p2) * np.cos(dl)))
    return d, baz % 360.0


def _epicentral_error_km(r, lat, lon):
    return float(distance_azimuth(lat, lon, r.latitude, r.longitude)[0]) * KM_PER_DEG


# -- fixtures --------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def cache_dir(tt_cache):
    return tt_cache


@pytest.fixture(scope="module")
def iceland_tt(cache_dir):
    return TravelTimeTable(ICELAND_VMODEL, ["P", "S"], cache_dir=cache_dir)


@pytest.fixture(scope="module")
def ak135_tt(cache_dir):
    return TravelTimeTable("ak135", ["P", "S", "PKP"], cache_dir=cache_dir)


@pytest.fixture(scope="module")
def z7_stations():
    st = stations_from_inventory(read_inventory(str(PROJECT_ROOT / "stations" / "Z7.xml")))
    assert len(st) == 12
    return st


@pytest.fixture(scope="module")
def ims_stations():
    df = pd.read_csv(PROJECT_ROOT / "stations" / "ims_stations.csv")
    df = df[(df.technology == "seismic_primary") & df.code.notna() & df.latitude.notna()]
    st = pd.DataFrame({"network": "IM", "station": df.code.values, "latitude": df.latitude.values,
                       "longitude": df.longitude.values,
                       "elevation_m": df.elevation_m.fillna(0.0).values,
                       "kind": df.kind.fillna("3c").values})
    assert 35 <= len(st) <= 50
    return st.reset_index(drop=True)


@pytest.fixture(scope="module")
def reb_stations():
    return pd.read_csv(DATA / "bulletins" / "reb1995_stations.csv")


def plant_local(tt, stations, lat, lon, depth_km, sigma=(0.0, 0.0), rng=None):
    """P and S at every station; optional Gaussian pick noise (sigma_P, sigma_S) in s."""
    d, _ = _dist_baz(lat, lon, stations.latitude, stations.longitude)
    elev = stations.elevation_m.to_numpy() / 1000.0
    rows = []
    for phase, sig in zip(("P", "S"), sigma):
        t = tt.time(phase, d, depth_km) + tt.elevation_correction(phase, d, depth_km, elev)
        noise = rng.normal(0.0, sig, d.size) if sig > 0 else np.zeros(d.size)
        for k in range(d.size):
            rows.append({"network": stations.network[k], "station": stations.station[k],
                         "phase": phase, "time": T0 + t[k] + noise[k],
                         "time_uncertainty": sig if sig > 0 else np.nan,
                         "pick_id": f"{stations.station[k]}-{phase}"})
    return pd.DataFrame(rows)


def plant_teleseismic(tt, stations, lat, lon, depth_km, sigma=0.0, rng=None,
                      azimuths=True):
    """P to 98 deg, PKP beyond 120 deg, S (< 80 deg) at every third station, backazimuth and
    slowness of P at array stations; Gaussian noise of ``sigma`` s on the times."""
    d, baz = _dist_baz(lat, lon, stations.latitude, stations.longitude)
    # event-to-station azimuths for the ellipticity corrections (the truth is an ellipsoid)
    _, az, _ = distance_azimuth(_geoc(lat), lon, _geoc(stations.latitude.to_numpy()),
                                stations.longitude.to_numpy())
    elev = stations.elevation_m.to_numpy() / 1000.0
    rows = []
    for k in range(d.size):
        for phase, v in (("P", 5.8), ("S", 3.46), ("PKP", 5.8)):
            if (phase == "P" and d[k] > 98) or (phase == "PKP" and d[k] < 120) or \
                    (phase == "S" and (d[k] > 80 or k % 3)):
                continue
            t = float(tt.time(phase, d[k], depth_km))
            if not np.isfinite(t):
                continue
            p = float(tt.slowness(phase, d[k], depth_km))
            t += elev[k] * math.sqrt(1.0 / v ** 2 - (p / KM_PER_DEG) ** 2)
            t += float(tt.ellipticity(phase, d[k], depth_km, _geoc(lat), az[k]))
            noise = rng.normal(0.0, sigma) if sigma > 0 else 0.0
            row = {"network": "IM", "station": stations.station[k], "phase": phase,
                   "time": T0 + t + noise, "time_uncertainty": sigma if sigma > 0 else np.nan}
            if azimuths and phase == "P" and stations.kind[k] == "array":
                # noise as stated by the uncertainties (5 deg, 1 s/deg) when times are noisy
                nb, ns = (rng.normal(0.0, 5.0), rng.normal(0.0, 1.0)) if sigma > 0 else (0, 0)
                row.update(backazimuth=(baz[k] + nb) % 360.0, backazimuth_uncertainty=5.0,
                           slowness=p + ns, slowness_uncertainty=1.0)
            rows.append(row)
    return pd.DataFrame(rows)


# -- geometry and statistics -------------------------------------------------------------------
def test_haversine_geometry_local_and_global():
    # 100 m north of a point in Iceland: km precision of the haversine form
    lat2, lon2 = move_km(64.8, -16.8, 0.0, 0.1)
    d, az, baz = distance_azimuth(64.8, -16.8, lat2, lon2)
    assert abs(d * KM_PER_DEG - 0.1) < 1e-9
    assert abs((az + 180.0) % 360.0 - 180.0) < 1e-6 and abs(baz - 180.0) < 1e-6
    # teleseismic: Greece -> GERES as obspy computes it (sphere)
    d, az, baz = distance_azimuth(39.45, 20.44, 48.8451, 13.7016)
    assert abs(d - locations2degrees(39.45, 20.44, 48.8451, 13.7016)) < 1e-9
    assert abs(baz - 150.36) < 0.01 and abs(az - 335.07) < 0.01
    la, lo = destination(10.0, 20.0, 45.0, 30.0)
    d, az, _ = distance_azimuth(10.0, 20.0, la, lo)
    assert abs(d - 30.0) < 1e-9 and abs(az - 45.0) < 1e-9


def test_jordan_sverdrup_and_ellipse_scaling():
    # F(2, n, 0.9) as tabulated in REFERENCE 2.2 (iLoc Ftest)
    for n, ref in ((1, 49.50), (2, 9.00), (3, 5.46), (4, 4.32), (5, 3.78), (10, 2.92),
                   (20, 2.59), (30, 2.49), (60, 2.39), (120, 2.35)):
        assert abs(f_critical(2, n, 0.9) - ref) < 0.006, n
    assert abs(math.sqrt(2 * f_critical(2, math.inf, 0.9)) - 2.146) < 1e-3
    assert abs(math.sqrt(f_critical(1, math.inf, 0.9)) - 1.645) < 1e-3
    ndf, s = jordan_sverdrup([1.0, -1.0, 2.0, 0.0, 1.0, 1.0], 4, prior_dof=8, prior_sigma=1)
    assert ndf == 10 and abs(s - math.sqrt((8 + 8) / 10)) < 1e-12
    # major axis along N30E, 3 km² and 1 km² variances
    a = math.radians(30.0)
    R = np.array([[math.sin(a), math.cos(a)], [math.cos(a), -math.sin(a)]])
    cov = R @ np.diag([9.0, 1.0]) @ R.T
    e = error_ellipse(cov, math.inf, 0.9)
    k = math.sqrt(2 * f_critical(2, math.inf, 0.9))
    assert abs(e.strike_deg - 30.0) < 1e-6
    assert abs(e.semi_major_km - 3 * k) < 1e-9 and abs(e.semi_minor_km - k) < 1e-9
    assert e.contains(0.99 * 3 * k * math.sin(a), 0.99 * 3 * k * math.cos(a))
    assert not e.contains(1.01 * 3 * k * math.sin(a + math.pi / 2),
                          1.01 * 3 * k * math.cos(a + math.pi / 2))


# -- planted events ------------------------------------------------------------------------------
@pytest.mark.parametrize("lat,lon,depth", [
    (64.80, -16.80, 2.0), (64.70, -17.00, 5.0), (64.95, -16.60, 10.0), (64.85, -16.90, 15.0),
    (64.66, -17.05, 7.5), (65.05, -16.35, 12.0),
])
def test_planted_local_event_exact_times(iceland_tt, z7_stations, lat, lon, depth):
    arr = plant_local(iceland_tt, z7_stations, lat, lon, depth)
    r = locate(arr, z7_stations, iceland_tt, LocatorConfig())
    err = _epicentral_error_km(r, lat, lon)
    print(f"\nlocal {lat} {lon} {depth} km: epicentre error {err * 1000:.1f} m, depth error "
          f"{r.depth_km - depth:+.3f} km, time error {r.time.timestamp - T0:+.4f} s, "
          f"{r.iterations} iterations; {r}")
    assert r.converged, r.message
    assert err < 1.0 and abs(r.depth_km - depth) < 2.0
    assert abs(r.time.timestamp - T0) < 0.1
    assert r.ndef == 24 and r.nsta == 12 and r.depth_type == "free"
    assert r.rms_s < 0.02
    assert r.covariance.shape == (4, 4) and r.parameters[2] == "depth_km"
    assert r.arrivals["time_defining"].all()
    assert np.all(np.abs(r.arrivals["time_residual_s"]) < 0.05)
    # elevation corrections were applied (stations 0.66-1.38 km below the 3 km model top)
    assert (r.arrivals["elevation_correction_s"] < -0.5).all()


def test_planted_local_event_from_direct_taup(iceland_tt, z7_stations):
    """Times from TauP with the receivers at their real elevations: independent of the table
    interpolation and of the elevation-correction formula."""
    lat, lon, depth = 64.82, -16.88, 6.3
    model = iceland_tt.model.taupy()
    top = iceland_tt.model.top_km
    d, _ = _dist_baz(lat, lon, z7_stations.latitude, z7_stations.longitude)
    rows = []
    for k in range(len(z7_stations)):
        rcv = -z7_stations.elevation_m[k] / 1000.0 - top
        for phase in ("P", "S"):
            arrs = model.get_travel_times(depth - top, float(d[k]),
                                          list(iceland_tt.groups[phase].phases),
                                          receiver_depth_in_km=rcv)
            rows.append({"station": z7_stations.station[k], "phase": phase,
                         "time": T0 + min(a.time for a in arrs)})
    r = locate(pd.DataFrame(rows), z7_stations, iceland_tt)
    err = _epicentral_error_km(r, lat, lon)
    print(f"\nlocal from TauP: epicentre error {err * 1000:.1f} m, depth error "
          f"{r.depth_km - depth:+.3f} km, rms {r.rms_s * 1000:.1f} ms")
    assert r.converged and err < 1.0 and abs(r.depth_km - depth) < 2.0
    assert r.rms_s < 0.05


@pytest.mark.parametrize("lat,lon,depth", [
    (39.45, 20.44, 10.0), (-20.0, -70.0, 100.0), (35.0, 140.0, 300.0), (-6.0, 150.0, 600.0),
    (50.8, -129.8, 20.0), (10.0, -40.0, 33.0), (-60.0, -30.0, 150.0), (73.0, 55.0, 0.0),
])
def test_planted_teleseismic_event_exact(ak135_tt, ims_stations, lat, lon, depth):
    arr = plant_teleseismic(ak135_tt, ims_stations, lat, lon, depth)
    r = locate(arr, ims_stations, ak135_tt)
    err = _epicentral_error_km(r, lat, lon)
    print(f"\nteleseismic {lat} {lon} {depth} km: {len(arr)} arrivals, epicentre error "
          f"{err:.4f} km, depth error {r.depth_km - depth:+.3f} km; {r}")
    assert r.converged, r.message
    assert err < 10.0 and abs(r.depth_km - depth) < 10.0
    assert r.n_azimuth_defining > 0 and r.n_slowness_defining > 0
    assert r.n_time_defining == len(arr)
    assert r.rms_s < 0.05
    assert 0 < r.min_distance_deg <= r.max_distance_deg <= 180
    assert 0 < r.azimuthal_gap_deg < 360


def test_planted_teleseismic_noisy_times_only(ak135_tt, ims_stations):
    rng = np.random.default_rng(5)
    lat, lon, depth = 42.0, 75.0, 40.0
    arr = plant_teleseismic(ak135_tt, ims_stations, lat, lon, depth, sigma=0.7, rng=rng,
                            azimuths=False)
    r = locate(arr, ims_stations, ak135_tt)
    err = _epicentral_error_km(r, lat, lon)
    print(f"\nteleseismic, 0.7 s noise, times only: error {err:.2f} km, depth error "
          f"{r.depth_km - depth:+.1f} km, ellipse {r.ellipse}")
    assert r.converged and err < 10.0
    assert r.n_azimuth_defining == 0 and 0.5 < r.sigma_hat < 1.5


def test_local_ellipse_coverage(iceland_tt, z7_stations):
    """90 % ellipses of 200 noisy locations (P 0.05 s, S 0.1 s Gaussian picks, those sigmas
    given as the pick uncertainties) contain the true epicentre >= 85 % of the time.

    Each trial starts 5 km / 3 km-deep off the truth (the grid search is tested above)."""
    rng = np.random.default_rng(2014)
    lat, lon, depth = 64.80, -16.85, 7.0
    start = (*move_km(lat, lon, 3.0, -4.0), 10.0)
    inside = in_depth = converged = 0
    n = 200
    major = []
    for _ in range(n):
        arr = plant_local(iceland_tt, z7_stations, lat, lon, depth, sigma=(0.05, 0.1), rng=rng)
        r = locate(arr, z7_stations, iceland_tt, LocatorConfig(), start=start)
        converged += r.converged
        d, az, _ = distance_azimuth(r.latitude, r.longitude, lat, lon)
        dk = float(d) * KM_PER_DEG
        inside += bool(r.ellipse.contains(dk * math.sin(math.radians(az)),
                                          dk * math.cos(math.radians(az))))
        in_depth += abs(r.depth_km - depth) <= r.depth_uncertainty_km
        major.append(r.ellipse.semi_major_km)
    print(f"\nlocal 90 % ellipse coverage {inside / n:.3f} (depth interval {in_depth / n:.3f}), "
          f"median semi-major {np.median(major):.3f} km, converged {converged}/{n}")
    assert converged == n
    assert 0.85 <= inside / n <= 0.97  # neither too small nor uselessly large
    assert in_depth / n >= 0.75


def test_teleseismic_ellipse_coverage(ak135_tt, ims_stations):
    rng = np.random.default_rng(1995)
    lat, lon, depth = -20.0, -70.0, 100.0
    inside = 0
    n = 60
    for _ in range(n):
        arr = plant_teleseismic(ak135_tt, ims_stations, lat, lon, depth, sigma=1.0, rng=rng)
        r = locate(arr, ims_stations, ak135_tt, start=(lat + 0.3, lon - 0.3, 50.0))
        d, az, _ = distance_azimuth(r.latitude, r.longitude, lat, lon)
        dk = float(d) * KM_PER_DEG
        inside += bool(r.ellipse.contains(dk * math.sin(math.radians(az)),
                                          dk * math.cos(math.radians(az))))
    print(f"\nteleseismic 90 % ellipse coverage {inside / n:.3f} ({n} trials, 1 s noise)")
    assert inside / n >= 0.8


# -- REB 1995 ------------------------------------------------------------------------------------
REB_EVENTS = [("reb_1995_gse2.txt", 0), ("reb_1995_2events_gse2.txt", 0),
              ("reb_1995_2events_gse2.txt", 1)]


@pytest.mark.parametrize("name,index", REB_EVENTS)
def test_reb_1995_relocation(ak135_tt, reb_stations, name, index):
    """Relocate REB events from their defining arrivals (T and A flags) with ak135.

    Within 25 km of the REB's epicentre with the depth fixed at the REB depth and with a free
    depth (8 teleseismic P, gap >= 252 deg: depth and origin time trade off; the REB's own
    90 % ellipse is 94 x 84 km), and the REB epicentre lies inside our 90 % ellipse."""
    cat, _ = read_bulletin(DATA / "bulletins" / name)
    ev = cat[index]
    o = ev.preferred_origin() or ev.origins[0]
    arr = arrivals_from_event(ev)
    assert arr["use_time"].sum() >= 7
    fixed = locate(arr, reb_stations, ak135_tt,
                   LocatorConfig(depth_mode="fixed", fixed_depth_km=o.depth / 1000.0))
    free = locate(arr, reb_stations, ak135_tt)
    d_fixed = _epicentral_error_km(fixed, o.latitude, o.longitude)
    d_free = _epicentral_error_km(free, o.latitude, o.longitude)
    dist, az, _ = distance_azimuth(free.latitude, free.longitude, o.latitude, o.longitude)
    dk = float(dist) * KM_PER_DEG
    inside = bool(free.ellipse.contains(dk * math.sin(math.radians(az)),
                                        dk * math.cos(math.radians(az))))
    print(f"\n{name}[{index}] REB {o.latitude} {o.longitude} {o.depth / 1000} km: "
          f"fixed-depth relocation {d_fixed:.1f} km away (rms {fixed.rms_s:.2f} s); "
          f"free depth {d_free:.1f} km away, depth {free.depth_km:.1f} km, REB inside "
          f"ellipse {free.ellipse.semi_major_km:.0f}x{free.ellipse.semi_minor_km:.0f} km: "
          f"{inside}")
    assert fixed.converged and free.converged
    assert fixed.missing_stations == () and fixed.depth_type == "fixed"
    assert d_fixed < 25.0
    assert d_free < 25.0
    assert inside
    assert fixed.rms_s < 1.0
    assert fixed.nsta == len(set(arr.station))
    # the REB's own residuals are small too: ours agree within 1.5 s per arrival
    reb_res = {str(a.pick_id): a.time_residual for a in o.arrivals if a.time_weight}
    ours = fixed.arrivals.set_index("pick_id")["time_residual_s"]
    for pid, res in reb_res.items():
        assert abs(ours[pid] - res) < 1.5, pid


def test_reb_origin_quakeml_round_trip(ak135_tt, reb_stations, tmp_path):
    cat, _ = read_bulletin(DATA / "bulletins" / "reb_1995_gse2.txt")
    ev = cat[0]
    arr = arrivals_from_event(ev)
    r = locate(arr, reb_stations, ak135_tt)
    org = to_obspy_origin(r, arr, reb_stations, earth_model="ak135")
    out = Event(picks=ev.picks, origins=[org])
    path = tmp_path / "reloc.xml"
    Catalog(events=[out]).write(str(path), format="QUAKEML")
    back = read_events(str(path))[0].origins[0]
    assert abs(back.latitude - r.latitude) < 1e-6 and abs(back.depth - r.depth_km * 1000) < 1
    ou = back.origin_uncertainty
    assert ou.preferred_description == "uncertainty ellipse" and ou.confidence_level == 90
    assert abs(ou.max_horizontal_uncertainty - r.ellipse.semi_major_km * 1000) < 1
    assert back.quality.used_station_count == 8 and back.quality.associated_phase_count == 9
    assert back.quality.used_phase_count == 9
    assert abs(back.quality.standard_error - r.rms_s) < 1e-6
    assert back.depth_type == "from location"
    picks = {str(p.resource_id) for p in ev.picks}
    assert {str(a.pick_id) for a in back.arrivals} <= picks
    weights = [(a.phase, a.time_weight, a.backazimuth_weight) for a in back.arrivals]
    assert ("S", 0.0, 1.0) in weights  # GERES S: azimuth-defining only, as in the REB
    assert sum(w[1] == 1.0 for w in weights) == 8


# -- obspy conversion ------------------------------------------------------------------------
def test_to_obspy_origin_fields(ak135_tt, ims_stations):
    lat, lon, depth = 35.0, 140.0, 300.0
    arr = plant_teleseismic(ak135_tt, ims_stations, lat, lon, depth)
    arr["pick_id"] = [f"p{i}" for i in range(len(arr))]
    r = locate(arr, ims_stations, ak135_tt)
    o = to_obspy_origin(r, arr)
    assert o.depth_type == "from location" and abs(o.depth - r.depth_km * 1000) < 1e-6
    assert o.time_errors.confidence_level == 90 and o.depth_errors.uncertainty > 0
    assert o.origin_uncertainty.min_horizontal_uncertainty <= \
        o.origin_uncertainty.max_horizontal_uncertainty
    assert 0 <= o.origin_uncertainty.azimuth_max_horizontal_uncertainty < 180
    assert len(o.arrivals) == len(arr)
    a0 = o.arrivals[0]
    assert str(a0.pick_id) == "smi:local/pick/p0" and a0.time_weight == 1.0
    assert 0 <= a0.azimuth < 360 and a0.distance > 0
    arrays = [a for a in o.arrivals if a.backazimuth_weight is not None]
    assert len(arrays) == r.n_azimuth_defining and all(a.horizontal_slowness_weight == 1.0
                                                       for a in arrays)
    assert o.quality.azimuthal_gap == pytest.approx(r.azimuthal_gap_deg)
    assert o.quality.minimum_distance == pytest.approx(r.min_distance_deg)
    assert o.extra["ndef"]["value"] == str(r.ndef)


def test_fixed_depth(iceland_tt, z7_stations):
    arr = plant_local(iceland_tt, z7_stations, 64.85, -16.8, 4.0)
    cfg = LocatorConfig(depth_mode="fixed", fixed_depth_km=4.0)
    r = locate(arr, z7_stations, iceland_tt, cfg)
    assert r.converged and r.depth_fixed and r.depth_type == "fixed" and r.depth_km == 4.0
    assert r.covariance.shape == (3, 3) and "depth_km" not in r.parameters
    assert math.isnan(r.depth_uncertainty_km) and r.time_uncertainty_s > 0
    assert _epicentral_error_km(r, 64.85, -16.8) < 0.1
    o = to_obspy_origin(r)
    assert o.depth_type == "operator assigned" and o.depth_errors.uncertainty is None


# -- robustness and validation -----------------------------------------------------------------
def test_outlier_is_made_non_defining(iceland_tt, z7_stations):
    arr = plant_local(iceland_tt, z7_stations, 64.9, -16.7, 8.0,
                      sigma=(0.05, 0.1), rng=np.random.default_rng(3))
    bad = arr.index[(arr.station == "KVER") & (arr.phase == "S")][0]
    arr.loc[bad, "time"] += 3.0
    r = locate(arr, z7_stations, iceland_tt)
    row = r.arrivals.loc[bad]
    print(f"\noutlier: {row['note']}; epicentre error "
          f"{_epicentral_error_km(r, 64.9, -16.7):.3f} km")
    assert not row["time_defining"] and "outlier" in row["note"]
    assert row["time_residual_s"] > 2.0
    assert r.arrivals["time_defining"].sum() == 23 and r.ndef == 23
    assert _epicentral_error_km(r, 64.9, -16.7) < 1.0


def test_missing_station_is_reported_not_fatal(iceland_tt, z7_stations):
    arr = plant_local(iceland_tt, z7_stations, 64.8, -16.9, 6.0)
    extra = pd.DataFrame([{"station": "NOPE", "phase": "P", "time": T0 + 3.0}])
    arr = pd.concat([arr, extra], ignore_index=True)
    r = locate(arr, z7_stations[z7_stations.station != "LIND"].reset_index(drop=True),
               iceland_tt)
    assert r.converged and set(r.missing_stations) == {"LIND", "NOPE"}
    assert "NOPE" in r.message and "LIND" in r.message
    assert len(r.arrivals) == len(arr)
    missing = r.arrivals[r.arrivals.station.isin(["LIND", "NOPE"])]
    assert len(missing) == 3 and not missing.time_defining.any()
    assert (missing.note == "station not in stations table").all()
    assert _epicentral_error_km(r, 64.8, -16.9) < 1.0
    o = to_obspy_origin(r)
    assert len(o.arrivals) == len(arr) and o.quality.associated_station_count == 13
    assert o.quality.used_station_count == 11


def test_too_few_data_gives_unconverged_result(iceland_tt, z7_stations):
    arr = plant_local(iceland_tt, z7_stations, 64.8, -16.9, 6.0)
    two = arr[arr.phase == "P"].head(2)
    r = locate(two, z7_stations, iceland_tt)
    assert not r.converged and not r.ok and "insufficient data" in r.message
    assert math.isnan(r.latitude) and r.time is None and r.ndef == 0
    with pytest.raises(LocationError, match="insufficient data"):
        to_obspy_origin(r)
    # three times: a location with the depth fixed for lack of data
    three = arr[arr.phase == "P"].head(3)
    r3 = locate(three, z7_stations, iceland_tt)
    assert r3.depth_type == "fixed" and "depth fixed" in r3.message
    # no time at all (azimuths only)
    az = pd.DataFrame({"station": ["DYJN", "LIND", "FJAS"], "phase": "P", "time": np.nan,
                       "backazimuth": [10.0, 200.0, 120.0]})
    ra = locate(az, z7_stations, iceland_tt)
    assert not ra.converged and "no time-defining" in ra.message


def test_bad_input_raises_clear_errors(iceland_tt, z7_stations):
    with pytest.raises(LocationError, match="'time'"):
        locate(pd.DataFrame({"station": ["DYJN"], "phase": ["P"]}), z7_stations, iceland_tt)
    with pytest.raises(LocationError, match="not epoch seconds"):
        locate(pd.DataFrame({"station": ["DYJN"], "phase": ["P"], "time": ["yesterday"]}),
               z7_stations, iceland_tt)
    with pytest.raises(LocationError, match="'latitude'"):
        locate(pd.DataFrame({"station": ["DYJN"], "phase": ["P"], "time": [T0]}),
               z7_stations.drop(columns="latitude"), iceland_tt)
    with pytest.raises(ValueError, match="min_depth_km"):
        LocatorConfig(min_depth_km=10, max_depth_km=5)
    with pytest.raises(ValueError, match="fixed_depth_km"):
        LocatorConfig(depth_mode="fixed", fixed_depth_km=900.0)


def test_backazimuth_uncertainty_from_slowness(ak135_tt, reb_stations):
    """Arrivals without a backazimuth uncertainty but with a slowness get 2 asin(ds / 2s) (the
    direction error of the slowness vector); the configured constant otherwise."""
    got = backazimuth_uncertainty_from_slowness([23.4, 4.4, 1.0, 0.0, np.nan], [1.5, 1.5, 3.0, 1.0, 1.5])
    assert got[0] == pytest.approx(3.674, abs=1e-3)  # GERES S: sharp
    assert got[1] == pytest.approx(19.628, abs=1e-3)  # MBC P (4.4 s/deg): loose
    assert got[2] == 180.0 and got[3] == 180.0 and np.isnan(got[4])
    cat, _ = read_bulletin(DATA / "bulletins" / "reb_1995_gse2.txt")
    arr = arrivals_from_event(cat[0], defining_only=False)
    arr.loc[arr.station == "NORES", "backazimuth_uncertainty"] = 2.0  # a measured one is kept
    by = {}
    for on in (True, False):
        r = locate(arr, reb_stations, ak135_tt, LocatorConfig(backazimuth_uncertainty_from_slowness=on))
        by[on] = r.arrivals.set_index("pick_id")["backazimuth_uncertainty_deg"]
    rows = arr.set_index("pick_id")
    for pid, row in rows.iterrows():
        if not np.isfinite(row.backazimuth):
            assert np.isnan(by[True][pid]) and np.isnan(by[False][pid])
        elif row.station == "NORES":
            assert by[True][pid] == by[False][pid] == 2.0
        else:
            expect = math.degrees(2 * math.asin(0.75 / row.slowness))
            assert by[True][pid] == pytest.approx(expect) and by[False][pid] == 10.0
