"""`make demo`: the main job end to end on the bundled Iceland data (grows with each stage)."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

from pipeline.settings import Settings


def run_demo(settings: Settings, echo: Callable[[str], None] = print) -> dict:
    """Store → stations → ingest → availability summary. Returns the summaries of each step."""
    from pipeline import tasks

    t0 = time.perf_counter()
    echo(f"== idc-pipeline demo ({settings.name}); home: {settings.home}")
    up = tasks.db_upgrade(settings)
    echo(f"store: {up['database']} (schema {up['to']})")
    st = tasks.load_stations(settings)
    echo(f"stations: {st['files']} files, {st['sites_new']} new stations, {st['channels_new']} new channels")
    echo(f"ingest: {tasks.DEMO_WAVEFORMS}")
    ing = tasks.ingest_files(settings, [tasks.DEMO_WAVEFORMS], echo=echo)
    echo(f"  accepted {ing['accepted']} files, already ingested {ing['already_ingested']}, "
         f"rejected {ing['rejected']}; {ing['new_samples']} new samples, {ing['overlaps']} overlapping "
         f"(duplicate) spans merged")
    av = tasks.availability(settings)["channels"]
    stations = sorted({c["nslc"].split(".")[1] for c in av})
    ngaps = sum(c["gaps"] for c in av)
    echo("")
    echo(f"== archive: {len(stations)} stations, {len(av)} channels")
    from obspy import UTCDateTime

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
    echo("")
    echo("== outputs")
    echo(f"   SDS archive : {settings.archive_dir}")
    echo(f"   store       : {up['database']}")
    echo(f"   quarantine  : {settings.quarantine_dir}")
    if figure:
        echo(f"   figure      : {figure}")
    cfg = settings.sources[-1]
    try:
        from pipeline.settings import PROJECT_ROOT

        cfg = str(Path(cfg).relative_to(PROJECT_ROOT))
    except ValueError:
        pass
    echo(f"   try         : .venv/bin/idc --config {cfg} availability --gaps")
    echo(f"demo finished in {time.perf_counter() - t0:.1f} s")
    return {"stations": st, "ingest": ing, "availability": av}


def _record_section(settings: Settings, echo: Callable[[str], None]):
    """Record section from the archive of the largest QuakeMigrate event (reference origin)."""
    import csv

    from obspy import UTCDateTime, read_inventory
    from obspy.clients.filesystem.sds import Client

    from pipeline.plots import plot_record_section
    from pipeline.tasks import DEMO_WAVEFORMS

    qm = DEMO_WAVEFORMS.parent / "quakemigrate"
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
