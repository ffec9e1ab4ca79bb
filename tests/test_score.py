"""``idc score`` (issue 18 item 2): event matching with documented rules (pipeline.scoring).

Real data: the 27 QuakeMigrate events of the Iceland window (tests/data/iceland/quakemigrate) as the
reference, a reported bulletin made from them with planted differences whose outcome is known
event by event; the IDC's 1995 REB excerpt (GSE2.0) scored as a stored product and as a file."""
from __future__ import annotations

import csv
import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from obspy import UTCDateTime
from obspy.geodetics import gps2dist_azimuth

from pipeline import scoring, tasks
from pipeline.bulletin.read import read_bulletin
from pipeline.cli.main import cli
from pipeline.store import db
from pipeline.store.catalog import store_catalog
from pipeline.store.products import ProductKey, write_product
from tests.conftest import DATA, make_settings

QM = DATA / "iceland" / "quakemigrate"
REB = DATA / "bulletins" / "reb_1995_2events_gse2.txt"


def qm_reference() -> pd.DataFrame:
    rows = []
    for f in sorted(QM.glob("*.event")):
        with open(f) as fh:
            r = next(csv.DictReader(fh))
        rows.append((UTCDateTime(r["DT"]).timestamp, float(r["Y"]), float(r["X"]), float(r["Z"]),
                     float(r["ML"]) if r["ML"] else np.nan,
                     "ML", r["EventID"]))
    return pd.DataFrame(rows, columns=scoring.COLUMNS)


def _moved(lat, lon, km_north):
    return lat + km_north / 111.195, lon


def test_matching_rule_on_planted_differences():
    ref = qm_reference()
    assert len(ref) == 27
    rep = ref.copy()
    rep["id"] = ["ours-" + i for i in rep["id"]]
    # event 0: 3 s late and 5 km north (matched; error 5 km); event 1 and 2: not reported (missed);
    # event 3: reported twice (one match, one false); event 4: 12 s late (beyond 10 s: missed + false);
    # a false event 300 km away; depth +1 km and magnitude +0.2 on every reported event
    rep.loc[0, "time"] += 3.0
    rep.loc[0, "latitude"], _ = _moved(rep.loc[0, "latitude"], rep.loc[0, "longitude"], 5.0)
    rep.loc[4, "time"] += 12.0
    dup = rep.loc[[3]].assign(id="ours-dup", time=rep.loc[3, "time"] + 1.0)
    far = rep.loc[[5]].assign(id="ours-far", latitude=rep.loc[5, "latitude"] + 300 / 111.195)
    rep = pd.concat([rep.drop(index=[1, 2]), dup, far], ignore_index=True)
    rep["depth_km"] += 1.0
    rep["magnitude"] += 0.2
    sc = scoring.match_events(rep, ref)
    s = sc.summary()
    print(s)
    assert (s["reference_events"], s["reported_events"]) == (27, 27)
    assert s["matched"] == 27 - 3 and s["missed"] == 3 and s["false"] == 3
    assert sorted(sc.missed["id"]) == sorted(ref["id"].iloc[[1, 2, 4]])
    assert sorted(sc.false["id"]) == sorted(["ours-far", "ours-dup", "ours-" + ref["id"].iat[4]])
    assert s["matched_pct"] == pytest.approx(100 * 24 / 27, abs=0.05) and s["false_pct"] == pytest.approx(100 * 3 / 27, abs=0.05)
    # the distances: obspy's ellipsoidal distance agrees with the sphere within 0.5 %
    pairs = {sc.reference["id"].iat[i]: d for i, _, d, _ in sc.pairs}
    r0 = ref.iloc[0]
    want = gps2dist_azimuth(r0.latitude, r0.longitude, *_moved(r0.latitude, r0.longitude, 5.0))[0] / 1000.0
    assert pairs[r0["id"]] == pytest.approx(want, rel=0.005) and pairs[r0["id"]] == pytest.approx(5.0, abs=0.01)
    assert all(d < 1e-6 for k, d in pairs.items() if k != r0["id"])
    assert s["median_epi_km"] == 0.0 and s["p90_epi_km"] < 5.0
    assert s["depth_bias_km"] == pytest.approx(1.0) and s["magnitude_bias"] == pytest.approx(0.2)
    # one-to-one: the original event 3 (dt 0) wins over its copy (dt 1 s)
    assert any(sc.reported["id"].iat[j] == "ours-" + ref["id"].iat[3] for _, j, *_ in sc.pairs)
    # tighter tolerances: event 0 (3 s, 5 km) is no longer matched
    s2 = scoring.match_events(rep, ref, dt_s=2.0).summary()
    assert s2["matched"] == 23 and s2["missed"] == 4
    # within 4 km, event 0's report (5 km off) no longer matches it, but it is 8.1 s and < 4 km from
    # reference event 1, which was not reported: the rule takes it there (greedy, in time order)
    sc3 = scoring.match_events(rep, ref, distance_km=4.0)
    assert ref["id"].iat[0] in set(sc3.missed["id"]) and ref["id"].iat[1] not in set(sc3.missed["id"])
    assert sc3.summary()["matched"] == 24
    text = scoring.format_text(sc, "planted")
    assert "missed 3" in text and "false 3" in text and "ours-far" in text


def test_idc_score_a_stored_product_and_a_file(tmp_path):
    home = tmp_path / "home"
    s = make_settings(home, "")
    db.upgrade(s.database_url)
    reb, _ = read_bulletin(REB)
    t0, t1 = UTCDateTime(1995, 1, 16), UTCDateTime(1995, 1, 17)
    with db.session_scope(s.database_url) as ss:
        write_product(ss, ProductKey("REB", t0.timestamp, t1.timestamp), input_fingerprint="f", config_hash="c",
                      software_version="t", fill=lambda ss, p: store_catalog(ss, p, reb))
    ref = tmp_path / "ref.csv"
    # the reference: the REB's own origins, the first one moved 20 km east and 2 s earlier, the
    # last one left out (so one reported event is false)
    ev = sorted(reb, key=lambda e: e.origins[0].time)
    with open(ref, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["time", "latitude", "longitude", "depth_km", "mag"])
        for k, e in enumerate(ev[:-1]):
            o = e.preferred_origin() or e.origins[0]
            lon = o.longitude + (20.0 / (111.195 * np.cos(np.radians(o.latitude))) if k == 0 else 0.0)
            w.writerow([str(o.time - (2.0 if k == 0 else 0.0)), o.latitude, lon, (o.depth or 0) / 1000.0, ""])
    env = {"IDC_HOME": str(home)}
    res = CliRunner().invoke(cli, ["score", "--reference", str(ref), "--product", "reb", "--start", "1995-01-16",
                                   "--end", "1995-01-17", "--json"], env=env)
    assert res.exit_code == 0, res.output
    d = json.loads(res.output)
    print({k: d[k] for k in ("matched", "missed", "false", "median_epi_km", "p90_epi_km")})
    n = len(ev)
    assert (d["reference_events"], d["reported_events"], d["matched"], d["false"]) == (n - 1, n, n - 1, 1)
    assert max(p["epi_km"] for p in d["pairs"]) == pytest.approx(20.0, rel=0.01)
    assert len(d["false_events"]) == 1
    assert abs(UTCDateTime(d["false_events"][0]["time"]) - ev[-1].origins[0].time) < 0.01
    # the same through the text report, and a bulletin file scored against itself
    res = CliRunner().invoke(cli, ["score", "--reference", str(REB), "--bulletin", str(REB)], env=env)
    assert res.exit_code == 0 and f"matched {n} (100.0 %)" in res.output and "false 0 (0.0 %)" in res.output, res.output
    # a reference window without the REB's day: nothing to match, every reported event false
    res = CliRunner().invoke(cli, ["score", "--reference", str(ref), "--product", "REB", "--start", "1995-01-16",
                                   "--end", "1995-01-17", "--dt", "1", "--distance-km", "10"], env=env)
    assert res.exit_code == 0 and f"matched {n - 2}" in res.output, res.output
    # usage errors: one line each
    for args, msg in ((["--product", "REB"], "--start and --end"), ([], "--bulletin FILE or --product"),
                      (["--product", "REB", "--start", "1995-01-18", "--end", "1995-01-19"], "no REB product window")):
        res = CliRunner().invoke(cli, ["score", "--reference", str(ref), *args], env=env)
        assert res.exit_code != 0 and msg in res.output, (args, res.output)


def test_a_bad_reference_row_names_file_line_and_field(tmp_path):
    f = tmp_path / "ref.csv"
    f.write_text("time,latitude,longitude\n2014-08-24T00:01:08Z,64.7,-16.9\n2014-08-24T00:02:00Z,north,-16.9\n")
    with pytest.raises(scoring.ScoreInputError, match=r"ref.csv:3: field 'latitude': 'north' is not a number"):
        scoring.read_reference_csv(f)
    f.write_text("when,latitude,longitude\n")
    with pytest.raises(scoring.ScoreInputError, match="no 'time' column"):
        scoring.read_reference_csv(f)
    res = CliRunner().invoke(cli, ["score", "--reference", str(f), "--bulletin", str(REB)],
                             env={"IDC_HOME": str(tmp_path / "h")})
    assert res.exit_code == 1 and "no 'time' column" in res.output
    assert tasks.score_bulletin  # the task the CLI calls
