"""Station and network magnitudes of one origin from its associated arrivals.

Arrivals DataFrame (one row per associated arrival; columns as in :mod:`pipeline.picks` plus
the origin-dependent distances)::

    station        str   station code (required)
    network        str   optional ("")
    location       str   optional ("")
    channel        str   optional ("")
    phase          str   phase name (decides mb / Ms use, see MbConfig.phases, MsConfig.phases)
    distance_deg   float epicentral distance, deg   } at least one of the two; the other is
    distance_km    float epicentral distance, km    } derived with 111.19 km/deg
    amplitude      float mb / Ms amplitude, nm (A5/2 half peak-to-trough for P; LR trace max)
    period         float its period, s
    amp_wa         float Wood-Anderson amplitude, nm, static magnification 1 (ML)
    amp_wa_period  float its period, s (carried, not used by the formulas)
    amp_wa_time    float optional time of the WA maximum, epoch s
    next_event_time float optional first arrival at this station of a *later* event, epoch s:
                         an ML reading whose maximum is at or after it is rejected (in a swarm
                         the WA window of a small event can reach into a larger one's waves)
    elevation_m    float optional station elevation, m (ML vertical leg, MlConfig)
    pick_id        str   optional

Which rows feed which magnitude: mb and Ms use ``amplitude``/``period`` of rows whose phase is in
the type's ``phases``; ML uses ``amp_wa`` of any row (or of ``MlConfig.phases``). A row with a
usable amplitude that fails a check (period, distance, depth) is *kept* in the output with
``value`` NaN and a ``reason``; rows without an amplitude for a type are not readings of it.

Several readings at one station (``station_aggregate``): ``max`` keeps the largest station
magnitude (ISC: mb from max A/T; for ML the largest WA amplitude, in line with picks.py where
``amp_wa`` is already the max of the horizontals), ``mean``/``median`` combine them into one value,
``each`` keeps every reading as an independent datum of the network average (the IASPEI
standard counts each horizontal component as an independent ML datum).

Station magnitudes DataFrame (returned; one row per station magnitude or rejected reading)::

    network, station, location, channel  str  ("" / comma-joined channels when combined)
    magtype        str   "mb", "ML" or "Ms" (Ms = Ms_20)
    value          float station magnitude incl. station correction (NaN = rejected)
    residual       float value - network magnitude (NaN when rejected or no network magnitude)
    used           bool  contributed to the network magnitude
    phase          str
    distance_deg   float epicentral, deg
    distance_km    float epicentral, km
    ml_distance_km float distance used by the ML law, km (NaN for mb, Ms)
    amplitude      float amplitude used, nm (``amplitude`` or ``amp_wa``; NaN when combined)
    period         float its period, s (NaN when combined)
    correction     float station correction applied, magnitude units
    n_readings     int   readings combined into this row
    pick_id        str   pick(s) of the reading(s)
    reason         str   why the reading gave no magnitude ("" otherwise)
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from obspy import UTCDateTime

from pipeline.magnitude.config import MagnitudeConfig
from pipeline.magnitude.mb import check_mb, station_mb
from pipeline.magnitude.ml import check_ml, ml_distance_km, station_ml
from pipeline.magnitude.ms import check_ms, station_ms
from pipeline.magnitude.network import NetworkMagnitude, network_magnitude

#: km per degree of great circle (obspy.geodetics.degrees2kilometers, R = 6371 km)
KM_PER_DEG = 111.19492664455873

STATION_MAG_COLUMNS = ["network", "station", "location", "channel", "magtype", "value", "residual",
                       "used", "phase", "distance_deg", "distance_km", "ml_distance_km", "amplitude",
                       "period", "correction", "n_readings", "pick_id", "reason"]
_STR_COLS = ("network", "station", "location", "channel", "phase", "pick_id")
_NUM_COLS = ("distance_deg", "distance_km", "amplitude", "period", "amp_wa", "amp_wa_period",
             "amp_wa_time", "next_event_time", "elevation_m")


def _prepare(arrivals: pd.DataFrame) -> pd.DataFrame:
    if "station" not in arrivals.columns:
        raise ValueError("arrivals: required column 'station' missing")
    if "distance_deg" not in arrivals.columns and "distance_km" not in arrivals.columns:
        raise ValueError("arrivals: need column 'distance_deg' or 'distance_km'")
    df = arrivals.copy().reset_index(drop=True)
    for col in _STR_COLS:
        df[col] = df[col].fillna("").astype(str).str.strip() if col in df.columns else ""
    for col in _NUM_COLS:
        df[col] = pd.to_numeric(df[col], errors="coerce").astype(float) if col in df.columns else np.nan
    deg, km = df["distance_deg"].to_numpy(), df["distance_km"].to_numpy()
    df["distance_deg"] = np.where(np.isfinite(deg), deg, km / KM_PER_DEG)
    df["distance_km"] = np.where(np.isfinite(km), km, deg * KM_PER_DEG)
    return df


def _corrections(df: pd.DataFrame, table: dict[str, float]) -> np.ndarray:
    if not table:
        return np.zeros(len(df))
    full = (df["network"] + "." + df["station"]).to_numpy()
    return np.array([table.get(f, table.get(s, 0.0)) for f, s in zip(full, df["station"])], float)


def _readings(df: pd.DataFrame, depth_km: float, magtype: str, cfg: MagnitudeConfig) -> pd.DataFrame:
    """One row per reading of ``magtype``: value (NaN + reason when rejected)."""
    if magtype in ("mb", "Ms"):
        sub = cfg.mb if magtype == "mb" else cfg.ms
        rows = df[df["phase"].isin(sub.phases) & df["amplitude"].notna()].copy()
        a, t, d = (rows[c].to_numpy() for c in ("amplitude", "period", "distance_deg"))
        check, station = (check_mb, station_mb) if magtype == "mb" else (check_ms, station_ms)
        reasons = check(a, t, d, depth_km, sub)
        value = station(a, t, d, depth_km, sub)
        rows["ml_distance_km"] = np.nan
    else:
        sub = cfg.ml
        sel = df["amp_wa"].notna()
        if sub.phases:
            sel &= df["phase"].isin(sub.phases)
        rows = df[sel].copy()
        rows["amplitude"], rows["period"] = rows["amp_wa"], rows["amp_wa_period"]
        r = ml_distance_km(rows["distance_km"].to_numpy(), depth_km, rows["elevation_m"].to_numpy(), sub)
        a = rows["amplitude"].to_numpy()
        reasons = check_ml(a, r, depth_km, sub)
        value = station_ml(a, r, depth_km, sub)
        t_max, t_next = rows["amp_wa_time"].to_numpy(), rows["next_event_time"].to_numpy()
        late = np.isfinite(t_max) & np.isfinite(t_next) & (t_max >= t_next)
        for k in np.flatnonzero(late):
            if not reasons[k]:
                reasons[k] = (f"WA maximum at {UTCDateTime(t_max[k])} is in the waves of a later event "
                              f"(its first arrival here {UTCDateTime(t_next[k])})")
                value[k] = np.nan
        rows["ml_distance_km"] = r
    corr = _corrections(rows, sub.station_corrections)
    rows["correction"] = corr
    rows["value"] = value + corr
    rows["reason"] = [str(x) for x in reasons]
    rows["magtype"] = magtype
    rows["n_readings"] = 1
    return _aggregate(rows, sub.station_aggregate)


def _aggregate(rows: pd.DataFrame, how: str) -> pd.DataFrame:
    if how == "each" or rows.empty:
        return rows
    valid = rows[rows["value"].notna()]
    rejected = rows[rows["value"].isna()]
    out = []
    for _, grp in valid.groupby(["network", "station"], sort=False):
        if len(grp) == 1 or how == "max":
            out.append(grp.loc[[grp["value"].idxmax()]])
            continue
        row = grp.iloc[[0]].copy()
        row["value"] = grp["value"].mean() if how == "mean" else grp["value"].median()
        row["channel"] = ",".join(sorted(set(grp["channel"])))
        row["pick_id"] = ",".join(grp["pick_id"])
        row["amplitude"] = row["period"] = np.nan
        row["n_readings"] = len(grp)
        out.append(row)
    return pd.concat(out + [rejected], ignore_index=True) if out else rejected


def compute_magnitudes(arrivals: pd.DataFrame, origin_depth_km: float,
                       config: MagnitudeConfig = MagnitudeConfig()
                       ) -> tuple[pd.DataFrame, dict[str, NetworkMagnitude]]:
    """Station magnitudes (mb, ML, Ms) and network magnitudes of one origin.

    :param arrivals: associated arrivals with amplitudes and epicentral distances (module
        docstring for the columns)
    :param origin_depth_km: source depth, km (below sea level)
    :param config: :class:`~pipeline.magnitude.config.MagnitudeConfig`
    :returns: (station magnitudes DataFrame, ``{magtype: NetworkMagnitude}``); a magnitude type
        without any valid station magnitude has no entry in the dictionary
    """
    df = _prepare(arrivals)
    depth = float(origin_depth_km)
    parts, networks = [], {}
    for magtype in config.magtypes:
        rows = _readings(df, depth, magtype, config)
        rows["residual"] = np.nan
        rows["used"] = False
        valid = rows["value"].notna().to_numpy()
        if valid.any():
            idx = np.flatnonzero(valid)
            sub = rows.iloc[idx]
            labels = [f"{n}.{s}" if n else s for n, s in zip(sub["network"], sub["station"])]
            labels = [f"{lab}.{c}" if c else lab for lab, c in zip(labels, sub["channel"])]
            net = network_magnitude(sub["value"].to_numpy(), config.network, magtype, labels=labels)
            networks[magtype] = net
            rows.iloc[idx, rows.columns.get_loc("residual")] = np.array(net.residuals)
            rows.iloc[idx, rows.columns.get_loc("used")] = np.array(net.used)
        parts.append(rows)
    parts = [p for p in parts if not p.empty]
    if not parts:
        return pd.DataFrame({c: pd.Series(dtype=object if c in _STR_COLS + ("magtype", "reason")
                                          else bool if c == "used" else float)
                             for c in STATION_MAG_COLUMNS}), networks
    out = pd.concat(parts, ignore_index=True)[STATION_MAG_COLUMNS]
    out["used"] = out["used"].astype(bool)
    out["n_readings"] = out["n_readings"].astype(int)
    return out, networks
