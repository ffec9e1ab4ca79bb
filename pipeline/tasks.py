"""The task layer: one function per pipeline step, shared by the DAGs, the ``idc`` CLI and the API.

Each function takes a :class:`~pipeline.settings.Settings` (plus a time window or inputs) and
returns a small JSON-able summary dict. Nothing here is implemented twice elsewhere.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterable

from pipeline.settings import PROJECT_ROOT, Settings

#: where `make demo` finds the bundled Iceland waveforms
DEMO_WAVEFORMS = PROJECT_ROOT / "tests" / "data" / "iceland" / "waveforms"


def db_upgrade(settings: Settings) -> dict:
    """Migrate the store to the newest schema."""
    from pipeline.store import db

    before = db.current_revision(settings.database_url)
    after = db.upgrade(settings.database_url)
    return {"database": _redact(settings.database_url), "from": before, "to": after}


def load_stations(settings: Settings, paths: Iterable[str | Path] = ()) -> dict:
    """Fill site/sitechan from StationXML / station CSV files (default: ``stations.paths``)."""
    from pipeline.stations.inventory import iter_station_files, read_station_file
    from pipeline.store.db import ensure_schema, session_scope
    from pipeline.store.stations import upsert_inventory

    files = iter_station_files([Path(p) for p in paths] or settings.station_paths())
    if not files:
        raise FileNotFoundError("no station files found in " + ", ".join(map(str, paths or settings.station_paths())))
    ensure_schema(settings.database_url)
    total = {"files": 0, "sites_new": 0, "sites_updated": 0, "channels_new": 0, "channels_updated": 0,
             "skipped_rows": 0}
    per_file = []
    for f in files:
        table = read_station_file(f, default_network=settings.stations.default_network or "XX")
        with session_scope(settings.database_url) as s:
            counts = upsert_inventory(s, table.inventory, str(f))
        total["files"] += 1
        total["skipped_rows"] += len(table.skipped)
        for k, v in counts.items():
            total[k] += v
        per_file.append({"file": str(f), **counts, "skipped_rows": len(table.skipped)})
    total["per_file"] = per_file
    return total


def ingest_files(settings: Settings, paths: Iterable[str | Path], progress: bool | None = None,
                 force: bool = False, echo: Callable[[str], None] | None = None) -> dict:
    """Ingest waveform files/folders into the SDS archive (see :mod:`pipeline.ingest.service`)."""
    from pipeline.ingest.service import Ingestor

    return Ingestor(settings, echo=echo).ingest_files(paths, progress=progress, force=force).as_dict()


def ingest_seedlink(settings: Settings, server: str, selectors: list[str], start, end,
                    echo: Callable[[str], None] | None = None) -> dict:
    """Fetch a time window from a SeedLink server and ingest it."""
    from obspy import UTCDateTime

    from pipeline.ingest.service import Ingestor
    from pipeline.ingest.sources import fetch_seedlink, parse_selector

    start, end = UTCDateTime(start), UTCDateTime(end)
    sel = [parse_selector(s) for s in selectors]
    st = fetch_seedlink(server, sel, start, end)
    st.trim(start, end, nearest_sample=False)
    ing = Ingestor(settings, echo=echo)
    report = ing.ingest_memory(st, source=f"seedlink://{server} {start}–{end}") if len(st) else None
    return {"source": f"seedlink://{server}", "traces_received": len(st),
            **(report.as_dict() if report else {"accepted": 0})}


def ingest_fdsn(settings: Settings, url: str, selectors: list[str] | None = None, start=None, end=None,
                echo: Callable[[str], None] | None = None) -> dict:
    """Fetch waveforms from an FDSN dataselect service and ingest them."""
    from obspy import UTCDateTime

    from pipeline.ingest.service import Ingestor
    from pipeline.ingest.sources import fetch_fdsn, parse_selector

    sel = [parse_selector(s) for s in selectors] if selectors else None
    st = fetch_fdsn(url, sel, UTCDateTime(start) if start else None, UTCDateTime(end) if end else None)
    ing = Ingestor(settings, echo=echo)
    report = ing.ingest_memory(st, source=url) if len(st) else None
    return {"source": url, "traces_received": len(st), **(report.as_dict() if report else {"accepted": 0})}


def availability(settings: Settings, start=None, end=None, pattern: str = "*") -> dict:
    """Per-channel coverage, gaps and overlaps of the archive."""
    from obspy import UTCDateTime

    from pipeline.store.availability import channel_coverage
    from pipeline.store.db import ensure_schema, session_scope

    ensure_schema(settings.database_url)
    t0 = float(UTCDateTime(start).timestamp) if start else None
    t1 = float(UTCDateTime(end).timestamp) if end else None
    with session_scope(settings.database_url) as s:
        rows = channel_coverage(s, t0, t1, pattern)
    return {"channels": [r.as_dict() for r in rows]}


def _redact(url: str) -> str:
    """Hide a password in a database URL."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return url


# ----------------------------------------------------------------------------- automatic chain
def travel_times(settings: Settings, model: str | None = None):
    """The travel-time table of the configured (or given) model, cached under ``$IDC_HOME/cache``."""
    from pipeline.traveltime.models import read_velocity_file
    from pipeline.traveltime.tables import TravelTimeTable, local_grid

    cfg = settings.traveltime
    model = model or cfg.model_path()
    grid = None
    if Path(model).is_file():
        top = read_velocity_file(model).model_top_km
        grid = local_grid(top, max_distance_deg=cfg.local_max_distance_deg)
    return TravelTimeTable(model, list(cfg.phases), cache_dir=settings.cache_dir / "traveltime", grid=grid)


def chain_config(settings: Settings):
    from pipeline.bulletin.build import ChainConfig

    return ChainConfig(association=settings.association, location=settings.location, magnitude=settings.magnitude)


def station_table(settings: Settings, path: str | Path | None = None):
    """Stations DataFrame from a StationXML/CSV file, or from the store's site table."""
    import pandas as pd

    from pipeline.picks import read_stations_csv, stations_from_inventory
    from pipeline.stations.inventory import read_station_file
    from pipeline.store.db import ensure_schema, session_scope
    from pipeline.store.models import Site

    if path is not None:
        p = Path(path)
        if p.suffix.lower() == ".csv":
            return read_stations_csv(p)
        return stations_from_inventory(read_station_file(p).inventory)
    ensure_schema(settings.database_url)
    with session_scope(settings.database_url) as s:
        rows = [(x.net, x.sta, x.lat, x.lon, x.elev_km * 1000.0) for x in s.query(Site).order_by(Site.ondate)]
    df = pd.DataFrame(rows, columns=["network", "station", "latitude", "longitude", "elevation_m"])
    return df.drop_duplicates(["network", "station"], keep="last").reset_index(drop=True)


def station_inventory(settings: Settings):
    """All StationXML of ``stations.paths`` merged (for instrument responses)."""
    from obspy import Inventory

    from pipeline.stations.inventory import iter_station_files, read_station_file

    inv = Inventory(networks=[], source="idc-pipeline")
    for f in iter_station_files(settings.station_paths()):
        if f.suffix.lower() == ".xml":
            inv += read_station_file(f).inventory
    return inv


def detect_files(settings: Settings, paths: Iterable[str | Path], stations: str | Path | None = None,
                 out: str | Path | None = None) -> dict:
    """``idc detect``: station processing on waveform files → picks table (picks.csv)."""
    from obspy import Stream, read, read_inventory

    from pipeline.detection import detect
    from pipeline.picks import write_picks_csv

    st = Stream()
    for p in paths:
        st += read(str(p))
    st.merge(method=1)
    inv = read_inventory(str(stations)) if stations and Path(stations).suffix.lower() == ".xml" else (
        station_inventory(settings) if stations is None else None)
    picks = detect(st, inv, settings.detection.build())
    if out:
        write_picks_csv(picks, out)
    return {"traces": len(st), "picks": int(len(picks)),
            "phases": {k: int(v) for k, v in picks["phase"].value_counts().items()}, "output": str(out or "")}


def associate_picks(settings: Settings, picks_csv: str | Path, stations: str | Path | None, out: str | Path,
                    model: str | None = None) -> dict:
    """``idc associate``: pick table → QuakeML events with origins, arrivals, picks, magnitudes."""
    from pipeline.bulletin.build import events_from_picks
    from pipeline.picks import read_picks_csv

    picks = read_picks_csv(picks_csv)
    sta = station_table(settings, stations)
    res = events_from_picks(picks, sta, travel_times(settings, model), chain_config(settings))
    res.catalog.write(str(out), format="QUAKEML")
    missing = sorted(set(res.unassociated.loc[res.unassociated["reason"] != "not associated", "station"]))
    return {**res.summary(), "output": str(out), "stations_missing": missing}


def locate_bulletin(settings: Settings, bulletin: str | Path, stations: str | Path | None, out: str | Path,
                    model: str | None = None) -> dict:
    """``idc locate``: relocate every event of a bulletin and recompute its magnitudes."""
    from pipeline.bulletin.build import relocate_catalog
    from pipeline.bulletin.read import read_bulletin

    cat, fmt = read_bulletin(bulletin)
    rep = relocate_catalog(cat, station_table(settings, stations), travel_times(settings, model),
                           chain_config(settings))
    rep.catalog.write(str(out), format="QUAKEML")
    return {"events": len(cat), "format": fmt, "output": str(out), "missing_stations": rep.missing_stations,
            "failed": rep.failed}


def process_window(settings: Settings, product: str, start, end) -> dict:
    """``idc process``: the automatic chain on what the archive holds for [start, end) → a product
    version (SEL1/SEL2/SEL3). Re-running with the same inputs replaces; new data → new version."""
    import hashlib
    import json
    import time

    from obspy import UTCDateTime
    from obspy.clients.filesystem.sds import Client

    from pipeline import __version__
    from pipeline.bulletin.build import events_from_picks
    from pipeline.detection import detect
    from pipeline.store.catalog import store_catalog, store_unassociated
    from pipeline.store.db import ensure_schema, session_scope
    from pipeline.store.models import WfAvail
    from pipeline.store.products import ProductKey, write_product

    t_start = time.perf_counter()
    start, end = UTCDateTime(start), UTCDateTime(end)
    key = ProductKey(product, float(start.timestamp), float(end.timestamp))
    ensure_schema(settings.database_url)
    det_cfg = settings.detection.build()
    tt = travel_times(settings)
    max_tt = float(max(tt.dataset["time"].max().item(), 0.0)) if "time" in tt.dataset else 120.0
    max_tt = min(max_tt, 1800.0)
    t0, t1 = start - det_cfg.pad_s, end + max_tt + det_cfg.pad_s
    with session_scope(settings.database_url) as s:
        rows = s.query(WfAvail).filter(WfAvail.kind == "segment", WfAvail.endtime >= float(t0.timestamp),
                                       WfAvail.starttime < float(t1.timestamp)).all()
        fp_rows = sorted((r.net, r.sta, r.loc, r.chan, round(r.starttime, 4), round(r.endtime, 4), r.nsamp)
                         for r in rows)
    fingerprint = hashlib.sha256(json.dumps(fp_rows).encode()).hexdigest()
    st = Client(str(settings.archive_dir)).get_waveforms("*", "*", "*", "*", t0, t1)
    st.merge(method=1)
    inv = station_inventory(settings)
    picks = detect(st, inv, det_cfg, start=start, end=end + max_tt) if len(st) else None
    sta = station_table(settings)
    if picks is not None and len(picks):
        res = events_from_picks(picks, sta, tt, chain_config(settings), product=product)
        cat = res.catalog
        cat.events = [e for e in cat if start <= e.preferred_origin().time < end]
        unassoc = res.unassociated
    else:
        from obspy.core.event import Catalog
        import pandas as pd

        cat, unassoc = Catalog(), pd.DataFrame()

    def fill(session, prod):
        summary = store_catalog(session, prod, cat)
        summary["unassociated_arrivals"] = store_unassociated(session, prod, unassoc)
        summary["picks"] = int(len(picks)) if picks is not None else 0
        return summary

    with session_scope(settings.database_url) as s:
        prod, new = write_product(s, key, input_fingerprint=fingerprint, config_hash=settings.config_hash(),
                                  software_version=__version__, fill=fill)
        version, summary = prod.version, dict(prod.summary)
    out = settings.products_dir / product / f"{product}_{start.strftime('%Y%m%dT%H%M%S')}_{end.strftime('%Y%m%dT%H%M%S')}_v{version}.xml"
    out.parent.mkdir(parents=True, exist_ok=True)
    cat.write(str(out), format="QUAKEML")
    return {"product": product, "start": str(start), "end": str(end), "version": version, "new_version": new,
            "events": len(cat), "channels": len(st), **summary, "file": str(out),
            "seconds": round(time.perf_counter() - t_start, 1)}


def export_product(settings: Settings, product: str, start, end, fmt: str, out: str | Path,
                   version: int | None = None) -> dict:
    """``idc export``: a stored product version as QuakeML or IMS1.0."""
    from obspy import UTCDateTime

    from pipeline.bulletin.export import write_catalog
    from pipeline.store.catalog import load_catalog
    from pipeline.store.db import ensure_schema, session_scope
    from pipeline.store.products import ProductKey, latest_version, versions

    start, end = UTCDateTime(start), UTCDateTime(end)
    key = ProductKey(product, float(start.timestamp), float(end.timestamp))
    ensure_schema(settings.database_url)
    with session_scope(settings.database_url) as s:
        prods = versions(s, key)
        if not prods:
            raise FileNotFoundError(f"no {product} product for {start} – {end}; run `idc process` first")
        prod = next((p for p in prods if p.version == version), None) if version else latest_version(s, key)
        if prod is None:
            raise FileNotFoundError(f"{product} {start} – {end}: no version {version} "
                                    f"(have {', '.join(str(p.version) for p in prods)})")
        cat = load_catalog(s, prod)
        v = prod.version
    title = f"{product} of the idc-pipeline for {start.strftime('%Y-%m-%d %H:%M')} – {end.strftime('%H:%M')} (version {v})"
    write_catalog(cat, out, fmt, title=title)
    return {"product": product, "version": v, "events": len(cat), "format": fmt, "output": str(out)}
