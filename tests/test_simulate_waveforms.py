"""The waveform simulator (pipeline.simulate.waveforms, ``idc simulate waveforms``; issue 18 item 1).

Origins: the IDC LEB origins of January–February 2022 (tests/data/ims_leb_2022); stations: IMS
seismic stations of stations/ims_stations.csv (arrays ASAR and WRA, 3-C stations). A 20-minute
window around the mb 4.7 event of 2022-01-17 00:26 (P at ASAR/WRA ~31°), 20 Hz.
"""
from __future__ import annotations

import hashlib
import json
import math

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from obspy import UTCDateTime, read, read_events, read_inventory
from obspy.signal.cross_correlation import correlate, xcorr_max

from pipeline import tasks
from pipeline.cli.main import cli
from pipeline.simulate import ims_seismic_stations
from pipeline.simulate.detections import SimConfig
from pipeline.simulate.waveforms import WaveformConfig, simulate_waveforms
from pipeline.store import db
from tests.conftest import make_settings
from tests.test_simulate import IMS, LEB, leb, tt  # noqa: F401  (the same inputs and fixtures)

T0, T1 = UTCDateTime("2022-01-17T00:25:00"), UTCDateTime("2022-01-17T00:45:00")
STATIONS = ["ASAR", "WRA", "STKA", "MAW", "PLCA", "ULM"]


@pytest.fixture(scope="module")
def sta():
    ims = ims_seismic_stations(pd.read_csv(IMS))
    return ims[ims["station"].isin(STATIONS)].reset_index(drop=True)


def quiet(**kw) -> WaveformConfig:
    """No delivery faults, no clock errors or outages (and, with noise_scale=0, no noise)."""
    arr = SimConfig(n_clock_stations=0, outage_fraction=0.0, full_outage_fraction=0.0, amplitude_sigma=0.0,
                    station_term_sigma=0.0)
    base = dict(sampling_rate=20.0, chunk_s=600.0, gap_fraction=0.0, duplicate_fraction=0.0, late_fraction=0.0)
    return WaveformConfig(**{**base, **kw}, arrivals=arr)


def _hashes(folder) -> dict:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file() and p.name != "simulation.json"}


def test_same_seed_same_bytes(leb, sta, tt, tmp_path):
    cfg = WaveformConfig(sampling_rate=20.0, chunk_s=600.0)
    a = simulate_waveforms(leb, sta, tt, tmp_path / "a", T0, T1, cfg, seed=11)
    simulate_waveforms(leb, sta, tt, tmp_path / "b", T0, T1, cfg, seed=11)
    simulate_waveforms(leb, sta, tt, tmp_path / "c", T0, T1, cfg, seed=12)
    ha, hb, hc = _hashes(tmp_path / "a"), _hashes(tmp_path / "b"), _hashes(tmp_path / "c")
    print(a.as_dict())
    assert ha == hb and len(ha) >= a.files
    assert ha != hc
    # 2 arrays of 9 vertical elements + 4 three-component stations
    assert a.channels == 2 * 9 + 4 * 3 and a.stations == 6
    inv = read_inventory(str(tmp_path / "a" / "stations.xml"))
    assert sum(len(s.channels) for n in inv for s in n) == a.channels
    cat = read_events(str(tmp_path / "a" / "truth.xml"))
    assert len(cat) == a.events >= 1 and all(e.magnitudes[0].magnitude_type == "mb" for e in cat)


def test_amplitude_time_and_plane_wave_delays(leb, sta, tt, tmp_path):
    """Noise-free: the P pulse peaks at the predicted time with velocity 2 pi A / T (counts = nm/s);
    array elements see the plane wave with the delays of its backazimuth and ray parameter."""
    out = tmp_path / "s"
    simulate_waveforms(leb, sta, tt, out, T0, T1, quiet(noise_scale=0.0, coda_ratio=0.0), seed=1)
    arr = pd.read_csv(out / "arrivals.csv")
    p = arr[(arr["table_phase"] == "P") & (arr["time"] >= str(T0)) & (arr["time"] < str(T1 - 60))]
    assert len(p) >= 3, arr
    checked = 0
    for r in p.itertuples():
        if r.station in ("ASAR", "WRA"):
            continue
        st = read(str(out / "drop" / r.station / "*.mseed")).merge().select(channel="BHZ")
        t = UTCDateTime(r.time)
        tr = st[0].slice(t - 3, t + 3)
        k = int(np.argmax(np.abs(tr.data)))
        peak_t = tr.stats.starttime + k / tr.stats.sampling_rate
        want = 2 * math.pi * r.amplitude_nm / r.period
        print(f"{r.station} P: peak {abs(tr.data[k])} counts (want {want:.1f}), at {peak_t - t:+.3f} s")
        assert abs(peak_t - t) <= 1.0 / tr.stats.sampling_rate + 1e-6
        assert abs(abs(tr.data[k]) - want) <= 0.03 * want + 1.0   # rounding to integer counts
        checked += 1
    assert checked >= 2
    # array: the element delays of the strongest P at ASAR
    r = arr[(arr["station"] == "ASAR") & (arr["table_phase"] == "P")].sort_values("amplitude_nm").iloc[-1]
    inv = read_inventory(str(out / "stations.xml"))
    elements = {s.code: s for n in inv for s in n if "ASAR" in (s.description or "")}
    assert len(elements) == 9
    st = read(str(out / "drop" / "ASAR" / "*.mseed")).merge()
    t = UTCDateTime(r.time)
    ref = st.select(station="ASA00")[0].slice(t - 4, t + 6).data.astype(float)
    baz, p_km = math.radians(r.true_backazimuth), r.slowness_true / 111.195
    c = elements["ASA00"]
    worst = 0.0
    for code, s in elements.items():
        x = (s.longitude - c.longitude) * 111.195 * math.cos(math.radians(c.latitude))
        y = (s.latitude - c.latitude) * 111.195
        want = -p_km * (x * math.sin(baz) + y * math.cos(baz))
        d = st.select(station=code)[0].slice(t - 4, t + 6).data.astype(float)
        # sub-sample lag from a parabola through the correlation peak
        cc = correlate(d, ref, 20)
        k, _ = xcorr_max(cc, abs_max=False)
        i = int(np.argmax(cc))
        if 0 < i < len(cc) - 1:
            a_, b_, c_ = cc[i - 1], cc[i], cc[i + 1]
            k = k + 0.5 * (a_ - c_) / (a_ - 2 * b_ + c_)
        got = k / 20.0
        worst = max(worst, abs(got - want))
    print(f"ASAR P: baz {r.true_backazimuth:.1f}, {r.slowness_true:.2f} s/deg: largest delay error {worst * 1000:.1f} ms")
    assert worst < 0.01   # 10 ms (a fifth of a sample at 20 Hz)


def test_outages_show_in_availability_and_station_health(leb, sta, tt, tmp_path, tt_cache):
    """Half of the stations down for 5 minutes inside the window, the other half for all of it;
    duplicated files (every one) are ingested once."""
    arrivals = SimConfig(n_clock_stations=0, outage_fraction=0.5, full_outage_fraction=0.5,
                         outage_min_s=300.0, outage_max_s=300.0)
    cfg = WaveformConfig(sampling_rate=20.0, chunk_s=600.0, gap_fraction=0.0, duplicate_fraction=1.0,
                         late_fraction=0.0, arrivals=arrivals)
    out = tmp_path / "sim"
    res = simulate_waveforms(leb, sta, tt, out, T0, T1, cfg, seed=5)
    down = {o["station"]: (UTCDateTime(o["start"]), UTCDateTime(o["end"])) for o in res.outages}
    assert set(down) == set(STATIONS)
    full = {s for s, (a, b) in down.items() if b - a > 600}
    partial = set(STATIONS) - full
    assert full and partial, down
    s = make_settings(tmp_path / "home", "")
    db.upgrade(s.database_url)
    tasks.load_stations(s, [out / "stations.xml"])
    ing = tasks.ingest_files(s, [out / "drop"], progress=False)
    print({k: ing[k] for k in ("accepted", "rejected") if k in ing}, ing.get("duplicates"))
    av = tasks.availability(s, str(T0), str(T1))["channels"]
    by_sta: dict[str, list] = {}
    for c in av:
        by_sta.setdefault(c["nslc"].split(".")[1][:3], []).append(c)
    for code in partial:
        a, b = down[code]
        chans = by_sta[code[:3]]
        for c in chans:
            # exactly the planted outage is missing (plus nothing else): coverage and one gap
            assert c["gaps"] == 1 and c["overlaps"] == 0, c
            assert c["coverage"] == pytest.approx(1.0 - (b - a) / (T1 - T0), abs=2.0 / 20 / (T1 - T0) + 1e-6), c
    for code in full:
        assert code[:3] not in by_sta
    health = tasks.station_health(s, str(T0), str(T1))
    missing = set(health["stations_without_data"])
    want_missing = {st.code for n in read_inventory(str(out / "stations.xml")) for st in n
                    if any(st.code.startswith(f[:3]) and (st.code == f or "array" in (st.description or ""))
                           for f in full)}
    print(f"full outages {sorted(full)}, partial {sorted(partial)}; station_health: no data at {sorted(missing)}")
    assert missing == want_missing


def test_cli(tmp_path):
    home = tmp_path / "home"
    res = CliRunner().invoke(cli, ["simulate", "waveforms", "--start", "2022-01-17T00:25", "--end",
                                   "2022-01-17T00:30", "--origins", str(LEB), "--stations", str(IMS),
                                   "--max-stations", "3", "--set", "sampling_rate=10", "--set", "chunk_s=300",
                                   "-o", str(tmp_path / "out")], env={"IDC_HOME": str(home)})
    assert res.exit_code == 0, res.output
    assert "files" in res.output and (tmp_path / "out" / "truth.xml").is_file()
    meta = json.loads((tmp_path / "out" / "simulation.json").read_text())
    assert meta["config"]["sampling_rate"] == 10 and meta["seed"] == 0
    res = CliRunner().invoke(cli, ["simulate", "waveforms", "--start", "2022-01-17T00:25", "--end",
                                   "2022-01-17T00:30", "--origins", str(LEB), "--set", "colour=blue",
                                   "-o", str(tmp_path / "o2")], env={"IDC_HOME": str(home)})
    assert res.exit_code != 0 and "colour" in res.output
