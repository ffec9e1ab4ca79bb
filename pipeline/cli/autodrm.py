"""``idc request`` (IMS1.0 request messages, locally), ``idc alerts`` (CAP/GeoJSON disaster feeds)
and ``idc export-open`` (Parquet catalogue, NetCDF waveforms)."""
from __future__ import annotations

import json
import sys

import click

from pipeline.cli.common import ISO_TIME, PRODUCTS, _fail, with_settings
from pipeline.errors import IdcError
from pipeline.settings import Settings


@click.command("request")
@click.argument("request_file", type=click.File("r", encoding="utf-8", errors="replace"))
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None,
              help="Write the IMS1.0 DATA message here (default: standard output).")
@with_settings
def request_cmd(settings: Settings, request_file, output):
    """Answer the IMS1.0 request message REQUEST_FILE ('-' = standard input) from the store.

    The answer is an IMS1.0 DATA message (bulletins, waveforms in CM6/INT, station/channel lists,
    outages); problems are reported in its DATA_TYPE ERROR_LOG section (exit status 1).
    """
    from pipeline.autodrm import answer_request

    try:
        from pipeline.tasks import station_inventory

        inventory = station_inventory(settings)
    except (IdcError, OSError):  # no readable station files: the answer has no calibration
        inventory = None
    try:
        out = answer_request(settings, request_file.read(), inventory=inventory)
    except Exception as exc:  # command boundary: one line (traceback with --debug)
        _fail(exc)
    if output:
        with open(output, "w", encoding="utf-8") as fh:
            fh.write(out)
        click.echo(f"wrote {output} ({len(out.encode())} bytes)", err=True)
    else:
        sys.stdout.write(out)
    if "DATA_TYPE ERROR_LOG" in out:
        click.echo("the request had problems: see DATA_TYPE ERROR_LOG in the answer", err=True)
        sys.exit(1)


@click.command("alerts")
@click.option("--product", required=True, type=PRODUCTS)
@click.option("--start", type=ISO_TIME, required=True, help="Product window start (UTC).")
@click.option("--end", type=ISO_TIME, required=True, help="Product window end (UTC).")
@click.option("--version", type=int, default=None, help="Product version (default: newest).")
@with_settings
def alerts_cmd(settings: Settings, product, start, end, version):
    """Write CAP 1.2 alerts and the GeoJSON feed of tsunami-relevant events of a product version
    to $IDC_HOME/products/alerts/ (thresholds: [alerts]); prints a JSON summary."""
    from pipeline.tasks import alerts_for_product

    try:
        res = alerts_for_product(settings, product, start, end, version)
    except Exception as exc:  # command boundary: one line (traceback with --debug)
        _fail(exc)
    click.echo(json.dumps(res, indent=2, default=str))


@click.command("export-open")
@click.option("--product", default="REB", show_default=True,
              type=PRODUCTS, help="Catalogue (parquet).")
@click.option("--start", type=ISO_TIME, required=True, help="Window start (UTC).")
@click.option("--end", type=ISO_TIME, required=True, help="Window end (UTC).")
@click.option("--format", "fmt", type=click.Choice(["parquet", "netcdf"]), required=True,
              help="parquet: catalogue tables (events, origins, magnitudes, arrivals) in folder -o; "
                   "netcdf: archive waveforms in file -o.")
@click.option("-o", "--output", required=True, type=click.Path(), help="Folder (parquet) or .nc file (netcdf).")
@click.option("--network", default="*", show_default=True)
@click.option("--station", default="*", show_default=True)
@click.option("--location", default="*", show_default=True)
@click.option("--channel", default="*", show_default=True)
@with_settings
def export_open_cmd(settings: Settings, product, start, end, fmt, output, network, station, location, channel):
    """Open exports for scientists: a product's catalogue as Parquet, or waveforms as NetCDF (xarray)."""
    from pipeline.alerts import open_data

    try:
        if fmt == "parquet":
            res = open_data.write_catalog_parquet(settings, product, start, end, output)
            if res.get("note"):  # empty tables are written (a valid answer), but never silently
                click.echo(f"warning: no events exported: {res['note']}", err=True)
        else:
            ds = open_data.waveform_dataset(settings, start, end, network, station, location, channel)
            if not ds.data_vars:
                raise FileNotFoundError(f"no archived waveforms match {network}.{station}.{location}.{channel} "
                                        f"in {start} – {end}")
            path = open_data.write_waveforms_netcdf(ds, output)
            res = {"format": "netcdf", "file": str(path), "channels": len(ds.data_vars)}
    except Exception as exc:  # command boundary: one line (traceback with --debug)
        _fail(exc)
    click.echo(json.dumps(res, indent=2, default=str))


COMMANDS = [request_cmd, alerts_cmd, export_open_cmd]
