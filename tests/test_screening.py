"""Event screening: SEB characterisation parameters and SSEB criteria, worked examples per
criterion (screened out, not screened out, not applicable), and the store products.

Worked examples are events built here with known mb, Ms, depths and positions; expected values
are computed in the tests from the stated rules (REFERENCE.md §5: Ms:mb lines from Selby et al.
2012; depth and hydroacoustic thresholds are configuration). Positions: mid-Atlantic 0°N 30°W
(at sea, ~840 km from the nearest coast), central Germany 50°N 10°E (on land). The store test
screens the real 1995-01-16 REB excerpt (tests/data/bulletins) plus one constructed deep event.
"""
from __future__ import annotations

import math

import pytest
from obspy import UTCDateTime, read_events
from obspy.core.event import (
    Amplitude,
    Arrival,
    Catalog,
    Event,
    Magnitude,
    Origin,
    Pick,
    QuantityError,
    ResourceIdentifier,
    WaveformStreamID,
)
from scipy.stats import norm

from pipeline.bulletin.read import read_bulletin
from pipeline.screening.config import ScreeningConfig
from pipeline.screening.criteria import characterize, depth, hydroacoustic, ms_mb, screen_event
from pipeline.screening.run import load_screening, screen
from pipeline.store import db
from pipeline.store.catalog import store_catalog
from pipeline.store.models import EventCharacterization, ScreeningResult
from pipeline.store.products import ProductKey, write_product
from tests.conftest import DATA, make_settings

DAY = UTCDateTime(1995, 1, 16)
SEA = (0.0, -30.0)
LAND = (50.0, 10.0)
Z95 = norm.ppf(0.95)


def make_event(lat, lon, depth_km=0.0, depth_unc_km=None, fixed=False, mb=None, ms=None, mb_unc=None,
               ms_unc=None, hydro_snr=(), n_sta=5, t=DAY + 3600, name="ev"):
    """An event at (lat, lon) with ``n_sta`` time-defining P arrivals, optional network mb/Ms and
    one hydroacoustic ``H`` arrival (with an SNR) per value in ``hydro_snr``."""
    ev = Event(resource_id=ResourceIdentifier(f"smi:test/{name}"))
    o = Origin(resource_id=ResourceIdentifier(f"smi:test/{name}/origin"), time=t, latitude=lat, longitude=lon,
               depth=depth_km * 1000.0, depth_type="operator assigned" if fixed else "from location")
    if depth_unc_km is not None:
        o.depth_errors = QuantityError(uncertainty=depth_unc_km * 1000.0, confidence_level=90.0)
    arrivals = [("S%02d" % k, "P", 1.0) for k in range(n_sta)] + [("H%02d" % k, "H", 0.0)
                                                                   for k in range(len(hydro_snr))]
    for k, (sta, phase, w) in enumerate(arrivals):
        p = Pick(resource_id=ResourceIdentifier(f"smi:test/{name}/pick/{k}"), time=t + 100 + k,
                 waveform_id=WaveformStreamID("XX", sta), phase_hint=phase)
        ev.picks.append(p)
        o.arrivals.append(Arrival(pick_id=p.resource_id, phase=phase, time_weight=w, azimuth=30.0 * k))
        if phase == "H":
            ev.amplitudes.append(Amplitude(generic_amplitude=1e-6, snr=hydro_snr[k - n_sta], pick_id=p.resource_id,
                                           type="A", unit="m"))
    ev.origins.append(o)
    ev.preferred_origin_id = o.resource_id
    for typ, val, unc in (("mb", mb, mb_unc), ("Ms", ms, ms_unc)):
        if val is not None:
            m = Magnitude(mag=val, magnitude_type=typ, origin_id=o.resource_id, station_count=4)
            if unc is not None:
                m.mag_errors = QuantityError(uncertainty=unc)
            ev.magnitudes.append(m)
    return ev


CFG = ScreeningConfig()


# -------------------------------------------------------------------------- Ms:mb
def test_ms_mb_screened_out_earthquake_like():
    c = characterize(make_event(*LAND, 10, 5, mb=4.5, ms=4.5), CFG)
    r = ms_mb(c, CFG)
    sigma = math.hypot(0.2, 0.2)  # default uncertainties, slope 1
    assert r.applicable and r.outcome == "screened_out"
    assert r.value == pytest.approx(4.5 - (4.5 - 0.64)) and r.threshold == pytest.approx(Z95 * sigma, abs=1e-4)
    assert "SELBY12" in r.source


def test_ms_mb_not_screened_out_explosion_like():
    r = ms_mb(characterize(make_event(*LAND, mb=5.0, ms=3.5), CFG), CFG)
    assert r.applicable and r.outcome == "not_screened_out" and r.value == pytest.approx(3.5 - 4.36)


def test_ms_mb_not_applicable_without_ms():
    r = ms_mb(characterize(make_event(*LAND, mb=4.2), CFG), CFG)
    assert not r.applicable and r.outcome == "not_applicable" and r.reason == "no Ms"


def test_ms_mb_line_and_uncertainties_are_configuration():
    ev = make_event(*LAND, mb=4.0, ms=3.5)
    revised = ms_mb(characterize(ev, CFG), CFG)
    old_cfg = ScreeningConfig(ms_mb={"slope": 1.25, "intercept": -2.2})
    old = ms_mb(characterize(ev, old_cfg), old_cfg)
    # the revised line (Ms = mb - 0.64) screens out fewer events than the old one [SELBY12]
    assert revised.outcome == "not_screened_out" and revised.value == pytest.approx(0.14)
    assert old.outcome == "screened_out" and old.value == pytest.approx(0.7)
    assert old.threshold == pytest.approx(Z95 * math.hypot(0.2, 1.25 * 0.2), abs=1e-4)
    # small measured uncertainties make the same difference significant
    tight = ms_mb(characterize(make_event(*LAND, mb=4.5, ms=4.2, mb_unc=0.05, ms_unc=0.05), CFG), CFG)
    loose = ms_mb(characterize(make_event(*LAND, mb=4.5, ms=4.2), CFG), CFG)
    assert tight.outcome == "screened_out" and loose.outcome == "not_screened_out"
    assert tight.uncertainty == pytest.approx(math.hypot(0.05, 0.05), abs=1e-4)


# -------------------------------------------------------------------------- depth
def test_depth_screened_out_deep_with_confidence():
    r = depth(characterize(make_event(*LAND, depth_km=80.0, depth_unc_km=20.0), CFG), CFG)
    assert r.applicable and r.outcome == "screened_out" and r.value == pytest.approx(60.0)
    assert r.threshold == 10.0 and "80.0 ± 20.0 km" in r.reason


def test_depth_not_screened_out_when_interval_reaches_shallow():
    r = depth(characterize(make_event(*LAND, depth_km=15.0, depth_unc_km=10.0), CFG), CFG)
    assert r.applicable and r.outcome == "not_screened_out" and r.value == pytest.approx(5.0)


def test_depth_not_applicable_when_fixed_or_too_few_stations():
    r = depth(characterize(make_event(*LAND, depth_km=100.0, fixed=True), CFG), CFG)
    assert not r.applicable and r.reason.startswith("depth fixed")
    r = depth(characterize(make_event(*LAND, depth_km=100.0, depth_unc_km=5.0, n_sta=2), CFG), CFG)
    assert not r.applicable and "min_defining_stations = 3" in r.reason


def test_depth_confidence_rescaled_to_90_percent():
    ev = make_event(*LAND, depth_km=50.0, depth_unc_km=10.0)
    ev.origins[0].depth_errors.confidence_level = 95.0
    c = characterize(ev, CFG)
    assert c.depth_conf90_km == pytest.approx(10.0 * norm.ppf(0.95) / norm.ppf(0.975))


def test_real_reb_depth_is_not_screened_out():
    cat, _ = read_bulletin(DATA / "bulletins" / "reb_1995_gse2.txt")
    r = depth(characterize(cat[0], CFG), CFG)  # REB: 66.8 km ± 83.8 km (90 %)
    assert r.applicable and r.outcome == "not_screened_out" and r.value == pytest.approx(66.8 - 83.8)


# -------------------------------------------------------------------------- hydroacoustic
def test_hydroacoustic_screened_out_weak_energy_at_sea():
    c = characterize(make_event(*SEA, hydro_snr=(3.0, 2.0)), CFG)
    assert c.at_sea and c.distance_to_coast_km > 500 and c.hydro_nsta == 2 and c.hydro_energy == 3.0
    r = hydroacoustic(c, CFG)
    assert r.applicable and r.outcome == "screened_out" and r.value == 3.0 and r.threshold == 10.0


def test_hydroacoustic_not_screened_out_strong_energy():
    r = hydroacoustic(characterize(make_event(*SEA, hydro_snr=(40.0,)), CFG), CFG)
    assert r.applicable and r.outcome == "not_screened_out"


def test_hydroacoustic_not_applicable_on_land_or_without_hydrophones():
    c = characterize(make_event(*LAND, hydro_snr=(3.0,)), CFG)
    assert c.at_sea is False
    r = hydroacoustic(c, CFG)
    assert not r.applicable and r.reason.startswith("on land")
    r = hydroacoustic(characterize(make_event(*SEA), CFG), CFG)
    assert not r.applicable and "0 station(s)" in r.reason
    near = ScreeningConfig(hydroacoustic={"min_offshore_km": 1000.0})
    r = hydroacoustic(characterize(make_event(*SEA, hydro_snr=(3.0,)), near), near)
    assert not r.applicable and "min_offshore_km = 1000" in r.reason


# -------------------------------------------------------------------------- overall
def test_overall_outcome():
    out, rs = screen_event(characterize(make_event(*SEA, 80, 20, mb=4.0, ms=3.0, hydro_snr=(50,)), CFG), CFG)
    assert out == "screened_out" and rs[-1].reason == "screened out by depth"
    assert [r.criterion for r in rs] == ["ms_mb", "depth", "hydroacoustic", "overall"]
    out, rs = screen_event(characterize(make_event(*LAND, 10, fixed=True), CFG), CFG)
    assert out == "not_screened_out" and rs[-1].reason == "no criterion applicable"


# -------------------------------------------------------------------------- store products
def _store_reb(settings, cat, fingerprint):
    key = ProductKey("REB", float(DAY.timestamp), float(DAY.timestamp) + 86400)
    with db.session_scope(settings.database_url) as s:
        p, _ = write_product(s, key, input_fingerprint=fingerprint, config_hash="t", software_version="t",
                             fill=lambda ss, pp: store_catalog(ss, pp, cat), force_new_version=True)
        return p.version


def test_screen_day_writes_seb_and_sseb_versions(settings):
    db.upgrade(settings.database_url)
    cat, _ = read_bulletin(DATA / "bulletins" / "reb_1995_2events_gse2.txt")
    deep = make_event(-20.0, -178.0, depth_km=550.0, depth_unc_km=15.0, mb=5.1, ms=4.0, t=DAY + 7200,
                      name="fiji")  # deep Fiji-like event
    cat.events.append(deep)
    assert _store_reb(settings, cat, "a") == 1
    res = screen(settings, "1995-01-16")
    assert (res["reb_version"], res["seb_version"], res["sseb_version"]) == (1, 1, 1)
    assert res["events"] == 3 and res["screened_out"] == 1 and res["not_screened_out"] == 2
    assert res["SSEB"] == {"product": "SSEB", "start": str(DAY), "end": str(DAY + 86400), "version": 1,
                           "new_version": True, "file": res["files"]["SSEB"]}
    outcomes = {e["event"].rsplit("/", 1)[-1]: e for e in res["per_event"]}
    assert outcomes["fiji"]["outcome"] == "screened_out" and outcomes["fiji"]["criteria"]["depth"] == "screened_out"
    assert outcomes["fiji"]["criteria"]["ms_mb"] == "not_screened_out"
    assert outcomes["280435"]["criteria"] == {"ms_mb": "not_applicable", "depth": "not_screened_out",
                                              "hydroacoustic": "not_applicable"}
    stored = load_screening(settings, "1995-01-16")
    assert stored["version"] == 1 and stored["reb_version"] == 1 and len(stored["events"]) == 3
    van = stored["events"]["smi:local/event/280436"]
    assert van["in_sseb"] and van["criteria"]["depth"]["value"] == pytest.approx(36.7 - 60.1)
    assert van["parameters"]["at_sea"] is True and van["parameters"]["distance_to_coast_km"] > 20
    assert van["parameters"]["mb"] == 4.0 and van["parameters"]["depth_conf90_km"] == pytest.approx(60.1)
    gre = stored["events"]["smi:local/event/280435"]["parameters"]
    assert gre["at_sea"] is False and gre["ms"] is None
    fiji = stored["events"]["smi:test/fiji"]
    assert fiji["in_sseb"] is False and fiji["criteria"]["overall"]["outcome"] == "screened_out"
    assert fiji["criteria"]["depth"]["source"].startswith("TREATY")
    with db.session_scope(settings.database_url) as s:
        assert s.query(ScreeningResult).count() == 12 and s.query(EventCharacterization).count() == 3
    # product files: SEB has all events with parameters in the extra namespace; SSEB drops fiji
    seb = read_events(res["files"]["SEB"])
    sseb = read_events(res["files"]["SSEB"])
    assert len(seb) == 3 and len(sseb) == 2
    assert {e.extra["screening_outcome"]["value"] for e in sseb} == {"not_screened_out"}
    assert {e.extra["at_sea"]["value"] for e in seb} == {"true", "false"}
    # re-screening the same REB with the same configuration replaces; a new REB version → new versions
    again = screen(settings, "1995-01-16")
    assert (again["seb_version"], again["sseb_version"], again["sseb_new_version"]) == (1, 1, False)
    with db.session_scope(settings.database_url) as s:
        assert s.query(ScreeningResult).count() == 12
    assert _store_reb(settings, Catalog(events=cat.events[:2]), "b") == 2
    v2 = screen(settings, "1995-01-16")
    assert (v2["reb_version"], v2["seb_version"], v2["sseb_version"], v2["screened_out"]) == (2, 2, 2, 0)
    assert len(load_screening(settings, "1995-01-16", version=1)["events"]) == 3
    assert len(load_screening(settings, "1995-01-16")["events"]) == 2


def test_screen_without_reb_names_the_day(tmp_path):
    settings = make_settings(tmp_path / "home")
    with pytest.raises(FileNotFoundError, match="no REB for 1995-01-16: publish it first"):
        screen(settings, "1995-01-16T12:00:00")


def test_configured_criteria_change_the_outcome(tmp_path):
    settings = make_settings(tmp_path / "home", **{"screening.depth.min_depth_km": 600.0,
                                                   "screening.sseb_events": "all"})
    db.upgrade(settings.database_url)
    _store_reb(settings, Catalog(events=[make_event(-20.0, -178.0, 550.0, 15.0, name="fiji")]), "x")
    res = screen(settings, DAY)
    assert res["screened_out"] == 0 and res["per_event"][0]["criteria"]["depth"] == "not_screened_out"
    assert load_screening(settings, DAY)["events"]["smi:test/fiji"]["criteria"]["depth"]["threshold"] == 600.0
