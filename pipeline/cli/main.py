"""``idc``: the command-line interface (thin: parses arguments, calls :mod:`pipeline.tasks`)."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from pipeline.cli.common import (CONFIG_HELP, ISO_TIME, PRODUCTS, _fail, _fmt_time,  # noqa: F401
                                 _require_store, debug_enabled, error_message, one_line, with_settings)
from pipeline.errors import IdcError
from pipeline.settings import Settings
from pipeline.store.products import PRODUCT_TYPES

@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option("--config", "config_file", type=click.Path(dir_okay=False), default=None, help=CONFIG_HELP)
@click.option("--debug", is_flag=True, default=False, envvar="IDC_DEBUG",
              help="Show the traceback of an error instead of its one line (also IDC_DEBUG=1).")
@click.version_option(package_name="idc-pipeline", prog_name="idc")
def cli(config_file, debug):
    """idc-pipeline: an International Data Centre in a box.

    Every command reads its configuration from --config FILE (or $IDC_CONFIG); $IDC_HOME
    (default ./var) holds the store, the SDS archive, the quarantine and the products.
    An error is printed as one line (--debug: with its traceback).
    """


# ---------------------------------------------------------------- config
@cli.group("config")
def config_group():
    """Show the effective configuration."""


@config_group.command("show")
@with_settings
def config_show(settings: Settings):
    """Print the effective configuration (after files and environment overrides) as JSON."""
    from pipeline.tasks import _redact

    data = settings.model_dump(mode="json")
    data["database_url"] = _redact(settings.database_url)
    data["store"]["database_url"] = _redact(data["store"]["database_url"]) if data["store"]["database_url"] else ""
    click.echo(json.dumps(data, indent=2))


# ---------------------------------------------------------------- db
@cli.group("db")
def db_group():
    """Store administration (migrations)."""


@db_group.command("upgrade")
@with_settings
def db_upgrade(settings: Settings):
    """Create or migrate the store schema to the newest revision."""
    from pipeline import tasks

    try:
        res = tasks.db_upgrade(settings)
    except Exception as exc:
        _fail(exc)
    click.echo(f"store {res['database']}: revision {res['from'] or '(empty)'} -> {res['to']}")


@db_group.command("current")
@with_settings(reads_store=True)
def db_current(settings: Settings):
    """Print the schema revision of the store and the newest one this software knows."""
    from pipeline.store import db
    from pipeline.tasks import _redact

    click.echo(f"store {_redact(settings.database_url)}: revision {db.current_revision(settings.database_url)} "
               f"(newest: {db.head_revision()})")


# ---------------------------------------------------------------- stations
@cli.group("stations")
def stations_group():
    """Station metadata: load StationXML / station CSV into site/sitechan, list, build."""


@stations_group.command("load")
@click.argument("paths", nargs=-1, type=click.Path(exists=True))
@click.option("--strict", is_flag=True,
              help="Refuse a station file at its first bad row (default: skip bad rows with a warning).")
@with_settings
def stations_load(settings: Settings, paths, strict):
    """Load station files (default: everything in stations.paths, i.e. stations/).

    A station CSV row with an unreadable or implausible value (latitude -90..90, longitude
    -180..360, elevation -12 km..+9 km) is skipped with a warning naming file, line and field,
    and the other rows are loaded; --strict refuses the file instead."""
    from pipeline import tasks

    try:  # (StationFileError: one line, with_settings)
        res = tasks.load_stations(settings, paths, strict=strict)
    except FileNotFoundError as exc:
        one_line(exc)
    for msg in res["rejected"]:
        click.echo(f"warning: {msg}", err=True)
    for f in res["per_file"]:
        skipped = f", {f['skipped_rows']} rows without code/coordinates skipped" if f["skipped_rows"] else ""
        skipped += f", {f['rejected_rows']} bad rows skipped" if f["rejected_rows"] else ""
        click.echo(f"{f['file']}: {f['sites_new']} new / {f['sites_updated']} updated stations, "
                   f"{f['channels_new']} new / {f['channels_updated']} updated channels{skipped}")
    bad = (f"; {res['rejected_rows']} bad rows skipped (see the warnings; --strict refuses such files)"
           if res["rejected_rows"] else "")
    click.echo(f"{res['files']} files: {res['sites_new']} new stations, {res['channels_new']} new channels{bad}")


@stations_group.command("list")
@click.option("--network", "-n", default="*", help="Network code pattern (fnmatch).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@with_settings(reads_store=True)
def stations_list(settings: Settings, network, as_json):
    """List stations and their channels from the store."""
    import fnmatch

    from pipeline.store.db import ensure_schema, session_scope
    from pipeline.store.stations import list_sites

    ensure_schema(settings.database_url)
    with session_scope(settings.database_url) as s:
        rows = [(site, chans) for site, chans in list_sites(s) if fnmatch.fnmatch(site.net, network)]
        out = [{"network": site.net, "station": site.sta, "latitude": site.lat, "longitude": site.lon,
                "elevation_m": round(site.elev_km * 1000, 1), "name": site.staname,
                "start": _fmt_time(site.ondate), "end": _fmt_time(site.offdate),
                "channels": [{"location": c.loc, "channel": c.chan, "sample_rate": c.samprate,
                              "response": c.response} for c in chans
                             if c.ondate < (site.offdate or float("inf")) and (c.offdate or float("inf")) > site.ondate]}
               for site, chans in rows]
    if as_json:
        click.echo(json.dumps(out, indent=1))
        return
    click.echo(f"{'NET':<4} {'STA':<7} {'LAT':>9} {'LON':>10} {'ELEV m':>7}  {'START':<10} {'END':<10}  CHANNELS")
    for r in out:
        chans = " ".join(f"{c['location'] + '.' if c['location'] else ''}{c['channel']}"
                         + ("*" if c["response"] == "placeholder" else "") for c in r["channels"])
        click.echo(f"{r['network']:<4} {r['station']:<7} {r['latitude']:>9.4f} {r['longitude']:>10.4f} "
                   f"{r['elevation_m']:>7.0f}  {r['start'][:10]:<10} {r['end'][:10]:<10}  {chans or '-'}")
    nch = sum(len(r["channels"]) for r in out)
    click.echo(f"{len(out)} station epochs, {nch} channel epochs (* = placeholder response)")


@stations_group.command("build-xml")
@click.argument("table", type=click.Path(exists=True, dir_okay=False))
@click.option("--network", required=True, help="Network code.")
@click.option("--channels", required=True, help="Comma-separated channel codes, e.g. HHZ,HHN,HHE.")
@click.option("--sample-rate", type=float, required=True, help="Sampling rate, Hz.")
@click.option("--gain", type=float, required=True, help="Overall gain of the placeholder response, counts/(m/s).")
@click.option("--start", type=ISO_TIME, required=True, help="Start of the station epochs (ISO 8601).")
@click.option("--end", type=ISO_TIME, default=None, help="End of the station epochs (ISO 8601).")
@click.option("--note", default="", help="Text explaining where the placeholder gain comes from.")
@click.option("-o", "--output", type=click.Path(dir_okay=False), required=True)
@with_settings
def stations_build_xml(settings: Settings, table, network, channels, sample_rate, gain, start, end, note, output):
    """Write StationXML for a station table with a documented PLACEHOLDER response."""
    from obspy import UTCDateTime

    from pipeline.stations.build import build_inventory

    inv = build_inventory(table, network, [c.strip() for c in channels.split(",") if c.strip()], sample_rate,
                          gain, UTCDateTime(start), UTCDateTime(end) if end else None, note=note)
    inv.write(output, format="STATIONXML", validate=True)
    click.echo(f"{output}: {sum(len(n) for n in inv)} stations, "
               f"{sum(len(s) for n in inv for s in n)} channels (placeholder responses)")


# ---------------------------------------------------------------- ingest
@cli.command("ingest")
@click.argument("paths", nargs=-1, type=click.Path())
@click.option("--seedlink", metavar="HOST:PORT", help="Fetch --start..--end from a SeedLink server.")
@click.option("--fdsn", metavar="URL", help="Fetch from an FDSN dataselect service (base or query URL).")
@click.option("--stream", "streams", multiple=True, metavar="'NET STA LOC CHA'",
              help="Stream selector for --seedlink/--fdsn (repeatable; ? and * wildcards).")
@click.option("--start", type=ISO_TIME, help="Start time (ISO 8601) for --seedlink/--fdsn.")
@click.option("--end", type=ISO_TIME, help="End time (ISO 8601) for --seedlink/--fdsn.")
@click.option("--force", is_flag=True, help="Re-process files already ingested (by content hash).")
@click.option("--progress/--no-progress", default=None, help="Progress bar (default: when on a terminal).")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@with_settings
def ingest(settings: Settings, paths, seedlink, fdsn, streams, start, end, force, progress, as_json):
    """Archive waveforms (miniSEED, SAC, GSE2.0/IMS1.0, CSS3.0 wfdisc, SEG-Y, ...) into SDS;
    store and analyse IMS2.0 PHD messages (radionuclide samples; the same sample again replaces it).

    Any waveform format obspy reads is accepted. Bad inputs are reported on one line each,
    copied to $IDC_HOME/quarantine and recorded in the ingest_error table; the rest of the batch
    continues. Re-ingesting is a no-op. In folders, side files matching ingest.ignore_patterns
    (*.event, *.picks, *.amps, *.txt, ...) are skipped and counted ("skipped N side files").
    """
    from pipeline import tasks

    if not (paths or seedlink or fdsn):
        raise click.UsageError("give files/folders, --seedlink HOST:PORT or --fdsn URL")
    results = []
    try:
        if paths:
            results.append(tasks.ingest_files(settings, paths, progress=progress, force=force))
        if seedlink:
            if not (streams and start and end):
                raise click.UsageError("--seedlink needs --stream, --start and --end")
            results.append(tasks.ingest_seedlink(settings, seedlink, list(streams), start, end))
        if fdsn:
            results.append(tasks.ingest_fdsn(settings, fdsn, list(streams) or None, start, end))
    except (ValueError, FileNotFoundError) as exc:
        one_line(exc)
    except click.UsageError:
        raise
    except Exception as exc:
        _fail(exc)
    if as_json:
        click.echo(json.dumps(results if len(results) > 1 else results[0], indent=1))
    else:
        for r in results:
            mb = r.get("bytes_read", 0) / 1e6
            click.echo(f"accepted {r.get('accepted', 0)}, already ingested {r.get('already_ingested', 0)}, "
                       f"rejected {r.get('rejected', 0)}; {r.get('traces', 0)} traces, "
                       f"{r.get('new_samples', 0)} new samples ({mb:.1f} MB read), "
                       f"{r.get('day_files_written', 0)} day files written, {r.get('overlaps', 0)} overlaps")
            for x in r.get("radionuclide_samples", []):  # IMS2.0 PHD messages (pipeline.radionuclide.ingest)
                click.echo(f"radionuclide {x['data_type']} {x['station']} {x['detector']} {x['qualifier']} sample "
                           f"{x['sample_id']}{' (replaced)' if x['replaced'] else ''}: "
                           f"{', '.join(x['detected']) or x['error'] or 'nothing detected'}")
        side = sum(r.get("skipped_side_files", 0) for r in results)
        if side:
            click.echo(f"skipped {side} side files (ingest.ignore_patterns: event/pick/amplitude lists, notes, ...)")
        if any(r.get("rejected") for r in results):
            click.echo(f"rejected inputs are in {settings.quarantine_dir} (see `idc quarantine list`)")
    if any(r.get("rejected") for r in results):
        sys.exit(3)


@cli.command("availability")
@click.option("--start", type=ISO_TIME, help="Window start (ISO 8601); coverage is relative to the window.")
@click.option("--end", type=ISO_TIME, help="Window end (ISO 8601).")
@click.option("--select", "pattern", default="*", help="NET.STA.LOC.CHA pattern (fnmatch).")
@click.option("--gaps", "show_gaps", is_flag=True, help="List every gap.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@with_settings(reads_store=True)
def availability_cmd(settings: Settings, start, end, pattern, show_gaps, as_json):
    """Per-channel coverage of the archive: first/last sample, coverage %, gaps, overlaps."""
    from pipeline import tasks
    from pipeline.store.availability import channel_coverage  # noqa: F401 (for gap listing)

    res = tasks.availability(settings, start, end, pattern)
    if as_json:
        click.echo(json.dumps(res, indent=1))
        return
    rows = res["channels"]
    if not rows:
        click.echo("no data in the archive" + (" for this window" if start or end else ""))
        return
    click.echo(f"{'CHANNEL':<18} {'Hz':>6} {'FIRST':<22} {'LAST':<22} {'COVER':>7} {'GAPS':>5} {'GAP s':>8} {'OVERLAPS':>8}")
    for r in rows:
        click.echo(f"{r['nslc']:<18} {r['samprate']:>6g} {_fmt_time(r['first']):<22} {_fmt_time(r['last']):<22} "
                   f"{100 * r['coverage']:>6.2f}% {r['gaps']:>5} {r['gap_s']:>8.2f} {r['overlaps']:>8}")
    if show_gaps:
        from pipeline.store.db import session_scope
        from obspy import UTCDateTime

        with session_scope(settings.database_url) as s:
            t0 = float(UTCDateTime(start).timestamp) if start else None
            t1 = float(UTCDateTime(end).timestamp) if end else None
            for cov in channel_coverage(s, t0, t1, pattern):
                for a, b in cov.gaps:
                    click.echo(f"gap {cov.nslc} {_fmt_time(a)} – {_fmt_time(b)} ({b - a:.2f} s)")
    click.echo(f"{len(rows)} channels")


@cli.group("quarantine")
def quarantine_group():
    """Rejected inputs (ingest errors)."""


@quarantine_group.command("list")
@click.option("--all", "show_all", is_flag=True, help="Include inputs resolved by a later ingest.")
@with_settings(reads_store=True)
def quarantine_list(settings: Settings, show_all):
    """List rejected inputs: when, what kind of error, the message and the quarantined copy."""
    from pipeline.store.db import ensure_schema, session_scope
    from pipeline.store.operations import ingest_errors

    ensure_schema(settings.database_url)
    with session_scope(settings.database_url) as s:
        rows = ingest_errors(s, unresolved_only=not show_all)
        for r in rows:
            click.echo(f"{r.created:%Y-%m-%d %H:%M:%S} {r.kind:<17} {r.message}\n    -> {r.quarantine_path or '(no copy)'}")
        click.echo(f"{len(rows)} rejected inputs")


# ---------------------------------------------------------------- the automatic chain
@cli.command("detect")
@click.argument("waveforms", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--stations", type=click.Path(exists=True, dir_okay=False),
              help="StationXML with responses (amplitudes); default: the configured station files.")
@click.option("-o", "--output", type=click.Path(dir_okay=False), required=True, help="picks.csv to write.")
@click.option("--progress/--no-progress", default=None, help="Progress bars on stderr (default: when on a terminal).")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@with_settings
def detect_cmd(settings: Settings, waveforms, stations, output, progress, as_json):
    """Station processing on waveform files (any format obspy reads) -> picks.csv."""
    from pipeline import tasks

    try:
        res = tasks.detect_files(settings, waveforms, stations, output, progress=progress)
    except Exception as exc:
        _fail(exc)
    if as_json:
        click.echo(json.dumps(res, indent=1))
        return
    phases = ", ".join(f"{k} {v}" for k, v in res["phases"].items()) or "none"
    for msg in res["array_errors"]:
        click.echo(f"warning: {msg} (left out)", err=True)
    arrays = f"; arrays processed as one station each: {', '.join(res['arrays'])}" if res["arrays"] else ""
    click.echo(f"{res['picks']} picks ({phases}) from {res['files']} files ({res['traces_read']} traces read, "
               f"{res['segments']} contiguous segments, {res['stations']} stations{arrays}) in {res['seconds']} s "
               f"-> {output}")


@cli.command("associate")
@click.option("--picks", "picks_csv", type=click.Path(exists=True, dir_okay=False), required=True,
              help="picks.csv: station,phase,time (ISO 8601) [+ network,channel,amplitude,period,snr,backazimuth,slowness].")
@click.option("--stations", type=click.Path(exists=True, dir_okay=False),
              help="stations.csv (station,latitude,longitude,elevation_m[,network]) or StationXML; default: the store.")
@click.option("--model", help="ak135 | iasp91 | a Depth,Vp,Vs velocity file (default: [traveltime] model).")
@click.option("-o", "--output", type=click.Path(dir_okay=False), required=True, help="QuakeML to write.")
@click.option("--progress/--no-progress", default=None,
              help="Progress bars on stderr (default: when stderr is a terminal).")
@with_settings
def associate_cmd(settings: Settings, picks_csv, stations, model, output, progress):
    """Associate a pick table into located events (QuakeML with origins, arrivals, picks, magnitudes).

    The grid family (local, regional, global), node spacing and phases are chosen from the
    stations that have picks and from the travel-time table; the chosen grid is printed."""
    from pipeline import tasks

    try:
        res = tasks.associate_picks(settings, picks_csv, stations, output, model, progress=progress)
    except (ValueError, FileNotFoundError) as exc:
        one_line(exc)
    if res["stations_missing"]:
        click.echo(f"warning: picks of stations not in the station table: {', '.join(res['stations_missing'])}",
                   err=True)
    if res["grid"]:
        click.echo(res["grid"], err=True)
    click.echo(f"{res['picks']} picks read, {res['events']} events, {res['unassociated_picks']} picks unassociated "
               f"in {res['seconds']:.1f} s (association+location {res['seconds_chain']:.1f} s) -> {output}")


@cli.command("locate")
@click.argument("bulletin", type=click.Path(exists=True, dir_okay=False))
@click.option("--stations", type=click.Path(exists=True, dir_okay=False),
              help="StationXML or stations.csv; default: the store's stations.")
@click.option("--model", help="ak135 | iasp91 | velocity file (default: [traveltime] model).")
@click.option("-o", "--output", type=click.Path(dir_okay=False), required=True, help="QuakeML to write.")
@with_settings
def locate_cmd(settings: Settings, bulletin, stations, model, output):
    """Relocate every event of an IMS1.0/GSE2.0/QuakeML bulletin and recompute its magnitudes.

    An arrival without a time (blank IMS1.0 time field, QuakeML pick without <time>) is skipped
    with a warning naming file:line (and the pick id); the rest is located."""
    from pipeline import tasks

    try:
        res = tasks.locate_bulletin(settings, bulletin, stations, output, model)
    except (ValueError, FileNotFoundError) as exc:
        one_line(exc)
    if res["missing_stations"]:
        click.echo(f"warning: stations not in the station metadata (their arrivals were not used): "
                   f"{', '.join(res['missing_stations'])}", err=True)
    for f in res["skipped"]:
        click.echo(f"warning: {f}", err=True)
    for f in res["failed"]:
        click.echo(f"warning: not relocated: {f}", err=True)
    skipped = f", {len(res['skipped'])} arrivals skipped" if res["skipped"] else ""
    click.echo(f"{res['events']} events ({res['format']}) relocated{skipped} -> {output}")




def _automatic_product(value: str) -> str:
    from pipeline.store.products import AUTOMATIC_PRODUCTS

    v = str(value).upper()
    if v not in AUTOMATIC_PRODUCTS:
        raise click.BadParameter(f"{value!r}: the automatic chain makes {', '.join(AUTOMATIC_PRODUCTS)}; the REB "
                                 "comes from analyst review (`idc review publish`), SEB/SSEB from `idc screen`")
    return v


@cli.command("process")
@click.option("--product", required=True, callback=lambda ctx, param, v: _automatic_product(v),
              help="Automatic product to compute: SEL1, SEL2 or SEL3 (the REB comes from "
                   "`idc review publish`, SEB/SSEB from `idc screen`).")
@click.option("--start", type=ISO_TIME, required=True, help="Window start (ISO 8601).")
@click.option("--end", type=ISO_TIME, required=True, help="Window end (ISO 8601).")
@click.option("--progress/--no-progress", default=None,
              help="Progress bars on stderr over the stages and stations (default: when on a terminal).")
@with_settings
def process_cmd(settings: Settings, product, start, end, progress):
    """Run the automatic chain on the archive for a window and store a product version."""
    from pipeline import tasks

    try:
        res = tasks.process_window(settings, product, start, end, progress=progress)
    except Exception as exc:
        _fail(exc)
    state = "new version" if res["new_version"] else "re-run replaced"
    click.echo(f"{product} {res['start']} – {res['end']}: version {res['version']} ({state}), {res['events']} events, "
               f"{res.get('picks', 0)} detections, {res.get('unassociated_arrivals', 0)} unassociated "
               f"({res['seconds']} s) -> {res['file']}")


@cli.command("export")
@click.option("--product", type=click.Choice(list(PRODUCT_TYPES) + ["RRR"], case_sensitive=False), required=True,
              help="A bulletin, or RRR (the radionuclide reports of the samples collected in [start, end)).")
@click.option("--start", type=ISO_TIME, required=True, help="Window start (ISO 8601).")
@click.option("--end", type=ISO_TIME, required=True, help="Window end (ISO 8601).")
@click.option("--format", "fmt", type=click.Choice(["quakeml", "ims1", "gse2", "css3", "csv", "geojson", "rrr", "json"]),
              default=None, help="Bulletins: quakeml (default), ims1, gse2, css3, csv, geojson; RRR: rrr (IMS2.0 "
                                 "DATA message, default) or json.")
@click.option("--version", "version", type=int, default=None, help="Product version (default: newest).")
@click.option("--station", default=None, help="RRR: one station's samples only.")
@click.option("--sample", "sample_id", type=int, default=None, help="RRR: one sample (its id, `idc radionuclide samples`).")
@click.option("-o", "--output", type=click.Path(dir_okay=False), required=True)
@with_settings(reads_store=True)
def export_cmd(settings: Settings, product, start, end, fmt, version, station, sample_id, output):
    """Write a stored product as QuakeML, IMS1.0, GSE2.0, CSS3.0, CSV or GeoJSON; the
    radionuclide reports (RRR) as an IMS2.0 message or JSON.

    --start/--end name one product window, or a longer range (e.g. a day): then the newest
    version of every window of the product inside [start, end) is written (--version needs one
    window, for RRR one --sample)."""
    from pipeline import tasks

    product = product.upper()
    rrr = product == "RRR"
    fmt = fmt or ("rrr" if rrr else "quakeml")
    try:
        if rrr != (fmt in ("rrr", "json")):
            raise ValueError(f"--format {fmt} is not a format of {product} ("
                             + ("rrr or json" if rrr else "quakeml, ims1, gse2, css3, csv or geojson") + ")")
        if (station or sample_id is not None) and not rrr:
            raise ValueError("--station and --sample select radionuclide reports (--product RRR)")
        if rrr:
            if version is not None and sample_id is None:
                raise ValueError("--version of an RRR needs --sample (each sample's reports have their own versions)")
            res = tasks.export_reports(settings, start, end, fmt, output, station, sample_id, version)
            click.echo(f"RRR: {res['reports']} reports (versions {', '.join(map(str, res['versions']))}) -> "
                       f"{output} ({fmt})")
            return
        res = tasks.export_product(settings, product, start, end, fmt, output, version)
    except (FileNotFoundError, ValueError) as exc:
        one_line(exc)
    what = f"version {res['version']}" if res["version"] is not None else f"{res['windows']} windows (newest versions)"
    click.echo(f"{product} {what}: {res['events']} events -> {output} ({fmt})")


@cli.command("demo")
@with_settings
def demo(settings: Settings):
    """Run the demo end to end on its data and print a summary.

    The data folder is `[demo] data` of the configuration (not installed with the package; the
    repository's config/demo-iceland.toml points at tests/data/iceland, e.g.
    `idc --config config/demo-iceland.toml demo` from the repository root)."""
    from pipeline.demo import run_demo

    try:
        run_demo(settings, echo=click.echo)
    except Exception as exc:
        _fail(exc)


from pipeline.cli.serve import serve as _serve  # noqa: E402  (idc serve)
cli.add_command(_serve)

from pipeline.cli.review import review_group as _review, screen_cmd as _screen  # noqa: E402
cli.add_command(_review); cli.add_command(_screen)

from pipeline.cli.plot import plot_group as _plot  # noqa: E402  (idc plot)
cli.add_command(_plot)


from pipeline.cli.ops import airflow_group as _airflow, distribute as _distribute, latency as _latency  # noqa: E402
cli.add_command(_latency); cli.add_command(_airflow); cli.add_command(_distribute)

from pipeline.cli.autodrm import COMMANDS as _autodrm_cmds  # noqa: E402  (idc request, alerts, export-open)
for _c in _autodrm_cmds: cli.add_command(_c)  # noqa: E701
from pipeline.cli.accounts import accounts_group as _accounts, subscriptions_group as _subs  # noqa: E402
cli.add_command(_accounts); cli.add_command(_subs)
from pipeline.cli.autodrm_mail import autodrm_group as _autodrm_mail  # noqa: E402  (idc autodrm mail|log)
cli.add_command(_autodrm_mail)
from pipeline.cli.simulate import simulate_group as _simulate  # noqa: E402  (idc simulate detections)
cli.add_command(_simulate)
from pipeline.cli.archive import archive_group as _archive  # noqa: E402  (idc archive check)
cli.add_command(_archive)
from pipeline.cli.score import score as _score  # noqa: E402  (idc score)
cli.add_command(_score)
from pipeline.cli.radionuclide import radionuclide_group as _radionuclide  # noqa: E402  (idc radionuclide analyse)
cli.add_command(_radionuclide)
from pipeline.cli.array import array_group as _array  # noqa: E402  (idc array detect)
cli.add_command(_array)
from pipeline.cli.infrasound import infrasound_group as _infrasound  # noqa: E402  (idc infrasound detect|qc|locate)
cli.add_command(_infrasound)
from pipeline.cli.hydroacoustic import hydroacoustic_group as _hydroacoustic  # noqa: E402  (idc hydroacoustic detect)
cli.add_command(_hydroacoustic)


def main(argv: list[str] | None = None) -> None:
    """The ``idc`` entry point. The pipeline's own errors (:class:`IdcError`) end as one line,
    also one raised outside a command's :func:`with_settings` (the traceback with ``--debug``)."""
    try:
        cli.main(args=argv, prog_name="idc")
    except IdcError as exc:
        args = sys.argv[1:] if argv is None else argv
        if "--debug" in args or debug_enabled():
            raise
        click.echo(f"Error: {error_message(exc)}", err=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
