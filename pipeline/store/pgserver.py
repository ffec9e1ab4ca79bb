"""A throwaway PostgreSQL server for tests and benchmarks (never for production).

Uses the PostgreSQL server binaries of the machine (``initdb``, ``pg_ctl``; Debian puts them in
``/usr/lib/postgresql/<major>/bin``), a private data folder, trust authentication and a free port
on 127.0.0.1 only. When running as root, the server runs as the ``postgres`` user (PostgreSQL
refuses to run as root).

``ThrowawayPostgres(datadir=PATH)`` keeps its data folder instead (benchmarks cache a loaded
database between runs): the cluster is created there when the folder holds none, started on it
otherwise, and :meth:`ThrowawayPostgres.stop` shuts it down cleanly and leaves the folder.
"""
from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path


def find_bindir() -> Path | None:
    """Folder holding ``initdb`` and ``pg_ctl`` (env ``IDC_PG_BINDIR`` first), or None."""
    cands = [os.environ.get("IDC_PG_BINDIR", "")]
    cands += sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)
    which = shutil.which("initdb")
    if which:
        cands.append(str(Path(which).parent))
    for c in cands:
        if c and (Path(c) / "initdb").exists() and (Path(c) / "pg_ctl").exists():
            return Path(c)
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ThrowawayPostgres:
    """``with ThrowawayPostgres() as pg: url = pg.url("mydb")``."""

    def __init__(self, bindir: Path | None = None, datadir: Path | None = None):
        self.bindir = bindir or find_bindir()
        if self.bindir is None:
            raise RuntimeError("PostgreSQL server binaries (initdb, pg_ctl) not found")
        self.port = _free_port()
        self.tmp = Path(tempfile.mkdtemp(prefix="idc-pg-"))
        #: a kept data folder (``datadir`` given) survives :meth:`stop`
        self.keep_data = datadir is not None
        self.datadir = Path(datadir).resolve() if datadir is not None else self.tmp / "data"
        self._as_postgres = os.geteuid() == 0

    @property
    def initialised(self) -> bool:
        """Whether the data folder holds a cluster (``PG_VERSION``)."""
        return (self.datadir / "PG_VERSION").exists()

    def _run(self, *args: str) -> subprocess.CompletedProcess:
        cmd = list(args)
        if self._as_postgres:
            cmd = ["runuser", "-u", "postgres", "--"] + cmd
        return subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=120)

    def start(self) -> "ThrowawayPostgres":
        if self._as_postgres:
            shutil.chown(self.tmp, "postgres", "postgres")
        if self.keep_data and self.initialised:
            return self.restart()
        if self.keep_data:
            self.datadir.parent.mkdir(parents=True, exist_ok=True)
            if self._as_postgres:
                shutil.chown(self.datadir.parent, "postgres", "postgres")
        try:
            self._run(str(self.bindir / "initdb"), "-D", str(self.datadir), "-A", "trust", "-U", "postgres",
                      "-E", "UTF8", "--no-locale", "--no-sync")
        except subprocess.CalledProcessError as exc:
            raise RuntimeError(f"initdb of {self.datadir} failed (the server's user must reach that folder): "
                               f"{(exc.stderr or '').strip()[-500:]}") from exc
        return self.restart()

    def restart(self) -> "ThrowawayPostgres":
        """Start the server on its data folder (again, after :meth:`crash`)."""
        opts = (f"-c listen_addresses=127.0.0.1 -c port={self.port} -c unix_socket_directories={self.tmp} "
                "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200")
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.datadir), "-o", opts, "-w", "-t", "60",
                  "-l", str(self.tmp / "server.log"), "start")
        return self

    def crash(self) -> None:
        """Stop the server the hard way (``pg_ctl stop -m immediate``: no shutdown checkpoint, open
        transactions cut), keeping its data for :meth:`restart` (crash recovery)."""
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.datadir), "-m", "immediate", "-w", "stop")

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str, durable: bool = False, template: str | None = None) -> str:
        """A new database; ``durable``: its commits are on disk when they return
        (``synchronous_commit = on``; the server's default here is off, for speed), so that
        :meth:`crash` loses no committed transaction — what crash tests need. ``template``: a
        copy of that database (a file copy: a kept, loaded database stays as it was)."""
        import psycopg

        with psycopg.connect(f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres",
                             autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
            if durable:
                conn.execute(f'ALTER DATABASE "{name}" SET synchronous_commit = on')
        return self.url(name)

    def has_database(self, name: str) -> bool:
        import psycopg

        with psycopg.connect(f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres",
                             autocommit=True) as conn:
            return conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is not None

    def drop_database(self, name: str) -> None:
        import psycopg

        with psycopg.connect(f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres",
                             autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def stop(self) -> None:
        try:
            # a kept data folder is shut down cleanly (checkpoint: no recovery at the next start)
            self._run(str(self.bindir / "pg_ctl"), "-D", str(self.datadir), "-m",
                      "fast" if self.keep_data else "immediate", "-w", "stop")
        except (OSError, subprocess.SubprocessError):  # not running (any more): the folder is removed below
            pass
        for _ in range(20):
            try:
                shutil.rmtree(self.tmp)
                break
            except OSError:
                time.sleep(0.1)

    def __enter__(self) -> "ThrowawayPostgres":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def restart_slowly(self, starting_up_s: float) -> None:
        """Restart the server (fast shutdown) and return without waiting: for about ``starting_up_s``
        it then answers every connection with "FATAL: the database system is starting up", as a
        server does while it recovers after a restart. (The start is an archive recovery whose first
        ``restore_command`` call sleeps; recovery then ends on a new timeline.)"""
        flag = self.tmp / f"slept-{time.monotonic_ns()}"
        script = self.tmp / "slow_restore.sh"
        script.write_text(f"#!/bin/sh\n[ -e {flag} ] || {{ touch {flag}; sleep {starting_up_s}; }}\nexit 1\n")
        script.chmod(0o755)
        (self.datadir / "recovery.signal").touch()
        with open(self.datadir / "postgresql.auto.conf", "a") as fh:
            fh.write(f"restore_command = '{script} %f'\n")
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.datadir), "-m", "fast", "-W",
                  "-l", str(self.tmp / "server.log"), "restart")
