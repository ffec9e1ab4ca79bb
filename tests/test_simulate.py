"""The pick-level IMS network simulator (pipeline.simulate) and ``idc simulate detections``.

Origins: the IDC LEB origins of January–February 2022 (tests/data/ims_leb_2022) and planted
origins; stations: the IMS seismic stations of stations/ims_stations.csv.
"""
from __future__ import annotations

import os
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from obspy import UTCDateTime

from pipeline.cli.main import cli
from pipeline.location.geodesy import distance_azimuth, geocentric_latitude
from pipeline.picks import PICK_COLUMNS, read_picks_csv, read_stations_csv
from pipeline.simulate import SimConfig, ims_seismic_stations, leb_origins, simulate_detections
from pipeline.traveltime.tables import GLOBAL_PHASES, TravelTimeTable
from tests import PROJECT_ROOT

LEB = PROJECT_ROOT / "tests" / "data" / "ims_leb_2022" / "metadata_2022_leb_jan_feb.csv"
IMS = PROJECT_ROOT / "stations" / "ims_stations.csv"
DAY = UTCDateTime("2022-01-17")


@pytest.fixture(scope="module")
def tt(tt_cache):
    return TravelTimeTable("ak135", list(GLOBAL_PHASES), cache_dir=tt_cache)


@pytest.fixture(scope="module")
def leb():
    return leb_origins(pd.read_csv(LEB))


@pytest.fixture(scope="module")
def ims():
    return ims_seismic_stations(pd.read_csv(IMS))


@pytest.fixture(scope="module")
def day(leb, ims, tt):
    return simulate_detections(leb, ims, tt, SimConfig(), seed=7, start=DAY)


def planted(rows):
    """Origins (time offset from DAY in s, lat, lon, depth_km, mb) → origin table."""
    return pd.DataFrame({"event_id": [f"p{i}" for i in range(len(rows))],
                         "time": [DAY.timestamp + r[0] for r in rows],
                         "latitude": [r[1] for r in rows], "longitude": [r[2] for r in rows],
                         "depth_km": [r[3] for r in rows], "mag": [r[4] for r in rows]})


def test_inputs_bundled_leb_and_ims_stations(leb, ims):
    assert len(leb) == 1698  # LEB rows of Jan-Feb 2022 in the NORSAR event list
    assert leb["time"].min() >= UTCDateTime("2022-01-01").timestamp
    assert leb["time"].max() < UTCDateTime("2022-03-01").timestamp
    assert leb["mag"].isna().sum() == 1
    assert set(ims["kind"]) == {"array", "3c"} and (ims["kind"] == "array").sum() == 30
    assert len(ims) == 134 and ims["station"].is_unique and set(ims["network"]) == {"IM"}
    assert {"ARCES", "WRA", "ASAR"} <= set(ims["station"])


def test_reproducible_from_the_seed(leb, ims, tt, day):
    again = simulate_detections(leb, ims, tt, SimConfig(), seed=7, start=DAY)
    pd.testing.assert_frame_equal(day.picks, again.picks)
    pd.testing.assert_frame_equal(day.truth, again.truth)
    pd.testing.assert_frame_equal(day.pick_truth, again.pick_truth)
    other = simulate_detections(leb, ims, tt, SimConfig(), seed=8, start=DAY)
    assert len(other.picks) != len(day.picks) or not np.allclose(other.picks["time"], day.picks["time"])


def test_picks_schema_without_truth(day):
    p = day.picks
    assert list(p.columns) == list(PICK_COLUMNS)
    assert p["pick_id"].is_unique and p["time"].is_monotonic_increasing
    assert list(day.pick_truth["pick_id"]) == list(p["pick_id"])
    assert set(p["phase"]) == {"P", "S"}
    assert ((p["time"] >= DAY.timestamp) & (p["time"] < DAY.timestamp + 86400)).all()
    assert (p["time_uncertainty"].between(0.3, 1.0)).all()
    assert (p["amplitude"] > 0).all() and (p["snr"] > 1).all()


def test_false_fraction_reached(leb, ims, tt, day):
    f = day.pick_truth["false"]
    assert day.summary["false_fraction"] == pytest.approx(f.mean(), abs=1e-4)
    assert abs(f.mean() - 0.67) < 0.01
    assert day.summary["true"] > 500  # a real day: hundreds of true detections
    for target in (0.8, 0.0):
        sim = simulate_detections(leb, ims, tt, SimConfig(false_fraction=target), seed=7, start=DAY)
        assert abs(sim.pick_truth["false"].mean() - target) < 0.01
    # false detections are at many stations, at times unrelated to the events
    fp = day.picks[day.pick_truth["false"].to_numpy()]
    assert fp["station"].nunique() > 100
    hours = np.floor((fp["time"] - DAY.timestamp) / 3600).astype(int)
    assert hours.nunique() == 24
    assert (fp["phase"] == "P").mean() > 0.75


def test_detection_counts_by_magnitude_and_distance(ims, tt):
    # one large and one small shallow event, an hour apart, in the Hindu Kush-Pamir region
    org = planted([(3600, 36.5, 70.5, 10.0, 4.8), (7200, 36.5, 70.5, 10.0, 3.0)])
    cfg = SimConfig(outage_fraction=0.0, full_outage_fraction=0.0, outlier_fraction=0.0)
    sim = simulate_detections(org, ims, tt, cfg, seed=3, start=DAY)
    d, _, _ = distance_azimuth(geocentric_latitude(36.5), 70.5, geocentric_latitude(ims["latitude"]),
                               ims["longitude"])
    tele = set(ims["station"][(d >= 30) & (d <= 90)])
    merged = sim.pick_truth.merge(sim.picks[["pick_id", "station"]], on="pick_id")
    big = set(merged.loc[(merged["event_id"] == "p0") & (merged["table_phase"] == "P"), "station"])
    small = set(merged.loc[merged["event_id"] == "p1", "station"])
    assert len(tele) > 50
    assert len(big & tele) / len(tele) > 0.7, "an mb 4.8 event is seen by most stations at 30-90 deg"
    assert len(small & tele) / len(tele) < 0.1, "an mb 3.0 event is rarely seen teleseismically"
    # small events are seen close by, where Q is small
    assert len(small) >= 1 and merged.loc[merged["event_id"] == "p1", "distance_deg"].min() < 30
    t = sim.truth.set_index("event_id")
    assert t.loc["p0", "n_stations"] > 60 and t.loc["p0", "n_p_stations"] >= len(big)


def test_leb_day_most_events_seen_by_three_stations(day):
    tr = day.truth[day.truth["in_window"]]
    assert len(tr) == 22
    assert (tr["n_stations"] >= 3).mean() > 0.8
    big = tr[tr["mag"] >= 4.5]
    assert (big["n_stations"] > 40).all()
    # the detection count grows with magnitude
    assert np.corrcoef(tr["mag"].fillna(0), np.log1p(tr["n_stations"]))[0, 1] > 0.6


def _timing_errors(sim):
    """Observed minus predicted time of the true detections, without the clock offsets."""
    pt = sim.pick_truth.merge(sim.picks[["pick_id", "station", "time"]], on="pick_id")
    tp = pt[~pt["false"]]
    clock = sim.stations.set_index("station")["clock_offset_s"]
    return (tp["time"] - tp["true_time"] - tp["station"].map(clock).to_numpy()).to_numpy()


def test_timing_errors_and_clock_offsets(leb, ims, tt, day):
    err = _timing_errors(day)
    assert abs(np.median(err)) < 0.1
    robust_sigma = 1.4826 * np.median(np.abs(err - np.median(err)))
    assert 0.6 < robust_sigma < 1.3  # pick (0.3-1 s) and model (0.5-1 s) errors combined
    clock = day.stations.set_index("station")["clock_offset_s"]
    assert (clock != 0).sum() == 3 and (clock.abs()[clock != 0] >= 1.0).all()
    # outliers: several seconds off, as often as configured
    clean = _timing_errors(simulate_detections(leb, ims, tt, SimConfig(outlier_fraction=0.0), seed=7, start=DAY))
    many = _timing_errors(simulate_detections(leb, ims, tt, SimConfig(outlier_fraction=0.1), seed=7, start=DAY))
    assert (np.abs(clean) > 5).mean() < 0.003
    assert 0.03 < (np.abs(many) > 5).mean() < 0.08  # half of the 10 % (shifts of 2-8 s) exceed 5 s


def test_array_attributes_within_their_sigma(day):
    pt = day.pick_truth.merge(day.picks, on="pick_id")
    arrays = set(day.stations.loc[day.stations["kind"] == "array", "station"])
    tp = pt[~pt["false"]]
    at = tp[tp["station"].isin(arrays)]
    assert len(at) > 100
    dbaz = (at["backazimuth"] - at["true_backazimuth"] + 180.0) % 360.0 - 180.0
    z = dbaz / at["backazimuth_uncertainty"]
    assert at["backazimuth_uncertainty"].between(4.0, 12.0).all()
    assert 0.9 < (np.abs(z) < 2).mean() and abs(z.mean()) < 0.2
    zs = (at["slowness"] - at["true_slowness"]) / at["slowness_uncertainty"]
    assert at["slowness_uncertainty"].between(0.5, 1.5).all()
    assert 0.9 < (np.abs(zs) < 2.1).mean()
    # teleseismic P slowness 4-9 s/deg, regional S ~24-32 s/deg
    tele = at[(at["table_phase"] == "P") & (at["distance_deg"] > 30)]
    assert tele["true_slowness"].between(4.0, 9.0).all()
    # 3-C stations: no backazimuth/slowness; false detections at arrays have both
    three_c = pt[~pt["station"].isin(arrays)]
    assert three_c["backazimuth"].isna().all() and three_c["slowness"].isna().all()
    fa = pt[pt["false"] & pt["station"].isin(arrays)]
    assert fa["backazimuth"].notna().all() and fa["slowness"].between(3.0, 40.0).all()


def test_phase_hints(day):
    pt = day.pick_truth.merge(day.picks[["pick_id", "phase"]], on="pick_id", suffixes=("_true", ""))
    p_type = pt[pt["table_phase"].isin(["P", "PKP"])]
    s_type = pt[pt["table_phase"].isin(["S", "Lg"])]
    assert len(s_type) > 10 and len(p_type) > len(s_type)
    assert (p_type["phase"] == "P").mean() > 0.9
    assert (s_type["phase"] == "S").mean() > 0.7
    assert s_type["distance_deg"].max() <= 20.0
    assert pt.loc[pt["table_phase"] == "PKP", "distance_deg"].min() >= 110.0


def test_outages_produce_no_picks(leb, ims, tt):
    cfg = SimConfig(outage_fraction=0.3, full_outage_fraction=0.1)
    sim = simulate_detections(leb, ims, tt, cfg, seed=11, start=DAY)
    st = sim.stations
    down = st[np.isfinite(st["outage_start"])]
    assert len(down) > 30
    full = down[(down["outage_start"] == DAY.timestamp) & (down["outage_end"] == DAY.timestamp + 86400)]
    assert len(full) >= 5 and (full["n_true"] + full["n_false"] == 0).all()
    assert not sim.picks["station"].isin(full["station"]).any()
    for _, s in down.iterrows():
        t = sim.picks.loc[sim.picks["station"] == s["station"], "time"]
        assert not ((t >= s["outage_start"]) & (t < s["outage_end"])).any(), s["station"]
    partial = down[~down.index.isin(full.index)]
    assert (partial["n_true"] + partial["n_false"] > 0).all()  # they work outside the outage


def test_late_arrivals_of_the_previous_day(ims, tt):
    # an mb 5 origin 10 minutes before midnight: its teleseismic P and PKP arrive in the day
    org = planted([(-600, -20.0, -70.0, 100.0, 5.0), (-7200, -20.0, -70.0, 100.0, 5.5)])
    sim = simulate_detections(org, ims, tt, SimConfig(), seed=5, start=DAY)
    t = sim.truth.set_index("event_id")
    assert not t.loc["p0", "in_window"] and t.loc["p0", "n_stations"] >= 3
    assert "p1" not in t.index  # beyond the look-back: gone
    late = sim.pick_truth[sim.pick_truth["event_id"] == "p0"]
    assert (late["distance_deg"] > 35).all()  # only arrivals more than 600 s after the origin
    assert sim.summary["late_arrivals"] == len(late)
    # the real day: events of 2022-01-16 after 23:30 and a full-day truth table
    assert (sim.picks["time"] >= DAY.timestamp).all()


def test_cli_writes_readable_files(tmp_path, tt_cache, tt):
    home = tmp_path / "home"
    (home / "cache").mkdir(parents=True)
    os.symlink(tt_cache, home / "cache" / "traveltime")  # the session's travel-time tables
    env = {k: v for k, v in os.environ.items() if not k.startswith("IDC")}
    env["IDC_HOME"] = str(home)
    out = tmp_path / "sim"
    res = CliRunner(env=env).invoke(cli, ["simulate", "detections", "--date", "2022-01-17", "--seed", "3", "--origins", str(LEB),
                                          "--false-fraction", "0.7", "-o", str(out)])
    assert res.exit_code == 0, res.output
    assert "2022-01-17:" in res.output and "70.0% false" in res.output
    picks = read_picks_csv(out / "picks.csv")
    stations = read_stations_csv(out / "stations.csv")
    truth = pd.read_csv(out / "truth.csv")
    ptruth = pd.read_csv(out / "picks_truth.csv", keep_default_na=False)
    assert len(stations) == 134 and set(picks["station"]) <= set(stations["station"])
    assert {"time", "latitude", "longitude", "depth_km", "mag", "n_stations", "n_p_stations"} <= set(truth.columns)
    assert "event_id" not in picks.columns
    assert list(ptruth["pick_id"]) == list(picks["pick_id"])
    n_false = (ptruth["false"].astype(str) == "True").sum()
    assert abs(n_false / len(picks) - 0.7) < 0.01
    assert f"{len(picks)} detections" in res.output
    # the CSV round trip keeps the simulated values
    sim = simulate_detections(leb_origins(pd.read_csv(LEB)), ims_seismic_stations(pd.read_csv(IMS)), tt,
                              SimConfig(false_fraction=0.7), seed=3, start=DAY)
    assert len(sim.picks) == len(picks)
    np.testing.assert_allclose(picks["time"], sim.picks["time"], atol=1e-5)
    np.testing.assert_allclose(picks["backazimuth"], sim.picks["backazimuth"], rtol=1e-5)
    # bad date: a clear error
    res = CliRunner(env=env).invoke(cli, ["simulate", "detections", "--date", "17/01/2022", "--origins", str(LEB),
                                          "-o", str(out)])
    assert res.exit_code != 0 and "--date" in res.output


def test_bad_inputs_are_named(ims, tt):
    with pytest.raises(ValueError, match="lacks phase"):
        simulate_detections(planted([(0, 0, 0, 0, 4)]), ims, SimpleNamespace(phases=("P", "S")), seed=1)
    with pytest.raises(ValueError, match="false_fraction"):
        SimConfig(false_fraction=1.0)
    with pytest.raises(ValueError, match="latitude"):
        leb_origins(pd.DataFrame({"time": [0.0], "longitude": [0.0]}))
