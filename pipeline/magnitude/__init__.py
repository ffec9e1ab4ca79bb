"""Magnitude stage: station and network mb (IDC), ML and Ms_20 from arrival amplitudes.

Modules: :mod:`~pipeline.magnitude.mb` (IDC mb, Veith-Clawson Q), :mod:`~pipeline.magnitude.ml`
(ML with selectable -log A0), :mod:`~pipeline.magnitude.ms` (Ms_20), :mod:`~pipeline.magnitude.network`
(robust network averaging), :mod:`~pipeline.magnitude.config` (typed frozen settings and the
suggested TOML block), :mod:`~pipeline.magnitude.compute` (:func:`compute_magnitudes`).
Sources: ``REFERENCE.md`` section 1 (keys in square brackets in the docstrings).
"""
from pipeline.magnitude.compute import STATION_MAG_COLUMNS, compute_magnitudes
from pipeline.magnitude.config import MagnitudeConfig, MbConfig, MlConfig, MsConfig, NetworkConfig
from pipeline.magnitude.mb import QTable, check_mb, q_idc, station_mb, veith_clawson_table
from pipeline.magnitude.ml import check_ml, minus_log_a0, ml_distance_km, station_ml, wa_nm_to_mm
from pipeline.magnitude.ms import check_ms, station_ms
from pipeline.magnitude.network import (NetworkMagnitude, alpha_trimmed_median, network_magnitude,
                                        outlier_mean, trimmed_mean)

__all__ = [
    "STATION_MAG_COLUMNS", "compute_magnitudes",
    "MagnitudeConfig", "MbConfig", "MlConfig", "MsConfig", "NetworkConfig",
    "QTable", "check_mb", "q_idc", "station_mb", "veith_clawson_table",
    "check_ml", "minus_log_a0", "ml_distance_km", "station_ml", "wa_nm_to_mm",
    "check_ms", "station_ms",
    "NetworkMagnitude", "alpha_trimmed_median", "network_magnitude", "outlier_mean", "trimmed_mean",
]
