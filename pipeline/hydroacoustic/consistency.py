"""Do hydroacoustic arrivals fit a (seismic) origin? The check a fused associator can call.

For an origin (latitude, longitude, time) and a table of H/T detections, every station of the
stations table gets the water-path prediction of :class:`pipeline.traveltime.hydroacoustic.
WaterPathModel` (none when land blocks the path); the detection of that station closest to the
prediction is its candidate arrival, with residual = observed - predicted. It fits when::

    |residual| <= onset_tolerance_s + speed_tolerance_fraction * travel_time + extra_tolerance_s

(``[hydroacoustic]``, project defaults 10 s and 2 %: emergent H/T onsets are uncertain by a
few seconds, and the real sound speed along a path differs from the single default speed by
~1-2 %; ``extra_tolerance_s`` is for the origin's own time/location uncertainty.) A detection
at a station whose path is blocked is never associated.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from pipeline.hydroacoustic.config import HydroacousticConfig

#: columns of :attr:`OriginFit.table`
FIT_COLUMNS = ("station", "phase", "distance_deg", "travel_time_s", "predicted_time", "observed_time",
               "residual_s", "tolerance_s", "blocked", "status", "pick_id")


@dataclass(frozen=True)
class OriginFit:
    """The result of :func:`water_path_fit`.

    :ivar table: one row per station (:data:`FIT_COLUMNS`); ``status`` is ``associated``
        (fits), ``residual`` (a detection, outside the tolerance), ``missed`` (predicted, no
        detection), ``blocked`` (no prediction: land on the path; ``observed_time`` is a
        detection there if any, never associated)
    :ivar origin_time_estimate: median of observed time - travel time over the associated
        arrivals, epoch s (NaN if none)
    :ivar n_associated: number of associated arrivals
    :ivar fits: ``n_associated >= min_arrivals``
    :ivar origin_time: the tested origin time, epoch s
    """

    table: pd.DataFrame
    origin_time_estimate: float
    n_associated: int
    fits: bool
    origin_time: float

    @property
    def origin_time_difference_s(self) -> float:
        """Origin time from the H/T arrivals minus the tested origin time, s (NaN if none)."""
        return self.origin_time_estimate - self.origin_time


def water_path_fit(latitude: float, longitude: float, origin_time: float, detections: pd.DataFrame,
                   stations: pd.DataFrame, config: HydroacousticConfig | None = None,
                   min_arrivals: int = 2, extra_tolerance_s: float = 0.0) -> OriginFit:
    """Check H/T detections against an origin (module doc).

    :param latitude, longitude: epicentre, degrees
    :param origin_time: epoch s
    :param detections: pick table with ``station``, ``time`` (epoch s), ``phase`` (rows whose
        phase is not H or T are ignored) and optionally ``pick_id``
    :param stations: stations table (``station``, ``latitude``, ``longitude``): the stations
        predicted for
    :param min_arrivals: associated arrivals needed for ``fits``
    """
    config = config or HydroacousticConfig()
    model = config.water_path()
    det = detections[detections["phase"].isin(["H", "T"])] if len(detections) else detections
    rows = []
    for pred in model.predict(latitude, longitude, origin_time, stations.to_dict("records")):
        at = det[det["station"] == pred["station"]] if len(det) else det
        tol = (config.onset_tolerance_s + config.speed_tolerance_fraction * pred["travel_time_s"]
               + extra_tolerance_s)
        row = {"station": pred["station"], "phase": "", "distance_deg": pred["distance_deg"],
               "travel_time_s": pred["travel_time_s"], "predicted_time": pred["time"],
               "observed_time": math.nan, "residual_s": math.nan, "tolerance_s": tol,
               "blocked": pred["blocked"], "status": "blocked" if pred["blocked"] else "missed", "pick_id": ""}
        if len(at):
            ref = origin_time + pred["travel_time_s"]
            k = int(np.argmin(np.abs(at["time"].to_numpy() - ref)))
            best = at.iloc[k]
            row.update(phase=best["phase"], observed_time=float(best["time"]),
                       pick_id=str(best.get("pick_id", "")))
            if not pred["blocked"]:
                row["residual_s"] = float(best["time"]) - pred["time"]
                row["status"] = "associated" if abs(row["residual_s"]) <= tol else "residual"
        rows.append(row)
    table = pd.DataFrame(rows, columns=list(FIT_COLUMNS))
    ok = table[table["status"] == "associated"]
    est = float(np.median(ok["observed_time"] - ok["travel_time_s"])) if len(ok) else math.nan
    return OriginFit(table=table, origin_time_estimate=est, n_associated=int(len(ok)),
                     fits=len(ok) >= min_arrivals, origin_time=float(origin_time))
