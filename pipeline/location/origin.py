"""A :class:`~pipeline.location.locator.LocationResult` as an obspy ``Origin`` (QuakeML terms).

Mapping (units as QuakeML/obspy want them):

* ``latitude``/``longitude`` (deg), ``depth`` (m), ``time``; ``depth_type`` = ``"from location"``
  (free depth), ``"operator assigned"`` (fixed by the config or for lack of data) or ``"other"``
  (a free depth held at a depth bound);
* ``time_errors``, ``depth_errors`` (m), ``latitude_errors``/``longitude_errors`` (deg): the
  half-intervals at the result's confidence (90 %), ``confidence_level = 90``;
* ``origin_uncertainty``: the Jordan & Sverdrup ellipse, semi-axes in m
  (``max/min_horizontal_uncertainty``), ``azimuth_max_horizontal_uncertainty`` (deg from N),
  ``confidence_level = 90``, ``preferred_description = "uncertainty ellipse"``;
* ``quality``: associated/used phase and station counts, ``standard_error`` = RMS of the
  defining time residuals (s), ``azimuthal_gap``, ``minimum/maximum_distance`` (deg, defining
  stations);
* one ``Arrival`` per input arrival: ``pick_id``, ``phase``, ``distance`` (deg), ``azimuth``
  (event to station, deg), ``time_residual`` (s), ``time_weight`` 1/0 = time-defining or not,
  ``time_correction`` = elevation correction (s), ``backazimuth_residual``/``_weight`` and
  ``horizontal_slowness_residual``/``_weight`` where measured;
* IDC-only numbers in obspy's ``extra`` namespace :data:`NAMESPACE`: ``ndef``, ``sigma_hat``,
  ``ndf``, ``converged``, ``depth_status`` (free/fixed/bound).
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
from obspy.core.event import (
    Arrival,
    Comment,
    Origin,
    OriginQuality,
    OriginUncertainty,
    QuantityError,
    ResourceIdentifier,
)

from .ellipse import f_critical
from .geodesy import KM_PER_DEG
from .locator import LocationError, LocationResult

NAMESPACE = "https://idc-pipeline.invalid/location/1.0"
DEFAULT_METHOD_ID = "smi:local/idc-pipeline/location/lsq-locator"


def _f(v) -> float | None:
    try:
        v = float(v)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def _pick_rid(value: str) -> ResourceIdentifier:
    value = str(value)
    if value.startswith(("smi:", "quakeml:")):
        return ResourceIdentifier(value)
    return ResourceIdentifier(f"smi:local/pick/{value}")


def to_obspy_origin(result: LocationResult, arrivals: pd.DataFrame | None = None,
                    stations: pd.DataFrame | None = None, pick_ids=None,
                    method_id: str = DEFAULT_METHOD_ID, earth_model: str | None = None,
                    evaluation_mode: str = "automatic") -> Origin:
    """Convert a location to an obspy ``Origin`` with arrivals, quality and uncertainty.

    :param result: a converged (or at least finite) :class:`LocationResult`.
    :param arrivals: the arrivals DataFrame given to :func:`~pipeline.location.locate`; its
        ``pick_id`` column is used when the result carries none (optional).
    :param stations: not needed (the result carries the geometry); accepted so callers can pass
        the same inputs as to ``locate``.
    :param pick_ids: pick ids aligned with the arrivals (sequence in row order, or a mapping
        from the arrivals' index); overrides the ``pick_id`` column. Plain ids become
        ``smi:local/pick/<id>`` (as :mod:`pipeline.detection.products` names picks); ids
        starting with ``smi:``/``quakeml:`` are kept. Arrivals without any id get a new one.
    :param method_id: ``Origin.method_id``.
    :param earth_model: model name for ``earth_model_id`` (default: ``result.model``).
    :param evaluation_mode: ``"automatic"`` (default) or ``"manual"``.
    :raises LocationError: the result has no finite hypocentre.
    """
    del stations  # the result holds distances and azimuths
    if not (math.isfinite(result.latitude) and math.isfinite(result.longitude)):
        raise LocationError(f"no location to convert: {result.message}")
    model = earth_model or result.model or "unknown"
    model_id = ResourceIdentifier(f"smi:local/earth-model/{model}")
    conf_pct = 100.0 * result.confidence
    o = Origin(time=result.time, latitude=result.latitude, longitude=result.longitude,
               depth=result.depth_km * 1000.0, method_id=ResourceIdentifier(method_id),
               earth_model_id=model_id, evaluation_mode=evaluation_mode,
               time_fixed=False, epicenter_fixed=False)
    o.depth_type = {"free": "from location", "fixed": "operator assigned"}.get(
        result.depth_type, "other")
    if math.isfinite(result.time_uncertainty_s):
        o.time_errors = QuantityError(uncertainty=result.time_uncertainty_s,
                                      confidence_level=conf_pct)
    if result.depth_type == "free" and math.isfinite(result.depth_uncertainty_km):
        o.depth_errors = QuantityError(uncertainty=result.depth_uncertainty_km * 1000.0,
                                       confidence_level=conf_pct)
    cov = result.covariance
    if cov is not None and math.isfinite(result.ndf) and result.ndf > 0:
        k = math.sqrt(f_critical(1, result.ndf, result.confidence))
        dn = k * math.sqrt(max(cov[1, 1], 0.0)) / KM_PER_DEG
        de = k * math.sqrt(max(cov[0, 0], 0.0)) / (
            KM_PER_DEG * max(math.cos(math.radians(result.latitude)), 1e-6))
        o.latitude_errors = QuantityError(uncertainty=dn, confidence_level=conf_pct)
        o.longitude_errors = QuantityError(uncertainty=de, confidence_level=conf_pct)
    if result.ellipse is not None:
        e = result.ellipse
        o.origin_uncertainty = OriginUncertainty(
            max_horizontal_uncertainty=e.semi_major_km * 1000.0,
            min_horizontal_uncertainty=e.semi_minor_km * 1000.0,
            azimuth_max_horizontal_uncertainty=e.strike_deg,
            confidence_level=conf_pct, preferred_description="uncertainty ellipse")

    arr = result.arrivals
    ids = _pick_ids(arr, arrivals, pick_ids)
    used = arr["time_defining"] | arr["azimuth_defining"] | arr["slowness_defining"]
    for (ix, row), pid in zip(arr.iterrows(), ids):
        a = Arrival(pick_id=pid, phase=row["phase"] or None, earth_model_id=model_id,
                    distance=_f(row["distance_deg"]), azimuth=_f(row["azimuth_deg"]),
                    time_residual=_f(row["time_residual_s"]),
                    time_weight=1.0 if row["time_defining"] else 0.0,
                    time_correction=_f(row["elevation_correction_s"]))
        if math.isfinite(row["backazimuth_uncertainty_deg"]):
            a.backazimuth_residual = _f(row["backazimuth_residual_deg"])
            a.backazimuth_weight = 1.0 if row["azimuth_defining"] else 0.0
        if math.isfinite(row["slowness_uncertainty_s_deg"]):
            a.horizontal_slowness_residual = _f(row["slowness_residual_s_deg"])
            a.horizontal_slowness_weight = 1.0 if row["slowness_defining"] else 0.0
        o.arrivals.append(a)
    key = arr["network"].astype(str) + "." + arr["station"].astype(str)
    o.quality = OriginQuality(
        associated_phase_count=len(arr), used_phase_count=int(used.sum()),
        associated_station_count=int(key.nunique()), used_station_count=int(result.nsta),
        standard_error=_f(result.rms_s), azimuthal_gap=_f(result.azimuthal_gap_deg),
        minimum_distance=_f(result.min_distance_deg),
        maximum_distance=_f(result.max_distance_deg))
    o.extra = {
        "ndef": {"value": str(result.ndef), "namespace": NAMESPACE},
        "sigma_hat": {"value": f"{result.sigma_hat:.6g}", "namespace": NAMESPACE},
        "ndf": {"value": f"{result.ndf:.6g}", "namespace": NAMESPACE},
        "converged": {"value": str(bool(result.converged)).lower(), "namespace": NAMESPACE},
        "depth_status": {"value": result.depth_type, "namespace": NAMESPACE},
    }
    if not result.converged or result.message not in ("converged",):
        o.comments.append(Comment(text=f"locator: {result.message}"))
    return o


def _pick_ids(arr: pd.DataFrame, arrivals: pd.DataFrame | None, pick_ids) -> list:
    n = len(arr)
    raw: list = [""] * n
    if pick_ids is not None:
        if hasattr(pick_ids, "get") and not isinstance(pick_ids, (list, tuple, np.ndarray)):
            raw = [pick_ids.get(ix, "") for ix in arr.index]
        else:
            raw = list(pick_ids)
            if len(raw) != n:
                raise LocationError(f"pick_ids: {len(raw)} ids for {n} arrivals")
    else:
        raw = [str(v) for v in arr["pick_id"]]
        if arrivals is not None and "pick_id" in arrivals.columns and not any(raw):
            raw = [str(arrivals.loc[ix, "pick_id"]) for ix in arr.index]
    out = []
    for v in raw:
        v = "" if v is None or (isinstance(v, float) and math.isnan(v)) else str(v)
        out.append(_pick_rid(v) if v and v != "nan" else ResourceIdentifier())
    return out
