"""``idc review …`` (analyst review of SEL3 events into the REB) and ``idc screen`` (SEB/SSEB).

Thin: parses arguments and calls :mod:`pipeline.review` / :mod:`pipeline.tasks`. The analyst
name is ``--analyst``, else ``$IDC_ANALYST``, else ``$USER``, else ``review.default_analyst``.
"""
from __future__ import annotations

import json
import os

import click

from pipeline.cli.common import ISO_TIME, one_line, with_settings
from pipeline.settings import Settings

ANALYST_HELP = "Analyst name for the audit trail (default: $IDC_ANALYST, $USER, review.default_analyst)."


def _who(analyst: str | None) -> str | None:
    return analyst or os.environ.get("IDC_ANALYST") or os.environ.get("USER") or None


def _run(fn, *args, **kwargs):
    """Call a library function; review/configuration problems become a one-line CLI error."""
    try:  # (ReviewError is a ValueError)
        return fn(*args, **kwargs)
    except (ValueError, OSError) as exc:  # OSError: a missing file, the disk full
        one_line(exc)


def _analyst_option(f):
    return click.option("--analyst", default=None, help=ANALYST_HELP)(f)


def _print_event(snap: dict) -> None:
    o = snap["origin"]
    ell = (f"  ellipse {o['semi_major_km']}x{o['semi_minor_km']} km az {o['strike_deg']}"
           if o.get("semi_major_km") is not None else "")
    dep = f"{o['depth_km']} km" + (" (fixed)" if o.get("depth_type") == "operator assigned" else
                                   f" ± {o['depth_uncertainty_km']}" if o.get("depth_uncertainty_km") else "")
    click.echo(f"  {o['time']}  {o['latitude']:.4f} {o['longitude']:.4f}  depth {dep}  rms {o['rms_s']}  "
               f"ndef {o['ndef']} nsta {o['nsta']} gap {o['gap_deg']}{ell}")
    mags = ", ".join(f"{m['type']} {m['value']} ({m['nsta']})" for m in snap["magnitudes"])
    click.echo(f"  magnitudes: {mags or '-'}")
    click.echo(f"  {'id':>12} {'sta':<6} {'phase':<6} {'time':<27} {'dist':>7} {'tres':>6} {'azres':>7} "
               f"{'sres':>6} def")
    for a in snap["arrivals"]:
        def f(x, w, p):
            return f"{x:{w}.{p}f}" if x is not None else " " * (w - 1) + "-"

        click.echo(f"  {a['id']:>12} {a['station'] or '?':<6} {a['phase'] or '?':<6} {a['time'] or '-':<27} "
                   f"{f(a['distance_deg'], 7, 2)} {f(a['time_residual_s'], 6, 2)} "
                   f"{f(a['azimuth_residual_deg'], 7, 1)} {f(a['slowness_residual_s_deg'], 6, 2)} {a['defining']}")


@click.group("review")
def review_group():
    """Analyst review: SEL3 events -> accept/edit/relocate/reject -> REB (every action audited)."""


@review_group.command("enqueue")
@click.option("--start", type=ISO_TIME, required=True, help="Window start (ISO 8601).")
@click.option("--end", type=ISO_TIME, required=True, help="Window end (ISO 8601).")
@with_settings
def review_enqueue_cmd(settings: Settings, start, end):
    """Queue the SEL3 events of a window for review (already queued events are skipped)."""
    from pipeline import tasks

    res = _run(tasks.review_enqueue, settings, start, end)
    click.echo(f"{res['queued']} events queued ({res['already_queued']} already queued) from "
               f"{len(res['sel3'])} SEL3 product(s)")


@review_group.command("list")
@click.option("--status", type=click.Choice(["pending", "accepted", "rejected", "merged"]), multiple=True,
              help="Only items with this status (repeatable).")
@click.option("--day", type=ISO_TIME, help="Only events of this UTC day (ISO 8601 date).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@with_settings
def review_list_cmd(settings: Settings, status, day, as_json):
    """List the review queue (oldest origin first)."""
    from pipeline.review.queue import list_queue, utc_day

    start = end = None
    if day:
        start = _run(utc_day, day)
        end = start + 86400
    rows = _run(list_queue, settings, list(status) or None, start, end)
    if as_json:
        click.echo(json.dumps(rows, indent=1))
        return
    if not rows:
        click.echo("review queue is empty" + (f" for {day}" if day else ""))
        return
    click.echo(f"{'id':>5} {'status':<9} {'origin time':<27} {'lat':>8} {'lon':>9} {'depth':>6} {'mb':>5} "
               f"{'ndef':>4} {'nsta':>4}  EDC  note")
    for r in rows:
        note = ", ".join(x for x in ("needs relocation" if r["needs_relocation"] else "",
                                     f"REB v{r['published_version']}" if r["published_version"] else "",
                                     f"merged into {r['merged_into']}" if r["merged_into"] else "") if x)
        mb = f"{r['mb']:.1f}" if r["mb"] is not None else "-"
        click.echo(f"{r['id']:>5} {r['status']:<9} {r['time']:<27} {r['latitude']:>8.3f} {r['longitude']:>9.3f} "
                   f"{r['depth_km']:>5.1f}{'f' if r['depth_fixed'] else ' '} {mb:>5} {r['ndef']:>4} {r['nsta']:>4}  "
                   f"{'ok ' if r['edc_passed'] else 'NO '}  {note}")


@review_group.command("show")
@click.argument("item", type=int)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output (with before/after snapshots).")
@with_settings
def review_show_cmd(settings: Settings, item, as_json):
    """Show one item: hypocentre, magnitudes, arrivals, EDC outcome and audit trail."""
    from pipeline.review.queue import show

    res = _run(show, settings, item)
    if as_json:
        click.echo(json.dumps(res, indent=1, default=str))
        return
    flags = ", ".join(x for x in (f"depth fixed at {res['fixed_depth_km']} km" if res["fixed_depth_km"] is not None
                                  else "", "needs relocation" if res["needs_relocation"] else "") if x)
    click.echo(f"review item {res['id']}: {res['status']}" + (f" ({flags})" if flags else ""))
    _print_event(res["event"])
    edc = res["edc"]
    click.echo("  Event Definition Criteria: " + ("met" if edc["passed"] else "NOT met: " + "; ".join(edc["reasons"])))
    click.echo("  history:")
    for a in res["actions"]:
        d = a["detail"]
        what = d.get("text") or d.get("reason") or d.get("changes") or d.get("status") or {
            k: v for k, v in d.items() if k not in ("edc",)}
        click.echo(f"    {a['time'][:19]}  {a['analyst']:<12} {a['action']:<9} {what}")


@review_group.command("accept")
@click.argument("item", type=int)
@click.option("--comment", default="", help="Note stored with the action.")
@_analyst_option
@with_settings
def review_accept_cmd(settings: Settings, item, comment, analyst):
    """Accept an event for the REB (refused, with the reasons, when it fails the EDC)."""
    from pipeline.review.queue import accept

    _run(accept, settings, item, _who(analyst), comment)
    click.echo(f"review item {item}: accepted")


@review_group.command("reject")
@click.argument("item", type=int)
@click.option("--reason", default="", help="Why (stored in the audit trail).")
@_analyst_option
@with_settings
def review_reject_cmd(settings: Settings, item, reason, analyst):
    """Reject an event: it never enters the REB."""
    from pipeline.review.queue import reject

    _run(reject, settings, item, _who(analyst), reason)
    click.echo(f"review item {item}: rejected")


def _parse_pairs(values, what: str) -> dict[str, str]:
    out = {}
    for v in values:
        k, sep, val = v.partition("=")
        if not sep or not k:
            raise click.BadParameter(f"{v!r}: expected ARRIVAL={what}")
        out[k] = val
    return out


def _parse_add(value: str) -> dict:
    parts = [p.strip() for p in value.split(",")]
    if len(parts) < 3:
        raise click.BadParameter(f"{value!r}: expected STA,PHASE,TIME[,key=value...] "
                                 "(keys: network, channel, backazimuth, slowness, amplitude_nm, period_s, snr, "
                                 "time_uncertainty, defining)")
    spec = {"station": parts[0], "phase": parts[1], "time": parts[2]}
    for p in parts[3:]:
        k, sep, v = p.partition("=")
        if not sep:
            raise click.BadParameter(f"{p!r} in {value!r}: expected key=value")
        spec[k.strip()] = v.strip()
    return spec


@review_group.command("edit")
@click.argument("item", type=int)
@click.option("--depth", help="Fix the depth (km), or 'free' to solve for it again.")
@click.option("--remove", "remove", multiple=True, metavar="ARRIVAL", help="Disassociate an arrival (repeatable).")
@click.option("--add", "add", multiple=True, metavar="STA,PHASE,TIME[,k=v]", help="Associate a new arrival.")
@click.option("--rename", multiple=True, metavar="ARRIVAL=PHASE", help="Rename an arrival's phase.")
@click.option("--defining", multiple=True, metavar="ARRIVAL=TAS", help="Set defining flags (T, A, S or -).")
@click.option("--merge", "merge_with", type=int, metavar="ITEM", help="Merge the arrivals of ITEM into this one.")
@click.option("--split", "split_off", multiple=True, metavar="ARRIVAL", help="Move arrivals to a new event.")
@_analyst_option
@with_settings
def review_edit_cmd(settings: Settings, item, depth, remove, add, rename, defining, merge_with, split_off, analyst):
    """Edit an event. ARRIVAL is the id shown by `idc review show`, STA or STA:PHASE.
    Relocate afterwards (`idc review relocate ITEM`)."""
    from pipeline.review import queue

    who = _who(analyst)
    edits = depth is not None or remove or add or rename or defining
    if sum(bool(x) for x in (edits, merge_with is not None, split_off)) != 1:
        raise click.UsageError("give edits (--depth/--remove/--add/--rename/--defining), or --merge, or --split")
    if merge_with is not None:
        res = _run(queue.merge, settings, item, merge_with, who)
        click.echo(f"review item {merge_with} merged into {item}: {len(res['moved_arrivals'])} arrivals moved")
    elif split_off:
        res = _run(queue.split, settings, item, list(split_off), who)
        click.echo(f"review item {item}: {len(res['moved_arrivals'])} arrivals moved to new item {res['new_item']}")
    else:
        res = _run(queue.edit, settings, item, who, depth_km=depth, remove=remove,
                   add=[_parse_add(a) for a in add], rename=_parse_pairs(rename, "PHASE"),
                   defining=_parse_pairs(defining, "TAS"))
        click.echo(f"review item {item}: {len(res['changes'])} change(s); relocate next")


@review_group.command("relocate")
@click.argument("item", type=int)
@_analyst_option
@with_settings
def review_relocate_cmd(settings: Settings, item, analyst):
    """Relocate the event from its defining arrivals and recompute its magnitudes."""
    from pipeline.review.queue import relocate

    res = _run(relocate, settings, item, _who(analyst))
    o = res["origin"]
    mags = ", ".join(f"{m['type']} {m['value']}" for m in res["magnitudes"]) or "no magnitude"
    click.echo(f"review item {item} relocated: {o['time']} {o['latitude']:.4f} {o['longitude']:.4f} "
               f"{o['depth_km']} km, rms {o['rms_s']} s, {mags}")
    if not res["edc"]["passed"]:
        click.echo("warning: does not meet the Event Definition Criteria: " + "; ".join(res["edc"]["reasons"]),
                   err=True)


@review_group.command("comment")
@click.argument("item", type=int)
@click.argument("text")
@_analyst_option
@with_settings
def review_comment_cmd(settings: Settings, item, text, analyst):
    """Add a comment to an item's audit trail."""
    from pipeline.review.queue import comment

    _run(comment, settings, item, text, _who(analyst))
    click.echo(f"review item {item}: comment stored")


@review_group.command("publish")
@click.option("--day", type=ISO_TIME, required=True, help="UTC day (ISO 8601 date).")
@_analyst_option
@with_settings
def review_publish_cmd(settings: Settings, day, analyst):
    """Freeze the accepted events of a UTC day into a new REB product version (none when they are
    what the newest version already holds)."""
    from pipeline import tasks

    res = _run(tasks.reb_publish, settings, day, _who(analyst))
    same = " (unchanged: already published)" if res.get("unchanged") else ""
    click.echo(f"REB {res['day']} version {res['version']}{same}: {res['events']} events -> {res['file']}")
    for x in res["excluded"]:
        click.echo(f"warning: item {x['id']} left out (Event Definition Criteria): {'; '.join(x['reasons'])}",
                   err=True)


@click.command("screen")
@click.option("--day", type=ISO_TIME, required=True, help="UTC day (ISO 8601 date) whose REB to screen.")
@click.option("--reb-version", type=int, default=None, help="REB version (default: newest).")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@with_settings
def screen_cmd(settings: Settings, day, reb_version, as_json):
    """Event screening: REB of a day -> SEB (characterisation) and SSEB (screening outcomes)."""
    from pipeline import tasks

    res = _run(tasks.screen, settings, day, reb_version)
    if as_json:
        click.echo(json.dumps(res, indent=1))
        return
    click.echo(f"{res['day']}: REB v{res['reb_version']} -> SEB v{res['seb_version']}, SSEB v{res['sseb_version']}: "
               f"{res['events']} events, {res['screened_out']} screened out")
    for e in res["per_event"]:
        crit = ", ".join(f"{k} {v.replace('_', ' ')}" for k, v in e["criteria"].items())
        click.echo(f"  {e['time'][:21]} {e['latitude']:>8.3f} {e['longitude']:>9.3f}  {e['outcome']:<16} ({crit})")
