"""Waveform ingest: formats, sample-exact SDS round trips, idempotence, and every bad-input case.

Runs on SQLite and on a throwaway PostgreSQL (``settings`` fixture).
"""
from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import numpy as np
import obspy
import pytest
from obspy.clients.filesystem.sds import Client as SDSClient
from sqlalchemy import func, select

from pipeline import tasks
from pipeline.store.db import session_scope
from pipeline.store.models import IngestedFile, IngestError, WfAvail
from tests.conftest import DATA

FORMATS = DATA / "formats"
ICELAND = DATA / "iceland" / "waveforms"
TEST_STATIONS = DATA / "stations" / "test_stations.csv"
Z7 = Path(__file__).resolve().parents[1] / "stations" / "Z7.xml"
FUR_XML = Path(__file__).resolve().parents[1] / "stations" / "GR.FUR.xml"


def _load(settings, *files):
    tasks.load_stations(settings, [str(f) for f in files])


def _archive_digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and not p.name.startswith(".")}


def _table_counts(settings) -> dict[str, int]:
    with session_scope(settings.database_url) as s:
        return {m.__tablename__: s.scalar(select(func.count()).select_from(m))
                for m in (WfAvail, IngestedFile, IngestError)}


def _assert_roundtrip(settings, original: obspy.Stream):
    """Every sample of ``original`` is in the archive, unchanged, at the same time."""
    client = SDSClient(str(settings.archive_dir))
    for tr in original:
        got = client.get_waveforms(tr.stats.network, tr.stats.station, tr.stats.location, tr.stats.channel,
                                   tr.stats.starttime, tr.stats.endtime)
        got.merge(method=-1)
        got.trim(tr.stats.starttime, tr.stats.endtime, nearest_sample=False)
        assert len(got) == 1, f"{tr.id}: {got}"
        g = got[0]
        assert abs(g.stats.starttime - tr.stats.starttime) < 1e-6, tr.id
        assert g.stats.npts == tr.stats.npts, tr.id
        assert g.data.dtype.kind == tr.data.dtype.kind
        np.testing.assert_array_equal(g.data, tr.data, err_msg=tr.id)


# --------------------------------------------------------------------------- formats
def test_miniseed_iceland_roundtrip_and_double_ingest_is_noop(settings):
    _load(settings, Z7)
    files = sorted(ICELAND.glob("*.m"))[:4]
    res = tasks.ingest_files(settings, files, progress=False)
    assert res["accepted"] == 4 and res["rejected"] == 0
    # original data: the union of the (overlapping) event windows
    original = obspy.Stream()
    for f in files:
        original += obspy.read(str(f))
    original.merge(method=1)  # windows overlap with identical samples
    original = original.split()
    _assert_roundtrip(settings, original)
    # overlapping windows were recorded as duplicates, not as conflicts
    with session_scope(settings.database_url) as s:
        kinds = {(r.kind, (r.detail.split() or [""])[0]) for r in s.scalars(select(WfAvail))}
    assert ("overlap", "duplicate") in kinds and not any(d.startswith("conflict") for _, d in kinds)
    digest, counts = _archive_digest(settings.archive_dir), _table_counts(settings)
    again = tasks.ingest_files(settings, files, progress=False)
    assert again["accepted"] == 0 and again["already_ingested"] == 4
    assert _archive_digest(settings.archive_dir) == digest
    assert _table_counts(settings) == counts
    # even forced, identical data changes no archived byte
    forced = tasks.ingest_files(settings, files, progress=False, force=True)
    assert forced["accepted"] == 4 and forced["new_samples"] == 0 and forced["day_files_written"] == 0
    assert _archive_digest(settings.archive_dir) == digest


def test_sac_roundtrip(settings):
    _load(settings, TEST_STATIONS)
    f = FORMATS / "YJ.BRP1..EDF.SAC"
    res = tasks.ingest_files(settings, [f], progress=False)
    assert res["accepted"] == 1, res
    st = obspy.read(str(f))
    assert st[0].data.dtype == np.float32
    _assert_roundtrip(settings, st)


def test_gse2_without_network_gets_it_from_metadata(settings):
    _load(settings, TEST_STATIONS)
    f = FORMATS / "loc_RJOB20050831023349.z"
    res = tasks.ingest_files(settings, [f], progress=False)
    assert res["accepted"] == 1 and res["channels"] == ["BW.RJOB..Z"]
    st = obspy.read(str(f))
    st[0].stats.network = "BW"
    _assert_roundtrip(settings, st)


def test_ims1_waveform_message(settings):
    _load(settings, TEST_STATIONS)
    res = tasks.ingest_files(settings, [FORMATS / "RJOB20050831023349.ims1.msg"], progress=False)
    assert res["accepted"] == 1, res
    with session_scope(settings.database_url) as s:
        assert s.scalar(select(IngestedFile.format)) == "IMS1.0"
    st = obspy.read(str(FORMATS / "loc_RJOB20050831023349.z"))
    st[0].stats.network = "BW"
    _assert_roundtrip(settings, st)


def test_css_wfdisc_folder(tmp_path, backend, request):
    """CSS3.0 allows 6-character station codes (TESTbe); they are mapped with station_aliases."""
    from tests.conftest import make_settings

    url = request.getfixturevalue("pg_server").create_database("css") if backend == "postgresql" else ""
    settings = make_settings(tmp_path / "home", url,
                             **{"ingest.station_aliases": {"TESTbe": "TESTB", "TESTle": "TESTL"}})
    _load(settings, TEST_STATIONS)
    drop = tmp_path / "css"
    drop.mkdir()
    for name in ("test_css.wfdisc", "201101311155.10.be.w", "201101311155.10.le.w"):
        shutil.copy(FORMATS / name, drop / name)
    res = tasks.ingest_files(settings, [drop], progress=False)
    # the .w files are read through the wfdisc, not on their own
    assert res["accepted"] == 1 and res["rejected"] == 0, res
    assert len(res["channels"]) == 6
    st = obspy.read(str(drop / "test_css.wfdisc"))
    for tr in st:
        tr.stats.network = "XX"
        tr.stats.station = tr.stats.station[:5].upper()
    _assert_roundtrip(settings, st)


def test_station_code_too_long_for_miniseed_is_rejected(settings):
    _load(settings, TEST_STATIONS)
    wf = FORMATS / "test_css.wfdisc"
    res = tasks.ingest_files(settings, [wf], progress=False)
    assert res["rejected"] == 1 and res["rejections"][0]["kind"] == "bad_code"
    assert "'TESTbe' is longer than 5 characters" in res["rejections"][0]["message"]


def test_trace_across_midnight_is_split_without_loss(settings, tmp_path):
    """A real day shifted to start at 23:00 lands in two day files, every sample once."""
    _load(settings, FUR_XML)
    tr = obspy.read(str(FORMATS / "GR.FUR..BHN.D.2015.361"))[0]
    tr = tr.slice(tr.stats.starttime, tr.stats.starttime + 7200)
    tr.stats.starttime = obspy.UTCDateTime(2015, 12, 27, 23, 0, 0, 25000)
    f = tmp_path / "cross.mseed"
    tr.write(str(f), format="MSEED")
    tasks.ingest_files(settings, [f], progress=False)
    days = sorted(p.name for p in settings.archive_dir.rglob("GR.FUR..BHN.D.*"))
    assert days == ["GR.FUR..BHN.D.2015.361", "GR.FUR..BHN.D.2015.362"]
    first = obspy.read(str(next(settings.archive_dir.rglob("*.361"))))
    second = obspy.read(str(next(settings.archive_dir.rglob("*.362"))))
    assert first[0].stats.endtime < obspy.UTCDateTime(2015, 12, 28) <= second[0].stats.starttime
    assert first[0].stats.npts + second[0].stats.npts == tr.stats.npts
    _assert_roundtrip(settings, obspy.Stream([tr]))
    cov = tasks.availability(settings)["channels"]
    assert len(cov) == 1 and cov[0]["gaps"] == 0 and cov[0]["samples"] == tr.stats.npts


def test_availability_reports_real_gaps(settings):
    """The Iceland windows leave 3 real gaps (6.9 s, 23 s, 4.7 s) per channel (SOURCE.txt)."""
    _load(settings, Z7)
    tasks.ingest_files(settings, [ICELAND], progress=False)
    cov = {c["nslc"]: c for c in tasks.availability(settings)["channels"]}
    assert len(cov) == 36
    c = cov["Z7.DYJN..HHZ"]
    assert c["gaps"] == 3
    assert c["gap_s"] == pytest.approx(6.9 + 23 + 4.7, abs=0.2)
    window = tasks.availability(settings, "2014-08-24T00:03:00", "2014-08-24T00:04:00", "Z7.DYJN..HHZ")
    w = window["channels"][0]
    assert w["coverage"] == pytest.approx(1.0) and w["gaps"] == 0 and w["samples"] == 6000
    # a window holding the first gap (00:02:17.52–00:02:24.42)
    w = tasks.availability(settings, "2014-08-24T00:02:00", "2014-08-24T00:03:00", "Z7.DYJN..HHZ")["channels"][0]
    assert w["gaps"] == 1 and w["gap_s"] == pytest.approx(6.9, abs=0.02)
    assert w["coverage"] == pytest.approx((60 - 6.9) / 60, abs=0.001)


# --------------------------------------------------------------------------- bad input
def _errors(settings):
    with session_scope(settings.database_url) as s:
        return [(e.kind, e.message, e.quarantine_path) for e in s.scalars(select(IngestError))]


def _check_rejected(settings, res, path: Path, kind: str, text: str):
    assert res["rejected"] == 1, res
    rej = res["rejections"][0]
    assert rej["kind"] == kind and str(path) in rej["message"] and text in rej["message"], rej
    errs = _errors(settings)
    assert len(errs) == 1 and errs[0][0] == kind and str(path) in errs[0][1]
    q = Path(errs[0][2])
    assert q.is_file() and q.is_relative_to(settings.quarantine_dir)
    assert q.read_bytes() == path.read_bytes()


@pytest.fixture
def good_file():
    return sorted(ICELAND.glob("*.m"))[0]


def test_truncated_miniseed(settings, tmp_path, good_file):
    _load(settings, Z7)
    bad = tmp_path / "truncated.mseed"
    raw = good_file.read_bytes()
    bad.write_bytes(raw[: len(raw) // 2 + 100])
    res = tasks.ingest_files(settings, [bad, good_file], progress=False)
    _check_rejected(settings, res, bad, "corrupt", "file cut inside a record")
    assert res["accepted"] == 1  # the batch continued


def test_truncated_miniseed_at_every_cut_point_of_a_record(sqlite_settings, tmp_path, good_file):
    """A file cut anywhere inside its last record is rejected (HEAD accepted 3,968 of 4,095
    cut points of a 4 KiB record with half the samples): here every 37th byte of the record."""
    settings = sqlite_settings
    _load(settings, Z7)
    raw = good_file.read_bytes()
    drop = tmp_path / "cuts"
    drop.mkdir()
    cuts = list(range(len(raw) - 4096 + 1, len(raw), 37))
    for cut in cuts:
        (drop / f"cut{cut:07d}.mseed").write_bytes(raw[:cut])
    res = tasks.ingest_files(settings, [drop], progress=False)
    assert res["accepted"] == 0 and res["rejected"] == len(cuts), res
    assert all(r["kind"] == "corrupt" and "cut inside a record" in r["message"] for r in res["rejections"])
    print(f"{len(cuts)} cut points inside the last 4096-byte record: all rejected")


def test_corrupt_miniseed(settings, tmp_path, good_file):
    _load(settings, Z7)
    raw = bytearray(good_file.read_bytes())
    raw[600:700] = bytes(b ^ 0xFF for b in raw[600:700])  # damage Steim frames of the 2nd record
    bad = tmp_path / "bitflip.mseed"
    bad.write_bytes(bytes(raw))
    res = tasks.ingest_files(settings, [bad], progress=False)
    _check_rejected(settings, res, bad, "corrupt", "corrupt data")


def test_unknown_format(settings, tmp_path, good_file):
    _load(settings, Z7)
    bad = tmp_path / "notes.dat"
    bad.write_text("this is not a waveform\n" * 20)
    res = tasks.ingest_files(settings, [bad, good_file], progress=False)
    _check_rejected(settings, res, bad, "unknown_format", "unknown format")
    assert res["accepted"] == 1


def test_channel_not_in_metadata(settings, tmp_path, good_file):
    _load(settings, Z7)
    st = obspy.read(str(good_file))
    st = st.select(station="DYJN")
    for tr in st.select(channel="HHZ"):
        tr.stats.channel = "EHZ"
    bad = tmp_path / "ehz.mseed"
    st.write(str(bad), format="MSEED")
    res = tasks.ingest_files(settings, [bad], progress=False)
    _check_rejected(settings, res, bad, "unknown_channel", "Z7.DYJN..EHZ")
    assert "channel not in the station metadata" in res["rejections"][0]["message"]
    assert not list(settings.archive_dir.rglob("Z7.DYJN..HHN.D.*")), "nothing of a rejected file is archived"


def test_samplerate_change_inside_a_day(settings, tmp_path):
    _load(settings, FUR_XML)
    tr = obspy.read(str(FORMATS / "GR.FUR..BHN.D.2015.361"))[0]
    first = tr.slice(tr.stats.starttime, tr.stats.starttime + 3600)
    later = tr.slice(tr.stats.starttime + 7200, tr.stats.starttime + 7200 + 600).copy()
    later.stats.sampling_rate = 40.0  # the logger was reconfigured
    f1, f2 = tmp_path / "hour1.mseed", tmp_path / "hour3.mseed"
    first.write(str(f1), format="MSEED")
    later.write(str(f2), format="MSEED")
    # with metadata checks on, the metadata (20 Hz) already catches it
    res = tasks.ingest_files(settings, [f1, f2], progress=False)
    _check_rejected(settings, res, f2, "samplerate_change", "40 Hz")
    assert res["accepted"] == 1


def test_samplerate_change_against_archive_without_metadata(tmp_path):
    from tests.conftest import make_settings

    settings = make_settings(tmp_path / "home", **{"ingest.require_metadata": False})
    tr = obspy.read(str(FORMATS / "GR.FUR..BHN.D.2015.361"))[0]
    first = tr.slice(tr.stats.starttime, tr.stats.starttime + 3600)
    later = tr.slice(tr.stats.starttime + 7200, tr.stats.starttime + 7200 + 600).copy()
    later.stats.sampling_rate = 40.0
    f1, f2 = tmp_path / "hour1.mseed", tmp_path / "hour3.mseed"
    first.write(str(f1), format="MSEED")
    later.write(str(f2), format="MSEED")
    res = tasks.ingest_files(settings, [f1, f2], progress=False)
    _check_rejected(settings, res, f2, "samplerate_change", "differs from 20 Hz already archived on 2015-361")


def test_conflicting_overlap_policies(tmp_path):
    from tests.conftest import make_settings

    tr = obspy.read(str(FORMATS / "GR.FUR..BHN.D.2015.361"))[0]
    base = tr.slice(tr.stats.starttime, tr.stats.starttime + 600)
    changed = base.copy()
    changed.data = changed.data.copy()
    changed.data[100:110] += 7
    f1, f2 = tmp_path / "a.mseed", tmp_path / "b.mseed"
    base.write(str(f1), format="MSEED")
    changed.write(str(f2), format="MSEED")
    for policy, expect in (("quarantine", base.data), ("keep_archive", base.data), ("replace", changed.data)):
        settings = make_settings(tmp_path / policy, **{"ingest.on_conflict": policy})
        _load(settings, FUR_XML)
        res = tasks.ingest_files(settings, [f1, f2], progress=False)
        if policy == "quarantine":
            _check_rejected(settings, res, f2, "conflict", "10 samples")
        else:
            assert res["accepted"] == 2
            with session_scope(settings.database_url) as s:
                details = [r.detail for r in s.scalars(select(WfAvail).where(WfAvail.kind == "overlap"))]
            assert any(d.startswith(f"conflict:{policy}") for d in details), details
        got = SDSClient(str(settings.archive_dir)).get_waveforms("GR", "FUR", "", "BHN", base.stats.starttime,
                                                                 base.stats.endtime)
        np.testing.assert_array_equal(got[0].data, expect)


def test_quarantined_file_is_resolved_after_fix(settings, tmp_path, good_file):
    """Ingest fails for missing metadata; after loading it, re-ingest succeeds and resolves the error."""
    f = tmp_path / good_file.name
    shutil.copy(good_file, f)
    res = tasks.ingest_files(settings, [f], progress=False)
    assert res["rejected"] == 1 and res["rejections"][0]["kind"] == "unknown_channel"
    _load(settings, Z7)
    res = tasks.ingest_files(settings, [f], progress=False)
    assert res["accepted"] == 1
    with session_scope(settings.database_url) as s:
        assert [e.resolved for e in s.scalars(select(IngestError))] == [True]


def test_missing_file_is_reported(settings, tmp_path):
    res = tasks.ingest_files(settings, [tmp_path / "nope.mseed"], progress=False)
    assert res["rejected"] == 1 and "no such file" in res["rejections"][0]["message"]
