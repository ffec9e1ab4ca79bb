"""``idc hydroacoustic detect``: H phases on hydrophones and T phases on island seismometers.
Thin: parses arguments and calls :func:`pipeline.tasks.hydroacoustic_detect`; parameters from
``[hydroacoustic]`` of the configuration."""
from __future__ import annotations

import json

import click

from pipeline.cli.common import fail, with_settings
from pipeline.settings import Settings


@click.group("hydroacoustic")
def hydroacoustic_group():
    """Hydroacoustic stations: H-phase (hydrophone) and T-phase (island seismometer) detection."""


@hydroacoustic_group.command("detect")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("-o", "--output", "out", required=True, type=click.Path(dir_okay=False),
              help="Detection table (picks.csv columns + technology, frequency, duration, band_low_hz, band_high_hz, "
                   "stalta, band_energy_db, cepstral_delay_s, cepstral_prominence).")
@click.option("--progress/--no-progress", default=None, help="Progress bar on stderr (default: when on a terminal).")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@with_settings
def detect_cmd(settings: Settings, paths, out, progress, as_json):
    """Band energies, STA/LTA + AIC onset in the best band, duration, peak frequency and cepstral
    (bubble-pulse) delay of each H/T signal in PATHS (hydrophone channels ?DH -> H, vertical
    T-phase channels -> T). A file that cannot be read is reported (REJECTED ...) and the rest
    goes on."""
    from pipeline import tasks

    try:
        res = tasks.hydroacoustic_detect(settings, paths, out, progress=progress)
    except (ValueError, OSError) as exc:
        fail(exc)
    for r in res["rejected"]:
        click.echo(f"REJECTED {r['error']}", err=True)
    for msg in res["skipped"]:
        click.echo(f"skipped {msg}", err=True)
    if as_json:
        click.echo(json.dumps(res))
        return
    phases = ", ".join(f"{k} {v}" for k, v in sorted(res["phases"].items())) or "none"
    click.echo(f"{res['detections']} hydroacoustic detections ({phases}) on {len(res['channels'])} channel(s) "
               f"from {res['files']} files" + (f", {len(res['rejected'])} rejected" if res["rejected"] else "")
               + f" -> {res['output']} ({res['seconds']} s)")
    if not res["channels"] and res["rejected"]:
        raise SystemExit(1)
