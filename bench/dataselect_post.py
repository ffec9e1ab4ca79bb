#!/usr/bin/env python
"""fdsnws-dataselect under an amplifying POST: one 60 s line repeated 43,199 times.

What it measures
----------------
The red-team case of issue 13 (defect 7): a real ``idc serve`` process (uvicorn, 1 worker) on
127.0.0.1 over a small archive — the Z7 StationXML and the first three Iceland files of
``tests/data/iceland/waveforms`` (36 channels, 2014-08-24T00:01:00–00:01:52) ingested into a
fresh ``IDC_HOME`` with the embedded SQLite store — receives a dataselect POST of ``--copies``
copies (default 43,199: just under the default 30 channel-days of
``[service] dataselect_max_channel_seconds``) of the line
``Z7 KVER -- HHZ 2014-08-24T00:01:00 2014-08-24T00:02:00``. Printed: response bytes, seconds
and the server process's peak resident memory (``VmHWM`` of ``/proc/<pid>/status``: the
peak since the server started, so also the figure before the request is printed). The issue's
acceptance target is a server peak under 1 GB; at the time of the issue the answer was 531 MB,
2.86 GB of server memory and 89 s.

A second variant ("shifted") sends as many overlapping lines, line i starting i ms later: they
merge into one window of 60 s + (copies - 1) ms, and the answer is compared with that one line.

It also times an oversized body: a dataselect POST of 10 MB of such lines with its
``Content-Length`` (over the default ``[service] post_max_bytes`` of 8 MiB); the figure is the
time to the status line, which should be 413 at once (it took 105 s before).

Checks (non-zero exit): each variant answers the same bytes as its one merged line, and the
oversized body gets a 413. Timing and memory are printed, never asserted.

The server runs with config/default.toml and a bench configuration that opens waveforms to
anonymous requests and lifts the per-client rate limit (all requests come from one address).
``--server-pythonpath DIR`` runs the server from another checkout (e.g. an older commit, for
before/after figures). Results go to ``bench/results/dataselect_post.json``.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from _common import free_port, machine, report_checks, start_idc_serve, stop_process  # noqa: E402  (bench/_common.py)

RESULTS = ROOT / "bench" / "results" / "dataselect_post.json"
LINE = "Z7 KVER -- HHZ 2014-08-24T00:01:00 2014-08-24T00:02:00"
BENCH_CONFIG = """\
# bench/dataselect_post.py: waveforms open to anonymous requests, no per-client rate limit
[access.products]
waveforms = ["state_principal", "state_user", "analyst", "operator", "public"]

[access.rate_limit]
rate_per_s = 0.0
public_rate_per_s = 0.0
"""


def status_kb(pid: int, field: str) -> int:
    """``VmHWM``/``VmRSS`` (kB) of process ``pid`` from ``/proc/<pid>/status`` (0 when unreadable)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def oversized_post(port: int, size: int) -> tuple[int, float]:
    """(status, seconds to the status line) of a dataselect POST of about ``size`` bytes of whole
    lines with its ``Content-Length``, sent by a second thread while the answer is awaited (0: no
    answer)."""
    import threading

    body = (LINE + "\n").encode() * (size // (len(LINE) + 1))  # whole lines: a valid request
    size = len(body)
    t0 = time.perf_counter()
    with socket.create_connection(("127.0.0.1", port), timeout=600) as s:
        def send():
            try:
                s.sendall(f"POST /fdsnws/dataselect/1/query HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                          f"Content-Type: text/plain\r\nContent-Length: {size}\r\n\r\n".encode())
                s.sendall(body)
            except OSError:  # the server answered and closed before the body was sent: fine
                pass

        sender = threading.Thread(target=send, daemon=True)
        sender.start()
        head = b""
        try:
            while b"\r\n" not in head:
                chunk = s.recv(4096)
                if not chunk:
                    break
                head += chunk
        except OSError:
            pass
        seconds = time.perf_counter() - t0
    sender.join(5)
    return (int(head.split()[1]) if head.startswith(b"HTTP/") else 0), seconds


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--copies", type=int, default=43199, help="copies of the 60 s line in the POST body")
    ap.add_argument("--server-pythonpath", default="", help="PYTHONPATH of the server (another checkout)")
    ap.add_argument("--output", type=Path, default=RESULTS)
    args = ap.parse_args()

    import httpx
    from obspy import UTCDateTime

    tmp = Path(tempfile.mkdtemp(prefix="idc-bench-dataselect-"))
    proc = None
    try:
        cfg = tmp / "bench.toml"
        cfg.write_text(BENCH_CONFIG)
        env = {k: v for k, v in os.environ.items() if not k.startswith("IDC")}
        env.update(IDC_HOME=str(tmp / "home"), IDC_CONFIG=str(cfg))
        if args.server_pythonpath:
            env["PYTHONPATH"] = args.server_pythonpath
        # the store and the archive written by the server's own code (`idc` of that checkout)
        idc = shutil.which("idc", path=str(ROOT / ".venv" / "bin")) or "idc"
        files = sorted((ROOT / "tests" / "data" / "iceland" / "waveforms").glob("*.m"))[:3]
        for cmd in (["stations", "load", str(ROOT / "stations" / "Z7.xml")],
                    ["ingest", "--no-progress", *map(str, files)]):
            subprocess.run([idc, *cmd], env=env, check=True, stdout=subprocess.DEVNULL)
        print(f"archive: {len(files)} Iceland files (Z7, 36 channels) ingested into {tmp / 'home'}")

        port = free_port()
        proc = start_idc_serve(env, port, "/fdsnws/dataselect/1/version", cwd=args.server_pythonpath or None)
        url = f"http://127.0.0.1:{port}/fdsnws/dataselect/1/query"
        one = httpx.post(url, content=(LINE + "\n").encode(), timeout=60)
        problems = [] if one.status_code == 200 else [f"single line: HTTP {one.status_code}"]
        t0 = UTCDateTime(LINE.split()[4])
        shifted_end = t0 + 60 + (args.copies - 1) / 1000
        merged = httpx.post(url, content=f"{' '.join(LINE.split()[:4])} {t0} {shifted_end}\n".encode(), timeout=60)
        runs = {}
        # identical: the red-team body; shifted: line i starts i ms later (overlapping, merged into one)
        for variant, lines, want in (
                ("identical", [LINE] * args.copies, one.content),
                ("shifted", [f"{' '.join(LINE.split()[:4])} {t0 + i / 1000} {t0 + 60 + i / 1000}"
                             for i in range(args.copies)], merged.content)):
            body = ("\n".join(lines) + "\n").encode()
            hwm_before = status_kb(proc.pid, "VmHWM")
            t = time.perf_counter()
            n_bytes, same = 0, True
            with httpx.stream("POST", url, content=body, timeout=3600) as r:
                for chunk in r.iter_bytes():
                    if same and want[n_bytes:n_bytes + len(chunk)] != chunk:
                        same = False
                    n_bytes += len(chunk)
                status = r.status_code
            seconds = time.perf_counter() - t
            hwm = status_kb(proc.pid, "VmHWM")
            if status != 200 or not same or n_bytes != len(want):
                problems.append(f"{variant}: HTTP {status}, {n_bytes} bytes, not the {len(want)} bytes of the "
                                "one merged line")
            runs[variant] = {"body_bytes": len(body), "status": status, "response_bytes": n_bytes,
                             "merged_line_bytes": len(want), "seconds": round(seconds, 3),
                             "server_peak_rss_mb": round(hwm / 1024, 1),
                             "server_peak_rss_before_mb": round(hwm_before / 1024, 1)}
            print(f"dataselect POST of {args.copies} {variant} 60 s lines ({len(body):,} bytes of body):")
            print(f"  HTTP {status}, response {n_bytes:,} bytes (the one merged line: {len(want):,}) in "
                  f"{seconds:.2f} s")
            print(f"  server peak RSS {hwm / 1024:.0f} MB (before the request: {hwm_before / 1024:.0f} MB; "
                  "issue target: < 1 GB)")
        big_status, big_s = oversized_post(port, 10 * 1000 * 1000)
        if big_status != 413:
            problems.append(f"10 MB body: HTTP {big_status}, expected 413")
        out = {"copies": args.copies, "runs": runs, "oversized_body_status": big_status,
               "oversized_body_seconds": round(big_s, 3), "server_pythonpath": args.server_pythonpath,
               "machine": machine()}
        print(f"10 MB body (with Content-Length): HTTP {big_status} in {big_s:.2f} s")
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps(out, indent=2) + "\n")
        print(f"results written to {args.output}")
        report_checks(problems)
        return 1 if problems else 0
    finally:
        stop_process(proc)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
