#!/usr/bin/env python
"""Station-processing fan-out over dask: 1 vs 2 workers (the issue's scale-out figure).

What it measures
----------------
Wall time (best of ``--repeat``, default 2, variants interleaved) of
``pipeline.detection.detect`` on the bundled real Iceland record (12 Z7 stations x 3 components,
100 Hz, 2014-08-24 00:01-00:10, ``tests/data/iceland/waveforms``, the demo's ``local`` detection
preset with the Z7 inventory, so amplitudes for ML are measured too), fanned out per
(station, time chunk) as dask tasks:

``threads-1`` / ``threads-2``
    the threaded scheduler in this process (what runs inside Airflow tasks), 1 and 2 threads;
``cluster-1`` / ``cluster-2``
    a ``dask.distributed.LocalCluster`` with 1 and 2 single-threaded worker *processes*, used
    through ``detect(..., client=Client(cluster))`` exactly as ``IDC_DASK_SCHEDULER`` does with an
    external cluster (cluster start-up is not timed; the data are shipped to the workers in the
    timed call, as in production).

Printed: seconds per variant, samples/s, and the ratios 1-worker / 2-worker time (2.0 = perfect
scaling; this machine has ``os.cpu_count()`` cores, shared with whatever else runs). Correctness
check (exit 1 on failure): every variant must return the same picks as ``threads-1``.
Results go to ``bench/results/dask_fanout.json``.

Run::

    .venv/bin/python bench/dask_fanout.py [--repeat 2]
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--output", default=str(ROOT / "bench" / "results" / "dask_fanout.json"))
    args = ap.parse_args()
    warnings.filterwarnings("ignore")
    from distributed import Client, LocalCluster
    from obspy import Stream, read, read_inventory

    from pipeline.detection import DetectionConfig, detect

    st = Stream()
    for f in sorted((ROOT / "tests" / "data" / "iceland" / "waveforms").iterdir()):
        st += read(str(f))
    st.merge(method=1)
    st = st.split()
    inv = read_inventory(str(ROOT / "stations" / "Z7.xml"))
    cfg = DetectionConfig.local()
    nsamp = sum(tr.stats.npts for tr in st)
    stations = len({tr.stats.station for tr in st})
    print(f"data: {stations} stations, {len(st)} trace segments, {nsamp:,} samples; cpu count {os.cpu_count()}")

    clusters = {k: LocalCluster(n_workers=k, threads_per_worker=1, processes=True, dashboard_address=None,
                               silence_logs=logging.ERROR)
                for k in (1, 2)}
    clients = {k: Client(c) for k, c in clusters.items()}
    variants = {
        "threads-1": lambda: detect(st, inv, cfg, num_workers=1),
        "threads-2": lambda: detect(st, inv, cfg, num_workers=2),
        "cluster-1": lambda: detect(st, inv, cfg, client=clients[1]),
        "cluster-2": lambda: detect(st, inv, cfg, client=clients[2]),
    }
    times: dict[str, float] = {k: float("inf") for k in variants}
    ref = None
    ok = True
    try:
        for _ in range(args.repeat):
            for name, fn in variants.items():
                t0 = time.perf_counter()
                picks = fn()
                times[name] = min(times[name], time.perf_counter() - t0)
                key = picks[["station", "phase", "time"]].astype(str).values.tolist()
                if ref is None:
                    ref = key
                elif key != ref:
                    print(f"CHECK FAILED: {name} gives different picks ({len(key)} vs {len(ref)})")
                    ok = False
    finally:
        for c in clients.values():
            c.close()
        for c in clusters.values():
            c.close()
    for name, t in times.items():
        print(f"{name:<10} {t:7.2f} s   {nsamp / t / 1e6:6.2f} M samples/s")
    res = {"threads_ratio_1_over_2": times["threads-1"] / times["threads-2"],
           "cluster_ratio_1_over_2": times["cluster-1"] / times["cluster-2"]}
    print(f"ratio 1 worker / 2 workers: threads {res['threads_ratio_1_over_2']:.2f}x, "
          f"distributed processes {res['cluster_ratio_1_over_2']:.2f}x  (picks: {len(ref or [])})")
    out = {"seconds": times, **res, "samples": nsamp, "stations": stations, "picks": len(ref or []),
           "cpu_count": os.cpu_count(), "loadavg": os.getloadavg(), "correct": ok}
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(out, indent=2))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
