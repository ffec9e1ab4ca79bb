"""The per-sample radionuclide report product (RRR, issue 17 item 5).

One report per stored sample of the data types of ``[radionuclide.rrr] data_types`` (default
SAMPLEPHD), built from the sample's **stored automatic analysis** (:mod:`pipeline.radionuclide.ingest`
stores it; nothing is re-analysed here): the sample's header, the detected nuclides with their
activity concentrations ± 1-sigma uncertainty, the decision thresholds and MDCs of the
CTBT-relevant nuclides not detected, the category, and for noble gas the xenon isotopic ratios.

Versioned like the bulletins (:mod:`pipeline.store.products`): product type ``RRR``, window = the
sample's collection (acquisition start + real time when it has none), ``subject`` = the sample's
key ``station:detector:measurement id[:qualifier]``. The input fingerprint is a hash of the
report's content (which holds the PHD message's SHA-256), the configuration hash that of
``[radionuclide]``: building the reports again over unchanged samples rewrites each version in
place (``runs`` + 1); a corrected message of the same sample (a new analysis) or another
``[radionuclide]`` configuration makes a new version; earlier versions stay readable.

Status: the IDC's RRR is the analyst-reviewed report; there is no analyst review of radionuclide
samples here yet, so every report says ``review.status = "automatic"``. The IMS2.0 RRR layout is not
in our references (REFERENCE.md 4.3: "ARR/RRR ... not readable here"): :func:`format_text` writes a
fixed-column text **in its spirit** (header block, activity table, MDC table, category, ratios),
whose columns are declared once in :data:`ACTIVITY_COLUMNS` / :data:`MDC_COLUMNS`.

JSON of one report (:func:`report_json`): ``product`` (RRR), ``version``, ``runs``, ``created``,
``subject``, ``window`` [ISO start, end], ``sample_id`` and ``content``: ``agency``, ``sample``
(station, detector, system_type, data_type, qualifier, srid, measurement_id,
detector_bk_measurement_id, gas_bk_measurement_id, msg_id, collection_start/stop, sampling_time_h,
acquisition_start, real_time_s, live_time_s, air_volume_m3, xe_volume_cm3, phd_sha256, phd_file),
``kind`` (beta-gamma | gamma), ``nuclides`` (detected: nuclide, energy_keV | rois,
concentration_mBq_m3, concentration_sigma_mBq_m3, uncertainty_pct, lc_mBq_m3, mdc_mBq_m3,
activity_Bq, activity_sigma_Bq, net_counts, net_counts_sigma, category, relevant), ``mdc`` (the
CTBT-relevant nuclides not detected: nuclide, energy_keV | rois, lc_mBq_m3, mdc_mBq_m3, mda_Bq),
``category`` (as the analysis gives it), ``xenon_ratios`` (beta-gamma: ``pairs`` Xe-135/Xe-133,
Xe-133m/Xe-133, Xe-133m/Xe-131m, Xe-133/Xe-131m with value and 1-sigma (``null`` unless both
detected) and ``plots``, the points of the isotopic-ratio plots with their side), ``analysis``
(software_version, notes), ``review`` (status, note).
"""
from __future__ import annotations

import hashlib
import json
import math
import time
from datetime import datetime, timezone
from pathlib import Path

from pipeline.errors import InputError
from pipeline.settings import Settings

PRODUCT = "RRR"
#: the xenon activity ratios reported (numerator, denominator)
XENON_PAIRS = (("Xe-135", "Xe-133"), ("Xe-133m", "Xe-133"), ("Xe-133m", "Xe-131m"), ("Xe-133", "Xe-131m"))
REVIEW_NOTE = ("automatic analysis, not reviewed by an analyst (no radionuclide review in this pipeline yet)")


class ReportError(InputError):
    """A sample cannot get a report (no analysis, an analysis error, no collection or acquisition time)."""


# --------------------------------------------------------------------------- content
def _iso(t: float | None) -> str | None:
    if t is None:
        return None
    return datetime.fromtimestamp(float(t), timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-5] + "Z"


def subject_of(sample) -> str:
    """The product subject of a sample: ``station:detector:measurement id[:qualifier]``."""
    s = f"{sample.station}:{sample.detector}:{sample.measurement_id}"
    return (s + f":{sample.qualifier}" if sample.qualifier else s)[:200]


def window_of(sample) -> tuple[float, float]:
    """The report's window: the collection, else [acquisition start, + real time]."""
    if sample.collection_start is not None and sample.collection_stop is not None \
            and sample.collection_stop > sample.collection_start:
        return float(sample.collection_start), float(sample.collection_stop)
    if sample.acquisition_start is not None and (sample.real_time_s or 0) > 0:
        return float(sample.acquisition_start), float(sample.acquisition_start) + float(sample.real_time_s)
    raise ReportError(f"sample {sample.id} ({subject_of(sample)}): no collection and no acquisition time")


def _ratio(a: dict | None, b: dict | None) -> tuple[float | None, float | None]:
    if not a or not b or not a.get("detected") or not b.get("detected"):
        return None, None
    x, y = a.get("concentration_mBq_m3"), b.get("concentration_mBq_m3")
    if x is None or y is None:  # no concentrations (no collection): activities at acquisition
        x, y = a.get("activity_Bq"), b.get("activity_Bq")
        sx, sy = a.get("activity_sigma_Bq"), b.get("activity_sigma_Bq")
    else:
        sx, sy = a.get("concentration_sigma_mBq_m3"), b.get("concentration_sigma_mBq_m3")
    if not x or not y or x <= 0 or y <= 0:
        return None, None
    r = x / y
    s = r * math.hypot((sx or 0.0) / x, (sy or 0.0) / y)
    return float(f"{r:.6g}"), float(f"{s:.3g}")


def build_content(sample, analysis: dict, software_version: str, agency: str) -> dict:
    """The report's content (module docstring) from a stored sample (:class:`pipeline.store.radionuclide.
    StoredSample`) and its stored analysis report (:mod:`pipeline.radionuclide.analyse` keys)."""
    nuclides, mdc = [], []
    for n in analysis.get("nuclides", []):
        where = {"rois": n["rois"]} if "rois" in n else {"energy_keV": n.get("energy_keV")}
        if n.get("detected"):
            c, s = n.get("concentration_mBq_m3"), n.get("concentration_sigma_mBq_m3")
            nuclides.append({"nuclide": n["nuclide"], **where, "concentration_mBq_m3": c,
                             "concentration_sigma_mBq_m3": s,
                             "uncertainty_pct": (round(100.0 * s / c, 1) if c and s is not None and c > 0 else None),
                             "lc_mBq_m3": n.get("lc_mBq_m3"), "mdc_mBq_m3": n.get("mdc_mBq_m3"),
                             "activity_Bq": n.get("activity_Bq"), "activity_sigma_Bq": n.get("activity_sigma_Bq"),
                             "net_counts": n.get("net_counts"), "net_counts_sigma": n.get("net_counts_sigma"),
                             "category": n.get("category"), "relevant": bool(n.get("relevant"))})
        elif n.get("relevant"):
            mdc.append({"nuclide": n["nuclide"], **where, "lc_mBq_m3": n.get("lc_mBq_m3"),
                        "mdc_mBq_m3": n.get("mdc_mBq_m3"), "mda_Bq": n.get("mda_Bq")})
    content = {
        "agency": agency,
        "sample": {k: getattr(sample, k) for k in (
            "station", "detector", "system_type", "data_type", "qualifier", "srid", "measurement_id",
            "detector_bk_measurement_id", "gas_bk_measurement_id", "msg_id")}
        | {"collection_start": _iso(sample.collection_start), "collection_stop": _iso(sample.collection_stop),
           "sampling_time_h": (round((sample.collection_stop - sample.collection_start) / 3600.0, 3)
                               if sample.collection_start is not None and sample.collection_stop is not None
                               else None),
           "acquisition_start": _iso(sample.acquisition_start), "real_time_s": sample.real_time_s,
           "live_time_s": sample.live_time_s, "air_volume_m3": analysis.get("air_volume_m3") or sample.air_volume_m3,
           "xe_volume_cm3": sample.xe_volume_cm3, "phd_sha256": sample.sha256, "phd_file": sample.file},
        "kind": analysis.get("kind", ""),
        "nuclides": nuclides,
        "mdc": mdc,
        "category": analysis.get("category") or {},
        "analysis": {"software_version": software_version, "notes": list(analysis.get("notes", []))},
        "review": {"status": "automatic", "note": REVIEW_NOTE},
    }
    if content["kind"] == "beta-gamma":
        by = {n["nuclide"]: n for n in analysis.get("nuclides", [])}
        pairs = []
        for a, b in XENON_PAIRS:
            v, s = _ratio(by.get(a), by.get(b))
            pairs.append({"ratio": f"{a}/{b}", "value": v, "sigma": s})
        content["xenon_ratios"] = {"pairs": pairs, "plots": list(analysis.get("xenon_ratios", []))}
    return content


def fingerprint(content: dict) -> str:
    """SHA-256 (16 hex) of the content: the same analysis of the same message gives the same one."""
    return hashlib.sha256(json.dumps(content, sort_keys=True, default=str).encode()).hexdigest()[:16]


# --------------------------------------------------------------------------- building the products
def make_reports(settings: Settings, *, station: str | None = None, start=None, end=None,
                 sample_ids: list[int] | None = None, runner: str = "cli", run_id: str = "") -> dict:
    """Build (or rebuild) the report product of every stored sample of ``[radionuclide.rrr]
    data_types`` (collection overlapping [start, end), of ``station`` / ``sample_ids`` when given).

    Idempotent: unchanged samples rewrite their version in place (``runs`` + 1), changed ones
    (another message of the sample, another ``[radionuclide]`` configuration) get a new version.
    A sample without a usable analysis is listed in ``skipped`` with the reason, not an error.

    :returns: ``{"reports": [{sample_id, subject, station, srid, version, new_version, runs}],
        "skipped": [{sample_id, subject, reason}], "seconds"}``
    """
    from obspy import UTCDateTime

    from pipeline import __version__
    from pipeline.store import radionuclide as rn_store
    from pipeline.store.db import ensure_schema, session_scope
    from pipeline.store.products import ProductKey, record_run, write_product

    cfg = settings.radionuclide.rrr
    t_start = time.perf_counter()
    t0 = float(UTCDateTime(start).timestamp) if start is not None else None
    t1 = float(UTCDateTime(end).timestamp) if end is not None else None
    ensure_schema(settings.database_url)
    with session_scope(settings.database_url) as s:
        samples = [x for dt in cfg.data_types for x in rn_store.list_samples(s, station, t0, t1, dt)]
        if sample_ids is not None:
            samples = [x for x in samples if x.id in set(sample_ids)]
        todo, skipped = [], []
        for smp in samples:
            a = rn_store.analysis_of(s, smp.id)
            why = ("no analysis stored" if a is None else f"analysis failed: {a[2]}" if a[2]
                   else "analysis has no result" if not a[0] else "")
            if not why:
                try:
                    window = window_of(smp)
                except ReportError as exc:
                    why = str(exc)
            if why:
                skipped.append({"sample_id": smp.id, "subject": subject_of(smp), "reason": why})
                continue
            todo.append((smp, window, build_content(smp, a[0], a[1], cfg.agency)))
    config_hash = settings.config_hash("radionuclide")
    out = []
    for smp, (w0, w1), content in todo:  # one transaction per report: one bad sample spoils no other
        started, t_one = datetime.now(timezone.utc), time.perf_counter()
        with session_scope(settings.database_url) as s:
            key = ProductKey(PRODUCT, w0, w1, subject_of(smp))
            prod, new = write_product(
                s, key, input_fingerprint=fingerprint(content), config_hash=config_hash, software_version=__version__,
                fill=lambda ss, p, smp=smp, content=content: (
                    rn_store.add_report(ss, p.id, smp.id, smp.station, smp.srid, content)
                    or {"nuclides": len(content["nuclides"]), "events": 0, "sample_id": smp.id}))
            record_run(s, prod, new, len(content["nuclides"]), started, time.perf_counter() - t_one, runner=runner,
                       run_id=run_id)
            out.append({"sample_id": smp.id, "subject": key.subject, "station": smp.station, "srid": smp.srid,
                        "version": prod.version, "new_version": new, "runs": prod.runs})
    return {"reports": out, "skipped": skipped, "seconds": round(time.perf_counter() - t_start, 3)}


def report_json(r) -> dict:
    """One stored report version (:class:`pipeline.store.radionuclide.StoredReport`) as JSON."""
    created = r.created.isoformat() if hasattr(r.created, "isoformat") else str(r.created)
    return {"product": PRODUCT, "version": r.version, "runs": r.runs, "created": created, "subject": r.subject,
            "window": [_iso(r.window_start), _iso(r.window_end)], "sample_id": r.sample_id, "station": r.station,
            "srid": r.srid, "content": r.content}


def load_reports(settings: Settings, *, station: str | None = None, start=None, end=None,
                 sample_id: int | None = None, version: int | None = None, all_versions: bool = False) -> list[dict]:
    """Stored reports as :func:`report_json` dicts: the newest version of each sample whose window
    overlaps [start, end) (or of ``sample_id``; ``version`` picks one version of it; ``all_versions``
    every version)."""
    from obspy import UTCDateTime

    from pipeline.store import radionuclide as rn_store
    from pipeline.store.db import ensure_schema, session_scope

    t0 = float(UTCDateTime(start).timestamp) if start is not None else None
    t1 = float(UTCDateTime(end).timestamp) if end is not None else None
    ensure_schema(settings.database_url)
    with session_scope(settings.database_url) as s:
        rows = rn_store.stored_reports(s, PRODUCT, t0, t1, sample_id, station,
                                       all_versions=all_versions or version is not None)
    if version is not None:
        rows = [r for r in rows if r.version == int(version)]
        if not rows:
            raise FileNotFoundError(f"RRR of sample {sample_id}: no version {version}")
    return [report_json(r) for r in rows]


# --------------------------------------------------------------------------- text (IMS2.0 RRR spirit)
#: (title, width, key, format) of the activity table's columns
ACTIVITY_COLUMNS = (("Nuclide", 9, "nuclide", "s"), ("Energy/ROI", 11, "_where", "s"),
                    ("Conc(mBq/m3)", 13, "concentration_mBq_m3", ".4E"),
                    ("1-sigma", 10, "concentration_sigma_mBq_m3", ".2E"), ("Unc%", 6, "uncertainty_pct", ".1f"),
                    ("LC(mBq/m3)", 11, "lc_mBq_m3", ".2E"), ("MDC(mBq/m3)", 12, "mdc_mBq_m3", ".2E"),
                    ("Activity(Bq)", 13, "activity_Bq", ".4E"))
MDC_COLUMNS = (("Nuclide", 9, "nuclide", "s"), ("Energy/ROI", 11, "_where", "s"),
               ("LC(mBq/m3)", 11, "lc_mBq_m3", ".2E"), ("MDC(mBq/m3)", 12, "mdc_mBq_m3", ".2E"),
               ("MDA(Bq)", 10, "mda_Bq", ".2E"))


def _where(n: dict) -> str:
    if "rois" in n:
        return "ROI " + "+".join(str(r) for r in n["rois"])
    e = n.get("energy_keV")
    return "-" if e is None else f"{e:.2f}"


def _table(rows: list[dict], columns) -> list[str]:
    lines = [" ".join(f"{t:<{w}}" if i < 2 else f"{t:>{w}}" for i, (t, w, _, _) in enumerate(columns)).rstrip()]
    for r in rows:
        cells = []
        for i, (_, w, k, f) in enumerate(columns):
            v = _where(r) if k == "_where" else r.get(k)
            text = "-" if v is None else (str(v) if f == "s" else format(v, f))
            cells.append(f"{text:<{w}}" if i < 2 else f"{text:>{w}}")
        lines.append(" ".join(cells).rstrip())
    return lines


def _phd_time(iso: str | None) -> str:
    return "-" if not iso else iso.replace("-", "/", 2).replace("T", " ").rstrip("Z")


def format_text(rep: dict) -> str:
    """One report (:func:`report_json`) as the body of a ``DATA_TYPE RRR IMS2.0`` section (without
    the DATA_TYPE line)."""
    c, smp = rep["content"], rep["content"]["sample"]
    kind = {"beta-gamma": "noble gas (beta-gamma coincidence)", "gamma": "particulate (gamma)"}.get(c["kind"], c["kind"])
    bar = "=" * 78
    out = [bar, f"{c['agency']} RADIONUCLIDE REPORT (RRR) - {c['review']['status'].upper()}".center(78), bar,
           f"Report:              {rep['subject']}  version {rep['version']} (created {rep['created'][:19]}Z)",
           f"Review:              {c['review']['note']}",
           f"Station:             {smp['station']}",
           f"Detector:            {smp['detector']}   system type {smp['system_type'] or '-'}   {kind}",
           f"Sample:              {smp['data_type']} {smp['qualifier'] or ''}".rstrip(),
           f"SRID:                {smp['srid'] or '-'}",
           f"Measurement ID:      {smp['measurement_id']}",
           f"Background IDs:      detector {smp['detector_bk_measurement_id'] or '-'}   gas "
           f"{smp['gas_bk_measurement_id'] or '-'}",
           f"Collection start:    {_phd_time(smp['collection_start'])}",
           f"Collection stop:     {_phd_time(smp['collection_stop'])}",
           f"Sampling time:       {'-' if smp['sampling_time_h'] is None else format(smp['sampling_time_h'], '.2f') + ' h'}",
           f"Air volume:          {'-' if smp['air_volume_m3'] is None else format(smp['air_volume_m3'], '.4f') + ' m3'}"
           + (f"   Xe volume {smp['xe_volume_cm3']:.4f} cm3" if smp.get("xe_volume_cm3") else ""),
           f"Acquisition start:   {_phd_time(smp['acquisition_start'])}",
           f"Real/live time:      {smp['real_time_s'] or 0:.2f} s / {smp['live_time_s'] or 0:.2f} s",
           "", "ACTIVITY CONCENTRATIONS OF THE NUCLIDES DETECTED (1 sigma)"]
    out += _table(c["nuclides"], ACTIVITY_COLUMNS) if c["nuclides"] else ["  none detected"]
    out += ["", "DECISION THRESHOLDS AND MDCs OF THE CTBT-RELEVANT NUCLIDES NOT DETECTED"]
    out += _table(c["mdc"], MDC_COLUMNS) if c["mdc"] else ["  none"]
    if "xenon_ratios" in c:
        out += ["", "XENON ISOTOPIC ACTIVITY RATIOS"]
        for p in c["xenon_ratios"]["pairs"]:
            v = "-  (not both detected)" if p["value"] is None else f"{p['value']:.4E} +- {p['sigma']:.2E}"
            out.append(f"  {p['ratio']:<17} {v}")
        for pt in c["xenon_ratios"]["plots"]:
            out.append(f"  plot {pt['plot']}: {pt['y_ratio']} = {pt['y']:.4g} vs {pt['x_ratio']} = {pt['x']:.4g} "
                       f"-> {pt['side']} side")
    cat = c["category"]
    level = cat.get("level")
    out += ["", "SAMPLE CATEGORY",
            f"  Category:          {'-' if level is None else level}   {cat.get('reason', '')}".rstrip(),
            f"  Scheme:            {cat.get('scheme', '-')}"]
    out += ["", "ANALYSIS", f"  Software:          idc-pipeline {c['analysis']['software_version']}",
            f"  PHD message:       {smp['phd_file']}  SHA-256 {smp['phd_sha256']}"]
    out += [f"  Note:              {n}" for n in c["analysis"]["notes"]]
    out.append(bar)
    return "\n".join(out) + "\n"


def rrr_section(rep: dict) -> str:
    """One report as a ``DATA_TYPE RRR IMS2.0`` section (the AutoDRM's and the export's)."""
    return "DATA_TYPE RRR IMS2.0\n" + format_text(rep)


def rrr_message(reports: list[dict], msg_id: str, source: str = "IDC") -> str:
    """A whole IMS2.0 DATA message holding one RRR section per report (``idc export --format rrr``)."""
    head = f"BEGIN IMS2.0\nMSG_TYPE DATA\nMSG_ID {msg_id} {source}\n"
    return head + "".join(rrr_section(r) + "\n" for r in reports) + "STOP\n"


def phd_section(text: str) -> str:
    """The ``DATA_TYPE ...PHD`` section of a stored PHD message (its lines from DATA_TYPE to
    before STOP), for a response message that carries it."""
    lines = text.replace("\r\n", "\n").split("\n")
    i = next((n for n, ln in enumerate(lines) if ln.upper().startswith("DATA_TYPE")), None)
    if i is None:
        raise ReportError("stored PHD message without a DATA_TYPE line")
    j = max((n for n, ln in enumerate(lines) if ln.strip().upper() == "STOP"), default=len(lines))
    return "\n".join(lines[i:j]).rstrip("\n") + "\n"


def stored_phd(settings: Settings, rel: str) -> Path:
    """The stored copy of a sample's message (``$IDC_HOME/radionuclide/<file>``)."""
    from pipeline.radionuclide.ingest import store_root

    return store_root(settings) / rel


# --------------------------------------------------------------------------- plot data (web UI sample page)
def spectrum_plot_data(path: str | Path, analysis: dict | None = None) -> dict:
    """What the sample page draws, from a stored PHD message: ``gamma`` / ``beta`` spectra
    (``energy_keV``, ``counts``), the beta–gamma ``histogram`` (``counts[gamma channel][beta
    channel]`` with both energy axes), the ``rois`` of ``#ROI_Limits`` (keV boxes, with the xenon
    isotope whose primary ROI it is and whether the analysis detected it) and the ``peaks`` of a
    gamma analysis (energy, net counts, significance, the nuclides assigned)."""
    import numpy as np

    from pipeline.radionuclide import phd
    from pipeline.radionuclide.betagamma import PRIMARY_ROI

    msg = phd.read_phd(path)
    out: dict = {"source": Path(path).name}

    def spec(da) -> dict:
        e = np.asarray(da["energy_keV"].values, dtype=float)
        return {"energy_keV": [round(float(x), 3) for x in e], "counts": [int(x) for x in np.asarray(da.values)]}
    if "#g_Spectrum" in msg:
        out["gamma"] = spec(phd.g_spectrum(msg))
    if "#b_Spectrum" in msg:
        out["beta"] = spec(phd.b_spectrum(msg))
    if "#Histogram" in msg:
        h = phd.histogram(msg)
        out["histogram"] = {"gamma_energy_keV": [round(float(x), 3) for x in h["gamma_energy_keV"].values],
                            "beta_energy_keV": [round(float(x), 3) for x in h["beta_energy_keV"].values],
                            "counts": np.asarray(h.values, dtype=int).tolist()}
    analysis = analysis or {}
    detected = {n["nuclide"] for n in analysis.get("nuclides", []) if n.get("detected")}
    owner = {roi: nuc for nuc, roi in PRIMARY_ROI.items()}
    out["rois"] = [{**r, "nuclide": owner.get(r["roi"]), "detected": owner.get(r["roi"]) in detected}
                   for r in (msg.get("#ROI_Limits") or [])]
    out["peaks"] = [{"energy_keV": p.get("energy_keV"), "net_counts": p.get("net_counts"),
                     "significance": p.get("significance"), "nuclides": p.get("nuclides") or []}
                    for p in analysis.get("peaks", [])]
    return out
