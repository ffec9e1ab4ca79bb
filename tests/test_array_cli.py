"""``idc array detect``: element files + StationXML -> one detection table of the array."""
from __future__ import annotations

import numpy as np
import pandas as pd
from click.testing import CliRunner

from pipeline.cli.main import cli
from tests.arrays_planted import array_inventory, arrivals, noise_pool, plant, signal


def test_idc_array_detect_writes_one_table_for_the_array(tmp_path):
    r = arrivals().query("set == 'heldout' and array == 'ARCES'").iloc[0]
    inv = array_inventory("ARCES")
    st = plant(signal(int(r["id"])), inv, r["backazimuth"], r["slowness"], noise_pool("heldout"), 5.0,
               np.random.default_rng(2))
    files = []
    for tr in st:  # one file per element, as an array is ingested
        p = tmp_path / f"{tr.id}.mseed"
        tr.write(str(p), format="MSEED")
        files.append(str(p))
    xml = tmp_path / "IM.ARCES.xml"
    inv.write(str(xml), format="STATIONXML")
    out = tmp_path / "detections.csv"
    res = CliRunner().invoke(cli, ["array", "detect", *files, "--inventory", str(xml), "--array", "ARCES",
                                   "-o", str(out)])
    assert res.exit_code == 0, res.output
    assert "ARCES" in res.output and "26 elements" in res.output
    df = pd.read_csv(out)
    assert set(df["station"]) == {"ARCES"}
    for col in ("time", "phase", "backazimuth", "backazimuth_uncertainty", "slowness", "slowness_uncertainty",
                "fstat", "semblance", "technology"):
        assert col in df.columns, col
    best = df.loc[df["fstat"].idxmax()]
    assert abs((best["backazimuth"] - r["backazimuth"] + 180) % 360 - 180) <= 10
    assert abs(best["slowness"] - r["slowness"]) <= 1.5
    assert best["technology"] == "seismic"
    # the association's reader takes the table as it is (array columns checked, backazimuth and
    # slowness kept for the associator)
    from pipeline.picks import read_picks_csv

    picks = read_picks_csv(out)
    assert len(picks) == len(df) and set(picks["station"]) == {"ARCES"}
    assert np.allclose(np.sort(picks["backazimuth"].to_numpy()), np.sort(df["backazimuth"].to_numpy()), equal_nan=True)
    bad = tmp_path / "bad.csv"
    df.assign(fstat="high").to_csv(bad, index=False)
    try:
        read_picks_csv(bad)
    except ValueError as exc:
        assert "column 'fstat' is not a number" in str(exc)
    else:
        raise AssertionError("a non-numeric fstat was accepted")


def test_idc_array_detect_names_a_missing_element(tmp_path):
    inv = array_inventory("FINES")
    st = plant(signal(0), inv, 200.0, 15.0, noise_pool("tune"), 5.0, np.random.default_rng(1))
    st[0].stats.station = "FIX9"
    p = tmp_path / "all.mseed"
    st.write(str(p), format="MSEED")
    xml = tmp_path / "inv.xml"
    inv.write(str(xml), format="STATIONXML")
    res = CliRunner().invoke(cli, ["array", "detect", str(p), "--inventory", str(xml), "-o", str(tmp_path / "o.csv")])
    assert res.exit_code != 0
    assert "FIX9" in res.output and "Traceback" not in res.output
