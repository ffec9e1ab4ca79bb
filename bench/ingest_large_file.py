#!/usr/bin/env python
"""Peak memory of ingesting one large miniSEED file (issue 13: a 200 MB file under 1 GB).

What it measures
----------------
``idc ingest FILE`` run as a user runs it (a child process, default configuration, embedded
SQLite store) on one ~200 MB miniSEED file holding several days of 3-component 40 Hz data, with
the channels interleaved day by day as a data logger's multi-day export is. Printed: file size,
samples, wall time, throughput and the child's peak resident set size (``getrusage`` of the
waited-for child: the data generation in this process is not counted). After the ingest the
archive is read back day by day with obspy's SDS client and compared sample for sample with the
generated data (exit status 1 when it differs).

Test data: the real 20 Hz GRSN day ``tests/data/formats/GR.FUR..BHN.D.2015.361`` resampled to
40 Hz and made into 3 channels (the same construction as ``bench/ingest_throughput.py``); day k of
the file is that day's data rolled by k hours, so every day differs. Written as STEIM2 in
512-byte records.

Run::

    .venv/bin/python bench/ingest_large_file.py              # ~200 MB
    .venv/bin/python bench/ingest_large_file.py --mb 50
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
from obspy import Stream, Trace  # noqa: E402
from obspy.clients.filesystem.sds import Client as SDSClient  # noqa: E402

from bench.ingest_throughput import CHANNELS, DAY0, FS, LOC, NET, STA, STATION_CSV, build_day  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "ingest_large_file.json"


def write_file(path: Path, day: dict[str, np.ndarray], target_mb: float) -> tuple[int, int]:
    """Append day after day (3 channels each) until the file reaches ``target_mb``; (days, samples)."""
    ndays = samples = 0
    with open(path, "wb") as fh:
        while fh.tell() < target_mb * 1e6:
            for ch in CHANNELS:
                data = np.roll(day[ch], int(ndays * 3600 * FS))
                tr = Trace(data=data, header=dict(network=NET, station=STA, location=LOC, channel=ch,
                                                  sampling_rate=FS, starttime=DAY0 + ndays * 86400))
                Stream([tr]).write(fh, format="MSEED", reclen=512, encoding="STEIM2")
                samples += data.size
            ndays += 1
    return ndays, samples


def verify(archive: Path, day: dict[str, np.ndarray], ndays: int) -> bool:
    client = SDSClient(str(archive))
    for k in range(ndays):
        for ch in CHANNELS:
            t0 = DAY0 + k * 86400
            st = client.get_waveforms(NET, STA, LOC, ch, t0, t0 + 86400 - 1 / FS)
            st.merge(method=-1)
            want = np.roll(day[ch], int(k * 3600 * FS))
            if len(st) != 1 or st[0].stats.npts != want.size or not np.array_equal(st[0].data, want):
                print(f"MISMATCH day {k} {ch}: {st}")
                return False
    return True


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--mb", type=float, default=200.0, help="size of the file to ingest, MB (default 200)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = ap.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="idc_bench_large_"))
    try:
        day = build_day()
        big = work / "export.mseed"
        ndays, nsamp = write_file(big, day, args.mb)
        size = big.stat().st_size
        home = work / "home"
        env = {k: v for k, v in os.environ.items() if not k.startswith("IDC")}
        env["IDC_HOME"] = str(home)
        stations = work / "stations.csv"
        stations.write_text(STATION_CSV)
        idc = [sys.executable, "-c", "from pipeline.cli.main import main; main()"]
        subprocess.run(idc + ["stations", "load", str(stations)], env=env, cwd=ROOT, check=True,
                       capture_output=True)
        before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        t0 = time.perf_counter()
        proc = subprocess.run(idc + ["ingest", "--no-progress", "--json", str(big)], env=env, cwd=ROOT,
                              capture_output=True, text=True)
        dt = time.perf_counter() - t0
        peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        if proc.returncode != 0:
            print(proc.stderr[-2000:])
            return 1
        rep = json.loads(proc.stdout)
        ok = rep["accepted"] == 1 and verify(home / "archive", day, ndays)
        res = {"file_mb": round(size / 1e6, 1), "days": ndays, "channels": len(CHANNELS), "samples": nsamp,
               "seconds": round(dt, 1), "mb_per_s": round(size / 1e6 / dt, 1),
               "peak_rss_mb": round(peak_mb, 0), "peak_rss_of_earlier_children_mb": round(before / 1024, 0),
               "day_files_written": rep["day_files_written"], "archive_identical": ok}
        print(f"one {res['file_mb']} MB miniSEED file ({ndays} days x {len(CHANNELS)} channels at {FS:g} Hz, "
              f"{nsamp:,} samples): `idc ingest` {res['seconds']} s ({res['mb_per_s']} MB/s), "
              f"peak RSS {res['peak_rss_mb']:.0f} MB, {rep['day_files_written']} day files, "
              f"archive {'identical to the input' if ok else 'DIFFERS'}")
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps(res, indent=1))
        return 0 if ok else 1
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
