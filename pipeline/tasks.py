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
