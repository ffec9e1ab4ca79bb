"""Faults and bad input at the FDSN services (issue 13, defects 6 and 7): large POST requests.

Against a live ``idc serve`` (uvicorn on 127.0.0.1) over the Z7 stations and a few minutes of
their Iceland waveforms, on SQLite and on a throwaway PostgreSQL:

* fdsnws-station POST bodies of 1,000+ distinct selection lines are answered (SQLite refused
  one ``OR`` of 1,000 terms: "Expression tree is too large", an HTTP 500);
* a failing store query is logged as one line without SQL (each such failure wrote ~1 MB);
* fdsnws-dataselect merges repeated and overlapping lines (each sample is sent once: 43,199
  copies of one line gave a 531 MB answer) and streams its answer;
* bodies over ``[service] post_max_bytes`` / ``post_max_lines`` and answers over
  ``dataselect_max_samples`` get HTTP 413 naming the limit, before the body is read.
"""
from __future__ import annotations

import io
import logging
import socket
import time

import httpx
import numpy as np
import pytest
from obspy import Stream, Trace, UTCDateTime, read
from obspy.clients.filesystem.sds import Client as SDSClient
from sqlalchemy import text

from pipeline import tasks
from pipeline.store import db
from tests import PROJECT_ROOT
from tests.conftest import DATA, make_settings
from tests.test_service_fdsn import LiveServer

Z7 = PROJECT_ROOT / "stations" / "Z7.xml"
ICELAND = sorted((DATA / "iceland" / "waveforms").glob("*.m"))[:3]
MAX_BYTES = 1024 * 1024  # [service] post_max_bytes of the test server
MAX_LINES = 5000  # [service] post_max_lines
MAX_SAMPLES = 100_000  # [service] dataselect_max_samples
MIDNIGHT = UTCDateTime("2014-08-24T00:00:00")
STATIONS = ["DYJN", "DYJS", "DYSA", "FJAS", "FLUR", "HRIM", "KVER", "LIND", "NOHR", "RIFR", "SOSU", "TOHR"]


def _synthetic_across_midnight(path) -> Trace:
    """90 s of Z7.KVER..HHZ at 100 Hz from 23:59:00 (the Iceland files start at 00:01:00)."""
    rng = np.random.default_rng(13)
    tr = Trace(rng.integers(-5000, 5000, 9001).astype(np.int32),
               header={"network": "Z7", "station": "KVER", "location": "", "channel": "HHZ",
                       "sampling_rate": 100.0, "starttime": MIDNIGHT - 60})
    tr.write(str(path), format="MSEED", encoding="STEIM2", reclen=512)
    return tr


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def served(request, tmp_path_factory):
    url = ""
    if request.param == "postgresql":
        url = request.getfixturevalue("pg_server").create_database(f"limits_{int(time.time() * 1000) % 10**9}")
    home = tmp_path_factory.mktemp(f"limits_{request.param}")
    settings = make_settings(home, url, **{"service.post_max_bytes": MAX_BYTES, "service.post_max_lines": MAX_LINES,
                                           "service.dataselect_max_samples": MAX_SAMPLES})
    db.upgrade(settings.database_url)
    tasks.load_stations(settings, [str(Z7)])
    synthetic = _synthetic_across_midnight(home / "kver_midnight.mseed")
    res = tasks.ingest_files(settings, ICELAND + [home / "kver_midnight.mseed"], progress=False)
    assert res["accepted"] == len(ICELAND) + 1
    with LiveServer(settings) as srv:
        srv.settings = settings
        srv.synthetic = synthetic
        yield srv


def _post(served, service: str, body: str) -> httpx.Response:
    return httpx.post(f"{served.url}/fdsnws/{service}/1/query", content=body.encode(), timeout=120)


def _archive(served, sta, cha, t0, t1) -> Stream:
    st = SDSClient(str(served.settings.archive_dir)).get_waveforms("Z7", sta, "", cha, t0, t1)
    return st.trim(t0, t1, nearest_sample=False)


def _samples(st: Stream) -> dict[tuple[str, str], list[tuple[float, int]]]:
    """(station, channel) → every (time, value) sample of ``st`` in time order."""
    out: dict[tuple[str, str], list] = {}
    for tr in st:
        out.setdefault((tr.stats.station, tr.stats.channel), []).extend(
            zip(np.round(tr.times("timestamp"), 6).tolist(), tr.data.tolist()))
    return {k: sorted(v) for k, v in out.items()}


# --------------------------------------------------------------------------- fdsnws-station
def test_station_post_of_thousands_of_lines_is_answered(served):
    """1,236 distinct lines (36 real channels, 1,200 unknown stations): the 36 channels; the
    unknown ones alone: 204. HEAD answered 500 on SQLite (one OR of 1,236 terms)."""
    real = [f"Z7 {sta} -- {cha} 2014-08-{1 + i % 20:02d} 2014-09-{1 + i % 25:02d}"
            for i, (sta, cha) in enumerate((s, c) for s in STATIONS for c in ("HHZ", "HHN", "HHE"))]
    fake = [f"Z7 X{i:04d} -- HHZ 2014-01-01 2015-01-01" for i in range(1200)]
    r = _post(served, "station", "level=channel\nformat=text\n" + "\n".join(fake[:600] + real + fake[600:]) + "\n")
    assert r.status_code == 200, r.text[:500]
    got = sorted(tuple(line.split("|")[1:4:2]) for line in r.text.splitlines()[1:])
    assert got == sorted((s, c) for s in STATIONS for c in ("HHZ", "HHN", "HHE"))
    r = _post(served, "station", "\n".join(fake) + "\n")
    assert r.status_code == 204, r.text[:500]
    # station level, the same lines: the 12 stations once each
    r = _post(served, "station", "format=text\n" + "\n".join(real + fake) + "\n")
    assert r.status_code == 200, r.text[:500]
    assert sorted(line.split("|")[1] for line in r.text.splitlines()[1:]) == STATIONS


def test_station_matchtimeseries_with_thousands_of_windows(served):
    """1,000 disjoint one-second windows of one channel: matchtimeseries asks the archive in
    batches; the channel has data in some of them (00:01:00-00:01:51), in none a day later."""
    def body(day: UTCDateTime) -> str:
        lines = [f"Z7 KVER -- HHZ {day + 2 * i} {day + 2 * i + 1}" for i in range(1000)]
        return "level=channel\nformat=text\nmatchtimeseries=true\n" + "\n".join(lines) + "\n"

    r = _post(served, "station", body(MIDNIGHT))
    assert r.status_code == 200, r.text[:500]
    assert [tuple(line.split("|")[1:4:2]) for line in r.text.splitlines()[1:]] == [("KVER", "HHZ")]
    assert _post(served, "station", body(MIDNIGHT + 86400)).status_code == 204


# --------------------------------------------------------------------------- no SQL in the log
class _Keep(logging.Handler):
    def __init__(self):
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record):
        self.records.append(record)


@pytest.fixture
def log_records():
    """Warnings and errors of every logger, the server's own (uvicorn does not propagate) included."""
    keep = _Keep()
    loggers = [logging.getLogger(), logging.getLogger("uvicorn")]
    for lg in loggers:
        lg.addHandler(keep)
    try:
        yield keep.records
    finally:
        for lg in loggers:
            lg.removeHandler(keep)


def test_failing_store_query_is_logged_as_one_line_without_sql(settings, log_records):
    db.upgrade(settings.database_url)
    tasks.load_stations(settings, [str(Z7)])
    with LiveServer(settings) as srv:
        with db.get_engine(settings.database_url).begin() as conn:
            conn.execute(text("ALTER TABLE site RENAME TO site_gone"))
        r = httpx.get(f"{srv.url}/fdsnws/station/1/query", params={"net": "Z7", "sta": "KVER,FLUR"}, timeout=30)
        time.sleep(0.2)  # the server's log after the answer
    assert r.status_code == 500
    assert r.text.startswith("Error 500: Internal Server Error\n") and "SELECT" not in r.text.upper()
    assert log_records, "the failure was not logged"
    texts = []
    for rec in log_records:
        t = rec.getMessage() + (rec.exc_text or "")
        if rec.exc_info:
            t += logging.Formatter().formatException(rec.exc_info)
        texts.append(t)
    for t in texts:
        assert "\n" not in t.strip(), t[:2000]
        assert "SELECT" not in t.upper() and "KVER" not in t and len(t) < 400, t[:2000]
    assert any("site" in t and ("no such table" in t or "does not exist" in t) for t in texts), texts


# --------------------------------------------------------------------------- fdsnws-dataselect
LINE = "Z7 KVER -- HHZ 2014-08-24T00:01:05 2014-08-24T00:02:05"


def test_dataselect_duplicate_lines_give_the_bytes_of_one(served):
    """3,000 copies of one 60 s line (written two ways): the bytes of the single line."""
    one = _post(served, "dataselect", LINE + "\n")
    assert one.status_code == 200 and len(one.content) > 4096
    other = LINE.replace(":05 ", ":05.000000 ") + "\n"  # the same window written otherwise
    many = _post(served, "dataselect", (LINE + "\n" + other) * 1500)
    assert many.status_code == 200
    assert many.content == one.content


def test_dataselect_overlapping_lines_give_each_sample_once(served):
    body = ("Z7 KVER -- HHZ 2014-08-24T00:01:10 2014-08-24T00:01:30\n"
            "Z7 KVER -- HHZ 2014-08-24T00:01:20 2014-08-24T00:01:40\n"   # overlaps the first
            "Z7 KVER -- HHZ 2014-08-24T00:01:40 2014-08-24T00:01:45\n"   # touches the second
            "Z7 KVER * HH? 2014-08-24T00:01:25 2014-08-24T00:01:35\n")   # another pattern, same channel
    r = _post(served, "dataselect", body)
    assert r.status_code == 200
    got = _samples(read(io.BytesIO(r.content)))
    for (sta, cha), samples in got.items():
        times = [t for t, _ in samples]
        assert len(times) == len(set(times)), f"{sta} {cha}: samples sent twice"
    t = UTCDateTime("2014-08-24T00:01:00")
    want = {("KVER", "HHZ"): _archive(served, "KVER", "HHZ", t + 10, t + 45),
            ("KVER", "HHN"): _archive(served, "KVER", "HHN", t + 25, t + 35),
            ("KVER", "HHE"): _archive(served, "KVER", "HHE", t + 25, t + 35)}
    assert set(got) == set(want)
    for key, st in want.items():
        assert got[key] == _samples(st)[key]


def test_dataselect_answer_is_streamed(served):
    with httpx.stream("POST", f"{served.url}/fdsnws/dataselect/1/query",
                      content=b"Z7 * -- HHZ 2014-08-24T00:01:00 2014-08-24T00:01:20\n") as r:
        assert r.status_code == 200
        assert r.headers.get("transfer-encoding") == "chunked" and "content-length" not in r.headers
        st = read(io.BytesIO(r.read()))
    assert sorted({tr.stats.station for tr in st}) == STATIONS


def test_dataselect_across_midnight_sends_each_sample_once(served):
    """The answer is read per UTC day: a window across midnight gives the archive's samples,
    the one at midnight once; longestonly/minimumlength judge the run across midnight whole."""
    syn = served.synthetic
    for t0, t1 in ((MIDNIGHT - 30, MIDNIGHT + 10), (MIDNIGHT - 1, MIDNIGHT), (MIDNIGHT, MIDNIGHT + 1)):
        r = httpx.get(f"{served.url}/fdsnws/dataselect/1/query",
                      params={"net": "Z7", "sta": "KVER", "loc": "--", "cha": "HHZ", "start": str(t0), "end": str(t1)})
        assert r.status_code == 200
        assert _samples(read(io.BytesIO(r.content)))[("KVER", "HHZ")] == _samples(
            Stream([syn.slice(t0, t1, nearest_sample=False)]))[("KVER", "HHZ")]
    params = {"net": "Z7", "sta": "KVER", "cha": "HHZ", "start": str(MIDNIGHT - 120), "end": str(MIDNIGHT + 120)}
    whole = _samples(Stream([syn]))
    for extra in ({"longestonly": "true"}, {"minimumlength": "60"}):
        r = httpx.get(f"{served.url}/fdsnws/dataselect/1/query", params={**params, **extra})
        assert r.status_code == 200
        assert _samples(read(io.BytesIO(r.content))) == whole, extra
    r = httpx.get(f"{served.url}/fdsnws/dataselect/1/query", params={**params, "minimumlength": "100"})
    assert r.status_code == 204


def test_dataselect_over_the_sample_limit_is_413_naming_it(served):
    t0, t1 = UTCDateTime("2014-08-24T00:01:00"), UTCDateTime("2014-08-24T00:02:00")
    r = _post(served, "dataselect", f"Z7 * -- HH? {t0} {t1}\n")
    n = sum(tr.stats.npts for sta in STATIONS for cha in ("HHZ", "HHN", "HHE")
            for tr in _archive(served, sta, cha, t0, t1))
    assert n > MAX_SAMPLES
    assert r.status_code == 413 and r.text.startswith("Error 413")
    assert f"{n} samples" in r.text and f"{MAX_SAMPLES} ([service] dataselect_max_samples)" in r.text
    assert _post(served, "dataselect", f"Z7 KVER -- HH? {t0} {t1}\n").status_code == 200


# --------------------------------------------------------------------------- body and line limits
def _raw_post(port: int, path: str, headers: list[str], parts: list[bytes], timeout: float = 10) -> tuple[int, str]:
    """Send a request head and ``parts`` of its body (not necessarily all of it) and read the
    answer without closing the sending side: (status, body)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall((f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n" + "".join(h + "\r\n" for h in headers)
                   + "\r\n").encode())
        for p in parts:
            s.sendall(p)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = s.recv(65536)
            assert chunk, "connection closed without an answer"
            data += chunk
        head, body = data.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        length = int(next(v for k, _, v in (ln.partition(": ") for ln in lines[1:]) if k.lower() == "content-length"))
        while len(body) < length:
            chunk = s.recv(65536)
            assert chunk, "connection closed within the answer"
            body += chunk
        return int(lines[0].split()[1]), body.decode()


@pytest.mark.parametrize("service", ["station", "dataselect"])
def test_body_over_the_byte_limit_is_413_before_it_is_read(served, service):
    port = int(served.url.rsplit(":", 1)[1])
    path = f"/fdsnws/{service}/1/query"
    start = (LINE + "\n").encode() * 20
    # announced by Content-Length: answered although only 1 KiB of the 10 MB is ever sent
    t = time.perf_counter()
    status, body = _raw_post(port, path, ["Content-Type: text/plain", f"Content-Length: {10 * 1024 * 1024}"],
                             [start[:1024]])
    assert status == 413 and f"limit of {MAX_BYTES} bytes ([service] post_max_bytes)" in body
    assert body.startswith("Error 413: Request Entity Too Large") and f"{10 * 1024 * 1024} bytes" in body
    # chunked, no length: answered once the limit is passed, the body never finished
    chunk = start * (64 * 1024 // len(start) + 1)
    frames = [f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"] * (MAX_BYTES // len(chunk) + 2)
    status, body = _raw_post(port, path, ["Content-Type: text/plain", "Transfer-Encoding: chunked"], frames)
    assert status == 413 and f"limit of {MAX_BYTES} bytes ([service] post_max_bytes)" in body
    assert time.perf_counter() - t < 10


def test_body_over_the_line_limit_is_413(served):
    r = _post(served, "station", "\n".join(f"Z7 X{i:04d} -- HHZ 2014-01-01 2015-01-01" for i in range(MAX_LINES + 1)))
    assert r.status_code == 413
    assert f"{MAX_LINES + 1} lines, more than the limit of {MAX_LINES} lines ([service] post_max_lines)" in r.text
    # at the limit: answered
    r = _post(served, "station", "\n".join(f"Z7 X{i:04d} -- HHZ 2014-01-01 2015-01-01" for i in range(MAX_LINES)))
    assert r.status_code == 204
