#!/usr/bin/env python
"""fdsnws-event throughput and latency: ``idc serve`` on loopback, concurrent keep-alive clients.

What it measures
----------------
Requests per second and latency percentiles (p50, p99, max) of fdsnws-event ``query``
requests answered by a real ``idc serve`` process (uvicorn, ``--workers`` processes, default 1)
on 127.0.0.1, with ``--concurrency`` clients sending ``--requests`` requests after a warm-up.
The issue's target is ≥ 500 req/s and p99 < 100 ms with 100 000 events in PostgreSQL
(``--events 100000 --backend postgresql``); the benchmark prints the figures and never asserts
on them. Because the clients, PostgreSQL and the server share the machine (and req/s depends on
whatever else runs on it), it also prints the CPU time per request of the server (all worker
processes), of the load generator, of PostgreSQL (the postmaster and its backends) and of the
whole machine (psutil), and the load average during the run.

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
``--events`` events (default 2 000, small enough for ``make bench``) in daily REB products of
``--per-product`` events (default 100, about the size of a real REB day), written with bulk
inserts into the store's own tables (product, event, origin, netmag: one mb per event).
Events are synthetic but shaped like a global bulletin (seeded, reproducible): epicentres
uniform on the sphere, depths exponential (mean 35 km, at most 700 km), mb 3.0–6.5 following
Gutenberg–Richter with b = 1, origin times uniform within each day.
The store is a throwaway PostgreSQL (``pipeline.store.pgserver``) when the server binaries are
installed, else SQLite (``--backend`` chooses).

The server runs as deployed (config/default.toml: the access policy — anonymous requests see
the public part of the REB, mb ≥ 4.0 —, the download audit, written in batches by a background
thread, ``--no-audit`` to leave it out, and fdsnws-event's in-memory index,
:mod:`pipeline.service.fdsn.index`, built when the server starts) except that the public
per-client rate limit is lifted: all requests come from one address. Answers are also cached
(keyed by parameters, access class and the store's product generation,
:mod:`pipeline.service.fdsn.cache`); the random parameters below repeat only partly (days,
ids), so most requests are computed.

The request mix (one kind drawn at random per request, seeded)
--------------------------------------------------------------
``day_text``      one random day, ``format=text`` (≈ per-product events)
``week_mag_xml``  7 days, ``minmagnitude=4.5``, QuakeML, ``limit=20``
``box_mag_xml``   30 days in a 30°×30° box, ``orderby=magnitude``, ``limit=10``, QuakeML
``radius_text``   30 days within 15° of a random point, text
``eventid_xml``   one event by id, QuakeML

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
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from _common import free_port, start_idc_serve, stop_process  # noqa: E402  (bench/_common.py)

RESULTS = ROOT / "bench" / "results" / "fdsn_event_throughput.json"
DAY = 86400.0
T0 = 1577836800.0  # 2020-01-01T00:00:00Z


def fill_store(url: str, n_events: int, per_product: int, seed: int) -> list[str]:
    """Bulk-insert the events; returns their event ids (as the service names them)."""
    from sqlalchemy import insert

    from pipeline.service.fdsn.event import event_id
    from pipeline.store import db
    from pipeline.store import models as m
    from pipeline.store.models import utcnow

    db.upgrade(url)
    rng = random.Random(seed)
    engine = db.get_engine(url)
    n_products = math.ceil(n_events / per_product)
    ids = []
    now = utcnow()
    evid = orid = 0
    with engine.begin() as conn:
        conn.execute(insert(m.Product), [dict(id=p + 1, type="REB", window_start=T0 + p * DAY,
                                              window_end=T0 + (p + 1) * DAY, version=1, config_hash="bench",
                                              software_version="bench", input_fingerprint="bench", created=now,
                                              runs=1, summary={}) for p in range(n_products)])
    batch_ev, batch_or, batch_mag = [], [], []

    def flush():
        with engine.begin() as conn:
            if batch_ev:
                conn.execute(insert(m.Event), batch_ev)
                conn.execute(insert(m.Origin), batch_or)
                conn.execute(insert(m.Netmag), batch_mag)
        batch_ev.clear(), batch_or.clear(), batch_mag.clear()

    for p in range(n_products):
        k = min(per_product, n_events - p * per_product)
        times = sorted(T0 + p * DAY + rng.random() * DAY for _ in range(k))
        for rank, t in enumerate(times, start=1):
            evid += 1
            orid += 1
            lat = math.degrees(math.asin(2 * rng.random() - 1))
            lon = rng.uniform(-180, 180)
            depth = min(700.0, rng.expovariate(1 / 35.0))
            mb = round(3.0 - math.log10(1 - rng.random() * (1 - 10 ** -3.5)), 1)
            batch_ev.append(dict(evid=evid, product_id=p + 1, prefor=orid, evname="", public_id="", auth="IDC",
                                 lddate=now))
            batch_or.append(dict(orid=orid, product_id=p + 1, evid=evid, lat=lat, lon=lon, depth=depth, time=t,
                                 nass=10, ndef=8, ndp=0, etype="", dtype="f", mb=mb, algorithm="bench", auth="IDC",
                                 lddate=now))
            batch_mag.append(dict(magid=orid, product_id=p + 1, orid=orid, evid=evid, magtype="mb", nsta=5,
                                  magnitude=mb, auth="IDC", lddate=now))
            ids.append(event_id("REB", T0 + p * DAY, T0 + (p + 1) * DAY, rank))
        if len(batch_ev) >= 5000:
            flush()
    flush()
    if url.startswith("postgresql"):
        with engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE")
    return ids


def make_requests(n: int, n_days: int, ids: list[str], seed: int) -> list[tuple[str, dict]]:
    from obspy import UTCDateTime

    rng = random.Random(seed + 1)

    def t(x):
        return str(UTCDateTime(x))[:19]

    out = []
    for _ in range(n):
        kind = rng.choice(["day_text", "week_mag_xml", "box_mag_xml", "radius_text", "eventid_xml"])
        d0 = T0 + rng.randrange(max(1, n_days)) * DAY
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


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--events", type=int, default=2000, help="events in the store (issue figure: 100000)")
    ap.add_argument("--per-product", type=int, default=100, help="events per daily REB product")
    ap.add_argument("--requests", type=int, default=1000, help="requests measured (after the warm-up)")
    ap.add_argument("--warmup", type=int, default=50)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--workers", type=int, default=1, help="idc serve --workers")
    ap.add_argument("--backend", choices=["auto", "postgresql", "sqlite"], default="auto")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--no-audit", action="store_true",
                    help="serve without the download audit (one INSERT per request); default: audit on, as deployed")
    ap.add_argument("--output", type=Path, default=RESULTS)
    args = ap.parse_args()

    from pipeline.store.pgserver import ThrowawayPostgres, find_bindir

    backend = args.backend
    if backend == "auto":
        backend = "postgresql" if find_bindir() else "sqlite"
    tmp = Path(tempfile.mkdtemp(prefix="idc-bench-fdsn-"))
    pg = None
    proc = None
    try:
        if backend == "postgresql":
            pg = ThrowawayPostgres().start()
            url = pg.create_database("bench")
        else:
            url = f"sqlite:///{tmp / 'idc.sqlite'}"
        t0 = time.perf_counter()
        ids = fill_store(url, args.events, args.per_product, args.seed)
        fill_s = time.perf_counter() - t0
        print(f"store: {backend}, {len(ids)} events in {math.ceil(args.events / args.per_product)} daily REB "
              f"products, filled in {fill_s:.1f} s")
        port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("IDC")}
        env.update(IDC_HOME=str(tmp), IDC_DATABASE_URL=url,
                   # the bench measures the service, not the per-client rate limit (one client address here)
                   IDC__ACCESS__RATE_LIMIT__PUBLIC_RATE_PER_S="1000000.0",
                   IDC__ACCESS__RATE_LIMIT__PUBLIC_BURST="1000000")
        if args.no_audit:
            env["IDC__ACCESS__AUDIT"] = "false"
        proc = start_idc_serve(env, port, "/fdsnws/event/1/version", extra_args=("--workers", str(args.workers)))
        base = f"http://127.0.0.1:{port}"
        n_days = math.ceil(args.events / args.per_product)
        warm = make_requests(args.warmup, n_days, ids, args.seed + 100)
        _run(run_load(base, warm, args.concurrency))
        reqs = make_requests(args.requests, n_days, ids, args.seed)
        # the load generator's own objects (the store's event ids, the requests) out of its garbage
        # collector's full collections: a pause there would be measured as server latency
        gc.collect()
        gc.freeze()
        pg_pid = _postmaster_pid(pg)
        pg0 = server_cpu_s(pg_pid) if pg_pid else float("nan")
        cpu0, client0, machine0 = server_cpu_s(proc.pid), time.process_time(), _machine_busy_s()
        wall, lat, statuses, errors = _run(run_load(base, reqs, args.concurrency))
        cpu_ms = (server_cpu_s(proc.pid) - cpu0) * 1000.0 / max(1, len(reqs))
        pg_ms = ((server_cpu_s(pg_pid) if pg_pid else float("nan")) - pg0) * 1000.0 / max(1, len(reqs))
        client_ms = (time.process_time() - client0) * 1000.0 / max(1, len(reqs))
        machine_ms = (_machine_busy_s() - machine0) * 1000.0 / max(1, len(reqs))
        try:
            import os as _os

            load = _os.getloadavg()[0]
        except OSError:  # pragma: no cover
            load = float("nan")
        allv = [x for v in lat.values() for x in v]
        res = {"backend": backend, "events": len(ids), "per_product": args.per_product,
               "requests": len(allv), "concurrency": args.concurrency, "workers": args.workers,
               "wall_s": round(wall, 2),
               "req_per_s": round(len(allv) / wall, 1), "p50_ms": round(pct(allv, 50) * 1000, 1),
               "p99_ms": round(pct(allv, 99) * 1000, 1), "max_ms": round(max(allv) * 1000, 1),
               "statuses": {str(k): v for k, v in sorted(statuses.items())}, "errors": len(errors),
               "by_kind": {k: {"n": len(v), "p50_ms": round(pct(v, 50) * 1000, 1),
                               "p99_ms": round(pct(v, 99) * 1000, 1)} for k, v in sorted(lat.items())},
               "cpu_count": os.cpu_count(), "fill_s": round(fill_s, 1), "audit": not args.no_audit,
               "server_cpu_ms_per_request": round(cpu_ms, 2), "client_cpu_ms_per_request": round(client_ms, 2),
               "postgresql_cpu_ms_per_request": round(pg_ms, 2),
               "machine_cpu_ms_per_request": round(machine_ms, 2), "server_rss_mb": round(server_rss_mb(proc.pid)),
               "load_average_1min": round(load, 2)}
        print(f"fdsnws-event on {backend}, {len(ids)} events, {args.concurrency} concurrent clients, "
              f"{args.workers} server worker(s), "
              f"{len(allv)} requests in {wall:.1f} s")
        print(f"  throughput {res['req_per_s']} req/s   p50 {res['p50_ms']} ms   p99 {res['p99_ms']} ms   "
              f"max {res['max_ms']} ms   (target: >= 500 req/s, p99 < 100 ms)")
        print(f"  server CPU {res['server_cpu_ms_per_request']} ms per request (all workers), load generator "
              f"{res['client_cpu_ms_per_request']} ms, PostgreSQL {res['postgresql_cpu_ms_per_request']} ms, "
              f"whole machine {res['machine_cpu_ms_per_request']} ms (with anything else running); load average {res['load_average_1min']} on "
              f"{os.cpu_count()} CPUs; server memory {res['server_rss_mb']} MB")
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
            pg.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
