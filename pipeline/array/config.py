"""Typed, frozen configuration of array processing (beams, f-k, beam detection).

Units: s, Hz, s/deg for slowness, degrees for azimuths. Defaults marked "(project default)" are our
choice (no IDC value was available); the seismic defaults were tuned on the tuning half of the
NORSAR planted set (bench/array_validation.py), :meth:`ArrayConfig.infrasound` is a starting point
for infrasound arrays (trace velocities 0.25-0.45 km/s, i.e. 250-450 s/deg).
"""
from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

Band = tuple[float, float]


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
