"""Run many ``idc`` commands fast: a server process imports the CLI and the stage modules once and
forks one child per command (``fork`` without ``exec``), which saves the ~2 s of imports that each
fresh ``python -c "…main()"`` pays. Each command still runs in its own process, with its own
environment, working folder, output files and database connections (none exist at the fork), so
a fault point kills it with ``SIGKILL`` exactly as it kills a fresh process; the exit status is
reported the same way (``-9``).

Usage::

    with ForkServer() as fs:
        proc = fs.run(["process", ...], home, fault="process.committed")   # a CompletedProcess
"""
from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from tests import PROJECT_ROOT
from tests.faults.harness import child_env

#: imported once by the server (best effort): what the commands of the chain need
WARM = ("pipeline.cli.main", "pipeline.tasks", "pipeline.detection", "pipeline.bulletin.build",
        "pipeline.bulletin.export", "pipeline.store.catalog", "pipeline.store.db", "pipeline.store.products",
        "pipeline.review.queue", "pipeline.screening.run", "pipeline.distribution.deliver",
        "pipeline.alerts.feed", "obspy.io.quakeml.core", "obspy.clients.filesystem.sds", "sqlalchemy.dialects.sqlite",
        "sqlalchemy.dialects.postgresql.psycopg", "alembic.command", "httpx", "smtplib")

_SERVER = r"""
import importlib, json, os, sys, traceback
for name in sys.argv[1].split(","):
    try:
        importlib.import_module(name)
    except Exception:
        pass
from pipeline.cli.main import cli
answer = os.fdopen(int(sys.argv[2]), "w")
for line in sys.stdin:
    req = json.loads(line)
    pid = os.fork()
    if pid == 0:
        rc = 1
        try:
            os.chdir(req["cwd"])
            os.environ.clear()
            os.environ.update(req["env"])
            for fd, path in ((1, req["stdout"]), (2, req["stderr"])):
                f = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
                os.dup2(f, fd)
                os.close(f)
            os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
            sys.argv = ["idc"] + req["args"]
            try:
                cli.main(args=req["args"], prog_name="idc")
                rc = 0
            except SystemExit as exc:
                rc = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
            except BaseException:
                traceback.print_exc()
                rc = 1
        finally:
            try:
                sys.stdout.flush()
                sys.stderr.flush()
            finally:
                os._exit(rc)
    answer.write(json.dumps({"pid": pid}) + "\n")
    answer.flush()
    _, status = os.waitpid(pid, 0)
    rc = -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
    answer.write(json.dumps({"rc": rc}) + "\n")
    answer.flush()
"""


class ForkServer:
    def __init__(self) -> None:
        self.proc: subprocess.Popen | None = None
        self.tmp = Path(tempfile.mkdtemp(prefix="idc-forkserver-"))

    def start(self) -> "ForkServer":
        r, w = os.pipe()
        env = {k: v for k, v in os.environ.items() if not k.startswith("IDC")}
        env["PYTHONPATH"] = str(PROJECT_ROOT)
        self.proc = subprocess.Popen([sys.executable, "-c", _SERVER, ",".join(WARM), str(w)], stdin=subprocess.PIPE,
                                     cwd=PROJECT_ROOT, env=env, text=True, pass_fds=(w,))
        os.close(w)
        self._answers = os.fdopen(r, "r")
        return self

    def _answer(self, timeout: float) -> dict:
        ready, _, _ = select.select([self._answers], [], [], timeout)
        if not ready:
            raise TimeoutError
        line = self._answers.readline()
        if not line:
            raise RuntimeError("the fork server died")
        return json.loads(line)

    def run(self, args, home: Path, database_url: str = "", fault: str | None = None, timeout: float = 600,
            **extra: str) -> subprocess.CompletedProcess:
        """``idc <args>`` in a forked child; the same contract as :func:`tests.faults.harness.run_idc`."""
        assert self.proc is not None and self.proc.poll() is None, "fork server not running"
        out, err = self.tmp / "stdout", self.tmp / "stderr"
        args = [str(a) for a in args]
        req = {"args": args, "env": child_env(home, database_url, fault, **extra), "cwd": str(PROJECT_ROOT),
               "stdout": str(out), "stderr": str(err)}
        self.proc.stdin.write(json.dumps(req) + "\n")
        self.proc.stdin.flush()
        pid = self._answer(60)["pid"]
        try:
            rc = self._answer(timeout)["rc"]
        except TimeoutError:
            os.kill(pid, signal.SIGKILL)
            self._answer(60)
            raise subprocess.TimeoutExpired(["idc", *args], timeout) from None
        return subprocess.CompletedProcess(["idc", *args], rc, out.read_text(), err.read_text())

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self._answers.close()
            self.proc = None
        for f in self.tmp.iterdir():
            f.unlink()
        self.tmp.rmdir()

    def __enter__(self) -> "ForkServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
