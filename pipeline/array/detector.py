"""Array station processing: element waveforms + StationXML -> one detection table for the array.

:func:`detect_array` processes an array as one station (the array code), as the IDC does:

1. the element channels (:func:`~pipeline.array.beam.element_data`) and their geometry from the
   inventory (:func:`~pipeline.array.geometry.geometry_from_inventory`);
2. in each detection band (``config.bands``), band-pass (:func:`pipeline.detection.stalta.bandpass`)
   and delay-and-sum beams on the beam set (:func:`~pipeline.array.beam.beam_set`);
3. STA/LTA on every beam of every band and the merge of triggers across beams and bands
   (:func:`pipeline.detection.stalta.stalta_triggers`, :func:`~pipeline.detection.stalta.merge_triggers`:
   the station-processing code, a beam standing for a band), AIC onset on the winning beam
   (:func:`pipeline.detection.onset.aic_curve`);
4. per detection, f-k (:func:`~pipeline.array.fk.fk_grid`, obspy ``array_processing``) in
   ``fk_window_s`` around the onset, in every band (the measurement with the largest F is kept) and the plane-wave refinement with uncertainties, semblance
   and F (:func:`~pipeline.array.fk.plane_wave_fit`).

Output: the picks DataFrame of :mod:`pipeline.picks` (``station`` = array code, ``channel`` the
elements' channel code, ``time`` the onset at the reference point, ``backazimuth`` deg and
``slowness`` s/deg from the f-k, with their 1-sigma uncertainties, ``snr`` the beam's RMS
amplitude ratio after/before the onset) plus the columns :data:`ARRAY_COLUMNS`: ``technology``,
``fstat`` (Fisher F of the f-k window at the measured slowness), ``semblance`` (0-1) and
``relpow`` (obspy's f-k relative power at the grid peak).
"""
from __future__ import annotations

import hashlib
import math
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr
from obspy import Inventory, Stream, UTCDateTime

from pipeline.array.beam import beam_set, beam_slownesses, element_data
from pipeline.array.config import ArrayConfig, AutoArray
from pipeline.array.fk import fk_grid, grid_peak, plane_wave_fit
from pipeline.array.geometry import ArrayGeometry, geometry_from_inventory
from pipeline.detection.onset import aic_curve
from pipeline.detection.processor import onset_uncertainty
from pipeline.detection.stalta import bandpass, merge_triggers, stalta_triggers
from pipeline.picks import ARRAY_COLUMNS, PICK_COLUMNS, TIME_COLUMNS, normalise_picks



def measure(x_raw: np.ndarray, geometry: ArrayGeometry, fs: float, t0: float, onset: float,
            config: ArrayConfig, band_hz: tuple[float, float] | None = None) -> tuple[dict, xr.DataArray]:
    """F-k and plane-wave measurements of the arrival at ``onset`` (epoch s, reference point).

    :param x_raw: element samples (unfiltered, demeaned) starting at ``t0``
    :param band_hz: band of the measurement, Hz (default ``config.band_hz``)
    :returns: ``(values, fk map)``: values keyed like the table columns (backazimuth, slowness,
        their uncertainties, fstat, semblance, relpow); the map ``(sx, sy)`` of the window
    """
    band = tuple(band_hz or config.band_hz)
    w0, w1 = onset + config.fk_window_s[0], onset + config.fk_window_s[1]
    grid = fk_grid(x_raw, geometry, fs, t0, w0, w1, band, config.fk_max_slowness_s_deg,
                   config.fk_step_s_deg, win_frac=1.0)
    if grid.sizes["time"] == 0:
        raise ValueError("f-k window outside the data")
    fkmap = grid.isel(time=0)
    sx, sy, rel = grid_peak(fkmap)
    i0, i1 = int(round((w0 - t0) * fs)), int(round((w1 - t0) * fs))
    margin = int(round(5.0 * fs / band[0]))  # let the band-pass settle before the window
    lo = max(0, i0 - margin)
    xf = bandpass(x_raw[:, lo:i1], band[0], band[1], fs, config.filter_corners)[:, i0 - lo:]
    pw = plane_wave_fit(xf, geometry, fs, sx, sy, config.refine_max_lag_s, rel)
    return ({"backazimuth": pw.backazimuth, "slowness": pw.slowness,
             "backazimuth_uncertainty": pw.backazimuth_uncertainty,
             "slowness_uncertainty": pw.slowness_uncertainty, "fstat": pw.fstat, "semblance": pw.semblance,
             "relpow": pw.relpow}, fkmap)


def detect_array(stream: Stream, inventory: Inventory, config: ArrayConfig | AutoArray | None = None,
                 code: str | None = None, reference: str | None = None,
                 start: UTCDateTime | None = None, end: UTCDateTime | None = None) -> pd.DataFrame:
    """Detections of one array (see module doc).

    :param stream: the element waveforms (counts; one array)
    :param inventory: StationXML of the elements (coordinates)
    :param config: :class:`ArrayConfig`, or :class:`AutoArray` (resolved from the elements'
        sampling rate and the array's aperture)
    :param code: array code for the table (default: the reference element's station code)
    :param reference: reference element station code (default: see
        :func:`~pipeline.array.geometry.geometry_from_inventory`)
    :param start: / :param end: report only onsets in ``[start, end)``
    :returns: picks DataFrame with :data:`ARRAY_COLUMNS` added, sorted by time; ``attrs["array"]``
        describes the array as a site (code, network, reference point latitude/longitude/
        elevation_m, reference element, number of elements, aperture_km, sampling_rate)
    """
    config = config or ArrayConfig()
    component = ArrayConfig(**config.overrides).component if isinstance(config, AutoArray) else config.component
    ed = element_data(stream, component)
    geom = geometry_from_inventory(inventory, ed.seed_ids, ed.t0, code=code, reference=reference)
    if isinstance(config, AutoArray):
        config = config.resolve(ed.fs, geom.aperture_km)
    fs, t0 = ed.fs, ed.t0.timestamp
    baz, slow = beam_slownesses(config.beam_slowness_s_deg, config.beam_azimuth_step_deg)
    beam_sets, trig = [], []
    for k, band in enumerate(config.bands):  # one beam set per detection band
        y = bandpass(ed.data, band[0], band[1], fs, config.filter_corners)
        beams = beam_set(y, geom, fs, baz, slow, t0=t0)
        beam_sets.append(beams.values)
        nb = beams.sizes["beam"]
        for b in range(nb):
            trig += stalta_triggers(beams.values[b], fs, config.sta_s, config.lta_s, config.trigger_on,
                                    config.trigger_off, band=k * nb + b)
    kept = merge_triggers(trig, int(round(config.min_separation_s * fs)))
    rows = []
    npts = ed.data.shape[1]
    for t in kept:
        k, b = divmod(t.band, len(baz))
        band = config.bands[k]
        bm = beam_sets[k][b]
        a = max(0, t.on - int(round(config.aic_window_s[0] * fs)))
        z = min(npts, t.on + int(round(config.aic_window_s[1] * fs)))
        aic = aic_curve(bm[a:z])
        onset_i = a + int(np.argmin(aic)) if np.isfinite(aic).any() else t.on
        onset = t0 + onset_i / fs
        if (start is not None and onset < UTCDateTime(start).timestamp) or (
                end is not None and onset >= UTCDateTime(end).timestamp):
            continue
        if onset + config.fk_window_s[0] < t0 or onset + config.fk_window_s[1] > t0 + (npts - 1) / fs:
            continue
        nb, na = int(config.snr_window_s[0] * fs), int(config.snr_window_s[1] * fs)
        before = bm[max(0, onset_i - nb):onset_i]
        after = bm[onset_i:onset_i + na]
        snr = float(np.sqrt(np.mean(after ** 2) / np.mean(before ** 2))) if before.size and np.mean(before ** 2) > 0 else math.nan
        # measured in every band, the most coherent (largest F) kept: a band can win the STA/LTA
        # and still resolve the slowness worse (lower frequencies, the same aperture)
        values = max((measure(ed.data, geom, fs, t0, onset, config, b)[0] for b in config.bands),
                     key=lambda v: v["fstat"] if np.isfinite(v["fstat"]) else -np.inf)
        if config.technology == "infrasound":
            phase = "I"
        else:
            phase = "P" if values["slowness"] <= config.p_max_slowness_s_deg else "S"
        net, _sta, _loc, cha = geom.seed_ids[0].split(".")
        pid = hashlib.sha1(f"{geom.code}|{phase}|{onset:.3f}".encode()).hexdigest()[:16]
        rows.append({"network": net, "station": geom.code, "location": "", "channel": cha, "phase": phase,
                     "time": onset, "time_uncertainty": onset_uncertainty(snr, band, fs), "snr": snr,
                     **values, "technology": config.technology, "pick_id": pid})
    out = array_table(pd.DataFrame(rows))
    # the array as a site (its code at the reference point) and what was used, for the caller
    out.attrs["array"] = {"station": geom.code, "network": geom.seed_ids[0].split(".")[0],
                          "latitude": geom.latitude, "longitude": geom.longitude,
                          "elevation_m": geom.elevation_m, "reference": geom.reference, "elements": geom.n,
                          "aperture_km": geom.aperture_km, "sampling_rate": fs}
    return out


def array_table(df: pd.DataFrame) -> pd.DataFrame:
    """A picks DataFrame (:func:`pipeline.picks.normalise_picks`) with :data:`ARRAY_COLUMNS`."""
    if not len(df):
        df = pd.DataFrame({c: [] for c in ("station", "time")})
    # normalise_picks sorts by time: sort the same way first, so the array columns stay on their rows
    df = df.assign(time=pd.to_numeric(df["time"], errors="coerce")).sort_values("time", kind="stable")
    df = df.reset_index(drop=True)
    out = normalise_picks(df)
    for col, kind in ARRAY_COLUMNS.items():
        vals = df.set_index(out.index)[col] if col in df.columns and len(df) else None
        if kind == "str":
            out[col] = "" if vals is None else vals.fillna("").astype(str).to_numpy()
        else:
            out[col] = np.nan if vals is None else pd.to_numeric(vals, errors="coerce").to_numpy()
    return out


def write_array_csv(df: pd.DataFrame, path: str | Path) -> Path:
    """Write an array detection table as CSV: the picks.csv form (ISO-8601 times) plus
    :data:`ARRAY_COLUMNS`; empty optional columns are left out."""
    out = df.copy()
    for col in TIME_COLUMNS:
        out[col] = ["" if not np.isfinite(t) else UTCDateTime(t).strftime("%Y-%m-%dT%H:%M:%S.%fZ") for t in df[col]]
    cols = list(PICK_COLUMNS) + list(ARRAY_COLUMNS)
    keep = [c for c in cols if c in ("station", "phase", "time", "network", "channel", "location")
            or df[c].replace("", np.nan).notna().any()]
    path = Path(path)
    out[keep].to_csv(path, index=False, float_format="%.6g", na_rep="")
    return path
