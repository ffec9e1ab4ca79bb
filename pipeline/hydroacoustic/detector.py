"""H-phase (hydrophone) and T-phase (island seismometer) detection on single channels.

What is computed, per channel (``HydroacousticConfig`` for the parameters):

1. **Band energies.** The demeaned, detrended trace is band-passed (obspy zero-phase Butterworth) in
   each detection band (``auto``: octave bands from 2 Hz to 0.4 x the sampling rate).
2. **Onset.** Classic STA/LTA (obspy's C implementation) of each band; a trigger runs while the
   largest ratio over the bands exceeds ``trigger_on`` until it falls below ``trigger_off``. The
   band with the highest STA/LTA peak inside the trigger is the detection band; the onset is
   the AIC change point (Maeda 1985, :func:`pipeline.detection.onset.aic_onset`) of that band
   around the trigger time. ``time_uncertainty`` = max(|trigger - onset| / 2, sta_s / 4), s.
3. **Duration**: from the onset until the detection band's power over ``sta_s`` falls below
   ``trigger_off`` x the band's power over the ``lta_s`` before the onset.
4. **SNR**: RMS of the detection band over the detection (at most its first 30 s) over the RMS
   of the LTA window before the onset (amplitude ratio).
5. **Band energy profile** (``band_energy_db``): per band, 10 log10 of the mean power over the
   detection over the mean power of the noise before the onset (dB), as ``"lo-hi:dB;..."``:
   the spectral shape that tells an earthquake's T phase (energy below ~20 Hz) from an
   explosion's broadband H phase.
6. **Peak frequency** (``frequency``): where the Welch PSD (1 s Hann segments) of the detection
   exceeds the PSD of the noise before the onset the most (dB), within the detection bands.
7. **Cepstrum** (hydrophones only): the real cepstrum of the log power spectrum (detrended
   within the detection bands) of the first ``cepstrum_window_s`` after the onset. An
   underwater explosion's bubble pulses repeat the source pulse after a period T, which
   ripples the spectrum with period 1/T and gives a cepstral peak at quefrency T.
   ``cepstral_prominence`` = (peak - median) / (1.4826 MAD) over the searched delays;
   ``cepstral_delay_s`` = T when the prominence reaches ``cepstrum_min_prominence``, else NaN.

Output rows: the pick table of :mod:`pipeline.picks` plus ``technology`` ("hydroacoustic"),
``frequency``, ``duration`` and :data:`pipeline.picks.HYDRO_COLUMNS`; phase "H" on hydrophone
channels, "T" on T-phase channels.
"""
from __future__ import annotations

import fnmatch
import math
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
from obspy import Stream, Trace
from obspy.signal.trigger import classic_sta_lta, trigger_onset
from obspy.signal.filter import bandpass
from scipy.signal import welch

from pipeline.detection.onset import aic_onset
from pipeline.hydroacoustic.config import HydroacousticConfig, ResolvedHydroacoustic
from pipeline.picks import (ARRAY_COLUMNS, HYDRO_COLUMNS, INFRASOUND_COLUMNS, PICK_COLUMNS, normalise_picks,
                            write_detections_csv)

TECHNOLOGY = "hydroacoustic"
#: the table's columns: picks + technology + frequency, duration + HYDRO_COLUMNS
TABLE_COLUMNS = (list(PICK_COLUMNS) + ["technology"] + ["frequency", "duration"] + list(HYDRO_COLUMNS))
_SNR_MAX_S = 30.0


@dataclass
class HydroResult:
    """What :func:`detect_hydroacoustic` returns.

    :ivar table: detections (module doc), sorted by time
    :ivar channels: per processed channel: ``id``, ``phase``, ``sampling_rate``, the resolved
        parameters, ``detections``
    :ivar skipped: channels that are neither hydrophones nor T-phase channels, or too short
        (one line each, naming the channel and why)
    """

    table: pd.DataFrame
    channels: list[dict] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def channel_phase(channel: str, config: HydroacousticConfig) -> str:
    """``"H"`` for a hydrophone channel, ``"T"`` for a T-phase channel, ``""`` for neither."""
    if any(fnmatch.fnmatchcase(channel, p) for p in config.hydrophone_channels):
        return "H"
    if any(fnmatch.fnmatchcase(channel, p) for p in config.tphase_channels):
        return "T"
    return ""


def empty_table() -> pd.DataFrame:
    df = normalise_picks(pd.DataFrame({c: [] for c in PICK_COLUMNS}))
    for c in TABLE_COLUMNS[len(PICK_COLUMNS):]:
        df[c] = pd.Series(dtype=str if c in ("technology", "band_energy_db") else "float64")
    return df


def _bandpass(x: np.ndarray, band: tuple[float, float], fs: float, corners: int) -> np.ndarray:
    # zero-phase: a causal filter's group delay would bias the onset late by a band-dependent lag
    return bandpass(x, band[0], band[1], fs, corners=corners, zerophase=True)


def _power(y: np.ndarray, i0: int, i1: int) -> float:
    i0, i1 = max(0, i0), min(len(y), i1)
    return float(np.mean(y[i0:i1] ** 2)) if i1 > i0 else math.nan


def cepstrum(x: np.ndarray, fs: float, band: tuple[float, float]) -> tuple[np.ndarray, np.ndarray]:
    """Real cepstrum of ``x`` from its log power spectrum inside ``band`` (Hz), the log spectrum
    detrended (linear fit) there and zero outside. Returns ``(quefrency_s, cepstrum)``."""
    n = len(x)
    spec = np.fft.rfft((x - x.mean()) * np.hanning(n))
    f = np.fft.rfftfreq(n, 1.0 / fs)
    logp = np.log(np.abs(spec) ** 2 + 1e-30 * np.max(np.abs(spec) ** 2) + 1e-300)
    inside = (f >= band[0]) & (f <= band[1])
    lp = np.zeros_like(logp)
    if inside.sum() > 3:
        coef = np.polyfit(f[inside], logp[inside], 1)
        lp[inside] = logp[inside] - np.polyval(coef, f[inside])
    c = np.fft.irfft(lp, n)
    return np.arange(n) / fs, c


def cepstral_peak(x: np.ndarray, fs: float, band: tuple[float, float],
                  delays_s: tuple[float, float]) -> tuple[float, float]:
    """``(delay_s, prominence)`` of the largest cepstral peak between ``delays_s`` (module doc)."""
    q, c = cepstrum(x, fs, band)
    sel = (q >= delays_s[0]) & (q <= delays_s[1])
    if sel.sum() < 5:
        return math.nan, math.nan
    cs = c[sel]
    k = int(np.argmax(cs))
    med = float(np.median(cs))
    mad = 1.4826 * float(np.median(np.abs(cs - med)))
    return float(q[sel][k]), (float(cs[k]) - med) / mad if mad > 0 else math.nan


def _peak_frequency(sig: np.ndarray, noise: np.ndarray, fs: float, bands) -> float:
    nper = int(min(len(sig), len(noise), fs))
    if nper < 16:
        return math.nan
    f, ps = welch(sig, fs, nperseg=nper)
    _, pn = welch(noise, fs, nperseg=nper)
    inside = (f >= bands[0][0]) & (f <= bands[-1][1])
    if not inside.any():
        return math.nan
    excess = 10 * np.log10((ps[inside] + 1e-30) / (pn[inside] + 1e-30))
    return float(f[inside][int(np.argmax(excess))])


def detect_trace(tr: Trace, phase: str, config: HydroacousticConfig,
                 params: ResolvedHydroacoustic | None = None) -> list[dict]:
    """Detections on one contiguous trace (module doc); ``phase`` "H" or "T"."""
    fs = float(tr.stats.sampling_rate)
    p = params or config.resolve(fs)
    x = tr.data.astype(np.float64)
    x = x - x.mean()
    x = x - np.polyval(np.polyfit(np.arange(len(x)), x, 1), np.arange(len(x)))
    nsta, nlta = max(1, int(round(p.sta_s * fs))), int(round(p.lta_s * fs))
    if len(x) <= nlta + nsta:
        raise ValueError(f"{tr.id}: {len(x) / fs:.0f} s of data is shorter than lta_s + sta_s = "
                         f"{p.lta_s + p.sta_s:.0f} s")
    ys = [_bandpass(x, b, fs, config.filter_corners) for b in p.bands_hz]
    ratios = np.vstack([classic_sta_lta(y, nsta, nlta) for y in ys])
    ratios[:, :nlta] = 0.0  # LTA warm-up (obspy leaves it 0 too; made explicit)
    rmax = ratios.max(axis=0)
    t0 = tr.stats.starttime.timestamp
    rows = []
    for on, off in trigger_onset(rmax, config.trigger_on, config.trigger_off):
        kb = int(np.argmax(ratios[:, on:off + 1].max(axis=1)))
        y, r = ys[kb], ratios[kb]
        pk = on + int(np.argmax(r[on:off + 1]))
        onset, _ = aic_onset([y], on - int(config.aic_before_s * fs), on + int(config.aic_after_s * fs) + 1)
        if onset < 0:
            onset = on
        n0 = max(0, onset - nlta)
        noise_end = max(n0 + 1, onset - int(0.5 * fs))
        # the end: the band's short-term power back under trigger_off x the noise power before
        # the onset (the running LTA would count the long coda of an H phase as noise)
        sta_pow = np.convolve(y[pk:] ** 2, np.ones(nsta) / nsta, mode="valid")
        below = np.flatnonzero(sta_pow < config.trigger_off * _power(y, n0, noise_end))
        end = pk + int(below[0]) + nsta if below.size else len(r) - 1
        duration = (end - onset) / fs
        if duration < config.min_duration_s:
            continue
        s_end = min(end, onset + int(_SNR_MAX_S * fs))
        p_sig, p_noise = _power(y, onset, max(s_end, onset + 1)), _power(y, n0, noise_end)
        snr = math.sqrt(p_sig / p_noise) if p_noise > 0 else math.nan
        energies = []
        for b, yb in zip(p.bands_hz, ys):
            ps, pn = _power(yb, onset, end), _power(yb, n0, noise_end)
            db = 10 * math.log10(ps / pn) if ps > 0 and pn > 0 else math.nan
            energies.append(f"{b[0]:g}-{b[1]:g}:{db:.1f}")
        broad = _bandpass(x, p.broadband_hz, fs, config.filter_corners)
        freq = _peak_frequency(broad[onset:max(end, onset + 2)], broad[n0:noise_end], fs, p.bands_hz)
        cep_delay = cep_prom = math.nan
        if phase == "H":
            nwin = int(config.cepstrum_window_s * fs)
            seg = broad[onset:onset + nwin]
            if len(seg) == nwin:
                cep_delay, cep_prom = cepstral_peak(seg, fs, p.broadband_hz, config.cepstrum_delay_s)
                if not (cep_prom >= config.cepstrum_min_prominence):
                    cep_delay = math.nan
        trig_t = on / fs
        rows.append({
            "network": tr.stats.network, "station": tr.stats.station, "location": tr.stats.location,
            "channel": tr.stats.channel, "phase": phase, "time": t0 + onset / fs,
            "time_uncertainty": max(abs(trig_t - onset / fs) / 2.0, p.sta_s / 4.0),
            "snr": snr, "pick_id": uuid.uuid4().hex[:16], "technology": TECHNOLOGY,
            "frequency": freq, "duration": duration,
            "band_low_hz": p.bands_hz[kb][0], "band_high_hz": p.bands_hz[kb][1],
            "band_energy_db": ";".join(energies), "stalta": float(r[pk]),
            "cepstral_delay_s": cep_delay, "cepstral_prominence": cep_prom,
        })
    return rows


def detect_hydroacoustic(stream: Stream, config: HydroacousticConfig | None = None,
                         progress: Callable[[int], object] | None = None) -> HydroResult:
    """H and T detections on every hydrophone / T-phase channel of ``stream``.

    Traces of one channel are merged without filling gaps; each contiguous piece is processed
    on its own. Channels matching neither pattern list, and pieces too short for the LTA, are
    reported in :attr:`HydroResult.skipped` and the rest goes on.

    :param progress: called with 1 after each processed piece (a progress bar's ``update``)
    """
    config = config or HydroacousticConfig()
    st = stream.copy()
    st.merge(method=0)  # gaps become masked; split() below gives the contiguous pieces
    rows, channels, skipped = [], [], []
    for tr in st.split():
        phase = channel_phase(tr.stats.channel, config)
        if not phase:
            skipped.append(f"{tr.id}: channel {tr.stats.channel!r} is neither a hydrophone "
                           f"({', '.join(config.hydrophone_channels)}) nor a T-phase channel "
                           f"({', '.join(config.tphase_channels)})")
            if progress:
                progress(1)
            continue
        try:
            params = config.resolve(tr.stats.sampling_rate)
            found = detect_trace(tr, phase, config, params)
        except ValueError as exc:
            skipped.append(f"{tr.id}: {exc}" if tr.id not in str(exc) else str(exc))
            found, params = None, None
        if found is not None:
            rows.extend(found)
            channels.append({"id": tr.id, "phase": phase, "sampling_rate": float(tr.stats.sampling_rate),
                             **params.as_dict(), "detections": len(found)})
        if progress:
            progress(1)
    table = empty_table() if not rows else pd.DataFrame(rows)
    for c in TABLE_COLUMNS:
        if c not in table.columns:
            table[c] = "" if PICK_COLUMNS.get(c) == "str" else np.nan
    table = table[TABLE_COLUMNS].sort_values("time", kind="stable").reset_index(drop=True)
    return HydroResult(table=table, channels=channels, skipped=skipped)


def write_hydroacoustic_csv(df: pd.DataFrame, path: str | Path) -> Path:
    """Write a detection table as CSV: picks.csv columns (ISO-8601 times) plus ``technology``,
    ``frequency``, ``duration`` and ``HYDRO_COLUMNS`` (``idc associate`` reads it)."""
    extra = {k: v for k, v in {**ARRAY_COLUMNS, **INFRASOUND_COLUMNS, **HYDRO_COLUMNS}.items()
             if k in TABLE_COLUMNS}
    return write_detections_csv(df, path, extra)
