"""``idc radionuclide analyse FILE``: analyse a radionuclide spectrum (IMS2.0 PHD beta-gamma or
particulate, ORTEC .Spe, Canberra .cnf) and print nuclides, activities (concentrations) with
uncertainties, MDCs and the category; ``idc radionuclide samples``: the samples ``idc ingest``
stored; ``idc radionuclide fuse``: the possible source region of samples and the events of a
product inside it. Thin: parses arguments and calls :mod:`pipeline.tasks` (report keys:
:mod:`pipeline.radionuclide.analyse`, fusion: :mod:`pipeline.radionuclide.fusion`).
"""
from __future__ import annotations

import json

import click

from pipeline.cli.common import ISO_TIME, PRODUCTS
from pipeline.cli.common import one_line, with_settings
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

    The analysis settings are the [radionuclide] section of the configuration (`idc config show`;
    documented in config/default.toml)."""
    from pipeline import tasks

    try:  # PHDError, SpectrumFileError, BetaGammaError are ValueErrors (and IdcErrors)
        rep = tasks.radionuclide_analyse(settings, file, backgrounds=list(backgrounds))
    except ValueError as exc:
        one_line(exc)
    click.echo(json.dumps(rep, indent=1) if fmt == "json" else tasks.radionuclide_report_text(rep))


def _pair(text: str | None, what: str):
    if text is None:
        return None
    try:
        a, b = (float(x) for x in text.split(","))
    except ValueError:
        raise click.BadParameter(f"{text!r}: expected two numbers {what}") from None
    return a, b


@radionuclide_group.command("samples")
@click.option("--station", help="Station code (e.g. MIX58).")
@click.option("--start", type=ISO_TIME, help="Collection overlapping this time or later (ISO 8601).")
@click.option("--end", type=ISO_TIME, help="Collection before this time (ISO 8601).")
@click.option("--type", "data_type", help="Data type (SAMPLEPHD, CALIBPHD, SPIKEPHD, ...).")
@click.option("--json", "as_json", is_flag=True, help="Print the samples as JSON.")
@with_settings
def samples_cmd(settings: Settings, station, start, end, data_type, as_json):
    """Stored radionuclide samples (PHD messages ingested with `idc ingest`) and their analyses."""
    from pipeline import tasks

    rows = tasks.radionuclide_samples(settings, station, start, end, data_type)
    if as_json:
        click.echo(json.dumps(rows, indent=1))
        return
    from obspy import UTCDateTime

    for r in rows:
        col = ("-" if r["collection_start"] is None else
               f"{UTCDateTime(r['collection_start']).isoformat()[:19]} - {UTCDateTime(r['collection_stop']).isoformat()[:19]}")
        det = ", ".join(n["nuclide"] for n in r["nuclides"] if n["detected"]) or r["error"] or "none"
        cat = "-" if r["category"] is None else r["category"]
        click.echo(f"{r['id']:>5} {r['station']:<6} {r['detector']:<12} {r['data_type']:<9} {r['qualifier']:<4} "
                   f"SRID {r['srid']:<16} {col}  category {cat}  detected: {det}")
    click.echo(f"{len(rows)} samples")


@radionuclide_group.command("report")
@click.option("--station", help="Station code (e.g. MIX58).")
@click.option("--start", type=ISO_TIME, help="Collection overlapping this time or later (ISO 8601).")
@click.option("--end", type=ISO_TIME, help="Collection before this time (ISO 8601).")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@with_settings
def report_cmd(settings: Settings, station, start, end, as_json):
    """Build the radionuclide report product (RRR) of the stored samples ([radionuclide.rrr]).

    One report per sample, from its stored automatic analysis; building again over unchanged
    samples replaces each version, a changed sample gets a new version. Export them with
    `idc export --product RRR --start ... --end ... --format rrr|json`."""
    from pipeline import tasks

    res = tasks.radionuclide_reports(settings, station, start, end)
    if as_json:
        click.echo(json.dumps(res, indent=1))
        return
    for r in res["reports"]:
        what = "new version" if r["new_version"] else f"replaced (run {r['runs']})"
        click.echo(f"RRR {r['subject']} (sample {r['sample_id']}, SRID {r['srid'] or '-'}): version {r['version']}, {what}")
    for r in res["skipped"]:
        click.echo(f"skipped sample {r['sample_id']} {r['subject']}: {r['reason']}")
    click.echo(f"{len(res['reports'])} reports, {len(res['skipped'])} samples skipped")


@radionuclide_group.command("fuse")
@click.option("--sample", "samples", multiple=True, required=True,
              help="Stored sample (id, SRID, measurement id or MSG_ID) or a PHD file; repeatable (detections "
                   "of one release).")
@click.option("--product", type=PRODUCTS, default="REB", show_default=True, help="Events of this stored product.")
@click.option("--start", type=ISO_TIME, help="Events from (ISO 8601; default: the SRS time span).")
@click.option("--end", type=ISO_TIME, help="Events until (ISO 8601).")
@click.option("--srs", "srs_files", multiple=True, type=click.Path(exists=True, dir_okay=False),
              help="FLEXPART-style NetCDF SRS file (backward run; release names = SRID); repeatable.")
@click.option("--wind", metavar="U,V", help="Uniform wind (m/s east, north) for the backward puff model.")
@click.option("--wind-file", type=click.Path(exists=True, dir_okay=False),
              help="NetCDF wind field (u, v on time, lat, lon; m/s) for the backward puff model.")
@click.option("--receptor", metavar="LAT,LON", help="Station position for the puff model (default: site table).")
@click.option("--hours-back", type=float, default=None,
              help="Puff model: hours before collection (default: [radionuclide.backtrack] hours_back, 72).")
@click.option("--threshold", type=float, default=None,
              help="Source region: cells above this fraction of each sample's maximum sensitivity (default: "
                   "[radionuclide.backtrack] threshold, 0.1).")
@click.option("--combine", type=click.Choice(["all", "any"]), default=None,
              help="Several samples: cells kept by all of them (one release) or by any (default: "
                   "[radionuclide.backtrack] combine, all).")
@click.option("--time-tolerance", type=float, default=None,
              help="Seconds either side of an origin time (default: [radionuclide.backtrack] time_tolerance_s, 0).")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@with_settings
def fuse_cmd(settings: Settings, samples, product, start, end, srs_files, wind, wind_file, receptor, hours_back,
             threshold, combine, time_tolerance, as_json):
    """Possible source region of radionuclide detections and the waveform events inside it.

    The source-receptor sensitivity of each sample comes from --srs NetCDF files or from the
    documented backward Gaussian puff model (--wind or --wind-file; pipeline.radionuclide.backtrack)."""
    from pipeline import tasks

    try:
        res = tasks.radionuclide_fuse(settings, list(samples), product, start, end, srs_files=list(srs_files),
                                      wind=_pair(wind, "U,V (m/s)"), wind_file=wind_file,
                                      receptor=_pair(receptor, "LAT,LON"), hours_back=hours_back,
                                      threshold=threshold, combine=combine, time_tolerance_s=time_tolerance)
    except (ValueError, FileNotFoundError) as exc:
        raise click.ClickException(str(exc)) from None
    if as_json:
        click.echo(json.dumps(res, indent=1))
        return
    reg = res["region"]
    for smp in res["samples"]:
        click.echo(f"sample {smp['name']} ({smp['station']}) collected {smp['collection'][0]} - "
                   f"{smp['collection'][1]}; detected: {', '.join(smp['detected']) or '-'}")
    src = res["srs"]
    click.echo(f"SRS: {src['source']} ({', '.join(src['files']) if 'files' in src else src['wind']})")
    if reg["cells"]:
        click.echo(f"possible source region (>= {res['threshold']:g} of the maximum, {res['combine']}): "
                   f"{reg['cells']} cells, lat {reg['lat'][0]:g}..{reg['lat'][1]:g}, lon {reg['lon'][0]:g}.."
                   f"{reg['lon'][1]:g}, {reg['first_bin']} - {reg['last_bin']}")
    else:
        click.echo("possible source region: empty (no cell kept by every sample)")
    for note in res.get("notes", []):
        click.echo(f"note: {note}")
    click.echo(f"{res['product']} events {res['window'][0]} - {res['window'][1]}: {res['events_examined']} examined, "
               f"{len(res['candidates'])} inside")
    for c in res["candidates"]:
        mag = " ".join(f"{k} {c[k]:.1f}" for k in ("mb", "ml", "ms") if c[k] is not None)
        click.echo(f"  {c['time']}  {c['lat']:8.3f} {c['lon']:9.3f} {c['depth_km']:6.1f} km  {mag:<8} "
                   f"score {c['score']:.3f}  {c['public_id'] or c['evid']}")
