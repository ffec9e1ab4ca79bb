"""The radionuclide report product RRR and its distribution (issue 17 item 5), on the real MIX58
noble-gas messages of tests/data/radionuclide (a FULL sample of detector MIX58_222 and a PREL one
of MIX58_221, both SAMPLEPHD):

* ``[radionuclide]`` settings reach the analysis (a larger coverage factor raises the decision
  thresholds) and a bad key is one line naming it;
* the report is stored per sample and versioned like the bulletins: a re-run replaces (runs + 1),
  a corrected message of the same sample is a new version, the earlier one stays readable;
* export as an IMS2.0 message and as JSON (``idc export --product RRR``), values as analysed;
* the access policy (default ``[access]``): the public is refused, a State's account and an
  analyst read the reports, spectra and PHD messages — over HTTP and through AutoDRM;
* AutoDRM ``RRR`` / ``SAMPLEPHD`` request lines (TIME, STA_LIST) and what the response carries;
* the ``radionuclide`` DAG (``dag.test()``): run twice, one version per sample, runs 2;
* the sample page in headless Chromium (skipped with the reason where Chromium is absent).
"""
from __future__ import annotations

import json
import shutil
import tomllib
from pathlib import Path

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

from pipeline import orchestration, tasks
from pipeline.autodrm import answer_request
from pipeline.autodrm.response import split_sections
from pipeline.errors import ConfigError
from pipeline.service.app import create_app
from pipeline.settings import DEFAULT_CONFIG, load_settings
from pipeline.store import db
from pipeline.store.accounts import add_state, add_user, create_token
from tests.conftest import make_settings

DATA = Path(__file__).parent / "data" / "radionuclide"
FULL = DATA / "SAMPLE20211203070613605.PHD"   # MIX58_222, collected 2021-12-02 01:00:25 - 12:59:59
PREL = DATA / "SAMPLE20211203073116637.PHD"   # MIX58_221, collected 2021-12-02 13:00:26 - 2021-12-03 00:59:59
ACCESS = tomllib.loads(DEFAULT_CONFIG.read_text())["access"]
XENON = {"Xe-131m", "Xe-133m", "Xe-133", "Xe-135"}


def _settings(home: Path, **overrides):
    return make_settings(home, "", **{"access": ACCESS, "access.rate_limit.public_burst": 10000,
                                      "access.rate_limit.burst": 10000, **overrides})


def _ingest(settings, *paths):
    res = tasks.ingest_files(settings, list(paths), progress=False, force=True)
    assert res["accepted"] == len(paths), res
    return res


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    s = _settings(tmp_path_factory.mktemp("rrr") / "home")
    db.upgrade(s.database_url)
    _ingest(s, FULL, PREL)
    made = tasks.radionuclide_reports(s)
    with db.session_scope(s.database_url) as ss:
        add_state(ss, "FR", "France")
        add_user(ss, "ana", "analyst")
        add_user(ss, "sue", "state_user", state="FR")
        tokens = {"ana": create_token(ss, "ana")[0], "sue": create_token(ss, "sue")[0]}
    samples = {r["qualifier"]: r for r in tasks.radionuclide_samples(s)}
    return {"settings": s, "made": made, "tokens": tokens, "samples": samples}


def auth(store, who):
    return {"Authorization": f"Bearer {store['tokens'][who]}"} if who else {}


# --------------------------------------------------------------------------- settings
def test_radionuclide_settings_reach_the_analysis_and_bad_keys_are_named(tmp_path):
    base = tasks.radionuclide_analyse(_settings(tmp_path / "a"), FULL)
    wide = tasks.radionuclide_analyse(_settings(tmp_path / "b", **{"radionuclide.noble_gas.k": 3.0}), FULL)
    lc = {n["nuclide"]: n["lc_mBq_m3"] for n in base["nuclides"]}
    lc3 = {n["nuclide"]: n["lc_mBq_m3"] for n in wide["nuclides"]}
    assert set(lc) == XENON
    for n in ("Xe-131m", "Xe-133m", "Xe-135"):  # one ROI each: Currie's LC ∝ k, the configured k was used
        assert lc3[n] == pytest.approx(lc[n] * 3.0 / 1.6449, rel=1e-3), n
    assert lc3["Xe-133"] > 1.4 * lc["Xe-133"]  # (combined from three ROIs)
    cfg = tmp_path / "bad.toml"
    cfg.write_text("[radionuclide.particulate]\nmin_significance = -1\n")
    with pytest.raises(ConfigError) as exc:
        load_settings(cfg, env={"IDC_HOME": str(tmp_path / "c")})
    msg = str(exc.value)
    assert "\n" not in msg and "radionuclide.particulate.min_significance" in msg and str(cfg) in msg
    with pytest.raises(ConfigError, match=r"^invalid configuration: override: radionuclide\.library: no such file"):
        _settings(tmp_path / "d", **{"radionuclide.library": "no/such/library.csv"})


# --------------------------------------------------------------------------- product and versions
def test_reports_stored_per_sample_with_the_analysed_values(store):
    s, made = store["settings"], store["made"]
    assert made["skipped"] == [] and len(made["reports"]) == 2
    assert all(r["version"] == 1 and r["new_version"] for r in made["reports"])
    full = store["samples"]["FULL"]
    rep = tasks.radionuclide_report_list(s, sample_id=full["id"])[0]
    assert rep["subject"] == "MIX58:MIX58_222:MIX58_222-2021/12/02-17:00:54.4:FULL"
    assert rep["window"] == ["2021-12-02T01:00:25.0Z", "2021-12-02T12:59:59.0Z"]
    c = rep["content"]
    assert c["sample"]["srid"] == "58202112020111X" and c["kind"] == "beta-gamma"
    assert c["review"]["status"] == "automatic"
    # the nuclides are the stored analysis' detected ones, with their concentrations and MDCs
    stored = {n["nuclide"]: n for n in full["nuclides"] if n["detected"]}
    assert {n["nuclide"] for n in c["nuclides"]} == set(stored) == XENON
    for n in c["nuclides"]:
        assert n["concentration_mBq_m3"] == pytest.approx(stored[n["nuclide"]]["concentration_mbq_m3"])
        assert n["mdc_mBq_m3"] == pytest.approx(stored[n["nuclide"]]["mdc_mbq_m3"])
        assert 0 < n["concentration_sigma_mBq_m3"] < n["concentration_mBq_m3"]
    # the xenon ratios: all four isotopes detected, so every pair has a value
    pairs = {p["ratio"]: p for p in c["xenon_ratios"]["pairs"]}
    x = {n["nuclide"]: n["concentration_mBq_m3"] for n in c["nuclides"]}
    assert pairs["Xe-135/Xe-133"]["value"] == pytest.approx(x["Xe-135"] / x["Xe-133"], rel=1e-5)
    assert any(p["plot"] == "MIRC" for p in c["xenon_ratios"]["plots"])
    # the PREL sample: Xe-133m not detected, so it is in the MDC table and its ratios are null
    prel = tasks.radionuclide_report_list(s, sample_id=store["samples"]["PREL"]["id"])[0]["content"]
    assert "Xe-133m" in {n["nuclide"] for n in prel["mdc"]}
    assert {p["ratio"]: p["value"] for p in prel["xenon_ratios"]["pairs"]}["Xe-133m/Xe-133"] is None


def test_rerun_replaces_and_a_corrected_message_is_a_new_version(tmp_path):
    s = _settings(tmp_path / "home")
    _ingest(s, FULL, PREL)
    first = {r["subject"]: r for r in tasks.radionuclide_reports(s)["reports"]}
    again = {r["subject"]: r for r in tasks.radionuclide_reports(s)["reports"]}
    assert all(r["version"] == 1 and not r["new_version"] and r["runs"] == 2 for r in again.values())
    assert first.keys() == again.keys()
    # a corrected copy of the FULL sample (one histogram cell changed) replaces the sample's row;
    # its report gets version 2, the PREL one is rewritten in place
    fixed = tmp_path / "drop" / FULL.name
    fixed.parent.mkdir()
    text = FULL.read_text()
    assert text.count("6308       4077") == 1
    fixed.write_text(text.replace("6308       4077", "6308       4177"))
    _ingest(s, fixed)
    third = {r["subject"]: r for r in tasks.radionuclide_reports(s)["reports"]}
    subj = next(k for k in third if k.endswith(":FULL"))
    assert (third[subj]["version"], third[subj]["new_version"]) == (2, True)
    other = next(k for k in third if k.endswith(":PREL"))
    assert (third[other]["version"], third[other]["runs"]) == (1, 3)
    sid = third[subj]["sample_id"]
    versions = tasks.radionuclide_report_list(s, sample_id=sid, all_versions=True)
    assert [v["version"] for v in versions] == [1, 2]
    assert versions[0]["content"]["sample"]["phd_sha256"] != versions[1]["content"]["sample"]["phd_sha256"]
    assert tasks.radionuclide_report_list(s, sample_id=sid)[0]["version"] == 2
    assert tasks.radionuclide_report_list(s, sample_id=sid, version=1)[0]["content"] == versions[0]["content"]
    hist = [h for h in tasks.product_history(s, "RRR") if h["subject"] == subj]
    assert [(h["version"], h["runs"]) for h in hist] == [(1, 2), (2, 1)]
    # the bulletin listings do not see the reports (distribute's outbox is for bulletins)
    assert tasks.distribute_pending(s) == []


# --------------------------------------------------------------------------- export
def test_export_rrr_text_and_json(store, tmp_path):
    s = store["settings"]
    env = orchestration.idc_environ(s)
    from pipeline.cli.main import cli

    out_txt, out_json = tmp_path / "rrr.txt", tmp_path / "rrr.json"
    r = CliRunner().invoke(cli, ["export", "--product", "RRR", "--start", "2021-12-01", "--end", "2021-12-04",
                                 "-o", str(out_txt)], env=env)
    assert r.exit_code == 0, r.output
    assert "2 reports" in r.output
    r = CliRunner().invoke(cli, ["export", "--product", "RRR", "--start", "2021-12-01", "--end", "2021-12-04",
                                 "--format", "json", "-o", str(out_json)], env=env)
    assert r.exit_code == 0, r.output
    doc = json.loads(out_json.read_text())
    assert doc["product"] == "RRR" and [x["content"]["sample"]["qualifier"] for x in doc["reports"]] == ["FULL", "PREL"]
    text = out_txt.read_text()
    assert text.startswith("BEGIN IMS2.0\nMSG_TYPE DATA\nMSG_ID ") and text.endswith("STOP\n")
    secs = split_sections(text)["DATA_TYPE RRR IMS2.0"]
    assert len(secs) == 2 and "SRID:                58202112020111X" in secs[0]
    # the activity table carries the JSON's values (4 significant digits)
    for n in doc["reports"][0]["content"]["nuclides"]:
        line = next(ln for ln in secs[0].splitlines() if ln.startswith(n["nuclide"] + " "))
        assert f"{n['concentration_mBq_m3']:.4E}" in line and f"{n['mdc_mBq_m3']:.2E}" in line
    # one sample, a format that is not the product's, a window without reports: one line each
    r = CliRunner().invoke(cli, ["export", "--product", "RRR", "--start", "2021-12-02T13:00", "--end", "2021-12-04",
                                 "-o", str(out_txt)], env=env)
    assert r.exit_code == 0 and "1 reports" in r.output
    r = CliRunner().invoke(cli, ["export", "--product", "RRR", "--start", "2021-12-01", "--end", "2021-12-04",
                                 "--format", "ims1", "-o", str(out_txt)], env=env)
    assert r.exit_code != 0 and "not a format of RRR" in r.output
    r = CliRunner().invoke(cli, ["export", "--product", "RRR", "--start", "2020-01-01", "--end", "2020-01-02",
                                 "-o", str(out_txt)], env=env)
    assert r.exit_code != 0 and "no RRR product" in r.output


# --------------------------------------------------------------------------- access policy, HTTP and AutoDRM
RRR_REQUEST = """BEGIN IMS2.0
MSG_TYPE REQUEST
MSG_ID rn_req_1 ANY_NDC
TIME 2021/12/01 00:00 TO 2021/12/04 00:00
STA_LIST MIX58
RRR IMS2.0
SAMPLEPHD IMS2.0
STOP
"""


def test_access_policy_public_state_staff(store):
    s = store["settings"]
    full_id = store["samples"]["FULL"]["id"]
    with TestClient(create_app(s)) as c:
        for path in ("/radionuclide/1/samples", f"/radionuclide/1/samples/{full_id}",
                     f"/radionuclide/1/samples/{full_id}/rrr", f"/radionuclide/1/samples/{full_id}/spectrum",
                     f"/radionuclide/1/samples/{full_id}/phd"):
            r = c.get(path)
            assert r.status_code in (401, 403), (path, r.status_code)
            assert "not allowed" in r.text
        # a State's account and an analyst read everything
        for who in ("sue", "ana"):
            r = c.get("/radionuclide/1/samples", headers=auth(store, who))
            assert r.status_code == 200, r.text
            rows = r.json()["samples"]
            assert [(x["qualifier"], x["rrr_version"]) for x in rows] == [("FULL", 1), ("PREL", 1)]
            assert set(rows[0]["detected"]) == XENON
        r = c.get(f"/radionuclide/1/samples/{full_id}/rrr?format=text", headers=auth(store, "sue"))
        assert r.status_code == 200 and split_sections(r.text)["DATA_TYPE RRR IMS2.0"][0].count("58202112020111X") == 1
        r = c.get(f"/radionuclide/1/samples/{full_id}/rrr", headers=auth(store, "sue"))
        assert r.json()["version"] == 1 and r.json()["content"]["sample"]["detector"] == "MIX58_222"
        assert c.get(f"/radionuclide/1/samples/{full_id}/rrr?version=7", headers=auth(store, "sue")).status_code == 404
        assert c.get("/radionuclide/1/samples/999", headers=auth(store, "sue")).status_code == 404
        r = c.get(f"/radionuclide/1/samples/{full_id}/phd", headers=auth(store, "sue"))
        assert r.status_code == 200 and r.content == FULL.read_bytes()
        sp = c.get(f"/radionuclide/1/samples/{full_id}/spectrum", headers=auth(store, "ana")).json()
        assert len(sp["gamma"]["counts"]) == 256 and len(sp["histogram"]["counts"]) == 256
        assert sum(map(sum, sp["histogram"]["counts"])) > 0 and len(sp["rois"]) == 10
        assert {r["nuclide"] for r in sp["rois"] if r["detected"]} == XENON
        # AutoDRM over HTTP: the public gets the ERROR_LOG, the State the sections
        pub = c.post("/ims1/request", content=RRR_REQUEST)
        assert pub.status_code == 200 and "not allowed" in pub.text and "DATA_TYPE RRR" not in pub.text
        st = c.post("/ims1/request", content=RRR_REQUEST, headers=auth(store, "sue")).text
        assert "ERROR_LOG" not in st and len(split_sections(st)["DATA_TYPE RRR IMS2.0"]) == 2


def _phd_body(path: Path) -> str:
    lines = path.read_text().splitlines()
    i = next(n for n, ln in enumerate(lines) if ln.startswith("DATA_TYPE"))
    j = max(n for n, ln in enumerate(lines) if ln.strip() == "STOP")
    return "\n".join(lines[i:j]).rstrip("\n")


def test_autodrm_rrr_and_samplephd_requests(store):
    s = store["settings"]
    msg = answer_request(s, RRR_REQUEST)
    assert msg.startswith("BEGIN IMS2.0\nMSG_TYPE DATA\n") and "REF_ID rn_req_1 ANY_NDC" in msg
    sec = split_sections(msg)
    assert "DATA_TYPE ERROR_LOG IMS2.0" not in sec
    rrr = sec["DATA_TYPE RRR IMS2.0"]
    assert [("58202112020111X" in x, "58202112021311X" in x) for x in rrr] == [(True, False), (False, True)]
    # SAMPLEPHD: the stored messages as received, from DATA_TYPE to before STOP
    phd = sec["DATA_TYPE SAMPLEPHD"]
    assert [x.rstrip("\n") for x in phd] == [_phd_body(FULL), _phd_body(PREL)]
    assert "2 radionuclide reports" in sec["DATA_TYPE LOG IMS2.0"][0]
    # TIME selects by collection: only the PREL sample (13:00:26 - 00:59:59) overlaps 18:00 - 24:00
    one = RRR_REQUEST.replace("TIME 2021/12/01 00:00 TO 2021/12/04 00:00", "TIME 2021/12/02 18:00 TO 2021/12/03 00:00")
    sec = split_sections(answer_request(s, one))
    assert len(sec["DATA_TYPE RRR IMS2.0"]) == 1 and "58202112021311X" in sec["DATA_TYPE RRR IMS2.0"][0]
    assert [x.rstrip("\n") for x in sec["DATA_TYPE SAMPLEPHD"]] == [_phd_body(PREL)]
    # another station: nothing, said in the LOG
    sec = split_sections(answer_request(s, RRR_REQUEST.replace("STA_LIST MIX58", "STA_LIST ABC*")))
    assert "DATA_TYPE RRR IMS2.0" not in sec and "none collected" in sec["DATA_TYPE LOG IMS2.0"][0]
    # without TIME: an ERROR_LOG naming the line
    bad = answer_request(s, RRR_REQUEST.replace("TIME 2021/12/01 00:00 TO 2021/12/04 00:00\n", ""))
    err = split_sections(bad)["DATA_TYPE ERROR_LOG IMS2.0"][0]
    assert "RRR needs a TIME line" in err and "line 5" in err


# --------------------------------------------------------------------------- the DAG
def test_radionuclide_dag_builds_reports_and_a_rerun_changes_nothing(tmp_path):
    s = _settings(tmp_path / "home")
    _ingest(s, FULL, PREL)
    orchestration.prepare(s)  # Airflow's home and metadata DB, before anything imports Airflow
    bag = orchestration.dagbag()
    dag = bag.dags["radionuclide"]
    cond = dag.timetable.asset_condition
    # the ingest DAG's outlet (Airflow normalises the URI to idc://archive/)
    assert [a.uri.rstrip("/") for a in getattr(cond, "objects", [cond])] == ["idc://archive"]
    assert [a.uri for a in bag.dags["ingest"].task_dict["ingest"].outlets] == [cond.uri]
    assert [a.uri for a in dag.task_dict["reports"].outlets] == ["idc://products/RRR"]
    for _ in range(2):
        res = orchestration.run_dag(s, "radionuclide", "2021-12-04T00:00:00")
        assert res.tasks == {"reports": "success"}
    hist = tasks.product_history(s, "RRR")
    assert sorted((h["subject"].rsplit(":", 1)[1], h["version"], h["runs"]) for h in hist) == [
        ("FULL", 1, 2), ("PREL", 1, 2)]
    assert tasks.latency_report(s, "RRR")["products"]["RRR"]["last"]["runner"] == "airflow"


# --------------------------------------------------------------------------- the sample page (browser)
def test_sample_page_in_headless_chromium(store, tmp_path):
    from tests.test_web_ui import _browser_missing, _browser_or_skip

    why = _browser_missing()
    if why:
        pytest.skip(why)
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    from tests.test_service_fdsn import LiveServer

    drv = _browser_or_skip()
    try:
        wait = WebDriverWait(drv, 20, ignored_exceptions=(StaleElementReferenceException,))

        def ready(page):
            wait.until(lambda d: d.find_element(By.ID, "main").get_attribute("data-page") == page
                       and d.find_element(By.ID, "main").get_attribute("data-ready") == "1")

        with LiveServer(store["settings"]) as srv:
            drv.get(srv.url + "/ui/#/samples")
            ready("samples")
            assert drv.find_elements(By.ID, "rn-denied")  # the public is told to sign in
            drv.get_log("browser")  # drop the expected 403 of that visit from the console log
            drv.get(srv.url + "/ui/#/login")
            ready("login")
            drv.find_element(By.ID, "token").send_keys(store["tokens"]["sue"])
            drv.find_element(By.ID, "login-btn").click()
            wait.until(lambda d: d.find_elements(By.ID, "login-ok"))
            drv.get(srv.url + "/ui/#/samples")
            ready("samples")
            rows = drv.find_elements(By.CSS_SELECTOR, "#rn-samples tbody tr")
            assert [r.get_attribute("data-sample") for r in rows] == [
                str(store["samples"][q]["id"]) for q in ("FULL", "PREL")]
            rows[0].find_element(By.TAG_NAME, "a").click()
            ready("sample")
            wait.until(lambda d: d.find_element(By.ID, "rn-gamma").get_attribute("data-drawn") == "1"
                       and d.find_elements(By.ID, "rn-histogram")
                       and d.find_element(By.ID, "rn-histogram").get_attribute("data-drawn") == "1")
            g, h = drv.find_element(By.ID, "rn-gamma"), drv.find_element(By.ID, "rn-histogram")
            assert g.get_attribute("data-channels") == "256"
            assert int(g.get_attribute("data-max-counts")) == max(store_spectrum(store)["gamma"]["counts"])
            assert int(h.get_attribute("data-cells")) == sum(v > 0 for row in store_spectrum(store)["histogram"]["counts"]
                                                             for v in row)
            assert h.get_attribute("data-rois") == "10"
            nucs = {r.get_attribute("data-nuclide") for r in drv.find_elements(By.CSS_SELECTOR, "#rn-nuclides tbody tr")}
            assert nucs == XENON
            assert "version 1" in drv.find_element(By.ID, "rn-reports").text
            drv.save_screenshot(str(tmp_path / "sample.png"))
            errors = [e for e in drv.get_log("browser") if e["level"] == "SEVERE" and "favicon" not in e["message"]]
            assert errors == []
    finally:
        drv.quit()


def store_spectrum(store) -> dict:
    return tasks.radionuclide_spectrum(store["settings"], store["samples"]["FULL"]["id"])
