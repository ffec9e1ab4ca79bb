"""What States and the public meet on the FDSN event service (issue 14, defects 5 and 6), against
a live ``idc serve`` on 127.0.0.1 with the ``[access]`` defaults of config/default.toml.

The store: the 1995 REB (two events) as SEL1, SEL2 and SEL3 of its window, and an REB of the
next day that holds no event (the analysts found nothing yet): the situation in which the
public's first query used to be "403 Access to SEL3 is not allowed". Accounts: a State user
(DE) and a public-role account.
"""
from __future__ import annotations

import copy

import httpx
import pytest
from obspy import Catalog, UTCDateTime
from obspy.clients.fdsn import Client
from obspy.clients.fdsn.header import FDSNNoDataException

from pipeline.store.accounts import add_state, add_user, create_token
from pipeline.bulletin.read import read_bulletin
from pipeline.store import db
from pipeline.store.catalog import store_catalog
from pipeline.store.products import ProductKey, write_product
from tests.conftest import make_settings
from tests.test_accounts import ACCESS, Server
from tests.test_service_fdsn import REB2, REB_WINDOW

EV = "/fdsnws/event/1/"


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    home = tmp_path_factory.mktemp("states")
    access = copy.deepcopy(ACCESS)
    access["digest"]["nonce_secret"] = "test-nonce-secret-states-public"
    access["rate_limit"].update(burst=10000, public_burst=10000)
    s = make_settings(home, "", access=access)
    db.upgrade(s.database_url)
    cat, _ = read_bulletin(REB2)
    w0, w1 = REB_WINDOW[0].timestamp, REB_WINDOW[1].timestamp
    tokens = {}
    with db.session_scope(s.database_url) as ss:
        for t in ("SEL1", "SEL2", "SEL3"):
            write_product(ss, ProductKey(t, w0, w1), input_fingerprint="f", config_hash="c", software_version="t",
                          fill=lambda ss, p: store_catalog(ss, p, cat))
        write_product(ss, ProductKey("REB", w1, w1 + 86400.0), input_fingerprint="f", config_hash="c",
                      software_version="t", fill=lambda ss, p: store_catalog(ss, p, Catalog()))
        add_state(ss, "DE", "Germany")
        add_user(ss, "de_user", "state_user", "DE")
        add_user(ss, "press", "public", None)
        for name in ("de_user", "press"):
            tokens[name], _ = create_token(ss, name, "test")
    with Server(s) as srv:
        srv.settings, srv.tokens, srv.catalog = s, tokens, cat
        yield srv


def _bearer(env, who):
    return {"Authorization": f"Bearer {env.tokens[who]}"}


def _times(cat) -> list[float]:
    return sorted(round((e.preferred_origin() or e.origins[0]).time.timestamp, 1) for e in cat)


# --------------------------------------------------------------------------- defect 5
def test_obspy_client_with_user_and_password_gets_sel3(env):
    """obspy unchanged: ``Client(base_url, user=, password=)`` sends credentials only when
    challenged; the event query must challenge (401 + Digest) instead of refusing (403)."""
    client = Client(env.url, user="de_user", password=env.tokens["de_user"])
    cat = client.get_events(catalog="SEL3", starttime=REB_WINDOW[0], endtime=REB_WINDOW[1])
    assert len(cat) == 2 and _times(cat) == _times(env.catalog)
    assert all(str(e.resource_id).startswith("smi:idc-pipeline/event/SEL3-") for e in cat)
    # the same with the Bearer token instead (obspy 1.5 has no request_headers argument: the
    # client's request_headers dict, as README documents), no challenge needed
    bearer = Client(env.url)
    bearer.request_headers.update(_bearer(env, "de_user"))
    assert _times(bearer.get_events(catalog="SEL3")) == _times(cat)


def test_restricted_catalog_without_credentials_is_challenged(env):
    r = httpx.get(env.url + EV + "query", params={"catalog": "SEL3"})
    assert r.status_code == 401, r.text
    challenges = r.headers.get_list("www-authenticate")
    assert challenges[0].startswith("Digest ") and challenges[-1].startswith("Bearer")
    assert "SEL3" in r.text and "password" in r.text
    # an account that may not read it: 403 (credentials would not help)
    r = httpx.get(env.url + EV + "query", params={"catalog": "SEL3"}, headers=_bearer(env, "press"))
    assert r.status_code == 403 and "SEL3" in r.text


def test_event_queryauth(env):
    q = {"catalog": "SEL3", "format": "text"}
    r = httpx.get(env.url + EV + "queryauth", params=q)
    assert r.status_code == 401 and r.headers.get_list("www-authenticate")[0].startswith("Digest ")
    r = httpx.get(env.url + EV + "queryauth", params=q, headers=_bearer(env, "de_user"))
    assert r.status_code == 200 and len(r.text.strip().splitlines()) == 3  # header + 2 events
    wadl = httpx.get(env.url + EV + "application.wadl").text
    assert 'resource path="queryauth"' in wadl


# --------------------------------------------------------------------------- defect 6
def test_public_default_catalog_is_one_it_may_read(env):
    """No ``catalog``: the newest catalog the caller may read, never a 403 for one it did not name."""
    r = httpx.get(env.url + EV + "query", params={"format": "text"})
    assert r.status_code == 204, (r.status_code, r.text)  # the public's REB holds no event yet
    with pytest.raises(FDSNNoDataException):
        Client(env.url).get_events()
    # the web UI's first page
    r = httpx.get(env.url + "/ui/api/events")
    assert r.status_code == 200 and r.json()["events"] == []
    # a State user's default: the newest catalog holding events that it may read (SEL3)
    r = httpx.get(env.url + EV + "query", params={"format": "text"}, headers=_bearer(env, "de_user"))
    assert r.status_code == 200 and all(line.split("|")[6] == "SEL3" for line in r.text.splitlines()[1:])
    assert len(r.text.strip().splitlines()) == 3
    r = httpx.get(env.url + "/ui/api/events", headers=_bearer(env, "de_user"))
    assert r.status_code == 200 and {e["catalog"] for e in r.json()["events"]} == {"SEL3"}


def test_catalogs_lists_only_what_the_caller_may_read(env):
    import re

    def listed(headers=None):
        r = httpx.get(env.url + EV + "catalogs", headers=headers or {})
        assert r.status_code == 200
        return re.findall(r"<Catalog>([^<]+)</Catalog>", r.text)

    assert listed() == ["REB"]
    assert listed(_bearer(env, "press")) == ["REB"]
    assert listed(_bearer(env, "de_user")) == ["SEL1", "SEL2", "SEL3", "REB"]
    # every catalog listed to the public can be queried by it without an error
    for c in listed():
        assert httpx.get(env.url + EV + "query", params={"catalog": c}).status_code in (200, 204)


def test_default_catalog_choice():
    from pipeline.service.fdsn.event import choose_default

    assert choose_default({"SEL3", "SEL1"}) == "SEL3"
    assert choose_default({"SEL3", "REB"}) == "REB"
    assert choose_default({"SEL3"}, lambda t: t == "REB") == "REB"
    assert choose_default(set(), lambda t: t in ("SEL2", "SEL1")) == "SEL2"
    assert choose_default({"SEL1"}, lambda t: False) == "REB"
    _ = UTCDateTime  # noqa: F841
