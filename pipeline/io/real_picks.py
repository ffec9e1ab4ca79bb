"""Readers for the pick, station, catalogue and velocity files of the REAL / LOC-FLOW workflow.

REAL (Zhang et al. 2019, SRL 90(5), "Rapid earthquake association and location",
github.com/Dal-mzhang/REAL) and LOC-FLOW (github.com/Dal-mzhang/LOC-FLOW) ship a day of
automatic picks of the 2016 Central Italy sequence (2016-10-14) with these files; the project
keeps copies under ``tests/data/italy`` (see its ``SOURCE.txt``). The HypoDD phase and station
files of NCSN are read by :mod:`pipeline.bulletin.hypodd`.

=====================================  =========================================================
file                                   reader
=====================================  =========================================================
``Pick/YYYYMMDD/NET.STA.P.txt``,       :func:`read_real_pick_files`: one pick per line,
``NET.STA.S.txt`` (or the day's zip)   ``seconds-of-day weight amplitude``
``Data/station.dat``                   :func:`read_real_stations`: ``lon lat net sta chan elev_km``
``Pick_PhaseNet/results/picks.csv``    :func:`read_phasenet_picks`: one row per station-day, tab
                                       separated, sample indices (100 Hz) after ``t0``
``catOut.sum`` (Hypoinverse summary)   :func:`read_hypoinverse_sum`: the reference catalogue
``*.nd`` (TauP "named discontinuity")  :func:`read_nd_model`, :func:`nd_to_block_layers`
=====================================  =========================================================

Picks come back in the :mod:`pipeline.picks` schema (epoch seconds UTC). Columns of the source
files without a place in that schema (REAL's pick weight and amplitude, PhaseNet's probability
and amplitude) are returned in extra columns ``weight``/``amplitude_raw`` (REAL) or
``probability``/``amplitude_raw`` (PhaseNet) after the schema columns; the schema's
``amplitude`` (IDC A5/2 in nm) stays NaN because neither tool measures that quantity.
A malformed line raises :class:`~pipeline.picks.TableError` naming the file and line.
"""
from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
from obspy import UTCDateTime

from pipeline.errors import BAD_VALUE
from pipeline.picks import PICK_COLUMNS, TableError, normalise_picks

#: pick file name: ``NET.STA.P.txt`` / ``NET.STA.S.txt``
_PICK_NAME = re.compile(r"^(?P<net>[^./]+)\.(?P<sta>[^./]+)\.(?P<phase>[PS])\.txt$")


def _pick_sources(path: Path) -> list[tuple[str, str, bytes]]:
    """(display name, base name, content) of every ``NET.STA.[PS].txt`` in a folder or zip."""
    out = []
    if path.is_dir():
        for f in sorted(path.rglob("*.txt")):
            out.append((str(f), f.name, f.read_bytes()))
    elif zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as zf:
            for name in sorted(zf.namelist()):
                base = name.rsplit("/", 1)[-1]
                if name.startswith("__MACOSX") or not base.endswith(".txt"):
                    continue
                out.append((f"{path}:{name}", base, zf.read(name)))
    else:
        raise TableError(f"{path}: neither a folder nor a zip file of REAL pick files")
    return out


def read_real_pick_files(path: str | Path, day: str | UTCDateTime) -> pd.DataFrame:
    """Read a day of REAL pick files (the STA/LTA picks of the REAL demo).

    Each file ``NET.STA.P.txt`` / ``NET.STA.S.txt`` holds one pick per line:
    ``seconds-of-day weight amplitude`` (seconds after ``day`` 00:00 UTC; REAL's pick weight,
    0-1; REAL's amplitude, used by REAL for a rough magnitude, units of the raw data).

    :param path: a folder holding the files (searched recursively) or the day's zip archive
        (``20161014.zip``; ``__MACOSX`` entries are skipped).
    :param day: the UTC day the seconds count from (e.g. ``"2016-10-14"``).
    :returns: picks DataFrame (:mod:`pipeline.picks` schema, sorted by time) plus the columns
        ``weight`` and ``amplitude_raw``; ``pick_id`` = ``NET.STA.PHASE:<line>``.
    :raises TableError: a file name that is not ``NET.STA.[PS].txt``, or a malformed line.
    """
    t0 = float(UTCDateTime(day).timestamp)
    frames = []
    for shown, base, content in _pick_sources(Path(path)):
        m = _PICK_NAME.match(base)
        if m is None:
            raise TableError(f"{shown}: not a REAL pick file name (expected NET.STA.P.txt or NET.STA.S.txt)")
        rows = []
        for lineno, line in enumerate(content.decode("ascii", errors="replace").splitlines(), start=1):
            parts = line.split()
            if not parts:
                continue
            try:
                sec, weight, amp = (float(parts[0]), float(parts[1]), float(parts[2]))
            except (ValueError, IndexError):
                raise TableError(f"{shown}: line {lineno}: expected 'seconds weight amplitude', "
                                 f"got {line.strip()!r}") from None
            rows.append((sec, weight, amp, lineno))
        if not rows:
            continue
        a = np.asarray(rows, dtype=float)
        frames.append(pd.DataFrame({
            "network": m["net"], "station": m["sta"], "phase": m["phase"], "time": t0 + a[:, 0],
            "weight": a[:, 1], "amplitude_raw": a[:, 2],
            "pick_id": [f"{m['net']}.{m['sta']}.{m['phase']}:{int(n)}" for n in a[:, 3]]}))
    if not frames:
        raise TableError(f"{path}: no REAL pick files found")
    raw = pd.concat(frames, ignore_index=True)
    return _with_extras(raw, ["weight", "amplitude_raw"], str(path))


def _with_extras(raw: pd.DataFrame, extras: list[str], source: str) -> pd.DataFrame:
    picks = normalise_picks(raw.drop(columns=extras), source)
    return picks.merge(raw[["pick_id", *extras]], on="pick_id", how="left")[list(PICK_COLUMNS) + extras]


def read_real_stations(path: str | Path) -> pd.DataFrame:
    """Read REAL's ``station.dat``: ``lon lat net sta chan elev_km`` per line.

    :returns: stations DataFrame (:data:`pipeline.picks.STATION_COLUMNS`; ``elevation_m`` =
        1000 × ``elev_km``) plus ``channel``; one row per (network, station), the last wins.
    """
    path = Path(path)
    rows = []
    for lineno, line in enumerate(path.read_text().splitlines(), start=1):
        parts = line.split()
        if not parts:
            continue
        try:
            rows.append(dict(network=parts[2], station=parts[3], latitude=float(parts[1]),
                             longitude=float(parts[0]), elevation_m=1000.0 * float(parts[5]),
                             channel=parts[4]))
        except (ValueError, IndexError):
            raise TableError(f"{path}: line {lineno}: expected 'lon lat net sta chan elev_km', "
                             f"got {line.strip()!r}") from None
    if not rows:
        raise TableError(f"{path}: no station lines")
    return pd.DataFrame(rows).drop_duplicates(["network", "station"], keep="last").reset_index(drop=True)


def _int_list(cell: str, shown: str, column: str, cast=float) -> list:
    text = str(cell).strip()
    if text in ("", "[]", "nan"):
        return []
    if not (text.startswith("[") and text.endswith("]")):
        raise TableError(f"{shown}: column {column!r}: expected a [..] list, got {text[:40]!r}")
    try:
        return [cast(v) for v in text[1:-1].split(",") if v.strip()]
    except ValueError:
        raise TableError(f"{shown}: column {column!r}: not a list of numbers: {text[:60]!r}") from None


def read_phasenet_picks(path: str | Path, sampling_rate: float = 100.0) -> pd.DataFrame:
    """Read the REAL demo's PhaseNet output ``picks.csv`` (one row per station-day).

    Tab-separated columns ``fname, t0, p_idx, p_prob, s_idx, s_prob, p_amp, s_amp``;
    ``fname`` is ``YYYY_MM_DD_<sec>_<NET>_<STA>_mseed``, ``t0`` the start of the data (ISO),
    ``*_idx`` lists of sample indices after ``t0``, ``*_prob`` PhaseNet's probabilities and
    ``*_amp`` its amplitudes (lists of the same length).

    :param sampling_rate: sampling rate the indices count, Hz (100 Hz in the REAL demo).
    :returns: picks DataFrame (:mod:`pipeline.picks` schema) plus ``probability`` and
        ``amplitude_raw``; ``pick_id`` = ``pn:NET.STA.PHASE:<n>``.
    """
    path = Path(path)
    try:
        table = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    except (OSError, ValueError) as exc:  # pandas: ParserError, EmptyDataError, UnicodeDecodeError
        raise TableError(f"{path}: not a tab-separated PhaseNet picks file ({exc})") from None
    need = ["fname", "t0", "p_idx", "p_prob", "s_idx", "s_prob", "p_amp", "s_amp"]
    missing = [c for c in need if c not in table.columns]
    if missing:
        raise TableError(f"{path}: column(s) {', '.join(missing)} missing (have: {', '.join(table.columns)})")
    frames = []
    for i, row in table.iterrows():
        shown = f"{path}: row {i + 2}"
        parts = row["fname"].split("_")
        if len(parts) < 7:
            raise TableError(f"{shown}: fname {row['fname']!r} is not YYYY_MM_DD_SEC_NET_STA_mseed")
        net, sta = parts[4], parts[5]
        try:
            t0 = float(UTCDateTime(row["t0"]).timestamp)
        except BAD_VALUE:
            raise TableError(f"{shown}: t0 {row['t0']!r} is not an ISO time") from None
        for ph in ("p", "s"):
            idx = _int_list(row[f"{ph}_idx"], shown, f"{ph}_idx", int)
            prob = _int_list(row[f"{ph}_prob"], shown, f"{ph}_prob")
            amp = _int_list(row[f"{ph}_amp"], shown, f"{ph}_amp")
            if not (len(idx) == len(prob) == len(amp)):
                raise TableError(f"{shown}: {ph}_idx, {ph}_prob and {ph}_amp differ in length "
                                 f"({len(idx)}, {len(prob)}, {len(amp)})")
            if not idx:
                continue
            phase = ph.upper()
            frames.append(pd.DataFrame({
                "network": net, "station": sta, "phase": phase,
                "time": t0 + np.asarray(idx, float) / sampling_rate,
                "probability": prob, "amplitude_raw": amp,
                "pick_id": [f"pn:{net}.{sta}.{phase}:{n}" for n in range(len(idx))]}))
    if not frames:
        raise TableError(f"{path}: no picks")
    return _with_extras(pd.concat(frames, ignore_index=True), ["probability", "amplitude_raw"], str(path))


def read_hypoinverse_sum(path: str | Path) -> pd.DataFrame:
    """Read a Hypoinverse summary listing as written by LOC-FLOW (``catOut.sum``).

    One header line (``DATE TIME SEC LAT LON DEPTH ...``), then one event per line::

        2016/10/14 00:00  8.88  42.8124   13.2169   8.38   55  27   5.4  0.13 ... 0.93 ML

    The first six fields are date, hour:minute, seconds, latitude and longitude (deg, signed)
    and depth (km); when the line ends with ``<magnitude> <type>`` (e.g. ``0.93 ML``) that is
    the magnitude, otherwise it is NaN.

    :returns: DataFrame ``time`` (epoch s), ``latitude``, ``longitude``, ``depth_km``, ``mag``,
        ``mag_type``, in file order.
    """
    path = Path(path)
    rows = []
    for lineno, line in enumerate(path.read_text().splitlines(), start=1):
        parts = line.split()
        if not parts or parts[0] == "DATE":
            continue
        try:
            t = UTCDateTime(f"{parts[0].replace('/', '-')}T{parts[1]}:00") + float(parts[2])
            lat, lon, dep = float(parts[3]), float(parts[4]), float(parts[5])
        except (ValueError, IndexError, TypeError):
            raise TableError(f"{path}: line {lineno}: not a Hypoinverse summary line: {line.strip()!r}") from None
        mag, mtype = np.nan, ""
        if len(parts) >= 8 and re.fullmatch(r"M[A-Za-z]*", parts[-1]):
            try:
                mag, mtype = float(parts[-2]), parts[-1]
            except ValueError:
                pass
        rows.append(dict(time=float(t.timestamp), latitude=lat, longitude=lon, depth_km=dep, mag=mag,
                         mag_type=mtype))
    return pd.DataFrame(rows, columns=["time", "latitude", "longitude", "depth_km", "mag", "mag_type"])


def read_nd_model(path: str | Path) -> pd.DataFrame:
    """Read a TauP ``.nd`` (named discontinuities) model: ``depth vp vs [rho [qp qs]]`` rows.

    Named lines (``mantle``, ``outer-core``, ``inner-core``) are skipped; a repeated depth is a
    first-order discontinuity, otherwise the velocity varies linearly between rows (TauP).

    :returns: DataFrame ``depth_km, vp_km_s, vs_km_s`` in file order; ``attrs["moho_km"]`` is
        the depth of the row after the ``mantle`` line (km), or NaN without one.
    """
    path = Path(path)
    rows = []
    moho = np.nan
    after_mantle = False
    for lineno, line in enumerate(path.read_text().splitlines(), start=1):
        parts = line.split()
        if parts and parts[0].lower() == "mantle":
            after_mantle = True
            continue
        if not parts or parts[0].isalpha() or "-" in parts[0][1:]:
            continue
        try:
            rows.append((float(parts[0]), float(parts[1]), float(parts[2])))
        except (ValueError, IndexError):
            raise TableError(f"{path}: line {lineno}: expected 'depth vp vs ...', got {line.strip()!r}") from None
        if after_mantle:
            moho, after_mantle = rows[-1][0], False
    if len(rows) < 2:
        raise TableError(f"{path}: fewer than two model rows")
    out = pd.DataFrame(rows, columns=["depth_km", "vp_km_s", "vs_km_s"])
    out.attrs["moho_km"] = moho
    return out


def nd_to_block_layers(nd: pd.DataFrame, max_depth_km: float | None = None,
                       step_km: float = 1.0) -> pd.DataFrame:
    """Constant-velocity blocks approximating a ``.nd`` model, for a ``Depth,Vp,Vs`` velocity file.

    Constant segments stay one block; a gradient segment is cut into blocks of at most
    ``step_km`` whose velocity is the segment's velocity at the block's mid-depth (so the
    vertical travel time through the gradient is kept to second order). Rows below
    ``max_depth_km`` are dropped: the layer starting there becomes the file's deepest layer,
    which :func:`pipeline.traveltime.models.read_velocity_file` takes as the Moho and continues
    as a half-space over its base model (ak135). By default that depth is the model's Moho
    (``nd.attrs["moho_km"]``), so the Moho keeps its meaning for TauP's Pn/Pg.

    :param nd: :func:`read_nd_model` output.
    :param max_depth_km: deepest layer top kept, km (default: the ``mantle`` depth; 60 km
        when the model names none).
    :param step_km: largest block thickness inside a gradient, km.
    :returns: DataFrame ``Depth, Vp, Vs`` (layer tops, km; km/s).
    """
    if max_depth_km is None:
        moho = float(nd.attrs.get("moho_km", np.nan))
        max_depth_km = moho if np.isfinite(moho) else 60.0
    z, vp, vs = (nd[c].to_numpy(float) for c in ("depth_km", "vp_km_s", "vs_km_s"))
    tops: list[tuple[float, float, float]] = []
    for i in range(len(z) - 1):
        z0, z1 = z[i], z[i + 1]
        if z1 <= z0 or z0 >= max_depth_km:
            continue  # a discontinuity (repeated depth) or below the kept range
        if vp[i] == vp[i + 1] and vs[i] == vs[i + 1]:
            edges = np.array([z0, z1])
        else:
            n = int(np.ceil((z1 - z0) / step_km - 1e-9))
            edges = np.linspace(z0, z1, n + 1)
        for a, b in zip(edges[:-1], edges[1:]):
            if a >= max_depth_km:
                break
            f = ((a + b) / 2 - z0) / (z1 - z0)
            tops.append((a, vp[i] + f * (vp[i + 1] - vp[i]), vs[i] + f * (vs[i + 1] - vs[i])))
    last = int(np.searchsorted(z, max_depth_km, side="right")) - 1
    if tops and z[last] > tops[-1][0]:
        tops.append((z[last], vp[last], vs[last]))
    out = pd.DataFrame(tops, columns=["Depth", "Vp", "Vs"])
    # merge consecutive identical blocks
    keep = np.ones(len(out), bool)
    keep[1:] = (np.diff(out["Vp"].to_numpy()) != 0) | (np.diff(out["Vs"].to_numpy()) != 0)
    return out[keep].reset_index(drop=True)


def write_velocity_csv(layers: pd.DataFrame, path: str | Path) -> Path:
    """Write ``Depth,Vp,Vs`` blocks (from :func:`nd_to_block_layers`) as a velocity file."""
    path = Path(path)
    buf = io.StringIO()
    layers[["Depth", "Vp", "Vs"]].to_csv(buf, index=False, float_format="%.4f")
    path.write_text(buf.getvalue())
    return path
