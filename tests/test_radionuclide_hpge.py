"""Gamma spectrometry on the real lab spectra (becquerel's test samples): peaks, calibration,
natural lines, check sources; activity/MDC arithmetic against a hand-worked example; categories."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from pipeline.radionuclide import categories, hpge, labspectra, phd
from pipeline.radionuclide.analyse import analyse_file
from pipeline.radionuclide.config import CategoryConfig
from pipeline.radionuclide.decay import activity_to_concentration, counts_to_activity

DATA = Path(__file__).parent / "data" / "radionuclide"
SGM = DATA / "SGM102432.spe"                                # CsI (Kromek D3S), Ba-133 + Cs-137, no calibration
CAVE = DATA / "1110C NAA cave background May 2017.spe"      # HPGe, lead cave background, 437,817 s
KELP = DATA / "Mendocino_07-10-13_Acq-10-10-13.Spe"         # HPGe, kelp in a Marinelli beaker, 595,642 s
CNF = DATA / "01122014152731-GT01122014182338-GA37.4963000N-GO122.4633000W.cnf"  # HPGe field, 841 s


def _line(rep, nuclide):
    return next(n for n in rep["nuclides"] if n["nuclide"] == nuclide)


def _peak_at(rep, energy, tol):
    cands = [p for p in rep["peaks"] if abs(p["energy_keV"] - energy) <= tol]
    return min(cands, key=lambda p: abs(p["energy_keV"] - energy)) if cands else None


def test_readers():
    s = labspectra.read_spe(CAVE)
    assert s.sizes["channel"] == 16384 and s.attrs["live_time_s"] == 437817.0
    assert s.energy_keV[8000] == pytest.approx(-0.035087 + 0.1828039 * 8000 - 6.86613e-10 * 8000 ** 2)
    c = labspectra.read_cnf(CNF)
    assert c.sizes["channel"] == 4096 and int(c.sum()) == 683658
    assert c.attrs["live_time_s"] == pytest.approx(841.42, abs=0.01) and c.attrs["real_time_s"] == pytest.approx(849.51, abs=0.01)
    assert c.attrs["acquisition_start"].startswith("2014-01-12T15:12")
    assert c.attrs["energy_coefficients"][1] == pytest.approx(0.71899, rel=1e-4)
    with pytest.raises(labspectra.SpectrumFileError, match="not an ORTEC"):
        labspectra.read_spe(DATA / "SOURCE.txt")


def test_check_sources_in_the_csi_spectrum():
    """SGM102432: no energy calibration in the file. Auto-calibration on the Ba-133 and Cs-137 lines
    (named in the file) finds 356 and 661.7 keV within 1.5 %; and a zero-offset gain fixed by the
    661.7 keV peak alone puts the other peak at 356 keV within 3 % (CsI is not proportional)."""
    rep = analyse_file(SGM)
    assert rep["calibration"]["method"] == "auto"
    for e in (356.0, 661.7):
        p = _peak_at(rep, e, 0.015 * e)
        print(f"SGM {e} keV line: peak at {p and p['energy_keV']} keV, FWHM {p and p['fwhm_keV']} keV")
        assert p is not None
    assert _line(rep, "Ba-133")["detected"] and _line(rep, "Cs-137")["detected"]
    # independent check: gain from 661.7 keV only
    ch = {e: _peak_at(rep, e, 10)["channel"] for e in (356.0, 661.7)}
    e356 = ch[356.0] * 661.7 / ch[661.7]
    print(f"zero-offset gain from the 661.7 keV peak puts the Ba-133 peak at {e356:.1f} keV ({e356 / 356 - 1:+.2%})")
    assert abs(e356 / 356 - 1) < 0.03
    assert rep["elapsed_s"] < 2.0


@pytest.mark.parametrize("path", [CAVE, KELP, CNF], ids=["cave", "kelp", "cnf"])
def test_natural_lines_in_hpge_spectra(path):
    rep = analyse_file(path)
    print(f"{path.name}: {len(rep['peaks'])} peaks, calibration {rep['calibration'].get('method')}, "
          f"{rep['elapsed_s']} s")
    for nuc, e in (("K-40", 1460.8), ("Pb-214", 351.9), ("Bi-214", 609.3)):
        p = _peak_at(rep, e, 0.5)
        print(f"  {nuc} {e} keV: peak at {p and p['energy_keV']} keV ({p and round(p['energy_keV'] - e, 3)} keV), "
              f"{p and p['net_counts']} counts")
        assert p is not None and nuc in p["nuclides"]
        assert _line(rep, nuc)["detected"]
    assert rep["elapsed_s"] < 2.0
    assert rep["category"]["level"] in (1, 2, 3, 4, 5)


def test_k40_within_half_a_kev_without_using_it_to_recalibrate():
    s = labspectra.read_spe(CAVE)
    c = s.attrs["energy_coefficients"]

    def energy(ch):
        return np.polynomial.polynomial.polyval(np.asarray(ch, dtype=float), c)
    m = hpge.Measurement(s.attrs["live_time_s"], s.attrs["real_time_s"])
    fw = hpge.fwhm_function(s.attrs["fwhm_channel_coefficients"])
    raw = hpge.analyse(s.values, m, energy=energy, fwhm=fw, recalibrate=False)
    loo = hpge.analyse(s.values, m, energy=energy, fwhm=fw, recalibration_exclude=("K-40",))
    k_raw = min(raw.peaks, key=lambda p: abs(p.energy_keV - 1460.8)).energy_keV
    k_loo = min(loo.peaks, key=lambda p: abs(p.energy_keV - 1460.8)).energy_keV
    print(f"K-40: file calibration {k_raw:.2f} keV ({k_raw - 1460.8:+.2f}), recalibrated without K-40 "
          f"{k_loo:.2f} keV ({k_loo - 1460.8:+.2f}); {loo.calibration}")
    assert abs(k_loo - 1460.8) < 0.5
    assert "recalibrated" in loo.calibration["method"]


def test_hand_worked_activity_and_currie():
    """Cs-137 661.7 keV, I = 0.85: N = 2000 net counts over B = 400 background counts, ε = 0.02,
    t_l = t_r = 86400 s, collection 24 h of 20,000 m3, 2 days of decay."""
    lam = math.log(2) / (30.1671 * 365.25 * 86400)  # 7.2811e-10 /s
    # Currie: L_C = 1.6449·√(2·400) = 46.525; L_D = 1.6449² + 2·L_C = 95.756 (= 2.71 + 4.65·√B)
    lc = 1.6449 * math.sqrt(800)
    ld = 1.6449 ** 2 + 2 * lc
    assert lc == pytest.approx(46.525, abs=1e-3) and ld == pytest.approx(95.756, abs=1e-3)
    # A = N/(ε I t_l) · λ t_r/(1 - e^-λ t_r), the last factor 1 + 3.1e-5: A = 2000/1468.8 = 1.36166 Bq
    a = 2000 * counts_to_activity(lam, 0.02, 0.85, 86400, 86400)
    assert a == pytest.approx(1.36166, rel=1e-4)
    # AC = A λ t_c / (V (1 - e^-λ t_c) e^-λ t_p) = 1.36166 / 20000 · (1 + 3.1e-5 + 1.26e-4) = 68.094 µBq/m3
    ac = a * activity_to_concentration(lam, 86400, 2 * 86400, 20000)
    print(f"A = {a:.5f} Bq, AC = {ac * 1e6:.3f} uBq/m3, L_C = {lc:.3f}, L_D = {ld:.3f} counts, "
          f"MDA = {ld / 2000 * a:.5f} Bq")
    assert ac == pytest.approx(68.094e-6, rel=1e-4)
    # and the library the code uses has the same half-life and intensity
    from pipeline.radionuclide.nuclides import load_library

    cs = load_library()["Cs-137"]
    assert cs.decay_constant == pytest.approx(lam, rel=1e-9) and cs.key_line.intensity == 0.85


def test_planted_peak_area_and_mdc():
    """A Gaussian of 5000 counts (FWHM 4 channels) on a flat 100 counts/channel: the fit finds the
    area within 3 σ and the centroid within 0.05 channel; Currie's L_D at an empty place is
    ~2.71 + 4.65·√B for B = 100·(2.5 FWHM)."""
    rng = np.random.default_rng(1)
    ch = np.arange(2048)
    mu, fwhm, area = 1000.3, 4.0, 5000.0
    s = fwhm / 2.3548
    lam = 100 + area / (s * math.sqrt(2 * math.pi)) * np.exp(-0.5 * ((ch - mu) / s) ** 2)
    y = rng.poisson(lam)
    peaks, bkg = hpge.find_peaks(y, lambda c: np.full_like(np.asarray(c, float), fwhm))
    p = min(peaks, key=lambda q: abs(q.channel - mu))
    print(f"planted area {area}, found {p.net_area:.0f} ± {p.net_sigma:.0f}; centroid {p.channel:.3f} ± "
          f"{p.channel_sigma:.3f} (planted {mu}); {len(peaks)} peak(s)")
    assert p.fitted and abs(p.net_area - area) < 3 * p.net_sigma and abs(p.channel - mu) < 3 * p.channel_sigma
    assert len(peaks) <= 2  # no forest of false peaks on a flat continuum
    b = bkg[int(500 - 5):int(500 + 5) + 1].sum()
    assert b == pytest.approx(100 * 11, rel=0.1)


def _particulate_phd(tmp_path: Path) -> Path:
    """The kelp HPGe spectrum wrapped as an IMS2.0 particulate SAMPLEPHD (built from scratch with the
    writer): the collection, air volume and efficiency curve are invented for the test."""
    s = labspectra.read_spe(KELP)
    n = s.sizes["channel"]
    msg = phd.PHDMessage(preamble=[("MSG_TYPE", "DATA"), ("MSG_ID", "TEST0001"), ("DATA_TYPE", "SAMPLEPHD")])
    msg.set("#Header", {"station_code": "TST01", "detector_code": "TST01_001", "system_type": "P",
                        "sample_geometry": "MARINELLI", "spectrum_qualifier": "FULL", "srid": "01201310100001",
                        "measurement_id": "TST01_001-2013/10/11-10:30:10.0", "detector_bk_measurement_id": None,
                        "gas_bk_measurement_id": None, "transmit_time": phd.parse_datetime("2013/10/18", "10:00:00")})
    msg.blocks["#Header"].tag_arg = "3"
    msg.set("#Collection", {"collection_start": phd.parse_datetime("2013/10/09", "10:30:10"),
                            "collection_stop": phd.parse_datetime("2013/10/10", "10:30:10"),
                            "air_volume_m3": 20000.0})
    msg.set("#Acquisition", {"acquisition_start": phd.parse_datetime("2013/10/11", "10:30:10"),
                             "real_time_s": s.attrs["real_time_s"], "live_time_s": s.attrs["live_time_s"]})
    msg.set("#g_Energy", [{"energy_keV": float(s.energy_keV[c]), "channel": float(c), "uncertainty": 0.05}
                          for c in (100, 2000, 4000, 7900)])
    msg.set("#g_Resolution", [{"energy_keV": e, "fwhm_keV": 1.62, "uncertainty": 0.05} for e in (50.0, 3000.0)])
    msg.set("#g_Efficiency", [{"energy_keV": e, "efficiency": f, "uncertainty": 0.002}
                              for e, f in ((50, 0.03), (120, 0.06), (300, 0.04), (1000, 0.015), (2600, 0.007))])
    msg.set("#g_Spectrum", {"n_channels": n, "energy_span_keV": float(round(float(s.energy_keV[-1]))),
                            "counts": s.values.astype(np.int64)})
    out = phd.write_phd(msg, tmp_path / "particulate.PHD")
    assert phd.read_phd(out).equals(msg)
    return out


def test_particulate_phd_gives_concentrations_and_mdcs(tmp_path):
    rep = analyse_file(_particulate_phd(tmp_path))
    k = _line(rep, "K-40")
    cs134 = _line(rep, "Cs-134")
    print(f"K-40 {k['concentration_mBq_m3']:.4g} ± {k['concentration_sigma_mBq_m3']:.2g} mBq/m3; Cs-134 MDC "
          f"{cs134['mdc_mBq_m3']:.3g} mBq/m3; category {rep['category']}")
    # by hand: K-40 (long-lived) AC = N / (ε I t_l V)
    eff = hpge.efficiency_function([(1000, 0.015), (2600, 0.007)])(1460.8)
    by_hand = k["net_counts"] / (eff * 0.107 * rep["live_time_s"] * 20000) * 1000
    assert k["concentration_mBq_m3"] == pytest.approx(by_hand, rel=1e-3)
    assert not cs134["detected"] and cs134["mdc_mBq_m3"] > 0
    assert rep["station"] == "TST01" and rep["format"] == "IMS2.0"


# ------------------------------------------------------------------ categories: one test per level


@pytest.mark.parametrize("conc,history,level", [
    ({"Be-7": 3.0, "Pb-212": 5.0}, None, 1),
    ({"Be-7": 80.0}, None, 2),
    ({"Cs-137": 0.002}, {"Cs-137": [0.002, 0.003, 0.002, 0.0025, 0.002, 0.003, 0.002, 0.0021, 0.0024, 0.0022]}, 3),
    ({"Cs-137": 0.2}, {"Cs-137": [0.002, 0.003, 0.002, 0.0025, 0.002, 0.003, 0.002, 0.0021, 0.0024, 0.0022]}, 4),
    ({"Cs-137": 0.2, "I-131": 0.5, "Be-7": 3.0}, None, 5),
], ids=["1-natural", "2-natural-anomalous", "3-relevant-typical", "4-one-anomalous", "5-fission-several"])
def test_category_levels(conc, history, level):
    cat = categories.categorise(conc, CategoryConfig(), history)
    print(level, cat)
    assert cat.level == level


def test_two_activation_products_are_level_4_not_5():
    assert categories.categorise({"Co-60": 1.0, "Na-24": 1.0}).level == 4


def test_ewma_limit():
    assert categories.ewma_limit([1.0] * 20, 0.2, 3.0) == pytest.approx(1.0)
    assert categories.ewma_limit([1.0, 2.0] * 10, 0.2, 3.0) > 2.0
