"""Typed, frozen configuration of array processing (beams, f-k, beam detection).

Units: s, Hz, s/deg for slowness, degrees for azimuths. Defaults marked "(project default)" are our
choice (no IDC value was available); the seismic defaults were tuned on the tuning half of the
NORSAR planted set (bench/array_validation.py), :meth:`ArrayConfig.infrasound` is a starting point
for infrasound arrays (trace velocities 0.25-0.45 km/s, i.e. 250-450 s/deg).
"""
from __future__ import annotations

import math

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Band = tuple[float, float]

#: km per degree of great circle (6371 km sphere); the same value as pipeline.array.geometry.KM_PER_DEG
_KM_PER_DEG = 6371.0 * math.pi / 180.0


class ArrayConfig(BaseModel):
    """Array processing: detection on a set of delay-and-sum beams, f-k per detection.

    Beams: the elements are band-passed (causal Butterworth, :attr:`band_hz`) and summed with
    integer-sample delays for each slowness vector of the beam set (:attr:`beam_slowness_s_deg`
    x every :attr:`beam_azimuth_step_deg`; slowness 0 is one vertical beam). Detection:
    recursive STA/LTA on each beam (the station-processing code of
    :mod:`pipeline.detection.stalta`); triggers of all beams closer than
    :attr:`min_separation_s` are one detection (the beam with the highest STA/LTA wins); the
    onset is refined with the AIC picker on that beam. F-k: obspy's ``array_processing``
    (Bartlett, relative power) in :attr:`fk_window_s` around the onset, on a square slowness
    grid to :attr:`fk_max_slowness_s_deg`; the peak is then refined by a plane-wave fit to the
    element delays measured by cross-correlation with the beam, which also gives the
    uncertainties.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    #: detection and f-k band, Hz (project default for short-period regional P)
    band_hz: Band = (2.0, 8.0)
    #: detection bands, Hz: beams are formed and triggered in each; the onset uncertainty is that
    #: of the winning beam's band, the f-k and plane-wave fit are made in every band and the most
    #: coherent (largest F) is reported. () = ``band_hz`` only
    detection_bands_hz: tuple[Band, ...] = ()
    #: Butterworth order of the band-pass
    filter_corners: int = Field(3, ge=1, le=8)
    #: component letter of the element channels used (None = every channel; one per element)
    component: str | None = "Z"
    #: slowness of the detection beams, s/deg (0 = vertical beam) (project default: teleseismic
    #: P, regional Pn and crustal Pg/Sn)
    beam_slowness_s_deg: tuple[float, ...] = (0.0, 7.0, 13.0, 19.0)
    #: azimuth step of the beam set, deg
    beam_azimuth_step_deg: float = Field(30.0, gt=0, le=360)
    #: STA / LTA lengths, s
    sta_s: float = Field(1.0, gt=0)
    lta_s: float = Field(30.0, gt=0)
    #: STA/LTA trigger thresholds
    trigger_on: float = Field(4.0, gt=1)
    trigger_off: float = Field(1.5, gt=0)
    #: detections closer than this are one, s
    min_separation_s: float = Field(5.0, ge=0)
    #: AIC window around the trigger (before, after), s
    aic_window_s: tuple[float, float] = (3.0, 1.0)
    #: f-k window relative to the onset (start, end), s (negative start = before the onset)
    fk_window_s: tuple[float, float] = (-0.5, 3.0)
    #: f-k grid: largest slowness component and grid step, s/deg
    fk_max_slowness_s_deg: float = Field(25.0, gt=0)
    fk_step_s_deg: float = Field(1.0, gt=0)
    #: largest delay correction of the plane-wave refinement, s (cycle skips beyond)
    refine_max_lag_s: float = Field(0.1, ge=0)
    #: phase hint: P up to this slowness, s/deg (apparent velocity >= ~5.6 km/s), else S
    #: (project default)
    p_max_slowness_s_deg: float = Field(20.0, gt=0)
    #: SNR windows of the beam (noise before, signal after the onset), s
    snr_window_s: tuple[float, float] = (5.0, 2.0)
    #: technology written in the detection table
    technology: str = "seismic"

    @field_validator("band_hz")
    @classmethod
    def _band(cls, v: Band) -> Band:
        if not (0 < v[0] < v[1]):
            raise ValueError(f"band ({v[0]}, {v[1]}) Hz: need 0 < fmin < fmax")
        return v

    @field_validator("detection_bands_hz")
    @classmethod
    def _bands(cls, v: tuple[Band, ...]) -> tuple[Band, ...]:
        for b in v:
            cls._band(b)
        return v

    @property
    def bands(self) -> tuple[Band, ...]:
        """The detection bands (:attr:`detection_bands_hz`, else :attr:`band_hz`), Hz."""
        return tuple(self.detection_bands_hz) or (self.band_hz,)

    @property
    def pad_s(self) -> float:
        """Data needed before a detection's onset (LTA, noise window), s."""
        return max(self.lta_s, self.snr_window_s[0] + self.aic_window_s[0])

    @classmethod
    def infrasound(cls, **kw) -> "ArrayConfig":
        """Starting point for infrasound arrays: 0.5-4 Hz, beams at 0.30-0.40 km/s, f-k to
        0.25 km/s, 10 s windows (project default, untuned)."""
        base = dict(band_hz=(0.5, 4.0), component=None,
                    beam_slowness_s_deg=(111.19 / 0.30, 111.19 / 0.34, 111.19 / 0.40),
                    beam_azimuth_step_deg=10.0, sta_s=3.0, lta_s=60.0, trigger_on=3.0,
                    min_separation_s=20.0, aic_window_s=(5.0, 3.0), fk_window_s=(-2.0, 10.0),
                    fk_max_slowness_s_deg=450.0, fk_step_s_deg=5.0, refine_max_lag_s=0.5,
                    p_max_slowness_s_deg=1e9, snr_window_s=(20.0, 10.0), technology="infrasound")
        base.update(kw)
        return cls(**base)


class AutoArray(BaseModel):
    """The ``"auto"`` array configuration: an :class:`ArrayConfig` chosen per array from its data.

    * **bands**: the tuned 2-8 Hz (short-period regional P, NORSAR windows) and
      :attr:`teleseismic_band_hz` (1-3 Hz: teleseismic P, whose energy is near 1 Hz, project
      default) as detection bands, each below 0.4 x the sampling rate (at 40 and 20 Hz unchanged;
      at 10 Hz 2-4 Hz): ``fmax = min(8, 0.4 fs)``, ``fmin = min(2, fmax / 2)``.
    * **slowness resolution** of the array, ``r = KM_PER_DEG / (fc x aperture)`` s/deg with
      ``fc = sqrt(fmin fmax)`` (one cycle of delay across the aperture): 9.3 s/deg for a 3 km
      array (ARCES, the simulator's 9-element layout) at 2-8 Hz, 1.1 s/deg for a 25 km one (WRA).
    * **beam set**: where ``r`` is at least :attr:`tuned_resolution_s_deg` (the tuned arrays,
      1-3 km) the tuned beams (0, 7, 13, 19 s/deg every 30 deg); for larger arrays beams every
      ``r`` s/deg up to 19 s/deg, every ``r / 13 s/deg`` rad in azimuth (5-30 deg), widened
      together when there would be more than :attr:`max_beams`.
    * **f-k grid step** ``r / 8`` between 0.25 and 1 s/deg (1 s/deg, the tuned value, up to
      ~7 km aperture).

    :attr:`overrides` (any :class:`ArrayConfig` field, ``[array] overrides``) are applied on top:
    the manual settings win. Validated when built: a bad key or value raises.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    #: ArrayConfig fields set on top of the automatic choice
    overrides: dict = {}
    #: largest number of beams of one array (project default: bounds the beam-forming cost)
    max_beams: int = Field(400, ge=1)
    #: slowness resolution (s/deg) from which the tuned beam set is used (project default)
    tuned_resolution_s_deg: float = Field(6.0, gt=0)
    #: the second detection band, Hz (project default; None = the tuned band only)
    teleseismic_band_hz: Band | None = (1.0, 3.0)

    @model_validator(mode="after")
    def _v_overrides(self) -> "AutoArray":
        ArrayConfig(**self.overrides)
        return self

    @staticmethod
    def resolution_s_deg(band_hz: Band, aperture_km: float) -> float:
        """Slowness resolution of an array of ``aperture_km`` in ``band_hz``, s/deg (see class doc)."""
        fc = math.sqrt(band_hz[0] * band_hz[1])
        return _KM_PER_DEG / (fc * max(aperture_km, 1e-3))

    def resolve(self, sampling_rate_hz: float, aperture_km: float) -> ArrayConfig:
        """The :class:`ArrayConfig` of an array sampled at ``sampling_rate_hz`` (Hz) whose
        largest element distance is ``aperture_km`` (km)."""
        base = ArrayConfig()
        fmax = min(base.band_hz[1], 0.4 * sampling_rate_hz)
        band = (min(base.band_hz[0], fmax / 2.0), fmax)
        band = tuple(self.overrides.get("band_hz", band))
        r = self.resolution_s_deg(band, aperture_km)
        kw: dict = {"band_hz": band, "fk_step_s_deg": min(1.0, max(0.25, r / 8.0))}
        tele = self.teleseismic_band_hz
        if tele is not None and tele[1] <= 0.4 * sampling_rate_hz and tuple(tele) != band:
            kw["detection_bands_hz"] = (band, tuple(tele))
        if r < self.tuned_resolution_s_deg:
            top = max(base.beam_slowness_s_deg)
            ds, daz = r, min(30.0, max(5.0, math.degrees(r / 13.0)))
            n = (1 + math.ceil(top / ds)) * (360.0 / daz)
            if n > self.max_beams:
                f = math.sqrt(n / self.max_beams)
                ds, daz = ds * f, min(360.0, daz * f)
            kw["beam_slowness_s_deg"] = tuple(round(float(x), 3) for x in _steps(top, ds))
            kw["beam_azimuth_step_deg"] = round(daz, 3)
        kw.update(self.overrides)
        return ArrayConfig(**kw)


def _steps(top: float, step: float) -> list[float]:
    n = max(1, math.ceil(top / step - 1e-9))
    return [0.0] + [top * k / n for k in range(1, n + 1)]
