"""Analyst review into the REB: queue, audited edits, relocation, EDC, publication as versions.

The SEL3 under review is the real two-event REB excerpt of 1995-01-16 (tests/data/bulletins,
GSE2.0: a Greece–Albania event, 9 arrivals at 8 stations, and a Vancouver Island event, 7
arrivals at 7 stations) stored as an SEL3 product; station coordinates from
tests/data/bulletins/reb1995_stations.csv (ISC registry, see tests/test_location.py). Relocation
uses ak135 (table built once per session in the shared travel-time cache).
"""
from __future__ import annotations

import shutil

import pytest
from click.testing import CliRunner
from obspy import UTCDateTime
from obspy.geodetics import gps2dist_azimuth

from pipeline import review, tasks
from pipeline.bulletin.read import read_bulletin
from pipeline.review.edc import evaluate_edc
from pipeline.review.config import EventDefinitionCriteria
from pipeline.review.edits import ReviewError
from pipeline.store import db
from pipeline.store.catalog import store_catalog
from pipeline.store.models import ProductRun, ReviewAction
from pipeline.store.products import ProductKey, versions, write_product
from pipeline.traveltime import TravelTimeTable
from tests.conftest import DATA, TEST_CONFIG, make_settings

REB2 = DATA / "bulletins" / "reb_1995_2events_gse2.txt"
STATIONS = DATA / "bulletins" / "reb1995_stations.csv"
DAY = UTCDateTime(1995, 1, 16)
GREECE = (39.45, 20.44, 66.8)  # REB hypocentre of event 280435 (deg, deg, km)


@pytest.fixture(scope="module")
def tt(tt_cache):
    return TravelTimeTable("ak135", ["P", "S"], cache_dir=tt_cache / "traveltime")


def _sel3(settings) -> None:
    """The real REB excerpt stored as the SEL3 of 1995-01-16, stations in the site table."""
    db.upgrade(settings.database_url)
    assert tasks.load_stations(settings, [STATIONS])["sites_new"] == 11
    cat, _ = read_bulletin(REB2)
    key = ProductKey("SEL3", float(DAY.timestamp), float(DAY.timestamp) + 86400)
    with db.session_scope(settings.database_url) as s:
        write_product(s, key, input_fingerprint="reb1995", config_hash="t", software_version="t",
                      fill=lambda ss, p: store_catalog(ss, p, cat))


def _epi_km(lat1, lon1, lat2, lon2) -> float:
    return gps2dist_azimuth(lat1, lon1, lat2, lon2)[0] / 1000.0


def _stations(ev) -> set[str]:
    picks = {str(p.resource_id): p for p in ev.picks}
    return {picks[str(a.pick_id)].waveform_id.station_code for a in ev.preferred_origin().arrivals}


def test_scripted_session_yields_reb_audit_trail_and_versions(settings, tt):
    _sel3(settings)
    q = tasks.review_enqueue(settings, DAY, DAY + 86400)  # the DAG task
    assert q["queued"] == 2 and q["sel3"][0]["version"] == 1
    again = review.enqueue(settings, DAY, DAY + 86400)  # idempotent
    assert again["queued"] == 0 and again["already_queued"] == 2
    rows = review.list_queue(settings)
    assert [r["status"] for r in rows] == ["pending", "pending"]
    assert all(r["edc_passed"] for r in rows)
    greece, vancouver = rows[0]["id"], rows[1]["id"]
    assert (rows[0]["latitude"], rows[0]["longitude"]) == (GREECE[0], GREECE[1])
    assert rows[0]["nsta"] == 8 and rows[1]["nsta"] == 7

    # accept, fix the depth, remove MBC (azimuth residual -28.6 deg in the REB), relocate
    assert review.accept(settings, greece, "alice")["status"] == "accepted"
    review.edit(settings, greece, "alice", depth_km=33.0)
    review.edit(settings, greece, "alice", remove=["MBC"])
    assert review.show(settings, greece)["needs_relocation"]
    rel = review.relocate(settings, greece, "alice", tt=tt)  # stations: the store's site table
    o = rel["origin"]
    assert o["depth_km"] == 33.0 and o["depth_type"] == "operator assigned"
    assert _epi_km(o["latitude"], o["longitude"], GREECE[0], GREECE[1]) < 60.0
    assert o["rms_s"] < 1.5 and o["nsta"] == 7
    mb = next(m for m in rel["magnitudes"] if m["type"] == "mb")
    assert abs(mb["value"] - 3.6) < 0.5 and mb["nsta"] == 3  # NORES, FINES, ARCES (MBC removed)
    # reject the other event
    review.reject(settings, vancouver, "bob", reason="duplicate of a teleseismic phase")

    pub = review.publish(settings, "1995-01-16", "alice")
    assert pub["version"] == 1 and pub["events"] == 1 and pub["items"] == [greece] and pub["excluded"] == []
    reb1, v = review.load_reb(settings, DAY, 1)
    assert v == 1 and len(reb1) == 1
    ev = reb1[0]
    org = ev.preferred_origin()
    assert str(ev.resource_id) == f"smi:idc-pipeline/review/{greece}"
    assert org.evaluation_mode == "manual" and org.depth == pytest.approx(33000.0)
    assert org.depth_type == "operator assigned"
    assert abs(org.time - UTCDateTime(o["time"])) < 1e-3
    assert (org.latitude, org.longitude) == pytest.approx((o["latitude"], o["longitude"]), abs=1e-4)
    assert "MBC" not in _stations(ev) and len(org.arrivals) == 8
    assert [m.magnitude_type for m in ev.magnitudes] == ["mb"]
    assert ev.magnitudes[0].mag == pytest.approx(mb["value"], abs=0.01)

    # a later correction and a second publication: version 2; version 1 stays readable, unchanged
    review.edit(settings, greece, "carol", depth_km="free")
    review.relocate(settings, greece, "carol", tt=tt)
    pub2 = tasks.reb_publish(settings, "1995-01-16", "carol", runner="airflow", run_id="reb/1995-01-16")
    assert pub2["version"] == 2 and (pub2["start"], pub2["end"]) == (str(DAY), str(DAY + 86400))
    reb2, v2 = review.load_reb(settings, DAY)
    assert v2 == 2 and reb2[0].preferred_origin().depth_type == "from location"
    assert reb2[0].preferred_origin().depth != pytest.approx(33000.0)
    reb1_again, _ = review.load_reb(settings, DAY, 1)
    assert reb1_again[0].preferred_origin().depth == pytest.approx(33000.0)
    with db.session_scope(settings.database_url) as s:
        vs = versions(s, ProductKey("REB", float(DAY.timestamp), float(DAY.timestamp) + 86400))
        assert [p.version for p in vs] == [1, 2]
        assert all(p.summary["events"] == 1 for p in vs)
        runs = s.query(ProductRun).filter(ProductRun.type == "REB").order_by(ProductRun.id).all()
        assert [(r.version, r.runner) for r in runs] == [(1, "cli"), (2, "airflow")]

    # the audit trail: every action, who, when, before/after
    trail = review.show(settings, greece)["actions"]
    assert [a["action"] for a in trail] == ["enqueue", "accept", "edit", "edit", "relocate", "publish", "edit",
                                            "relocate", "publish"]
    assert [a["analyst"] for a in trail][1:6] == ["alice"] * 5 and trail[-1]["analyst"] == "carol"
    times = [a["time"] for a in trail]
    assert times == sorted(times)
    depth_edit, remove_edit, reloc = trail[2], trail[3], trail[4]
    assert depth_edit["before"]["origin"]["depth_km"] == 66.8 and depth_edit["after"]["origin"]["depth_km"] == 33.0
    assert "MBC" in {a["station"] for a in remove_edit["before"]["arrivals"]}
    assert "MBC" not in {a["station"] for a in remove_edit["after"]["arrivals"]}
    assert reloc["before"]["origin"]["latitude"] == GREECE[0]
    assert reloc["after"]["origin"] == o
    assert trail[5]["detail"] == {"product": "REB", "day": "1995-01-16", "version": 1, "included": True}
    assert trail[1]["detail"]["edc"]["passed"] is True
    rej = review.show(settings, vancouver)
    assert rej["status"] == "rejected" and [a["action"] for a in rej["actions"]] == ["enqueue", "reject"]
    assert rej["actions"][1]["analyst"] == "bob"
    assert rej["actions"][1]["detail"]["reason"] == "duplicate of a teleseismic phase"
    with db.session_scope(settings.database_url) as s:
        assert s.query(ReviewAction).count() == 11


def test_edc_failure_shows_the_reason(settings):
    _sel3(settings)
    review.enqueue(settings, DAY, DAY + 86400)
    item = review.list_queue(settings)[1]["id"]  # Vancouver Island: 7 stations, all time-defining
    # leave two stations time-defining
    review.edit(settings, item, "alice", defining={s: "-" for s in ("WHY", "WALA", "YKA", "INK", "FCC")})
    shown = review.show(settings, item)
    assert not shown["edc"]["passed"]
    assert ("2 stations with a time-defining arrival < review.edc.min_defining_stations = 3"
            in shown["edc"]["reasons"])
    assert "2 time-defining arrivals < review.edc.min_time_defining = 3" in shown["edc"]["reasons"]
    with pytest.raises(ReviewError, match="min_defining_stations = 3"):
        review.accept(settings, item, "alice")
    assert review.show(settings, item)["status"] == "pending"
    # an accepted event edited below the criteria is left out of the REB, with the reason
    review.edit(settings, item, "alice", defining={"WHY": "T", "WALA": "TA"})
    review.accept(settings, item, "alice")
    review.edit(settings, item, "alice", defining={"WHY": "-", "WALA": "-"})
    pub = review.publish(settings, DAY, "alice")
    assert pub["events"] == 0 and pub["excluded"][0]["id"] == item
    assert any("min_defining_stations" in r for r in pub["excluded"][0]["reasons"])
    last = review.show(settings, item)["actions"][-1]
    assert last["action"] == "publish" and last["detail"]["included"] is False


def test_edc_thresholds_are_configuration():
    cat, _ = read_bulletin(REB2)
    ev = cat[0]  # REB: 8 stations, 9 time-defining arrivals, ellipse 93.6 x 83.7 km
    assert evaluate_edc(ev, EventDefinitionCriteria()).passed
    res = evaluate_edc(ev, EventDefinitionCriteria(max_semi_major_km=50.0, min_defining_stations=9,
                                                   max_azimuthal_gap_deg=180.0, max_rms_s=0.5))
    assert not res.passed and len(res.reasons) == 4
    assert "semi-major axis 93.6 km > review.edc.max_semi_major_km = 50" in res.reasons[1]
    assert "rms 0.53 s > review.edc.max_rms_s = 0.5" in res.reasons[3]
    assert res.values["defining_stations"] == 8 and res.values["time_defining"] == 9


def test_merge_split_add_rename(settings, tt):
    _sel3(settings)
    review.enqueue(settings, DAY, DAY + 86400)
    a = review.list_queue(settings)[0]["id"]
    sp = review.split(settings, a, ["FCC", "YKA", "WHY"], "alice")
    b = sp["new_item"]
    assert sorted(sp["moved_arrivals"]) == sorted(
        x["id"] for x in review.show(settings, b)["event"]["arrivals"])
    assert len(review.show(settings, a)["event"]["arrivals"]) == 6
    with pytest.raises(ReviewError, match="at least one arrival must stay"):
        review.split(settings, b, ["FCC", "YKA", "WHY"], "alice")
    m = review.merge(settings, a, b, "alice")
    assert len(m["moved_arrivals"]) == 3
    assert review.show(settings, b)["status"] == "merged"
    with pytest.raises(ReviewError, match="merged into"):
        review.accept(settings, b, "alice")
    # rename, add an arrival (the REB's MBC P again, after removing it), relocate
    review.edit(settings, a, "alice", remove=["MBC"], rename={"GERES:S": "Sn"})
    review.edit(settings, a, "alice", add=[{"station": "MBC", "phase": "P", "time": "1995-01-16T07:37:03.8",
                                            "backazimuth": "5.9", "slowness": "4.4", "defining": "T"}])
    shown = review.show(settings, a)["event"]["arrivals"]
    assert {x["station"] for x in shown} == {"GERES", "NORES", "FINES", "ARCES", "MBC", "FCC", "YKA", "WHY"}
    assert ("GERES", "Sn") in {(x["station"], x["phase"]) for x in shown}
    rel = review.relocate(settings, a, "alice", tt=tt)
    o = rel["origin"]
    assert o["ndef"] == 9 and _epi_km(o["latitude"], o["longitude"], GREECE[0], GREECE[1]) < 150.0
    with pytest.raises(ReviewError, match="no arrival 'XYZ'"):
        review.edit(settings, a, "alice", remove=["XYZ"])
    with pytest.raises(ReviewError, match="expected 0-800 km"):
        review.edit(settings, a, "alice", depth_km=-5)
    with pytest.raises(ReviewError, match="no review item 999"):
        review.accept(settings, 999, "alice")


def test_cli_review_session(tmp_path, tt, tt_cache):
    settings = make_settings(tmp_path / "home")
    _sel3(settings)
    # reuse the session's travel-time table for `idc review relocate`
    shutil.copytree(tt_cache / "traveltime", settings.cache_dir / "traveltime", dirs_exist_ok=True)
    env = {"IDC_HOME": str(settings.home), "IDC_CONFIG": str(TEST_CONFIG), "IDC_DATABASE_URL": "",
           "USER": "dora", "IDC_ANALYST": ""}
    from pipeline.cli.main import cli

    def run(*args, code=0):
        r = CliRunner(env=env).invoke(cli, list(args), catch_exceptions=False)
        assert r.exit_code == code, r.output
        return r.output

    assert "2 events queued" in run("review", "enqueue", "--start", "1995-01-16", "--end", "1995-01-17")
    out = run("review", "list")
    assert "pending" in out and "39.450" in out and "ok" in out
    run("review", "edit", "2", "--defining", "WHY=-", "--defining", "WALA=-", "--defining", "YKA=-",
        "--defining", "INK=-", "--defining", "FCC=-")
    err = run("review", "accept", "2", code=1)
    assert "does not meet the Event Definition Criteria" in err and "min_defining_stations = 3" in err
    run("review", "accept", "1")
    run("review", "edit", "1", "--depth", "20")
    assert "relocated" in run("review", "relocate", "1")
    run("review", "comment", "1", "depth from regional practice")
    run("review", "reject", "2", "--reason", "not enough stations")
    out = run("review", "show", "1")
    assert "dora" in out and "depth from regional practice" in out and "MBC" in out
    assert "REB 1995-01-16 version 1: 1 events" in run("review", "publish", "--day", "1995-01-16")
    # publishing the same events again (a re-run) makes no second version
    assert "version 1 (unchanged: already published): 1 events" in run("review", "publish", "--day", "1995-01-16")
    run("review", "edit", "1", "--depth", "25")
    run("review", "relocate", "1")
    assert "version 2: 1 events" in run("review", "publish", "--day", "1995-01-16")
    out = run("screen", "--day", "1995-01-16")
    assert "REB v2 -> SEB v1, SSEB v1: 1 events" in out


# --------------------------------------------------------------------------- swarm events
def _qm_catalog(shift_s: float = 0.0):
    """QuakeMigrate's real Iceland solutions of 2014-08-24 00:01-00:10 (tests/data/iceland) with
    their P/S picks, as obspy events; ``shift_s`` moves every origin and pick (a later SEL3
    version re-finds the same events with slightly different times)."""
    import csv

    from obspy.core.event import Arrival, Catalog, Event, Origin, Pick, WaveformStreamID

    cat = Catalog()
    for evf in sorted((DATA / "iceland" / "quakemigrate").glob("*.event")):
        row = next(csv.DictReader(evf.open()))
        o = Origin(time=UTCDateTime(row["DT"]) + shift_s, latitude=float(row["Y"]), longitude=float(row["X"]),
                   depth=float(row["Z"]) * 1000.0)
        ev = Event(origins=[o])
        for p in csv.DictReader(evf.with_suffix(".picks").open()):
            if p["PickTime"] in ("", "-1"):
                continue
            pk = Pick(time=UTCDateTime(p["PickTime"]) + shift_s, phase_hint=p["Phase"],
                      waveform_id=WaveformStreamID("Z7", p["Station"], "", "HHZ"))
            ev.picks.append(pk)
            o.arrivals.append(Arrival(pick_id=pk.resource_id, phase=p["Phase"]))
        ev.preferred_origin_id = o.resource_id
        cat.append(ev)
    return cat


def test_swarm_events_close_in_time_and_space_are_all_queued(tmp_path):
    """Issue 14 defect 1: events within 10 s / 100 km of each other are different events when they
    have their own picks (HEAD queued 25 of 55 SEL3 events of the Iceland window); a later SEL3
    version of the same window (same picks, 0.05 s later) queues nothing new."""
    settings = make_settings(tmp_path / "home")
    db.upgrade(settings.database_url)
    cat = _qm_catalog()
    t0 = UTCDateTime(2014, 8, 24)
    times = sorted(float(e.origins[0].time.timestamp) for e in cat)
    close = sum(1 for a, b in zip(times, times[1:]) if b - a <= 10.0)
    assert close >= 3  # the real window is a swarm: several events within 10 s of the previous one
    for version, shift in ((1, 0.0), (2, 0.05)):
        key = ProductKey("SEL3", float(t0.timestamp), float(t0.timestamp) + 3600)
        c = _qm_catalog(shift)
        with db.session_scope(settings.database_url) as s:
            write_product(s, key, input_fingerprint=f"qm{version}", config_hash="t", software_version="t",
                          fill=lambda ss, p, c=c: store_catalog(ss, p, c), force_new_version=True)
        res = review.enqueue(settings, t0, t0 + 3600)
        print(f"SEL3 v{version}: queued {res['queued']}, already queued {res['already_queued']}")
        if version == 1:
            assert res["queued"] == len(cat) and res["already_queued"] == 0, res
        else:
            assert res["queued"] == 0 and res["already_queued"] == len(cat), res
