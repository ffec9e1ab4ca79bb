"""The benchmark summary (issue 18 item 4): ``bench/fdsn_event_throughput.py`` on a tiny store
writes figures that ``bench/_summary.py`` turns into ``fdsnws_event_*`` numbers, a part that did
not run stays null, and the store's bulk loader (COPY on PostgreSQL) leaves a usable store.

Nothing here asserts on timing: only that the figures are numbers and where they come from.
"""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from pipeline.store import db
from pipeline.store.pgserver import find_bindir
from tests import PROJECT_ROOT

BENCH = PROJECT_ROOT / "bench"
PY = PROJECT_ROOT / ".venv" / "bin" / "python"


def _bench_module(name):
    sys.path.insert(0, str(BENCH))
    return __import__(name)


def _run_fdsn_bench(out, cache, backend):
    cmd = [str(PY if PY.exists() else sys.executable), str(BENCH / "fdsn_event_throughput.py"),
           "--events", "2000", "--backend", backend, "--requests", "120", "--warmup", "6",
           "--concurrency", "4", "--cache", str(cache), "--no-progress", "--output", str(out)]
    proc = subprocess.run(cmd, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    return json.loads(out.read_text()), proc.stdout


@pytest.fixture
def cache_dir():
    """A folder the PostgreSQL server's user can reach (pytest's tmp_path is private to root)."""
    import shutil
    import tempfile
    from pathlib import Path

    d = Path(tempfile.mkdtemp(prefix="idc-bench-cache-"))
    d.chmod(0o755)
    yield d / "cache"
    shutil.rmtree(d, ignore_errors=True)


def test_fdsn_bench_figures_reach_the_summary(tmp_path, cache_dir):
    backend = "postgresql" if find_bindir() else "sqlite"
    results = tmp_path / "results"
    results.mkdir()
    cache = cache_dir
    first, _ = _run_fdsn_bench(results / "fdsn_event_throughput.json", cache, backend)
    assert first["events"] == 2000 and first["backend"] == backend and not first["cached"]
    assert first["errors"] == 0 and first["requests"] == 120
    assert set(first["by_kind"]) <= set(_bench_module("fdsn_event_throughput").KINDS)
    # a second run serves the cached database (no reload)
    second, text = _run_fdsn_bench(results / "fdsn_event_throughput.json", cache, backend)
    assert second["cached"] and second["fill_s"] is None and "loaded before (cached)" in text
    assert len(list(cache.iterdir())) == 1

    summary = _bench_module("_summary").write(results)
    assert json.loads((results / "summary.json").read_text()) == json.loads(json.dumps(summary, default=str))
    f = summary["figures"]
    for key in ("fdsnws_event_rps", "fdsnws_event_p50_ms", "fdsnws_event_p99_ms"):
        assert isinstance(f[key], (int, float)) and f[key] > 0, key
    assert f["fdsnws_event_events"] == 2000
    # 2,000 events are not the target's 1,000,000: shown, not held against it
    assert summary["met"]["fdsnws_event_rps"] is None and summary["met"]["fdsnws_event_p99_ms"] is None
    assert "not_comparable" in summary["sources"]["fdsnws_event_rps"]
    assert "2,000 events" in summary["sources"]["fdsnws_event_rps"]["note"]
    # parts that did not run are null, never a guess
    for key in ("station_processing_speedup_vs_obspy", "ingest_mb_per_s", "network_day_seconds"):
        assert f[key] is None and summary["met"][key] is None
    assert "fdsnws_event_p99_ms" in _bench_module("_summary").table(summary)


def test_summary_reads_station_processing_and_ingest(tmp_path):
    (tmp_path / "station_processing.json").write_text(json.dumps(
        {"speed_ratio_vs_naive": {"ours_threads": 4.1, "ours_threads_with_inventory": 1.25}}))
    (tmp_path / "ingest_throughput.json").write_text(json.dumps(
        {"scenarios": [{"scenario": "hourly", "throughput_mb_per_s": 9.5},
                       {"scenario": "daily", "throughput_mb_per_s": 12.25}]}))
    s = _bench_module("_summary").build(tmp_path)
    assert s["figures"]["station_processing_speedup_vs_obspy"] == 1.25  # with amplitudes
    assert s["met"]["station_processing_speedup_vs_obspy"] is False
    assert s["figures"]["ingest_mb_per_s"] == 12.25
    assert "hourly: 9.5 MB/s" in s["sources"]["ingest_mb_per_s"]["note"]


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def test_bulk_loader_keeps_the_store_usable(tmp_path, backend, request):
    """Rows loaded with BulkLoader are read back by the store, and the ORM's next ids follow them."""
    from pipeline.store import models as m
    from pipeline.store.bulk import BulkLoader
    from pipeline.store.events import served_event_rows

    if backend == "postgresql":
        url = request.getfixturevalue("pg_server").create_database(f"bulk_{tmp_path.name[-20:].lower()}")
    else:
        url = f"sqlite:///{tmp_path / 'idc.sqlite'}"
    fet = _bench_module("fdsn_event_throughput")
    fet.fill_store(url, 250, 100, 5, progress=False)
    with db.session_scope(url) as s:
        rows = served_event_rows(s, [1, 2, 3])
        assert [rows["n_events"][p] for p in (1, 2, 3)] == [100, 100, 50]
        times = [r[5] for r in rows["events"][3]]
        assert times == sorted(times) and all(fet.T0 + 2 * fet.DAY <= t < fet.T0 + 3 * fet.DAY for t in times)
        assert all(len(rows["mags"][r[3]]) == 1 for r in rows["events"][1])
        # the id sequences were moved past the loaded keys
        s.add(m.Product(type="SEL1", window_start=0.0, window_end=1.0))
        s.flush()
        assert s.query(m.Product).filter_by(type="SEL1").one().id == 4
    with pytest.raises(ValueError, match="no column"):
        BulkLoader(url).write("event", ("evid", "bogus"), [])
    with pytest.raises(ValueError, match="no table"):
        BulkLoader(url).write("nosuchtable", ("x",), [])
