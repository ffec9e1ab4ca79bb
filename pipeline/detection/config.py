"""Typed, frozen configuration of station processing (detection, onset, polarisation, amplitudes).

All times are in seconds, frequencies in Hz, angles in degrees, velocities in km/s. Every field
has a documented default; :meth:`DetectionConfig.local` is a preset for dense local networks
(100 Hz, distances < ~100 km), tuned on the Iceland demo data. :class:`AutoDetection` (the
default of ``[detection] preset = "auto"``) chooses per station between that preset, the
single-station local scales :meth:`DetectionConfig.auto_local` and the regional scales
:meth:`DetectionConfig.auto_regional` from the data (sampling rate, station spacing).

The models are pydantic (``frozen=True, extra="forbid"``) so that :mod:`pipeline.settings` can
embed them in a TOML section unchanged; they can also be built directly in Python::

    cfg = DetectionConfig(sta_s=0.5, lta_s=10.0, chunk_s=600.0)

Defaults that are *our choice* (no authoritative IDC value was available) are marked
"(project default)". The mb band, the 5.5 s mb window and the Wood-Anderson constants follow
REFERENCE.md section 1 (SeisComP mb(IDC), KITOV17, obspy WOODANDERSON).
"""
from __future__ import annotations

import math
from functools import lru_cache
from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Band = tuple[float, float]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def _check_bands(bands: tuple[Band, ...]) -> tuple[Band, ...]:
    for lo, hi in bands:
        if not (0 < lo < hi):
            raise ValueError(f"band ({lo}, {hi}) Hz: need 0 < fmin < fmax")
    return bands


class BandSet(_Frozen):
    """A filter bank used instead of :attr:`DetectionConfig.bands` for some data.

    A band set applies to a channel when its network is in :attr:`networks` (empty = any
    network) and its sampling rate lies in [:attr:`min_sampling_rate_hz`,
    :attr:`max_sampling_rate_hz`]. The first matching band set wins.
    """

    #: network codes this set applies to (empty tuple = every network)
    networks: tuple[str, ...] = ()
    #: lowest sampling rate (Hz, inclusive) this set applies to
    min_sampling_rate_hz: float = Field(0.0, ge=0)
    #: highest sampling rate (Hz, inclusive) this set applies to
    max_sampling_rate_hz: float = math.inf
    #: band-pass corners (fmin, fmax) in Hz
    bands: tuple[Band, ...]

    _v_bands = field_validator("bands")(classmethod(lambda cls, v: _check_bands(v)))

    def matches(self, network: str, sampling_rate: float) -> bool:
        return ((not self.networks or network in self.networks)
                and self.min_sampling_rate_hz <= sampling_rate <= self.max_sampling_rate_hz)


class SDetectionConfig(_Frozen):
    """S detection on the horizontal components (STA/LTA on horizontal energy
    ``N_f**2 + E_f**2`` of the band-passed horizontals)."""

    #: run S detection (needs both horizontals)
    enabled: bool = True
    #: band-pass corners for the horizontals, Hz (project default)
    band_hz: Band = (1.0, 8.0)
    #: STA length, s
    sta_s: float = Field(1.0, gt=0)
    #: LTA length, s (recursive LTA)
    lta_s: float = Field(30.0, gt=0)
    #: trigger-on threshold of the horizontal STA/LTA ratio
    trigger_on: float = Field(4.0, gt=1)
    #: trigger-off threshold
    trigger_off: float = Field(1.5, gt=0)
    #: AIC search window around the trigger: (seconds before, seconds after), s
    aic_window_s: tuple[float, float] = (3.0, 1.0)

    _v_band = field_validator("band_hz")(classmethod(lambda cls, v: _check_bands((v,))[0]))


class PolarisationConfig(_Frozen):
    """3-C polarisation (covariance matrix, Jurkevics 1988) and the P/S phase hint.

    Phase hint, method ``"energy_jump"`` (default): with ``E_H`` the horizontal and ``E_Z`` the
    vertical energy of the band-passed data, the "jump" of a component is the ratio of its mean
    energy in :attr:`hint_window_s` after the onset to that in :attr:`noise_s` before it. An
    arrival is hinted ``S`` when ``log10(jump_H / jump_Z) > s_min_log_jump``, else ``P``: a P
    wave raises the vertical relatively more, an S wave the horizontals. Being a ratio of ratios
    it does not depend on channel gains or on the site's usual H/V ratio. On the Iceland demo
    picks it separates QuakeMigrate's P and S picks better (ROC AUC 0.99) than the apparent
    incidence (0.93). Method ``"incidence"``: ``P`` when the apparent incidence of the principal
    polarisation axis is below :attr:`p_max_incidence_deg`.
    """

    #: polarisation analysis window after the onset, s
    window_s: float = Field(2.0, gt=0)
    #: data before the analysed windows used only to let the band-pass settle, s
    settle_s: float = Field(5.0, ge=0)
    #: phase-hint method: "energy_jump" or "incidence"
    hint_method: str = Field("energy_jump", pattern="^(energy_jump|incidence)$")
    #: window after the onset for the energy jump, s
    hint_window_s: float = Field(1.0, gt=0)
    #: window before the onset for the energy jump (pre-arrival level), s
    noise_s: float = Field(5.0, gt=0)
    #: band-pass for the energy jump, Hz (None = the band of the detection)
    hint_band_hz: Band | None = None
    #: S when log10(jump_H / jump_Z) exceeds this value
    s_min_log_jump: float = 0.0
    #: "incidence" method: P below this apparent incidence, deg from vertical (project default)
    p_max_incidence_deg: float = Field(50.0, gt=0, lt=90)
    #: near-surface S velocity (km/s) for the apparent slowness from the apparent P incidence
    #: (Wiechert: ``p = sin(i_app / 2) / vs``); 3.46 km/s = iasp91 upper crust (project default)
    surface_vs_km_s: float = Field(3.46, gt=0)


class AmplitudeConfig(_Frozen):
    """Amplitude measurements; only made when an inventory with responses is given.

    mb (IDC "A5/2"): vertical, ground displacement (``remove_response(output="DISP")``),
    Butterworth band-pass :attr:`mb_band_hz`, half the largest peak-to-trough inside
    :attr:`mb_window_s` relative to the onset, nm; period = 2 x (trough time - peak time), s.

    ML (Wood-Anderson): each horizontal is corrected to ground velocity
    (``remove_response(output="VEL")``) and passed through obspy's ``WOODANDERSON`` poles and
    zeros with static magnification 1 (sensitivity 1 instead of 2080); the amplitude is the
    largest zero-to-peak value of both horizontals, nm. For an ``S`` detection the window is
    :attr:`wa_window_s_s` around the S onset; for a ``P`` detection :attr:`wa_window_p_s` after
    the P onset (so for local events it includes the S wave).
    """

    #: mb band-pass corners, Hz (IDC: 0.8-4.5 Hz)
    mb_band_hz: Band = (0.8, 4.5)
    #: Butterworth order of the mb band-pass (causal) (project default; IDC order not found)
    mb_corners: int = Field(3, ge=1, le=8)
    #: mb measurement window relative to the onset (start, end), s (IDC: 5.5 s after onset)
    mb_window_s: tuple[float, float] = (0.0, 5.5)
    #: WA window relative to an S onset (start, end), s (project default)
    wa_window_s_s: tuple[float, float] = (-0.5, 10.0)
    #: WA window relative to a P onset (start, end), s (project default)
    wa_window_p_s: tuple[float, float] = (0.0, 30.0)
    #: data taken before a measurement window for response removal and filter settling, s
    margin_s: float = Field(30.0, gt=0)
    #: data taken after a WA measurement window, s: only what the 5 % taper of the response
    #: removal needs. The frequency-domain response removal and WA simulation are not causal:
    #: a much larger arrival inside this margin leaks back into the window (measured on the
    #: Iceland demo: an ML 1.34 event followed 11 s later by one ~1000x larger read ML 2.2 with
    #: a 10 s margin, 1.6 with 3 s). An S window also ends at the station's next P detection
    #: (a new event), and so does this margin (project default)
    wa_end_margin_s: float = Field(5.0, gt=0)
    #: ``pre_filt`` low corners (f1, f2) of the response removal, Hz
    pre_filt_low_hz: tuple[float, float] = (0.2, 0.4)
    #: ``pre_filt`` high corners (f3, f4) as fractions of the Nyquist frequency
    pre_filt_high_nyquist: tuple[float, float] = (0.8, 0.95)
    #: ``water_level`` of the response removal, dB
    water_level_db: float = 60.0

    @model_validator(mode="after")
    def _end_margin_covers_the_taper(self) -> "AmplitudeConfig":
        longest = max(self.wa_window_p_s[1] - self.wa_window_p_s[0],
                      self.wa_window_s_s[1] - self.wa_window_s_s[0])
        taper = 0.05 * (self.margin_s + longest + self.wa_end_margin_s)
        if self.wa_end_margin_s < taper:
            raise ValueError(f"amplitudes.wa_end_margin_s {self.wa_end_margin_s} s is shorter than the "
                             f"5 % taper of the response removal ({taper:.2f} s): the taper would reach "
                             "into the WA window")
        return self


class DetectionConfig(_Frozen):
    """Station processing configuration (DFX-like). Units: s, Hz, degrees.

    Detection: for each band of the filter bank, the vertical (or 3-C energy, see
    :attr:`characteristic`) is band-passed (causal Butterworth, :attr:`filter_corners`), a
    recursive STA/LTA is computed (obspy's C implementation) and triggered with
    :attr:`trigger_on` / :attr:`trigger_off`. Triggers of all bands closer than
    :attr:`min_separation_s` are one detection; the band with the highest STA/LTA peak wins.
    """

    #: default filter bank: band-pass corners (fmin, fmax), Hz. Bands whose fmax exceeds
    #: :attr:`max_nyquist_fraction` x Nyquist are skipped for that channel.
    bands: tuple[Band, ...] = ((2.0, 16.0), (1.0, 8.0), (0.8, 4.5), (4.0, 20.0))
    #: filter banks for particular networks / sampling rates (first match wins)
    band_sets: tuple[BandSet, ...] = ()
    #: highest usable band corner as a fraction of the Nyquist frequency
    max_nyquist_fraction: float = Field(0.9, gt=0, le=1)
    #: Butterworth order of the detection bands (causal filters)
    filter_corners: int = Field(3, ge=1, le=8)
    #: characteristic function input: the vertical, or sqrt(Z^2 + N^2 + E^2) of the band-passed
    #: components ("energy3c")
    characteristic: str = Field("vertical", pattern="^(vertical|energy3c)$")
    #: STA length, s
    sta_s: float = Field(1.0, gt=0)
    #: LTA length, s (recursive: its memory decays as exp(-t / lta_s))
    lta_s: float = Field(30.0, gt=0)
    #: the LTA starts from the noise at the start of each contiguous segment (event windows:
    #: an arrival a few seconds after the start can trigger), but no trigger is taken until it
    #: has averaged this much data, s (None = two STA lengths: the LTA is then at least as
    #: reliable as the STA it divides)
    lta_warmup_s: float | None = Field(None, ge=0)
    #: STA/LTA trigger-on threshold
    trigger_on: float = Field(4.0, gt=1)
    #: STA/LTA trigger-off threshold
    trigger_off: float = Field(1.5, gt=0)
    #: minimum separation of two detections of the same phase hint on one station, s
    min_separation_s: float = Field(2.0, ge=0)
    #: AIC onset refinement window around the trigger time: (seconds before, seconds after)
    aic_window_s: tuple[float, float] = (3.0, 1.0)
    #: SNR windows (noise before, signal after the onset), s: the output ``snr`` is the RMS
    #: amplitude ratio of the band-passed detecting component(s) in these windows
    snr_window_s: tuple[float, float] = (5.0, 2.0)
    #: detections whose amplitude SNR (see :attr:`snr_window_s`) is below this are dropped
    min_snr: float = Field(1.5, ge=0)
    #: ... for detections inside the coda of an earlier arrival (see :attr:`coda_level`), whose
    #: SNR is measured against that coda (None = :attr:`min_snr`)
    min_snr_in_coda: float | None = Field(None, ge=0)
    #: second, narrower AIC pass around the first AIC onset (before, after), s; None = one pass
    aic_refine_s: tuple[float, float] | None = (1.0, 0.5)
    #: filter used for the AIC window: "zerophase" (forward + backward pass over a local window,
    #: no group delay; measured -0.03 s median bias against NCEDC analyst picks) or "causal"
    #: (no energy before the onset, but a delay of the order of 1/(2 pi fc): +0.1 s on Iceland)
    aic_filter: str = Field("zerophase", pattern="^(zerophase|causal)$")
    #: an S hint needs a P-hinted detection at most this many seconds earlier on the station;
    #: otherwise the detection is taken as a first arrival and hinted P (None = off). 120 s
    #: covers S-P times to ~12 deg (project default; longer look-backs need more padding)
    max_s_minus_p_s: float | None = Field(120.0, gt=0)
    #: ... unless its energy jump (see :class:`PolarisationConfig`) exceeds the S threshold by
    #: more than this (clear S waves stay S even when their P was not detected)
    sequence_keep_s_log_jump: float = 0.5
    #: a vertical detection hinted P and a horizontal one hinted S closer than this (s) are one
    #: arrival, S when the horizontals' SNR exceeds the vertical's (an S wave seen on the vertical
    #: too, a little before the horizontals' onset) and P otherwise (P energy on the horizontals).
    #: Only for networks whose S-P times all exceed it (S-P ~ hypocentral distance / 8 km/s in
    #: the crust). None = ``min_separation_s / 4`` with the P always kept (at most
    #: ``min_separation_s``)
    min_s_minus_p_s: float | None = Field(None, gt=0)
    #: phase hint of detections on vertical-only sensors (no polarisation possible)
    vertical_only_phase: str = "P"
    #: one P per onset: a P detection is in the coda of the previous P when the vertical's RMS
    #: amplitude just before it (``snr_window_s[0]``) exceeds this many times the noise before
    #: that P (same band); such a detection is not a new P (None = off, every trigger may be a P)
    coda_level: float | None = Field(2.0, gt=1)
    #: ... unless the RMS amplitude after it (``snr_window_s[1]``) exceeds the coda level before
    #: it this many times: a new event starting inside the coda of an earlier one
    new_event_ratio: float = Field(6.0, gt=1)
    #: how far back (s) a P detection looks for the P whose coda it may be in (None =
    #: ``max_s_minus_p_s``, or 120 s)
    coda_lookback_s: float | None = Field(None, gt=0)
    #: phase name given to coda detections (e.g. "X"); None = they are dropped
    coda_phase: str | None = None
    #: an S-hinted detection that rose out of noise with no P detection up to
    #: ``max_s_minus_p_s`` before it, and that is followed by arrivals in its coda, is the first
    #: arrival of its event: it becomes the P (with :attr:`coda_level`)
    first_arrival_p: bool = True
    #: chunk length for parallel processing, s (None or 0 = one chunk for the whole range).
    #: Every chunk is read with ``pad_s`` on both sides, so the padding costs
    #: ``2 * pad_s / chunk_s`` extra filtering (2.8 % at 6 h, 17 % at 1 h), and each chunk has a
    #: fixed cost (slicing, per-chunk trigger refinement): 6 h (project default; was 1 h) keeps
    #: both small, still gives 4 parallel tasks per station-day, and a task's 3-C float64
    #: samples stay below ~60 MB at 100 Hz
    chunk_s: float | None = Field(21600.0, ge=0)
    #: padding read on both sides of a chunk, s. Must cover the LTA, the filter settling and the
    #: windows and look-backs around an onset (:meth:`required_pad_s`, checked); with a
    #: recursive LTA the influence of the chunk start decays as exp(-pad_s / lta_s), so
    #: pad_s >= 10 x lta_s makes the STA/LTA at the chunk start chunk-independent to 5e-5.
    #: 360 s (was 300 s before the one-P-per-onset look-back, which needs two look-backs)
    pad_s: float = Field(360.0, ge=0)
    #: shortest contiguous 3-C segment processed, s (shorter pieces between gaps are skipped)
    min_segment_s: float = Field(10.0, gt=0)
    #: S detection on the horizontals
    s_detection: SDetectionConfig = SDetectionConfig()
    #: 3-C polarisation
    polarisation: PolarisationConfig = PolarisationConfig()
    #: amplitude measurements (mb A5/2, Wood-Anderson)
    amplitudes: AmplitudeConfig = AmplitudeConfig()
    #: obspy ``method_id`` / provenance tag written on picks
    method: str = "idc-pipeline/detection/stalta-aic"

    @field_validator("bands")
    @classmethod
    def _v_bands(cls, v):
        if not v:
            raise ValueError("the filter bank needs at least one band")
        return _check_bands(v)

    @model_validator(mode="after")
    def _v_pad(self):
        if self.trigger_off >= self.trigger_on:
            raise ValueError(f"trigger_off ({self.trigger_off}) must be below trigger_on ({self.trigger_on})")
        if self.sta_s >= self.lta_s:
            raise ValueError(f"sta_s ({self.sta_s}) must be shorter than lta_s ({self.lta_s})")
        if self.min_s_minus_p_s is not None and self.min_s_minus_p_s > self.min_separation_s:
            raise ValueError(f"min_s_minus_p_s ({self.min_s_minus_p_s}) must not exceed "
                             f"min_separation_s ({self.min_separation_s})")
        need = self.required_pad_s()
        if self.chunk_s and self.pad_s < need:
            raise ValueError(f"pad_s = {self.pad_s} s is too short: need >= {need:.1f} s "
                             "(LTA + filter settling + amplitude/AIC windows)")
        return self

    # ------------------------------------------------------------------ helpers
    def required_pad_s(self) -> float:
        """Smallest admissible padding, s: LTA length + filter settling (10 periods of the
        lowest band corner) + the longest stretch read or looked back at around an onset
        (amplitude and SNR windows, AIC windows, the S-after-P look-back)."""
        fmin = min(lo for lo, _ in self.all_bands())
        lta = max([self.stalta_s(b)[1] for b in self.all_bands()] + [self.stalta_s(None, s=True)[1]])
        a = self.amplitudes
        pc = self.polarisation
        window = max(a.margin_s + max(a.mb_window_s[1], a.wa_window_p_s[1], a.wa_window_s_s[1]),
                     self.aic_window_s[0] + pc.settle_s + pc.noise_s,
                     self.snr_window_s[0] + 10.0 / fmin,
                     self.context_s())
        return lta + 10.0 / fmin + window

    def context_s(self) -> float:
        """How far (s) a trigger can be from an onset and still change it: AIC windows, merges
        and suppression within ``min_separation_s`` (chained), the S-after-P look-back and the
        one-P-per-onset look-back (twice: the detection that started a sequence depends on the
        one before it)."""
        aic = max(self.aic_window_s[0], self.s_detection.aic_window_s[0])
        if self.aic_refine_s:
            aic += self.aic_refine_s[0]
        return (max(self.max_s_minus_p_s or 0.0, self.coda_lookback()) + self.coda_lookback()
                + 4.0 * self.min_separation_s
                + 2.0 * aic + 1.0)

    def coda_lookback(self) -> float:
        """Look-back of the one-P-per-onset rule, s (see :attr:`coda_lookback_s`)."""
        if self.coda_level is None:
            return 0.0
        return self.coda_lookback_s or self.max_s_minus_p_s or 120.0

    def stalta_s(self, band: Band | None = None, s: bool = False) -> tuple[float, float]:
        """(STA, LTA) lengths in seconds of the vertical bank, or with ``s=True`` of the S
        detector (the same in every band)."""
        return (self.s_detection.sta_s, self.s_detection.lta_s) if s else (self.sta_s, self.lta_s)

    def warmup_s(self, sta_s: float | None = None) -> float:
        """Data a segment needs before its first trigger, s (see :attr:`lta_warmup_s`), for an
        STA of ``sta_s`` seconds (default :attr:`sta_s`)."""
        if self.lta_warmup_s is not None:
            return self.lta_warmup_s
        return 2.0 * (self.sta_s if sta_s is None else sta_s)

    def all_bands(self) -> tuple[Band, ...]:
        out = list(self.bands) + [self.s_detection.band_hz]
        for bs in self.band_sets:
            out += list(bs.bands)
        return tuple(out)

    def bands_for(self, network: str, sampling_rate: float) -> tuple[Band, ...]:
        """The filter bank for a channel of ``network`` sampled at ``sampling_rate`` Hz, without
        bands above :attr:`max_nyquist_fraction` x Nyquist."""
        bands = self.bands
        for bs in self.band_sets:
            if bs.matches(network, sampling_rate):
                bands = bs.bands
                break
        limit = self.max_nyquist_fraction * sampling_rate / 2.0
        return tuple(b for b in bands if b[1] <= limit)

    @classmethod
    def local(cls, **overrides) -> "DetectionConfig":
        """Preset for dense local networks (100 Hz, S-P times of 1-10 s), tuned on the Iceland
        demo data (QuakeMigrate benchmark): short STA/LTA, S detection with a short LTA, 1 s
        separation, WA window after P of 20 s. A vertical P and a horizontal S less than 1 s
        apart are one arrival, decided by SNR (``min_s_minus_p_s``; S-P >= 1 s assumed): on the
        Iceland demo, of the vertical-P / horizontal-S pairs closer than 1.2 s that matched a
        QuakeMigrate pick, 55 were an S wave also picked (as P) on the vertical, with the
        horizontals' SNR higher in most, and 25 a P; QuakeMigrate's modelled S-P times there
        are >= 1.7 s."""
        base = dict(
            bands=((2.0, 16.0), (1.0, 8.0), (4.0, 20.0), (8.0, 30.0)),
            sta_s=0.1, lta_s=3.0, trigger_on=3.5, trigger_off=2.5,
            min_separation_s=1.0, min_s_minus_p_s=1.0, max_s_minus_p_s=10.0,
            sequence_keep_s_log_jump=0.3,
            aic_window_s=(1.0, 0.3), aic_refine_s=(0.4, 0.3), snr_window_s=(2.0, 0.5),
            min_snr=1.2, coda_level=None,
            chunk_s=600.0, pad_s=60.0,
            s_detection=SDetectionConfig(band_hz=(1.0, 15.0), sta_s=0.1, lta_s=3.0,
                                         trigger_on=3.0, trigger_off=2.5, aic_window_s=(1.0, 0.3)),
            polarisation=PolarisationConfig(window_s=0.2, settle_s=2.0, hint_window_s=0.5,
                                            noise_s=2.0, hint_band_hz=(2.0, 16.0),
                                            s_min_log_jump=-0.1, surface_vs_km_s=2.0),
            amplitudes=AmplitudeConfig(wa_window_p_s=(0.0, 20.0), wa_window_s_s=(-0.5, 5.0),
                                       margin_s=10.0, wa_end_margin_s=3.0, pre_filt_low_hz=(0.5, 1.0)),
        )
        base.update(overrides)
        return cls(**base)

    @classmethod
    def auto_local(cls, **overrides) -> "DetectionConfig":
        """Scales of the ``"auto"`` preset for dense local networks (:class:`AutoDetection`).

        Starts from :meth:`local` (bands up to 30 Hz, short AIC/SNR/polarisation windows, S-P
        of 1-10 s, WA window of 20 s after P) and was tuned for event windows and single
        stations on the NCEDC picker set (PhaseNet windows, 100 Hz, analyst picks; 60 s crops
        of ``make_picker_set.py``, three crop seeds), with the Iceland and NORSAR data held out:
        a 0.3 s STA with a 5 s LTA started from the leading noise, trigger 4 / 2.5, an
        amplitude SNR of 2.5 for arrivals that rise out of noise and 1.5 for arrivals inside
        a coda, one P per onset (:attr:`coda_level`)."""
        base = cls.local().model_dump()
        base.update(sta_s=0.5, lta_s=10.0, trigger_on=4.0, trigger_off=2.0, min_snr=2.5,
                    min_snr_in_coda=1.5, new_event_ratio=6.0, coda_level=2.0)
        return cls.model_validate(_deep_update(base, overrides))

    @classmethod
    def auto_regional(cls, **overrides) -> "DetectionConfig":
        """Scales of the ``"auto"`` preset for regional/teleseismic broadband and IMS stations
        (20-40 Hz; :class:`AutoDetection`): the defaults of this class (1 s STA, 30 s LTA started
        from the leading noise, bands of 0.8-16 Hz, S-P up to 120 s, one P per onset) with the
        SNR rule of :meth:`auto_local` (2.5 for an onset out of noise, 1.5 inside a coda). On
        the real GR.FUR 20 Hz day this cuts the detections from 6.2 to 1.2 per hour."""
        base = cls().model_dump()
        base.update(min_snr=2.5, min_snr_in_coda=1.5)
        return cls.model_validate(_deep_update(base, overrides))


def _deep_update(base: dict, overrides: dict) -> dict:
    """``base`` with ``overrides`` applied; nested tables (s_detection, polarisation,
    amplitudes) are updated key by key."""
    out = dict(base)
    for k, v in overrides.items():
        out[k] = _deep_update(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


class AutoDetection(_Frozen):
    """The ``"auto"`` preset: a :class:`DetectionConfig` chosen per station from its data.

    Three sets of scales (STA/LTA, trigger, AIC, SNR, polarisation and amplitude windows, S-P
    look-backs, chunking):

    * ``"local-network"`` (:meth:`DetectionConfig.local`): a station of a dense local network,
      i.e. one whose nearest neighbour in the processed data is at most
      :attr:`local_max_spacing_km` away (station coordinates known: an inventory). Its
      detections are confirmed or discarded by the association across the network (at least
      four stations), so the scales favour completeness: amplitude SNR 1.2, every trigger kept.
    * ``"local-station"`` (:meth:`DetectionConfig.auto_local`): no station coordinates and
      sampled at :attr:`local_min_sampling_rate_hz` or faster (local short-period or broadband
      recording, 8-30 Hz bands usable). Each detection stands on its own (a single station,
      event windows), so the scales favour precision: SNR 2.5 for an onset out of noise, one P
      per onset.
    * ``"regional"`` (:meth:`DetectionConfig.auto_regional`): everything else (broadband and
      IMS stations at 20-40 Hz, stations farther apart than :attr:`local_max_spacing_km`).

    Within each set, bands above 0.9 x Nyquist are dropped and the S band is limited to it.
    :attr:`overrides` (any DetectionConfig field) are applied on top of every set: the manual
    settings win.
    """

    #: a station whose nearest neighbour is at most this far (km) belongs to a dense local
    #: network (project default: events inside such a network have S-P times below ~10 s)
    local_max_spacing_km: float = Field(50.0, gt=0)
    #: without station coordinates: sampling rates (Hz) from which a station is taken as local
    #: (project default: 8-30 Hz bands need >= ~70 Hz; IMS/broadband data are 20-40 Hz)
    local_min_sampling_rate_hz: float = Field(80.0, gt=0)
    #: DetectionConfig fields set on top of the chosen scales
    overrides: dict = {}

    #: the regimes and the DetectionConfig class method that gives their scales
    REGIMES: ClassVar[dict[str, str]] = {"local-network": "local", "local-station": "auto_local",
                                         "regional": "auto_regional"}

    @model_validator(mode="after")
    def _v_overrides(self) -> "AutoDetection":
        for regime in self.REGIMES:
            _regime_config(regime, _freeze(self.overrides))
        return self

    def regime(self, sampling_rate_hz: float, spacing_km: float | None = None) -> str:
        """``"local-network"``, ``"local-station"`` or ``"regional"`` for a station sampled at
        ``sampling_rate_hz`` (Hz) whose nearest other station is ``spacing_km`` away (None =
        unknown)."""
        if spacing_km is not None and math.isfinite(spacing_km):
            return "local-network" if spacing_km <= self.local_max_spacing_km else "regional"
        return "local-station" if sampling_rate_hz >= self.local_min_sampling_rate_hz else "regional"

    def resolve(self, sampling_rate_hz: float, spacing_km: float | None = None) -> DetectionConfig:
        """The :class:`DetectionConfig` of such a station (see :meth:`regime`)."""
        return _regime_config(self.regime(sampling_rate_hz, spacing_km), _freeze(self.overrides))

    @property
    def pad_s(self) -> float:
        """The largest padding of the sets, s (data to read around a window)."""
        return max(_regime_config(r, _freeze(self.overrides)).pad_s for r in self.REGIMES)


def _freeze(v):
    """A hashable form of an overrides dict (for the cache of :func:`_regime_config`)."""
    if isinstance(v, dict):
        return tuple(sorted((k, _freeze(x)) for k, x in v.items()))
    if isinstance(v, list):
        return tuple(_freeze(x) for x in v)
    return v


def _thaw(v):
    if isinstance(v, tuple) and v and all(isinstance(x, tuple) and len(x) == 2 and isinstance(x[0], str)
                                          for x in v):
        return {k: _thaw(x) for k, x in v}
    return v


@lru_cache(maxsize=64)
def _regime_config(regime: str, overrides: tuple) -> DetectionConfig:
    kw = _thaw(overrides) if overrides else {}
    if regime == "local-network":  # the local preset replaces nested tables whole: update them here
        base = DetectionConfig.local().model_dump()
        return DetectionConfig.model_validate(_deep_update(base, kw))
    return getattr(DetectionConfig, AutoDetection.REGIMES[regime])(**kw)
