"""Association at every scale (issue 12): the family and grid chosen from the station geometry,
the vote kept exact under pick removal, windows and chunks that do not depend on where the
stream starts or on the worker count, and accuracy on real pick streams nobody tuned for.

Real data: Central Italy 2016-10-14 STA/LTA picks (REAL demo, 60 stations) scored against
LOC-FLOW's 60 Hypoinverse events of its first 50 minutes; NCSN Calaveras analyst picks; the IMS
seismic network of the IDC LEB bulletin table (tests/data/*/SOURCE.txt)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pipeline.association import associator as A
from pipeline.association.associator import Hypothesis, associate
from pipeline.association.config import AssociatorConfig
from pipeline.association.grid import build_grid, geometry_of
from pipeline.association.network import choose_scale
from pipeline.bulletin.hypodd import read_hypodd_stations
from pipeline.io.real_picks import read_hypoinverse_sum, read_real_pick_files, read_real_stations
from pipeline.settings import GLOBAL_TABLE_PHASES
from pipeline.simulate.detections import ims_seismic_stations
from pipeline.traveltime.tables import TravelTimeTable
from tests import PROJECT_ROOT
from tests.conftest import DATA
from tests.test_association import _match

#: the associator forks worker processes here: run outside pytest-xdist's threaded workers
#: (a fork of a multi-threaded process can inherit a held lock; see Makefile `test`)
pytestmark = pytest.mark.forks

ITALY = DATA / "italy"


@pytest.fixture(scope="module")
def ak135_default(tt_cache):
    """The default configuration's table (``[traveltime] phases = "auto"`` with ak135)."""
    return TravelTimeTable("ak135", list(GLOBAL_TABLE_PHASES), cache_dir=tt_cache)


@pytest.fixture(scope="module")
def italy():
    picks = read_real_pick_files(ITALY / "20161014.zip", "2016-10-14")
    stations = read_real_stations(ITALY / "station.dat")
    ref = read_hypoinverse_sum(ITALY / "location_hypoinverse_catOut.sum")
    return picks, stations, ref


def _matched(events, ref: pd.DataFrame, dt_s=5.0, dist_km=20.0) -> int:
    """One-to-one matches within dt_s and dist_km (test_association's greedy matching, reference
    events in time order as shared/tools/score_events.py takes them)."""
    return len(_match(events, ref.sort_values("time"), dt_s, dist_km)[0])


def test_family_follows_the_station_geometry():
    """Dense local network -> local lattice; the whole NCSN (California + Nevada) -> regional
    cap; the IMS -> global. Nothing per network in the configuration."""
    cfg = AssociatorConfig()
    italy = read_real_stations(ITALY / "station.dat")
    ncsn = read_hypodd_stations(DATA / "ncsn" / "station.dat")
    ims = ims_seismic_stations(pd.read_csv(PROJECT_ROOT / "stations" / "ims_stations.csv"))
    got = {}
    for name, st in (("italy", italy), ("ncsn", ncsn), ("ims", ims)):
        g = geometry_of(st)
        got[name] = choose_scale(g, cfg.local_aperture_km, cfg.local_max_station_spacing_km,
                                 cfg.regional_aperture_km)
        print(f"{name}: {g.n_stations} stations, aperture {g.aperture_km:.0f} km, spacing "
              f"{g.spacing_km:.1f} km -> {got[name]}")
    assert got["italy"] == "local"
    assert got["ims"] == "global"
    assert got["ncsn"] in ("local", "regional")  # decided by its aperture (printed above)


def test_vote_removal_equals_a_rebuilt_vote(ak135_default, italy):
    """Removing an accepted event's picks from the vote (incremental) gives exactly the vote
    built without them: later candidates do not see stale votes."""
    picks, stations, _ = italy
    sub = picks[picks["time"] < picks["time"].min() + 600].reset_index(drop=True)
    assoc = A.Associator(stations, ak135_default, AssociatorConfig(workers=1))
    assoc.run(sub)  # sets up the run's arrays and the grid
    rows = np.flatnonzero(assoc._ps >= 0)[:400]
    a = float(assoc._pt[rows].min())
    b = a + assoc.grid.window_s
    v1 = A._Vote(assoc, rows, a, b)
    before = v1.candidates(64, 0.0)  # the nodes' maxima, kept up to date by remove()
    removed = rows[::7]
    v1.remove(removed)
    v2 = A._Vote(assoc, np.setdiff1d(rows, removed), a, b)
    assert v1.V.max() > 0
    np.testing.assert_allclose(v1.V, v2.V, atol=1e-4)
    # remove() re-examines only the nodes whose best bin lost votes: the candidates and every
    # node's maximum are those of the rebuilt vote
    after = v1.candidates(64, 0.0)
    assert after == v2.candidates(64, 0.0) and after != before
    np.testing.assert_array_equal(v1.best_bin, v2.best_bin)
    np.testing.assert_allclose(v1.best_val, v2.best_val, atol=1e-6)


def _summary(events):
    return [(round(e.time, 2), round(e.latitude, 4), round(e.longitude, 4), len(e.picks)) for e in events]


def test_chunks_in_parallel_give_the_sequential_result(ak135_default, italy):
    """12 minutes of the Italy swarm cut into 2-minute chunks (a boundary every 2 minutes):
    two worker processes give exactly what one process gives, no event twice across a boundary,
    and as many LOC-FLOW events as one chunk."""
    picks, stations, ref = italy
    t0 = picks["time"].min()
    sub = picks[picks["time"] < t0 + 720]
    ref = ref[ref["time"] < t0 + 720 - 60]
    cfg = AssociatorConfig(chunk_s=120.0, workers=1)
    seq, rest1 = associate(sub, stations, ak135_default, cfg)
    par, rest2 = associate(sub, stations, ak135_default, cfg.model_copy(update={"workers": 2}))
    one, _ = associate(sub, stations, ak135_default, cfg.model_copy(update={"chunk_s": 7200.0}))
    assert _summary(seq) == _summary(par)
    assert len(rest1) == len(rest2)
    rows = np.concatenate([e.picks.index.to_numpy() for e in seq])
    assert len(rows) == len(np.unique(rows)), "a pick in two events"
    m_seq, m_one = _matched(seq, ref), _matched(one, ref)
    print(f"\n12 min of Italy: {len(seq)} events in 2-min chunks ({m_seq}/{len(ref)} LOC-FLOW), "
          f"{len(one)} in one chunk ({m_one}/{len(ref)})")
    assert m_seq >= m_one - 1


def test_merge_of_chunks_drops_a_boundary_twin():
    def hyp(t, rows, score):
        p = pd.DataFrame({"assoc_phase": ["P"] * len(rows)}, index=rows)
        return Hypothesis(time=t, latitude=0.0, longitude=0.0, depth_km=5.0, picks=p, score=score,
                          extra={"location": object()})

    a = hyp(99.9, [1, 2, 3, 4, 5, 6], 30.0)      # chunk 1's copy of an event at the boundary
    b = hyp(100.1, [2, 3, 4, 5, 6, 7], 35.0)     # chunk 2's copy: better score
    c = hyp(100.5, [7, 8, 9, 10, 11, 12, 13], 20.0)  # another event sharing one pick with b
    out = A._merge_chunks([[a], [b, c]], min_picks=5)
    assert [h.time for h in out] == [100.1, 100.5]
    assert list(out[1].picks.index) == [8, 9, 10, 11, 12, 13]
    assert "location" not in out[1].extra  # its picks changed: the bulletin locates it again
    assert "location" in out[0].extra


def test_windows_do_not_depend_on_where_the_stream_starts(ak135_default, italy):
    """One extra pick an hour before the stream (a station's stray detection) must not shift
    every processing window and change the events."""
    picks, stations, _ = italy
    t0 = picks["time"].min()
    sub = picks[picks["time"] < t0 + 480].reset_index(drop=True)
    stray = sub.iloc[[0]].assign(time=t0 - 3600.0, pick_id="stray")
    cfg = AssociatorConfig(workers=1)
    ev1, _ = associate(sub, stations, ak135_default, cfg)
    ev2, _ = associate(pd.concat([stray, sub], ignore_index=True), stations, ak135_default, cfg)
    assert _summary(ev1) == _summary(ev2)


def test_italy_first_hour_matches_loc_flow(ak135_default, italy):
    """The default configuration (no Italy settings) on the first hour of real STA/LTA picks
    (~3,900 picks, 60 stations, most of them false or of events below the catalogue)."""
    picks, stations, ref = italy
    t0 = picks["time"].min()
    sub = picks[picks["time"] < t0 + 3600]
    events, rest = associate(sub, stations, ak135_default, AssociatorConfig())
    m = _matched(events, ref)
    print(f"\nItaly 2016-10-14 00:00-01:00: {len(sub)} picks -> {len(events)} events, "
          f"{m}/{len(ref)} LOC-FLOW events matched (5 s, 20 km), {len(rest)} picks unassociated")
    assert m >= 0.90 * len(ref)


def test_ims_simulated_day(ak135_default):
    """A held-out February day of the IDC LEB origins at the IMS seismic stations (misses,
    timing errors, array backazimuth/slowness, ~67 % false detections; pipeline.simulate), the
    default configuration: recall over the origins detected at >= 3 stations, and false events,
    matched at 10 s / 100 km."""
    from obspy import UTCDateTime

    from pipeline.simulate import SimConfig, leb_origins, simulate_detections

    leb = leb_origins(pd.read_csv(DATA / "ims_leb_2022" / "metadata_2022_leb_jan_feb.csv"))
    ims = ims_seismic_stations(pd.read_csv(PROJECT_ROOT / "stations" / "ims_stations.csv"))
    sim = simulate_detections(leb, ims, ak135_default, SimConfig(), seed=12, start=UTCDateTime("2022-02-12"))
    truth = sim.truth[sim.truth["in_window"] & (sim.truth["n_stations"] >= 3)]
    events, _ = associate(sim.picks, ims, ak135_default, AssociatorConfig())
    m = _matched(events, truth, dt_s=10.0, dist_km=100.0)
    false = len(events) - _matched(events, sim.truth, dt_s=10.0, dist_km=100.0)
    print(f"\nIMS 2022-02-12 (simulated, seed 12): {len(sim.picks)} detections, {len(truth)} origins at "
          f">= 3 stations, {len(events)} events: recall {m / len(truth):.3f}, false {false}")
    # measured here 17/19, 2 false; the target (0.95, 5 %) is met on 3 of 5 days
    # evaluated (see the README): this bound guards the present level
    assert m >= 0.85 * len(truth)
    assert false <= max(1, 0.15 * len(events))
