"""Scoring a bulletin against a reference catalogue (``idc score``): event matching with
documented rules and the figures an IDC reports for an automatic bulletin.

Matching rule (the rule of the project's scoring script ``score_events.py``, so figures agree):

* one-to-one and greedy: the reference events are taken in origin-time order; each takes, among the
  reported events not taken yet, the one with origin-time difference ``|dt| <= dt_s`` and
  epicentral distance ``<= distance_km`` that minimises ``|dt| + distance / 8 km/s`` (a time
  difference and the distance a P wave travels in it weigh the same);
* distances on the sphere (radius 6371 km, geographic latitudes: :mod:`pipeline.location.geodesy`);
* a reported event matched by no reference event is *false*; a reference event without a match is
  *missed*; the figures: matched % (recall), missed %, false % (of the reported events), epicentre
  error median and 90th percentile (the sorted value at ``int(0.9 (n - 1))``, as the script), depth
  bias (median of reported − reference, km, pairs with both depths; and the median absolute difference) and magnitude bias (mean of reported − reference, pairs with both magnitudes; the
  preferred magnitude of each event).

Inputs are tables (:class:`pandas.DataFrame`: ``time`` epoch s, ``latitude``, ``longitude``,
optional ``depth_km``, ``magnitude``, ``magtype``, ``id``) made from obspy catalogues
(:func:`events_table`) or from a reference CSV (:func:`read_reference_csv`, the columns of
``score_events.py``: ``time`` ISO or epoch, ``latitude``/``longitude``, optional ``depth_km``,
``mag``)."""
from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline.errors import BAD_VALUE, InputError
from pipeline.location.geodesy import KM_PER_DEG, great_circle_deg

#: default tolerances (``score_events.py``'s): origin time, epicentre
DEFAULT_DT_S = 10.0
DEFAULT_DISTANCE_KM = 100.0
#: the speed that converts a distance into the time it weighs against (km/s)
COST_SPEED_KM_S = 8.0
COLUMNS = ["time", "latitude", "longitude", "depth_km", "magnitude", "magtype", "id"]


class ScoreInputError(InputError):
    """A reference or bulletin that cannot be scored (names the file, row and field)."""


def events_table(catalog) -> pd.DataFrame:
    """The preferred origin and preferred magnitude (else the first) of every event of an obspy
    catalogue with a located origin; ``id`` is the event's resource id."""
    rows = []
    for ev in catalog:
        o = ev.preferred_origin() or (ev.origins[0] if ev.origins else None)
        if o is None or o.time is None or o.latitude is None or o.longitude is None:
            continue
        m = ev.preferred_magnitude() or (ev.magnitudes[0] if ev.magnitudes else None)
        rows.append((float(o.time.timestamp), float(o.latitude), float(o.longitude),
                     o.depth / 1000.0 if o.depth is not None else np.nan,
                     float(m.mag) if m is not None and m.mag is not None else np.nan,
                     (m.magnitude_type or "") if m is not None else "", str(ev.resource_id)))
    return pd.DataFrame(rows, columns=COLUMNS)


def _float(path: Path, line: int, name: str, value: str, required: bool) -> float:
    if value is None or str(value).strip() == "":
        if required:
            raise ScoreInputError(f"{path}:{line}: field '{name}' is empty")
        return np.nan
    try:
        x = float(value)
    except ValueError:
        raise ScoreInputError(f"{path}:{line}: field '{name}': {value!r} is not a number") from None
    if not math.isfinite(x):
        raise ScoreInputError(f"{path}:{line}: field '{name}': {value!r} is not finite")
    return x


def read_reference_csv(path: str | Path, time_col: str = "time", mag_col: str = "mag") -> pd.DataFrame:
    """A reference catalogue CSV (``time`` ISO 8601 or epoch seconds, ``latitude``/``longitude``
    (or ``Lat``/``Lon``), optional ``depth_km`` and ``mag``) as an events table. A bad row is an
    error naming file, line and field."""
    from obspy import UTCDateTime

    path = Path(path)
    rows = []
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        if reader.fieldnames is None or time_col not in reader.fieldnames:
            raise ScoreInputError(f"{path}: no '{time_col}' column (have: {', '.join(reader.fieldnames or [])})")
        for line, r in enumerate(reader, start=2):
            t = (r.get(time_col) or "").strip()
            try:
                epoch = float(t) if t.replace(".", "", 1).isdigit() else float(UTCDateTime(t).timestamp)
            except BAD_VALUE:
                raise ScoreInputError(f"{path}:{line}: field '{time_col}': {t!r} is not a time") from None
            lat = _float(path, line, "latitude", r.get("latitude", r.get("Lat")), True)
            lon = _float(path, line, "longitude", r.get("longitude", r.get("Lon")), True)
            if not (-90 <= lat <= 90 and -180 <= lon <= 360):
                raise ScoreInputError(f"{path}:{line}: latitude/longitude {lat}, {lon} out of range")
            rows.append((epoch, lat, lon, _float(path, line, "depth_km", r.get("depth_km"), False),
                         _float(path, line, mag_col, r.get(mag_col), False), r.get("magtype", "") or "",
                         r.get("id", "") or f"{path.name}:{line}"))
    return pd.DataFrame(rows, columns=COLUMNS)


@dataclass
class Score:
    """The outcome of :func:`match_events` (``pairs``: reference row, reported row, distance km,
    dt s; ``missed``/``false``: rows of the reference/reported tables)."""

    dt_s: float
    distance_km: float
    reference: pd.DataFrame
    reported: pd.DataFrame
    pairs: list[tuple[int, int, float, float]] = field(default_factory=list)

    @property
    def missed(self) -> pd.DataFrame:
        keep = np.ones(len(self.reference), bool)
        keep[[i for i, *_ in self.pairs]] = False
        return self.reference.iloc[np.flatnonzero(keep)]

    @property
    def false(self) -> pd.DataFrame:
        keep = np.ones(len(self.reported), bool)
        keep[[j for _, j, *_ in self.pairs]] = False
        return self.reported.iloc[np.flatnonzero(keep)]

    def summary(self) -> dict:
        n_ref, n_rep, n = len(self.reference), len(self.reported), len(self.pairs)
        epi = np.array([d for *_, d, _ in self.pairs], float)
        dts = np.array([dt for *_, dt in self.pairs], float)
        ri = [i for i, *_ in self.pairs]
        rj = [j for _, j, *_ in self.pairs]
        dz = (self.reported["depth_km"].to_numpy(float)[rj] - self.reference["depth_km"].to_numpy(float)[ri]) \
            if n else np.zeros(0)
        dm = (self.reported["magnitude"].to_numpy(float)[rj] - self.reference["magnitude"].to_numpy(float)[ri]) \
            if n else np.zeros(0)
        dz, dm = dz[np.isfinite(dz)], dm[np.isfinite(dm)]

        def r(x, nd=2):
            return None if x is None or not math.isfinite(x) else round(float(x), nd)

        return {
            "rule": {"dt_s": self.dt_s, "distance_km": self.distance_km, "one_to_one": True,
                     "cost": f"|dt| + distance / {COST_SPEED_KM_S:g} km/s"},
            "reference_events": n_ref, "reported_events": n_rep, "matched": n,
            "missed": n_ref - n, "false": n_rep - n,
            "matched_pct": r(100.0 * n / n_ref, 1) if n_ref else None,
            "missed_pct": r(100.0 * (n_ref - n) / n_ref, 1) if n_ref else None,
            "false_pct": r(100.0 * (n_rep - n) / n_rep, 1) if n_rep else None,
            "median_epi_km": r(np.median(epi)) if n else None,
            # the 90th percentile as score_events.py takes it: the sorted value at int(0.9 (n - 1))
            "p90_epi_km": r(np.sort(epi)[int(0.9 * (n - 1))]) if n else None,
            "median_abs_dt_s": r(np.median(np.abs(dts)), 3) if n else None,
            "depth_bias_km": r(np.median(dz)) if len(dz) else None,
            "median_abs_depth_km": r(np.median(np.abs(dz))) if len(dz) else None, "depth_pairs": int(len(dz)),
            "magnitude_bias": r(np.mean(dm)) if len(dm) else None, "magnitude_pairs": int(len(dm)),
        }

    def as_dict(self, list_max: int | None = None) -> dict:
        from obspy import UTCDateTime

        def rows(df):
            df = df if list_max is None else df.head(list_max)
            return [{"time": str(UTCDateTime(t)), "latitude": round(float(la), 4), "longitude": round(float(lo), 4),
                     "depth_km": None if not math.isfinite(z) else round(float(z), 2),
                     "magnitude": None if not math.isfinite(mg) else round(float(mg), 2), "id": i}
                    for t, la, lo, z, mg, i in zip(df["time"], df["latitude"], df["longitude"], df["depth_km"],
                                                   df["magnitude"], df["id"])]

        return {**self.summary(), "missed_events": rows(self.missed), "false_events": rows(self.false),
                "pairs": [{"reference": self.reference["id"].iat[i], "reported": self.reported["id"].iat[j],
                           "epi_km": round(d, 2), "dt_s": round(dt, 3)} for i, j, d, dt in self.pairs]}


def match_events(reported: pd.DataFrame, reference: pd.DataFrame, dt_s: float = DEFAULT_DT_S,
                 distance_km: float = DEFAULT_DISTANCE_KM) -> Score:
    """Match ``reported`` to ``reference`` events by the module's rule (both events tables)."""
    if not dt_s > 0 or not distance_km > 0:
        raise ValueError(f"tolerances must be positive (dt_s={dt_s}, distance_km={distance_km})")
    ref = reference.sort_values("time", kind="stable").reset_index(drop=True)
    rep = reported.reset_index(drop=True)
    ot = rep["time"].to_numpy(float)
    order = np.argsort(ot, kind="stable")
    ts = ot[order]
    lat, lon = rep["latitude"].to_numpy(float), rep["longitude"].to_numpy(float)
    used = np.zeros(len(rep), bool)
    pairs = []
    for i, (t, la, lo) in enumerate(zip(ref["time"].to_numpy(float), ref["latitude"].to_numpy(float),
                                        ref["longitude"].to_numpy(float))):
        a, b = np.searchsorted(ts, t - dt_s, "left"), np.searchsorted(ts, t + dt_s, "right")
        cand = order[a:b]
        cand = cand[~used[cand]]
        if not len(cand):
            continue
        dt = ot[cand] - t
        d = np.asarray(great_circle_deg(la, lo, lat[cand], lon[cand]), float) * KM_PER_DEG
        ok = (np.abs(dt) <= dt_s) & (d <= distance_km)
        if not ok.any():
            continue
        cost = np.where(ok, np.abs(dt) + d / COST_SPEED_KM_S, np.inf)
        k = int(np.argmin(cost))
        used[cand[k]] = True
        pairs.append((i, int(cand[k]), float(d[k]), float(dt[k])))
    return Score(dt_s, distance_km, ref, rep, pairs)


def format_text(score: Score, title: str = "", list_max: int = 20) -> str:
    """The report ``idc score`` prints: the figures, then the missed and false events."""
    s = score.summary()
    out = [title] if title else []

    def f(x, unit=""):
        return "-" if x is None else f"{x}{unit}"

    out.append(f"rule: one-to-one, |dt| <= {s['rule']['dt_s']:g} s, epicentre <= {s['rule']['distance_km']:g} km, "
               f"cost {s['rule']['cost']}")
    out.append(f"reference {s['reference_events']}, reported {s['reported_events']}: matched {s['matched']} "
               f"({f(s['matched_pct'], ' %')}), missed {s['missed']} ({f(s['missed_pct'], ' %')}), "
               f"false {s['false']} ({f(s['false_pct'], ' %')})")
    out.append(f"epicentre error median {f(s['median_epi_km'], ' km')}, p90 {f(s['p90_epi_km'], ' km')}; "
               f"|dt| median {f(s['median_abs_dt_s'], ' s')}; depth bias {f(s['depth_bias_km'], ' km')}, "
               f"|dz| median {f(s['median_abs_depth_km'], ' km')} "
               f"({s['depth_pairs']} pairs); magnitude bias {f(s['magnitude_bias'])} ({s['magnitude_pairs']} pairs)")
    d = score.as_dict(list_max)
    for name, key, total in (("missed", "missed_events", s["missed"]), ("false", "false_events", s["false"])):
        if total:
            out.append(f"{name} ({total}{', first ' + str(list_max) if total > list_max else ''}):")
            out += [f"  {e['time']}  {e['latitude']:9.4f} {e['longitude']:10.4f}  "
                    f"{'-' if e['depth_km'] is None else e['depth_km']:>6} km  M {'-' if e['magnitude'] is None else e['magnitude']}"
                    f"  {e['id']}" for e in d[key]]
    return "\n".join(out)
