"""The operators' dashboard of the web UI (``GET /ui/api/dashboard``, ``#/dashboard``).

A real store, built once for the module: the Z7 StationXML (12 Bardarbunga stations) plus GR.FUR
(a station that never delivers); ten of the 2014 Iceland miniSEED files of tests/data/iceland —
six whole, four without four of the stations (those four stop delivering ~1 min earlier) — and
a truncated copy of an eleventh file, which the ingest quarantines; SEL1 run by the real chain
(:func:`pipeline.tasks.process_window`) on three 1-minute windows with one window left out
and one window run twice, and SEL2 on a 2-minute window, as Airflow backfills (latency from the
data's arrival); the alerts of the first SEL1 window with the magnitude and at-sea limits lifted.
Accounts: an operator, an analyst, a State user.

The dashboard's figures are checked against independent computations: the ``product_run`` rows
read with SQL here and :func:`pipeline.tasks.latency_report`; the samples, stations and gaps of the
ingested files read with obspy; the files of the quarantine folder; the sizes of the input files;
the station files read with obspy. The browser test (headless Chromium; skipped with the reason
when absent) logs in with the operator's token and compares the page with the API.
"""
from __future__ import annotations

import os
import shutil
import time
import tomllib
from collections import defaultdict

import numpy as np
import pytest
from fastapi.testclient import TestClient
from obspy import UTCDateTime, read, read_inventory
from sqlalchemy import text

from pipeline import tasks
from pipeline.store.accounts import add_state, add_user, create_token
from pipeline.service.app import create_app
from pipeline.settings import DEFAULT_CONFIG
from pipeline.store import db
from pipeline.store.products import PRODUCT_TYPES
from tests import PROJECT_ROOT
from tests.conftest import DATA, make_settings
from tests.test_web_ui import _browser_missing, browser, png_size  # noqa: F401  (browser: a fixture)

ICELAND = DATA / "iceland"
Z7 = PROJECT_ROOT / "stations" / "Z7.xml"
FUR = PROJECT_ROOT / "stations" / "GR.FUR.xml"
WAVEFORMS = sorted((ICELAND / "waveforms").glob("*.m"))
ACCESS = tomllib.loads(DEFAULT_CONFIG.read_text())["access"]
DOCS = PROJECT_ROOT / "docs"
#: the stations left out of the last four files
SHORT = ("NOHR", "RIFR", "SOSU", "TOHR")
SEL1_WINDOWS = [("2014-08-24T00:01:00", "2014-08-24T00:02:00"), ("2014-08-24T00:02:00", "2014-08-24T00:03:00"),
                ("2014-08-24T00:04:00", "2014-08-24T00:05:00"), ("2014-08-24T00:01:00", "2014-08-24T00:02:00")]
SEL2_WINDOW = ("2014-08-24T00:01:00", "2014-08-24T00:03:00")


@pytest.fixture(scope="module")
def dash(tmp_path_factory, tt_cache):
    work = tmp_path_factory.mktemp("dashboard")
    home = work / "home"
    (home / "cache").mkdir(parents=True)
    # the session's travel-time tables: the demo's table (this model on the default local grid)
    # is built once (~16 s) and shared with tests/test_amplitudes.py
    (home / "cache" / "traveltime").symlink_to(tt_cache)
    s = make_settings(home, "", **{
        "access": ACCESS, "access.rate_limit.public_burst": 10000, "access.rate_limit.burst": 10000,
        "traveltime.model": str(ICELAND / "inputs" / "iceland_vmodel.txt"), "traveltime.phases": ["P", "S"],
        "traveltime.model_interpolation": "linear",
        "stations.paths": [str(Z7), str(FUR)],
        "alerts.min_magnitude": 0.0, "alerts.require_at_sea": False, "alerts.expires_hours": 0.0})
    db.upgrade(s.database_url)
    tasks.load_stations(s, [str(Z7), str(FUR)])
    t_build = time.perf_counter()
    # ten real files: six whole, four without the SHORT stations; then a truncated copy
    inputs = list(WAVEFORMS[:6])
    for f in WAVEFORMS[6:10]:
        st = read(str(f))
        for tr in [tr for tr in st if tr.stats.station in SHORT]:
            st.remove(tr)
        out = work / f"{f.stem}_without_4.mseed"
        st.write(str(out), format="MSEED")
        inputs.append(out)
    res = tasks.ingest_files(s, inputs, progress=False)
    assert res["accepted"] == len(inputs) == 10 and res["rejected"] == 0, res
    bad = work / f"{WAVEFORMS[10].stem}_truncated.m"
    bad.write_bytes(WAVEFORMS[10].read_bytes()[:10000])
    rej = tasks.ingest_files(s, [bad], progress=False)
    assert rej["rejected"] == 1 and rej["rejections"][0]["kind"] == "corrupt", rej
    runs = []
    for i, (a, b) in enumerate(SEL1_WINDOWS):
        runs.append(tasks.process_window(s, "SEL1", a, b, runner="airflow", run_id=f"sel1/backfill__{i}"))
    runs.append(tasks.process_window(s, "SEL2", *SEL2_WINDOW, runner="airflow", run_id="sel2/backfill__0"))
    assert runs[3]["new_version"] is False and runs[3]["version"] == 1  # the re-run replaced v1
    alerts = tasks.alerts_for_product(s, "SEL1", *SEL1_WINDOWS[0])
    with db.session_scope(s.database_url) as ss:
        add_state(ss, "IS", "Iceland")
        add_user(ss, "olga", "operator")
        add_user(ss, "ana", "analyst")
        add_user(ss, "sue", "state_user", state="IS")
        tokens = {u: create_token(ss, u)[0] for u in ("olga", "ana", "sue")}
    print(f"\ndashboard store built in {time.perf_counter() - t_build:.1f} s: {len(inputs)} inputs, "
          f"runs {[(r['product'], r['start'][11:16], r['events'], r['latency_s']) for r in runs]}, alerts {alerts}")
    return {"settings": s, "tokens": tokens, "inputs": inputs, "bad": bad, "runs": runs, "alerts": alerts}


@pytest.fixture(scope="module")
def client(dash):
    with TestClient(create_app(dash["settings"])) as c:
        yield c


def auth(dash, who):
    return {"Authorization": f"Bearer {dash['tokens'][who]}"} if who else {}


def get(client, dash, who="olga", **params):
    r = client.get("/ui/api/dashboard", params=params, headers=auth(dash, who))
    assert r.status_code == 200, r.text
    return r.json()


def traces(dash):
    """Every trace of the accepted inputs, read with obspy."""
    out = []
    for f in dash["inputs"]:
        out += list(read(str(f)))
    return out


def run_rows(dash, since, until):
    """The product_run rows with a window end in [since, until], read here with SQL."""
    with db.session_scope(dash["settings"].database_url) as ss:
        return ss.execute(text("SELECT type, window_start, window_end, version, new_version, latency_s, duration_s "
                               "FROM product_run WHERE window_end >= :a AND window_end <= :b ORDER BY finished, id"),
                          {"a": since, "b": until}).all()


# --------------------------------------------------------------------------- access and parameters
def test_only_idc_staff_may_read_the_dashboard(client, dash):
    r = client.get("/ui/api/dashboard")
    assert r.status_code == 401 and "IDC staff" in r.text and r.text.startswith("Error 401")
    # no Digest/Basic challenge (a browser would open a login dialog), only the Bearer hint
    challenges = r.headers.get_list("www-authenticate")
    assert challenges == ['Bearer realm="idc-pipeline"'], challenges
    r = client.get("/ui/api/dashboard", headers=auth(dash, "sue"))
    assert r.status_code == 403 and "'sue'" in r.text and "state_user" in r.text
    r = client.get("/ui/api/dashboard", headers={"Authorization": "Bearer idc_000000000000_" + "x" * 40})
    assert r.status_code == 401
    for who in ("olga", "ana"):
        assert client.get("/ui/api/dashboard", headers=auth(dash, who)).status_code == 200


@pytest.mark.parametrize("params, name", [
    ({"since": "yesterday"}, "since"), ({"until": "2014-13-45"}, "until"), ({"hours": "0"}, "hours"),
    ({"hours": "many"}, "hours"), ({"hours": "3000"}, "hours"), ({"silent_after_s": "-5"}, "silent_after_s"),
    ({"recent": "1000"}, "recent"), ({"since": "2014-08-24T00:00:00"}, "since"),  # until now: 12 years > 92 days
    ({"since": "2014-08-24T01:00:00", "until": "2014-08-24T00:00:00"}, "until")])
def test_bad_parameters_are_400_naming_the_parameter(client, dash, params, name):
    r = client.get("/ui/api/dashboard", params=params, headers=auth(dash, "olga"))
    assert r.status_code == 400 and f"'{name}'" in r.text, r.text


# --------------------------------------------------------------------------- products
def test_products_equal_the_run_log_and_the_latency_report(client, dash):
    d = get(client, dash)
    s = dash["settings"]
    # the default period: the 24 h before the newest data / product window (2014: no live data)
    newest_sample = max(float(tr.stats.endtime.timestamp) for tr in traces(dash))
    with db.session_scope(s.database_url) as ss:
        newest_window = ss.execute(text("SELECT max(window_end) FROM product_run")).scalar()
    until = max(newest_sample, newest_window)
    assert d["period"]["until_epoch"] == pytest.approx(until, abs=1e-6)
    assert d["period"]["since_epoch"] == pytest.approx(until - 86400.0, abs=1e-6)
    assert d["period"]["anchor"] == ("newest product window" if newest_window >= newest_sample else "newest data")
    assert d["activity_period"]["anchor"] == "now"  # ingested and run minutes ago
    rows = run_rows(dash, d["period"]["since_epoch"], d["period"]["until_epoch"])
    report = tasks.latency_report(s, None, d["period"]["since_epoch"], d["period"]["until_epoch"])["products"]
    assert [p["type"] for p in d["products"]] == list(PRODUCT_TYPES)
    for p in d["products"]:
        mine = [r for r in rows if r.type == p["type"]]
        assert p["runs"] == len(mine)
        print(f"{p['type']}: {p['runs']} runs, {p['windows']} windows, {p['windows_missing']} missing, "
              f"latency {p['latency_s']}, status {p['status']} ({p['status_reason']})")
        if not mine:
            assert p["status"] == "none" and p["latency_s"] is None and p["type"] not in report
            continue
        lat = np.array([r.latency_s for r in mine])
        assert p["latency_s"]["median"] == pytest.approx(float(np.median(lat)), abs=1e-9)
        assert p["latency_s"]["p90"] == pytest.approx(float(np.percentile(lat, 90)), abs=1e-9)
        assert p["latency_s"]["max"] == pytest.approx(float(lat.max()), abs=1e-9)
        want = report[p["type"]]
        assert (p["runs"], p["windows"], p["new_versions"]) == (want["runs"], want["windows"], want["new_versions"])
        assert p["latency_s"] == pytest.approx(want["latency_s"]) and p["duration_s"] == pytest.approx(want["duration_s"])
        assert p["last"]["window"] == want["last"]["window"] and p["last"]["version"] == want["last"]["version"]
        assert sorted(x[1] for x in p["series"]) == pytest.approx(sorted(r.latency_s for r in mine), abs=1e-3)
        assert p["windows"] == len({(r.window_start, r.window_end) for r in mine})
    sel1 = d["products"][0]
    # what the runs said: backfills, so latency from the data's arrival (seconds, not years)
    sel1_runs = [r for r in dash["runs"] if r["product"] == "SEL1"]
    assert sorted(x[1] for x in sel1["series"]) == pytest.approx(sorted(r["latency_s"] for r in sel1_runs), abs=0.051)
    assert all(r["latency_from"] == "data_arrival" for r in dash["runs"]) and sel1["latency_s"]["max"] < 3600
    # 00:01-00:02, 00:02-00:03, 00:04-00:05: the window 00:03-00:04 is missing
    assert (sel1["runs"], sel1["windows"], sel1["new_versions"], sel1["windows_missing"]) == (4, 3, 3, 1)
    assert [(g["start"][11:19], g["end"][11:19], g["windows"]) for g in sel1["gaps"]] == [("00:03:00", "00:04:00", 1)]
    assert sel1["status"] == "warn" and "missing" in sel1["status_reason"]
    assert sel1["last"]["status"] == "replaced v1" and sel1["last"]["window"][0].startswith("2014-08-24T00:01:00")
    sel2 = d["products"][1]
    assert (sel2["runs"], sel2["windows_missing"], sel2["status"]) == (1, 0, "ok")
    # the table of the last runs: every run, newest first
    assert d["runs_total"] == len(rows) == 5
    assert [r["type"] for r in d["runs"]] == [r["product"] for r in reversed(dash["runs"])]


def test_an_explicit_period_selects_runs_by_window_end(client, dash):
    d = get(client, dash, since="2014-08-24T00:00:00", until="2014-08-24T00:03:00")
    assert d["period"]["anchor"] == d["activity_period"]["anchor"] == "given"
    assert d["period"]["since"] == d["activity_period"]["since"] == "2014-08-24T00:00:00.000000Z"
    rows = run_rows(dash, d["period"]["since_epoch"], d["period"]["until_epoch"])
    # both ends inclusive (as `idc latency --since --until`): SEL1 00:01-00:02 (twice), 00:02-00:03; SEL2
    assert sorted((r.type, UTCDateTime(r.window_end).strftime("%H:%M")) for r in rows) == [
        ("SEL1", "00:02"), ("SEL1", "00:02"), ("SEL1", "00:03"), ("SEL2", "00:03")]
    assert [p["runs"] for p in d["products"]] == [3, 1, 0, 0, 0, 0] and d["products"][0]["windows_missing"] == 0
    # arrival-time items of 2014: nothing was ingested or quarantined then
    assert (d["ingest"]["accepted"], d["ingest"]["rejected"], d["quarantine"]["in_period"]) == (0, 0, 0)
    assert d["ingest"]["status"] == "bad" and d["quarantine"]["held"] == 1


# --------------------------------------------------------------------------- ingest and quarantine
def test_ingest_rate_and_quarantine_equal_the_inputs_and_the_folder(client, dash):
    d = get(client, dash)
    ing, q = d["ingest"], d["quarantine"]
    sizes = [os.path.getsize(f) for f in dash["inputs"]]
    samples = sum(tr.stats.npts for tr in traces(dash))
    print(f"ingest: {ing['accepted']} accepted, {ing['rejected']} rejected, {ing['bytes']} bytes, {ing['samples']} "
          f"samples, {ing['files_per_hour']} files/h, status {ing['status']}; quarantine: {q}")
    assert (ing["accepted"], ing["rejected"]) == (len(dash["inputs"]), 1)
    assert ing["bytes"] == sum(sizes) and ing["samples"] == samples
    assert ing["files_per_hour"] == pytest.approx(len(dash["inputs"]) / 24.0, abs=1e-3)
    assert sum(b["accepted"] for b in ing["hourly"]) == ing["accepted"]
    assert sum(b["rejected"] for b in ing["hourly"]) == 1 and sum(b["bytes"] for b in ing["hourly"]) == sum(sizes)
    assert len(ing["hourly"]) in (24, 25) and all(b2["start"] - b1["start"] == 3600
                                                  for b1, b2 in zip(ing["hourly"], ing["hourly"][1:]))
    newest = max(tr.stats.endtime for tr in traces(dash))
    assert abs(UTCDateTime(ing["newest_data"]) - newest) < 1e-6
    assert ing["status"] == "warn"  # one input rejected
    # quarantine: one held copy, the file on disk, named after the truncated input
    on_disk = [f for f in dash["settings"].quarantine_dir.rglob("*") if f.is_file()]
    assert q["held"] == q["in_period"] == q["unresolved"] == q["files_on_disk"] == len(on_disk) == 1
    e = q["recent"][0]
    assert e["file"] == dash["bad"].name and e["kind"] == "corrupt" and "cut inside a record" in e["reason"]
    assert e["quarantine_path"] == str(on_disk[0]) and q["status"] == "bad"


# --------------------------------------------------------------------------- stations
def _newest_per_station(dash) -> dict[str, float]:
    out: dict[str, float] = {}
    for tr in traces(dash):
        out[tr.stats.station] = max(out.get(tr.stats.station, 0.0), float(tr.stats.endtime.timestamp))
    return out


def _inner_gaps_per_station(dash) -> dict[str, int]:
    """Gaps between the data of each channel (merging the inputs' traces), summed per station."""
    spans = defaultdict(list)
    for tr in traces(dash):
        spans[(tr.stats.station, tr.stats.channel, tr.stats.sampling_rate)].append(
            (float(tr.stats.starttime.timestamp), float(tr.stats.endtime.timestamp)))
    out: dict[str, int] = defaultdict(int)
    for (sta, _, fs), sp in spans.items():
        sp.sort()
        end = sp[0][1]
        for a, b in sp[1:]:
            if a - end > 1.5 / fs:
                out[sta] += 1
            end = max(end, b)
    return dict(out)


def test_silent_stations_are_the_site_stations_without_recent_data(client, dash):
    known = {f"{n.code}.{s.code}" for f in (Z7, FUR) for n in read_inventory(str(f)) for s in n}
    newest = _newest_per_station(dash)
    d = get(client, dash)
    st = d["stations"]
    until = d["period"]["until_epoch"]
    print(f"stations: {st['known']} known, {st['with_data']} with data, silent {st['silent']}, "
          f"with gaps {len(st['with_gaps'])}; latency by station "
          f"{ {r['station']: r['latency_s'] for r in st['stations']} }")
    assert {r["network"] + "." + r["station"] for r in st["stations"]} == known and st["known"] == len(known) == 13
    # default threshold (1 h): silent = the site stations without any data
    without = sorted(k for k in known if k.split(".")[1] not in newest)
    assert st["silent"] == without == ["GR.FUR"] and st["silent_count"] == 1 and st["status"] == "warn"
    for r in st["stations"]:
        if r["station"] in newest:
            assert r["latency_s"] == pytest.approx(until - newest[r["station"]], abs=1e-3)
            assert abs(UTCDateTime(r["newest"]) - UTCDateTime(newest[r["station"]])) < 1e-3
            assert r["channels"] == r["channels_in_period"] == 3
        else:
            assert r["newest"] is None and r["latency_s"] is None and r["channels"] == 0
    # gaps between the data of the period, per station, as the inputs' traces have them
    gaps = _inner_gaps_per_station(dash)
    assert {r["station"]: r["gaps"] for r in st["stations"] if r["gaps"]} == {k: v for k, v in gaps.items() if v}
    assert sorted(st["with_gaps"]) == sorted(f"Z7.{k}" for k, v in gaps.items() if v)
    # a threshold between the two groups: the four stations left out of the last files fall silent
    lat = {k: until - t for k, t in newest.items()}
    thr = (max(lat[k] for k in lat if k not in SHORT) + min(lat[k] for k in SHORT)) / 2
    st2 = get(client, dash, silent_after_s=str(thr))["stations"]
    assert st2["silent"] == sorted(["GR.FUR"] + [f"Z7.{k}" for k in newest if lat[k] > thr])
    assert {x.split(".")[1] for x in st2["silent"]} == {"FUR", *SHORT} and st2["status"] == "bad"  # 5 of 13


def test_a_live_store_is_shown_up_to_now(dash):
    """With 'now' an hour after the newest data (a live store), the period ends now and every
    station whose data stopped more than the threshold before is silent."""
    from pipeline.service.ui.dashboard import dashboard_json

    newest = _newest_per_station(dash)
    now = max(newest.values()) + 1800.0
    with db.session_scope(dash["settings"].database_url) as ss:
        d = dashboard_json(dash["settings"], ss, now=now, silent_after_s=1800.0 + 30.0)
    assert d["period"]["anchor"] == "now" and d["period"]["until_epoch"] == now
    want = sorted(["GR.FUR"] + [f"Z7.{k}" for k, t in newest.items() if now - t > 1830.0])
    assert d["stations"]["silent"] == want and {x.split(".")[1] for x in want} == {"FUR", *SHORT}


@pytest.mark.postgres
def test_the_dashboard_queries_on_postgresql(tmp_path, pg_server):
    """The store queries of the dashboard on PostgreSQL: a run logged with the store's own
    function (:func:`pipeline.store.products.record_run`), two real files and a truncated one."""
    from datetime import datetime, timedelta, timezone

    from pipeline.service.ui.dashboard import dashboard_json
    from pipeline.store.products import ProductKey, record_run, write_product

    s = make_settings(tmp_path / "home", pg_server.create_database(f"dash_{os.getpid()}_{int(time.time())}"))
    db.upgrade(s.database_url)
    tasks.load_stations(s, [str(Z7), str(FUR)])
    files = WAVEFORMS[:2]
    assert tasks.ingest_files(s, files, progress=False)["accepted"] == 2
    bad = tmp_path / "cut.m"
    bad.write_bytes(WAVEFORMS[2].read_bytes()[:5000])
    assert tasks.ingest_files(s, [bad], progress=False)["rejected"] == 1
    t0, t1 = UTCDateTime("2014-08-24T00:01:00"), UTCDateTime("2014-08-24T00:02:00")
    with db.session_scope(s.database_url) as ss:
        prod, new = write_product(ss, ProductKey("SEL1", t0.timestamp, t1.timestamp), input_fingerprint="f",
                                  config_hash="c", software_version="t", fill=lambda s_, p: {})
        run = record_run(ss, prod, new, 0, datetime.now(timezone.utc) - timedelta(seconds=3), 3.0, "airflow",
                         "sel1/backfill__x", data_arrival=datetime.now(timezone.utc).timestamp() - 60.0)
    with db.session_scope(s.database_url) as ss:
        d = dashboard_json(s, ss)
    newest = {}
    for f in files:
        for tr in read(str(f)):
            newest[tr.stats.station] = max(newest.get(tr.stats.station, 0.0), float(tr.stats.endtime.timestamp))
    until = max(max(newest.values()), t1.timestamp)
    assert d["period"]["until_epoch"] == pytest.approx(until) and d["period"]["anchor"] != "now"
    sel1 = d["products"][0]
    assert sel1["runs"] == 1 and sel1["latency_s"]["median"] == pytest.approx(run["latency_s"], abs=1e-6)
    assert d["runs"][0]["run_id"] == "sel1/backfill__x" and d["runs"][0]["status"] == "new version v1"
    assert (d["ingest"]["accepted"], d["ingest"]["rejected"]) == (2, 1)
    assert d["ingest"]["bytes"] == sum(os.path.getsize(f) for f in files)
    assert d["quarantine"]["held"] == d["quarantine"]["files_on_disk"] == 1
    st = {r["station"]: r for r in d["stations"]["stations"]}
    assert d["stations"]["silent"] == ["GR.FUR"] and len(st) == 13
    for sta, t in newest.items():
        assert st[sta]["latency_s"] == pytest.approx(until - t, abs=1e-3) and st[sta]["channels"] == 3


# --------------------------------------------------------------------------- alerts
def test_alerts_issued_are_counted(client, dash):
    from pipeline.alerts.feed import _load_state, alerts_dir

    state = _load_state(alerts_dir(dash["settings"]))
    msgs = [m for rec in state["events"].values() for m in rec["messages"]]
    al = get(client, dash)["alerts"]
    print(f"alerts: {al['events']} events, {al['messages']} messages, {al['in_period']} in the period")
    assert al["events"] == len(state["events"]) == len(dash["alerts"]["alerts"]) > 0
    assert al["messages"] == al["in_period"] == len(msgs) and al["status"] == "warn"
    assert {m["identifier"] for m in al["recent"]} <= {m["identifier"] for m in msgs}


# --------------------------------------------------------------------------- headless browser
@pytest.mark.skipif(bool(_browser_missing()), reason=_browser_missing() or "-")
def test_browser_dashboard_shows_the_api_figures(browser, dash, client, tmp_path):  # noqa: F811
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait

    from tests.test_service_fdsn import LiveServer

    drv = browser
    shots = tmp_path / "screenshots"
    shots.mkdir()
    # hash routes re-render the page under the driver: an element can go stale between two looks
    wait = WebDriverWait(drv, 20, ignored_exceptions=(StaleElementReferenceException,))

    def ready():
        wait.until(lambda d: d.find_element(By.ID, "main").get_attribute("data-page") == "dashboard"
                   and d.find_element(By.ID, "main").get_attribute("data-ready") == "1")

    def login(who):
        drv.get(srv.url + "/ui/#/login")
        wait.until(lambda d: d.find_element(By.ID, "main").get_attribute("data-page") == "login"
                   and d.find_element(By.ID, "main").get_attribute("data-ready") == "1")
        drv.find_element(By.ID, "token").send_keys(dash["tokens"][who])
        drv.find_element(By.ID, "login-btn").click()
        wait.until(lambda d: d.find_elements(By.ID, "login-ok") and who in d.find_element(By.ID, "login-ok").text)

    api = get(client, dash)
    with LiveServer(dash["settings"]) as srv:
        # the public: a clear message, no request of the dashboard
        drv.get(srv.url + "/ui/#/dashboard")
        ready()
        assert "IDC staff" in drv.find_element(By.ID, "d-denied").text
        assert "Login" in drv.find_element(By.ID, "d-denied").text
        login("sue")  # a State user: also not staff
        drv.get(srv.url + "/ui/#/dashboard")
        ready()
        denied = drv.find_element(By.ID, "d-denied").text
        assert "sue" in denied and "state_user" in denied and "not IDC staff" in denied
        login("olga")
        assert drv.find_element(By.ID, "whoami").text == "olga (operator)"
        drv.get(srv.url + "/ui/#/dashboard")
        ready()
        box = drv.find_element(By.ID, "dash")
        # the cards carry the API's figures and status colours
        assert box.get_attribute("data-runs") == str(sum(p["runs"] for p in api["products"])) == "5"
        assert box.get_attribute("data-products") == "2"
        assert box.get_attribute("data-silent") == str(api["stations"]["silent_count"]) == "1"
        assert box.get_attribute("data-quarantine") == str(api["quarantine"]["held"]) == "1"
        assert box.get_attribute("data-ingest") == str(api["ingest"]["accepted"])
        assert box.get_attribute("data-until") == api["period"]["until"]
        for p in api["products"]:
            c = drv.find_element(By.CSS_SELECTOR, f'.dash-card[data-product="{p["type"]}"]')
            assert c.get_attribute("data-status") == p["status"] and f"st-{p['status']}" in c.get_attribute("class")
            assert c.get_attribute("data-runs") == str(p["runs"])
            if p["runs"]:
                assert float(c.get_attribute("data-median")) == pytest.approx(p["latency_s"]["median"])
        for kind, block in (("ingest", api["ingest"]), ("quarantine", api["quarantine"]), ("silent", api["stations"]),
                            ("alerts", api["alerts"])):
            c = drv.find_element(By.CSS_SELECTOR, f'.dash-card[data-card="{kind}"]')
            assert c.get_attribute("data-status") == block["status"], kind
        assert drv.find_element(By.CSS_SELECTOR, '.dash-card[data-card="silent"] .dash-card-value').text == "1 / 13"
        # charts: one latency chart per product with runs, every run a point; hourly ingest bars
        charts = drv.find_elements(By.CSS_SELECTOR, "canvas.dash-latency")
        assert [c.get_attribute("data-product") for c in charts] == ["SEL1", "SEL2"]
        assert [int(c.get_attribute("data-points")) for c in charts] == [4, 1]
        assert all(int(c.get_attribute("data-ticks")) >= 2 for c in charts)
        ic = drv.find_element(By.ID, "d-ingest-chart")
        assert int(ic.get_attribute("data-bars")) >= 1 and int(ic.get_attribute("data-ticks")) >= 2
        # something is drawn: the canvases are not blank
        for c in charts + [ic]:
            assert drv.execute_script(
                "const c = arguments[0], d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;"
                "let n = 0; for (let i = 0; i < d.length; i += 4) if (d[i] < 200 || d[i+1] < 200) n++; return n;",
                c) > 500
        # the tables
        assert len(drv.find_elements(By.CSS_SELECTOR, "#d-runs-table tbody tr")) == len(api["runs"]) == 5
        assert len(drv.find_elements(By.CSS_SELECTOR, "#d-gaps-table tbody tr")) == 1
        qrows = drv.find_elements(By.CSS_SELECTOR, "#d-quarantine-table tbody tr")
        assert len(qrows) == 1 and dash["bad"].name in qrows[0].text and "corrupt" in qrows[0].text
        srows = drv.find_elements(By.CSS_SELECTOR, "#d-silent-table tbody tr")
        assert [r.get_attribute("data-station") for r in srows] == api["stations"]["silent"]
        assert len(drv.find_elements(By.CSS_SELECTOR, "#d-stations-table tbody tr")) == 13
        assert "newest data" in drv.find_element(By.ID, "d-period-info").text or \
            "newest product window" in drv.find_element(By.ID, "d-period-info").text
        drv.save_screenshot(str(shots / "dashboard.png"))
        drv.set_window_size(1280, 2400)
        drv.save_screenshot(str(shots / "dashboard_full.png"))
        drv.set_window_size(1280, 900)
        # refresh now: the page reloads its data in place
        drv.find_element(By.ID, "d-refresh").click()
        wait.until(lambda d: d.find_element(By.ID, "dash").get_attribute("data-refreshes") == "2")
        # the period selector: last 6 h (anchored at the same newest data), then a custom period
        Select(drv.find_element(By.ID, "d-period")).select_by_visible_text("last 6 h")
        wait.until(lambda d: "hours=6" in d.current_url)
        ready()
        box = drv.find_element(By.ID, "dash")
        assert UTCDateTime(box.get_attribute("data-until")) - UTCDateTime(box.get_attribute("data-since")) == 6 * 3600
        Select(drv.find_element(By.ID, "d-period")).select_by_visible_text("custom")
        drv.find_element(By.ID, "d-since").send_keys("2014-08-24T00:00:00")
        drv.find_element(By.ID, "d-until").send_keys("2014-08-24T00:03:00")
        drv.find_element(By.ID, "d-silent-min").clear()
        drv.find_element(By.ID, "d-silent-min").send_keys("5")
        drv.find_element(By.ID, "d-apply").click()
        wait.until(lambda d: "since=" in d.current_url and "silent_after_s=300" in d.current_url)
        ready()
        box = drv.find_element(By.ID, "dash")
        want = get(client, dash, since="2014-08-24T00:00:00", until="2014-08-24T00:03:00", silent_after_s="300")
        assert box.get_attribute("data-runs") == str(sum(p["runs"] for p in want["products"])) == "4"
        assert box.get_attribute("data-silent") == str(want["stations"]["silent_count"])
        drv.save_screenshot(str(shots / "dashboard_custom.png"))
        # auto refresh (every 60 s; shortened to 1 s here), paused while the tab is hidden and
        # caught up at once when it is visible again
        drv.execute_script("window.IDC.dashboardRefreshMs = 1000;")
        drv.get(srv.url + "/ui/#/dashboard?hours=24")
        ready()
        assert "auto refresh 1 s" in drv.find_element(By.ID, "d-form").text

        def refreshes():
            return int(drv.find_element(By.ID, "dash").get_attribute("data-refreshes"))

        wait.until(lambda d: refreshes() >= 3)
        drv.execute_script("Object.defineProperty(document, 'hidden', {configurable: true, get: () => true});"
                           "document.dispatchEvent(new Event('visibilitychange'));")
        wait.until(lambda d: d.find_element(By.ID, "dash").get_attribute("data-pending") == "1")
        hidden_at = refreshes()
        time.sleep(2.5)
        assert refreshes() == hidden_at  # nothing fetched while hidden
        drv.execute_script("Object.defineProperty(document, 'hidden', {configurable: true, get: () => false});"
                           "document.dispatchEvent(new Event('visibilitychange'));")
        wait.until(lambda d: refreshes() > hidden_at and d.find_element(By.ID, "dash").get_attribute("data-pending") == "0")
        print(f"auto refresh: {hidden_at} loads before the tab was hidden, none while hidden, {refreshes()} after")
        # leaving the page stops its timer: no dashboard request after it
        drv.get(srv.url + "/ui/#/stations")
        wait.until(lambda d: d.find_element(By.ID, "main").get_attribute("data-page") == "stations"
                   and d.find_element(By.ID, "main").get_attribute("data-ready") == "1")
        drv.execute_script("window._dashCalls = 0; const f = window.fetch; window.fetch = function (u, o) {"
                           " if (String(u).includes('/ui/api/dashboard')) window._dashCalls++; return f(u, o); };")
        time.sleep(2.5)
        assert drv.execute_script("return window._dashCalls") == 0
        errors = [e for e in drv.get_log("browser") if e.get("level") == "SEVERE"]
        assert not errors, errors
    for name in ("dashboard", "dashboard_custom"):
        w, h = png_size((shots / f"{name}.png").read_bytes())
        assert w >= 1000 and h >= 700, name
    print(f"screenshots: {sorted(p.name for p in shots.iterdir())} in {shots}")
    if os.environ.get("IDC_UPDATE_DOCS") == "1":  # refresh the README figure: IDC_UPDATE_DOCS=1 pytest ...
        DOCS.mkdir(exist_ok=True)
        shutil.copy(shots / "dashboard.png", DOCS / "web_ui_dashboard.png")
