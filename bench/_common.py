"""Helpers shared by the benchmark scripts (not a benchmark itself: ``run_all.py`` skips ``_*.py``)."""
from __future__ import annotations

import os
import platform


def load_average() -> tuple[float, float, float] | None:
    return os.getloadavg() if hasattr(os, "getloadavg") else None


def machine() -> dict:
    """What the figures were measured on (goes into every ``bench/results/*.json``)."""
    return {"cpu_count": os.cpu_count(), "load_average": load_average(), "platform": platform.platform(),
            "machine": platform.machine(), "python": platform.python_version()}


def report_checks(problems: list[str]) -> None:
    """Print the outcome of a benchmark's correctness checks (the script exits non-zero on problems)."""
    print("checks:", "OK" if not problems else "FAILED")
    for p in problems:
        print("  problem:", p)
