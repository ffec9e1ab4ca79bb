"""``idc radionuclide analyse FILE``: analyse a radionuclide spectrum (IMS2.0 PHD beta-gamma or
particulate, ORTEC .Spe, Canberra .cnf) and print nuclides, activities (concentrations) with
uncertainties, MDCs and the category. Thin: parses arguments and calls
:func:`pipeline.radionuclide.analyse.analyse_file` (report keys documented there).
"""
from __future__ import annotations

import json

import click

from pipeline.cli.main import with_settings
from pipeline.settings import Settings


@click.group("radionuclide")
def radionuclide_group():
    """Radionuclide spectra: analysis of PHD messages and lab spectra."""


@radionuclide_group.command("analyse")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="Output: a table for people or the JSON report (keys: pipeline.radionuclide.analyse).")
@click.option("--background", "backgrounds", multiple=True, type=click.Path(exists=True, dir_okay=False),
              help="Detector/gas background PHD of the same detector (beta-gamma; repeatable).")
@with_settings
def analyse_cmd(settings: Settings, file, fmt, backgrounds):
    """Nuclides with energy, net counts, activity (concentration) ± uncertainty, MDC and category.

    The analysis settings are the documented defaults of pipeline.radionuclide.config (no
    [radionuclide] section in the configuration yet)."""
    from pipeline.radionuclide.analyse import analyse_file, format_text
    from pipeline.radionuclide.betagamma import BetaGammaError
    from pipeline.radionuclide.labspectra import SpectrumFileError
    from pipeline.radionuclide.phd import PHDError

    try:
        rep = analyse_file(file, backgrounds=list(backgrounds))
    except (PHDError, SpectrumFileError, BetaGammaError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(json.dumps(rep, indent=1) if fmt == "json" else format_text(rep))
