"""The web UI's waveform viewer (issue 14): ``/ui/api/event/{id}/waveforms`` and ``waveforms.js``.

Real data: the test store of :mod:`tests.test_web_ui` (four 2014 Bardarbunga events of the Z7
network with their QuakeMigrate picks as an SEL3 product, their miniSEED in the SDS archive, the
Z7 StationXML; the 1995 REB excerpt without waveforms). Every check recomputes the expected value
independently: the SDS day files read with obspy, obspy's own filters, the QuakeMigrate pick
files, the travel-time table of the test store.
"""
from __future__ import annotations

import math
import os

import numpy as np
import pytest
from obspy import UTCDateTime, read, read_inventory
from obspy.geodetics import locations2degrees

from tests.test_web_ui import (  # noqa: F401  (pytest fixtures imported by name)
    DOCS,
    EVENT_IDS,
    Z7,
    _browser_missing,
    auth,
    browser,
    client,
    png_size,
    qm_event,
    store,
    ui_app,
)


@pytest.fixture(scope="module")
def sel3_ids(client, store):
    """SEL3 event ids in time order, with the QuakeMigrate source events (EVENT_IDS are in time order)."""
    evs = client.get("/ui/api/events", params={"catalog": "SEL3", "orderby": "time-asc"},
                     headers=auth(store, "ana")).json()["events"]
    assert len(evs) == len(EVENT_IDS)
    out = []
    for e, src_id in zip(evs, EVENT_IDS):
        src = qm_event(src_id)
        assert abs(UTCDateTime(e["time"]) - src.origins[0].time) < 1e-3
        out.append((e["eventid"], src))
    return out


def _get(client, store, eid, who="ana", **params):
    return client.get(f"/ui/api/event/{eid}/waveforms", params=params, headers=auth(store, who))


def _sds_trace(store, nslc: str, day: UTCDateTime):
    """The channel's SDS day file read with obspy (independent of the SDS client), merged."""
    net, sta, loc, cha = nslc.split(".")
    path = (store["settings"].archive_dir / str(day.year) / net / sta / f"{cha}.D"
            / f"{nslc}.D.{day.year}.{day.julday:03d}")
    st = read(str(path))
    st.merge(method=1)
    assert len(st) == 1
    return st[0]


def _values(tr_json, key):
    return np.array([np.nan if v is None else v * tr_json["scale"] for v in tr_json[key]], dtype=float)


# --------------------------------------------------------------------------- envelope and samples
def test_envelope_is_the_min_max_of_the_archived_samples(client, store, sel3_ids):
    eid, src = sel3_ids[0]
    t0 = src.origins[0].time
    # a window and a bucket count whose bucket edges fall between samples (checked below)
    start, end, width = -7.003, 22.991, 701
    r = _get(client, store, eid, start=start, end=end, width=width, components="ZNE")
    assert r.status_code == 200, r.text
    d = r.json()
    assert d["start"] == start and d["end"] == end and d["filter"] == "none" and d["components"] == "ZNE"
    traces = d["traces"]
    # the stations with picks first, by distance, each Z, N, E; the 12 Z7 stations have data
    picked = {p.waveform_id.station_code for p in src.picks}
    stas = list(dict.fromkeys(t["station"] for t in traces))
    assert stas[:len(picked)] and set(stas[:len(picked)]) == picked, (stas, picked)
    dist = [next(t["distance_deg"] for t in traces if t["station"] == s) for s in stas[:len(picked)]]
    assert dist == sorted(dist)
    assert len(traces) == 3 * len(stas) and all(
        [t["channel"][-1] for t in traces if t["station"] == s] == ["Z", "N", "E"] for s in stas)
    worst, buckets = 0.0, 0
    for t in traces:
        assert t["kind"] == "envelope" and len(t["min"]) == len(t["max"]) == width
        assert t["t0"] == start and t["dt"] == pytest.approx((end - start) / width)
        assert t["scale"] == 1.0  # raw counts are sent as integers
        tr = _sds_trace(store, t["nslc"], t0)
        rel = tr.times(reftime=t0)
        pos = (rel - start) / t["dt"]
        inside = (rel >= start) & (rel <= end)
        frac = np.abs(pos[inside] - np.round(pos[inside]))
        assert frac.min() > 1e-6, "a sample on a bucket edge: the comparison would be ambiguous"
        k = np.floor(pos[inside]).astype(int)
        data = tr.data[inside]
        assert t["npts"] == inside.sum()
        lo, hi = _values(t, "min"), _values(t, "max")
        for b in range(width):
            sel = data[k == b]
            if sel.size:
                worst = max(worst, abs(lo[b] - sel.min()), abs(hi[b] - sel.max()))
                buckets += 1
            else:
                assert np.isnan(lo[b]) and np.isnan(hi[b])
    print(f"envelope: {len(traces)} traces x {width} buckets ({buckets} with data), "
          f"largest |server - obspy| = {worst} counts")
    assert buckets > 0.9 * len(traces) * width and worst == 0.0


def test_narrow_window_returns_the_real_samples(client, store, sel3_ids):
    eid, src = sel3_ids[1]
    t0 = src.origins[0].time
    d = _get(client, store, eid, start=4.0, end=5.5).json()  # zoomed in: 151 samples < 2 x 1500
    assert d["start"] == 4.0 and d["end"] == 5.5
    worst = 0.0
    for t in d["traces"]:
        assert t["kind"] == "samples" and t["channel"].endswith("Z") and t["dt"] == 0.01
        first, n = t["t0"], len(t["data"])
        assert 4.0 <= first < 4.0 + t["dt"] and first + (n - 1) * t["dt"] <= 5.5 + 1e-6 and n in (150, 151)
        tr = _sds_trace(store, t["nslc"], t0)
        rel = tr.times(reftime=t0)
        want = tr.data[(rel >= 4.0 - 1e-6) & (rel <= 5.5 + 1e-6)]
        got = _values(t, "data")
        assert got.size == want.size
        worst = max(worst, float(np.abs(got - want).max()))
        assert UTCDateTime(t["starttime"]) == t0 + first
    print(f"samples of the window 4.0-5.5 s: {len(d['traces'])} traces, largest difference {worst} counts")
    assert worst == 0.0
    # a zoomed window with an envelope: only that window, at its resolution
    d = _get(client, store, eid, start=0, end=20, width=200).json()
    assert all(t["kind"] == "envelope" and t["t0"] == 0 and len(t["min"]) == 200 and t["dt"] == 0.1
               for t in d["traces"])


def test_filtered_traces_equal_obspy_filters(client, store, sel3_ids):
    eid, src = sel3_ids[2]
    t0 = src.origins[0].time
    start, end = 1.0, 13.0
    for flt, kind, kw in (("bandpass:2-8", "bandpass", {"freqmin": 2.0, "freqmax": 8.0}),
                          ("highpass:1", "highpass", {"freq": 1.0}),
                          ("lowpass:5", "lowpass", {"freq": 5.0})):
        d = _get(client, store, eid, start=start, end=end, filter=flt).json()
        assert d["filter"] == flt and d["pad_s"] >= 2.0
        worst = 0.0
        for t in d["traces"]:
            assert t["kind"] == "samples"
            tr = _sds_trace(store, t["nslc"], t0)
            # obspy on its own, on a longer window (20 s either side): demean, 5 % taper, filter
            tr.trim(t0 + start - 20, t0 + end + 20)
            tr.data = tr.data.astype(float)
            tr.detrend("demean")
            tr.taper(0.05)
            tr.filter(kind, corners=4, zerophase=True, **kw)
            rel = tr.times(reftime=t0)
            got = _values(t, "data")
            trel = t["t0"] + np.arange(got.size) * t["dt"]
            mid = (trel >= start + 3.0) & (trel <= end - 3.0)  # away from the server's padded edges
            want = np.interp(trel[mid], rel, tr.data)
            g = got[mid]
            if kind == "lowpass":  # the mean passes a low-pass: it is that of the demeaned window
                g, want = g - g.mean(), want - want.mean()
            rel_err = float(np.abs(g - want).max() / np.abs(want).max())
            worst = max(worst, rel_err)
        print(f"{flt}: {len(d['traces'])} traces, largest |server - obspy| in {start + 3}-{end - 3} s "
              f"= {100 * worst:.2g} % of the trace maximum")
        assert worst < 0.02, flt


# --------------------------------------------------------------------------- picks and predictions
def test_picks_and_predicted_phases(client, store, sel3_ids):
    inv = {s.code: s for n in read_inventory(str(Z7)) for s in n}
    tt = store["tt"]
    for eid, src in sel3_ids[:2]:
        o = src.origins[0]
        picks = {str(p.resource_id): p for p in src.picks}
        want = {}
        for a in o.arrivals:
            p = picks[str(a.pick_id)]
            want.setdefault(p.waveform_id.station_code, []).append(
                (a.phase, float(p.time - o.time), a.time_residual))
        d = _get(client, store, eid).json()
        z = o.depth / 1000.0
        worst_pick = worst_pred = worst_obspy = worst_dist = 0.0
        seen = set()
        for t in d["traces"]:
            got = sorted((p["phase"], p["time"], p["time_residual_s"]) for p in t["picks"])
            exp = sorted(want.get(t["station"], []))
            assert [g[0] for g in got] == [e[0] for e in exp] and all(p["defining"] for p in t["picks"])
            for g, e in zip(got, exp):
                worst_pick = max(worst_pick, abs(g[1] - e[1]), abs(g[2] - e[2]))
            if exp:
                seen.add(t["station"])
            st = inv[t["station"]]
            dist = locations2degrees(o.latitude, o.longitude, st.latitude, st.longitude)
            # distances on the sphere with geocentric latitudes (the locator's): obspy's within 0.5 %
            assert t["distance_deg"] == pytest.approx(dist, rel=5e-3, abs=2e-3)
            worst_dist = max(worst_dist, abs(t["distance_deg"] - dist) / dist)
            pred = {p["phase"]: p["time"] for p in t["predicted"]}
            assert set(pred) == {"P", "S"} and pred["P"] < pred["S"]
            for ph in ("P", "S"):
                elev = st.elevation / 1000.0
                exact = float(tt.time(ph, t["distance_deg"], z)) + float(
                    tt.elevation_correction(ph, t["distance_deg"], z, elev))
                near = float(tt.time(ph, dist, z)) + float(tt.elevation_correction(ph, dist, z, elev))
                worst_pred = max(worst_pred, abs(pred[ph] - exact))
                worst_obspy = max(worst_obspy, abs(pred[ph] - near))
        print(f"{eid}: picks on {len(seen)} stations, largest pick time/residual difference {worst_pick:.2e} s; "
              f"predicted P/S vs the table at the trace's distance: {worst_pred:.2e} s, at obspy's "
              f"locations2degrees distance: {worst_obspy:.4f} s (distances differ by {100 * worst_dist:.2f} %)")
        assert seen == set(want) and worst_pick < 1e-3 and worst_pred < 1e-3 and worst_obspy < 0.05


# --------------------------------------------------------------------------- access and errors
def test_access_and_clear_errors(client, store, sel3_ids):
    eid = sel3_ids[0][0]
    r = client.get(f"/ui/api/event/{eid}/waveforms")
    assert r.status_code == 403 and "waveforms" in r.text
    assert _get(client, store, eid, who="sue").status_code == 200  # a State user may read waveforms
    reb_id = client.get("/ui/api/events", params={"catalog": "REB"}, headers=auth(store, "ana")).json()["events"][0]["eventid"]
    r = _get(client, store, reb_id)
    assert r.status_code == 404 and "waveforms" in r.text, r.text
    assert _get(client, store, "SEL3-20140824T000000-20140824T010000-999").status_code == 404
    for params, name in ((dict(filter="foo"), "filter"), (dict(filter="bandpass:1-60"), "filter"),
                         (dict(filter="bandpass:8-2"), "filter"), (dict(filter="highpass:0"), "filter"),
                         (dict(filter="lowpass:50"), "filter"),
                         (dict(start="soon"), "start"), (dict(start=10, end=5), "end"),
                         (dict(start=0, end=9000), "end"), (dict(width=99999), "width"),
                         (dict(maxtraces=0), "maxtraces"), (dict(components="Q"), "components"),
                         (dict(zerophase="maybe"), "zerophase"), (dict(colour="red"), "colour")):
        r = _get(client, store, eid, **params)
        assert r.status_code == 400 and f"'{name}'" in r.text, (params, r.status_code, r.text)
    r = _get(client, store, eid, filter="bandpass:1-60")
    assert "Nyquist" in r.text and "50 Hz" in r.text
    d = _get(client, store, eid, components="*", maxtraces=5).json()
    assert len(d["traces"]) == 5 and d["truncated"] == 36 - 5


# --------------------------------------------------------------------------- headless browser
def _row_ink(drv) -> list[int]:
    """Dark pixels of each trace row in the plot area of the viewer's canvas (drawn traces)."""
    return drv.execute_script("""
        const s = document.querySelector('section.wf-panel'), v = s.wfViewer, c = v.canvas;
        const dpr = c.width / v.w, ctx = c.getContext('2d'), out = [];
        for (let i = 0; i < v.rows.length; i++) {
          const y = Math.round((6 + i * v.rowH + 0.2 * v.rowH) * dpr), h = Math.round(0.6 * v.rowH * dpr);
          const x = Math.round(152 * dpr), w = Math.round((v.w - 152 - 14) * dpr);
          const px = ctx.getImageData(x, y, w, h).data;
          let n = 0;
          for (let k = 0; k < px.length; k += 4) if (px[k] < 80 && px[k + 1] < 80 && px[k + 2] < 80) n++;
          out.push(n);
        }
        return out;""")


@pytest.mark.skipif(bool(_browser_missing()), reason=_browser_missing() or "-")
def test_browser_waveform_viewer_zoom_filter_screenshots(browser, store, sel3_ids, client, tmp_path):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.actions.wheel_input import ScrollOrigin
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import Select, WebDriverWait

    from tests.test_service_fdsn import LiveServer

    drv = browser
    shots = tmp_path / "screenshots"
    shots.mkdir()
    # hash routes re-render the page under the driver: an element can go stale between two looks
    wait = WebDriverWait(drv, 20, ignored_exceptions=(StaleElementReferenceException,))
    eid, src = sel3_ids[0]
    want = _get(client, store, eid).json()
    srv = LiveServer(store["settings"])
    ui_app(store, srv.server.config.app)

    def panel():
        return drv.find_element(By.CSS_SELECTOR, "section.wf-panel")

    def attr(name):
        return panel().get_attribute("data-" + name)

    def settled(fetches):
        wait.until(lambda d: int(attr("fetches") or 0) >= fetches and attr("loaded") == "1")

    with srv:
        drv.get(srv.url + "/ui/#/login")
        drv.execute_script("sessionStorage.setItem('idc_token', arguments[0])", store["tokens"]["ana"])
        drv.get(srv.url + "/ui/#/event/" + eid)
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "section.wf-panel[data-loaded='1']"))
        # the default window and traces of the endpoint, every row drawn
        assert int(attr("traces")) == len(want["traces"]) == 12
        assert float(attr("t0")) == pytest.approx(want["start"], abs=1e-3)
        assert float(attr("t1")) == pytest.approx(want["end"], abs=1e-3)
        assert attr("filter") == "none" and attr("components") == "Z" and attr("fetches") == "1"
        ink = _row_ink(drv)
        print("dark pixels per row:", ink)
        assert len(ink) == 12 and min(ink) > 50
        canvas = drv.find_element(By.CSS_SELECTOR, "section.wf-panel canvas")
        drv.execute_script("arguments[0].scrollIntoView({block: 'start'})", panel())
        drv.save_screenshot(str(shots / "event_waveforms.png"))
        panel().screenshot(str(shots / "waveforms_raw.png"))
        # hover: the trace and the time under the cursor
        rect = drv.execute_script("const r = arguments[0].getBoundingClientRect(); return [r.width, r.height]", canvas)
        row_h = drv.execute_script("return document.querySelector('section.wf-panel').wfViewer.rowH")
        x_mid = 150 + (rect[0] - 162) / 2
        ActionChains(drv).move_to_element_with_offset(canvas, int(x_mid - rect[0] / 2),
                                                      int(6 + 2.5 * row_h - rect[1] / 2)).perform()
        tip = drv.find_element(By.CSS_SELECTOR, "section.wf-panel .wf-tip")
        wait.until(lambda d: tip.is_displayed() and want["traces"][2]["nslc"] in tip.text)
        assert "UTC" in tip.text
        # wheel zoom around the cursor: a shorter window, re-fetched at the canvas resolution with the
        # real samples (the visible 100 Hz samples are fewer than 2 x the canvas width)
        t0, t1 = float(attr("t0")), float(attr("t1"))
        t_cursor = t0 + (x_mid - 150) / (rect[0] - 162) * (t1 - t0)
        origin = ScrollOrigin.from_element(canvas, int(x_mid - rect[0] / 2), int(6 + 2.5 * row_h - rect[1] / 2))
        for _ in range(3):
            ActionChains(drv).scroll_from_origin(origin, 0, -120).perform()
        settled(2)
        z0, z1 = float(attr("t0")), float(attr("t1"))
        print(f"wheel zoom: {t0:.2f}-{t1:.2f} s -> {z0:.2f}-{z1:.2f} s, {attr('fetches')} fetches, "
              f"{attr('samples')} traces as samples")
        assert z1 - z0 < 0.6 * (t1 - t0)
        assert z0 <= t_cursor <= z1 and abs((t_cursor - z0) / (z1 - z0) - (t_cursor - t0) / (t1 - t0)) < 0.05
        assert int(attr("samples")) == 12
        assert min(_row_ink(drv)) > 20
        panel().screenshot(str(shots / "waveforms_zoomed.png"))
        # a filter: the same window, band-passed by the server
        Select(panel().find_element(By.CSS_SELECTOR, "select.wf-filter")).select_by_value("bandpass:2-8")
        settled(3)
        assert attr("filter") == "bandpass:2-8"
        assert (float(attr("t0")), float(attr("t1"))) == (z0, z1)
        panel().screenshot(str(shots / "waveforms_bp.png"))
        # shift-drag: box zoom to the middle third of the plot
        n = int(attr("fetches"))
        a = int(150 + (rect[0] - 162) / 3 - rect[0] / 2)
        ActionChains(drv).move_to_element_with_offset(canvas, a, int(6 + row_h - rect[1] / 2)) \
            .key_down(Keys.SHIFT).click_and_hold().move_by_offset(int((rect[0] - 162) / 3), 0) \
            .release().key_up(Keys.SHIFT).perform()
        settled(n + 1)
        b0, b1 = float(attr("t0")), float(attr("t1"))
        print(f"box zoom: {z0:.2f}-{z1:.2f} s -> {b0:.2f}-{b1:.2f} s")
        assert (b1 - b0) == pytest.approx((z1 - z0) / 3, rel=0.05)
        assert b0 == pytest.approx(z0 + (z1 - z0) / 3, abs=0.03 * (z1 - z0))
        # three components, then reset to the first window
        n = int(attr("fetches"))
        Select(panel().find_element(By.CSS_SELECTOR, "select.wf-components")).select_by_value("ZNE")
        settled(n + 1)
        assert int(attr("traces")) == 36 and attr("components") == "ZNE"
        n = int(attr("fetches"))
        panel().find_element(By.CSS_SELECTOR, "button.wf-reset").click()
        settled(n + 1)
        assert float(attr("t0")) == pytest.approx(want["start"], abs=1e-3)
        assert float(attr("t1")) == pytest.approx(want["end"], abs=1e-3)
        assert min(_row_ink(drv)) > 20
        drv.execute_script("arguments[0].scrollIntoView({block: 'start'})", panel())
        panel().screenshot(str(shots / "waveforms_zne.png"))
        n = int(attr("fetches"))
        Select(panel().find_element(By.CSS_SELECTOR, "select.wf-components")).select_by_value("Z")
        settled(n + 1)
        assert int(attr("traces")) == 12 and attr("filter") == "bandpass:2-8"
        drv.execute_script("arguments[0].scrollIntoView({block: 'start'})", panel())
        ActionChains(drv).move_to_element_with_offset(canvas, int(x_mid - rect[0] / 2),
                                                      int(6 + 2.5 * row_h - rect[1] / 2)).perform()
        panel().screenshot(str(shots / "waveforms_bp_full.png"))
        errors = [e for e in drv.get_log("browser") if e.get("level") == "SEVERE"]
        assert not errors, errors
    for name in ("event_waveforms", "waveforms_raw", "waveforms_zoomed", "waveforms_bp", "waveforms_zne",
                 "waveforms_bp_full"):
        w, h = png_size((shots / f"{name}.png").read_bytes())
        assert w >= 1000 and h >= 300, (name, w, h)
    if os.environ.get("IDC_UPDATE_DOCS") == "1":  # refresh the README figure: IDC_UPDATE_DOCS=1 pytest ...
        DOCS.mkdir(exist_ok=True)
        from PIL import Image  # (matplotlib's dependency): a 64-colour palette, a third of the bytes

        Image.open(shots / "waveforms_bp_full.png").convert("RGB").quantize(64, method=Image.Quantize.FASTOCTREE).save(
            DOCS / "web_ui_waveforms.png", optimize=True)


def test_viewer_assets_are_bundled(client):
    page = client.get("/ui/").text
    assert "/ui/static/waveforms.js" in page
    for a in ("/ui/static/waveforms.js", "/ui/static/style.css"):
        r = client.get(a)
        assert r.status_code == 200 and "http://" not in r.text and "https://" not in r.text and "//cdn" not in r.text
    js = client.get("/ui/static/waveforms.js").text
    assert "IDC.eventPanels.push" in js and "/waveforms?" in js
    assert ".wf-panel" in client.get("/ui/static/style.css").text


def test_missing_data_is_a_gap_and_the_sds_scan_finds_the_channels(client, store, sel3_ids, monkeypatch):
    eid, src = sel3_ids[3]
    t0 = src.origins[0].time
    d = _get(client, store, eid, start=-70, end=100, width=340).json()
    worst = 0.0
    for t in d["traces"]:
        tr = _sds_trace(store, t["nslc"], t0)
        first, last = tr.stats.starttime - t0, tr.stats.endtime - t0
        assert first > -70 and last < 100, "the archive should end inside this window"
        want = [[-70.0, round(first, 4)], [round(last + tr.stats.delta, 4), 100.0]]
        assert len(t["gaps"]) == 2, t["gaps"]
        worst = max(worst, float(np.abs(np.array(t["gaps"]) - np.array(want)).max()))
        lo = _values(t, "min")  # buckets without data are null
        k_last = int(math.floor((last + 70) / t["dt"]))
        assert np.isnan(lo[k_last + 1:]).all() and not np.isnan(lo[k_last])
    print(f"gaps at the archive's ends: largest difference to obspy's first/last sample {worst:.1e} s")
    assert worst < 1e-3
    # without availability rows (an archive filled by another program) the SDS day directories are
    # scanned: the same traces
    import pipeline.store.event_waveforms as ew

    want = [t["nslc"] for t in _get(client, store, eid).json()["traces"]]
    monkeypatch.setattr(ew, "archived_channels", lambda *a, **k: [])
    got = _get(client, store, eid).json()["traces"]
    assert [t["nslc"] for t in got] == want and all(t["distance_deg"] is not None for t in got)
