"""``idc radionuclide analyse FILE [--format json|text]`` on each real file: JSON keys, text table,
time; a corrupted message gives one line naming file, block and line."""
from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from pipeline.cli.main import cli

DATA = Path(__file__).parent / "data" / "radionuclide"
FILES = sorted(DATA.glob("*.PHD")) + sorted(DATA.glob("*.[sS]pe")) + sorted(DATA.glob("*.cnf"))
NUCLIDE_KEYS = {"nuclide", "detected", "net_counts", "net_counts_sigma", "lc_counts", "activity_Bq",
                "activity_sigma_Bq", "mda_Bq", "concentration_mBq_m3", "concentration_sigma_mBq_m3", "mdc_mBq_m3",
                "category", "relevant"}


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name[:24])
def test_analyse_json(path):
    t = time.perf_counter()
    r = CliRunner().invoke(cli, ["radionuclide", "analyse", str(path), "--format", "json"])
    wall = time.perf_counter() - t
    assert r.exit_code == 0, r.output
    rep = json.loads(r.output)
    print(f"{path.name}: analysis {rep['elapsed_s']:.2f} s (in-process command {wall:.2f} s), "
          f"{sum(n['detected'] for n in rep['nuclides'])} nuclides, category {rep['category']['level']}")
    assert rep["elapsed_s"] < 2.0
    assert rep["kind"] == ("beta-gamma" if path.suffix == ".PHD" else "gamma")
    assert rep["nuclides"] and all(NUCLIDE_KEYS <= set(n) for n in rep["nuclides"])
    assert {"file", "format", "station", "live_time_s", "category", "calibration", "notes"} <= set(rep)


def test_analyse_text_sample():
    r = CliRunner().invoke(cli, ["radionuclide", "analyse", str(DATA / "SAMPLE20211203070613605.PHD")])
    assert r.exit_code == 0, r.output
    assert "station MIX58" in r.output and "Xe-133 " in r.output and "mBq/m3" in r.output
    assert "ratio plot MIRC" in r.output and "civil" in r.output


def test_corrupted_message_one_line_error(tmp_path):
    bad = tmp_path / "bad.PHD"
    bad.write_text((DATA / "SAMPLE20211203070613605.PHD").read_text().replace("6308       4077", "6308       40#7"))
    r = CliRunner().invoke(cli, ["radionuclide", "analyse", str(bad)])
    assert r.exit_code == 1
    assert f"{bad}: block #g_Spectrum, line 120: counts: '40#7' is not an integer count" in r.output
    assert "Traceback" not in r.output


def test_console_script_wall_time():
    """The installed ``idc`` as a user runs it; the interpreter and the CLI's imports come first."""
    idc = Path(sys.executable).with_name("idc")
    if not idc.exists():
        pytest.skip("no idc console script next to the interpreter")
    t = time.perf_counter()
    subprocess.run([str(idc), "--help"], check=True, capture_output=True)
    startup = time.perf_counter() - t
    t = time.perf_counter()
    out = subprocess.run([str(idc), "radionuclide", "analyse", str(DATA / "SGM102432.spe"), "--format", "json"],
                         check=True, capture_output=True, text=True)
    wall = time.perf_counter() - t
    print(f"idc --help {startup:.2f} s; idc radionuclide analyse SGM102432.spe {wall:.2f} s wall, "
          f"analysis {json.loads(out.stdout)['elapsed_s']:.2f} s")
    assert wall < startup + 2.0
