"""``idc score``: a stored automatic bulletin (or a bulletin file) against a reference catalogue."""
from __future__ import annotations

import json

import click

from pipeline.cli.common import ISO_TIME, PRODUCTS, _fail, with_settings
from pipeline.settings import Settings


@click.command("score")
@click.option("--reference", required=True, type=click.Path(exists=True, dir_okay=False),
              help="Reference catalogue: QuakeML, IMS1.0, GSE2.0, or CSV (time, latitude, longitude[, depth_km, mag]).")
@click.option("--product", type=PRODUCTS, default=None, help="Stored product to score (with --start/--end).")
@click.option("--start", type=ISO_TIME, default=None, help="Start (UTC): product windows and reference events from here.")
@click.option("--end", type=ISO_TIME, default=None, help="End (UTC, exclusive).")
@click.option("--bulletin", type=click.Path(exists=True, dir_okay=False), default=None,
              help="Bulletin file to score instead of a stored product (QuakeML, IMS1.0, GSE2.0).")
@click.option("--dt", "dt_s", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Origin-time tolerance, s (default 10).")
@click.option("--distance-km", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Epicentre tolerance, km (default 100).")
@click.option("--json", "as_json", is_flag=True, help="JSON: the figures, the pairs, the missed and false events.")
@click.option("--list-max", type=click.IntRange(min=0), default=20, show_default=True,
              help="How many missed/false events to list.")
@with_settings(reads_store=False)
def score(settings: Settings, reference, product, start, end, bulletin, dt_s, distance_km, as_json, list_max):
    """Match a bulletin against a reference catalogue: matched %, missed %, false %, epicentre
    error median/p90, depth and magnitude bias, and the missed and false events.

    Rule (pipeline.scoring): one-to-one; reference events in time order each take the unmatched
    reported event within --dt and --distance-km that minimises |dt| + distance / 8 km/s.
    """
    from pipeline import scoring, tasks

    if (bulletin is None) == (product is None):
        raise click.UsageError("give either --bulletin FILE or --product with --start and --end")
    if product is not None and (start is None or end is None):
        raise click.UsageError("--product needs --start and --end")
    try:
        res = tasks.score_bulletin(settings, reference, product=product, start=start, end=end, bulletin=bulletin,
                                   dt_s=dt_s, distance_km=distance_km)
    except (ValueError, FileNotFoundError) as exc:
        _fail(exc)
    what = bulletin or f"{product} {start} – {end}"
    if as_json:
        click.echo(json.dumps({"scored": str(what), "reference": str(reference), **res.as_dict(list_max)}, indent=1))
    else:
        click.echo(scoring.format_text(res, f"{what} against {reference}", list_max))
