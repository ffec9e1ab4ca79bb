"""`make demo`: the main job end to end on the bundled Iceland data (grows with each stage)."""
from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Callable

from pipeline.settings import Settings


def run_demo(settings: Settings, echo: Callable[[str], None] = print, reset: bool = True) -> dict:
    """The main job through the real DAGs (in-process ``dag.test()``): files arrive in the drop
    folder in two deliveries; ``ingest`` → ``sel1`` sees the first, the late files reach ``sel2`` and
    ``sel3``; ``distribute`` writes the outbox. Returns the summaries of each step."""
    from obspy import UTCDateTime

    from pipeline import orchestration, tasks

    t0 = time.perf_counter()
    waveforms = settings.demo_data() / "waveforms"  # ConfigError naming [demo] data when absent
    echo(f"== idc-pipeline demo ({settings.name}); home: {settings.home}")
    if reset:
        _reset_home(settings)
    up = tasks.db_upgrade(settings)
    echo(f"store: {up['database']} (schema {up['to']})")
    st = tasks.load_stations(settings)
    echo(f"stations: {st['files']} files, {st['sites_new']} new stations, {st['channels_new']} new channels")
    ahome = orchestration.prepare(settings)
    echo(f"airflow: DAGs {orchestration.DAGS_FOLDER}, metadata under {ahome} (in-process dag.test runs)")

    files = sorted(p for p in waveforms.iterdir() if p.is_file())
    half = len(files) // 2
    drop = settings.home / (settings.ingest.drop_dir or "drop")
    runs = []

    def dag(dag_id: str, when: str) -> None:
        t = time.perf_counter()
        r = orchestration.run_dag(settings, dag_id, when)
        runs.append(r)
        echo(f"   dag {dag_id:<10} window {r.data_interval[0][11:16]}-{r.data_interval[1][11:16]}: {r.state} "
             f"({', '.join(f'{k} {v}' for k, v in r.tasks.items())}) in {time.perf_counter() - t:.1f} s")

    def deliver(batch, label):
        drop.mkdir(parents=True, exist_ok=True)
        for f in batch:
            shutil.copy2(f, drop / f.name)
        echo(f"{label}: {len(batch)} files ({UTCDateTime(batch[0].name[:14])} ... {batch[-1].name[8:14]}) "
             f"delivered to {drop}")

    echo("")
    echo("== real time, first delivery (SEL1 runs before the late files arrive)")
    deliver(files[:half], "delivery 1")
    dag("ingest", "2014-08-24T00:10:00")
    dag("sel1", DEMO_WINDOW[1])
    echo("== the late files arrive; SEL2 and SEL3 of the same window include them")
    deliver(files[half:], "delivery 2")
    dag("ingest", "2014-08-24T00:20:00")
    dag("sel2", DEMO_WINDOW[1])
    dag("sel3", DEMO_WINDOW[1])
    dag("distribute", DEMO_WINDOW[1])
    history = tasks.product_history(settings, start=DEMO_WINDOW[0], end=DEMO_WINDOW[1])
    echo("   product history of the window (one version each; a re-run replaces, never duplicates):")
    for h in history:
        echo(f"     {h['type']:<5} v{h['version']}  {h['events']:>3} events  {h['arrivals']:>4} arrivals  "
             f"inputs {h['input_fingerprint']}  stored {h['created'][:19]}")
    lat = tasks.latency_report(settings)["products"]
    echo("   run durations: " + ", ".join(f"{k} {v['duration_s']['median']:.1f} s" for k, v in lat.items())
         + "  (`idc latency` for latencies; these 2014 data are processed years late)")

    av = tasks.availability(settings)["channels"]
    ing_total = len(files)
    stations = sorted({c["nslc"].split(".")[1] for c in av})
    ngaps = sum(c["gaps"] for c in av)
    echo("")
    echo(f"== archive: {len(stations)} stations, {len(av)} channels")
    first = min(c["first"] for c in av) if av else None
    last = max(c["last"] for c in av) if av else None
    if av:
        echo(f"   span {UTCDateTime(first)} – {UTCDateTime(last)}")
        covs = sorted(c["coverage"] for c in av)
        echo(f"   coverage per channel: min {100 * covs[0]:.2f}%  median {100 * covs[len(covs) // 2]:.2f}%  "
             f"max {100 * covs[-1]:.2f}%")
        echo(f"   gaps: {ngaps} in all ({sum(c['gap_s'] for c in av):.1f} channel-seconds); per station:")
        for sta in stations:
            cs = [c for c in av if c["nslc"].split(".")[1] == sta]
            gaps = max(c["gaps"] for c in cs)
            echo(f"     {sta:<6} {len(cs)} ch  coverage {100 * min(c['coverage'] for c in cs):6.2f}%  "
                 f"gaps {gaps}  ({max(c['gap_s'] for c in cs):.1f} s)")
    figure = _record_section(settings, echo)
    comparison = compare_with_quakemigrate(settings, echo)
    outbox = settings.products_dir / "outbox" / "SEL3"
    echo("")
    echo("== outputs")
    echo(f"   SDS archive : {settings.archive_dir}")
    echo(f"   store       : {up['database']}")
    echo(f"   quarantine  : {settings.quarantine_dir}")
    echo(f"   airflow     : {ahome} (DAG run logs: {runs[-1].log})")
    if figure:
        echo(f"   figure      : {figure}")
    for f in sorted(outbox.glob("*")):
        echo(f"   SEL3        : {f}")
    cfg = settings.sources[-1]
    try:
        cfg = str(Path(cfg).relative_to(settings.root))
    except ValueError:
        pass
    echo(f"   try         : .venv/bin/idc --config {cfg} availability --gaps")
    echo(f"                 .venv/bin/idc --config {cfg} latency")
    echo(f"demo finished in {time.perf_counter() - t0:.1f} s")
    sel3 = next(h for h in history if h["type"] == "SEL3")
    return {"stations": st, "files": ing_total, "runs": runs, "history": history, "availability": av,
            "sel3": sel3, "outbox": sorted(str(f) for f in outbox.glob("*")), "comparison": comparison}


def _reset_home(settings: Settings) -> None:
    """The demo starts from an empty store, archive and Airflow (the travel-time cache is kept)."""
    from pipeline.orchestration import airflow_home

    home = settings.home
    for name in ("archive", "products", "quarantine", "drop"):
        shutil.rmtree(home / name, ignore_errors=True)
    shutil.rmtree(airflow_home(settings), ignore_errors=True)
    if settings.database_url.startswith("sqlite:///"):
        db = Path(settings.database_url[len("sqlite:///"):])
        for f in (db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")):
            f.unlink(missing_ok=True)


#: the demo's SEL window: one 20-minute DAG interval (the bundled record spans 00:01:00-00:10:07)
DEMO_WINDOW = ("2014-08-24T00:00:00", "2014-08-24T00:20:00")


def compare_with_quakemigrate(settings: Settings, echo: Callable[[str], None], product: str = "SEL3",
                              window: tuple[str, str] | None = None) -> dict:
    """Our SEL3 origins beside QuakeMigrate's solutions (the .event files): matched events
    (origin time within 2 s, epicentre within 5 km), median epicentre/depth/ML differences."""
    import csv

    import numpy as np
    from obspy import UTCDateTime
    from obspy.geodetics import gps2dist_azimuth

    from pipeline.store.catalog import load_catalog
    from pipeline.store.db import session_scope
    from pipeline.store.products import ProductKey, latest_version

    window = window or DEMO_WINDOW
    key = ProductKey(product, float(UTCDateTime(window[0]).timestamp), float(UTCDateTime(window[1]).timestamp))
    with session_scope(settings.database_url) as s:
        cat = load_catalog(s, latest_version(s, key))
    qm = []
    for f in sorted((settings.demo_data() / "quakemigrate").glob("*.event")):
        with open(f) as fh:
            qm += list(csv.DictReader(fh))
    ours = [(e.preferred_origin(), next((m.mag for m in e.magnitudes if m.magnitude_type == "ML"), None)) for e in cat]
    used, rows = set(), []
    n_qm_ml = 0  # matched events that have a QuakeMigrate ML
    echo("")
    echo(f"== {product} beside QuakeMigrate ({len(qm)} events; match: |dt| <= 2 s and epicentre <= 5 km)")
    echo(f"   {'QuakeMigrate event':<20} {'dt s':>6} {'epi km':>7} {'our z':>6} {'QM z':>6} {'our ML':>7} {'QM ML':>6}")
    for q in qm:
        qt, qlat, qlon = UTCDateTime(q["DT"]), float(q["Y"]), float(q["X"])
        best = None
        for k, (o, ml) in enumerate(ours):
            if k in used or abs(o.time - qt) > 2.0:
                continue
            d = gps2dist_azimuth(qlat, qlon, o.latitude, o.longitude)[0] / 1000.0
            if d <= 5.0 and (best is None or d < best[1]):
                best = (k, d)
        qml = float(q["ML"]) if (q.get("ML") or "").strip() else None
        if best is None:
            echo(f"   {q['EventID']:<20} {'-':>6} {'-':>7} {'-':>6} {float(q['Z']):>6.1f} {'-':>7} "
                 f"{qml if qml is not None else float('nan'):>6.2f}   not matched")
            continue
        used.add(best[0])
        o, ml = ours[best[0]]
        n_qm_ml += qml is not None
        rows.append((o.time - qt, best[1], o.depth / 1000.0 - float(q["Z"]),
                     (ml - qml) if ml is not None and qml is not None else None))
        echo(f"   {q['EventID']:<20} {o.time - qt:>6.2f} {best[1]:>7.2f} {o.depth / 1000.0:>6.1f} {float(q['Z']):>6.1f} "
             f"{ml if ml is not None else float('nan'):>7.2f} {qml if qml is not None else float('nan'):>6.2f}")
    epi = [r[1] for r in rows]
    dz = [abs(r[2]) for r in rows]
    dml = [abs(r[3]) for r in rows if r[3] is not None]
    out = {"quakemigrate_events": len(qm), "our_events": len(ours), "matched": len(rows),
           "median_epicentre_km": float(np.median(epi)) if epi else None,
           "median_abs_depth_km": float(np.median(dz)) if dz else None,
           "median_abs_ml": float(np.median(dml)) if dml else None,
           "max_abs_ml": float(np.max(dml)) if dml else None,
           "ml_compared": len(dml), "matched_with_qm_ml": n_qm_ml}
    echo(f"   matched {len(rows)} of {len(qm)} QuakeMigrate events ({len(ours)} {product} events in all); "
         f"median epicentre difference {out['median_epicentre_km'] or float('nan'):.2f} km, "
         f"median |depth difference| {out['median_abs_depth_km'] or float('nan'):.2f} km, "
         f"|ML difference| median {out['median_abs_ml'] or float('nan'):.2f}, largest "
         f"{out['max_abs_ml'] or float('nan'):.2f} ({len(dml)} of the {n_qm_ml} matched events with an ML)")
    return out


def _record_section(settings: Settings, echo: Callable[[str], None]):
    """Record section from the archive of the largest QuakeMigrate event (reference origin)."""
    import csv

    from obspy import UTCDateTime, read_inventory
    from obspy.clients.filesystem.sds import Client

    from pipeline.plots import plot_record_section

    qm = settings.demo_data() / "quakemigrate"
    events = []
    for f in sorted(qm.glob("*.event")):
        with open(f) as fh:
            events += list(csv.DictReader(fh))
    if not events:
        return None
    events = [e for e in events if (e.get("ML") or "").strip()]  # one event has no ML
    if not events:
        return None
    ev = max(events, key=lambda e: float(e["ML"]))
    t0 = UTCDateTime(ev["DT"])
    st = Client(str(settings.archive_dir)).get_waveforms("*", "*", "*", "HHZ", t0 - 10, t0 + 30)
    inv = read_inventory(str(settings.station_paths()[0]))
    picks: dict = {}
    pf = qm / f"{ev['EventID']}.picks"
    if pf.exists():
        with open(pf) as fh:
            for row in csv.DictReader(fh):
                if row["PickTime"] not in ("", "-1"):
                    picks.setdefault(row["Station"], []).append((row["Phase"], UTCDateTime(row["PickTime"])))
    out = settings.products_dir / "demo" / f"record_section_{ev['EventID']}.png"
    plot_record_section(st, inv, t0, float(ev["Y"]), float(ev["X"]), out, before_s=1, after_s=12,
                        picks=picks, velocity_kms=(6.0, 3.5),
                        title=(f"Z7 HHZ from the SDS archive, 2-16 Hz; origin and P/S picks (red/blue): "
                               f"QuakeMigrate reference\nevent {ev['EventID']} ML {float(ev['ML']):.2f}, "
                               f"depth {float(ev['Z']):.1f} km"))
    echo(f"record section of event {ev['EventID']} (ML {float(ev['ML']):.2f}): {out}")
    return out
