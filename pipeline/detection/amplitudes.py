"""Amplitude and period measurements of a detection (IDC mb "A5/2" and Wood-Anderson for ML).

Both work on a short window of *raw* samples (counts) around the onset that carries its
channel response in ``trace.stats.response``; the response is removed with obspy's
:meth:`~obspy.core.trace.Trace.remove_response`. No response = no amplitude: callers pass NaN
on, a gain is never invented. Windows are local to the onset, so a measurement does not depend
on how the data were chunked.

Units: returned amplitudes are nanometres (ground displacement for mb; Wood-Anderson
displacement with static magnification 1 for ML), periods seconds.
"""
from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
from obspy import Trace, UTCDateTime
from obspy.core.inventory import Response
from obspy.signal.detrend import simple as _simple_detrend
from obspy.signal.invsim import WOODANDERSON, cosine_taper, paz_to_freq_resp
from obspy.signal.util import _npts2nfft

from pipeline.detection.config import AmplitudeConfig
from pipeline.detection.stalta import bandpass

#: obspy's Wood-Anderson poles and zeros (velocity input) with static magnification 1
#: instead of 2080, so the simulated record is in metres of ground-equivalent displacement
WOODANDERSON_MAG1 = {**WOODANDERSON, "sensitivity": 1.0}

NM_PER_M = 1e9

# Trace.remove_response without obspy's processing-history decorator, which inspects the call
# signature (inspect.getfullargspec) on every call: a large part of the cost of a short-window
# measurement. Same computation; only ``stats.processing`` (discarded here) is not appended to.
_remove_response = getattr(Trace.remove_response, "__wrapped__", Trace.remove_response)


@lru_cache(maxsize=64)
def _wa_spectrum(delta: float, nfft: int) -> np.ndarray:
    """Frequency response of :data:`WOODANDERSON_MAG1` for an ``nfft``-point real FFT
    (obspy's ``paz_to_freq_resp``, which ``simulate_seismometer`` evaluates on every call;
    its zpk -> polynomial conversion costs more than the FFTs of a short window)."""
    resp = paz_to_freq_resp(WOODANDERSON_MAG1["poles"], WOODANDERSON_MAG1["zeros"],
                            WOODANDERSON_MAG1["gain"], delta, nfft)
    resp.setflags(write=False)
    return resp


def wood_anderson(data: np.ndarray, fs: float) -> np.ndarray:
    """Wood-Anderson displacement (static magnification 1) from ground velocity ``data``:
    exactly what ``Trace.simulate(paz_remove=None, paz_simulate=WOODANDERSON_MAG1)`` computes
    with obspy's defaults (``simulate_seismometer``: demean, 5 % cosine taper, FFT of
    ``_npts2nfft(n)`` points, multiplication by the response, inverse FFT, simple detrend,
    sensitivity) but with the response cached per (sampling interval, FFT length). Tested
    against obspy to be bit-identical.

    :param data: ground velocity, m/s; :param fs: sampling rate, Hz
    :returns: float64 array, same length, m
    """
    ndat = len(data)
    x = np.asarray(data).astype(np.float64)
    x -= x.mean()
    x *= cosine_taper(ndat, 0.05)
    nfft = _npts2nfft(ndat)
    spec = np.fft.rfft(x, n=nfft)
    spec *= _wa_spectrum(1.0 / fs, nfft)
    spec[-1] = abs(spec[-1]) + 0.0j
    out = _simple_detrend(np.fft.irfft(spec)[0:ndat])
    out *= WOODANDERSON_MAG1["sensitivity"]
    return out


def _pre_filt(cfg: AmplitudeConfig, fs: float) -> tuple[float, float, float, float]:
    nyq = fs / 2.0
    return (cfg.pre_filt_low_hz[0], cfg.pre_filt_low_hz[1],
            cfg.pre_filt_high_nyquist[0] * nyq, cfg.pre_filt_high_nyquist[1] * nyq)


class CachedResponse(Response):
    """An obspy :class:`~obspy.core.inventory.response.Response` that memoises
    :meth:`get_evalresp_response`: every measurement window of a channel has the same length,
    so ``Trace.remove_response`` would otherwise evaluate the same response hundreds of times.
    Returns copies (obspy inverts the spectrum in place)."""

    @classmethod
    def wrap(cls, response: Response) -> "CachedResponse":
        obj = cls.__new__(cls)
        obj.__dict__.update(response.__dict__)
        obj._evalresp_cache = {}
        return obj

    def get_evalresp_response(self, t_samp, nfft, output="VEL", start_stage=None, end_stage=None,
                              **kwargs):
        key = (float(t_samp), int(nfft), output, start_stage, end_stage, tuple(sorted(kwargs.items())))
        hit = self._evalresp_cache.get(key)
        if hit is None:
            hit = super().get_evalresp_response(t_samp, nfft, output=output, start_stage=start_stage,
                                                end_stage=end_stage, **kwargs)
            self._evalresp_cache[key] = hit
        return hit[0].copy(), hit[1].copy()

    def __deepcopy__(self, memo):  # Trace.copy() must not duplicate the cache
        return self


def _corrected(tr: Trace, output: str, cfg: AmplitudeConfig) -> Trace:
    """Remove the response of ``tr`` (in place; ``tr.stats.response`` must be set)."""
    out = tr
    out.data = out.data.astype(np.float64)
    _remove_response(out, output=output, pre_filt=_pre_filt(cfg, out.stats.sampling_rate),
                     water_level=cfg.water_level_db, zero_mean=True, taper=True,
                     taper_fraction=0.05)
    return out


def _extrema(x: np.ndarray) -> np.ndarray:
    """Indices of the local extrema (sign changes of the first difference) of ``x``."""
    d = np.sign(np.diff(x))
    # carry plateaus forward so a flat top counts once
    nz = np.flatnonzero(d)
    if nz.size < 2:
        return np.empty(0, dtype=int)
    dd = d[nz]
    turn = np.flatnonzero(dd[1:] != dd[:-1])
    return nz[turn + 1]


def half_peak_to_trough(x: np.ndarray, fs: float) -> tuple[float, float]:
    """Half of the largest difference between two consecutive extrema of ``x`` and its period.

    :returns: ``(amplitude, period_s)`` with amplitude in the unit of ``x`` and
        ``period = 2 x (time between that peak and trough)``; NaNs when ``x`` has < 2 extrema
    """
    idx = _extrema(x)
    if idx.size < 2:
        return math.nan, math.nan
    jumps = np.abs(np.diff(x[idx]))
    k = int(np.argmax(jumps))
    return float(jumps[k] / 2.0), float(2.0 * (idx[k + 1] - idx[k]) / fs)


def _window(tr: Trace, t0: UTCDateTime, t1: UTCDateTime, with_start: bool = False):
    """Samples of ``tr`` in ``[t0, t1]`` (and, with ``with_start``, the index of the first)."""
    s = tr.stats
    i0 = max(0, int(round((t0 - s.starttime) * s.sampling_rate)))
    i1 = min(s.npts, int(round((t1 - s.starttime) * s.sampling_rate)) + 1)
    return (tr.data[i0:i1], i0) if with_start else tr.data[i0:i1]


def mb_amplitude(raw_z: Trace, onset: UTCDateTime, cfg: AmplitudeConfig) -> tuple[float, float]:
    """IDC "A5/2" amplitude of a vertical: half the largest peak-to-trough of ground
    displacement, band-passed :attr:`~AmplitudeConfig.mb_band_hz`, inside
    :attr:`~AmplitudeConfig.mb_window_s` after ``onset``.

    :param raw_z: raw vertical samples (counts) with ``stats.response``, covering the window
        plus :attr:`~AmplitudeConfig.margin_s` on both sides (modified in place)
    :returns: ``(amplitude_nm, period_s)``
    """
    disp = _corrected(raw_z, "DISP", cfg)
    fs = disp.stats.sampling_rate
    lo, hi = cfg.mb_band_hz
    if hi >= 0.95 * fs / 2.0:
        return math.nan, math.nan
    disp.data = bandpass(disp.data, lo, hi, fs, cfg.mb_corners)
    x = _window(disp, onset + cfg.mb_window_s[0], onset + cfg.mb_window_s[1])
    amp, period = half_peak_to_trough(x, fs)
    return amp * NM_PER_M, period


def wa_amplitude(raw_horizontals: list[Trace], t0: UTCDateTime, t1: UTCDateTime,
                 cfg: AmplitudeConfig) -> tuple[float, float, float]:
    """Wood-Anderson amplitude: largest zero-to-peak value in ``[t0, t1]`` over the given
    horizontals after response removal (``output="VEL"``) and simulation of obspy's
    ``WOODANDERSON`` with static magnification 1.

    :param raw_horizontals: raw horizontal traces (counts) with ``stats.response`` (modified
        in place)
    :returns: ``(amplitude_nm, period_s, time_epoch_s)``; the period is twice the time between
        the maximum and the neighbouring extremum of opposite sign that gives the larger swing;
        the time is that of the maximum (the magnitude stage uses it to recognise a maximum that
        belongs to a later event's arrivals). A component whose largest value is the first or
        last sample of the window gives no reading (not a peak: the waves began before the
        window or were still growing at its end). NaNs when no component gives a reading.
    """
    best = (math.nan, math.nan, math.nan)
    for raw in raw_horizontals:
        vel = _corrected(raw, "VEL", cfg)
        vel.data = wood_anderson(vel.data, vel.stats.sampling_rate)
        x, i0 = _window(vel, t0, t1, with_start=True)
        if x.size < 3:
            continue
        m = int(np.argmax(np.abs(x)))
        if m == 0 or m == x.size - 1:
            continue
        amp = float(abs(x[m])) * NM_PER_M
        if not (amp > best[0]) and not math.isnan(best[0]):
            continue
        idx = _extrema(x)
        period = math.nan
        if idx.size:
            pos = int(np.searchsorted(idx, m))
            cands = [j for j in (pos - 1, pos + 1, pos) if 0 <= j < idx.size and idx[j] != m]
            if cands:
                j = max(cands, key=lambda j: abs(x[m] - x[idx[j]]))
                period = 2.0 * abs(idx[j] - m) / vel.stats.sampling_rate
        t_max = float(vel.stats.starttime.timestamp) + (i0 + m) / vel.stats.sampling_rate
        best = (amp, period, t_max)
    return best
