"""Noble gas (beta-gamma): ROI counts, interference chain, Xe activity concentrations and MDCs on
the real MIX58 messages; the arithmetic against a hand-worked example; a planted activity."""
from __future__ import annotations

import copy
import math
from pathlib import Path

import numpy as np
import pytest

from pipeline.radionuclide import betagamma, phd
from pipeline.radionuclide.xenon_ratios import PLOTS, ratio_points

DATA = Path(__file__).parent / "data" / "radionuclide"
FULL = DATA / "SAMPLE20211203070613605.PHD"   # 12 h collection, 50,400 s live (FULL)
PREL = DATA / "SAMPLE20211203073116637.PHD"   # 8,191 s live (PREL)
RADON_SPIKE = DATA / "SPIKE20211228080107855.PHD"
CALIB = DATA / "SPIKE20190502222812845.PHD"


def test_hand_worked_activity_and_concentration():
    """N = 1000 net counts of Xe-133 in ROI 3, by hand (REFERENCE.md §6.4 formulas)."""
    lam = math.log(2) / (5.243 * 86400)           # 1.53010e-6 /s
    tr, tl, eff, br = 50719.17, 50400.0, 0.371, 0.37289
    tc, tp, v = 43174.0, 14455.4, 0.99533 / 0.087  # s, s, m3 of air
    # A = N λ (tr/tl) / (ε BR (1 - e^-λtr)): λ tr = 0.0776058, 1 - e^-λtr = 0.0746703
    a_hand = 1000 * 1.53010e-6 * (50719.17 / 50400) / (0.371 * 0.37289 * 0.0746703)
    assert a_hand == pytest.approx(0.14906, rel=2e-4)
    a = 1000 * betagamma.counts_to_activity(lam, eff, br, tr, tl)
    # AC = A λ tc / (V (1 - e^-λtc) e^-λtp): λ tc = 0.0660607, 1 - e^-λtc = 0.0639261, e^-λtp = 0.978125
    ac_hand = a_hand * 0.0660607 / (11.440575 * 0.0639261 * 0.978125)
    assert ac_hand == pytest.approx(0.013765, rel=2e-4)  # Bq/m3: 13.8 mBq/m3 for 1000 counts
    ac = a * betagamma.activity_to_concentration(lam, tc, tp, v)
    print(f"hand A = {a_hand:.5f} Bq, code {a:.5f} Bq; hand AC = {ac_hand:.5f} Bq/m3, code {ac:.5f} Bq/m3")
    assert a == pytest.approx(a_hand, rel=1e-4)
    assert ac == pytest.approx(ac_hand, rel=1e-4)
    # Currie with B = 100 background counts known exactly: L_C = 1.6449·10, L_D = 1.6449² + 2 L_C
    assert 1.6449 * math.sqrt(100) == pytest.approx(16.449)


def test_roi_gross_counts_by_hand():
    m = phd.read_phd(FULL)
    g = betagamma.roi_gross_counts(m)
    h = m["#Histogram"]["counts"]
    eg = phd.channel_energy(m, "g", np.arange(256))
    eb = phd.channel_energy(m, "b", np.arange(256))
    # ROI 3: gamma 71.15-99.83 keV, beta 29.8-352.5 keV -> channel ranges from the calibration
    gi = np.flatnonzero((eg >= 71.15) & (eg <= 99.83))
    bi = np.flatnonzero((eb >= 29.8) & (eb <= 352.5))
    print(f"ROI 3: gamma channels {gi[0]}-{gi[-1]}, beta channels {bi[0]}-{bi[-1]}")
    assert g[3] == h[gi[0]:gi[-1] + 1, bi[0]:bi[-1] + 1].sum() == 578
    assert sum(g.values()) > 0 and g[4] >= g[5] + g[6]


def test_interference_chain_matches_the_declared_ratios():
    m = phd.read_phd(FULL)
    c = betagamma.net_counts(m)
    for r in range(1, 11):
        expect = c[r].gross - sum(x["count_ratio"] * c[x["upper_roi"]].net for x in m["#Ratios"] if x["lower_roi"] == r)
        assert c[r].net == pytest.approx(expect)
    assert c[1].interference == 0 and c[3].interference == pytest.approx(1.32 * 187)


def test_radon_spike_confirms_the_radon_ratios():
    """The 2021-12-28 SPIKEPHD is radon-dominated (94k counts in ROI 1): the count ratios it shows
    must match the station's declared radon interference ratios (#Ratios PB214_352:*) — a check of
    the histogram orientation, the energy calibrations and the ROI limits all at once."""
    m = phd.read_phd(RADON_SPIKE)
    g = betagamma.roi_gross_counts(m)
    declared = {x["lower_roi"]: x["count_ratio"] for x in m["#Ratios"] if x["upper_roi"] == 1}
    errs = {r: g[r] / g[1] / declared[r] - 1 for r in declared}
    print("measured/declared - 1 per ROI:", {r: f"{e:+.1%}" for r, e in errs.items()})
    assert g[1] > 90000
    assert max(abs(e) for e in errs.values()) < 0.25
    assert np.median(np.abs(list(errs.values()))) < 0.12


@pytest.mark.parametrize("path,max_mdc", [(FULL, 1.0), (PREL, 2.0)], ids=["FULL", "PREL"])
def test_sample_xenon_concentrations(path, max_mdc):
    r = betagamma.analyse(phd.read_phd(path))
    x133 = r.xenon["Xe-133"]
    for n, x in r.xenon.items():
        print(f"{path.name} {n}: AC {x.concentration_mBq_m3:.3f} ± {x.concentration_sigma_mBq_m3:.3f} mBq/m3, "
              f"LC {x.lc_mBq_m3:.3f}, MDC {x.mdc_mBq_m3:.3f}, detected {x.detected}, ROIs {x.rois}")
    assert r.air_volume_m3 == pytest.approx(r.info.xe_volume_cm3 / 0.087)
    assert x133.detected and 0.5 < x133.concentration_mBq_m3 < 50  # ambient Xe-133 levels
    # the IMS noble-gas requirement is an MDC of 1 mBq/m3 for Xe-133 (a 12 h FULL sample meets it)
    assert 0.1 < x133.mdc_mBq_m3 < max_mdc
    # Xe-133 from the 81 keV ROI and from the X-ray region agree within their uncertainties
    a, b = x133.per_roi
    z = (a["activity_Bq"] - b["activity_Bq"]) / math.hypot(a["activity_sigma_Bq"], b["activity_sigma_Bq"])
    print(f"Xe-133 ROI {a['rois']} {a['concentration_mBq_m3']:.3f} vs ROI {b['rois']} "
          f"{b['concentration_mBq_m3']:.3f} mBq/m3: z = {z:+.2f}")
    assert abs(z) < 2
    for x in r.xenon.values():
        assert x.mdc_mBq_m3 > x.lc_mBq_m3 > 0
        assert x.detected == (x.concentration_mBq_m3 > x.lc_mBq_m3)
    assert "no detector or gas background" in " ".join(r.notes)


def test_prel_sample_xe133m_not_detected_and_ratio_point_is_civil():
    full = betagamma.analyse(phd.read_phd(FULL))
    prel = betagamma.analyse(phd.read_phd(PREL))
    assert not prel.xenon["Xe-133m"].detected
    pts = ratio_points({n: (x.concentration_mBq_m3 if x.detected else None) for n, x in full.xenon.items()})
    mirc = next(p for p in pts if p["plot"] == "MIRC")
    print(f"MIRC point of the FULL sample: x = {mirc['x']:.3g}, y = {mirc['y']:.3g}, {mirc['side']}")
    assert mirc["side"] == "civil"


def test_discrimination_sides():
    mirc = PLOTS[0]
    assert mirc.side(300.0, 10.0) == "explosion"   # fresh fission: high 133m/131m
    assert mirc.side(1.0, 1.0) == "civil"
    assert ratio_points({"Xe-133": 1.0}) == []


def _planted(msg: phd.PHDMessage, activity_bq: float) -> phd.PHDMessage:
    """The real message with its histogram replaced by the exact expected counts of a pure Xe-133
    source of ``activity_bq`` at acquisition start, put into one cell of ROI 3 and one of ROI 4
    (without the Xe-133 interference ratios, which this planted source does not follow)."""
    m = copy.deepcopy(msg)
    acq = m["#Acquisition"]
    lam = math.log(2) / (5.243 * 86400)
    h = np.zeros((256, 256), dtype=np.int64)
    eg = phd.channel_energy(m, "g", np.arange(256))
    eb = phd.channel_energy(m, "b", np.arange(256))
    for roi, br in ((3, 0.37289), (4, 0.4894)):
        eff, _ = betagamma._efficiency(m, roi, "Xe-133")
        n = activity_bq / betagamma.counts_to_activity(lam, eff, br, acq["real_time_s"], acq["live_time_s"])
        lim = next(r for r in m["#ROI_Limits"] if r["roi"] == roi)
        gi = np.flatnonzero((eg >= lim["gamma_low_keV"]) & (eg <= lim["gamma_high_keV"]))[1]
        bi = np.flatnonzero((eb >= 300) & (eb <= 310))[0]  # inside ROIs 3 and 4, outside 5, 6, 7
        h[gi, bi] += round(n)
    m["#Histogram"]["counts"] = h
    m.set("#Ratios", [x for x in m["#Ratios"] if x["upper_roi"] != 3])  # no 81 keV leak planted
    return m


def test_planted_xe133_activity_is_recovered():
    m = _planted(phd.read_phd(FULL), 2.0)
    r = betagamma.analyse(m)
    x = r.xenon["Xe-133"]
    err = x.activity_Bq / 2.0 - 1
    print(f"planted 2.000 Bq Xe-133, recovered {x.activity_Bq:.4f} ± {x.activity_sigma_Bq:.4f} Bq ({err:+.3%})")
    assert abs(err) < 0.002 and x.detected
    assert not r.xenon["Xe-135"].detected and r.xenon["Xe-131m"].net_counts == 0


def test_own_background_cancels():
    m = phd.read_phd(FULL)
    r = betagamma.analyse(m, backgrounds=[m])
    assert all(c.net == pytest.approx(0) for c in r.rois.values())
    assert not any(x.detected for x in r.xenon.values())
    assert r.background == "SAMPLEPHD"


def test_calibphd_gives_activities_only():
    r = betagamma.analyse(phd.read_phd(CALIB))
    x = r.xenon["Xe-133"]
    print(f"CALIBPHD Xe-133: {x.activity_Bq:.3f} ± {x.activity_sigma_Bq:.3f} Bq; per region "
          + ", ".join(f"{p['rois']}: {p['activity_Bq']:.3f} Bq" for p in x.per_roi))
    assert x.detected and x.concentration_mBq_m3 is None and r.air_volume_m3 is None
    assert 0.1 < x.activity_Bq < 10


def test_ratio_plot(tmp_path):
    from pipeline.plots.radionuclide import plot_bg_histogram, plot_xenon_ratios

    out = plot_xenon_ratios([{"x": 0.081, "y": 0.63, "label": "MIX58 2021-12-02"}, {"x": 300, "y": 10}],
                            tmp_path / "ratios.png")
    assert out.stat().st_size > 10_000
    m = phd.read_phd(FULL)
    out = plot_bg_histogram(phd.histogram(m), tmp_path / "hist.png", rois=m["#ROI_Limits"])
    assert out.stat().st_size > 10_000
