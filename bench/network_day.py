#!/usr/bin/env python
"""Network day (issue 18 item 3): simulated IMS waveforms through ingest → SEL1 → SEL3 → score.

What it measures
----------------
1. ``idc simulate waveforms`` (pipeline.simulate.waveforms) writes ``--hours`` of the IMS seismic
   network (default: all 134 stations of stations/ims_stations.csv as three-component stations,
   402 channels; ``--arrays elements``: the 30 arrays as 9 vertical elements each, 582 channels,
   which the SEL chain processes as one station per array, pipeline.array.detect_network — at
   ``--rate`` 40 Hz) from the real
   IDC LEB origins of 2022-01-17 (tests/data/ims_leb_2022), seed 0. Cached under
   ``var/bench/network_day/`` (the simulation is not timed; its own time is printed).
2. For 1 and 2 Dask worker processes (``dask.distributed.LocalCluster``, one thread each, used
   through ``[dask] scheduler`` exactly as an external cluster): a fresh store, the simulated
   StationXML loaded, then timed in-process with the functions the DAGs call —
   ``tasks.ingest_files`` of the drop folder (then of ``late/``, the late deliveries),
   ``tasks.process_window(SEL1)`` for every 20-minute window, ``tasks.process_window(SEL3)`` for
   every window (after the late files), and ``tasks.score_bulletin`` of the SEL3 against the truth.
   Peak RSS of the whole process tree (this process and the Dask workers), sampled every 0.2 s.
3. Scoring (pipeline.scoring, 10 s / 100 km, one-to-one): recall over the origins detectable at
   ≥ 3 stations (``truth.csv``: first arrival SNR ≥ 3 and not in an outage), false = SEL3 events
   matching no origin at all, median epicentre error of the matched.

Printed: seconds per stage, total, real-time factor (simulated seconds / processing seconds),
peak RSS, speed-up 2 vs 1 worker, recall/false/median error. Results go to
``bench/results/network_day.json``. Targets (issue 18; printed, never asserted): a day of ≥ 300
channels at 40 Hz through SEL3 in ≤ 60 s on 2 cores, peak RSS ≤ 2 GB, 2 workers ≥ 1.7× one,
≥ 95 % recall, ≤ 5 % false, median epicentre error ≤ 15 km.

Run::

    .venv/bin/python bench/network_day.py [--hours 3] [--start 2022-01-17T03:00] [--stations 134]
        [--rate 40] [--workers 1,2]
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
from _common import machine  # noqa: E402

LEB = ROOT / "tests" / "data" / "ims_leb_2022" / "metadata_2022_leb_jan_feb.csv"
IMS = ROOT / "stations" / "ims_stations.csv"
WORK = ROOT / "var" / "bench" / "network_day"
WINDOW_S = 1200.0


class PeakRSS:
    """Peak resident memory (MB) of this process and all its children, sampled in a thread."""

    def __init__(self, every_s: float = 0.2):
        import psutil

        self.proc, self.every, self.peak, self._stop = psutil.Process(), every_s, 0.0, threading.Event()

    def _sample(self) -> float:
        import psutil

        total = 0
        for p in [self.proc, *self.proc.children(recursive=True)]:
            try:
                total += p.memory_info().rss
            except psutil.Error:
                pass
        return total / 1e6

    def __enter__(self):
        self.peak = 0.0
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()
        return self

    def _run(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, self._sample())
            self._stop.wait(self.every)

    def __exit__(self, *exc):
        self._stop.set()
        self._t.join()
        self.peak = max(self.peak, self._sample())


def simulate(args) -> Path:
    """The cached simulation folder of these parameters."""
    key = hashlib.sha256(json.dumps([args.start, args.hours, args.stations, args.rate, args.seed,
                                     args.arrays]).encode())
    out = WORK / f"sim-{key.hexdigest()[:12]}"
    if (out / "simulation.json").is_file():
        print(f"simulation: cached {out}")
        return out
    import pandas as pd
    from obspy import UTCDateTime

    from pipeline.simulate import ims_seismic_stations
    from pipeline.simulate.waveforms import WaveformConfig, simulate_waveforms
    from pipeline.traveltime.tables import GLOBAL_PHASES, TravelTimeTable

    shutil.rmtree(out, ignore_errors=True)
    sta = ims_seismic_stations(pd.read_csv(IMS)).head(args.stations)
    if args.arrays == "3c":
        sta = sta.assign(kind="3c")
    tt = TravelTimeTable("ak135", list(GLOBAL_PHASES), cache_dir=WORK / "cache")
    t0 = UTCDateTime(args.start)
    t = time.perf_counter()
    res = simulate_waveforms(pd.read_csv(LEB), sta, tt, out, t0, t0 + args.hours * 3600.0,
                             WaveformConfig(sampling_rate=args.rate), seed=args.seed)
    print(f"simulation: {res.files} files, {res.channels} channels, {res.samples:,} samples, "
          f"{res.events} origins in {time.perf_counter() - t:.0f} s -> {out}")
    return out


def settings_for(home: Path, sim: Path, scheduler: str):
    from pipeline.settings import load_settings

    home.mkdir(parents=True, exist_ok=True)
    cfg = home / "bench.toml"
    cfg.write_text(f'[stations]\npaths = ["{sim / "stations.xml"}"]\n\n[dask]\nscheduler = "{scheduler}"\n')
    os.environ["IDC_HOME"] = str(home)
    return load_settings(str(cfg))


def run(sim: Path, workers: int, args) -> dict:
    from distributed import LocalCluster
    from obspy import UTCDateTime

    from pipeline import scoring, tasks
    from pipeline.store import db

    home = WORK / f"home-{workers}"
    shutil.rmtree(home, ignore_errors=True)
    t0 = UTCDateTime(args.start)
    t1 = t0 + args.hours * 3600.0
    windows = []
    w = t0
    while w + WINDOW_S <= t1 + 1e-6:
        windows.append((w, w + WINDOW_S))
        w += WINDOW_S
    stages: dict[str, float] = {}
    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        s = settings_for(home, sim, cluster.scheduler_address)
        db.upgrade(s.database_url)
        tasks.load_stations(s, [sim / "stations.xml"])
        # the travel-time tables are built once per home (like a deployed system's cache): not timed
        tasks.travel_times(s)
        with PeakRSS() as rss:
            t = time.perf_counter()
            ing = tasks.ingest_files(s, [sim / "drop"], progress=False)
            stages["ingest"] = time.perf_counter() - t
            print(f"  [{workers}] ingest {stages['ingest']:.1f} s", flush=True)
            t = time.perf_counter()
            sel1 = [tasks.process_window(s, "SEL1", a, b, runner="bench") for a, b in windows]
            stages["sel1"] = time.perf_counter() - t
            print(f"  [{workers}] SEL1 {stages['sel1']:.1f} s ({len(windows)} windows)", flush=True)
            t = time.perf_counter()
            late = tasks.ingest_files(s, [sim / "late"], progress=False) if (sim / "late").is_dir() else {}
            stages["ingest_late"] = time.perf_counter() - t
            t = time.perf_counter()
            sel3 = [tasks.process_window(s, "SEL3", a, b, runner="bench") for a, b in windows]
            stages["sel3"] = time.perf_counter() - t
            print(f"  [{workers}] SEL3 {stages['sel3']:.1f} s", flush=True)
    total = sum(stages.values())
    # scoring: recall over the detectable origins, false over all
    import pandas as pd

    truth = pd.read_csv(sim / "truth.csv")
    det = truth[truth["n_detectable"] >= 3]
    ref_all, ref_det = WORK / "ref_all.csv", WORK / "ref_detectable.csv"
    truth.rename(columns={"mag": "mag"}).to_csv(ref_all, index=False)
    det.to_csv(ref_det, index=False)
    s_all = tasks.score_bulletin(s, ref_all, product="SEL3", start=t0, end=t1).summary()
    s_det = tasks.score_bulletin(s, ref_det, product="SEL3", start=t0, end=t1).summary()
    input_mb = sum(p.stat().st_size for p in (sim / "drop").rglob("*.mseed")) / 1e6
    return {"workers": workers, "windows": len(windows), "stages_s": {k: round(v, 2) for k, v in stages.items()},
            "total_s": round(total, 2), "realtime_factor": round(args.hours * 3600.0 / total, 1),
            "peak_rss_mb": round(rss.peak, 0), "input_mb": round(input_mb, 1),
            "ingest_mb_per_s": round(input_mb / stages["ingest"], 2),
            "ingest": {k: ing.get(k) for k in ("accepted", "rejected")}, "late": {k: late.get(k) for k in ("accepted",)},
            "sel1_events": sum(r.get("events", 0) for r in sel1), "sel3_events": sum(r.get("events", 0) for r in sel3),
            "score_all": s_all, "score_detectable": s_det,
            "sel3_recall": None if s_det["matched_pct"] is None else round(s_det["matched_pct"] / 100.0, 4),
            "sel3_false_rate": None if s_all["false_pct"] is None else round(s_all["false_pct"] / 100.0, 4),
            "sel3_median_epi_km": s_all["median_epi_km"], "detectable_origins": int(len(det)),
            "origins": int(len(truth))}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--start", default="2022-01-17T03:00:00")
    ap.add_argument("--hours", type=float, default=3.0)
    ap.add_argument("--stations", type=int, default=134)
    ap.add_argument("--rate", type=float, default=40.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workers", default="1,2")
    ap.add_argument("--arrays", choices=("3c", "elements"), default="3c",
                    help="IMS arrays as 3-component stations at their reference point (default) or as their "
                         "9 vertical elements (processed as one station per array: beams, f-k)")
    ap.add_argument("--output", type=Path, default=ROOT / "bench" / "results" / "network_day.json")
    args = ap.parse_args()
    sim = simulate(args)
    meta = json.loads((sim / "simulation.json").read_text())
    channels = meta["result"]["channels"]
    runs = {}
    for w in [int(x) for x in args.workers.split(",") if x.strip()]:
        r = run(sim, w, args)
        runs[str(w)] = r
        print(f"{w} worker(s): " + ", ".join(f"{k} {v:.1f} s" for k, v in r["stages_s"].items())
              + f"; total {r['total_s']:.1f} s ({r['realtime_factor']}x real time), peak RSS {r['peak_rss_mb']:.0f} MB; "
              f"SEL3 {r['sel3_events']} events: recall {r['sel3_recall']} of {r['detectable_origins']} detectable "
              f"origins, false {r['sel3_false_rate']}, median epicentre {r['sel3_median_epi_km']} km")
    speedup = (runs["1"]["total_s"] / runs["2"]["total_s"]) if {"1", "2"} <= set(runs) else None
    best = runs.get("2") or next(iter(runs.values()))
    out = {"benchmark": "network_day", "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "machine": machine(),
           "start": args.start, "hours": args.hours, "stations": meta["result"]["stations"], "channels": channels,
           "sampling_rate": args.rate, "arrays": args.arrays, "runs": runs,
           "dask_speedup_2_vs_1": None if speedup is None else round(speedup, 2),
           "network_day_seconds": best["total_s"] if args.hours >= 24 else None,
           "network_day_peak_rss_mb": best["peak_rss_mb"] if args.hours >= 24 else None,
           "note": None if args.hours >= 24 else f"measured on {args.hours} h, not a day: the network_day_* keys stay null"}
    print(f"speed-up 2 vs 1 worker: {out['dask_speedup_2_vs_1']}; targets (not asserted): a day of >= 300 channels "
          f"at 40 Hz in <= 60 s (>= 1440x real time), <= 2 GB, 2 workers >= 1.7x, recall >= 0.95, false <= 0.05, "
          f"median epicentre <= 15 km")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(out, indent=2, default=str) + "\n")
    print(f"-> {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
