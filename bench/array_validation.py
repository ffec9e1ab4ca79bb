"""Array processing on real IMS array signals planted into real noise (tests/data/arrays).

For every labelled first P arrival of the NORSAR example windows, the real vertical waveform is
planted as a plane wave into real noise on the real geometry of its array (ARCES, FINES or
SPITS; ISC element coordinates) at the backazimuth and slowness predicted from the bulletin
origin (IDC LEB / Helsinki / NORSAR), with random statics (15 ms) and amplitude factors (20 %),
at several SNRs; :func:`pipeline.array.detect_array` must detect it within 5 s and measure
backazimuth and slowness. Prints the errors against the bulletin-predicted values per set
(``tune``: the 1stat windows used to choose the defaults; ``heldout``: the beam windows, set
aside before) and SNR, and the wall time per 60 s of array data.

usage: PYTHONPATH=. .venv/bin/python bench/array_validation.py [--set tune|heldout|both] [--json out.json]
"""
from __future__ import annotations

import argparse
import json
import time

import numpy as np
from obspy import UTCDateTime

from pipeline.array import ArrayConfig, detect_array
from tests.arrays_planted import array_inventory, arrivals, noise_pool, plant, signal

SNRS = (2.0, 3.0, 5.0, 10.0)


def run(kind: str, config: ArrayConfig, snrs=SNRS, trials: int = 3, seed: int = 0) -> list[dict]:
    rng = np.random.default_rng(seed)
    pool = noise_pool(kind)
    onset = UTCDateTime(2022, 1, 1).timestamp + 30.0
    rows = []
    for _, r in arrivals().query("set == @kind").iterrows():
        inv = array_inventory(r["array"])
        for snr in snrs:
            for _ in range(trials):
                st = plant(signal(int(r["id"])), inv, r["backazimuth"], r["slowness"], pool, snr, rng)
                t = time.perf_counter()
                d = detect_array(st, inv, config, code=r["array"])
                dt = time.perf_counter() - t
                near = d[(d["time"] - onset).abs() <= 5.0]
                row = dict(id=int(r["id"]), array=r["array"], label=r["label"], snr=snr, seconds=dt,
                           detected=bool(len(near)))
                if len(near):
                    x = near.loc[near["fstat"].idxmax()]
                    row.update(baz_err=float((x["backazimuth"] - r["backazimuth"] + 180) % 360 - 180),
                               slow_err=float(x["slowness"] - r["slowness"]),
                               baz_unc=float(x["backazimuth_uncertainty"]),
                               slow_unc=float(x["slowness_uncertainty"]), fstat=float(x["fstat"]),
                               time_err=float(x["time"] - onset))
                rows.append(row)
    return rows


def summary(rows: list[dict]) -> list[dict]:
    out = []
    for snr in sorted({r["snr"] for r in rows}):
        rr = [r for r in rows if r["snr"] == snr]
        det = [r for r in rr if r["detected"]]
        be = np.abs([r["baz_err"] for r in det]) if det else np.array([np.nan])
        se = np.abs([r["slow_err"] for r in det]) if det else np.array([np.nan])
        out.append(dict(snr=snr, n=len(rr), detected=len(det), baz_err_median=float(np.median(be)),
                        baz_err_p90=float(np.percentile(be, 90)), baz_within_10=int(np.sum(be <= 10)),
                        slow_err_median=float(np.median(se)), slow_err_p90=float(np.percentile(se, 90)),
                        slow_within_1_5=int(np.sum(se <= 1.5)),
                        baz_unc_median=float(np.median([r["baz_unc"] for r in det])) if det else np.nan,
                        slow_unc_median=float(np.median([r["slow_unc"] for r in det])) if det else np.nan,
                        seconds_per_60s=float(np.median([r["seconds"] for r in rr]))))
    return out


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--set", default="both", choices=("tune", "heldout", "both"))
    ap.add_argument("--trials", type=int, default=3)
    ap.add_argument("--json")
    a = ap.parse_args(argv)
    result = {}
    for kind in (("tune", "heldout") if a.set == "both" else (a.set,)):
        rows = run(kind, ArrayConfig(), trials=a.trials)
        result[kind] = summary(rows)
        print(f"set {kind}: {len({r['id'] for r in rows})} arrivals x {a.trials} trials per SNR")
        print(" SNR   det/n  |dbaz| med p90  <=10deg  |dslow| med p90 (s/deg)  <=1.5  unc baz slow   s/60s")
        for s in result[kind]:
            print(f"{s['snr']:4.1f} {s['detected']:4d}/{s['n']:<3d} {s['baz_err_median']:7.1f} {s['baz_err_p90']:5.1f}"
                  f" {s['baz_within_10']:6d}   {s['slow_err_median']:10.2f} {s['slow_err_p90']:5.2f}"
                  f" {s['slow_within_1_5']:14d}  {s['baz_unc_median']:7.1f} {s['slow_unc_median']:4.2f}"
                  f" {s['seconds_per_60s']:7.2f}")
    if a.json:
        with open(a.json, "w") as fh:
            json.dump(result, fh, indent=1)


if __name__ == "__main__":
    main()
