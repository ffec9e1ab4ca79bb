"""One call from a spectrum file to a report: :func:`analyse_file` (IMS2.0 PHD beta–gamma or
particulate/gamma, ORTEC .Spe, Canberra .cnf) returns a JSON-able dict; :func:`format_text`
renders it for people.

Report keys (JSON; numbers in the units their names carry, ``null`` when not applicable):

``file``, ``format`` (``IMS2.0`` | ``SPE`` | ``CNF``), ``kind`` (``beta-gamma`` | ``gamma``),
``data_type``, ``station``, ``detector``, ``srid``, ``qualifier``, ``collection_start``,
``collection_stop``, ``acquisition_start`` (ISO 8601 UTC), ``real_time_s``, ``live_time_s``,
``air_volume_m3``;
``nuclides``: list of ``{nuclide, energy_keV (gamma) | rois (beta-gamma), detected, net_counts,
net_counts_sigma, lc_counts, activity_Bq, activity_sigma_Bq, mda_Bq, concentration_mBq_m3,
concentration_sigma_mBq_m3, lc_mBq_m3 (beta-gamma), mdc_mBq_m3, category (gamma: natural, fission,
...), relevant}`` — identified/detected nuclides, and for CTBT-relevant ones not detected their
limits (``detected: false``);
``peaks`` (gamma): ``{channel, energy_keV, energy_sigma_keV, fwhm_keV, net_counts,
net_counts_sigma, background_counts, significance, fitted, nuclides}``;
``rois`` (beta-gamma): ``{roi, gross, background, interference, net, net_sigma, lc, ld}`` (counts);
``xenon_ratios`` (beta-gamma): points of the isotopic-ratio plots with their side (``civil`` |
``explosion``);
``category``: ``{level (1-5), reason, scheme}`` — particulate categories for gamma spectra; for
beta-gamma the number of the four xenon isotopes detected (``level: null``: the IDC noble-gas
scheme was not found);
``calibration``, ``notes``, ``elapsed_s``.
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from pipeline.radionuclide import phd
from pipeline.radionuclide.config import RadionuclideConfig


def _iso(t) -> str | None:
    return None if t is None else str(t)


def _num(v, n=6):
    if v is None:
        return None
    v = float(v)
    return float(f"{v:.{n}g}") if np.isfinite(v) else None


def analyse_file(path: str | Path, config: RadionuclideConfig | None = None,
                 backgrounds: list[str | Path] = (), history: dict[str, list[float]] | None = None) -> dict:
    """Analyse one spectrum file (see module docstring for the report)."""
    cfg = config or RadionuclideConfig()
    t0 = time.perf_counter()
    p = Path(path)
    if phd.is_phd(p):
        msg = phd.read_phd(p)
        if "#Histogram" in msg:
            rep = _betagamma(msg, cfg, [phd.read_phd(b) for b in backgrounds])
        else:
            rep = _gamma_phd(msg, cfg, history)
    else:
        from pipeline.radionuclide.labspectra import read_lab_spectrum

        rep = _gamma_lab(read_lab_spectrum(p), cfg, history)
    rep["file"] = str(p)
    rep["elapsed_s"] = round(time.perf_counter() - t0, 3)
    return rep


def _header(info: phd.SampleInfo | None) -> dict:
    keys = ("data_type", "station", "detector", "srid", "qualifier", "collection_start", "collection_stop",
            "acquisition_start", "real_time_s", "live_time_s")
    if info is None:
        return {k: None for k in keys}
    return {"data_type": info.data_type, "station": info.station, "detector": info.detector, "srid": info.srid,
            "qualifier": info.qualifier, "collection_start": _iso(info.collection_start),
            "collection_stop": _iso(info.collection_stop), "acquisition_start": _iso(info.acquisition_start),
            "real_time_s": info.real_time_s, "live_time_s": info.live_time_s}


def _betagamma(msg, cfg: RadionuclideConfig, backgrounds) -> dict:
    from pipeline.radionuclide import betagamma
    from pipeline.radionuclide.xenon_ratios import ratio_points

    r = betagamma.analyse(msg, backgrounds, cfg.noble_gas, library=cfg.nuclide_library())
    lib_cat = "noble_gas"
    nuclides = [{"nuclide": x.nuclide, "rois": list(x.rois), "detected": x.detected,
                 "net_counts": _num(x.net_counts), "net_counts_sigma": _num(x.net_sigma),
                 "lc_counts": _num(x.lc_counts), "activity_Bq": _num(x.activity_Bq),
                 "activity_sigma_Bq": _num(x.activity_sigma_Bq), "mda_Bq": _num(x.mda_Bq),
                 "concentration_mBq_m3": _num(x.concentration_mBq_m3),
                 "concentration_sigma_mBq_m3": _num(x.concentration_sigma_mBq_m3),
                 "lc_mBq_m3": _num(x.lc_mBq_m3), "mdc_mBq_m3": _num(x.mdc_mBq_m3),
                 "category": lib_cat, "relevant": True} for x in r.xenon.values()]
    conc = {x.nuclide: (x.concentration_mBq_m3 if x.concentration_mBq_m3 is not None else x.activity_Bq)
            for x in r.xenon.values() if x.detected}
    n_det = sum(x.detected for x in r.xenon.values())
    rep = {"format": "IMS2.0", "kind": "beta-gamma", **_header(r.info), "air_volume_m3": _num(r.air_volume_m3),
           "nuclides": nuclides,
           "rois": [{"roi": c.roi, "gross": c.gross, "background": _num(c.background),
                     "interference": _num(c.interference), "net": _num(c.net), "net_sigma": _num(c.net_sigma),
                     "lc": _num(c.lc), "ld": _num(c.ld)} for c in r.rois.values()],
           "xenon_ratios": [{k: (_num(v) if isinstance(v, float) else v) for k, v in pt.items()}
                            for pt in ratio_points(conc)],
           "category": {"level": None, "xenon_isotopes_detected": n_det,
                        "reason": f"{n_det} of Xe-131m, Xe-133m, Xe-133, Xe-135 above their decision thresholds",
                        "scheme": "none (IDC noble-gas categorisation not found, REFERENCE.md 6.1)"},
           "calibration": {"gamma": "#g_Energy", "beta": "#b_Energy", "background": r.background},
           "notes": list(r.notes)}
    return rep


def _gamma_report(res, header: dict, fmt: str, cfg: RadionuclideConfig, history, air) -> dict:
    from pipeline.radionuclide.categories import categorise

    nuclides = []
    for n in res.nuclides:
        nuclides.append({"nuclide": n.nuclide, "energy_keV": n.energy_keV, "detected": n.identified,
                         "net_counts": _num(n.net_counts), "net_counts_sigma": _num(n.net_counts_sigma),
                         "lc_counts": _num(n.lc_counts), "activity_Bq": _num(n.activity_Bq),
                         "activity_sigma_Bq": _num(n.activity_sigma_Bq), "mda_Bq": _num(n.mda_Bq),
                         "concentration_mBq_m3": _num(n.concentration_mBq_m3),
                         "concentration_sigma_mBq_m3": _num(n.concentration_sigma_mBq_m3),
                         "mdc_mBq_m3": _num(n.mdc_mBq_m3), "category": n.category, "relevant": n.relevant})
    nuclides.sort(key=lambda d: (not d["detected"], d["energy_keV"]))
    # categories work on concentrations; without them (lab spectra) the count rate stands in
    live = header.get("live_time_s") or 1.0
    # a lab spectrum's check sources (named in its description) are not sample content
    sources = set(header.get("check_sources") or ())
    conc = {n.nuclide: (n.concentration_mBq_m3 if n.concentration_mBq_m3 is not None else n.net_counts / live)
            for n in res.nuclides if n.identified and n.nuclide not in sources}
    cat = categorise(conc, cfg.categories, history, library=cfg.nuclide_library())
    return {"format": fmt, "kind": "gamma", **header, "air_volume_m3": _num(air), "nuclides": nuclides,
            "peaks": [p.as_dict() for p in res.peaks],
            "category": {"level": cat.level, "reason": cat.reason, "anomalous": list(cat.anomalous),
                         "scheme": cfg.categories.source},
            "calibration": {k: (v if not isinstance(v, float) else _num(v)) for k, v in res.calibration.items()},
            "notes": list(res.notes)}


def _gamma_lab(spec, cfg: RadionuclideConfig, history) -> dict:
    from pipeline.radionuclide import hpge

    a = spec.attrs
    m = hpge.Measurement(a["live_time_s"], a["real_time_s"])
    energy = None
    if "energy_coefficients" in a:
        c = a["energy_coefficients"]

        def energy(ch, c=c):
            return np.polynomial.polynomial.polyval(np.asarray(ch, dtype=float), c)
    fw = hpge.fwhm_function(a["fwhm_channel_coefficients"]) if "fwhm_channel_coefficients" in a else None
    expected = None
    desc = a.get("description", "")
    if energy is None:  # a check-source spectrum without calibration: the sources it names, else all
        named = [n for n in cfg.nuclide_library() if n in desc]
        expected = named or None
    res = hpge.analyse(spec.values, m, energy=energy, fwhm=fw, config=cfg.particulate, expected=expected,
                       library=cfg.nuclide_library())
    header = {"data_type": None, "station": None, "detector": None, "srid": None, "qualifier": None,
              "collection_start": None, "collection_stop": None, "acquisition_start": a.get("acquisition_start"),
              "real_time_s": a["real_time_s"], "live_time_s": a["live_time_s"], "description": desc,
              "check_sources": expected or []}
    return _gamma_report(res, header, a["format"], cfg, history, None)


def _gamma_phd(msg, cfg: RadionuclideConfig, history) -> dict:
    """A particulate (or any gamma-only) PHD message: calibrations from #g_Energy, #g_Resolution,
    #g_Efficiency; concentrations from #Collection/#Acquisition."""
    from pipeline.radionuclide import hpge

    info = phd.sample_info(msg)
    spec = phd.g_spectrum(msg)
    ch = np.arange(spec.sizes["channel"])
    e_ch = np.asarray(spec.energy_keV)

    def energy(c):
        return np.interp(np.asarray(c, dtype=float), ch, e_ch)
    fw = None
    res_rows = msg.get("#g_Resolution") or []
    if len(res_rows) >= 2:
        gain = np.gradient(e_ch)
        pts = sorted((r["energy_keV"], r["fwhm_keV"]) for r in res_rows)

        def fw(c, pts=pts):
            e = energy(c)
            return np.interp(e, [x for x, _ in pts], [y for _, y in pts]) / np.interp(np.asarray(c, float), ch, gain)
    eff = None
    if len(msg.get("#g_Efficiency") or []) >= 2:
        eff = hpge.efficiency_function([(r["energy_keV"], r["efficiency"]) for r in msg["#g_Efficiency"]])
    m = hpge.Measurement(info.live_time_s, info.real_time_s, info.collection_s, info.decay_s, info.air_volume_m3, eff)
    res = hpge.analyse(spec.values, m, energy=energy, fwhm=fw, config=cfg.particulate, library=cfg.nuclide_library())
    return _gamma_report(res, _header(info), "IMS2.0", cfg, history, info.air_volume_m3)


# ------------------------------------------------------------------ text


def format_text(rep: dict) -> str:
    """The report for people: header, nuclide table, category."""
    out = [f"{rep['file']}  ({rep['format']}, {rep['kind']})"]
    if rep.get("station"):
        out.append(f"station {rep['station']}  detector {rep['detector']}  {rep['data_type']} {rep.get('qualifier') or ''}"
                   f"  SRID {rep['srid']}")
    if rep.get("collection_start"):
        out.append(f"collection {rep['collection_start']} - {rep['collection_stop']}"
                   + (f", air {rep['air_volume_m3']:.3f} m3" if rep.get("air_volume_m3") else ""))
    out.append(f"acquisition {rep.get('acquisition_start') or '-'}  real {rep['real_time_s']:.1f} s  "
               f"live {rep['live_time_s']:.1f} s")
    conc = any(n.get("concentration_mBq_m3") is not None or n.get("mdc_mBq_m3") is not None for n in rep["nuclides"])
    unit = "mBq/m3" if conc else "Bq"
    out.append("")
    out.append(f"{'nuclide':<9} {'energy/ROI':>10} {'det':>3} {'net counts':>16} {'activity (' + unit + ')':>24} "
               f"{'MDC (' + unit + ')':>12}")
    for n in rep["nuclides"]:
        if not n["detected"] and n.get("mdc_mBq_m3") is None and n.get("mda_Bq") is None:
            continue  # a limit in counts only (no efficiency): in the JSON report
        where = f"{n['energy_keV']:.1f}" if "energy_keV" in n else "ROI " + "+".join(str(r) for r in n["rois"])
        net = "-" if n["net_counts"] is None else f"{n['net_counts']:.1f} ± {n['net_counts_sigma']:.1f}"
        if conc:
            val, sig, mdc = n.get("concentration_mBq_m3"), n.get("concentration_sigma_mBq_m3"), n.get("mdc_mBq_m3")
        else:
            val, sig, mdc = n.get("activity_Bq"), n.get("activity_sigma_Bq"), n.get("mda_Bq")
        act = "-" if val is None else f"{val:.4g} ± {sig:.2g}"
        out.append(f"{n['nuclide']:<9} {where:>10} {'yes' if n['detected'] else 'no':>3} {net:>16} {act:>24} "
                   f"{'-' if mdc is None else f'{mdc:.3g}':>12}")
    c = rep["category"]
    out.append("")
    out.append(f"category: {c['level'] if c.get('level') is not None else '-'}  {c['reason']}")
    for pt in rep.get("xenon_ratios", []):
        out.append(f"ratio plot {pt['plot']}: x = {pt['x']:.3g}, y = {pt['y']:.3g} -> {pt['side']} side")
    for note in rep.get("notes", []):
        out.append(f"note: {note}")
    return "\n".join(out)
