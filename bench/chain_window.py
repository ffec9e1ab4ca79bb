#!/usr/bin/env python
"""The automatic chain on the Iceland demo window: detection, then association + location +
magnitudes, timed separately.

What it measures
----------------
The bundled Iceland waveforms (``tests/data/iceland/waveforms``, 12 stations, 2014-08-24) are
ingested into a temporary ``IDC_HOME`` with ``config/demo-iceland.toml`` (not timed), the
travel-time table is built there (``pipeline.tasks.travel_times``; its build time is reported
separately), and then, for the window 2014-08-24T00:00–00:20 (``--start``/``--end``):

``detection``
    ``pipeline.detection.detect`` on the archive's streams for the window (plus the
    configured padding and 60 s after the end, as the SEL runs read them);
``association+location+magnitudes``
    ``pipeline.bulletin.build.events_from_picks(picks, stations, table, chain_config,
    product="SEL2")``: association with locations of every hypothesis, final locations and
    station/network magnitudes, i.e. the whole chain after station processing.

Each stage runs ``--repeat`` times (default 2; interleaved, best wall time kept, and the
process CPU time of that run printed beside it: on a shared machine the CPU time is the steadier
figure). The first detection run also yields the picks the chain runs on.

Correctness checks (non-zero exit on failure): detection finds picks; every repetition of the
chain gives the same events (count, origins to 1 m and 1 ms, arrivals) — the chain is
deterministic; at least one event is located.

Results go to ``bench/results/chain_window.json`` with the cpu count, the load average, the
platform and the library versions.

Run::

    .venv/bin/python bench/chain_window.py [--repeat 2] [--start T] [--end T] [--output FILE]
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import time
import warnings
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
try:  # the installed (editable) package, or the one on PYTHONPATH
    import pipeline  # noqa: F401
except ImportError:  # pragma: no cover - running from a bare checkout
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import obspy  # noqa: E402
import pandas as pd  # noqa: E402
from obspy import UTCDateTime  # noqa: E402
from obspy.clients.filesystem.sds import Client  # noqa: E402

from pipeline import tasks  # noqa: E402
from pipeline.bulletin.build import events_from_picks  # noqa: E402
from pipeline.detection import detect  # noqa: E402
from pipeline.settings import load_settings  # noqa: E402

from _common import load_average, machine, report_checks  # noqa: E402  (bench/_common.py)

RESULTS = ROOT / "bench" / "results" / "chain_window.json"
CONFIG = ROOT / "config" / "demo-iceland.toml"


def timed(fn):
    """``(result, wall s, cpu s)`` of one call."""
    w0, c0 = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - w0, time.process_time() - c0


def signature(catalog) -> list[tuple]:
    """Per event: origin (lat, lon, depth m, epoch s) and the sorted (station, pick time, phase)
    of its arrivals, for the determinism check."""
    out = []
    for ev in catalog:
        o = ev.preferred_origin() or ev.origins[0]
        picks = {str(p.resource_id): p for p in ev.picks}
        arr = sorted((picks[str(a.pick_id)].waveform_id.station_code,
                      float(picks[str(a.pick_id)].time.timestamp), a.phase or "")
                     for a in o.arrivals if str(a.pick_id) in picks)
        out.append((o.latitude, o.longitude, o.depth or 0.0, float(o.time.timestamp), arr))
    return out


def same_events(a: list[tuple], b: list[tuple]) -> bool:
    if len(a) != len(b):
        return False
    for (la, lo, z, t, arr), (lb, lob, zb, tb, arrb) in zip(a, b):
        dkm = 111.195 * math.hypot(la - lb, (lo - lob) * math.cos(math.radians(la)))
        if dkm > 1e-3 or abs(z - zb) > 1.0 or abs(t - tb) > 1e-3 or arr != arrb:
            return False
    return True


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeat", type=int, default=2, help="runs per stage, best kept (default 2)")
    ap.add_argument("--start", default="2014-08-24T00:00:00", help="window start (UTC)")
    ap.add_argument("--end", default="2014-08-24T00:20:00", help="window end (UTC)")
    ap.add_argument("--output", type=Path, default=RESULTS, help=f"results JSON (default {RESULTS})")
    args = ap.parse_args(argv)
    start, end = UTCDateTime(args.start), UTCDateTime(args.end)
    problems: list[str] = []
    with tempfile.TemporaryDirectory(prefix="idc-bench-chain-") as home:
        s = load_settings(CONFIG, env={"IDC_HOME": home, "IDC_ROOT": str(ROOT)})
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tasks.db_upgrade(s)
            tasks.load_stations(s)
            waveforms = s.demo_data() / "waveforms"
            ing = tasks.ingest_files(s, [waveforms], progress=False)
        summary = {k: v for k, v in ing.items() if isinstance(v, (int, float, str))}
        print(f"ingested {waveforms.relative_to(ROOT)} into a temporary IDC_HOME: {summary}")
        tt, t_build, _ = timed(lambda: tasks.travel_times(s))
        print(f"travel-time table {tt!r}: built in {t_build:.1f} s (once, then cached)")
        stations = tasks.station_table(s)
        inventory = tasks.station_inventory(s)
        chain = tasks.chain_config(s)
        cfg = s.detection.build()

        def run_detect():
            st = Client(str(s.archive_dir)).get_waveforms("*", "*", "*", "*", start - cfg.pad_s, end + 60)
            st.merge(method=1)
            return detect(st, inventory, cfg, start=start, end=end + 60)

        def run_chain(picks):
            return events_from_picks(picks, stations, tt, chain, product="SEL2")

        det, chn = [], []
        picks = None
        ref_sig = None
        for _ in range(max(1, args.repeat)):
            p, w, c = timed(run_detect)
            det.append((w, c))
            if picks is None:
                picks = p
            res, w, c = timed(lambda: run_chain(picks))
            chn.append((w, c))
            sig = signature(res.catalog)
            if ref_sig is None:
                ref_sig, n_events, n_unassoc = sig, len(res.catalog), len(res.unassociated)
            elif not same_events(ref_sig, sig):
                problems.append("two runs of the chain on the same picks gave different events")
    if picks is None or len(picks) == 0:
        problems.append("detection found no picks")
    if n_events == 0:
        problems.append("the chain located no event")
    bd = min(det)
    bc = min(chn)
    n_picks = int(len(picks)) if isinstance(picks, pd.DataFrame) else 0
    print(f"\nwindow {start} - {end}, {n_picks} picks, {n_events} events, "
          f"{n_unassoc} unassociated picks")
    print(f"  {'stage':<36} {'wall (best)':>12} {'cpu':>8}")
    print(f"  {'detection':<36} {bd[0]:>10.2f} s {bd[1]:>6.2f} s")
    print(f"  {'association+location+magnitudes':<36} {bc[0]:>10.2f} s {bc[1]:>6.2f} s")
    load = load_average()
    print(f"cpu count {os.cpu_count()}, load average {load}, obspy {obspy.__version__}, "
          f"numpy {np.__version__}, pandas {pd.__version__}")
    report_checks(problems)
    result = {
        "benchmark": "chain_window",
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": machine(),
        "versions": {"obspy": obspy.__version__, "numpy": np.__version__,
                     "pandas": pd.__version__},
        "config": str(CONFIG.relative_to(ROOT)),
        "window": [str(start), str(end)],
        "repeat": args.repeat,
        "picks": n_picks,
        "events": n_events,
        "unassociated_picks": n_unassoc,
        "table_build_s": t_build,
        "detection": {"wall_s": bd[0], "cpu_s": bd[1], "runs": det},
        "association_location_magnitudes": {"wall_s": bc[0], "cpu_s": bc[1], "runs": chn},
        "checks": {"ok": not problems, "problems": problems},
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    print(f"results written to {args.output}")
    return 0 if not problems else 1


if __name__ == "__main__":
    sys.exit(main())
