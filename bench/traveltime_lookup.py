#!/usr/bin/env python
"""Travel-time look-ups: cost per call and per point of the precomputed tables vs direct TauP,
and the tables' accuracy against TauP at random points.

What it measures
----------------
Two tables, built first in a temporary cache (build time reported, not part of the look-up
figures):

``iceland``
    the local layered model of the Iceland demo (``config/demo-iceland.toml``: the velocity
    file, its interpolation and grid, through ``pipeline.tasks.travel_times``), phases P and S;
    look-ups at random epicentral distances 0–1.5° and depths 0–20 km.
``ak135``
    obspy's ak135 with the default global phases and grid (``TravelTimeTable("ak135")``);
    look-ups at random distances 0–100° and depths 0–700 km.

For batch sizes 1, 10, 100 and 10 000 points, the best-of-``--repeat`` wall time
(``time.perf_counter``; many calls per run for the small batches) of:

* ``time``: ``TravelTimeTable.time("P", distances, depths)``;
* ``lookup``: ``TravelTimeTable.lookup`` with P for the first half of the points and S for the
  second half in **one** call: time, dT/dΔ, slowness and dT/dh (what the locator needs per
  event and iteration).

Printed per call and per point, next to one direct ``TauPyModel.get_travel_times`` call
(``obspy.taup``, the same TauP phases as the table phase, earliest arrival kept), timed over
``--taup-points`` points. The speed-up is TauP's time per point over the table's.

Accuracy: ``--taup-points`` random points per table and phase (P and S) are computed with
direct TauP calls and compared with ``TravelTimeTable.time``: max and median |error| (s).
Reference: the issue's acceptance test and ``tests/test_traveltime.py`` require ≤ 2 ms
median-scale agreement (max 0.05 s local, 0.1 s global at triplications).

Correctness checks (non-zero exit on failure): every table value must be finite where TauP
has an arrival; the largest |error| must be below 0.1 s (ak135) / 0.05 s (Iceland); the mixed
phase ``lookup`` must return exactly the values of per-phase ``time``/``derivatives``/
``slowness`` calls.

Results go to ``bench/results/traveltime_lookup.json`` with the cpu count, the load average,
the platform and the library versions.

Run::

    .venv/bin/python bench/traveltime_lookup.py [--repeat 5] [--taup-points 20] [--output FILE]
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
try:  # the installed (editable) package, or the one on PYTHONPATH
    import pipeline  # noqa: F401
except ImportError:  # pragma: no cover - running from a bare checkout
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import obspy  # noqa: E402

from pipeline import tasks  # noqa: E402
from pipeline.settings import load_settings  # noqa: E402
from pipeline.traveltime.tables import TravelTimeTable  # noqa: E402

from _common import load_average, machine, report_checks  # noqa: E402  (bench/_common.py)

RESULTS = ROOT / "bench" / "results" / "traveltime_lookup.json"
BATCHES = (1, 10, 100, 10_000)
RANGES = {"iceland": ((0.0, 1.5), (0.0, 20.0)), "ak135": ((0.0, 100.0), (0.0, 700.0))}
MAX_ERROR_S = {"iceland": 0.05, "ak135": 0.1}


def best_time(fn, calls: int, repeat: int) -> float:
    """Best over ``repeat`` runs of the mean wall time of ``calls`` calls, s."""
    fn()  # warm-up
    best = math.inf
    for _ in range(repeat):
        t0 = time.perf_counter()
        for _ in range(calls):
            fn()
        best = min(best, (time.perf_counter() - t0) / calls)
    return best


def taup_first(model, phases, depth_km: float, distance_deg: float) -> float:
    arr = model.get_travel_times(float(depth_km), float(distance_deg), list(phases))
    return min(a.time for a in arr) if len(arr) else math.nan


def taup_depth(table: TravelTimeTable, depth_km: np.ndarray) -> np.ndarray:
    """Source depth for TauP (depth below the model top) of table depths (below sea level)."""
    return np.asarray(depth_km, float) - float(table.model.top_km)


def bench_table(name: str, table: TravelTimeTable, repeat: int, n_taup: int, rng) -> dict:
    (d0, d1), (z0, z1) = RANGES[name]
    model = table.model.taupy()
    out: dict = {"table": repr(table), "batches": {}}
    print(f"\n{name}: {table!r}")
    # direct TauP, per point (P)
    dist = rng.uniform(d0, d1, n_taup)
    depth = rng.uniform(z0, z1, n_taup)
    tz = taup_depth(table, depth)
    t0 = time.perf_counter()
    for d, z in zip(dist, tz):
        taup_first(model, table.groups["P"].phases, z, d)
    taup_s = (time.perf_counter() - t0) / n_taup
    out["taup_per_call_s"] = taup_s
    print(f"  direct TauP get_travel_times (P group {','.join(table.groups['P'].phases)}): "
          f"{taup_s * 1e3:.1f} ms per point ({n_taup} points)")
    print(f"  {'batch':>6} {'time(): per call':>17} {'per point':>11} {'lookup(P+S): per call':>22} "
          f"{'per point':>11} {'vs TauP':>9}")
    for n in BATCHES:
        x = rng.uniform(d0, d1, n)
        z = rng.uniform(z0, z1, n)
        ph = np.where(np.arange(n) < (n + 1) // 2, "P", "S")
        calls = max(1, 2000 // n)
        t_time = best_time(lambda: table.time("P", x, z), calls, repeat)
        t_look = best_time(lambda: table.lookup(ph, x, z), calls, repeat)
        speedup = taup_s / (t_time / n)
        out["batches"][str(n)] = {"time_per_call_s": t_time, "time_per_point_s": t_time / n,
                                  "lookup_per_call_s": t_look, "lookup_per_point_s": t_look / n,
                                  "speedup_vs_taup_per_point": speedup}
        print(f"  {n:>6} {t_time * 1e3:>14.3f} ms {t_time / n * 1e6:>8.2f} us {t_look * 1e3:>19.3f} ms "
              f"{t_look / n * 1e6:>8.2f} us {speedup:>8.0f}x")
    # accuracy against TauP at random points
    problems = []
    out["accuracy"] = {}
    for phase in ("P", "S"):
        dist = rng.uniform(d0, d1, n_taup)
        depth = rng.uniform(z0, z1, n_taup)
        got = table.time(phase, dist, depth)
        ref = np.array([taup_first(model, table.groups[phase].phases, z, d)
                        for d, z in zip(dist, taup_depth(table, depth))])
        both = np.isfinite(got) & np.isfinite(ref)
        err = np.abs(got - ref)[both]
        mx = float(err.max()) if err.size else math.nan
        med = float(np.median(err)) if err.size else math.nan
        out["accuracy"][phase] = {"points": int(n_taup), "compared": int(both.sum()),
                                  "max_abs_error_s": mx, "median_abs_error_s": med}
        print(f"  accuracy {phase} vs TauP: {int(both.sum())}/{n_taup} points, max |error| "
              f"{mx * 1e3:.2f} ms, median {med * 1e3:.3f} ms")
        if np.any(np.isfinite(ref) & ~np.isfinite(got)):
            problems.append(f"{name} {phase}: NaN in the table where TauP has an arrival")
        if not (mx < MAX_ERROR_S[name]):
            problems.append(f"{name} {phase}: max |error| {mx:.4f} s >= {MAX_ERROR_S[name]} s")
    # mixed-phase lookup == single-phase methods
    x = rng.uniform(d0, d1, 500)
    z = rng.uniform(z0, z1, 500)
    ph = np.where(rng.uniform(size=500) < 0.5, "P", "S")
    t, dd, u, dh = table.lookup(ph, x, z)
    for p in ("P", "S"):
        m = ph == p
        t1, dd1, dh1 = table.derivatives(p, x[m], z[m])
        same = all(np.array_equal(a, b, equal_nan=True) for a, b in
                   ((t[m], t1), (dd[m], dd1), (dh[m], dh1), (u[m], table.slowness(p, x[m], z[m])),
                    (t[m], table.time(p, x[m], z[m]))))
        if not same:
            problems.append(f"{name}: lookup() with mixed phases differs from the {p} methods")
    out["problems"] = problems
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeat", type=int, default=5, help="best of N timing runs (default 5)")
    ap.add_argument("--taup-points", type=int, default=20,
                    help="points for the TauP timing and the accuracy check (default 20)")
    ap.add_argument("--output", type=Path, default=RESULTS, help=f"results JSON (default {RESULTS})")
    args = ap.parse_args(argv)
    rng = np.random.default_rng(2014)
    results = {}
    problems: list[str] = []
    with tempfile.TemporaryDirectory(prefix="idc-bench-tt-") as home:
        settings = load_settings(ROOT / "config" / "demo-iceland.toml", env={"IDC_HOME": home})
        builds = {}
        t0 = time.perf_counter()
        tables = {"iceland": tasks.travel_times(settings)}
        builds["iceland"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        tables["ak135"] = TravelTimeTable("ak135", cache_dir=Path(home) / "cache" / "traveltime")
        builds["ak135"] = time.perf_counter() - t0
        print("table builds (TauP, once per model/grid, then cached): "
              + ", ".join(f"{k} {v:.1f} s" for k, v in builds.items()))
        for name, table in tables.items():
            results[name] = bench_table(name, table, args.repeat, args.taup_points, rng)
            results[name]["build_s"] = builds[name]
            problems += results[name]["problems"]
    load = load_average()
    print(f"\ncpu count {os.cpu_count()}, load average {load}, obspy {obspy.__version__}, "
          f"numpy {np.__version__}")
    report_checks(problems)
    result = {
        "benchmark": "traveltime_lookup",
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": machine(),
        "versions": {"obspy": obspy.__version__, "numpy": np.__version__},
        "repeat": args.repeat,
        "taup_points": args.taup_points,
        "results": results,
        "checks": {"ok": not problems, "problems": problems},
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    print(f"results written to {args.output}")
    return 0 if not problems else 1


if __name__ == "__main__":
    sys.exit(main())
