"""Small helpers shared by several stages (no side effects on import)."""
from __future__ import annotations

import hashlib
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator


def sha256_file(path: str | Path) -> str:
    """SHA-256 hex digest of a file's content (read in 1 MiB blocks)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


#: environment variable naming the injection point at which the process kills itself (tests only)
FAULT_ENV = "IDC_FAULT_AT"
#: environment variable naming the injection point at which the process waits (tests only), and the
#: file it creates there and waits to see removed
FAULT_WAIT_ENV = "IDC_FAULT_WAIT"
FAULT_WAIT_FILE_ENV = "IDC_FAULT_WAIT_FILE"


def fault_point(name: str) -> None:
    """A named write point where the fault-injection suite can kill the process (``kill -9``).

    With ``IDC_FAULT_AT=<name>`` the process sends itself SIGKILL the first time it reaches the
    point; ``IDC_FAULT_AT=<name>#<k>`` kills at the k-th time. With ``IDC_FAULT_WAIT=<name>[#k]``
    it instead creates the file ``IDC_FAULT_WAIT_FILE`` and waits (at most 10 minutes) until the
    file is removed, so that a test can break something meanwhile (stop the database server).
    Without the variables this is two dictionary lookups and nothing else. The points mark moments
    between two writes (files renamed, a database commit) where a real crash would leave a
    half-done state.
    """
    import os

    env = os.environ
    if FAULT_ENV not in env and FAULT_WAIT_ENV not in env:
        return
    for var in (FAULT_ENV, FAULT_WAIT_ENV):
        point, _, nth = env.get(var, "").partition("#")
        if point != name:
            continue
        hits = _FAULT_HITS[(var, name)] = _FAULT_HITS.get((var, name), 0) + 1
        if hits != int(nth or 1):
            continue
        if var == FAULT_ENV:
            import signal

            os.kill(os.getpid(), signal.SIGKILL)
        flag = Path(env[FAULT_WAIT_FILE_ENV])
        flag.write_text(str(os.getpid()))
        import time

        deadline = time.monotonic() + 600.0
        while flag.exists() and time.monotonic() < deadline:
            time.sleep(0.05)


_FAULT_HITS: dict[tuple[str, str], int] = {}


# ---------------------------------------------------------------------------- atomic product files
class FileStage:
    """Files of one write, first written under temporary names in their own folders
    (``.<name>.<pid>.partial``), renamed into place by :func:`staged_files` at the end."""

    def __init__(self) -> None:
        self.files: list[tuple[Path, Path]] = []

    def path(self, final: str | Path) -> Path:
        """The temporary path to write ``final`` to (its folder is created; temporary files of
        ``final`` left by writers that died are removed)."""
        import os

        final = Path(final)
        final.parent.mkdir(parents=True, exist_ok=True)
        _sweep_partials(final)
        tmp = final.with_name(f".{final.name}.{os.getpid()}.partial")
        self.files.append((tmp, final))
        return tmp

    def commit(self) -> list[Path]:
        import os

        for tmp, final in self.files:
            os.replace(tmp, final)
        return [f for _, f in self.files]

    def discard(self) -> None:
        for tmp, _ in self.files:
            tmp.unlink(missing_ok=True)


@contextmanager
def staged_files() -> Iterator[FileStage]:
    """Write files all-or-nothing after a database transaction::

        with staged_files() as stage:
            with session_scope(url) as s:
                ...                                    # rows of version N
                catalog.write(stage.path(final), ...)  # written under a temporary name
            # committed here
        # renamed into place here; on any error before, the temporary files are removed

    A failure while writing (disk full) rolls the transaction back and leaves no file; a crash
    after the commit leaves the rows without their file, which the re-run (same inputs → same
    version, replaced in place) writes again; a crash while writing leaves a temporary file,
    removed by the next write of the same file.
    """
    stage = FileStage()
    try:
        yield stage
    except BaseException:
        stage.discard()
        raise
    stage.commit()


def write_atomic(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` through a temporary file and a rename (readers never see half)."""
    with staged_files() as stage:
        stage.path(path).write_bytes(data)
    return Path(path)


def _sweep_partials(final: Path) -> None:
    import glob
    import os

    head = f".{final.name}."
    for p in final.parent.glob(glob.escape(head) + "*.partial"):
        pid = p.name[len(head):-len(".partial")]
        if pid.isdigit() and not pid_alive(int(pid)):
            p.unlink(missing_ok=True)


def pid_alive(pid: int) -> bool:
    """Whether a process ``pid`` runs on this machine."""
    import os

    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
