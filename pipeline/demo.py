"""`make demo`: the main job end to end on the bundled Iceland data (grows with each stage)."""
from __future__ import annotations

import time
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
    echo("")
    echo("== outputs")
    echo(f"   SDS archive : {settings.archive_dir}")
    echo(f"   store       : {up['database']}")
    echo(f"   quarantine  : {settings.quarantine_dir}")
    echo(f"   try         : idc --config {settings.sources[-1]} availability --gaps")
    echo(f"demo finished in {time.perf_counter() - t0:.1f} s")
    return {"stations": st, "ingest": ing, "availability": av}
