#!/usr/bin/env python
"""fdsnws-event throughput and latency: ``idc serve`` on loopback, concurrent keep-alive clients.

What it measures
----------------
Requests per second and latency percentiles (p50, p99, max) of fdsnws-event ``query``
requests answered by a real ``idc serve`` process (uvicorn, ``--workers`` processes, default 1)
on 127.0.0.1, with ``--concurrency`` clients (default 8) sending ``--requests`` requests
(default 5 000) after a warm-up. Issue 18's target: ≥ 1 000 req/s and p99 < 50 ms with
1 000 000 events in PostgreSQL — the default (``make bench``). The benchmark prints the figures
and never asserts on them. Because the clients, PostgreSQL and the server share the machine (and
req/s depends on whatever else runs on it), it also prints the CPU time per request of the
server (all worker processes), of the load generator, of PostgreSQL (the postmaster and its
backends) and of the whole machine (psutil), the load average before and after the run, and how
many cores other processes kept busy meanwhile (machine busy time minus ours, over the run).

The load generator
------------------
A lean HTTP/1.1 client on asyncio streams (on uvloop when installed), like ``wrk``: one
keep-alive connection per concurrent client, one request in flight per connection, the request
bytes prepared before the clock starts, responses read by ``Content-Length`` or chunked
transfer coding; its objects are moved out of its garbage collector's reach before the run
(``gc.freeze``). httpx, used before, spent about a millisecond of CPU per request — a large part
of a 2-core machine that also runs the server and PostgreSQL. Every answer is checked: status
200 or 204; a 200 body complete and of the asked format (text: the ``#EventID`` header line;
QuakeML: ``<?xml`` … ``</q:quakeml>``); a 204 without body. Anything else counts as an error
(the benchmark then exits 1).

The store
---------
``--events`` events (default 1 000 000) in daily REB products of ``--per-product`` events
(default 100, about the size of a real REB day: 10 000 days for 10^6 events), one origin and one
mb per event, loaded through :class:`pipeline.store.bulk.BulkLoader` (``COPY`` on PostgreSQL,
``executemany`` on SQLite) in chunks of 50 000 events, with a progress bar: ~50 s for 10^6
events on 2 cores. Events are synthetic but shaped like a global bulletin (numpy, seeded,
reproducible): epicentres uniform on the sphere, depths exponential (mean 35 km, at most
700 km), mb 3.0–6.5 following Gutenberg–Richter with b = 1 (mb ≥ 4.0, public: ~10 %), origin
times uniform within each day. The days start on 2020-01-01, or earlier so that the bulletin
ends before 2024 (10^6 events: 1996-08-15 to 2023-12-31): the public sees only events older
than 2 days.

The store is a PostgreSQL server started by the benchmark (``pipeline.store.pgserver``:
``initdb`` + ``pg_ctl``, 127.0.0.1, a free port) when the server binaries are installed, else
SQLite (``--backend`` chooses). The loaded database is kept between runs under
``var/bench/fdsn_event/<backend>-<events>ev-<per product>pp-seed<seed>-schema<Alembic head>-gen<generator version>/``
(``--cache DIR``; ``--no-cache``: a temporary one), marked complete by ``loaded.json``; each run
serves a copy of it (``CREATE DATABASE … TEMPLATE``, a file copy), so the server's writes (the
download audit) never change the cache, and a second ``make bench`` does not load again. A
folder of the same bulletin for an older schema or generator is removed when a new one is
loaded. 10^6 events take about 1 GB there.

The server runs as deployed (config/default.toml: the access policy — anonymous requests see
the public part of the REB, mb ≥ 4.0 —, the download audit, written in batches by a background
thread, ``--no-audit`` to leave it out, and fdsnws-event's in-memory index,
:mod:`pipeline.service.fdsn.index`, built when the server starts) except that the public
per-client rate limit is lifted: all requests come from one address. Answers are also cached
(keyed by parameters, access class and the store's product generation,
:mod:`pipeline.service.fdsn.cache`); the random parameters below repeat only partly (days,
ids), so most requests are computed.

The request mix (one kind drawn at random per request, equal odds, seeded)
---------------------------------------------------------------------------
==================  ==============================================================================
``day_text``        time window: one random day, ``format=text`` (≈ 10 public events)
``week_mag_xml``    time window + magnitude: 7 days, ``minmagnitude=4.5``, QuakeML, ``limit=20``
``box_mag_xml``     bbox: 30 days in a 30°×30° box, ``orderby=magnitude``, ``limit=10``, QuakeML
``radius_text``     radius: 30 days within 15° of a random point, text
``page_text``       pagination: 365 days, ``orderby=time``, ``limit=100``, ``offset`` a random
                    page of the first 30 (1, 101, … 2901), text
``eventid_xml``     one public event by id (mb ≥ 4.0, drawn over the whole bulletin), QuakeML
==================  ==============================================================================

The anonymous public sees only REB events with mb ≥ 4.0 (config/default.toml), so a window
holding none is answered 204 (counted separately in ``statuses``).

Results are printed and written to ``bench/results/fdsn_event_throughput.json``.
"""
from __future__ import annotations

import argparse
import asyncio
import gc
import json
import math
import os
import random
import shutil
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from _common import free_port, start_idc_serve, stop_process  # noqa: E402  (bench/_common.py)

RESULTS = ROOT / "bench" / "results" / "fdsn_event_throughput.json"
DAY = 86400.0
T0 = 1577836800.0  # 2020-01-01T00:00:00Z
#: the synthetic bulletin ends before this day (the public sees only events older than 2 days)
LATEST = 1704067200.0  # 2024-01-01T00:00:00Z


def first_day(n_events: int, per_product: int) -> float:
    """Start of the first REB day: :data:`T0`, or earlier when the bulletin would reach
    :data:`LATEST` (1,000,000 events of 100 a day span 27 years: 1996-08-15 to 2023-12-31)."""
    return min(T0, LATEST - math.ceil(n_events / per_product) * DAY)


#: bump when the synthetic rows change (part of the cache key of a loaded database)
GENERATOR_VERSION = 3
#: events generated and written per chunk (bounds the loader's memory)
CHUNK_EVENTS = 50_000
CACHE = ROOT / "var" / "bench" / "fdsn_event"


def synthetic_arrays(n_events: int, per_product: int, seed: int, chunk_events: int = CHUNK_EVENTS):
    """The synthetic bulletin in chunks of whole products, as numpy arrays: yields dicts with
    ``first_id`` (evid = orid = magid of the chunk's first event) and ``product`` (0-based product
    index of each event), ``rank`` (1-based, by origin time), ``time``, ``lat``, ``lon``,
    ``depth``, ``mb``. Product ``p`` is the REB day ``first_day + p`` days, id ``p + 1``; ids run
    from 1 in (product, rank) order. Cheap (~0.5 s per 10^6 events): the load generator runs it
    again to find the ids of events the public may see."""
    import numpy as np

    rng = np.random.default_rng(seed)
    day0 = first_day(n_events, per_product)
    n_products = math.ceil(n_events / per_product)
    per_chunk = max(1, chunk_events // per_product)
    first_id = 1
    for p0 in range(0, n_products, per_chunk):
        p1 = min(n_products, p0 + per_chunk)
        k = min(n_events, p1 * per_product) - p0 * per_product   # events of this chunk
        # origin times uniform within each day, sorted per product (= rank order)
        frac = np.sort(rng.random((p1 - p0, per_product)), axis=1).ravel()[:k]
        pidx = np.arange(p0, p1).repeat(per_product)[:k]
        rank = np.tile(np.arange(1, per_product + 1), p1 - p0)[:k]
        yield {"first_id": first_id, "product": pidx, "rank": rank, "time": day0 + pidx * DAY + frac * DAY,
               "lat": np.degrees(np.arcsin(2 * rng.random(k) - 1)), "lon": rng.uniform(-180, 180, k),
               "depth": np.minimum(700.0, rng.exponential(35.0, k)),
               "mb": np.round(3.0 - np.log10(1 - rng.random(k) * (1 - 10 ** -3.5)), 1)}
        first_id += k


def synthetic_chunks(n_events: int, per_product: int, seed: int, chunk_events: int = CHUNK_EVENTS):
    """:func:`synthetic_arrays` as store rows: yields ``(events, origins, netmags)`` row lists
    (tuples in :data:`EVENT_COLS`, :data:`ORIGIN_COLS`, :data:`NETMAG_COLS` order)."""
    from pipeline.store.models import utcnow

    now = utcnow()
    for a in synthetic_arrays(n_events, per_product, seed, chunk_events):
        k = len(a["time"])
        ids = range(a["first_id"], a["first_id"] + k)
        pid = (a["product"] + 1).tolist()
        mb = a["mb"].tolist()
        events = [(i, q, i, "", "", "IDC", now) for i, q in zip(ids, pid)]
        origins = [(i, q, i, la, lo, de, tt, 10, 8, 0, "", "f", m, "bench", "IDC", now)
                   for i, q, la, lo, de, tt, m in zip(ids, pid, a["lat"].tolist(), a["lon"].tolist(),
                                                     a["depth"].tolist(), a["time"].tolist(), mb)]
        mags = [(i, q, "", i, i, "mb", 5, m, "IDC", now) for i, q, m in zip(ids, pid, mb)]
        yield events, origins, mags


def public_event_ids(n_events: int, per_product: int, seed: int, n: int, min_mb: float = 4.0) -> list[str]:
    """Up to ``n`` public event ids (mb >= ``min_mb``, the public rule of config/default.toml)
    drawn evenly from the whole bulletin."""
    import numpy as np

    from pipeline.store.products import event_id

    day0 = first_day(n_events, per_product)
    picked = []
    step = max(1, n_events // max(1, n) // 4)
    for a in synthetic_arrays(n_events, per_product, seed):
        ix = np.nonzero(a["mb"] >= min_mb)[0]
        for p, r in zip(a["product"][ix][::step].tolist(), a["rank"][ix][::step].tolist()):
            picked.append(event_id("REB", day0 + p * DAY, day0 + (p + 1) * DAY, r))
    random.Random(seed).shuffle(picked)
    return picked[:n]


PRODUCT_COLS = ("id", "type", "window_start", "window_end", "subject", "version", "config_hash",
                "software_version", "input_fingerprint", "created", "runs", "summary")
EVENT_COLS = ("evid", "product_id", "prefor", "evname", "public_id", "auth", "lddate")
ORIGIN_COLS = ("orid", "product_id", "evid", "lat", "lon", "depth", "time", "nass", "ndef", "ndp", "etype",
               "dtype", "mb", "algorithm", "auth", "lddate")
NETMAG_COLS = ("magid", "product_id", "net", "orid", "evid", "magtype", "nsta", "magnitude", "auth", "lddate")


def fill_store(url: str, n_events: int, per_product: int, seed: int, progress: bool = True) -> None:
    """Load the synthetic bulletin into the (empty, migrated here) store at ``url`` through
    :class:`pipeline.store.bulk.BulkLoader` (COPY on PostgreSQL), chunk by chunk."""
    from tqdm import tqdm

    from pipeline.store import db
    from pipeline.store.bulk import BulkLoader
    from pipeline.store.models import utcnow

    db.upgrade(url)
    n_products = math.ceil(n_events / per_product)
    day0 = first_day(n_events, per_product)
    now = utcnow()
    with BulkLoader(url) as bl:
        bl.write("product", PRODUCT_COLS,
                 ((p + 1, "REB", day0 + p * DAY, day0 + (p + 1) * DAY, "", 1, "bench", "bench", "bench", now, 1, {})
                  for p in range(n_products)))
        with tqdm(total=n_events, desc="load events", unit="ev", unit_scale=True, file=sys.stderr,
                  disable=not progress, mininterval=1.0) as bar:
            for events, origins, mags in synthetic_chunks(n_events, per_product, seed):
                bl.write("event", EVENT_COLS, events)
                bl.write("origin", ORIGIN_COLS, origins)
                bl.write("netmag", NETMAG_COLS, mags)
                bar.update(len(events))
        if progress:
            print("  planner statistics (VACUUM ANALYZE) ...", file=sys.stderr, flush=True)


def cache_key(backend: str, n_events: int, per_product: int, seed: int) -> str:
    """Folder name of a loaded database: backend, event count, products, seed, the store's schema
    version (Alembic head) and :data:`GENERATOR_VERSION`."""
    from pipeline.store.db import head_revision

    return f"{backend}-{n_events}ev-{per_product}pp-seed{seed}-schema{head_revision()}-gen{GENERATOR_VERSION}"


def open_store(backend: str, n_events: int, per_product: int, seed: int, cache: Path | None, tmp: Path,
               progress: bool = True):
    """The store the server reads: ``(url, pg server or None, fill seconds or None when cached,
    cache folder or None)``.

    With ``cache``, the loaded database is kept in ``cache/<cache_key>/`` (PostgreSQL: a data
    folder whose database ``bench_template`` holds the events; SQLite: ``idc.sqlite``) and marked
    complete by ``loaded.json``; each run serves a fresh copy of it (``CREATE DATABASE … TEMPLATE``,
    a file copy), so what the server writes (the download audit) never changes the cache. A folder
    without the mark (an interrupted load) is loaded again."""
    from pipeline.store.pgserver import ThrowawayPostgres

    folder = cache / cache_key(backend, n_events, per_product, seed) if cache is not None else None
    done = folder is not None and (folder / "loaded.json").exists()
    if folder is not None and not done and folder.exists():
        shutil.rmtree(folder)
    if folder is not None and not done and cache.exists():
        # the same bulletin loaded for an older schema or generator: obsolete (about 1 GB per 10^6 events)
        stem = folder.name.split("-schema")[0] + "-schema"
        for old in cache.iterdir():
            if old.is_dir() and old.name.startswith(stem) and old != folder:
                print(f"removing the obsolete cached store {old.name}", flush=True)
                shutil.rmtree(old, ignore_errors=True)
    fill_s = None
    if backend == "postgresql":
        pg = ThrowawayPostgres(datadir=folder / "data" if folder is not None else None).start()
        try:
            if not done:
                t0 = time.perf_counter()
                fill_store(pg.create_database("bench_template"), n_events, per_product, seed, progress)
                fill_s = time.perf_counter() - t0
                # the template must have no open connection when it is copied
                from pipeline.store import db

                db.get_engine(pg.url("bench_template")).dispose()
            pg.drop_database("bench")
            url = pg.create_database("bench", template="bench_template")
        except BaseException:
            pg.stop()
            raise
        if folder is not None and not done:
            (folder / "loaded.json").write_text(json.dumps({"events": n_events, "fill_s": round(fill_s, 1)}) + "\n")
        return url, pg, fill_s, folder
    db_file = (folder or tmp) / "idc.sqlite"
    if not done:
        db_file.parent.mkdir(parents=True, exist_ok=True)
        t0 = time.perf_counter()
        fill_store(f"sqlite:///{db_file}", n_events, per_product, seed, progress)
        fill_s = time.perf_counter() - t0
        if folder is not None:
            (folder / "loaded.json").write_text(json.dumps({"events": n_events, "fill_s": round(fill_s, 1)}) + "\n")
    if folder is not None:
        shutil.copyfile(db_file, tmp / "idc.sqlite")
    return f"sqlite:///{tmp / 'idc.sqlite'}", None, fill_s, folder


#: the request kinds, drawn with equal probability (module docstring)
KINDS = ("day_text", "week_mag_xml", "box_mag_xml", "radius_text", "page_text", "eventid_xml")


def make_requests(n: int, n_events: int, per_product: int, seed: int) -> list[tuple[str, dict]]:
    from obspy import UTCDateTime

    rng = random.Random(seed + 1)
    n_days = math.ceil(n_events / per_product)
    day0 = first_day(n_events, per_product)
    ids = public_event_ids(n_events, per_product, seed, max(1, min(n, 10000)))

    def t(x):
        return str(UTCDateTime(x))[:19]

    out = []
    for _ in range(n):
        kind = rng.choice(KINDS)
        d0 = day0 + rng.randrange(max(1, n_days)) * DAY
        if kind == "day_text":
            q = {"starttime": t(d0), "endtime": t(d0 + DAY), "format": "text"}
        elif kind == "week_mag_xml":
            q = {"starttime": t(d0), "endtime": t(d0 + 7 * DAY), "minmagnitude": "4.5", "limit": "20"}
        elif kind == "box_mag_xml":
            la, lo = rng.uniform(-60, 30), rng.uniform(-180, 150)
            q = {"starttime": t(d0), "endtime": t(d0 + 30 * DAY), "minlat": la, "maxlat": la + 30, "minlon": lo,
                 "maxlon": lo + 30, "orderby": "magnitude", "limit": "10"}
        elif kind == "radius_text":
            q = {"starttime": t(d0), "endtime": t(d0 + 30 * DAY), "lat": round(rng.uniform(-60, 60), 2),
                 "lon": round(rng.uniform(-180, 180), 2), "maxradius": "15", "format": "text"}
        elif kind == "page_text":
            q = {"starttime": t(d0), "endtime": t(d0 + 365 * DAY), "orderby": "time", "limit": "100",
                 "offset": str(1 + 100 * rng.randrange(30)), "format": "text"}
        else:
            q = {"eventid": rng.choice(ids)}
        out.append((kind, q))
    return out


class HTTPError(Exception):
    pass


async def _read_response(reader) -> tuple[int, bytes]:
    """One HTTP/1.1 response: (status, body); Content-Length or chunked bodies."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    parts = lines[0].split(b" ", 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/1."):
        raise HTTPError(f"bad status line {lines[0][:80]!r}")
    status = int(parts[1])
    length, chunked = None, False
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value.strip())
        elif name == b"transfer-encoding" and b"chunked" in value.lower():
            chunked = True
    if status in (204, 304) or (100 <= status < 200):
        return status, b""
    if chunked:
        body = bytearray()
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0].strip(), 16)
            if size == 0:
                await reader.readuntil(b"\r\n")  # no trailers are sent
                return status, bytes(body)
            body += await reader.readexactly(size)
            await reader.readexactly(2)
    if length is None:
        raise HTTPError("response without Content-Length on a keep-alive connection")
    return status, await reader.readexactly(length)


async def run_load(base: str, requests: list[tuple[str, dict]], concurrency: int):
    """Send ``requests`` over ``concurrency`` keep-alive HTTP/1.1 connections (one request in
    flight per connection, like wrk); returns (wall s, latencies by kind, statuses, errors).

    A lean client on asyncio streams rather than httpx: httpx spends about a millisecond of CPU
    per request, which on a 2-core machine shared with the server would measure the client.
    Every answer is checked: status 200 or 204, a 200 body that is complete (Content-Length or
    chunked) and of the requested format (``#EventID`` header line of the text format,
    ``<?xml`` + ``</q:quakeml>`` of QuakeML), a 204 without body; anything else counts as an error."""
    from urllib.parse import urlencode, urlsplit

    u = urlsplit(base)
    host, port = u.hostname, u.port
    raw = []
    for kind, q in requests:
        target = f"/fdsnws/event/1/query?{urlencode(q)}"
        raw.append((kind, q.get("format", "xml"),
                    f"GET {target} HTTP/1.1\r\nHost: {host}:{port}\r\nUser-Agent: idc-bench\r\n\r\n".encode()))
    lat: dict[str, list[float]] = {}
    errors = []
    statuses: dict[int, int] = {}
    pos = 0

    async def worker():
        nonlocal pos
        reader, writer = await asyncio.open_connection(host, port)
        try:
            while pos < len(raw):
                kind, fmt, req = raw[pos]
                pos += 1
                t0 = time.perf_counter()
                writer.write(req)
                try:
                    status, body = await _read_response(reader)
                except (HTTPError, asyncio.IncompleteReadError, ConnectionError) as exc:
                    errors.append((0, f"{type(exc).__name__}: {exc}"))
                    writer.close()
                    reader, writer = await asyncio.open_connection(host, port)
                    continue
                dt = time.perf_counter() - t0
                statuses[status] = statuses.get(status, 0) + 1
                if status == 200:
                    ok = (body.startswith(b"#EventID|") if fmt == "text"
                          else body.startswith(b"<?xml") and body.endswith(b"</q:quakeml>\n"))
                    if not ok:
                        errors.append((status, f"{kind}: unexpected body {body[:120]!r}"))
                elif status != 204 or body:
                    errors.append((status, body[:200].decode("utf-8", "replace")))
                lat.setdefault(kind, []).append(dt)
        finally:
            writer.close()

    t0 = time.perf_counter()
    await asyncio.gather(*[worker() for _ in range(concurrency)])
    wall = time.perf_counter() - t0
    return wall, lat, statuses, errors


def _run(coro):
    """asyncio.run, on uvloop when installed (less client CPU per request)."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover
        return asyncio.run(coro)
    return uvloop.run(coro)


def server_cpu_s(pid: int) -> float:
    """CPU seconds (user + system) used so far by the server process and its worker processes
    (a figure that, unlike req/s, does not depend on what else runs on the machine)."""
    try:
        import psutil
    except ImportError:  # pragma: no cover
        return float("nan")
    try:
        proc = psutil.Process(pid)
        total = 0.0
        for p in [proc] + proc.children(recursive=True):
            try:
                t = p.cpu_times()
                total += t.user + t.system
            except psutil.NoSuchProcess:
                pass
        return total
    except psutil.NoSuchProcess:
        return float("nan")


def server_rss_mb(pid: int) -> float:
    """Resident memory (MB) of the server process and its worker processes."""
    try:
        import psutil

        proc = psutil.Process(pid)
        return sum(p.memory_info().rss for p in [proc] + proc.children(recursive=True)) / 1e6
    except Exception:  # pragma: no cover
        return float("nan")


def _postmaster_pid(pg) -> int | None:
    """The PostgreSQL server's process id (its backends are its children), None for SQLite."""
    try:
        return int((pg.datadir / "postmaster.pid").read_text().split()[0]) if pg is not None else None
    except (OSError, ValueError, IndexError):
        return None


def _machine_busy_s() -> float:
    """CPU seconds the whole machine was busy so far (all processes, psutil; nan without it)."""
    try:
        import psutil
    except ImportError:  # pragma: no cover
        return float("nan")
    t = psutil.cpu_times()
    return t.user + t.system + getattr(t, "nice", 0.0) + getattr(t, "irq", 0.0) + getattr(t, "softirq", 0.0)


def pct(values: list[float], q: float) -> float:
    v = sorted(values)
    return v[min(len(v) - 1, max(0, math.ceil(q / 100 * len(v)) - 1))] if v else float("nan")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--events", type=int, default=1_000_000, help="events in the store (issue 18: 1,000,000)")
    ap.add_argument("--per-product", type=int, default=100, help="events per daily REB product")
    ap.add_argument("--requests", type=int, default=5000, help="requests measured (after the warm-up)")
    ap.add_argument("--warmup", type=int, default=200)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--workers", type=int, default=1, help="idc serve --workers")
    ap.add_argument("--backend", choices=["auto", "postgresql", "sqlite"], default="auto")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--no-audit", action="store_true",
                    help="serve without the download audit (one INSERT per request); default: audit on, as deployed")
    ap.add_argument("--cache", type=Path, default=CACHE,
                    help=f"folder of loaded databases kept between runs (default {CACHE.relative_to(ROOT)})")
    ap.add_argument("--no-cache", action="store_true", help="load into a temporary database, keep nothing")
    ap.add_argument("--no-progress", action="store_true")
    ap.add_argument("--start-timeout", type=float, default=600.0,
                    help="seconds to wait for the server (it builds its event index at start)")
    ap.add_argument("--output", type=Path, default=RESULTS)
    args = ap.parse_args(argv)

    from pipeline.store.pgserver import find_bindir

    backend = args.backend
    if backend == "auto":
        backend = "postgresql" if find_bindir() else "sqlite"
    tmp = Path(tempfile.mkdtemp(prefix="idc-bench-fdsn-"))
    pg = None
    proc = None
    try:
        n_products = math.ceil(args.events / args.per_product)
        url, pg, fill_s, folder = open_store(backend, args.events, args.per_product, args.seed,
                                             None if args.no_cache else args.cache, tmp, not args.no_progress)
        how = (f"loaded in {fill_s:.1f} s ({args.events / fill_s:,.0f} events/s)" if fill_s is not None
               else "loaded before (cached)")
        print(f"store: {backend}, {args.events:,} events in {n_products:,} daily REB products, {how}"
              + (f"; cache {folder.relative_to(ROOT) if folder.is_relative_to(ROOT) else folder}" if folder else ""),
              flush=True)
        port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("IDC")}
        env.update(IDC_HOME=str(tmp), IDC_DATABASE_URL=url,
                   # the bench measures the service, not the per-client rate limit (one client address here)
                   IDC__ACCESS__RATE_LIMIT__PUBLIC_RATE_PER_S="1000000.0",
                   IDC__ACCESS__RATE_LIMIT__PUBLIC_BURST="1000000")
        if args.no_audit:
            env["IDC__ACCESS__AUDIT"] = "false"
        t0 = time.perf_counter()
        proc = start_idc_serve(env, port, "/fdsnws/event/1/version", extra_args=("--workers", str(args.workers)),
                               timeout_s=args.start_timeout)
        start_s = time.perf_counter() - t0
        print(f"server up in {start_s:.1f} s (event index built), memory {server_rss_mb(proc.pid):.0f} MB",
              flush=True)
        base = f"http://127.0.0.1:{port}"
        warm = make_requests(args.warmup, args.events, args.per_product, args.seed + 100)
        _run(run_load(base, warm, args.concurrency))
        reqs = make_requests(args.requests, args.events, args.per_product, args.seed)
        # the load generator's own objects (the requests) out of its garbage collector's full
        # collections: a pause there would be measured as server latency
        gc.collect()
        gc.freeze()
        pg_pid = _postmaster_pid(pg)
        pg0 = server_cpu_s(pg_pid) if pg_pid else 0.0
        load0 = os.getloadavg()[0]
        cpu0, client0, machine0 = server_cpu_s(proc.pid), time.process_time(), _machine_busy_s()
        wall, lat, statuses, errors = _run(run_load(base, reqs, args.concurrency))
        server_s = server_cpu_s(proc.pid) - cpu0
        pg_s = (server_cpu_s(pg_pid) if pg_pid else 0.0) - pg0
        client_s = time.process_time() - client0
        machine_s = _machine_busy_s() - machine0
        n = max(1, len(reqs))
        # what else ran on the machine meanwhile (other users' work), as busy cores
        others_cores = max(0.0, machine_s - server_s - pg_s - client_s) / wall
        load = os.getloadavg()[0]
        allv = [x for v in lat.values() for x in v]
        res = {"benchmark": "fdsn_event_throughput",
               "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
               "backend": backend, "events": args.events, "products": n_products, "per_product": args.per_product,
               "requests": len(allv), "concurrency": args.concurrency, "workers": args.workers,
               "mix": list(KINDS), "wall_s": round(wall, 2),
               "req_per_s": round(len(allv) / wall, 1), "p50_ms": round(pct(allv, 50) * 1000, 1),
               "p99_ms": round(pct(allv, 99) * 1000, 1), "max_ms": round(max(allv) * 1000, 1),
               "statuses": {str(k): v for k, v in sorted(statuses.items())}, "errors": len(errors),
               "by_kind": {k: {"n": len(v), "p50_ms": round(pct(v, 50) * 1000, 1),
                               "p99_ms": round(pct(v, 99) * 1000, 1)} for k, v in sorted(lat.items())},
               "cpu_count": os.cpu_count(), "fill_s": None if fill_s is None else round(fill_s, 1),
               "cached": fill_s is None, "server_start_s": round(start_s, 1), "audit": not args.no_audit,
               "server_cpu_ms_per_request": round(server_s * 1000 / n, 2),
               "client_cpu_ms_per_request": round(client_s * 1000 / n, 2),
               "postgresql_cpu_ms_per_request": round(pg_s * 1000 / n, 2) if pg_pid else None,
               "machine_cpu_ms_per_request": round(machine_s * 1000 / n, 2),
               "other_processes_busy_cores": round(others_cores, 2),
               "server_rss_mb": round(server_rss_mb(proc.pid)),
               "load_average_1min_before": round(load0, 2), "load_average_1min": round(load, 2)}
        res["note"] = (f"{args.events:,} events, {backend}; load average {load0:.2f} before / {load:.2f} after, "
                       f"other processes {others_cores:.2f} of {os.cpu_count()} cores")
        print(f"fdsnws-event on {backend}, {args.events:,} events, {args.concurrency} concurrent clients, "
              f"{args.workers} server worker(s), {len(allv)} requests in {wall:.1f} s")
        print(f"  throughput {res['req_per_s']} req/s   p50 {res['p50_ms']} ms   p99 {res['p99_ms']} ms   "
              f"max {res['max_ms']} ms   (target: >= 1000 req/s, p99 < 50 ms with 1,000,000 events in PostgreSQL)")
        print(f"  CPU per request: server {res['server_cpu_ms_per_request']} ms (all workers), load generator "
              f"{res['client_cpu_ms_per_request']} ms, PostgreSQL {res['postgresql_cpu_ms_per_request']} ms, "
              f"whole machine {res['machine_cpu_ms_per_request']} ms")
        print(f"  machine: {os.cpu_count()} CPUs, load average {load0:.2f} before / {load:.2f} after the run, "
              f"other processes kept {others_cores:.2f} cores busy; server memory {res['server_rss_mb']} MB")
        for k, v in res["by_kind"].items():
            print(f"  {k:14s} n={v['n']:5d}  p50 {v['p50_ms']:7.1f} ms  p99 {v['p99_ms']:7.1f} ms")
        print(f"  statuses {res['statuses']}")
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps(res, indent=2) + "\n")
        print(f"results written to {args.output}")
        if errors:
            print("unexpected answers:", errors[:3])
            return 1
        return 0
    finally:
        stop_process(proc)
        if pg is not None:
            if pg.keep_data:  # the served copy; the cache keeps the template only
                try:
                    pg.drop_database("bench")
                except Exception as exc:  # noqa: BLE001 - any failure here only costs disk space
                    print(f"could not drop the served copy: {exc}", file=sys.stderr)
            pg.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
