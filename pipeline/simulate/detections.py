"""A pick-level simulator of one IMS network day: origins + stations → IDC-like detections.

:func:`simulate_detections` predicts the arrivals of real origins (e.g. the IDC LEB) at a
station network (e.g. the IMS primary and auxiliary seismic stations), decides which of them a
station-processing system would detect, perturbs what it measures, adds false detections and
returns the detections in the :mod:`pipeline.picks` schema together with the truth. Everything
random comes from one :class:`numpy.random.Generator` seeded with ``seed``: the same inputs and
seed give the same output, value for value. A day of ~30 origins at ~130 stations takes well
under a second once the travel-time table is built.

The model, step by step (defaults in :class:`SimConfig`; "our default" = a choice of this
project, not a published value):

1. **Origins.** Every origin with ``start - lookback_s <= time < end`` (default look-back 1800 s:
   the last PKP at 180° arrives ~1210 s after the origin, Lg at 20° ~640 s). Origins before
   ``start`` give only their arrivals inside the window ("late arrivals" of the previous day, as
   on a real day); arrivals at or after ``end`` are dropped (they belong to the next day).
   Origins without a magnitude produce no detections.
2. **Phases** (travel-time table phases of :data:`pipeline.traveltime.tables.PHASE_GROUPS`):

   * ``P`` (first P: p/P/Pn/Pg/Pdiff) to ``p_max_distance_deg`` (100°, the end of the
     Veith–Clawson Q table and about where the core shadow begins);
   * ``PKP`` (PKIKP or PKP, the earliest) from ``pkp_min_distance_deg`` (110°); the ak135 table
     has PKP from ~114°;
   * regional S within ``regional_s_max_distance_deg`` (20°): ``S`` (first S: Sn beyond ~2°)
     and ``Lg`` (3.5 km/s group velocity, crustal sources only), each with the S detection
     factor below. Two arrivals of one event closer than ``min_separation_s`` (4 s) at one
     station give one detection (the earlier), as one STA/LTA trigger would.

   Arrival time = origin time + table time + ellipticity correction (Russell et al. 2022
   coefficients of the table, source geocentric latitude and azimuth) + station elevation
   correction (the table's :meth:`~pipeline.traveltime.tables.TravelTimeTable.elevation_correction`),
   i.e. what the IDC's ak135 + corrections predict; the model error below stands for the 3-D Earth.
3. **Amplitude and detection.** The amplitude the station would measure follows the IDC mb
   formula backwards: ``log10(A/T) = mb - Q(Δ, h) + c_s + ε`` with ``Q`` the Veith–Clawson
   table for A5/2 amplitudes (:func:`pipeline.magnitude.mb.q_idc`), ``c_s`` a static station
   term (N(0, ``station_term_sigma``) = 0.15) and ``ε`` N(0, ``amplitude_sigma`` = 0.25) per
   arrival (our defaults; the IDC's station mb scatter is ~0.3). PKP uses ``Q(100°, h) +
   pkp_q_offset`` (our default 0.0: PKPdf amplitudes comparable to P at ~95–100°). Each station
   has a noise level ``log10(N/T)``: lognormal across stations, median ``noise_log_3c`` (0.0,
   i.e. 1 nm/s) at 3-C stations and ``array_gain_log`` (0.5) lower at arrays (beam gain of
   ~10 elements), spread ``noise_log_sigma`` (0.25) (our defaults, chosen so that mb ≥ 4.5
   events at 30–90° are seen by most stations and mb ≈ 3 teleseismic events by almost none).
   ``snr_log = log10(A/T) - log10(N/T)``; the detection probability is a probit curve
   ``Φ((snr_log - detection_snr_log) / detection_width_log)`` (50 % at SNR ≈ 3.2, our default)
   times ``s_detection_factor`` (0.4) for S and Lg. Whether an arrival is detected is drawn
   from that probability: misses follow, and far small events are not seen.
4. **Timing errors** (observed − predicted), all our defaults: pick error N(0, σ_pick) with
   ``σ_pick = pick_sigma_min_s + (pick_sigma_max_s - pick_sigma_min_s) · exp(-(snr_log −
   detection_snr_log) / pick_sigma_snr_scale_log) + pick_sigma_per_deg · Δ``, clipped to
   [0.3, 1.0] s (grows at low SNR and with distance); a per station-event model error
   N(0, σ_model) with σ_model 0.5 s (teleseismic P), 0.8 s (P within 20°), 0.7 s (PKP), 1.0 s
   (S, Lg); ``outlier_fraction`` (2 %) of arrivals shifted by ±U(2, 8) s; ``n_clock_stations``
   (3) stations with a clock offset of ±U(1, 3) s for the whole day. ``time_uncertainty`` holds
   σ_pick (what a picker can know), not the total error.
5. **Arrays** (``kind == "array"``): backazimuth = true backazimuth (station → source, geocentric
   latitudes) + N(0, σ_baz), slowness = table ray parameter (s/deg) + N(0, σ_slow), with σ_baz
   from 12° at the detection threshold down to 4° at ``snr_log`` one unit above it, σ_slow from
   1.5 to 0.5 s/deg alike; ``backazimuth_uncertainty``/``slowness_uncertainty`` hold those σ.
   3-C stations: backazimuth and slowness NaN (no polarisation estimate) unless
   ``three_c_backazimuth_sigma_deg`` is set (then backazimuth with that σ, slowness NaN).
6. **Outages**: ``outage_fraction`` (8 %) of stations are down for one interval of U(2, 12) h
   inside the window, ``full_outage_fraction`` (2 %) for the whole window (our defaults); a
   station that is down produces no detection at all (true or false).
7. **False detections**: their number is ``false_fraction / (1 - false_fraction)`` × the true
   detections (default ``false_fraction`` 0.67, so ~2/3 of all detections are false), shared
   among stations as a Poisson process per station conditioned on the total (multinomial) with
   rates varying across stations (lognormal, ``false_rate_sigma_log`` = 0.4 in log10) and
   proportional to each station's live time; times uniform over the station's live time.
   Their SNR: ``snr_log = detection_snr_log + Exp(0.15)`` (threshold crossings of noise). At
   arrays: backazimuth uniform on [0, 360), slowness from a noise mixture: a fraction
   ``false_p_like_fraction`` (0.5) uniform in 3–14 s/deg (P-like), the rest uniform in 14–40
   s/deg (surface waves / local noise) (our defaults); uncertainties as for a true detection
   at the same SNR. Amplitude = noise level × SNR × period.
8. **Phase hints** like an IDC StaPro initial label: ``"P"`` for P/PKP arrivals (a fraction
   ``p_mislabel`` = 3 % labelled ``"S"``), ``"S"`` for S/Lg (``s_mislabel`` = 10 % labelled
   ``"P"``), false detections ``"P"`` except a fraction ``false_s_hint_fraction`` (15 %).
   Periods ``T`` (s): lognormal with median 1.0 s (teleseismic) or 0.5 s (within 20°), spread
   0.1 in log10 (our default); the ``amplitude`` column is the A5/2 amplitude in nm, so the
   pipeline's mb of a detected arrival is the origin's mb + c_s + ε.

The picks table holds no truth: the event of each detection is in :attr:`SimulatedDetections.pick_truth`.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import NamedTuple

import numpy as np
import pandas as pd
from obspy import UTCDateTime
from scipy.special import ndtr

from pipeline.location.geodesy import distance_azimuth, geocentric_latitude
from pipeline.magnitude.mb import q_idc
from pipeline.picks import PICK_COLUMNS, normalise_picks

#: table phases the simulator needs (names of ``pipeline.traveltime.tables.PHASE_GROUPS``)
REQUIRED_PHASES = ("P", "S", "Lg", "PKP")
#: wave type (for the phase hint) of each simulated table phase
_WAVE = {"P": "P", "PKP": "P", "S": "S", "Lg": "S"}


@dataclass(frozen=True)
class SimConfig:
    """Parameters of :func:`simulate_detections` (see the module docstring for the model).

    Units: seconds (``_s``), degrees (``_deg``), s/deg (slowness), km; ``_log`` values are
    log10 of amplitude/period ratios (nm/s) or of SNR.
    """

    # window
    lookback_s: float = 1800.0
    # phases
    p_max_distance_deg: float = 100.0
    pkp_min_distance_deg: float = 110.0
    regional_s_max_distance_deg: float = 20.0
    s_detection_factor: float = 0.4
    min_separation_s: float = 4.0
    # amplitudes, noise and the detection curve
    pkp_q_offset: float = 0.0
    station_term_sigma: float = 0.15
    amplitude_sigma: float = 0.25
    noise_log_3c: float = 0.0
    array_gain_log: float = 0.5
    noise_log_sigma: float = 0.25
    detection_snr_log: float = 0.5
    detection_width_log: float = 0.15
    # periods
    period_teleseismic_s: float = 1.0
    period_regional_s: float = 0.5
    period_sigma_log: float = 0.1
    # timing errors
    pick_sigma_min_s: float = 0.3
    pick_sigma_max_s: float = 1.0
    pick_sigma_snr_scale_log: float = 0.4
    pick_sigma_per_deg: float = 0.002
    model_sigma_p_s: float = 0.5
    model_sigma_regional_p_s: float = 0.8
    model_sigma_pkp_s: float = 0.7
    model_sigma_s_s: float = 1.0
    outlier_fraction: float = 0.02
    outlier_min_s: float = 2.0
    outlier_max_s: float = 8.0
    n_clock_stations: int = 3
    clock_offset_min_s: float = 1.0
    clock_offset_max_s: float = 3.0
    # outages
    outage_fraction: float = 0.08
    outage_min_s: float = 2 * 3600.0
    outage_max_s: float = 12 * 3600.0
    full_outage_fraction: float = 0.02
    # arrays
    baz_sigma_max_deg: float = 12.0
    baz_sigma_min_deg: float = 4.0
    slowness_sigma_max: float = 1.5
    slowness_sigma_min: float = 0.5
    three_c_backazimuth_sigma_deg: float | None = None
    # false detections
    false_fraction: float = 0.67
    false_rate_sigma_log: float = 0.4
    false_snr_scale_log: float = 0.15
    false_p_like_fraction: float = 0.5
    false_slowness_p_like: tuple[float, float] = (3.0, 14.0)
    false_slowness_other: tuple[float, float] = (14.0, 40.0)
    # phase hints
    p_mislabel: float = 0.03
    s_mislabel: float = 0.10
    false_s_hint_fraction: float = 0.15

    def __post_init__(self):
        if not 0.0 <= self.false_fraction < 1.0:
            raise ValueError(f"false_fraction must be in [0, 1), got {self.false_fraction}")
        for name in ("outlier_fraction", "outage_fraction", "full_outage_fraction", "p_mislabel",
                     "s_mislabel", "false_s_hint_fraction", "false_p_like_fraction", "s_detection_factor"):
            v = getattr(self, name)
            if not 0.0 <= v <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {v}")

    def as_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_mapping(cls, data: dict) -> "SimConfig":
        """From a mapping of field names (unknown names raise :class:`ValueError`)."""
        known = {f.name for f in fields(cls)}
        bad = sorted(set(data) - known)
        if bad:
            raise ValueError(f"unknown simulation parameter(s): {', '.join(bad)}")
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items()})


class SimulatedDetections(NamedTuple):
    """Output of :func:`simulate_detections`.

    ``picks``
        detections in the :mod:`pipeline.picks` schema, sorted by time, ``pick_id`` =
        ``sim<seed>-<YYYYMMDD>-<n>``; no truth in it.
    ``truth``
        one row per simulated origin: ``event_id, time`` (epoch s), ``latitude, longitude,
        depth_km, mag, in_window`` (origin time inside ``[start, end)``), ``n_stations``
        (stations with a detection of any phase inside the window), ``n_p_stations`` (with a
        P or PKP detection), ``n_detections``.
    ``pick_truth``
        one row per pick: ``pick_id, event_id`` (``""`` for a false detection), ``phase``
        (TauP phase of the arrival, e.g. ``Pn``, ``PKIKP``, or ``Lg``; ``""`` when false),
        ``table_phase`` (``P``, ``PKP``, ``S``, ``Lg``; ``""``), ``true_time`` (predicted
        arrival without errors, epoch s; NaN), ``distance_deg``, ``true_backazimuth`` (deg),
        ``true_slowness`` (table ray parameter, s/deg), ``false`` (bool).
    ``stations``
        the stations with their drawn state: ``kind, noise_log, station_term, false_weight,
        clock_offset_s, outage_start, outage_end`` (epoch s; NaN = no outage), ``n_true,
        n_false``.
    ``summary``
        JSON-able counts: detections, true, false, false_fraction, origins, events_ge3, ...
    """

    picks: pd.DataFrame
    truth: pd.DataFrame
    pick_truth: pd.DataFrame
    stations: pd.DataFrame
    summary: dict


# ----------------------------------------------------------------------------- inputs
def leb_origins(table: pd.DataFrame, bulletin: str = "leb") -> pd.DataFrame:
    """Origins in the simulator's layout from an event table.

    Accepts the NORSAR ``metadata_2022.csv`` layout (``origin_time, latitude, longitude,
    depth, magnitude, bulletin``; rows of ``bulletin`` only, first unnamed column = event id)
    or the reference layout ``time, latitude, longitude, depth_km, mag`` (``event_id``
    optional).

    :returns: DataFrame ``event_id, time`` (epoch s), ``latitude, longitude, depth_km, mag``
        (NaN where the table has none), sorted by time.
    """
    t = table.copy()
    if "origin_time" in t.columns:
        if "bulletin" in t.columns:
            t = t[t["bulletin"].astype(str).str.lower() == bulletin.lower()]
        first = t.columns[0]
        ids = t[first].astype(str) if (first.startswith("Unnamed") or first in ("", "event_id")) else None
        t = t.rename(columns={"origin_time": "time", "depth": "depth_km", "magnitude": "mag"})
        if ids is not None:
            t["event_id"] = ids.to_numpy()
    missing = [c for c in ("time", "latitude", "longitude") if c not in t.columns]
    if missing:
        raise ValueError(f"origin table: column(s) {', '.join(missing)} missing "
                         f"(have: {', '.join(map(str, table.columns))})")
    out = pd.DataFrame({
        "time": [_epoch(v) for v in t["time"]],
        "latitude": pd.to_numeric(t["latitude"], errors="coerce").to_numpy(float),
        "longitude": pd.to_numeric(t["longitude"], errors="coerce").to_numpy(float),
        "depth_km": (pd.to_numeric(t["depth_km"], errors="coerce").fillna(0.0).to_numpy(float)
                     if "depth_km" in t.columns else 0.0),
        "mag": pd.to_numeric(t["mag"], errors="coerce").to_numpy(float) if "mag" in t.columns else np.nan,
    })
    out.insert(0, "event_id", t["event_id"].astype(str).to_numpy() if "event_id" in t.columns
               else [f"ev{i}" for i in range(len(t))])
    bad = ~np.isfinite(out[["time", "latitude", "longitude"]].to_numpy(float)).all(axis=1)
    if bad.any():
        raise ValueError(f"origin table: row {int(np.flatnonzero(bad)[0]) + 1} has no time or epicentre")
    return out.sort_values("time", kind="stable").reset_index(drop=True)


def _epoch(v) -> float:
    if isinstance(v, (int, float, np.integer, np.floating)):
        return float(v)
    if isinstance(v, UTCDateTime):
        return float(v.timestamp)
    return float(UTCDateTime(str(v)).timestamp)


def ims_seismic_stations(table: pd.DataFrame) -> pd.DataFrame:
    """The seismic stations (primary and auxiliary) of the IMS station table
    (``stations/ims_stations.csv`` layout: ``treaty_id, code, technology, kind, latitude,
    longitude, elevation_m``, ...).

    Rows without a code or coordinates are left out; a blank ``kind`` is taken as ``"3c"``
    (our default: the table does not say; 3-C is the commoner kind and gives no array
    attributes). Network ``IM``.

    :returns: DataFrame ``network, station, latitude, longitude, elevation_m, kind,
        treaty_id, technology``, one row per code.
    """
    t = table[table["technology"].astype(str).str.startswith("seismic")]
    t = t[t["code"].notna() & (t["code"].astype(str).str.strip() != "")
          & t["latitude"].notna() & t["longitude"].notna()]
    kind = t["kind"].fillna("3c").astype(str).str.strip().replace("", "3c")
    out = pd.DataFrame({"network": "IM", "station": t["code"].astype(str).str.strip(),
                        "latitude": t["latitude"].astype(float), "longitude": t["longitude"].astype(float),
                        "elevation_m": pd.to_numeric(t["elevation_m"], errors="coerce").fillna(0.0),
                        "kind": kind, "treaty_id": t["treaty_id"].astype(str),
                        "technology": t["technology"].astype(str)})
    return out.drop_duplicates("station", keep="first").reset_index(drop=True)


def _stations(stations: pd.DataFrame) -> pd.DataFrame:
    for col in ("station", "latitude", "longitude"):
        if col not in stations.columns:
            raise ValueError(f"stations: column {col!r} missing")
    s = stations.reset_index(drop=True).copy()
    if "network" not in s.columns:
        s["network"] = "IM"
    if "elevation_m" not in s.columns:
        s["elevation_m"] = 0.0
    if "kind" not in s.columns:
        s["kind"] = "3c"
    s["kind"] = s["kind"].fillna("3c").astype(str).str.lower()
    s["elevation_m"] = pd.to_numeric(s["elevation_m"], errors="coerce").fillna(0.0)
    return s


# ----------------------------------------------------------------------------- simulation
def _live_intervals(start: float, end: float, o0: float, o1: float) -> list[tuple[float, float]]:
    if not np.isfinite(o0):
        return [(start, end)]
    return [(a, b) for a, b in ((start, o0), (o1, end)) if b > a]


def _sigma_by_snr(snr_log, threshold, hi, lo):
    """From ``hi`` at the detection threshold to ``lo`` one log10 unit above it (linear)."""
    f = np.clip(np.asarray(snr_log, float) - threshold, 0.0, 1.0)
    return hi - (hi - lo) * f


def clock_errors_and_outages(rng: np.random.Generator, ns: int, cfg: SimConfig, t0: float, t1: float):
    """Station clock offsets (s) and outage intervals (steps 4 and 6 of the module docstring):
    ``(clock, out0, out1)``, arrays of ``ns`` (NaN = no outage), drawn from ``rng`` in a fixed order
    (shared with :mod:`pipeline.simulate.waveforms`)."""
    clock = np.zeros(ns)
    n_clock = min(cfg.n_clock_stations, ns)
    if n_clock:
        idx = rng.choice(ns, n_clock, replace=False)
        clock[idx] = rng.uniform(cfg.clock_offset_min_s, cfg.clock_offset_max_s, n_clock) * rng.choice([-1, 1], n_clock)
    out0, out1 = np.full(ns, np.nan), np.full(ns, np.nan)
    u = rng.random(ns)
    dur = np.minimum(rng.uniform(cfg.outage_min_s, cfg.outage_max_s, ns), t1 - t0)
    pos = rng.random(ns)
    partial = u < cfg.outage_fraction
    full = (u >= cfg.outage_fraction) & (u < cfg.outage_fraction + cfg.full_outage_fraction)
    out0[partial] = t0 + pos[partial] * (t1 - t0 - dur[partial])
    out1[partial] = out0[partial] + dur[partial]
    out0[full], out1[full] = t0, t1
    return clock, out0, out1


def predict_arrivals(org: pd.DataFrame, sta: pd.DataFrame, tt, cfg: SimConfig = SimConfig()) -> pd.DataFrame:
    """The arrivals of every origin at every station (step 2 of the module docstring): one row per
    (origin ``e``, station ``s``, table phase) with ``distance_deg``, ``depth_km``, ``azimuth``,
    ``true_backazimuth``, ``true_time`` (origin + table + ellipticity + elevation corrections),
    ``slowness_true`` (s/deg), ``taup`` (TauP phase name), ``q`` (the mb distance term) and
    ``mag``; sorted by origin, station and time. No randomness (shared with
    :mod:`pipeline.simulate.waveforms`)."""
    ne, ns = len(org), len(sta)
    rows = []
    if ne and ns:
        ev_lat = geocentric_latitude(org["latitude"].to_numpy(float))
        st_lat = geocentric_latitude(sta["latitude"].to_numpy(float))
        dist, az, baz = distance_azimuth(ev_lat[:, None], org["longitude"].to_numpy(float)[:, None],
                                         st_lat[None, :], sta["longitude"].to_numpy(float)[None, :])
        depth = np.broadcast_to(org["depth_km"].to_numpy(float)[:, None], dist.shape)
        mag = np.broadcast_to(org["mag"].to_numpy(float)[:, None], dist.shape)
        elev_km = np.broadcast_to(sta["elevation_m"].to_numpy(float)[None, :] / 1000.0, dist.shape)
        src_lat = np.broadcast_to(ev_lat[:, None], dist.shape)
        q_p = q_idc(np.minimum(dist, cfg.p_max_distance_deg), depth)
        q_pkp = q_idc(np.full(dist.shape, 100.0), depth) + cfg.pkp_q_offset
        ie, js = np.meshgrid(np.arange(ne), np.arange(ns), indexing="ij")
        for ph in ("P", "PKP", "S", "Lg"):
            if ph == "P":
                ok = dist <= cfg.p_max_distance_deg
            elif ph == "PKP":
                ok = dist >= cfg.pkp_min_distance_deg
            else:
                ok = dist <= cfg.regional_s_max_distance_deg
            ok &= np.isfinite(mag)
            if not ok.any():
                continue
            d, h = dist[ok], depth[ok]
            t_tab = tt.time(ph, d, h)
            fin = np.isfinite(t_tab)
            ell = np.nan_to_num(tt.ellipticity(ph, d, h, src_lat[ok], az[ok]))
            try:
                elc = np.nan_to_num(tt.elevation_correction(ph, d, h, elev_km[ok]))
            except RuntimeError:  # a table without its TauP file: no elevation correction
                elc = np.zeros(d.shape)
            rows.append(pd.DataFrame({
                "e": ie[ok][fin], "s": js[ok][fin], "table_phase": ph, "distance_deg": d[fin], "depth_km": h[fin],
                "azimuth": az[ok][fin], "true_backazimuth": baz[ok][fin],
                "true_time": (org["time"].to_numpy(float)[ie[ok][fin]] + t_tab[fin] + ell[fin] + elc[fin]),
                "slowness_true": tt.slowness(ph, d[fin], h[fin]),
                "taup": tt.taup_phase(ph, d[fin], h[fin]) if ph != "Lg" else "Lg",
                "q": (q_pkp if ph == "PKP" else q_p)[ok][fin], "mag": mag[ok][fin]}))
    arr = pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(
        columns=["e", "s", "table_phase", "distance_deg", "depth_km", "azimuth", "true_backazimuth", "true_time",
                 "slowness_true", "taup", "q", "mag"])
    arr = arr.sort_values(["e", "s", "true_time"], kind="stable").reset_index(drop=True)
    return arr


def simulate_detections(origins: pd.DataFrame, stations: pd.DataFrame, tt, config: SimConfig = SimConfig(),
                        seed: int = 0, *, start=None, end=None) -> SimulatedDetections:
    """Simulate one window (by default one UTC day) of IDC-like detections.

    :param origins: ``time`` (epoch s or ISO), ``latitude``, ``longitude`` (deg), ``depth_km``
        (km below sea level), ``mag`` (mb), optional ``event_id`` (see :func:`leb_origins`).
    :param stations: ``station, latitude, longitude`` (deg), optional ``network`` (``IM``),
        ``elevation_m`` (m, 0), ``kind`` (``"array"`` or ``"3c"``; default ``"3c"``).
    :param tt: :class:`~pipeline.traveltime.tables.TravelTimeTable` of a global model with the
        phases ``P, S, Lg, PKP`` (e.g. ``TravelTimeTable("ak135", GLOBAL_PHASES, ...)``).
    :param config: model parameters (:class:`SimConfig`).
    :param seed: seed of the random generator: same inputs and seed → same output.
    :param start: window start (:class:`~obspy.UTCDateTime`, ISO string or epoch s); default
        00:00 UTC of the day of the median origin time.
    :param end: window end; default ``start`` + 1 day.
    :returns: :class:`SimulatedDetections`.
    """
    missing = [p for p in REQUIRED_PHASES if p not in tt.phases]
    if missing:
        raise ValueError(f"travel-time table lacks phase(s) {', '.join(missing)} "
                         f"(has {', '.join(tt.phases)}); build it with P, S, Lg and PKP")
    cfg = config
    org = leb_origins(origins)
    if start is None:
        t_med = float(np.median(org["time"])) if len(org) else 0.0
        start = UTCDateTime(UTCDateTime(t_med).date)
    t0 = _epoch(start)
    t1 = (t0 + 86400.0) if end is None else _epoch(end)
    if not t1 > t0:
        raise ValueError("simulation window: end must be after start")
    day_tag = UTCDateTime(t0).strftime("%Y%m%d")
    rng = np.random.default_rng(seed)

    sta = _stations(stations)
    ns = len(sta)
    is_array = (sta["kind"] == "array").to_numpy()

    # ---- station state (drawn first, in a fixed order) ---------------------------------------
    noise_log = cfg.noise_log_3c - cfg.array_gain_log * is_array + rng.normal(0.0, cfg.noise_log_sigma, ns)
    station_term = rng.normal(0.0, cfg.station_term_sigma, ns)
    false_weight = 10.0 ** rng.normal(0.0, cfg.false_rate_sigma_log, ns)
    clock, out0, out1 = clock_errors_and_outages(rng, ns, cfg, t0, t1)

    # ---- arrivals (origin × station × phase) -------------------------------------------------
    org = org[(org["time"] >= t0 - cfg.lookback_s) & (org["time"] < t1)].reset_index(drop=True)
    ne = len(org)
    arr = predict_arrivals(org, sta, tt, cfg)
    n = len(arr)
    s_idx = arr["s"].to_numpy(int)
    wave_s = arr["table_phase"].isin(["S", "Lg"]).to_numpy()
    dist_a = arr["distance_deg"].to_numpy(float)
    # amplitude, SNR, detection (one draw of each random quantity per arrival, in this order)
    log_at = (arr["mag"].to_numpy(float) - arr["q"].to_numpy(float) + station_term[s_idx]
              + rng.normal(0.0, cfg.amplitude_sigma, n))
    snr_log = log_at - noise_log[s_idx]
    p_det = ndtr((snr_log - cfg.detection_snr_log) / cfg.detection_width_log)
    p_det = np.where(wave_s, cfg.s_detection_factor * p_det, p_det)
    detected = rng.random(n) < p_det
    regional = dist_a <= cfg.regional_s_max_distance_deg
    period = 10.0 ** (np.log10(np.where(regional, cfg.period_regional_s, cfg.period_teleseismic_s))
                      + rng.normal(0.0, cfg.period_sigma_log, n))
    # timing errors
    sig_pick = np.clip(cfg.pick_sigma_min_s + (cfg.pick_sigma_max_s - cfg.pick_sigma_min_s)
                       * np.exp(-(snr_log - cfg.detection_snr_log) / cfg.pick_sigma_snr_scale_log)
                       + cfg.pick_sigma_per_deg * dist_a, cfg.pick_sigma_min_s, cfg.pick_sigma_max_s)
    tph = arr["table_phase"].to_numpy(object)
    sig_model = np.select([tph == "PKP", wave_s, regional], [cfg.model_sigma_pkp_s, cfg.model_sigma_s_s,
                                                             cfg.model_sigma_regional_p_s], cfg.model_sigma_p_s)
    err = rng.normal(0.0, 1.0, n) * sig_pick + rng.normal(0.0, 1.0, n) * sig_model
    outlier = rng.random(n) < cfg.outlier_fraction
    err += outlier * rng.uniform(cfg.outlier_min_s, cfg.outlier_max_s, n) * rng.choice([-1.0, 1.0], n)
    obs_time = arr["true_time"].to_numpy(float) + err + clock[s_idx]
    # array attributes
    sig_baz = _sigma_by_snr(snr_log, cfg.detection_snr_log, cfg.baz_sigma_max_deg, cfg.baz_sigma_min_deg)
    sig_slow = _sigma_by_snr(snr_log, cfg.detection_snr_log, cfg.slowness_sigma_max, cfg.slowness_sigma_min)
    baz_obs = (arr["true_backazimuth"].to_numpy(float) + rng.normal(0.0, 1.0, n) * sig_baz) % 360.0
    slow_obs = np.maximum(arr["slowness_true"].to_numpy(float) + rng.normal(0.0, 1.0, n) * sig_slow, 0.0)
    # phase hints
    flip = rng.random(n) < np.where(wave_s, cfg.s_mislabel, cfg.p_mislabel)
    hint = np.where(wave_s ^ flip, "S", "P")

    keep = detected & (obs_time >= t0) & (obs_time < t1)
    o0s, o1s = out0[s_idx], out1[s_idx]
    keep &= ~((obs_time >= o0s) & (obs_time < o1s))
    arr = arr.assign(time=obs_time, snr_log=snr_log, log_at=log_at, period=period, sig_pick=sig_pick,
                     baz=baz_obs, slow=slow_obs, sig_baz=sig_baz, sig_slow=sig_slow, hint=hint)[keep]
    # one trigger per event and station within min_separation_s (the earlier arrival wins)
    arr = arr.sort_values(["e", "s", "time"], kind="stable")
    gap = arr.groupby(["e", "s"], sort=False)["time"].diff()
    arr = arr[~(gap < cfg.min_separation_s)].reset_index(drop=True)

    arr_is_array = is_array[arr["s"].to_numpy(int)]
    true_picks = pd.DataFrame({
        "network": sta["network"].to_numpy(object)[arr["s"].to_numpy(int)],
        "station": sta["station"].to_numpy(object)[arr["s"].to_numpy(int)],
        "phase": arr["hint"].to_numpy(object), "time": arr["time"].to_numpy(float),
        "time_uncertainty": arr["sig_pick"].to_numpy(float),
        "amplitude": 10.0 ** arr["log_at"].to_numpy(float) * arr["period"].to_numpy(float),
        "period": arr["period"].to_numpy(float), "snr": 10.0 ** arr["snr_log"].to_numpy(float),
        "backazimuth": np.where(arr_is_array, arr["baz"], np.nan),
        "backazimuth_uncertainty": np.where(arr_is_array, arr["sig_baz"], np.nan),
        "slowness": np.where(arr_is_array, arr["slow"], np.nan),
        "slowness_uncertainty": np.where(arr_is_array, arr["sig_slow"], np.nan)})
    true_truth = pd.DataFrame({
        "event_id": org["event_id"].to_numpy(object)[arr["e"].to_numpy(int)] if len(arr) else [],
        "phase": arr["taup"].to_numpy(object), "table_phase": arr["table_phase"].to_numpy(object),
        "true_time": arr["true_time"].to_numpy(float), "distance_deg": arr["distance_deg"].to_numpy(float),
        "true_backazimuth": arr["true_backazimuth"].to_numpy(float),
        "true_slowness": arr["slowness_true"].to_numpy(float), "false": False})
    if cfg.three_c_backazimuth_sigma_deg is not None and len(arr):
        tc = ~arr_is_array
        true_picks.loc[tc, "backazimuth"] = (arr["true_backazimuth"].to_numpy(float)[tc]
                                             + rng.normal(0.0, cfg.three_c_backazimuth_sigma_deg, int(tc.sum()))) % 360
        true_picks.loc[tc, "backazimuth_uncertainty"] = cfg.three_c_backazimuth_sigma_deg

    # ---- false detections -----------------------------------------------------------------
    n_true = len(true_picks)
    n_false = int(round(cfg.false_fraction / (1.0 - cfg.false_fraction) * n_true))
    live = [_live_intervals(t0, t1, out0[i], out1[i]) for i in range(ns)]
    live_s = np.array([sum(b - a for a, b in iv) for iv in live])
    w = false_weight * live_s
    counts = rng.multinomial(n_false, w / w.sum()) if n_false and w.sum() > 0 else np.zeros(ns, int)
    fs = np.repeat(np.arange(ns), counts)
    m = len(fs)
    # uniform over each station's live time
    uu = rng.random(m) * live_s[fs]
    f_time = np.empty(m)
    for k in range(m):
        iv = live[fs[k]]
        x = uu[k]
        for a, b in iv:
            if x < b - a:
                f_time[k] = a + x
                break
            x -= b - a
        else:
            f_time[k] = iv[-1][1] - 1e-3
    f_snr_log = cfg.detection_snr_log + rng.exponential(cfg.false_snr_scale_log, m)
    f_period = 10.0 ** (np.log10(0.5 * (cfg.period_regional_s + cfg.period_teleseismic_s))
                        + rng.normal(0.0, cfg.period_sigma_log, m))
    f_baz = rng.uniform(0.0, 360.0, m)
    p_like = rng.random(m) < cfg.false_p_like_fraction
    f_slow = np.where(p_like, rng.uniform(*cfg.false_slowness_p_like, m), rng.uniform(*cfg.false_slowness_other, m))
    f_hint = np.where(rng.random(m) < cfg.false_s_hint_fraction, "S", "P")
    f_arr = is_array[fs]
    f_sig_pick = np.clip(cfg.pick_sigma_min_s + (cfg.pick_sigma_max_s - cfg.pick_sigma_min_s)
                         * np.exp(-(f_snr_log - cfg.detection_snr_log) / cfg.pick_sigma_snr_scale_log),
                         cfg.pick_sigma_min_s, cfg.pick_sigma_max_s)
    f_sig_baz = _sigma_by_snr(f_snr_log, cfg.detection_snr_log, cfg.baz_sigma_max_deg, cfg.baz_sigma_min_deg)
    f_sig_slow = _sigma_by_snr(f_snr_log, cfg.detection_snr_log, cfg.slowness_sigma_max, cfg.slowness_sigma_min)
    false_picks = pd.DataFrame({
        "network": sta["network"].to_numpy(object)[fs], "station": sta["station"].to_numpy(object)[fs],
        "phase": f_hint.astype(object), "time": f_time, "time_uncertainty": f_sig_pick,
        "amplitude": 10.0 ** (noise_log[fs] + f_snr_log) * f_period, "period": f_period,
        "snr": 10.0 ** f_snr_log,
        "backazimuth": np.where(f_arr, f_baz, np.nan), "backazimuth_uncertainty": np.where(f_arr, f_sig_baz, np.nan),
        "slowness": np.where(f_arr, f_slow, np.nan), "slowness_uncertainty": np.where(f_arr, f_sig_slow, np.nan)})
    if cfg.three_c_backazimuth_sigma_deg is not None and m:
        tc = ~f_arr
        false_picks.loc[tc, "backazimuth"] = f_baz[tc]
        false_picks.loc[tc, "backazimuth_uncertainty"] = cfg.three_c_backazimuth_sigma_deg
    false_truth = pd.DataFrame({"event_id": "", "phase": "", "table_phase": "", "true_time": np.nan,
                                "distance_deg": np.nan, "true_backazimuth": np.nan, "true_slowness": np.nan,
                                "false": np.ones(m, bool)})

    # ---- assemble --------------------------------------------------------------------------
    picks = pd.concat([true_picks, false_picks], ignore_index=True)
    ptruth = pd.concat([true_truth, false_truth], ignore_index=True)
    kind_col = np.where(np.concatenate([is_array[arr["s"].to_numpy(int)], f_arr]), "", "BHZ")
    picks["channel"] = kind_col
    picks["location"] = ""
    order = np.lexsort((picks["station"].to_numpy(str), picks["time"].to_numpy(float)))
    picks, ptruth = picks.iloc[order].reset_index(drop=True), ptruth.iloc[order].reset_index(drop=True)
    ids = [f"sim{seed}-{day_tag}-{i:06d}" for i in range(len(picks))]
    picks["pick_id"] = ids
    ptruth.insert(0, "pick_id", ids)
    picks = normalise_picks(picks)[list(PICK_COLUMNS)]
    ptruth["false"] = ptruth["false"].astype(bool)

    # ---- truth per origin ------------------------------------------------------------------
    tp = ptruth[~ptruth["false"]].merge(picks[["pick_id", "station"]], on="pick_id")
    n_sta = tp.groupby("event_id")["station"].nunique()
    n_p = tp[tp["table_phase"].isin(["P", "PKP"])].groupby("event_id")["station"].nunique()
    n_det = tp.groupby("event_id").size()
    truth = org[["event_id", "time", "latitude", "longitude", "depth_km", "mag"]].copy()
    truth["in_window"] = (truth["time"] >= t0) & (truth["time"] < t1)
    truth["n_stations"] = truth["event_id"].map(n_sta).fillna(0).astype(int)
    truth["n_p_stations"] = truth["event_id"].map(n_p).fillna(0).astype(int)
    truth["n_detections"] = truth["event_id"].map(n_det).fillna(0).astype(int)

    state = sta.copy()
    state["noise_log"], state["station_term"], state["false_weight"] = noise_log, station_term, false_weight
    state["clock_offset_s"], state["outage_start"], state["outage_end"] = clock, out0, out1
    state["n_true"] = state["station"].map(tp.groupby("station").size()).fillna(0).astype(int)
    fp = picks.loc[ptruth["false"].to_numpy(), "station"].value_counts()
    state["n_false"] = state["station"].map(fp).fillna(0).astype(int)

    n_all = len(picks)
    summary = {
        "start": UTCDateTime(t0).isoformat(), "end": UTCDateTime(t1).isoformat(), "seed": int(seed),
        "stations": int(ns), "arrays": int(is_array.sum()),
        "stations_with_outage": int(np.isfinite(out0).sum()), "origins": int(ne),
        "origins_in_window": int(truth["in_window"].sum()),
        "detections": int(n_all), "true": int(n_true), "false": int(n_all - n_true),
        "false_fraction": round((n_all - n_true) / n_all, 4) if n_all else 0.0,
        "events_ge3": int((truth["n_stations"] >= 3).sum()),
        "events_ge3_in_window": int(((truth["n_stations"] >= 3) & truth["in_window"]).sum()),
        "late_arrivals": int(sum(truth.loc[~truth["in_window"], "n_detections"])),
    }
    return SimulatedDetections(picks, truth, ptruth, state, summary)
