"""Operations commands: ``idc latency`` (product latency report), ``idc distribute`` (the distribute
DAG by hand) and ``idc airflow up|down|status|run``."""
from __future__ import annotations

import json

import click

from pipeline.cli.common import ISO_TIME, PRODUCTS, _fail, with_settings
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
@click.option("--product", "-p", type=PRODUCTS, default=None, help="One product type.")
@click.option("--since", type=ISO_TIME, default=None, help="Only windows ending at or after this time (ISO 8601).")
@click.option("--until", type=ISO_TIME, default=None, help="Only windows ending at or before this time (ISO 8601).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@with_settings(reads_store=True)
def latency(settings: Settings, product, since, until, as_json):
    """Latency per product: end of the data window -> product stored (from every logged run).

    Backfill runs (Airflow backfills of archived data) are measured from the arrival of the
    window's newest data in the store instead, when that is later than the window end."""
    from pipeline import tasks

    try:
        rep = tasks.latency_report(settings, product.upper() if product else None, since, until)
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

    st = orchestration.up(settings, wait_s=wait_s)  # AirflowRunError: one line (with_settings)
    verb = "already running" if st.get("already_running") else f"started in {st.get('seconds', 0)} s"
    click.echo(f"Airflow {verb} (pid {st['pid']}, process group)")
    click.echo(f"  UI      : {st['url']}")
    if st.get("user"):
        click.echo(f"  login   : {st['user']}, password in {st['password_file']}")
    ready = st.get("home_ready")
    if ready:
        click.echo(f"  home    : {settings.home} (store at {ready['store']['to']}, {ready['stations']['files']} station "
                   f"files loaded" + (f", drop folder {ready['drop_dir']}" if ready["drop_dir"] else "") + ")")
    click.echo(f"  DAGs    : {orchestration.DAGS_FOLDER}  (new DAGs start paused; "
               "`idc airflow backfill --start … --end …` unpauses and runs past windows)")
    click.echo(f"  log     : {st['log']}")
    click.echo("  stop    : idc airflow down   (or make airflow-down)")


@airflow_group.command("down")
@with_settings
def airflow_down(settings: Settings):
    """Stop the Airflow started by `idc airflow up` (the whole process group)."""
    from pipeline import orchestration

    r = orchestration.down(settings)
    click.echo(f"stopped Airflow (pid {r['pid']}) in {r['seconds']} s" if r["stopped"] else r["reason"])
    if r.get("other"):  # another home's Airflow serves our port: nothing was stopped, say so by the exit code
        raise SystemExit(1)


@airflow_group.command("status")
@with_settings
def airflow_status(settings: Settings):
    """Is the Airflow of `idc airflow up` (this home) running? Exit 1 when another Airflow serves the
    configured port (started from another home). The admin password is not printed: see the file."""
    from pipeline import orchestration

    st = orchestration.status(settings)
    click.echo(json.dumps(st, indent=2))
    if st.get("other"):
        click.echo(f"Airflow of {orchestration.airflow_home(settings)} is not running, "
                   + orchestration.describe_other(st), err=True)
        raise SystemExit(1)


@airflow_group.command("backfill")
@click.option("--start", type=ISO_TIME, required=True, help="First window starts at or after this time (ISO 8601).")
@click.option("--end", type=ISO_TIME, required=True, help="Last window ends at or before this time (exclusive).")
@click.option("--dag", "dags", multiple=True,
              type=click.Choice(["ingest", "sel1", "sel2", "sel3", "reb_publish", "station_health"]),
              help="DAG to backfill (repeatable); default: ingest, sel1, sel2, sel3. The daily DAGs "
                   "(reb_publish, station_health) backfill whole days inside --start/--end.")
@click.option("--wait/--no-wait", default=True, show_default=True,
              help="Wait for the runs and print each window's state (--no-wait: create them and return).")
@click.option("--timeout", "timeout_s", type=float, default=1800.0, show_default=True,
              help="Seconds to wait with --wait.")
@with_settings
def airflow_backfill(settings: Settings, start, end, dags, wait, timeout_s):
    """Run the DAG windows inside [--start, --end) on the running Airflow (`idc airflow up`).

    The DAGs have catchup=False, so past (archived) data is processed only by a backfill. This
    unpauses each DAG, creates one Airflow backfill per DAG for exactly the windows inside the
    range (end exclusive; ingest first and waited for, so the SEL windows find its data), and
    prints each run's state. Exit 1 when a run failed."""
    from pipeline import orchestration

    try:
        rep = orchestration.backfill(settings, start, end, dags or orchestration.BACKFILL_DAGS,
                                     wait_s=timeout_s if wait else 0.0, echo=click.echo)
    except ValueError as exc:  # (AirflowRunError: with_settings)
        _fail(exc)
    if not wait:
        click.echo(f"watch: {orchestration.status(settings).get('url')}/dags (Backfills tab), or "
                   f"`airflow dags list-runs <dag>` with `eval \"$(idc airflow env)\"`")
        return
    for dag_id, r in rep["dags"].items():
        n = sum(1 for v in r["states"].values() if v == "success")
        click.echo(f"{dag_id}: {n}/{len(r['windows'])} windows success")
    if not rep.get("ok"):
        raise SystemExit(1)


@airflow_group.command("run")
@click.argument("dag_id")
@click.argument("logical_date")
@with_settings
def airflow_run(settings: Settings, dag_id, logical_date):
    """Run one DAG in this process (dag.test) for the window ending at LOGICAL_DATE."""
    from pipeline import orchestration

    r = orchestration.run_dag(settings, dag_id, logical_date)  # AirflowRunError: one line (with_settings)
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
@click.option("--product", default=None, type=PRODUCTS,
              help="One product window (with --start/--end); default: every window not distributed yet.")
@click.option("--start", type=ISO_TIME, default=None, help="Window start (ISO 8601).")
@click.option("--end", type=ISO_TIME, default=None, help="Window end (ISO 8601).")
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
    except Exception as exc:  # command boundary: one line (traceback with --debug)
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
