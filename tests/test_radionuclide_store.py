"""Radionuclide samples in the store (issue 17): ``idc ingest`` recognises IMS2.0 PHD messages in a
drop folder next to waveforms, keeps, analyses and stores them (migration 0009: rn_sample,
rn_analysis, rn_nuclide); a damaged message is quarantined with one line naming file, block and
line while the rest of the batch goes on; the same file again changes nothing, ``--force`` and a
corrected copy of the same sample replace it, never duplicate. Real MIX58 messages throughout."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from pipeline import tasks
from pipeline.cli.main import cli
from pipeline.radionuclide.analyse import analyse_file
from pipeline.radionuclide.ingest import store_root
from pipeline.store.db import session_scope
from pipeline.store.models import IngestedFile, IngestError, RnAnalysis, RnNuclide, RnSample

DATA = Path(__file__).parent / "data" / "radionuclide"
PHDS = sorted(DATA.glob("*.PHD"))
SAMPLE = DATA / "SAMPLE20211203070613605.PHD"
WAVEFORM = Path(__file__).parent / "data" / "iceland" / "waveforms"
Z7 = Path(__file__).resolve().parents[1] / "stations" / "Z7.xml"


def _damaged(folder: Path) -> Path:
    bad = folder / "DAMAGED.PHD"
    bad.write_text(SAMPLE.read_text().replace("6308       4077", "6308       40#7"))
    return bad


def _counts(settings) -> tuple[int, int, int]:
    with session_scope(settings.database_url) as s:
        return (s.scalar(select(func.count()).select_from(RnSample)),
                s.scalar(select(func.count()).select_from(RnAnalysis)),
                s.scalar(select(func.count()).select_from(RnNuclide)))


def test_ingest_drop_folder_stores_analyses_and_quarantines_damaged(settings, tmp_path):
    drop = tmp_path / "drop"
    drop.mkdir()
    for p in PHDS:
        shutil.copy(p, drop / p.name)
    bad = _damaged(drop)
    lines: list[str] = []
    res = tasks.ingest_files(settings, [drop], progress=False, echo=lines.append)
    assert res["accepted"] == 4 and res["rejected"] == 1
    # one line naming file, block and line; the message quarantined like a bad miniSEED
    rej = [ln for ln in lines if ln.startswith("REJECTED")]
    assert rej == [f"REJECTED {bad}: corrupt: {bad}: block #g_Spectrum, line 120: counts: '40#7' is not an "
                   "integer count"]
    qpath = Path(res["rejections"][0]["quarantine_path"])
    assert qpath.is_file() and qpath.read_bytes() == bad.read_bytes()
    assert qpath.is_relative_to(settings.quarantine_dir)
    with session_scope(settings.database_url) as s:
        errs = list(s.scalars(select(IngestError)))
        assert [(e.kind, e.resolved) for e in errs] == [("corrupt", False)] and "line 120" in errs[0].message
        files = {f.source: f.format for f in s.scalars(select(IngestedFile))}
    assert sorted(files) == sorted(str(drop / p.name) for p in PHDS) and set(files.values()) == {"IMS2.0 PHD"}

    kinds = {(x["data_type"], x["qualifier"]) for x in res["radionuclide_samples"]}
    assert kinds == {("SAMPLEPHD", "FULL"), ("SAMPLEPHD", "PREL"), ("CALIBPHD", "FULL"), ("SPIKEPHD", "PREL")}
    rows = tasks.radionuclide_samples(settings, station="MIX58")
    assert len(rows) == 4 and all(r["error"] == "" and r["kind"] == "beta-gamma" for r in rows)
    full = next(r for r in rows if r["srid"] == "58202112020111X")
    assert (full["detector"], full["data_type"], full["qualifier"]) == ("MIX58_222", "SAMPLEPHD", "FULL")
    assert full["measurement_id"] == "MIX58_222-2021/12/02-17:00:54.4"
    assert full["detector_bk_measurement_id"] == "MIX58_222-2021/08/16-06:20:34.8"
    assert full["collection_stop"] - full["collection_start"] == pytest.approx(12 * 3600 - 26, abs=0.01)
    assert full["air_volume_m3"] == pytest.approx(22.3474140)
    assert full["live_time_s"] == pytest.approx(50400.0)
    # the stored copy is the message, byte for byte
    stored = store_root(settings) / full["file"]
    assert stored.read_bytes() == SAMPLE.read_bytes()
    # nuclide rows are the analysis of the file (activity concentrations with MDCs)
    rep = analyse_file(SAMPLE)
    want = {n["nuclide"]: n for n in rep["nuclides"]}
    got = {n["nuclide"]: n for n in full["nuclides"]}
    assert set(got) == {"Xe-131m", "Xe-133m", "Xe-133", "Xe-135"}
    for nuc, n in got.items():
        assert n["detected"] == want[nuc]["detected"]
        assert n["concentration_mbq_m3"] == pytest.approx(want[nuc]["concentration_mBq_m3"])
        assert n["mdc_mbq_m3"] == pytest.approx(want[nuc]["mdc_mBq_m3"]) and n["mdc_mbq_m3"] > 0
    assert got["Xe-133"]["detected"] and got["Xe-133"]["concentration_mbq_m3"] > got["Xe-133"]["mdc_mbq_m3"]
    # the calibration spike has no collection: activities in Bq, no concentrations
    calib = next(r for r in rows if r["data_type"] == "CALIBPHD")
    assert calib["collection_start"] is None
    xe133 = next(n for n in calib["nuclides"] if n["nuclide"] == "Xe-133")
    assert xe133["activity_bq"] > 0 and xe133["concentration_mbq_m3"] is None


def test_reingest_same_file_changes_nothing_force_and_corrected_copy_replace(settings, tmp_path):
    drop = tmp_path / "drop"
    drop.mkdir()
    for p in PHDS:
        shutil.copy(p, drop / p.name)
    tasks.ingest_files(settings, [drop], progress=False, echo=lambda m: None)
    before = _counts(settings)
    ids = {r["srid"]: r["id"] for r in tasks.radionuclide_samples(settings)}
    assert before[0] == 4 and before[1] == 4 and before[2] == 16

    again = tasks.ingest_files(settings, [drop], progress=False, echo=lambda m: None)
    assert again["accepted"] == 0 and again["already_ingested"] == 4 and _counts(settings) == before
    renamed = tmp_path / "renamed.PHD"  # same content under another name: by content hash
    shutil.copy(SAMPLE, renamed)
    assert tasks.ingest_files(settings, [renamed], progress=False)["already_ingested"] == 1

    forced = tasks.ingest_files(settings, [drop / SAMPLE.name], progress=False, force=True)
    assert forced["accepted"] == 1 and forced["radionuclide_samples"][0]["replaced"]
    assert _counts(settings) == before

    # the station sends the same sample again with a changed comment and one more count: replaced
    corrected = tmp_path / "corrected.PHD"
    corrected.write_text(SAMPLE.read_text().replace("Histogram data", "Histogram data (re-sent)")
                         .replace("6308       4077", "6308       4078"))
    res = tasks.ingest_files(settings, [corrected], progress=False)
    assert res["accepted"] == 1 and res["radionuclide_samples"][0]["replaced"]
    assert _counts(settings) == before
    rows = {r["srid"]: r for r in tasks.radionuclide_samples(settings)}
    assert {k: r["id"] for k, r in rows.items()} == ids
    assert rows["58202112020111X"]["source"] == str(corrected)
    assert (store_root(settings) / rows["58202112020111X"]["file"]).read_bytes() == corrected.read_bytes()
    assert len(list(store_root(settings).rglob("*.PHD"))) == 4


def test_repaired_message_accepted_later(sqlite_settings, tmp_path):
    """A damaged message is rejected; the repaired file under the same name is a new input and
    is stored (the rejection of the damaged content stays on record)."""
    drop = tmp_path / "drop"
    drop.mkdir()
    bad = _damaged(drop)
    res = tasks.ingest_files(sqlite_settings, [bad], progress=False, echo=lambda m: None)
    assert res["rejected"] == 1 and _counts(sqlite_settings)[0] == 0
    # the operator repairs it; a corrected message is new content, the old rejection stays recorded
    bad.write_text(SAMPLE.read_text())
    res = tasks.ingest_files(sqlite_settings, [bad], progress=False)
    assert res["accepted"] == 1 and _counts(sqlite_settings)[0] == 1


def test_phd_and_waveforms_in_one_batch(sqlite_settings, tmp_path):
    """PHD messages and miniSEED of one drop folder: each input goes its own way in one batch."""
    tasks.load_stations(sqlite_settings, [str(Z7)])
    drop = tmp_path / "drop"
    drop.mkdir()
    wf = sorted(WAVEFORM.glob("*.m"))[0]
    shutil.copy(wf, drop / wf.name)
    shutil.copy(SAMPLE, drop / SAMPLE.name)
    _damaged(drop)
    res = tasks.ingest_files(sqlite_settings, [drop], progress=False, echo=lambda m: None)
    assert res["rejected"] == 1 and len(res["radionuclide_samples"]) == 1
    assert res["accepted"] == 2 and res["traces"] > 0 and res["day_files_written"] > 0
    assert _counts(sqlite_settings)[0] == 1


def test_cli_ingest_and_samples(tmp_path):
    env = {"IDC_HOME": str(tmp_path / "home")}
    drop = tmp_path / "drop"
    drop.mkdir()
    shutil.copy(SAMPLE, drop / SAMPLE.name)
    bad = _damaged(drop)
    r = CliRunner().invoke(cli, ["ingest", str(drop)], env=env)
    assert r.exit_code == 3, r.output  # a rejected input: exit status 3, like a bad miniSEED
    assert "radionuclide SAMPLEPHD MIX58 MIX58_222 FULL sample 1: Xe-131m, Xe-133m, Xe-133, Xe-135" in r.output
    assert f"{bad}: block #g_Spectrum, line 120" in r.output
    assert "Traceback" not in r.output
    r = CliRunner().invoke(cli, ["radionuclide", "samples", "--json"], env=env)
    assert r.exit_code == 0, r.output
    rows = json.loads(r.output)
    assert [x["srid"] for x in rows] == ["58202112020111X"]
    r = CliRunner().invoke(cli, ["radionuclide", "samples", "--station", "MIX58"], env=env)
    assert "SRID 58202112020111X" in r.output and "1 samples" in r.output
