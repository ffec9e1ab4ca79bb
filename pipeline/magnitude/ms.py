"""Surface-wave magnitude Ms_20 (IASPEI 2013 standard).

Station formula [SC-Ms20, ISC-MAG]::

    Ms_20 = log10(A / T) + 1.66 log10(D) + 0.3

* ``A``: vertical ground displacement, **nm**, maximum trace amplitude of the Rayleigh wave on a
  WWSSN-LP simulated record (our arrival columns ``amplitude`` of an ``LR`` arrival);
* ``T``: its period, **s**, 18 <= T <= 22 s (configurable);
* ``D``: epicentral distance, deg, 20-160 deg; source depth <= 60 km (ISC/iLoc; SeisComP 100 km).

The equivalent micrometre form is ``log10(A[um]/T) + 1.66 log10 D + 3.3`` [ISC-MAG].

The IDC's own Ms (Rezapour & Pearce 1998) and its period band were **not found** in accessible
sources (REFERENCE.md section 11): it is not implemented; the ranges above are configuration
(:class:`~pipeline.magnitude.config.MsConfig`).
"""
from __future__ import annotations

import numpy as np

from pipeline.magnitude.config import MsConfig


def check_ms(amplitude_nm, period_s, distance_deg, depth_km, config: MsConfig = MsConfig()) -> np.ndarray:
    """Why each reading cannot give an Ms_20: array of reasons, ``""`` where it can."""
    a, t, d, h = np.broadcast_arrays(*(np.asarray(x, float) for x in
                                       (amplitude_nm, period_s, distance_deg, depth_km)))
    reasons = np.full(a.shape, "", dtype=object)

    def flag(mask, text):
        reasons[mask & (reasons == "")] = text

    with np.errstate(invalid="ignore"):
        flag(~(a > 0), "amplitude missing or <= 0")
        flag(~(t > 0), "period missing or <= 0")
        flag((t < config.min_period_s) | (t > config.max_period_s),
             f"period outside {config.min_period_s}-{config.max_period_s} s")
        flag(~(d > 0), "distance missing or <= 0")
        flag((d < config.min_distance_deg) | (d > config.max_distance_deg),
             f"distance outside {config.min_distance_deg}-{config.max_distance_deg} deg")
        flag(~np.isfinite(h), "depth missing")
        flag(h > config.max_depth_km, f"depth > {config.max_depth_km} km")
    return reasons


def station_ms(amplitude_nm, period_s, distance_deg, depth_km=0.0, config: MsConfig = MsConfig()) -> np.ndarray:
    """Station Ms_20 = log10(A/T) + 1.66 log10(D) + 0.3 (no station correction).

    :param amplitude_nm: vertical Rayleigh-wave displacement amplitude, nm
    :param period_s: its period, s
    :param distance_deg: epicentral distance, deg
    :param depth_km: source depth, km (checked against ``config.max_depth_km``)
    :returns: Ms_20 per reading; NaN where :func:`check_ms` gives a reason
    """
    reasons = check_ms(amplitude_nm, period_s, distance_deg, depth_km, config)
    a, t, d = np.broadcast_arrays(*(np.asarray(x, float) for x in (amplitude_nm, period_s, distance_deg)))
    ok = reasons == ""
    out = np.full(a.shape, np.nan)
    if ok.any():
        out[ok] = np.log10(a[ok] / t[ok]) + 1.66 * np.log10(d[ok]) + 0.3
    return out
