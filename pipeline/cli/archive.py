"""`idc archive check [--repair]`: does the SDS archive agree with the store?"""
from __future__ import annotations

import json
import sys

import click

from pipeline.cli.common import with_settings


@click.group("archive")
def archive_group():
    """The SDS waveform archive."""


@archive_group.command("check")
@click.option("--repair", is_flag=True, help="Complete interrupted ingests, remove temporary files and "
              "rewrite availability rows from the day files.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@with_settings
def check(settings, repair, as_json):
    """Compare every day file of the archive with its availability rows.

    Exit status 0 when archive and store agree (or everything found was repaired), 1 otherwise.
    """
    from pipeline import tasks

    res = tasks.check_archive(settings, repair=repair)
    if as_json:
        click.echo(json.dumps(res, indent=1))
    else:
        for line in res["problems"]:
            click.echo(f"PROBLEM {line}")
        for line in res["repaired"]:
            click.echo(f"REPAIRED {line}")
        click.echo(f"{res['files']} day files checked in {settings.archive_dir}: {len(res['problems'])} problems"
                   + (f", {len(res['repaired'])} repairs" if repair else ""))
    needs_person = [p for p in res["problems"] if "left alone" in p or "unreadable" in p]
    if (res["problems"] and not repair) or needs_person:
        sys.exit(1)
