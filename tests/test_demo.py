"""`make demo` runs the same code: the demo on a temporary home gives the expected summary."""
import os

from pipeline.demo import run_demo
from pipeline.settings import load_settings
from tests import PROJECT_ROOT


def test_demo_end_to_end(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("IDC")}
    env["IDC_HOME"] = str(tmp_path / "home")
    settings = load_settings(PROJECT_ROOT / "config" / "demo-iceland.toml", env=env)
    lines: list[str] = []
    out = run_demo(settings, echo=lines.append)
    text = "\n".join(lines)
    # two deliveries through the real DAGs: ingest -> sel1, late files -> ingest -> sel2, sel3 -> distribute
    assert [r.dag_id for r in out["runs"]] == ["ingest", "sel1", "ingest", "sel2", "sel3", "distribute"]
    assert all(r.state == "success" for r in out["runs"])
    assert "dag sel1       window 00:00-00:20: success" in text
    av = out["availability"]
    assert len(av) == 36 and {c["gaps"] for c in av} == {3}
    assert "== archive: 12 stations, 36 channels" in text
    assert any(p.stat().st_size > 10_000 for p in (settings.products_dir / "demo").glob("*.png"))
    hist = {h["type"]: h for h in out["history"]}
    assert set(hist) == {"SEL1", "SEL2", "SEL3"} and all(h["version"] == 1 for h in hist.values())
    assert hist["SEL1"]["events"] < hist["SEL2"]["events"] == hist["SEL3"]["events"]
    ims = [f for f in out["outbox"] if f.endswith(".ims1")]
    assert len(ims) == 1 and open(ims[0]).read().startswith("BEGIN IMS1.0")
    cmp = out["comparison"]
    print(f"\nIceland SEL3 vs QuakeMigrate: matched {cmp['matched']}/{cmp['quakemigrate_events']}, "
          f"median epicentre {cmp['median_epicentre_km']:.2f} km, |depth| {cmp['median_abs_depth_km']:.2f} km, "
          f"|ML| median {cmp['median_abs_ml']:.2f}, largest {cmp['max_abs_ml']:.2f} "
          f"({cmp['ml_compared']}/{cmp['matched_with_qm_ml']} with our ML)")
    # issue target: >= 24/27, median epicentre <= 1.5 km, median |ML| <= 0.3. Measured: 25/27,
    # 0.35 km, 0.16 (before the gradient reading of the velocity model, the S-on-vertical merge
    # and the association look-ahead/residual limits: 16/27, 1.47 km, 0.17)
    assert cmp["matched"] >= 24
    assert cmp["median_epicentre_km"] <= 1.0 and cmp["median_abs_ml"] <= 0.3
    # every matched event has an ML, none far off: in this swarm, before ML readings in later
    # events' waves were rejected and S windows ended at the next P, 00:06:12 read 1.79 and
    # 00:09:44 3.97 (QuakeMigrate 0.94 and 1.34); measured now: largest |ML difference| 0.29
    assert cmp["ml_compared"] == cmp["matched_with_qm_ml"]
    assert cmp["max_abs_ml"] <= 0.5
    # issue 14 defect 7: the large signal at the end of the window (00:09:49, ML ~4.8, recorded
    # up to the end of the data) is one event; before, its later phases and coda made three more
    # (00:09:48.5 z 35 km mostly S, 00:09:56.6 ML 3.5, 00:10:00.7 ML 4.4)
    from obspy import UTCDateTime

    from pipeline.store.catalog import load_catalog
    from pipeline.store.db import session_scope
    from pipeline.store.products import ProductKey, latest_version

    key = ProductKey("SEL3", float(UTCDateTime("2014-08-24T00:00").timestamp),
                     float(UTCDateTime("2014-08-24T00:20").timestamp))
    with session_scope(settings.database_url) as s:
        cat = load_catalog(s, latest_version(s, key))
    late = [ev for ev in cat if ev.preferred_origin().time >= UTCDateTime("2014-08-24T00:09:46")]
    print("events after 00:09:46:", [(str(ev.preferred_origin().time)[11:21],
                                      [round(m.mag, 2) for m in ev.magnitudes]) for ev in late])
    assert len(late) == 1 and max(m.mag for m in late[0].magnitudes) > 4.0
    # issue 14 acceptance: every SEL3 event of the window reaches the review queue (the sel3 DAG
    # enqueued them; before, 30 of 55 were taken for versions of their neighbours in this swarm),
    # and a REB published after accepting them all keeps every event the EDC admits
    from pipeline import review

    items = review.list_queue(settings)
    assert len(items) == len(cat), (len(items), len(cat))
    accepted, refused = 0, []
    for it in items:
        try:
            review.accept(settings, it["id"], analyst="test")
            accepted += 1
        except review.ReviewError as exc:
            refused.append(str(exc))
    pub = review.publish(settings, UTCDateTime("2014-08-24"), analyst="test")
    print(f"review: {len(items)} queued of {len(cat)} SEL3 events, {accepted} accepted "
          f"({len(refused)} refused by the EDC), REB v{pub['version']}: {pub['events']} events")
    assert pub["events"] == accepted >= len(cat) - len(refused) and accepted >= 0.9 * len(cat)
