"""Small helpers shared by several stages (no side effects on import)."""
from __future__ import annotations

import hashlib
from pathlib import Path


def sha256_file(path: str | Path) -> str:
    """SHA-256 hex digest of a file's content (read in 1 MiB blocks)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


#: environment variable naming the injection point at which the process kills itself (tests only)
FAULT_ENV = "IDC_FAULT_AT"


def fault_point(name: str) -> None:
    """A named write point where the fault-injection suite can kill the process (``kill -9``).

    With ``IDC_FAULT_AT=<name>`` the process sends itself SIGKILL the first time it reaches the
    point; ``IDC_FAULT_AT=<name>#<k>`` kills at the k-th time. Without the variable this is a
    dictionary lookup and nothing else. The points mark moments between two writes (files
    renamed, a database commit) where a real crash would leave a half-done state.
    """
    import os

    want = os.environ.get(FAULT_ENV)
    if not want:
        return
    point, _, nth = want.partition("#")
    if point != name:
        return
    _FAULT_HITS[name] = _FAULT_HITS.get(name, 0) + 1
    if _FAULT_HITS[name] >= int(nth or 1):
        import signal

        os.kill(os.getpid(), signal.SIGKILL)


_FAULT_HITS: dict[str, int] = {}
