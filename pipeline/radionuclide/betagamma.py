"""Noble gas (beta–gamma coincidence) analysis: ROI net counts with interference corrections,
activity concentrations and MDCs of Xe-131m, Xe-133m, Xe-133 and Xe-135.

The net-count calculation (NCC) of the SAUNA-style 10-ROI scheme (REFERENCE.md §6.3–6.4, after
openSpex's BGM implementation and Currie's decision limits):

* gross counts ``G_i``: histogram cells whose channel-centre energies (from ``#g_Energy`` /
  ``#b_Energy``, :func:`pipeline.radionuclide.phd.channel_energy`) lie inside ROI ``i``'s beta and
  gamma limits (``#ROI_Limits``);
* background ``D_i``: a detector-background (DETBKPHD) and/or gas-background message's ROI counts,
  scaled by the live-time ratio (0 when none is given: the report says so);
* net counts in the order of the interference chain of ``#Ratios`` (upper ROI before lower ROI):
  ``N_i = G_i − D_i − Σ_j R_ji · N_j`` (ROI 1 radon → all; ROI 3 Xe-133 → 4…10);
  ``Var N_i = G_i + Var D_i + Σ_j (R_ji² Var N_j + N_j² σ(R_ji)²)`` (covariances neglected, as in the NCC);
* decision threshold ``L_C = k √(B + Var B)`` with ``B = D_i + Σ_j R_ji N_j`` (what was subtracted),
  detection limit ``L_D = k² + 2 L_C``; detected when ``N > L_C``;
* activity at acquisition start ``A = N λ (t_r/t_l) / (ε BR (1 − e^(−λ t_r)))`` and activity
  concentration ``AC = A λ t_c / (V (1 − e^(−λ t_c)) e^(−λ t_p))`` with ``V`` = Xe volume / 0.087
  cm3/m3; MDC = ``L_D`` through the same factor;
* Xe-133 from ROI 3 (81 keV) and from the ~31 keV X-ray region: ROI 4 when no metastable is
  detected, ROI 9 when only Xe-131m is, ROI 10 when only Xe-133m is, ROIs 7 + 8 when both are
  (those ROIs leave out the metastables' CE regions); combined by variance-weighted mean, with
  the decision threshold combined the same way from the regions' thresholds (detected when the
  combined activity exceeds it) and MDA = k² f + 2 L_C (f: the weighted Bq per count).

Not done (said in each result's ``notes``): the Xe-133m → Xe-133 ingrowth correction, the decay
of a gas background between its measurement and the sample's, Bayesian background correction.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from pipeline.errors import InputError
from pipeline.radionuclide import phd
from pipeline.radionuclide.config import NobleGasConfig
from pipeline.radionuclide.decay import activity_to_concentration, counts_to_activity  # noqa: F401 (re-exported)
from pipeline.radionuclide.nuclides import load_library

XENON = ("Xe-131m", "Xe-133m", "Xe-133", "Xe-135")
#: the ROI of each nuclide's primary signature
PRIMARY_ROI = {"Xe-135": 2, "Xe-133": 3, "Xe-131m": 5, "Xe-133m": 6}
RADON_ROI = 1


class BetaGammaError(InputError):
    """A message lacks what the beta-gamma analysis needs; the text names the file and block."""


@dataclass(frozen=True)
class ROICounts:
    """Counts of one ROI (counts over the live time of the sample)."""

    roi: int
    gross: int
    background: float
    interference: float
    net: float
    net_sigma: float
    lc: float
    ld: float

    @property
    def detected(self) -> bool:
        return self.net > self.lc


@dataclass(frozen=True)
class XenonResult:
    """One isotope. Activity in Bq at acquisition start, concentrations in mBq/m3 (``None`` when
    the message has no collection/processing data, e.g. CALIBPHD)."""

    nuclide: str
    rois: tuple[int, ...]
    net_counts: float
    net_sigma: float
    lc_counts: float
    activity_Bq: float
    activity_sigma_Bq: float
    mda_Bq: float
    concentration_mBq_m3: float | None
    concentration_sigma_mBq_m3: float | None
    lc_mBq_m3: float | None
    mdc_mBq_m3: float | None
    detected: bool
    per_roi: tuple[dict, ...] = ()


@dataclass(frozen=True)
class BetaGammaResult:
    info: phd.SampleInfo
    air_volume_m3: float | None
    rois: dict[int, ROICounts]
    xenon: dict[str, XenonResult]
    background: str
    notes: tuple[str, ...] = field(default_factory=tuple)

    def ratio(self, num: str, den: str) -> float | None:
        """Activity-concentration ratio of two isotopes (``None`` unless both are detected)."""
        a, b = self.xenon[num], self.xenon[den]
        if not (a.detected and b.detected):
            return None
        va = a.concentration_mBq_m3 if a.concentration_mBq_m3 is not None else a.activity_Bq
        vb = b.concentration_mBq_m3 if b.concentration_mBq_m3 is not None else b.activity_Bq
        return va / vb


# ------------------------------------------------------------------ counts


def roi_gross_counts(msg: phd.PHDMessage) -> dict[int, int]:
    """Gross coincidence counts per ROI of ``#ROI_Limits`` in ``#Histogram``."""
    for need in ("#Histogram", "#ROI_Limits", "#g_Energy", "#b_Energy"):
        if need not in msg:
            raise BetaGammaError(f"{msg.source}: no {need} block: not a beta-gamma message")
    counts = msg["#Histogram"]["counts"]
    eg = phd.channel_energy(msg, "g", np.arange(counts.shape[0]))
    eb = phd.channel_energy(msg, "b", np.arange(counts.shape[1]))
    out = {}
    for r in msg["#ROI_Limits"]:
        g = (eg >= r["gamma_low_keV"]) & (eg <= r["gamma_high_keV"])
        b = (eb >= r["beta_low_keV"]) & (eb <= r["beta_high_keV"])
        out[r["roi"]] = int(counts[np.ix_(g, b)].sum())
    return out


def _order(rois: list[int], ratios: list[dict]) -> list[int]:
    """ROIs so that each upper ROI of a ratio comes before its lower ROI (ValueError on a cycle)."""
    deps = {r: {x["upper_roi"] for x in ratios if x["lower_roi"] == r} for r in rois}
    done: list[int] = []
    while len(done) < len(rois):
        ready = [r for r in rois if r not in done and deps[r] <= set(done)]
        if not ready:
            raise ValueError(f"#Ratios form a cycle among ROIs {sorted(set(rois) - set(done))}")
        done.append(min(ready))
    return done


def net_counts(msg: phd.PHDMessage, backgrounds: list[phd.PHDMessage] = (), k: float = 1.6449) -> dict[int, ROICounts]:
    """Net counts per ROI with interference corrections and Currie limits (module docstring)."""
    gross = roi_gross_counts(msg)
    live = msg["#Acquisition"]["live_time_s"]
    bkg = {r: 0.0 for r in gross}
    bkg_var = {r: 0.0 for r in gross}
    for b in backgrounds:
        s = live / b["#Acquisition"]["live_time_s"]
        bg = roi_gross_counts(b)
        for r in gross:
            bkg[r] += s * bg.get(r, 0)
            bkg_var[r] += s * s * bg.get(r, 0)
    ratios = [x for x in (msg.get("#Ratios") or []) if x["upper_roi"] in gross and x["lower_roi"] in gross]
    try:
        order = _order(sorted(gross), ratios)
    except ValueError as exc:
        raise BetaGammaError(f"{msg.source}: #Ratios: {exc}") from None
    out: dict[int, ROICounts] = {}
    for r in order:
        interf = interf_var = 0.0
        for x in ratios:
            if x["lower_roi"] == r:
                up = out[x["upper_roi"]]
                interf += x["count_ratio"] * up.net
                interf_var += x["count_ratio"] ** 2 * up.net_sigma ** 2 + up.net ** 2 * x["uncertainty"] ** 2
        net = gross[r] - bkg[r] - interf
        var = gross[r] + bkg_var[r] + interf_var
        b = max(bkg[r] + interf, 0.0)
        lc = k * math.sqrt(b + bkg_var[r] + interf_var)
        out[r] = ROICounts(r, gross[r], bkg[r], interf, net, math.sqrt(var), lc, k * k + 2 * lc)
    return dict(sorted(out.items()))


# ------------------------------------------------------------------ activities


def _efficiency(msg: phd.PHDMessage, roi: int, nuclide: str) -> tuple[float, float]:
    """Coincidence efficiency of ``nuclide`` in ``roi`` from ``#b-gEfficiency`` (rows are matched
    by ROI number and the nuclide's mass number/metastable flag: 'XE-133' and 'XE-1337' both
    count for Xe-133)."""
    want = nuclide.upper().replace("XE-", "")
    for row in msg.get("#b-gEfficiency") or []:
        name = row["nuclide"].upper().replace("XE-", "")
        meta = name.endswith("M")
        if row["roi"] == roi and meta == want.endswith("M") and name.rstrip("M").startswith(want.rstrip("M")):
            return row["efficiency"], row["uncertainty"]
    raise BetaGammaError(f"{msg.source}: block #b-gEfficiency: no efficiency for {nuclide} in ROI {roi}")


def _estimate(msg, nuclide, rois, counts, lam, cfg, conc_factor) -> dict:
    """Activity (and concentration) of one nuclide from the sum of ``rois``."""
    acq = msg["#Acquisition"]
    eff = br = 0.0
    eff_var = 0.0
    for r in rois:
        e, de = _efficiency(msg, r, nuclide)
        b = cfg.branching.get(r)
        if b is None:
            raise BetaGammaError(f"{msg.source}: no branching ratio configured for ROI {r}")
        eff += e * b
        eff_var += (de * b) ** 2
    br_eff = eff  # Σ ε_r BR_r of the summed ROIs
    n = sum(counts[r].net for r in rois)
    n_sig = math.sqrt(sum(counts[r].net_sigma ** 2 for r in rois))
    lc = math.sqrt(sum(counts[r].lc ** 2 for r in rois))
    ld = cfg.k ** 2 + 2 * lc
    f = counts_to_activity(lam, br_eff, 1.0, acq["real_time_s"], acq["live_time_s"])
    a = n * f
    a_sig = abs(a) * math.sqrt((n_sig / n) ** 2 + eff_var / br_eff ** 2) if n else n_sig * f
    d = {"rois": tuple(rois), "net": n, "net_sigma": n_sig, "lc": lc, "ld": ld, "activity": a,
         "activity_sigma": a_sig, "mda": ld * f, "lc_activity": lc * f, "efficiency_x_branching": br_eff}
    if conc_factor is not None:
        c = conc_factor(lam) * 1000.0
        d.update(conc=a * c, conc_sigma=a_sig * c, lc_conc=lc * f * c, mdc=ld * f * c)
    return d


def analyse(msg: phd.PHDMessage, backgrounds: list[phd.PHDMessage] = (),
            config: NobleGasConfig | None = None, library: dict | None = None) -> BetaGammaResult:
    """Xe-131m, Xe-133m, Xe-133, Xe-135 of one beta-gamma message (module docstring).

    :param backgrounds: detector- and/or gas-background PHD messages of the same detector
    :param library: the nuclide library (default: the shipped one, :func:`load_library`)
    """
    cfg = config or NobleGasConfig()
    info = phd.sample_info(msg)
    counts = net_counts(msg, backgrounds, cfg.k)
    lib = library if library is not None else load_library()
    notes = []
    air = None
    conc_factor = None
    if info.collection_start is not None and info.xe_volume_cm3:
        air = info.xe_volume_cm3 / cfg.xe_air_cm3_per_m3
        tc, tp = info.collection_s, info.decay_s
        if tc <= 0 or tp < 0:
            raise BetaGammaError(f"{msg.source}: #Collection/#Acquisition: collection {tc} s, decay {tp} s")

        def conc_factor(lam, tc=tc, tp=tp, v=air):
            return activity_to_concentration(lam, tc, tp, v)
    else:
        notes.append("no #Collection/#Processing: activities only (Bq at acquisition start)")
    if not backgrounds:
        notes.append("no detector or gas background given: background counts taken as 0")
    notes.append("not applied: Xe-133m -> Xe-133 ingrowth correction, gas-background decay")
    est = {n: _estimate(msg, n, (PRIMARY_ROI[n],), counts, lib[n].decay_constant, cfg, conc_factor)
           for n in ("Xe-135", "Xe-131m", "Xe-133m")}
    m131 = counts[5].detected
    m133 = counts[6].detected
    xray = {(False, False): (4,), (True, False): (9,), (False, True): (10,), (True, True): (7, 8)}[(m131, m133)]
    lam133 = lib["Xe-133"].decay_constant
    e3 = _estimate(msg, "Xe-133", (3,), counts, lam133, cfg, conc_factor)
    e4 = _estimate(msg, "Xe-133", xray, counts, lam133, cfg, conc_factor)
    if cfg.combine_xe133:
        # weights: 1/variance, a region with no counts weighs as if it had one
        w3, w4 = (1 / max(e["activity_sigma"], e["mda"] / e["ld"]) ** 2 for e in (e3, e4))
        comb = dict(e3)
        comb["rois"] = (3,) + xray
        comb["activity"] = (w3 * e3["activity"] + w4 * e4["activity"]) / (w3 + w4)
        comb["net"] = e3["net"] + e4["net"]
        comb["net_sigma"] = math.hypot(e3["net_sigma"], e4["net_sigma"])
        # the decision threshold of the combined estimate: each region's L_C in Bq is k times its
        # standard deviation under "no Xe-133"; those combine like the estimates' variances
        s0 = [e["lc_activity"] / cfg.k for e in (e3, e4)]
        lc_a = 0.0 if min(s0) == 0 else cfg.k * sum(1 / x ** 2 for x in s0) ** -0.5
        f_w = (w3 * e3["mda"] / e3["ld"] + w4 * e4["mda"] / e4["ld"]) / (w3 + w4)  # Bq per count
        comb["lc_activity"], comb["mda"] = lc_a, cfg.k ** 2 * f_w + 2 * lc_a
        comb["lc"] = lc_a / f_w
        comb["activity_sigma"] = (w3 + w4) ** -0.5
        comb["_detected"] = comb["activity"] > lc_a
        if conc_factor is not None:
            f = conc_factor(lam133) * 1000.0
            comb["conc"], comb["conc_sigma"] = comb["activity"] * f, comb["activity_sigma"] * f
            comb["mdc"], comb["lc_conc"] = comb["mda"] * f, lc_a * f
        comb["per_roi"] = (e3, e4)
        est["Xe-133"] = comb
    else:
        est["Xe-133"] = e3
    xenon = {}
    for n in XENON:
        e = est[n]
        detected = e.pop("_detected", e["net"] > e["lc"])
        per = tuple({"rois": list(p["rois"]), "net_counts": p["net"], "activity_Bq": p["activity"],
                     "activity_sigma_Bq": p["activity_sigma"], "concentration_mBq_m3": p.get("conc"),
                     "concentration_sigma_mBq_m3": p.get("conc_sigma"), "mdc_mBq_m3": p.get("mdc")}
                    for p in e.get("per_roi", ()))
        xenon[n] = XenonResult(
            nuclide=n, rois=tuple(e["rois"]), net_counts=e["net"], net_sigma=e["net_sigma"], lc_counts=e["lc"],
            activity_Bq=e["activity"], activity_sigma_Bq=e["activity_sigma"], mda_Bq=e["mda"],
            concentration_mBq_m3=e.get("conc"), concentration_sigma_mBq_m3=e.get("conc_sigma"),
            lc_mBq_m3=e.get("lc_conc"), mdc_mBq_m3=e.get("mdc"), detected=bool(detected), per_roi=per)
    return BetaGammaResult(info=info, air_volume_m3=air, rois=counts, xenon=xenon,
                           background=", ".join(b.data_type for b in backgrounds) or "none", notes=tuple(notes))
