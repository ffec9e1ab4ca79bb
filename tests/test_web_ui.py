"""The web UI of ``idc serve`` (pipeline.service.ui): its JSON endpoints and a headless browser.

Real data in the store: the IDC's 1995 REB excerpt (GSE2.0, 2 events, 16 arrivals) as an REB
product; four 2014 Bardarbunga events of the Z7 network (QuakeMigrate origins, ML and P/S picks
with their residuals) as an SEL3 product, with their miniSEED in the SDS archive and the Z7
StationXML; the SEL3 events queued for review. The access policy is the default one of
config/default.toml (bulletins and waveforms to States and IDC staff; the public sees REB events
with mb >= 4.0 older than two days). Accounts: an analyst and a State user with API tokens.

The endpoint tests (FastAPI TestClient) always run. The browser test needs Chromium and
chromedriver (Debian: ``apt-get install chromium chromium-driver``) and selenium; it is skipped,
with the reason, when they are absent.
"""
from __future__ import annotations

import csv
import os
import shutil
import struct
import tomllib

import numpy as np
import pytest
from fastapi.testclient import TestClient
from obspy import UTCDateTime, read_inventory
from obspy.core.event import Arrival, Catalog, Event, Magnitude, Origin, Pick, WaveformStreamID
from obspy.geodetics import locations2degrees

from pipeline import tasks
from pipeline.store.accounts import add_state, add_user, create_token
from pipeline.bulletin.read import read_bulletin
from pipeline.geo import coast
from pipeline.service.app import create_app
from pipeline.settings import DEFAULT_CONFIG
from pipeline.store import db
from pipeline.store.catalog import store_catalog
from pipeline.store.products import ProductKey, write_product
from pipeline.traveltime.models import read_velocity_file
from pipeline.traveltime.tables import TravelTimeTable, local_grid
from tests import PROJECT_ROOT
from tests.conftest import DATA, make_settings

REB = DATA / "bulletins" / "reb_1995_2events_gse2.txt"
REB_WINDOW = (UTCDateTime(1995, 1, 16), UTCDateTime(1995, 1, 17))
ICELAND = DATA / "iceland"
QM = ICELAND / "quakemigrate"
ICELAND_VMODEL = ICELAND / "inputs" / "iceland_vmodel.txt"
Z7 = PROJECT_ROOT / "stations" / "Z7.xml"
EVENT_IDS = [p.stem for p in sorted((ICELAND / "waveforms").glob("*.m"))[:4]]
SEL3_WINDOW = (UTCDateTime(2014, 8, 24), UTCDateTime(2014, 8, 24, 1))
ACCESS = tomllib.loads(DEFAULT_CONFIG.read_text())["access"]
DOCS = PROJECT_ROOT / "docs"


def qm_event(event_id: str) -> Event:
    """One QuakeMigrate event: origin, ML, and the P/S picks with QuakeMigrate's residuals."""
    with open(QM / f"{event_id}.event") as fh:
        row = next(csv.DictReader(fh))
    o = Origin(time=UTCDateTime(row["DT"]), latitude=float(row["Y"]), longitude=float(row["X"]),
               depth=float(row["Z"]) * 1000.0)
    ev = Event(origins=[o], magnitudes=[Magnitude(mag=float(row["ML"]), magnitude_type="ML",
                                                  origin_id=o.resource_id)])
    with open(QM / f"{event_id}.picks") as fh:
        for r in csv.DictReader(fh):
            if r["PickTime"] in ("", "-1"):
                continue
            p = Pick(time=UTCDateTime(r["PickTime"]), waveform_id=WaveformStreamID("Z7", r["Station"]),
                     phase_hint=r["Phase"])
            ev.picks.append(p)
            o.arrivals.append(Arrival(pick_id=p.resource_id, phase=r["Phase"], time_residual=float(r["Residual"]),
                                      time_weight=1.0))
    ev.preferred_origin_id = o.resource_id
    ev.preferred_magnitude_id = ev.magnitudes[0].resource_id
    return ev


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    return struct.unpack(">II", data[16:24])


@pytest.fixture(scope="module")
def store(tmp_path_factory, tt_cache):
    """Settings of a store with the REB, the Iceland SEL3, waveforms, a review queue and accounts."""
    from pipeline.review import queue

    home = tmp_path_factory.mktemp("webui") / "home"
    s = make_settings(home, "", **{"access": ACCESS, "access.rate_limit.public_burst": 10000,
                                   "access.rate_limit.burst": 10000,
                                   "traveltime.model": str(ICELAND_VMODEL), "traveltime.phases": ["P", "S"],
                                   "traveltime.model_interpolation": "linear",
                                   "stations.paths": [str(Z7)]})
    db.upgrade(s.database_url)
    tasks.load_stations(s, [str(Z7)])
    res = tasks.ingest_files(s, [ICELAND / "waveforms" / f"{e}.m" for e in EVENT_IDS], progress=False)
    assert res["accepted"] == len(EVENT_IDS)
    reb, _ = read_bulletin(REB)
    sel3 = Catalog([qm_event(e) for e in EVENT_IDS])
    with db.session_scope(s.database_url) as ss:
        write_product(ss, ProductKey("REB", REB_WINDOW[0].timestamp, REB_WINDOW[1].timestamp), input_fingerprint="f",
                      config_hash="c", software_version="t", fill=lambda ss, p: store_catalog(ss, p, reb))
        write_product(ss, ProductKey("SEL3", SEL3_WINDOW[0].timestamp, SEL3_WINDOW[1].timestamp),
                      input_fingerprint="f", config_hash="c", software_version="t",
                      fill=lambda ss, p: store_catalog(ss, p, sel3))
        add_state(ss, "IS", "Iceland")
        add_user(ss, "ana", "analyst")
        add_user(ss, "sue", "state_user", state="IS")
        tokens = {"ana": create_token(ss, "ana")[0], "sue": create_token(ss, "sue")[0]}
    q = queue.enqueue(s, SEL3_WINDOW[0], SEL3_WINDOW[1])
    # two of the events are 8 s and a few km apart: the queue keeps one of them (review.match_*)
    assert q["queued"] + q["already_queued"] == len(EVENT_IDS) and q["queued"] >= 2
    # the travel-time table of the record sections: the Iceland model (read with gradients, as
    # QuakeMigrate reads it and config/demo-iceland.toml says) on a grid just covering these
    # events (depths 6-6.5 km, stations within 0.3 deg): 11 depths instead of the 51 of the
    # default local grid, so it builds in seconds (kept in the session's tt_cache)
    model = read_velocity_file(ICELAND_VMODEL, interpolation="linear")
    grid = local_grid(model.model_top_km, max_distance_deg=0.6, max_depth_km=10.0, depth_step_km=2.0)
    tt = TravelTimeTable(model, ["P", "S"], cache_dir=tt_cache, grid=grid)
    return {"settings": s, "tokens": tokens, "reb": reb, "sel3": sel3, "queued": q["queued"], "tt": tt}


def ui_app(store, app=None):
    """The app over the test store, its record sections drawn with the test's travel-time table."""
    app = app or create_app(store["settings"])
    app.state.ui_travel_times = lambda: store["tt"]
    return app


@pytest.fixture(scope="module")
def client(store):
    with TestClient(ui_app(store)) as c:
        yield c


def auth(store, who: str | None) -> dict:
    return {"Authorization": f"Bearer {store['tokens'][who]}"} if who else {}


# --------------------------------------------------------------------------- pages and assets
def test_pages_and_bundled_assets_have_no_external_urls(client):
    r = client.get("/", headers={"Accept": "text/html"}, follow_redirects=False)
    assert r.status_code == 307 and r.headers["location"] == "/ui/"
    r = client.get("/")
    assert r.status_code == 200 and "/fdsnws/event/1/" in r.text and "/ui/" in r.text
    page = client.get("/ui/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assets = ["/ui/static/app.js", "/ui/static/style.css"]
    for a in assets:
        assert a in page.text
    for a in assets + ["/ui/"]:
        body = client.get(a).text
        assert body and "http://" not in body and "https://" not in body and "//cdn" not in body, a
    assert client.get("/ui/static/app.js").headers["content-type"].startswith("text/javascript")
    for bad in ("..%2Fapp.py", ".hidden", "nope.js", "__init__.py"):
        r = client.get(f"/ui/static/{bad}")
        assert r.status_code == 404, bad


def test_coastlines_geojson_is_the_bundled_natural_earth(client):
    r = client.get("/ui/api/coastlines", params={"resolution": "110m"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/geo+json")
    lines = r.json()["geometry"]["coordinates"]
    src = coast.coastlines("110m")
    assert len(lines) == len(src)
    for got, want in zip(lines, src):
        got = np.asarray(got)
        assert np.allclose(got[0], want[0], atol=0.0051) and np.allclose(got[-1], want[-1], atol=0.0051)
        assert len(got) <= len(want)
    assert 200_000 > len(r.content) > 20_000  # 1:110m, rounded to 0.01 deg
    r = client.get("/ui/api/coastlines", params={"resolution": "10m"})
    assert r.status_code == 400 and "resolution" in r.text


# --------------------------------------------------------------------------- events
def test_events_match_the_stored_reb_and_the_public_rule(client, store):
    reb = store["reb"]
    r = client.get("/ui/api/events", params={"catalog": "REB", "orderby": "time-asc"}, headers=auth(store, "sue"))
    assert r.status_code == 200
    evs = r.json()["events"]
    assert len(evs) == len(reb) == 2 and r.json()["more"] is False
    for got, want in zip(evs, reb):
        o = want.preferred_origin() or want.origins[0]
        assert abs(UTCDateTime(got["time"]) - o.time) < 1e-3
        assert got["latitude"] == pytest.approx(o.latitude) and got["longitude"] == pytest.approx(o.longitude)
        assert got["depth_km"] == pytest.approx(o.depth / 1000.0)
        assert got["magnitude"] == pytest.approx(want.magnitudes[0].mag)
        assert got["catalog"] == "REB" and got["eventid"].startswith("REB-19950116T000000-19950117T000000-")
    # the public: only the REB events with mb >= 4.0 (older than two days): the Vancouver Island one
    pub = client.get("/ui/api/events", params={"catalog": "REB"}).json()["events"]
    want = [e for e in reb if any(m.magnitude_type == "mb" and m.mag >= 4.0 for m in e.magnitudes)]
    assert len(pub) == len(want) == 1 and pub[0]["latitude"] == pytest.approx(want[0].origins[0].latitude)
    # automatic bulletins are not public: an FDSN error document naming the product (401: an
    # account may read it)
    r = client.get("/ui/api/events", params={"catalog": "SEL3"})
    assert r.status_code == 401 and "SEL3" in r.text
    bad = client.get("/ui/api/events", params={"catalog": "REB", "minmag": "big"}, headers=auth(store, "sue"))
    assert bad.status_code == 400 and "minmag" in bad.text
    r = client.get("/ui/api/events", headers={"Authorization": "Bearer idc_000000000000_" + "x" * 40})
    assert r.status_code == 401


def test_filters_and_paging_of_the_sel3(client, store):
    sel3 = store["sel3"]
    h = auth(store, "ana")
    pages, offset = [], 1
    while True:
        d = client.get("/ui/api/events", params={"catalog": "SEL3", "orderby": "time-asc", "limit": 3,
                                                 "offset": offset}, headers=h).json()
        pages.append(d["events"])
        if not d["more"]:
            break
        offset += 3
    assert [len(p) for p in pages] == [3, 1]
    got = [e for p in pages for e in p]
    times = sorted(e.origins[0].time for e in sel3)
    assert [UTCDateTime(e["time"]) for e in got] == times
    # the same ids as fdsnws-event (text)
    txt = client.get("/fdsnws/event/1/query", params={"catalog": "SEL3", "format": "text", "orderby": "time-asc"},
                     headers=h).text.strip().splitlines()[1:]
    assert [ln.split("|")[0] for ln in txt] == [e["eventid"] for e in got]
    # magnitude, depth and box filters select what the source catalogue says
    mags = [e.magnitudes[0].mag for e in sel3]
    cut = float(np.median(mags))
    d = client.get("/ui/api/events", params={"catalog": "SEL3", "minmagnitude": cut}, headers=h).json()["events"]
    assert len(d) == sum(m >= cut for m in mags) and all(e["magnitude"] >= cut for e in d)
    depths = [e.origins[0].depth / 1000.0 for e in sel3]
    dcut = float(np.median(depths))
    d = client.get("/ui/api/events", params={"catalog": "SEL3", "maxdepth": dcut}, headers=h).json()["events"]
    assert len(d) == sum(z <= dcut for z in depths)
    d = client.get("/ui/api/events", params={"catalog": "SEL3,REB", "minlatitude": 60, "maxlatitude": 70,
                                             "minlongitude": -20, "maxlongitude": -10}, headers=h).json()["events"]
    assert len(d) == len(sel3) and {e["catalog"] for e in d} == {"SEL3"}
    r = client.get("/ui/api/events", params={"catalog": "SEL3", "limit": 5000}, headers=h)
    assert r.status_code == 400 and "limit" in r.text


def test_event_page_arrivals_and_residuals(client, store):
    h = auth(store, "sue")
    ev = client.get("/ui/api/events", params={"catalog": "REB", "orderby": "time-asc"}, headers=h).json()["events"][0]
    d = client.get(f"/ui/api/event/{ev['eventid']}", headers=h).json()
    want = store["reb"][0]
    o = want.preferred_origin() or want.origins[0]
    assert abs(UTCDateTime(d["origin"]["time"]) - o.time) < 1e-3
    assert {(m["type"], m["value"]) for m in d["magnitudes"]} == {(m.magnitude_type, m.mag) for m in want.magnitudes}
    picks = {str(p.resource_id): p for p in want.picks}
    src = sorted((picks[str(a.pick_id)].waveform_id.station_code, a.phase, round(a.time_residual, 3),
                  round(a.distance, 2)) for a in o.arrivals)
    got = sorted((a["station"], a["phase"], a["time_residual_s"], round(a["distance_deg"], 2)) for a in d["arrivals"])
    assert got == src and len(got) == 9
    assert [a["distance_deg"] for a in d["arrivals"]] == sorted(a["distance_deg"] for a in d["arrivals"])
    assert d["origin"]["semi_major_km"] > 0
    # the public may not see this mb 3.6 event; unknown and malformed ids
    assert client.get(f"/ui/api/event/{ev['eventid']}").status_code == 404
    assert client.get("/ui/api/event/REB-19950116T000000-19950117T000000-9", headers=h).status_code == 404
    assert client.get("/ui/api/event/nonsense", headers=h).status_code == 400


def test_record_section_from_the_archive(client, store):
    h = auth(store, "ana")
    evs = client.get("/ui/api/events", params={"catalog": "SEL3", "orderby": "time-asc"}, headers=h).json()["events"]
    eid = evs[0]["eventid"]
    d = client.get(f"/ui/api/event/{eid}", headers=h).json()
    src = qm_event(EVENT_IDS[0])
    want = sorted(round(a.time_residual, 3) for a in src.origins[0].arrivals)
    assert sorted(a["time_residual_s"] for a in d["arrivals"]) == want
    # QuakeMigrate gives no distances: they come from the Z7 inventory (sphere, geocentric latitude)
    inv = {(s.code): s for n in read_inventory(str(Z7)) for s in n}
    o = src.origins[0]
    for a in d["arrivals"]:
        st = inv[a["station"]]
        assert a["distance_from"] == "site"
        assert a["distance_deg"] == pytest.approx(locations2degrees(o.latitude, o.longitude, st.latitude,
                                                                    st.longitude), rel=5e-3, abs=2e-3)
    assert [a["distance_deg"] for a in d["arrivals"]] == sorted(a["distance_deg"] for a in d["arrivals"])
    r = client.get(f"/ui/api/event/{eid}/record-section.png", headers=h)
    assert r.status_code == 200 and r.headers["content-type"] == "image/png"
    w, hgt = png_size(r.content)
    assert w > 800 and hgt > 500
    # waveforms are not public; the REB of 1995 has no waveforms in the archive
    assert client.get(f"/ui/api/event/{eid}/record-section.png").status_code == 403
    reb_id = client.get("/ui/api/events", params={"catalog": "REB"}, headers=h).json()["events"][0]["eventid"]
    r = client.get(f"/ui/api/event/{reb_id}/record-section.png", headers=h)
    assert r.status_code == 404 and "waveforms" in r.text


def test_ims1_export_reads_back(client, store, tmp_path):
    h = auth(store, "sue")
    r = client.get("/ui/api/export", params={"format": "ims1", "catalog": "REB"}, headers=h)
    assert r.status_code == 200 and "attachment" in r.headers["content-disposition"]
    assert r.text.lstrip().startswith("BEGIN IMS1.0") or "DATA_TYPE BULLETIN IMS1.0" in r.text
    f = tmp_path / "b.txt"
    f.write_bytes(r.content)
    cat, fmt = read_bulletin(f)
    assert fmt == "IMS10BULLETIN" and len(cat) == len(store["reb"])
    got = sorted(float((e.preferred_origin() or e.origins[0]).time) for e in cat)
    want = sorted(float((e.preferred_origin() or e.origins[0]).time) for e in store["reb"])
    assert np.allclose(got, want, atol=0.01)
    assert sum(len((e.preferred_origin() or e.origins[0]).arrivals) for e in cat) == 16
    assert client.get("/ui/api/export", params={"format": "ims1", "catalog": "SEL3"}).status_code == 401
    assert client.get("/ui/api/export", params={"format": "csv"}, headers=h).status_code == 400


def test_availability_equals_the_task(client, store):
    s = store["settings"]
    want = tasks.availability(s)["channels"]
    d = client.get("/ui/api/availability").json()  # station metadata and availability are public
    assert [c["nslc"] for c in d["channels"]] == [c["nslc"] for c in want] and len(want) == 36
    for g, w in zip(d["channels"], want):
        assert g["coverage"] == w["coverage"] and g["gaps"] == w["gaps"] == len(g["gap_list"])
    t0, t1 = "2014-08-24T00:01:00", "2014-08-24T00:02:00"
    d = client.get("/ui/api/availability", params={"start": t0, "end": t1, "pattern": "Z7.DYJN.*"}).json()
    want = tasks.availability(s, t0, t1, "Z7.DYJN.*")["channels"]
    assert len(d["channels"]) == len(want) == 3 and [c["coverage"] for c in d["channels"]] == [c["coverage"] for c in want]
    st = client.get("/ui/api/stations").json()["stations"]
    assert len(st) == 12 and all(x["network"] == "Z7" for x in st)
    r = client.get("/ui/api/availability", params={"start": "yesterday-ish"})
    assert r.status_code == 400 and "start" in r.text


def test_review_queue_read_only_and_decisions(client, store):
    from pipeline.review import queue
    from pipeline.review.edc import evaluate_edc

    s = store["settings"]
    assert client.get("/ui/api/review").status_code == 403  # SEL3 is not public
    d = client.get("/ui/api/review", params={"status": "pending"}, headers=auth(store, "sue")).json()
    assert d["may_decide"] is False and len(d["items"]) == store["queued"]
    assert [i["id"] for i in d["items"]] == [i["id"] for i in queue.list_queue(s, status="pending")]
    item = d["items"][0]["id"]
    r = client.post(f"/ui/api/review/{item}/reject", json={"reason": "x"}, headers=auth(store, "sue"))
    assert r.status_code == 403 and "analyst" in r.text
    assert client.post(f"/ui/api/review/{item}/reject", json={}).status_code == 401
    ana = auth(store, "ana")
    assert client.get("/ui/api/review", headers=ana).json()["may_decide"] is True
    r = client.post(f"/ui/api/review/{item}/reject", json={"reason": "not a seismic event"}, headers=ana)
    assert r.status_code == 200 and r.json() == {"id": item, "status": "rejected"}
    shown = queue.show(s, item)
    assert shown["status"] == "rejected"
    last = shown["actions"][-1]
    assert last["action"] == "reject" and last["analyst"] == "ana" and last["detail"]["reason"] == "not a seismic event"
    # accept: allowed exactly when the Event Definition Criteria pass
    other = d["items"][1]["id"]
    edc = evaluate_edc(queue.event_of(s, other), s.review.edc)
    r = client.post(f"/ui/api/review/{other}/accept", json={"comment": "ok"}, headers=ana)
    if edc.passed:
        assert r.status_code == 200 and queue.show(s, other)["status"] == "accepted"
    else:
        assert r.status_code == 409 and "Event Definition Criteria" in r.text
        assert queue.show(s, other)["status"] == "pending"
    assert client.post("/ui/api/review/99999/accept", json={}, headers=ana).status_code == 404
    assert client.post(f"/ui/api/review/{item}/publish", json={}, headers=ana).status_code == 404
    r = client.post(f"/ui/api/review/{item}/reject", content=b"not json", headers=ana)
    assert r.status_code == 400 and "JSON" in r.text
    assert client.get("/ui/api/review", params={"status": "lost"}, headers=ana).status_code == 400


# --------------------------------------------------------------------------- headless browser
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
CHROMEDRIVER = shutil.which("chromedriver")


def _browser_missing() -> str:
    """Why the browser test cannot run here ('' when it can)."""
    if not CHROMIUM or not CHROMEDRIVER:
        return ("headless browser test needs Chromium and chromedriver (found chromium="
                f"{CHROMIUM}, chromedriver={CHROMEDRIVER}; Debian: apt-get install chromium chromium-driver)")
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "headless browser test needs selenium (pip install -c constraints.txt -e '.[dev]')"
    return ""


def _browser_or_skip():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    chromium, driver = CHROMIUM, CHROMEDRIVER
    opts = webdriver.ChromeOptions()
    opts.binary_location = chromium
    for a in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
              "--window-size=1280,900", "--no-first-run", "--disable-extensions"):
        opts.add_argument(a)
    try:
        return webdriver.Chrome(service=Service(driver), options=opts)
    except Exception as exc:  # e.g. a chromedriver that does not match the browser
        pytest.skip(f"headless Chromium did not start: {str(exc).splitlines()[0]}")


@pytest.fixture
def browser():
    """Headless Chromium through selenium (skipped, before the store is built, when absent)."""
    drv = _browser_or_skip()
    try:
        yield drv
    finally:
        drv.quit()


@pytest.mark.skipif(bool(_browser_missing()), reason=_browser_missing() or "-")
def test_browser_login_filter_open_event_screenshots(browser, store, tmp_path):
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait

    from pipeline.review import queue
    from tests.test_service_fdsn import LiveServer

    drv = browser
    shots = tmp_path / "screenshots"
    shots.mkdir()
    # hash routes re-render the page under the driver: an element can go stale between two looks
    wait = WebDriverWait(drv, 20, ignored_exceptions=(StaleElementReferenceException,))

    def ready(page):
        wait.until(lambda d: d.find_element(By.ID, "main").get_attribute("data-page") == page
                   and d.find_element(By.ID, "main").get_attribute("data-ready") == "1")

    srv = LiveServer(store["settings"])
    ui_app(store, srv.server.config.app)
    with srv:
        drv.get(srv.url + "/")  # browsers are sent to the UI
        wait.until(lambda d: "/ui/" in d.current_url)
        ready("map")
        assert drv.find_element(By.ID, "whoami").text == "public"
        # the public view: of the REB only the mb 4.0 event (the public rule of [access])
        drv.get(srv.url + "/ui/#/bulletins?catalog=REB")
        ready("bulletins")
        assert len(drv.find_elements(By.CSS_SELECTOR, "#events-table tbody tr")) == 1
        # a wrong token is refused and not kept
        drv.get(srv.url + "/ui/#/login")
        ready("login")
        drv.find_element(By.ID, "token").send_keys("idc_0123456789ab_" + "x" * 43)
        drv.find_element(By.ID, "login-btn").click()
        wait.until(lambda d: "refused" in d.find_element(By.ID, "status").text)
        assert drv.execute_script("return sessionStorage.getItem('idc_token')") is None
        drv.get_log("browser")  # drop the expected 401 of that attempt from the console log
        # log in with the analyst's token
        drv.find_element(By.ID, "token").send_keys(store["tokens"]["ana"])
        drv.find_element(By.ID, "login-btn").click()
        wait.until(lambda d: d.find_elements(By.ID, "login-ok"))
        assert "ana" in drv.find_element(By.ID, "login-ok").text
        assert drv.find_element(By.ID, "whoami").text == "ana (analyst)"
        assert store["tokens"]["ana"] not in drv.current_url
        drv.save_screenshot(str(shots / "login.png"))
        # the event map of the SEL3 (Bardarbunga)
        drv.get(srv.url + "/ui/#/map?catalog=SEL3")
        ready("map")
        assert drv.find_element(By.ID, "main").get_attribute("data-events") == str(len(EVENT_IDS))
        # zoomed on Iceland: the 1:50m coastlines and the 12 Z7 stations are drawn
        wait.until(lambda d: d.find_element(By.ID, "map").get_attribute("data-coast") == "50m"
                   and d.find_element(By.ID, "map").get_attribute("data-stations") == "12"
                   and d.find_element(By.ID, "map").get_attribute("data-status"))
        cv = drv.find_element(By.ID, "map")
        # station codes, a scale bar whose length matches the projection, lat/lon ticks
        assert cv.get_attribute("data-labels") == "12"
        km, px = float(cv.get_attribute("data-scale-km")), float(cv.get_attribute("data-scale-px"))
        assert 20 <= px <= 130 and str(km)[0] in "125", (km, px)
        assert int(cv.get_attribute("data-ticks")) >= 4
        # station colours: mean coverage of each station's channels over the events' span
        t = sorted(e.origins[0].time for e in store["sel3"])
        av = tasks.availability(store["settings"], str(t[0]), str(t[-1]))["channels"]
        per = {}
        for c in av:
            per.setdefault(".".join(c["nslc"].split(".")[:2]), []).append(c["coverage"])
        want = {}
        for sta in {f"Z7.{s.code}" for n in read_inventory(str(Z7)) for s in n}:
            cov = sum(per.get(sta, [0])) / len(per.get(sta, [0]))
            k = "complete" if cov >= 0.98 else "gaps" if cov > 0 else "nodata"
            want[k] = want.get(k, 0) + 1
        assert cv.get_attribute("data-status") == ",".join(f"{k}:{want[k]}" for k in sorted(want)), want
        # the event list beside the map and the time histogram below it
        assert len(drv.find_elements(By.CSS_SELECTOR, "#event-list-table tbody tr")) == len(EVENT_IDS)
        hist = drv.find_element(By.ID, "histogram")
        assert hist.get_attribute("data-total") == str(len(EVENT_IDS)) and int(hist.get_attribute("data-ticks")) >= 3
        drv.save_screenshot(str(shots / "event_map.png"))
        # the bulletin browser: filter SEL3 by magnitude
        drv.get(srv.url + "/ui/#/bulletins")
        ready("bulletins")
        Select(drv.find_element(By.ID, "f-catalog")).select_by_visible_text("SEL3")
        mags = sorted(e.magnitudes[0].mag for e in store["sel3"])
        drv.find_element(By.ID, "f-minmagnitude").send_keys(str(mags[1]))
        drv.find_element(By.ID, "apply").click()
        wait.until(lambda d: "minmagnitude" in d.current_url)
        ready("bulletins")
        rows = drv.find_elements(By.CSS_SELECTOR, "#events-table tbody tr")
        assert len(rows) == sum(m >= mags[1] for m in mags) == 3
        drv.save_screenshot(str(shots / "bulletins.png"))
        # open the first event: origin, arrivals with residuals, record section
        rows[0].find_element(By.CSS_SELECTOR, "a.event-link").click()
        ready("event")
        eid = drv.current_url.split("#/event/")[1]
        assert eid.startswith("SEL3-")
        arrivals = drv.find_elements(By.CSS_SELECTOR, "#arrivals-table tbody tr")
        d = TestClient(create_app(store["settings"])).get(
            f"/ui/api/event/{eid}", headers=auth(store, "ana")).json()
        assert len(arrivals) == len(d["arrivals"]) > 0
        rs = drv.find_element(By.ID, "record-section")
        assert rs.get_attribute("data-loaded") == "1", rs.text
        assert drv.execute_script("return document.querySelector('#record-section img').naturalWidth") > 800
        drv.save_screenshot(str(shots / "event.png"))
        drv.find_element(By.CSS_SELECTOR, "#record-section img").screenshot(str(shots / "record_section.png"))
        # station availability and the review queue with the decision buttons
        drv.get(srv.url + "/ui/#/stations")
        ready("stations")
        assert len(drv.find_elements(By.CSS_SELECTOR, "#availability-table tbody tr")) == 36
        ticks = [e.text for e in drv.find_elements(By.CSS_SELECTOR, "#timeline-axis span")]
        assert len(ticks) >= 2 and ticks == sorted(ticks), ticks  # a labelled UTC time axis
        drv.save_screenshot(str(shots / "stations.png"))
        drv.get(srv.url + "/ui/#/review?status=pending,accepted,rejected,merged")
        ready("review")
        assert len(drv.find_elements(By.CSS_SELECTOR, "#review-table button.accept")) == store["queued"]
        # reject the last item with a reason typed into the prompt; the audit trail names the analyst
        row = drv.find_elements(By.CSS_SELECTOR, "#review-table tbody tr")[-1]
        item = int(row.get_attribute("data-item"))
        row.find_element(By.CSS_SELECTOR, "button.reject").click()
        wait.until(lambda d: d.switch_to.alert)
        alert = drv.switch_to.alert
        alert.send_keys("rejected in the browser test")
        alert.accept()
        wait.until(lambda d: row.find_element(By.CSS_SELECTOR, "td.st").text == "rejected")
        last = queue.show(store["settings"], item)["actions"][-1]
        assert (last["action"], last["analyst"], last["detail"]["reason"]) == (
            "reject", "ana", "rejected in the browser test")
        drv.save_screenshot(str(shots / "review.png"))
        errors = [e for e in drv.get_log("browser") if e.get("level") == "SEVERE"
                  and "record-section" not in e.get("message", "")]
        assert not errors, errors
    for name in ("login", "event_map", "bulletins", "event", "stations", "review"):
        w, h = png_size((shots / f"{name}.png").read_bytes())
        assert (w, h) == (1280, 900) or w >= 1000, name
    if os.environ.get("IDC_UPDATE_DOCS") == "1":  # refresh the README figure: IDC_UPDATE_DOCS=1 pytest ...
        DOCS.mkdir(exist_ok=True)
        shutil.copy(shots / "event_map.png", DOCS / "web_ui_event_map.png")
        shutil.copy(shots / "event.png", DOCS / "web_ui_event.png")
        shutil.copy(shots / "record_section.png", DOCS / "web_ui_record_section.png")
