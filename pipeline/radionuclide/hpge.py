"""Gamma spectrometry (particulate HPGe, also lab NaI/CsI spectra): energy and efficiency
calibration, peak search and fit with background, nuclide identification, activity (concentration)
with decay corrections, Currie decision threshold and MDC.

Steps (each a function; :func:`analyse` chains them):

1. **Peak width** ``FWHM(channel)``: the file's shape calibration when it has one, else estimated
   from the most prominent peaks (:func:`estimate_fwhm`, a fit of ``FWHM² = a + b·channel``).
2. **Background continuum**: SNIP clipping (Morháč et al. 1997) on the LLS-transformed spectrum
   with a window of 1.5 FWHM at each channel (:func:`snip_background`).
3. **Peak search**: maxima of the background-subtracted spectrum smoothed with a Gaussian of
   FWHM/4.7; a candidate is kept when its net counts over ±1.25 FWHM exceed
   ``min_significance`` standard deviations ``√(N + 2B)`` (:func:`find_peaks`).
4. **Peak fit**: neighbouring peaks (within 3 FWHM) are fitted together as Gaussians on a linear
   background by weighted least squares (scipy ``curve_fit``, Poisson weights); the fitted centroid,
   width and area replace the summed ones (a failed fit keeps the summation values, ``fitted=False``).
5. **Energy calibration**: the file's; otherwise :func:`auto_calibrate` finds the gain that lines
   the peaks up with the library lines of the nuclides expected (like becquerel's AutoCalibrator).
6. **Identification**: a library line is matched to a peak within ``max(match_tolerance_keV,
   match_tolerance_fwhm·FWHM)``; a nuclide is identified when its key line is matched.
7. **Activity**: ``A = N λ t_r / (ε I t_l (1 − e^(−λ t_r)))`` at acquisition start, and with a
   collection (PHD) the concentration ``A λ t_c / (V (1 − e^(−λ t_c)) e^(−λ t_p))``.
8. **Currie**: ``L_C = k √(B + Var B)`` (``Var B = B``: background from as many channels as the peak
   region), ``L_D = k² + 2 L_C`` (= 2.71 + 4.65 √B, Currie 1968), MDA/MDC = ``L_D`` through the
   same factors; the IDC's own particulate MDC definition was not found (REFERENCE.md §6.4).
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field, replace

import numpy as np

from pipeline.radionuclide.config import ParticulateConfig
from pipeline.radionuclide.decay import activity_to_concentration, counts_to_activity
from pipeline.radionuclide.nuclides import Nuclide, load_library

PEAK_HALF_WIDTH_FWHM = 1.25  # summation region ±1.25 FWHM (±2.94 σ: 99.7 % of a Gaussian)
_S = 2.0 * math.sqrt(2.0 * math.log(2.0))  # FWHM / σ


@dataclass(frozen=True)
class Peak:
    """One peak. Channels are fractional; energies keV; areas counts over the live time."""

    channel: float
    channel_sigma: float
    fwhm_channels: float
    net_area: float
    net_sigma: float
    background: float
    significance: float
    fitted: bool
    energy_keV: float | None = None
    energy_sigma_keV: float | None = None
    fwhm_keV: float | None = None
    nuclides: tuple[str, ...] = ()

    def as_dict(self) -> dict:
        return {"channel": round(self.channel, 3), "energy_keV": _r(self.energy_keV, 3),
                "energy_sigma_keV": _r(self.energy_sigma_keV, 3), "fwhm_keV": _r(self.fwhm_keV, 3),
                "net_counts": round(self.net_area, 1), "net_counts_sigma": round(self.net_sigma, 1),
                "background_counts": round(self.background, 1), "significance": round(self.significance, 2),
                "fitted": self.fitted, "nuclides": list(self.nuclides)}


def _r(v, n):
    return None if v is None else round(float(v), n)


# ------------------------------------------------------------------ widths and background


def fwhm_function(coefficients):
    """FWHM in channels at a channel from polynomial coefficients (lowest order first)."""
    c = np.asarray(coefficients, dtype=float)
    return lambda ch: np.maximum(np.polynomial.polynomial.polyval(np.asarray(ch, dtype=float), c), 1.0)


def estimate_fwhm(counts: np.ndarray, n_peaks: int = 12):
    """Estimate ``FWHM(channel)`` from the spectrum itself (no shape calibration): the spectrum is
    smoothed at a ladder of scales; at each scale, peaks more prominent than 5 noise standard
    deviations whose width (smoothing removed in quadrature) fits that scale are measured; the
    ``n_peaks`` most significant widths are fitted as ``FWHM² = a + b·channel`` with outliers
    (> 40 % off) dropped (a constant median when fewer than 3 remain). Returns a callable."""
    from scipy.ndimage import gaussian_filter1d

    c = np.asarray(counts, dtype=float)
    found: list[tuple[float, float, float]] = []  # (significance, channel, fwhm)
    for s in np.geomspace(1.0, max(2.0, len(c) / 100.0), 10):
        y = gaussian_filter1d(c, s)
        idx, prom, w = _maxima_widths(y, int(8 * s) + 4)
        if not len(idx):
            continue
        noise = np.sqrt(np.maximum(y[idx], 1.0) / (2.0 * math.sqrt(math.pi) * s))
        sig = prom / noise
        keep = sig > 5.0
        if not keep.any():
            continue
        idx, sig, w = idx[keep], sig[keep], w[keep]
        true = np.sqrt(np.maximum(w ** 2 - (_S * s) ** 2, 0.0))
        ok = (true > 1.2 * _S * s) & (true < 6.0 * _S * s) & (true > 1.5)
        found += [(float(g), float(i), float(t)) for g, i, t in zip(sig[ok], idx[ok], true[ok])]
    found.sort(reverse=True)
    uniq: list[tuple[float, float, float]] = []
    for g, i, t in found:
        if all(abs(i - j) > 0.5 * max(t, u) for _, j, u in uniq):
            uniq.append((g, i, t))
    uniq = uniq[:n_peaks]
    if not uniq:
        return lambda ch: np.full_like(np.asarray(ch, dtype=float), 3.0)
    return width_law(np.array([u[1] for u in uniq]), np.array([u[2] for u in uniq]))


def width_law(ch: np.ndarray, w: np.ndarray):
    """``FWHM(channel)`` fitted as ``FWHM² = a + b·channel`` to measured widths, outliers (> 40 %
    off) dropped; the median when fewer than 3 points remain or the law decreases."""
    ch, w = np.asarray(ch, dtype=float), np.asarray(w, dtype=float)
    keep = np.ones(len(ch), bool)
    a = b = None
    for _ in range(4):
        if keep.sum() < 3:
            break
        A = np.vstack([np.ones(keep.sum()), ch[keep]]).T
        (a, b), *_ = np.linalg.lstsq(A, w[keep] ** 2, rcond=None)
        model = np.sqrt(np.maximum(a + b * ch, 1.0))
        new = np.abs(w / model - 1) < 0.4
        if (new == keep).all():
            break
        keep = new
    if a is not None and keep.sum() >= 3 and b >= 0:
        return lambda x: np.sqrt(np.maximum(a + b * np.asarray(x, dtype=float), 1.0))
    med = float(np.median(w)) if len(w) else 3.0
    return lambda x: np.full_like(np.asarray(x, dtype=float), med)


def _maxima_widths(y: np.ndarray, window: int):
    """Local maxima of ``y`` with their prominence over the higher of the two minima within
    ``window`` channels and their full width at half that prominence (linear interpolation)."""
    n = len(y)
    i = np.flatnonzero((y[1:-1] > y[:-2]) & (y[1:-1] >= y[2:])) + 1
    out_i, out_p, out_w = [], [], []
    for k in i:
        lo, hi = max(k - window, 0), min(k + window + 1, n)
        left, right = y[lo:k + 1], y[k:hi]
        base = max(left.min(), right.min())
        prom = y[k] - base
        if prom <= 0:
            continue
        half = base + prom / 2
        li = np.flatnonzero(left[::-1] < half)
        ri = np.flatnonzero(right < half)
        if not len(li) or not len(ri):
            continue
        a, b = li[0], ri[0]  # steps from the maximum to the first sample below half height
        xl = k - a + (half - y[k - a]) / (y[k - a + 1] - y[k - a]) if y[k - a + 1] != y[k - a] else k - a
        xr = k + b - (half - y[k + b]) / (y[k + b - 1] - y[k + b]) if y[k + b - 1] != y[k + b] else k + b
        out_i.append(k)
        out_p.append(prom)
        out_w.append(xr - xl)
    return np.array(out_i, dtype=int), np.array(out_p), np.array(out_w)


def snip_background(counts: np.ndarray, half_window) -> np.ndarray:
    """SNIP background (Morháč et al. 1997) with a per-channel half window (channels), on the LLS
    transform ``log(log(√(y+1)+1)+1)`` so that peaks on a steep continuum are clipped evenly."""
    y = np.asarray(counts, dtype=float)
    v = np.log(np.log(np.sqrt(np.maximum(y, 0) + 1) + 1) + 1)
    w = np.asarray(half_window, dtype=int)
    n = len(v)
    for p in range(1, int(w.max()) + 1):
        i = np.arange(p, n - p)
        i = i[w[i] >= p]
        if len(i) == 0:
            continue
        v[i] = np.minimum(v[i], 0.5 * (v[i - p] + v[i + p]))
    return (np.exp(np.exp(v) - 1) - 1) ** 2 - 1


# ------------------------------------------------------------------ peak search and fit


def _smoothed(net: np.ndarray, sigma_ch: np.ndarray) -> np.ndarray:
    """Gaussian smoothing with a channel-dependent width (a few scales, nearest per channel)."""
    from scipy.ndimage import gaussian_filter1d

    scales = np.geomspace(max(sigma_ch.min(), 0.5), max(sigma_ch.max(), 0.6), 6)
    stack = np.vstack([gaussian_filter1d(net, s) for s in scales])
    pick = np.abs(np.log(sigma_ch[None, :] / scales[:, None])).argmin(axis=0)
    return stack[pick, np.arange(len(net))]


def find_peaks(counts: np.ndarray, fwhm, config: ParticulateConfig | None = None,
               min_channel: int = 0, fit=True) -> tuple[list[Peak], np.ndarray]:
    """Peaks of a spectrum (module docstring, steps 2–4). Returns (peaks by channel, background).

    :param fit: ``True`` fits every group of peaks, ``False`` none (summation values), or a
        predicate ``Peak -> bool``: only groups holding a peak it accepts are fitted (fits cost
        ~10 ms each; a long HPGe spectrum has hundreds of peaks)."""
    cfg = config or ParticulateConfig()
    y = np.asarray(counts, dtype=float)
    ch = np.arange(len(y))
    fw = np.asarray(fwhm(ch), dtype=float)
    # SNIP on the spectrum smoothed over ~half a FWHM: on raw low-count data it hugs the lower
    # envelope of the noise and the continuum comes out too low (false peaks on a flat tail)
    bkg = snip_background(_smoothed(y, fw / _S / 2.0), np.ceil(cfg.background_fwhm * 0.75 * fw).astype(int))
    # SNIP still sits ~0.7 σ below a noisy continuum (7 % at 100 counts/channel): add back the
    # running median of the residual over 8 FWHM (peaks take at most a third of such a window),
    # never more than one standard deviation of a channel (the bias is a noise effect)
    from scipy.ndimage import median_filter

    size = int(8 * np.median(fw)) | 1
    if size < len(y):
        corr = median_filter(y - bkg, size=size, mode="nearest")
        bkg = bkg + np.clip(corr, 0, np.sqrt(np.maximum(bkg, 1.0)))
    net = y - bkg
    sm = _smoothed(net, fw / _S / 2.0)
    cand = np.flatnonzero((sm[1:-1] > sm[:-2]) & (sm[1:-1] >= sm[2:]) & (sm[1:-1] > 0)) + 1
    peaks: list[Peak] = []
    for c in cand:
        if c < min_channel:
            continue
        h = PEAK_HALF_WIDTH_FWHM * fw[c]
        lo, hi = max(int(round(c - h)), 0), min(int(round(c + h)) + 1, len(y))
        n_net, b = net[lo:hi].sum(), max(bkg[lo:hi].sum(), 0.0)
        sig = math.sqrt(max(n_net, 0) + 2 * b) or 1.0
        if n_net / sig < cfg.min_significance:
            continue
        w = np.clip(net[lo:hi], 0, None)
        cen = float((w * ch[lo:hi]).sum() / w.sum()) if w.sum() > 0 else float(c)
        peaks.append(Peak(cen, fw[c] / _S / math.sqrt(max(n_net, 1)), float(fw[c]), float(n_net), sig, b,
                          n_net / sig, False))
    # one peak per FWHM: keep the more significant of two close candidates
    peaks.sort(key=lambda p: -p.significance)
    kept: list[Peak] = []
    for p in peaks:
        if all(abs(p.channel - q.channel) > 0.8 * q.fwhm_channels for q in kept):
            kept.append(p)
    kept.sort(key=lambda p: p.channel)
    if fit is False:
        return kept, bkg
    return fit_peaks(y, bkg, kept, cfg, None if fit is True else fit), bkg


def _gauss_model(n: int):
    def f(x, *p):
        out = p[-2] + p[-1] * x
        for k in range(n):
            a, mu, s = p[3 * k:3 * k + 3]
            out = out + a / (s * math.sqrt(2 * math.pi)) * np.exp(-0.5 * ((x - mu) / s) ** 2)
        return out
    return f


def fit_peaks(y: np.ndarray, bkg: np.ndarray, peaks: list[Peak], cfg: ParticulateConfig, select=None,
              width_range: tuple[float, float] = (0.6, 1.8)) -> list[Peak]:
    """Fit groups of neighbouring peaks (within 3 FWHM, at most 5 a group) as Gaussians on a
    linear background; with ``select``, only groups holding a selected peak."""
    from scipy.optimize import curve_fit

    out: list[Peak] = []
    i = 0
    while i < len(peaks):
        group = [peaks[i]]
        while i + len(group) < len(peaks) and \
                peaks[i + len(group)].channel - group[-1].channel < 3 * group[-1].fwhm_channels:
            group.append(peaks[i + len(group)])
            if len(group) == 5:
                break
        i += len(group)
        if select is not None and not any(select(p) for p in group):
            out.extend(group)
            continue
        lo = max(int(group[0].channel - 2.5 * group[0].fwhm_channels), 0)
        hi = min(int(group[-1].channel + 2.5 * group[-1].fwhm_channels) + 1, len(y))
        x = np.arange(lo, hi, dtype=float)
        yy = y[lo:hi]
        x0 = x.mean()
        p0, lb, ub = [], [], []
        for p in group:
            s = p.fwhm_channels / _S
            p0 += [max(p.net_area, 1.0), p.channel, s]
            lb += [0.0, p.channel - 0.5 * p.fwhm_channels, width_range[0] * s]
            ub += [np.inf, p.channel + 0.5 * p.fwhm_channels, width_range[1] * s]
        b0 = float(np.mean(bkg[lo:hi]))
        p0 += [b0, 0.0]
        lb += [-np.inf, -np.inf]
        ub += [np.inf, np.inf]
        model = _gauss_model(len(group))
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                # unbounded Levenberg-Marquardt (MINPACK: ~1 ms a fit); the result is checked below
                popt, pcov = curve_fit(lambda xx, *pp: model(xx - x0, *_shift(pp, x0, len(group))), x, yy,
                                       p0=p0, sigma=np.sqrt(np.maximum(yy, 1.0)), absolute_sigma=True,
                                       method="lm", maxfev=2000)
            perr = np.sqrt(np.clip(np.diag(pcov), 0, None))
            ok = np.all(np.isfinite(perr))
            for k in range(len(group)):
                a, mu, sg = popt[3 * k:3 * k + 3]
                ok &= bool(a > 0 and lb[3 * k + 1] <= mu <= ub[3 * k + 1] and lb[3 * k + 2] <= abs(sg) <= ub[3 * k + 2])
            if not ok:
                raise RuntimeError("fit outside the plausible range")
            popt = np.array(popt)
            popt[2:3 * len(group):3] = np.abs(popt[2:3 * len(group):3])
        except (RuntimeError, ValueError, TypeError):
            out.extend(group)
            continue
        for k, p in enumerate(group):
            a, mu, s = popt[3 * k:3 * k + 3]
            ea, emu = perr[3 * k], perr[3 * k + 1]
            half = PEAK_HALF_WIDTH_FWHM * s * _S
            bl = max(popt[-2] + popt[-1] * (mu - x0), 0.0) * 2 * half  # linear background under ±1.25 FWHM
            sig = math.sqrt(ea ** 2 + bl) if a > 0 else p.net_sigma
            out.append(Peak(float(mu), float(emu), float(s * _S), float(a), float(sig), float(bl),
                            float(a / sig) if sig > 0 else 0.0, True))
    return [p for p in out if p.significance >= cfg.min_significance]


def _shift(pp, x0, n):
    """Parameters with centroids relative to x0 (the linear background is about x0)."""
    q = list(pp)
    for k in range(n):
        q[3 * k + 1] = q[3 * k + 1] - x0
    return q


# ------------------------------------------------------------------ calibration


def auto_calibrate(peaks: list[Peak], lines: list[tuple[float, float]], tolerance: float = 0.03,
                   gain_range: tuple[float, float] = (0.01, 20.0), n_strongest: int = 8) -> tuple[float, float]:
    """Energy = offset + gain · channel lining the strongest peaks up with expected lines.

    :param lines: (energy_keV, intensity) of the lines expected (e.g. of the check sources)

    Every (peak, line) pair proposes a gain through the origin; the gain whose matches (peaks
    within ``tolerance``, relative, of a line) carry the most line intensity wins (ties: the smaller
    mean residual) — so the intense lines, not a chance alignment of weak ones, fix the scale.
    With two or more matched lines, offset and gain are then fitted by least squares (an offset
    absorbs a scintillator's non-proportional light yield); with one, the offset stays 0.
    Returns ``(offset_keV, gain_keV_per_channel)``; ValueError when nothing matches."""
    strong = sorted(peaks, key=lambda p: -p.significance)[:n_strongest]
    if not strong:
        raise ValueError("auto-calibration: no peaks")
    table = np.asarray(sorted(lines), dtype=float).reshape(-1, 2)
    en_lines, inten = table[:, 0], table[:, 1]
    best = None
    for p in strong:
        for e in en_lines:
            g = e / p.channel
            if not gain_range[0] <= g <= gain_range[1]:
                continue
            en = np.array([q.channel * g for q in strong])
            rel = np.abs(en[:, None] - en_lines[None, :]) / en_lines[None, :]
            j = rel.argmin(axis=1)
            m = rel[np.arange(len(strong)), j] < tolerance
            used = set(j[m])
            score = (float(sum(inten[k] for k in used)), -float(rel[np.arange(len(strong)), j][m].mean()))
            if best is None or score > best[0]:
                best = (score, g, m, j)
    if best is None:
        raise ValueError("auto-calibration: no gain lines the peaks up with the expected lines")
    _, g, m, j = best
    pairs = {}
    for q, ok, k in zip(strong, m, j):
        if ok and (k not in pairs or q.significance > pairs[k][2]):
            pairs[k] = (q.channel, en_lines[k], q.significance)
    if len(pairs) >= 2:
        c, e, _ = np.array(list(pairs.values())).T
        gain, off = np.polyfit(c, e, 1)
        return float(off), float(gain)
    return 0.0, float(g)


def efficiency_function(points):
    """Efficiency at an energy from (energy_keV, efficiency) points: piecewise linear in
    log(E)–log(ε), extended linearly (in log–log) beyond the first and last points."""
    pts = np.asarray(sorted((float(e), float(f)) for e, f in points if e > 0 and f > 0))
    if len(pts) < 2:
        raise ValueError("an efficiency curve needs at least two (energy, efficiency) points")
    le, lf = np.log(pts[:, 0]), np.log(pts[:, 1])

    def eff(energy):
        x = np.log(np.asarray(energy, dtype=float))
        y = np.interp(x, le, lf)
        y = np.where(x < le[0], lf[0] + (x - le[0]) * (lf[1] - lf[0]) / (le[1] - le[0]), y)
        y = np.where(x > le[-1], lf[-1] + (x - le[-1]) * (lf[-1] - lf[-2]) / (le[-1] - le[-2]), y)
        return np.exp(y)
    return eff


# ------------------------------------------------------------------ identification and activity


@dataclass(frozen=True)
class NuclideResult:
    """An identified nuclide (or, with ``identified=False``, an MDC for a relevant one)."""

    nuclide: str
    category: str
    relevant: bool
    identified: bool
    energy_keV: float
    intensity: float
    net_counts: float | None
    net_counts_sigma: float | None
    lc_counts: float
    ld_counts: float
    activity_Bq: float | None = None
    activity_sigma_Bq: float | None = None
    mda_Bq: float | None = None
    concentration_mBq_m3: float | None = None
    concentration_sigma_mBq_m3: float | None = None
    mdc_mBq_m3: float | None = None
    lines_matched: tuple[float, ...] = ()


@dataclass(frozen=True)
class Measurement:
    """What the activity needs of a spectrum: times (s), air volume (m3), efficiency ε(E) or ``None``."""

    live_time_s: float
    real_time_s: float
    collection_s: float | None = None
    decay_s: float | None = None
    air_volume_m3: float | None = None
    efficiency: object = None


@dataclass(frozen=True)
class GammaResult:
    peaks: list[Peak]
    nuclides: list[NuclideResult]
    calibration: dict
    notes: tuple[str, ...] = field(default_factory=tuple)


def _tolerance(cfg: ParticulateConfig, fwhm_keV: float) -> float:
    return max(cfg.match_tolerance_keV, cfg.match_tolerance_fwhm * fwhm_keV)


def identify(peaks: list[Peak], library: dict[str, Nuclide], cfg: ParticulateConfig,
             categories=("natural", "cosmogenic", "fission", "activation", "calibration"),
             detectable=None):
    """Library lines matched to peaks: ``{nuclide: [(line, peak), ...]}`` for identified nuclides,
    the peaks with the nuclides assigned, and ``{nuclide: reason}`` for those rejected.

    Line consistency: with ``detectable(key_line, key_peak, line) -> bool`` (is ``line`` expected to
    be clearly seen, given the key line's counts?), a nuclide whose expected lines are missing is
    rejected: a lone coincidence with a line of another nuclide is not an identification."""
    found: dict[str, list] = {}
    rejected: dict[str, str] = {}
    for nuc in library.values():
        if nuc.category not in categories:
            continue
        hits = []
        for ln in nuc.lines:
            best = None
            for p in peaks:
                d = abs(p.energy_keV - ln.energy_keV)
                if d <= _tolerance(cfg, p.fwhm_keV or 1.0) and (best is None or d < best[0]):
                    best = (d, p)
            if best:
                hits.append((ln, best[1]))
        if not hits or (cfg.require_key_line and not any(ln.key for ln, _ in hits)):
            continue
        if detectable is not None:
            kl, kp = next(((ln, p) for ln, p in hits if ln.key), hits[0])
            matched = {ln.energy_keV for ln, _ in hits}
            # a missing line within 2 FWHM of some peak may hide in it (blends of a scintillator)
            missing = [ln.energy_keV for ln in nuc.lines
                       if ln.energy_keV not in matched and detectable(kl, kp, ln)
                       and all(abs(p.energy_keV - ln.energy_keV) > 2 * (p.fwhm_keV or 1.0) for p in peaks)]
            if missing:
                rejected[nuc.name] = (f"line(s) {', '.join(f'{e:g}' for e in missing)} keV expected "
                                      f"from the {kl.energy_keV:g} keV peak but not found")
                continue
        found[nuc.name] = hits
    # a nuclide whose every matched line is matched closer by another identified nuclide is not
    # identified: its lines are better explained (I-131 364.5 keV on a Ba-133 356 keV peak)
    for name in sorted(found):
        others = [(o, h) for o, hs in found.items() if o != name for h in hs]
        better = set()
        for ln, p in found[name]:
            rival = [o for o, (l2, q) in others if q is p and abs(q.energy_keV - l2.energy_keV) < abs(p.energy_keV - ln.energy_keV)]
            if not rival:
                break
            better.update(rival)
        else:
            rejected[name] = f"its peak(s) are better explained by {', '.join(sorted(better))}"
    for name in rejected:
        found.pop(name, None)
    tagged = []
    for p in peaks:
        names = tuple(sorted(n for n, hits in found.items() if any(q is p for _, q in hits)))
        tagged.append(replace(p, nuclides=names))
    return found, tagged, rejected


def _factors(nuc: Nuclide, energy: float, intensity: float, m: Measurement):
    """(Bq per count, mBq/m3 per Bq) or (None, None) when the efficiency is unknown."""
    if m.efficiency is None:
        return None, None
    eff = float(m.efficiency(energy))
    f = counts_to_activity(nuc.decay_constant, eff, intensity, m.real_time_s, m.live_time_s)
    c = None
    if m.collection_s and m.air_volume_m3 and m.decay_s is not None:
        c = activity_to_concentration(nuc.decay_constant, m.collection_s, m.decay_s, m.air_volume_m3) * 1000.0
    return f, c


def nuclide_results(found: dict, peaks: list[Peak], bkg: np.ndarray, energy, fwhm, library: dict[str, Nuclide],
                    m: Measurement, cfg: ParticulateConfig) -> list[NuclideResult]:
    """Activities of identified nuclides (from the key line, else the most intense matched line)
    and Currie limits/MDCs of every CTBT-relevant nuclide not identified (at its key line)."""
    out = []
    ch = np.arange(len(bkg))
    e_ch = energy(ch)
    for name, nuc in library.items():
        if nuc.category == "noble_gas":
            continue
        hits = found.get(name)
        if hits:
            ln, p = next(((ln, p) for ln, p in hits if ln.key), max(hits, key=lambda h: h[0].intensity))
            b = p.background
            n, n_sig, e0 = p.net_area, p.net_sigma, ln.energy_keV
        elif nuc.relevant:
            ln = nuc.key_line
            e0 = ln.energy_keV
            if not e_ch[0] < e0 < e_ch[-1]:
                continue
            c = float(np.interp(e0, e_ch, ch))
            h = PEAK_HALF_WIDTH_FWHM * float(fwhm(c))
            lo, hi = max(int(round(c - h)), 0), int(round(c + h)) + 1
            b = float(max(bkg[lo:hi].sum(), 0.0))
            n = n_sig = None
        else:
            continue
        lc = cfg.k * math.sqrt(2 * b)
        ld = cfg.k ** 2 + 2 * lc
        f, cf = _factors(nuc, e0, ln.intensity, m)
        r = NuclideResult(name, nuc.category, nuc.relevant, bool(hits), e0, ln.intensity, n, n_sig, lc, ld,
                          lines_matched=tuple(h[0].energy_keV for h in hits or ()))
        if f is not None:
            r = replace(r, mda_Bq=ld * f, activity_Bq=None if n is None else n * f,
                        activity_sigma_Bq=None if n is None else n_sig * f)
            if cf is not None:
                r = replace(r, mdc_mBq_m3=ld * f * cf,
                            concentration_mBq_m3=None if n is None else n * f * cf,
                            concentration_sigma_mBq_m3=None if n is None else n_sig * f * cf)
        out.append(r)
    return out


def analyse(counts: np.ndarray, measurement: Measurement, energy=None, fwhm=None,
            config: ParticulateConfig | None = None, expected: list[str] | None = None,
            min_energy_keV: float | None = None, recalibrate: bool | None = None,
            recalibration_exclude: tuple[str, ...] = (), library: dict[str, Nuclide] | None = None) -> GammaResult:
    """Peaks and nuclides of one gamma spectrum.

    With ``recalibrate``, a file's energy calibration is corrected (``E' = a + b·E``) by least
    squares on the lines of natural nuclides identified at ≥ 10 σ with a fitted peak (at least 3
    lines, not those of ``recalibration_exclude``), when the correction is a small drift
    (|b − 1| < 1 %, |a| < 5 keV): the routine gain check of a gamma laboratory.

    :param energy: callable channel → keV; ``None`` = auto-calibrate on the lines of ``expected``
        nuclides (default: every non-noble-gas library nuclide)
    :param fwhm: callable channel → FWHM in channels; ``None`` = :func:`estimate_fwhm`
    :param min_energy_keV, recalibrate: ``None`` = the configuration's (``config``)
    :param library: the nuclide library (default: the shipped one, :func:`load_library`)
    """
    cfg = config or ParticulateConfig()
    lib = library if library is not None else load_library()
    min_energy_keV = cfg.min_energy_keV if min_energy_keV is None else min_energy_keV
    recalibrate = cfg.recalibrate if recalibrate is None else recalibrate
    counts = np.asarray(counts, dtype=float)
    notes = []
    fw = fwhm or estimate_fwhm(counts)
    if fwhm is None:
        notes.append("peak width estimated from the spectrum (no shape calibration)")
    peaks, bkg = find_peaks(counts, fw, cfg, fit=False)
    # fit the 40 most significant peaks first (they calibrate), then those near a library line
    floor = (sorted(p.significance for p in peaks)[-40:][:1] or [np.inf])[0]
    if fwhm is None:  # the fitted widths of the strong peaks refine the estimated width law
        first = fit_peaks(counts, bkg, peaks, cfg, lambda p: p.significance >= floor, width_range=(0.3, 3.0))
        good = [p for p in first if p.fitted and p.significance >= 8]
        if len(good) >= 3:
            fw = width_law([p.channel for p in good], [p.fwhm_channels for p in good])
            peaks, bkg = find_peaks(counts, fw, cfg, fit=False)
            floor = (sorted(p.significance for p in peaks)[-40:][:1] or [np.inf])[0]
    peaks = fit_peaks(counts, bkg, peaks, cfg, lambda p: p.significance >= floor)
    calib = {}
    if energy is None:
        names = expected or [n for n, x in lib.items() if x.category != "noble_gas"]
        lines = [(ln.energy_keV, ln.intensity) for n in names for ln in lib[n].lines if ln.intensity >= 0.05]
        off, gain = auto_calibrate(peaks, lines)
        calib = {"method": "auto", "offset_keV": off, "gain_keV_per_channel": gain, "lines_from": sorted(names)}
        notes.append(f"energy auto-calibrated on the lines of {', '.join(sorted(names))}")

        def energy(ch, off=off, gain=gain):
            return off + gain * np.asarray(ch, dtype=float)
    else:
        calib = {"method": "file"}
    ch = np.arange(len(counts))
    lines = np.array(sorted(ln.energy_keV for x in lib.values() if x.category != "noble_gas" for ln in x.lines))
    gain = np.gradient(energy(ch))

    def near_line(p):
        if p.fitted:
            return False
        e = float(energy(p.channel))
        return float(np.min(np.abs(lines - e))) < 2 * _tolerance(cfg, p.fwhm_channels * float(np.interp(p.channel, ch, gain)))
    peaks = fit_peaks(counts, bkg, peaks, cfg, near_line)
    slope = gain
    peaks = [replace(p, energy_keV=float(energy(p.channel)),
                     energy_sigma_keV=float(p.channel_sigma * np.interp(p.channel, ch, slope)),
                     fwhm_keV=float(p.fwhm_channels * np.interp(p.channel, ch, slope)))
             for p in peaks]
    peaks = [p for p in peaks if p.energy_keV >= min_energy_keV]
    e_ch = energy(ch)

    def detectable(key_line, key_peak, line):
        """Expected counts of ``line`` from the key peak (efficiency ratio from the curve, else
        ε ∝ 1/E above 60 keV, about the HPGe slope, and never rising) above twice Currie's L_D there."""
        if not e_ch[0] < line.energy_keV < e_ch[-1] or line.intensity < 0.2 * key_line.intensity:
            return False
        if measurement.efficiency is not None:
            r = float(measurement.efficiency(line.energy_keV) / measurement.efficiency(key_line.energy_keV))
        elif min(line.energy_keV, key_line.energy_keV) >= 60.0:
            r = min(1.0, key_line.energy_keV / line.energy_keV)
        else:
            return False
        expect = key_peak.net_area * line.intensity / key_line.intensity * r
        c = float(np.interp(line.energy_keV, e_ch, ch))
        h = PEAK_HALF_WIDTH_FWHM * float(fw(c))
        b = float(max(bkg[max(int(c - h), 0):int(c + h) + 1].sum(), 0.0))
        return expect > 2 * (cfg.k ** 2 + 2 * cfg.k * math.sqrt(2 * b))

    found, peaks, rejected = identify(peaks, lib, cfg, detectable=detectable)
    if recalibrate and calib["method"] == "file":
        pts = sorted({(p.energy_keV, ln.energy_keV) for n, hits in found.items()
                      if lib[n].category in ("natural", "cosmogenic") and n not in recalibration_exclude
                      for ln, p in hits if p.fitted and p.significance >= 10})
        if len({e for _, e in pts}) >= 3:
            x, e = np.array(pts).T
            # quadratic when the lines are many and span the spectrum (ADC integral non-linearity)
            deg = 2 if len(set(e)) >= 6 and e.max() - e.min() > 1000 else 1
            coef = np.polyfit(x, e, deg)[::-1]  # lowest order first
            a0, b1 = coef[0], coef[1]
            c2 = coef[2] if deg == 2 else 0.0
            drift = np.abs(np.polynomial.polynomial.polyval(x, coef) - x)
            if abs(b1 - 1) < 0.01 and drift.max() < 5:
                calib.update(method="file+recalibrated", correction_coefficients=[float(c) for c in coef],
                             recalibration_lines_keV=sorted(set(float(v) for v in e)))
                notes.append(f"energy recalibrated on {len(pts)} natural lines: E' = {a0:+.3f} keV + "
                             f"{b1:.6f} E" + (f" {c2:+.3g} E^2" if deg == 2 else ""))
                e_file = energy

                def energy(c, coef=coef, e_file=e_file):
                    return np.polynomial.polynomial.polyval(e_file(c), coef)
                e_ch = energy(ch)
                peaks = [replace(p, energy_keV=float(np.polynomial.polynomial.polyval(p.energy_keV, coef)),
                                 energy_sigma_keV=p.energy_sigma_keV * b1, fwhm_keV=p.fwhm_keV * b1,
                                 nuclides=()) for p in peaks]
                found, peaks, rejected = identify(peaks, lib, cfg, detectable=detectable)
    notes.extend(f"{n} not identified: {why}" for n, why in sorted(rejected.items()))
    if measurement.efficiency is None:
        notes.append("no efficiency calibration: activities and MDCs in counts only")
    results = nuclide_results(found, peaks, bkg, energy, fw, lib, measurement, cfg)
    return GammaResult(peaks, results, calib, tuple(notes))
