"""``idc simulate detections``: a simulated day of IMS detections (picks, stations, truth).

Thin: parses arguments and calls :func:`pipeline.tasks.simulate_detections`.
"""
from __future__ import annotations

import click

from pipeline.cli.common import ISO_TIME, with_settings
from pipeline.settings import Settings


@click.group("simulate")
def simulate_group():
    """Simulated inputs for testing and benchmarking the network stages."""


@simulate_group.command("detections")
@click.option("--date", type=ISO_TIME, required=True, help="UTC day to simulate (YYYY-MM-DD).")
@click.option("--origins", type=click.Path(exists=True, dir_okay=False), required=True,
              help="Origins CSV (time,latitude,longitude,depth_km,mag or the NORSAR metadata layout; the "
                   "repository keeps the IDC LEB origins of Jan-Feb 2022 in "
                   "tests/data/ims_leb_2022/metadata_2022_leb_jan_feb.csv).")
@click.option("--stations", type=click.Path(exists=True, dir_okay=False),
              help="Station CSV (default: ims_stations.csv of the configured [stations] paths, its seismic "
                   "stations; a plain station CSV may carry kind = array|3c).")
@click.option("--false-fraction", type=click.FloatRange(0.0, 0.99), default=None,
              help="Target fraction of false detections among all detections (default 0.67).")
@click.option("--seed", type=int, default=0, show_default=True, help="Random seed (same seed, same day).")
@click.option("--model", default="ak135", show_default=True, help="Global Earth model of the travel times.")
@click.option("-o", "--output", "out_dir", type=click.Path(file_okay=False), required=True,
              help="Folder to write picks.csv, stations.csv, truth.csv and picks_truth.csv into.")
@with_settings
def simulate_detections_cmd(settings: Settings, date, origins, stations, false_fraction, seed, model, out_dir):
    """Simulate one day of IDC-like detections at the IMS seismic stations from real origins."""
    from pipeline import tasks

    try:
        r = tasks.simulate_detections(settings, date, out_dir, origins, stations, false_fraction, seed, model)
    except (ValueError, FileNotFoundError, KeyError) as exc:
        raise click.ClickException(str(exc).strip("'\"")) from None
    click.echo(f"{r['start'][:10]}: {r['detections']} detections ({r['true']} true, {r['false']} false, "
               f"{100 * r['false_fraction']:.1f}% false) at {r['stations']} stations; "
               f"{r['origins_in_window']} origins in the day, {r['events_ge3']} events detected at >= 3 stations "
               f"-> {r['output']}")
