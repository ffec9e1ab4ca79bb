"""One error root (issue 15, item 5): every error class of the library derives from
pipeline.errors.IdcError (keeping its other bases), the ``idc`` command prints one line for each
(the traceback only with ``--debug`` / ``IDC_DEBUG=1``), and the settings check every override
when they are loaded."""
from __future__ import annotations

import ast
import importlib
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from pipeline.errors import ConfigError, IdcError, InputError, ParameterError, StoreError
from pipeline.settings import load_settings
from tests import PROJECT_ROOT
from tests.conftest import share_tables

PACKAGE = PROJECT_ROOT / "pipeline"
IDC = Path(sys.executable).parent / "idc"
_BUILTIN_BASES = {"Exception", "ValueError", "RuntimeError", "PermissionError", "OSError", "KeyError", "TypeError",
                  "LookupError", "IOError"}


def _error_classes() -> list[tuple[str, str]]:
    """(module, class) of every public exception class defined in pipeline/ (by the source)."""
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PROJECT_ROOT).with_suffix("")
        if "dags" in rel.parts or "migrations" in rel.parts:
            continue
        module = ".".join(rel.parts[:-1] if rel.name == "__init__" else rel.parts)
        for node in ast.parse(path.read_text()).body:
            if not isinstance(node, ast.ClassDef) or node.name.startswith("_"):
                continue
            bases = {getattr(b, "id", getattr(b, "attr", "")) for b in node.bases}
            if bases & _BUILTIN_BASES or any(b.endswith(("Error", "Failure")) and b != "IngestError" for b in bases):
                found.append((module, node.name))
    return found


def test_errors_module_is_the_bottom_layer():
    tree = ast.parse((PACKAGE / "errors.py").read_text())
    imported = [n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
    imported += [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
    assert not [m for m in imported if m and m.startswith("pipeline")], imported


def test_every_error_class_has_the_one_root():
    classes = _error_classes()
    assert len(classes) >= 25, classes
    outside = []
    for module, name in classes:
        cls = getattr(importlib.import_module(module), name)
        if isinstance(cls, type) and issubclass(cls, BaseException) and not issubclass(cls, IdcError):
            outside.append(f"{module}.{name}")
    assert not outside, f"error classes outside pipeline.errors.IdcError: {outside}"


def test_the_other_bases_are_kept():
    """``except ValueError`` (and RuntimeError, PermissionError) code keeps catching them."""
    from pipeline.accounts.policy import Refused
    from pipeline.io.columns import FormatError
    from pipeline.orchestration import AirflowRunError
    from pipeline.picks import TableError
    from pipeline.settings import ConfigError as SettingsConfigError
    from pipeline.stations.inventory import StationFileError
    from pipeline.store.db import StoreError as DbStoreError

    assert SettingsConfigError is ConfigError and DbStoreError is StoreError
    for cls in (FormatError, TableError, StationFileError, ConfigError, InputError, ParameterError):
        assert issubclass(cls, ValueError) and issubclass(cls, IdcError), cls
    assert issubclass(StoreError, RuntimeError) and issubclass(AirflowRunError, RuntimeError)
    assert issubclass(Refused, PermissionError)


def test_errors_carry_what_they_name():
    e = InputError("not a number", path="/data/picks.csv", field="row 3: time")
    assert str(e) == "/data/picks.csv: row 3: time: not a number"
    assert (e.path, e.field) == ("/data/picks.csv", "row 3: time") and isinstance(e, ValueError)
    assert str(InputError("plain")) == "plain" and InputError("plain").path is None
    p = ParameterError("must be positive", parameter="--limit")
    assert str(p) == "--limit: must be positive" and p.parameter == "--limit"
    c = ConfigError("unknown key", key="detection.x", source="site.toml")
    assert str(c) == "site.toml: detection.x: unknown key" and (c.key, c.source) == ("detection.x", "site.toml")
    assert StoreError("down", database="sqlite:///x").database == "sqlite:///x"


# ----------------------------------------------------------------------------- settings overrides
@pytest.mark.parametrize("preset", ["auto", "default", "local"])
def test_a_typo_in_detection_overrides_fails_at_load_naming_key_and_file(tmp_path, preset):
    cfg = tmp_path / "site.toml"
    cfg.write_text(f'[detection]\npreset = "{preset}"\noverrides = {{trigger_onn = 4.5}}\n')
    with pytest.raises(ConfigError) as err:
        load_settings(cfg, env={})
    msg = str(err.value)
    assert "\n" not in msg, msg
    assert f"{cfg}: detection.overrides.trigger_onn: unknown key" in msg
    assert err.value.key == "detection.overrides.trigger_onn" and err.value.source == str(cfg)
    # a good override still loads, and is used
    cfg.write_text(f'[detection]\npreset = "{preset}"\noverrides = {{trigger_on = 4.5}}\n')
    assert load_settings(cfg, env={}).detection.overrides == {"trigger_on": 4.5}


def test_bad_override_values_name_their_source(tmp_path):
    env = {"IDC__DETECTION__OVERRIDES": "{sta_s = -1}"}
    with pytest.raises(ConfigError, match=r"^invalid configuration: environment variable IDC__DETECTION__OVERRIDES: "
                                          r"detection\.overrides\.sta_s: Input should be greater than 0$"):
        load_settings(env=env)
    cfg = tmp_path / "site.toml"
    cfg.write_text('[detection]\noverrides = {s_detection = {sta_ss = 1}, chunk_s = "long"}\n')
    with pytest.raises(ConfigError) as err:
        load_settings(cfg, env={})
    lines = str(err.value).splitlines()
    assert lines[0] == "invalid configuration:" and len(lines) == 3
    assert f"{cfg}: detection.overrides.s_detection.sta_ss: unknown key" in str(err.value)
    assert f"{cfg}: detection.overrides.chunk_s: Input should be a valid number" in str(err.value)
    # an environment override of an unknown section or key fails at load too
    with pytest.raises(ConfigError, match="environment variable IDC__DETECTON__PRESET: detecton: unknown key"):
        load_settings(env={"IDC__DETECTON__PRESET": "local"})


# ----------------------------------------------------------------------------- the idc command
def _idc(args, tmp_path, **extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith("IDC")}
    env.update(IDC_HOME=str(share_tables(tmp_path / "home")), **extra)
    return subprocess.run([str(IDC), *args], capture_output=True, text=True, env=env, cwd=PROJECT_ROOT, timeout=120)


def test_idc_prints_one_line_and_the_traceback_only_with_debug(tmp_path):
    cfg = tmp_path / "site.toml"
    cfg.write_text('[detection]\noverrides = {trigger_onn = 4.5}\n')
    r = _idc(["--config", str(cfg), "config", "show"], tmp_path)
    assert r.returncode == 1 and r.stdout == ""
    assert r.stderr.strip() == (f"Error: invalid configuration: {cfg}: detection.overrides.trigger_onn: "
                                "unknown key (typo? not a DetectionConfig field)"), r.stderr
    for args, extra in ((["--debug", "--config", str(cfg), "config", "show"], {}),
                        (["--config", str(cfg), "config", "show"], {"IDC_DEBUG": "1"})):
        r = _idc(args, tmp_path, **extra)
        assert r.returncode == 1 and "Traceback (most recent call last)" in r.stderr, r.stderr
        assert "pipeline.errors.ConfigError: invalid configuration" in r.stderr


def test_an_unreachable_database_is_one_line(tmp_path):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens there
    url = f"postgresql+psycopg://idc:secret@127.0.0.1:{port}/idc"
    for args in (["db", "upgrade"], ["process", "--product", "SEL1", "--start", "2014-08-24",
                                     "--end", "2014-08-24T00:20"]):
        r = _idc(args, tmp_path, IDC_DATABASE_URL=url, IDC__STORE__CONNECT_ATTEMPTS="1")
        assert r.returncode == 1, r.stderr
        assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr, r.stderr
        assert f"cannot connect to the store postgresql+psycopg://idc:***@127.0.0.1:{port}/idc" in r.stderr
        assert "secret" not in r.stderr
    r = _idc(["--debug", "db", "upgrade"], tmp_path, IDC_DATABASE_URL=url, IDC__STORE__CONNECT_ATTEMPTS="1")
    assert r.returncode == 1 and "Traceback (most recent call last)" in r.stderr


def test_cli_runner_one_line_for_an_input_error(tmp_path):
    """A bad station file (StationFileError, an IdcError) through the central handler."""
    from pipeline.cli.main import cli

    bad = tmp_path / "stations.csv"
    bad.write_text("network,station,latitude,longitude,elevation\nXX,ABC,north,1,0\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("IDC")}
    env["IDC_HOME"] = str(tmp_path / "home")
    res = CliRunner().invoke(cli, ["stations", "load", "--strict", str(bad)], env=env)
    assert res.exit_code == 1 and isinstance(res.exception, SystemExit), res.output
    assert res.output.startswith("Error: ") and res.output.strip().count("\n") == 0, res.output
    assert "stations.csv" in res.output
    res = CliRunner().invoke(cli, ["--debug", "stations", "load", "--strict", str(bad)], env=env)
    assert res.exit_code == 1 and isinstance(res.exception, IdcError), res.output
