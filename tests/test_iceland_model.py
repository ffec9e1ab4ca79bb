"""Iceland accuracy fixes: the velocity file read as linear gradients (as QuakeMigrate reads it),
the vertical/horizontal P-S merge of the local detection preset, and the association window
look-ahead.

The travel-time check compares our predictions (table + station-elevation correction) with
QuakeMigrate's own modelled times for its 27 events at its hypocentres (``ModelledTime`` in the
``.picks`` files, computed from the same velocity file with NonLinLoc gradients): read as blocks,
the file's 1.5 km/s top row is a 4 km thick slow layer and every P (S) is ~0.9 (1.5) s late.
"""
from __future__ import annotations

import csv
import math

import numpy as np
import pytest
from obspy import UTCDateTime

from pipeline.association.config import AssociatorConfig
from pipeline.detection.config import DetectionConfig
from pipeline.detection.processor import _Detection, _merge_arrivals
from pipeline.location.geodesy import great_circle_deg
from pipeline.traveltime import TravelTimeTable, local_grid, read_velocity_file
from tests import PROJECT_ROOT

ICELAND = PROJECT_ROOT / "tests" / "data" / "iceland"
VMODEL = ICELAND / "inputs" / "iceland_vmodel.txt"


@pytest.fixture(scope="module")
def linear():
    return read_velocity_file(VMODEL, interpolation="linear")


@pytest.fixture(scope="module")
def table(linear, tmp_path_factory):
    # stations are within 0.5 deg of the events: a short local grid keeps the build quick
    # (25 km deep: the events are above 7 km, the local association grid's deepest nodes at 22 km)
    grid = local_grid(linear.model_top_km, max_distance_deg=0.6, max_depth_km=25.0)
    return TravelTimeTable(linear, ["P", "S"], cache_dir=tmp_path_factory.mktemp("tt"), grid=grid)


def test_interpolation_is_part_of_the_model_identity(linear):
    blocks = read_velocity_file(VMODEL)
    assert blocks.interpolation == "constant"
    assert "interpolation" not in blocks.canonical()  # block models keep their ids
    assert linear.model_id != blocks.model_id
    rows = [ln.split() for ln in linear.to_nd().splitlines() if ln and not ln.startswith("#")]
    # first layer: 1.5 km/s at the model top grading to the next row's 4.0 km/s at 1 km depth
    assert [float(v) for v in rows[0][:3]] == [0.0, 1.5, 0.843]
    assert [float(v) for v in rows[1][:3]] == [4.0, 4.0, 2.247]
    with pytest.raises(ValueError, match="interpolation"):
        read_velocity_file(VMODEL, interpolation="spline")


def test_linear_vertical_time_matches_the_gradient_integral(linear, table):
    """Vertical time through linear gradients: sum of ln(v1/v0)/g per layer, by hand from the
    CSV; the table (TauP on the generated .nd) at 0 distance agrees."""
    rows = list(csv.DictReader(VMODEL.read_text().splitlines()))
    z = np.array([float(r["Depth"]) for r in rows])
    for wave, col in (("P", "Vp"), ("S", "Vs")):
        v = np.array([float(r[col]) for r in rows])
        for depth in (0.0, 2.0, 5.5, 7.3, 12.5):
            t = 0.0
            for i in range(len(z) - 1):
                top, bot = z[i], min(z[i + 1], depth)
                if bot <= top:
                    break
                g = (v[i + 1] - v[i]) / (z[i + 1] - z[i])
                vb = v[i] + g * (bot - top)
                t += math.log(vb / v[i]) / g if g else (bot - top) / v[i]
            assert linear.vertical_time(z[0], depth, wave) == pytest.approx(t, rel=1e-9)
            got = float(table.time(wave, 0.0, depth))
            print(f"{wave} vertical time from {depth:4.1f} km: table {got:.4f} s, by hand {t:.4f} s")
            assert got == pytest.approx(t, abs=0.02)


def test_predictions_match_quakemigrate_modelled_times(table):
    """Our times (table + elevation correction) at QuakeMigrate's hypocentres against its own
    modelled times for the same stations: unbiased to a few hundredths of a second."""
    sta = {r["Name"]: (float(r["Latitude"]), float(r["Longitude"]), float(r["Elevation"]))
           for r in csv.DictReader(open(ICELAND / "inputs" / "iceland_stations.txt"))}
    diff = {"P": [], "S": []}
    for f in sorted((ICELAND / "quakemigrate").glob("*.event")):
        ev = next(csv.DictReader(open(f)))
        t0, lat, lon, z = UTCDateTime(ev["DT"]), float(ev["Y"]), float(ev["X"]), float(ev["Z"])
        for r in csv.DictReader(open(f.with_suffix(".picks"))):
            slat, slon, elev = sta[r["Station"]]
            d = great_circle_deg(lat, lon, slat, slon)
            ph = r["Phase"]
            t = float(table.time(ph, d, z)) + float(table.elevation_correction(ph, d, z, elev))
            diff[ph].append(t - (UTCDateTime(r["ModelledTime"]) - t0))
    for ph, v in diff.items():
        v = np.asarray(v)
        print(f"{ph}: ours - QuakeMigrate modelled, n={v.size}: median {np.median(v):+.3f} s, "
              f"90% within {np.percentile(np.abs(v), 90):.3f} s")
        assert v.size == 27 * 12
        assert abs(np.median(v)) < 0.08
        assert np.percentile(np.abs(v), 90) < 0.15


def _det(index, source, phase, snr):
    d = _Detection(index=index, phase=phase, snr=snr, band=(2.0, 16.0), source=source,
                   channel_role="Z" if source == "Z" else "N")
    if source == "Z":
        d.snr_z = snr
    else:
        d.snr_h = snr
    return d


def test_vertical_p_and_horizontal_s_merge_by_snr():
    fs = 100
    sp = int(DetectionConfig.local().min_s_minus_p_s * fs)
    min_sep = int(DetectionConfig.local().min_separation_s * fs)
    # an S wave picked on the vertical 0.5 s before the horizontals: one arrival, the S
    out = _merge_arrivals([_det(1000, "Z", "P", 2.0), _det(1050, "H", "S", 4.5)], min_sep, sp)
    assert [(d.index, d.phase, d.source) for d in out] == [(1050, "S", "H")]
    assert out[0].partner is not None and out[0].partner.source == "Z"
    # a P with some energy on the horizontals: one arrival, the P
    out = _merge_arrivals([_det(1000, "Z", "P", 6.0), _det(1050, "H", "S", 2.0)], min_sep, sp)
    assert [(d.index, d.phase, d.source) for d in out] == [(1000, "P", "Z")]
    # without the parameter (default preset): the old rule keeps both 0.5 s apart
    out = _merge_arrivals([_det(1000, "Z", "P", 2.0), _det(1050, "H", "S", 4.5)], min_sep)
    assert [d.phase for d in out] == ["P", "S"]
    assert DetectionConfig().min_s_minus_p_s is None
    with pytest.raises(ValueError, match="min_s_minus_p_s"):
        DetectionConfig(min_separation_s=1.0, min_s_minus_p_s=1.5)


def test_window_look_ahead_is_chosen_from_the_grid_by_default(table):
    """The look-ahead the demo once set by hand (30 s: more than its largest S travel time)
    is by default the grid's largest P-type travel time: the P time from the farthest node to
    the farthest station within reach."""
    import pandas as pd
    from obspy import read_inventory

    from pipeline.association.associator import Associator
    from pipeline.picks import normalise_picks, stations_from_inventory

    assert AssociatorConfig().window_overlap_s == "auto"
    stations = stations_from_inventory(read_inventory(str(PROJECT_ROOT / "stations" / "Z7.xml")))
    picks = normalise_picks(pd.DataFrame(dict(station=list(stations["station"]), phase="P", time=1.4e9)))
    assoc = Associator(stations, table, AssociatorConfig(scale="local"))
    assoc.run(picks)
    g = assoc.grid
    d = great_circle_deg(g.lat[:, None], g.lon[:, None], stations["latitude"].to_numpy()[None, :],
                         stations["longitude"].to_numpy()[None, :])
    d = np.where(d <= g.reach["P"], d, np.nan)
    # table time + the station's elevation correction, largest over nodes and stations in reach
    expected = np.nanmax(table.time("P", d, np.broadcast_to(g.depth[:, None], d.shape)) + g.corr["P"][None, :])
    assert 5.0 < assoc.window_overlap_s <= g.window_s
    assert abs(assoc.window_overlap_s - expected) < 1e-3
    fixed = Associator(stations, table, AssociatorConfig(scale="local", window_overlap_s=0.0))
    fixed.run(picks)
    assert fixed.window_overlap_s == 0.0
