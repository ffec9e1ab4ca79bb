"""Operations commands: ``idc latency`` (product latency report), ``idc distribute`` (the distribute
DAG by hand) and ``idc airflow up|down|status|run``."""
from __future__ import annotations

import json

import click

from pipeline.cli.main import _fail, with_settings
from pipeline.settings import Settings


def _dur(s: float) -> str:
    s = float(s)
    if abs(s) < 120:
        return f"{s:.1f} s"
    if abs(s) < 7200:
        return f"{s / 60:.1f} min"
    if abs(s) < 172800:
        return f"{s / 3600:.1f} h"
    return f"{s / 86400:.1f} d"


@click.command("latency")
@click.option("--product", "-p", default=None, help="One product type (SEL1, SEL2, SEL3, REB, SEB, SSEB).")
@click.option("--since", default=None, help="Only windows ending at or after this time (ISO 8601).")
@click.option("--until", default=None, help="Only windows ending at or before this time (ISO 8601).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@with_settings
def latency(settings: Settings, product, since, until, as_json):
    """Latency per product: end of the data window -> product stored (from every logged run)."""
    from pipeline import tasks

    try:
        rep = tasks.latency_report(settings, product, since, until)
    except ValueError as exc:
        _fail(exc)
    if as_json:
        click.echo(json.dumps(rep, indent=2))
        return
    if not rep["products"]:
        click.echo("no product runs logged yet (run `idc process` or the sel1/sel2/sel3 DAGs)")
        return
    click.echo(f"{'product':<8}{'runs':>6}{'windows':>8}{'new ver':>8}  {'latency median':>15}{'p90':>10}"
               f"{'max':>10}  {'run median':>11}  last window")
    for typ, r in rep["products"].items():
        lat, dur, last = r["latency_s"], r["duration_s"], r["last"]
        click.echo(f"{typ:<8}{r['runs']:>6}{r['windows']:>8}{r['new_versions']:>8}  {_dur(lat['median']):>15}"
                   f"{_dur(lat['p90']):>10}{_dur(lat['max']):>10}  {_dur(dur['median']):>11}  "
                   f"{last['window'][0][:16]}–{last['window'][1][11:16]} v{last['version']} ({last['runner']})")


@click.group("airflow")
def airflow_group():
    """Airflow for operators: `up` starts `airflow standalone` on this store and dags/, `down` stops it."""


@airflow_group.command("up")
@click.option("--wait", "wait_s", type=float, default=180.0, show_default=True, help="Seconds to wait for health.")
@with_settings
def airflow_up(settings: Settings, wait_s):
    """Start Airflow (scheduler, DAG processor, triggerer, API server + UI) in the background."""
    from pipeline import orchestration

    try:
        st = orchestration.up(settings, wait_s=wait_s)
    except orchestration.AirflowRunError as exc:
        _fail(exc)
    verb = "already running" if st.get("already_running") else f"started in {st.get('seconds', 0)} s"
    click.echo(f"Airflow {verb} (pid {st['pid']}, process group)")
    click.echo(f"  UI      : {st['url']}")
    if st.get("user"):
        click.echo(f"  login   : {st['user']} / {st['password']}   (from {st['password_file']})")
    click.echo(f"  DAGs    : {orchestration.DAGS_FOLDER}  (new DAGs start paused: `airflow dags unpause sel1`)")
    click.echo(f"  log     : {st['log']}")
    click.echo("  stop    : idc airflow down   (or make airflow-down)")


@airflow_group.command("down")
@with_settings
def airflow_down(settings: Settings):
    """Stop the Airflow started by `idc airflow up` (the whole process group)."""
    from pipeline import orchestration

    r = orchestration.down(settings)
    click.echo(f"stopped Airflow (pid {r['pid']}) in {r['seconds']} s" if r["stopped"] else r["reason"])


@airflow_group.command("status")
@with_settings
def airflow_status(settings: Settings):
    """Is the Airflow of `idc airflow up` running?"""
    from pipeline import orchestration

    st = orchestration.status(settings)
    click.echo(json.dumps(st, indent=2))


@airflow_group.command("run")
@click.argument("dag_id")
@click.argument("logical_date")
@with_settings
def airflow_run(settings: Settings, dag_id, logical_date):
    """Run one DAG in this process (dag.test) for the window ending at LOGICAL_DATE."""
    from pipeline import orchestration

    try:
        r = orchestration.run_dag(settings, dag_id, logical_date)
    except orchestration.AirflowRunError as exc:
        _fail(exc)
    click.echo(f"{r.dag_id} {r.data_interval[0]} – {r.data_interval[1]}: {r.state} "
               f"({', '.join(f'{k} {v}' for k, v in r.tasks.items())}); log {r.log}")


@airflow_group.command("env")
@with_settings
def airflow_env(settings: Settings):
    """Print `export` lines for this configuration's Airflow (use: eval "$(idc airflow env)")."""
    import shlex

    from pipeline import orchestration

    env = {**orchestration.airflow_environ(settings), **orchestration.idc_environ(settings)}
    for k, v in env.items():
        click.echo(f"export {k}={shlex.quote(v)}")


@click.command("distribute")
@click.option("--product", default=None, type=click.Choice(["SEL1", "SEL2", "SEL3", "REB", "SEB", "SSEB"]),
              help="One product window (with --start/--end); default: every window not distributed yet.")
@click.option("--start", default=None, help="Window start (ISO 8601).")
@click.option("--end", default=None, help="Window end (ISO 8601).")
@click.option("--version", type=int, default=None, help="Product version (default: newest).")
@with_settings
def distribute(settings: Settings, product, start, end, version):
    """What the distribute DAG does, by hand: alerts, subscriber deliveries and the outbox files
    (IMS1.0 + QuakeML) of a product version, or of every newest version not in the outbox yet.
    Safe to re-run, after a crash too (see pipeline.distribution.deliver: at least once, by delivery id)."""
    from pipeline import tasks

    if product and not (start and end):
        raise click.UsageError("--product needs --start and --end")
    try:
        res = [tasks.distribute(settings, product, start, end, version)] if product else tasks.distribute_pending(settings)
    except Exception as exc:
        _fail(exc)
    for r in res:
        d = r["deliveries"]
        click.echo(f"{r['product']} {r['window'][0][:19]} – {r['window'][1][:19]} v{r['version']}: {r['events']} events, "
                   f"{len(r['alerts'])} alert messages, deliveries {d['delivered']} sent / {d['already']} already / "
                   f"{d['failed']} failed / {d['skipped']} skipped")
    if not res:
        click.echo("nothing to distribute: every newest product version is in the outbox")
    if any(r["deliveries"].get("failed") for r in res):
        raise SystemExit(1)
