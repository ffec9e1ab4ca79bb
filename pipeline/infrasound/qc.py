"""Infrasound station QC: the pressure PSD of each channel against the IMS infrasound low and high
noise models.

The models (``pipeline/infrasound/data/IMSnoisemodel_{low,high}.txt``, from LANL infrapy, MIT;
columns: frequency in Hz, log10 of the PSD in Pa^2/Hz, as infrapy reads them) bound the noise
of a working IMS infrasound station: below the low model a channel is suspiciously quiet (dead
sensor, blocked inlet, wrong gain), above the high model it is noisy (wind) or mis-calibrated.

:func:`noise_qc` takes a Welch PSD (``qc_segment_s`` segments, Hann, 50 % overlap; the first and
last 5 % of a record are left out: tapered records) of each channel in Pa and compares it with
the models, interpolated in log-log, at the PSD frequencies inside ``qc_band_hz`` and inside the
models' range. Per channel: the fractions of those frequencies below the low and above the high
model, the median position between them (0 = on the low model, 1 = on the high one, in log
PSD) and a status: ``low`` (more than half below the low model), ``high`` (more than half above
the high one), else ``ok``.

Units: float samples are taken as Pa; integer samples (counts) are divided by the instrument
sensitivity of the inventory (flat over the band: the microbarometer's pass band), and a
channel in counts without a response is reported with status ``no_response``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from importlib import resources

import numpy as np
import pandas as pd
from obspy import Inventory, Stream
from scipy import signal as sps

from pipeline.infrasound.config import InfrasoundConfig

QC_COLUMNS = ("seed_id", "units", "fmin_hz", "fmax_hz", "n_freq", "frac_below_low", "frac_above_high",
              "median_position", "median_log10_psd_1hz", "status")


@dataclass(frozen=True)
class NoiseModels:
    """The IMS infrasound noise models: frequency (Hz) and log10 PSD (Pa^2/Hz) of each."""

    low_f: np.ndarray
    low_log_psd: np.ndarray
    high_f: np.ndarray
    high_log_psd: np.ndarray

    def at(self, freq_hz: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """log10 PSD of the low and high model at ``freq_hz`` (log-frequency interpolation;
        NaN outside a model's range)."""
        lf = np.log10(freq_hz)
        lo = np.interp(lf, np.log10(self.low_f), self.low_log_psd, left=np.nan, right=np.nan)
        hi = np.interp(lf, np.log10(self.high_f), self.high_log_psd, left=np.nan, right=np.nan)
        return lo, hi


def ims_noise_models() -> NoiseModels:
    """The shipped IMS models (package data of :mod:`pipeline.infrasound`)."""
    base = resources.files("pipeline.infrasound").joinpath("data")
    lo = np.loadtxt(str(base.joinpath("IMSnoisemodel_low.txt")))
    hi = np.loadtxt(str(base.joinpath("IMSnoisemodel_high.txt")))
    return NoiseModels(lo[:, 0], lo[:, 1], hi[:, 0], hi[:, 1])


def _to_pa(tr, inventory: Inventory | None) -> tuple[np.ndarray | None, str]:
    x = tr.data
    if np.issubdtype(x.dtype, np.floating):
        return x.astype(np.float64), "Pa"
    if inventory is not None:
        try:
            resp = inventory.get_response(tr.id, tr.stats.starttime)
            sens = resp.instrument_sensitivity
            if sens is not None and sens.value and str(sens.input_units).upper() in ("PA", "PASCAL", "PASCALS"):
                return x.astype(np.float64) / float(sens.value), "Pa (counts / sensitivity)"
        except Exception:  # noqa: BLE001 - obspy raises a bare Exception when no response matches
            pass
    return None, "counts"


def channel_psd(x: np.ndarray, fs: float, segment_s: float) -> tuple[np.ndarray, np.ndarray]:
    """Welch PSD (Pa^2/Hz) of one channel, its first and last 5 % left out."""
    cut = int(0.05 * len(x))
    x = x[cut:len(x) - cut] if len(x) > 20 else x
    nper = min(len(x), int(round(segment_s * fs)))
    return sps.welch(x - x.mean(), fs=fs, nperseg=nper, detrend="linear")


def noise_qc(stream: Stream, inventory: Inventory | None = None, config: InfrasoundConfig | None = None,
             models: NoiseModels | None = None) -> pd.DataFrame:
    """One row per channel (columns :data:`QC_COLUMNS`, see module doc)."""
    config = config or InfrasoundConfig()
    models = models or ims_noise_models()
    rows = []
    for tr in sorted(stream.copy().merge(method=1, fill_value=0), key=lambda t: t.id):
        x, units = _to_pa(tr, inventory)
        row = dict.fromkeys(QC_COLUMNS, math.nan)
        row.update(seed_id=tr.id, units=units)
        if x is None:
            row["status"] = "no_response"
            rows.append(row)
            continue
        f, p = channel_psd(x, tr.stats.sampling_rate, config.qc_segment_s)
        band = (f >= config.qc_band_hz[0]) & (f <= min(config.qc_band_hz[1], 0.45 * tr.stats.sampling_rate)) & (p > 0)
        lo, hi = models.at(np.where(band, f, 1.0))
        use = band & np.isfinite(lo) & np.isfinite(hi)
        if not use.any():
            row["status"] = "no_band"
            rows.append(row)
            continue
        lp = np.log10(p[use])
        below, above = float(np.mean(lp < lo[use])), float(np.mean(lp > hi[use]))
        k1 = int(np.argmin(np.abs(f - 1.0)))
        row.update(fmin_hz=float(f[use].min()), fmax_hz=float(f[use].max()), n_freq=int(use.sum()),
                   frac_below_low=below, frac_above_high=above,
                   median_position=float(np.median((lp - lo[use]) / (hi[use] - lo[use]))),
                   median_log10_psd_1hz=float(np.log10(p[k1])) if p[k1] > 0 else math.nan,
                   status="low" if below > 0.5 else "high" if above > 0.5 else "ok")
        rows.append(row)
    return pd.DataFrame(rows, columns=list(QC_COLUMNS))
