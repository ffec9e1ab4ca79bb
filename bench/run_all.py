#!/usr/bin/env python
"""Run every benchmark script in ``bench/`` (``make bench``).

Each ``bench/*.py`` except this file (and ``_``-prefixed helper modules) runs in name order as its own subprocess, with the
project's virtualenv python (``.venv/bin/python``, else the interpreter running this script),
from the project root. Their output is shown as it comes; a summary follows. The exit status is
non-zero when any benchmark failed (non-zero exit). Benchmarks measure and print; they never
assert on timing, so a failure means a crash or a failed correctness check.
"""
from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent


def python() -> str:
    venv = ROOT / ".venv" / "bin" / "python"
    return str(venv) if venv.exists() else sys.executable


def main() -> int:
    me = Path(__file__).resolve()
    scripts = sorted(p for p in BENCH.glob("*.py") if p.resolve() != me and not p.name.startswith("_"))
    if not scripts:
        print("no benchmarks found in", BENCH)
        return 0
    py = python()
    results = []
    for script in scripts:
        name = script.relative_to(ROOT)
        print(f"=== {name} ===", flush=True)
        t0 = time.perf_counter()
        try:
            rc = subprocess.run([py, str(script)], cwd=ROOT).returncode
        except KeyboardInterrupt:
            print(f"interrupted during {name}")
            return 130
        dt = time.perf_counter() - t0
        results.append((name, rc, dt))
        print(f"=== {name}: {'ok' if rc == 0 else f'FAILED (exit {rc})'} in {dt:.1f} s ===\n", flush=True)
    failed = [r for r in results if r[1] != 0]
    print("summary:")
    for name, rc, dt in results:
        print(f"  {'ok    ' if rc == 0 else 'FAILED'}  {dt:7.1f} s  {name}")
    print(f"{len(results) - len(failed)}/{len(results)} benchmarks ok; results in {BENCH / 'results'}")
    # the figures against their targets (bench/results/summary.json; null = not measured)
    sys.path.insert(0, str(BENCH))
    import _summary

    _summary.main()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
