"""The fast paths of station processing give the same results as the straightforward ones.

Station processing was sped up (issue 3 benchmark, ``bench/station_processing.py``) by a
vectorised trigger search, by sample views instead of float64 copies, by bisection instead of
quadratic scans when triggers and detections are merged, by 6-h chunks, and (amplitudes) by a
cached Wood-Anderson response. These tests check,
on real data, that none of this changes a result:

* :func:`pipeline.detection.stalta.trigger_onsets` returns exactly what
  :func:`obspy.signal.trigger.trigger_onset` returns, on real STA/LTA characteristic functions
  (a full day of GRSN data at 20 Hz, and the Iceland 100 Hz data) and on edge cases;
* :func:`~pipeline.detection.stalta.merge_triggers` keeps the same triggers as the quadratic
  reference algorithm;
* on a real station-day, the default 6-h chunks, 1-h chunks and no chunking give the same
  detections, and integer input gives exactly the detections of the same data as float64;
* the Wood-Anderson simulation with a cached response
  (:func:`pipeline.detection.amplitudes.wood_anderson`) is bit-identical to obspy's
  ``Trace.simulate``.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from obspy import Stream, read
from obspy.signal.trigger import recursive_sta_lta, trigger_onset

from pipeline.detection import DetectionConfig, detect
from pipeline.detection.stalta import (Trigger, bandpass, merge_triggers, sta_lta, stalta_triggers,
                                      trigger_onsets)

ROOT = Path(__file__).resolve().parent.parent
REAL_DAY = ROOT / "tests" / "data" / "formats" / "GR.FUR..BHN.D.2015.361"  # 20 Hz, 2015-12-27
ICELAND = ROOT / "tests" / "data" / "iceland" / "waveforms"

THRESHOLDS = [(4.0, 1.5), (3.0, 2.5), (2.5, 2.5), (1.5, 0.8), (3.5, 3.4)]


@pytest.fixture(scope="module")
def day() -> Stream:
    """The real GR.FUR..BHN day, relabelled as a vertical (BHZ): vertical-only processing."""
    st = read(str(REAL_DAY))
    st.merge(method=1)
    assert len(st) == 1 and st[0].data.dtype == np.int32
    st[0].stats.channel = "BHZ"
    return st


@pytest.fixture(scope="module")
def real_cfs(day) -> list[np.ndarray]:
    """STA/LTA characteristic functions of real data: the GRSN day in three bands (1 s / 30 s)
    and the verticals of three Iceland event windows (0.1 s / 3 s, 2-16 Hz)."""
    x = day[0].data
    cfs = [recursive_sta_lta(bandpass(x, lo, hi, 20.0, 3), 20, 600) for lo, hi in ((1, 8), (0.8, 4.5), (2, 9))]
    for f in sorted(ICELAND.glob("*.m"))[:3]:  # event windows, 12 stations each
        for tr in read(str(f)).select(component="Z"):
            fs = tr.stats.sampling_rate
            cfs.append(recursive_sta_lta(bandpass(tr.data, 2.0, 16.0, fs, 3), int(0.1 * fs), int(3 * fs)))
    assert len(cfs) >= 30
    return cfs


def test_trigger_onsets_equal_obspy_on_real_characteristic_functions(real_cfs):
    total = 0
    for cf in real_cfs:
        for on, off in THRESHOLDS:
            ref = np.asarray(trigger_onset(cf, on, off), dtype=np.int64).reshape(-1, 2)
            got = trigger_onsets(cf, on, off)
            assert got.dtype == np.int64 and got.shape == ref.shape
            np.testing.assert_array_equal(got, ref)
            total += len(ref)
    print(f"\n{total} triggers identical to obspy's trigger_onset on {len(real_cfs)} real "
          f"characteristic functions x {len(THRESHOLDS)} threshold pairs")
    assert total > 1000  # the comparison covered many real triggers


@pytest.mark.parametrize("cf, on, off", [
    (np.array([5.0, 5.0, 0.0, 5.0]), 4.0, 1.5),  # on at the first and at the last sample
    (np.array([0.0, 2.0, 5.0, 2.0, 2.0]), 4.0, 1.5),  # never falls below off again
    (np.array([0.0, 5.0, np.nan, 5.0, 1.0]), 4.0, 1.5),  # NaN ends a trigger
    (np.array([np.nan, np.nan]), 4.0, 1.5),
    (np.array([1.0, 2.0, 3.0]), 4.0, 1.5),  # no trigger
    (np.array([4.0]), 4.0, 4.0),  # thresholds are inclusive
    (np.zeros(0), 4.0, 1.5),
    (np.r_[np.zeros(3), np.full(3000, 2.0), 5.0, np.full(5000, 2.0), 0.0, 5.0], 4.0, 1.5),  # long runs
    (np.array([0.0, 5.0, 3.0, 5.0, 0.0, 4.5, 2.0]), 4.0, 3.5),  # off threshold close to on
])
def test_trigger_onsets_edge_cases(cf, on, off):
    ref = np.asarray(trigger_onset(cf, on, off), dtype=np.int64).reshape(-1, 2) if cf.size else np.empty((0, 2))
    np.testing.assert_array_equal(trigger_onsets(cf, on, off), ref)


def test_trigger_onsets_off_above_on_falls_back_to_obspy():
    cf = np.array([0.0, 3.0, 5.0, 3.5, 2.0, 6.0, 1.0])
    np.testing.assert_array_equal(trigger_onsets(cf, 2.5, 3.0),
                                  np.asarray(trigger_onset(cf, 2.5, 3.0)).reshape(-1, 2))


def test_stalta_trigger_peaks_are_the_characteristic_function_maxima(day):
    y = bandpass(day[0].data, 1.0, 8.0, 20.0, 3)
    cf = sta_lta(y, 20, 600, warmup=40)
    # beyond 30 LTA lengths it is obspy's recursive STA/LTA exactly; before, obspy's LTA (from
    # zero) is biased low, ours is the mean of the data seen so far
    obspy_cf = recursive_sta_lta(y.astype(np.float64), 20, 600)
    np.testing.assert_array_equal(cf[18000:], obspy_cf[18000:])
    assert np.abs(cf[6000:18000] / obspy_cf[6000:18000] - 1).max() < 1e-4  # exp(-10) by then
    trig = stalta_triggers(y, 20.0, 1.0, 30.0, 4.0, 1.5, band=1)
    ref = trigger_onset(cf, 4.0, 1.5)
    assert len(trig) == len(ref) > 10
    for t, (a, b) in zip(trig, ref):
        assert (t.on, t.off, t.band) == (a, min(b, cf.size - 1), 1)
        assert t.peak == cf[a:min(b, cf.size - 1) + 1].max()


def _merge_reference(triggers: list[Trigger], min_separation: int) -> list[Trigger]:
    """The straightforward quadratic merge (the previous implementation)."""
    kept: list[Trigger] = []
    for t in sorted(triggers, key=lambda t: (-t.peak, t.on, t.band)):
        if all(abs(k.on - t.on) >= min_separation for k in kept):
            kept.append(t)
    return sorted(kept, key=lambda t: t.on)


@pytest.mark.parametrize("min_sep_s", [0.05, 2.0, 30.0])
def test_merge_triggers_matches_the_quadratic_reference(day, min_sep_s):
    x = day[0].data
    triggers = []
    for b, (lo, hi) in enumerate(((1, 8), (0.8, 4.5), (2, 9))):
        triggers += stalta_triggers(bandpass(x, lo, hi, 20.0, 3), 20.0, 1.0, 30.0, 3.0, 1.5, band=b)
    assert len(triggers) > 100
    min_sep = max(1, int(round(min_sep_s * 20.0)))
    got = merge_triggers(triggers, min_sep)
    assert got == _merge_reference(triggers, min_sep)
    assert 0 < len(got) <= len(triggers)


def test_chunk_length_does_not_change_detections_on_a_real_day(day):
    """Default 6-h chunks vs 1-h chunks vs one chunk, whole real day (vertical-only, 20 Hz)."""
    cfg = DetectionConfig()
    assert cfg.chunk_s == 21600.0
    runs = {c: detect(day, None, cfg.model_copy(update={"chunk_s": c})) for c in (21600.0, 3600.0, None)}
    ref = runs[None]
    print(f"\nreal day, vertical only: {len(ref)} detections unchunked, "
          + ", ".join(f"{len(v)} with {k:g} s chunks" for k, v in runs.items() if k))
    assert len(ref) > 20
    for c, df in runs.items():
        assert len(df) == len(ref), c
        assert (df["phase"].to_numpy() == ref["phase"].to_numpy()).all()
        assert np.abs(df["time"].to_numpy() - ref["time"].to_numpy()).max() <= 1.0 / 20.0


def test_integer_samples_give_exactly_the_float_results(day):
    """Samples are passed to the filters as views of the input (no float64 copy); int32 input
    must give bit-identical detections to the same samples as float64."""
    as_float = day.copy()
    as_float[0].data = as_float[0].data.astype(np.float64)
    cfg = DetectionConfig()
    a, b = detect(day, None, cfg), detect(as_float, None, cfg)
    assert len(a) > 20
    assert a.equals(b)


def test_wood_anderson_equals_obspy_simulate_on_real_windows():
    """The cached-response Wood-Anderson simulation is bit-identical to obspy's
    ``Trace.simulate(paz_simulate=WOODANDERSON_MAG1)`` (windows of several lengths, so several
    FFT sizes, of the real Iceland horizontals)."""
    from obspy import Trace

    from pipeline.detection.amplitudes import WOODANDERSON_MAG1, wood_anderson

    n = 0
    st = read(str(sorted(ICELAND.glob("*.m"))[0])).select(component="N")
    for tr in st:
        fs = tr.stats.sampling_rate
        for i0, length in ((0, 1000), (100, 1537), (7, 3001)):
            vel = tr.data[i0:i0 + length].astype(np.float64) * 1e-9
            ref = Trace(vel.copy(), header={"sampling_rate": fs})
            ref.simulate(paz_remove=None, paz_simulate=WOODANDERSON_MAG1)
            np.testing.assert_array_equal(wood_anderson(vel, fs), ref.data)
            n += 1
    assert n >= 30
