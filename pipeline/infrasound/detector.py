"""Infrasound array detection: the Fisher F-detector on f-k beams, one table row per detection.

:func:`detect_infrasound` processes an infrasound array as one station (the array code):

1. element channels and geometry (:func:`pipeline.array.element_data`,
   :func:`pipeline.array.geometry_from_inventory`); the band, window and f-k grid step are
   chosen from the sampling rate and the aperture (:meth:`InfrasoundConfig.resolve`);
2. sliding windows: obspy's Bartlett f-k (:func:`pipeline.array.fk_grid`) gives the best grid
   slowness of each window, refined by a plane-wave fit of the element delays
   (:func:`pipeline.array.plane_wave_fit`), which also gives Fisher's F and the semblance of the
   aligned window (:func:`pipeline.array.fisher_f`);
3. the F-detector: F against the adaptive threshold ``c x F_(1-p)(2BT, 2BT(N-1))`` (see
   :class:`~pipeline.infrasound.config.InfrasoundConfig`); runs of windows above it with a
   stable backazimuth are detections.

Per detection (the picks table of :mod:`pipeline.picks` plus ``ARRAY_COLUMNS`` and
``INFRASOUND_COLUMNS``): ``time`` the start of the first window above the threshold (epoch s,
uncertainty half a step), ``backazimuth`` (deg) and ``slowness`` (s/deg): the F-weighted mean
slowness vector of the run's windows with at least half its largest F (1-sigma uncertainties of
the strongest window), ``trace_velocity`` (m/s), ``fstat`` (largest F), ``semblance``,
``relpow`` (obspy's f-k relative power), ``frequency`` (Hz, the peak of the beam's Welch PSD in
the band over the detection), ``duration`` (s, first window start to last window end), ``snr``
(beam RMS over the detection / over as long a span before it), ``phase`` ``I``,
``technology`` ``infrasound``.
"""
from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
import xarray as xr
from obspy import Inventory, Stream, UTCDateTime
from scipy import signal as sps
from scipy import stats

from pipeline.array import KM_PER_DEG, ArrayGeometry, element_data, fk_grid, geometry_from_inventory, grid_peak
from pipeline.array.beam import beam_window
from pipeline.array.detector import array_table
from pipeline.array.fk import plane_wave_fit
from pipeline.detection.stalta import bandpass
from pipeline.infrasound.config import InfrasoundConfig, ResolvedInfrasound
from pipeline.picks import ARRAY_COLUMNS, INFRASOUND_COLUMNS, PICK_COLUMNS, TIME_COLUMNS

#: windows per obspy f-k call (bounds the memory of the maps; one progress step each)
_CHUNK = 60


@dataclass
class InfrasoundResult:
    """What :func:`detect_infrasound` returns.

    :ivar table: the detection table (see module doc)
    :ivar scan: per window (dim ``time`` = window start, epoch s): ``fstat``, ``threshold``,
        ``backazimuth`` (deg), ``trace_velocity`` (m/s), ``semblance``, ``relpow``
    :ivar params: the parameters used (:class:`ResolvedInfrasound`)
    :ivar geometry: the array geometry
    """

    table: pd.DataFrame
    scan: xr.Dataset
    params: ResolvedInfrasound
    geometry: ArrayGeometry


def array_code(seed_ids) -> str:
    """Default array code: the longest common prefix of the element station codes (``BRP`` for
    BRP1-4), stripped of trailing digits' partial matches; at least 2 characters, else ""."""
    codes = [s.split(".")[1] for s in seed_ids]
    prefix = codes[0]
    for c in codes[1:]:
        while not c.startswith(prefix):
            prefix = prefix[:-1]
    return prefix if len(prefix) >= 2 else ""


def f_threshold(params: ResolvedInfrasound, n_elements: int, p_value: float) -> tuple[float, float, float]:
    """``(quantile, median, d1)`` of Fisher's F for incoherent noise: F(2BT, 2BT(N-1))."""
    d1 = 2.0 * (params.band_hz[1] - params.band_hz[0]) * params.window_s
    d2 = d1 * (n_elements - 1)
    return float(stats.f.ppf(1.0 - p_value, d1, d2)), float(stats.f.median(d1, d2)), d1


def scan_windows(data: np.ndarray, filtered: np.ndarray, geom: ArrayGeometry, fs: float, t0: float,
                 params: ResolvedInfrasound, config: InfrasoundConfig,
                 progress: Callable[[int], None] | None = None) -> xr.Dataset:
    """F, backazimuth, trace velocity of every window (see module doc, step 2)."""
    nwin = int(round(params.window_s * fs))
    nstep = max(1, int(round(params.step_s * fs)))
    npts = data.shape[1]
    n = (npts - nwin) // nstep + 1 if npts >= nwin else 0
    rows = []
    kd = KM_PER_DEG
    for a in range(0, n, _CHUNK):
        b = min(n, a + _CHUNK)
        start = t0 + a * nstep / fs
        end = min(t0 + ((b - 1) * nstep + nwin) / fs + 0.5 / fs, t0 + (npts - 1) / fs)
        grid = fk_grid(data, geom, fs, t0, start, end, params.band_hz, params.max_slowness_s_km * kd,
                       params.fk_step_s_km * kd, win_len_s=nwin / fs, win_frac=nstep / nwin)
        for k in range(grid.sizes["time"]):
            i0 = int(round((float(grid.time[k]) - t0) * fs))
            if i0 < 0 or i0 + nwin > npts or (rows and i0 <= rows[-1][0]):
                continue
            sx, sy, rel = grid_peak(grid.isel(time=k))
            pw = plane_wave_fit(filtered[:, i0:i0 + nwin], geom, fs, sx, sy, config.refine_max_lag_s, rel)
            s_km = pw.slowness / kd
            rows.append((i0, pw.fstat, pw.semblance, rel, pw.backazimuth, 1000.0 / s_km if s_km > 0 else np.inf,
                         pw.backazimuth_uncertainty, pw.slowness, pw.slowness_uncertainty))
        if progress is not None:
            progress(b - a)
    arr = np.array(rows, dtype=float).reshape(-1, 9)
    ds = xr.Dataset({name: ("time", arr[:, j]) for j, name in enumerate(
        ("fstat", "semblance", "relpow", "backazimuth", "trace_velocity", "backazimuth_uncertainty",
         "slowness", "slowness_uncertainty"), start=1)},
        coords={"time": t0 + arr[:, 0] / fs})
    ds["sample"] = ("time", arr[:, 0].astype(int))
    ds["trace_velocity"].attrs["units"] = "m/s"
    ds["backazimuth"].attrs["units"] = "deg"
    return ds


def adaptive_threshold(fstat: np.ndarray, params: ResolvedInfrasound, n_elements: int,
                       config: InfrasoundConfig) -> np.ndarray:
    """Threshold per window: the theoretical quantile scaled by ``c = max(1, median(F) /
    median of F(d1, d2))`` over the background (the record or ``adaptive_window_s``)."""
    q, med, _ = f_threshold(params, n_elements, config.p_value)
    f = pd.Series(fstat)
    if config.adaptive_window_s > 0 and len(f) * params.step_s > config.adaptive_window_s:
        k = max(3, int(round(config.adaptive_window_s / params.step_s)))
        bg = f.rolling(k, center=True, min_periods=1).median().to_numpy()
    else:
        bg = np.full(len(f), float(np.nanmedian(fstat)) if len(f) else med)
    return q * np.maximum(1.0, bg / med)


def _runs(above: np.ndarray, baz: np.ndarray, fstat: np.ndarray, width: float) -> list[list[int]]:
    """Consecutive windows above the threshold, split where the backazimuth leaves ``width`` of
    the run's strongest window so far."""
    runs: list[list[int]] = []
    cur: list[int] = []
    for i in np.flatnonzero(above):
        if cur and i == cur[-1] + 1:
            best = cur[int(np.argmax(fstat[cur]))]
            if abs((baz[i] - baz[best] + 180.0) % 360.0 - 180.0) <= width:
                cur.append(int(i))
                continue
        if cur:
            runs.append(cur)
        cur = [int(i)]
    if cur:
        runs.append(cur)
    return runs


def _merge(runs: list[list[int]], scan: xr.Dataset, f: np.ndarray, params: ResolvedInfrasound,
           config: InfrasoundConfig) -> list[list[int]]:
    """Runs whose gap (end of one's last window to the next's start) is at most ``merge_gap_s``
    and whose strongest windows agree within ``back_az_width_deg`` are one detection."""
    if config.merge_gap_s <= 0 or len(runs) < 2:
        return runs
    t, baz = scan.time.values, scan["backazimuth"].values
    out = [runs[0]]
    for r in runs[1:]:
        prev = out[-1]
        gap = t[r[0]] - (t[prev[-1]] + params.window_s)
        b0, b1 = baz[prev[int(np.argmax(f[prev]))]], baz[r[int(np.argmax(f[r]))]]
        if gap <= config.merge_gap_s and abs((b1 - b0 + 180.0) % 360.0 - 180.0) <= config.back_az_width_deg:
            out[-1] = prev + r
        else:
            out.append(r)
    return out


def _combine(scan: xr.Dataset, run: list[int], k: int) -> xr.Dataset:
    """The measurements of a detection: the strongest window's, with the slowness vector averaged
    (weights F) over the run's windows whose F is at least half the largest (each window's
    estimate carries independent noise; project choice)."""
    best = scan.isel(time=k).copy()
    f = scan["fstat"].values[run]
    use = [i for i, fi in zip(run, f) if fi >= 0.5 * f.max()]
    if len(use) < 2:
        return best
    w = scan["fstat"].values[use]
    b = np.radians(scan["backazimuth"].values[use])
    s = scan["slowness"].values[use]
    sx, sy = np.average(-s * np.sin(b), weights=w), np.average(-s * np.cos(b), weights=w)
    slow = float(np.hypot(sx, sy))
    best["backazimuth"] = (math.degrees(math.atan2(sx, sy)) + 180.0) % 360.0
    best["slowness"] = slow
    best["trace_velocity"] = 1000.0 * KM_PER_DEG / slow if slow > 0 else np.inf
    return best


def detect_infrasound(stream: Stream, inventory: Inventory, config: InfrasoundConfig | None = None,
                      code: str | None = None, reference: str | None = None,
                      progress: Callable[[int], None] | None = None,
                      on_plan: Callable[[int], None] | None = None) -> InfrasoundResult:
    """Detections of one infrasound array (see module doc).

    :param stream: element waveforms (one channel per element; Pa or counts)
    :param inventory: element coordinates (StationXML, or built from a station table)
    :param code: array code of the table (default: common prefix of the element stations)
    :param progress: called with the number of windows done (a progress bar's ``update``)
    :param on_plan: called once with the number of windows to scan (the bar's total)
    :raises pipeline.array.ArrayGeometryError: fewer than 3 elements, no coordinates, ...
    """
    config = config or InfrasoundConfig()
    ed = element_data(stream, None)
    geom = geometry_from_inventory(inventory, ed.seed_ids, ed.t0, code=code or array_code(ed.seed_ids) or None,
                                   reference=reference)
    fs, t0 = ed.fs, ed.t0.timestamp
    params = config.resolve(fs, geom.aperture_km)
    npts = ed.data.shape[1]
    nwin, nstep = int(round(params.window_s * fs)), max(1, int(round(params.step_s * fs)))
    if on_plan is not None:
        on_plan(max(0, (npts - nwin) // nstep + 1))
    y = bandpass(ed.data, params.band_hz[0], params.band_hz[1], fs, config.filter_corners)
    scan = scan_windows(ed.data, y, geom, fs, t0, params, config, progress)
    f = scan["fstat"].values
    thr = adaptive_threshold(f, params, geom.n, config)
    scan["threshold"] = ("time", thr)
    scan.attrs.update({"array": geom.code, **{k: str(v) for k, v in params.as_dict().items()}})
    runs = _runs(f > thr, scan["backazimuth"].values, f, config.back_az_width_deg)
    runs = _merge(runs, scan, f, params, config)
    rows = []
    for run in runs:
        start = float(scan.time[run[0]])
        duration = float(scan.time[run[-1]]) + params.window_s - start
        if duration < config.min_duration_s - 1e-6:
            continue
        k = run[int(np.argmax(f[run]))]
        rows.append(_measure(ed.data, y, geom, fs, t0, start, duration, _combine(scan, run, k), params))
    table = array_table(pd.DataFrame(rows))
    extra = pd.DataFrame(rows, columns=["pick_id", *INFRASOUND_COLUMNS]).set_index("pick_id")
    for col in INFRASOUND_COLUMNS:
        table[col] = extra[col].reindex(table["pick_id"]).to_numpy(dtype=float)
    return InfrasoundResult(table, scan, params, geom)


def _measure(raw: np.ndarray, y: np.ndarray, geom: ArrayGeometry, fs: float, t0: float, start: float,
             duration: float, best: xr.Dataset, params: ResolvedInfrasound) -> dict:
    baz, slow = float(best["backazimuth"]), float(best["slowness"])
    sx, sy = -slow / KM_PER_DEG * math.sin(math.radians(baz)), -slow / KM_PER_DEG * math.cos(math.radians(baz))
    i0 = int(round((start - t0) * fs))
    i1 = min(raw.shape[1], i0 + int(round(duration * fs)))
    # the plane wave re-fitted over the whole detection (more cycles than one window)
    pw = plane_wave_fit(y[:, i0:i1], geom, fs, sx, sy, 0.25 / params.band_hz[1])
    if abs(pw.slowness - slow) <= 0.1 * slow:
        baz, slow, sx, sy = pw.backazimuth, pw.slowness, pw.sx, pw.sy
    _, beam = beam_window(y[:, i0:i1], geom, fs, sx, sy)
    # the band-passed beam: unfiltered, the microbarom peak (~0.2 Hz) would win at the band edge
    freq, psd = sps.welch(beam, fs=fs, nperseg=min(len(beam), int(round(params.window_s * fs))))
    inband = (freq >= params.band_hz[0]) & (freq <= params.band_hz[1])
    dominant = float(freq[inband][np.argmax(psd[inband])]) if inband.any() else math.nan
    n0 = max(0, i0 - (i1 - i0))
    snr = math.nan
    if i0 - n0 > fs:
        _, before = beam_window(y[:, n0:i0], geom, fs, sx, sy)
        if np.mean(before ** 2) > 0:
            snr = float(np.sqrt(np.mean(beam ** 2) / np.mean(before ** 2)))
    net, _sta, _loc, cha = geom.seed_ids[0].split(".")
    pid = hashlib.sha1(f"{geom.code}|I|{start:.3f}".encode()).hexdigest()[:16]
    return {"network": net, "station": geom.code, "location": "", "channel": cha, "phase": "I", "time": start,
            "time_uncertainty": params.step_s / 2.0, "snr": snr, "backazimuth": float(baz),
            "backazimuth_uncertainty": float(pw.backazimuth_uncertainty), "slowness": float(slow),
            "slowness_uncertainty": float(pw.slowness_uncertainty), "fstat": float(best["fstat"]),
            "semblance": float(best["semblance"]), "relpow": float(best["relpow"]), "technology": "infrasound",
            "trace_velocity": 1000.0 * KM_PER_DEG / slow if slow > 0 else math.inf, "frequency": dominant, "duration": duration,
            "pick_id": pid}


def write_infrasound_csv(df: pd.DataFrame, path: str | Path) -> Path:
    """Write a detection table as CSV: picks.csv columns (ISO-8601 times) plus ``ARRAY_COLUMNS``
    and ``INFRASOUND_COLUMNS``; empty optional columns left out (``idc associate`` reads it)."""
    out = df.copy()
    for col in TIME_COLUMNS:
        out[col] = ["" if not np.isfinite(t) else UTCDateTime(t).strftime("%Y-%m-%dT%H:%M:%S.%fZ") for t in df[col]]
    cols = list(PICK_COLUMNS) + list(ARRAY_COLUMNS) + list(INFRASOUND_COLUMNS)
    keep = [c for c in cols if c in ("station", "phase", "time", "network", "channel", "location", "technology")
            or (c in df.columns and df[c].replace("", np.nan).notna().any())]
    path = Path(path)
    out[keep].to_csv(path, index=False, float_format="%.6g", na_rep="")
    return path
