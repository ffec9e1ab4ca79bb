"""Hydroacoustic station processing configuration (typed, frozen; TOML section ``[hydroacoustic]``).

Keys whose default is ``"auto"`` are chosen from the data (the sampling rate) by
:meth:`HydroacousticConfig.resolve`; a value in ``[hydroacoustic]`` overrides the choice. Every
key with its default is listed in ``pipeline/config/default.toml``.

The IDC's hydroacoustic processing parameters (detection bands, STA/LTA, thresholds) were *not
found* (REFERENCE.md section 7): every default here is a project default, chosen so that the
detector works on IMS hydrophones (250 Hz) and on island T-phase seismometers (40-100 Hz).
The water-path model defaults are documented in :mod:`pipeline.traveltime.hydroacoustic`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Union

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from pipeline.traveltime.hydroacoustic import DEFAULT_SOUND_SPEED_KM_S, WaterPathModel

Auto = Literal["auto"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class HydroacousticConfig(_Frozen):
    """H-phase (hydrophone) and T-phase (island seismometer) detection, water-path model and the
    origin-consistency tolerance.

    Detection, per channel: band-pass in each band of :attr:`bands_hz`; classic STA/LTA
    (:attr:`sta_s`, :attr:`lta_s`) of each band; the band with the highest STA/LTA peak triggers
    (:attr:`trigger_on` / :attr:`trigger_off`); the onset is refined by the AIC picker in that
    band; the detection lasts from the onset until the band's short-term power falls below
    :attr:`trigger_off` x its power before the onset (at least :attr:`min_duration_s`).
    """

    #: SEED channel patterns (fnmatch) of hydrophones -> phase H (instrument code D = pressure,
    #: orientation H = hydrophone, e.g. IMS ``EDH``)
    hydrophone_channels: tuple[str, ...] = ("?DH",)
    #: SEED channel patterns of island seismometers processed for T phases (vertical components)
    tphase_channels: tuple[str, ...] = ("?HZ", "?NZ", "?PZ")
    #: detection bands, Hz; "auto" = octave bands from :attr:`band_min_hz` up to 0.4 x the
    #: sampling rate (250 Hz: 2-4, 4-8, 8-16, 16-32, 32-64, 64-100 Hz) (project default)
    bands_hz: Union[Auto, tuple[tuple[float, float], ...]] = "auto"
    #: lowest band edge of the "auto" bands, Hz (below ~2 Hz microseisms dominate ocean noise)
    band_min_hz: float = Field(2.0, gt=0)
    #: Butterworth order of the band-passes
    filter_corners: int = Field(4, ge=1, le=8)
    #: STA and LTA windows, s (H/T phases are emergent and last tens of seconds)
    sta_s: float = Field(2.0, gt=0)
    lta_s: float = Field(60.0, gt=0)
    #: STA/LTA trigger on / off levels
    trigger_on: float = Field(5.0, gt=1)
    trigger_off: float = Field(1.5, gt=0)
    #: shortest detection, s; a trigger shorter than this is dropped
    min_duration_s: float = Field(3.0, ge=0)
    #: AIC search window before / after the trigger time, s
    aic_before_s: float = Field(10.0, gt=0)
    aic_after_s: float = Field(2.0, ge=0)
    #: cepstrum of the first cepstrum_window_s of a detection (bubble-pulse period of an
    #: underwater explosion): searched between these delays, s, reported when its peak stands
    #: cepstrum_min_prominence robust standard deviations above the cepstrum's median
    cepstrum_window_s: float = Field(4.0, gt=0)
    cepstrum_delay_s: tuple[float, float] = (0.05, 1.0)
    cepstrum_min_prominence: float = Field(6.0, gt=0)
    #: water-path sound speed, km/s (default: iLoc's H table, 74.879 s/deg; see
    #: pipeline.traveltime.hydroacoustic)
    sound_speed_km_s: float = Field(DEFAULT_SOUND_SPEED_KM_S, ge=1.0, le=2.0)
    #: sampling of a path for the land test, km, and land allowed at either end, km
    path_step_km: float = Field(5.0, gt=0, le=100)
    max_land_leg_km: float = Field(50.0, ge=0)
    #: Natural Earth resolution of the land polygons
    coast_resolution: Literal["50m", "110m"] = "50m"
    #: origin consistency (pipeline.hydroacoustic.consistency): an arrival fits an origin when
    #: |observed - predicted| <= onset_tolerance_s + speed_tolerance_fraction x travel time
    #: (emergent onsets: a few s; the sound speed varies by ~1-2 % along real paths) (project default)
    onset_tolerance_s: float = Field(10.0, ge=0)
    speed_tolerance_fraction: float = Field(0.02, ge=0, lt=0.5)

    @field_validator("bands_hz")
    @classmethod
    def _bands(cls, v):
        if v == "auto":
            return v
        if not v:
            raise ValueError("at least one band is needed (or 'auto')")
        for lo, hi in v:
            if not (0 < lo < hi):
                raise ValueError(f"band ({lo}, {hi}) Hz: need 0 < fmin < fmax")
        return v

    @field_validator("cepstrum_delay_s")
    @classmethod
    def _delays(cls, v):
        if not (0 < v[0] < v[1]):
            raise ValueError(f"cepstrum_delay_s ({v[0]}, {v[1]}): need 0 < min < max")
        return v

    @model_validator(mode="after")
    def _checks(self):
        if self.sta_s >= self.lta_s:
            raise ValueError(f"sta_s = {self.sta_s} s must be shorter than lta_s = {self.lta_s} s")
        if self.trigger_off >= self.trigger_on:
            raise ValueError(f"trigger_off = {self.trigger_off} must be below trigger_on = {self.trigger_on}")
        if self.cepstrum_delay_s[1] >= self.cepstrum_window_s:
            raise ValueError(f"cepstrum_delay_s max {self.cepstrum_delay_s[1]} s must be shorter than "
                             f"cepstrum_window_s = {self.cepstrum_window_s} s")
        return self

    def water_path(self) -> WaterPathModel:
        """The water-path travel-time and blockage model of these settings."""
        return WaterPathModel(sound_speed_km_s=self.sound_speed_km_s, step_km=self.path_step_km,
                              max_land_leg_km=self.max_land_leg_km, resolution=self.coast_resolution)

    def resolve(self, sampling_rate_hz: float) -> "ResolvedHydroacoustic":
        """The concrete bands for a channel sampled at ``sampling_rate_hz`` (the "auto" rule of
        :attr:`bands_hz`); a configured band reaching 0.5 x the sampling rate is an error."""
        nyq = 0.5 * sampling_rate_hz
        if self.bands_hz == "auto":
            top = 0.4 * sampling_rate_hz
            if top <= self.band_min_hz * 1.5:
                raise ValueError(f"{sampling_rate_hz} Hz data: no band above band_min_hz = {self.band_min_hz} Hz")
            edges = [self.band_min_hz]
            while edges[-1] * 2 < top * 0.999:
                edges.append(edges[-1] * 2)
            if top / edges[-1] >= 1.25:
                edges.append(top)
            else:
                edges[-1] = top
            bands = tuple((round(a, 3), round(b, 3)) for a, b in zip(edges[:-1], edges[1:]))
        else:
            bands = tuple((float(a), float(b)) for a, b in self.bands_hz)
            for lo, hi in bands:
                if hi >= nyq:
                    raise ValueError(f"band ({lo}, {hi}) Hz reaches the Nyquist frequency of "
                                     f"{sampling_rate_hz} Hz data")
        return ResolvedHydroacoustic(bands_hz=bands, sta_s=self.sta_s, lta_s=self.lta_s,
                                     broadband_hz=(bands[0][0], bands[-1][1]))


@dataclass(frozen=True)
class ResolvedHydroacoustic:
    """The parameters one channel is processed with (units in the names)."""

    bands_hz: tuple[tuple[float, float], ...]
    sta_s: float
    lta_s: float
    broadband_hz: tuple[float, float]

    def as_dict(self) -> dict:
        return {"bands_hz": [list(b) for b in self.bands_hz], "sta_s": self.sta_s, "lta_s": self.lta_s}
