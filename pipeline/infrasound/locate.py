"""Association and location of infrasound detections of several arrays (backazimuths +
celerity windows), by grid search.

Infrasound arrivals carry little timing information (the celerity of a duct varies by tens of
percent) but good backazimuths, so an infrasound-only event is found where the backazimuth
beams cross at an origin time that every arrival's celerity window allows
(:class:`pipeline.traveltime.infrasound.CelerityModel`).

* :func:`associate` - repeatedly: on a lat/lon grid around the arrays x a grid of origin times,
  count the arrays with a detection consistent with the node (backazimuth residual within
  ``az_width_deg``, arrival inside the celerity window, distance within ``range_max_km``); the
  best node with at least ``min_arrays`` arrays is an event with every consistent detection
  (an array may record several arrivals of one source, through different ducts: Iw, Is, It);
  its detections are removed and the search repeats.
* :func:`locate` - the epicentre and origin time of one event: grid search (coarse then fine)
  minimising ``sum(r_az / sigma_az)^2 + sum(d_t / sigma_t)^2`` where ``r_az`` is the
  backazimuth residual and ``d_t`` how far the origin time lies outside the window the
  arrival's celerity range allows (0 inside); the origin time of a node is the minimiser of the
  time term (projections onto the windows averaged to convergence: the problem is convex).

Detections DataFrame: ``station``, ``latitude``, ``longitude`` (deg, the array),
``time`` (epoch s), ``backazimuth`` (deg); other columns are kept.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from pipeline.location.geodesy import distance_azimuth
from pipeline.traveltime.infrasound import KM_PER_DEG, CelerityModel


@dataclass(frozen=True)
class LocateConfig:
    """Grid-search association/location parameters (project defaults: infrapy's association
    example uses a 10 deg backazimuth width and a 2000 km range)."""

    #: backazimuth residual accepted for association, deg
    az_width_deg: float = 10.0
    #: backazimuth standard deviation in the misfit, deg
    az_sigma_deg: float = 4.0
    #: origin-time misfit scale outside the celerity window, s
    time_sigma_s: float = 60.0
    #: largest source-array distance, km
    range_max_km: float = 2000.0
    #: fewest arrays of an event
    min_arrays: int = 3
    #: grid margin around the arrays, deg; coarse and fine grid steps, deg; origin-time step, s
    margin_deg: float = 10.0
    coarse_step_deg: float = 0.25
    fine_step_deg: float = 0.02
    #: association grid: node step, deg, and origin-time step, s
    assoc_step_deg: float = 1.0
    time_step_s: float = 60.0
    #: the celerity windows (default: pipeline.traveltime.infrasound.DEFAULT_CELERITY_KM_S)
    celerity: CelerityModel = field(default_factory=CelerityModel)


@dataclass
class InfrasoundEvent:
    """One located infrasound event.

    :ivar latitude: / :ivar longitude: epicentre, deg; :ivar time: origin time, epoch s
    :ivar arrivals: its detections with ``distance_km``, ``azimuth_residual`` (observed - predicted
        backazimuth, deg), ``celerity`` (km/s) and ``phase`` (the celerity window holding it,
        "" = outside every window)
    :ivar misfit: the grid-search objective at the solution
    """

    latitude: float
    longitude: float
    time: float
    arrivals: pd.DataFrame
    misfit: float

    def summary(self) -> dict:
        return {"latitude": round(self.latitude, 3), "longitude": round(self.longitude, 3), "time": self.time,
                "arrays": int(self.arrivals["station"].nunique()),
                "azimuth_residuals_deg": {r.station: round(float(r.azimuth_residual), 2)
                                          for r in self.arrivals.itertuples()},
                "misfit": round(self.misfit, 3)}


def _wrap(x):
    return (np.asarray(x) + 180.0) % 360.0 - 180.0


def _grid(lat0, lat1, lon0, lon1, step):
    lats = np.arange(max(-89.9, lat0), min(89.9, lat1) + 1e-9, step)
    lons = np.arange(lon0, lon1 + 1e-9, step)
    la, lo = np.meshgrid(lats, lons, indexing="ij")
    return la.ravel(), lo.ravel()


def _geometry(dets: pd.DataFrame, lat, lon):
    """(distance km, predicted backazimuth deg) of every node (rows) to every detection (cols)."""
    # the backazimuth observed at the array = the azimuth of the node seen from the array
    d, baz, _ = distance_azimuth(dets["latitude"].to_numpy()[None, :], dets["longitude"].to_numpy()[None, :],
                                 lat[:, None], lon[:, None])
    return d * KM_PER_DEG, baz


def _origin_times(t, d_km, lo_c, hi_c, iterations: int = 30):
    """Origin time per node minimising the squared distances to the windows
    ``[t - d/lo_c, t - d/hi_c]`` (rows: nodes), and those distances."""
    a, b = t[None, :] - d_km / lo_c, t[None, :] - d_km / hi_c
    t0 = 0.5 * (a + b).mean(axis=1)
    for _ in range(iterations):
        t0 = np.clip(t0[:, None], a, b).mean(axis=1)
    out = np.maximum(a - t0[:, None], 0.0) + np.maximum(t0[:, None] - b, 0.0)
    return t0, out


def _misfit(dets, lat, lon, config: LocateConfig):
    d_km, baz = _geometry(dets, lat, lon)
    r = _wrap(dets["backazimuth"].to_numpy()[None, :] - baz)
    lo_c, hi_c = config.celerity.bounds("I")
    t0, out = _origin_times(dets["time"].to_numpy(float), d_km, lo_c, hi_c)
    j = np.sum((r / config.az_sigma_deg) ** 2, axis=1) + np.sum((out / config.time_sigma_s) ** 2, axis=1)
    j[(d_km > config.range_max_km).any(axis=1)] = np.inf
    return j, t0


def locate(dets: pd.DataFrame, config: LocateConfig | None = None) -> InfrasoundEvent:
    """Epicentre and origin time of the detections of one event (see module doc)."""
    config = config or LocateConfig()
    if dets["station"].nunique() < 2:
        raise ValueError("an infrasound location needs detections of at least 2 arrays")
    m = config.margin_deg
    lat, lon = _grid(dets["latitude"].min() - m, dets["latitude"].max() + m, dets["longitude"].min() - m,
                     dets["longitude"].max() + m, config.coarse_step_deg)
    j, _ = _misfit(dets, lat, lon, config)
    k = int(np.argmin(j))
    c = 2 * config.coarse_step_deg
    lat, lon = _grid(lat[k] - c, lat[k] + c, lon[k] - c, lon[k] + c, config.fine_step_deg)
    j, t0 = _misfit(dets, lat, lon, config)
    k = int(np.argmin(j))
    d_km, baz = _geometry(dets, lat[k:k + 1], lon[k:k + 1])
    arr = dets.copy()
    arr["distance_km"] = d_km[0]
    arr["azimuth_residual"] = _wrap(dets["backazimuth"].to_numpy() - baz[0])
    arr["celerity"] = d_km[0] / np.maximum(dets["time"].to_numpy(float) - t0[k], 1e-9)
    arr["phase"] = [config.celerity.phase_for(dd / KM_PER_DEG, tt - t0[k])
                    for dd, tt in zip(d_km[0], dets["time"].to_numpy(float))]
    return InfrasoundEvent(float(lat[k]), float(lon[k]), float(t0[k]), arr.reset_index(drop=True), float(j[k]))


def associate(dets: pd.DataFrame, config: LocateConfig | None = None, max_events: int = 20
              ) -> tuple[list[InfrasoundEvent], pd.DataFrame]:
    """Events in the detections of several arrays (see module doc).

    :returns: ``(events, unassociated detections)``
    """
    config = config or LocateConfig()
    left = dets.reset_index(drop=True).copy()
    events: list[InfrasoundEvent] = []
    m = config.margin_deg
    lat, lon = _grid(left["latitude"].min() - m, left["latitude"].max() + m, left["longitude"].min() - m,
                     left["longitude"].max() + m, config.assoc_step_deg)
    lo_c, hi_c = config.celerity.bounds("I")
    while len(events) < max_events and left["station"].nunique() >= config.min_arrays:
        d_km, baz = _geometry(left, lat, lon)
        r = np.abs(_wrap(left["backazimuth"].to_numpy()[None, :] - baz))
        ok_az = (r <= config.az_width_deg) & (d_km <= config.range_max_km)
        t = left["time"].to_numpy(float)
        t0s = np.arange(t.min() - config.range_max_km / lo_c, t.max(), config.time_step_s)
        codes, sta_idx = np.unique(left["station"].to_numpy(), return_inverse=True)
        best = (0, -np.inf, None, None)
        for t0 in t0s:
            travel = t[None, :] - t0
            ok = ok_az & (travel >= d_km / hi_c - config.time_step_s) & (travel <= d_km / lo_c + config.time_step_s)
            w = np.where(ok, np.exp(-0.5 * (r / config.az_sigma_deg) ** 2), 0.0)
            per = np.zeros((len(lat), len(codes)))
            np.maximum.at(per.T, sta_idx, w.T)
            n = (per > 0).sum(axis=1)
            # arrays first, then every consistent detection (several ducts per array) by its fit
            score = n + w.sum(axis=1) / (len(t) + 1)
            k = int(np.argmax(score))
            if score[k] > best[1]:
                best = (int(n[k]), float(score[k]), k, ok[k])
        n, _, k, ok = best
        if n < config.min_arrays:
            break
        chosen = left[ok]
        events.append(locate(chosen, config))
        left = left.drop(index=chosen.index).reset_index(drop=True)
    return events, left


def parse_infrapy_detections(text: str, station: str, source: str = "") -> pd.DataFrame:
    """An infrapy ``.dets.json`` detection list (its text) as a detections DataFrame of array
    ``station`` (``time`` epoch s; backazimuth in [0, 360)); ``source`` names the file in errors."""
    import json

    from obspy import UTCDateTime

    from pipeline.errors import InputError

    try:
        items = json.loads(text)
        rows = [{"station": station, "latitude": float(d["Latitude"]), "longitude": float(d["Longitude"]),
                 "time": UTCDateTime(d["Time (UTC)"]).timestamp, "backazimuth": float(d["Back Azimuth"]) % 360.0,
                 "fstat": float(d.get("F Stat.") or np.nan),
                 "trace_velocity": float(d.get("Trace Vel. (m/s)") or np.nan)} for d in items]
    except (ValueError, KeyError, TypeError) as exc:
        raise InputError(f"not an infrapy detection list ({type(exc).__name__}: {exc})", path=source) from None
    return pd.DataFrame(rows)
