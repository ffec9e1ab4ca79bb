"""The task layer: one function per pipeline step, shared by the DAGs, the ``idc`` CLI and the API.

Each function takes a :class:`~pipeline.settings.Settings` (plus a time window or inputs) and
returns a small JSON-able summary dict. Nothing here is implemented twice elsewhere.
"""
from __future__ import annotations

import logging
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterable

from pipeline.errors import IdcError
from pipeline.settings import Settings
from pipeline.resources import chain_config, station_table, travel_times  # noqa: F401  (re-exported)
from pipeline.store.products import product_stem, window_stamp

log = logging.getLogger(__name__)


@contextmanager
def dask_client(settings: Settings):
    """A ``dask.distributed.Client`` on the external scheduler ``dask.scheduler`` (``IDC_DASK_SCHEDULER``),
    or ``None``: station processing then runs on ``dask.threads`` threads in this process (the right
    choice inside Airflow tasks, where dask worker *processes* cannot be started)."""
    if not settings.dask.scheduler:
        yield None
        return
    from distributed import Client

    client = Client(settings.dask.scheduler, timeout=30, set_as_default=False)
    try:
        yield client
    finally:
        client.close()


def settings_from_env() -> Settings:
    """The settings of a task process (Airflow worker): ``IDC_CONFIG``, ``IDC_HOME``, ``IDC_…``."""
    from pipeline.settings import load_settings

    return use_settings(load_settings())


def use_settings(settings: Settings) -> Settings:
    """Apply what the settings say about this process as a whole (the ``idc`` CLI and the Airflow
    tasks call it): the store's wait for a database server that is not accepting connections yet
    (``[store] connect_*``, :class:`pipeline.store.db.ConnectRetry`). Returns ``settings``."""
    from pipeline.store.db import ConnectRetry, set_connect_retry

    st = settings.store
    set_connect_retry(ConnectRetry(st.connect_attempts, st.connect_backoff_s, st.connect_max_backoff_s))
    return settings


def db_upgrade(settings: Settings) -> dict:
    """Migrate the store to the newest schema."""
    from pipeline.store import db

    before = db.current_revision(settings.database_url)
    after = db.upgrade(settings.database_url)
    return {"database": _redact(settings.database_url), "from": before, "to": after}


def load_stations(settings: Settings, paths: Iterable[str | Path] = (), strict: bool = False) -> dict:
    """Fill site/sitechan from StationXML / station CSV files (default: ``stations.paths``).

    A bad CSV row (unreadable or out-of-range value) is skipped and named in ``rejected`` (file,
    line, field); ``strict=True`` refuses the file at its first bad row (StationFileError)."""
    from pipeline.stations.inventory import iter_station_files, read_station_file
    from pipeline.store.db import ensure_schema, session_scope
    from pipeline.store.stations import upsert_inventory

    files = iter_station_files([Path(p) for p in paths] or settings.station_paths())
    if not files:
        raise FileNotFoundError("no station files found in " + ", ".join(map(str, paths or settings.station_paths())))
    ensure_schema(settings.database_url)
    total = {"files": 0, "sites_new": 0, "sites_updated": 0, "channels_new": 0, "channels_updated": 0,
             "skipped_rows": 0, "rejected_rows": 0}
    per_file, rejected = [], []
    for f in files:
        table = read_station_file(f, default_network=settings.stations.default_network or "XX", strict=strict)
        with session_scope(settings.database_url) as s:
            counts = upsert_inventory(s, table.inventory, str(f))
        total["files"] += 1
        total["skipped_rows"] += len(table.skipped)
        total["rejected_rows"] += len(table.rejected)
        rejected += table.rejected
        for k, v in counts.items():
            total[k] += v
        per_file.append({"file": str(f), **counts, "skipped_rows": len(table.skipped),
                         "rejected_rows": len(table.rejected)})
    total["per_file"] = per_file
    total["rejected"] = rejected
    return total


def ingest_files(settings: Settings, paths: Iterable[str | Path], progress: bool | None = None,
                 force: bool = False, echo: Callable[[str], None] | None = None,
                 done_dir: Path | None = None) -> dict:
    """Ingest waveform files/folders into the SDS archive (see :mod:`pipeline.ingest.runner`)."""
    from pipeline.ingest.runner import Ingestor

    return Ingestor(settings, echo=echo).ingest_files(paths, progress=progress, force=force,
                                                      done_dir=done_dir).as_dict()


def check_archive(settings: Settings, repair: bool = False, echo: Callable[[str], None] | None = None) -> dict:
    """Compare the SDS archive with the store's availability rows (``idc archive check``)."""
    from pipeline.ingest.runner import Ingestor

    return Ingestor(settings, echo=echo).check_archive(repair=repair).as_dict()


def ingest_seedlink(settings: Settings, server: str, selectors: list[str], start, end,
                    echo: Callable[[str], None] | None = None) -> dict:
    """Fetch a time window from a SeedLink server and ingest it."""
    from obspy import UTCDateTime

    from pipeline.ingest.runner import Ingestor
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

    from pipeline.ingest.runner import Ingestor
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
    from pipeline.store.db import redact_url

    return redact_url(url)


# ----------------------------------------------------------------------------- automatic chain
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
                 out: str | Path | None = None, progress: bool | None = None) -> dict:
    """``idc detect``: station processing on waveform files → picks table (picks.csv).

    The elements of an array (``[array]``, :mod:`pipeline.stations.arrays`) are processed as one
    station under the array code, as in the automatic chain (:func:`pipeline.array.detect_network`).

    Files are read one by one and each channel's touching traces are joined without filling
    gaps (:func:`pipeline.detection.merge_contiguous`), so a file of event windows from several
    years costs what its samples cost. ``progress`` (default: when stderr is a terminal) shows
    bars for reading and for the (station, chunk) tasks. Returns the summary: files, traces
    read, contiguous segments, stations, picks per phase, wall time.
    """
    import sys
    import time

    from obspy import Stream, read, read_inventory
    from tqdm import tqdm

    from pipeline.array import detect_network, write_array_csv
    from pipeline.detection import merge_contiguous
    from pipeline.picks import write_picks_csv

    t_start = time.perf_counter()
    paths = [Path(p) for p in paths]
    show = sys.stderr.isatty() if progress is None else progress
    st = Stream()
    n_read = 0
    with tqdm(paths, desc="read", unit="file", disable=not show or len(paths) < 2, file=sys.stderr,
              dynamic_ncols=True) as bar:
        for p in bar:
            part = read(str(p))
            n_read += len(part)
            st += part
    st = merge_contiguous(st)
    inv = read_inventory(str(stations)) if stations and Path(stations).suffix.lower() == ".xml" else (
        station_inventory(settings) if stations is None else None)
    with dask_client(settings) as client, tqdm(desc="detect", unit="task", disable=not show, file=sys.stderr,
                                                dynamic_ncols=True) as bar:
        found = detect_network(st, inv, settings.detection.build(), settings.array.build(),
                               dict(settings.array.elements), arrays=settings.array.enabled, client=client,
                               num_workers=settings.dask.threads, progress=bar)
    picks = found.picks
    for msg in found.errors:
        log.warning("%s (left out)", msg)
    if out:  # with arrays: the array columns too (technology, fstat, semblance, relpow)
        (write_array_csv if len(found.arrays) else write_picks_csv)(picks, out)
    return {"files": len(paths), "traces_read": n_read, "traces": len(st), "segments": len(st),
            "stations": len({(tr.stats.network, tr.stats.station) for tr in st}),
            "channels": len({tr.id for tr in st}), "picks": int(len(picks)),
            "phases": {k: int(v) for k, v in picks["phase"].value_counts().items()},
            "arrays": sorted(found.arrays["station"]), "array_errors": list(found.errors), "output": str(out or ""),
            "seconds": round(time.perf_counter() - t_start, 1)}


def associate_picks(settings: Settings, picks_csv: str | Path, stations: str | Path | None, out: str | Path,
                    model: str | None = None, progress: bool | None = None) -> dict:
    """``idc associate``: pick table → QuakeML events with origins, arrivals, picks, magnitudes.

    ``progress`` (default: when stderr is a terminal) shows a bar over the pick stream's time span
    (association) and one over the events (location, magnitudes). Returns the summary: picks
    read, events, unassociated picks, the grid the associator chose, seconds per stage."""
    import sys
    import time

    from tqdm import tqdm

    from pipeline.bulletin.build import events_from_picks
    from pipeline.picks import read_picks_csv

    t_start = time.perf_counter()
    picks = read_picks_csv(picks_csv)
    sta = station_table(settings, stations)
    tt = travel_times(settings, model)
    t_read = time.perf_counter()
    show = sys.stderr.isatty() if progress is None else progress
    bars: dict = {}

    def on_window(done_s: float, total_s: float, n_events: int) -> None:
        bar = bars.get("a")
        if bar is None:
            bar = bars["a"] = tqdm(total=round(total_s / 3600.0, 2), desc="associate", unit="h", file=sys.stderr,
                                   disable=not show, dynamic_ncols=True, bar_format=None)
        bar.n = round(min(done_s, total_s) / 3600.0, 2)
        bar.set_postfix(events=n_events, refresh=False)
        bar.refresh()

    def on_event(done: int, total: int) -> None:
        bar = bars.get("l")
        if bar is None:
            if "a" in bars:
                bars["a"].close()
            bar = bars["l"] = tqdm(total=total, desc="locate", unit="event", file=sys.stderr, disable=not show,
                                   dynamic_ncols=True)
        bar.n = done
        bar.refresh()

    try:
        res = events_from_picks(picks, sta, tt, chain_config(settings), progress=on_window,
                                progress_events=on_event)
    finally:
        for bar in bars.values():
            bar.close()
    t_chain = time.perf_counter()
    res.catalog.write(str(out), format="QUAKEML")
    missing = sorted(set(res.unassociated.loc[res.unassociated["reason"] != "not associated", "station"]))
    return {**res.summary(), "picks": int(len(picks)), "grid": res.grid, "output": str(out),
            "stations_missing": missing, "seconds": round(time.perf_counter() - t_start, 1),
            "seconds_read": round(t_read - t_start, 1), "seconds_chain": round(t_chain - t_read, 1),
            "seconds_write": round(time.perf_counter() - t_chain, 1)}


def locate_bulletin(settings: Settings, bulletin: str | Path, stations: str | Path | None, out: str | Path,
                    model: str | None = None) -> dict:
    """``idc locate``: relocate every event of a bulletin and recompute its magnitudes. Arrivals that
    cannot be used (no time) are left out; ``skipped`` says which (file:line or pick id) and why."""
    from pipeline.bulletin.build import relocate_catalog
    from pipeline.bulletin.read import read_bulletin
    from pipeline.io.columns import collect_skipped

    with collect_skipped() as skipped:  # bad arrivals/picks are left out, each named: the rest is located
        cat, fmt = read_bulletin(bulletin)
        rep = relocate_catalog(cat, station_table(settings, stations), travel_times(settings, model),
                               chain_config(settings))
    rep.catalog.write(str(out), format="QUAKEML")
    return {"events": len(cat), "format": fmt, "output": str(out), "missing_stations": rep.missing_stations,
            "failed": rep.failed, "skipped": skipped}


def process_window(settings: Settings, product: str, start, end, runner: str = "cli", run_id: str = "",
                   progress: bool | None = False) -> dict:
    """``idc process``: the automatic chain on what the archive holds for [start, end) → a product
    version (SEL1/SEL2/SEL3). Re-running with the same inputs replaces; new data → new version.

    Every run is logged in ``product_run`` (version written, duration, latency = time the product
    was stored minus the end of its data window; ``runner``/``run_id`` say who ran it).
    ``progress`` (None = when stderr is a terminal) shows a bar over the stages (read, detect,
    associate, store) and one over the station-processing tasks on stderr."""
    import hashlib
    import json
    import time

    from datetime import datetime, timezone

    from obspy import UTCDateTime
    from obspy.clients.filesystem.sds import Client
    from obspy.core.event import ResourceIdentifier

    from pipeline import __version__
    from pipeline.array import detect_network, with_array_sites
    from pipeline.bulletin.build import events_from_picks
    from pipeline.store.availability import segments_overlapping
    from pipeline.store.catalog import store_catalog, store_unassociated
    from pipeline.store.db import ensure_schema, session_scope
    from pipeline.store.products import ProductKey, newest_arrival, record_run, write_product
    from pipeline.util import fault_point, staged_files

    from pipeline.store.products import AUTOMATIC_PRODUCTS

    product = str(product).upper()
    if product not in AUTOMATIC_PRODUCTS:
        raise ValueError(f"product {product}: the automatic chain makes only {', '.join(AUTOMATIC_PRODUCTS)}; "
                         "the REB comes from analyst review (`idc review publish`), SEB/SSEB from `idc screen`")
    t_start, started = time.perf_counter(), datetime.now(timezone.utc)
    start, end = UTCDateTime(start), UTCDateTime(end)
    key = ProductKey(product, float(start.timestamp), float(end.timestamp))
    ensure_schema(settings.database_url)
    det_cfg = settings.detection.build()
    tt = travel_times(settings)
    max_tt = float(max(tt.dataset["time"].max().item(), 0.0)) if "time" in tt.dataset else 120.0
    max_tt = min(max_tt, 1800.0)
    t0, t1 = start - det_cfg.pad_s, end + max_tt + det_cfg.pad_s
    with session_scope(settings.database_url) as s:
        rows = segments_overlapping(s, float(t0.timestamp), float(t1.timestamp))
        fp_rows = sorted((r.net, r.sta, r.loc, r.chan, round(r.starttime, 4), round(r.endtime, 4), r.nsamp)
                         for r in rows)
    fingerprint = hashlib.sha256(json.dumps(fp_rows).encode()).hexdigest()
    from pipeline.detection import merge_contiguous

    from tqdm import tqdm

    show = sys.stderr.isatty() if progress is None else bool(progress)
    stages = tqdm(total=4, desc=f"{product} read archive", unit="stage", disable=not show, file=sys.stderr,
                  dynamic_ncols=True, bar_format="{desc:<28} {n_fmt}/{total_fmt} stages [{elapsed}]")
    from obspy import Stream

    st = (merge_contiguous(Client(str(settings.archive_dir)).get_waveforms("*", "*", "*", "*", t0, t1))
          if settings.archive_dir.is_dir() else Stream())  # nothing ingested yet: no data
    inv = station_inventory(settings)
    stages.set_description(f"{product} detect ({len({tr.stats.station for tr in st})} stations)")
    stages.update(1)
    with dask_client(settings) as client, tqdm(desc="detect", unit="task", disable=not show or not len(st),
                                                file=sys.stderr, dynamic_ncols=True, leave=False) as bar:
        # 3-C stations one by one, each array's elements together as one station (pipeline.array)
        found = (detect_network(st, inv, det_cfg, settings.array.build(), dict(settings.array.elements),
                                arrays=settings.array.enabled, start=start, end=end + max_tt,
                                chunk_s=settings.array.chunk_s, client=client, num_workers=settings.dask.threads,
                                progress=bar if show else None) if len(st) else None)
    picks = found.picks if found is not None else None
    for msg in (found.errors if found is not None else []):
        log.warning("%s %s – %s: %s (left out)", product, start, end, msg)
    sta = station_table(settings)
    if found is not None:
        sta = with_array_sites(sta, found.arrays)
    stages.set_description(f"{product} associate ({0 if picks is None else len(picks)} picks)")
    stages.update(1)
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
        # stable event ids (obspy's are random): a re-run of the window stores the same events the same way
        stamp = f"{window_stamp(start, micro=False)}-{window_stamp(end, micro=False)}"
        for rank, ev in enumerate(sorted(cat, key=lambda e: e.preferred_origin().time), start=1):
            ev.resource_id = ResourceIdentifier(f"smi:idc-pipeline/{product}/{stamp}/v{prod.version}/event/{rank}")
        summary = store_catalog(session, prod, cat)
        fault_point("process.events_stored")  # events, origins, arrivals flushed; not committed
        summary["unassociated_arrivals"] = store_unassociated(session, prod, unassoc)
        summary["picks"] = int(len(picks)) if picks is not None else 0
        return summary

    stages.set_description(f"{product} store ({len(cat)} events)")
    stages.update(1)
    # the QuakeML file is written before the commit and renamed into place after it: a failed write
    # (disk full) rolls the version back; a crash in between leaves rows the re-run replaces
    with staged_files() as stage:
        with session_scope(settings.database_url) as s:
            prod, new = write_product(s, key, input_fingerprint=fingerprint, config_hash=settings.config_hash(),
                                      software_version=__version__, fill=fill)
            version, summary = prod.version, dict(prod.summary)
            # a backfill (Airflow run id backfill__…) processes archived data: latency from its arrival
            arrival = (newest_arrival(s, key.window_start, key.window_end) if "backfill__" in run_id else None)
            run = record_run(s, prod, new, len(cat), started, time.perf_counter() - t_start, runner, run_id,
                             data_arrival=arrival)
            out = settings.products_dir / product / f"{product_stem(product, start, end, version)}.xml"
            cat.write(str(stage.path(out)), format="QUAKEML")
            fault_point("process.file_staged")
        fault_point("process.committed")  # rows committed, file not renamed into place yet
    stages.update(1)
    stages.close()
    return {"product": product, "start": str(start), "end": str(end), "version": version, "new_version": new,
            "events": len(cat), "channels": len(st), **summary,
            "arrays": [] if found is None else sorted(found.arrays["station"]),
            "array_errors": [] if found is None else list(found.errors), "file": str(out),
            "seconds": round(time.perf_counter() - t_start, 1), "latency_s": round(run["latency_s"], 1),
            "latency_from": run["latency_from"]}


def load_product(settings: Settings, product: str, start, end, version: int | None = None):
    """A stored product version (newest by default) as ``(Catalog, version)``."""
    from obspy import UTCDateTime

    from pipeline.store.catalog import load_catalog
    from pipeline.store.db import ensure_schema, session_scope
    from pipeline.store.products import ProductKey, select_version

    start, end = UTCDateTime(start), UTCDateTime(end)
    key = ProductKey(product, float(start.timestamp), float(end.timestamp))
    ensure_schema(settings.database_url)
    with session_scope(settings.database_url) as s:
        prod = select_version(s, key, version, label=f"{product} {start} – {end}",
                              missing=f"no {product} product for {start} – {end}; run `idc process` first")
        return load_catalog(s, prod), prod.version


def score_bulletin(settings: Settings, reference: str | Path, *, product: str | None = None, start=None, end=None,
                   bulletin: str | Path | None = None, dt_s: float | None = None, distance_km: float | None = None):
    """``idc score``: match a stored product (the newest version of every window inside
    [start, end)) or a bulletin file against a reference catalogue (QuakeML, IMS1.0, GSE2.0 or a
    CSV of time/latitude/longitude[/depth_km/mag]); with start/end only reference events inside
    [start, end) count. Returns a :class:`pipeline.scoring.Score` (rule: :mod:`pipeline.scoring`)."""
    from obspy import UTCDateTime

    from pipeline import scoring
    from pipeline.bulletin.read import read_bulletin

    ref_path = Path(reference)
    if not ref_path.is_file():
        raise FileNotFoundError(f"--reference {ref_path}: no such file")
    if ref_path.suffix.lower() == ".csv":
        ref = scoring.read_reference_csv(ref_path)
    else:
        ref = scoring.events_table(read_bulletin(ref_path)[0])
    if bulletin is not None:
        ours = scoring.events_table(read_bulletin(bulletin)[0])
    else:
        if product is None or start is None or end is None:
            raise ValueError("score: give --bulletin FILE, or --product with --start and --end")
        cat, _ = _catalog_in_range(settings, product, UTCDateTime(start), UTCDateTime(end))
        ours = scoring.events_table(cat)
    if start is not None and end is not None:
        t0, t1 = float(UTCDateTime(start).timestamp), float(UTCDateTime(end).timestamp)
        ref = ref[(ref["time"] >= t0) & (ref["time"] < t1)]
    return scoring.match_events(ours, ref, scoring.DEFAULT_DT_S if dt_s is None else dt_s,
                                scoring.DEFAULT_DISTANCE_KM if distance_km is None else distance_km)


def export_product(settings: Settings, product: str, start, end, fmt: str, out: str | Path,
                   version: int | None = None, msg_id: str | None = None) -> dict:
    """``idc export``: a stored product version as QuakeML or IMS1.0. ``msg_id``: the IMS1.0
    ``MSG_ID`` line (default: a new unique id per export)."""
    from obspy import UTCDateTime

    from pipeline.bulletin.export import product_title, write_catalog

    start, end = UTCDateTime(start), UTCDateTime(end)
    try:
        cat, v = load_product(settings, product, start, end, version)
        windows = 1
    except FileNotFoundError:
        # not a product window itself (e.g. a day): every window of the product inside [start, end)
        if version is not None:
            raise
        cat, windows = _catalog_in_range(settings, product, start, end)
        v = None
    write_catalog(cat, out, fmt, title=product_title(product, start, end, v, windows), msg_id=msg_id)
    return {"product": product, "version": v, "windows": windows, "events": len(cat), "format": fmt,
            "output": str(out)}


def _catalog_in_range(settings: Settings, product: str, start, end):
    """The newest versions of every ``product`` window inside [start, end), as one catalogue."""
    from obspy.core.event import Catalog

    from pipeline.store.catalog import load_catalog
    from pipeline.store.db import ensure_schema, session_scope
    from pipeline.store.products import newest_in_range

    ensure_schema(settings.database_url)
    cat = Catalog()
    with session_scope(settings.database_url) as s:
        prods = newest_in_range(s, product, float(start.timestamp), float(end.timestamp))
        if not prods:
            raise FileNotFoundError(f"no {product} product window inside {start} – {end}; run `idc process` "
                                    "or the DAGs first")
        for p in prods:
            cat.events += load_catalog(s, p).events
    return cat, len(prods)


# ----------------------------------------------------------------------------- operations (DAG tasks)
def ingest_scheduled(settings: Settings, start, end, echo: Callable[[str], None] | None = None) -> dict:
    """The ``ingest`` DAG's task for one data interval: the drop folder (``ingest.drop_dir``, every
    file not yet ingested — content-hash idempotent), plus the interval from the configured SeedLink
    server and FDSN service. Sources that are not configured are skipped (and said so)."""
    from obspy import UTCDateTime

    start, end = UTCDateTime(start), UTCDateTime(end)
    out: dict = {"window": [str(start), str(end)], "sources": {}}
    ing = settings.ingest
    if ing.drop_dir:
        drop = Path(ing.drop_dir).expanduser()
        drop = drop if drop.is_absolute() else settings.home / drop
        if not drop.is_dir():
            raise FileNotFoundError(f"ingest.drop_dir {drop}: no such folder")
        done = None
        if ing.processed_dir:
            done = Path(ing.processed_dir).expanduser()
            done = done if done.is_absolute() else settings.home / done
        out["sources"]["drop_dir"] = ingest_files(settings, [drop], progress=False, echo=echo, done_dir=done)
    if ing.seedlink_server:
        out["sources"]["seedlink"] = ingest_seedlink(settings, ing.seedlink_server, list(ing.seedlink_streams),
                                                     start, end, echo=echo)
    if ing.fdsn_url:
        out["sources"]["fdsn"] = ingest_fdsn(settings, ing.fdsn_url, None, start, end, echo=echo)
    if not out["sources"]:
        out["note"] = "no source configured (ingest.drop_dir, ingest.seedlink_server, ingest.fdsn_url)"
    accepted = sum(r.get("accepted", 0) for r in out["sources"].values())
    rejected = sum(r.get("rejected", 0) for r in out["sources"].values())
    if rejected and not accepted:  # e.g. no stations loaded: every file is unknown_channel
        kinds = sorted({x["kind"] for r in out["sources"].values() for x in r.get("rejections", [])})
        raise IngestRejected(f"ingest {start} – {end}: all {rejected} new inputs rejected ({', '.join(kinds)}); "
                             f"quarantined under {settings.quarantine_dir} (`idc quarantine list`)")
    return out


class IngestRejected(IdcError, RuntimeError):
    """An ingest run rejected every new input (the task fails, so the operator sees it)."""


def product_history(settings: Settings, product: str | None = None, start=None, end=None) -> list[dict]:
    """Every stored version of the products overlapping [start, end) (all types when none), oldest first."""
    from obspy import UTCDateTime

    from pipeline.store.db import ensure_schema, session_scope
    from pipeline.store.products import versions_overlapping

    ensure_schema(settings.database_url)
    t0 = float(UTCDateTime(start).timestamp) if start is not None else None
    t1 = float(UTCDateTime(end).timestamp) if end is not None else None
    with session_scope(settings.database_url) as s:
        rows = versions_overlapping(s, product or None, t0, t1)
        return [{"type": p.type, "subject": p.subject, "window_start": str(UTCDateTime(p.window_start)),
                 "window_end": str(UTCDateTime(p.window_end)), "version": p.version, "runs": p.runs,
                 "created": p.created.isoformat(), "events": int((p.summary or {}).get("events", 0)),
                 "arrivals": int((p.summary or {}).get("arrivals", 0)),
                 "input_fingerprint": p.input_fingerprint[:12], "config_hash": p.config_hash}
                for p in rows]


def latency_report(settings: Settings, product: str | None = None, since=None, until=None) -> dict:
    """``idc latency``: per product type, latency (data-window end → product stored; backfills: newest
    data arrival → product stored, see :func:`pipeline.store.products.record_run`) and run
    duration over the logged runs (``product_run``): count, median, 90th percentile, max, last."""
    import numpy as np
    from obspy import UTCDateTime

    from pipeline.store.db import ensure_schema, session_scope
    from pipeline.store.operations import product_runs

    ensure_schema(settings.database_url)
    since = None if since is None else float(UTCDateTime(since).timestamp)
    until = None if until is None else float(UTCDateTime(until).timestamp)
    with session_scope(settings.database_url) as s:
        rows = [(r.type, r.latency_s, r.duration_s, r.runner, r.version, r.new_version, r.window_start,
                 r.window_end, r.finished.isoformat(), r.events) for r in product_runs(s, product, since, until)]
    out: dict = {"products": {}}
    for typ in sorted({r[0] for r in rows}):
        sel = [r for r in rows if r[0] == typ]
        lat = np.array([r[1] for r in sel])
        dur = np.array([r[2] for r in sel])
        last = sel[-1]
        out["products"][typ] = {
            "runs": len(sel), "windows": len({(r[6], r[7]) for r in sel}),
            "new_versions": sum(1 for r in sel if r[5]),
            "latency_s": {"median": float(np.median(lat)), "p90": float(np.percentile(lat, 90)),
                          "max": float(lat.max())},
            "duration_s": {"median": float(np.median(dur)), "p90": float(np.percentile(dur, 90)),
                           "max": float(dur.max())},
            "last": {"window": [str(UTCDateTime(last[6])), str(UTCDateTime(last[7]))], "version": last[4],
                     "finished": last[8], "latency_s": last[1], "runner": last[3], "events": last[9]},
        }
    return out


def station_health(settings: Settings, start, end) -> dict:
    """The ``station_health`` DAG's task: availability and gaps per channel over [start, end), the
    stations with no data, written as ``products/station_health/<start>.json`` and ``.txt``."""
    import json

    from obspy import UTCDateTime

    start, end = UTCDateTime(start), UTCDateTime(end)
    chans = availability(settings, start, end)["channels"]
    known = station_table(settings, arrays=False)  # recording stations (array elements, not array codes)
    seen = {c["nslc"].split(".")[1] for c in chans}
    silent = sorted(set(known["station"]) - seen) if len(known) else []
    worst = sorted(chans, key=lambda c: c["coverage"])[:10]
    report = {"window": [str(start), str(end)], "channels": len(chans), "stations_with_data": len(seen),
              "stations_without_data": silent,
              "median_coverage": (sorted(c["coverage"] for c in chans)[len(chans) // 2] if chans else 0.0),
              "gaps": sum(c["gaps"] for c in chans), "worst": worst}
    folder = settings.products_dir / "station_health"
    folder.mkdir(parents=True, exist_ok=True)
    stem = folder / start.strftime("%Y-%m-%dT%H%M%S")
    stem.with_suffix(".json").write_text(json.dumps({**report, "per_channel": chans}, indent=1, default=str))
    lines = [f"station health {start} – {end}: {len(seen)} stations with data, {len(silent)} without, "
             f"{len(chans)} channels, median coverage {100 * report['median_coverage']:.1f}%, {report['gaps']} gaps"]
    lines += [f"  no data: {', '.join(silent)}"] if silent else []
    lines += [f"  {c['nslc']:<18} coverage {100 * c['coverage']:6.2f}%  gaps {c['gaps']}" for c in worst]
    stem.with_suffix(".txt").write_text("\n".join(lines) + "\n")
    return {**{k: v for k, v in report.items() if k != "worst"}, "report": str(stem.with_suffix(".txt"))}


def distribute(settings: Settings, product: str, start, end, version: int | None = None) -> dict:
    """The ``distribute`` DAG's task for one product version (default: the newest): updates the
    CAP/GeoJSON alert feeds, delivers to subscribers (webhooks, e-mail; idempotent delivery ids)
    and writes the version to the distribution folder ``products/outbox/<type>/`` as IMS1.0 and
    QuakeML (replacing the files of an earlier run of the same version).

    The outbox files are renamed into place last: they mark the version as distributed
    (:func:`distribute_pending`), so a run that died before they exist is run again, and every
    step before them is safe to repeat."""
    from obspy import UTCDateTime

    from pipeline.store.db import ensure_schema, session_scope
    from pipeline.store.products import ProductKey, select_version
    from pipeline.util import fault_point, staged_files

    start, end = UTCDateTime(start), UTCDateTime(end)
    if version is None:
        ensure_schema(settings.database_url)
        with session_scope(settings.database_url) as s:
            version = select_version(s, ProductKey(product, float(start.timestamp), float(end.timestamp)), None,
                                     label=f"{product} {start} – {end}",
                                     missing=f"no {product} product for {start} – {end}").version
    folder = settings.products_dir / "outbox" / product
    stem = product_stem(product, start, end, version)
    files = []
    with staged_files() as stage:
        for fmt, ext in (("ims1", "ims1"), ("quakeml", "xml")):
            final = folder / f"{stem}.{ext}"
            res = export_product(settings, product, start, end, fmt, stage.path(final), version=version)
            files.append(str(final))
        fault_point("distribute.outbox_staged")
        alerts = alerts_for_product(settings, product, start, end, version)  # CAP + GeoJSON feeds
        deliveries = subscriptions_deliver(settings, product, start, end, version)  # webhooks, e-mail
        fault_point("distribute.delivered")  # everything sent, the outbox files not in place yet
    return {"product": product, "window": [str(start), str(end)], "version": version,
            "events": res["events"], "files": files,
            "alerts": alerts["alerts"] + alerts["updates"] + alerts["cancels"], "deliveries": deliveries}


# ----------------------------------------------------------------------------- review and screening
def review_enqueue(settings: Settings, start, end) -> dict:
    """Queue the SEL3 events of [start, end) for analyst review (idempotent; see
    :func:`pipeline.review.queue.enqueue`)."""
    from pipeline.review.queue import enqueue

    return enqueue(settings, start, end, analyst="system")


def reb_publish(settings: Settings, day, analyst: str | None = None, runner: str = "cli", run_id: str = "") -> dict:
    """``idc review publish --day D``: the accepted events of UTC day D → a new REB version."""
    from pipeline.review.queue import publish

    return publish(settings, day, analyst=analyst, runner=runner, run_id=run_id)


def screen(settings: Settings, day, reb_version: int | None = None, runner: str = "cli", run_id: str = "") -> dict:
    """``idc screen --day D``: the REB of day D → SEB and SSEB product versions."""
    from pipeline.screening.run import screen as _screen

    return _screen(settings, day, reb_version=reb_version, runner=runner, run_id=run_id)


def distribute_pending(settings: Settings) -> list[dict]:
    """Distribute the newest version of every product window whose files are not in the outbox yet
    (what the ``distribute`` DAG does when run by hand, without triggering Asset events; ``idc
    distribute``). The outbox files are written last by :func:`distribute`, so a window whose
    distribution died half-way is taken again."""
    from obspy import UTCDateTime

    from pipeline.store.db import ensure_schema, session_scope
    from pipeline.store.products import newest_versions

    ensure_schema(settings.database_url)
    with session_scope(settings.database_url) as s:
        newest = newest_versions(s)
    out = []
    for typ, ws, we, v in newest:
        start, end = UTCDateTime(ws), UTCDateTime(we)
        stem = product_stem(typ, start, end, v)
        if not all((settings.products_dir / "outbox" / typ / f"{stem}.{ext}").exists() for ext in ("ims1", "xml")):
            out.append(distribute(settings, typ, start, end, v))
    return out


# ----------------------------------------------------------------------------- plots (idc plot)
def plot_catalog(settings: Settings, product: str | None = None, start=None, end=None, version: int | None = None,
                 bulletin: str | Path | None = None):
    """The events a plot shows: a stored product version (``product``, ``start``, ``end``, optional
    ``version``, default newest) or a bulletin file (QuakeML / IMS1.0 / GSE2.0). Returns ``(catalog, label)``."""
    from obspy import UTCDateTime

    if bulletin is not None:
        if product is not None:
            raise ValueError("give either a bulletin file or --product/--start/--end, not both")
        from pipeline.bulletin.read import read_bulletin

        cat, fmt = read_bulletin(bulletin)
        return cat, f"{Path(bulletin).name} ({fmt})"
    if not (product and start and end):
        raise ValueError("give a bulletin file or --product with --start and --end")
    start, end = UTCDateTime(start), UTCDateTime(end)
    cat, v = load_product(settings, product, start, end, version)
    return cat, f"{product} {start.strftime('%Y-%m-%d %H:%M')} – {end.strftime('%Y-%m-%d %H:%M')} version {v}"


def plot_stations(settings: Settings, stations: str | Path | None = None):
    """Station coordinates for plots: the given StationXML/CSV file, else the store's site table, else the
    configured station files (``stations.paths``)."""
    sta = station_table(settings, stations)
    if stations is None and not len(sta):
        from pipeline.picks import stations_from_inventory

        sta = stations_from_inventory(station_inventory(settings))
    return sta


def plot_event_map(settings: Settings, out: str | Path, product: str | None = None, start=None, end=None,
                   version: int | None = None, bulletin: str | Path | None = None,
                   stations: str | Path | None = None, all_stations: bool = False, title: str = "") -> dict:
    """``idc plot map``: epicentres, error ellipses, stations and coastlines to a PNG."""
    from pipeline.plots import plot_event_map as _plot

    cat, label = plot_catalog(settings, product, start, end, version, bulletin)
    res = _plot(cat, out, stations=plot_stations(settings, stations), used_stations_only=not all_stations,
                title=title or label)
    return {"output": str(res.path), "events": res.events_plotted, "events_unlocated": res.events_unlocated,
            "stations": res.stations_plotted, "ellipses": res.ellipses, "coastline_segments": res.coastline_segments,
            "extent": [res.extent.lon_min, res.extent.lon_max, res.extent.lat_min, res.extent.lat_max]}


def plot_event_record_section(settings: Settings, out: str | Path, product: str | None = None, start=None,
                              end=None, version: int | None = None, bulletin: str | Path | None = None,
                              event: str | int | None = None, waveforms: Iterable[str | Path] = (),
                              stations: str | Path | None = None, phases: Iterable[str] | None = None,
                              model: str | None = None, freqmin: float | None = None,
                              freqmax: float | None = None, title: str = "") -> dict:
    """``idc plot record-section``: one event's traces (given files, else the SDS archive) with the
    predicted phases of the configured travel-time table and the event's arrivals."""
    from obspy import Stream, read

    from pipeline.plots import plot_event_record_section as _plot
    from pipeline.plots.common import located, magnitude_of, origin_of

    cat, label = plot_catalog(settings, product, start, end, version, bulletin)
    evs = [ev for ev in cat if located(origin_of(ev))]
    if not evs:
        raise ValueError(f"{label}: no located event")
    if event is None:  # the largest
        ev = max(evs, key=lambda e: magnitude_of(e)[0] if magnitude_of(e)[0] is not None else -99.0)
    elif str(event).lstrip("-").isdigit() and abs(int(event)) < len(evs):
        ev = evs[int(event)]
    else:
        hits = [e for e in evs if str(e.resource_id).endswith(str(event))]
        if len(hits) != 1:
            raise ValueError(f"{label}: event {event!r} matches {len(hits)} of {len(evs)} located events "
                             "(give an index 0..n-1 or the end of an event id)")
        ev = hits[0]
    tt = travel_times(settings, model)
    unknown = [p for p in (phases or ()) if p not in tt.phases]
    if unknown:
        raise ValueError(f"phase(s) {', '.join(unknown)} not among the tabulated phases "
                         f"([traveltime] phases: {', '.join(tt.phases)})")
    sta = plot_stations(settings, stations)
    t0 = origin_of(ev).time
    if waveforms:
        st = Stream()
        for f in waveforms:
            st += read(str(f))
    else:
        from obspy.clients.filesystem.sds import Client

        if not settings.archive_dir.is_dir():
            raise FileNotFoundError(f"no waveform archive at {settings.archive_dir}; ingest waveforms first "
                                    "or give waveform files")
        picked = [float(p.time - t0) for p in ev.picks if p.time is not None]
        t_last = max(picked) if picked else 600.0  # no arrivals: the first ten minutes
        st = Client(str(settings.archive_dir)).get_waveforms("*", "*", "*", "??Z", t0 - 60, t0 + 1.3 * t_last + 30)
        if not len(st):
            raise FileNotFoundError(f"no vertical-component data in the archive {settings.archive_dir} around "
                                    f"{t0}; ingest waveforms first or give waveform files")
    res = _plot(ev, st, sta, tt, out, phases=list(phases) if phases else None, freqmin=freqmin, freqmax=freqmax,
                title=title or f"{label}: {ev.resource_id}")
    return {"output": str(res.path), "event": str(ev.resource_id), "traces": res.traces,
            "picks_marked": res.picks_marked, "picks_without_trace": res.picks_without_trace,
            "phases": res.phases_drawn, "distance_unit": res.distance_unit,
            "stations_without_coordinates": res.stations_without_coordinates}


def plot_residuals(settings: Settings, out: str | Path, product: str | None = None, start=None, end=None,
                   version: int | None = None, bulletin: str | Path | None = None,
                   stations: str | Path | None = None, phases: Iterable[str] | None = None,
                   defining_only: bool = False, title: str = "") -> dict:
    """``idc plot residuals``: arrival-time residuals per station and phase vs distance and azimuth."""
    from pipeline.plots import plot_residuals as _plot

    cat, label = plot_catalog(settings, product, start, end, version, bulletin)
    res = _plot(cat, out, stations=plot_stations(settings, stations), phases=list(phases) if phases else None,
                defining_only=defining_only, title=title or label)
    return {"output": str(res.path), "residuals": res.residuals, "events": res.events, "stations": res.stations,
            "per_phase": res.per_phase}


# ----------------------------------------------------------------------------- subscriptions (issue 6.5)
def subscriptions_deliver(settings: Settings, product: str, start, end, version: int | None = None) -> dict:
    """The ``distribute`` DAG's delivery step: send a product version to its subscribers (webhook,
    e-mail); idempotent (see :mod:`pipeline.distribution.deliver`)."""
    from pipeline.distribution.deliver import deliver_product

    return deliver_product(settings, product, start, end, version)


def alerts_for_product(settings: Settings, product: str, start, end, version: int | None = None) -> dict:
    """Disaster feeds for a product version: CAP 1.2 alerts/updates and the GeoJSON feed of
    tsunami-relevant events under ``products/alerts/`` (see :mod:`pipeline.alerts.feed`)."""
    from pipeline.alerts import alerts_for_product as _alerts

    return _alerts(settings, product, start, end, version)


# ----------------------------------------------------------------------------- simulation (issue 12)
def simulate_waveforms(settings: Settings, start, end, out_dir: str | Path, origins: str | Path,
                       stations: str | Path | None = None, seed: int = 0, model: str = "ak135",
                       overrides: dict | None = None, max_stations: int | None = None, progress: bool = True) -> dict:
    """``idc simulate waveforms``: miniSEED of [start, end) at the IMS seismic stations (or a station
    CSV) from real origins, plus the truth (QuakeML), StationXML and the true arrivals; see
    :mod:`pipeline.simulate.waveforms`. ``overrides``: :class:`~pipeline.simulate.waveforms.WaveformConfig`
    (and arrival-model) parameters by name."""
    import pandas as pd
    from obspy import UTCDateTime
    from tqdm import tqdm

    from pipeline.simulate.detections import ims_seismic_stations
    from pipeline.simulate.waveforms import WaveformConfig
    from pipeline.simulate.waveforms import simulate_waveforms as _simulate
    from pipeline.traveltime.tables import GLOBAL_PHASES, TravelTimeTable

    origins = Path(origins)
    stations = Path(stations) if stations else _ims_station_file(settings)
    for label, p in (("--origins", origins), ("--stations", stations)):
        if not p.is_file():
            raise FileNotFoundError(f"{label} {p}: no such file")
    t0, t1 = UTCDateTime(start), UTCDateTime(end)
    table = pd.read_csv(stations)
    sta = ims_seismic_stations(table) if "technology" in table.columns else table
    if max_stations:
        sta = sta.head(max_stations)
    cfg = WaveformConfig.from_mapping(overrides or {})
    tt = TravelTimeTable(model, list(GLOBAL_PHASES), cache_dir=settings.cache_dir / "traveltime")
    with tqdm(total=1, desc="simulate", unit="station-chunk", file=sys.stderr, disable=not progress) as bar:
        def on(done, total):
            bar.total = total
            bar.n = done
            bar.refresh()
        res = _simulate(pd.read_csv(origins), sta, tt, out_dir, t0, t1, cfg, seed=seed, progress=on)
    return res.as_dict() | {"start": str(t0), "end": str(t1)}


def _ims_station_file(settings: Settings) -> Path:
    """``ims_stations.csv`` of the configured ``[stations] paths``."""
    found = [p / "ims_stations.csv" if p.is_dir() else p for p in settings.station_paths()]
    found = [p for p in found if p.name == "ims_stations.csv" and p.is_file()]
    return found[0] if found else settings.station_paths()[0] / "ims_stations.csv"


def simulate_detections(settings: Settings, date, out_dir: str | Path, origins: str | Path,
                        stations: str | Path | None = None, false_fraction: float | None = None, seed: int = 0,
                        model: str = "ak135") -> dict:
    """``idc simulate detections``: one simulated UTC day of IMS detections from real origins.

    Reads the origins (e.g. the IDC LEB origins of January–February 2022 kept in the repository's
    ``tests/data/ims_leb_2022``; NORSAR metadata layout or ``time,latitude,longitude,depth_km,mag``)
    and the stations (default: ``ims_stations.csv`` of the configured ``[stations] paths``, its
    seismic stations; or a station CSV with an optional ``kind`` column), builds (or loads from ``$IDC_HOME/cache``) the global
    travel-time table and writes ``picks.csv`` (pipeline.picks CSV form), ``stations.csv``,
    ``truth.csv`` (one row per origin) and ``picks_truth.csv`` (event of each pick) into
    ``out_dir``. See :mod:`pipeline.simulate.detections` for the model.
    """
    import pandas as pd
    from obspy import UTCDateTime

    from pipeline.picks import write_picks_csv
    from pipeline.simulate.detections import SimConfig, ims_seismic_stations, leb_origins
    from pipeline.simulate.detections import simulate_detections as _simulate
    from pipeline.traveltime.tables import GLOBAL_PHASES, TravelTimeTable

    if not origins:
        raise ValueError("no origins file given (--origins; the repository keeps the IDC LEB origins of "
                         "Jan-Feb 2022 in tests/data/ims_leb_2022/metadata_2022_leb_jan_feb.csv)")
    origins = Path(origins)
    if stations:
        stations = Path(stations)
    else:
        stations = _ims_station_file(settings)
    for label, p in (("origins", origins), ("stations", stations)):
        if not p.is_file():
            raise FileNotFoundError(f"{label} file {p} not found")
    try:
        day = UTCDateTime(str(date))
    except Exception:
        raise ValueError(f"--date {date!r} is not a date (YYYY-MM-DD)") from None
    start = UTCDateTime(day.date)
    org = leb_origins(pd.read_csv(origins))
    sta_table = pd.read_csv(stations)
    sta = ims_seismic_stations(sta_table) if "technology" in sta_table.columns else sta_table
    cfg = SimConfig() if false_fraction is None else SimConfig(false_fraction=false_fraction)
    tt = TravelTimeTable(model, list(GLOBAL_PHASES), cache_dir=settings.cache_dir / "traveltime")
    sim = _simulate(org, sta, tt, cfg, seed, start=start, end=start + 86400)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    write_picks_csv(sim.picks, out / "picks.csv")
    sim.stations[["network", "station", "latitude", "longitude", "elevation_m"]].to_csv(out / "stations.csv",
                                                                                      index=False)
    truth = sim.truth.copy()
    truth["time"] = [UTCDateTime(t).strftime("%Y-%m-%dT%H:%M:%S.%fZ") for t in truth["time"]]
    truth[["time", "latitude", "longitude", "depth_km", "mag", "n_stations", "n_p_stations", "event_id",
           "in_window", "n_detections"]].to_csv(out / "truth.csv", index=False)
    sim.pick_truth.to_csv(out / "picks_truth.csv", index=False, float_format="%.6f")
    return {**sim.summary, "origins_file": str(origins), "stations_file": str(stations), "model": model,
            "output": str(out)}


# ----------------------------------------------------------------------------- radionuclide (issue 17)
def radionuclide_analyse(settings: Settings, path: str | Path, backgrounds: Iterable[str | Path] = ()) -> dict:
    """Analyse one spectrum file without storing it (report keys: :mod:`pipeline.radionuclide.analyse`;
    settings: ``[radionuclide]``)."""
    from pipeline.radionuclide.analyse import analyse_file

    return analyse_file(path, config=settings.radionuclide, backgrounds=list(backgrounds))


def radionuclide_report_text(report: dict) -> str:
    """A radionuclide report for people (:func:`pipeline.radionuclide.analyse.format_text`)."""
    from pipeline.radionuclide.analyse import format_text

    return format_text(report)


def radionuclide_ingest(settings: Settings, path: str | Path, echo: Callable[[str], None] | None = None) -> dict:
    """Store and analyse one PHD message outside ``idc ingest`` (:mod:`pipeline.radionuclide.ingest`;
    the same sample again replaces it)."""
    from pipeline.radionuclide.ingest import ingest_phd

    return ingest_phd(settings, path, echo=echo).as_dict()


def radionuclide_samples(settings: Settings, station: str | None = None, start=None, end=None,
                         data_type: str | None = None) -> list[dict]:
    """Stored radionuclide samples whose collection overlaps [start, end), with their analyses."""
    from obspy import UTCDateTime

    from pipeline.store.db import ensure_schema, session_scope
    from pipeline.store.radionuclide import list_samples

    ensure_schema(settings.database_url)
    with session_scope(settings.database_url) as s:
        rows = list_samples(s, station, float(UTCDateTime(start).timestamp) if start else None,
                            float(UTCDateTime(end).timestamp) if end else None, data_type)
    return [r.as_dict() for r in rows]


def radionuclide_fuse(settings: Settings, samples: list[str], product: str, start=None, end=None, **options) -> dict:
    """Possible source region of the samples and the events of ``product`` inside it
    (:func:`pipeline.radionuclide.fusion.fuse_samples`; options documented there; an option not
    given or ``None`` takes its default from ``[radionuclide.backtrack]``)."""
    from pipeline.radionuclide.fusion import fuse_samples

    defaults = settings.radionuclide.backtrack.model_dump()
    options = {**defaults, **{k: v for k, v in options.items() if v is not None or k not in defaults}}
    return fuse_samples(settings, samples, product, start, end, **options)


def radionuclide_reports(settings: Settings, station: str | None = None, start=None, end=None,
                         sample_ids: list[int] | None = None, runner: str = "cli", run_id: str = "") -> dict:
    """Build the report product (RRR) of every stored sample of ``[radionuclide.rrr] data_types``
    (collection overlapping [start, end) when given): a re-run replaces, a changed sample gets a new
    version (:func:`pipeline.radionuclide.report.make_reports`; the ``radionuclide`` DAG's task)."""
    from pipeline.radionuclide.report import make_reports

    return make_reports(settings, station=station, start=start, end=end, sample_ids=sample_ids, runner=runner,
                        run_id=run_id)


def radionuclide_report_list(settings: Settings, station: str | None = None, start=None, end=None,
                             sample_id: int | None = None, version: int | None = None,
                             all_versions: bool = False) -> list[dict]:
    """Stored RRR versions as JSON (:func:`pipeline.radionuclide.report.load_reports`)."""
    from pipeline.radionuclide.report import load_reports

    return load_reports(settings, station=station, start=start, end=end, sample_id=sample_id, version=version,
                        all_versions=all_versions)


def export_reports(settings: Settings, start, end, fmt: str, out: str | Path, station: str | None = None,
                   sample_id: int | None = None, version: int | None = None, msg_id: str | None = None) -> dict:
    """``idc export --product RRR``: the newest RRR of every sample whose collection overlaps
    [start, end) (or one version of ``sample_id``) as an IMS2.0 DATA message (``rrr``) or JSON."""
    import json

    from pipeline.io.ims1 import new_msg_id
    from pipeline.radionuclide.report import rrr_message
    from pipeline.util import write_atomic

    reports = radionuclide_report_list(settings, station, start, end, sample_id, version)
    if not reports:
        raise FileNotFoundError(f"no RRR product for {start} – {end}"
                                + (f" at {station}" if station else "")
                                + "; ingest PHD messages (`idc ingest`) and build the reports "
                                  "(`idc radionuclide report`, or the radionuclide DAG)")
    if fmt == "json":
        text = json.dumps({"product": "RRR", "reports": reports}, indent=1)
    else:
        text = rrr_message(reports, msg_id or new_msg_id(), settings.radionuclide.rrr.agency)
    write_atomic(Path(out), text.encode())
    return {"product": "RRR", "reports": len(reports), "versions": sorted({r["version"] for r in reports}),
            "format": fmt, "output": str(out)}


def radionuclide_sample(settings: Settings, sample_id: int) -> dict:
    """One stored sample (:func:`radionuclide_samples` keys) with its stored analysis report
    (``analysis``) and its RRR versions (``reports``: version, runs, created); FileNotFoundError
    when there is no such sample."""
    from pipeline.radionuclide.report import PRODUCT, report_json
    from pipeline.store.db import ensure_schema, session_scope
    from pipeline.store.radionuclide import analysis_of, find_samples, stored_reports

    ensure_schema(settings.database_url)
    with session_scope(settings.database_url) as s:
        smp = next((x for x in find_samples(s, str(int(sample_id))) if x.id == int(sample_id)), None)
        if smp is None:
            raise FileNotFoundError(f"no radionuclide sample {sample_id}")
        a = analysis_of(s, smp.id)
        versions = [report_json(r) for r in stored_reports(s, PRODUCT, sample_id=smp.id, all_versions=True)]
    return {**smp.as_dict(), "analysis": a[0] if a else None,
            "reports": [{k: r[k] for k in ("version", "runs", "created", "subject")} for r in versions]}


def radionuclide_spectrum(settings: Settings, sample_id: int) -> dict:
    """Plot data of a stored sample (:func:`pipeline.radionuclide.report.spectrum_plot_data`)."""
    from pipeline.radionuclide.report import spectrum_plot_data, stored_phd

    smp = radionuclide_sample(settings, sample_id)
    return {"sample_id": smp["id"], "kind": smp["kind"],
            **spectrum_plot_data(stored_phd(settings, smp["file"]), smp["analysis"])}


def radionuclide_phd(settings: Settings, sample_id: int) -> tuple[str, str]:
    """``(file name, text)`` of a sample's stored PHD message."""
    from pipeline.radionuclide.report import stored_phd

    smp = radionuclide_sample(settings, sample_id)
    path = stored_phd(settings, smp["file"])
    return path.name, path.read_text(errors="replace")


def _read_waveform_files(paths: Iterable[str | Path]):
    """``(Stream, rejected)``: every file obspy can read, each read on its own; a file it cannot
    read is one ``rejected`` entry (``input``, ``error`` naming the file and why) and the rest go on."""
    from obspy import Stream, read

    st, rejected = Stream(), []
    for p in [Path(p) for p in paths]:
        try:
            st += read(str(p))
        except Exception as exc:  # noqa: BLE001 - obspy raises many kinds for an unreadable file
            first = str(exc).splitlines()[0] if str(exc) else ""
            rejected.append({"input": str(p), "error": f"{p}: not a waveform file obspy can read "
                                                       f"({type(exc).__name__}: {first})"})
    return st, rejected


def _infrasound_inventory(settings: Settings, stations: str | Path | None):
    """Element coordinates for ad-hoc infrasound files: a StationXML or station CSV file, else the
    store's stations."""
    if stations is None:
        return station_inventory(settings)
    from pipeline.stations.inventory import read_station_file

    return read_station_file(stations, default_network=settings.stations.default_network or "XX").inventory


def infrasound_detect(settings: Settings, paths: Iterable[str | Path], stations: str | Path | None = None,
                      out: str | Path | None = None, code: str | None = None, reference: str | None = None,
                      progress: bool | None = None) -> dict:
    """``idc infrasound detect``: infrasound array element files -> one detection table
    (:mod:`pipeline.infrasound`, settings ``[infrasound]``).

    The elements are grouped into arrays by network and station code less its trailing digits
    (``BRP1..4`` -> ``BRP``, ``I26H1..8`` -> ``I26H``); each array is one station of the table
    (``code`` names it when there is one array). A file obspy cannot read, or an array that
    cannot be processed (too few elements, no coordinates), is reported in ``rejected`` (file or
    array, and why) and the rest of the batch goes on. ``progress`` (default: when stderr is a
    terminal) shows a bar over the analysis windows. Returns the summary: files, arrays, per array
    the parameters used and its detections, the detections, rejected inputs, wall time.
    """
    import re
    import time

    import pandas as pd
    from obspy import Stream
    from tqdm import tqdm

    from pipeline.infrasound import detect_infrasound, write_infrasound_csv

    t_start = time.perf_counter()
    paths = [Path(p) for p in paths]
    show = sys.stderr.isatty() if progress is None else progress
    st, rejected = _read_waveform_files(paths)
    inv = _infrasound_inventory(settings, stations) if len(st) else None
    groups: dict[tuple[str, str], Stream] = {}
    for tr in st:
        groups.setdefault((tr.stats.network, re.sub(r"\d+$", "", tr.stats.station) or tr.stats.station),
                          Stream()).append(tr)
    tables, arrays = [], []
    with tqdm(total=0, desc="infrasound", unit="win", disable=not show, file=sys.stderr, dynamic_ncols=True) as bar:
        def plan(n):
            bar.total = (bar.total or 0) + n
            bar.refresh()

        for (net, prefix), part in sorted(groups.items()):
            name = code if code and len(groups) == 1 else None
            try:
                res = detect_infrasound(part, inv, settings.infrasound, code=name, reference=reference,
                                        progress=bar.update, on_plan=plan)
            except (IdcError, ValueError) as exc:
                rejected.append({"input": f"{net}.{prefix}*", "error": f"array {net}.{prefix}*: {exc}"})
                continue
            tables.append(res.table)
            arrays.append({"array": res.geometry.code, "elements": res.geometry.n,
                           "aperture_km": round(res.geometry.aperture_km, 3), **res.params.as_dict(),
                           "windows": int(res.scan.sizes["time"]), "detections": int(len(res.table))})
    table = pd.concat(tables, ignore_index=True) if tables else None
    if out and table is not None:
        write_infrasound_csv(table, out)
    return {"files": len(paths), "arrays": arrays, "detections": 0 if table is None else int(len(table)),
            "output": str(out or "") if table is not None else "", "rejected": rejected,
            "seconds": round(time.perf_counter() - t_start, 1)}


def infrasound_qc(settings: Settings, paths: Iterable[str | Path], stations: str | Path | None = None) -> dict:
    """``idc infrasound qc``: the PSD of each channel against the IMS infrasound low/high noise
    models (:func:`pipeline.infrasound.noise_qc`). Unreadable files are reported in ``rejected``
    and the rest goes on. Returns ``channels`` (one dict per channel, keys
    :data:`pipeline.infrasound.qc.QC_COLUMNS`), ``rejected``, counts per status."""
    from pipeline.infrasound import noise_qc

    st, rejected = _read_waveform_files(paths)
    inv = None
    if stations is not None:
        inv = _infrasound_inventory(settings, stations)
    table = noise_qc(st, inv, settings.infrasound) if len(st) else None
    rows = [] if table is None else [{k: (None if isinstance(v, float) and v != v else v) for k, v in r.items()}
                                     for r in table.to_dict("records")]
    status: dict[str, int] = {}
    for r in rows:
        status[r["status"]] = status.get(r["status"], 0) + 1
    return {"channels": rows, "status": status, "rejected": rejected}


def infrasound_locate(settings: Settings, paths: Iterable[str | Path], stations: str | Path | None = None) -> dict:
    """``idc infrasound locate``: infrasound detections of several arrays (our detection CSV with
    the arrays' coordinates from ``stations``, or infrapy ``.dets.json`` lists) -> events by
    grid-search association and location (:mod:`pipeline.infrasound.locate`, celerity windows
    of ``[infrasound] celerity_km_s``). Returns ``events`` (location, origin time, arrivals with
    azimuth residuals and celerity phase), ``unassociated``, ``rejected`` inputs."""
    import pandas as pd
    from obspy import UTCDateTime

    from pipeline.infrasound.locate import LocateConfig, associate, parse_infrapy_detections
    from pipeline.picks import read_picks_csv, stations_from_inventory
    from pipeline.traveltime.infrasound import CelerityModel

    frames, rejected = [], []
    coords = None
    for p in [Path(p) for p in paths]:
        try:
            if p.suffix.lower() == ".json":
                frames.append(parse_infrapy_detections(p.read_text(), p.name.split(".")[0], str(p)))
                continue
            df = read_picks_csv(p)
            if coords is None:
                coords = stations_from_inventory(_infrasound_inventory(settings, stations)).drop_duplicates("station")
            df = df.merge(coords[["station", "latitude", "longitude"]], on="station", how="left")
            if df["latitude"].isna().any():
                missing = sorted(set(df.loc[df["latitude"].isna(), "station"]))
                raise ValueError(f"{p}: no coordinates for array(s) {', '.join(missing)} in the station file")
            frames.append(df[["station", "latitude", "longitude", "time", "backazimuth"]])
        except (IdcError, ValueError, OSError) as exc:
            rejected.append({"input": str(p), "error": str(exc)})
    if not frames:
        return {"events": [], "unassociated": 0, "rejected": rejected}
    dets = pd.concat(frames, ignore_index=True).dropna(subset=["backazimuth"])
    config = LocateConfig(celerity=CelerityModel(dict(settings.infrasound.celerity_km_s)))
    events, left = associate(dets, config)
    out = []
    for e in events:
        arr = [{"station": r.station, "time": UTCDateTime(r.time).isoformat(), "backazimuth": round(r.backazimuth, 2),
                "distance_km": round(r.distance_km, 1), "azimuth_residual": round(r.azimuth_residual, 2),
                "celerity_km_s": round(r.celerity, 4), "phase": r.phase} for r in e.arrivals.itertuples()]
        out.append({"latitude": round(e.latitude, 3), "longitude": round(e.longitude, 3),
                    "time": UTCDateTime(e.time).isoformat(), "arrays": int(e.arrivals["station"].nunique()),
                    "misfit": round(e.misfit, 3), "arrivals": arr})
    return {"events": out, "unassociated": int(len(left)), "rejected": rejected}


def hydroacoustic_detect(settings: Settings, paths: Iterable[str | Path], out: str | Path | None = None,
                         progress: bool | None = None) -> dict:
    """``idc hydroacoustic detect``: hydrophone (H) and island T-phase (T) detection on waveform
    files -> one detection table (:mod:`pipeline.hydroacoustic`, settings ``[hydroacoustic]``).

    Each file is read on its own: a file obspy cannot read is reported in ``rejected`` (file and
    why) and the batch goes on; a channel that is neither a hydrophone nor a T-phase channel, or
    too short, is reported in ``skipped``. ``progress`` (default: when stderr is a terminal)
    shows a bar over the channels. Returns the summary: files, channels (parameters and
    detections of each), detections per phase, output, rejected, skipped, wall time.
    """
    import time

    from tqdm import tqdm

    from pipeline.hydroacoustic import detect_hydroacoustic, write_hydroacoustic_csv

    t_start = time.perf_counter()
    paths = [Path(p) for p in paths]
    show = sys.stderr.isatty() if progress is None else progress
    st, rejected = _read_waveform_files(paths)
    n_channels = len({tr.id for tr in st})
    with tqdm(total=len(st), desc="hydroacoustic", unit="trace", disable=not show, file=sys.stderr,
              dynamic_ncols=True) as bar:
        res = detect_hydroacoustic(st, settings.hydroacoustic, progress=bar.update)
    table = res.table
    if out:
        write_hydroacoustic_csv(table, out)
    return {"files": len(paths), "channels_read": n_channels, "channels": res.channels,
            "detections": int(len(table)),
            "phases": {k: int(v) for k, v in table["phase"].value_counts().items()},
            "output": str(out or ""), "rejected": rejected, "skipped": list(res.skipped),
            "seconds": round(time.perf_counter() - t_start, 1)}
