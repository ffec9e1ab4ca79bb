"""Association: planted local and teleseismic events, and the real NCSN Calaveras pick set."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from obspy import read_inventory

from pipeline.association.associator import KM_PER_DEG, associate, distance_deg
from pipeline.association.config import AssociatorConfig
from pipeline.bulletin.hypodd import read_hypodd_pha, read_hypodd_stations
from pipeline.location.geodesy import distance_azimuth, geocentric_latitude
from pipeline.picks import normalise_picks, stations_from_inventory
from pipeline.traveltime.models import read_velocity_file
from pipeline.traveltime.tables import TravelTimeTable, local_grid
from tests import PROJECT_ROOT
from tests.conftest import DATA

#: the associator forks worker processes here: run outside pytest-xdist's threaded workers
#: (a fork of a multi-threaded process can inherit a held lock; see Makefile `test`)
pytestmark = pytest.mark.forks

ICELAND_VMODEL = DATA / "iceland" / "inputs" / "iceland_vmodel.txt"
CALAVERAS_VMODEL = DATA / "ncsn" / "calaveras_vmodel.csv"


@pytest.fixture(scope="module")
def iceland_tt(tt_cache):
    return TravelTimeTable(ICELAND_VMODEL, ["P", "S"], cache_dir=tt_cache)


@pytest.fixture(scope="module")
def calaveras_tt(tt_cache):
    m = read_velocity_file(CALAVERAS_VMODEL)
    return TravelTimeTable(CALAVERAS_VMODEL, ["P", "S"], cache_dir=tt_cache,
                           grid=local_grid(m.model_top_km, max_distance_deg=2.5, distance_step_deg=0.02,
                                           max_depth_km=30, depth_step_km=1))


@pytest.fixture(scope="module")
def ak135_tt(tt_cache):
    return TravelTimeTable("ak135", ["P", "S", "PKP"], cache_dir=tt_cache)


def _match(events, truth: pd.DataFrame, dt_s: float, dist_km: float):
    """Greedy one-to-one matching of found events to catalogue events."""
    used, pairs = set(), []
    for _, c in truth.iterrows():
        best = None
        for k, e in enumerate(events):
            if k in used or abs(e.time - c.time) > dt_s:
                continue
            d = float(distance_deg(e.latitude, e.longitude, c.latitude, c.longitude)) * KM_PER_DEG
            if d <= dist_km and (best is None or d < best[1]):
                best = (k, d)
        if best is not None:
            used.add(best[0])
            pairs.append((c, events[best[0]], best[1]))
    return pairs, len(events) - len(used)


def _plant(tt, stations, events, phases, sigma, p_detect, rng, noise=0, span=(0, 0)):
    rows = []
    for ev in events.itertuples():
        d = distance_deg(ev.latitude, ev.longitude, stations["latitude"].to_numpy(), stations["longitude"].to_numpy())
        for ph in phases:
            z = np.full(d.shape, ev.depth_km)
            # stations at their real elevations (the table's receiver is at the model top)
            t = tt.time(ph, d, z) + np.nan_to_num(tt.elevation_correction(
                ph, d, z, stations["elevation_m"].to_numpy() / 1000.0))
            if tt.has_ellipticity:  # global tables: the truth is an ellipsoidal Earth
                glat = geocentric_latitude(ev.latitude)
                _, az, _ = distance_azimuth(glat, ev.longitude,
                                            geocentric_latitude(stations["latitude"].to_numpy()),
                                            stations["longitude"].to_numpy())
                t = t + np.nan_to_num(tt.ellipticity(ph, d, z, glat, az))
            for i in np.flatnonzero(np.isfinite(t)):
                if rng.random() < p_detect:
                    rows.append(dict(network=stations["network"].iloc[i], station=stations["station"].iloc[i],
                                     phase=ph, time=ev.time + t[i] + rng.normal(0, sigma[ph])))
    for _ in range(noise):
        i = rng.integers(len(stations))
        rows.append(dict(network=stations["network"].iloc[i], station=stations["station"].iloc[i],
                         phase=rng.choice(["P", "S"]), time=rng.uniform(*span)))
    return normalise_picks(pd.DataFrame(rows))


def test_planted_local_events_with_false_picks(iceland_tt):
    """25 events in 10 min on the 12 Z7 stations, 15 % missed picks, 200 random false picks."""
    stations = stations_from_inventory(read_inventory(str(PROJECT_ROOT / "stations" / "Z7.xml")))
    rng = np.random.default_rng(7)
    n = 25
    t0 = 1.4e9
    truth = pd.DataFrame(dict(time=np.sort(rng.uniform(t0, t0 + 600, n)), latitude=rng.uniform(64.65, 64.95, n),
                              longitude=rng.uniform(-17.1, -16.5, n), depth_km=rng.uniform(2, 14, n)))
    picks = _plant(iceland_tt, stations, truth, ("P", "S"), {"P": 0.05, "S": 0.1}, 0.85, rng,
                   noise=200, span=(t0, t0 + 660))
    events, rest = associate(picks, stations, iceland_tt, AssociatorConfig(scale="local"))
    pairs, false = _match(events, truth, 2.0, 5.0)
    err = np.median([d for _, _, d in pairs])
    print(f"\nlocal planted: {len(pairs)}/{n} matched, {false} false, median epicentre error {err:.2f} km, "
          f"{len(rest)} picks left unassociated")
    assert len(pairs) >= 24 and false <= 1
    assert err < 1.0
    # the false picks stay unassociated
    assert len(rest) >= 180


def test_planted_teleseismic_events(ak135_tt):
    """8 events at 10-600 km depth recorded by the IMS primary/auxiliary stations with coordinates."""
    ims = pd.read_csv(PROJECT_ROOT / "stations" / "ims_stations.csv")
    ims = ims[ims["technology"].str.startswith("seismic") & ims["code"].notna() & ims["latitude"].notna()]
    stations = pd.DataFrame(dict(network="IM", station=ims["code"].str.split(";").str[0],
                                 latitude=ims["latitude"], longitude=ims["longitude"],
                                 elevation_m=ims["elevation_m"].fillna(0))).drop_duplicates("station")
    stations = stations.reset_index(drop=True)
    rng = np.random.default_rng(3)
    n = 8
    t0 = 1.6e9
    truth = pd.DataFrame(dict(time=t0 + np.arange(n) * 400.0 + rng.uniform(0, 100, n),
                              latitude=rng.uniform(-60, 70, n), longitude=rng.uniform(-180, 180, n),
                              depth_km=rng.choice([10.0, 33.0, 120.0, 300.0, 600.0], n)))
    picks = _plant(ak135_tt, stations, truth, ("P",), {"P": 1.0}, 0.5, rng, noise=100,
                   span=(t0, t0 + n * 400 + 1200))
    events, rest = associate(picks, stations, ak135_tt, AssociatorConfig(scale="global"))
    pairs, false = _match(events, truth, 20.0, 150.0)
    err = np.median([d for _, _, d in pairs]) if pairs else np.nan
    print(f"\nteleseismic planted: {len(pairs)}/{n} matched, {false} false, median epicentre error {err:.1f} km")
    assert len(pairs) >= n - 1 and false <= 2


def test_ncsn_calaveras_recall_and_false_events(calaveras_tt):
    """308 NCSN events (1984-1997), 13,769 analyst picks as one time-ordered pick stream."""
    cat, picks = read_hypodd_pha(DATA / "ncsn" / "Calaveras.pha")
    stations = read_hypodd_stations(DATA / "ncsn" / "station.dat")
    events, rest = associate(picks.drop(columns=["event_id"]), stations, calaveras_tt,
                             AssociatorConfig(scale="local"))
    pairs, false = _match(events, cat, 2.0, 10.0)
    recall = len(pairs) / len(cat)
    false_frac = false / max(len(events), 1)
    errs = np.array([d for _, _, d in pairs])
    dz = np.array([abs(e.depth_km - c.depth_km) for c, e, _ in pairs])
    print(f"\nNCSN Calaveras: recall {recall:.3f} ({len(pairs)}/{len(cat)}), false events {false} "
          f"({100 * false_frac:.1f} %), median epicentre difference {np.median(errs):.2f} km, "
          f"median |depth difference| {np.median(dz):.2f} km; {len(rest)} picks unassociated "
          f"({int((rest['reason'] != 'not associated').sum())} from stations without coordinates)")
    assert recall >= 0.90
    assert false_frac <= 0.05
    # stations missing from station.dat are reported, not silently dropped
    assert (rest["reason"] == "station not in the station metadata").any()


def test_picks_of_unknown_stations_are_reported(iceland_tt):
    stations = stations_from_inventory(read_inventory(str(PROJECT_ROOT / "stations" / "Z7.xml")))
    picks = normalise_picks(pd.DataFrame(dict(station=["NOPE", "DYJN"], phase=["P", "P"], time=[1e9, 1e9 + 1])))
    events, rest = associate(picks, stations, iceland_tt, AssociatorConfig(scale="local"))
    assert events == []
    assert dict(zip(rest["station"], rest["reason"])) == {"NOPE": "station not in the station metadata",
                                                          "DYJN": "not associated"}


def _dense_vote_hits(tt_ph, t, sidx, a, binw, ncol):
    """Reference: the (node, origin-time bin) hit counts of one phase from the dense
    (nodes, stations) travel-time matrix (the vote before the sparse index)."""
    t0 = t[None, :] - tt_ph[:, sidx]
    k = np.floor((t0 - a) / binw)
    ok = np.isfinite(k) & (k >= 0) & (k < ncol)
    rows = np.broadcast_to(np.arange(tt_ph.shape[0])[:, None], k.shape)[ok]
    return np.bincount(rows * ncol + k[ok].astype(np.int64), minlength=tt_ph.shape[0] * ncol)


def test_sparse_vote_index_gives_the_dense_hits():
    """SparseTimes visits exactly the finite node-station travel times: for any pick set and
    any node-block range (the vote's chunks) the hit counts equal the dense matrix's. (The
    whole chain gives bit-identical events on the NCSN Calaveras stream, 38.9 -> 25.7 s.)"""
    from pipeline.association import associator as A

    rng = np.random.default_rng(7)
    n_nodes, n_sta = 3 * A._VOTE_BLOCK + 37, 23
    tt = rng.uniform(0.5, 40.0, (n_nodes, n_sta)).astype(np.float32)
    tt[rng.random(tt.shape) < 0.6] = np.nan
    tt[:, 5] = np.nan  # a station that reaches no node
    sp = A.SparseTimes.of(tt)
    assert sp.node.size == np.isfinite(tt).sum()
    sidx = rng.integers(0, n_sta, 200)
    t = rng.uniform(0.0, 120.0, 200)
    a, binw, ncol = -30.0, 0.6, 260
    n_blocks = -(-n_nodes // A._VOTE_BLOCK)
    for b0, b1 in [(0, n_blocks), (1, 3), (3, n_blocks), (2, 2)]:
        c0, c1 = b0 * A._VOTE_BLOCK, min(n_nodes, b1 * A._VOTE_BLOCK)
        pick, entry = sp.entries(sidx, b0, b1)
        assert ((sp.node[entry] >= c0) & (sp.node[entry] < c1)).all()
        t0 = t[pick] - sp.time[entry]
        k = np.floor((t0 - a) / binw)
        ok = (k >= 0) & (k < ncol)
        sparse = np.bincount((sp.node[entry][ok] - c0) * ncol + k[ok].astype(np.int64),
                             minlength=(c1 - c0) * ncol)
        dense = _dense_vote_hits(tt[c0:c1], t, sidx, a, binw, ncol)
        assert np.array_equal(sparse, dense), (b0, b1)
