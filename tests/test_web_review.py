"""Reviewing from the web UI's event page (issue 14): the review queue links each item to the
page of the automatic event it came from; that page shows the item's working copy, and an analyst
edits it (phase, defining flag, depth), relocates and accepts it there.

Real data: the test store of :mod:`tests.test_web_ui` (four 2014 Bardarbunga events of the Z7
network as an SEL3 product — QuakeMigrate origins, ML and P/S picks —, their miniSEED and the
Z7 StationXML; the SEL3 events queued for review)."""
from __future__ import annotations

import pytest
from obspy import UTCDateTime

from pipeline.review import queue
from tests.test_web_ui import (  # noqa: F401  (pytest fixtures by name)
    EVENT_IDS, _browser_missing, auth, browser, client, png_size, store, ui_app,
)


def _items(client, store, who="ana", status="pending,accepted,rejected,merged"):
    return client.get("/ui/api/review", params={"status": status}, headers=auth(store, who)).json()["items"]


def test_queue_items_link_to_their_event_pages_and_back(client, store):
    items = _items(client, store)
    assert len(items) == store["queued"]
    sel3 = client.get("/ui/api/events", params={"catalog": "SEL3", "orderby": "time-asc"},
                      headers=auth(store, "ana")).json()["events"]
    by_id = {e["eventid"]: e for e in sel3}
    for it in items:
        # the link is the SEL3 event of the same origin (the item is an unedited copy of it)
        e = by_id[it["eventid"]]
        assert abs(UTCDateTime(e["time"]) - UTCDateTime(it["time"])) < 0.01
        assert e["latitude"] == pytest.approx(it["latitude"], abs=1e-4)
        # the preferred magnitude with its type (these are ML events: an "mb" column was blank)
        assert it["magtype"] == "ML" and it["magnitude"] == pytest.approx(e["magnitude"], abs=0.01)
        assert it["mb"] is None
        page = client.get(f"/ui/api/event/{it['eventid']}", headers=auth(store, "ana")).json()
        assert page["review"]["items"][0] == it["id"] and page["review"]["may_decide"] is True
        assert page["preferred_magnitude"]["type"] == "ML"
    # every SEL3 event has a page that names its item: the one merged into another by the queue
    # (8 s apart, sharing picks) names the item that reviews it
    linked = {it["eventid"] for it in items}
    for eid in set(by_id) - linked:
        page = client.get(f"/ui/api/event/{eid}", headers=auth(store, "ana")).json()
        assert len(page["review"]["items"]) == 1, eid
    # a State user reads the queue but may not decide; the public sees no review part
    page = client.get(f"/ui/api/event/{items[0]['eventid']}", headers=auth(store, "sue")).json()
    assert page["review"]["may_decide"] is False
    reb = client.get("/ui/api/events", params={"catalog": "REB"}).json()["events"][0]
    assert "review" not in client.get(f"/ui/api/event/{reb['eventid']}").json()
    one = client.get(f"/ui/api/review/{items[0]['id']}", headers=auth(store, "sue")).json()
    assert one["eventid"] == items[0]["eventid"] and one["may_decide"] is False
    assert len(one["event"]["arrivals"]) > 0 and one["actions"][0]["action"] == "enqueue"
    assert client.get(f"/ui/api/review/{items[0]['id']}").status_code == 403
    assert client.get("/ui/api/review/999999", headers=auth(store, "ana")).status_code == 404


def test_edit_relocate_accept_from_the_event_page(client, store):
    s = store["settings"]
    ana = auth(store, "ana")
    it = _items(client, store, status="pending")[-1]
    doc = client.get(f"/ui/api/review/{it['id']}", headers=ana).json()
    arr = doc["event"]["arrivals"]
    s_arr = next(a for a in arr if a["phase"] == "S")
    p_arr = next(a for a in arr if a["phase"] == "P")
    z0 = doc["event"]["origin"]["depth_km"]
    # bad edits: one line naming the field, nothing changed
    for body, field in (({"depth_km": "deep"}, "depth_km"), ({"rename": ["P"]}, "rename"),
                        ({"remove": "x"}, "remove"), ({"colour": 1}, "colour")):
        r = client.post(f"/ui/api/review/{it['id']}/edit", json=body, headers=ana)
        assert r.status_code == 400 and field in r.text, (body, r.text)
    r = client.post(f"/ui/api/review/{it['id']}/edit", json={"rename": {"nope": "P"}}, headers=ana)
    assert r.status_code == 409 and "nope" in r.text
    assert client.post(f"/ui/api/review/{it['id']}/edit", json={"depth_km": 3.0},
                       headers=auth(store, "sue")).status_code == 403
    # the analyst: S at one station made non-defining, a P renamed Pg, depth fixed 1 km deeper
    fixed = round(z0 + 1.0, 1)
    body = {"defining": {s_arr["id"]: "___"}, "rename": {p_arr["id"]: "Pg"}, "depth_km": fixed}
    r = client.post(f"/ui/api/review/{it['id']}/edit", json=body, headers=ana)
    assert r.status_code == 200 and r.json()["needs_relocation"] is True, r.text
    doc = client.get(f"/ui/api/review/{it['id']}", headers=ana).json()
    got = {a["id"]: a for a in doc["event"]["arrivals"]}
    assert got[s_arr["id"]]["defining"] == "___" and got[p_arr["id"]]["phase"] == "Pg"
    assert doc["needs_relocation"] is True and doc["fixed_depth_km"] == fixed
    last = doc["actions"][-1]
    assert last["action"] == "edit" and last["analyst"] == "ana"
    # rename back (Pg is not in the test's P/S table) and relocate with the depth fixed
    client.post(f"/ui/api/review/{it['id']}/edit", json={"rename": {p_arr["id"]: "P"}}, headers=ana)
    r = client.post(f"/ui/api/review/{it['id']}/relocate", json={}, headers=ana)
    assert r.status_code == 200, r.text
    o = r.json()["origin"]
    print(f"relocated item {it['id']}: depth {z0} -> {o['depth_km']} km (fixed {fixed}), "
          f"epicentre moved {abs(o['latitude'] - it['latitude']) * 111.2:.2f} km N-S")
    assert o["depth_km"] == pytest.approx(fixed, abs=0.01)
    # QuakeMigrate's epicentre moves little when one S leaves and the depth moves by 1 km
    assert abs(o["latitude"] - it["latitude"]) * 111.2 < 3.0
    shown = queue.show(s, it["id"])
    assert shown["needs_relocation"] is False and shown["actions"][-1]["action"] == "relocate"
    assert shown["event"]["origin"]["depth_km"] == pytest.approx(fixed, abs=0.01)
    # accept: allowed exactly when the Event Definition Criteria pass
    r = client.post(f"/ui/api/review/{it['id']}/accept", json={"comment": "checked in the UI"}, headers=ana)
    if shown["edc"]["passed"]:
        assert r.status_code == 200 and queue.show(s, it["id"])["status"] == "accepted"
    else:
        assert r.status_code == 409 and "Event Definition Criteria" in r.text


@pytest.mark.skipif(bool(_browser_missing()), reason=_browser_missing() or "-")
def test_browser_review_from_the_event_page(browser, store, tmp_path):
    import os
    import shutil

    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait

    from tests.test_service_fdsn import LiveServer
    from tests.test_web_ui import DOCS

    drv, s = browser, store["settings"]
    shots = tmp_path / "screenshots"
    shots.mkdir()
    # hash routes re-render the page under the driver: an element can go stale between two looks
    wait = WebDriverWait(drv, 30, ignored_exceptions=(StaleElementReferenceException,))

    def ready(page):
        wait.until(lambda d: d.find_element(By.ID, "main").get_attribute("data-page") == page
                   and d.find_element(By.ID, "main").get_attribute("data-ready") == "1")

    srv = LiveServer(s)
    ui_app(store, srv.server.config.app)
    with srv:
        drv.get(srv.url + "/ui/#/login")
        ready("login")
        drv.find_element(By.ID, "token").send_keys(store["tokens"]["ana"])
        drv.find_element(By.ID, "login-btn").click()
        wait.until(lambda d: d.find_elements(By.ID, "login-ok"))
        drv.get(srv.url + "/ui/#/review")
        ready("review")
        rows = drv.find_elements(By.CSS_SELECTOR, "#review-table tbody tr")
        pending = [it for it in queue.list_queue(s, status="pending")]
        assert len(rows) == len(pending) > 0
        # the magnitude column gives the preferred magnitude with its type
        assert rows[0].find_elements(By.TAG_NAME, "td")[6].text.endswith("ML")
        item = int(rows[0].get_attribute("data-item"))
        rows[0].find_element(By.CSS_SELECTOR, "a.event-link").click()
        ready("event")
        box = drv.find_element(By.ID, "event-review")
        assert box.get_attribute("data-item") == str(item)
        arrivals = drv.find_elements(By.CSS_SELECTOR, "#review-arrivals tbody tr")
        want = queue.show(s, item)["event"]["arrivals"]
        assert len(arrivals) == len(want)
        # make the first S arrival non-defining and fix the depth at 5 km, save, relocate
        srow = next(r for r in arrivals if r.find_element(By.CSS_SELECTOR, "input.phase").get_attribute("value") == "S")
        aid = srow.get_attribute("data-arrival")
        srow.find_element(By.CSS_SELECTOR, "input.defining").click()
        drv.find_element(By.ID, "review-depth").send_keys("5")
        Select(drv.find_element(By.ID, "review-depth-mode")).select_by_value("fix")
        drv.find_element(By.ID, "review-save").click()
        wait.until(lambda d: d.find_elements(By.ID, "review-needs-relocation"))
        shown = queue.show(s, item)
        assert shown["fixed_depth_km"] == 5.0 and shown["needs_relocation"]
        assert next(a for a in shown["event"]["arrivals"] if a["id"] == aid)["defining"] == "___"
        drv.save_screenshot(str(shots / "review_edit.png"))
        drv.find_element(By.ID, "review-relocate").click()
        wait.until(lambda d: not d.find_elements(By.ID, "review-needs-relocation")
                   and "relocated" in d.find_element(By.ID, "status").text)
        shown = queue.show(s, item)
        assert shown["actions"][-1]["action"] == "relocate" and shown["event"]["origin"]["depth_km"] == 5.0
        # accept (or the criteria say why not)
        drv.find_element(By.ID, "review-accept").click()
        wait.until(lambda d: d.switch_to.alert)
        drv.switch_to.alert.send_keys("reviewed in the browser")
        drv.switch_to.alert.accept()
        if shown["edc"]["passed"]:
            wait.until(lambda d: d.find_element(By.ID, "review-status").text == "accepted")
            assert queue.show(s, item)["actions"][-1]["detail"]["comment"] == "reviewed in the browser"
        else:
            wait.until(lambda d: "Event Definition Criteria" in d.find_element(By.ID, "status").text)
        drv.execute_script("document.getElementById('event-review').scrollIntoView()")
        drv.save_screenshot(str(shots / "review_event_page.png"))
        errors = [e for e in drv.get_log("browser") if e.get("level") == "SEVERE"
                  and "record-section" not in e.get("message", "") and "/waveforms" not in e.get("message", "")
                  and ("409" not in e.get("message", "") or shown["edc"]["passed"])]
        assert not errors, errors
    for name in ("review_edit", "review_event_page"):
        w, _ = png_size((shots / f"{name}.png").read_bytes())
        assert w >= 1000, name
    if os.environ.get("IDC_UPDATE_DOCS") == "1":
        DOCS.mkdir(exist_ok=True)
        shutil.copy(shots / "review_event_page.png", DOCS / "web_ui_review.png")
