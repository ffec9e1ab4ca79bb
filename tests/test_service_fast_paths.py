"""The fast paths of fdsnws-event give the same answers as the reference path.

Reference path (what the service did before): :class:`EventQuery` without caches, obspy
``Catalog`` objects from :func:`pipeline.service.fdsn.event.to_catalog` written by obspy's
QuakeML writer, and :func:`to_text`. Fast paths: QuakeML written directly from SQL rows
(:mod:`pipeline.service.fdsn.quakeml_fast`), per-product rank cache and the answer cache
(:mod:`pipeline.service.fdsn.cache`). Real data: the REB of 1995-01-16 (two versions; origin
errors, arrivals, event types and region names), the NCSN Calaveras catalogue (yearly SEL3
products, Md magnitudes) and a synthetic bench store (``bench/fdsn_event_throughput.py``).

Answers must be byte-identical except the ``creationTime`` of the QuakeML document (the time
it is written), which is compared separately.
"""
from __future__ import annotations

import io
import re
import sys
import time

import pytest
from fastapi.testclient import TestClient

from pipeline.service.app import create_app
from pipeline.service.fdsn import event as ev
from pipeline.service.fdsn.cache import caches_of
from pipeline.service.fdsn.params import parse_params
from pipeline.store import db
from tests import PROJECT_ROOT
from tests.conftest import make_settings
from tests.test_service_fdsn import REB1, REB2, _calaveras_products, store_reb

CREATION = re.compile(rb"(<eventParameters [^>]*>\n    <creationInfo>\n.*?<creationTime>)([^<]*)(</creationTime>)",
                      re.S)
NO_LIMIT = {"access.rate_limit.public_rate_per_s": 1e6, "access.rate_limit.public_burst": 10**6}

QUERIES = [
    {},  # default catalog: the newest REB version
    {"catalog": "REB", "includearrivals": "true"},
    {"catalog": "REB", "includeallmagnitudes": "true"},
    {"catalog": "REB", "magnitudetype": "ML"},
    {"catalog": "REB", "format": "text"},
    {"catalog": "SEL3", "limit": "60"},
    {"catalog": "SEL3", "limit": "25", "offset": "30", "orderby": "magnitude"},
    {"catalog": "SEL3", "minmag": "2.5", "orderby": "time-asc", "limit": "40"},
    {"catalog": "SEL3", "lat": "37.3", "lon": "-121.7", "maxradius": "0.05", "limit": "30"},
    {"catalog": "SEL3", "minlat": "37.2", "maxlat": "37.4", "minlon": "-121.8", "maxlon": "-121.6",
     "limit": "50", "format": "text"},
    {"catalog": "SEL3,REB", "mindepth": "5", "maxdepth": "10", "limit": "40", "magtype": "md"},
    {"catalog": "SEL3", "limit": "10", "magnitudetype": "mb"},
    {"catalog": "SEL3", "updatedafter": "2000-01-01", "limit": "20", "orderby": "magnitude-asc"},
    {"eventid": "REB-19950116T000000-19950117T000000-2"},
]


def _strip(body: bytes) -> tuple[bytes, bytes | None]:
    mt = CREATION.search(body)
    if mt is None:
        return body, None
    return CREATION.sub(rb"\1-\3", body, count=1), mt.group(2)


def reference(app, query: dict) -> tuple[int, bytes]:
    """The answer of the reference path (no caches, obspy objects and writer)."""
    st = app.state.idc
    params = parse_params(list(query.items()), ev.SPECS)
    eq = ev.EventQuery(params, st.settings)
    agency = st.settings.service.agency_id
    with st.session() as session:
        rows = eq.run(session)
        if not rows:
            return 204, b""
        if params["format"] == "text":
            return 200, ev.to_text(rows, agency).encode()
        cat = ev.to_catalog(session, rows, all_origins=params["includeallorigins"],
                            all_magnitudes=params["includeallmagnitudes"], arrivals=params["includearrivals"],
                            magtype=params.get("magnitudetype"), agency=agency)
    buf = io.BytesIO()
    cat.write(buf, format="QUAKEML")
    return 200, buf.getvalue()


@pytest.fixture(scope="module")
def real(tmp_path_factory):
    home = tmp_path_factory.mktemp("fast")
    cfg = make_settings(home, "", **NO_LIMIT)
    db.upgrade(cfg.database_url)
    store_reb(cfg, REB1, "reb-v1")
    store_reb(cfg, REB2, "reb-v2")
    _calaveras_products(cfg)
    app = create_app(cfg)
    return app, TestClient(app), cfg


def _check(app, client, q):
    status, want = reference(app, q)
    r = client.get("/fdsnws/event/1/query", params=q)
    assert r.status_code == status, (q, r.text[:300])
    got, t_got = _strip(r.content)
    want, t_want = _strip(want)
    assert got == want, q
    assert (t_got is None) == (t_want is None)
    return r


@pytest.mark.parametrize("q", QUERIES, ids=[",".join(f"{k}={v}" for k, v in q.items()) or "default" for q in QUERIES])
def test_fast_answers_equal_the_reference(real, q):
    app, client, _ = real
    r = _check(app, client, q)
    if r.status_code == 200 and "format" not in q:
        assert r.content.count(b"<event ") >= 1
        # the answer cache gives back the very same document (its creationTime too)
        assert client.get("/fdsnws/event/1/query", params=q).content == r.content


def test_direct_quakeml_is_obspy_quakeml_with_escaping_and_errors(real):
    """Every REB/SEL3 event through both writers (all events at once), including a region name
    with XML special characters."""
    from sqlalchemy import select

    from pipeline.service.fdsn.quakeml_fast import quakeml_bytes
    from pipeline.store import models as m

    app, _, cfg = real
    st = app.state.idc
    with db.session_scope(cfg.database_url) as s:
        names = dict(s.execute(select(m.Event.evid, m.Event.evname).where(m.Event.evname != "")).all())
        for e in s.scalars(select(m.Event).where(m.Event.evid.in_(names))):
            e.evname = names[e.evid] + ' & <Co> "x"'
    assert names
    try:
        for cat in ("REB", "SEL3"):
            params = parse_params([("catalog", cat), ("limit", "200")], ev.SPECS)
            with st.session() as session:
                rows = ev.EventQuery(params, st.settings).run(session)
                assert rows
                from obspy import UTCDateTime

                t = UTCDateTime(2020, 1, 2, 3, 4, 5, 678901)
                fast = quakeml_bytes(session, rows, magtype=None, agency="IDC", creation_time=t)
                catalog = ev.to_catalog(session, rows, all_origins=False, all_magnitudes=False, arrivals=False,
                                        magtype=None, agency="IDC")
            catalog.creation_info.creation_time = t
            buf = io.BytesIO()
            catalog.write(buf, format="QUAKEML")
            assert fast == buf.getvalue(), cat
            if cat == "REB":
                assert b"&amp; &lt;Co&gt; \"x\"" in fast and b"<originUncertainty>" in fast
    finally:
        with db.session_scope(cfg.database_url) as s:
            for e in s.scalars(select(m.Event).where(m.Event.evid.in_(names))):
                e.evname = names[e.evid]


def test_a_new_product_version_invalidates_the_cached_answers(real):
    app, client, cfg = real
    q = {"catalog": "REB", "format": "text"}
    first = client.get("/fdsnws/event/1/query", params=q).content
    hits = caches_of(app.state.idc).responses.hits
    assert client.get("/fdsnws/event/1/query", params=q).content == first
    assert caches_of(app.state.idc).responses.hits == hits + 1
    # a new REB version with one event (REB2 has two): the cached answer must not be served
    assert store_reb(cfg, REB1, "reb-v3") == (3, True)
    # the service reads the store's product generation at most every event_generation_check_s
    time.sleep(cfg.service.event_generation_check_s)
    try:
        after = client.get("/fdsnws/event/1/query", params=q).content
        assert after != first
        assert after == reference(app, q)[1]
        assert after.count(b"\n") - 1 == reference(app, q)[1].count(b"\n") - 1
    finally:
        from sqlalchemy import delete

        from pipeline.store import models as m

        with db.session_scope(cfg.database_url) as s:
            s.execute(delete(m.Product).where(m.Product.type == "REB", m.Product.version == 3))
    time.sleep(cfg.service.event_generation_check_s)
    # a deleted version changes the generation too
    assert client.get("/fdsnws/event/1/query", params=q).content == first


def test_bench_store_answers_equal_the_reference(tmp_path):
    sys.path.insert(0, str(PROJECT_ROOT / "bench"))
    from fdsn_event_throughput import fill_store, make_requests

    url = f"sqlite:///{tmp_path / 'idc.sqlite'}"
    fill_store(url, 600, 100, 3, progress=False)
    cfg = make_settings(tmp_path, url, **NO_LIMIT)
    app = create_app(cfg)
    client = TestClient(app)
    for _, q in make_requests(48, 600, 100, 3):
        _check(app, client, {k: str(v) for k, v in q.items()})
