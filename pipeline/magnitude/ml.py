"""Local magnitude ML from Wood-Anderson amplitudes with a selectable -log A0 law.

All laws are written as ``ML = log10(A) + F(R)`` with ``F = -log A0``:

=============================== ======= ======================================================= ===========
``attenuation``                 A unit  F(R), R in km                                           source
=============================== ======= ======================================================= ===========
``iaspei``                      nm      1.11 log10 R + 0.00189 R - 2.09 (R hypocentral)         [ISC-MAG]
``hutton_boore``                mm      1.110 log10(R/100) + 0.00189 (R - 100) + 3.0            [SC-MLc]
``richter``                     mm      table 0:1.3, 60:2.8, 100:3.0, 400:4.5, 1000:5.85,       [SC-ML]
                                        linear (R epicentral, SeisComP default ML)
``greenfield2018_bardarbunga``  mm      1.2534 log10(R/17) + 0.0032 (R - 17) + 2.0              Greenfield
                                        (R hypocentral)                                         et al. 2018
``custom``                      mm      a log10(R/r_ref) + b (R - r_ref) + c (config)           --
=============================== ======= ======================================================= ===========

Greenfield et al. (2018), Bardarbunga: the law as implemented in QuakeMigrate
(``quakemigrate/signal/local_mag/magnitude.py``, ``"Greenfield2018_bardarbunga"``), which applies it
to the *half* maximum peak-to-trough WA amplitude in **mm** (documented there as
"Half maximum peak-to-trough amplitude ... In millimetres"), simulated with obspy's Wood-Anderson
response (sensitivity 2080), at hypocentral distance (epicentral and vertical legs, the vertical
leg being source depth + station elevation).

Amplitude units. Our picks column ``amp_wa`` is the WA amplitude in **nm** with static
magnification 1 (zero-to-peak; IASPEI convention, see :mod:`pipeline.picks`). The mm-based laws
expect the trace amplitude a real WA instrument (magnification 2080) would have written::

    A_mm = amp_wa_nm * 2080 * 1e-6          (:func:`wa_nm_to_mm`)

With this conversion ``iaspei`` and ``hutton_boore`` agree within 0.002 magnitude units at all
distances (the IASPEI constant -2.09 assumes magnification 2080 [ISC-MAG]).
"""
from __future__ import annotations

import numpy as np

from pipeline.magnitude.config import MlConfig

#: SeisComP default Richter table: epicentral distance km -> -log10 A0 [SC-ML]
RICHTER_TABLE_KM = np.array([0.0, 60.0, 100.0, 400.0, 1000.0])
RICHTER_MINUS_LOG_A0 = np.array([1.3, 2.8, 3.0, 4.5, 5.85])

#: amplitude unit each law expects
AMPLITUDE_UNIT = {"iaspei": "nm", "hutton_boore": "mm", "richter": "mm",
                  "greenfield2018_bardarbunga": "mm", "custom": "mm"}
#: distance each law was derived for ("native" in :class:`MlConfig`)
NATIVE_DISTANCE = {"iaspei": "hypocentral", "hutton_boore": "hypocentral", "richter": "epicentral",
                   "greenfield2018_bardarbunga": "hypocentral", "custom": "hypocentral"}


def wa_nm_to_mm(amp_wa_nm, magnification: float = 2080.0) -> np.ndarray:
    """WA amplitude in nm at magnification 1 -> trace amplitude in mm of a WA instrument.

    :param amp_wa_nm: amplitude, nm (ground-equivalent, static magnification 1)
    :param magnification: WA static magnification (2080, [SC-WA, OBSPY-INV])
    :returns: amplitude, mm
    """
    return np.asarray(amp_wa_nm, float) * magnification * 1e-6


def minus_log_a0(distance_km, attenuation: str = "iaspei", config: MlConfig | None = None) -> np.ndarray:
    """The distance term F(R) = -log A0 of ``ML = log10(A) + F(R)``.

    :param distance_km: hypocentral or epicentral distance, km (see module table)
    :param attenuation: law name (module table)
    :param config: supplies the ``custom_*`` coefficients for ``"custom"``
    :returns: F(R), magnitude units; NaN for R <= 0 (log laws) or outside the Richter table
    """
    r = np.asarray(distance_km, float)
    with np.errstate(divide="ignore", invalid="ignore"):
        rpos = np.where(r > 0, r, np.nan)
        if attenuation == "iaspei":
            return 1.11 * np.log10(rpos) + 0.00189 * rpos - 2.09
        if attenuation == "hutton_boore":
            return 1.110 * np.log10(rpos / 100.0) + 0.00189 * (rpos - 100.0) + 3.0
        if attenuation == "greenfield2018_bardarbunga":
            return 1.2534 * np.log10(rpos / 17.0) + 0.0032 * (rpos - 17.0) + 2.0
        if attenuation == "custom":
            c = config or MlConfig()
            rr = c.custom_r_ref_km
            return c.custom_a * np.log10(rpos / rr) + c.custom_b * (rpos - rr) + c.custom_c
        if attenuation == "richter":
            inside = (r >= RICHTER_TABLE_KM[0]) & (r <= RICHTER_TABLE_KM[-1])
            return np.where(inside, np.interp(r, RICHTER_TABLE_KM, RICHTER_MINUS_LOG_A0), np.nan)
    raise ValueError(f"unknown ML attenuation {attenuation!r}; known: {', '.join(AMPLITUDE_UNIT)}")


def ml_distance_km(epicentral_km, depth_km, elevation_m=0.0, config: MlConfig = MlConfig()) -> np.ndarray:
    """Distance used by the configured law, km.

    Hypocentral: ``sqrt(epi^2 + (depth + elevation)^2)``, the elevation (m, NaN = 0) only when
    ``config.use_station_elevation``; epicentral: ``epi``.
    """
    mode = config.distance if config.distance != "native" else NATIVE_DISTANCE[config.attenuation]
    epi = np.asarray(epicentral_km, float)
    if mode == "epicentral":
        return epi.copy()
    elev = np.nan_to_num(np.asarray(elevation_m, float), nan=0.0) if config.use_station_elevation else 0.0
    z = np.asarray(depth_km, float) + elev / 1000.0
    return np.hypot(epi, z)


def check_ml(amp_wa_nm, distance_km, depth_km, config: MlConfig = MlConfig()) -> np.ndarray:
    """Why each reading cannot give an ML: array of reasons, ``""`` where it can."""
    a, r, h = np.broadcast_arrays(*(np.asarray(x, float) for x in (amp_wa_nm, distance_km, depth_km)))
    reasons = np.full(a.shape, "", dtype=object)

    def flag(mask, text):
        reasons[mask & (reasons == "")] = text

    with np.errstate(invalid="ignore"):
        flag(~(a > 0), "WA amplitude missing or <= 0")
        flag(~(r > 0), "distance missing or <= 0")
        flag((r < config.min_distance_km) | (r > config.max_distance_km),
             f"distance outside {config.min_distance_km}-{config.max_distance_km} km")
        flag(~np.isfinite(h), "depth missing")
        flag(h > config.max_depth_km, f"depth > {config.max_depth_km} km")
        flag(~np.isfinite(minus_log_a0(r, config.attenuation, config)),
             f"distance outside the {config.attenuation} law")
    return reasons


def station_ml(amp_wa_nm, distance_km, depth_km=0.0, config: MlConfig = MlConfig()) -> np.ndarray:
    """Station ML = log10(A) + F(R) (no station correction).

    :param amp_wa_nm: WA amplitude, nm, static magnification 1 (picks column ``amp_wa``); converted
        to mm with ``config.wa_magnification`` for the mm-based laws
    :param distance_km: the distance the law uses (see :func:`ml_distance_km`), km
    :param depth_km: source depth, km (only checked against ``config.max_depth_km``)
    :returns: ML per reading; NaN where :func:`check_ml` gives a reason
    """
    reasons = check_ml(amp_wa_nm, distance_km, depth_km, config)
    a, r = np.broadcast_arrays(np.asarray(amp_wa_nm, float), np.asarray(distance_km, float))
    if AMPLITUDE_UNIT[config.attenuation] == "mm":
        a = wa_nm_to_mm(a, config.wa_magnification)
    ok = reasons == ""
    out = np.full(a.shape, np.nan)
    if ok.any():
        out[ok] = np.log10(a[ok]) + minus_log_a0(r[ok], config.attenuation, config)
    return out
