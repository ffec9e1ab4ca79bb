"""Typed, frozen configuration of event screening (``[screening]``): the criteria as data.

Sources (REFERENCE.md §5, §11): the Treaty (Protocol Part I para 17-18, Annex 2) lists
characterisation parameters (location, depth, ratio of surface-wave to body-wave magnitude, ...)
[TREATY]; the Ms:mb lines are from Selby et al. 2012 [SELBY12]: the revised IDC line
Ms = mb − 0.64 (tested at the IDC since 3 June 2010) and the older experimental line
Ms = 1.25·mb − 2.2. The exact Ms:mb test statistic, the depth and hydroacoustic criteria, their
confidence levels and the SEB/SSEB definitions are **not found**; those values are
configuration with documented defaults (``source = "configuration"`` in the results).
"""
from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class MsMbCriterion(_Frozen):
    """Screened out when Ms lies above the line ``Ms = slope·mb + intercept`` with confidence:
    ``z = (Ms − (slope·mb + intercept)) / σ > z(confidence)``, with
    ``σ = sqrt(σ_Ms² + slope²·σ_mb²)`` from the network-magnitude uncertainties (or
    :attr:`default_magnitude_uncertainty` when absent). An earthquake (relatively large Ms for
    its mb) is screened out; the explosion population lies below the line [SELBY12]."""

    enabled: bool = True
    #: the line [SELBY12]: revised IDC line Ms = mb − 0.64 (old experimental: slope 1.25, intercept −2.2)
    slope: float = 1.0
    intercept: float = -0.64
    #: one-sided confidence of the test (configuration; the IDC test statistic is not found)
    confidence: float = Field(0.95, gt=0.5, lt=1.0)
    #: 1-sigma magnitude uncertainty used when a network magnitude has none (configuration)
    default_magnitude_uncertainty: float = Field(0.2, gt=0)
    #: least stations contributing to each of mb and Ms (configuration)
    min_stations: int = Field(1, ge=1)
    source: str = "SELBY12 (REFERENCE.md §5): Ms = mb - 0.64, test statistic: configuration"


class DepthCriterion(_Frozen):
    """Screened out when the whole 90 % depth confidence interval is deeper than
    :attr:`min_depth_km`: ``depth − half_width90 > min_depth_km``. Not applicable when the depth
    was fixed (no confidence interval)."""

    enabled: bool = True
    #: depth threshold, km (configuration: the IDC value is not found, REFERENCE.md §5)
    min_depth_km: float = Field(10.0, ge=0)
    #: least time-defining stations for the depth to count (configuration)
    min_defining_stations: int = Field(3, ge=1)
    source: str = "TREATY Annex 2 (event depth is a characterisation parameter); threshold: configuration"


class HydroacousticCriterion(_Frozen):
    """For an event at sea (at least :attr:`min_offshore_km` from the coast) with hydroacoustic
    observations at :attr:`min_stations` stations or more: screened out when the hydroacoustic
    energy measure (largest SNR of its hydroacoustic arrivals) stays below
    :attr:`max_energy` — an explosion in the water column couples strongly into the ocean sound
    channel, so a weak hydroacoustic signal from an at-sea event argues against one. The IDC
    hydroacoustic criterion is **not found** (REFERENCE.md §5): this rule and its values are
    configuration."""

    enabled: bool = True
    #: phase names counted as hydroacoustic (H = hydroacoustic, T = T phase, O: iLoc [ILOC])
    phases: tuple[str, ...] = ("H", "T", "HT", "HO", "O", "Hn", "Tn")
    #: least distance from the coast, km, for the event to count as at sea (configuration)
    min_offshore_km: float = Field(0.0, ge=0)
    #: least hydroacoustic stations (configuration)
    min_stations: int = Field(1, ge=1)
    #: energy measure (SNR) below which the event is screened out (configuration)
    max_energy: float = Field(10.0, gt=0)
    source: str = "GSE21 p.98 (offshore flag of the event characterisation block); rule: configuration"


class ScreeningConfig(_Frozen):
    """``[screening]``: SEB parameters and the SSEB screening criteria."""

    #: events kept in the SSEB product: those "not_screened_out" (default) or "all" (the
    #: per-event outcomes are stored in the screening_result table either way)
    sseb_events: Literal["not_screened_out", "all"] = "not_screened_out"
    #: Natural Earth resolution for at-sea / distance to coast ("50m" or "110m")
    coast_resolution: Literal["50m", "110m"] = "50m"
    ms_mb: MsMbCriterion = MsMbCriterion()
    depth: DepthCriterion = DepthCriterion()
    hydroacoustic: HydroacousticCriterion = HydroacousticCriterion()
