"""The `idc` command line: help for every command, and a smoke run through the subprocess."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from pipeline.cli.main import cli
from tests import PROJECT_ROOT
from tests.conftest import share_tables

IDC = Path(sys.executable).parent / "idc"


def _commands(group, prefix=()):
    for name, cmd in group.commands.items():
        yield prefix + (name,), cmd
        if hasattr(cmd, "commands"):
            yield from _commands(cmd, prefix + (name,))


def test_top_level_help_lists_subcommands_with_one_line_help():
    res = CliRunner().invoke(cli, ["--help"])
    assert res.exit_code == 0
    for name, cmd in cli.commands.items():
        assert name in res.output
        assert cmd.get_short_help_str(), f"{name} has no one-line help"


@pytest.mark.parametrize("path", [p for p, _ in _commands(cli)], ids=lambda p: " ".join(p))
def test_every_subcommand_has_help(path):
    res = CliRunner().invoke(cli, [*path, "--help"])
    assert res.exit_code == 0, res.output
    assert "--config" in res.output or hasattr(dict(_commands(cli))[path], "commands")


def _run(args, home, **kw):
    env = {k: v for k, v in os.environ.items() if not k.startswith("IDC")}
    env["IDC_HOME"] = str(share_tables(home))
    return subprocess.run([str(IDC), *args], capture_output=True, text=True, env=env, cwd=PROJECT_ROOT,
                          timeout=300, **kw)


def test_cli_end_to_end(tmp_path):
    home = tmp_path / "home"
    r = _run(["db", "upgrade"], home)
    assert r.returncode == 0 and "revision" in r.stdout, r.stderr
    r = _run(["stations", "load", "stations/Z7.xml"], home)
    assert r.returncode == 0 and "12 new stations, 36 new channels" in r.stdout, r.stderr
    r = _run(["stations", "list", "--network", "Z7"], home)
    assert r.returncode == 0 and "DYJN" in r.stdout and "12 station epochs, 36 channel epochs" in r.stdout
    bad = tmp_path / "junk.mseed"
    bad.write_bytes(b"garbage" * 100)
    files = sorted((PROJECT_ROOT / "tests/data/iceland/waveforms").glob("*.m"))[:2]
    r = _run(["ingest", str(bad), *map(str, files)], home)
    assert r.returncode == 3, r.stdout + r.stderr  # some inputs rejected
    assert f"REJECTED {bad}: unknown_format" in r.stderr
    assert "accepted 2, already ingested 0, rejected 1" in r.stdout
    r = _run(["quarantine", "list"], home)
    assert "unknown_format" in r.stdout and "1 rejected inputs" in r.stdout
    r = _run(["availability", "--json"], home)
    data = json.loads(r.stdout)
    assert len(data["channels"]) == 36
    r = _run(["--config", str(tmp_path / "missing.toml"), "availability"], home)
    assert r.returncode != 0 and "missing.toml: configuration file not found" in r.stderr


def test_config_option_on_subcommand_and_bad_config(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text("[dask]\nthreads = -1\n")
    r = _run(["config", "show", "--config", str(cfg)], tmp_path / "h")
    assert r.returncode != 0 and f"{cfg}: dask.threads" in r.stderr


def test_process_makes_only_automatic_products(tmp_path):
    """Issue 14 defect 2: `idc process --product REB` wrote an unreviewed "REB" (served under the
    REB policy). The automatic chain makes SEL1/SEL2/SEL3 only; product names are case-insensitive."""
    from pipeline import tasks
    from tests.conftest import make_settings

    env = {**{k: v for k, v in os.environ.items() if not k.startswith("IDC")}, "IDC_HOME": str(tmp_path / "home")}
    for product in ("REB", "SEB", "SSEB", "reb"):
        res = CliRunner().invoke(cli, ["process", "--product", product, "--start", "2014-08-24T00:00",
                                       "--end", "2014-08-24T00:10"], env=env)
        assert res.exit_code == 2 and "review publish" in res.output, res.output
    with pytest.raises(ValueError, match="review publish"):
        tasks.process_window(make_settings(tmp_path / "h2"), "REB", "2014-08-24T00:00", "2014-08-24T00:10")
    assert not (tmp_path / "home" / "products").exists()


def test_every_time_option_rejects_a_bad_time_naming_the_option(tmp_path):
    """Issue 14 defect 10: every --start/--end/--day/--date of every command parses ISO 8601 times
    and a bad value is one line naming the option (before any work or store access)."""
    import click
    from click.testing import CliRunner

    from pipeline.cli.common import ISO_TIME
    from pipeline.cli.main import cli

    checked = []
    for path, cmd in _commands(cli):
        if isinstance(cmd, click.Group):
            continue
        for p in cmd.params:
            if isinstance(p, click.Option) and any(o in ("--start", "--end", "--day", "--date") for o in p.opts):
                assert p.type is ISO_TIME, f"idc {' '.join(path)} {p.opts[0]} does not parse times"
                others = [x for x in cmd.params if isinstance(x, click.Option) and x.required and x is not p]
                args = list(path) + [p.opts[0], "2014-13-45"]
                for o in others:  # fill the other required options with plausible values
                    if o.type is ISO_TIME:
                        args += [o.opts[0], "2014-08-24"]
                    elif isinstance(o.type, click.Choice):
                        args += [o.opts[0], o.type.choices[0]]
                    else:
                        args += [o.opts[0], "x"]
                res = CliRunner().invoke(cli, args, env={"IDC_HOME": str(tmp_path / "home")})
                assert res.exit_code == 2, (args, res.output)
                assert p.opts[0] in res.output and "is not a time" in res.output, (args, res.output)
                checked.append(" ".join(path) + " " + p.opts[0])
    print(f"{len(checked)} time options checked: {', '.join(checked)}")
    assert len(checked) >= 20
