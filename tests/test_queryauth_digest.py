"""HTTP Digest (RFC 7616) on FDSN ``queryauth`` against a live ``idc serve`` on 127.0.0.1.

obspy's ``Client(base_url, user=..., password=...)`` is used unchanged (urllib's
``HTTPDigestAuthHandler``, MD5); SHA-256 Digest is built here by hand with httpx from the formulas
of RFC 7616 §3.4.1 (checked first against the worked example of RFC 7616 §3.9.1). The store holds
Iceland waveforms (Z7, restricted to State roles by the ``[access]`` defaults of
config/default.toml), States DE and FR, and accounts created partly *before* migration 0005 (a
legacy token without HA1) and partly after.
"""
from __future__ import annotations

import copy
import hashlib
import io
import logging
import re
import time
from datetime import datetime, timezone

import httpx
import numpy as np
import pytest
from obspy import UTCDateTime, read
from obspy.clients.fdsn import Client
from obspy.clients.fdsn.header import FDSNForbiddenException, FDSNUnauthorizedException
from obspy.clients.filesystem.sds import Client as SDSClient
from sqlalchemy import select, text

from pipeline import tasks
from pipeline.accounts.config import DigestConfig
from pipeline.accounts.redact import redact
from pipeline.store.accounts import add_state, add_user, create_token, revoke, store_output, token_hash
from pipeline.service.digest import DigestAuth, DigestFailure, expected_response, parse_authorization
from pipeline.store import db
from pipeline.store import models as m
from tests.conftest import make_settings
from tests.test_accounts import ACCESS, ICELAND, Z7, CapturedLogs, Server, _cli

SECRET = "test-nonce-secret-0123456789"
REALM = ACCESS["digest"]["realm"]
T0, T1 = UTCDateTime("2014-08-24T00:01:05"), UTCDateTime("2014-08-24T00:01:25")
QA = "/fdsnws/dataselect/1/queryauth"
WF = {"net": "Z7", "sta": "KVER", "loc": "--", "cha": "HHZ", "start": "2014-08-24T00:01:05",
      "end": "2014-08-24T00:01:25"}
USERS = {"de_user": ("state_user", "DE"), "de_other": ("state_user", "DE"), "fr_user": ("state_user", "FR"),
         "press": ("public", None)}
LEGACY_SECRET = "L" * 43


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    home = tmp_path_factory.mktemp("digest")
    access = copy.deepcopy(ACCESS)
    access["digest"]["nonce_secret"] = SECRET
    access["rate_limit"].update(burst=10000, public_burst=10000)
    s = make_settings(home, "", access=access)
    # accounts of before migration 0005: a token without Digest HA1
    db.upgrade(s.database_url, "0004")
    with db.session_scope(s.database_url) as ss:
        add_state(ss, "DE", "Germany")
        add_state(ss, "FR", "France")
        for name, (role, state) in USERS.items():
            add_user(ss, name, role, state)
        uid = ss.scalar(select(m.UserAccount.id).where(m.UserAccount.name == "de_other"))
        ss.execute(text("INSERT INTO api_token (token_id, user_id, hash, label, created) "
                        "VALUES (:t, :u, :h, 'legacy', :c)"),
                   {"t": "0123456789ab", "u": uid, "h": token_hash("0123456789ab", LEGACY_SECRET),
                    "c": datetime.now(timezone.utc)})
    assert db.upgrade(s.database_url) == db.head_revision()
    tasks.load_stations(s, [str(Z7)])
    assert tasks.ingest_files(s, ICELAND, progress=False)["accepted"] == 1
    tokens = {"legacy": f"idc_0123456789ab_{LEGACY_SECRET}"}
    with db.session_scope(s.database_url) as ss:
        for name in USERS:
            tokens[name], _ = create_token(ss, name, "test")
        add_user(ss, "bursty", "state_user", "DE", rate_per_s=0.01, burst=2)
        tokens["bursty"], _ = create_token(ss, "bursty")
        outputs = {who: store_output(ss, ss.scalar(select(m.UserAccount.id).where(m.UserAccount.name == who)),
                                     f"output of {who}".encode(), kind="test", media_type="text/plain")
                   for who in ("de_user", "fr_user")}
    logs = CapturedLogs()
    names = ("", "uvicorn.access", "uvicorn.error", "pipeline")
    with Server(s) as srv:
        for n in names:
            logging.getLogger(n).addHandler(logs)
        srv.settings, srv.tokens, srv.logs, srv.outputs = s, tokens, logs, outputs
        srv.sent = []  # every Digest response this module sent (none may reach logs or audit)
        try:
            yield srv
        finally:
            for n in names:
                logging.getLogger(n).removeHandler(logs)


# --------------------------------------------------------------------------- helpers
def _challenges(env, path=QA, **kw) -> list[str]:
    r = httpx.get(env.url + path, params=WF, **kw)
    assert r.status_code == 401
    return r.headers.get_list("www-authenticate")


def _params(challenge: str) -> dict:
    scheme, _, rest = challenge.partition(" ")
    assert scheme == "Digest"
    return {k.lower(): v.strip('"') for k, v in re.findall(r'(\w+)=("[^"]*"|[^,\s]+)', rest)}


def _digest_header(env, user, password, algorithm, method, target, *, nonce=None, nc="00000001",
                   cnonce="0a4f113b", realm=REALM, uri=None, response=None) -> str:
    """``Authorization: Digest`` computed independently of the code under test (hashlib only)."""
    if nonce is None:
        chal = {(_params(c)["algorithm"]): _params(c) for c in _challenges(env) if c.startswith("Digest")}
        nonce = chal[algorithm]["nonce"]
    uri = target if uri is None else uri
    h = {"MD5": hashlib.md5, "SHA-256": hashlib.sha256}[algorithm]
    H = lambda x: h(x.encode()).hexdigest()  # noqa: E731
    resp = H(f"{H(f'{user}:{realm}:{password}')}:{nonce}:{nc}:{cnonce}:auth:{H(f'{method}:{uri}')}")
    if response is None:
        env.sent.append(resp)
    else:
        resp = response
    return (f'Digest username="{user}", realm="{realm}", nonce="{nonce}", uri="{uri}", algorithm={algorithm}, '
            f'response="{resp}", qop=auth, nc={nc}, cnonce="{cnonce}"')


def _target(path, params=WF) -> str:
    return str(httpx.URL(path, params=params))


def _archive(env, net, sta, loc, cha, t0, t1):
    st = SDSClient(str(env.settings.archive_dir)).get_waveforms(net, sta, loc, cha, t0, t1)
    return st.trim(t0, t1, nearest_sample=False)


def _same_traces(got, ref):
    assert len(got) == len(ref) > 0
    for a, b in zip(sorted(got, key=lambda t: t.id), sorted(ref, key=lambda t: t.id)):
        assert a.id == b.id and a.stats.starttime == b.stats.starttime and a.stats.npts == b.stats.npts > 1000
        np.testing.assert_array_equal(a.data, b.data)


def _audit_rows(env, after_id, pred, n=1):
    deadline = time.time() + 5
    while True:
        with db.session_scope(env.settings.database_url) as ss:
            rows = [a for a in ss.scalars(select(m.DownloadAudit).where(m.DownloadAudit.id > after_id)
                                          .order_by(m.DownloadAudit.id)) if pred(a)]
            for a in rows:
                ss.expunge(a)
        if len(rows) >= n or time.time() > deadline:
            return rows
        time.sleep(0.05)


def _last_audit_id(env) -> int:
    with db.session_scope(env.settings.database_url) as ss:
        return ss.scalar(select(m.DownloadAudit.id).order_by(m.DownloadAudit.id.desc()).limit(1)) or 0


# --------------------------------------------------------------------------- formulas
def test_rfc7616_worked_example():
    """RFC 7616 §3.9.1: Mufasa / "Circle of Life" in realm http-auth@example.org."""
    args = ("7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", "00000001",
            "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ", "auth", "GET", "/dir/index.html")
    a1 = "Mufasa:http-auth@example.org:Circle of Life"
    assert expected_response("MD5", hashlib.md5(a1.encode()).hexdigest(), *args) == "8ca523f5e9506fed4657c9700eebdbec"
    assert expected_response("SHA-256", hashlib.sha256(a1.encode()).hexdigest(), *args) == \
        "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"


def test_parse_authorization_names_the_problem():
    ok = parse_authorization('username="a\\"b", realm="r, x",, nonce="n", uri="/q?a=1,2", algorithm="sha-256", '
                             'response="ab" , qop=auth, nc=00000001, cnonce="c",')
    assert (ok.username, ok.realm, ok.uri, ok.algorithm, ok.nc) == ('a"b', "r, x", "/q?a=1,2", "SHA-256", "00000001")
    assert "ab" not in repr(ok)
    for bad, msg in [('username="a"', "lack realm, nonce, uri, response, qop, nc, cnonce"),
                     ('username="a", realm="r", nonce="n", uri="/", response="x", nc=00000001, cnonce="c"',
                      "qop=auth is required"),
                     ('username="a", realm="r", nonce="n", uri="/", response="x", qop=auth-int, nc=00000001, '
                      'cnonce="c"', "qop 'auth-int' is not supported"),
                     ('username="a", realm="r", nonce="n", uri="/", response="x", qop=auth, nc=1, cnonce="c"',
                      "nc must be 8 hexadecimal digits"),
                     ('username="a", username="b"', "'username' given twice"),
                     ('username="a", userhash=true', "userhash"),
                     ('garbage', "Malformed")]:
        with pytest.raises(DigestFailure, match=re.escape(msg)):
            parse_authorization(bad)


def test_nonces_are_authenticated_and_expire():
    cfg = DigestConfig(nonce_secret="k", nonce_lifetime_s=60)
    now = [1_700_000_000.0]
    d = DigestAuth(cfg, clock=lambda: now[0])
    n = d.nonce()
    assert d.nonce() != n and d.nonce_age(n) == 0.0
    now[0] += 61
    assert d.nonce_age(n) == pytest.approx(61.0)
    assert DigestAuth(DigestConfig(nonce_secret="other"), clock=lambda: now[0]).nonce_age(n) is None
    tampered = n[:-2] + ("AA" if n[-2:] != "AA" else "BB")
    assert d.nonce_age(tampered) is None and d.nonce_age("not base64!") is None
    assert DigestAuth(DigestConfig(realm="other", nonce_secret="k"), clock=lambda: now[0]).nonce_age(n) is None


# --------------------------------------------------------------------------- obspy, unchanged
def test_obspy_client_with_user_and_password(env):
    before = _last_audit_id(env)
    c = Client(env.url, user="de_user", password=env.tokens["de_user"])
    st = c.get_waveforms("Z7", "KVER", "", "HHZ", T0, T1)
    _same_traces(st, _archive(env, "Z7", "KVER", "", "HHZ", T0, T1))
    bulk = [("Z7", "KVER", "", "HHZ", T0, T1), ("Z7", "TOHR", "", "HH?", T0 + 3, T1)]
    st = c.get_waveforms_bulk(bulk)
    ref = _archive(env, "Z7", "KVER", "", "HHZ", T0, T1) + _archive(env, "Z7", "TOHR", "", "HH?", T0 + 3, T1)
    assert len(ref) == 4
    _same_traces(st, ref)
    # the same data are restricted: the public gets 403 from query and 401 from queryauth
    with pytest.raises(FDSNForbiddenException):
        Client(env.url).get_waveforms("Z7", "KVER", "", "HHZ", T0, T1)
    # the audit (and the rate limit, keyed by account) saw the Digest user
    rows = _audit_rows(env, before, lambda a: a.endpoint == QA and a.status == 200, n=2)
    assert sorted((a.user_name, a.state, a.role, a.product, a.method) for a in rows) == \
        [("de_user", "DE", "state_user", "waveforms", "GET"), ("de_user", "DE", "state_user", "waveforms", "POST")]
    assert all(a.bytes > 4000 for a in rows)
    # every 401 on the way told urllib what to do: MD5 Digest first
    first = _challenges(env)
    assert first[0].startswith("Digest ") and _params(first[0])["algorithm"] == "MD5"


def test_obspy_wrong_password_revoked_and_forbidden(env):
    good = env.tokens["de_user"]
    for user, password in [("de_user", good[:-1] + ("x" if good[-1] != "x" else "y")),
                           ("fr_user", good),  # another account's token
                           ("nobody", good),
                           ("de_other", env.tokens["legacy"])]:  # token created before 0005: no HA1
        with pytest.raises(FDSNUnauthorizedException):
            Client(env.url, user=user, password=password).get_waveforms("Z7", "KVER", "", "HHZ", T0, T1)
    # the legacy token still works as Bearer
    r = httpx.get(env.url + QA, params=WF, headers={"Authorization": f"Bearer {env.tokens['legacy']}"})
    assert r.status_code == 200 and len(r.content) > 4000
    # an authenticated account whose role may not read waveforms: 403, not 401
    with pytest.raises(FDSNForbiddenException):
        Client(env.url, user="press", password=env.tokens["press"]).get_waveforms("Z7", "KVER", "", "HHZ", T0, T1)
    # revoked: refused at once
    with db.session_scope(env.settings.database_url) as ss:
        tok, row = create_token(ss, "de_other", "to revoke")
    c = Client(env.url, user="de_other", password=tok)
    assert len(c.get_waveforms("Z7", "KVER", "", "HHZ", T0, T1)) == 1
    with db.session_scope(env.settings.database_url) as ss:
        assert revoke(ss, row.token_id) == 1
    with pytest.raises(FDSNUnauthorizedException):
        c.get_waveforms("Z7", "KVER", "", "HHZ", T0, T1)
    with db.session_scope(env.settings.database_url) as ss:
        short, _ = create_token(ss, "de_other", "expired", expires_days=1e-9)
    with pytest.raises(FDSNUnauthorizedException):
        Client(env.url, user="de_other", password=short).get_waveforms("Z7", "KVER", "", "HHZ", T0, T1)


# --------------------------------------------------------------------------- the protocol, by hand
def test_challenges(env):
    ch = _challenges(env)
    digests = [_params(c) for c in ch if c.startswith("Digest ")]
    assert [d["algorithm"] for d in digests] == list(ACCESS["digest"]["algorithms"]) == ["MD5", "SHA-256"]
    assert all(d["realm"] == REALM and d["qop"] == "auth" and "stale" not in d for d in digests)
    assert digests[0]["nonce"] != digests[1]["nonce"]
    assert ch[len(digests):] == [f'Basic realm="{REALM}", charset="UTF-8"', 'Bearer realm="idc-pipeline"']
    # a client that sent Bearer is told about Bearer only; the web UI never gets Digest/Basic
    assert _challenges(env, headers={"Authorization": "Bearer idc_000000000000_" + "x" * 43}) == \
        ['Bearer realm="idc-pipeline"']
    r = httpx.get(f"{env.url}/accounts/1/outputs")
    assert r.status_code == 401 and r.headers.get_list("www-authenticate") == ['Bearer realm="idc-pipeline"']


@pytest.mark.parametrize("algorithm", ["MD5", "SHA-256"])
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_md5_and_sha256_digests(env, algorithm, method):
    tok = env.tokens["fr_user"]
    ref = httpx.get(env.url + QA, params=WF, headers={"Authorization": f"Bearer {tok}"})
    assert ref.status_code == 200
    if method == "GET":
        target, kw = _target(QA), {}
    else:
        target, kw = QA, {"content": "Z7 KVER -- HHZ 2014-08-24T00:01:05 2014-08-24T00:01:25\n"}
    hdr = _digest_header(env, "fr_user", tok, algorithm, method, target)
    r = httpx.request(method, env.url + target, headers={"Authorization": hdr}, **kw)
    assert r.status_code == 200, r.text
    assert r.content == ref.content
    _same_traces(read(io.BytesIO(r.content)), _archive(env, "Z7", "KVER", "", "HHZ", T0, T1))
    # the same header again: a replay
    r = httpx.request(method, env.url + target, headers={"Authorization": hdr}, **kw)
    assert r.status_code == 401 and "replayed" in r.text
    # a wrong response, another uri, realm or algorithm name: 401 naming the problem
    nonce = _params(_challenges(env)[0])["nonce"]
    for kwargs, msg in [({"response": "0" * 64 if algorithm == "SHA-256" else "0" * 32}, "invalid HTTP Digest"),
                        ({"uri": _target(QA, {**WF, "sta": "TOHR"})}, "uri does not match"),
                        ({"realm": "other"}, "realm is not"),
                        ({"nonce": nonce[:-4] + "AAAA"}, "nonce was not issued by this service")]:
        hdr = _digest_header(env, "fr_user", tok, algorithm, method, target, cnonce="x1", **{"nonce": nonce, **kwargs})
        r = httpx.request(method, env.url + target, headers={"Authorization": hdr}, **kw)
        assert r.status_code == 401 and msg in r.text, (kwargs, r.text)
        assert r.headers.get_list("www-authenticate")[0].startswith("Digest ")
    hdr = _digest_header(env, "fr_user", tok, algorithm, method, target).replace(f"algorithm={algorithm}",
                                                                                   "algorithm=SHA-512-256")
    r = httpx.request(method, env.url + target, headers={"Authorization": hdr}, **kw)
    assert r.status_code == 401 and "'SHA-512-256' is not offered" in r.text


def test_stale_nonce(env):
    """A nonce older than nonce_lifetime_s: 401 with stale=true when the response is right (the
    client knows the password), a plain 401 when it is wrong."""
    old = DigestAuth(DigestConfig(realm=REALM, nonce_secret=SECRET),
                     clock=lambda: time.time() - ACCESS["digest"]["nonce_lifetime_s"] - 30).nonce()
    tok, target = env.tokens["de_user"], _target(QA)
    hdr = _digest_header(env, "de_user", tok, "SHA-256", "GET", target, nonce=old)
    r = httpx.get(env.url + target, headers={"Authorization": hdr})
    assert r.status_code == 401 and "nonce expired" in r.text
    digests = [_params(c) for c in r.headers.get_list("www-authenticate") if c.startswith("Digest ")]
    assert len(digests) == 2 and all(d["stale"] == "true" and d["nonce"] != old for d in digests)
    # retrying with the new nonce works without the password being asked again
    fresh = digests[1]["nonce"]
    r = httpx.get(env.url + target, headers={
        "Authorization": _digest_header(env, "de_user", tok, "SHA-256", "GET", target, nonce=fresh)})
    assert r.status_code == 200
    wrong = _digest_header(env, "de_user", tok[:-3] + "zzz", "SHA-256", "GET", target, nonce=old)
    r = httpx.get(env.url + target, headers={"Authorization": wrong})
    assert r.status_code == 401 and all("stale" not in c for c in r.headers.get_list("www-authenticate"))


def test_other_states_outputs_stay_denied(env):
    for who, code in [("de_user", 200), ("fr_user", 403)]:
        path = f"/accounts/1/outputs/{env.outputs[who]}"
        hdr = _digest_header(env, "de_user", env.tokens["de_user"], "SHA-256", "GET", path)
        r = httpx.get(env.url + path, headers={"Authorization": hdr})
        assert r.status_code == code, r.text
        if code == 200:
            assert r.content == b"output of de_user"


def test_rate_limit_per_account_with_digest(env):
    tok, target = env.tokens["bursty"], _target(QA)
    codes = [httpx.get(env.url + target, headers={
        "Authorization": _digest_header(env, "bursty", tok, "MD5", "GET", target)}) for _ in range(3)]
    assert [r.status_code for r in codes] == [200, 200, 429]
    assert int(codes[2].headers["retry-after"]) >= 1 and "bursty" in codes[2].text


def test_cli_token_stores_ha1_of_the_configured_realm(tmp_path):
    s = make_settings(tmp_path / "home")
    db.upgrade(s.database_url)
    _cli(s, "accounts", "add-user", "ndc", "--role", "analyst")
    out = _cli(s, "accounts", "token", "ndc")
    token = out.splitlines()[0]
    assert "HTTP Digest" in out and token.startswith("idc_")
    with db.session_scope(s.database_url) as ss:
        (row,) = ss.scalars(select(m.ApiToken))
        assert row.digest_realm == s.access.digest.realm == REALM
        assert row.digest_ha1_md5 == hashlib.md5(f"ndc:{REALM}:{token}".encode()).hexdigest()
        assert row.digest_ha1_sha256 == hashlib.sha256(f"ndc:{REALM}:{token}".encode()).hexdigest()
        assert token not in (row.hash + row.digest_ha1_md5 + row.digest_ha1_sha256)


def test_migration_0005_downgrades(tmp_path):
    from alembic import command

    s = make_settings(tmp_path / "home")
    db.upgrade(s.database_url)
    cfg = db._alembic_config(s.database_url)
    with db.get_engine(s.database_url).begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0004")
    assert db.current_revision(s.database_url) == "0004"
    with db.get_engine(s.database_url).connect() as conn:
        cols = {r[1] for r in conn.execute(text("PRAGMA table_info(api_token)"))}
    assert "hash" in cols and not {c for c in cols if c.startswith("digest_")}
    assert db.upgrade(s.database_url) == db.head_revision()


# --------------------------------------------------------------------------- secrets stay out (last: sees all)
def test_tokens_and_digest_responses_never_logged(env):
    tok = env.tokens["de_user"]
    hdr = _digest_header(env, "de_user", tok, "MD5", "GET", _target(QA))
    logging.getLogger("pipeline.service").warning("client sent Authorization: %s", hdr)
    httpx.get(env.url + QA, params={**WF, "password": tok})  # in the URL: refused, not logged
    time.sleep(0.3)
    text_ = "\n".join(env.logs.lines)
    assert f"GET {QA}" in text_ and "response=\"[REDACTED]\"" in text_  # the logs were captured
    sent = [r for r in env.sent if len(r) >= 32]
    assert len(sent) > 10
    secrets_ = [t.split("_", 2)[2] for t in env.tokens.values()]
    for s_ in sent + secrets_:
        assert s_ not in text_
    with db.session_scope(env.settings.database_url) as ss:
        audit = " ".join(a.query + a.endpoint + a.user_name for a in ss.scalars(select(m.DownloadAudit)))
        ha1 = [v for r in ss.scalars(select(m.ApiToken)) for v in (r.digest_ha1_md5, r.digest_ha1_sha256) if v]
    assert "sta=KVER" in audit and "de_user" in audit
    for s_ in sent + secrets_ + ha1:
        assert s_ not in audit and s_ not in text_
    raw = b"".join(p.read_bytes() for p in env.settings.home.glob("idc.sqlite*"))
    assert not [s_ for s_ in secrets_ + sent if s_.encode() in raw]
    assert redact(hdr).count("[REDACTED]") == 1 and "username=\"de_user\"" in redact(hdr)


def test_authenticate_digest_in_the_store(settings):
    """The HA1 look-up on both backends: only live tokens of the realm, of an active account."""
    from pipeline.store.accounts import AuthError, authenticate_digest

    db.upgrade(settings.database_url)
    with db.session_scope(settings.database_url) as ss:
        add_state(ss, "DE", "Germany")
        add_user(ss, "de_user", "state_user", "DE")
        add_user(ss, "gone", "analyst")
        live, _ = create_token(ss, "de_user", digest_realm=REALM)
        revoked, row = create_token(ss, "de_user", digest_realm=REALM)
        revoke(ss, row.token_id)
        expired, _ = create_token(ss, "de_user", digest_realm=REALM, expires_days=1e-9)
        other_realm, _ = create_token(ss, "de_user", digest_realm="elsewhere")
        disabled, _ = create_token(ss, "gone", digest_realm=REALM)
        ss.scalar(select(m.UserAccount).where(m.UserAccount.name == "gone")).active = False
    time.sleep(0.01)
    for alg, h in (("MD5", hashlib.md5), ("SHA-256", hashlib.sha256)):
        def knows(user, token):
            want = h(f"{user}:{REALM}:{token}".encode()).hexdigest()
            return lambda ha1: ha1 == want

        with db.session_scope(settings.database_url) as ss:
            acc = authenticate_digest(ss, "de_user", REALM, alg, knows("de_user", live))
            assert (acc.name, acc.state, acc.role) == ("de_user", "DE", "state_user")
            for user, tok in [("de_user", revoked), ("de_user", expired), ("de_user", other_realm),
                              ("gone", disabled), ("nobody", live), ("de_user", live + "x")]:
                with pytest.raises(AuthError):
                    authenticate_digest(ss, user, REALM, alg, knows(user, tok))


def test_dataselect_wadl_lists_queryauth(env):
    """The dataselect application.wadl declares ``queryauth`` (GET and POST, the same parameters
    as ``query``), and obspy's WADL parser reads it."""
    from lxml import etree
    from obspy.clients.fdsn.wadl_parser import WADLParser

    body = httpx.get(f"{env.url}/fdsnws/dataselect/1/application.wadl").content
    ns = {"w": "http://wadl.dev.java.net/2009/02"}
    root = etree.fromstring(body)
    res = {r.get("path"): r for r in root.iterfind(".//w:resource", ns)}
    assert {"query", "queryauth", "version", "application.wadl"} <= set(res)
    params = {k: [p.get("name") for p in res[k].iterfind(".//w:param", ns)] for k in ("query", "queryauth")}
    assert params["query"] == params["queryauth"] and "network" in params["query"]
    methods = [m_.get("name") for m_ in res["queryauth"].iterfind("w:method", ns)]
    assert methods == ["GET", "POST"]
    parsed = WADLParser(body).parameters
    assert {"network", "station", "starttime", "endtime"} <= set(parsed)
