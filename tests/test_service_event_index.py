"""fdsnws-event from the in-memory index gives the answers of the SQL path, and stays fresh.

Reference: the SQL path as it was before the index (:class:`EventQuery` without caches, the
access rule in SQL, obspy ``Catalog`` objects written by obspy's QuakeML writer, ``to_text``).
Index: :mod:`pipeline.service.fdsn.index` (numpy selection, pre-rendered pieces). The store holds
real data (the IDC's 1995 REB in two versions — arrivals, origin errors, event type, region
names, mb and ML — and the NCSN Calaveras catalogue as yearly SEL3 products) and a synthetic
bench store (``bench/fdsn_event_throughput.py``: 2 000 events, mb rounded to 0.1 so that many sit
exactly on the public rule's mb 4.0 threshold). The access policy is config/default.toml's
(the public may read only the REB events with mb >= 4.0 older than 2 days; other catalogs: 401),
so both the public and an unrestricted principal are compared. Answers must be byte-identical
(status too) except the QuakeML ``creationTime``.

Also: the download audit writer (batched, flushed at shutdown), the time parser's fast path,
and the load generator's HTTP parser of the benchmark.
"""
from __future__ import annotations

import asyncio
import io
import random
import re
import sys
import time

import pytest
from fastapi.testclient import TestClient
from obspy import UTCDateTime
from sqlalchemy import func, select

from pipeline.service.app import create_app
from pipeline.service.auth import Principal, event_filter, flush_audit
from pipeline.service.fdsn import event as ev
from pipeline.service.fdsn.index import index_of
from pipeline.service.fdsn.params import FDSNError, parse_params, parse_time
from pipeline.settings import DEFAULT_CONFIG, load_settings
from pipeline.store import db
from pipeline.store import models as m
from tests import PROJECT_ROOT
from tests.conftest import make_settings
from tests.test_service_fdsn import REB1, REB2, _calaveras_products, store_reb

CREATION = re.compile(rb"(<eventParameters [^>]*>\n    <creationInfo>\n.*?<creationTime>)([^<]*)(</creationTime>)",
                      re.S)
CAP = 300  # [service] event_max_results here: some queries without limit get 413


def _settings(home, url="", **overrides):
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith("IDC")}
    env["IDC_HOME"] = str(home)
    if url:
        env["IDC_DATABASE_URL"] = url
    ov = {"access.rate_limit.public_rate_per_s": 0.0, "service.event_max_results": CAP,
          "service.event_generation_check_s": 0.0}
    ov.update(overrides)
    return load_settings(DEFAULT_CONFIG, env=env, overrides=ov)


def _fill(cfg):
    db.upgrade(cfg.database_url)
    assert store_reb(cfg, REB1, "reb-v1") == (1, True)
    assert store_reb(cfg, REB2, "reb-v2") == (2, True)
    _calaveras_products(cfg)
    return fill_store_shifted(cfg.database_url, 2000)


def fill_store_shifted(url, n_events):
    """The bench store's events (ids as the service names them) in a store that has products."""
    import math
    from sqlalchemy import insert

    from pipeline.store.models import utcnow

    sys.path.insert(0, str(PROJECT_ROOT / "bench"))
    from fdsn_event_throughput import DAY, T0

    rng = random.Random(7)
    engine = db.get_engine(url)
    with engine.begin() as conn:
        p0 = conn.execute(select(func.max(m.Product.id))).scalar() or 0
        e0 = max(conn.execute(select(func.max(m.Event.evid))).scalar() or 0,
                 conn.execute(select(func.max(m.Origin.orid))).scalar() or 0,
                 conn.execute(select(func.max(m.Netmag.magid))).scalar() or 0)
        now = utcnow()
        per = 100
        n_products = math.ceil(n_events / per)
        conn.execute(insert(m.Product), [dict(id=p0 + p + 1, type="REB" if p % 4 else "SEL3",
                                              window_start=T0 + p * DAY, window_end=T0 + (p + 1) * DAY, version=1,
                                              config_hash="b", software_version="b", input_fingerprint="b",
                                              created=now, runs=1, summary={}) for p in range(n_products)])
        k = e0
        evs, ors, mags = [], [], []
        for p in range(n_products):
            for _ in range(per):
                k += 1
                t = T0 + p * DAY + rng.random() * DAY
                lat = math.degrees(math.asin(2 * rng.random() - 1))
                mb = round(3.0 - math.log10(1 - rng.random() * (1 - 10 ** -3.5)), 1)
                evs.append(dict(evid=k, product_id=p0 + p + 1, prefor=k, evname="", public_id="", auth="IDC",
                                lddate=now))
                ors.append(dict(orid=k, product_id=p0 + p + 1, evid=k, lat=lat, lon=rng.uniform(-180, 180),
                                depth=min(700.0, rng.expovariate(1 / 35.0)), time=t, nass=10, ndef=8, ndp=0,
                                etype=rng.choice(["", "", "ke", "kn"]), dtype="f", mb=mb, algorithm="bench",
                                auth="IDC", lddate=now))
                # most events mb; some ML first (the preferred magnitude is then not the rule's mb)
                if rng.random() < 0.2:
                    mags.append(dict(magid=k * 2, product_id=p0 + p + 1, orid=k, evid=k, magtype="ML", nsta=3,
                                     magnitude=mb + 0.3, auth="IDC", lddate=now))
                if rng.random() < 0.95:
                    mags.append(dict(magid=k * 2 + 1, product_id=p0 + p + 1, orid=k, evid=k, magtype="mb", nsta=5,
                                     magnitude=mb, auth="IDC", lddate=now))
        conn.execute(insert(m.Event), evs)
        conn.execute(insert(m.Origin), ors)
        conn.execute(insert(m.Netmag), mags)
    return n_products


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store(request, tmp_path_factory):
    url = ""
    if request.param == "postgresql":
        url = request.getfixturevalue("pg_server").create_database(f"evindex_{int(time.time() * 1000) % 10**9}")
    home = tmp_path_factory.mktemp(f"evindex_{request.param}")
    cfg = _settings(home, url)
    _fill(cfg)
    app = create_app(cfg)
    return app, cfg


def _strip(body: bytes) -> bytes:
    return CREATION.sub(rb"\1-\3", body, count=1)


def reference(st, query: dict, principal) -> tuple[int, bytes]:
    """The SQL path without caches, obspy's QuakeML writer."""
    try:
        params = parse_params(list(query.items()), ev.SPECS)
        eq = ev.EventQuery(params, st.settings)
        eq.access = event_filter(principal)
        agency = st.settings.service.agency_id
        with st.session() as session:
            rows = [r for r in eq.run(session) if principal.may_read(r["type"])]
            if not rows:
                return 204, b""
            if params["format"] == "text":
                return 200, ev.to_text(rows, agency).encode()
            cat = ev.to_catalog(session, rows, all_origins=False, all_magnitudes=False, arrivals=False,
                                magtype=None, agency=agency)
    except FDSNError as exc:
        return exc.status, exc.message.encode()
    buf = io.BytesIO()
    cat.write(buf, format="QUAKEML")
    return 200, buf.getvalue()


def indexed(st, query: dict, principal) -> tuple[int, bytes]:
    index = index_of(st)
    try:
        params = parse_params(list(query.items()), ev.SPECS)
        eq = ev.EventQuery(params, st.settings)
        snap = index.snapshot(index.generation(), st.session)
        picks = [(b, i) for b, i in index.select(snap, eq, principal) if principal.may_read(b.type)]
    except FDSNError as exc:
        return exc.status, exc.message.encode()
    if not picks:
        return 204, b""
    body = index.text(picks) if params["format"] == "text" else index.quakeml(picks)
    assert body is not None
    return 200, body


def _public(cfg):
    return Principal(access=cfg.access, unrestricted=False, client="127.0.0.1")


def random_queries(rng: random.Random, ids: list[str], n: int) -> list[dict]:
    T0 = 1577836800.0
    out = []
    for _ in range(n):
        q: dict = {}
        era = rng.choice(["bench", "bench", "reb", "calaveras", "all"])
        if era == "bench" and rng.random() < 0.9:
            t = T0 + rng.uniform(-2, 22) * 86400
            q["starttime"] = str(UTCDateTime(t))[:rng.choice([10, 13, 16, 19, 26])]
            q["endtime"] = str(UTCDateTime(t + rng.choice([3600, 86400, 7 * 86400, 30 * 86400])))[:19]
        elif era == "reb":
            q["start"] = "1995-01-16"
            q["end"] = "1995-01-17T00:00:00"
        elif era == "calaveras" and rng.random() < 0.5:
            q["starttime"] = f"{rng.randint(1984, 2003)}-01-01"
        r = rng.random()
        if r < 0.25:
            la, lo = rng.uniform(-80, 60), rng.uniform(-180, 180)
            q.update(minlat=round(la, 2), maxlat=round(la + rng.uniform(1, 60), 2), minlon=round(lo, 2),
                     maxlon=round(rng.uniform(-180, 180), 2))  # maxlon < minlon: across the antimeridian
        elif r < 0.5:
            q.update(lat=round(rng.uniform(-80, 80), 2), lon=round(rng.uniform(-180, 180), 2),
                     maxradius=rng.choice(["5", "15", "40", "120"]))
            if rng.random() < 0.3:
                q["minradius"] = rng.choice(["1", "10"])
        if rng.random() < 0.3:
            q["mindepth"] = rng.choice(["0", "10", "33.5"])
        if rng.random() < 0.2:
            q["maxdepth"] = rng.choice(["15", "100"])
        if rng.random() < 0.4:
            q["minmag"] = rng.choice(["3.5", "4.0", "4", "4.5"])
        if rng.random() < 0.15:
            q["maxmag"] = rng.choice(["4.0", "5"])
        if rng.random() < 0.2:
            q["eventtype"] = rng.choice(["earthquake", "nuclear explosion", "not reported", "earthquake,not reported",
                                         "*"])
        if rng.random() < 0.5:
            q["orderby"] = rng.choice(["time", "time-asc", "magnitude", "magnitude-asc"])
        if rng.random() < 0.6:
            q["limit"] = str(rng.choice([1, 5, 20, 100]))
        if rng.random() < 0.3:
            q["offset"] = str(rng.choice([1, 2, 7, 50]))
        if rng.random() < 0.4:
            q["catalog"] = rng.choice(["REB", "SEL3", "REB,SEL3", "reb"])
        if rng.random() < 0.08:
            q["contributor"] = rng.choice(["IDC", "ISC", "isc,idc"])
        if rng.random() < 0.15 and ids:
            picked = rng.sample(ids, k=min(len(ids), rng.choice([1, 1, 3])))
            if rng.random() < 0.3:
                picked.append("REB-19950116T000000-19950117T000000-999")
            q = {"eventid": ",".join(picked), **({"format": "text"} if rng.random() < 0.5 else {})}
            if rng.random() < 0.3:
                q["eventid"] = "smi:idc-pipeline/event/" + picked[0]
        if rng.random() < 0.5:
            q["format"] = "text"
        out.append({k: str(v) for k, v in q.items()})
    return out


def _ids(st, cfg) -> list[str]:
    out = []
    for cat in ("REB", "SEL3"):
        status, body = reference(st, {"catalog": cat, "format": "text", "limit": "300"}, Principal())
        out += [line.split("|")[0] for line in body.decode().splitlines()[1:]]
    rng = random.Random(3)
    return rng.sample(out, 60) + ["REB-19950116T000000-19950117T000000-1", "REB-19950116T000000-19950117T000000-2"]


def test_index_answers_equal_the_sql_path(store):
    app, cfg = store
    st = app.state.idc
    rng = random.Random(11)
    ids = _ids(st, cfg)
    queries = random_queries(rng, ids, 160) + [
        {}, {"format": "text"}, {"catalog": "SEL3", "format": "text"}, {"orderby": "magnitude", "limit": "7"},
        {"catalog": "REB", "minmag": "4.0", "maxmag": "4.0", "format": "text"},
        {"lat": "0", "lon": "179", "maxradius": "30", "catalog": "REB,SEL3", "format": "text", "limit": "50"},
        {"minlon": "170", "maxlon": "-170", "format": "text", "limit": "100"},
        {"eventid": "REB-19950116T000000-19950117T000000-2"}, {"eventid": "REB-19950116T000000-19950117T000000-1"}]
    statuses = set()
    n_equal = 0
    for q in queries:
        for who in ("public", "all"):
            principal = _public(cfg) if who == "public" else Principal()
            want = reference(st, q, principal)
            principal = _public(cfg) if who == "public" else Principal()
            got = indexed(st, q, principal)
            assert got[0] == want[0], (who, q, got[1][:300], want[1][:300])
            assert _strip(got[1]) == _strip(want[1]), (who, q)
            statuses.add(want[0])
            n_equal += want[0] == 200
    # the comparison covered answers with events, empty answers, refused catalogs (401: the public
    # is challenged for a restricted catalog) and too many events
    assert {200, 204, 401, 413} <= statuses, statuses
    assert n_equal > 120


def test_the_route_answers_from_the_index_as_the_sql_path(store):
    """Through HTTP (the public, no token): same statuses and bytes; the index was used."""
    app, cfg = store
    st = app.state.idc
    index = index_of(st)
    client = TestClient(app)
    rng = random.Random(5)
    ids = _ids(st, cfg)
    queries = random_queries(rng, ids, 40)
    wanted = [reference(st, q, _public(cfg)) for q in queries]
    index.snapshot(index.generation(), st.session)  # as at startup (the lifespan builds it)
    selects = []

    def count(conn, cursor, statement, *args):
        if statement.lstrip().upper().startswith("SELECT"):
            selects.append(statement)

    from sqlalchemy import event as sa_event

    sa_event.listen(st.engine, "before_cursor_execute", count)
    try:
        for q, want in zip(queries, wanted):
            r = client.get("/fdsnws/event/1/query", params=q)
            assert r.status_code == want[0], (q, r.text[:300])
            if want[0] == 200:
                assert _strip(r.content) == _strip(want[1]), q
            else:
                assert r.content == b"" if want[0] == 204 else want[1].decode() in r.text
    finally:
        sa_event.remove(st.engine, "before_cursor_execute", count)
    # answered from memory: no query through the store's engine (the generation is read on a
    # connection of the index's own)
    assert selects == []
    assert index.current(index.generation()) is not None and index.rendered_bytes > 0


def test_radius_bound_is_the_same_distance_as_the_sql_path(store):
    """An event exactly at ``maxradius`` (the distance the SQL path computes) is in both answers."""
    app, cfg = store
    st = app.state.idc
    with st.session() as s:
        lat, lon = s.execute(select(m.Origin.lat, m.Origin.lon).order_by(m.Origin.orid.desc()).limit(1)).one()
    d = ev._distance_deg(10.0, 20.0, lat, lon)
    for r in (repr(d), repr(d - 1e-12), repr(d + 1e-12)):
        q = {"lat": "10", "lon": "20", "maxradius": r, "format": "text", "catalog": "REB,SEL3"}
        want = reference(st, q, Principal())
        assert indexed(st, q, Principal()) == want
    q = {"lat": "10", "lon": "20", "minradius": repr(d), "maxradius": "180", "format": "text",
         "catalog": "REB,SEL3", "limit": "3000"}
    assert indexed(st, q, Principal()) == reference(st, q, Principal())


def test_a_written_product_is_served_after_the_check_interval(tmp_path):
    """The index is brought up to date from what changed (unchanged products are kept), within
    ``[service] event_generation_check_s``."""
    cfg = make_settings(tmp_path, "", **{"service.event_generation_check_s": 0.3})  # the public reads all
    db.upgrade(cfg.database_url)
    store_reb(cfg, REB1, "reb-v1")
    _calaveras_products(cfg)
    app = create_app(cfg)
    client = TestClient(app)
    index = index_of(app.state.idc)
    q = {"catalog": "REB,SEL3", "format": "text", "limit": "500"}
    first = client.get("/fdsnws/event/1/query", params=q)
    assert first.status_code == 200
    blocks = dict(index.current(index.recent_generation()).blocks)
    t_write = time.monotonic()
    assert store_reb(cfg, REB2, "reb-v2") == (2, True)
    while time.monotonic() - t_write < 0.35:
        time.sleep(0.05)
    after = client.get("/fdsnws/event/1/query", params=q)
    assert after.content == reference(app.state.idc, q, _public(cfg))[1]
    assert after.content != first.content
    snap = index.current(index.generation())
    kept = [pid for pid, b in snap.blocks.items() if blocks.get(pid) is b]
    assert len(kept) == len(blocks) - 1  # only the REB window was read again (its new version)
    assert snap.blocks.keys() - blocks.keys() == {max(snap.blocks)}
    # a request that read the generation before this snapshot was built takes it (no rebuild);
    # one that read a generation after it does not
    builds = index.builds
    assert index.snapshot(("older",), app.state.idc.session, snap.read_t - 1.0) is snap and index.builds == builds
    newer = index.snapshot(("newer",), app.state.idc.session, time.monotonic())
    assert newer is not snap and newer.gen == ("newer",) and index.builds == builds + 1


def test_time_parser_fast_path_is_utcdatetime():
    rng = random.Random(2)
    for _ in range(3000):
        y, mo, d = rng.choice([1900, 1970, 1995, 2020, 2024, 2100]), rng.randint(1, 12), rng.randint(1, 31)
        s = f"{y:04d}-{mo:02d}-{d:02d}"
        form = rng.randrange(6)
        if form >= 1:
            s += rng.choice("T ") + f"{rng.randint(0, 23):02d}"
        if form >= 2:
            s += f":{rng.randint(0, 59):02d}"
        if form >= 3:
            s += f":{rng.choice([0, 59, 60, rng.randint(0, 59)]):02d}"
        if form >= 4:
            s += "." + "".join(rng.choice("0123456789") for _ in range(rng.randint(1, 9)))
        if rng.random() < 0.3:
            s += "Z"
        try:
            want = UTCDateTime(s.replace(" ", "T"))
        except Exception:
            want = None
        try:
            got = parse_time("starttime", s)
        except FDSNError as exc:
            assert want is None and exc.status == 400, s
            continue
        assert want is not None and got == want and got.ns == want.ns, s


# --------------------------------------------------------------------------- download audit
@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def test_audit_rows_are_written_in_batches_and_flushed(tmp_path, backend, request):
    """Rows are in the store after the app's shutdown (lifespan) or flush_audit, in order, one
    per request, written in batches (SQLite: multi-row INSERTs; PostgreSQL: COPY)."""
    from sqlalchemy import event as sa_event

    url = ""
    if backend == "postgresql":
        url = request.getfixturevalue("pg_server").create_database(f"audit_{int(time.time() * 1000) % 10**9}")
    cfg = _settings(tmp_path, url)
    db.upgrade(cfg.database_url)
    app = create_app(cfg)
    inserts = []
    engine = db.get_engine(cfg.database_url)

    def count(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith("INSERT INTO DOWNLOAD_AUDIT"):
            inserts.append(len(parameters) if executemany else 1)

    sa_event.listen(engine, "before_cursor_execute", count)
    try:
        with TestClient(app) as client:  # the lifespan: the index is built, the writer flushed at exit
            assert index_of(app.state.idc).builds == 1
            for k in range(30):
                client.get("/fdsnws/event/1/query", params={"catalog": "REB", "limit": str(k + 1)})
            client.get("/fdsnws/event/1/query", params={"catalog": "SEB"})  # 401, audited too
        with db.session_scope(cfg.database_url) as s:
            rows = list(s.scalars(select(m.DownloadAudit).order_by(m.DownloadAudit.id)))
        assert len(rows) == 31
        assert [r.query for r in rows[:3]] == ["catalog=REB&limit=1", "catalog=REB&limit=2", "catalog=REB&limit=3"]
        assert rows[-1].status == 401 and rows[-1].product == "SEB" and rows[0].product == "REB"
        assert all(r.user_name == "public" and r.endpoint == "/fdsnws/event/1/query" for r in rows)
        assert app.state.idc_audit.written == 31
        if backend == "sqlite":
            assert sum(inserts) == 31 and len(inserts) < 31  # batched
        # without the lifespan (TestClient not as a context manager): flush_audit is the read hook
        client = TestClient(app)
        client.get("/fdsnws/event/1/query", params={"catalog": "REB", "format": "text"})
        assert flush_audit(app)
        with db.session_scope(cfg.database_url) as s:
            assert s.scalar(select(func.count()).select_from(m.DownloadAudit)) == 32
    finally:
        sa_event.remove(engine, "before_cursor_execute", count)


def test_audit_writer_never_raises_and_logs(tmp_path, caplog):
    from pipeline.service.audit import AuditWriter

    w = AuditWriter(f"sqlite:///{tmp_path / 'no_such_dir' / 'x' / 'audit.sqlite'}", interval_s=0.01)
    w.submit({"user_name": "x"})  # no table there: the batch is dropped with a warning
    with caplog.at_level("WARNING", logger="pipeline.service.auth"):
        assert w.flush(5)
    w.close()
    assert w.failed == 1 and w.written == 0
    assert any("download audit" in r.message for r in caplog.records)


# --------------------------------------------------------------------------- the benchmark's client
def test_bench_client_reads_content_length_and_chunked_answers():
    sys.path.insert(0, str(PROJECT_ROOT / "bench"))
    from fdsn_event_throughput import HTTPError, _read_response

    async def parse(raw: bytes):
        r = asyncio.StreamReader()
        r.feed_data(raw)
        r.feed_eof()
        return await _read_response(r), r.at_eof()

    assert asyncio.run(parse(b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello")) == ((200, b"hello"), True)
    assert asyncio.run(parse(b"HTTP/1.1 204 No Content\r\n\r\n")) == ((204, b""), True)
    chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=1\r\nde\r\n0\r\n\r\n"
    assert asyncio.run(parse(chunked)) == ((200, b"abcde"), True)
    with pytest.raises(HTTPError):
        asyncio.run(parse(b"HTTP/1.1 200 OK\r\n\r\nbody"))
    with pytest.raises(asyncio.IncompleteReadError):
        asyncio.run(parse(b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nshort"))
