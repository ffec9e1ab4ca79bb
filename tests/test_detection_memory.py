"""Bounded memory of station processing on event windows years apart (issues 12 and 13).

``idc detect`` used to read all files into one Stream and ``merge(method=1)`` it: the gaps
between windows became masked samples, so two 32 s windows 3 days apart needed 4.9 GB and
windows from 2014/2016/2019 asked for 23.5 GiB and were killed. Now each channel's touching
traces are joined without filling gaps and the (station, chunk) tasks follow the data's own
spans. The test builds such a file from real data (Iceland Z7 event windows, shifted to other
years), runs the command-line tool in a subprocess and measures its peak resident memory.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from obspy import Stream, UTCDateTime, read

from pipeline.detection import DetectionConfig, data_spans, merge_contiguous
from pipeline.detection.processor import detect_tasks

ROOT = Path(__file__).resolve().parent.parent
ICELAND = ROOT / "tests" / "data" / "iceland" / "waveforms"
IDC = Path(sys.executable).with_name("idc")
#: (source window index, target start day): 3 days apart (issue 13), then other years
SHIFTS = [(0, UTCDateTime(2014, 8, 24)), (1, UTCDateTime(2014, 8, 27)), (2, UTCDateTime(2016, 8, 24)),
          (3, UTCDateTime(2019, 8, 24))]
LIMIT_MB = 500


def _windows(stations=("DYJN", "FLUR", "KVER")) -> Stream:
    """Four real 3-C event windows of three Z7 stations (33 s each), shifted to the target
    days (time of day kept)."""
    files = sorted(ICELAND.glob("*.m"))
    out = Stream()
    for k, day in SHIFTS:
        st = Stream([tr for tr in read(str(files[k])) if tr.stats.station in stations])
        for tr in st:
            tr.stats.starttime += day - UTCDateTime(2014, 8, 24)
        out += st
    return out


def _peak_rss_mb(args: list[str], cwd: Path) -> tuple[float, subprocess.CompletedProcess]:
    """Run ``idc ARGS`` in a fresh intermediate Python whose only child is ``idc``, under a
    2 GiB address-space limit (a regression fails fast with MemoryError instead of swapping),
    and return the child's peak resident set size (MB) from ``getrusage(RUSAGE_CHILDREN)``."""
    code = (
        "import json, resource, subprocess, sys\n"
        "def lim():\n"
        "    resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))\n"
        "p = subprocess.run(sys.argv[1:], preexec_fn=lim, capture_output=True, text=True)\n"
        "print(json.dumps({'rc': p.returncode, 'out': p.stdout, 'err': p.stderr[-3000:],\n"
        "                  'kb': resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}))\n")
    r = subprocess.run([sys.executable, "-c", code, str(IDC), *args], capture_output=True, text=True,
                       cwd=cwd, timeout=600, env={"PATH": "/usr/bin:/bin", "IDC_HOME": str(cwd / "home"),
                                                  "PYTHONPATH": str(ROOT)})  # this tree's pipeline
    assert r.returncode == 0, r.stderr
    res = json.loads(r.stdout)
    return res["kb"] / 1024.0, subprocess.CompletedProcess(args, res["rc"], res["out"], res["err"])


def test_merge_contiguous_keeps_gaps_and_joins_touching_traces():
    st = _windows(("DYJN",))
    assert len(st) == 12
    # a window cut in two touching halves and an overlapping copy are joined again
    z = st.select(channel="HHZ")[0]
    mid = z.stats.starttime + 10.0
    halves = Stream([z.slice(z.stats.starttime, mid), z.slice(mid + z.stats.delta, z.stats.endtime),
                     z.slice(mid - 2.0, mid + 3.0)])
    joined = merge_contiguous(halves + st[1:])
    assert len(joined) == 12 and not any(np.ma.isMaskedArray(tr.data) for tr in joined)
    first = joined.select(channel="HHZ")[0]
    assert first.stats.npts == z.stats.npts and np.array_equal(first.data, z.data)
    spans = data_spans(joined.select(channel="HHZ"))
    assert [round(b - a, 2) for a, b in spans] == [round(z.stats.endtime - z.stats.starttime, 2)] * 4
    # the (station, chunk) tasks follow the data: a handful, not one per 6 h since 2014
    tasks = detect_tasks(joined, None, DetectionConfig())
    print(f"\n4 windows over {(spans[-1][1] - spans[0][0]) / 86400 / 365.25:.1f} years: {len(tasks)} tasks")
    assert len(tasks) == 4


def test_idc_detect_on_windows_years_apart_stays_small(tmp_path):
    st = _windows()
    one = tmp_path / "multiyear.mseed"
    st.write(str(one), format="MSEED")
    # the same data interleaved across three files: every channel's windows in mixed order
    rng = np.random.default_rng(3)
    order = rng.permutation(len(st))
    parts = [tmp_path / f"part{k}.mseed" for k in range(3)]
    for k, part in enumerate(parts):
        Stream([st[int(i)] for i in order[k::3]]).write(str(part), format="MSEED")
    span_days = (max(tr.stats.endtime for tr in st) - min(tr.stats.starttime for tr in st)) / 86400
    mb, r = _peak_rss_mb(["detect", str(one), "-o", str(tmp_path / "a.csv"), "--no-progress"], tmp_path)
    print(f"\nidc detect: {len(st)} traces, {st[0].stats.sampling_rate:g} Hz, over {span_days:.0f} days: "
          f"peak RSS {mb:.0f} MB (limit {LIMIT_MB} MB); {r.stdout.strip()}")
    assert r.returncode == 0, r.stderr
    assert mb < LIMIT_MB
    mb2, r2 = _peak_rss_mb(["detect", *map(str, parts[::-1]), "-o", str(tmp_path / "b.csv"), "--no-progress"],
                           tmp_path)
    assert r2.returncode == 0, r2.stderr
    assert mb2 < LIMIT_MB
    a, b = pd.read_csv(tmp_path / "a.csv"), pd.read_csv(tmp_path / "b.csv")
    print(f"interleaved in 3 files: peak RSS {mb2:.0f} MB; {len(a)} picks both ways")
    assert len(a) >= 4  # every window has an event
    pd.testing.assert_frame_equal(a, b)
    # picks in every year, at the shifted times
    years = {UTCDateTime(t).year for t in a["time"]}
    assert years == {2014, 2016, 2019}


@pytest.mark.parametrize("config", [DetectionConfig(), DetectionConfig.local()])
def test_tasks_of_a_multiyear_stream(config):
    st = _windows()
    tasks = detect_tasks(merge_contiguous(st), None, config)
    # 3 stations x 4 windows, each window shorter than a chunk
    assert len(tasks) == 12
    assert all(len(args[0]) == 3 for _, args in tasks)
