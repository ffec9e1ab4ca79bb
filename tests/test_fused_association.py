"""Fused association and location (issue 16 item 4): a planted South Atlantic source recorded by
a seismic array (TORD, backazimuth and slowness), 3-C stations (SUR, TSUM, BOSA, LBTB, LSZ), two
infrasound arrays (I49GB Tristan da Cunha, I50GB Ascension) and two hydroacoustic stations
(H09N1 Tristan da Cunha T-phase, H10N1 Ascension hydrophone), real IMS coordinates
(stations/ims_stations.csv). The seismic stations all lie north-east and east of the source
(a one-sided network, azimuthal gap ~270 deg); the infrasound and hydroacoustic stations fill
the gap on the west side."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from pipeline.association.associator import Associator, associate
from pipeline.association.config import AssociatorConfig
from pipeline.bulletin.build import ChainConfig, events_from_picks
from pipeline.location import locate
from pipeline.location.geodesy import KM_PER_DEG, distance_azimuth
from pipeline.picks import PICK_COLUMNS, normalise_picks
from pipeline.traveltime.hydroacoustic import WaterPathModel
from pipeline.traveltime.infrasound import KM_PER_DEG as IKM
from pipeline.traveltime.tables import TableGrid, TravelTimeTable
from tests import PROJECT_ROOT
from tests.test_association import _plant

#: the associator may fork worker processes
pytestmark = pytest.mark.forks

SOURCE = dict(latitude=-32.0, longitude=-5.0, depth_km=10.0, time=1.7e9)
SEISMIC = ["TORD", "SUR", "TSUM", "BOSA", "LBTB", "LSZ"]
ARRAY = "TORD"
INFRA = {"I49GB": 0.29, "I50GB": 0.30}           # celerity of the planted arrival, km/s (Is, Iw)
HYDRO = {"H09N1": "T", "H10N1": "H"}
BLOCKED = "H08N1"                                # Diego Garcia: Africa is in the way
OFF_AZIMUTH = "I35NA"                            # right time, backazimuth 45 deg off
CONFIG = AssociatorConfig(scale="global", workers=1)


@pytest.fixture(scope="module")
def tt(tt_cache):
    # P and S to 60 deg, sources to 100 km: what this scenario needs (a full table costs ~15 s)
    grid = TableGrid(distance_deg=((0.0, 2.0, 0.05), (2.0, 60.0, 0.25)),
                     depth_km=((0.0, 40.0, 2.0), (40.0, 100.0, 5.0)))
    return TravelTimeTable("ak135", ["P", "S"], cache_dir=tt_cache, grid=grid)


@pytest.fixture(scope="module")
def stations():
    ims = pd.read_csv(PROJECT_ROOT / "stations" / "ims_stations.csv")
    ims = ims[ims["code"].notna() & ims["latitude"].notna()]
    code = ims["code"].str.split(";").str[0]
    st = pd.DataFrame(dict(network="IM", station=code, latitude=ims["latitude"], longitude=ims["longitude"],
                           elevation_m=ims["elevation_m"].fillna(0.0).clip(lower=0.0)))
    want = SEISMIC + list(INFRA) + list(HYDRO) + [BLOCKED, OFF_AZIMUTH]
    st = st[st["station"].isin(want)].drop_duplicates("station").reset_index(drop=True)
    assert set(st["station"]) == set(want)
    return st


def _row(station, phase, time, technology, **kw):
    r = {c: np.nan for c, k in PICK_COLUMNS.items() if k == "float64"}
    r.update(network="IM", station=station, location="", channel="", phase=phase, time=time, pick_id="",
             technology=technology, **kw)
    return r


def _geometry(stations, code):
    s = stations[stations["station"] == code].iloc[0]
    d, _, baz = distance_azimuth(SOURCE["latitude"], SOURCE["longitude"], s["latitude"], s["longitude"])
    return float(d), float(baz)


def _scenario(tt, stations, rng) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(seismic picks, infrasound + hydroacoustic detections) of the planted source, with noise."""
    seis_st = stations[stations["station"].isin(SEISMIC)].reset_index(drop=True)
    truth = pd.DataFrame([SOURCE])
    seis = _plant(tt, seis_st, truth, ("P",), {"P": 1.0}, 1.0, rng)
    seis["technology"] = "seismic"
    d, baz = _geometry(stations, ARRAY)
    k = seis.index[seis["station"] == ARRAY][0]
    seis.loc[k, ["backazimuth", "backazimuth_uncertainty", "slowness", "slowness_uncertainty"]] = (
        (baz + rng.normal(0, 3.0)) % 360.0, 3.0,
        float(tt.slowness("P", d, SOURCE["depth_km"])) + rng.normal(0, 0.3), 0.3)
    other = []
    for code, celerity in INFRA.items():
        d, baz = _geometry(stations, code)
        t = SOURCE["time"] + d * IKM / celerity + rng.normal(0, 10.0)
        other.append(_row(code, "I", t, "infrasound", backazimuth=(baz + rng.normal(0, 1.5)) % 360.0,
                          backazimuth_uncertainty=1.5, slowness=IKM / 0.34, slowness_uncertainty=20.0))
    water = WaterPathModel()
    for code, phase in HYDRO.items():
        s = stations[stations["station"] == code].iloc[0]
        chk = water.check_path(SOURCE["latitude"], SOURCE["longitude"], s["latitude"], s["longitude"])
        assert not chk.blocked, code
        t = SOURCE["time"] + float(water.time(chk.distance_km / IKM)) + rng.normal(0, 3.0)
        other.append(_row(code, phase, t, "hydroacoustic", time_uncertainty=2.0))
    return seis, pd.DataFrame(other)


def _traps(stations, rng) -> pd.DataFrame:
    """A blocked hydroacoustic path, an off-azimuth infrasound detection and false detections."""
    rows = []
    s = stations[stations["station"] == BLOCKED].iloc[0]
    water = WaterPathModel()
    chk = water.check_path(SOURCE["latitude"], SOURCE["longitude"], s["latitude"], s["longitude"])
    assert chk.blocked  # the water path model predicts nothing there
    rows.append(_row(BLOCKED, "H", SOURCE["time"] + float(water.time(chk.distance_km / IKM)), "hydroacoustic"))
    d, baz = _geometry(stations, OFF_AZIMUTH)
    rows.append(_row(OFF_AZIMUTH, "I", SOURCE["time"] + d * IKM / 0.30, "infrasound",
                     backazimuth=(baz + 45.0) % 360.0, backazimuth_uncertainty=1.5))
    t0 = SOURCE["time"]
    for _ in range(12):  # false infrasound detections: random times, random directions
        rows.append(_row(str(rng.choice(list(INFRA) + [OFF_AZIMUTH])), "I", t0 + rng.uniform(-3600, 14400),
                         "infrasound", backazimuth=rng.uniform(0, 360), backazimuth_uncertainty=2.0))
    for _ in range(8):   # false hydroacoustic detections at random times
        rows.append(_row(str(rng.choice(list(HYDRO))), "H", t0 + rng.uniform(-3600, 7200), "hydroacoustic"))
    return pd.DataFrame(rows)


def _table(*parts) -> pd.DataFrame:
    """One picks table (normalised, time order) with the ``technology`` column kept."""
    df = pd.concat(parts, ignore_index=True)
    df["pick_id"] = [f"p{i:03d}" for i in range(len(df))]
    out = normalise_picks(df)
    out["technology"] = out["pick_id"].map(dict(zip(df["pick_id"], df["technology"])))
    return out


def _error_km(lat, lon) -> float:
    return float(distance_azimuth(SOURCE["latitude"], SOURCE["longitude"], lat, lon)[0]) * KM_PER_DEG


def test_fused_planted_event_is_located_better_than_with_seismic_arrivals_alone(tt, stations):
    rng = np.random.default_rng(16)
    seis, other = _scenario(tt, stations, rng)
    traps = _traps(stations, rng)
    chain = ChainConfig(association=CONFIG)
    alone = events_from_picks(_table(seis), stations, tt, chain)
    fused = events_from_picks(_table(seis, other, traps), stations, tt, chain)
    assert len(alone.catalog) == 1 and len(fused.catalog) == 1
    o1, o2 = alone.catalog[0].preferred_origin(), fused.catalog[0].preferred_origin()
    e1, e2 = _error_km(o1.latitude, o1.longitude), _error_km(o2.latitude, o2.longitude)
    ev = fused.catalog[0]
    picks = {str(p.resource_id): p for p in ev.picks}
    got = {(picks[str(a.pick_id)].waveform_id.station_code, a.phase): a for a in o2.arrivals}
    print(f"\nfused planted event: seismic alone {e1:.1f} km (gap {o1.quality.azimuthal_gap:.0f} deg, "
          f"dt {float(o1.time - SOURCE['time']):+.2f} s); all technologies {e2:.1f} km "
          f"(gap {o2.quality.azimuthal_gap:.0f} deg, dt {float(o2.time - SOURCE['time']):+.2f} s)")
    for (sta, ph), a in sorted(got.items()):
        print(f"  {sta:6s} {ph:3s} time res {a.time_residual if a.time_residual is not None else float('nan'):+8.2f} s "
              f"(weight {a.time_weight})  baz res {a.backazimuth_residual if a.backazimuth_residual is not None else float('nan'):+6.2f} deg")
    stas = {s for s, _ in got}
    # every technology joined; the traps did not
    assert set(SEISMIC) <= stas and set(INFRA) <= stas and set(HYDRO) <= stas
    assert BLOCKED not in stas and OFF_AZIMUTH not in stas
    assert len(o2.arrivals) == len(SEISMIC) + len(INFRA) + len(HYDRO)  # no false detection joined
    assert {ph for (s, ph) in got if s in INFRA} <= {"Iw", "Is", "It"}
    assert got[("H09N1", "T")].time_weight > 0 and got[("H10N1", "H")].time_weight > 0  # time-defining
    assert all(not got[k].time_weight for k in got if k[0] in INFRA)                    # celerity: no
    assert all(got[k].backazimuth_weight for k in got if k[0] in INFRA)
    assert e2 < e1


def test_no_infrasound_or_hydroacoustic_detections_never_reach_the_fused_gathering(tt, stations, monkeypatch):
    """Seismic picks alone: the fused module is not used (same events, same cost as before)."""
    import pipeline.association.fused as F

    def boom(*a, **k):
        raise AssertionError("fused gathering used without infrasound/hydroacoustic detections")

    monkeypatch.setattr(F, "FusedGatherer", boom)
    seis, _ = _scenario(tt, stations, np.random.default_rng(1))
    events, rest = associate(_table(seis), stations, tt, CONFIG)
    assert len(events) == 1 and len(rest) == 0


def test_fused_detections_do_not_vote_and_make_no_event_alone(tt, stations):
    """Infrasound and hydroacoustic detections alone (true and false): no event."""
    rng = np.random.default_rng(5)
    _, other = _scenario(tt, stations, rng)
    events, rest = associate(_table(other, _traps(stations, rng)), stations, tt, CONFIG)
    assert events == [] and len(rest) == len(other) + 22
    assert set(rest["reason"]) == {"not associated"}


def test_locator_infrasound_times_not_defining_hydroacoustic_with_large_sigma(tt, stations):
    rng = np.random.default_rng(16)
    seis, other = _scenario(tt, stations, rng)
    arr = _table(seis, other)
    res = locate(arr, stations, tt, start=(SOURCE["latitude"], SOURCE["longitude"], 10.0, SOURCE["time"]))
    assert res.converged
    a = res.arrivals.set_index("station")
    for code in INFRA:
        assert not a.at[code, "time_defining"] and a.at[code, "azimuth_defining"]
        assert "celerity" in a.at[code, "note"]
    for code in HYDRO:
        assert a.at[code, "time_defining"]
        # 5 s + 1 % of the water-path time (at least the pick's 2 s)
        tt_s = a.at[code, "distance_deg"] * KM_PER_DEG / 1.485
        assert a.at[code, "time_uncertainty_s"] == pytest.approx(5.0 + 0.01 * tt_s, rel=1e-3)
        assert abs(a.at[code, "time_residual_s"]) < 3 * a.at[code, "time_uncertainty_s"]
    assert math.isfinite(res.latitude)


def test_bulletins_and_screening_show_the_technologies(tt, stations, tmp_path):
    """IMS1.0 keeps the phases Is/Iw/It, H, T (write and read back), QuakeML carries the
    technology of infrasound/hydroacoustic picks, the event page's arrivals have a technology,
    and screening's hydroacoustic criterion counts the H/T arrivals with their SNR."""
    from obspy import read_events

    from pipeline.screening.config import ScreeningConfig
    from pipeline.screening.criteria import characterize, hydroacoustic
    from pipeline.service.ui import event_json

    rng = np.random.default_rng(16)
    seis, other = _scenario(tt, stations, rng)
    other.loc[other["technology"] == "hydroacoustic", "snr"] = [25.0, 40.0]
    cat = events_from_picks(_table(seis, other), stations, tt, ChainConfig(association=CONFIG)).catalog
    assert len(cat) == 1
    want = sorted(["P"] * len(SEISMIC) + ["Is", "Is", "T", "H"])
    cat.write(str(tmp_path / "ev.ims"), format="IMS1")
    back = read_events(str(tmp_path / "ev.ims"))
    assert sorted(a.phase for a in (back[0].preferred_origin() or back[0].origins[0]).arrivals) == want
    cat.write(str(tmp_path / "ev.xml"), format="QUAKEML")
    q = read_events(str(tmp_path / "ev.xml"))[0]
    tech = {p.waveform_id.station_code: ((p.get("extra") or {}).get("technology") or {}).get("value", "seismic")
            for p in q.picks}
    assert tech == {**{s: "seismic" for s in SEISMIC}, **{s: "infrasound" for s in INFRA},
                    **{s: "hydroacoustic" for s in HYDRO}}
    row = {"eventid": "x", "type": "SEL3", "version": 1, "window_start": 0.0, "window_end": 1.0, "evname": ""}
    doc = event_json(row, cat[0])
    assert {a["station"]: a["technology"] for a in doc["arrivals"]} == tech
    c = characterize(cat[0], ScreeningConfig())
    assert c.hydro_nsta == 2 and c.hydro_energy == pytest.approx(40.0)
    assert hydroacoustic(c, ScreeningConfig()).outcome == "not_screened_out"
