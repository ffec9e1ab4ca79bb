"""Fault-injection harness: run `idc` in a child process, kill it at a named write point
(``IDC_FAULT_AT``, see :func:`pipeline.util.fault_point`), re-run, and compare the store and the
files with a clean run.

A *state snapshot* is the multiset of every row of every table (surrogate keys and references to
them reduced to "set or not", timestamps left out: they legitimately differ between runs) plus the
decoded content of every archive day file and the names/sizes of product files. ``compare``
counts rows/files the clean run has and the recovered run lacks (lost) and the other way round
(duplicated).

Every test records its outcome in :data:`LEDGER`; ``conftest.py`` prints the table
"faults injected / recovered / lost / duplicated / manual" at the end of the session.
"""
from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from tests import PROJECT_ROOT

# not `-m pipeline.cli.main`: run as __main__, main.py would be imported a second time by its subcommand
# modules (pipeline.cli.serve imports pipeline.cli.main) and fail on the circular import
IDC = [sys.executable, "-c", "from pipeline.cli.main import main; main()"]
TEST_CONFIG = PROJECT_ROOT / "config" / "test.toml"


@dataclass
class Outcome:
    area: str        # ingest | process | publish | distribute | service | input
    fault: str       # what was injected
    killed: bool     # the fault actually fired (process died / write failed)
    recovered: bool  # the re-run reached the clean state
    lost: int = 0
    duplicated: int = 0
    manual: bool = False   # recovery needed something other than re-running the same command
    note: str = ""


@dataclass
class Ledger:
    rows: list[Outcome] = field(default_factory=list)

    def add(self, outcome: Outcome) -> Outcome:
        self.rows.append(outcome)
        path = os.environ.get("IDC_FAULT_LEDGER")
        if path:  # lets `make faults` / the benchmark collect results across processes
            with open(path, "a") as fh:
                fh.write(json.dumps(outcome.__dict__) + "\n")
        return outcome

    def table(self) -> str:
        by: dict[str, list[Outcome]] = {}
        for r in self.rows:
            by.setdefault(r.area, []).append(r)
        lines = [f"{'area':<11} {'injected':>8} {'fired':>6} {'recovered':>9} {'lost':>5} "
                 f"{'duplicated':>10} {'manual':>6}"]
        tot = [0, 0, 0, 0, 0, 0]
        for area in sorted(by):
            rs = by[area]
            vals = [len(rs), sum(r.killed for r in rs), sum(r.recovered for r in rs),
                    sum(r.lost for r in rs), sum(r.duplicated for r in rs), sum(r.manual for r in rs)]
            tot = [a + b for a, b in zip(tot, vals)]
            lines.append(f"{area:<11} {vals[0]:>8} {vals[1]:>6} {vals[2]:>9} {vals[3]:>5} {vals[4]:>10} {vals[5]:>6}")
        lines.append(f"{'total':<11} {tot[0]:>8} {tot[1]:>6} {tot[2]:>9} {tot[3]:>5} {tot[4]:>10} {tot[5]:>6}")
        return "\n".join(lines)


LEDGER = Ledger()


def child_env(home: Path, database_url: str = "", fault: str | None = None, **extra: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("IDC")}
    env.update(IDC_HOME=str(home), IDC_CONFIG=str(TEST_CONFIG), PYTHONPATH=str(PROJECT_ROOT))
    if database_url:
        env["IDC_DATABASE_URL"] = database_url
    if fault:
        env["IDC_FAULT_AT"] = fault
    env.update(extra)
    return env


def run_idc(args: list[str], home: Path, database_url: str = "", fault: str | None = None,
            timeout: float = 600, preexec=None, **extra: str) -> subprocess.CompletedProcess:
    """``idc <args>`` in a child process; ``fault`` kills it at that write point."""
    return subprocess.run(IDC + [str(a) for a in args], env=child_env(home, database_url, fault, **extra),
                          cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=timeout,
                          preexec_fn=preexec)


def was_killed(proc: subprocess.CompletedProcess) -> bool:
    return proc.returncode == -signal.SIGKILL


# ---------------------------------------------------------------------------- state snapshots
def _db_rows(database_url: str, home: str = "") -> Counter:
    from sqlalchemy import DateTime, Integer, create_engine, select

    from pipeline.store.models import Base

    eng = create_engine(database_url)
    out: Counter = Counter()
    try:
        with eng.connect() as conn:
            for table in Base.metadata.sorted_tables:
                cols = [c for c in table.columns
                        if not isinstance(c.type, DateTime) and c.name not in VOLATILE_COLUMNS.get(table.name, ())]
                # surrogate keys and references to them: only whether they are set is compared
                ref = [isinstance(c.type, Integer) and (c.primary_key or bool(c.foreign_keys)
                                                         or c.name in REFERENCE_COLUMNS.get(table.name, ()))
                       for c in cols]
                if not cols:
                    continue
                try:
                    result = conn.execute(select(*cols))
                except Exception:  # table not migrated in this home
                    continue
                for row in result:
                    key = (table.name,) + tuple(("id" if v is not None else None) if r else
                                                round(v, 6) if isinstance(v, float) else
                                                json.dumps(v, sort_keys=True) if isinstance(v, (dict, list)) else
                                                v.replace(home, "$IDC_HOME") if home and isinstance(v, str) else v
                                                for v, r in zip(row, ref))
                    if table.name in LOG_TABLES:
                        out[key] = 1
                    else:
                        out[key] += 1
    finally:
        eng.dispose()
    return out


#: columns whose values legitimately differ between a clean and a recovered run
VOLATILE_COLUMNS: dict[str, tuple[str, ...]] = {
    "ingest_error": ("message", "source"),
    "product": ("runs", "summary", "software_version"),
    # the run log: how long a run took and whether it was the one that made the version
    "product_run": ("latency_s", "duration_s", "new_version"),
}

#: integer columns holding another row's surrogate key without a declared foreign key (CSS3.0 style)
REFERENCE_COLUMNS: dict[str, tuple[str, ...]] = {
    "event": ("prefor",),
    "amplitude": ("orid",),
    "netmag": ("evid",),
    "stamag": ("ampid", "arid", "orid", "evid"),
    "review_item": ("source_evid",),
}

#: logs of runs, compared as sets: a run killed after its commit and its re-run are two runs of
#: the same version (two rows the same but for the volatile columns), not a duplicated product
LOG_TABLES = frozenset({"product_run"})


def _archive_content(root: Path) -> Counter:
    from obspy import read

    out: Counter = Counter()
    if not root.exists():
        return out
    for p in sorted(root.rglob("*")):
        if not p.is_file() or p.name == ".lock":
            continue
        rel = str(p.relative_to(root))
        if p.name.endswith(".tmp") or rel.startswith(".staging"):
            out[("archive-temp", rel)] += 1
            continue
        try:
            st = read(str(p), format="MSEED")
        except Exception:
            out[("archive-unreadable", rel)] += 1
            continue
        for tr in st:
            h = hashlib.sha256(tr.data.tobytes()).hexdigest()[:16]
            out[("archive", rel, tr.id, str(tr.stats.starttime), tr.stats.npts, h)] += 1
    return out


def _files(root: Path, tag: str) -> Counter:
    out: Counter = Counter()
    if root.exists():
        for p in sorted(root.rglob("*")):
            if p.is_file():
                out[(tag, str(p.relative_to(root)))] += 1
    return out


def snapshot(settings) -> Counter:
    """Everything a run leaves behind, in comparable form."""
    state = _db_rows(settings.database_url, str(settings.home))
    state += _archive_content(Path(settings.archive_dir))
    state += _files(Path(settings.products_dir), "product-file")
    return state


def compare(clean: Counter, recovered: Counter) -> tuple[int, int, list]:
    """(lost, duplicated, first differences) of ``recovered`` against ``clean``."""
    lost = clean - recovered
    dup = recovered - clean
    diff = [("lost",) + k for k in list(lost)[:5]] + [("extra",) + k for k in list(dup)[:5]]
    return sum(lost.values()), sum(dup.values()), diff
