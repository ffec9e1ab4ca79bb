"""Typed, frozen configuration of the magnitude stage (mb, ML, Ms, network averaging).

Every default below is either a published convention (source key from ``REFERENCE.md`` section 1
in brackets) or, where no authoritative value was found, a documented choice marked
**configuration** (see the "facts made configuration" list at the end of this docstring).

Every key with its default and meaning is listed in ``config/default.toml`` (``[magnitude]``,
``[magnitude.mb]``, ``[magnitude.ml]``, ``[magnitude.ms]``, ``[magnitude.network]``).

Facts made configuration (not found in accessible IDC documents, REFERENCE.md section 11):

* IDC mb period limit -> ``mb.max_period_s`` = 3 s (ISC/iLoc practice).
* The bundled VC table ends at 100 deg while the IDC range is 20-105 deg -> ``mb.max_distance_deg``
  = 100; readings beyond the table are rejected with a reason, not extrapolated.
* IDC Ms (Rezapour & Pearce 1998) formula and band -> not implemented; Ms is Ms_20 with
  configurable band (18-22 s), distance (20-160 deg) and depth (60 km).
* IDC network averaging ("average after removing outliers", CTBTO23) criterion ->
  ``network.outlier_k``/``outlier_min_deviation``.
* IASPEI mb needs the Gutenberg-Richter Q table, which we do not hold -> not implemented.
"""
from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

StationAggregate = Literal["max", "mean", "median", "each"]
Attenuation = Literal["iaspei", "hutton_boore", "richter", "greenfield2018_bardarbunga", "custom"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def _check_range(lo: float, hi: float, name: str) -> None:
    if not lo < hi:
        raise ValueError(f"{name}: minimum {lo} must be below maximum {hi}")


class MbConfig(_Frozen):
    """IDC body-wave magnitude mb (Veith-Clawson Q, half peak-to-trough amplitude) [SC-mbIDC]."""

    #: phases whose ``amplitude``/``period`` are used (primary P-type body waves)
    phases: tuple[str, ...] = ("P",)
    #: epicentral distance range, deg (IDC nominal 20-105; bundled table ends at 100)
    min_distance_deg: float = Field(20.0, ge=0.0)
    max_distance_deg: float = Field(100.0, gt=0.0)
    #: source depth range, km (table 0-800 km)
    min_depth_km: float = 0.0
    max_depth_km: float = Field(800.0, gt=0.0)
    #: accepted dominant period, s (bounds inclusive; T must also be > 0). IDC value not found:
    #: 3 s follows ISC/iLoc
    min_period_s: float = Field(0.0, ge=0.0)
    max_period_s: float = Field(3.0, gt=0.0)
    #: added to the peak-to-peak VC table (SeisComP's IDC table uses 0.301 ~ log10 2)
    q_offset: float = 0.301
    #: Q(D,h) interpolation: bi-cubic spline (SeisComP) or bilinear
    interpolation: Literal["bicubic", "bilinear"] = "bicubic"
    #: several valid amplitudes at one station (ISC: max A/T)
    station_aggregate: StationAggregate = "max"
    #: additive station corrections, magnitude units, keyed "NET.STA" or "STA"
    station_corrections: dict[str, float] = {}

    @model_validator(mode="after")
    def _ranges(self) -> "MbConfig":
        _check_range(self.min_distance_deg, self.max_distance_deg, "mb distance_deg")
        _check_range(self.min_depth_km, self.max_depth_km, "mb depth_km")
        _check_range(self.min_period_s, self.max_period_s, "mb period_s")
        return self


class MlConfig(_Frozen):
    """Local magnitude ML = log10(A) + (-log A0)(R) with a selectable attenuation law [ISC-MAG]."""

    #: -log A0 law; decides the amplitude unit (nm for "iaspei", WA mm for all others)
    attenuation: Attenuation = "iaspei"
    #: "native": hypocentral for all laws except "richter" (epicentral, SeisComP)
    distance: Literal["native", "hypocentral", "epicentral"] = "native"
    #: add station elevation (``elevation_m``, if present) to the depth for the vertical leg
    use_station_elevation: bool = True
    #: WA static magnification to convert nm (magnification 1) to recorded mm
    wa_magnification: float = Field(2080.0, gt=0.0)
    #: distance range of the chosen distance measure, km
    min_distance_km: float = Field(0.0, ge=0.0)
    max_distance_km: float = Field(1000.0, gt=0.0)
    #: deepest source accepted, km (SeisComP ML: 80 km)
    max_depth_km: float = Field(80.0, gt=0.0)
    #: phases whose ``amp_wa`` is used; empty = any
    phases: tuple[str, ...] = ()
    #: several amplitudes at one station (e.g. per component)
    station_aggregate: StationAggregate = "max"
    station_corrections: dict[str, float] = {}
    #: "custom" law -log A0 = a*log10(R/r_ref) + b*(R - r_ref) + c (A mm, R km)
    custom_a: float = 1.11
    custom_b: float = 0.00189
    custom_c: float = 3.0
    custom_r_ref_km: float = Field(100.0, gt=0.0)

    @model_validator(mode="after")
    def _ranges(self) -> "MlConfig":
        _check_range(self.min_distance_km, self.max_distance_km, "ml distance_km")
        return self


class MsConfig(_Frozen):
    """Surface-wave magnitude Ms_20 (IASPEI 2013) [SC-Ms20, ISC-MAG]."""

    #: phases whose ``amplitude``/``period`` are used (LR = Rayleigh wave, IMS phase name)
    phases: tuple[str, ...] = ("LR",)
    min_period_s: float = Field(18.0, gt=0.0)
    max_period_s: float = Field(22.0, gt=0.0)
    min_distance_deg: float = Field(20.0, gt=0.0)
    max_distance_deg: float = Field(160.0, gt=0.0)
    #: deepest source accepted, km (ISC/iLoc 60; SeisComP 100)
    max_depth_km: float = Field(60.0, gt=0.0)
    station_aggregate: StationAggregate = "max"
    station_corrections: dict[str, float] = {}

    @model_validator(mode="after")
    def _ranges(self) -> "MsConfig":
        _check_range(self.min_distance_deg, self.max_distance_deg, "ms distance_deg")
        _check_range(self.min_period_s, self.max_period_s, "ms period_s")
        return self


class NetworkConfig(_Frozen):
    """Network magnitude from station magnitudes (see :mod:`pipeline.magnitude.network`)."""

    method: Literal["alpha_trimmed_median", "trimmed_mean", "outlier_mean"] = "alpha_trimmed_median"
    #: ISC alpha: floor(alpha*n) station magnitudes trimmed from each end
    alpha: float = Field(0.2, ge=0.0, lt=0.5)
    #: SeisComP trimmed mean: fraction trimmed from each end
    trim_fraction: float = Field(0.125, ge=0.0, lt=0.5)
    #: outlier_mean: rejection threshold max(outlier_k*SMAD, outlier_min_deviation), mag units
    outlier_k: float = Field(3.0, gt=0.0)
    outlier_min_deviation: float = Field(0.5, ge=0.0)
    #: below this many station magnitudes the plain mean is returned, flagged low_quality
    min_stations: int = Field(3, ge=1)


class MagnitudeConfig(_Frozen):
    """All magnitude settings: ``mb``, ``ml``, ``ms`` station rules and ``network`` averaging."""

    mb: MbConfig = MbConfig()
    ml: MlConfig = MlConfig()
    ms: MsConfig = MsConfig()
    network: NetworkConfig = NetworkConfig()
    #: magnitude types computed by :func:`pipeline.magnitude.compute_magnitudes`
    magtypes: tuple[Literal["mb", "ML", "Ms"], ...] = ("mb", "ML", "Ms")
