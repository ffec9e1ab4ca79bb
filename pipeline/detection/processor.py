"""Station processing (IDC "DFX"): waveforms of one station -> detections (picks DataFrame).

Per station, per sensor (location + band/instrument code) and per contiguous segment where all
its components have data:

1. **Detection on the vertical**: for every band of the filter bank
   (:meth:`DetectionConfig.bands_for`) causal Butterworth band-pass, recursive STA/LTA
   (:func:`~pipeline.detection.stalta.sta_lta`: obspy's C recursion, with the LTA started from
   the leading noise so that a segment can trigger from its first seconds: event windows),
   :func:`~pipeline.detection.stalta.trigger_onsets` (exactly obspy's ``trigger_onset``,
   faster); triggers of all bands whose on-times are closer than
   ``min_separation_s`` are one detection, the band with the highest STA/LTA peak wins.
2. **S detection on the horizontals**: recursive STA/LTA of the horizontal energy
   ``N_f**2 + E_f**2`` in the S band (limited to 0.9 x Nyquist).
3. **Onset refinement**: AIC picker (:mod:`pipeline.detection.onset`) on the winning band's
   (zero-phase, by default) band-passed vertical, or on both horizontals (summed AIC curves)
   for the S detector, in ``aic_window_s`` around the trigger, then in ``aic_refine_s`` around
   the first AIC onset. Vectorised over all triggers of a band.
4. **3-C attributes** in short windows after each onset: covariance-matrix polarisation
   (:mod:`pipeline.detection.polarisation`: rectilinearity, incidence, and for P backazimuth
   and apparent slowness), the horizontal/vertical energy jump that gives the phase hint
   (:class:`~pipeline.detection.config.PolarisationConfig`), and amplitude SNRs.
5. **Phase logic**: vertical and horizontal detections of one arrival (closer than
   ``min_separation_s``) are merged (P keeps the vertical onset, S the horizontal one); an S
   hint without a P-hinted detection up to ``max_s_minus_p_s`` earlier becomes P (first
   arrival) unless its energy jump is clearly S; detections of one phase hint closer than
   ``min_separation_s`` keep the higher STA/LTA peak. Then, in time order
   (:func:`_onset_sequences`), **one P per onset**: a detection that rises out of noise needs
   ``min_snr``; one inside the coda of the arrival that started the current sequence (energy
   before it above ``coda_level`` times the noise before that arrival) needs
   ``min_snr_in_coda`` and is a later phase, never a new P, unless it is a much larger new
   event (``new_event_ratio``) or P-type motion after the sequence's S (the next event of a
   swarm); S-hinted ones stay S, P-hinted ones are dropped (or labelled ``coda_phase``).
6. **Amplitudes** (only with an inventory): IDC mb "A5/2" on the vertical for P detections,
   Wood-Anderson on the horizontals for P and S (see :mod:`pipeline.detection.amplitudes`).

:func:`detect` runs this for every (station, chunk) pair in parallel with dask and keeps from
each chunk only the detections whose onset lies in the chunk's own, unpadded interval. The
chunks follow each station's actual data spans (:func:`data_spans`), so data years apart cost
what their samples cost; with the ``"auto"`` preset (:class:`AutoDetection`) each station gets
its configuration from its sampling rate and station spacing (:func:`station_configs`). Every
computation around a trigger uses samples at fixed offsets from it, so, given enough padding,
the result does not depend on the chunk length (tested to one sample).

Speed (``bench/station_processing.py``): the full-rate band-passes (scipy ``sosfilt``, bound by
the latency of the filter recursion: ~25 ms per band for a 40 Hz station-day) dominate;
everything else avoids copies and per-sample Python: samples are passed to the filters as
views of the input traces (integers are converted inside the filter's own copy), triggers
are searched with one comparison per band, per-trigger windows are gathered through sliding
window views, and merges use bisection.

Output: the picks DataFrame of :mod:`pipeline.picks` (``normalise_picks`` applied) with these
meanings: ``time`` AIC onset (epoch s); ``channel`` the vertical for P, the horizontal with more
energy for S; ``time_uncertainty`` s (:func:`onset_uncertainty`); ``snr`` RMS amplitude ratio
of the band-passed detecting component(s) after/before the onset (``snr_window_s``);
``amplitude`` / ``period`` IDC A5/2 in nm / s (P only); ``amp_wa`` / ``amp_wa_period``
Wood-Anderson zero-to-peak in nm at magnification 1 / s (P: window after the P onset, S: window
around the S onset; see :class:`~pipeline.detection.config.AmplitudeConfig`); ``backazimuth``
(deg) and ``slowness`` (s/deg) from 3-C polarisation, P only; ``incidence`` (deg) and
``rectilinearity`` for both phases; ``pick_id`` a hash of channel, phase and time (stable
across re-runs).
"""
from __future__ import annotations

import bisect
import hashlib
import logging
import math
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import pandas as pd
from numpy.lib.stride_tricks import as_strided, sliding_window_view
from obspy import Inventory, Stream, Trace, UTCDateTime
from obspy.signal.rotate import rotate2zne

from pipeline.detection.amplitudes import CachedResponse, mb_amplitude, wa_amplitude
from pipeline.detection.config import AutoDetection, DetectionConfig
from pipeline.detection.onset import aic_curves
from pipeline.detection.polarisation import NAN_POLARISATION, Polarisation, polarisation_batch
from pipeline.detection.stalta import bandpass, merge_triggers, stalta_triggers
from pipeline.picks import PICK_COLUMNS, empty_picks, normalise_picks

log = logging.getLogger(__name__)

#: component letter -> role (Z vertical, N/E horizontals; 1/2 are rotated when possible)
_ROLE = {"Z": "Z", "N": "N", "1": "N", "E": "E", "2": "E"}
_STANDARD = {"Z": (0.0, -90.0), "N": (0.0, 0.0), "E": (90.0, 0.0)}


# --------------------------------------------------------------------------- data layout
@dataclass
class _Segment:
    """Contiguous samples of one sensor (shared time grid of its components)."""

    t0: UTCDateTime
    fs: float
    seed: dict[str, str]  # role -> SEED id
    data: dict[str, np.ndarray]  # role -> samples (counts, rotated to ZNE if possible); int or
    # float, read-only views of the input traces where possible (never modified in place)
    responses: dict[str, object] = field(default_factory=dict)  # role -> obspy Response
    oriented: bool = True  # horizontals are true N/E (backazimuth meaningful)

    @property
    def npts(self) -> int:
        return len(self.data["Z"])

    @property
    def three_c(self) -> bool:
        return "N" in self.data and "E" in self.data

    def time(self, i: float) -> UTCDateTime:
        return self.t0 + i / self.fs


@dataclass
class _Detection:
    index: int  # onset sample
    phase: str
    snr: float
    band: tuple[float, float]
    source: str  # "Z" (vertical bank) or "H" (horizontal S detector)
    channel_role: str
    pol: Polarisation = NAN_POLARISATION
    uncertainty: float = math.nan
    snr_amp: float = math.nan  # RMS amplitude ratio after / before the onset (output snr)
    snr_z: float = math.nan  # ... of the vertical
    snr_h: float = math.nan  # ... of the horizontals
    hz_jump: float = math.nan  # log10 of (horizontal energy jump / vertical energy jump)
    partner: "_Detection | None" = None  # the other component's detection of the same arrival


def _intervals(traces: list[Trace]) -> list[tuple[UTCDateTime, UTCDateTime]]:
    return [(tr.stats.starttime, tr.stats.endtime) for tr in traces]


def _intersect(a: list[tuple], b: list[tuple]) -> list[tuple]:
    out = []
    for s0, e0 in a:
        for s1, e1 in b:
            s, e = max(s0, s1), min(e0, e1)
            if e > s:
                out.append((s, e))
    return sorted(out)


def _cut(traces: list[Trace], t0: UTCDateTime, n: int) -> np.ndarray | None:
    for tr in traces:
        s = tr.stats
        i0 = int(round((t0 - s.starttime) * s.sampling_rate))
        if 0 <= i0 and i0 + n <= s.npts:
            d = np.asarray(tr.data[i0:i0 + n])
            # a view (no copy) for the usual sample types: the band-passes convert to float64
            # as they copy anyway
            return d if d.dtype.kind in "iuf" else d.astype(np.float64)
    return None


def _segments(group: dict[str, list[Trace]], inventory: Inventory | None,
              config: DetectionConfig) -> list[_Segment]:
    """Contiguous segments where every component of the sensor has data (a sensor with
    incomplete horizontals is processed as vertical-only). Responses and orientations are taken
    from ``inventory`` at the start of the data; components whose orientation differs from
    Z up / N / E (or with codes 1/2) are rotated to Z, N, E when the inventory gives it."""
    fs = group["Z"][0].stats.sampling_rate
    roles = [r for r in ("Z", "N", "E") if r in group
             and all(abs(tr.stats.sampling_rate - fs) < 1e-6 * fs for tr in group[r])]
    if roles != ["Z", "N", "E"]:
        roles = ["Z"]  # horizontals incomplete or at another rate: vertical-only processing
    spans = _intervals(group["Z"])
    for r in roles[1:]:
        spans = _intersect(spans, _intervals(group[r]))
    seed = {r: group[r][0].id for r in roles}
    responses, orient = {}, {}
    mid = group["Z"][0].stats.starttime
    if inventory is not None:
        for r in roles:
            try:
                responses[r] = CachedResponse.wrap(inventory.get_response(seed[r], mid))
            except Exception:  # noqa: BLE001 - obspy raises a bare Exception when no response matches: amplitudes NaN
                pass
            try:
                o = inventory.get_orientation(seed[r], mid)
                orient[r] = (float(o["azimuth"]), float(o["dip"]))
            except Exception:  # noqa: BLE001 - obspy raises a bare Exception when no channel matches: not rotated
                pass
    comps = {r: group[r][0].stats.channel[-1] for r in roles}
    standard_codes = all(comps[r] == r for r in roles)
    need_rotation = len(roles) == 3 and len(orient) == 3 and any(
        abs(orient[r][0] - _STANDARD[r][0]) % 360 > 0.5 or abs(orient[r][1] - _STANDARD[r][1]) > 0.5
        for r in roles)
    # backazimuths need true N/E: standard codes, or any codes with the inventory's orientation
    oriented = standard_codes or len(orient) == 3
    out = []
    min_n = int(config.min_segment_s * fs)
    for s, e in spans:
        # snap the start onto the vertical's sample grid
        ztr = next(tr for tr in group["Z"] if tr.stats.starttime <= s + 0.5 / fs and tr.stats.endtime >= s)
        i0 = int(math.ceil((s - ztr.stats.starttime) * fs - 1e-6))
        t0 = ztr.stats.starttime + i0 / fs
        n = int(math.floor((e - t0) * fs + 1e-6)) + 1
        if n < min_n:
            continue
        data = {}
        for r in roles:
            d = _cut(group[r], t0, n)
            if d is None:
                break
            data[r] = d
        if len(data) != len(roles):
            continue
        if need_rotation:
            z, n_, e_ = rotate2zne(data["Z"], *orient["Z"], data["N"], *orient["N"], data["E"], *orient["E"])
            data = {"Z": z, "N": n_, "E": e_}
        out.append(_Segment(t0, fs, seed, data, responses, oriented))
    return out


def _sensor_groups(stream: Stream) -> dict[tuple, dict[str, list[Trace]]]:
    groups: dict[tuple, dict[str, list[Trace]]] = defaultdict(lambda: defaultdict(list))
    # only masked traces (gaps) need splitting (Trace.split copies the data otherwise)
    traces = [t for tr in stream for t in (tr.split() if np.ma.isMaskedArray(tr.data) else [tr])]
    for tr in traces:
        role = _ROLE.get(tr.stats.channel[-1:].upper())
        if role is None or tr.stats.npts < 2:
            continue
        s = tr.stats
        groups[(s.network, s.station, s.location, s.channel[:-1])][role].append(tr)
    return {k: dict(v) for k, v in groups.items() if "Z" in v}


# --------------------------------------------------------------------------- one candidate
def onset_uncertainty(snr: float, band: tuple[float, float], fs: float) -> float:
    """1-sigma onset uncertainty, s: ``0.4 / fc * (1 + 2 / snr)`` with ``fc`` the geometric
    centre of the detecting band (Hz) and ``snr`` the RMS amplitude SNR, bounded to
    [2 samples, 1 s]. Empirical: on the 50 NCEDC analyst-picked windows (PhaseNet data,
    tests/test_detection.py) about two thirds of the AIC onsets lie within this value of the
    analyst pick; the error there hardly depends on SNR, so the SNR term is mild."""
    fc = math.sqrt(band[0] * band[1])
    snr = snr if snr > 0 and math.isfinite(snr) else 1.0
    s = 0.4 / fc * (1.0 + 2.0 / max(snr, 1.0))
    return float(min(1.0, max(2.0 / fs, s)))


def _windows(y: np.ndarray, starts: np.ndarray, n: int) -> np.ndarray:
    """``y[c, :, starts[c]:starts[c] + n]`` for every window ``c`` (a gather through a sliding
    window view: no index arrays of the full output size), shape ``(n_windows, n_rows, n)``.

    :param y: windows, shape ``(n_windows, n_rows, n_samples)``; ``starts``: one per window,
        ``0 <= start <= n_samples - n`` (as ``sliding_window_view(y, n, axis=2)``, built
        directly: this runs a dozen times per band and chunk, on small arrays)
    """
    if n > y.shape[2]:
        raise ValueError(f"window of {n} samples longer than the data ({y.shape[2]})")
    s0, s1, s2 = y.strides
    view = as_strided(y, shape=(y.shape[0], y.shape[1], y.shape[2] - n + 1, n),
                      strides=(s0, s1, s2, s2), writeable=False)
    return view[np.arange(y.shape[0]), :, starts]


def _energy(y2: np.ndarray, starts: np.ndarray, n: int) -> np.ndarray:
    """Mean energy over the rows and over samples ``[start, start + n)`` of each window.

    :param y2: *squared* samples, shape ``(n_windows, n_rows, n_samples)`` (squared once by
        the caller, as the same data serve several windows); ``starts``: one per window
    """
    part = _windows(y2, starts, n)
    return np.add.reduce(part, axis=(1, 2)) / (part.shape[1] * part.shape[2])  # = np.mean


def _ratio(after: np.ndarray, before: np.ndarray) -> np.ndarray:
    """sqrt(after / before) (an RMS amplitude ratio from mean energies); inf when before = 0."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(before > 0, np.sqrt(after / np.where(before > 0, before, 1.0)), np.inf)


def _gains(seg: _Segment, roles: tuple[str, ...]) -> np.ndarray:
    """1 / overall sensitivity per component (1 when unknown), so that all components are in
    one unit (m/s) before they are compared."""
    scale = np.ones(len(roles))
    for q, r in enumerate(roles):
        resp = seg.responses.get(r)
        if resp is None:
            continue
        try:
            scale[q] = 1.0 / float(resp.instrument_sensitivity.value)
        except (AttributeError, TypeError, ValueError, ZeroDivisionError):  # incomplete response: stay in counts
            pass
    return scale


def _reflect(idx: np.ndarray, n: int) -> np.ndarray:
    """Sample indices reflected into ``[0, n)`` (``-1 -> 1``, ``n -> n - 2``; periodic beyond)."""
    if n < 2:
        return np.zeros_like(idx)
    period = 2 * (n - 1)
    idx = np.mod(idx, period)
    return np.where(idx >= n, period - idx, idx)


def _candidates(seg: _Segment, ons: list[int], peaks: list[float], band: tuple[float, float],
                source: str, window: tuple[float, float], config: DetectionConfig) -> list[_Detection]:
    """Refine and describe triggers at samples ``ons`` (all of one band and source): AIC
    onset, polarisation, energy jump and amplitude SNRs, vectorised over the triggers.

    Each trigger gets one local window of the 3-C data at fixed offsets from its trigger
    sample, band-passed once, so nothing depends on where the segment or chunk starts as long
    as the window fits (near segment edges the data are extended with their edge value). The
    onset uses the vertical for ``source == "Z"`` and both horizontals (summed AIC curves) for
    ``"H"``; the AIC runs on the zero-phase (or causal, ``config.aic_filter``) band-passed data,
    the other attributes on the causal band-passed data."""
    if not ons:
        return []
    fs = seg.fs
    pc = config.polarisation
    settle = int(3.0 / band[0] * fs)
    refine = config.aic_refine_s or (0.0, 0.0)
    n_pre = int((window[0] + refine[0]) * fs)
    n_post = int((window[1] + refine[1]) * fs)
    n_before = int(max(pc.noise_s, config.snr_window_s[0]) * fs)
    n_after = int(max(pc.window_s, pc.hint_window_s, config.snr_window_s[1]) * fs) + 1
    zero_phase = config.aic_filter == "zerophase"
    lead = n_pre + n_before + settle
    length = lead + n_post + n_after + (settle if zero_phase else 0) + 2
    roles = ("Z", "N", "E") if seg.three_c else ("Z",)
    ons_a = np.asarray(ons, dtype=np.int64)
    n = ons_a.size
    gains = _gains(seg, roles)[None, :, None]
    if n and ons_a.min() - lead >= 0 and ons_a.max() - lead + length <= seg.npts:
        # all windows inside the data: gather through sliding window views (no index array)
        x = np.stack([sliding_window_view(seg.data[r], length)[ons_a - lead] for r in roles], axis=1) * gains
    else:
        # near segment ends the data are extended by reflection (the leading noise mirrored, not
        # a constant that would make the noise before an early onset vanish and its SNR infinite)
        idx = _reflect((ons_a - lead)[:, None] + np.arange(length)[None, :], seg.npts)
        x = np.stack([seg.data[r][idx] for r in roles], axis=1) * gains
    f = bandpass(x, band[0], band[1], fs, config.filter_corners)
    rows = [0] if source == "Z" or not seg.three_c else [1, 2]
    g = f[:, rows]
    if zero_phase:
        g = bandpass(g[..., ::-1], band[0], band[1], fs, config.filter_corners)[..., ::-1]
    # AIC: first pass around the trigger, second (refine) pass around the first onset
    s0, s1 = lead - int(window[0] * fs), lead + int(window[1] * fs) + 1
    curve = sum(aic_curves(g[:, r, s0:s1]) for r in range(len(rows)))
    k = np.where(np.isfinite(curve.min(axis=1)), s0 + np.argmin(curve, axis=1), lead)
    if config.aic_refine_s is not None:
        r0, w2 = int(refine[0] * fs), int(refine[0] * fs) + int(refine[1] * fs) + 1
        sub = _windows(g, k - r0, w2)
        curve2 = sum(aic_curves(sub[:, r]) for r in range(len(rows)))
        k = np.where(np.isfinite(curve2.min(axis=1)), k - r0 + np.argmin(curve2, axis=1), k)
    n_noise_snr, n_sig_snr = int(config.snr_window_s[0] * fs), int(config.snr_window_s[1] * fs)
    f2 = f * f
    snr_z = _ratio(_energy(f2[:, :1], k, n_sig_snr), _energy(f2[:, :1], k - n_noise_snr, n_noise_snr))
    dets = [_Detection(i, "P", float(p), band, source, "Z", snr_z=sz)
            for i, p, sz in zip((ons_a - lead + k).tolist(), peaks, snr_z.tolist())]
    if not seg.three_c:
        return dets
    snr_h = _ratio(_energy(f2[:, 1:], k, n_sig_snr), _energy(f2[:, 1:], k - n_noise_snr, n_noise_snr))
    n_win = int(pc.window_s * fs) + 1
    pw = _windows(f, k, n_win)
    pol = polarisation_batch(pw, pc.surface_vs_km_s)
    if not seg.oriented:
        for key in ("backazimuth", "backazimuth_uncertainty", "azimuth"):
            pol[key] = np.full(n, np.nan)
    hb = pc.hint_band_hz
    h2 = f2
    if hb is not None and tuple(hb) != tuple(band) and hb[1] < 0.5 * fs:
        h = bandpass(x, hb[0], hb[1], fs, config.filter_corners)
        h2 = h * h
    n_noise, n_hint = int(pc.noise_s * fs), int(pc.hint_window_s * fs) + 1
    jz = _ratio(_energy(h2[:, :1], k, n_hint), _energy(h2[:, :1], k - n_noise, n_noise))
    jh = _ratio(_energy(h2[:, 1:], k, n_hint), _energy(h2[:, 1:], k - n_noise, n_noise))
    with np.errstate(divide="ignore", invalid="ignore"):
        jump = 2.0 * (np.log10(jh) - np.log10(jz))  # log10 of the ratio of energy jumps
    e_n = np.einsum("cj,cj->c", pw[:, 1], pw[:, 1])
    e_e = np.einsum("cj,cj->c", pw[:, 2], pw[:, 2])
    pol_rows = zip(*(pol[key].tolist() for key in Polarisation.__dataclass_fields__))
    jump = np.where(np.isfinite(jump), jump, np.nan).tolist()
    north = (e_n >= e_e).tolist()
    for c, (d, prow) in enumerate(zip(dets, pol_rows)):
        d.snr_h = float(snr_h[c])
        d.pol = Polarisation(*prow)
        d.hz_jump = jump[c]
        if source == "H":
            d.channel_role = "N" if north[c] else "E"
    return dets


def _hint(d: _Detection, config: DetectionConfig) -> str:
    """Phase hint from the 3-C data (see :class:`PolarisationConfig`)."""
    pc = config.polarisation
    if pc.hint_method == "energy_jump":
        if math.isnan(d.hz_jump):
            return "P"
        return "S" if d.hz_jump > pc.s_min_log_jump else "P"
    if math.isnan(d.pol.incidence):
        return "P"
    return "P" if d.pol.incidence < pc.p_max_incidence_deg else "S"


# --------------------------------------------------------------------------- one segment
def _process_segment(seg: _Segment, config: DetectionConfig, lo: float = -math.inf,
                     hi: float = math.inf) -> list[_Detection]:
    """Detections of one segment. Only triggers within :meth:`DetectionConfig.context_s` of the
    onset range ``[lo, hi)`` (epoch s) are refined and classified: those further away cannot
    change the detections inside the range."""
    fs = seg.fs
    t0 = float(seg.t0.timestamp)
    ctx = config.context_s()
    i_lo, i_hi = (lo - ctx - t0) * fs, (hi + ctx - t0) * fs
    net = seg.seed["Z"].split(".")[0]
    bands = config.bands_for(net, fs)
    if not bands:
        log.warning("%s: no band of the filter bank fits %.3g Hz sampling", seg.seed["Z"], fs)
        return []
    min_sep = max(1, int(round(config.min_separation_s * fs)))
    # 1. vertical (or 3-C energy) filter bank
    triggers = []
    for b, (lo, hi) in enumerate(bands):
        zf = bandpass(seg.data["Z"], lo, hi, fs, config.filter_corners)
        y = zf
        if config.characteristic == "energy3c" and seg.three_c:
            nf = bandpass(seg.data["N"], lo, hi, fs, config.filter_corners)
            ef = bandpass(seg.data["E"], lo, hi, fs, config.filter_corners)
            y = np.sqrt(zf * zf + nf * nf + ef * ef)
        sta, lta = config.stalta_s((lo, hi))
        triggers += stalta_triggers(y, fs, sta, lta, config.trigger_on,
                                    config.trigger_off, band=b, warmup_s=config.warmup_s(sta))
    dets: list[_Detection] = []
    kept = [t for t in merge_triggers(triggers, min_sep) if i_lo <= t.on <= i_hi]
    for b, band in enumerate(bands):
        sel = [t for t in kept if t.band == b]
        dets += _candidates(seg, [t.on for t in sel], [t.peak for t in sel], band, "Z",
                            config.aic_window_s, config)
    # 2. S detection on the horizontal energy
    sdc = config.s_detection
    s_band = (sdc.band_hz[0], min(sdc.band_hz[1], config.max_nyquist_fraction * fs / 2))
    if seg.three_c and sdc.enabled and s_band[1] > 1.5 * s_band[0]:
        lo, hi = s_band  # limited to the usable band of the data
        env = bandpass(seg.data["N"], lo, hi, fs, config.filter_corners)
        ef = bandpass(seg.data["E"], lo, hi, fs, config.filter_corners)
        env *= env
        ef *= ef
        env += ef
        del ef
        np.sqrt(env, out=env)  # sqrt(N_f**2 + E_f**2), in place
        sta, lta = config.stalta_s(s_band, s=True)
        sel = [t for t in merge_triggers(stalta_triggers(env, fs, sta, lta, sdc.trigger_on, sdc.trigger_off,
                                                         band=-1, warmup_s=config.warmup_s(sta)), min_sep)
               if i_lo <= t.on <= i_hi]
        dets += _candidates(seg, [t.on for t in sel], [t.peak for t in sel], s_band, "H",
                            sdc.aic_window_s, config)
    # 3. phase hints, merge of vertical and horizontal detections of one arrival
    for d in dets:
        d.phase = _hint(d, config) if seg.three_c else config.vertical_only_phase
    sp = (None if config.min_s_minus_p_s is None
          else max(1, int(round(config.min_s_minus_p_s * fs))))
    arrivals = _merge_arrivals(dets, min_sep, sp)
    _sequence_hints(arrivals, config, fs)
    # 4. one detection per phase hint within min_separation (highest STA/LTA wins)
    out: list[_Detection] = []
    for phase in sorted({d.phase for d in arrivals}):
        kept_at: list[int] = []  # sorted onset samples of the kept detections
        for d in sorted((d for d in arrivals if d.phase == phase), key=lambda d: (-d.snr, d.index)):
            j = bisect.bisect_left(kept_at, d.index)
            if ((j == len(kept_at) or kept_at[j] - d.index >= min_sep)
                    and (j == 0 or d.index - kept_at[j - 1] >= min_sep)):
                kept_at.insert(j, d.index)
                out.append(d)
    for d in out:
        d.snr_amp = d.snr_h if d.phase == "S" and seg.three_c else d.snr_z
        d.uncertainty = onset_uncertainty(d.snr_amp, d.band, fs)
    # digital zeros before the onset (infinite SNR: the start of data after a zero-filled
    # stretch, not an arrival) or an onset refined to outside the data
    out = [d for d in out if math.isfinite(d.snr_amp) and 0 < d.index < seg.npts]
    out = _onset_sequences(seg, sorted(out, key=lambda d: (d.index, d.phase)), config)
    return sorted(out, key=lambda d: (d.index, d.phase))


def _band_energies(seg: _Segment, band: tuple[float, float], windows: list[tuple[int, int]],
                   config: DetectionConfig) -> list[float]:
    """Mean ground-motion energy, causally band-passed in ``band``, in each sample window
    ``[i0, i1)``: of the vertical, or the sum over the three components of a 3-C sensor (in one
    unit, see :func:`_gains`). One local stretch is filtered, starting far enough before the
    first window for the filter to settle, so the values do not depend on where the segment
    starts."""
    settle = int(3.0 / band[0] * seg.fs)
    lo = max(0, min(w[0] for w in windows) - settle)
    hi = min(seg.npts, max(w[1] for w in windows))
    roles = ("Z", "N", "E") if seg.three_c else ("Z",)
    x = np.stack([seg.data[r][lo:hi] for r in roles]) * _gains(seg, roles)[:, None]
    y = bandpass(x, band[0], band[1], seg.fs, config.filter_corners)
    y = np.einsum("ij,ij->j", y, y)
    out = []
    for i0, i1 in windows:
        i0, i1 = max(i0 - lo, 0), min(i1 - lo, y.size)
        out.append(float(y[i0:i1].mean()) if i1 > i0 else math.nan)
    return out


def _onset_sequences(seg: _Segment, dets: list[_Detection], config: DetectionConfig) -> list[_Detection]:
    """SNR threshold and one P detection per onset, from the energy history of the station.

    Detections are taken in time order. A detection ``d`` at most
    :meth:`~DetectionConfig.coda_lookback` seconds after the detection ``f`` that started the
    current sequence is *in the coda* of ``f`` when, on the ground motion band-passed in
    ``d``'s band (:func:`_band_energies`: all components of a 3-C sensor), the mean energy
    ``pre`` just before ``d`` (``snr_window_s[0]``, not reaching back before ``f`` and ending a
    quarter of the signal window before ``d``) exceeds ``coda_level**2`` times the noise
    ``base`` before ``f``.

    * A detection that is not in a coda rises out of noise: it needs an SNR (``snr`` output,
      after / before its onset) of at least ``min_snr`` and then starts a new sequence.
    * A detection in a coda needs ``min_snr_in_coda`` (its own SNR is measured against the coda,
      so a later arrival is held to a lower bar than a lone noise wiggle). It starts a new
      sequence as a *new event* when the energy ``post`` after it (``snr_window_s[1]``)
      exceeds ``new_event_ratio**2`` times both ``pre`` and the energy after ``f`` (a larger
      event inside the coda; an S wave seldom exceeds its P on the vertical that much), or when
      it is hinted P on a 3-C sensor after an S-hinted arrival of the sequence (P-type motion
      after the S: the next event of a swarm). Otherwise it is a later phase of ``f``'s
      event: kept when hinted S (3-C evidence), else dropped, or kept as
      :attr:`~DetectionConfig.coda_phase` when that is set. A P detection is never a coda
      re-trigger.
    * When ``f`` is hinted S, has no P detection up to ``max_s_minus_p_s`` before it and a
      later arrival follows in its coda, ``f`` started a sequence of arrivals: it is the first
      arrival, the P (with its vertical onset when it has one; :attr:`first_arrival_p`).

    With ``coda_level=None`` only ``min_snr`` applies.
    """
    if config.coda_level is None:
        return [d for d in dets if d.snr_amp >= config.min_snr]
    min_later = config.min_snr if config.min_snr_in_coda is None else config.min_snr_in_coda
    fs = seg.fs
    n_noise = max(1, int(round(config.snr_window_s[0] * fs)))
    n_sig = max(1, int(round(config.snr_window_s[1] * fs)))
    # the level before ``d`` ends a quarter signal window before its onset: a late onset must
    # not count its own first cycles as coda
    guard = n_sig // 4
    look = config.coda_lookback() * fs
    s_p = (config.max_s_minus_p_s or math.inf) * fs
    out: list[_Detection] = []
    first: int | None = None  # position in ``out`` of the detection that started the sequence
    for d in dets:
        f = out[first] if first is not None else None
        in_coda = False
        if f is not None and 0 < d.index - f.index <= look:
            base, post_f, pre, post = _band_energies(
                seg, d.band, [(f.index - n_noise, f.index), (f.index, f.index + n_sig),
                              (max(f.index, d.index - n_noise), d.index - guard), (d.index, d.index + n_sig)],
                config)
            in_coda = pre > config.coda_level ** 2 * base
        if not in_coda:
            if d.snr_amp >= config.min_snr:
                first = len(out)
                out.append(d)
            continue
        if not d.snr_amp >= min_later:
            continue
        if config.first_arrival_p and f.phase == "S" and not _p_before(out, first, s_p):
            out[first] = f = _as_first_arrival(f, fs)
        if (post > config.new_event_ratio ** 2 * max(pre, post_f)
                or (d.phase == "P" and seg.three_c and any(x.phase == "S" for x in out[first:]))):
            first = len(out)
            out.append(d)
        elif d.phase == "S":
            out.append(d)
        elif config.coda_phase:
            d.phase = config.coda_phase
            out.append(d)
    return out


def _p_before(dets: list[_Detection], k: int, window: float) -> bool:
    """Whether a P detection precedes ``dets[k]`` by at most ``window`` samples."""
    return any(d.phase == "P" and 0 < dets[k].index - d.index <= window for d in dets[:k])


def _as_first_arrival(d: _Detection, fs: float) -> _Detection:
    """Detection ``d`` (hinted S) re-hinted P: its vertical partner's onset when it has one."""
    z = d.partner if d.source == "H" and d.partner is not None else d
    z.phase = "P"
    z.snr = max(z.snr, d.snr)
    z.snr_amp = z.snr_z
    z.uncertainty = onset_uncertainty(z.snr_amp, z.band, fs)
    return z


def _merge_arrivals(dets: list[_Detection], min_sep: int, min_sp: int | None = None) -> list[_Detection]:
    """Vertical ("Z") and horizontal ("H") detections closer than ``min_sep`` samples are one
    arrival. Its phase hint is that of the vertical detection (measured in the best band) and
    its onset is the vertical one for P, the horizontal one for S. A vertical P followed by a
    horizontal detection hinted S at least ``min_sp`` samples later stays two arrivals
    (``min_sp=None``: ``min_sep / 4``).

    With ``min_sp`` given (:attr:`DetectionConfig.min_s_minus_p_s`), a vertical P and a
    horizontal S closer than that are one arrival whose phase is decided by the components'
    SNRs: the S (horizontal onset) when the horizontals' SNR exceeds the vertical's -- an S
    wave also seen, slightly earlier, on the vertical -- else the P (P energy on the
    horizontals)."""
    by_snr = min_sp is not None
    min_sp = max(1, min_sep // 4) if min_sp is None else min_sp
    zs = sorted((d for d in dets if d.source == "Z"), key=lambda d: d.index)
    hs = sorted((d for d in dets if d.source == "H"), key=lambda d: d.index)
    out = []
    used = set()
    h_index = [h.index for h in hs]
    for z in zs:
        j0 = bisect.bisect_right(h_index, z.index - min_sep)
        j1 = bisect.bisect_left(h_index, z.index + min_sep)
        near = [j for j in range(j0, j1) if j not in used]
        if not near:
            out.append(z)
            continue
        j = min(near, key=lambda j: abs(hs[j].index - z.index))
        h = hs[j]
        used.add(j)
        if z.phase == "S":
            h.phase = "S"
            h.snr = max(h.snr, z.snr)
            h.partner = z
            out.append(h)
        elif h.phase == "S" and h.index - z.index >= min_sp:
            out += [z, h]
        elif by_snr and h.phase == "S" and h.snr_h > z.snr_z:
            h.snr = max(h.snr, z.snr)
            h.partner = z
            out.append(h)
        else:
            z.partner = h
            out.append(z)
    out += [h for j, h in enumerate(hs) if j not in used]
    return sorted(out, key=lambda d: d.index)


def _sequence_hints(arrivals: list[_Detection], config: DetectionConfig, fs: float) -> None:
    """An S hint needs a P-hinted arrival at most ``config.max_s_minus_p_s`` seconds earlier;
    otherwise the arrival is a first arrival and is hinted P (its vertical onset is used when
    the arrival has one). Changes ``arrivals`` in place."""
    if config.max_s_minus_p_s is None:
        return
    win = config.max_s_minus_p_s * fs
    last_p = -math.inf
    for i, d in enumerate(arrivals):
        if (d.phase == "S" and d.index - last_p > win
                and not d.hz_jump > config.polarisation.s_min_log_jump + config.sequence_keep_s_log_jump):
            z = d if d.source == "Z" else d.partner
            if z is None:
                d.phase = "P"
            else:
                z.phase, z.snr = "P", max(z.snr, d.snr)
                arrivals[i] = d = z
        if d.phase == "P":
            last_p = d.index


# --------------------------------------------------------------------------- amplitudes
def _raw_window(seg: _Segment, role: str, index: int, start_s: float, end_s: float) -> Trace | None:
    """Raw samples of ``role`` from ``start_s`` to ``end_s`` seconds relative to sample
    ``index`` (integer offsets: the window is the same whatever the segment start) as a Trace
    carrying the channel response; None without response or data."""
    resp = seg.responses.get(role)
    if resp is None:
        return None
    i0 = index + int(round(start_s * seg.fs))
    i1 = index + int(round(end_s * seg.fs)) + 1
    i0, i1 = max(0, i0), min(seg.npts, i1)
    if i1 - i0 < 16:
        return None
    net, sta, loc, cha = seg.seed[role].split(".")
    tr = Trace(seg.data[role][i0:i1].astype(np.float64), header=dict(
        network=net, station=sta, location=loc, channel=cha, sampling_rate=seg.fs,
        starttime=seg.t0 + i0 / seg.fs))
    tr.stats.response = resp
    return tr


def _amplitudes(seg: _Segment, d: _Detection, config: DetectionConfig,
                next_p_index: int | None = None) -> dict[str, float]:
    """mb and WA amplitudes of detection ``d``. An S detection's WA window ends at the next P
    detection of the station (``next_p_index``, samples): within one event the P comes
    first, so a P after an S is a new event's arrival (a swarm), and neither the window nor the
    data after it for the response removal may reach into it."""
    ac = config.amplitudes
    out = {"amplitude": math.nan, "period": math.nan, "amp_wa": math.nan, "amp_wa_period": math.nan,
           "amp_wa_time": math.nan}
    if not seg.responses:
        return out
    onset = seg.time(d.index)
    m = ac.margin_s
    try:
        if d.phase == "P":
            raw = _raw_window(seg, "Z", d.index, ac.mb_window_s[0] - m, ac.mb_window_s[1] + m)
            if raw is not None:
                out["amplitude"], out["period"] = mb_amplitude(raw, onset, ac)
        if seg.three_c:
            w = ac.wa_window_s_s if d.phase == "S" else ac.wa_window_p_s
            end_margin = ac.wa_end_margin_s
            if d.phase == "S" and next_p_index is not None:
                cut = (next_p_index - d.index) / seg.fs
                if cut < w[1] + end_margin:
                    w = (w[0], min(w[1], cut))
                    end_margin = max(cut - w[1], 0.0)
            hs = ([_raw_window(seg, r, d.index, w[0] - m, w[1] + end_margin) for r in ("N", "E")]
                  if w[1] > w[0] else [])
            hs = [h for h in hs if h is not None]
            if hs:
                out["amp_wa"], out["amp_wa_period"], out["amp_wa_time"] = wa_amplitude(
                    hs, onset + w[0], onset + w[1], ac)
    except Exception as exc:  # noqa: BLE001 - a bad response must not lose the detection; logged with the channel
        log.warning("%s: amplitude measurement failed at %s: %s", seg.seed["Z"], onset, exc)
    return out


# --------------------------------------------------------------------------- public API
def _pick_id(seed: str, phase: str, t: float) -> str:
    return hashlib.sha1(f"{seed}|{phase}|{t:.3f}".encode()).hexdigest()[:16]


def process_station(stream: Stream, inventory: Inventory | None, config: DetectionConfig | AutoDetection,
                    start: UTCDateTime | float | None = None,
                    end: UTCDateTime | float | None = None) -> pd.DataFrame:
    """Detections of one station (all its channels) whose onset lies in ``[start, end)``.

    :param stream: traces of one station, possibly with gaps (masked arrays are split);
        components ``Z``, ``N``/``1``, ``E``/``2`` of one location + band/instrument code form a
        sensor. Data outside ``[start, end)`` serve as padding (STA/LTA memory, filter settling,
        amplitude windows).
    :param inventory: station metadata with responses, or None (then every amplitude is NaN).
        Used for response removal, to rotate 1/2 components to N/E and to put the components
        into one unit for polarisation.
    :param config: :class:`~pipeline.detection.config.DetectionConfig`, or an
        :class:`~pipeline.detection.config.AutoDetection` (resolved from the sampling rate: one
        station has no spacing)
    :param start: / :param end: keep detections with ``start <= onset < end`` (None = no limit)
    :returns: picks DataFrame (:data:`pipeline.picks.PICK_COLUMNS`), sorted by time
    """
    if isinstance(config, AutoDetection):
        config = next(iter(station_configs(stream, None, config).values()), (None, config.resolve(100.0)))[1]
    rows = _station_rows(stream, inventory, config, start, end)
    if not rows:
        return empty_picks()
    return normalise_picks(pd.DataFrame(rows, columns=list(PICK_COLUMNS)))


def _station_rows(stream: Stream, inventory: Inventory | None, config: DetectionConfig,
                  start: UTCDateTime | float | None, end: UTCDateTime | float | None) -> list[dict]:
    """:func:`process_station` as a list of row dicts (what the dask tasks return: cheaper to
    build and to ship than one DataFrame per chunk)."""
    lo = -math.inf if start is None else float(UTCDateTime(start).timestamp)
    hi = math.inf if end is None else float(UTCDateTime(end).timestamp)
    rows = []
    for key, group in _sensor_groups(stream).items():
        for seg in _segments(group, inventory, config):
            t0 = float(seg.t0.timestamp)
            dets = _process_segment(seg, config, lo, hi)
            p_onsets = np.array(sorted(d.index for d in dets if d.phase == "P"), dtype=np.int64)
            for d in dets:
                t = t0 + d.index / seg.fs
                if not (lo <= t < hi):
                    continue
                net, sta, loc, cha = seg.seed[d.channel_role].split(".")
                p = d.pol
                is_p = d.phase == "P"
                row = dict(
                    network=net, station=sta, location=loc, channel=cha, phase=d.phase, time=t,
                    time_uncertainty=d.uncertainty, snr=d.snr_amp,
                    backazimuth=p.backazimuth if is_p else math.nan,
                    backazimuth_uncertainty=p.backazimuth_uncertainty if is_p else math.nan,
                    slowness=p.slowness if is_p else math.nan,
                    slowness_uncertainty=p.slowness_uncertainty if is_p else math.nan,
                    incidence=p.incidence, rectilinearity=p.rectilinearity,
                    pick_id=_pick_id(seg.seed[d.channel_role], d.phase, t))
                k = int(np.searchsorted(p_onsets, d.index, side="right"))
                row.update(_amplitudes(seg, d, config, int(p_onsets[k]) if k < p_onsets.size else None))
                rows.append(row)
    return rows


#: what one (station, chunk) task of :func:`detect_tasks` runs (public name for other stages'
#: task lists, e.g. :func:`pipeline.array.detect_network`)
station_rows = _station_rows


def chunk_intervals(start: UTCDateTime, end: UTCDateTime, chunk_s: float | None) -> list[tuple[UTCDateTime, UTCDateTime]]:
    """Split ``[start, end)`` into consecutive chunks of ``chunk_s`` seconds (the last one may
    be shorter); ``chunk_s`` None or 0 gives one chunk."""
    if not chunk_s or end - start <= chunk_s:
        return [(start, end)]
    n = int(math.ceil((end - start) / chunk_s - 1e-9))
    edges = [start + k * chunk_s for k in range(n)] + [end]
    return list(zip(edges[:-1], edges[1:]))


def merge_contiguous(stream: Stream) -> Stream:
    """Join each channel's contiguous or overlapping traces, *without filling gaps*.

    ``Stream.merge(method=1)`` represents a gap as masked samples, so two short windows recorded
    years apart become one masked array of the whole span (gigabytes). Here the traces of each
    channel (id and sampling rate) are sorted and cut into clusters that touch or overlap (next
    start at most 1.5 samples after the running end); each cluster is merged with obspy
    (``method=1``: overlapping samples are taken from the later trace), separate clusters stay
    separate traces. Memory is proportional to the samples, not to the time span.

    :param stream: traces in any order (not modified; single-trace clusters are not copied)
    :returns: a new Stream, sorted by id and start time
    """
    by_id: dict[tuple[str, float], list[Trace]] = defaultdict(list)
    for tr in stream:
        by_id[(tr.id, float(tr.stats.sampling_rate))].append(tr)
    out = Stream()
    for (_, fs), traces in sorted(by_id.items()):
        traces.sort(key=lambda tr: (tr.stats.starttime, tr.stats.endtime))
        cluster = [traces[0]]
        end = traces[0].stats.endtime
        for tr in traces[1:]:
            if tr.stats.starttime <= end + 1.5 / fs:
                cluster.append(tr)
                end = max(end, tr.stats.endtime)
                continue
            out += _merge_cluster(cluster)
            cluster, end = [tr], tr.stats.endtime
        out += _merge_cluster(cluster)
    return out


def _merge_cluster(traces: list[Trace]) -> Stream:
    if len(traces) == 1:
        return Stream(traces)
    st = Stream([tr.copy() for tr in traces])
    st.merge(method=1)
    return st


def data_spans(traces, join_s: float = 0.0) -> list[tuple[UTCDateTime, UTCDateTime]]:
    """Time spans covered by ``traces`` (the union of their [start, end] intervals), with spans
    closer than ``join_s`` seconds joined; sorted.

    :param traces: iterable of obspy Traces
    :param join_s: gaps shorter than this are bridged, s
    """
    ivs = sorted((tr.stats.starttime, tr.stats.endtime) for tr in traces)
    out: list[list[UTCDateTime]] = []
    for s0, s1 in ivs:
        if out and s0 - out[-1][1] <= join_s:
            out[-1][1] = max(out[-1][1], s1)
        else:
            out.append([s0, s1])
    return [(a, b) for a, b in out]


def detect(stream: Stream, inventory: Inventory | None = None,
           config: DetectionConfig | AutoDetection | None = None,
           start: UTCDateTime | None = None, end: UTCDateTime | None = None, client=None,
           num_workers: int | None = None, progress=None) -> pd.DataFrame:
    """Station processing of a multi-station stream, chunked and in parallel.

    Each station's data are cut into the spans they actually cover (:func:`data_spans`; gaps
    longer than ``2 * config.pad_s`` separate spans, so data years apart cost what their
    samples cost), restricted to ``[start, end)`` when given, and every span into chunks of
    ``config.chunk_s`` seconds. Every (station, chunk) pair is one task that sees the chunk
    plus ``config.pad_s`` seconds of padding on both sides and keeps only detections whose onset
    falls inside the chunk itself, so results do not depend on the chunk length. Tasks run with
    ``dask.delayed`` on the threaded scheduler (``num_workers`` threads, default: cpu count), or
    on a given ``dask.distributed.Client``.

    :param stream: waveforms (counts) of any number of stations; gaps as separate traces
        (:func:`merge_contiguous`) or masked arrays (``Stream.merge(method=1)``, which costs
        memory for the whole span)
    :param inventory: station metadata with responses, or None (amplitudes NaN)
    :param config: :class:`~pipeline.detection.config.DetectionConfig`, or
        :class:`~pipeline.detection.config.AutoDetection` (the default): one configuration per
        station from its sampling rate and, with ``inventory`` coordinates, its distance to
        the nearest other station (:func:`station_configs`)
    :param start: / :param end: time range of onsets to report (UTCDateTime)
    :param client: optional ``dask.distributed.Client``
    :param progress: optional tqdm-like bar: ``progress.reset(total=number of tasks)``, then
        ``progress.update(1)`` as each task finishes (threaded scheduler only)
    :returns: picks DataFrame (:data:`pipeline.picks.PICK_COLUMNS`), sorted by time
    """
    config = config or AutoDetection()
    tasks = detect_tasks(stream, inventory, config, start, end)
    if not tasks:
        return empty_picks()
    results = compute_tasks([(key, _station_rows, args) for key, args in tasks], client, num_workers, progress)
    rows = [row for part in results for row in part]
    if not rows:
        return empty_picks()
    return normalise_picks(pd.DataFrame(rows, columns=list(PICK_COLUMNS)))


def compute_tasks(tasks: list[tuple[str, Callable, tuple]], client=None, num_workers: int | None = None,
                  progress=None) -> list:
    """Run station-processing tasks ``(key, function, args)`` with ``dask.delayed``: on the
    threaded scheduler (``num_workers`` threads) or on a given ``dask.distributed.Client``;
    returns their results in the order of ``tasks``. ``progress``: see :func:`detect` (keys
    starting with ``detect-`` are counted)."""
    import dask

    delayed = [dask.delayed(fn, pure=False)(*args, dask_key_name=key) for key, fn, args in tasks]
    if not delayed:
        return []
    if client is not None:
        return list(client.gather(client.compute(delayed)))
    if progress is not None:
        from dask.callbacks import Callback

        class _Progress(Callback):
            def _posttask(self, key, result, dsk, state, id):
                if isinstance(key, str) and key.startswith("detect-"):
                    progress.update(1)

        progress.reset(total=len(delayed))
        with _Progress():
            return list(dask.compute(*delayed, scheduler="threads", num_workers=num_workers))
    return list(dask.compute(*delayed, scheduler="threads", num_workers=num_workers))


def station_spacing_km(inventory: Inventory | None, stations) -> dict[tuple[str, str], float]:
    """Distance (km) from each of ``stations`` (``(network, station)`` pairs) to the nearest
    other one of them, for those with coordinates in ``inventory`` (at least two needed)."""
    if inventory is None:
        return {}
    coords = {}
    for net in inventory:
        for sta in net:
            if (net.code, sta.code) in stations and sta.latitude is not None and sta.longitude is not None:
                coords[(net.code, sta.code)] = (float(sta.latitude), float(sta.longitude))
    if len(coords) < 2:
        return {}
    keys = list(coords)
    lat, lon = (np.radians(np.array([coords[k][i] for k in keys])) for i in (0, 1))
    # haversine on a 6371 km sphere
    a = (np.sin((lat[:, None] - lat[None, :]) / 2) ** 2
         + np.cos(lat[:, None]) * np.cos(lat[None, :]) * np.sin((lon[:, None] - lon[None, :]) / 2) ** 2)
    d = 2 * 6371.0 * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))
    np.fill_diagonal(d, np.inf)
    return {k: float(v) for k, v in zip(keys, d.min(axis=1))}


def station_configs(stream: Stream, inventory: Inventory | None, config: DetectionConfig | AutoDetection
                    ) -> dict[tuple[str, str], tuple[str, DetectionConfig]]:
    """The configuration of each station of ``stream``: ``(regime, DetectionConfig)`` where
    ``regime`` is ``"fixed"`` for a :class:`DetectionConfig`, else the :class:`AutoDetection`
    choice from the station's highest vertical sampling rate and its distance to the nearest
    other station of the stream (with ``inventory`` coordinates)."""
    rates: dict[tuple[str, str], float] = {}
    for tr in stream:
        key = (tr.stats.network, tr.stats.station)
        fs = float(tr.stats.sampling_rate)
        if _ROLE.get(tr.stats.channel[-1:].upper()) == "Z" or key not in rates:
            rates[key] = max(rates.get(key, 0.0), fs)
    if not isinstance(config, AutoDetection):
        return {k: ("fixed", config) for k in rates}
    spacing = station_spacing_km(inventory, set(rates))
    out = {}
    for k, fs in rates.items():
        regime = config.regime(fs, spacing.get(k))
        out[k] = (regime, config.resolve(fs, spacing.get(k)))
    return out


def detect_tasks(stream: Stream, inventory: Inventory | None, config: DetectionConfig | AutoDetection,
                 start: UTCDateTime | None = None, end: UTCDateTime | None = None) -> list[tuple[str, tuple]]:
    """The (station, chunk) tasks of :func:`detect`: ``(key, args of _station_rows)`` pairs.
    Chunks follow each station's data spans, so their number grows with the data, not with
    the time between the first and the last sample."""
    if not len(stream):
        return []
    lo = UTCDateTime(start) if start is not None else None
    hi = UTCDateTime(end) if end is not None else None
    by_station: dict[tuple[str, str], Stream] = defaultdict(Stream)
    for tr in stream:
        by_station[(tr.stats.network, tr.stats.station)].append(tr)
    configs = station_configs(stream, inventory, config)
    tasks = []
    for (net, sta), st in sorted(by_station.items()):
        cfg = configs[(net, sta)][1]
        pad = cfg.pad_s
        inv = inventory.select(network=net, station=sta) if inventory is not None else None
        if inv is not None and not len(inv.networks):
            inv = None
        c = 0
        for s0, s1 in data_spans(st, join_s=2.0 * pad):
            s1 = s1 + 1e-6  # the last sample is an onset candidate too
            if lo is not None:
                s0 = max(s0, lo)
            if hi is not None:
                s1 = min(s1, hi)
            if s1 <= s0:
                continue
            for c0, c1 in chunk_intervals(s0, s1, cfg.chunk_s):
                sub = st.slice(c0 - pad, c1 + pad)
                if len(sub):
                    tasks.append((f"detect-{net}.{sta}-{c}", (sub, inv, cfg, c0, c1)))
                    c += 1
    return tasks
