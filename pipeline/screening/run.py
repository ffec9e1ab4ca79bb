"""Screening in the store: REB version of a day → SEB (REB + characterisation parameters) and
SSEB (screening outcomes per event and criterion) product versions.

The SEB holds every REB event (rows in the CSS3.0-style tables) plus one
``event_characterization`` row per event; the SSEB holds the events not screened out (or all,
``screening.sseb_events = "all"``) plus ``screening_result`` rows for **every** REB event: one
per criterion (applicable or not, value, threshold, outcome, reason, source) and one ``overall``.
Both follow the store's versioning rule (:mod:`pipeline.store.products`): re-screening the same
REB version with the same ``[screening]`` configuration replaces in place; a new REB version or
a changed configuration makes new versions. The QuakeML files carry the parameters and outcomes
in obspy's ``extra`` namespace.
"""
from __future__ import annotations

import hashlib
import time
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from obspy import UTCDateTime

from pipeline.io.quakeml import write_quakeml
from pipeline.screening.criteria import NOT_SCREENED_OUT, SCREENED_OUT, characterize, screen_event

if TYPE_CHECKING:
    from pipeline.settings import Settings

DAY_S = 86400.0


def _ns() -> str:
    try:
        from pipeline.io.common import NAMESPACE

        return NAMESPACE
    except ImportError:  # pragma: no cover - formats package not present
        return "https://idc-pipeline.example/xmlns/1.0"


def _extra(ev, char, overall: str | None, results) -> None:
    ns = _ns()
    extra = dict(getattr(ev, "extra", None) or {})
    for k, v in char.as_dict().items():
        if k in ("public_id", "origin_time", "latitude", "longitude") or v is None:
            continue
        extra[k] = {"value": str(v).lower() if isinstance(v, bool) else str(v), "namespace": ns}
    if overall is not None:
        extra["screening_outcome"] = {"value": overall, "namespace": ns}
        for r in results:
            if r.criterion != "overall":
                extra[f"screening_{r.criterion}"] = {"value": r.outcome, "namespace": ns}
    ev.extra = extra


def screen(settings: "Settings", day, reb_version: int | None = None, runner: str = "cli", run_id: str = "") -> dict:
    """``idc screen --day D``: SEB and SSEB versions from the (newest) REB version of day D."""
    import copy

    from obspy import Catalog

    from pipeline import __version__
    from pipeline.review.queue import utc_day
    from pipeline.store.catalog import load_catalog, store_catalog
    from pipeline.store.db import ensure_schema, session_scope
    from pipeline.store import screening as rows
    from pipeline.store.products import ProductKey, record_run, select_version, write_product
    from pipeline.util import fault_point, staged_files

    cfg = settings.screening
    d0 = utc_day(day)
    t0 = float(d0.timestamp)
    ensure_schema(settings.database_url)
    started, tick = datetime.now(timezone.utc), time.perf_counter()
    with session_scope(settings.database_url) as s:
        reb = select_version(s, ProductKey("REB", t0, t0 + DAY_S), reb_version, label=f"REB {d0.date}",
                             missing=f"no REB for {d0.date}: publish it first (`idc review publish --day {d0.date}`)")
        cat = load_catalog(s, reb)
        reb_v, reb_id = reb.version, reb.id
    chars = [characterize(ev, cfg) for ev in cat]
    screened = [screen_event(c, cfg) for c in chars]
    fingerprint = hashlib.sha256(f"REB {reb_id} v{reb_v}".encode()).hexdigest()
    conf_hash = settings.config_hash("screening")
    seb_cat = Catalog(events=[copy.deepcopy(e) for e in cat], creation_info=cat.creation_info)
    for ev, c in zip(seb_cat, chars):
        _extra(ev, c, None, [])
    keep = [i for i, (out, _) in enumerate(screened) if cfg.sseb_events == "all" or out != SCREENED_OUT]
    sseb_cat = Catalog(events=[copy.deepcopy(cat[i]) for i in keep], creation_info=cat.creation_info)
    for ev, i in zip(sseb_cat, keep):
        _extra(ev, chars[i], screened[i][0], screened[i][1])

    def fill_seb(session, product):
        rows.clear_characterizations(session, product.id)
        summary = store_catalog(session, product, seb_cat)
        ids = rows.event_ids(session, product.id)
        for c in chars:
            d = c.as_dict()
            rows.add_characterization(
                session, product_id=product.id, evid=ids[c.public_id], public_id=c.public_id[:200],
                **{k: d[k] for k in ("mb", "mb_uncertainty", "mb_nsta", "ms", "ms_uncertainty", "ms_nsta", "depth_km",
                                     "depth_conf90_km", "depth_fixed", "distance_to_coast_km", "at_sea",
                                     "hydro_energy", "hydro_nsta")})
        return {**summary, "reb_version": reb_v}

    def fill_sseb(session, product):
        rows.clear_results(session, product.id)
        summary = store_catalog(session, product, sseb_cat)
        ids = rows.event_ids(session, product.id)
        n_out = 0
        for c, (overall, results) in zip(chars, screened):
            n_out += overall == SCREENED_OUT
            for r in results:
                rows.add_result(
                    session, product_id=product.id, evid=ids.get(c.public_id), public_id=c.public_id[:200],
                    origin_time=c.origin_time, criterion=r.criterion, applicable=r.applicable, value=r.value,
                    uncertainty=r.uncertainty, threshold=r.threshold, outcome=r.outcome, reason=r.reason,
                    source=r.source)
        return {**summary, "reb_version": reb_v, "screened_out": n_out, "not_screened_out": len(chars) - n_out}

    out = {"day": str(d0.date), "reb_version": reb_v, "events": len(cat)}
    files = {}
    # both files are written before the commit and renamed into place after it (pipeline.util.staged_files)
    with staged_files() as stage:
        with session_scope(settings.database_url) as s:
            for ptype, fill, c in (("SEB", fill_seb, seb_cat), ("SSEB", fill_sseb, sseb_cat)):
                prod, new = write_product(s, ProductKey(ptype, t0, t0 + DAY_S), input_fingerprint=fingerprint,
                                          config_hash=conf_hash, software_version=__version__, fill=fill)
                out[f"{ptype.lower()}_version"] = prod.version
                out[f"{ptype.lower()}_new_version"] = new
                record_run(s, prod, new, len(c), started, time.perf_counter() - tick, runner, run_id)
                fault_point(f"publish.screen_{ptype.lower()}_stored")
            for ptype, c in (("SEB", seb_cat), ("SSEB", sseb_cat)):
                f = settings.products_dir / ptype / f"{ptype}_{d0.strftime('%Y%m%d')}_v{out[f'{ptype.lower()}_version']}.xml"
                write_quakeml(c, stage.path(f), idc_extra=False)
                files[ptype] = str(f)
            fault_point("publish.screen_files_staged")
        fault_point("publish.screen_committed")
    out["files"] = files
    for ptype in ("SEB", "SSEB"):
        out[ptype] = {"product": ptype, "start": str(d0), "end": str(d0 + DAY_S),
                      "version": out[f"{ptype.lower()}_version"], "new_version": out[f"{ptype.lower()}_new_version"],
                      "file": files[ptype]}
    out["screened_out"] = sum(o == SCREENED_OUT for o, _ in screened)
    out["not_screened_out"] = sum(o == NOT_SCREENED_OUT for o, _ in screened)
    out["per_event"] = [{"event": c.public_id, "time": str(UTCDateTime(c.origin_time)),
                         "latitude": round(c.latitude, 4), "longitude": round(c.longitude, 4), "outcome": o,
                         "criteria": {r.criterion: r.outcome for r in rs if r.criterion != "overall"}}
                        for c, (o, rs) in zip(chars, screened)]
    return out


def load_screening(settings: "Settings", day, version: int | None = None) -> dict:
    """Stored results of an SSEB version (newest by default) and the SEB parameters it came with:
    ``{"version", "reb_version", "events": {public_id: {"criteria": {name: row}, "parameters": {...}}}}``."""
    from pipeline.review.queue import utc_day
    from pipeline.store.db import ensure_schema, session_scope
    from pipeline.store import screening as rows
    from pipeline.store.products import ProductKey, select_version, versions

    d0 = utc_day(day)
    t0 = float(d0.timestamp)
    ensure_schema(settings.database_url)
    with session_scope(settings.database_url) as s:
        p = select_version(s, ProductKey("SSEB", t0, t0 + DAY_S), version, label=f"SSEB {d0.date}",
                           missing=f"no SSEB for {d0.date} (run `idc screen --day {d0.date}`)")
        reb_v = (p.summary or {}).get("reb_version")
        events: dict[str, dict] = {}
        for r in rows.results(s, p.id):
            e = events.setdefault(r.public_id, {"time": str(UTCDateTime(r.origin_time)), "criteria": {},
                                                "in_sseb": r.evid is not None})
            e["criteria"][r.criterion] = {"applicable": r.applicable, "value": r.value, "uncertainty": r.uncertainty,
                                          "threshold": r.threshold, "outcome": r.outcome, "reason": r.reason,
                                          "source": r.source}
        seb = next((v for v in reversed(versions(s, ProductKey("SEB", t0, t0 + DAY_S)))
                    if (v.summary or {}).get("reb_version") == reb_v), None)
        if seb is not None:
            for c in rows.characterizations(s, seb.id):
                if c.public_id in events:
                    events[c.public_id]["parameters"] = {
                        k: getattr(c, k) for k in ("mb", "mb_uncertainty", "mb_nsta", "ms", "ms_uncertainty", "ms_nsta",
                                                   "depth_km", "depth_conf90_km", "depth_fixed",
                                                   "distance_to_coast_km", "at_sea", "hydro_energy", "hydro_nsta")}
        return {"version": p.version, "reb_version": reb_v, "seb_version": seb.version if seb else None,
                "events": events}
