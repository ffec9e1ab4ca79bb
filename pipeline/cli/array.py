"""``idc array detect``: an array's element waveforms + StationXML -> one detection table."""
from __future__ import annotations

import json
from pathlib import Path

import click

from pipeline.cli.common import with_settings
from pipeline.settings import Settings


@click.group("array")
def array_group():
    """Array processing: beams, f-k and detection for seismic and infrasound arrays."""


@array_group.command("detect")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--inventory", required=True, type=click.Path(exists=True, dir_okay=False),
              help="StationXML of the array's elements (coordinates).")
@click.option("-o", "--output", "out", required=True, type=click.Path(dir_okay=False),
              help="Detection table to write (picks.csv columns + technology, fstat, semblance, relpow).")
@click.option("--array", "code", default=None, help="Array code for the table (default: the reference element).")
@click.option("--reference", default=None, help="Reference element station code (default: the *0 element "
              "nearest the centre, else the centre).")
@click.option("--preset", type=click.Choice(["seismic", "infrasound"]), default="seismic", show_default=True,
              help="Parameter set (pipeline.array.ArrayConfig / ArrayConfig.infrasound).")
@click.option("--band", nargs=2, type=float, default=None, help="Band-pass FMIN FMAX, Hz (default: the preset's).")
@click.option("--component", default=None, help="Element channel component letter (default: the preset's; "
              "'any' = one channel per element).")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@with_settings(reads_store=False)
def array_detect(settings: Settings, paths, inventory, out, code, reference, preset, band, component, as_json):
    """Detect on beams of one array and measure each detection by f-k: backazimuth, slowness
    (s/deg), their uncertainties, semblance and Fisher F; the array is one station (its code)."""
    import time

    from obspy import Stream, read, read_inventory

    from pipeline.array import ArrayConfig, detect_array, write_array_csv

    t = time.perf_counter()
    kw = {}
    if band:
        kw["band_hz"] = tuple(band)
    if component:
        kw["component"] = None if component.lower() == "any" else component
    config = ArrayConfig.infrasound(**kw) if preset == "infrasound" else ArrayConfig(**kw)
    st = Stream()
    for p in paths:
        st += read(str(p))
    table = detect_array(st, read_inventory(str(inventory)), config, code=code, reference=reference)
    write_array_csv(table, out)
    summary = {"files": len(paths), "elements": len({(tr.stats.network, tr.stats.station) for tr in st}),
               "array": str(table["station"].iloc[0]) if len(table) else (code or ""),
               "detections": int(len(table)), "output": str(Path(out)), "seconds": round(time.perf_counter() - t, 2)}
    if as_json:
        click.echo(json.dumps(summary))
    else:
        click.echo(f"{summary['detections']} detections of array {summary['array']} "
                   f"({summary['elements']} elements) -> {out} ({summary['seconds']} s)")
