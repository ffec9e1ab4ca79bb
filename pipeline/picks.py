"""Pick and station tables: the documented DataFrame schemas shared by detection, association,
location and magnitudes, and their CSV form (the ``idc detect`` / ``idc associate`` contract).

Picks DataFrame (one row per detection; times are **epoch seconds UTC, float64**)::

    network        str   network code ("" if unknown)
    station        str   station code (required)
    location       str   location code ("")
    channel        str   channel the onset was measured on ("")
    phase          str   phase name or hint: P, S, Pn, Pg, Sn, Lg, PKP, ... ("" = unknown)
    time           float onset time, epoch s (required)
    time_uncertainty float  1-sigma onset uncertainty, s (NaN = unknown)
    amplitude      float amplitude for body-wave magnitude, nm: IDC "A5/2" (half peak-to-trough of
                         ground displacement, 0.8-4.5 Hz, vertical) (NaN = none)
    period         float period of that amplitude, s
    amp_wa         float Wood-Anderson amplitude for ML, nm, max of the horizontal components,
                         zero-to-peak, static magnification 1 (NaN = none)
    amp_wa_period  float period of the WA amplitude, s
    amp_wa_time    float time of the WA maximum, epoch s (NaN = unknown); with the events'
                         arrivals it tells a maximum of this event from one of a later event
    snr            float signal-to-noise ratio (STA/LTA peak or amplitude ratio)
    backazimuth    float degrees from north, station to source (NaN = not measured)
    backazimuth_uncertainty float deg
    slowness       float horizontal slowness, s/deg (NaN = not measured)
    slowness_uncertainty    float s/deg
    incidence      float apparent incidence angle, deg from vertical (3-C polarisation)
    rectilinearity float 0-1 (3-C polarisation)
    pick_id        str   unique id (filled by :func:`normalise_picks` when empty)

Stations DataFrame::

    network str, station str, latitude float deg, longitude float deg, elevation_m float

picks.csv: the same columns with ``time`` and ``amp_wa_time`` as ISO-8601 UTC; only
``station,phase,time`` are required.
stations.csv: ``station,latitude,longitude,elevation_m`` (``network`` optional).
"""
from __future__ import annotations

import uuid
from pathlib import Path

import numpy as np
import pandas as pd
from obspy import Inventory, UTCDateTime

from pipeline.errors import BAD_VALUE, InputError

PICK_COLUMNS: dict[str, str] = {
    "network": "str", "station": "str", "location": "str", "channel": "str", "phase": "str",
    "time": "float64", "time_uncertainty": "float64", "amplitude": "float64", "period": "float64",
    "amp_wa": "float64", "amp_wa_period": "float64", "amp_wa_time": "float64", "snr": "float64", "backazimuth": "float64",
    "backazimuth_uncertainty": "float64", "slowness": "float64", "slowness_uncertainty": "float64",
    "incidence": "float64", "rectilinearity": "float64", "pick_id": "str",
}
#: the further columns of an array detection table (``idc array detect``, :mod:`pipeline.array`):
#: technology, Fisher F and semblance of the f-k window, obspy's relative power. read_picks_csv
#: accepts and checks them; the associator uses the array's backazimuth and slowness (with their
#: uncertainties) of PICK_COLUMNS
ARRAY_COLUMNS: dict[str, str] = {"technology": "str", "fstat": "float64", "semblance": "float64",
                                 "relpow": "float64"}
#: the further columns of an infrasound detection table (``idc infrasound detect``,
#: :mod:`pipeline.infrasound`): trace velocity (m/s), dominant frequency (Hz) and duration (s)
#: of the detection; it also carries :data:`ARRAY_COLUMNS` (technology ``infrasound``, Fisher F)
INFRASOUND_COLUMNS: dict[str, str] = {"trace_velocity": "float64", "frequency": "float64", "duration": "float64"}
#: the further columns of a hydroacoustic detection table (``idc hydroacoustic detect``,
#: :mod:`pipeline.hydroacoustic`, phases H on hydrophones and T on island seismometers): the
#: detection band (Hz), the STA/LTA peak, the per-band energy over the pre-onset noise
#: (``"lo-hi:dB;..."``) and the cepstral (bubble-pulse) delay (s) with its prominence; it also
#: carries ``technology`` ("hydroacoustic") of :data:`ARRAY_COLUMNS` and ``frequency`` (peak
#: frequency, Hz) and ``duration`` (s) of :data:`INFRASOUND_COLUMNS`
HYDRO_COLUMNS: dict[str, str] = {"band_low_hz": "float64", "band_high_hz": "float64", "stalta": "float64",
                                 "band_energy_db": "str", "cepstral_delay_s": "float64",
                                 "cepstral_prominence": "float64"}
#: phase names of infrasound arrivals (:mod:`pipeline.traveltime.infrasound`: I = any duct, Iw
#: tropospheric, Is stratospheric, It thermospheric) and of hydroacoustic arrivals
#: (:mod:`pipeline.traveltime.hydroacoustic`: H on a hydrophone, T on an island seismometer)
INFRASOUND_PHASES: tuple[str, ...] = ("I", "Iw", "Is", "It")
HYDROACOUSTIC_PHASES: tuple[str, ...] = ("H", "T")
#: the values of the ``technology`` column
TECHNOLOGIES: tuple[str, ...] = ("seismic", "infrasound", "hydroacoustic")


def pick_technology(phase: str, technology: str = "") -> str:
    """The technology of a detection: its ``technology`` value when it names one of
    :data:`TECHNOLOGIES`, else told by the phase name (:data:`INFRASOUND_PHASES`,
    :data:`HYDROACOUSTIC_PHASES`; everything else is ``seismic``). A table read back from
    picks.csv or a bulletin's arrivals carry no technology column: their phase names tell."""
    tech = (technology or "").strip().lower()
    if tech in TECHNOLOGIES:
        return tech
    ph = (phase or "").strip()
    if ph in INFRASOUND_PHASES:
        return "infrasound"
    if ph in HYDROACOUSTIC_PHASES:
        return "hydroacoustic"
    return "seismic"


def technologies(picks: pd.DataFrame) -> np.ndarray:
    """:func:`pick_technology` of every row of a picks DataFrame (its ``technology`` column
    where it names a technology, else the phase names); vectorised (the associator asks it of
    every pick table)."""
    n = len(picks)
    out = np.full(n, "seismic", dtype=object)
    if not n:
        return out
    if "phase" in picks.columns:
        ph = picks["phase"]
        out[ph.isin(INFRASOUND_PHASES).to_numpy()] = "infrasound"
        out[ph.isin(HYDROACOUSTIC_PHASES).to_numpy()] = "hydroacoustic"
    if "technology" in picks.columns:
        t = picks["technology"].fillna("").astype(str).str.strip().str.lower()
        for tech in TECHNOLOGIES:
            out[(t == tech).to_numpy()] = tech
    return out


STATION_COLUMNS: dict[str, str] = {"network": "str", "station": "str", "latitude": "float64",
                                   "longitude": "float64", "elevation_m": "float64"}


class TableError(InputError):
    """A pick or station table is malformed; the message names file, row and column."""


def empty_picks() -> pd.DataFrame:
    return normalise_picks(pd.DataFrame({c: [] for c in PICK_COLUMNS}))


def normalise_picks(df: pd.DataFrame, source: str = "picks") -> pd.DataFrame:
    """Add missing optional columns, coerce types, fill ``pick_id``; sorted by time."""
    for col in ("station", "time"):
        if col not in df.columns:
            raise TableError(f"{source}: required column '{col}' missing")
    n = len(df)
    cols: dict[str, np.ndarray] = {}
    # column by column on numpy arrays (the chain normalises every event's few picks: pandas'
    # per-column machinery cost ~10 ms per call, this ~1 ms; same values)
    for col, kind in PICK_COLUMNS.items():
        if col not in df.columns:
            cols[col] = np.full(n, "", dtype=object) if kind == "str" else np.full(n, np.nan)
        elif kind == "str":
            v = df[col].to_numpy(dtype=object)
            blank = pd.isna(v)
            cols[col] = np.array(["" if b else str(x).strip() for x, b in zip(v, blank)], dtype=object)
        elif df[col].dtype == np.float64:
            cols[col] = df[col].to_numpy(dtype=np.float64, copy=True)
        else:
            cols[col] = pd.to_numeric(df[col], errors="coerce").to_numpy(dtype=np.float64)
    empty = cols["station"] == ""
    if empty.any():
        row = int(np.flatnonzero(empty)[0])
        raise TableError(f"{source}: row {row + 1}: column 'station' is empty")
    missing = np.flatnonzero(cols["pick_id"] == "")
    for k in missing:
        cols["pick_id"][k] = uuid.uuid4().hex[:16]
    order = np.argsort(cols["time"], kind="stable")
    return pd.DataFrame({c: v[order] for c, v in cols.items()})


#: columns that picks.csv holds as ISO-8601 UTC times (epoch s in the DataFrame)
TIME_COLUMNS = ("time", "amp_wa_time")


def _parse_time(value: str, path: Path, row: int, column: str = "time") -> float:
    if column != "time" and str(value).strip().lower() in ("", "nan"):
        return np.nan
    try:
        return float(UTCDateTime(str(value).strip()).timestamp)
    except BAD_VALUE:
        raise TableError(f"{path}: row {row}: column '{column}' is not an ISO-8601 time: {value!r}") from None


def read_picks_csv(path: str | Path) -> pd.DataFrame:
    """Read picks.csv (``station,phase,time`` required) into a normalised picks DataFrame."""
    path = Path(path)
    try:
        raw = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True)
    except FileNotFoundError:
        raise TableError(f"{path}: no such pick file") from None
    except (OSError, ValueError) as exc:  # pandas: ParserError, EmptyDataError, UnicodeDecodeError
        raise TableError(f"{path}: not a CSV file ({exc})") from None
    raw.columns = [c.strip().lower() for c in raw.columns]
    for col in ("station", "phase", "time"):
        if col not in raw.columns:
            raise TableError(f"{path}: required column '{col}' missing (have: {', '.join(raw.columns)})")
    known = {**PICK_COLUMNS, **ARRAY_COLUMNS, **INFRASOUND_COLUMNS, **HYDRO_COLUMNS}
    unknown = [c for c in raw.columns if c not in known]
    if unknown:
        raise TableError(f"{path}: unknown column(s) {', '.join(unknown)}; known: {', '.join(known)}")
    for col in TIME_COLUMNS:
        if col in raw.columns:
            raw[col] = [_parse_time(v, path, i + 2, col) for i, v in enumerate(raw[col])]
    for col, kind in known.items():
        if kind == "float64" and col in raw.columns and col not in TIME_COLUMNS:
            vals = pd.to_numeric(raw[col].replace("", np.nan), errors="coerce")
            bad = vals.isna() & raw[col].ne("") & raw[col].str.lower().ne("nan")
            if bad.any():
                i = int(np.flatnonzero(bad.to_numpy())[0])
                raise TableError(f"{path}: row {i + 2}: column '{col}' is not a number: {raw[col].iloc[i]!r}")
            raw[col] = vals
    return normalise_picks(raw, str(path))


def write_picks_csv(picks: pd.DataFrame, path: str | Path) -> Path:
    """Write a picks DataFrame as picks.csv (ISO-8601 times, empty cells for NaN)."""
    df = normalise_picks(picks)
    out = df.copy()
    for col in TIME_COLUMNS:
        out[col] = ["" if not np.isfinite(t) else UTCDateTime(t).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
                    for t in df[col]]
    keep = [c for c in PICK_COLUMNS if c in ("station", "phase", "time", "network", "channel", "location")
            or df[c].replace("", np.nan).notna().any()]  # (judged on the data, not on the ISO text)
    path = Path(path)
    out[keep].to_csv(path, index=False, float_format="%.6g", na_rep="")
    return path


def write_detections_csv(df: pd.DataFrame, path: str | Path, extra: dict[str, str]) -> Path:
    """Write a detection table with further columns (``extra``: name -> kind, e.g.
    :data:`HYDRO_COLUMNS`) after the picks.csv columns: ISO-8601 times, empty cells for NaN,
    optional columns that are empty everywhere left out; :func:`read_picks_csv` reads it."""
    out = df.copy()
    for col in TIME_COLUMNS:
        out[col] = ["" if not np.isfinite(t) else UTCDateTime(t).strftime("%Y-%m-%dT%H:%M:%S.%fZ") for t in df[col]]
    cols = list(PICK_COLUMNS) + [c for c in extra if c not in PICK_COLUMNS]
    keep = [c for c in cols if c in ("station", "phase", "time", "network", "channel", "location", "technology")
            or (c in df.columns and df[c].replace("", np.nan).notna().any())]
    path = Path(path)
    out[keep].to_csv(path, index=False, float_format="%.6g", na_rep="")
    return path


def read_stations_csv(path: str | Path) -> pd.DataFrame:
    """Read stations.csv (``station,latitude,longitude,elevation_m`` [+ ``network``])."""
    from pipeline.stations.inventory import read_station_file

    return stations_from_inventory(read_station_file(path, default_network="").inventory)


def stations_from_inventory(inv: Inventory) -> pd.DataFrame:
    rows = [(net.code, sta.code, sta.latitude, sta.longitude, sta.elevation or 0.0)
            for net in inv for sta in net]
    df = pd.DataFrame(rows, columns=list(STATION_COLUMNS))
    # one row per (network, station): the newest epoch wins
    return df.drop_duplicates(["network", "station"], keep="last").reset_index(drop=True)
