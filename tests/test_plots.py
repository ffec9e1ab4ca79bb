"""Plots (pipeline.plots, `idc plot`): event map, record section with predicted phases, residuals.

Real data: the 1995 IDC REB excerpt (GSE2.0, 2 events, 16 arrivals) with its station coordinates,
the 1967 ISC bulletin (ISF, 255 arrivals), and a 2014 Bardarbunga event of the Z7 network
(QuakeMigrate origin and picks, miniSEED, stations/Z7.xml).
"""
from __future__ import annotations

import csv
import shutil
import struct
import warnings
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from obspy import UTCDateTime, read, read_inventory
from obspy.core.event import Arrival, Catalog, Event, Magnitude, Origin, Pick, WaveformStreamID

from pipeline import tasks
from pipeline.bulletin.read import read_bulletin
from pipeline.geo import coast
from pipeline.location.geodesy import distance_azimuth, geocentric_latitude, great_circle_deg
from pipeline.picks import read_stations_csv
from pipeline.plots import (PlotInputError, arrival_table, map_extent, plot_event_map, plot_event_record_section,
                            plot_record_section, plot_residuals)
from pipeline.plots.event_map import KM_PER_DEG, ellipse_lonlat
from pipeline.traveltime.tables import TravelTimeTable
from tests import PROJECT_ROOT
from tests.conftest import DATA, make_settings

REB = DATA / "bulletins" / "reb_1995_2events_gse2.txt"
REB_STATIONS = DATA / "bulletins" / "reb1995_stations.csv"
ISF_1967 = Path("/work/shared/data/obspy_ims_format_samples/iaspei_ims/19670130012028.isf")
ICELAND = DATA / "iceland"
ICELAND_VMODEL = ICELAND / "inputs" / "iceland_vmodel.txt"
Z7 = PROJECT_ROOT / "stations" / "Z7.xml"
EVENT_ID = "20140824000109140"


def png_size(path: Path) -> tuple[int, int]:
    """(width, height) from the PNG IHDR chunk."""
    head = Path(path).read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    return struct.unpack(">II", head[16:24])


@pytest.fixture(scope="module")
def reb():
    cat, fmt = read_bulletin(REB)
    assert fmt == "GSE2" and len(cat) == 2
    return cat


@pytest.fixture(scope="module")
def reb_stations():
    return read_stations_csv(REB_STATIONS)


def iceland_event() -> Event:
    """The QuakeMigrate origin, ML and picks of one Bardarbunga event as an obspy Event."""
    qm = ICELAND / "quakemigrate"
    with open(qm / f"{EVENT_ID}.event") as fh:
        row = next(csv.DictReader(fh))
    o = Origin(time=UTCDateTime(row["DT"]), latitude=float(row["Y"]), longitude=float(row["X"]),
               depth=float(row["Z"]) * 1000.0)
    ev = Event(origins=[o], magnitudes=[Magnitude(mag=float(row["ML"]), magnitude_type="ML")])
    with open(qm / f"{EVENT_ID}.picks") as fh:
        for r in csv.DictReader(fh):
            if r["PickTime"] in ("", "-1"):
                continue
            p = Pick(time=UTCDateTime(r["PickTime"]), waveform_id=WaveformStreamID("Z7", r["Station"]),
                     phase_hint=r["Phase"])
            ev.picks.append(p)
            o.arrivals.append(Arrival(pick_id=p.resource_id, phase=r["Phase"]))
    ev.preferred_origin_id = o.resource_id
    return ev


@pytest.fixture(scope="module")
def iceland_tt(tt_cache):
    return TravelTimeTable(ICELAND_VMODEL, ["P", "S"], cache_dir=tt_cache)


# ----------------------------------------------------------------------------- event map
def test_event_map_of_the_1995_reb(tmp_path, reb, reb_stations):
    res = plot_event_map(reb, tmp_path / "map.png", stations=reb_stations, title="REB 1995-01-16")
    assert res.events_plotted == 2 and res.events_unlocated == 0
    assert res.stations_plotted == len(reb_stations) == 11
    assert res.ellipses == 2  # both REB origins carry Smajor/Sminor/Az
    # Greece and British Columbia with stations from Germany to the Yukon: a world map
    assert res.extent.is_global and res.resolution == "110m"
    assert res.coastline_segments == len(coast.coastlines("110m"))
    w, h = png_size(res.path)
    assert 700 <= w <= 1300 and 350 <= h <= 800


def test_event_map_draws_only_the_stations_with_arrivals(tmp_path, reb, reb_stations):
    res = plot_event_map(reb[:1], tmp_path / "one.png", stations=reb_stations, used_stations_only=True)
    picked = {p.waveform_id.station_code for p in reb[0].picks}
    assert res.events_plotted == 1 and sorted(res.station_codes) == sorted(picked)
    assert res.stations_plotted == 8  # GERES NORES FINES ARCES MBC FCC YKA WHY (REB event 280435)


def test_event_map_local_extent_has_the_coastline_of_the_window(tmp_path):
    inv = read_inventory(str(Z7))
    res = plot_event_map([iceland_event()], tmp_path / "iceland.png", stations=inv)
    assert res.events_plotted == 1 and res.stations_plotted == 12
    e = res.extent
    assert not e.is_global and res.resolution == "50m"
    assert e.lon_min < -16.946 < e.lon_max and e.lat_min < 64.755 < e.lat_max
    assert e.lat_span < 5  # local: the 12 Z7 stations lie within ~35 km
    expected = coast.coastlines_in(e.lon_min, e.lon_max, e.lat_min, e.lat_max)
    assert res.coastline_segments == len(expected) >= 1  # Iceland's coast, 60-100 km from Vatnajokull
    assert png_size(res.path)[0] > 500


def test_open_ocean_window_draws_no_coastline(tmp_path):
    ev = Event(origins=[Origin(time=UTCDateTime(2020, 1, 1), latitude=0.0, longitude=-150.0, depth=10e3)])
    res = plot_event_map([ev], tmp_path / "pacific.png")
    assert res.coastline_segments == 0 and res.events_plotted == 1 and res.stations_plotted == 0


def test_event_without_location_is_counted_not_drawn(tmp_path):
    cat, _ = read_bulletin(DATA / "bulletins" / "ipec_202409_ims1.txt")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = plot_event_map(cat, tmp_path / "ipec.png")
    located = sum(1 for ev in cat if ev.origins and ev.origins[0].latitude is not None)
    assert res.events_plotted == located == 2 and res.events_unlocated == 1
    with pytest.raises(PlotInputError, match="nothing to map"):
        plot_event_map(Catalog(), tmp_path / "empty.png")


def test_map_extent_local_regional_antimeridian_global():
    e = map_extent([-17.0, -16.5], [64.6, 65.0])
    assert not e.is_global and e.lon_min < -17.0 and e.lon_max > -16.5 and e.lat_span < 3
    # Fiji/Tonga across the antimeridian: a narrow window, not the whole world
    e = map_extent([178.5, -178.0, -175.2], [-18.0, -21.0, -15.5])
    assert not e.is_global and e.lon_span < 20
    assert e.lon_min < 178.5 and e.lon_max > 360 - 175.2
    assert np.all((e.wrap([178.5, -178.0, -175.2]) >= e.lon_min) & (e.wrap([178.5, -178.0, -175.2]) <= e.lon_max))
    assert map_extent([20.4, -129.8], [39.5, 50.8]).is_global


def test_error_ellipse_outline_has_the_axes_lengths():
    """Semi-axes 100 x 40 km, major axis at azimuth 30 deg: the outline points at the ends of the axes
    lie 100 and 40 km from the centre (great circle) in the right directions."""
    lat, lon = 60.0, 10.0
    x, y = ellipse_lonlat(lat, lon, 100.0, 40.0, 30.0, n=5)  # t = 0, 90, 180, 270, 360 deg
    d_deg, az, _ = distance_azimuth(lat, lon, y, x)
    np.testing.assert_allclose(d_deg[:4] * KM_PER_DEG, [100.0, 40.0, 100.0, 40.0], rtol=1e-6)
    np.testing.assert_allclose(az[:4], [30.0, 120.0, 210.0, 300.0], atol=1e-6)


# ----------------------------------------------------------------------------- record sections
def test_event_record_section_with_predicted_phases(tmp_path, iceland_tt):
    ev = iceland_event()
    st = read(str(ICELAND / "waveforms" / f"{EVENT_ID}.m"))
    inv = read_inventory(str(Z7))
    res = plot_event_record_section(ev, st, inv, iceland_tt, tmp_path / "rs.png", title=f"Z7 {EVENT_ID}")
    stations_z = {tr.stats.station for tr in st.select(component="Z")}
    assert res.traces == len(stations_z) == 12
    assert res.picks_marked == len(ev.picks) == 13 and res.picks_without_trace == 0
    assert res.phases_drawn == ["P", "S"] and res.distance_unit == "km"
    assert res.predicted_marks == 2 * 12  # P and S at every station
    assert 0.6 < res.reference_elevation_km < 1.0  # median Z7 elevation (0.66-1.38 km)
    # traces are ordered by epicentral distance
    o = ev.origins[0]
    coords = {s.code: (s.latitude, s.longitude) for n in inv for s in n}
    d = [great_circle_deg(o.latitude, o.longitude, *coords[i.split(".")[1]]) for i in res.trace_ids]
    assert d == sorted(d)
    w, h = png_size(res.path)
    assert w > 800 and h > 600


def test_event_record_section_rejects_unknown_phase_and_unlocated_event(tmp_path, iceland_tt):
    st = read(str(ICELAND / "waveforms" / f"{EVENT_ID}.m"))
    inv = read_inventory(str(Z7))
    with pytest.raises(PlotInputError, match="PKP"):
        plot_event_record_section(iceland_event(), st, inv, iceland_tt, tmp_path / "x.png", phases=["PKP"])
    with pytest.raises(PlotInputError, match="located origin"):
        plot_event_record_section(Event(), st, inv, iceland_tt, tmp_path / "x.png")


def test_demo_record_section_signature_still_works(tmp_path):
    ev = iceland_event()
    o = ev.origins[0]
    st = read(str(ICELAND / "waveforms" / f"{EVENT_ID}.m"))
    out = plot_record_section(st, read_inventory(str(Z7)), o.time, o.latitude, o.longitude, tmp_path / "demo.png",
                              before_s=1, after_s=12, picks={"DYJN": [("P", o.time + 3.0)]}, velocity_kms=(6.0,))
    assert out == tmp_path / "demo.png" and png_size(out)[0] > 500


# ----------------------------------------------------------------------------- residuals
def test_residual_plot_of_the_1995_reb(tmp_path, reb, reb_stations):
    res = plot_residuals(reb, tmp_path / "res.png", stations=reb_stations)
    arrivals = [a for ev in reb for a in ev.origins[0].arrivals if a.time_residual is not None]
    assert res.residuals == len(arrivals) == 16 and res.events == 2 and res.stations == 11
    phases = {}
    for a in arrivals:
        phases[a.phase] = phases.get(a.phase, 0) + 1
    assert res.per_phase == phases
    # MBC recorded P of both events: its mean residual is the mean of the two bulletin values
    mbc = [a.time_residual for ev in reb for a in ev.origins[0].arrivals
           if a.phase == "P" and next(p for p in ev.picks if p.resource_id == a.pick_id).waveform_id.station_code
           == "MBC"]
    row = res.station_stats.query("station == 'MBC' and phase == 'P'").iloc[0]
    assert row.n == 2 and row.mean_s == pytest.approx(np.mean(mbc))
    assert png_size(res.path)[0] > 1000


def test_residual_plot_of_a_large_isc_bulletin(tmp_path):
    if not ISF_1967.exists():
        pytest.skip(f"{ISF_1967} not available")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cat, _ = read_bulletin(ISF_1967)
    res = plot_residuals(cat, tmp_path / "isc.png", phases=["P"])
    o = cat[0].preferred_origin() or cat[0].origins[0]
    n_p = sum(1 for a in o.arrivals if a.phase == "P" and a.time_residual is not None)
    assert res.residuals == n_p > 100 and list(res.per_phase) == ["P"]
    with pytest.raises(PlotInputError, match="no arrival"):
        plot_residuals(cat, tmp_path / "none.png", phases=["XYZ"])


def test_arrival_table_distance_and_azimuth_from_coordinates(reb, reb_stations):
    """Distances missing from a bulletin are computed from the station coordinates and agree with the
    IDC's; the event-to-station azimuth is always ours, because the 1995 REB's EvAz column holds the
    station-to-event azimuth (AzRes = Azim - EvAz)."""
    bulletin = arrival_table(reb)
    stripped = reb.copy()
    for ev in stripped:
        for a in ev.origins[0].arrivals:
            a.distance = a.azimuth = None
    ours = arrival_table(stripped, reb_stations)
    assert ours["distance_deg"].notna().all() and ours["azimuth_deg"].notna().all()
    np.testing.assert_allclose(ours["distance_deg"], bulletin["distance_deg"], atol=0.1)
    coords = reb_stations.set_index("station")
    baz = []
    for r in ours.itertuples():
        o = reb[r.event].origins[0]
        c = coords.loc[r.station]
        baz.append(distance_azimuth(geocentric_latitude(c.latitude), c.longitude,
                                    geocentric_latitude(o.latitude), o.longitude)[1])
    d = (np.array(baz) - bulletin["azimuth_deg"].to_numpy() + 180) % 360 - 180
    assert np.abs(d).max() < 1.0  # EvAz of the 1995 REB = station-to-event azimuth
    assert arrival_table(reb, reb_stations)["azimuth_deg"].tolist() == ours["azimuth_deg"].tolist()


# ----------------------------------------------------------------------------- tasks and CLI
@pytest.fixture(scope="module")
def iceland_settings(tmp_path_factory, iceland_tt):
    """Settings of a throwaway home with the Iceland model (its table copied from the session cache)."""
    home = tmp_path_factory.mktemp("plots") / "home"
    s = make_settings(home, **{"traveltime.model": str(ICELAND_VMODEL), "traveltime.phases": ["P", "S"],
                               "stations.paths": [str(Z7)]})
    shutil.copytree(iceland_tt.path.parent, s.cache_dir / "traveltime")  # table and generated TauP model
    return s


def test_task_record_section_from_the_sds_archive(tmp_path, iceland_settings):
    s = iceland_settings
    tasks.load_stations(s)
    ing = tasks.ingest_files(s, [ICELAND / "waveforms" / f"{EVENT_ID}.m"], progress=False)
    assert ing["rejected"] == 0
    qml = tmp_path / "event.xml"
    Catalog([iceland_event()]).write(str(qml), format="QUAKEML")
    out = tmp_path / "rs_sds.png"
    r = tasks.plot_event_record_section(s, out, bulletin=qml)
    assert tasks.travel_times(s).path.name in {p.name for p in (s.cache_dir / "traveltime").glob("*.nc")}
    assert r["traces"] == 12 and r["picks_marked"] == 13 and r["phases"] == ["P", "S"]
    assert png_size(out)[0] > 800


def test_task_map_from_a_stored_product(tmp_path, iceland_settings, reb):
    from pipeline.store import db
    from pipeline.store.catalog import store_catalog
    from pipeline.store.products import ProductKey, write_product

    s = iceland_settings
    db.upgrade(s.database_url)
    t0, t1 = UTCDateTime("1995-01-16T07:00:00"), UTCDateTime("1995-01-16T08:00:00")
    with db.session_scope(s.database_url) as ses:
        write_product(ses, ProductKey("REB", float(t0.timestamp), float(t1.timestamp)), input_fingerprint="t",
                      config_hash="t", software_version="t", fill=lambda ss, p: store_catalog(ss, p, reb))
    r = tasks.plot_event_map(s, tmp_path / "reb.png", product="REB", start=str(t0), end=str(t1),
                             stations=REB_STATIONS)
    assert r["events"] == 2 and r["stations"] == 11 and r["ellipses"] == 2
    r = tasks.plot_residuals(s, tmp_path / "reb_res.png", product="REB", start=str(t0), end=str(t1))
    assert r["residuals"] == 16 and r["events"] == 2
    with pytest.raises(FileNotFoundError, match="no version 7"):
        tasks.plot_event_map(s, tmp_path / "x.png", product="REB", start=str(t0), end=str(t1), version=7)


def test_cli_plot_commands(tmp_path, monkeypatch):
    from pipeline.cli.main import cli

    monkeypatch.setenv("IDC_HOME", str(tmp_path / "home"))
    runner = CliRunner()
    cfg = str(PROJECT_ROOT / "config" / "test.toml")
    r = runner.invoke(cli, ["--config", cfg, "plot", "map", "--bulletin", str(REB), "--stations", str(REB_STATIONS),
                            "-o", str(tmp_path / "m.png")])
    assert r.exit_code == 0, r.output
    assert "2 events, 11 stations, 2 error ellipses" in r.output and png_size(tmp_path / "m.png")[0] > 500
    r = runner.invoke(cli, ["--config", cfg, "plot", "residuals", "--bulletin", str(REB), "--defining-only",
                            "-o", str(tmp_path / "r.png")])
    assert r.exit_code == 0, r.output
    assert "16 residuals of 2 events at 11 stations" in r.output
    r = runner.invoke(cli, ["--config", cfg, "plot", "map", "-o", str(tmp_path / "x.png")])
    assert r.exit_code != 0 and "give a bulletin file or --product" in r.output
    r = runner.invoke(cli, ["--config", cfg, "plot", "record-section", "--bulletin", str(REB), "--phase", "XYZ",
                            "--stations", str(REB_STATIONS), "-o", str(tmp_path / "x.png")])
    assert r.exit_code != 0 and "XYZ" in r.output
