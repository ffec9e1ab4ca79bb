"""Infrasound station processing configuration (typed, frozen; TOML section ``[infrasound]``).

Keys whose default is ``"auto"`` are chosen from the data (sampling rate, array aperture) by
:meth:`InfrasoundConfig.resolve`; giving a value in ``[infrasound]`` overrides the choice. Every
key with its default is listed in ``pipeline/config/default.toml``.

Defaults marked "(project default)" are our choice: the IDC's own DFX/PMCC parameters were not
found (docs REFERENCE.md section 7); the F-detector follows infrapy's example (band 1-5 Hz,
10 s windows, p-value 0.05, REFERENCE.md [INFRAPY]).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, Union

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from pipeline.traveltime.infrasound import DEFAULT_CELERITY_KM_S

Auto = Literal["auto"]



class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class InfrasoundConfig(_Frozen):
    """Infrasound array detection (Fisher F-detector on f-k beams), noise QC, celerity phases.

    Detection: the elements are scanned in windows of :attr:`window_s` (step
    :attr:`step_fraction` x window); in each window obspy's f-k (Bartlett) finds the best
    slowness on a grid to :attr:`trace_velocity_min_m_s`, refined by a plane-wave fit of the
    element delays (:func:`pipeline.array.fk.plane_wave_fit`), which gives Fisher's F of the
    aligned window. F of incoherent noise follows F(2BT, 2BT(N-1)) (B bandwidth, T window,
    N elements; Blandford 1974); real noise has coherent clutter, so the threshold is adaptive
    (Arrowsmith et al. 2009 spirit): the theoretical (1 - :attr:`p_value`) quantile times
    ``c = max(1, median(F) / median of the distribution)`` over the record (or over
    :attr:`adaptive_window_s`). A detection is a run of windows above the threshold whose
    backazimuths stay within :attr:`back_az_width_deg` of the run's strongest window, lasting at
    least :attr:`min_duration_s`.
    """

    #: detection band, Hz; "auto" = (max(0.5, c/(3 D)), min(5, 0.4 fs)) with D the aperture
    #: and c = 0.34 km/s: a wavelength at most ~3 apertures (slowness resolution) and the
    #: microbarometer band used by infrapy's examples (project default)
    band_hz: Union[Auto, tuple[float, float]] = "auto"
    #: Butterworth order of the band-pass
    filter_corners: int = Field(4, ge=1, le=8)
    #: analysis window, s; "auto" = max(10, 5 periods of the band's low corner) (project default;
    #: infrapy's example uses 10 s)
    window_s: Union[Auto, float] = "auto"
    #: window step as a fraction of the window
    step_fraction: float = Field(0.5, gt=0, le=1)
    #: smallest trace velocity searched, m/s (largest slowness of the f-k grid)
    trace_velocity_min_m_s: float = Field(200.0, gt=50)
    #: f-k grid step, s/km; "auto" = half the Bartlett main-lobe half-width at the band centre,
    #: 0.5 / (f_c D), within 0.02-0.5 s/km (the plane-wave fit refines the grid peak)
    fk_step_s_km: Union[Auto, float] = "auto"
    #: false-alarm probability of the F threshold per window
    p_value: float = Field(0.01, gt=0, lt=0.5)
    #: background of the adaptive threshold, s (0 = the whole record)
    adaptive_window_s: float = Field(3600.0, ge=0)
    #: windows of a detection keep their backazimuth within this of the strongest one, deg
    #: (infrapy's fd default back_az_width is 15)
    back_az_width_deg: float = Field(15.0, gt=0, le=180)
    #: shortest detection, s (from the first window's start to the last window's end)
    min_duration_s: float = Field(15.0, ge=0)
    #: detections closer than this (end to start, s) with similar backazimuth are one
    merge_gap_s: float = Field(0.0, ge=0)
    #: largest correction of the plane-wave refinement, s (cycle skips beyond)
    refine_max_lag_s: float = Field(0.5, ge=0)
    #: celerity window of each infrasound phase, km/s (default and sources: pipeline.traveltime.infrasound)
    celerity_km_s: dict[str, tuple[float, float]] = Field(default_factory=lambda: dict(DEFAULT_CELERITY_KM_S))
    #: noise QC band, Hz (PSD compared with the IMS models inside it)
    qc_band_hz: tuple[float, float] = (0.02, 4.0)
    #: noise QC PSD segment length, s (Welch)
    qc_segment_s: float = Field(100.0, gt=0)

    @field_validator("band_hz", "qc_band_hz")
    @classmethod
    def _band(cls, v):
        if v == "auto":
            return v
        if not (0 < v[0] < v[1]):
            raise ValueError(f"band ({v[0]}, {v[1]}) Hz: need 0 < fmin < fmax")
        return v

    @field_validator("window_s", "fk_step_s_km")
    @classmethod
    def _positive(cls, v):
        if v != "auto" and not float(v) > 0:
            raise ValueError(f"{v}: must be 'auto' or a positive number")
        return v

    @field_validator("celerity_km_s")
    @classmethod
    def _celerity(cls, v):
        if not v:
            raise ValueError("at least one infrasound phase with its celerity window is needed")
        for name, (lo, hi) in v.items():
            if not (0.1 <= lo < hi <= 1.0):
                raise ValueError(f"phase {name}: celerity window ({lo}, {hi}) km/s: need 0.1 <= min < max <= 1.0")
        return v

    @model_validator(mode="after")
    def _checks(self):
        if self.band_hz != "auto" and self.window_s != "auto" and float(self.window_s) * self.band_hz[0] < 1.0:
            raise ValueError(f"window_s = {self.window_s} s holds less than one period of the band's low "
                             f"corner {self.band_hz[0]} Hz")
        return self

    def resolve(self, sampling_rate_hz: float, aperture_km: float) -> "ResolvedInfrasound":
        """The concrete parameters for an array sampled at ``sampling_rate_hz`` with aperture
        ``aperture_km`` (the "auto" rules of the field docs)."""
        c = 0.34
        if self.band_hz == "auto":
            lo = max(0.5, c / (3.0 * max(aperture_km, 1e-3)))
            hi = min(5.0, 0.4 * sampling_rate_hz)
            if hi <= lo * 1.5:
                hi = min(0.45 * sampling_rate_hz, lo * 4.0)
            band = (round(lo, 3), round(hi, 3))
        else:
            band = tuple(self.band_hz)
        if band[1] >= 0.5 * sampling_rate_hz:
            raise ValueError(f"band {band} Hz reaches the Nyquist frequency of {sampling_rate_hz} Hz data")
        window = max(10.0, 5.0 / band[0]) if self.window_s == "auto" else float(self.window_s)
        if self.fk_step_s_km == "auto":
            fc = math.sqrt(band[0] * band[1])
            step = min(0.5, max(0.02, 0.5 / (fc * max(aperture_km, 1e-3))))
        else:
            step = float(self.fk_step_s_km)
        return ResolvedInfrasound(band_hz=band, window_s=window, step_s=window * self.step_fraction,
                                  fk_step_s_km=step, max_slowness_s_km=1000.0 / self.trace_velocity_min_m_s)


@dataclass(frozen=True)
class ResolvedInfrasound:
    """The parameters one array is processed with (units in the names)."""

    band_hz: tuple[float, float]
    window_s: float
    step_s: float
    fk_step_s_km: float
    max_slowness_s_km: float

    def as_dict(self) -> dict:
        return {"band_hz": list(self.band_hz), "window_s": self.window_s, "step_s": self.step_s,
                "fk_step_s_km": round(self.fk_step_s_km, 4), "max_slowness_s_km": round(self.max_slowness_s_km, 4)}
