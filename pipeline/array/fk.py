"""F-k analysis on a slowness grid (obspy ``array_processing``) as xarray, and the measurements
of one arrival: backazimuth, slowness, their uncertainties, semblance and Fisher F.

* :func:`fk_grid`: obspy's broadband Bartlett f-k (``array_processing``, relative power =
  beam power / (N x mean element power) in the band, 0-1) on sliding windows; obspy returns only
  each window's peak, so its ``store`` hook collects the whole map: a DataArray
  ``(time, sx, sy)`` (s/km; ``time`` = window start, epoch s).
* :func:`plane_wave_fit` (written here: obspy lacks it): element delays relative to the beam by
  cross-correlation (parabolic sub-sample peak), least-squares plane-wave fit
  ``delay_i = dsx x_i + dsy y_i + c``; the covariance of ``(dsx, dsy)`` from the fit residuals
  gives the slowness-vector uncertainty, projected on the radial (slowness) and tangential
  (backazimuth) directions.
* :func:`fisher_f`: semblance ``S = N sum(beam^2) / sum(x_i^2)`` and Fisher's
  ``F = (N - 1) S / (1 - S)`` (Blandford 1974; F-distributed with ``(2BT, 2BT(N-1))`` degrees of
  freedom for noise alone, ~1 for noise, large for a coherent plane wave).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import xarray as xr
from obspy import Stream, Trace, UTCDateTime
from obspy.core.util import AttribDict
from obspy.signal.array_analysis import array_processing

from pipeline.array.beam import beam_window
from pipeline.array.geometry import KM_PER_DEG, ArrayGeometry, polar


def _stream_xy(data: np.ndarray, geometry: ArrayGeometry, fs: float, t0: float) -> Stream:
    st = Stream()
    for i, sid in enumerate(geometry.seed_ids):
        tr = Trace(np.ascontiguousarray(data[i], dtype=np.float64))
        tr.stats.sampling_rate = fs
        tr.stats.starttime = UTCDateTime(t0)
        net, sta, loc, cha = sid.split(".")
        tr.stats.network, tr.stats.station, tr.stats.location, tr.stats.channel = net, sta, loc, cha
        tr.stats.coordinates = AttribDict(x=float(geometry.x_km[i]), y=float(geometry.y_km[i]),
                                          elevation=float(geometry.z_km[i]))
        st.append(tr)
    return st


def fk_grid(data: np.ndarray, geometry: ArrayGeometry, fs: float, t0: float, start: float, end: float,
            band_hz: tuple[float, float], max_slowness_s_deg: float, step_s_deg: float,
            win_len_s: float | None = None, win_frac: float = 0.5, method: int = 0) -> xr.DataArray:
    """F-k relative power on a square slowness grid for windows in ``[start, end)`` (epoch s).

    :param data: ``(n_elements, n_samples)`` element samples (any unit), first sample at ``t0``
    :param band_hz: frequency band, Hz; :param max_slowness_s_deg: / :param step_s_deg: grid
        half-width and step, s/deg
    :param win_len_s: window length (default: one window ``end - start``), s; :param win_frac:
        step as a fraction of the window
    :param method: 0 Bartlett, 1 Capon (obspy)
    :returns: DataArray ``(time, sx, sy)`` of relative power (0-1), ``sx``/``sy`` in s/km,
        ``time`` the window starts (epoch s); attrs: band, array code
    """
    win = float(end - start) if win_len_s is None else float(win_len_s)
    smax, step = max_slowness_s_deg / KM_PER_DEG, step_s_deg / KM_PER_DEG
    st = _stream_xy(data, geometry, fs, t0)
    maps, offsets = [], []

    def store(relpow, abspow, offset):
        maps.append(relpow.copy())
        offsets.append(offset)

    array_processing(st, win_len=win, win_frac=win_frac, sll_x=-smax, slm_x=smax, sll_y=-smax, slm_y=smax,
                     sl_s=step, semb_thres=-1e9, vel_thres=-1e9, frqlow=band_hz[0], frqhigh=band_hz[1],
                     stime=UTCDateTime(start), etime=UTCDateTime(end), prewhiten=0, coordsys="xy",
                     timestamp="julsec", method=method, store=store)
    n = maps[0].shape[0] if maps else int(((2 * smax) / step + 0.5) + 1)
    axis = -smax + np.arange(n) * step
    arr = np.array(maps) if maps else np.zeros((0, n, n))
    return xr.DataArray(arr, dims=("time", "sx", "sy"),
                        coords={"time": float(start) + np.array(offsets, dtype=float) / fs, "sx": axis, "sy": axis},
                        name="relpow", attrs={"array": geometry.code, "band_hz": list(band_hz),
                                              "units": "relative power (0-1)", "slowness_units": "s/km"})


def grid_peak(grid: xr.DataArray) -> tuple[float, float, float]:
    """``(sx, sy, relpow)`` of the largest value of one f-k map ``(sx, sy)``."""
    ix, iy = np.unravel_index(int(np.argmax(grid.values)), grid.shape)
    return float(grid.sx[ix]), float(grid.sy[iy]), float(grid.values[ix, iy])


def fisher_f(aligned: np.ndarray) -> tuple[float, float]:
    """``(semblance, F)`` of aligned element windows ``(n, n_samples)`` (see module doc)."""
    n = aligned.shape[0]
    beam = aligned.mean(axis=0)
    total = float(np.sum(aligned * aligned))
    if total <= 0:
        return math.nan, math.nan
    s = min(n * float(np.sum(beam * beam)) / total, 1.0 - 1e-12)
    return s, (n - 1) * s / (1.0 - s)


@dataclass(frozen=True)
class PlaneWave:
    """One arrival's array measurements. Slowness vector in s/km; backazimuth deg, slowness s/deg;
    uncertainties 1 sigma."""

    sx: float
    sy: float
    backazimuth: float
    slowness: float
    backazimuth_uncertainty: float
    slowness_uncertainty: float
    semblance: float
    fstat: float
    relpow: float
    residual_s: float  # RMS residual of the element delays, s


def plane_wave_fit(x: np.ndarray, geometry: ArrayGeometry, fs: float, sx: float, sy: float,
                   max_lag_s: float, relpow: float = math.nan) -> PlaneWave:
    """Refine slowness ``(sx, sy)`` (s/km) on band-passed element windows ``x`` and measure it.

    Each element is aligned with the beam for ``(sx, sy)`` and cross-correlated with it within
    ``max_lag_s``; the residual delays are fitted with a plane wave. The correction is applied
    when it moves the delays by less than ``max_lag_s`` across the array, else the grid value
    is kept. The delay error ``sigma`` is the RMS fit residual (at least a tenth of a sample);
    ``cov = sigma^2 (G^T G)^-1``.
    """
    n, m = x.shape
    taper = np.hanning(m)
    xt = (x - x.mean(axis=1, keepdims=True)) * taper
    aligned, beam = beam_window(xt, geometry, fs, sx, sy)
    max_lag = max(1, int(math.ceil(max_lag_s * fs)))
    nfft = 2 * m
    bspec = np.fft.rfft(beam, nfft)
    cc = np.fft.irfft(np.fft.rfft(aligned, nfft, axis=1) * np.conj(bspec), nfft, axis=1)
    lags = np.r_[np.arange(0, max_lag + 1), np.arange(-max_lag, 0)]
    cc = np.concatenate([cc[:, :max_lag + 1], cc[:, -max_lag:]], axis=1)
    k = np.argmax(cc, axis=1)
    delay = lags[k].astype(float)
    # parabolic sub-sample peak (neighbours inside the searched lags only)
    for i in range(n):
        j = k[i]
        jm, jp = (j - 1) % cc.shape[1], (j + 1) % cc.shape[1]
        if abs(lags[jm] - lags[j]) == 1 and abs(lags[jp] - lags[j]) == 1:
            a, b, c = cc[i, jm], cc[i, j], cc[i, jp]
            den = a - 2 * b + c
            if den < 0:
                delay[i] += 0.5 * (a - c) / den
    # aligned_i(t) = x_i(t + tau_i); a residual lag d_i means the element arrives d_i later
    delay /= fs
    g = np.c_[geometry.x_km, geometry.y_km, np.ones(n)]
    coef, *_ = np.linalg.lstsq(g, delay, rcond=None)
    resid = delay - g @ coef
    dof = max(n - 3, 1)
    sigma = max(float(np.sqrt(np.sum(resid ** 2) / dof)), 0.1 / fs)
    cov = sigma ** 2 * np.linalg.inv(g.T @ g)[:2, :2]
    move = np.ptp(geometry.delays_s(coef[0], coef[1]))
    if move <= max_lag_s:
        sx, sy = sx + coef[0], sy + coef[1]
        aligned, beam = beam_window(xt, geometry, fs, sx, sy)
    semb, f = fisher_f(aligned)
    baz, slow = polar(sx, sy)
    s = math.hypot(sx, sy)
    if s > 1e-9:
        u = np.array([sx, sy]) / s
        t = np.array([-u[1], u[0]])
        sig_s = math.sqrt(float(u @ cov @ u)) * KM_PER_DEG
        sig_b = min(180.0, math.degrees(math.sqrt(float(t @ cov @ t)) / s))
    else:
        sig_s, sig_b = math.sqrt(float(np.trace(cov)) / 2) * KM_PER_DEG, 180.0
    return PlaneWave(sx, sy, float(baz), float(slow), sig_b, sig_s, semb, f, relpow,
                     float(np.sqrt(np.mean(resid ** 2))))
