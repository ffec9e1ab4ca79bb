"""Readers of the REAL / LOC-FLOW Central Italy day (pipeline.io.real_picks) on the bundled files."""
from __future__ import annotations

import zipfile

import numpy as np
import pytest
from obspy import UTCDateTime

from pipeline.io.real_picks import (nd_to_block_layers, read_hypoinverse_sum, read_nd_model, read_phasenet_picks,
                                    read_real_pick_files, read_real_stations, write_velocity_csv)
from pipeline.picks import PICK_COLUMNS, TableError
from pipeline.traveltime.models import read_velocity_file
from tests import PROJECT_ROOT

ITALY = PROJECT_ROOT / "tests" / "data" / "italy"
DAY = UTCDateTime("2016-10-14")


@pytest.fixture(scope="module")
def stalta():
    return read_real_pick_files(ITALY / "20161014.zip", "2016-10-14")


def test_stalta_day(stalta, tmp_path):
    p = stalta
    assert len(p) == 85289 and p["station"].nunique() == 60
    assert (p["phase"] == "P").sum() == 35435 and (p["phase"] == "S").sum() == 49854
    assert list(p.columns[:len(PICK_COLUMNS)]) == list(PICK_COLUMNS)
    assert p["pick_id"].is_unique and p["time"].is_monotonic_increasing
    assert p["time"].min() >= DAY.timestamp and p["time"].max() < DAY.timestamp + 86400
    assert p["amplitude"].isna().all() and (p["weight"] > 0).all()
    # the first line of YR.ED19.P.txt, as written in the file
    with zipfile.ZipFile(ITALY / "20161014.zip") as zf:
        first = zf.read("20161014/YR.ED19.P.txt").decode().split("\n")[0].split()
    row = p[p["pick_id"] == "YR.ED19.P:1"].iloc[0]
    assert row["time"] == pytest.approx(DAY.timestamp + float(first[0]))
    assert row["weight"] == pytest.approx(float(first[1])) and row["amplitude_raw"] == pytest.approx(float(first[2]))
    # a folder of the same files reads the same
    with zipfile.ZipFile(ITALY / "20161014.zip") as zf:
        names = [n for n in zf.namelist() if n.endswith(("ED19.P.txt", "ED19.S.txt"))]
        zf.extractall(tmp_path, members=names)
    sub = read_real_pick_files(tmp_path, "2016-10-14")
    assert len(sub) == int((p["station"] == "ED19").sum())
    np.testing.assert_allclose(sub["time"], p.loc[p["station"] == "ED19", "time"])


def test_stations_cover_the_picks(stalta):
    st = read_real_stations(ITALY / "station.dat")
    assert len(st) == 60 and set(stalta["station"]) == set(st["station"])
    amo = st.set_index("station").loc["AM05"]
    assert (amo["longitude"], amo["latitude"], amo["elevation_m"], amo["network"]) == (13.3528, 42.9773, 464.0, "XO")


def test_phasenet_day():
    p = read_phasenet_picks(ITALY / "phasenet_picks.csv")
    assert len(p) == 115440 and p["station"].nunique() == 56
    assert set(p["phase"]) == {"P", "S"} and p["pick_id"].is_unique
    assert p["time"].min() >= DAY.timestamp and p["time"].max() < DAY.timestamp + 86400 + 60
    assert p["probability"].between(0, 1).all()
    arro = p[(p["station"] == "ARRO") & (p["phase"] == "P")]
    assert arro["time"].min() == pytest.approx(DAY.timestamp + 16.70)  # first p_idx 1670 at 100 Hz


def test_locflow_catalogue():
    cat = read_hypoinverse_sum(ITALY / "location_hypoinverse_catOut.sum")
    assert len(cat) == 60 and cat["mag"].isna().sum() == 3
    assert cat["time"].iloc[0] == pytest.approx(UTCDateTime("2016-10-14T00:00:08.88").timestamp)
    assert (cat.iloc[0][["latitude", "longitude", "depth_km", "mag"]].to_list()
            == [42.8124, 13.2169, 8.38, 0.93])
    assert cat["latitude"].between(42.5, 43.0).all() and cat["longitude"].between(13.0, 13.5).all()
    assert cat["time"].max() < DAY.timestamp + 3600  # the reference covers the first hour only


def test_itvel_model_as_velocity_file(tmp_path):
    nd = read_nd_model(ITALY / "itvel.nd")
    assert nd.attrs["moho_km"] == 31.0
    layers = nd_to_block_layers(nd)
    assert layers["Depth"].iloc[-1] == 31.0 and layers["Vp"].iloc[-1] == pytest.approx(8.11061)
    # vertical P time through the crust: blocks vs the exact gradient integral of the .nd rows
    exact = 0.0
    z, v = nd["depth_km"].to_numpy(), nd["vp_km_s"].to_numpy()
    for i in range(len(z) - 1):
        if z[i + 1] > z[i] and z[i + 1] <= 31.0:
            dz, v0, v1 = z[i + 1] - z[i], v[i], v[i + 1]
            exact += dz / v0 if v0 == v1 else dz * np.log(v1 / v0) / (v1 - v0)
    d = layers["Depth"].to_numpy()
    blocks = float(np.sum(np.diff(d) / layers["Vp"].to_numpy()[:-1]))
    assert blocks == pytest.approx(exact, abs=0.002)
    path = write_velocity_csv(layers, tmp_path / "itvel.csv")
    m = read_velocity_file(path)
    assert m.moho_depth_km == 31.0 and len(m.top_km) == len(layers)


def test_malformed_lines_name_file_and_line(tmp_path):
    bad = tmp_path / "IV.XX.P.txt"
    bad.write_text("12.5 0.3 0.01\nnot a pick\n")
    with pytest.raises(TableError, match=r"IV\.XX\.P\.txt: line 2"):
        read_real_pick_files(tmp_path, "2016-10-14")
    (tmp_path / "IV.XX.P.txt").unlink()
    (tmp_path / "picks.txt").write_text("1 2 3\n")
    with pytest.raises(TableError, match="not a REAL pick file name"):
        read_real_pick_files(tmp_path, "2016-10-14")
    sta = tmp_path / "station.dat"
    sta.write_text("13.1 42.1 IV AAA HHZ 0.1\n13.1 IV BBB\n")
    with pytest.raises(TableError, match="station.dat: line 2"):
        read_real_stations(sta)
