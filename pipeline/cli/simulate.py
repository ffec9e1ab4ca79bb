"""``idc simulate detections``: a simulated day of IMS detections (picks, stations, truth).

Thin: parses arguments and calls :func:`pipeline.tasks.simulate_detections`.
"""
from __future__ import annotations

import click

from pipeline.cli.common import ISO_TIME, one_line, with_settings
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
        one_line(exc, str(exc).strip("'\""))
    click.echo(f"{r['start'][:10]}: {r['detections']} detections ({r['true']} true, {r['false']} false, "
               f"{100 * r['false_fraction']:.1f}% false) at {r['stations']} stations; "
               f"{r['origins_in_window']} origins in the day, {r['events_ge3']} events detected at >= 3 stations "
               f"-> {r['output']}")


@simulate_group.command("waveforms")
@click.option("--start", type=ISO_TIME, required=True, help="Start of the simulated data (UTC).")
@click.option("--end", type=ISO_TIME, required=True, help="End of the simulated data (UTC, exclusive).")
@click.option("--origins", type=click.Path(exists=True, dir_okay=False), required=True,
              help="Origins CSV (time,latitude,longitude,depth_km,mag or the NORSAR metadata layout).")
@click.option("--stations", type=click.Path(exists=True, dir_okay=False),
              help="Station CSV (default: ims_stations.csv of [stations] paths, its seismic stations; "
                   "kind = array|3c).")
@click.option("--max-stations", type=click.IntRange(min=1), default=None, help="Only the first N stations.")
@click.option("--set", "overrides", multiple=True, metavar="NAME=VALUE",
              help="A simulation parameter (pipeline.simulate.waveforms.WaveformConfig or SimConfig), e.g. "
                   "sampling_rate=20, chunk_s=600, gap_fraction=0.1, outage_fraction=0.2 (repeatable).")
@click.option("--seed", type=int, default=0, show_default=True, help="Random seed (same seed, same files).")
@click.option("--model", default="ak135", show_default=True, help="Global Earth model of the travel times.")
@click.option("-o", "--output", "out_dir", type=click.Path(file_okay=False), required=True,
              help="Folder for drop/ (miniSEED), late/, truth.xml, stations.xml, arrivals.csv, simulation.json.")
@with_settings
def simulate_waveforms_cmd(settings: Settings, start, end, origins, stations, max_stations, overrides, seed, model,
                           out_dir):
    """Simulate waveforms (noise, arrivals with coda, arrays, outages, gaps, clock errors, duplicated
    and late files) of real origins at the IMS seismic stations, with the truth to score against."""
    import json

    from pipeline import tasks

    values = {}
    for item in overrides:
        name, sep, raw = item.partition("=")
        if not sep or not name.strip():
            raise click.BadParameter(f"{item!r}: expected NAME=VALUE", param_hint="--set")
        try:
            values[name.strip()] = json.loads(raw)
        except ValueError:
            values[name.strip()] = raw
    try:
        r = tasks.simulate_waveforms(settings, start, end, out_dir, origins, stations, seed, model, values,
                                     max_stations)
    except (ValueError, FileNotFoundError, TypeError) as exc:
        raise click.ClickException(str(exc).strip("'\"")) from None
    click.echo(f"{r['start']} – {r['end']}: {r['files']} files ({r['channels']} channels at {r['stations']} stations, "
               f"{r['samples']:,} samples), {r['arrivals']} arrivals of {r['events']} origins; "
               f"{len(r['outages'])} outage(s), {r['gaps']} gap(s), {r['duplicates']} duplicated and {r['late']} late "
               f"file(s), clock errors at {', '.join(r['clock_offsets']) or 'none'} -> {r['output']}")
