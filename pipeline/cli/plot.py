"""``idc plot map|record-section|residuals``: PNG plots of a stored product or a bulletin file.

Thin: parses arguments and calls :mod:`pipeline.tasks` (``plot_event_map``,
``plot_event_record_section``, ``plot_residuals``).
"""
from __future__ import annotations

import click

from pipeline.cli.common import ISO_TIME, PRODUCTS, one_line, with_settings
from pipeline.settings import Settings



def _source_options(f):
    """Where the events come from: --bulletin FILE, or --product/--start/--end [--version]."""
    opts = [
        click.option("--bulletin", type=click.Path(exists=True, dir_okay=False),
                     help="Bulletin file (QuakeML, IMS1.0 or GSE2.0) instead of a stored product."),
        click.option("--product", type=PRODUCTS, default=None, help="Stored product to plot."),
        click.option("--start", type=ISO_TIME, default=None, help="Product window start (ISO 8601)."),
        click.option("--end", type=ISO_TIME, default=None, help="Product window end (ISO 8601)."),
        click.option("--version", "version", type=int, default=None, help="Product version (default: newest)."),
        click.option("--stations", type=click.Path(exists=True, dir_okay=False),
                     help="StationXML or stations.csv (default: the store's stations, else [stations] paths)."),
        click.option("--title", default="", help="Plot title (default: the product or file name)."),
        click.option("-o", "--output", type=click.Path(dir_okay=False), required=True, help="PNG to write."),
    ]
    for opt in reversed(opts):
        f = opt(f)
    return f


def _call(fn, *args, **kwargs) -> dict:
    try:  # (BulletinError, PlotInputError are ValueErrors)
        return fn(*args, **kwargs)
    except (ValueError, FileNotFoundError, KeyError) as exc:
        one_line(exc, str(exc).strip("'\""))


@click.group("plot")
def plot_group():
    """PNG plots: event map, record section with predicted phases, station residuals."""


@plot_group.command("map")
@_source_options
@click.option("--all-stations", is_flag=True, help="Draw every known station, not only those with arrivals.")
@with_settings
def plot_map(settings: Settings, bulletin, product, start, end, version, stations, title, output, all_stations):
    """Event map: epicentres (size = magnitude, colour = depth), error ellipses, stations, coastlines."""
    from pipeline import tasks

    r = _call(tasks.plot_event_map, settings, output, product, start, end, version, bulletin, stations,
              all_stations, title)
    extra = f" ({r['events_unlocated']} without location)" if r["events_unlocated"] else ""
    click.echo(f"map of {r['events']} events{extra}, {r['stations']} stations, {r['ellipses']} error ellipses "
               f"-> {r['output']}")


@plot_group.command("record-section")
@_source_options
@click.option("--event", default=None, help="Event index (0 = first located event) or the end of its id "
                                            "(default: the largest magnitude).")
@click.option("--waveforms", multiple=True, type=click.Path(exists=True, dir_okay=False),
              help="Waveform file (any format obspy reads; repeatable). Default: the SDS archive.")
@click.option("--phase", "phases", multiple=True, help="Predicted phase to draw (repeatable; default: all of "
                                                        "the travel-time table).")
@click.option("--model", default=None, help="ak135 | iasp91 | a Depth,Vp,Vs file (default: [traveltime] model).")
@click.option("--freqmin", type=float, default=None, help="Band-pass low corner, Hz (default by distance).")
@click.option("--freqmax", type=float, default=None, help="Band-pass high corner, Hz (default by distance).")
@with_settings
def plot_record_section_cmd(settings: Settings, bulletin, product, start, end, version, stations, title, output,
                            event, waveforms, phases, model, freqmin, freqmax):
    """Record section of one event with predicted phase curves and its arrivals."""
    from pipeline import tasks

    r = _call(tasks.plot_event_record_section, settings, output, product, start, end, version, bulletin, event,
              waveforms, stations, phases, model, freqmin, freqmax, title)
    if r["stations_without_coordinates"]:
        click.echo(f"warning: traces without station coordinates (not drawn): "
                   f"{', '.join(r['stations_without_coordinates'])}", err=True)
    click.echo(f"record section of {r['event']}: {r['traces']} traces, {r['picks_marked']} arrivals marked, "
               f"predicted {', '.join(r['phases']) or 'none'} -> {r['output']}")


@plot_group.command("residuals")
@_source_options
@click.option("--phase", "phases", multiple=True, help="Only these phases (repeatable).")
@click.option("--defining-only", is_flag=True, help="Only time-defining arrivals.")
@with_settings
def plot_residuals_cmd(settings: Settings, bulletin, product, start, end, version, stations, title, output,
                       phases, defining_only):
    """Arrival-time residuals per station and phase against distance and azimuth."""
    from pipeline import tasks

    r = _call(tasks.plot_residuals, settings, output, product, start, end, version, bulletin, stations, phases,
              defining_only, title)
    click.echo(f"{r['residuals']} residuals of {r['events']} events at {r['stations']} stations "
               f"({', '.join(f'{k} {v}' for k, v in r['per_phase'].items())}) -> {r['output']}")
