"""Subscriptions: deliveries to a real local SMTP server and a local webhook receiver.

Both receivers run in threads on 127.0.0.1 (tests/servers.py). The store holds real data: the
IDC's 1995 REB (GSE2.0, two versions of one window), the NCSN Calaveras catalogue as a SEL3
product per year and Iceland waveforms (Z7) in the SDS archive. What arrives is compared with
what the store holds, read independently (``load_catalog``, obspy's SDS client), and the
webhook signatures are recomputed here with :mod:`hmac`.
"""
from __future__ import annotations

import hashlib
import hmac
import io
import json
import tomllib

import pytest
from click.testing import CliRunner
from obspy import UTCDateTime, read, read_events
from obspy.clients.filesystem.sds import Client as SDSClient
from obspy.geodetics import locations2degrees
from sqlalchemy import select

from pipeline import tasks
from pipeline.bulletin.read import read_bulletin
from pipeline.cli.main import cli
from pipeline.distribution.deliver import deliver_product, retry_failed
from pipeline.distribution.subscriptions import SubscriptionError, add_subscription
from pipeline.store.accounts import add_state, add_user
from pipeline.settings import DEFAULT_CONFIG
from pipeline.store import db
from pipeline.store import models as m
from pipeline.store.catalog import load_catalog
from pipeline.store.products import ProductKey, latest_version
from tests import PROJECT_ROOT
from tests.conftest import DATA, make_settings
from tests.servers import SMTPTestServer, WebhookTestServer, free_port
from tests.test_service_fdsn import REB1, REB2, REB_WINDOW, _calaveras_products, store_reb

DEFAULT_ACCESS = tomllib.loads(DEFAULT_CONFIG.read_text())["access"]
Z7 = PROJECT_ROOT / "stations" / "Z7.xml"
ICELAND = sorted((DATA / "iceland" / "waveforms").glob("*.m"))[:2]


def _settings(home, url="", **over):
    base = {"access": DEFAULT_ACCESS, "subscriptions.backoff_initial_s": 0.01, "subscriptions.backoff_factor": 2.0,
            "subscriptions.timeout_s": 5.0, "subscriptions.max_attempts": 4,
            "subscriptions.service_url": "https://idc.example.org"}
    base.update(over)
    s = make_settings(home, url, **base)
    s.home.mkdir(parents=True, exist_ok=True)
    db.upgrade(s.database_url)
    return s


def _store(request, tmp_path, backend):
    url = ""
    if backend == "postgresql":
        url = request.getfixturevalue("pg_server").create_database(f"subs_{abs(hash(str(tmp_path))) % 10**9}")
    s = _settings(tmp_path / "home", url)
    assert store_reb(s, REB1, "v1") == (1, True)
    assert store_reb(s, REB2, "v2") == (2, True)
    with db.session_scope(s.database_url) as ss:
        add_state(ss, "DE", "Germany")
        add_state(ss, "FR", "France")
        add_user(ss, "de_ndc", "state_user", "DE")
        add_user(ss, "press", "public")
    return s


@pytest.fixture
def store(request, tmp_path):
    """Settings over a SQLite store holding REB versions 1 and 2 of 1995-01-16 and two users."""
    return _store(request, tmp_path, "sqlite")


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def any_store(request, tmp_path):
    """:func:`store` on SQLite and on a throwaway PostgreSQL."""
    return _store(request, tmp_path, request.param)


def _stored_reb(s, version=None):
    with db.session_scope(s.database_url) as ss:
        key = ProductKey("REB", REB_WINDOW[0].timestamp, REB_WINDOW[1].timestamp)
        prod = latest_version(ss, key) if version is None else next(
            p for p in ss.scalars(select(m.Product).where(m.Product.type == "REB")) if p.version == version)
        return load_catalog(ss, prod), prod.version


def _subscribe(s, user, kind, products, channel, target, filters=None, fmt="", secret=None):
    with db.session_scope(s.database_url) as ss:
        sub = add_subscription(ss, user, kind, products, channel, target, filters, fmt, secret)
        return sub.id, sub.secret


def _deliveries(s, sub_id):
    with db.session_scope(s.database_url) as ss:
        return [(d.delivery_id, d.item, d.status, d.attempts, d.version, d.bytes, d.last_error)
                for d in ss.scalars(select(m.Delivery).where(m.Delivery.subscription_id == sub_id)
                                    .order_by(m.Delivery.id))]


def _sig(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


# --------------------------------------------------------------------------- webhook
def test_webhook_bulletin_retried_signed_and_never_duplicated(any_store):
    s = any_store
    with WebhookTestServer(fail_first=2) as hook:
        sid, secret = _subscribe(s, "de_ndc", "bulletin", ["REB"], "webhook", hook.url, fmt="ims1")
        waits = []
        res = deliver_product(s, "REB", *REB_WINDOW, sleep=waits.append)
        assert (res["delivered"], res["failed"], res["version"]) == (1, 0, 2)
        # two 503s, then accepted: three POSTs of the same signed body with the same delivery id
        assert [r[3] for r in hook.requests] == [503, 503, 200]
        assert waits == pytest.approx([0.01, 0.02])  # backoff_initial_s x backoff_factor^n
        ids = {r[1]["x-idc-delivery"] for r in hook.requests}
        bodies = {r[2] for r in hook.requests}
        assert len(ids) == 1 and len(bodies) == 1
        path, headers, body, _ = hook.accepted[0]
        assert hmac.compare_digest(headers["x-idc-signature"], _sig(secret, body))
        assert headers["x-idc-signature"] != _sig(secret + "x", body)
        assert headers["x-idc-kind"] == "bulletin" and headers["content-type"] == "application/json"
        doc = json.loads(body)
        assert doc["delivery_id"] == ids.pop() and doc["product"] == "REB" and doc["version"] == 2
        # the bulletin is the stored version: an IMS1.0 text our reader (and the export) agree on
        stored, _ = _stored_reb(s)
        tmp = s.home / "got.ims1"
        tmp.write_text(doc["content"])
        got, fmt = read_bulletin(tmp)
        assert fmt.upper().startswith("IMS") and len(got) == len(stored) == doc["events"] == 2
        for a, b in zip(sorted(got, key=lambda e: e.origins[0].time), sorted(stored, key=lambda e: e.origins[0].time)):
            oa, ob = a.preferred_origin() or a.origins[0], b.preferred_origin() or b.origins[0]
            assert abs(oa.time - ob.time) < 0.1 and oa.latitude == pytest.approx(ob.latitude, abs=1e-3)
        log = _deliveries(s, sid)
        assert [(x[2], x[3], x[4]) for x in log] == [("delivered", 3, 2)] and log[0][5] == len(body)
        # a re-run (the DAG task retried, or run by hand) delivers nothing twice
        again = tasks.subscriptions_deliver(s, "REB", REB_WINDOW[0], REB_WINDOW[1], None)
        assert (again["delivered"], again["already"]) == (0, 1)
        assert len(hook.requests) == 3
        # an older version is a different delivery
        old = deliver_product(s, "REB", *REB_WINDOW, version=1, sleep=waits.append)
        assert old["delivered"] == 1 and json.loads(hook.accepted[-1][2])["version"] == 1
        assert len(_deliveries(s, sid)) == 2


def test_receiver_down_then_up(any_store):
    s = any_store
    port = free_port()
    url = f"http://127.0.0.1:{port}/hook"
    sid, secret = _subscribe(s, "de_ndc", "bulletin", ["REB"], "webhook", url, fmt="quakeml")
    res = deliver_product(s, "REB", *REB_WINDOW, sleep=lambda t: None)
    assert (res["delivered"], res["failed"]) == (0, 1) and url in res["errors"][0]
    (did, _, status, attempts, _, _, err), = _deliveries(s, sid)
    assert (status, attempts) == ("failed", 4) and "Connect" in err
    with WebhookTestServer(port=port) as hook:
        (res,) = retry_failed(s, sleep=lambda t: None)  # what `idc subscriptions retry` runs
        assert (res["delivered"], res["version"]) == (1, 2)
        assert retry_failed(s) == []
        assert len(hook.requests) == 1 and hook.requests[0][1]["x-idc-delivery"] == did
        body = hook.requests[0][2]
        assert hook.requests[0][1]["x-idc-signature"] == _sig(secret, body)
        cat = read_events(io.BytesIO(json.loads(body)["content"].encode()))
        assert len(cat) == len(_stored_reb(s)[0])
        assert deliver_product(s, "REB", *REB_WINDOW, sleep=lambda t: None)["already"] == 1
        assert len(hook.requests) == 1
    assert [(x[2], x[3]) for x in _deliveries(s, sid)] == [("delivered", 5)]


def test_client_error_is_not_retried(store):
    """A 404 (wrong URL) will not get better by retrying now: one attempt, logged as failed."""
    s = store
    with WebhookTestServer(fail_first=100, fail_status=404) as hook:
        sid, _ = _subscribe(s, "de_ndc", "bulletin", ["REB"], "webhook", hook.url)
        res = deliver_product(s, "REB", *REB_WINDOW, sleep=lambda t: None)
        assert len(hook.requests) == 1 and res["failed"] == 1
    (_, _, status, attempts, _, _, err), = _deliveries(s, sid)
    assert (status, attempts) == ("failed", 1) and "HTTP 404" in err


# --------------------------------------------------------------------------- alerts
def test_alerts_filtered_by_region_magnitude_depth(tmp_path):
    s = _settings(tmp_path / "home")
    _calaveras_products(s)
    with db.session_scope(s.database_url) as ss:
        add_state(ss, "US", "United States")
        add_user(ss, "us_ndc", "state_principal", "US")
        prods = list(ss.scalars(select(m.Product).where(m.Product.type == "SEL3")))
        prod = max(prods, key=lambda p: len(load_catalog(ss, p)))
        cat = load_catalog(ss, prod)
        ws, we = prod.window_start, prod.window_end
    centre, radius = (37.30, -121.70), 0.06
    filters = {"circle": list(centre) + [radius], "min_magnitude": 1.5, "max_depth_km": 9.0}
    expected = set()
    for e in cat:
        o, mg = e.preferred_origin() or e.origins[0], e.magnitudes[0].mag
        if (locations2degrees(o.latitude, o.longitude, *centre) <= radius and mg >= 1.5
                and o.depth / 1000.0 <= 9.0):
            expected.add((round(o.time.timestamp, 2), round(o.latitude, 4), round(o.longitude, 4)))
    assert 3 <= len(expected) < len(cat)  # the filter keeps some real events, not all
    with WebhookTestServer() as hook:
        sid, secret = _subscribe(s, "us_ndc", "alert", ["SEL3"], "webhook", hook.url, filters)
        res = deliver_product(s, "SEL3", UTCDateTime(ws), UTCDateTime(we))
        assert res["delivered"] == len(expected) == len(hook.requests)
        got = set()
        for _, h, body, _ in hook.requests:
            assert h["x-idc-signature"] == _sig(secret, body) and h["x-idc-kind"] == "alert"
            ev = json.loads(body)["event"]
            got.add((round(UTCDateTime(ev["time"]).timestamp, 2), round(ev["latitude"], 4), round(ev["longitude"], 4)))
            assert ev["magnitude"] >= 1.5 and ev["depth_km"] <= 9.0 and ev["magnitude_type"] == "Md"
            assert ev["url"].startswith("https://idc.example.org/fdsnws/event/1/query?eventid=SEL3-")
        assert got == expected
        assert len({h["x-idc-delivery"] for _, h, _, _ in hook.requests}) == len(expected)
        assert deliver_product(s, "SEL3", UTCDateTime(ws), UTCDateTime(we))["already"] == len(expected)
        assert len(hook.requests) == len(expected)
    # a box filter crossing nothing: no alerts, no log rows
    sid2, _ = _subscribe(s, "us_ndc", "alert", ["SEL3"], "webhook", "http://127.0.0.1:9/x",
                         {"box": [10, 20, 0, 10]})
    assert deliver_product(s, "SEL3", UTCDateTime(ws), UTCDateTime(we))["failed"] == 0
    assert _deliveries(s, sid2) == []


# --------------------------------------------------------------------------- e-mail
def test_email_bulletin_and_alerts_via_smtp(store):
    with SMTPTestServer(fail_first=1) as smtp:
        s = _settings(store.home, store.store.database_url, **{"subscriptions.smtp_port": smtp.port})
        sid_b, _ = _subscribe(s, "de_ndc", "bulletin", ["REB"], "email", "ndc@example.de", fmt="quakeml")
        sid_a, _ = _subscribe(s, "de_ndc", "alert", ["REB"], "email", "ndc@example.de",
                              {"min_magnitude": 4.0, "magnitude_type": "mb"})
        res = deliver_product(s, "REB", *REB_WINDOW, sleep=lambda t: None)
        assert (res["delivered"], res["failed"]) == (2, 0)
        assert smtp.transactions == 3  # the first DATA got 451 and was retried
        stored, version = _stored_reb(s)
        by_kind = {msg["X-IDC-Kind"]: (frm, to, msg) for frm, to, msg in smtp.messages}
        frm, to, msg = by_kind["bulletin"]
        assert (frm, to) == (s.subscriptions.mail_from, ["ndc@example.de"])
        (did_b, *_), = _deliveries(s, sid_b)
        assert msg["Message-ID"] == f"<{did_b}@idc-pipeline>" and msg["X-IDC-Delivery"] == did_b
        att, = list(msg.iter_attachments())
        assert att.get_filename() == f"REB_19950116T000000_19950117T000000_v{version}.xml"
        cat = read_events(io.BytesIO(att.get_content() if isinstance(att.get_content(), bytes)
                                     else att.get_content().encode()))
        assert sorted(e.origins[0].time for e in cat) == sorted(e.origins[0].time for e in stored)
        # one alert: the event with mb >= 4.0 (the other has mb 3.6 and ML 4.0)
        want = [e for e in stored if any(mg.magnitude_type == "mb" and mg.mag >= 4.0 for mg in e.magnitudes)]
        assert len(want) == 1
        _, _, amsg = by_kind["alert"]
        o = want[0].origins[0]
        text = amsg.get_content()
        assert "mb 4.0" in amsg["Subject"] and f"{o.latitude:.4f}" in text and f"{o.longitude:.4f}" in text
        n = len(smtp.messages)
        assert deliver_product(s, "REB", *REB_WINDOW, sleep=lambda t: None)["already"] == 2
        assert len(smtp.messages) == n


def test_smtp_down_fails_then_delivers(store):
    port = free_port()
    s = _settings(store.home, store.store.database_url, **{"subscriptions.smtp_port": port,
                                                           "subscriptions.max_attempts": 2})
    sid, _ = _subscribe(s, "de_ndc", "bulletin", ["REB"], "email", "ndc@example.de")
    res = deliver_product(s, "REB", *REB_WINDOW, sleep=lambda t: None)
    assert res["failed"] == 1 and f"127.0.0.1:{port}" in res["errors"][0]
    smtp = SMTPTestServer(port=port)
    with smtp:
        assert deliver_product(s, "REB", *REB_WINDOW, sleep=lambda t: None)["delivered"] == 1
        assert len(smtp.messages) == 1
        assert deliver_product(s, "REB", *REB_WINDOW, sleep=lambda t: None)["delivered"] == 0
    assert [(x[2], x[3]) for x in _deliveries(s, sid)] == [("delivered", 3)]


# --------------------------------------------------------------------------- access policy and station data
def test_subscriptions_follow_the_access_policy(store):
    s = store
    with WebhookTestServer() as hook:
        pub_alert, _ = _subscribe(s, "press", "alert", ["REB"], "webhook", hook.url)
        pub_bull, _ = _subscribe(s, "press", "bulletin", ["REB"], "webhook", hook.url)
        pub_wf, _ = _subscribe(s, "press", "station_data", ["REB"], "webhook", hook.url,
                               {"channels": ["Z7.*.*.HHZ"]})
        res = deliver_product(s, "REB", *REB_WINDOW)
        # public: only the REB events of the public rule (mb >= 4.0, older than 2 days)
        stored, _ = _stored_reb(s)
        rule = s.access.public_events
        want = {round(e.origins[0].time.timestamp, 1) for e in stored
                if any(mg.magnitude_type == rule.magnitude_type and mg.mag >= rule.min_magnitude
                       for mg in e.magnitudes)}
        got = {round(UTCDateTime(json.loads(b)["event"]["time"]).timestamp, 1) for _, _, b, _ in hook.requests}
        assert got == want and len(want) == 1
        assert res["skipped"] == 2
        assert [x[2] for x in _deliveries(s, pub_bull)] == ["skipped"]
        assert "may not read REB" in _deliveries(s, pub_bull)[0][6]
        assert "may not read waveforms" in _deliveries(s, pub_wf)[0][6]


def test_station_data_delivery_matches_the_archive(tmp_path):
    s = _settings(tmp_path / "home")
    tasks.load_stations(s, [str(Z7)])
    assert tasks.ingest_files(s, ICELAND, progress=False)["accepted"] == len(ICELAND)
    t0, t1 = UTCDateTime(2014, 8, 24, 0, 1, 10), UTCDateTime(2014, 8, 24, 0, 1, 30)
    from obspy.core.event import Catalog
    from pipeline.store.catalog import store_catalog
    from pipeline.store.products import write_product

    with db.session_scope(s.database_url) as ss:
        write_product(ss, ProductKey("SEL1", t0.timestamp, t1.timestamp), input_fingerprint="f", config_hash="c",
                      software_version="t", fill=lambda ss, p: store_catalog(ss, p, Catalog()))
        add_state(ss, "IS", "Iceland")
        add_user(ss, "is_ndc", "state_user", "IS")
    with WebhookTestServer() as hook:
        _subscribe(s, "is_ndc", "station_data", ["SEL1"], "webhook", hook.url,
                   {"channels": ["Z7.KVER..HH?", "Z7.FJAS..HHZ"]})
        res = deliver_product(s, "SEL1", t0, t1)
        assert res["delivered"] == 1
        doc = json.loads(hook.requests[0][2])
    import base64

    got = read(io.BytesIO(base64.b64decode(doc["content_base64"])))
    want = SDSClient(str(s.archive_dir)).get_waveforms("Z7", "KVER", "", "HH?", t0, t1)
    want += SDSClient(str(s.archive_dir)).get_waveforms("Z7", "FJAS", "", "HHZ", t0, t1)
    want.trim(t0, t1, nearest_sample=False)
    assert sorted(tr.id for tr in got) == sorted(tr.id for tr in want) == sorted(doc["channels"])
    assert len({tr.id for tr in got}) == 4
    for tr in got:
        w = want.select(id=tr.id)[0]
        assert tr.stats.starttime == w.stats.starttime and (tr.data == w.data).all()


# --------------------------------------------------------------------------- validation and CLI
def test_bad_subscriptions_name_the_field(store):
    s = store
    with db.session_scope(s.database_url) as ss:
        for kwargs, words in [
            (dict(kind="alert", products=["REB"], channel="webhook", target="ftp://x"), "webhook target"),
            (dict(kind="alert", products=["XYZ"], channel="email", target="a@b.c"), "products"),
            (dict(kind="alert", products=["REB"], channel="email", target="nobody"), "email target"),
            (dict(kind="alert", products=["REB"], channel="email", target="a@b.c", filters={"box": [1, 2, 3]}),
             "'box'"),
            (dict(kind="alert", products=["REB"], channel="email", target="a@b.c",
                  filters={"min_magnitude": 5, "max_magnitude": 4}), "min_magnitude"),
            (dict(kind="alert", products=["REB"], channel="email", target="a@b.c", filters={"radius": 3}),
             "unknown filter"),
            (dict(kind="station_data", products=["REB"], channel="email", target="a@b.c"), "channels"),
            (dict(kind="bulletin", products=["REB"], channel="email", target="a@b.c",
                  filters={"min_magnitude": 4}), "alerts only"),
        ]:
            with pytest.raises(SubscriptionError, match=words):
                add_subscription(ss, "de_ndc", **kwargs)


def test_cli_subscriptions(store, monkeypatch):
    s = store
    monkeypatch.setenv("IDC_HOME", str(s.home))
    if s.store.database_url:
        monkeypatch.setenv("IDC_DATABASE_URL", s.store.database_url)
    cfg = s.home / "test.toml"
    cfg.write_text((PROJECT_ROOT / "config" / "test.toml").read_text())
    r = CliRunner()

    def run(*args, code=0):
        res = r.invoke(cli, ["--config", str(cfg), *args], catch_exceptions=False)
        assert res.exit_code == code, res.output
        return res.output

    with WebhookTestServer() as hook:
        out = run("subscriptions", "add", "--user", "de_ndc", "--kind", "alert", "--products", "REB",
                  "--webhook", hook.url, "--circle", "50,-130,5", "--min-mag", "3")
        assert "subscription" in out and "webhook secret" in out
        secret = out.split("webhook secret (verify X-IDC-Signature with it): ")[1].strip()
        listed = json.loads(run("subscriptions", "list", "--json"))
        assert [(x["user"], x["kind"], x["filters"]["circle"]) for x in listed] == [("de_ndc", "alert",
                                                                                     [50.0, -130.0, 5.0])]
        res = json.loads(run("subscriptions", "deliver", "--product", "REB", "--start", "1995-01-16",
                             "--end", "1995-01-17"))
        assert res["delivered"] == 1 and len(hook.requests) == 1
        assert hook.requests[0][1]["x-idc-signature"] == _sig(secret, hook.requests[0][2])
        log = json.loads(run("subscriptions", "deliveries", "--json"))
        assert [(x["status"], x["attempts"]) for x in log] == [("delivered", 1)]
        assert "delivered" in run("subscriptions", "deliveries")
    out = run("subscriptions", "add", "--user", "de_ndc", "--kind", "alert", "--products", "REB",
              "--email", "x@y.z", "--box", "1,2", code=2)
    assert "--box" in out
    out = run("subscriptions", "add", "--user", "nobody", "--kind", "alert", "--products", "REB",
              "--email", "x@y.z", code=1)
    assert "no user 'nobody'" in out
    run("subscriptions", "remove", str(listed[0]["id"]))
    assert json.loads(run("subscriptions", "list", "--json")) == []
    assert "no subscription 999" in run("subscriptions", "remove", "999", code=1)
