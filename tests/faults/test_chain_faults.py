"""Fault injection for process, publish (REB publication and screening) and distribute (issue 13).

Every test kills ``idc`` (``kill -9``, :func:`pipeline.util.fault_point`) at one write point of a
stage, runs the same command again without the fault and compares what is left — every store row
(surrogate keys only as set or not, times left out), the archive, the product files and what the
subscribers' receivers got — with a clean run of that command on the same starting home. The
commands run in processes forked from a server that imported the CLI once (tests/faults/
forkserver.py: ~2 s less per command, the same SIGKILL). Besides the kills:
the PostgreSQL server stopped (``pg_ctl stop -m immediate``) while ``idc process`` is half-way
through its transaction, and a full disk (a full tmpfs) under the product files of ``idc process``
and ``idc review publish``. Each outcome goes to the fault table (tests/faults/conftest.py).

Data: the bundled Iceland waveforms (Z7) with the demo configuration, a 40 s SEL3 window with 4
events (a process run takes ~4 s); the homes of the later stages are the clean results of the
earlier ones (process → review → publish → screen → subscriptions → distribute), built once per
module and copied per test.

Deliveries are at least once (pipeline.distribution.deliver): a run killed after a receiver took
a delivery and before it was recorded sends it again, with the same delivery id and body; the
receivers here drop repeats by delivery id, as receivers are told to, and the note of the outcome
says how many repeats there were. A delivery id the clean run did not send, or one sent twice with
different bodies, counts as duplicated.
"""
from __future__ import annotations

import contextlib
import hashlib
import shutil
import subprocess
import time
from collections import Counter
from pathlib import Path

import pytest

from pipeline.settings import load_settings
from pipeline.store.pgserver import ThrowawayPostgres, find_bindir
from tests import PROJECT_ROOT
from tests.faults.forkserver import ForkServer
from tests.faults.harness import IDC, LEDGER, Outcome, child_env, compare, snapshot, was_killed
from tests.servers import SMTPTestServer, WebhookTestServer

CONFIG = PROJECT_ROOT / "config" / "demo-iceland.toml"
WAVEFORMS = PROJECT_ROOT / "tests" / "data" / "iceland" / "waveforms"
START, END, DAY = "2014-08-24T00:02:10", "2014-08-24T00:02:50", "2014-08-24"

#: the command of each stage and the home it starts from
STAGES = {
    "process": (["process", "--product", "SEL3", "--start", START, "--end", END], "ingested"),
    "publish": (["review", "publish", "--day", DAY, "--analyst", "fault-suite"], "reviewed"),
    "screen": (["screen", "--day", DAY], "published"),
    "distribute": (["distribute"], "subscribed"),
}
#: the home each stage's clean result becomes
NEXT = {"process": "processed", "publish": "published", "screen": "screened", "distribute": "distributed"}

#: (area of the fault table, stage, fault point[#k-th time]); the order of `idc distribute`: the
#: day window (REB, SEB, SSEB) before the SEL3 window; deliveries REB webhook, REB e-mail, SEB
#: e-mail, SEL3 webhook, SEL3 alerts
KILLS = [
    ("process", "process", "process.events_stored"),   # half the rows flushed, nothing committed
    ("process", "process", "process.file_staged"),     # all rows flushed, QuakeML file in its temporary name
    ("process", "process", "process.committed"),       # version committed, file not renamed into place
    ("publish", "publish", "publish.rows_stored"),     # REB rows flushed, review items not marked
    ("publish", "publish", "publish.items_marked"),    # items marked and audited, not committed
    ("publish", "publish", "publish.file_staged"),
    ("publish", "publish", "publish.committed"),       # REB version committed, file not in place
    ("publish", "screen", "publish.screen_seb_stored"),
    ("publish", "screen", "publish.screen_sseb_stored"),
    ("publish", "screen", "publish.screen_files_staged"),
    ("publish", "screen", "publish.screen_committed"),  # SEB+SSEB committed, files not in place
    ("distribute", "distribute", "distribute.outbox_staged"),      # REB exported, nothing sent
    ("distribute", "distribute", "distribute.alert_messages"),     # CAP files written, state.json not
    ("distribute", "distribute", "distribute.alert_state#2"),      # SEL3 alert state written, feed not
    ("distribute", "distribute", "distribute.claimed"),            # REB webhook claimed, not sent
    ("distribute", "distribute", "distribute.sent"),               # REB webhook received, not recorded
    ("distribute", "distribute", "distribute.sent#2"),             # REB e-mail received, not recorded
    ("distribute", "distribute", "distribute.recorded#3"),         # SEB e-mail recorded, SEL3 not sent
    ("distribute", "distribute", "distribute.sent#5"),             # an SEL3 alert received, not recorded
    ("distribute", "distribute", "distribute.delivered#2"),        # SEB sent, outbox not in place
]


class Chain:
    """The homes of the stages (built once, copied per test), their clean results and the
    subscribers' receivers."""

    def __init__(self, root: Path, webhook: WebhookTestServer, smtp: SMTPTestServer, forks: ForkServer):
        self.root = root
        self.webhook, self.smtp, self.forks = webhook, smtp, forks
        self.homes: dict[str, Path] = {}
        self.cleans: dict[str, tuple[Counter, list]] = {}
        self.states: dict[str, Counter] = {}
        self.env = {"IDC_CONFIG": str(CONFIG), "IDC_ANALYST": "fault-suite",
                    # every located event alerts (Iceland's are small and on land)
                    "IDC__ALERTS__MIN_MAGNITUDE": "-2.0", "IDC__ALERTS__REQUIRE_AT_SEA": "false",
                    "IDC__SUBSCRIPTIONS__SMTP_PORT": str(smtp.port),
                    "IDC__SUBSCRIPTIONS__BACKOFF_INITIAL_S": "0.01"}

    # -- running
    def settings(self, home: Path, url: str = ""):
        env = {**self.env, "IDC_HOME": str(home), **({"IDC_DATABASE_URL": url} if url else {})}
        return load_settings(CONFIG, env=env)

    def idc(self, args, home: Path, url: str = "", fault: str | None = None, **extra) -> subprocess.CompletedProcess:
        """``idc <args>`` in a child process (forked from the fork server)."""
        return self.forks.run(args, home, url, fault=fault, timeout=300, **{**self.env, **extra})

    def start(self, args, home: Path, url: str = "", **extra) -> subprocess.Popen:
        """``idc <args>`` in a fresh child process, not waited for."""
        return subprocess.Popen(IDC + [str(a) for a in args], env=child_env(home, url, None, **{**self.env, **extra}),
                                cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def received(self) -> list[tuple[str, str, str]]:
        """(channel, delivery id, SHA-256 of the content) of every delivery the receivers accepted."""
        out = [("webhook", h.get("x-idc-delivery", ""), hashlib.sha256(body).hexdigest())
               for _, h, body, status in list(self.webhook.requests) if status == 200]
        for _, _, msg in list(self.smtp.messages):
            content = b"".join(p.get_payload(decode=True) or b"" for p in msg.walk() if not p.is_multipart())
            out.append(("email", str(msg["X-IDC-Delivery"]), hashlib.sha256(content).hexdigest()))
        return out

    def reset_receivers(self) -> None:
        with self.webhook._lock:
            self.webhook.requests.clear()
        with self.smtp._lock:
            self.smtp.messages.clear()

    # -- homes
    def home(self, name: str) -> Path:
        if name not in self.homes:
            build = getattr(self, f"_build_{name}", None)
            if build is not None:
                self.homes[name] = build(self.root / name)
            else:  # the clean result of the stage that makes it
                stage = next(k for k, v in NEXT.items() if v == name)
                self.clean(stage)
        return self.homes[name]

    def copy(self, name: str, dest: Path) -> Path:
        shutil.copytree(self.home(name), dest, symlinks=True)
        return dest

    def state(self, name: str) -> Counter:
        if name not in self.states:
            self.states[name] = snapshot(self.settings(self.home(name)))
        return self.states[name]

    def clean(self, stage: str) -> tuple[Counter, list]:
        """The state and the deliveries of a clean run of ``stage`` (its home becomes NEXT[stage])."""
        if stage not in self.cleans:
            args, start = STAGES[stage]
            home = self.copy(start, self.root / NEXT[stage])
            self.reset_receivers()
            r = self.idc(args, home)
            assert r.returncode == 0, f"clean {stage} failed:\n{r.stdout}\n{r.stderr}"
            self.cleans[stage] = (snapshot(self.settings(home)), self.received())
            self.homes[NEXT[stage]] = home
        return self.cleans[stage]

    def populate(self, home: Path, url: str = "") -> Path:
        """A store with the Z7 stations and the ingested waveforms, the travel-time table cached."""
        from pipeline import tasks

        s = self.settings(home, url)
        home.mkdir(parents=True, exist_ok=True)
        tasks.db_upgrade(s)
        tasks.load_stations(s)
        rep = tasks.ingest_files(s, [WAVEFORMS], progress=False)
        assert rep["accepted"] == len(list(WAVEFORMS.iterdir())), rep
        if "ingested" in self.homes:  # the table of the first home
            shutil.copytree(self.homes["ingested"] / "cache", home / "cache", dirs_exist_ok=True)
        else:
            tasks.travel_times(s)
        return home

    def _build_ingested(self, home: Path) -> Path:
        return self.populate(home)

    def _build_reviewed(self, home: Path) -> Path:
        from pipeline.review import queue

        self.copy("processed", home)
        s = self.settings(home)
        queue.enqueue(s, START, END)
        accepted = 0
        for item in queue.list_queue(s):
            if item["edc_passed"]:
                queue.accept(s, item["id"], "fault-suite")
                accepted += 1
        assert accepted >= 2, queue.list_queue(s)
        return home

    def _build_subscribed(self, home: Path) -> Path:
        from pipeline.store.accounts import add_state, add_user
        from pipeline.distribution.subscriptions import add_subscription
        from pipeline.store.db import session_scope

        self.copy("screened", home)
        s = self.settings(home)
        with session_scope(s.database_url) as ss:
            add_state(ss, "IS", "Iceland")
            add_user(ss, "is_ndc", "state_user", "IS")
            add_subscription(ss, "is_ndc", "bulletin", ["REB", "SEL3"], "webhook", self.webhook.url, fmt="ims1",
                             secret="fault-suite")
            add_subscription(ss, "is_ndc", "bulletin", ["REB", "SEB"], "email", "ndc@example.is", fmt="quakeml")
            add_subscription(ss, "is_ndc", "alert", ["SEL3"], "webhook", self.webhook.url, secret="fault-suite")
        return home


@pytest.fixture(scope="module")
def chain(tmp_path_factory):
    with WebhookTestServer() as hook, SMTPTestServer() as smtp, ForkServer() as forks:
        yield Chain(tmp_path_factory.mktemp("chain"), hook, smtp, forks)


def _deliveries(clean: list, got: list) -> tuple[int, int, str]:
    """(lost, duplicated, note) of the deliveries the receivers got against the clean run's,
    after the receivers dropped repeats by delivery id."""
    want = Counter((c, i) for c, i, _ in clean)
    ids = Counter((c, i) for c, i, _ in got)
    bodies: dict = {}
    for c, i, h in got:
        bodies.setdefault((c, i), set()).add(h)
    lost = sum(1 for k in want if k not in ids)
    extra = sum(1 for k in ids if k not in want)
    differing = sum(1 for k, hs in bodies.items() if len(hs) > 1)  # a repeat the receiver cannot drop safely
    repeats = sum(ids.values()) - len(ids)
    note = f"{repeats} repeated deliveries dropped by the receivers (same id, same body)" if repeats else ""
    return lost, extra + differing, note


def _outcome(area: str, fault: str, fired: bool, rerun, clean_state: Counter, state: Counter,
             clean_sent: list | None = None, sent: list | None = None, note: str = "") -> tuple[Outcome, list]:
    lost, dup, diffs = compare(clean_state, state)
    notes = [note] if note else []
    if clean_sent is not None:
        dl, dd, dnote = _deliveries(clean_sent, sent or [])
        lost, dup = lost + dl, dup + dd
        notes += [dnote] if dnote else []
    if rerun.returncode != 0:
        notes.append(f"re-run failed: {(rerun.stderr or rerun.stdout).strip()[-300:]}")
    out = LEDGER.add(Outcome(area, fault, killed=fired, recovered=rerun.returncode == 0 and not lost and not dup,
                             lost=lost, duplicated=dup, manual=rerun.returncode != 0, note="; ".join(notes)))
    return out, diffs


def _check(out: Outcome, diffs: list) -> None:
    assert out.killed, f"{out.fault}: the fault did not fire"
    assert not out.manual, out.note
    assert out.lost == 0 and out.duplicated == 0, diffs


# --------------------------------------------------------------------------- kill -9 at every write point
@pytest.mark.parametrize("area,stage,point", KILLS, ids=[k[2] for k in KILLS])
def test_kill_at_write_point_then_rerun(chain, tmp_path, area, stage, point):
    args, start = STAGES[stage]
    clean_state, clean_sent = chain.clean(stage)
    home = chain.copy(start, tmp_path / "home")
    chain.reset_receivers()
    killed = chain.idc(args, home, fault=point)
    rerun = chain.idc(args, home)
    state = snapshot(chain.settings(home))
    out, diffs = _outcome(area, f"kill -9 at {point}", was_killed(killed), rerun, clean_state, state,
                          clean_sent if stage == "distribute" else None, chain.received())
    assert out.killed, f"{point} was not reached:\n{killed.stdout}\n{killed.stderr}"
    _check(out, diffs)


@pytest.mark.parametrize("stage", list(STAGES))
def test_rerun_replaces_never_duplicates(chain, tmp_path, stage):
    """The same command on the home a clean run left: the same state, nothing delivered again."""
    args, _ = STAGES[stage]
    clean_state, _ = chain.clean(stage)
    home = chain.copy(NEXT[stage], tmp_path / "home")
    chain.reset_receivers()
    r = chain.idc(args if stage != "distribute" else ["distribute", "--product", "SEL3", "--start", START, "--end", END],
                  home)
    assert r.returncode == 0, r.stderr
    lost, dup, diffs = compare(clean_state, snapshot(chain.settings(home)))
    assert (lost, dup) == (0, 0), diffs
    assert chain.received() == []  # everything was delivered by the first run
    if stage == "publish":
        assert "(unchanged: already published)" in r.stdout


# --------------------------------------------------------------------------- database stopped mid-write
def test_process_database_stopped_mid_write(chain, tmp_path):
    """PostgreSQL stopped (immediate: open transactions cut) while `idc process` has flushed half
    of its rows: the run fails with a one-line error, the server restarts (crash recovery), the
    re-run reaches the clean state."""
    if find_bindir() is None:
        pytest.skip("PostgreSQL server binaries (initdb, pg_ctl) not found: database-stop fault not run")
    args, _ = STAGES["process"]
    clean_state, _ = chain.clean("process")
    chain.home("ingested")  # its travel-time table
    flag = tmp_path / "waiting"
    with ThrowawayPostgres() as pg:
        url = pg.create_database("faults", durable=True)
        home = chain.populate(tmp_path / "home", url)
        child = chain.start(args, home, url, IDC_FAULT_WAIT="process.events_stored", IDC_FAULT_WAIT_FILE=str(flag))
        try:
            deadline = time.monotonic() + 240
            while not flag.exists() and child.poll() is None and time.monotonic() < deadline:
                time.sleep(0.05)
            reached = flag.exists()
            pg.crash()
            flag.unlink(missing_ok=True)
            _, err = child.communicate(timeout=240)
        finally:
            if child.poll() is None:
                child.kill()
                child.wait()
        lines = [x for x in err.strip().splitlines() if x.strip()]
        one_line = child.returncode == 1 and len(lines) == 1 and lines[0].startswith("Error: database error")
        pg.restart()
        rerun = chain.idc(args, home, url)
        state = snapshot(chain.settings(home, url))
    out, diffs = _outcome("process", "PostgreSQL stopped (immediate) at process.events_stored", reached and one_line,
                          rerun, clean_state, state, note="" if one_line else f"failed with: {err.strip()[-300:]}")
    assert reached, "the child never reached process.events_stored"
    assert one_line, f"expected a one-line database error, got rc {child.returncode}:\n{err}"
    _check(out, diffs)


# --------------------------------------------------------------------------- disk full
@contextlib.contextmanager
def full_tmpfs(folder: Path):
    """A small tmpfs on ``folder``, filled up (yields the filler file; delete it to free the space)."""
    folder.mkdir(parents=True, exist_ok=True)
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(folder)], capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({(r.stderr or r.stdout).strip()}): disk-full fault not run")
    try:
        filler = folder / "filler"
        with open(filler, "wb", buffering=0) as fh, contextlib.suppress(OSError):
            while fh.write(b"\0" * 4096):
                pass
        yield filler
    finally:
        if subprocess.run(["umount", str(folder)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(folder)], capture_output=True)


@pytest.mark.parametrize("stage,folder", [("process", "SEL3"), ("publish", "REB")])
def test_disk_full_under_product_files(chain, tmp_path, stage, folder):
    """No space for the product file: the run fails with a one-line error and leaves nothing
    behind (no version, no rows, no partial file); with the space back the re-run reaches the
    clean state."""
    args, start = STAGES[stage]
    clean_state, _ = chain.clean(stage)
    before = chain.state(start)
    home = chain.copy(start, tmp_path / "home")
    with full_tmpfs(home / "products" / folder) as filler:
        failed = chain.idc(args, home)
        filler_file = Counter({("product-file", f"{folder}/filler"): 1})
        left = snapshot(chain.settings(home)) - filler_file
        filler.unlink()  # the space is back
        rerun = chain.idc(args, home)
        state = snapshot(chain.settings(home))
    lines = [x for x in failed.stderr.strip().splitlines() if x.strip()]
    one_line = failed.returncode == 1 and len(lines) == 1 and "No space left on device" in lines[0]
    half_lost, half_dup, half_diffs = compare(before, left)
    out, diffs = _outcome(stage, f"disk full under products/{folder}",
                          one_line, rerun, clean_state, state,
                          note="" if not (half_lost or half_dup) else f"the failed run left {half_diffs}"[:300])
    assert one_line, f"expected a one-line error, got rc {failed.returncode}:\n{failed.stderr}"
    assert (half_lost, half_dup) == (0, 0), f"the failed run left a half-done state: {half_diffs}"
    _check(out, diffs)
