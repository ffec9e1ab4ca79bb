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


def free_port() -> int:
    """A TCP port of 127.0.0.1 nobody listens on (right now)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_idc_serve(env: dict, port: int, probe: str, *, extra_args: tuple[str, ...] = (), cwd: str | None = None,
                    timeout_s: float = 30.0):
    """Start ``idc serve`` on 127.0.0.1:``port`` (the project's ``.venv/bin/idc``) with ``env`` and
    wait (up to about ``timeout_s``) until ``GET <probe>`` (a path, e.g. ``/fdsnws/event/1/version``)
    answers 200; returns the :class:`subprocess.Popen` (the caller terminates it). Raises
    RuntimeError when it exits first."""
    import shutil
    import subprocess
    import time
    from pathlib import Path

    import httpx

    root = Path(__file__).resolve().parent.parent
    idc = shutil.which("idc", path=str(root / ".venv" / "bin")) or "idc"
    proc = subprocess.Popen([idc, "serve", "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning",
                             *extra_args], env=env, cwd=cwd or str(root))
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}{probe}", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        if proc.poll() is not None:
            raise RuntimeError("idc serve exited early")
        time.sleep(0.1)
    return proc


def stop_process(proc) -> None:
    """Terminate a :class:`subprocess.Popen` started here (None: nothing), kill it after 10 s."""
    import subprocess

    if proc is None:
        return
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
