"""Hydroacoustic station processing: H phases on IMS hydrophones, T phases on island
seismometers, water-path travel times with blockage by land, and the origin-consistency check.

Public API::

    from pipeline.hydroacoustic import HydroacousticConfig, detect_hydroacoustic, water_path_fit

    res = detect_hydroacoustic(stream, HydroacousticConfig())
    res.table   # picks table + technology, frequency, duration + pipeline.picks.HYDRO_COLUMNS
    fit = water_path_fit(lat, lon, origin_time, res.table, stations)   # H/T arrivals vs an origin

* :func:`detect_hydroacoustic` - band energies, STA/LTA + AIC onset in the best band, duration,
  peak frequency, cepstral (bubble-pulse) delay (:mod:`pipeline.hydroacoustic.detector`).
* :func:`water_path_fit` - predicted water-path arrivals of an origin (none through land,
  :mod:`pipeline.traveltime.hydroacoustic`) against the detections, with a documented tolerance.

Importing this package has no side effects.
"""
from pipeline.hydroacoustic.config import HydroacousticConfig, ResolvedHydroacoustic
from pipeline.hydroacoustic.consistency import FIT_COLUMNS, OriginFit, water_path_fit
from pipeline.hydroacoustic.detector import (TECHNOLOGY, HydroResult, cepstral_peak, channel_phase,
                                             detect_hydroacoustic, write_hydroacoustic_csv)

__all__ = ["FIT_COLUMNS", "HydroResult", "HydroacousticConfig", "OriginFit", "ResolvedHydroacoustic", "TECHNOLOGY",
           "cepstral_peak", "channel_phase", "detect_hydroacoustic", "water_path_fit", "write_hydroacoustic_csv"]
