"""The package installs and runs outside the repository (issue 15, item 4).

A wheel is built from the repository's package files (pyproject.toml, README.md, pipeline/,
copied to a temporary folder so the build writes no build/ or *.egg-info into the checkout while
other tests run), installed NON-editable into a fresh venv outside the repository, and the
installed ``idc`` runs from a folder outside the repository: ``--help``, ``db upgrade``,
``stations load``, ``ingest`` and ``process`` on a temporary IDC_HOME. Offline: the venv has no
pip or packages of its own; a ``.pth`` file gives it the dependencies of the project's venv (a
folder of links to its site-packages *without* the editable idc-pipeline), ``pip`` installs the
wheel with ``--no-deps --no-index``.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import time
import zipfile
from pathlib import Path

import pytest

from tests import PROJECT_ROOT
from tests.conftest import DATA

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

WAVEFORMS = sorted((DATA / "iceland" / "waveforms").glob("*.m"))[:3]  # 00:01:09 .. 00:01:28 and on


def _run(cmd, cwd, env, timeout=120):
    t = time.perf_counter()
    r = subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    print(f"  {' '.join(str(c) for c in cmd[:4])} ...: {time.perf_counter() - t:.1f} s (exit {r.returncode})")
    return r


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """(venv, wheel): the repository installed from a wheel into a fresh venv outside it."""
    tmp = tmp_path_factory.mktemp("install")
    assert PROJECT_ROOT not in tmp.resolve().parents
    env = {k: v for k, v in os.environ.items() if not k.startswith(("IDC", "PYTHON", "PIP_", "VIRTUAL_ENV"))}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    src = tmp / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(PROJECT_ROOT / name, src / name)
    shutil.copytree(PROJECT_ROOT / "pipeline", src / "pipeline", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    r = _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-q",
              "-w", tmp / "wheels", src], tmp, env)
    assert r.returncode == 0, r.stderr[-3000:]
    (wheel,) = (tmp / "wheels").glob("idc_pipeline-*.whl")

    venv = tmp / "venv"
    r = _run([sys.executable, "-m", "venv", "--without-pip", venv], tmp, env)
    assert r.returncode == 0, r.stderr
    deps = tmp / "deps"  # the project venv's packages, except idc-pipeline itself (editable there)
    deps.mkdir()
    site = Path(sysconfig.get_paths()["purelib"])
    for p in site.iterdir():
        if p.name.startswith(("idc_pipeline", "__editable__", "pipeline")) or p.suffix == ".pth":
            continue
        (deps / p.name).symlink_to(p)
    new_site = Path(subprocess.check_output([venv / "bin" / "python", "-c",
                                             "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                            text=True, env=env).strip())
    (new_site / "_idc_test_deps.pth").write_text(f"{deps}\n")
    r = _run([venv / "bin" / "python", "-m", "pip", "install", "--no-deps", "--no-index", "-q", wheel], tmp, env)
    assert r.returncode == 0, r.stderr[-3000:]
    return venv, wheel, env


def test_wheel_ships_the_default_configuration_and_the_dags(installed):
    _, wheel, _ = installed
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "pipeline/config/default.toml" in names
    assert {"pipeline/dags/sel.py", "pipeline/dags/ingest.py", "pipeline/dags/distribute.py"} <= names
    assert "pipeline/store/migrations/env.py" in names
    # one copy: the wheel's file is the package's file (the repository's config/default.toml links to it)
    zipped = zipfile.ZipFile(wheel).read("pipeline/config/default.toml")
    assert zipped == (PROJECT_ROOT / "pipeline" / "config" / "default.toml").read_bytes()
    assert (PROJECT_ROOT / "config" / "default.toml").read_bytes() == zipped


def test_installed_idc_runs_outside_the_repository(installed, tmp_path):
    venv, _, env = installed
    idc = venv / "bin" / "idc"
    work = tmp_path / "work"  # the cwd: outside the repository, holding only copies of inputs
    (work / "stations").mkdir(parents=True)
    shutil.copy2(PROJECT_ROOT / "stations" / "Z7.xml", work / "stations" / "Z7.xml")
    shutil.copy2(DATA / "iceland" / "inputs" / "iceland_vmodel.txt", work / "iceland_vmodel.txt")
    cfg = (PROJECT_ROOT / "config" / "demo-iceland.toml").read_text()
    cfg = cfg.replace("tests/data/iceland/inputs/iceland_vmodel.txt", "iceland_vmodel.txt")
    cfg = cfg.replace('data = "tests/data/iceland"', 'data = ""')  # no demo data out here
    (work / "site.toml").write_text(cfg)
    env = {**env, "IDC_HOME": str(tmp_path / "home"), "IDC_CONFIG": str(work / "site.toml")}

    # the installed package, with its own default configuration and DAG folder
    probe = ("import pipeline, pipeline.settings as s, pipeline.orchestration as o; "
             "print(pipeline.__file__); print(s.DEFAULT_CONFIG); print(o.DAGS_FOLDER)")
    r = _run([venv / "bin" / "python", "-c", probe], work, env)
    assert r.returncode == 0, r.stderr
    site = str(venv.resolve())
    lines = r.stdout.split()
    assert all(line.startswith(site) for line in lines), lines
    assert not any(str(PROJECT_ROOT) in line for line in lines)
    assert Path(lines[1]).is_file() and (Path(lines[2]) / "sel.py").is_file()

    for args in (["--help"], ["demo", "--help"], ["process", "--help"]):
        r = _run([idc, *args], work, env)
        assert r.returncode == 0 and "Usage: idc" in r.stdout, r.stderr
    r = _run([idc, "db", "upgrade"], work, env)
    assert r.returncode == 0 and "->" in r.stdout, r.stderr
    r = _run([idc, "stations", "load", "stations/Z7.xml"], work, env)
    assert r.returncode == 0 and "12 new" in r.stdout, r.stderr
    r = _run([idc, "ingest", *WAVEFORMS], work, env)
    assert r.returncode == 0 and "accepted 3" in r.stdout, r.stdout + r.stderr
    r = _run([idc, "process", "--product", "SEL1", "--start", "2014-08-24T00:01", "--end", "2014-08-24T00:03"],
             work, env)
    assert r.returncode == 0, r.stderr
    assert "SEL1" in r.stdout and "version 1" in r.stdout and " events" in r.stdout
    assert list((tmp_path / "home" / "products" / "SEL1").glob("SEL1_*_v1.xml"))
    # the demo's data is not installed: one line saying which setting points at it
    r = _run([idc, "demo"], work, env)
    assert r.returncode != 0 and "[demo] data is not set" in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr
