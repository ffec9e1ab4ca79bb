"""Accounts and access against a live ``idc serve`` on 127.0.0.1.

The store holds the IDC's 1995 REB (GSE2.0: two events, mb 3.6 and mb 4.0) as REB and, for the
matrix, as every other bulletin type of the same window; Iceland waveforms (Z7) in the SDS
archive with their StationXML. Accounts: States DE and FR, one account per role. The expected
answers are computed from the ``[access]`` section of config/default.toml read here with
:mod:`tomllib` (not through the code under test) and the events the store holds.
"""
from __future__ import annotations

import base64
import io
import logging
import threading
import time
import tomllib

import httpx
import pytest
import uvicorn
from click.testing import CliRunner
from obspy import UTCDateTime, read
from sqlalchemy import select

from pipeline import tasks
from pipeline.accounts.ratelimit import RateLimiter
from pipeline.accounts.redact import redact
from pipeline.store.accounts import add_state, add_user, create_token, store_output
from pipeline.bulletin.read import read_bulletin
from pipeline.cli.main import cli
from pipeline.service.app import create_app
from pipeline.settings import DEFAULT_CONFIG
from pipeline.store import db
from pipeline.store import models as m
from pipeline.store.catalog import store_catalog
from pipeline.store.products import ProductKey, write_product
from tests import PROJECT_ROOT
from tests.conftest import DATA, make_settings
from tests.test_service_fdsn import REB2, REB_WINDOW, _free_port

DEFAULT = tomllib.loads(DEFAULT_CONFIG.read_text())
ACCESS = DEFAULT["access"]
Z7 = PROJECT_ROOT / "stations" / "Z7.xml"
ICELAND = sorted((DATA / "iceland" / "waveforms").glob("*.m"))[:1]
BULLETINS = ("SEL1", "SEL2", "SEL3", "REB", "SEB", "SSEB")
#: account name → (role, State); "anonymous" sends no token
ACCOUNTS = {"de_principal": ("state_principal", "DE"), "de_user": ("state_user", "DE"),
            "fr_user": ("state_user", "FR"), "analyst1": ("analyst", None), "operator1": ("operator", None),
            "press": ("public", None)}
WF = {"net": "Z7", "sta": "KVER", "loc": "--", "cha": "HHZ", "start": "2014-08-24T00:01:05",
      "end": "2014-08-24T00:01:25"}


class CapturedLogs(logging.Handler):
    def __init__(self):
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record):
        self.lines.append(self.format(record))


class Server:
    """uvicorn with access log (INFO) over ``create_app(settings)`` in a thread."""

    def __init__(self, settings):
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1", port=self.port,
                                                    log_level="info", access_log=True))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self):
        self.thread.start()
        t0 = time.time()
        while not self.server.started:
            assert time.time() - t0 < 20 and self.thread.is_alive(), "server did not start"
            time.sleep(0.02)
        return self

    def __exit__(self, *exc):
        self.server.should_exit = True
        self.thread.join(10)


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    home = tmp_path_factory.mktemp("accounts")
    s = make_settings(home, "", **{"access": ACCESS, "access.rate_limit.public_burst": 10000,
                                   "access.rate_limit.burst": 10000})
    db.upgrade(s.database_url)
    tasks.load_stations(s, [str(Z7)])
    assert tasks.ingest_files(s, ICELAND, progress=False)["accepted"] == 1
    cat, _ = read_bulletin(REB2)
    tokens = {}
    with db.session_scope(s.database_url) as ss:
        for t in BULLETINS:
            write_product(ss, ProductKey(t, REB_WINDOW[0].timestamp, REB_WINDOW[1].timestamp), input_fingerprint="f",
                          config_hash="c", software_version="t", fill=lambda ss, p: store_catalog(ss, p, cat))
        add_state(ss, "DE", "Germany")
        add_state(ss, "FR", "France")
        for name, (role, state) in ACCOUNTS.items():
            add_user(ss, name, role, state)
            tokens[name], _ = create_token(ss, name, "test")
        add_user(ss, "bursty", "state_user", "DE", rate_per_s=0.2, burst=3)
        tokens["bursty"], _ = create_token(ss, "bursty")
    logs = CapturedLogs()
    with Server(s) as srv:
        for name in ("", "uvicorn.access", "uvicorn.error", "pipeline"):
            logging.getLogger(name).addHandler(logs)
        srv.settings, srv.tokens, srv.logs, srv.catalog = s, tokens, logs, cat
        try:
            yield srv
        finally:
            for name in ("", "uvicorn.access", "uvicorn.error", "pipeline"):
                logging.getLogger(name).removeHandler(logs)


def _auth(env, who):
    return {} if who == "anonymous" else {"Authorization": f"Bearer {env.tokens[who]}"}


def _role(who):
    return "public" if who == "anonymous" else ACCOUNTS[who][0]


def _public_events(cat):
    """The events of the public rule of config/default.toml, computed from the catalogue."""
    rule = ACCESS["public_events"]
    now = UTCDateTime()
    out = []
    for e in cat:
        o = e.preferred_origin() or e.origins[0]
        mags = [mg.mag for mg in e.magnitudes if not rule["magnitude_type"] or mg.magnitude_type == rule["magnitude_type"]]
        if mags and mags[0] >= rule["min_magnitude"] and now - o.time >= rule["min_age_days"] * 86400:
            out.append(o)
    return out


def _times(text):
    return sorted(UTCDateTime(line.split("|")[1]).timestamp for line in text.splitlines()[1:] if line.strip())


# --------------------------------------------------------------------------- the authorisation matrix
@pytest.mark.parametrize("who", ["anonymous"] + list(ACCOUNTS))
def test_authorisation_matrix(env, who):
    role = _role(who)
    all_times = sorted(round((e.preferred_origin() or e.origins[0]).time.timestamp, 1) for e in env.catalog)
    pub_times = sorted(round(o.time.timestamp, 1) for o in _public_events(env.catalog))
    assert len(pub_times) == 1 and len(all_times) == 2  # mb 4.0 passes, mb 3.6 (ML 4.0) does not
    for product in BULLETINS:
        r = httpx.get(f"{env.url}/fdsnws/event/1/query", params={"catalog": product, "format": "text"},
                      headers=_auth(env, who))
        if role in ACCESS["products"][product]:
            assert r.status_code == 200, (who, product, r.text)
            assert [round(t, 1) for t in _times(r.text)] == all_times
        elif role == "public" and product in ACCESS["public_events"]["products"]:
            assert r.status_code == 200, (who, product, r.text)
            assert [round(t, 1) for t in _times(r.text)] == pub_times
        elif who == "anonymous":  # credentials would help: challenged (obspy Client(user, password) answers)
            assert r.status_code == 401, (who, product, r.status_code)
            assert r.headers.get_list("www-authenticate")[0].startswith("Digest ") and product in r.text
        else:
            assert r.status_code == 403, (who, product, r.status_code)
            assert r.text.startswith("Error 403: Forbidden") and product in r.text
            assert "fdsnws/event/1/query" in r.text  # FDSN error document echoing the request
    # QuakeML output follows the same rule
    r = httpx.get(f"{env.url}/fdsnws/event/1/query", params={"catalog": "REB"}, headers=_auth(env, who))
    assert r.status_code == 200
    from obspy import read_events
    n = len(read_events(io.BytesIO(r.content)))
    assert n == (len(all_times) if role in ACCESS["products"]["REB"] else len(pub_times))
    # stations
    r = httpx.get(f"{env.url}/fdsnws/station/1/query", params={"network": "Z7", "format": "text"},
                  headers=_auth(env, who))
    assert r.status_code == (200 if role in ACCESS["products"]["stations"] else 403)
    # waveforms: GET, POST and queryauth
    allowed = role in ACCESS["products"]["waveforms"]
    r = httpx.get(f"{env.url}/fdsnws/dataselect/1/query", params=WF, headers=_auth(env, who))
    assert r.status_code == (200 if allowed else 403), (who, r.text[:200])
    if allowed:
        st = read(io.BytesIO(r.content))
        assert [tr.id for tr in st] == ["Z7.KVER..HHZ"] and st[0].stats.npts > 1000
    body = "Z7 KVER -- HHZ 2014-08-24T00:01:05 2014-08-24T00:01:25\n"
    r = httpx.post(f"{env.url}/fdsnws/dataselect/1/query", content=body, headers=_auth(env, who))
    assert r.status_code == (200 if allowed else 403)
    r = httpx.get(f"{env.url}/fdsnws/dataselect/1/queryauth", params=WF, headers=_auth(env, who))
    if who == "anonymous":
        # FDSN queryauth: Digest challenges first (urllib/obspy read the first one), Bearer last
        challenges = r.headers.get_list("www-authenticate")
        assert r.status_code == 401 and challenges[0].startswith("Digest ") and challenges[-1].startswith("Bearer")
    else:
        assert r.status_code == (200 if allowed else 403)


def test_default_catalog_and_eventid_for_the_public(env):
    # no catalog: the REB (default catalogue), only its public part
    r = httpx.get(f"{env.url}/fdsnws/event/1/query", params={"format": "text"})
    assert r.status_code == 200 and len(_times(r.text)) == len(_public_events(env.catalog)) == 1
    # the other REB event by its id: not public → no data, even though it exists
    ids = [line.split("|")[0] for line in httpx.get(
        f"{env.url}/fdsnws/event/1/query", params={"format": "text", "catalog": "REB"},
        headers=_auth(env, "analyst1")).text.splitlines()[1:]]
    hidden = [i for i in ids if i not in r.text]
    assert len(hidden) == 1
    assert httpx.get(f"{env.url}/fdsnws/event/1/query", params={"eventid": hidden[0]}).status_code == 204
    assert httpx.get(f"{env.url}/fdsnws/event/1/query", params={"eventid": hidden[0]},
                     headers=_auth(env, "fr_user")).status_code == 200
    # an automatic bulletin by id: 401 (challenge) without credentials, 403 for a public account
    sel = ids[0].replace("REB-", "SEL3-")
    assert httpx.get(f"{env.url}/fdsnws/event/1/query", params={"eventid": sel}).status_code == 401
    assert httpx.get(f"{env.url}/fdsnws/event/1/query", params={"eventid": sel},
                     headers=_auth(env, "press")).status_code == 403


def test_whoami(env):
    me = httpx.get(f"{env.url}/accounts/1/whoami", headers=_auth(env, "de_user")).json()
    assert (me["name"], me["role"], me["state"], me["authenticated"]) == ("de_user", "state_user", "DE", True)
    assert me["products"]["REB"] == "all" and me["products"]["waveforms"] == "all"
    pub = httpx.get(f"{env.url}/accounts/1/whoami").json()
    assert pub["products"]["REB"] == "public events" and "waveforms" not in pub["products"]
    assert pub["public_rule"]["min_magnitude"] == ACCESS["public_events"]["min_magnitude"]


# --------------------------------------------------------------------------- request outputs per State
def test_no_state_reads_another_states_outputs(env):
    s = env.settings
    with db.session_scope(s.database_url) as ss:
        uid = {u.name: u.id for u in ss.scalars(select(m.UserAccount))}
        de_out = store_output(ss, uid["de_user"], b"BEGIN IMS1.0\nMSG_TYPE DATA\n", kind="ims1", product="REB",
                              media_type="text/plain")
        de_p_out = store_output(ss, uid["de_principal"], b"principal's own", kind="ims1")
        fr_out = store_output(ss, uid["fr_user"], b"FR data", kind="ims1")
    expect = {  # (reader, output) → status
        ("de_user", de_out): 200, ("de_principal", de_out): 200, ("fr_user", de_out): 403,
        ("press", de_out): 403, ("anonymous", de_out): 401, ("analyst1", de_out): 200, ("operator1", de_out): 200,
        ("de_user", de_p_out): 403, ("de_principal", de_p_out): 200, ("fr_user", de_p_out): 403,
        ("de_user", fr_out): 403, ("de_principal", fr_out): 403, ("fr_user", fr_out): 200,
    }
    for (who, out), status in expect.items():
        r = httpx.get(f"{env.url}/accounts/1/outputs/{out}", headers=_auth(env, who))
        assert r.status_code == status, (who, out, r.text[:200])
        if status == 200:
            assert r.content in (b"BEGIN IMS1.0\nMSG_TYPE DATA\n", b"principal's own", b"FR data")
    assert httpx.get(f"{env.url}/accounts/1/outputs/nope", headers=_auth(env, "de_user")).status_code == 404
    listed = {x["id"] for x in httpx.get(f"{env.url}/accounts/1/outputs", headers=_auth(env, "fr_user")).json()}
    assert fr_out in listed and de_out not in listed and de_p_out not in listed
    listed = {x["id"] for x in httpx.get(f"{env.url}/accounts/1/outputs", headers=_auth(env, "de_principal")).json()}
    assert {de_out, de_p_out} <= listed and fr_out not in listed


# --------------------------------------------------------------------------- tokens
def test_bad_revoked_and_expired_tokens_get_401(env):
    s = env.settings
    url = f"{env.url}/fdsnws/dataselect/1/query"
    good = env.tokens["de_user"]
    tid = good.split("_")[1]
    wrong_secret = f"idc_{tid}_{'A' * 43}"
    for bad in ("nonsense", wrong_secret, f"idc_{'0' * 12}_{'B' * 43}", good + "x"):
        r = httpx.get(url, params=WF, headers={"Authorization": f"Bearer {bad}"})
        assert r.status_code == 401 and r.text.startswith("Error 401: Unauthorized")
        assert r.headers["www-authenticate"] == 'Bearer realm="idc-pipeline"'
    assert httpx.get(url, params=WF, headers={"Authorization": "Token abc"}).status_code == 401
    # HTTP Basic with the token as password
    basic = base64.b64encode(f"de_user:{good}".encode()).decode()
    assert httpx.get(url, params=WF, headers={"Authorization": f"Basic {basic}"}).status_code == 200
    basic = base64.b64encode(f"fr_user:{good}".encode()).decode()
    assert httpx.get(url, params=WF, headers={"Authorization": f"Basic {basic}"}).status_code == 401
    # revoked through the CLI → 401 at once
    with db.session_scope(s.database_url) as ss:
        tok, row = create_token(ss, "de_user", "to revoke")
        short, _ = create_token(ss, "de_user", "expired", expires_days=1e-9)
    hdr = {"Authorization": f"Bearer {tok}"}
    assert httpx.get(url, params=WF, headers=hdr).status_code == 200
    res = _cli(s, "accounts", "revoke", tok.split("_")[1])
    assert "1 token revoked" in res
    assert httpx.get(url, params=WF, headers=hdr).status_code == 401
    assert httpx.get(url, params=WF, headers={"Authorization": f"Bearer {short}"}).status_code == 401
    assert httpx.get(url, params=WF, headers=_auth(env, "de_user")).status_code == 200  # others still work


def test_tokens_are_stored_hashed_and_never_logged(env):
    s = env.settings
    tok = env.tokens["analyst1"]
    secret = tok.split("_", 2)[2]
    # requests carrying tokens in every place a client might put one (a token in the URL is not
    # accepted, but it must not reach the logs either)
    httpx.get(f"{env.url}/fdsnws/event/1/query", params={"catalog": "SEL3", "format": "text"},
              headers={"Authorization": f"Bearer {tok}"})
    httpx.get(f"{env.url}/fdsnws/event/1/query", params={"catalog": "SEL3", "token": tok})
    httpx.get(f"{env.url}/fdsnws/event/1/query", params={"catalog": "REB", "access_token": secret})
    httpx.get(f"{env.url}/fdsnws/event/1/query", headers={"Authorization": f"Bearer {tok[:-2]}"})  # 401 path
    logging.getLogger("pipeline.service").warning("client sent Authorization: Bearer %s", tok)
    time.sleep(0.3)
    text = "\n".join(env.logs.lines)
    assert "GET /fdsnws/event/1/query" in text  # the access log was captured
    assert "Bearer [REDACTED]" in text and "token=[REDACTED]" in text and "Logging error" not in text
    assert secret not in text and secret[:20] not in text
    # the store: only the hash; the audit: no token
    with db.session_scope(s.database_url) as ss:
        rows = list(ss.scalars(select(m.ApiToken)))
        assert all(secret not in (r.hash + r.token_id + r.label) for r in rows)
        audit = " ".join(a.query + a.endpoint for a in ss.scalars(select(m.DownloadAudit)))
    assert "catalog=SEL3" in audit and secret not in audit
    raw = b"".join(p.read_bytes() for p in s.home.glob("idc.sqlite*"))
    assert secret.encode() not in raw
    assert redact(f"Authorization: Basic {base64.b64encode(b'u:' + tok.encode()).decode()}").endswith("[REDACTED]")


# --------------------------------------------------------------------------- rate limits and audit
def test_rate_limit_gives_429_with_retry_after(env):
    url = f"{env.url}/fdsnws/station/1/query"
    hdr = _auth(env, "bursty")
    codes = [httpx.get(url, params={"network": "Z7", "format": "text"}, headers=hdr) for _ in range(5)]
    assert [r.status_code for r in codes[:3]] == [200, 200, 200]
    r = codes[3]
    assert r.status_code == 429 and r.text.startswith("Error 429: Too Many Requests")
    assert 1 <= int(r.headers["retry-after"]) <= 5  # 1 token at 0.2/s
    assert codes[4].status_code == 429
    # other accounts are not affected
    assert httpx.get(url, params={"network": "Z7", "format": "text"},
                     headers=_auth(env, "de_user")).status_code == 200


def test_rate_limiter_token_bucket():
    now = [0.0]
    rl = RateLimiter(clock=lambda: now[0])
    assert [rl.take("a", 1.0, 3) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert rl.take("a", 1.0, 3) == pytest.approx(1.0)
    now[0] = 0.5
    assert rl.take("a", 1.0, 3) == pytest.approx(0.5)
    now[0] = 1.0
    assert rl.take("a", 1.0, 3) == 0.0 and rl.take("b", 1.0, 3) == 0.0
    assert rl.take("c", 0.0, 1) == 0.0  # 0 = unlimited
    assert RateLimiter.retry_after(0.01) == 1 and RateLimiter.retry_after(2.2) == 3


def test_every_download_is_audited(env):
    s = env.settings
    with db.session_scope(s.database_url) as ss:
        before = ss.scalar(select(m.DownloadAudit.id).order_by(m.DownloadAudit.id.desc()).limit(1)) or 0
    r = httpx.get(f"{env.url}/fdsnws/dataselect/1/query", params=WF, headers=_auth(env, "fr_user"))
    assert r.status_code == 200
    denied = httpx.get(f"{env.url}/fdsnws/event/1/query", params={"catalog": "SEB"})
    assert denied.status_code == 401  # restricted, no credentials: challenged
    deadline = time.time() + 5
    while True:
        with db.session_scope(s.database_url) as ss:
            rows = list(ss.scalars(select(m.DownloadAudit).where(m.DownloadAudit.id > before)
                                   .order_by(m.DownloadAudit.id)))
        mine = [a for a in rows if a.user_name == "fr_user" and a.endpoint == "/fdsnws/dataselect/1/query"]
        pub = [a for a in rows if a.user_name == "public" and "catalog=SEB" in a.query]
        if (mine and pub) or time.time() > deadline:
            break
        time.sleep(0.05)
    a = mine[-1]
    assert (a.state, a.role, a.product, a.status, a.method) == ("FR", "state_user", "waveforms", 200, "GET")
    assert a.bytes == len(r.content) > 0 and a.client == "127.0.0.1" and a.duration_ms > 0
    assert "sta=KVER" in a.query
    assert (pub[-1].status, pub[-1].product, pub[-1].bytes) == (401, "SEB", len(denied.content))


# --------------------------------------------------------------------------- CLI
def _cli(settings, *args, code=0):
    env = {"IDC_HOME": str(settings.home), "IDC_CONFIG": str(PROJECT_ROOT / "config" / "test.toml")}
    res = CliRunner(env=env).invoke(cli, list(args), catch_exceptions=False)
    assert res.exit_code == code, res.output
    return res.output


def test_cli_accounts(tmp_path):
    s = make_settings(tmp_path / "home")
    assert "State JP (Japan) added" in _cli(s, "accounts", "add-state", "jp", "Japan")
    assert "ISO 3166-1" in _cli(s, "accounts", "add-state", "Japan", "Japan", code=1)
    assert "exists already" in _cli(s, "accounts", "add-state", "JP", "Japan", code=1)
    assert "needs --state" in _cli(s, "accounts", "add-user", "x", "--role", "state_user", code=1)
    assert "no State 'XX'" in _cli(s, "accounts", "add-user", "x", "--role", "state_user", "--state", "XX",
                                   code=1)
    _cli(s, "accounts", "add-user", "jp_ndc", "--role", "state_principal", "--state", "JP", "--rate", "2")
    out = _cli(s, "accounts", "token", "jp_ndc", "--label", "ndc")
    token = out.splitlines()[0]
    assert token.startswith("idc_") and len(token) > 50
    listed = _cli(s, "accounts", "list", "--json")
    assert token.split("_", 2)[2] not in listed and token.split("_")[1] in listed
    import json
    data = json.loads(listed)
    assert data["states"] == [{"code": "JP", "name": "Japan"}]
    (u,) = data["users"]
    assert (u["name"], u["role"], u["state"], u["rate_per_s"]) == ("jp_ndc", "state_principal", "JP", 2.0)
    assert "jp_ndc" in _cli(s, "accounts", "list")
    assert "1 token revoked" in _cli(s, "accounts", "revoke", "--user", "jp_ndc")
    assert "no active token" in _cli(s, "accounts", "revoke", token.split("_")[1], code=1)
    assert "no user 'nobody'" in _cli(s, "accounts", "token", "nobody", code=1)


def test_redaction_keeps_ordinary_text():
    tok = "idc_0123456789ab_" + "S" * 43
    basic = base64.b64encode(f"de_user:{tok}".encode()).decode()
    assert redact(f"Authorization: Bearer {tok}") == "Authorization: Bearer [REDACTED]"
    assert redact(f"Authorization: Basic {basic}") == "Authorization: Basic [REDACTED]"
    assert redact(f"GET /x?a=1&token={tok}&b=2") == "GET /x?a=1&token=[REDACTED]&b=2"
    assert redact(f"saw {tok} here") == "saw idc_0123456789ab_[REDACTED] here"
    for text in ("basic information about the bearer of news", "GET /fdsnws/event/1/query?catalog=REB",
                 "digest of 12 events"):
        assert redact(text) == text


def test_guessing_tokens_is_rate_limited(tmp_path):
    from fastapi.testclient import TestClient

    s = make_settings(tmp_path / "home", "", **{"access": ACCESS, "access.rate_limit.public_burst": 3,
                                                "access.rate_limit.public_rate_per_s": 0.1})
    with TestClient(create_app(s)) as c:
        codes = [c.get("/fdsnws/station/1/query", params={"network": "Z7"},
                       headers={"Authorization": f"Bearer idc_{i:012x}_{'x' * 43}"}).status_code for i in range(5)]
        assert codes == [401, 401, 401, 429, 429]
        r = c.get("/fdsnws/station/1/query", headers={"Authorization": "Bearer nonsense-token"})
        assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
