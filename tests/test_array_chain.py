"""Arrays in the automatic chain (issue 16 item 1): the elements of an IMS array are processed as
ONE station (pipeline.array.detect_network, called by tasks.process_window), 3-C stations as before.

Data:

* real P arrivals of the NORSAR example windows planted as plane waves into real noise on the real
  ARCES/FINES/SPITS geometries (tests/data/arrays, see its SOURCE.txt; tests/arrays_planted.py):
  the acceptance line "the labelled P phases in the NORSAR array windows are detected on beams
  with backazimuth and slowness reported", through the chain's array recognition and automatic
  parameters;
* a simulated IMS window (``idc simulate waveforms``: the mb 4.7 LEB event of 2022-01-17 00:26 at
  the arrays ASAR and WRA, 9 vertical elements each, and the 3-C stations STKA and MAW), ingested and
  processed by ``tasks.process_window``: one detection per arrival and array, used by the associator.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from obspy import Inventory, Stream, UTCDateTime, read_events

from pipeline import tasks
from pipeline.array import AutoArray, detect_network, with_array_sites
from pipeline.errors import ConfigError
from pipeline.simulate import ims_seismic_stations
from pipeline.simulate.detections import SimConfig, leb_origins
from pipeline.simulate.waveforms import WaveformConfig, simulate_waveforms
from pipeline.stations.arrays import array_elements
from pipeline.store import db
from pipeline.traveltime.tables import GLOBAL_PHASES
from tests.arrays_planted import array_inventory, arrivals, noise_pool, plant, signal
from tests import PROJECT_ROOT
from tests.conftest import make_settings
from tests.test_simulate import IMS, LEB, tt  # noqa: F401  (the session's global table)

ONSET = UTCDateTime(2022, 1, 1) + 30.0
#: IMS element codes of the three NORSAR arrays, as an operator configures them ([array] elements)
NORSAR_ELEMENTS = {"ARCES": ["AR*"], "FINES": ["FI*"], "SPITS": ["SP*"]}


def _baz_err(a, b):
    return abs((a - b + 180.0) % 360.0 - 180.0)


# ----------------------------------------------------------------------------- recognition
def test_array_elements_from_metadata_and_configuration():
    inv = array_inventory("FINES")
    # nothing says FINES is an array: its elements are single stations
    assert array_elements(inv) == {}
    # the configuration names them (pattern), or the StationXML describes them
    got = array_elements(inv, {"FINES": ["FI*"]})
    assert set(got.values()) == {"FINES"} and len(got) == len(inv[0].stations) == 16
    inv2 = inv.copy()
    for sta in inv2[0].stations[:5]:
        sta.description = "Element of array FINES"
    assert set(array_elements(inv2)) == {("IM", s.code) for s in inv2[0].stations[:5]}
    # NET.STA patterns; stations of the data that the metadata lacks are classified too
    got = array_elements(None, {"XYZ": ["IM.FIA?"]}, [("IM", "FIA1"), ("GE", "FIA2"), ("IM", "FIB1")])
    assert got == {("IM", "FIA1"): "XYZ"}


def test_array_settings_are_checked_at_load_time(tmp_path):
    s = make_settings(tmp_path / "h", **{"array.overrides": {"trigger_on": 5.0}, "array.elements": {"ARCES": ["AR*"]}})
    cfg = s.array.build().resolve(40.0, 3.0)
    assert cfg.trigger_on == 5.0 and cfg.band_hz == (2.0, 8.0)
    with pytest.raises(ConfigError, match=r"array\.overrides\.trigger_onn"):
        make_settings(tmp_path / "h", **{"array.overrides": {"trigger_onn": 5.0}})
    with pytest.raises(ConfigError, match=r"array\.overrides\.band_hz"):
        make_settings(tmp_path / "h", **{"array.overrides": {"band_hz": [8.0, 2.0]}})
    with pytest.raises(ConfigError, match="array code"):
        make_settings(tmp_path / "h", **{"array.elements": {"AR-CES": ["AR*"]}})


def test_parameters_follow_sampling_rate_and_aperture():
    auto = AutoArray()
    small = auto.resolve(40.0, 3.0)        # ARCES-size: the tuned set
    assert small.beam_slowness_s_deg == (0.0, 7.0, 13.0, 19.0) and small.beam_azimuth_step_deg == 30.0
    assert auto.resolve(10.0, 3.0).band_hz == (2.0, 4.0)      # below 0.4 x the sampling rate
    big = auto.resolve(40.0, 25.0)         # WRA-size: finer beams and f-k grid, bounded beam count
    n_beams = 1 + (len(big.beam_slowness_s_deg) - 1) * round(360.0 / big.beam_azimuth_step_deg)
    assert len(big.beam_slowness_s_deg) > 4 and big.beam_azimuth_step_deg < 30.0 and big.fk_step_s_deg < 1.0
    assert n_beams <= auto.max_beams * 1.1
    assert AutoArray(overrides={"band_hz": (1.0, 3.0)}).resolve(40.0, 3.0).band_hz == (1.0, 3.0)


# ----------------------------------------------------------------------------- NORSAR acceptance
def test_norsar_labelled_p_phases_detected_on_beams_with_backazimuth_and_slowness():
    """Every labelled first P of the NORSAR windows (22: 7 tuning, 15 held-out; ARCES, FINES,
    SPITS), planted at its bulletin-predicted backazimuth/slowness into real noise at SNR 5 on the
    array's real geometry, together with a 3-C station's noise: detect_network (the chain's station
    processing, automatic parameters) gives detections under the array code only - never under an
    element - and the one within 5 s of the onset is a P with backazimuth and slowness and their
    uncertainties. Errors printed; bounds as tests/test_array_processing.py (SPITS, ~1 km, worst)."""
    rng = np.random.default_rng(11)
    pools = {k: noise_pool(k) for k in ("tune", "heldout")}
    rows = []
    for _, r in arrivals().iterrows():
        inv = array_inventory(r["array"])
        st = plant(signal(int(r["id"])), inv, r["backazimuth"], r["slowness"], pools[r["set"]], 5.0, rng)
        res = detect_network(st, inv, elements=NORSAR_ELEMENTS, num_workers=1)
        d = res.picks
        assert not res.errors and set(d["station"]) <= {r["array"]}, (res.errors, set(d["station"]))
        near = d[(d["time"] - ONSET.timestamp).abs() <= 5.0]
        assert len(near), f"labelled {r['label']} of window {r['source']}:{r['window']} ({r['array']}) not detected"
        x = near.loc[near["fstat"].idxmax()]
        assert x["phase"] == "P" and x["technology"] == "seismic" and x["fstat"] > 3
        assert 0 < x["backazimuth_uncertainty"] < 20 and 0 < x["slowness_uncertainty"] < 3
        assert res.arrays["station"].tolist() == [r["array"]]
        rows.append(dict(id=int(r["id"]), set=r["set"], array=r["array"], label=r["label"],
                         baz_err=_baz_err(x["backazimuth"], r["backazimuth"]),
                         slow_err=abs(x["slowness"] - r["slowness"]), time_err=x["time"] - ONSET.timestamp,
                         baz_unc=x["backazimuth_uncertainty"], slow_unc=x["slowness_uncertainty"],
                         detections_in_60s=len(d)))
    t = pd.DataFrame(rows)
    with pd.option_context("display.width", 200, "display.max_rows", 50):
        print("\n" + t.round(2).to_string(index=False))
    for kind, g in t.groupby("set"):
        print(f"{kind}: {len(g)} labelled P detected; |dbaz| median {g['baz_err'].median():.1f} max "
              f"{g['baz_err'].max():.1f} deg; |dslow| median {g['slow_err'].median():.2f} max "
              f"{g['slow_err'].max():.2f} s/deg")
    assert len(t) == 22
    assert t["baz_err"].max() <= 15 and t["slow_err"].max() <= 2.5
    assert t["baz_err"].median() <= 5 and t["slow_err"].median() <= 1.5


# ----------------------------------------------------------------------------- bad metadata
def _two_arrays_and_a_3c_station(rng):
    """FINES and ARCES with a planted P each, and a 3-C station (XX.TCC, no metadata) whose
    vertical has the same P in other noise."""
    pool = noise_pool("tune")
    r_f = arrivals().query("array == 'FINES'").iloc[0]
    r_a = arrivals().query("array == 'ARCES'").iloc[0]
    inv = array_inventory("FINES") + array_inventory("ARCES")
    st = plant(signal(int(r_f["id"])), array_inventory("FINES"), r_f["backazimuth"], r_f["slowness"], pool, 8.0, rng)
    st += plant(signal(int(r_a["id"])), array_inventory("ARCES"), r_a["backazimuth"], r_a["slowness"], pool, 8.0, rng)
    z = st[0].copy()
    for k, cha in enumerate(("BHZ", "BHN", "BHE")):
        tr = z.copy() if cha == "BHZ" else z.copy()
        if cha != "BHZ":
            tr.data = pool[k] * 1.0
        tr.stats.network, tr.stats.station, tr.stats.channel = "XX", "TCC", cha
        st += tr
    return st, inv


def test_bad_array_metadata_names_the_array_and_the_rest_goes_on():
    rng = np.random.default_rng(3)
    st, inv = _two_arrays_and_a_3c_station(rng)
    good = detect_network(st, inv, elements={"FINES": ["FI*"], "ARCES": ["AR*"]}, num_workers=1)
    assert set(good.picks["station"]) == {"FINES", "ARCES", "TCC"} and not good.errors
    # an element without coordinates: FIA1 missing from the metadata
    inv_missing = inv.copy()
    inv_missing[0].stations = [s for s in inv_missing[0].stations if s.code != "FIA1"]
    bad = detect_network(st, inv_missing, elements={"FINES": ["FI*"], "ARCES": ["AR*"]}, num_workers=1)
    print(bad.errors)
    assert len(bad.errors) == 1 and "\n" not in bad.errors[0]
    assert bad.errors[0].startswith("array FINES") and "IM.FIA1..BHZ" in bad.errors[0]
    assert "no coordinates" in bad.errors[0]
    # the rest goes on; FINES' elements are not processed one by one instead
    assert set(bad.picks["station"]) == {"ARCES", "TCC"}
    # an array of 2 elements in the data
    two = Stream([tr for tr in st if not tr.stats.station.startswith("FI")] +
                 [tr for tr in st if tr.stats.station in ("FIA0", "FIA1")])
    bad2 = detect_network(two, inv, elements={"FINES": ["FI*"], "ARCES": ["AR*"]}, num_workers=1)
    print(bad2.errors)
    assert len(bad2.errors) == 1 and bad2.errors[0].startswith("array FINES") and "at least 3" in bad2.errors[0]
    assert set(bad2.picks["station"]) == {"ARCES", "TCC"}


def test_array_processing_off_gives_a_detection_per_element():
    """``[array] enabled = false`` (what the chain did before): every element is a single station,
    so one arrival gives a detection per element instead of one for the array."""
    st, inv = _two_arrays_and_a_3c_station(np.random.default_rng(3))
    st = Stream([tr for tr in st if tr.stats.station.startswith("FI") or tr.stats.station == "TCC"])
    on = detect_network(st, inv, elements={"FINES": ["FI*"]}, num_workers=1).picks
    off = detect_network(st, inv, elements={"FINES": ["FI*"]}, arrays=False, num_workers=1).picks
    near = (off["time"] - ONSET.timestamp).abs() <= 5.0
    print(f"{len(on)} detections with array processing ({sorted(set(on['station']))}), {len(off)} without "
          f"({off.loc[near, 'station'].str.startswith('FI').sum()} element detections within 5 s of the P)")
    assert set(on["station"]) == {"FINES", "TCC"}
    assert off.loc[near, "station"].str.startswith("FI").sum() >= 8 and "FINES" not in set(off["station"])


def test_array_sites_join_the_station_table():
    sta = pd.DataFrame({"network": ["IM"], "station": ["STKA"], "latitude": [-31.9], "longitude": [141.6],
                        "elevation_m": [272.0]})
    sites = pd.DataFrame({"network": ["IM", "IM"], "station": ["WRA", "STKA"], "latitude": [-19.9, 0.0],
                          "longitude": [134.3, 0.0], "elevation_m": [419.0, 0.0]})
    out = with_array_sites(sta, sites)
    assert out["station"].tolist() == ["STKA", "WRA"] and out.iloc[0]["latitude"] == -31.9


# ----------------------------------------------------------------------------- the chain
T0, T1 = UTCDateTime("2022-01-17T00:25:00"), UTCDateTime("2022-01-17T00:40:00")
SIM_STATIONS = ["ASAR", "WRA", "STKA", "MAW"]


@pytest.fixture(scope="module")
def simulated(tt, tmp_path_factory):  # noqa: F811
    """The P of the mb 4.7 event (2022-01-17 00:25:59.9, Java) at two arrays (9 elements each) and
    two 3-C stations, 20 Hz, no delivery faults; data from 00:30 (the P arrives 00:32-00:37)."""
    ims = ims_seismic_stations(pd.read_csv(IMS))
    sta = ims[ims["station"].isin(SIM_STATIONS)].reset_index(drop=True)
    assert (sta["kind"] == "array").sum() == 2
    arr = SimConfig(n_clock_stations=0, outage_fraction=0.0, full_outage_fraction=0.0)
    cfg = WaveformConfig(sampling_rate=20.0, chunk_s=600.0, gap_fraction=0.0, duplicate_fraction=0.0,
                         late_fraction=0.0, noise_taps=513, arrivals=arr)
    out = tmp_path_factory.mktemp("sim_arrays")
    simulate_waveforms(leb_origins(pd.read_csv(LEB)), sta, tt, out, UTCDateTime("2022-01-17T00:30:00"), T1, cfg,
                       seed=3)
    return out


def _chain(tmp_path, simulated, tt, **overrides):  # noqa: F811
    home = tmp_path / "home"
    (home / "cache").mkdir(parents=True)
    (home / "cache" / "traveltime").symlink_to(tt.path.parent)  # the session's table, not rebuilt
    s = make_settings(home, **{"stations.paths": [str(simulated / "stations.xml")],
                               "traveltime.phases": list(GLOBAL_PHASES), **overrides})
    db.upgrade(s.database_url)
    tasks.load_stations(s, [simulated / "stations.xml"])
    tasks.ingest_files(s, [simulated / "drop"], progress=False)
    return s, tasks.process_window(s, "SEL3", T0, T1)


def test_chain_processes_each_array_as_one_station_and_associates_its_detections(tmp_path, simulated, tt):  # noqa: F811
    """process_window: each array gives one detection per arrival under its code (not one per
    element), with backazimuth and slowness close to the simulated plane wave, and the associator
    uses them (backazimuth residuals on the array arrivals)."""
    s, out = _chain(tmp_path / "on", simulated, tt)
    truth = pd.read_csv(simulated / "arrivals.csv")
    truth = truth[truth["station"].isin(SIM_STATIONS) & (truth["table_phase"] == "P")].set_index("station")
    print({k: out[k] for k in ("events", "picks", "arrivals", "arrays", "array_errors", "channels")})
    assert out["arrays"] == ["ASAR", "WRA"] and out["array_errors"] == []
    assert out["events"] == 1 and out["channels"] == 2 * 9 + 2 * 3
    cat = read_events(out["file"])
    ev = cat[0]
    o = ev.preferred_origin()
    picks = {p.resource_id: p for p in ev.picks}
    used = [picks[a.pick_id] for a in o.arrivals]
    codes = sorted(p.waveform_id.station_code for p in used)
    print("associated:", codes)
    # one detection per arrival at each array, under the array code (no element picks anywhere)
    assert "ASAR" in codes and "WRA" in codes and not any(c[:3] in ("ASA", "WRA") and len(c) == 5 for c in codes)
    for code in ("ASAR", "WRA"):
        mine = [p for p in used if p.waveform_id.station_code == code]
        assert len(mine) == 1
        p, want = mine[0], truth.loc[code]
        dbaz = _baz_err(p.backazimuth, want["true_backazimuth"])
        dslow = abs(p.horizontal_slowness - want["slowness_true"])
        dt = float(p.time - UTCDateTime(want["time"]))
        print(f"{code}: P {p.time} (true {want['time']}, {dt:+.2f} s), baz {p.backazimuth:.1f} (true "
              f"{want['true_backazimuth']:.1f}), slowness {p.horizontal_slowness:.2f} (true {want['slowness_true']:.2f}) s/deg")
        assert abs(dt) < 2.0 and dbaz < 5.0 and dslow < 1.0
        assert p.backazimuth_errors.uncertainty > 0 and p.horizontal_slowness_errors.uncertainty > 0
    # the associator used the array's backazimuth/slowness: residuals on the array arrivals
    arr = {picks[a.pick_id].waveform_id.station_code: a for a in o.arrivals}
    print({k: (a.phase, a.backazimuth_residual, str(a.pick_id)[-20:]) for k, a in arr.items()})
    for code in ("ASAR", "WRA"):
        assert arr[code].backazimuth_residual is not None and abs(arr[code].backazimuth_residual) < 10
    dist = np.hypot(o.latitude - -7.2297, (o.longitude - 105.8468) * np.cos(np.radians(7.2)))
    print(f"epicentre {o.latitude:.2f} {o.longitude:.2f}: {dist * 111.2:.0f} km from the LEB origin")
    assert out["picks"] <= 8  # 4 P, a coda trigger or two at the arrays, no per-element picks
    # the store knows the arrays (site.refsta of the elements): the station table has them at their
    # reference elements, so a relocation of the product (review, idc locate) keeps their arrivals
    table = tasks.station_table(s).set_index("station")
    for code, ref in (("ASAR", "ASA00"), ("WRA", "WRA00")):
        assert table.loc[code, ["latitude", "longitude"]].tolist() == table.loc[ref, ["latitude", "longitude"]].tolist()
    rel = tasks.locate_bulletin(s, out["file"], None, tmp_path / "relocated.xml")
    print("relocated:", {k: rel[k] for k in ("events", "missing_stations", "failed")})
    assert rel["missing_stations"] in ([], {}, None) or not any(c in str(rel["missing_stations"]) for c in ("ASAR", "WRA"))
    o2 = read_events(str(tmp_path / "relocated.xml"))[0].preferred_origin()
    assert len(o2.arrivals) == len(o.arrivals)


def test_idc_detect_processes_the_arrays_of_element_files(simulated, tmp_path):
    """``idc detect`` on the simulated element and 3-C files with their StationXML: the table has
    the arrays' detections under the array codes, with the array columns."""
    from click.testing import CliRunner

    from pipeline.cli.main import cli
    from pipeline.picks import read_picks_csv

    files = sorted(str(p) for p in (simulated / "drop").rglob("*.mseed"))
    out = tmp_path / "picks.csv"
    res = CliRunner().invoke(cli, ["--config", str(PROJECT_ROOT / "config" / "test.toml"), "detect", *files,
                                   "--stations", str(simulated / "stations.xml"), "-o", str(out)],
                             env={"IDC_HOME": str(tmp_path / "home")})
    print(res.output)
    assert res.exit_code == 0, res.output
    assert "arrays processed as one station each: ASAR, WRA" in res.output
    table = pd.read_csv(out)
    assert {"ASAR", "WRA"} <= set(table["station"]) and not any(table["station"].str.match(r"^(ASA|WRA)\d\d$"))
    assert {"technology", "fstat"} <= set(table.columns)
    assert table.loc[table["station"] == "WRA", "fstat"].max() > 10
    assert len(read_picks_csv(out)) == len(table)
