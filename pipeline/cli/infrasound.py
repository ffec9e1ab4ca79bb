"""``idc infrasound detect|qc|locate``: infrasound array detection (Fisher F-detector), station
noise QC against the IMS noise models, and infrasound-only association/location. Thin: parses
arguments and calls :mod:`pipeline.tasks` (``infrasound_detect``, ``infrasound_qc``,
``infrasound_locate``); parameters from ``[infrasound]`` of the configuration."""
from __future__ import annotations

import json

import click

from pipeline.cli.common import fail, fmt_time, with_settings
from pipeline.settings import Settings

_STATIONS_HELP = "Element coordinates: StationXML or station CSV (default: the store's stations)."


def _stations(inventory, stations):
    if inventory and stations:
        raise click.UsageError("give --inventory or --stations, not both")
    return inventory or stations


def _rejected(res: dict) -> None:
    for r in res.get("rejected", []):
        click.echo(f"REJECTED {r['error']}", err=True)


@click.group("infrasound")
def infrasound_group():
    """Infrasound arrays: detection, noise QC against the IMS models, location."""


@infrasound_group.command("detect")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--inventory", type=click.Path(exists=True, dir_okay=False), help="StationXML of the elements.")
@click.option("--stations", type=click.Path(exists=True, dir_okay=False), help=_STATIONS_HELP)
@click.option("-o", "--output", "out", required=True, type=click.Path(dir_okay=False),
              help="Detection table (picks.csv columns + technology, fstat, semblance, relpow, trace_velocity, "
                   "frequency, duration).")
@click.option("--array", "code", default=None, help="Array code (default: the elements' common station prefix).")
@click.option("--reference", default=None, help="Reference element station code (default: the centre).")
@click.option("--progress/--no-progress", default=None, help="Progress bar on stderr (default: when on a terminal).")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@with_settings
def detect_cmd(settings: Settings, paths, inventory, stations, out, code, reference, progress, as_json):
    """Fisher F-detector on f-k beams of each infrasound array in PATHS: per detection onset,
    backazimuth, trace velocity (m/s), dominant frequency, duration and F. A file or array that
    cannot be used is reported (REJECTED ...) and the rest goes on."""
    from pipeline import tasks

    try:
        res = tasks.infrasound_detect(settings, paths, _stations(inventory, stations), out, code=code,
                                      reference=reference, progress=progress)
    except (ValueError, OSError) as exc:
        fail(exc)
    _rejected(res)
    if as_json:
        click.echo(json.dumps(res))
        return
    for a in res["arrays"]:
        click.echo(f"  {a['array']}: {a['elements']} elements, aperture {a['aperture_km']} km, band "
                   f"{a['band_hz'][0]}-{a['band_hz'][1]} Hz, window {a['window_s']} s, {a['windows']} windows, "
                   f"{a['detections']} detections")
    click.echo(f"{res['detections']} infrasound detections from {len(res['arrays'])} array(s), {res['files']} files"
               + (f", {len(res['rejected'])} rejected" if res["rejected"] else "")
               + (f" -> {res['output']}" if res["output"] else "") + f" ({res['seconds']} s)")
    if not res["arrays"] and res["rejected"]:
        raise SystemExit(1)


@infrasound_group.command("qc")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--inventory", type=click.Path(exists=True, dir_okay=False),
              help="StationXML with responses (needed for data in counts).")
@click.option("--stations", type=click.Path(exists=True, dir_okay=False), help="Station file (StationXML or CSV).")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@with_settings
def qc_cmd(settings: Settings, paths, inventory, stations, as_json):
    """PSD of each channel against the IMS infrasound low/high noise models: the fractions of
    the band below the low and above the high model and a status (ok, low, high)."""
    from pipeline import tasks

    try:
        res = tasks.infrasound_qc(settings, paths, _stations(inventory, stations))
    except (ValueError, OSError) as exc:
        fail(exc)
    _rejected(res)
    if as_json:
        click.echo(json.dumps(res))
        return
    click.echo(f"{'channel':<18} {'units':<8} {'band Hz':<12} {'<low':>6} {'>high':>6} {'pos':>6}  status")
    for r in res["channels"]:
        band = f"{r['fmin_hz']:.2f}-{r['fmax_hz']:.1f}" if r["fmin_hz"] is not None else "-"
        num = lambda v: "-" if v is None else f"{v:.2f}"  # noqa: E731
        click.echo(f"{r['seed_id']:<18} {r['units'][:8]:<8} {band:<12} {num(r['frac_below_low']):>6} "
                   f"{num(r['frac_above_high']):>6} {num(r['median_position']):>6}  {r['status']}")
    click.echo(f"{len(res['channels'])} channels: " + ", ".join(f"{v} {k}" for k, v in sorted(res["status"].items())))


@infrasound_group.command("locate")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--inventory", type=click.Path(exists=True, dir_okay=False), help="StationXML with the arrays.")
@click.option("--stations", type=click.Path(exists=True, dir_okay=False), help="Station file with the arrays "
              "(station code = the array code of the detection tables).")
@click.option("--json", "as_json", is_flag=True, help="Print the events as JSON.")
@with_settings
def locate_cmd(settings: Settings, paths, inventory, stations, as_json):
    """Associate infrasound detections of several arrays (idc infrasound detect tables, or infrapy
    .dets.json lists) into events and locate them by grid search (backazimuths + celerity
    windows); prints each event with its azimuth residuals."""
    from obspy import UTCDateTime

    from pipeline import tasks

    try:
        res = tasks.infrasound_locate(settings, paths, _stations(inventory, stations))
    except (ValueError, OSError) as exc:
        fail(exc)
    _rejected(res)
    if as_json:
        click.echo(json.dumps(res))
        return
    for i, e in enumerate(res["events"], 1):
        click.echo(f"event {i}: {e['latitude']:.3f} {e['longitude']:.3f} {fmt_time(UTCDateTime(e['time']).timestamp)} "
                   f"({e['arrays']} arrays, {len(e['arrivals'])} arrivals)")
        for a in e["arrivals"]:
            click.echo(f"  {a['station']:<6} {a['time'][:19]} baz {a['backazimuth']:6.1f} az.res {a['azimuth_residual']:+6.2f}"
                       f" dist {a['distance_km']:7.1f} km cel {a['celerity_km_s']:.3f} km/s {a['phase'] or '-'}")
    click.echo(f"{len(res['events'])} events, {res['unassociated']} detections unassociated")
