"""Issue 13, defects 2 and 3: one bad input never stops a batch, and damaged data is never archived
silently. Each case mixes the bad input with good real files (Iceland Z7 miniSEED) and checks that
the bad one is named on one line and quarantined (or recorded when it cannot be read), and that
the good ones are archived and their rows written.
"""
from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path

import numpy as np
import obspy
import pytest
from obspy import Trace, UTCDateTime
from sqlalchemy import func, select

from pipeline import tasks
from pipeline.ingest.runner import Ingestor
from pipeline.store.db import session_scope
from pipeline.store.models import IngestError, WfAvail
from tests.test_ingest import ICELAND, Z7, _assert_roundtrip, _load


@pytest.fixture
def home(sqlite_settings):
    _load(sqlite_settings, Z7)
    return sqlite_settings


def _good(tmp_path: Path, n: int = 2) -> list[Path]:
    out = []
    for f in sorted(ICELAND.glob("*.m"))[:n]:
        out.append(Path(shutil.copy(f, tmp_path / f.name)))
    return out


def _segments(settings) -> int:
    with session_scope(settings.database_url) as s:
        return s.scalar(select(func.count()).select_from(WfAvail).where(WfAvail.kind == "segment"))


def _errors(settings) -> list[IngestError]:
    with session_scope(settings.database_url) as s:
        return list(s.scalars(select(IngestError)))


def _kver_trace(data: np.ndarray) -> Trace:
    return Trace(data, header=dict(network="Z7", station="KVER", location="", channel="HHZ",
                                   sampling_rate=100.0, starttime=UTCDateTime(2014, 8, 24, 0, 5)))


def test_non_utf8_file_name_is_named_and_quarantined_and_the_batch_goes_on(home, tmp_path):
    drop = tmp_path / "drop"
    drop.mkdir()
    good = _good(drop)
    bad = os.path.join(os.fsencode(drop), b"bad-\xff\xfe-name.mseed")
    with open(bad, "wb") as fh:
        fh.write(b"this is not a waveform file at all" * 10)
    res = tasks.ingest_files(home, [drop], progress=False)
    assert res["accepted"] == len(good), res
    assert res["rejected"] == 1, res
    rej = res["rejections"][0]
    assert "bad-\\xff\\xfe-name.mseed" in rej["message"] and "\n" not in rej["message"], rej
    assert rej["quarantine_path"] and Path(rej["quarantine_path"]).read_bytes().startswith(b"this is not")
    assert _segments(home) > 0


def _unreadable(path: Path) -> Path:
    """A file whose read fails with a real OS error (root ignores permissions: use /proc/self/mem)."""
    if os.geteuid() != 0:
        path.write_bytes(b"x" * 100)
        path.chmod(0)
    else:
        path.symlink_to("/proc/self/mem")
    return path


def test_unreadable_file_in_the_drop_folder_does_not_block_the_good_files(home, tmp_path):
    drop = tmp_path / "drop"
    drop.mkdir()
    good = _good(drop)
    bad = _unreadable(drop / "0000_unreadable.mseed")
    res = tasks.ingest_files(home, [drop], progress=False)
    assert res["accepted"] == len(good) and res["rejected"] == 1, res
    rej = res["rejections"][0]
    assert rej["kind"] == "read_error" and str(bad) in rej["message"] and "cannot read" in rej["message"], rej
    assert rej["quarantine_path"] == ""  # nothing to copy, but recorded
    assert [e.kind for e in _errors(home)] == ["read_error"]
    _assert_roundtrip(home, obspy.read(str(good[0])))
    # the next run (the ingest DAG's next tick) is not blocked either and records one row, not two
    res2 = tasks.ingest_files(home, [drop], progress=False)
    assert res2["already_ingested"] == len(good) and res2["rejected"] == 1
    assert len(_errors(home)) == 1


def test_integer_samples_beyond_32_bits_name_the_file(home, tmp_path):
    good = _good(tmp_path, 1)
    bad = tmp_path / "int64.slist"
    _kver_trace(np.array([1, 2**40, 3] * 200, dtype=np.int64)).write(str(bad), format="SLIST")
    res = tasks.ingest_files(home, [bad] + good, progress=False)
    assert res["accepted"] == 1 and res["rejected"] == 1, res
    rej = res["rejections"][0]
    assert rej["kind"] == "corrupt" and str(bad) in rej["message"] and "32 bits" in rej["message"], rej
    assert Path(rej["quarantine_path"]).exists()


def test_fifo_on_the_command_line_is_skipped_not_waited_for(home, tmp_path):
    good = _good(tmp_path, 1)
    fifo = tmp_path / "pipe.mseed"
    os.mkfifo(fifo)
    out: dict = {}
    t = threading.Thread(target=lambda: out.update(tasks.ingest_files(home, [fifo] + good, progress=False)),
                         daemon=True)
    t.start()
    t.join(60)
    if t.is_alive():  # unblock the reader so the test process can end, then fail
        with open(fifo, "wb"):
            pass
        pytest.fail("ingest blocked on a FIFO")
    assert out["accepted"] == 1 and out["rejected"] == 1, out
    rej = out["rejections"][0]
    assert rej["kind"] == "read_error" and "FIFO" in rej["message"] and str(fifo) in rej["message"], rej


def test_nan_and_inf_samples_are_quarantined_by_default(home, tmp_path):
    bad = tmp_path / "nan.slist"
    data = np.sin(np.arange(600) / 10.0)
    data[100], data[300] = np.nan, np.inf
    _kver_trace(data).write(str(bad), format="SLIST")
    good = _good(tmp_path, 1)
    res = tasks.ingest_files(home, [bad] + good, progress=False)
    assert res["accepted"] == 1 and res["rejected"] == 1, res
    rej = res["rejections"][0]
    assert rej["kind"] == "bad_samples" and "2 NaN/Inf samples" in rej["message"] and str(bad) in rej["message"]
    assert "2014-08-24T00:05:01" in rej["message"]  # time of the first bad sample


def test_nan_samples_stored_as_gaps_when_configured(tmp_path):
    from tests.conftest import make_settings

    settings = make_settings(tmp_path / "home", **{"ingest.non_finite": "gap"})
    _load(settings, Z7)
    bad = tmp_path / "nan.slist"
    data = np.sin(np.arange(600) / 10.0)
    data[100:110] = np.nan
    _kver_trace(data).write(str(bad), format="SLIST")
    msgs: list[str] = []
    rep = Ingestor(settings, echo=msgs.append).ingest_files([bad], progress=False).as_dict()
    assert rep["accepted"] == 1 and rep["new_samples"] == 590, rep
    assert any("10 NaN/Inf samples" in m and "gaps" in m for m in msgs), msgs
    with session_scope(settings.database_url) as s:
        kinds = sorted(r.kind for r in s.scalars(select(WfAvail)))
    assert kinds == ["gap", "segment", "segment"]


def test_steim_integrity_failure_names_the_channel(home, tmp_path):
    """A flipped bit inside a Steim frame: libmseed's integrity check, reported, file quarantined."""
    good = _good(tmp_path, 1)
    raw = bytearray(good[0].read_bytes())
    raw[4096 * 3 + 200] ^= 0xFF
    bad = tmp_path / "flip.mseed"
    bad.write_bytes(bytes(raw))
    res = tasks.ingest_files(home, [bad], progress=False)
    assert res["rejected"] == 1, res
    msg = res["rejections"][0]["message"]
    from obspy.io.mseed.util import get_record_information

    info = get_record_information(str(good[0]), offset=4096 * 3)
    assert f"{info['station']}..{info['channel']}" in msg and str(bad) in msg and "integrity" in msg, msg


def test_large_file_is_merged_in_bounded_memory_and_matches_a_single_pass(tmp_path):
    """With a tiny in-memory budget every day file goes through the staging folder; the archive and
    rows are the same as with the default budget (the spill path is exercised, not only the fast one)."""
    from tests.conftest import make_settings

    src = tmp_path / "src"
    src.mkdir()
    good = _good(src, 6)
    homes = {}
    for label, budget in (("default", 20_000_000), ("tiny", 100_000)):
        s = make_settings(tmp_path / label, **{"ingest.memory_samples": budget})
        _load(s, Z7)
        rep = tasks.ingest_files(s, [src], progress=False)
        assert rep["accepted"] == len(good), rep
        with session_scope(s.database_url) as sess:
            rows = sorted((r.path, r.kind, round(r.starttime, 6), round(r.endtime, 6), r.nsamp)
                          for r in sess.scalars(select(WfAvail)))
        homes[label] = (rows, {p.relative_to(s.archive_dir): obspy.read(str(p)).merge(-1)[0].data.tobytes()
                               for p in Path(s.archive_dir).rglob("*.D.*") if p.is_file()})
        assert not (Path(s.archive_dir) / ".staging").exists() or not any((Path(s.archive_dir) / ".staging").iterdir())
    assert homes["default"] == homes["tiny"]


def test_drop_folder_is_emptied_and_quarantine_copies_released_after_reingest(sqlite_settings, tmp_path):
    """Issue 14 defect 11: the ingest DAG's drop folder is emptied (files moved to processed/ once
    archived or quarantined with a copy) and a quarantined copy is released once its input is in
    the archive."""
    settings = sqlite_settings
    drop, done = tmp_path / "drop", tmp_path / "processed"
    drop.mkdir()
    good = _good(drop, 2)
    (drop / "sub").mkdir()
    nested = Path(shutil.copy(sorted(ICELAND.glob("*.m"))[2], drop / "sub" / "late.m"))
    res = tasks.ingest_files(settings, [drop], progress=False, done_dir=done)  # no stations yet
    assert res["accepted"] == 0 and res["rejected"] == 3 and res["moved"] == 3, res
    assert not [p for p in drop.rglob("*") if p.is_file()]
    moved = sorted(p.relative_to(done).as_posix().split("/", 1)[1] for p in done.rglob("*") if p.is_file())
    assert moved == sorted([good[0].name, good[1].name, "sub/late.m"])
    copies = [Path(r["quarantine_path"]) for r in res["rejections"]]
    assert all(c.exists() for c in copies)
    _load(settings, Z7)
    again = tasks.ingest_files(settings, [settings.quarantine_dir], progress=False)
    assert again["accepted"] == 3 and again["released_from_quarantine"] == 3, again
    assert not any(c.exists() for c in copies)
    errs = _errors(settings)
    assert len(errs) == 3 and all(e.resolved and e.quarantine_path == "" for e in errs)
    assert nested.name == "late.m"
    _assert_roundtrip(settings, obspy.read(str(next(done.rglob("late.m")))))
