#!/usr/bin/env python
"""Ingest throughput benchmark: one station-day of 40 Hz 3-component miniSEED → SDS archive.

What it measures
----------------
The wall time of ``pipeline.tasks.ingest_files(settings, [dropdir], progress=False)`` (the same
call the ingest DAG and ``idc ingest`` make) for one full station-day of 40 Hz, 3-component
data, reported as

* throughput in MB/s of *input* bytes (MB = 10**6 bytes, the size of the miniSEED files in the
  drop folder) and in samples/s (3 × 86400 × 40 = 10 368 000 samples per day);
* the wall time of a second ``ingest_files`` call on the same folder, which must be a fast no-op
  (every file is already known by its SHA-256);
* the peak resident set size of the process during the ingest (``VmHWM`` reset through
  ``/proc/self/clear_refs`` before each scenario when the kernel allows it, otherwise the
  process-wide ``getrusage`` peak, which then also includes the data generation).

Two scenarios, each with a fresh temporary ``IDC_HOME`` (embedded SQLite store, default
``config/default.toml``: archive written as STEIM2 in 4096-byte records):

``hourly``
    24 × 3 = 72 hourly files, as a data logger delivers them (STEIM2, 512-byte records), named
    ``YYYYMMDDTHH00_NET.STA.LOC.CHA.mseed`` so the folder is ingested hour by hour;
``daily``
    3 day files, one per channel (STEIM2, 512-byte records).

After each ingest, outside the timing, the archive is read back with obspy's SDS client
(``obspy.clients.filesystem.sds.Client``) and checked to hold exactly 3 × 86400 × 40 samples,
one gap-free trace per channel, bit-identical to the generated data. The check result is
printed (the benchmark never asserts on timing; it exits non-zero only when ingest or the
check fails).

Test data
---------
There is no real 40 Hz 3-C day in the repository, so one is built from the real full day of
20 Hz GRSN data ``tests/data/formats/GR.FUR..BHN.D.2015.361`` (GR.FUR..BHN, 2015-12-27):

1. the first 86400 s (1 728 000 samples) of the real trace are taken and relabelled to start
   exactly at 2015-12-27T00:00:00Z (the real day starts 9.77 s after midnight);
2. they are resampled to 40 Hz with obspy's FFT-based ``Trace.resample`` (3 456 000 samples);
3. three channels GR.FUR..HHZ / HHN / HHE are made from it: HHZ is the resampled trace, HHN and
   HHE the same trace shifted cyclically by 8 h and 16 h, so the content is realistic seismic
   noise, compresses like real data, and differs between channels;
4. samples are rounded and cast to int32 and written as miniSEED (STEIM2, 512-byte records).

Station metadata comes from a station CSV written into the temporary folder (outside the drop
folder) and loaded with ``pipeline.tasks.load_stations``::

    network,station,latitude,longitude,elevation_m,channels,sample_rate
    GR,FUR,48.1629,11.2752,565,HHZ HHN HHE,40

Results are printed as a table and written to ``bench/results/ingest_throughput.json``
(git-ignored) together with the cpu count, platform and obspy/numpy versions.

Run::

    .venv/bin/python bench/ingest_throughput.py            # both scenarios
    .venv/bin/python bench/ingest_throughput.py --scenario daily --keep
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import obspy  # noqa: E402
from obspy import Stream, Trace, UTCDateTime, read  # noqa: E402
from obspy.clients.filesystem.sds import Client as SDSClient  # noqa: E402

from pipeline.settings import load_settings  # noqa: E402
from pipeline.tasks import ingest_files, load_stations  # noqa: E402

REAL_DAY = ROOT / "tests" / "data" / "formats" / "GR.FUR..BHN.D.2015.361"
RESULTS = ROOT / "bench" / "results" / "ingest_throughput.json"

NET, STA, LOC = "GR", "FUR", ""
CHANNELS = ("HHZ", "HHN", "HHE")
SHIFT_HOURS = {"HHZ": 0, "HHN": 8, "HHE": 16}
FS = 40.0
DAY0 = UTCDateTime(2015, 12, 27)
NPTS_DAY = int(86400 * FS)
EXPECTED_SAMPLES = len(CHANNELS) * NPTS_DAY
INPUT_RECLEN = 512
STATION_CSV = (
    "network,station,latitude,longitude,elevation_m,channels,sample_rate\n"
    'GR,FUR,48.1629,11.2752,565,"HHZ HHN HHE",40\n'
)
SCENARIOS = ("hourly", "daily")


# ----------------------------------------------------------------------------------- data
def build_day() -> dict[str, np.ndarray]:
    """The synthetic 40 Hz 3-C day (int32 arrays of 86400*40 samples keyed by channel)."""
    st = read(str(REAL_DAY), format="MSEED")
    st.merge(method=-1)
    src = st[0]
    n20 = int(86400 * src.stats.sampling_rate)
    if src.stats.npts < n20 or len(st) != 1:
        raise SystemExit(f"{REAL_DAY}: expected one gap-free trace of at least {n20} samples")
    tr = Trace(data=src.data[:n20].astype(np.float64),
               header=dict(network=NET, station=STA, location=LOC, channel="HHZ",
                           sampling_rate=src.stats.sampling_rate, starttime=DAY0))
    tr.resample(FS)
    if tr.stats.npts != NPTS_DAY:
        raise SystemExit(f"resampling gave {tr.stats.npts} samples, expected {NPTS_DAY}")
    base = np.round(tr.data).astype(np.int32)
    return {ch: np.ascontiguousarray(np.roll(base, int(SHIFT_HOURS[ch] * 3600 * FS)))
            for ch in CHANNELS}


def _trace(ch: str, data: np.ndarray, start: UTCDateTime) -> Trace:
    return Trace(data=data, header=dict(network=NET, station=STA, location=LOC, channel=ch,
                                        sampling_rate=FS, starttime=start))


def write_drop(scenario: str, day: dict[str, np.ndarray], drop: Path) -> list[Path]:
    """Write the day into ``drop`` as hourly or day miniSEED files; returns the files."""
    drop.mkdir(parents=True, exist_ok=True)
    files = []
    if scenario == "hourly":
        per_hour = int(3600 * FS)
        for h in range(24):
            t = DAY0 + h * 3600
            for ch in CHANNELS:
                p = drop / f"{t.strftime('%Y%m%dT%H%M')}_{NET}.{STA}.{LOC}.{ch}.mseed"
                tr = _trace(ch, day[ch][h * per_hour:(h + 1) * per_hour].copy(), t)
                Stream([tr]).write(str(p), format="MSEED", reclen=INPUT_RECLEN, encoding="STEIM2")
                files.append(p)
    elif scenario == "daily":
        for ch in CHANNELS:
            p = drop / f"{NET}.{STA}.{LOC}.{ch}.D.{DAY0.year}.{DAY0.julday:03d}"
            Stream([_trace(ch, day[ch], DAY0)]).write(str(p), format="MSEED", reclen=INPUT_RECLEN,
                                                      encoding="STEIM2")
            files.append(p)
    else:
        raise ValueError(scenario)
    return files


# ----------------------------------------------------------------------------------- memory
def _reset_peak_rss() -> bool:
    """Reset the kernel's peak-RSS mark (Linux ≥ 4.0); False when not possible."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def _status_kb(field: str) -> int | None:
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def _peak_rss_mb() -> float:
    kb = _status_kb("VmHWM")
    if kb is None:
        kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        if sys.platform == "darwin":  # bytes there
            kb //= 1024
    return kb / 1024


# ----------------------------------------------------------------------------------- check
def verify_archive(archive: Path, day: dict[str, np.ndarray]) -> dict:
    """Read the archive back with obspy's SDS client; compare with the generated day."""
    client = SDSClient(str(archive))
    st = client.get_waveforms(NET, STA, "*", "*", DAY0 - 3600, DAY0 + 86400 + 3600)
    total = sum(tr.stats.npts for tr in st)
    problems = []
    for ch in CHANNELS:
        sel = st.select(channel=ch)
        if len(sel) != 1:
            problems.append(f"{ch}: {len(sel)} traces (gaps or missing)")
            continue
        tr = sel[0]
        if abs(tr.stats.starttime - DAY0) > 0.5 / FS or tr.stats.sampling_rate != FS:
            problems.append(f"{ch}: starts {tr.stats.starttime} at {tr.stats.sampling_rate} Hz")
        if tr.stats.npts != NPTS_DAY or not np.array_equal(tr.data, day[ch]):
            problems.append(f"{ch}: {tr.stats.npts} samples, content "
                            f"{'identical' if np.array_equal(tr.data, day[ch]) else 'differs'}")
    extra = sorted({tr.id for tr in st} - {f"{NET}.{STA}.{LOC}.{ch}" for ch in CHANNELS})
    if extra:
        problems.append(f"unexpected channels {extra}")
    if total != EXPECTED_SAMPLES:
        problems.insert(0, f"{total} samples in the archive, expected {EXPECTED_SAMPLES}")
    day_files = sorted(str(p.relative_to(archive)) for p in archive.rglob("*")
                       if p.is_file() and not p.name.startswith("."))
    return {"ok": not problems, "archive_samples": total, "expected_samples": EXPECTED_SAMPLES,
            "archive_files": len(day_files),
            "archive_bytes": sum((archive / f).stat().st_size for f in day_files),
            "problems": problems}


# ----------------------------------------------------------------------------------- run
def run_scenario(scenario: str, day: dict[str, np.ndarray], workdir: Path) -> dict:
    drop = workdir / "drop"
    home = workdir / "home"
    files = write_drop(scenario, day, drop)
    input_bytes = sum(p.stat().st_size for p in files)
    csv = workdir / "stations.csv"
    csv.write_text(STATION_CSV)

    settings = load_settings(env={"IDC_HOME": str(home)})
    stations = load_stations(settings, [csv])  # also creates the store schema (not timed)
    import pipeline.ingest.runner  # noqa: F401  (import cost not timed)

    rss_before = (_status_kb("VmRSS") or 0) / 1024
    reset = _reset_peak_rss()
    t0 = time.perf_counter()
    report = ingest_files(settings, [drop], progress=False)
    t_ingest = time.perf_counter() - t0
    peak = _peak_rss_mb()

    t0 = time.perf_counter()
    rerun = ingest_files(settings, [drop], progress=False)
    t_rerun = time.perf_counter() - t0

    check = verify_archive(settings.archive_dir, day)
    if report["accepted"] != len(files) or report["rejected"]:
        check["ok"] = False
        check["problems"].append(f"accepted {report['accepted']}/{len(files)} files, "
                                 f"rejected {report['rejected']}: {report['rejections'][:1]}")
    if rerun["already_ingested"] != len(files) or rerun["accepted"] or rerun["rejected"]:
        check["ok"] = False
        check["problems"].append(f"re-run was not a no-op: {rerun}")

    return {
        "scenario": scenario,
        "files": len(files),
        "input_reclen": INPUT_RECLEN,
        "input_bytes": input_bytes,
        "samples": EXPECTED_SAMPLES,
        "ingest_seconds": round(t_ingest, 4),
        "throughput_mb_per_s": round(input_bytes / 1e6 / t_ingest, 3),
        "throughput_samples_per_s": round(EXPECTED_SAMPLES / t_ingest, 1),
        "rerun_seconds": round(t_rerun, 4),
        "rerun_already_ingested": rerun["already_ingested"],
        "rss_before_ingest_mb": round(rss_before, 1),
        "peak_rss_mb": round(peak, 1),
        "peak_rss_scope": "ingest (VmHWM reset before)" if reset else "whole process (getrusage)",
        "report": {k: report[k] for k in ("accepted", "already_ingested", "rejected", "traces",
                                          "new_samples", "bytes_read", "day_files_written",
                                          "overlaps")},
        "stations_loaded": {k: stations[k] for k in ("sites_new", "channels_new")},
        "check": check,
    }


def print_table(rows: list[dict]) -> None:
    head = ("scenario", "files", "input MB", "samples", "ingest s", "MB/s", "samples/s",
            "re-run s", "peak RSS MB", "+RSS MB", "check")
    body = [(r["scenario"], str(r["files"]), f"{r['input_bytes'] / 1e6:.2f}", f"{r['samples']:,}",
             f"{r['ingest_seconds']:.2f}", f"{r['throughput_mb_per_s']:.2f}",
             f"{r['throughput_samples_per_s']:,.0f}", f"{r['rerun_seconds']:.3f}",
             f"{r['peak_rss_mb']:.0f}", f"{r['peak_rss_mb'] - r['rss_before_ingest_mb']:.0f}",
             "OK" if r["check"]["ok"] else "FAILED") for r in rows]
    widths = [max(len(h), *(len(b[i]) for b in body)) for i, h in enumerate(head)]
    line = "  ".join("{:<%d}" % widths[0] if i == 0 else "{:>%d}" % w for i, w in enumerate(widths))
    print(line.format(*head))
    print("  ".join("-" * w for w in widths))
    for b in body:
        print(line.format(*b))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scenario", action="append", choices=SCENARIOS,
                    help="run only this scenario (repeatable; default: all)")
    ap.add_argument("--output", type=Path, default=RESULTS, help=f"results JSON (default {RESULTS})")
    ap.add_argument("--keep", action="store_true", help="keep the temporary folders (path printed)")
    args = ap.parse_args(argv)
    scenarios = args.scenario or list(SCENARIOS)

    print(f"ingest throughput: one station-day, {len(CHANNELS)} × {FS:g} Hz "
          f"({EXPECTED_SAMPLES:,} samples), built from {REAL_DAY.relative_to(ROOT)}")
    t0 = time.perf_counter()
    day = build_day()
    print(f"test data built in {time.perf_counter() - t0:.1f} s")

    rows = []
    for sc in scenarios:
        work = Path(tempfile.mkdtemp(prefix=f"idc-bench-ingest-{sc}-"))
        try:
            row = run_scenario(sc, day, work)
        finally:
            if args.keep:
                print(f"[{sc}] kept {work}")
            else:
                shutil.rmtree(work, ignore_errors=True)
        rows.append(row)
        c = row["check"]
        print(f"[{sc}] {row['files']} files ingested in {row['ingest_seconds']:.2f} s; re-run "
              f"{row['rerun_seconds']:.3f} s ({row['rerun_already_ingested']} already ingested); "
              f"archive check: {'OK' if c['ok'] else 'FAILED'} — {c['archive_samples']:,} samples "
              f"(expected {c['expected_samples']:,}) in {c['archive_files']} day files")
        for p in c["problems"]:
            print(f"[{sc}]   problem: {p}")

    print()
    print_table(rows)
    print(f"\npeak RSS: {rows[0]['peak_rss_scope']}; +RSS = peak minus RSS just before the ingest "
          f"call (the generated test data is resident); MB/s counts 10^6 bytes of input miniSEED; "
          f"cpu count {os.cpu_count()}, obspy {obspy.__version__}, numpy {np.__version__}")

    result = {
        "benchmark": "ingest_throughput",
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": {"cpu_count": os.cpu_count(), "load_average": os.getloadavg(), "platform": platform.platform(),
                    "machine": platform.machine(), "python": platform.python_version()},
        "versions": {"obspy": obspy.__version__, "numpy": np.__version__},
        "data": {"source": str(REAL_DAY.relative_to(ROOT)), "channels": [f"{NET}.{STA}.{LOC}.{c}" for c in CHANNELS],
                 "sampling_rate": FS, "day": str(DAY0.date), "samples": EXPECTED_SAMPLES,
                 "input_encoding": "STEIM2", "input_reclen": INPUT_RECLEN},
        "scenarios": rows,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    print(f"results written to {args.output}")
    return 0 if all(r["check"]["ok"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
