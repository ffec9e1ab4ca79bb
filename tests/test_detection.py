"""Station processing (pipeline.detection) on real data.

* Iceland (tests/data/iceland): 12 Z7 stations, 9 min of 100 Hz 3-C data, compared with
  QuakeMigrate's automatic P and S picks and event locations (not analyst picks, but an
  independent tool): P recall and onset error, S recall, P backazimuth, amplitudes.
* NCEDC windows (tests/data/phasenet, PhaseNet's training examples with analyst picks): AIC
  onset accuracy.
* Chunk-boundary independence, output schema, no-inventory behaviour, obspy conversion, the
  dask.distributed path, configuration validation, and synthetic checks of the AIC picker and
  of the backazimuth sign convention.

Every real-data test prints the measured figures (``pytest -s`` shows them).
"""
from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from obspy import Stream, Trace, UTCDateTime, read, read_events, read_inventory
from obspy.core.event import Catalog, Event
from obspy.geodetics import gps2dist_azimuth

from pipeline.detection import (BandSet, DetectionConfig, chunk_intervals, detect, picks_to_obspy,
                                process_station)
from pipeline.detection.onset import aic_onset
from pipeline.detection.polarisation import polarisation
from pipeline.picks import PICK_COLUMNS, normalise_picks

ROOT = Path(__file__).resolve().parent.parent
ICELAND = ROOT / "tests" / "data" / "iceland"
PHASENET = ROOT / "tests" / "data" / "phasenet" / "ncedc_windows_40s.npz"
Z7_XML = ROOT / "stations" / "Z7.xml"


# ----------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def iceland() -> Stream:
    st = Stream()
    for f in sorted((ICELAND / "waveforms").glob("*.m")):
        st += read(str(f))
    st.merge(method=1)
    assert len(st) == 36
    return st


@pytest.fixture(scope="module")
def z7():
    return read_inventory(str(Z7_XML))


@pytest.fixture(scope="module")
def qm_picks() -> pd.DataFrame:
    """QuakeMigrate picks that were actually picked (PickTime != -1), with event epicentres."""
    frames = []
    for f in sorted((ICELAND / "quakemigrate").glob("*.picks")):
        d = pd.read_csv(f)
        ev = pd.read_csv(f.with_suffix(".event")).iloc[0]
        d["ev_lon"], d["ev_lat"] = ev["X"], ev["Y"]
        frames.append(d)
    df = pd.concat(frames, ignore_index=True)
    df = df[df["PickTime"].astype(str) != "-1"].copy()
    df["t"] = [UTCDateTime(x).timestamp for x in df["PickTime"]]
    return df


@pytest.fixture(scope="module")
def iceland_picks(iceland, z7) -> pd.DataFrame:
    return detect(iceland, z7, DetectionConfig.local())


def _match(ours: pd.DataFrame, ref: pd.DataFrame, phase: str, tol: float) -> tuple[np.ndarray, list]:
    """Signed errors (ours - reference) of reference picks matched within ``tol`` seconds by a
    detection of the same phase hint on the same station, and the matched row indices."""
    errs, rows = [], []
    for r in ref[ref["Phase"] == phase].itertuples():
        m = ours[(ours["station"] == r.Station) & (ours["phase"] == phase)]
        if not len(m):
            continue
        dt = m["time"].to_numpy() - r.t
        j = int(np.argmin(np.abs(dt)))
        if abs(dt[j]) <= tol:
            errs.append(dt[j])
            rows.append((m.index[j], r))
    return np.asarray(errs), rows


# ----------------------------------------------------------------------------- Iceland
def test_output_schema(iceland_picks):
    df = iceland_picks
    assert list(df.columns) == list(PICK_COLUMNS)
    pd.testing.assert_frame_equal(normalise_picks(df), df)
    assert df["pick_id"].is_unique and df["pick_id"].str.len().eq(16).all()
    assert set(df["phase"]) == {"P", "S"}
    assert df["time"].is_monotonic_increasing
    assert (df["time_uncertainty"] > 0).all() and (df["snr"] > 0).all()
    assert df.loc[df["phase"] == "S", ["backazimuth", "slowness", "amplitude"]].isna().all().all()
    print(f"\n{len(df)} detections on 12 stations: {df['phase'].value_counts().to_dict()}")


def test_iceland_p_picks_match_quakemigrate(iceland_picks, qm_picks):
    errs, _ = _match(iceland_picks, qm_picks, "P", 0.3)
    n_ref = int((qm_picks["Phase"] == "P").sum())
    recall = errs.size / n_ref
    med = float(np.median(np.abs(errs)))
    print(f"\nIceland P: {errs.size}/{n_ref} QuakeMigrate P picks detected as P within 0.3 s "
          f"(recall {recall:.3f}); median |dt| {med:.3f} s, median dt {np.median(errs):+.3f} s, "
          f"90th pct |dt| {np.percentile(np.abs(errs), 90):.3f} s")
    assert recall >= 0.80  # measured 0.86
    assert med <= 0.08  # measured 0.052 s


def test_iceland_s_picks_match_quakemigrate(iceland_picks, qm_picks):
    errs, _ = _match(iceland_picks, qm_picks, "S", 0.5)
    n_ref = int((qm_picks["Phase"] == "S").sum())
    recall = errs.size / n_ref
    print(f"\nIceland S: {errs.size}/{n_ref} QuakeMigrate S picks detected as S within 0.5 s "
          f"(recall {recall:.3f}); median |dt| {np.median(np.abs(errs)):.3f} s; "
          f"{int((iceland_picks['phase'] == 'S').sum())} S detections in total")
    assert recall >= 0.70  # measured 0.83
    assert np.median(np.abs(errs)) <= 0.1


def test_iceland_p_backazimuth(iceland_picks, qm_picks, z7):
    _, rows = _match(iceland_picks, qm_picks, "P", 0.3)
    errs = []
    for idx, r in rows:
        sta = z7.select(station=r.Station)[0][0]
        _, baz_true, _ = gps2dist_azimuth(sta.latitude, sta.longitude, r.ev_lat, r.ev_lon)
        errs.append((iceland_picks.at[idx, "backazimuth"] - baz_true + 180.0) % 360.0 - 180.0)
    a = np.abs(np.asarray(errs))
    print(f"\nIceland P backazimuth vs QuakeMigrate epicentres: n={a.size}, median |error| "
          f"{np.median(a):.1f} deg, within 30 deg {np.mean(a < 30):.2f}, within 90 deg "
          f"{np.mean(a < 90):.2f} (a wrong 180-degree resolution would put the median near 145)")
    assert np.median(a) <= 50.0  # measured 34 deg
    assert np.mean(a < 90) >= 0.7  # measured 0.79


def test_iceland_amplitudes(iceland_picks, qm_picks):
    df = iceland_picks
    p, s = df[df["phase"] == "P"], df[df["phase"] == "S"]
    assert p["amplitude"].notna().mean() >= 0.95
    assert s["amplitude"].isna().all()
    assert df["amp_wa"].notna().mean() >= 0.95
    per = p["period"].dropna()
    assert per.between(0.1, 2.5).mean() >= 0.95  # 0.8-4.5 Hz band: half-cycles of 0.1-0.6 s
    # Wood-Anderson vs QuakeMigrate: QM's S_amp is half peak-to-trough in mm on a WA with
    # magnification 2080; ours is zero-to-peak nm at magnification 1 -> x 2080e-6
    amps = pd.concat([pd.read_csv(f) for f in sorted((ICELAND / "quakemigrate").glob("*.amps"))])
    amps = amps[~amps["id"].str.endswith("Z")].copy()
    amps["sta"] = amps["id"].str.split(".").str[1]
    amps["t"] = [UTCDateTime(x).timestamp for x in amps["S_time"]]
    _, rows = _match(df, qm_picks, "S", 0.5)
    ratios = []
    for idx, r in rows:
        q = amps[(amps["sta"] == r.Station) & (np.abs(amps["t"] - r.t) < 10.0)]
        if len(q) and np.isfinite(df.at[idx, "amp_wa"]):  # NaN: maximum on the window's edge
            ratios.append(df.at[idx, "amp_wa"] * 2080e-6 / q["S_amp"].max())
    ratios = np.asarray(ratios)
    print(f"\nmb A5/2 amplitudes of P: median {p['amplitude'].median():.1f} nm, period median "
          f"{per.median():.2f} s; WA amplitude ours/QuakeMigrate on {ratios.size} S picks: median "
          f"{np.median(ratios):.2f}, 16-84% {np.percentile(ratios, 16):.2f}-{np.percentile(ratios, 84):.2f} "
          "(Z7 responses are placeholders whose gain was fitted to QuakeMigrate's amplitudes)")
    assert ratios.size >= 100
    assert 0.7 <= np.median(ratios) <= 1.6  # measured 1.23


# ----------------------------------------------------------------------------- chunking
@pytest.fixture(scope="module")
def four_stations(iceland) -> Stream:
    return Stream([tr for tr in iceland if tr.stats.station in ("DYJN", "FLUR", "KVER", "TOHR")])


@pytest.fixture(scope="module")
def unchunked(four_stations) -> pd.DataFrame:
    return detect(four_stations, None, DetectionConfig.local(chunk_s=None))


@pytest.mark.parametrize("chunk_s", [60.0, 150.0, 600.0])
def test_chunk_boundaries_do_not_change_detections(four_stations, unchunked, chunk_s):
    cfg = DetectionConfig.local(chunk_s=chunk_s)
    start = min(tr.stats.starttime for tr in four_stations)
    end = max(tr.stats.endtime for tr in four_stations)
    n_chunks = len(chunk_intervals(start, end, chunk_s))
    chunked = detect(four_stations, None, cfg)
    cols = ["station", "channel", "phase"]
    print(f"\nchunk {chunk_s:g} s ({n_chunks} chunks): {len(chunked)} detections; unchunked "
          f"{len(unchunked)}")
    assert n_chunks == math.ceil((end - start) / chunk_s)
    assert len(chunked) == len(unchunked) > 100
    pd.testing.assert_frame_equal(chunked[cols], unchunked[cols])
    dt = np.abs(chunked["time"].to_numpy() - unchunked["time"].to_numpy())
    assert dt.max() <= 0.01  # one sample at 100 Hz
    assert list(chunked["pick_id"]) == list(unchunked["pick_id"])


def test_chunk_boundaries_do_not_change_amplitudes(iceland, z7):
    st = Stream([tr for tr in iceland if tr.stats.station == "NOHR"])
    a = detect(st, z7, DetectionConfig.local(chunk_s=60.0))
    b = detect(st, z7, DetectionConfig.local(chunk_s=None))
    assert len(a) == len(b) > 10
    for col in ("amplitude", "amp_wa", "snr", "backazimuth"):
        np.testing.assert_allclose(a[col], b[col], rtol=1e-6, equal_nan=True)


def test_without_inventory_amplitudes_are_nan(unchunked):
    df = unchunked
    assert len(df) > 100 and set(df["phase"]) == {"P", "S"}
    assert df[["amplitude", "period", "amp_wa", "amp_wa_period"]].isna().all().all()
    assert df.loc[df["phase"] == "P", "backazimuth"].notna().all()  # polarisation needs no response


def test_vertical_only_station(iceland):
    st = Stream([tr for tr in iceland if tr.stats.station == "DYJN" and tr.stats.channel == "HHZ"])
    df = process_station(st, None, DetectionConfig.local())
    assert len(df) > 10
    assert set(df["phase"]) == {"P"} and set(df["channel"]) == {"HHZ"}
    assert df[["backazimuth", "incidence", "amp_wa"]].isna().all().all()


def test_distributed_client_gives_the_same_result(four_stations, unchunked):
    distributed = pytest.importorskip("distributed")
    with distributed.Client(processes=False, n_workers=1, threads_per_worker=2,
                            dashboard_address=None) as client:
        df = detect(four_stations, None, DetectionConfig.local(chunk_s=300.0), client=client)
    pd.testing.assert_frame_equal(df, unchunked)


def test_external_scheduler_address_from_settings(four_stations, unchunked, tmp_path):
    """``dask.scheduler`` / ``IDC_DASK_SCHEDULER``: the task layer connects to that scheduler."""
    distributed = pytest.importorskip("distributed")
    from pipeline import tasks
    from tests.conftest import make_settings

    with distributed.LocalCluster(processes=False, n_workers=2, threads_per_worker=1,
                                  dashboard_address=None) as cluster:
        s = make_settings(tmp_path / "home", **{"dask.scheduler": cluster.scheduler_address})
        with tasks.dask_client(s) as client:
            assert client is not None and client.scheduler.address == cluster.scheduler_address
            df = detect(four_stations, None, DetectionConfig.local(chunk_s=300.0), client=client)
            assert any(p.startswith("detect") for p in cluster.scheduler.task_prefixes)  # ran on that cluster
    pd.testing.assert_frame_equal(df, unchunked)
    with tasks.dask_client(make_settings(tmp_path / "home2")) as client:
        assert client is None  # default: threads in this process


# ----------------------------------------------------------------------------- NCEDC / PhaseNet
def test_aic_onsets_against_ncedc_analyst_picks():
    d = np.load(PHASENET)
    cfg = DetectionConfig.local()
    t0 = UTCDateTime(2000, 1, 1)
    err_any, err_p, within_sigma = [], [], []
    for k, fname in enumerate(d["fname"]):
        net, sta = str(fname).split("_")[:2]
        chans = str(d["channels"][k]).split("_")
        chans = chans if len(chans) == 3 else ["", "", chans[0]]  # single vertical: column 3
        st = Stream([Trace(d["data"][k][:, j].astype(np.float64),
                           header=dict(network=net, station=sta, channel=c, starttime=t0,
                                       sampling_rate=float(d["sampling_rate"])))
                     for j, c in enumerate(chans) if c])
        df = process_station(st, None, cfg)
        tp = t0.timestamp + int(d["itp"][k]) / float(d["sampling_rate"])
        if len(df):
            e = df["time"].to_numpy() - tp
            j = int(np.argmin(np.abs(e)))
            err_any.append(e[j])
            within_sigma.append(abs(e[j]) <= df["time_uncertainty"].iloc[j])
            ep = df.loc[df["phase"] == "P", "time"].to_numpy() - tp
            err_p.append(ep[np.argmin(np.abs(ep))] if ep.size else np.inf)
    n = len(d["fname"])
    a = np.abs(np.asarray(err_any))
    ok = a <= 0.5
    ap = np.abs(np.asarray(err_p))
    okp = ap <= 0.5
    print(f"\nNCEDC analyst P picks ({n} windows): nearest detection within 0.5 s in {ok.sum()}/{n}; "
          f"of those median |error| {np.median(a[ok]):.3f} s, 90th pct {np.percentile(a[ok], 90):.3f} s, "
          f"median signed {np.median(np.asarray(err_any)[ok]):+.3f} s; within the reported 1-sigma "
          f"time_uncertainty {np.mean(np.asarray(within_sigma)[ok]):.2f}. Hinted P within 0.5 s: "
          f"{okp.sum()}/{n}, median {np.median(ap[okp]):.3f} s, 90th pct {np.percentile(ap[okp], 90):.3f} s")
    assert ok.sum() >= 0.9 * n  # measured 48/50
    assert np.median(a[ok]) <= 0.06  # measured 0.04 s
    assert np.percentile(a[ok], 90) <= 0.3  # measured 0.23 s
    assert okp.sum() >= 0.8 * n  # measured 43/50


# ----------------------------------------------------------------------------- obspy objects
def test_picks_to_obspy(iceland_picks):
    df = iceland_picks.iloc[:60]
    picks, amps = picks_to_obspy(df)
    assert len(picks) == len(df)
    n_mb, n_wa = int(df["amplitude"].notna().sum()), int(df["amp_wa"].notna().sum())
    assert len(amps) == n_mb + n_wa and n_mb > 0 and n_wa > 0
    by_id = {str(p.resource_id): p for p in picks}
    row = df.iloc[0]
    p0 = picks[0]
    assert str(p0.resource_id).endswith(row["pick_id"])
    assert abs(p0.time.timestamp - row["time"]) < 1e-6
    assert p0.evaluation_mode == "automatic" and p0.phase_hint == row["phase"]
    assert p0.waveform_id.get_seed_string() == f"Z7.{row['station']}..{row['channel']}"
    assert math.isclose(p0.time_errors.uncertainty, row["time_uncertainty"])
    assert p0.method_id is not None
    mb = [a for a in amps if a.type == "A5/2"]
    wa = [a for a in amps if a.type == "AML"]
    assert all(a.unit == "m" and str(a.pick_id) in by_id for a in amps)
    r = df.set_index("pick_id")
    for a in mb[:5]:
        pid = str(a.pick_id).rsplit("/", 1)[1]
        assert math.isclose(a.generic_amplitude, r.at[pid, "amplitude"] * 1e-9)
        assert math.isclose(a.period, r.at[pid, "period"]) and a.magnitude_hint == "mb"
    assert all(a.magnitude_hint == "ML" for a in wa)
    p_rows = df[df["phase"] == "P"]
    pp = by_id[f"smi:local/pick/{p_rows['pick_id'].iloc[0]}"]
    assert math.isclose(pp.backazimuth, p_rows["backazimuth"].iloc[0])
    assert math.isclose(pp.horizontal_slowness, p_rows["slowness"].iloc[0])
    # QuakeML round trip
    buf = io.BytesIO()
    Catalog([Event(picks=picks, amplitudes=amps)]).write(buf, format="QUAKEML")
    buf.seek(0)
    ev = read_events(buf)[0]
    assert len(ev.picks) == len(picks) and len(ev.amplitudes) == len(amps)


# ----------------------------------------------------------------------------- units / config
def test_aic_finds_a_synthetic_onset():
    rng = np.random.default_rng(1)
    x = rng.normal(size=1000)
    x[600:] *= 6.0
    k, curve = aic_onset([x], 300, 900)
    assert abs(k - 600) <= 3 and curve.size == 600


def test_backazimuth_convention_on_a_synthetic_p_wave():
    """A P wave from a source at backazimuth 60 deg: ground moves up and away from the source
    (towards azimuth 240 deg); incidence 30 deg."""
    t = np.arange(200) / 100.0
    s = np.sin(2 * np.pi * 3 * t) * np.exp(-t)
    inc, away = np.radians(30.0), np.radians(240.0)
    z, r = s * np.cos(inc), s * np.sin(inc)
    p = polarisation(z, r * np.cos(away), r * np.sin(away), vs_km_s=3.46)
    assert abs(p.backazimuth - 60.0) < 1.0 and abs(p.incidence - 30.0) < 1.0
    assert p.rectilinearity > 0.99
    p2 = polarisation(-z, -r * np.cos(away), -r * np.sin(away), vs_km_s=3.46)  # dilatation
    assert abs(p2.backazimuth - 60.0) < 1.0
    # Wiechert: p = sin(i/2) / vs, s/deg
    assert math.isclose(p.slowness, math.sin(math.radians(15.0)) / 3.46 * 111.195, rel_tol=1e-3)


def test_config_validation_and_band_selection():
    cfg = DetectionConfig()
    assert cfg.bands_for("GR", 40.0) == ((2.0, 16.0), (1.0, 8.0), (0.8, 4.5))  # (4, 20) > 0.9 Nyquist
    assert cfg.bands_for("GR", 100.0) == cfg.bands
    custom = DetectionConfig(band_sets=(BandSet(networks=("IM",), bands=((1.0, 3.0),)),
                                        BandSet(max_sampling_rate_hz=25.0, bands=((0.5, 2.0),))))
    assert custom.bands_for("IM", 40.0) == ((1.0, 3.0),)
    assert custom.bands_for("GR", 20.0) == ((0.5, 2.0),)
    assert custom.bands_for("GR", 100.0) == custom.bands
    with pytest.raises(ValueError, match="pad_s"):
        DetectionConfig(pad_s=10.0)
    with pytest.raises(ValueError, match="trigger_off"):
        DetectionConfig(trigger_on=3.0, trigger_off=3.5)
    with pytest.raises(ValueError):
        DetectionConfig(bands=((5.0, 2.0),))
    with pytest.raises(Exception):
        cfg.sta_s = 2.0  # frozen
    assert DetectionConfig.model_validate(cfg.model_dump()) == cfg


def test_components_1_2_are_rotated_with_the_inventory(iceland, z7):
    """The same station recorded on horizontals at azimuths 30 and 120 deg (codes HH1/HH2)
    gives the same detections and backazimuths once rotated with the inventory's orientation."""
    import copy

    st = Stream([tr.copy() for tr in iceland if tr.stats.station == "DYJN"]).split()
    inv = copy.deepcopy(z7.select(station="DYJN"))
    for ch in inv[0][0].channels:
        if ch.code == "HHN":
            ch.code, ch.azimuth = "HH1", 30.0
        elif ch.code == "HHE":
            ch.code, ch.azimuth = "HH2", 120.0
    rotated = Stream()
    for z in st.select(channel="HHZ"):
        same = [tr for tr in st if tr.stats.starttime == z.stats.starttime and tr.stats.npts == z.stats.npts]
        n = [tr for tr in same if tr.stats.channel == "HHN"]
        e = [tr for tr in same if tr.stats.channel == "HHE"]
        if len(n) != 1 or len(e) != 1:
            continue
        nd, ed = n[0].data.astype(np.float64), e[0].data.astype(np.float64)
        for code, az in (("HH1", 30.0), ("HH2", 120.0)):
            tr = z.copy()
            tr.stats.channel = code
            tr.data = nd * math.cos(math.radians(az)) + ed * math.sin(math.radians(az))
            rotated += tr
        rotated += z.copy()
        rotated += n[0].copy()
        rotated += e[0].copy()
    cfg = DetectionConfig.local()
    ref = process_station(rotated.select(channel="HH[ZNE]"), None, cfg)
    got = process_station(rotated.select(channel="HH[Z12]"), inv, cfg)
    assert len(rotated) >= 15  # 3 segments x 5 channels at least
    assert len(ref) > 10 and len(got) == len(ref)
    assert (got["phase"].to_numpy() == ref["phase"].to_numpy()).all()
    p = got["phase"] == "P"
    diff = (got.loc[p, "backazimuth"] - ref.loc[p, "backazimuth"] + 180.0) % 360.0 - 180.0
    assert np.abs(diff).max() < 0.5
    # without the orientation the 1/2 components give no backazimuth
    assert process_station(rotated.select(channel="HH[Z12]"), None, cfg)["backazimuth"].isna().all()


@pytest.mark.parametrize("update", [{"characteristic": "energy3c"}, {"aic_filter": "causal"},
                                    {"aic_refine_s": None, "s_detection": {"enabled": False}}])
def test_configuration_variants_run(iceland, update):
    st = Stream([tr for tr in iceland if tr.stats.station == "KVER"])
    base = DetectionConfig.local().model_dump()
    for key, value in update.items():
        base[key] = {**base[key], **value} if isinstance(value, dict) else value
    cfg = DetectionConfig.model_validate(base)
    df = process_station(st, None, cfg)
    assert len(df) > 10 and list(df.columns) == list(PICK_COLUMNS)
