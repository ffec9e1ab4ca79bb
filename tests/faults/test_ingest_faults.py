"""Ingest under faults: kill -9 at every write point, the database stopped mid-write, a full disk.

Real data: Iceland Z7 event windows (36 channels each, overlapping in time, so the second ingest
merges into the day files the first one wrote). A *clean* home ingests ``first`` then ``second``;
each fault case ingests ``first`` cleanly, runs ``idc ingest second`` in a child process that is
killed (or whose database/disk fails) at one point, then re-runs the same command once — no other
action — and compares everything with the clean home: every table row (segments, gaps, overlaps,
accepted inputs, rejections, the journal), the decoded content of every archive day file, and
leftover temporary/staging files.
"""
from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import pytest

from pipeline import tasks
from pipeline.ingest.runner import Ingestor
from tests.conftest import make_settings
from tests.faults.forkserver import ForkServer
from tests.faults.harness import IDC, LEDGER, Outcome, child_env, compare, run_idc, snapshot, was_killed
from tests.test_ingest import ICELAND, Z7

FILES = sorted(ICELAND.glob("*.m"))


@pytest.fixture(scope="module")
def forks():
    with ForkServer() as fs:
        yield fs


@pytest.fixture(scope="module")
def drops(tmp_path_factory):
    root = tmp_path_factory.mktemp("drops")
    first, second = root / "first", root / "second"
    first.mkdir()
    second.mkdir()
    for f in FILES[:3]:
        shutil.copy(f, first / f.name)
    for f in FILES[3:6]:
        shutil.copy(f, second / f.name)
    (second / "zz_garbage.mseed").write_bytes(b"not a waveform" * 50)  # a rejection in the batch
    return first, second


def start_idc(args: list, home: Path, database_url: str = "", **extra: str) -> subprocess.Popen:
    """``idc <args>`` in a child process, not waited for (e.g. with ``IDC_FAULT_WAIT``)."""
    from tests import PROJECT_ROOT

    return subprocess.Popen(IDC + [str(a) for a in args], env=child_env(home, database_url, None, **extra),
                            cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _home(root: Path, url: str = ""):
    s = make_settings(root, url)
    tasks.load_stations(s, [str(Z7)])
    return s


@pytest.fixture(scope="module")
def clean(tmp_path_factory, drops):
    """Reference state: ``first`` then ``second`` ingested without a fault."""
    first, second = drops
    s = _home(tmp_path_factory.mktemp("clean") / "home")
    tasks.ingest_files(s, [first], progress=False)
    tasks.ingest_files(s, [second], progress=False)
    return snapshot(s)


@pytest.fixture(scope="module")
def after_first(tmp_path_factory, drops):
    """A home holding ``first`` (copied for each case)."""
    s = _home(tmp_path_factory.mktemp("template") / "home")
    tasks.ingest_files(s, [drops[0]], progress=False)
    return s.home


def _case_home(after_first: Path, tmp_path: Path):
    home = tmp_path / "home"
    shutil.copytree(after_first, home)
    return make_settings(home)


#: (fault point, env) — the write points of ingest in the order a run reaches them
KILL_POINTS = [
    ("ingest.quarantine", {}),                  # rejected input copied, its row not written
    ("ingest.spill", {"IDC__INGEST__MEMORY_SAMPLES": "100000"}),      # first day file staged
    ("ingest.spill#20", {"IDC__INGEST__MEMORY_SAMPLES": "100000"}),   # mid-input staging
    ("ingest.staged", {}),                      # all day files staged, nothing committed
    ("ingest.in_transaction", {}),              # rows sent, transaction open
    ("ingest.committed", {}),                   # rows committed, no file renamed yet
    ("ingest.rename", {}),                      # first day file renamed into the archive
    ("ingest.rename#18", {}),                   # half of them
    ("ingest.rename#36", {}),                   # all renamed, staging folder not yet removed
    ("ingest.published", {}),                   # renamed, journal row not yet deleted
]


def _check(clean, settings, area: str, fault: str, fired: bool, note: str = "") -> Outcome:
    state = snapshot(settings)
    lost, dup, diff = compare(clean, state)
    out = LEDGER.add(Outcome(area=area, fault=fault, killed=fired, recovered=(lost == 0 and dup == 0),
                             lost=lost, duplicated=dup, note=note or str(diff[:3])))
    assert fired, f"{fault}: the fault did not fire ({note})"
    assert lost == 0 and dup == 0, f"{fault}: lost {lost}, duplicated {dup}: {diff}"
    return out


@pytest.mark.parametrize("point,env", KILL_POINTS, ids=[p for p, _ in KILL_POINTS])
def test_kill_at_ingest_write_point_then_rerun(point, env, clean, after_first, drops, tmp_path, forks):
    s = _case_home(after_first, tmp_path)
    proc = forks.run(["ingest", "--no-progress", drops[1]], s.home, fault=point, **env)
    fired = was_killed(proc)
    msgs: list[str] = []  # the re-run: same call as `idc ingest` (in this process: faster)
    rep = Ingestor(s, echo=msgs.append).ingest_files([drops[1]], progress=False)
    assert rep.accepted + rep.already_ingested == 3 and len(rep.rejected) == 1, rep.as_dict()
    _check(clean, s, "ingest", f"kill -9 at {point}", fired, " | ".join(msgs)[-200:])


def test_kill_during_first_ingest_into_an_empty_archive(clean, drops, tmp_path, forks):
    s = _home(tmp_path / "home")
    proc = forks.run(["ingest", "--no-progress", drops[0]], s.home, fault="ingest.rename#10")
    assert was_killed(proc)
    assert forks.run(["ingest", "--no-progress", drops[0]], s.home).returncode == 0
    assert forks.run(["ingest", "--no-progress", drops[1]], s.home).returncode in (0, 3)
    _check(clean, s, "ingest", "kill -9 at ingest.rename#10 (empty archive)", True)


def _mount_tmpfs(path: Path, size: str) -> bool:
    path.mkdir(parents=True, exist_ok=True)
    return subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                          capture_output=True).returncode == 0


def test_disk_full_while_staging_then_rerun_after_space_is_freed(clean, after_first, drops, tmp_path, forks):
    """The archive's file system fills up during the second ingest (a real ENOSPC from a small
    tmpfs): one-line error, nothing committed, and the re-run after space is back completes."""
    s = _case_home(after_first, tmp_path)
    archive = Path(s.archive_dir)
    saved = tmp_path / "saved_archive"
    shutil.copytree(archive, saved)
    shutil.rmtree(archive)
    if not _mount_tmpfs(archive, "1200k"):
        shutil.copytree(saved, archive)
        pytest.skip("cannot mount a tmpfs here (not root): disk-full case not run")
    try:
        shutil.copytree(saved, archive, dirs_exist_ok=True)
        proc = forks.run(["ingest", "--no-progress", drops[1]], s.home)
        fired = proc.returncode not in (0, 3)
        last = proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else ""
        assert "No space left on device" in proc.stderr and "re-run" in last, proc.stderr[-800:]
        assert "Traceback" not in proc.stderr
        subprocess.run(["mount", "-o", "remount,size=64m", str(archive)], check=True)
        rerun = forks.run(["ingest", "--no-progress", drops[1]], s.home)
        assert rerun.returncode in (0, 3), rerun.stderr
        _check(clean, s, "ingest", "disk full while staging (tmpfs ENOSPC)", fired, last[:200])
    finally:
        subprocess.run(["umount", "-l", str(archive)], capture_output=True)


@pytest.mark.postgres
@pytest.mark.parametrize("outage", ["restarted", "down"])
def test_database_stopped_mid_ingest(outage, pg_server, tmp_path_factory, drops, tmp_path):
    """PostgreSQL stopped (``pg_ctl stop -m immediate``) while the ingest waits between staging its
    day files and committing their rows. ``restarted``: the server is back 2 s later and the same
    run completes on its own (connections are retried with back-off); ``down``: the run gives up
    with one line naming the store, and after the restart a re-run completes. Either way the end
    state is that of a clean run on PostgreSQL."""
    tag = f"{outage}_{int(time.time() * 1000) % 10**9}"
    ref = _home(tmp_path_factory.mktemp("pgclean") / "home", pg_server.create_database(f"ingclean_{tag}"))
    tasks.ingest_files(ref, [drops[0]], progress=False)
    tasks.ingest_files(ref, [drops[1]], progress=False)
    clean_pg = snapshot(ref)

    url = pg_server.create_database(f"ingfault_{tag}", durable=True)
    s = _home(tmp_path / "home", url)
    tasks.ingest_files(s, [drops[0]], progress=False)
    flag = tmp_path / "waiting"
    extra = {"IDC__STORE__CONNECT_ATTEMPTS": "1"} if outage == "down" else {}
    child = start_idc(["ingest", "--no-progress", drops[1]], s.home, url,
                      IDC_FAULT_WAIT="ingest.staged", IDC_FAULT_WAIT_FILE=str(flag), **extra)
    try:
        deadline = time.monotonic() + 120
        while not flag.exists() and child.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert flag.exists(), child.communicate()[1][-2000:]
        pg_server.crash()
        flag.unlink()
        if outage == "restarted":
            time.sleep(2.0)
            pg_server.restart()
        out, err = child.communicate(timeout=300)
    finally:
        if not _pg_up(pg_server):
            pg_server.restart()
    last = err.strip().splitlines()[-1] if err.strip() else ""
    assert "Traceback" not in err and "SELECT" not in err and "INSERT" not in err, err[-1500:]
    if outage == "restarted":
        assert child.returncode in (0, 3), err[-1500:]
    else:
        assert child.returncode not in (0, 3) and "re-run" in last, err[-1500:]
        rerun = run_idc(["ingest", "--no-progress", drops[1]], s.home, url)
        assert rerun.returncode in (0, 3), rerun.stderr[-1500:]
    _check(clean_pg, s, "ingest", f"PostgreSQL stopped -m immediate before the commit ({outage})", True,
           last[:200])


def _pg_up(pg) -> bool:
    import psycopg

    try:
        psycopg.connect(pg.url().replace("+psycopg", ""), connect_timeout=2).close()
        return True
    except Exception:
        return False


def test_archive_check_reports_and_repairs_disagreement(clean, after_first, drops, tmp_path, forks):
    """`idc archive check` finds what faults outside ingest leave (a day file deleted or replaced
    by hand, a stray temporary file, rows without files) and `--repair` makes store and archive
    agree again."""
    s = _case_home(after_first, tmp_path)
    assert forks.run(["ingest", "--no-progress", drops[1]], s.home).returncode in (0, 3)
    ok = forks.run(["archive", "check"], s.home)
    assert ok.returncode == 0 and "0 problems" in ok.stdout, ok.stdout + ok.stderr
    archive = Path(s.archive_dir)
    days = sorted(p for p in archive.rglob("*.D.*") if p.is_file())
    days[0].unlink()                                         # rows without a file
    (days[1].parent / f".{days[1].name}.deadbeef.tmp").write_bytes(b"partial")   # old temp file
    import obspy

    st = obspy.read(str(days[2]))
    st.trim(st[0].stats.starttime, st[0].stats.starttime + 5)       # file content changed by hand
    st.write(str(days[2]), format="MSEED")
    bad = forks.run(["archive", "check"], s.home)
    assert bad.returncode == 1, bad.stdout + bad.stderr
    for text in ("3 problems", days[0].name, days[2].name, ".tmp"):
        assert text in bad.stdout, (text, bad.stdout)
    fix = forks.run(["archive", "check", "--repair"], s.home)
    assert fix.returncode == 0, fix.stdout + fix.stderr
    again = forks.run(["archive", "check"], s.home)
    assert again.returncode == 0 and "0 problems" in again.stdout, again.stdout
