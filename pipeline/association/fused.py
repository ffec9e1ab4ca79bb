"""Fused association: infrasound and hydroacoustic detections join the seismic events they fit.

The seismic associator (:mod:`pipeline.association.associator`) finds and builds events from
the seismic detections only (3-C stations and arrays): they vote, they are gathered, the events
are located and accepted on them. Infrasound (technology ``infrasound``, phases I, Iw, Is, It)
and hydroacoustic detections (technology ``hydroacoustic``, phases H and T) **do not vote** and
do not make events: their time constraint is too loose for the back-projection (a celerity
window of hundreds to thousands of seconds) or their stations too few. They are gathered onto
the accepted seismic events afterwards, when they fit:

* **infrasound**: the arrival lies inside the celerity window of the hypothesis
  (:class:`pipeline.traveltime.infrasound.CelerityModel`, ``[infrasound] celerity_km_s``; a pick
  hinted Iw/Is/It uses that phase's window, a pick ``I`` the envelope of all, and is named by
  the window holding its celerity) **and** its measured backazimuth agrees with the hypothesis
  (residual within the associator's backazimuth limit: ``backazimuth_limit_sigmas`` x its
  uncertainty, at least ``backazimuth_min_limit_deg``). A detection without a backazimuth is not
  gathered (a window of minutes to hours holds many noise detections). Its score term is a
  uniform likelihood over the window against the station's false-detection rate,
  ``log(p_detect / (window_s x rate))``, plus the Gaussian backazimuth term against a uniform
  direction, ``log(N(r; sigma) x 360)``, as for array detections. The trace velocity (slowness)
  is not scored: it depends on the duct's turning height, not on the distance.
* **hydroacoustic**: the arrival is at the water-path time (1.485 km/s,
  :class:`pipeline.traveltime.hydroacoustic.WaterPathModel`) within ``onset_tolerance_s +
  speed_tolerance_fraction x travel time`` (``[hydroacoustic]``; the rule of
  :func:`pipeline.hydroacoustic.consistency.water_path_fit`, which this calls), **only for an
  unblocked path** (land on the great circle: never associated). Its score term is the Gaussian
  time term of the seismic arrivals with sigma = tolerance / 2, ``log(p_detect N(r; sigma) /
  rate)``; a measured backazimuth (hydrophone triads) must agree as above and adds its term.

Each detection joins at most one event (the one it fits best, by its score term), an event at
most one detection per station and phase; a detection whose score term is not positive (more
likely a false detection at that station than the event's arrival) is not gathered. The false
rate of a station is ``false_pick_fraction`` x its detections per second over the span of the
fused detections, at least ``false_rate_floor``, as for the seismic stations.

An input without infrasound or hydroacoustic detections never reaches this module: the
associator then runs exactly as before (same events, same cost).

Times are epoch seconds, distances degrees, backazimuths degrees from north.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from pipeline.hydroacoustic.config import HydroacousticConfig
from pipeline.hydroacoustic.consistency import water_path_fit
from pipeline.location.geodesy import distance_azimuth
from pipeline.picks import technologies
from pipeline.traveltime.infrasound import ANY_PHASE, CelerityModel

#: density of a false detection's backazimuth, per deg (as the associator's)
_FALSE_BAZ_DENSITY = 1.0 / 360.0


@dataclass(frozen=True)
class FusedModels:
    """What the fused gathering predicts with: the infrasound celerity windows and the
    hydroacoustic water-path model with its tolerance (``[infrasound]``, ``[hydroacoustic]``)."""

    celerity: CelerityModel = CelerityModel()
    hydroacoustic: HydroacousticConfig = HydroacousticConfig()


def fused_mask(picks: pd.DataFrame) -> np.ndarray:
    """True for the infrasound and hydroacoustic detections of a picks table (``technology``
    column, else the phase names: :func:`pipeline.picks.technologies`)."""
    if not len(picks):
        return np.zeros(0, dtype=bool)
    return technologies(picks) != "seismic"


def _wrap180(x):
    return (np.asarray(x, dtype=float) + 180.0) % 360.0 - 180.0


def _baz_terms(baz_obs, baz_sig, baz_pred, limit_sigmas: float, min_limit: float):
    """Backazimuth residual, whether it is within the limit, and its log-likelihood ratio."""
    r = _wrap180(baz_obs - baz_pred)
    lim = np.maximum(min_limit, limit_sigmas * baz_sig)
    ok = np.abs(r) <= lim
    with np.errstate(divide="ignore", invalid="ignore"):
        llr = np.log(np.exp(-0.5 * (r / baz_sig) ** 2) / (baz_sig * math.sqrt(2 * math.pi)) / _FALSE_BAZ_DENSITY)
    return r, ok, llr


class FusedGatherer:
    """Gathers infrasound/hydroacoustic detections onto located seismic events.

    :param picks: the fused detections (rows of the associator's input table, index = their
        positions there), normalised pick columns plus optionally ``technology``
    :param stations: the associator's full stations table
    :param config: :class:`~pipeline.association.config.AssociatorConfig` (p_detect,
        false-rate and backazimuth limits)
    """

    def __init__(self, picks: pd.DataFrame, stations: pd.DataFrame, config, models: FusedModels):
        self.config = config
        self.models = models
        self.picks = picks
        self.tech = technologies(picks)
        st = stations.drop_duplicates("station", keep="first").set_index("station")
        codes = picks["station"].astype(str).to_numpy()
        self.codes = codes
        known = np.array([c in st.index for c in codes], dtype=bool)
        self.known = known
        self.slat = np.array([float(st.at[c, "latitude"]) if k else np.nan for c, k in zip(codes, known)])
        self.slon = np.array([float(st.at[c, "longitude"]) if k else np.nan for c, k in zip(codes, known)])
        self.stations = st.reset_index()
        self.t = picks["time"].to_numpy(dtype=float)
        bsig = picks["backazimuth_uncertainty"].to_numpy(dtype=float)
        self.baz = picks["backazimuth"].to_numpy(dtype=float)
        self.bsig = np.where(np.isfinite(bsig) & (bsig > 0), bsig, config.backazimuth_uncertainty_deg)
        # per-station false-detection rate over the span of the fused detections
        span = max(float(np.ptp(self.t)) if len(self.t) else 0.0, 3600.0)
        counts = pd.Series(codes).map(pd.Series(codes).value_counts()).to_numpy(dtype=float)
        self.rate = np.maximum(config.false_pick_fraction * counts / span, config.false_rate_floor)

    def candidates(self, k: int, lat: float, lon: float, t0: float) -> list[dict]:
        """The detections that fit event ``k`` at (lat, lon, t0), each with its score term."""
        out = self._infrasound(k, lat, lon, t0) + self._hydroacoustic(k, lat, lon, t0)
        return [c for c in out if c["llr"] > 0]

    def _infrasound(self, k, lat, lon, t0) -> list[dict]:
        cfg, cel = self.config, self.models.celerity
        rows = np.flatnonzero((self.tech == "infrasound") & self.known & np.isfinite(self.baz) & (self.t > t0))
        if not rows.size:
            return []
        d, _, pbaz = distance_azimuth(lat, lon, self.slat[rows], self.slon[rows])
        r, ok, llr_b = _baz_terms(self.baz[rows], self.bsig[rows], pbaz, cfg.backazimuth_limit_sigmas,
                                  cfg.backazimuth_min_limit_deg)
        out = []
        for j in np.flatnonzero(ok):
            i = rows[j]
            hint = str(self.picks["phase"].iloc[i]).strip()
            window_phase = hint if hint in cel.phases else ANY_PHASE
            lo, hi = cel.time_window(window_phase, d[j])
            travel = self.t[i] - t0
            if not (lo <= travel <= hi) or hi <= lo:
                continue
            phase = hint if window_phase != ANY_PHASE else (cel.phase_for(float(d[j]), travel) or ANY_PHASE)
            llr = math.log(cfg.p_detect / ((hi - lo) * self.rate[i])) + float(llr_b[j])
            out.append({"event": k, "row": int(i), "station": self.codes[i], "phase": phase, "distance_deg": float(d[j]),
                        "residual": float(travel - float(cel.time(window_phase, d[j]))),
                        "backazimuth_residual": float(r[j]), "llr": llr})
        return out

    def _hydroacoustic(self, k, lat, lon, t0) -> list[dict]:
        cfg, hcfg = self.config, self.models.hydroacoustic
        rows = np.flatnonzero((self.tech == "hydroacoustic") & self.known & (self.t > t0))
        if not rows.size:
            return []
        det = self.picks.iloc[rows].assign(_row=rows)
        sta = self.stations[self.stations["station"].isin(set(det["station"]))]
        fit = water_path_fit(lat, lon, t0, det.assign(phase=[p if p in ("H", "T") else "H" for p in det["phase"]]),
                             sta, hcfg, min_arrivals=1)
        out = []
        by_id = dict(zip(det["pick_id"], rows))
        for f in fit.table[fit.table["status"] == "associated"].itertuples():
            i = by_id.get(f.pick_id)
            if i is None:
                continue
            sig = f.tolerance_s / 2.0
            dens = math.exp(-0.5 * (f.residual_s / sig) ** 2) / (sig * math.sqrt(2 * math.pi))
            llr = math.log(cfg.p_detect * dens / self.rate[i])
            rb = math.nan
            if np.isfinite(self.baz[i]):
                _, _, pbaz = distance_azimuth(lat, lon, self.slat[i], self.slon[i])
                r, ok, llr_b = _baz_terms(self.baz[i], self.bsig[i], pbaz, cfg.backazimuth_limit_sigmas,
                                          cfg.backazimuth_min_limit_deg)
                if not bool(ok):
                    continue
                rb, llr = float(r), llr + float(llr_b)
            phase = str(self.picks["phase"].iloc[i]).strip()
            out.append({"event": k, "row": int(i), "station": self.codes[i], "phase": phase if phase in ("H", "T") else "H",
                        "distance_deg": float(f.distance_deg), "residual": float(f.residual_s),
                        "backazimuth_residual": rb, "llr": llr})
        return out


def assign(candidates: list[dict]) -> list[dict]:
    """Each detection to the event it fits best (highest score term), at most one detection per
    event, station and phase (the best)."""
    taken_rows: set[int] = set()
    taken_slot: set[tuple] = set()
    out = []
    for c in sorted(candidates, key=lambda c: -c["llr"]):
        slot = (c["event"], c.get("station"), c["phase"])
        if c["row"] in taken_rows or slot in taken_slot:
            continue
        taken_rows.add(c["row"])
        taken_slot.add(slot)
        out.append(c)
    return out
