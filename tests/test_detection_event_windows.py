"""Station processing with the default configuration on data it was not tuned for (issue 12).

* **NCEDC picker set** (tuning set): the 60 s crops of ``../shared/tools/make_picker_set.py``
  (P 5-25 s after the start, one station code per window, windows one hour apart), rebuilt
  from ``tests/data/phasenet`` (the 40 s windows plus the following 40 s), run through the
  ``idc detect`` command with the default configuration and scored as ``score_picks.py`` does.
  The default ``"auto"`` preset gives these 100 Hz stations without coordinates the
  ``local-station`` scales (:meth:`DetectionConfig.auto_local`), which were tuned on crop
  seeds 7, 1 and 2 of this set.
* **NORSAR/IMS array windows** (held out, never used to tune): 40 Hz 3-C single-element
  traces of ARCES/FINES/SPITS with regional phase labels (``tests/data/norsar``).
* **GR.FUR** (held out): a real continuous 20 Hz day, for the false-detection rate.
* **Iceland** (held out from the tuning of the new scales): with its StationXML the Z7 network
  is a dense network, so ``"auto"`` gives it the ``local-network`` scales (the local preset,
  tuned on these data before): checked to be identical, its accuracy is asserted in
  tests/test_detection.py.
* Event windows: a P 5 s after the first sample is detected (the LTA starts from the leading
  noise), which obspy's recursive STA/LTA (first LTA length blanked) cannot do.

Every test prints its measured figures (``pytest -s``).
"""
from __future__ import annotations

import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from obspy import Stream, Trace, UTCDateTime, read, read_inventory
from obspy.signal.trigger import recursive_sta_lta

from pipeline.detection import AutoDetection, DetectionConfig, detect, process_station, station_configs
from pipeline.detection.stalta import bandpass, sta_lta

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data"
PHASENET = DATA / "phasenet"
NORSAR = DATA / "norsar"
IDC = Path(sys.executable).with_name("idc")


# ----------------------------------------------------------------------------- helpers
def ncedc_windows() -> tuple[np.ndarray, np.ndarray, list[str]]:
    """The 50 NCEDC windows as 80 s: samples [P - 25 s, P + 55 s) at 100 Hz (P at sample
    2500), the analyst S index, and the channel strings."""
    head = np.load(PHASENET / "ncedc_windows_40s.npz")
    tail = np.load(PHASENET / "ncedc_windows_tail40s.npz")
    assert list(head["fname"]) == list(tail["fname"])
    data = np.concatenate([head["data"], tail["data"]], axis=1)
    return data, head["its"], [str(c) for c in head["channels"]]


def picker_set(seed: int = 7) -> list[tuple[str, Stream, float]]:
    """``make_picker_set.py WINDOWS OUT seed`` in memory: per window ``(station, stream,
    P time)``; the same random leads (P 5-25 s after the start), codes, start times and
    float32 samples as the tool writes."""
    data, _, channels = ncedc_windows()
    rng = random.Random(seed)
    base = UTCDateTime("2020-01-01T00:00:00")
    out = []
    for i in range(data.shape[0]):
        chans = channels[i].split("_")
        sta, lead = f"S{i:03d}", rng.randint(500, 2500)
        a = 2500 - lead
        t0 = base + i * 3600
        st = Stream()
        for k, ch in enumerate(chans):
            col = data[i, a:a + 6000, k] if data.shape[2] == len(chans) else data[i, a:a + 6000, -1]
            if not np.any(col):
                continue
            st += Trace(col.astype(np.float32), header=dict(network="NC", station=sta, channel=ch[:3],
                                                            sampling_rate=100.0, starttime=t0))
        if len(st):
            out.append((sta, st, float((t0 + lead / 100.0).timestamp)))
    return out


def score_picks(picks: pd.DataFrame, truth: list[tuple[str, float]]) -> dict:
    """What ``score_picks.py`` computes: P recall within 0.5 s, median and 90th-percentile
    |error| of the nearest P pick within 1 s, and P picks more than 1 s from the true P."""
    p = picks[picks["phase"].str.upper().str.startswith("P")]
    by = {sta: g["time"].to_numpy() for sta, g in p.groupby("station")}
    errs, hit, extra = [], 0, 0
    for sta, tp in truth:
        ts = by.get(sta, np.empty(0))
        if ts.size:
            e = float(np.abs(ts - tp).min())
            if e <= 1.0:
                errs.append(e)
            hit += e <= 0.5
            extra += int((np.abs(ts - tp) > 1.0).sum())
    errs.sort()
    n = len(truth)
    return dict(recall=hit / n, hits=hit, n=n, median=float(np.median(errs)),
                p90=errs[int(0.9 * (len(errs) - 1))], extra_per_window=extra / n, extra=extra)


# ----------------------------------------------------------------------------- NCEDC picker set
@pytest.fixture(scope="module")
def cli_scores(tmp_path_factory) -> dict[int, dict]:
    """``idc detect`` (default configuration) on the picker sets of seeds 7 (the tool's
    default), 1 and 2."""
    out = {}
    for seed in (7, 1, 2):
        d = tmp_path_factory.mktemp(f"pickset{seed}")
        windows = picker_set(seed)
        for sta, st, _ in windows:
            st.write(str(d / f"{sta}.mseed"), format="MSEED", encoding="FLOAT32")
        r = subprocess.run([str(IDC), "detect", *sorted(map(str, d.glob("*.mseed"))), "-o", str(d / "p.csv"),
                            "--no-progress"], capture_output=True, text=True, timeout=600,
                           env={"PATH": "/usr/bin:/bin", "IDC_HOME": str(d / "home"), "PYTHONPATH": str(ROOT)})
        assert r.returncode == 0, r.stderr
        picks = pd.read_csv(d / "p.csv")
        picks["time"] = [UTCDateTime(t).timestamp for t in picks["time"]]
        out[seed] = {**score_picks(picks, [(sta, tp) for sta, _, tp in windows]), "stdout": r.stdout.strip()}
    return out


def test_picker_set_matches_make_picker_set_geometry():
    windows = picker_set(7)
    assert len(windows) == 50
    leads = [tp - st[0].stats.starttime.timestamp for _, st, tp in windows]
    assert 5.0 <= min(leads) and max(leads) <= 25.0
    assert all(st[0].stats.npts == 6000 and st[0].stats.sampling_rate == 100.0 for _, st, _ in windows)
    # the first window of seed 7 is the one score_picks.py was run on: P at 11.63 s
    assert abs(leads[0] - 11.63) < 1e-6


def test_default_configuration_on_the_ncedc_picker_set(cli_scores):
    """Acceptance (issue 12): P within 0.5 s >= 0.90, median |error| <= 0.05 s, extra P picks
    <= 0.2 per window, with the default configuration (seed 7 = make_picker_set's default)."""
    for seed, s in cli_scores.items():
        print(f"\nseed {seed}: p_recall_0.5s={s['recall']:.3f} ({s['hits']}/{s['n']}) median_abs_err_s="
              f"{s['median']:.3f} p90_abs_err_s={s['p90']:.3f} extra_p_picks={s['extra']} "
              f"({s['extra_per_window']:.2f} per window); {s['stdout']}")
    s = cli_scores[7]
    assert s["recall"] >= 0.90  # measured 0.92 (HEAD: 0.00, the LTA blanked the first 30 s)
    assert s["median"] <= 0.05  # measured 0.04
    assert s["extra_per_window"] <= 0.2  # measured 0.16 (local preset: 3.5)
    for seed in (1, 2):  # other crops of the same windows: same order of figures
        assert cli_scores[seed]["recall"] >= 0.85 and cli_scores[seed]["extra_per_window"] <= 0.25


def test_p_five_seconds_after_the_start_is_detected():
    """Event windows: the first arrival 5 s after the first sample (the earliest of the picker
    set) is found as often as 25 s after it; obspy's recursive STA/LTA blanks its first LTA."""
    data, _, channels = ncedc_windows()
    t0 = UTCDateTime(2020, 1, 1)
    cfg = AutoDetection()
    found = {}
    for lead in (5.0, 25.0):
        n = 0
        for i in range(data.shape[0]):
            chans = channels[i].split("_")
            a = int(2500 - lead * 100)
            st = Stream([Trace(data[i, a:a + 4000, k].astype(np.float64),
                               header=dict(station=f"S{i:03d}", channel=c, sampling_rate=100.0, starttime=t0))
                         for k, c in enumerate(chans if len(chans) == 3 else ["", "", chans[0]]) if c])
            df = process_station(st, None, cfg)
            p = df.loc[df["phase"] == "P", "time"].to_numpy() - (t0.timestamp + lead)
            n += bool(p.size and np.abs(p).min() <= 0.5)
        found[lead] = n
    local = cfg.resolve(100.0)
    z = data[0, 0:4000, 2].astype(np.float64)
    y = bandpass(z, 2.0, 16.0, 100.0, 3)
    nsta, nlta = int(local.sta_s * 100), int(local.lta_s * 100)
    ours, obspy_cf = sta_lta(y, nsta, nlta, int(local.warmup_s() * 100)), recursive_sta_lta(y, nsta, nlta)
    print(f"\nP within 0.5 s with P 5 s after the start: {found[5.0]}/50, 25 s after: {found[25.0]}/50; "
          f"STA/LTA in the first {local.lta_s:g} s: obspy max {obspy_cf[:nlta].max():.1f}, ours max "
          f"{ours[:nlta].max():.1f} (P at 5 s: {ours[480:560].max():.1f} around the onset)")
    assert obspy_cf[:nlta].max() == 0.0  # obspy cannot trigger before one LTA length
    assert found[5.0] >= found[25.0] - 2
    assert found[5.0] >= 44


# ----------------------------------------------------------------------------- held out
def test_norsar_ims_windows_held_out():
    """Held-out regional data at 40 Hz (never used for tuning): 7 windows of 540 s from IMS
    and Fennoscandian array elements with 9 labelled P-type and 7 S-type arrivals.

    The labels are analyst/bulletin times from the *arrays* (1 s resolution) of small events
    (ML 0.8-2.1, one mb 4.7 at 1500 km); at a single element most are barely above the noise:
    the RMS amplitude of the vertical (as the data come: pre-filtered 2-8 Hz) in the second
    after a P-type label is 1.0-2.3 times that of the 10 s before for 8 of the 9, so a
    single-station detector cannot find them all (the array beams that the labels come from
    gain up to sqrt(25) in SNR). Measured with the default ("regional" scales): 3 of 9 P-type
    and 2 of 7 S-type arrivals within 1.5 s, 9 P picks in the 7 windows of 540 s of which 5 are
    more than 1.5 s from every label (HEAD before issue 12: the fixed default found 4/9 and
    2/7 with 12 such P picks; the local preset 8/9 with 382). Bounds at those figures: fewer
    found, or more than one unlabelled P pick per window, fails."""
    truth = pd.read_csv(NORSAR / "truth.csv")
    truth["t"] = [UTCDateTime(x).timestamp for x in truth["time"]]
    cfg = AutoDetection()
    rows = []
    n_p = extra = 0
    for f, g in truth.groupby("file"):
        st = read(str(NORSAR / f))
        (regime, _), = station_configs(st, None, cfg).values()
        assert regime == "regional"
        df = process_station(st, None, cfg)
        z = st.select(component="Z")[0]
        p = df.loc[df["phase"] == "P", "time"].to_numpy()
        s = df.loc[df["phase"] == "S", "time"].to_numpy()
        labels = g["t"].to_numpy()
        for r in g.itertuples():
            i = int(round((r.t - z.stats.starttime.timestamp) * 40))
            noise = np.sqrt(np.mean(z.data[max(0, i - 400):i].astype(float) ** 2))
            sig = np.sqrt(np.mean(z.data[i:i + 40].astype(float) ** 2))
            ours = p if r.kind == "P" else s
            rows.append(dict(file=f, label=r.label, kind=r.kind, snr=sig / noise,
                             found=bool(ours.size and np.abs(ours - r.t).min() <= 1.5)))
        n_p += len(p)
        extra += int(sum(np.abs(labels - x).min() > 1.5 for x in p))
    res = pd.DataFrame(rows)
    vis = res[(res.kind == "P") & (res.snr >= 2.5)]
    print("\n" + res.round(2).to_string(index=False))
    print(f"NORSAR/IMS (held out): P-type found within 1.5 s {int(res[res.kind == 'P'].found.sum())}/"
          f"{int((res.kind == 'P').sum())} (of those with element SNR >= 2.5: {int(vis.found.sum())}/{len(vis)}), "
          f"S-type {int(res[res.kind == 'S'].found.sum())}/{int((res.kind == 'S').sum())}; {n_p} P picks in 7 windows, "
          f"{extra} more than 1.5 s from every label")
    assert int(res[res.kind == "P"].found.sum()) >= 3 and int(res[res.kind == "S"].found.sum()) >= 2
    assert vis.found.all()  # the P-type arrival that stands out at the element (SNR 4.7) is found
    assert extra <= 7  # at most one unlabelled P pick per 540 s window on average


def test_gr_fur_continuous_day_false_detections():
    """Held out: a real continuous 20 Hz broadband day (GR.FUR..BHN, taken as a vertical-only
    sensor), the ``regional`` scales. Most triggers of a quiet station-day are noise; the rate
    of detections per hour is the false-alarm figure (HEAD before issue 12: 6.2 per hour with
    the fixed default, 515 per hour with the local preset)."""
    st = read(str(DATA / "formats" / "GR.FUR..BHN.D.2015.361"))
    st.merge(method=1)
    st[0].stats.channel = "BHZ"
    df = detect(st, None, AutoDetection(), num_workers=1)
    hours = (st[0].stats.endtime - st[0].stats.starttime) / 3600.0
    print(f"\nGR.FUR 2015-12-27, {hours:.1f} h at 20 Hz: {len(df)} detections ({len(df) / hours:.2f} per hour), "
          f"SNR median {df['snr'].median():.1f}")
    assert len(df) / hours <= 2.0  # measured 1.2


def test_iceland_network_gets_the_local_network_scales():
    """With station coordinates the Z7 stations (nearest neighbours 4-12 km away) are a dense
    network: ``"auto"`` uses the local preset for them, so the Iceland accuracy of
    tests/test_detection.py (QuakeMigrate comparison) holds for the default configuration."""
    inv = read_inventory(str(ROOT / "stations" / "Z7.xml"))
    st = Stream()
    for f in sorted((DATA / "iceland" / "waveforms").glob("*.m"))[:6]:
        st += read(str(f))
    st.merge(method=1)
    regimes = station_configs(st, inv, AutoDetection())
    assert {r for r, _ in regimes.values()} == {"local-network"} and len(regimes) == 12
    assert all(c == DetectionConfig.local() for _, c in regimes.values())
    sub = Stream([tr for tr in st if tr.stats.station in ("DYJN", "KVER")])
    a = detect(sub, inv, AutoDetection())
    b = detect(sub, inv, DetectionConfig.local())
    pd.testing.assert_frame_equal(a, b)
    # without coordinates the same 100 Hz data are single stations: the local-station scales
    assert {r for r, _ in station_configs(st, None, AutoDetection()).values()} == {"local-station"}
    print(f"\n{len(a)} detections on DYJN and KVER, identical with 'auto' and the local preset")


@pytest.mark.parametrize("scales", ["local", "auto_local"])
def test_one_p_per_onset_on_the_ncedc_windows(scales):
    """The coda of a P is not a new P: on the 50 NCEDC windows (P 25 s after the start, 15 s of
    data after it), P picks 1-15 s after the analyst P (coda re-triggers, and S waves on the
    12 vertical-only sensors, which carry no 3-C phase evidence) with the one-P-per-onset rule
    (``coda_level=2``) and without it (``coda_level=None``), the scales otherwise the same: the
    local preset (SNR 1.2, where most re-triggers pass the SNR test) and the local-station
    scales of the default (SNR 2.5). The first P must not be lost."""
    data, its, channels = ncedc_windows()
    t0 = UTCDateTime(2020, 1, 1)
    make = getattr(DetectionConfig, scales)
    counts = {}
    for label, cfg in (("with", make(coda_level=2.0)), ("without", make(coda_level=None))):
        late_p = hits = s_picks = 0
        for i in range(data.shape[0]):
            chans = channels[i].split("_")
            st = Stream([Trace(data[i, :4000, k].astype(np.float64),
                               header=dict(station=f"S{i:03d}", channel=c, sampling_rate=100.0, starttime=t0))
                         for k, c in enumerate(chans if len(chans) == 3 else ["", "", chans[0]]) if c])
            df = process_station(st, None, cfg)
            dt = df.loc[df["phase"] == "P", "time"].to_numpy() - (t0.timestamp + 25.0)
            late_p += int(((dt > 1.0) & (dt <= 15.0)).sum())
            hits += bool(dt.size and np.abs(dt).min() <= 0.5)
            s_picks += int((df["phase"] == "S").sum())
        counts[label] = (late_p, hits, s_picks)
    print(f"\n{scales} scales: P picks 1-15 s after the analyst P in 50 windows: {counts['with'][0]} with the "
          f"rule, {counts['without'][0]} without; P found within 0.5 s {counts['with'][1]} / {counts['without'][1]}; "
          f"S picks {counts['with'][2]} / {counts['without'][2]}")
    assert counts["with"][0] <= 0.5 * counts["without"][0]  # measured 15 vs 30 (local), 2 vs 5
    assert counts["with"][1] >= counts["without"][1]  # the first P is not lost
