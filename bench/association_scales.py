#!/usr/bin/env python
"""Association at every scale: our associator (as a user runs it) vs PyOcto on real and simulated pick sets.

Pick sets (all from repository data; nothing is read from ../shared, nothing downloaded)
------------------------------------------------------------------------------------------
``ncsn``
    NCSN analyst picks of the HypoDD examples, Calaveras (308 events, 13,769 picks, 1984-1997)
    and Parkfield (517 events, 17,636 picks, 1987-2004), merged into one time-ordered stream
    without event ids. Stations: ``tests/data/ncsn/station.dat``, completed from ``ncsn.sta``
    (Parkfield's list) for stations it lacks; only stations with picks. Reference: the 825
    catalogue hypocentres. Match: 5 s / 20 km (the issue's tolerances).
``ncsn_false``
    the same plus as many uniformly random false P picks as there are true picks, at random
    stations of the set, uniform in time over the union of the windows [origin - 120 s,
    origin + 180 s] of the catalogue events (spread over the 20-year span they would be one
    false pick every few hours: no stress at all). A "continental network with many false
    picks" stress case. Same reference and tolerances.
``italy``
    the whole day 2016-10-14 of REAL's STA/LTA picks (85,289 picks, 60 stations, Central Italy;
    ``tests/data/italy``). Reference: LOC-FLOW's 60 Hypoinverse events (a tool output, not ground
    truth, covering 00:00-00:50 only). Match 5 s / 20 km. "false" counts every reported event
    without a match (score_events' definition); "false in ref. span" only those inside the
    reference's time span (± 60 s), where the reference is complete.
``italy_phasenet``
    PhaseNet's picks of the same day (115,440 picks, 56 stations): a second picker, held out.
``ims1`` ... ``imsN``
    simulated IMS days (:mod:`pipeline.simulate`, ``--ims-days``, default 3, different dates
    and seeds) from the IDC LEB origins of Jan-Feb 2022 at the IMS seismic stations, ~67 %
    false detections. Reference: the simulated origins; recall over the origins detected at
    >= 3 stations, "false" = reported events matching no simulated origin (any station count).
    Match 10 s / 100 km (score_events' defaults; IDC-scale location errors).

Associators
-----------
``ours``
    exactly what a user runs: ``idc associate --picks picks.csv --stations stations.csv -o
    events.xml`` in a subprocess, DEFAULT configuration (fresh temporary ``IDC_HOME``, no
    ``--config``, every ``IDC*`` variable removed from the environment: ak135, P and S tables).
    The travel-time table is built first in that home by a separate child
    (``pipeline.tasks.travel_times``: the same cache key the command uses), timed and reported
    as "table s", excluded from the association time.
``ours-1d``
    the same command with ``--model FILE``: the network's 1-D model (NCSN: the Calaveras model
    ``calaveras_vmodel.csv``, also for Parkfield, whose example has only 3-D models; Italy:
    ``itvel.nd`` converted to constant-velocity blocks with :func:`pipeline.io.real_picks.nd_to_block_layers`).
    Run on ``ncsn`` and ``italy`` (the issue's acceptance sets) unless ``--variants`` says more.
``pyocto``
    PyOcto 0.2.2 (``OctoAssociator.from_area`` over the stations' bounding box + 20 km, depth
    0-30 km) with a **1-D model** (``VelocityModel1D``, tolerance 1.0 s): PyOcto's own builder
    needs pyrocko (not installed), so its binary table (header ``struct.pack("iid", nx, nz,
    delta)``, then P and S times as float64 arrays (nx, nz): source at horizontal distance x and
    depth z to a surface receiver) is written here from our TravelTimeTable of the same 1-D model
    as ``ours-1d`` (1 km spacing). Pick-count thresholds matched to ours' defaults
    (``n_picks`` 5, ``n_p_picks`` 4, ``n_s_picks`` 0, ``n_p_and_s_picks`` 0): the NCSN picks are
    P-dominated (PyOcto's defaults 10/3/3/3 would reject nearly every event), and equal minimum
    evidence keeps the comparison fair. On the Italy sets, which have S picks, PyOcto also runs
    with its defaults (``pyocto-defaults``). ``time_before`` = the P time across the search
    area's diagonal. Everything else is PyOcto's default. PyOcto works in a local Cartesian
    projection: the global IMS days are reported as not applicable.

Every associator runs in its own child process; wall time ("seconds", including start-up and
reading the CSV files) and peak RSS (the child's ``VmHWM``, polled from ``/proc``; see
:func:`run_child`) are measured around it;
PyOcto's association call alone is also timed inside its child ("call s"). Event matching
follows ../shared/tools/score_events.py: one-to-one, reference events in time order, each takes
the unused reported event within the tolerances that minimises |dt| + d/8 (s, km).

Nothing is asserted: the figures are printed side by side and written to
``bench/results/association_scales.json``. The script exits non-zero only when it crashes or an
associator child fails (non-zero exit). ``--sets`` runs a subset, ``--quick`` a smoke run on
small slices (first 60 events of each NCSN catalogue, the first hour of the Italy day, one
6-hour IMS window).
"""
from __future__ import annotations

import argparse
import json
import logging
import math
import os
import struct
import subprocess
import sys
import tempfile
import shutil
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from _common import machine  # noqa: E402

NCSN = ROOT / "tests" / "data" / "ncsn"
ITALY = ROOT / "tests" / "data" / "italy"
LEB = ROOT / "tests" / "data" / "ims_leb_2022" / "metadata_2022_leb_jan_feb.csv"
IMS_STATIONS = ROOT / "stations" / "ims_stations.csv"
RESULTS = ROOT / "bench" / "results" / "association_scales.json"
IDC = Path(sys.executable).parent / "idc"
KM_PER_DEG = 6371.0 * math.pi / 180.0
ALL_SETS = ("ncsn", "ncsn_false", "italy", "italy_phasenet", "ims")
IMS_DAYS = [("2022-01-17", 1), ("2022-02-03", 2), ("2022-02-21", 3), ("2022-01-05", 4), ("2022-02-12", 5)]
PYOCTO_MATCHED = {"n_picks": 5, "n_p_picks": 4, "n_s_picks": 0, "n_p_and_s_picks": 0}
PYOCTO_DEFAULTS = {"n_picks": 10, "n_p_picks": 3, "n_s_picks": 3, "n_p_and_s_picks": 3}


# ----------------------------------------------------------------------------- scoring
def haversine_km(lat1, lon1, lat2, lon2):
    p = math.pi / 180
    a = (np.sin((np.asarray(lat2) - lat1) * p / 2) ** 2
         + np.cos(lat1 * p) * np.cos(np.asarray(lat2) * p) * np.sin((np.asarray(lon2) - lon1) * p / 2) ** 2)
    return 2 * 6371.0 * np.arcsin(np.minimum(1.0, np.sqrt(a)))


def score(ours: pd.DataFrame, ref: pd.DataFrame, dt_max: float, km_max: float,
          recall_mask: np.ndarray | None = None, span: tuple[float, float] | None = None) -> dict:
    """score_events.py's rule: one-to-one, reference in time order, best |dt| + d/8 in tolerance.

    :param recall_mask: reference events that count for recall (default all); all of them can
        be matched (so a found event of a reference event outside the mask is not false).
    :param span: (t0, t1): also count unmatched reported events inside this span.
    """
    by_time = np.argsort(ref["time"].to_numpy(float), kind="stable")
    mask = np.ones(len(ref), bool) if recall_mask is None else np.asarray(recall_mask, bool)[by_time]
    ref = ref.iloc[by_time].reset_index(drop=True)
    ot = ours["time"].to_numpy(float) if len(ours) else np.zeros(0)
    olat = ours["latitude"].to_numpy(float) if len(ours) else np.zeros(0)
    olon = ours["longitude"].to_numpy(float) if len(ours) else np.zeros(0)
    order = np.argsort(ot)
    ts = ot[order]
    used = np.zeros(len(ot), bool)
    matched = np.zeros(len(ref), bool)
    epi = []
    for i, r in ref.iterrows():
        lo, hi = np.searchsorted(ts, [r["time"] - dt_max, r["time"] + dt_max])
        cand = order[lo:hi]
        cand = cand[~used[cand]]
        if not len(cand):
            continue
        dt = np.abs(ot[cand] - r["time"])
        d = haversine_km(r["latitude"], r["longitude"], olat[cand], olon[cand])
        ok = (dt <= dt_max) & (d <= km_max)
        if not ok.any():
            continue
        cost = np.where(ok, dt + d / 8.0, np.inf)
        k = int(np.argmin(cost))
        used[cand[k]] = True
        matched[i] = True
        epi.append(float(d[k]))
    n_ref = int(mask.sum())
    out = {"reference": n_ref, "reported": int(len(ot)), "matched": int((matched & mask).sum()),
           "matched_any": int(matched.sum()),
           "recall": round(float((matched & mask).sum()) / n_ref, 4) if n_ref else None,
           "false": int((~used).sum()),
           "false_fraction": round(float((~used).mean()), 4) if len(ot) else None,
           "median_epi_km": round(float(np.median(epi)), 2) if epi else None,
           "p90_epi_km": round(float(np.percentile(epi, 90)), 2) if epi else None}
    if span is not None:
        inside = (ot >= span[0]) & (ot <= span[1])
        out["reported_in_ref_span"] = int(inside.sum())
        out["false_in_ref_span"] = int((inside & ~used).sum())
    return out


# ----------------------------------------------------------------------------- pick sets
def _ref_csv(cat: pd.DataFrame, path: Path) -> Path:
    from obspy import UTCDateTime

    df = pd.DataFrame({"time": [UTCDateTime(t).isoformat() + "Z" for t in cat["time"]],
                       "latitude": cat["latitude"], "longitude": cat["longitude"],
                       "depth_km": cat["depth_km"], "mag": cat.get("mag", cat.get("magnitude"))})
    df.to_csv(path, index=False)
    return path


def _write_set(folder: Path, picks: pd.DataFrame, stations: pd.DataFrame) -> tuple[Path, Path]:
    from pipeline.picks import PICK_COLUMNS, write_picks_csv

    folder.mkdir(parents=True, exist_ok=True)
    write_picks_csv(picks[list(PICK_COLUMNS)], folder / "picks.csv")
    stations[["network", "station", "latitude", "longitude", "elevation_m"]].to_csv(folder / "stations.csv",
                                                                                  index=False)
    return folder / "picks.csv", folder / "stations.csv"


def ncsn_set(quick: bool):
    from pipeline.bulletin.hypodd import read_hypodd_pha, read_hypodd_stations

    cats, picks = [], []
    for name in ("Calaveras.pha", "pkf05.pha.84_05.3D"):
        cat, pk = read_hypodd_pha(NCSN / name)
        if quick:
            cat = cat.sort_values("time").head(60)
            pk = pk[pk["event_id"].isin(cat["event_id"])]
        cats.append(cat)
        picks.append(pk)
    cat = pd.concat(cats, ignore_index=True).rename(columns={"magnitude": "mag"})
    picks = pd.concat(picks, ignore_index=True).drop(columns=["event_id"]).sort_values("time", kind="stable")
    s1 = read_hypodd_stations(NCSN / "station.dat")
    s2 = read_hypodd_stations(NCSN / "ncsn.sta")
    sta = pd.concat([s1, s2], ignore_index=True).drop_duplicates(["network", "station"], keep="first")
    keys = set(zip(picks["network"], picks["station"]))
    sta = sta[[k in keys for k in zip(sta["network"], sta["station"])]].reset_index(drop=True)
    return cat, picks.reset_index(drop=True), sta


def add_false_picks(cat, picks, sta, seed=12):
    from pipeline.picks import normalise_picks

    rng = np.random.default_rng(seed)
    n = len(picks)
    t = np.sort(cat["time"].to_numpy(float))
    lo, hi = t - 120.0, t + 180.0
    # union of the windows
    starts, ends = [lo[0]], [hi[0]]
    for a, b in zip(lo[1:], hi[1:]):
        if a <= ends[-1]:
            ends[-1] = max(ends[-1], b)
        else:
            starts.append(a)
            ends.append(b)
    starts, ends = np.array(starts), np.array(ends)
    lengths = ends - starts
    cum = np.concatenate([[0.0], np.cumsum(lengths)])
    u = rng.random(n) * cum[-1]
    k = np.searchsorted(cum, u, side="right") - 1
    times = starts[k] + (u - cum[k])
    j = rng.integers(0, len(sta), n)
    false = normalise_picks(pd.DataFrame({"network": sta["network"].to_numpy()[j], "station": sta["station"].to_numpy()[j],
                                          "phase": "P", "time": times,
                                          "pick_id": [f"false:{i}" for i in range(n)]}))
    return pd.concat([picks, false], ignore_index=True).sort_values("time", kind="stable").reset_index(drop=True)


def italy_set(phasenet: bool, quick: bool):
    from obspy import UTCDateTime

    from pipeline.io.real_picks import (read_hypoinverse_sum, read_phasenet_picks, read_real_pick_files,
                                        read_real_stations)

    picks = (read_phasenet_picks(ITALY / "phasenet_picks.csv") if phasenet
             else read_real_pick_files(ITALY / "20161014.zip", "2016-10-14"))
    if quick:
        t0 = UTCDateTime("2016-10-14").timestamp
        picks = picks[(picks["time"] >= t0) & (picks["time"] < t0 + 3600)]
    sta = read_real_stations(ITALY / "station.dat")
    cat = read_hypoinverse_sum(ITALY / "location_hypoinverse_catOut.sum")
    return cat, picks.reset_index(drop=True), sta


def italy_model_file(folder: Path) -> Path:
    from pipeline.io.real_picks import nd_to_block_layers, read_nd_model, write_velocity_csv

    return write_velocity_csv(nd_to_block_layers(read_nd_model(ITALY / "itvel.nd")), folder / "itvel_blocks.csv")


def ims_set(date: str, seed: int, quick: bool, cache: Path):
    from obspy import UTCDateTime

    from pipeline.simulate import SimConfig, ims_seismic_stations, leb_origins, simulate_detections
    from pipeline.traveltime.tables import GLOBAL_PHASES, TravelTimeTable

    tt = TravelTimeTable("ak135", list(GLOBAL_PHASES), cache_dir=cache)
    start = UTCDateTime(date)
    end = start + (6 * 3600 if quick else 86400)
    sim = simulate_detections(leb_origins(pd.read_csv(LEB)), ims_seismic_stations(pd.read_csv(IMS_STATIONS)), tt,
                              SimConfig(), seed, start=start, end=end)
    return sim


# ----------------------------------------------------------------------------- PyOcto
def write_pyocto_1d(tt, path: Path, xdist_km: float, zdist_km: float, delta_km: float = 1.0) -> dict:
    """PyOcto's VelocityModel1D table from our travel-time table (see the module docstring)."""
    nx, nz = int(xdist_km / delta_km) + 1, int(zdist_km / delta_km) + 1
    x = np.arange(nx) * delta_km
    z = np.arange(nz) * delta_km
    X, Z = np.meshgrid(x / KM_PER_DEG, z, indexing="ij")
    out, filled = [], 0
    for ph in ("P", "S"):
        t = np.asarray(tt.time(ph, X, Z), float)
        bad = ~np.isfinite(t)
        filled += int(bad.sum())
        if bad.any():  # nearest finite value along distance (grid edges)
            for iz in range(nz):
                col = t[:, iz]
                ok = np.isfinite(col)
                if ok.any() and (~ok).any():
                    col[~ok] = np.interp(x[~ok], x[ok], col[ok])
        out.append(np.ascontiguousarray(t, dtype=np.float64))
    with open(path, "wb") as f:
        f.write(struct.pack("iid", nx, nz, delta_km))
        f.write(out[0].tobytes())
        f.write(out[1].tobytes())
    return {"nx": nx, "nz": nz, "delta_km": delta_km, "nan_cells_filled": filled,
            "p_time_at_xdist_s": round(float(out[0][-1, 0]), 2)}


def pyocto_child(spec_path: str) -> int:
    """Run PyOcto on picks.csv/stations.csv described by a JSON spec; write events.csv + timing."""
    logging.getLogger("pyocto").setLevel(logging.ERROR)
    import pyocto

    from pipeline.picks import read_picks_csv

    spec = json.loads(Path(spec_path).read_text())
    picks = read_picks_csv(spec["picks"])
    sta = pd.read_csv(spec["stations"], dtype={"network": str, "station": str}, keep_default_na=False)
    vm = pyocto.VelocityModel1D(spec["model_file"], tolerance=spec["tolerance"])
    octo = pyocto.OctoAssociator.from_area(lat=tuple(spec["lat"]), lon=tuple(spec["lon"]), zlim=tuple(spec["zlim"]),
                                           velocity_model=vm, time_before=spec["time_before"], **spec["params"])
    st = pd.DataFrame({"id": sta["network"] + "." + sta["station"], "latitude": sta["latitude"].astype(float),
                       "longitude": sta["longitude"].astype(float),
                       "elevation": pd.to_numeric(sta["elevation_m"], errors="coerce").fillna(0.0)})
    st = octo.transform_stations(st)
    pk = pd.DataFrame({"station": picks["network"] + "." + picks["station"],
                       "phase": picks["phase"].str.upper().str[0], "time": picks["time"].astype(float)})
    t0 = time.perf_counter()
    events, _assign = octo.associate(pk, st)
    call_s = time.perf_counter() - t0
    if len(events):
        events = octo.transform_events(events)
        out = pd.DataFrame({"time": events["time"].astype(float), "latitude": events["latitude"],
                            "longitude": events["longitude"], "depth_km": events["z"], "n_picks": events["picks"]})
    else:
        out = pd.DataFrame(columns=["time", "latitude", "longitude", "depth_km", "n_picks"])
    out.to_csv(spec["events"], index=False)
    Path(spec["timing"]).write_text(json.dumps({"call_s": call_s}))
    return 0


# ----------------------------------------------------------------------------- children
def _vm_hwm_kb(pid: int) -> int:
    """Peak resident set size (VmHWM, KB) of a running process's own address space, 0 if gone."""
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


def _tree_pss_kb(root: int) -> int:
    """Summed proportional set size (Pss, KB) of ``root`` and all its descendants now (the
    associator's worker processes share the parent's pages copy-on-write: Pss counts a shared
    page once in all, RSS once per process)."""
    children: dict[int, list[int]] = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as fh:
                ppid = int(fh.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(d))
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        todo += children.get(pid, [])
        try:
            with open(f"/proc/{pid}/smaps_rollup") as fh:
                for line in fh:
                    if line.startswith("Pss:"):
                        total += int(line.split()[1])
                        break
        except OSError:
            pass
    return total


def run_child(cmd: list[str], env: dict, log: Path, timeout: float) -> dict:
    """Run one child; its wall time and peak RSS.

    Peak RSS is the child's ``VmHWM`` (``/proc/<pid>/status``), polled every 20 ms until it exits:
    the high-water mark of the address space the command ``exec``'d into. ``ru_maxrss`` from
    ``wait4``/``RUSAGE_CHILDREN`` is not used for the figure because Linux carries the forked
    parent image's peak into it (the bench process holds the pick sets, ~1 GB), which would hide
    the command's own peak; it is recorded as ``ru_maxrss_mb`` for reference.
    """
    with open(log, "w") as fh:
        t0 = time.perf_counter()
        p = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, env=env, cwd=ROOT)
        deadline = t0 + timeout
        hwm = 0
        tree = 0
        timed_out = False
        n_poll = 0
        while True:
            hwm = max(hwm, _vm_hwm_kb(p.pid))
            if n_poll % 5 == 0:  # every 0.1 s: the process tree (worker processes included)
                tree = max(tree, _tree_pss_kb(p.pid))
            n_poll += 1
            pid, status, ru = os.wait4(p.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() > deadline:
                p.kill()
                pid, status, ru = os.wait4(p.pid, 0)
                timed_out = True
                break
            time.sleep(0.02)
        wall = time.perf_counter() - t0
    code = -9 if timed_out else os.waitstatus_to_exitcode(status)
    p.returncode = code
    return {"ok": code == 0 and not timed_out, "timeout": timed_out, "exit_code": code, "seconds": round(wall, 2),
            "peak_rss_mb": round(hwm / 1024.0, 1), "ru_maxrss_mb": round(ru.ru_maxrss / 1024.0, 1),
            "peak_tree_pss_mb": round(tree / 1024.0, 1), "log": str(log)}


def clean_env(home: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("IDC")}
    env["IDC_HOME"] = str(home)
    return env


def read_quakeml_origins(path: Path) -> pd.DataFrame:
    from obspy import read_events

    rows = []
    for e in read_events(str(path)):
        o = e.preferred_origin() or (e.origins[0] if e.origins else None)
        if o is None or o.latitude is None:
            continue
        rows.append((float(o.time.timestamp), o.latitude, o.longitude, (o.depth or 0.0) / 1000.0))
    return pd.DataFrame(rows, columns=["time", "latitude", "longitude", "depth_km"])


#: model argument -> the first home whose travel-time cache holds its table
_TABLE_HOMES: dict[str, Path] = {}


def run_ours(name: str, picks_csv: Path, stations_csv: Path, work: Path, model: Path | None, timeout: float) -> dict:
    home = work / f"home_{name}"
    env = clean_env(home)
    mdl = repr(str(model)) if model else "None"
    if mdl in _TABLE_HOMES and not (home / "cache").exists():
        # the same table was built in an earlier set's fresh home (timed there): copy its
        # cache rather than spend ~7 minutes per set building it again
        shutil.copytree(_TABLE_HOMES[mdl] / "cache", home / "cache")
    warm = run_child([sys.executable, "-c", "from pipeline.tasks import settings_from_env, travel_times; "
                      f"travel_times(settings_from_env(), {mdl})"], env, work / f"{name}_table.log", timeout)
    out = work / f"{name}_events.xml"
    cmd = [str(IDC), "associate", "--picks", str(picks_csv), "--stations", str(stations_csv), "-o", str(out)]
    if model:
        cmd += ["--model", str(model)]
    r = run_child(cmd, env, work / f"{name}.log", timeout)
    r["table_s"] = warm["seconds"]
    r["table_ok"] = warm["ok"]
    if warm["ok"] and (home / "cache").exists():
        _TABLE_HOMES.setdefault(mdl, home)
    r["command"] = " ".join(["idc", *cmd[1:]]).replace(str(work) + "/", "")
    r["stdout_tail"] = Path(r["log"]).read_text()[-400:].strip()
    r["events"] = read_quakeml_origins(out) if r["ok"] and out.exists() else None
    return r


def run_pyocto(name: str, picks_csv: Path, stations: pd.DataFrame, stations_csv: Path, work: Path, tt,
               params: dict, timeout: float, margin_km: float = 20.0, zlim=(0.0, 30.0)) -> dict:
    lat0, lat1 = float(stations["latitude"].min()), float(stations["latitude"].max())
    lon0, lon1 = float(stations["longitude"].min()), float(stations["longitude"].max())
    dlat = margin_km / KM_PER_DEG
    dlon = dlat / math.cos(math.radians((lat0 + lat1) / 2))
    lat, lon = [lat0 - dlat, lat1 + dlat], [lon0 - dlon, lon1 + dlon]
    diag_km = float(haversine_km(lat[0], lon[0], lat[1], lon[1]))
    xdist = math.ceil(diag_km * 1.1 + 10.0)
    model_file = work / f"{name}_pyocto_1d.bin"
    info = write_pyocto_1d(tt, model_file, xdist, zlim[1] + 5.0)
    time_before = float(tt.time("P", diag_km / KM_PER_DEG, 10.0))
    spec = {"picks": str(picks_csv), "stations": str(stations_csv), "model_file": str(model_file), "tolerance": 1.0,
            "lat": lat, "lon": lon, "zlim": list(zlim), "time_before": round(time_before, 2), "params": params,
            "events": str(work / f"{name}_pyocto_events.csv"), "timing": str(work / f"{name}_pyocto_timing.json")}
    spec_path = work / f"{name}_pyocto_spec.json"
    spec_path.write_text(json.dumps(spec))
    r = run_child([sys.executable, str(Path(__file__).resolve()), "--pyocto-child", str(spec_path)],
                  clean_env(work / "home_pyocto"), work / f"{name}_pyocto.log", timeout)
    r["settings"] = {"velocity_model": "VelocityModel1D (table written from our TravelTimeTable)", "tolerance_s": 1.0,
                     "lat": [round(v, 4) for v in lat], "lon": [round(v, 4) for v in lon], "zlim_km": list(zlim),
                     "time_before_s": round(time_before, 2), **params, "model_table": info}
    if r["ok"]:
        r["call_s"] = round(json.loads(Path(spec["timing"]).read_text())["call_s"], 3)
        r["events"] = pd.read_csv(spec["events"])
    else:
        r["stdout_tail"] = Path(r["log"]).read_text()[-600:]
        r["events"] = None
    return r


def local_table(model_file: Path, cache: Path, max_distance_deg: float, max_depth_km: float = 35.0):
    from pipeline.traveltime.models import read_velocity_file
    from pipeline.traveltime.tables import TravelTimeTable, local_grid

    m = read_velocity_file(model_file)
    return TravelTimeTable(m, ["P", "S"], cache_dir=cache,
                           grid=local_grid(m.model_top_km, max_distance_deg=max_distance_deg,
                                           distance_step_deg=0.02, max_depth_km=max_depth_km, depth_step_km=1.0))


# ----------------------------------------------------------------------------- main
def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sets", default=",".join(ALL_SETS),
                    help=f"comma-separated subset of {', '.join(ALL_SETS)} (ims = every simulated day)")
    ap.add_argument("--variants", default="ours,ours-1d,pyocto",
                    help="associators: ours, ours-1d, pyocto (pyocto-defaults runs with pyocto on the Italy sets)")
    ap.add_argument("--ours-1d-sets", default="ncsn,italy", help="sets on which ours-1d runs")
    ap.add_argument("--ims-days", type=int, default=3, help=f"simulated IMS days (1-{len(IMS_DAYS)})")
    ap.add_argument("--quick", action="store_true", help="small slices of every set (smoke run)")
    ap.add_argument("--timeout", type=float, default=3600.0, help="per associator run, s (reported, not a crash)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary folder")
    ap.add_argument("--output", type=Path, default=RESULTS)
    ap.add_argument("--pyocto-child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.pyocto_child:
        return pyocto_child(args.pyocto_child)

    from importlib.metadata import version

    sets = [s.strip() for s in args.sets.split(",") if s.strip()]
    unknown = [s for s in sets if s not in ALL_SETS]
    if unknown:
        ap.error(f"unknown set(s) {', '.join(unknown)}; known: {', '.join(ALL_SETS)}")
    variants = {v.strip() for v in args.variants.split(",") if v.strip()}
    ours_1d_sets = {s.strip() for s in args.ours_1d_sets.split(",")}
    tmp = Path(tempfile.mkdtemp(prefix="bench_assoc_scales_"))
    cache = tmp / "tt_cache"
    rows, failures, set_info = [], [], {}

    def record(set_name, assoc, model_label, n_picks, r, sc, extra=None):
        row = {"set": set_name, "associator": assoc, "model": model_label, "picks": int(n_picks),
               "ok": r.get("ok", False), "timeout": r.get("timeout", False), "seconds": r.get("seconds"),
               "peak_rss_mb": r.get("peak_rss_mb"), "peak_tree_pss_mb": r.get("peak_tree_pss_mb"),
               "ru_maxrss_mb": r.get("ru_maxrss_mb"), "table_s": r.get("table_s"),
               "call_s": r.get("call_s"),
               **(sc or {}), **(extra or {})}
        if "settings" in r:
            row["settings"] = r["settings"]
        if "command" in r:
            row["command"] = r["command"]
        if not r.get("ok") and not r.get("timeout"):
            failures.append(f"{set_name}/{assoc}: exit {r.get('exit_code')}: {r.get('stdout_tail', '')[-300:]}")
        rows.append(row)
        status = "" if r.get("ok") else (" TIMEOUT" if r.get("timeout") else " FAILED")
        print(f"  {assoc:15s} {model_label:28s}{status} reported={row.get('reported', '-')} "
              f"matched={row.get('matched', '-')}/{row.get('reference', '-')} recall={row.get('recall', '-')} "
              f"false={row.get('false', '-')} {row.get('seconds')} s {row.get('peak_rss_mb')} MB", flush=True)

    try:
        # ------------------------------------------------------------- local/regional real sets
        real = []
        if "ncsn" in sets or "ncsn_false" in sets:
            cat, picks, sta = ncsn_set(args.quick)
            if "ncsn" in sets:
                real.append(("ncsn", cat, picks, sta, NCSN / "calaveras_vmodel.csv", "calaveras_vmodel.csv 1-D", 5.0, 20.0))
            if "ncsn_false" in sets:
                real.append(("ncsn_false", cat, add_false_picks(cat, picks, sta), sta, NCSN / "calaveras_vmodel.csv",
                             "calaveras_vmodel.csv 1-D", 5.0, 20.0))
        for name, pn in (("italy", False), ("italy_phasenet", True)):
            if name in sets:
                cat, picks, sta = italy_set(pn, args.quick)
                tmp.mkdir(exist_ok=True)
                real.append((name, cat, picks, sta, italy_model_file(tmp), "itvel.nd 1-D (blocks)", 5.0, 20.0))

        for name, cat, picks, sta, model_file, model_label, dt_max, km_max in real:
            folder = tmp / name
            picks_csv, stations_csv = _write_set(folder, picks, sta)
            _ref_csv(cat, folder / "reference.csv")
            keys = set(zip(sta["network"], sta["station"]))
            n_nosta = int(sum(k not in keys for k in zip(picks["network"], picks["station"])))
            span = (float(cat["time"].min()) - 60.0, float(cat["time"].max()) + 60.0)
            info = {"picks": len(picks), "P": int((picks["phase"] == "P").sum()), "S": int((picks["phase"] == "S").sum()),
                    "stations": len(sta), "picks_without_station": n_nosta, "reference_events": len(cat),
                    "match": {"dt_s": dt_max, "epicentre_km": km_max},
                    "reference_span": [float(span[0]), float(span[1])]}
            set_info[name] = info
            print(f"\n== {name}: {len(picks)} picks ({info['P']} P, {info['S']} S) at {len(sta)} stations, "
                  f"{len(cat)} reference events; {n_nosta} picks at stations without coordinates", flush=True)
            sc_kw = {"span": span} if name.startswith("italy") else {}
            if "ours" in variants:
                r = run_ours(name, picks_csv, stations_csv, tmp, None, args.timeout)
                sc = score(r["events"], cat, dt_max, km_max, **sc_kw) if r["events"] is not None else None
                record(name, "ours", "ak135 (default config)", len(picks), r, sc)
            if "ours-1d" in variants and name in ours_1d_sets:
                r = run_ours(f"{name}_1d", picks_csv, stations_csv, tmp, model_file, args.timeout)
                sc = score(r["events"], cat, dt_max, km_max, **sc_kw) if r["events"] is not None else None
                record(name, "ours-1d", model_label, len(picks), r, sc)
            if "pyocto" in variants:
                lat_span = sta["latitude"].max() - sta["latitude"].min()
                lon_span = (sta["longitude"].max() - sta["longitude"].min()) * math.cos(math.radians(sta["latitude"].mean()))
                tt = local_table(model_file, cache, max_distance_deg=math.hypot(lat_span, lon_span) * 1.1 + 0.6)
                param_sets = [("pyocto", PYOCTO_MATCHED)]
                if name.startswith("italy"):
                    param_sets.append(("pyocto-defaults", PYOCTO_DEFAULTS))
                for label, params in param_sets:
                    r = run_pyocto(f"{name}_{label}", picks_csv, sta, stations_csv, tmp, tt, params, args.timeout)
                    sc = score(r["events"], cat, dt_max, km_max, **sc_kw) if r["events"] is not None else None
                    record(name, label, model_label, len(picks), r, sc)

        # ------------------------------------------------------------- simulated IMS days
        if "ims" in sets:
            days = IMS_DAYS[:1] if args.quick else IMS_DAYS[:max(1, min(args.ims_days, len(IMS_DAYS)))]
            for k, (date, seed) in enumerate(days, start=1):
                name = f"ims{k}"
                t0 = time.perf_counter()
                sim = ims_set(date, seed, args.quick, cache)
                sim_s = time.perf_counter() - t0
                folder = tmp / name
                picks_csv, stations_csv = _write_set(folder, sim.picks, sim.stations)
                truth = sim.truth
                ge3 = (truth["n_stations"] >= 3).to_numpy()
                set_info[name] = {**sim.summary, "simulate_s": round(sim_s, 2), "reference_events_ge3": int(ge3.sum()),
                                  "match": {"dt_s": 10.0, "epicentre_km": 100.0}}
                print(f"\n== {name}: simulated {date} (seed {seed}{', 6 h' if args.quick else ''}): "
                      f"{sim.summary['detections']} detections, {100 * sim.summary['false_fraction']:.1f}% false, "
                      f"{sim.summary['stations']} stations, {int(ge3.sum())} of {len(truth)} origins detected at >= 3 "
                      f"stations (simulation {sim_s:.1f} s incl. table)", flush=True)
                if "ours" in variants:
                    r = run_ours(name, picks_csv, stations_csv, tmp, None, args.timeout)
                    sc = score(r["events"], truth, 10.0, 100.0, recall_mask=ge3) if r["events"] is not None else None
                    record(name, "ours", "ak135 (default config)", len(sim.picks), r, sc)
                if "pyocto" in variants:
                    rows.append({"set": name, "associator": "pyocto", "model": "-", "picks": len(sim.picks),
                                 "ok": None, "note": "not applicable: PyOcto works in a local Cartesian projection"})
                    print("  pyocto          not applicable (global network; PyOcto needs a local projection)")
    except Exception:
        import traceback

        traceback.print_exc()
        failures.append("benchmark crashed (see the traceback above)")
    finally:
        if args.keep:
            print(f"\nkept {tmp}")
        else:
            import shutil

            shutil.rmtree(tmp, ignore_errors=True)

    # ------------------------------------------------------------------ table
    def f(v, fmt="", none="-"):
        return none if v is None or (isinstance(v, float) and math.isnan(v)) else format(v, fmt)

    print("\n" + "=" * 150)
    hdr = (f"{'set':15s} {'associator':15s} {'model':26s} {'picks':>7s} {'reported':>8s} {'matched/ref':>12s} "
           f"{'recall':>6s} {'false':>11s} {'false@span':>10s} {'med.epi':>7s} {'seconds':>8s} {'call s':>7s} "
           f"{'table s':>7s} {'RSS MB':>7s} {'tree MB':>7s}")
    print(hdr)
    print("-" * len(hdr))
    for r in rows:
        if r.get("ok") is None:
            print(f"{r['set']:15s} {r['associator']:15s} {'-':26s} {r['picks']:7d}   {r['note']}")
            continue
        mr = f"{r['matched']}/{r['reference']}" if "matched" in r else "-"
        fl = f"{r['false']}/{r['reported']}" if "false" in r else ("TIMEOUT" if r.get("timeout") else "FAILED")
        fs = f"{r['false_in_ref_span']}/{r['reported_in_ref_span']}" if "false_in_ref_span" in r else "-"
        print(f"{r['set']:15s} {r['associator']:15s} {r['model'][:26]:26s} {r['picks']:7d} {f(r.get('reported'), 'd'):>8s} "
              f"{mr:>12s} {f(r.get('recall'), '.3f'):>6s} {fl:>11s} {fs:>10s} {f(r.get('median_epi_km'), '.2f'):>7s} "
              f"{f(r.get('seconds'), '.1f'):>8s} {f(r.get('call_s'), '.2f'):>7s} {f(r.get('table_s'), '.1f'):>7s} "
              f"{f(r.get('peak_rss_mb'), '.0f'):>7s} {f(r.get('peak_tree_pss_mb'), '.0f'):>7s}")
    print("-" * len(hdr))
    print("seconds/RSS: wall time and peak RSS of the associator's own child process (start-up and CSV reading "
          "included); tree MB: peak summed Pss of that process and its worker processes (polled every 0.1 s); call s: PyOcto's associate() alone; table s: our travel-time table build in the fresh home "
          "(excluded from seconds).")
    print("match: NCSN and Italy 5 s / 20 km, IMS 10 s / 100 km (recall over origins detected at >= 3 stations); "
          "false@span: unmatched events inside the reference catalogue's time span (Italy: 00:00-00:50).")
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    print(f"cpu count {os.cpu_count()}, load average {load}, pyocto {version('pyocto')}, numpy {np.__version__}")

    result = {"benchmark": "association_scales", "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
              "machine": machine(), "versions": {"pyocto": version("pyocto"), "numpy": np.__version__,
                                                  "pandas": pd.__version__, "obspy": version("obspy")},
              "quick": args.quick, "sets": set_info, "results": rows, "failures": failures}
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2, default=lambda o: o.item() if hasattr(o, "item") else str(o)) + "\n")
    print(f"results written to {args.output}")
    for p in failures:
        print("  problem:", p)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
