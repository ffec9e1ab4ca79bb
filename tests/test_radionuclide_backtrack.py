"""Backtracking and fusion (issue 17, item 4).

* A FLEXPART-style NetCDF SRS file (written here with netCDF4 in FLEXPART's grid_time layout:
  spec001_mr(nageclass, pointspec, time, height, latitude, longitude), RELCOM/RELLAT1/RELLNG1/
  RELSTART/RELEND, ldirect/loutstep; **no real SRS file is available here**) reads back with the
  right samples, bins, layer and collection times.
* Fusion with the real REB excerpt (tests/data/bulletins/reb_1995_2events_gse2.txt, stored as an REB
  product): a synthetic source field placed on one of its two events names that event and not the
  other, whichever of the two it is placed on; moved 6 h later it names neither.
* The backward puff model: a point release planted in a sheared, turning wind is carried forward
  (fine RK2 steps) to a receptor; the sample collected there backtracks to a region holding the
  release, and a planted seismic event at that place and time is reported as consistent while a
  decoy elsewhere is not (through ``idc radionuclide fuse --wind-file``).
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import netCDF4
import numpy as np
import pytest
import xarray as xr
from click.testing import CliRunner
from obspy import UTCDateTime
from obspy.core.event import Catalog, Event, Origin

from pipeline import tasks
from pipeline.bulletin.read import read_bulletin
from pipeline.cli.main import cli
from pipeline.radionuclide import backtrack as bt
from pipeline.store.catalog import store_catalog
from pipeline.store.db import ensure_schema, session_scope
from pipeline.store.products import ProductKey, write_product

DATA = Path(__file__).parent / "data"
SAMPLE = DATA / "radionuclide" / "SAMPLE20211203070613605.PHD"
REB = DATA / "bulletins" / "reb_1995_2events_gse2.txt"


def _phd_with_collection(tmp_path: Path, start: UTCDateTime, stop: UTCDateTime, srid: str) -> Path:
    """The real MIX58 sample with its collection moved to [start, stop) and another SRID (the
    spectrum is unchanged; only where in time the air was sampled matters for backtracking)."""
    f = lambda t: t.strftime("%Y/%m/%d %H:%M:%S.") + f"{t.microsecond // 100000}"  # noqa: E731
    text = SAMPLE.read_text().replace("2021/12/02 01:00:25.0 2021/12/02 12:59:59.0",
                                      f"{f(start)} {f(stop)}").replace("58202112020111X", srid)
    out = tmp_path / f"{srid}.PHD"
    out.write_text(text)
    return out


def write_flexpart_srs(path: Path, ref: UTCDateTime, lats, lons, stamps_s, fields, names, rel_start_s, rel_end_s,
                       rel_lat, rel_lon, loutstep=-3600):
    """A backward-run grid_time file in FLEXPART's NetCDF layout: ``fields`` (release, time, lat, lon)
    go to the lowest layer; the second layer gets a decoy (must not be read as the surface)."""
    nrel, nt = len(names), len(stamps_s)
    with netCDF4.Dataset(path, "w") as ds:
        ds.createDimension("time", nt)
        ds.createDimension("longitude", len(lons))
        ds.createDimension("latitude", len(lats))
        ds.createDimension("height", 2)
        ds.createDimension("numspec", 1)
        ds.createDimension("pointspec", nrel)
        ds.createDimension("nageclass", 1)
        ds.createDimension("nchar", 45)
        ds.createDimension("numpoint", nrel)
        ds.setncatts({"title": "FLEXPART model output", "source": "FLEXPART v10.4 (test file)", "ldirect": np.int32(-1),
                      "loutstep": np.int32(loutstep), "loutaver": np.int32(loutstep), "loutsample": np.int32(900),
                      "iedate": ref.strftime("%Y%m%d"), "ietime": ref.strftime("%H%M%S"),
                      "outlon0": float(lons[0]), "outlat0": float(lats[0]), "dxout": float(lons[1] - lons[0]),
                      "dyout": float(lats[1] - lats[0])})
        t = ds.createVariable("time", "i4", ("time",))
        t.units = f"seconds since {ref.strftime('%Y-%m-%d %H:%M')}"
        t.calendar = "proleptic_gregorian"
        t[:] = stamps_s
        lo = ds.createVariable("longitude", "f4", ("longitude",))
        lo.units = "degrees_east"
        lo[:] = lons
        la = ds.createVariable("latitude", "f4", ("latitude",))
        la.units = "degrees_north"
        la[:] = lats
        h = ds.createVariable("height", "f4", ("height",))
        h.units = "meters"
        h[:] = [100.0, 500.0]
        rc = ds.createVariable("RELCOM", "S1", ("numpoint", "nchar"))
        rc[:] = netCDF4.stringtochar(np.array([n.ljust(45) for n in names], dtype="S45"))
        for name, vals in (("RELLNG1", rel_lon), ("RELLNG2", rel_lon), ("RELLAT1", rel_lat), ("RELLAT2", rel_lat)):
            v = ds.createVariable(name, "f4", ("numpoint",))
            v[:] = vals
        for name, vals in (("RELSTART", rel_start_s), ("RELEND", rel_end_s)):
            v = ds.createVariable(name, "i4", ("numpoint",))
            v.units = "s"
            v[:] = vals
        spec = ds.createVariable("spec001_mr", "f4", ("nageclass", "pointspec", "time", "height", "latitude", "longitude"),
                                 zlib=True)
        spec.units = "s"
        spec.long_name = "Xe-133 sensitivity"
        arr = np.zeros((1, nrel, nt, 2, len(lats), len(lons)), dtype="f4")
        arr[0, :, :, 0] = fields
        arr[0, :, :, 1] = fields[:, ::-1, ::-1, ::-1] * 7.0  # a different upper layer
        spec[:] = arr


def test_flexpart_layout_reads_as_sample_time_lat_lon(tmp_path):
    ref = UTCDateTime("2021-12-03T00:00:00")
    lats, lons = np.arange(50.0, 60.5, 0.5), np.arange(0.0, 20.5, 0.5)
    stamps = -3600 * np.arange(0, 48)  # backward: newest first, negative seconds
    f = np.zeros((2, 48, len(lats), len(lons)))
    f[0, 10, 4, 6] = 3.0   # stamp -10 h: the interval [-10 h, -9 h)
    f[1, 30, 12, 20] = 5.0
    p = tmp_path / "grid_time_20211203000000.nc"
    write_flexpart_srs(p, ref, lats, lons, stamps, f, ["58202112020111X", "OTHER"], [-43200, -43200], [0, 0],
                       [55.0, 55.0], [10.0, 10.0])
    srs = bt.read_srs_netcdf(p)
    assert srs.dims == ("sample", "time", "lat", "lon") and srs.shape == (2, 48, len(lats), len(lons))
    assert list(srs["sample"].values) == ["58202112020111X", "OTHER"]
    assert srs.attrs["time_step_s"] == 3600 and srs.attrs["ldirect"] == -1
    assert np.all(np.diff(srs["time"].values) > np.timedelta64(0))
    a = srs.sel(sample="58202112020111X")
    k, i, j = np.unravel_index(int(a.values.argmax()), a.shape)
    assert (str(a["time"].values[k])[:19], float(a["lat"][i]), float(a["lon"][j])) == ("2021-12-02T14:00:00", 52.0, 3.0)
    assert float(a.max()) == 3.0  # the lowest layer, not the upper one
    assert str(srs["collection_start"].values[0])[:19] == "2021-12-02T12:00:00"
    assert str(srs["collection_stop"].values[0])[:19] == "2021-12-03T00:00:00"
    assert float(srs["receptor_lat"][0]) == 55.0 and float(srs["receptor_lon"][0]) == 10.0
    with pytest.raises(bt.BacktrackError, match="cannot read as NetCDF"):
        bt.read_srs_netcdf(SAMPLE)


def _store_reb(settings):
    reb, _ = read_bulletin(REB)
    t0, t1 = UTCDateTime("1995-01-16T00:00:00"), UTCDateTime("1995-01-17T00:00:00")
    ensure_schema(settings.database_url)
    with session_scope(settings.database_url) as s:
        write_product(s, ProductKey("REB", t0.timestamp, t1.timestamp), input_fingerprint="f", config_hash="c",
                      software_version="t", fill=lambda ss, p: store_catalog(ss, p, reb))
    return [(o.time, o.latitude, o.longitude) for o in (e.preferred_origin() or e.origins[0] for e in reb.events)]


def _blob_srs(tmp_path, center, srid, shift_s=0.0):
    """A smooth synthetic SRS field (Gaussian in space, 3 h in time) peaking at ``center`` = (time,
    lat, lon), on a grid holding both REB events, for a sample collected the next day."""
    ref = UTCDateTime("1995-01-17T12:00:00")
    lats, lons = np.arange(30.0, 60.01, 1.0), np.arange(-140.0, 30.01, 1.0)
    stamps = -3600 * np.arange(0, 60)
    t_bins = np.array([ref.timestamp + s for s in stamps])  # backward: each bin starts at its stamp
    t, la, lo = center
    t = float(t) + shift_s
    g = (np.exp(-((t_bins + 1800 - t) / (3 * 3600.0)) ** 2)[:, None, None]
         * np.exp(-((lats[:, None] - la) ** 2 + ((lons[None, :] - lo) * math.cos(math.radians(la))) ** 2) / (2 * 3.0 ** 2)))
    p = tmp_path / f"shift{int(shift_s)}" / "grid_time_19950117120000.nc"
    p.parent.mkdir(exist_ok=True)
    write_flexpart_srs(p, ref, lats, lons, stamps, g[None] * 1e-3, [srid], [-12 * 3600], [0], [47.0], [8.0])
    return p


@pytest.mark.parametrize("which", [0, 1], ids=["greece-albania", "vancouver-island"])
def test_fusion_names_the_reb_event_the_source_field_is_placed_on(sqlite_settings, tmp_path, which):
    events = _store_reb(sqlite_settings)
    assert len(events) == 2
    srid = "TEST1995011700X"
    phd = _phd_with_collection(tmp_path, UTCDateTime("1995-01-17T00:00:00"), UTCDateTime("1995-01-17T12:00:00"), srid)
    assert tasks.ingest_files(sqlite_settings, [phd], progress=False)["accepted"] == 1
    srs = _blob_srs(tmp_path, events[which], srid)
    res = tasks.radionuclide_fuse(sqlite_settings, [srid], "REB", "1995-01-16T00:00", "1995-01-17T00:00",
                                  srs_files=[srs], threshold=0.3)
    assert res["events_examined"] == 2
    assert [(c["lat"], c["lon"]) for c in res["candidates"]] == [(pytest.approx(events[which][1]),
                                                                  pytest.approx(events[which][2]))]
    other = res["others"][0]
    assert (other["lat"], other["lon"]) == (pytest.approx(events[1 - which][1]), pytest.approx(events[1 - which][2]))
    assert "below the threshold" in other["reason"]
    assert res["candidates"][0]["score"] > 0.9
    assert res["region"]["cells"] > 0 and res["samples"][0]["station"] == "MIX58"
    assert res["notes"] == []  # the release is the sample's collection

    # the same field 6 h later: the event's place is right but its time is not
    late = _blob_srs(tmp_path, events[which], srid, shift_s=6 * 3600)
    res = tasks.radionuclide_fuse(sqlite_settings, [srid], "REB", "1995-01-16T00:00", "1995-01-17T00:00",
                                  srs_files=[late], threshold=0.3)
    assert res["candidates"] == []
    # a field computed for another collection is used, and said so
    other = _phd_with_collection(tmp_path, UTCDateTime("1995-01-18T00:00:00"), UTCDateTime("1995-01-18T12:00:00"),
                                 "TEST1995011800X")
    res = tasks.radionuclide_fuse(sqlite_settings, [str(other)], "REB", srs_files=[srs], threshold=0.3)
    assert len(res["candidates"]) == 1 and "differs from its collection by 24.0 h" in res["notes"][0]


def _wind(ds_times):
    """A sheared, turning wind on a 0.5-degree grid: u from 6 to 14 m/s with latitude, v swinging
    from -4 to +4 m/s over two days."""
    lats, lons = np.arange(30.0, 80.01, 0.5), np.arange(-60.0, 60.01, 0.5)
    t = (ds_times - ds_times[0]).astype("timedelta64[s]").astype(float)
    u = 6.0 + 8.0 * (lats[None, :, None] - 30.0) / 50.0 + 0.0 * t[:, None, None] + 0.0 * lons[None, None, :]
    v = 4.0 * np.sin(2 * math.pi * t / (4 * 86400.0))[:, None, None] + 0.0 * lats[None, :, None] + 0.0 * lons
    return xr.Dataset({"u": (("time", "lat", "lon"), u), "v": (("time", "lat", "lon"), v)},
                      coords={"time": ds_times, "lat": lats, "lon": lons})


def _forward(wind, t0: float, lat: float, lon: float, hours: float, dt: float = 60.0):
    """The planted release carried forward with the same wind (RK2, 60 s steps)."""
    r = bt.R_EARTH_M
    t = t0
    for _ in range(int(hours * 3600 / dt)):
        u, v = (x[0] for x in wind(np.array([t]), np.array([lat]), np.array([lon])))
        mlat = lat + math.degrees(v * dt / 2 / r)
        mlon = lon + math.degrees(u * dt / 2 / (r * math.cos(math.radians(lat))))
        u, v = (x[0] for x in wind(np.array([t + dt / 2]), np.array([mlat]), np.array([mlon])))
        lat += math.degrees(v * dt / r)
        lon += math.degrees(u * dt / (r * math.cos(math.radians(mlat))))
        t += dt
    return lat, lon


def test_planted_release_recovered_and_planted_event_consistent(sqlite_settings, tmp_path):
    times = np.arange(np.datetime64("2021-12-01T00:00"), np.datetime64("2021-12-06T00:00"), np.timedelta64(3, "h"))
    ds = _wind(times)
    wfile = tmp_path / "wind.nc"
    ds.to_netcdf(wfile)
    wind = bt.gridded_wind(ds)
    t_rel = UTCDateTime("2021-12-02T06:00:00")
    src = (52.0, -10.0)
    rlat, rlon = _forward(wind, t_rel.timestamp, *src, hours=30.0)
    assert 5.0 < rlon - src[1] < 30.0  # carried well east

    # a planted seismic event at the release (and a decoy 8 degrees south, same time) in a SEL3 product
    cat = Catalog()
    for lat, lon in (src, (src[0] - 8.0, src[1])):
        cat.events.append(Event(origins=[Origin(time=t_rel + 60, latitude=lat, longitude=lon, depth=0.0)]))
        cat.events[-1].preferred_origin_id = cat.events[-1].origins[0].resource_id
    ensure_schema(sqlite_settings.database_url)
    w0, w1 = UTCDateTime("2021-12-02T00:00:00"), UTCDateTime("2021-12-02T12:00:00")
    with session_scope(sqlite_settings.database_url) as s:
        write_product(s, ProductKey("SEL3", w0.timestamp, w1.timestamp), input_fingerprint="p", config_hash="c",
                      software_version="t", fill=lambda ss, p: store_catalog(ss, p, cat))
    # the sample collected at the receptor over the 12 h around the arrival
    phd = _phd_with_collection(tmp_path, t_rel + 24 * 3600, t_rel + 36 * 3600, "PLANTED2021X")
    env = {"IDC_HOME": str(sqlite_settings.home)}
    r = CliRunner().invoke(cli, ["radionuclide", "fuse", "--sample", str(phd), "--product", "sel3",
                                 "--wind-file", str(wfile), "--receptor", f"{rlat},{rlon}", "--hours-back", "48",
                                 "--start", "2021-12-02T00:00", "--end", "2021-12-02T12:00", "--json"], env=env)
    assert r.exit_code == 0, r.output
    res = json.loads(r.output)
    assert res["srs"]["source"] == "puff model"
    assert [(c["lat"], c["lon"]) for c in res["candidates"]] == [src], res
    assert res["others"][0]["lat"] == src[0] - 8.0
    reg = res["region"]
    assert reg["lat"][0] <= src[0] <= reg["lat"][1] and reg["lon"][0] <= src[1] <= reg["lon"][1]

    # the text output names the candidate
    r = CliRunner().invoke(cli, ["radionuclide", "fuse", "--sample", str(phd), "--product", "SEL3",
                                 "--wind-file", str(wfile), "--receptor", f"{rlat},{rlon}", "--hours-back", "48"],
                           env=env)
    assert r.exit_code == 0, r.output
    assert "SEL3 events" in r.output and "1 inside" in r.output and "  52.000   -10.000" in r.output


def test_region_of_two_samples_is_their_intersection():
    """Two receptors downwind of one release: each region alone is wide, the combined one holds the
    release and is smaller than either."""
    wind = bt.uniform_wind(10.0, 0.0)
    grid = bt.Grid(40.0, -30.0, 41, 121, 0.5, 0.5)
    a = bt.puff_srs(50.0, 5.0, "2021-12-02T12:00", "2021-12-03T00:00", wind=wind, grid=grid, name="a")
    b = bt.puff_srs(52.0, 8.0, "2021-12-02T18:00", "2021-12-03T06:00", wind=wind, grid=grid, name="b")
    both = bt.combine_fields([a, b])
    reg_all, _ = bt.source_region(both, 0.05, "all")
    reg_a, _ = bt.source_region(a, 0.05)
    reg_b, _ = bt.source_region(b, 0.05)
    assert 0 < int(reg_all.sum()) < min(int(reg_a.sum()), int(reg_b.sum()))
    with pytest.raises(bt.BacktrackError, match="threshold"):
        bt.source_region(a, 1.5)
