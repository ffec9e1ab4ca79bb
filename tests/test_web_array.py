"""The event page's array panel (issue 16 item 5): ``/ui/api/event/{id}/arrays``,
``/ui/api/event/{id}/array/{station}`` and ``array.js``.

Data: the simulated IMS window of :mod:`tests.test_array_chain` (``idc simulate waveforms``: the
mb 4.7 LEB event of 2022-01-17 00:26 at the arrays ASAR and WRA, 9 vertical elements each, and the
3-C stations STKA and MAW), ingested and processed by ``tasks.process_window`` into an SEL3 event
whose ASAR and WRA arrivals carry the chain's backazimuth and slowness. The endpoint recomputes the
f-k from the archived element waveforms; its peak is checked against the arrival's values and
against the simulated plane wave (``arrivals.csv`` of the simulation).
"""
from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from pipeline.service.app import create_app
from pipeline.store import db
from pipeline.store.accounts import add_user, create_token
from tests.test_array_chain import SIM_STATIONS, _baz_err, _chain, simulated  # noqa: F401  (fixture)
from tests.test_simulate import tt  # noqa: F401  (the session's global table)
from tests.test_web_ui import ACCESS, DOCS, _browser_missing, browser, png_size  # noqa: F401  (fixture)


@pytest.fixture(scope="module")
def array_store(simulated, tt, tmp_path_factory):  # noqa: F811
    """The simulated window through the chain (SEL3 product in the store), an analyst and a
    State user account; the app's travel-time table is the session's global one."""
    tmp = tmp_path_factory.mktemp("web_array")
    s, out = _chain(tmp, simulated, tt, **{"access": ACCESS, "access.rate_limit.burst": 10000,
                                           "access.rate_limit.public_burst": 10000})
    assert out["events"] == 1 and out["arrays"] == ["ASAR", "WRA"]
    with db.session_scope(s.database_url) as ss:
        add_user(ss, "ana", "analyst")
        token = create_token(ss, "ana")[0]
    truth = pd.read_csv(simulated / "arrivals.csv")
    truth = truth[truth["station"].isin(SIM_STATIONS) & (truth["table_phase"] == "P")].set_index("station")
    return {"settings": s, "token": token, "truth": truth, "tt": tt}


def _app(store, app=None):
    app = app or create_app(store["settings"])
    app.state.ui_travel_times = lambda: store["tt"]
    return app


@pytest.fixture(scope="module")
def client(array_store):
    with TestClient(_app(array_store)) as c:
        yield c


@pytest.fixture(scope="module")
def event(client, array_store):
    h = {"Authorization": f"Bearer {array_store['token']}"}
    evs = client.get("/ui/api/events", params={"catalog": "SEL3"}, headers=h).json()["events"]
    assert len(evs) == 1
    return client.get(f"/ui/api/event/{evs[0]['eventid']}", headers=h).json()


def _get(client, store, path, **params):
    return client.get(path, params=params, headers={"Authorization": f"Bearer {store['token']}"})


def test_fk_peak_matches_the_array_arrivals(client, array_store, event):
    eid = event["eventid"]
    r = _get(client, array_store, f"/ui/api/event/{eid}/arrays")
    assert r.status_code == 200, r.text
    listed = r.json()["arrivals"]
    # the array arrivals only (not STKA, MAW), each with its 9 archived elements
    assert sorted((a["station"], a["phase"], a["elements"]) for a in listed) == [("ASAR", "P", 9), ("WRA", "P", 9)]
    bulletin = {a["station"]: a for a in event["arrivals"]}
    for a in listed:
        code = a["station"]
        r = _get(client, array_store, f"/ui/api/event/{eid}/array/{code}")
        assert r.status_code == 200, r.text
        d = r.json()
        b, truth = bulletin[code], array_store["truth"].loc[code]
        fk, peak, m, pred = d["fk"], d["peak"], d["measured"], d["predicted"]
        sx, sy, power = np.array(fk["sx"]), np.array(fk["sy"]), np.array(fk["power"])
        assert power.shape == (len(sx), len(sy)) and 0 < power.max() <= 1.0
        i, j = np.unravel_index(np.argmax(power), power.shape)
        assert (sx[i], sy[j]) == pytest.approx((peak["sx"], peak["sy"]), abs=1e-3)
        step = fk["step_s_deg"]
        print(f"{code}: {d['array']['elements']} elements, aperture {d['array']['aperture_km']:.1f} km, band "
              f"{d['band_hz']} Hz, f-k grid {len(sx)}x{len(sy)} (step {step:g} s/deg), {d['elapsed_s']} s\n"
              f"  f-k peak   baz {peak['backazimuth_deg']:6.1f}  slowness {peak['slowness_s_deg']:5.2f}  relpow "
              f"{peak['relpow']:.2f}\n"
              f"  refined    baz {m['backazimuth_deg']:6.1f}  slowness {m['slowness_s_deg']:5.2f}  F {m['fstat']:.1f}\n"
              f"  bulletin   baz {b['backazimuth_deg']:6.1f}  slowness {b['slowness_s_deg']:5.2f}\n"
              f"  predicted  baz {pred['backazimuth_deg']:6.1f}  slowness {pred['slowness_s_deg']:5.2f} "
              f"({pred['distance_deg']:.2f} deg)\n"
              f"  simulated  baz {truth['true_backazimuth']:6.1f}  slowness {truth['slowness_true']:5.2f}\n"
              f"  |f-k peak - bulletin|: {_baz_err(peak['backazimuth_deg'], b['backazimuth_deg']):.2f} deg, "
              f"{abs(peak['slowness_s_deg'] - b['slowness_s_deg']):.2f} s/deg; |refined - bulletin|: "
              f"{_baz_err(m['backazimuth_deg'], b['backazimuth_deg']):.2f} deg, "
              f"{abs(m['slowness_s_deg'] - b['slowness_s_deg']):.3f} s/deg; beam F measured "
              f"{d['beams']['measured']['fstat']:.1f}, predicted {d['beams']['predicted']['fstat']:.1f}")
        # the grid peak is within a grid step (in slowness-vector terms) of the bulletin's vector
        bx = -b["slowness_s_deg"] * np.sin(np.radians(b["backazimuth_deg"]))
        by = -b["slowness_s_deg"] * np.cos(np.radians(b["backazimuth_deg"]))
        assert np.hypot(peak["sx"] - bx, peak["sy"] - by) <= 1.5 * step + 0.3
        assert _baz_err(peak["backazimuth_deg"], b["backazimuth_deg"]) < 5.0
        assert abs(peak["slowness_s_deg"] - b["slowness_s_deg"]) < 1.0
        # the refined measurement is the chain's (same code, same data, same onset)
        assert _baz_err(m["backazimuth_deg"], b["backazimuth_deg"]) < 1.0
        assert abs(m["slowness_s_deg"] - b["slowness_s_deg"]) < 0.2
        # and both are near the simulated plane wave and the prediction
        assert _baz_err(peak["backazimuth_deg"], truth["true_backazimuth"]) < 5.0
        assert _baz_err(pred["backazimuth_deg"], truth["true_backazimuth"]) < 2.0
        assert abs(pred["slowness_s_deg"] - truth["slowness_true"]) < 0.5
        # beams and aligned traces: the measured beam is coherent, every element is there
        bm = d["beams"]["measured"]
        assert bm["fstat"] > 5 and len(d["traces"]) == 9 and d["beams"]["predicted"]["fstat"] > 2
        assert all(t["kind"] == "samples" and len(t["data"]) > 100 for t in d["traces"] + [bm])
        delays = np.array([t["delay_s"] for t in d["traces"]])
        assert np.ptp(delays) > 0.1


def test_errors_name_the_parameter(client, array_store, event, monkeypatch):
    eid = event["eventid"]
    base = f"/ui/api/event/{eid}/array"
    # a 3-C station's arrival is not an array arrival
    for code in ("MAW", "STKA"):
        r = _get(client, array_store, f"{base}/{code}")
        print(code, r.status_code, next((x for x in r.text.splitlines() if "station" in x), r.text[:200]))
        assert r.status_code == 400 and "'station'" in r.text and "not an array" in r.text
    r = _get(client, array_store, f"{base}/XYZ")
    assert r.status_code == 404 and "'station'" in r.text and "ASAR" in r.text
    for params, name in ((dict(start="soon"), "start"), (dict(start=10, end=5), "end"),
                         (dict(start=0, end=900), "end"), (dict(band="8-2"), "band"), (dict(band="x"), "band"),
                         (dict(band="2-12"), "band"), (dict(phase="S"), "phase"), (dict(colour="red"), "colour")):
        r = _get(client, array_store, f"{base}/WRA", **params)
        assert r.status_code == 400 and f"'{name}'" in r.text, (params, r.status_code, r.text)
    # the same access rule as the waveform viewer: waveforms need an account
    assert client.get(f"{base}/WRA").status_code in (401, 403)
    assert client.get(f"/ui/api/event/{eid}/arrays").status_code in (401, 403)
    # no archived element data (nothing in wfavail around the arrival): 404 naming the array's elements
    import pipeline.store.event_waveforms as ew

    monkeypatch.setattr(ew, "archived_channels", lambda *a, **k: [])
    r = _get(client, array_store, f"{base}/WRA")
    print(r.status_code, next((x for x in r.text.splitlines() if "No archived" in x), r.text[:200]))
    assert r.status_code == 404 and "No archived data of the elements of array WRA" in r.text and "WRA00" in r.text
    assert _get(client, array_store, f"/ui/api/event/{eid}/arrays").json()["arrivals"] == []


# --------------------------------------------------------------------------- headless browser
def _ink(drv, canvas) -> dict:
    """Pixels of a canvas that are not white, and the distinct colours among them."""
    return drv.execute_script("""
        const c = arguments[0], px = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let n = 0; const seen = new Set();
        for (let k = 0; k < px.length; k += 4) {
          if (px[k] < 240 || px[k + 1] < 240 || px[k + 2] < 240) { n++; seen.add((px[k] >> 4) * 256 + (px[k + 1] >> 4) * 16 + (px[k + 2] >> 4)); }
        }
        return {ink: n, total: px.length / 4, colours: seen.size};""", canvas)


@pytest.mark.skipif(bool(_browser_missing()), reason=_browser_missing() or "-")
def test_browser_event_page_shows_the_array_panels(browser, client, array_store, event, tmp_path):
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    from tests.test_service_fdsn import LiveServer

    drv = browser
    wait = WebDriverWait(drv, 30, ignored_exceptions=(StaleElementReferenceException,))
    eid = event["eventid"]
    want = {c: _get(client, array_store, f"/ui/api/event/{eid}/array/{c}").json() for c in ("ASAR", "WRA")}
    srv = LiveServer(array_store["settings"])
    _app(array_store, srv.server.config.app)
    shot = tmp_path / "array_panel.png"
    with srv:
        drv.get(srv.url + "/ui/#/login")
        drv.execute_script("sessionStorage.setItem('idc_token', arguments[0])", array_store["token"])
        drv.get(srv.url + "/ui/#/event/" + eid)
        wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "section.arr-panel .arr-item[data-loaded='1']")) == 2)
        items = drv.find_elements(By.CSS_SELECTOR, "section.arr-panel .arr-item")
        assert sorted(i.get_attribute("data-station") for i in items) == ["ASAR", "WRA"]
        for item in items:
            code = item.get_attribute("data-station")
            d = want[code]
            assert float(item.get_attribute("data-peak-baz")) == pytest.approx(d["peak"]["backazimuth_deg"])
            assert float(item.get_attribute("data-peak-slowness")) == pytest.approx(d["peak"]["slowness_s_deg"])
            text = item.find_element(By.CSS_SELECTOR, ".arr-peak").text
            assert f"f-k peak: backazimuth {d['peak']['backazimuth_deg']:.1f}°" in text and "predicted" in text, text
            fk = _ink(drv, item.find_element(By.CSS_SELECTOR, "canvas.arr-fk"))
            tr = _ink(drv, item.find_element(By.CSS_SELECTOR, "canvas.arr-traces"))
            print(f"{code}: {text}\n  f-k canvas {fk}, traces canvas {tr}")
            # the heat map fills its square (most of the canvas, many colours); 11 rows of traces drawn
            assert fk["ink"] > 0.5 * fk["total"] and fk["colours"] > 20
            assert tr["ink"] > 3000
        drv.execute_script("arguments[0].scrollIntoView({block: 'start'})", items[0])
        items[0].screenshot(str(shot))
        errors = [e for e in drv.get_log("browser") if e.get("level") == "SEVERE"]
        assert not errors, errors
    w, h = png_size(shot.read_bytes())
    assert w >= 700 and h >= 350, (w, h)
    if os.environ.get("IDC_UPDATE_DOCS") == "1":  # refresh the README figure: IDC_UPDATE_DOCS=1 pytest ...
        DOCS.mkdir(exist_ok=True)
        from PIL import Image

        Image.open(shot).convert("RGB").quantize(64, method=Image.Quantize.FASTOCTREE).save(
            DOCS / "web_ui_array.png", optimize=True)


def test_array_panel_asset_is_bundled(client):
    page = client.get("/ui/").text
    assert "/ui/static/array.js" in page
    js = client.get("/ui/static/array.js")
    assert js.status_code == 200 and "http://" not in js.text and "https://" not in js.text
    assert "IDC.eventPanels.push" in js.text and "/array/" in js.text
    assert ".arr-panel" in client.get("/ui/static/style.css").text
