"""Ingest from a SeedLink server and an FDSN dataselect service through obspy's clients.

The servers (:mod:`tests.servers`) run in a thread of the test process on a free port of
127.0.0.1 and serve real data: the Iceland miniSEED file (network Z7, 100 Hz) whose channels are
in ``stations/Z7.xml``. Every round trip is checked sample by sample against the original file,
read back from the SDS archive with obspy's SDS client.
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
from obspy import Stream, UTCDateTime, read
from obspy.clients.filesystem.sds import Client as SDSClient
from sqlalchemy import select

from pipeline import tasks
from pipeline.ingest.readers import IngestRejected
from pipeline.ingest.sources import fdsn_request, fetch_fdsn, fetch_seedlink, parse_selector
from pipeline.store.db import session_scope
from pipeline.store.models import IngestError
from tests import PROJECT_ROOT
from tests.servers import FDSNDataselectTestServer, SeedLinkTestServer, SilentTCPServer, free_port

pytestmark = pytest.mark.timeout(60)

WAVEFORMS = PROJECT_ROOT / "tests" / "data" / "iceland" / "waveforms" / "20140824000612260.m"
Z7_XML = PROJECT_ROOT / "stations" / "Z7.xml"
# the file holds 00:06:03.26 – 00:06:35.77 of every channel; samples fall on 1/100 s
T1 = UTCDateTime("2014-08-24T00:06:10")
T2 = T1 + 10


@pytest.fixture(scope="module")
def original() -> Stream:
    """Six channels (Z7.DYJN and Z7.DYJS, HH?) of the Iceland file: small rings, fast tests."""
    st = read(str(WAVEFORMS)).select(station="DYJ?")
    assert len(st) == 6 and all(tr.stats.sampling_rate == 100.0 for tr in st)
    assert st[0].stats.starttime < T1 - 5 and st[0].stats.endtime > T2 + 5
    return st


@pytest.fixture
def z7(sqlite_settings):
    """Settings with a fresh IDC home and the Z7 station metadata loaded."""
    tasks.load_stations(sqlite_settings, [Z7_XML])
    return sqlite_settings


# --------------------------------------------------------------------------- helpers
def archived(settings, nslc: str) -> Stream:
    net, sta, loc, cha = nslc.split(".")
    sds = SDSClient(str(settings.archive_dir), sds_type=settings.ingest.sds_type)
    return sds.get_waveforms(net, sta, loc, cha, T1 - 3600, T2 + 3600)


def assert_round_trip(settings, original: Stream, nslc: str, start: UTCDateTime, end: UTCDateTime):
    """The archive holds exactly the samples of ``original`` in ``[start, end]`` for ``nslc``."""
    got = archived(settings, nslc)
    assert len(got) == 1, f"{nslc}: expected one contiguous trace in the archive, got {got}"
    tr = got[0]
    src = original.select(id=nslc)
    assert len(src) == 1
    # compare on the common span, then check that span is the requested window
    ref = src[0].slice(tr.stats.starttime, tr.stats.endtime, nearest_sample=False)
    assert ref.stats.starttime == tr.stats.starttime and ref.stats.npts == tr.stats.npts, nslc
    assert tr.stats.sampling_rate == src[0].stats.sampling_rate
    np.testing.assert_array_equal(tr.data, ref.data, err_msg=nslc)
    assert tr.data.dtype.kind == "i"
    assert (tr.stats.starttime, tr.stats.endtime) == (start, end), nslc
    assert tr.stats.npts == round((end - start) * 100) + 1


def sds_file(settings, nslc: str, day: UTCDateTime = T1):
    net, sta, loc, cha = nslc.split(".")
    typ = settings.ingest.sds_type
    return (settings.archive_dir / f"{day.year}" / net / sta / f"{cha}.{typ}"
            / f"{nslc}.{typ}.{day.year}.{day.julday:03d}")


def archive_files(settings) -> list[Path]:
    root = settings.archive_dir
    return sorted(p for p in root.rglob("*") if p.is_file() and not p.name.startswith(".")) if root.exists() else []


def normalized(commands: list[str]) -> list[str]:
    return [" ".join(c.split()) for c in commands]


def ingest_errors(settings) -> list[IngestError]:
    with session_scope(settings.database_url) as s:
        rows = list(s.scalars(select(IngestError)))
        s.expunge_all()
    return rows


# --------------------------------------------------------------------------- SeedLink
def test_seedlink_window_round_trip_and_repeat(z7, original):
    nslc = "Z7.DYJN..HHZ"
    with SeedLinkTestServer(original) as sl:
        summary = tasks.ingest_seedlink(z7, f"127.0.0.1:{sl.port}", ["Z7 DYJN -- HHZ"], T1, T2)

        # obspy's client really spoke SeedLink to the server, for that stream and window only
        cmds = normalized(sl.commands)
        assert cmds[0] == "HELLO"
        assert cmds[1:5] == ["STATION DYJN Z7", "SELECT HHZ",
                             "TIME 2014,8,24,0,6,10 2014,8,24,0,6,20", "END"]
        assert {r.id for r in sl.sent} == {nslc}
        assert min(r.start for r in sl.sent) <= T1 and max(r.end for r in sl.sent) >= T2
        served = len(sl.sent)

        assert summary["source"] == f"seedlink://127.0.0.1:{sl.port}"
        assert summary["traces_received"] == 1
        assert summary["accepted"] == 1 and summary["rejected"] == 0
        assert summary["channels"] == [nslc]
        assert summary["new_samples"] == 1001
        assert_round_trip(z7, original, nslc, T1, T2)

        avail = tasks.availability(z7)["channels"]
        assert [a["nslc"] for a in avail] == [nslc]
        assert avail[0]["samples"] == 1001 and avail[0]["segments"] == 1 and avail[0]["gaps"] == 0
        assert avail[0]["first"] == pytest.approx(T1.timestamp)
        assert avail[0]["last"] == pytest.approx(T2.timestamp)

        path = sds_file(z7, nslc)
        before = path.read_bytes()

        # the same request again: the server is asked again, but nothing changes
        again = tasks.ingest_seedlink(z7, f"127.0.0.1:{sl.port}", ["Z7 DYJN -- HHZ"], T1, T2)
        assert len(sl.sent) == 2 * served
    assert again["traces_received"] == 1 and again["rejected"] == 0
    assert again["already_ingested"] == 1 or (again["accepted"] == 1 and again["new_samples"] == 0)
    assert again.get("new_samples", 0) == 0 and again.get("day_files_written", 0) == 0
    assert path.read_bytes() == before
    assert tasks.availability(z7)["channels"] == avail
    assert ingest_errors(z7) == []


def test_seedlink_channel_wildcard_and_window_end_inside_a_second(z7, original):
    """``HH?`` gives the three components; an end time with a fraction of a second is honoured.

    SeedLink ``TIME`` windows have whole seconds: the end must be rounded up, not truncated,
    or the records starting between the whole second and the end are never sent.
    """
    with SeedLinkTestServer(original) as sl:
        # end exactly at the first sample of a record that starts inside a second
        end = next(r.start for r in sl.records
                   if r.id == "Z7.DYJN..HHZ" and r.start > T1 + 3 and r.start.microsecond)
        summary = tasks.ingest_seedlink(z7, sl.address, ["Z7 DYJN -- HH?", "Z7.DYJS..HHZ"], T1, end)
        assert {r.id for r in sl.sent} == {"Z7.DYJN..HHE", "Z7.DYJN..HHN", "Z7.DYJN..HHZ", "Z7.DYJS..HHZ"}
        assert "SELECT HH?" in normalized(sl.commands)
    ids = ["Z7.DYJN..HHE", "Z7.DYJN..HHN", "Z7.DYJN..HHZ", "Z7.DYJS..HHZ"]
    assert summary["traces_received"] == 4 and summary["accepted"] == 4  # one input per channel
    assert summary["channels"] == ids
    for nslc in ids:
        assert_round_trip(z7, original, nslc, T1, end)


def test_seedlink_keeps_only_the_requested_location(z7, original):
    """A SeedLink selector without location matches every location code: ``--`` must still
    mean the empty one (here a ``00`` stream without metadata would get the request rejected)."""
    other = original.select(id="Z7.DYJN..HHZ").copy()
    other[0].stats.location = "00"
    other[0].data = other[0].data + 1
    with SeedLinkTestServer(original + other) as sl:
        summary = tasks.ingest_seedlink(z7, sl.address, ["Z7 DYJN -- HHZ"], T1, T2)
        assert {r.id for r in sl.sent} == {"Z7.DYJN..HHZ", "Z7.DYJN.00.HHZ"}  # what SeedLink does
    assert summary["rejected"] == 0 and summary["accepted"] == 1
    assert summary["channels"] == ["Z7.DYJN..HHZ"]
    assert_round_trip(z7, original, "Z7.DYJN..HHZ", T1, T2)
    assert archive_files(z7) == [sds_file(z7, "Z7.DYJN..HHZ")]


def test_seedlink_window_without_data_is_empty_not_an_error(z7, original):
    with SeedLinkTestServer(original) as sl:
        summary = tasks.ingest_seedlink(z7, sl.address, ["Z7 DYJN -- HHZ"], T1 + 3600, T2 + 3600)
        assert "TIME 2014,8,24,1,6,10 2014,8,24,1,6,20" in normalized(sl.commands)
        assert sl.sent == []
    assert summary["traces_received"] == 0 and summary["accepted"] == 0
    assert archive_files(z7) == []
    assert ingest_errors(z7) == []


# --------------------------------------------------------------------------- FDSN dataselect
def _post_lines(ws: FDSNDataselectTestServer) -> list[list[str]]:
    posts = [(p, b) for m, p, b in ws.requests if m == "POST"]
    assert len(posts) == 1 and posts[0][0] == "/fdsnws/dataselect/1/query", ws.requests
    return [ln.split() for ln in posts[0][1].decode().splitlines() if ln.strip() and "=" not in ln]


def test_fdsn_bulk_post_round_trip(z7, original):
    with FDSNDataselectTestServer(original) as ws:
        summary = tasks.ingest_fdsn(z7, ws.url, ["Z7 DYJN -- HH?", "Z7.DYJS..HHZ"], T1, T2)
        lines = _post_lines(ws)
        assert ws.responses == [(200, ws.responses[0][1])]
    assert [ln[:4] for ln in lines] == [["Z7", "DYJN", "--", "HH?"], ["Z7", "DYJS", "--", "HHZ"]]
    assert all(UTCDateTime(ln[4]) == T1 and UTCDateTime(ln[5]) == T2 for ln in lines)
    ids = ["Z7.DYJN..HHE", "Z7.DYJN..HHN", "Z7.DYJN..HHZ", "Z7.DYJS..HHZ"]
    assert summary["source"] == ws.url
    assert summary["traces_received"] == 4 and summary["accepted"] == 4 and summary["rejected"] == 0
    assert summary["channels"] == ids and summary["new_samples"] == 4 * 1001
    for nslc in ids:
        assert_round_trip(z7, original, nslc, T1, T2)
    assert {a["nslc"] for a in tasks.availability(z7)["channels"]} == set(ids)


@pytest.mark.parametrize("cha, expected", [("HHZ", ["HHZ"]), ("HHZ,HHN", ["HHN", "HHZ"])])
def test_fdsn_full_query_url_round_trip(z7, original, cha, expected):
    """A complete GET query URL and no selectors (a list in ``cha`` becomes one bulk line each)."""
    with FDSNDataselectTestServer(original) as ws:
        url = (f"{ws.url}/fdsnws/dataselect/1/query?net=Z7&sta=DYJS&loc=--&cha={cha}"
               "&start=2014-08-24T00:06:10&end=2014-08-24T00:06:20")
        summary = tasks.ingest_fdsn(z7, url)
        lines = _post_lines(ws)
    assert sorted(ln[3] for ln in lines) == expected
    assert all(ln[:3] == ["Z7", "DYJS", "--"] for ln in lines)
    ids = [f"Z7.DYJS..{c}" for c in expected]
    assert summary["source"] == url
    assert summary["accepted"] == len(ids) and summary["channels"] == ids
    for nslc in ids:
        assert_round_trip(z7, original, nslc, T1, T2)


def test_fdsn_whole_records_are_cut_to_the_window(z7, original):
    """Data centres answer with whole miniSEED records; only the requested window is archived."""
    with FDSNDataselectTestServer(original, whole_records=True) as ws:
        summary = tasks.ingest_fdsn(z7, ws.url, ["Z7 DYJN -- HHZ"], T1, T2)
    assert summary["accepted"] == 1 and summary["new_samples"] == 1001
    assert_round_trip(z7, original, "Z7.DYJN..HHZ", T1, T2)


def test_fdsn_no_data_is_empty_not_an_error(z7, original):
    with FDSNDataselectTestServer(original) as ws:
        summary = tasks.ingest_fdsn(z7, ws.url, ["Z7 NOPE -- HHZ"], T1, T2)
        assert [code for code, _ in ws.responses] == [204]
    assert summary["traces_received"] == 0 and summary["accepted"] == 0
    assert ingest_errors(z7) == []


# --------------------------------------------------------------------------- rejected data
@pytest.mark.parametrize("kind", ["seedlink", "fdsn"])
def test_channel_without_metadata_is_rejected_and_quarantined(z7, original, kind):
    alien = original.select(id="Z7.DYJN..HHZ").copy()
    alien[0].stats.station = "ZZZZ"
    served = original + alien
    server = SeedLinkTestServer(served) if kind == "seedlink" else FDSNDataselectTestServer(served)
    with server:
        if kind == "seedlink":
            summary = tasks.ingest_seedlink(z7, server.address, ["Z7 ZZZZ -- HHZ"], T1, T2)
        else:
            summary = tasks.ingest_fdsn(z7, server.url, ["Z7 ZZZZ -- HHZ"], T1, T2)
    assert summary["traces_received"] == 1
    assert summary["rejected"] == 1 and summary["accepted"] == 0
    assert summary["rejections"][0]["kind"] == "unknown_channel"
    assert "Z7.ZZZZ..HHZ" in summary["rejections"][0]["message"]

    rows = ingest_errors(z7)
    assert [r.kind for r in rows] == ["unknown_channel"]
    assert str(server.port) in rows[0].source and not rows[0].resolved
    q = rows[0].quarantine_path
    assert q and z7.quarantine_dir in Path(q).parents
    quarantined = read(q, format="MSEED")
    assert [tr.id for tr in quarantined] == ["Z7.ZZZZ..HHZ"]
    ref = alien[0].slice(T1, T2, nearest_sample=False)
    np.testing.assert_array_equal(quarantined[0].data, ref.data)
    assert list(z7.quarantine_dir.rglob("*.mseed")) == [Path(q)]
    # nothing reached the archive or the availability table
    assert archive_files(z7) == []
    assert tasks.availability(z7)["channels"] == []


# --------------------------------------------------------------------------- unreachable servers
def test_one_channel_without_metadata_does_not_hold_back_the_others(z7, original):
    """Each channel of a network answer is its own input: the good one lands, the bad one is quarantined."""
    alien = original.select(id="Z7.DYJN..HHZ").copy()
    alien[0].stats.station = "ZZZZ"
    with FDSNDataselectTestServer(original + alien) as server:
        summary = tasks.ingest_fdsn(z7, server.url, ["Z7 ZZZZ -- HHZ", "Z7 DYJN -- HHZ"], T1, T2)
    assert summary["accepted"] == 1 and summary["rejected"] == 1
    assert summary["channels"] == ["Z7.DYJN..HHZ"]
    assert [r.kind for r in ingest_errors(z7)] == ["unknown_channel"]
    assert_round_trip(z7, original, "Z7.DYJN..HHZ", T1, T2)


@pytest.mark.parametrize("kind", ["seedlink", "fdsn"])
def test_unreachable_server_is_a_clear_error(z7, kind):
    port = free_port()
    t0 = time.monotonic()
    with pytest.raises(IngestRejected) as err:
        if kind == "seedlink":
            tasks.ingest_seedlink(z7, f"127.0.0.1:{port}", ["Z7 DYJN -- HHZ"], T1, T2)
        else:
            tasks.ingest_fdsn(z7, f"http://127.0.0.1:{port}", ["Z7 DYJN -- HHZ"], T1, T2)
    assert time.monotonic() - t0 < 5
    assert err.value.kind == "read_error"
    assert f"127.0.0.1:{port}" in str(err.value)
    assert "refused" in str(err.value).lower()


def test_silent_server_times_out_naming_the_server(original):
    sel = [parse_selector("Z7 DYJN -- HHZ")]
    with SilentTCPServer() as srv:
        t0 = time.monotonic()
        with pytest.raises(IngestRejected) as err:
            fetch_seedlink(srv.address, sel, T1, T2, timeout=1)
        assert time.monotonic() - t0 < 5
        assert f"seedlink://{srv.address}" in str(err.value) and "no answer within 1 s" in str(err.value)

        t0 = time.monotonic()
        with pytest.raises(IngestRejected) as err:
            fetch_fdsn(f"http://{srv.address}", sel, T1, T2, timeout=1)
        assert time.monotonic() - t0 < 5
        assert f"http://{srv.address}" in str(err.value) and "Timed Out" in str(err.value)


def test_seedlink_stalling_mid_transfer_is_an_error_not_partial_data(original):
    """obspy's client returns what it got when the server stops sending; that is data loss."""
    with SeedLinkTestServer(original, stall_after=2) as sl:
        t0 = time.monotonic()
        with pytest.raises(IngestRejected) as err:
            fetch_seedlink(sl.address, [("Z7", "DYJN", "", "HHZ")], T1, T2, timeout=1)
        assert time.monotonic() - t0 < 8
        assert len(sl.sent) == 2
    assert sl.address in str(err.value) and "no complete answer within 1 s" in str(err.value)


def test_seedlink_refused_station_names_the_reason(original):
    with SeedLinkTestServer(original, known_stations_only=True) as sl:
        t0 = time.monotonic()
        with pytest.raises(IngestRejected) as err:
            fetch_seedlink(sl.address, [("Z7", "NOPE", "", "HHZ")], T1, T2, timeout=1)
        assert time.monotonic() - t0 < 8
        assert "STATION NOPE Z7" in normalized(sl.commands)
    assert sl.address in str(err.value) and "Z7.NOPE..HHZ" in str(err.value)
    assert "no stations accepted" in str(err.value)


# --------------------------------------------------------------------------- request parsing
def test_parse_selector_forms():
    assert parse_selector("Z7 DYJN -- HHZ") == ("Z7", "DYJN", "", "HHZ")
    assert parse_selector("Z7.DYJN..HH?") == ("Z7", "DYJN", "", "HH?")
    assert parse_selector("Z7 DYJN HHZ") == ("Z7", "DYJN", "", "HHZ")
    assert parse_selector("IM.I53H1.00.BDF") == ("IM", "I53H1", "00", "BDF")
    with pytest.raises(ValueError):
        parse_selector("Z7 DYJN")


def test_fdsn_request_from_query_url():
    base, bulk = fdsn_request("http://host:8080/fdsnws/dataselect/1/query?network=Z7&station=DYJN"
                              "&location=--&channel=HHZ,HHE&starttime=2014-08-24T00:06:10"
                              "&endtime=2014-08-24T00:06:20")
    assert base == "http://host:8080"
    assert bulk == [("Z7", "DYJN", "--", "HHZ", T1, T2), ("Z7", "DYJN", "--", "HHE", T1, T2)]
    base, bulk = fdsn_request("http://host:8080", [("Z7", "DYJN", "", "HHZ")], T1, T2)
    assert base == "http://host:8080" and bulk == [("Z7", "DYJN", "--", "HHZ", T1, T2)]
    with pytest.raises(ValueError, match="start/end"):  # no times: an error, not "now"
        fdsn_request("http://host/fdsnws/dataselect/1/query?net=Z7&sta=DYJN&cha=HHZ")
