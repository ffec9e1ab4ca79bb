"""Filter bank, recursive STA/LTA triggering and the merge of triggers across bands.

Filters are causal Butterworth band-passes (second-order sections, ``scipy.signal.sosfilt``)
started in their steady state for the first sample (``sosfilt_zi``), so a segment needs no
demeaning and has no start-up step transient. The characteristic function is obspy's recursive
STA/LTA in C (:func:`obspy.signal.trigger.recursive_sta_lta`), triggered with
:func:`obspy.signal.trigger.trigger_onset`.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from obspy.signal.trigger import recursive_sta_lta, trigger_onset
from scipy.signal import butter, sosfilt, sosfilt_zi


@lru_cache(maxsize=256)
def _design(corners: int, fmin: float, fmax: float, fs: float) -> tuple[np.ndarray, np.ndarray]:
    sos = butter(corners, [fmin, fmax], btype="bandpass", fs=fs, output="sos")
    return sos, sosfilt_zi(sos)


def bandpass(x: np.ndarray, fmin: float, fmax: float, fs: float, corners: int) -> np.ndarray:
    """Causal Butterworth band-pass of ``x`` along its last axis (started in steady state for
    the first sample, so there is no start-up step).

    :param x: samples (any unit), 1-D or N-D (filtered along the last axis)
    :param fmin: / :param fmax: corners, Hz; :param fs: sampling rate, Hz
    :param corners: filter order
    :returns: float64 array, same shape and unit as ``x``
    """
    sos, zi = _design(int(corners), float(fmin), float(fmax), float(fs))
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 1:
        y, _ = sosfilt(sos, x, zi=zi * x[0])
    else:
        shape = (zi.shape[0],) + (1,) * (x.ndim - 1) + (2,)
        y, _ = sosfilt(sos, x, axis=-1, zi=zi.reshape(shape) * x[None, ..., 0, None])
    return y


@dataclass(frozen=True)
class Trigger:
    """One STA/LTA trigger: sample indices of trigger on/off and the peak STA/LTA ratio.

    ``band`` is the index into the filter bank (``-1`` for the horizontal S detector)."""

    on: int
    off: int
    peak: float
    band: int


def stalta_triggers(y: np.ndarray, fs: float, sta_s: float, lta_s: float, on: float, off: float,
                    band: int = 0) -> list[Trigger]:
    """Recursive STA/LTA on ``y`` (squared internally) and its triggers.

    :param y: band-passed samples (or an envelope such as sqrt(N^2 + E^2))
    :param fs: sampling rate, Hz; :param sta_s: / :param lta_s: window lengths, s
    :param on: / :param off: trigger thresholds (STA/LTA ratio)
    """
    nsta, nlta = max(1, int(round(sta_s * fs))), max(2, int(round(lta_s * fs)))
    if y.size <= nlta:
        return []
    cf = recursive_sta_lta(y, nsta, nlta)
    out = []
    for i_on, i_off in trigger_onset(cf, on, off):
        i_off = min(int(i_off), cf.size - 1)
        out.append(Trigger(int(i_on), i_off, float(cf[i_on:i_off + 1].max()), band))
    return out


def merge_triggers(triggers: list[Trigger], min_separation: int) -> list[Trigger]:
    """Merge triggers of several bands: triggers whose on-times are closer than
    ``min_separation`` samples are one detection, and the one with the highest STA/LTA peak
    wins (ties: earlier, then lower band index). Returns the kept triggers sorted by time."""
    order = sorted(triggers, key=lambda t: (-t.peak, t.on, t.band))
    kept: list[Trigger] = []
    ons = []
    for t in order:
        if ons:
            a = np.asarray(ons)
            if np.any(np.abs(a - t.on) < min_separation):
                continue
        kept.append(t)
        ons.append(t.on)
    return sorted(kept, key=lambda t: t.on)
