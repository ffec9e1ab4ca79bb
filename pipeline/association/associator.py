"""Global association (GA): detections of all stations → event hypotheses.

Algorithm (greedy, probabilistic score in the NET-VISA spirit):

1. **Candidate generation by back-projection.** A grid of source nodes covers the region (a
   local lattice around the stations, or a Fibonacci lattice over the globe with several
   depths). Travel times from every node to every station come from the precomputed tables.
   Every pick votes, for every node, for the origin time ``t_pick − T(node, station, phase)``
   under each phase it may be (its hint, or P and S). Votes are binned in origin time; the
   (node, time) bin with most votes is the best candidate.
2. **Gathering and refinement.** Picks whose residual at the candidate is within the vote
   tolerance are gathered (one P and one S per station, a pick gets one phase); the node is
   refined on a finer grid around it (robust residual cost) and, when a locator is given,
   located; picks are re-gathered with the tighter association residual limits.
3. **Scoring.** ``score = Σ_assoc log(p_d · N(r; σ) / λ_s) + Σ_missed log(1 − p_d)``: each
   associated pick compares the likelihood of being the event's arrival (detection probability
   ``p_d`` times the Gaussian residual density) with being a false pick at that station (rate
   ``λ_s`` per second: the prior fraction ``false_pick_fraction`` of the station's own pick
   rate); each live station (one
   that reported picks within ``live_window_s``) nearer to the source than most detecting
   stations but without a P pick costs ``log(1 − p_d)`` — this is what stops random
   coincidences over a large search volume from becoming events. The hypothesis is accepted when the score, the number of
   defining stations (``min_stations``, the IDC minimum rule) and of picks pass the config.
4. Accepted picks are removed and the search repeats; rejected candidates are blocked.

Picks are processed in windows (``window_s``) so memory stays bounded; an event belongs to
the window holding its origin time, and its picks may lie up to the largest travel time later.

All times are epoch seconds; distances degrees; depths km below sea level.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Protocol

import numpy as np
import pandas as pd
from scipy.ndimage import convolve1d

from pipeline.association.config import AssociatorConfig
from pipeline.location.geodesy import KM_PER_DEG, great_circle_deg

# one spherical geometry for the whole chain (haversine, sphere of the travel-time tables)
distance_deg = great_circle_deg


class TravelTimes(Protocol):
    def time(self, phase: str, distance_deg, depth_km) -> np.ndarray: ...


@dataclass
class Hypothesis:
    """An associated event: origin estimate and the picks assigned to it."""

    time: float
    latitude: float
    longitude: float
    depth_km: float
    #: rows of the input picks (index preserved) with ``assoc_phase``, ``residual`` (s),
    #: ``distance_deg``
    picks: pd.DataFrame
    score: float = 0.0
    located: bool = False
    extra: dict = field(default_factory=dict)

    @property
    def n_stations(self) -> int:
        return int(self.picks["station_key"].nunique()) if len(self.picks) else 0


#: ``locate(hypothesis, stations) -> Hypothesis | None`` refines an origin (None = failed)
LocateFn = Callable[["Hypothesis", pd.DataFrame], "Hypothesis | None"]


# ----------------------------------------------------------------------------- geometry
def _fibonacci_sphere(spacing_deg: float) -> tuple[np.ndarray, np.ndarray]:
    n = max(int(4 * math.pi / math.radians(spacing_deg) ** 2), 12)
    i = np.arange(n) + 0.5
    lat = np.degrees(np.arcsin(1 - 2 * i / n))
    lon = (np.degrees(math.pi * (1 + 5 ** 0.5) * i) + 180.0) % 360.0 - 180.0
    return lat, lon


@dataclass
class Grid:
    scale: str
    lat: np.ndarray
    lon: np.ndarray
    depth: np.ndarray
    #: phase → (nodes, stations) travel times, s (NaN = not predicted), elevation-corrected
    tt: dict[str, np.ndarray]
    #: phase → per-station elevation correction, s (added to table times)
    corr: dict[str, np.ndarray]
    tol: dict[str, float]
    res: dict[str, float]
    spacing_km: float
    window_s: float
    max_tt: float
    #: phase -> :class:`SparseTimes` of ``tt`` (built on first use by the vote)
    sparse: dict = field(default_factory=dict, repr=False)


#: rows of the node-block index of :class:`SparseTimes`
_VOTE_BLOCK = 512
#: budget of one vote chunk: (node, time bin) cells and (node, pick) pairs
_VOTE_CELLS = 4_000_000


@dataclass
class SparseTimes:
    """The finite entries of one phase's (nodes, stations) travel-time matrix, station by
    station, nodes ascending (a station's nodes within reach): ``node[k]``, ``time[k]`` for
    ``k`` in ``offs[s, b]:offs[s, b + 1]`` are station ``s``'s entries in node block ``b``
    (nodes ``b * _VOTE_BLOCK`` ... ``(b + 1) * _VOTE_BLOCK - 1``)."""

    node: np.ndarray
    time: np.ndarray
    offs: np.ndarray

    @classmethod
    def of(cls, tt: np.ndarray) -> "SparseTimes":
        n_nodes, n_sta = tt.shape
        sta, node = np.nonzero(np.isfinite(tt.T))  # station-major, nodes ascending
        n_blocks = -(-n_nodes // _VOTE_BLOCK)
        # first entry of each (station, block): position of the key sta * n_blocks + block
        keys = sta.astype(np.int64) * n_blocks + node // _VOTE_BLOCK
        bounds = np.arange(n_sta * n_blocks + 1, dtype=np.int64)
        offs = np.searchsorted(keys, bounds, side="left")
        starts = offs[:-1].reshape(n_sta, n_blocks)
        offs = np.concatenate([starts, np.append(starts[1:, :1], len(sta))[:, None]], axis=1)
        return cls(node=node.astype(np.int64), time=tt[node, sta], offs=offs)

    def entries(self, sidx: np.ndarray, b0: int, b1: int) -> tuple[np.ndarray, np.ndarray]:
        """``(pick, entry)`` index pairs of the picks at stations ``sidx`` in node blocks
        ``b0 <= b < b1``: for each pick in order, its station's entries, nodes ascending."""
        lo = self.offs[sidx, b0]
        cnt = self.offs[sidx, b1] - lo
        total = int(cnt.sum())
        pick = np.repeat(np.arange(len(sidx)), cnt)
        entry = np.arange(total, dtype=np.int64) + np.repeat(lo - (np.cumsum(cnt) - cnt), cnt)
        return pick, entry


def _local_nodes(stations: pd.DataFrame, margin_km: float, spacing_km: float, depths) -> tuple:
    lat0 = float(stations["latitude"].mean())
    lon0 = float(stations["longitude"].mean())
    kx = KM_PER_DEG * math.cos(math.radians(lat0))
    x = (stations["longitude"].to_numpy() - lon0) * kx
    y = (stations["latitude"].to_numpy() - lat0) * KM_PER_DEG
    xs = np.arange(x.min() - margin_km, x.max() + margin_km + 1e-9, spacing_km)
    ys = np.arange(y.min() - margin_km, y.max() + margin_km + 1e-9, spacing_km)
    X, Y, Z = np.meshgrid(xs, ys, np.asarray(depths, float), indexing="ij")
    return lat0 + Y.ravel() / KM_PER_DEG, lon0 + X.ravel() / kx, Z.ravel()


def aperture_km(stations: pd.DataFrame) -> float:
    lat, lon = stations["latitude"].to_numpy(), stations["longitude"].to_numpy()
    if len(lat) < 2:
        return 0.0
    d = distance_deg(lat[:, None], lon[:, None], lat[None, :], lon[None, :])
    return float(d.max() * KM_PER_DEG)


def station_corrections(stations: pd.DataFrame, tt, phases) -> dict[str, np.ndarray]:
    """Seconds to add to table times for each station's elevation (tables put the receiver at
    the model top). Evaluated for a steep ray (0.2 deg, 5 km): near-vertical in the shallow
    layers where the correction accrues. Zero when the table has no elevation correction."""
    elev = stations.get("elevation_m", pd.Series(np.zeros(len(stations)))).fillna(0.0).to_numpy() / 1000.0
    out = {}
    for ph in phases:
        if hasattr(tt, "elevation_correction"):
            try:
                c = np.asarray(tt.elevation_correction(ph, np.full(len(elev), 0.2), np.full(len(elev), 5.0), elev),
                               dtype=float)
            except Exception:
                c = np.zeros(len(elev))
        else:
            c = np.zeros(len(elev))
        out[ph] = np.nan_to_num(c)
    return out


def build_grid(stations: pd.DataFrame, tt: TravelTimes, config: AssociatorConfig) -> Grid:
    """Source nodes and node→station travel times for the network in ``stations``."""
    scale = config.scale
    if scale == "auto":
        scale = "local" if aperture_km(stations) < config.local_aperture_km else "global"
    if scale == "local":
        g = config.local
        # large networks get a coarser grid (bounded memory); tolerances grow with the spacing
        spacing_km = max(g.spacing_km, aperture_km(stations) / config.max_nodes_per_side)
        lat, lon, depth = _local_nodes(stations, g.margin_km, spacing_km, g.depths_km)
    else:
        g = config.global_
        la, lo = _fibonacci_sphere(g.spacing_deg)
        lat = np.repeat(la, len(g.depths_km))
        lon = np.repeat(lo, len(g.depths_km))
        depth = np.tile(np.asarray(g.depths_km, float), len(la))
        spacing_km = g.spacing_deg * KM_PER_DEG
    d = distance_deg(lat[:, None], lon[:, None], stations["latitude"].to_numpy()[None, :],
                     stations["longitude"].to_numpy()[None, :])
    # only node-station pairs within reach are looked up (a wide network's far pairs, often
    # most of them, are NaN anyway): the same values, a fraction of the table look-ups
    near = np.nonzero(d <= g.max_distance_deg)
    d_near = d[near]
    z_near = depth[near[0]]
    tts = {}
    for ph in config.phases:
        t = np.full(d.shape, np.nan, dtype=np.float32)
        t[near] = np.asarray(tt.time(ph, d_near, z_near), dtype=np.float32)
        tts[ph] = t
    corr = station_corrections(stations, tt, config.phases)
    for ph in config.phases:
        tts[ph] += corr[ph][None, :].astype(np.float32)
    finite = [np.nanmax(t) for t in tts.values() if np.isfinite(t).any()]
    # half the node diagonal of travel-time misfit at ~6 / 3.5 km/s must fit in the vote
    tol_p = max(g.tolerance_p_s, 0.12 * spacing_km) if scale == "local" else g.tolerance_p_s
    tol_s = max(g.tolerance_s_s, 0.2 * spacing_km) if scale == "local" else g.tolerance_s_s
    return Grid(scale=scale, lat=lat, lon=lon, depth=depth, tt=tts, corr=corr,
                tol={"P": tol_p, "S": tol_s},
                res={"P": g.residual_p_s, "S": g.residual_s_s},
                spacing_km=spacing_km, window_s=g.window_s, max_tt=float(max(finite) if finite else 0.0))


# ----------------------------------------------------------------------------- association
def _phase_kind(name: str) -> str:
    """P-type or S-type family of a phase name or hint ("" = unknown)."""
    n = (name or "").strip().upper()
    if not n:
        return ""
    if n.startswith("S") or n in ("LG", "RG"):
        return "S"
    if n.startswith("P"):
        return "P"
    return ""


class Associator:
    """Associate a pick table for one network. Build once, call :meth:`run`."""

    def __init__(self, stations: pd.DataFrame, tt: TravelTimes, config: AssociatorConfig = AssociatorConfig(),
                 locate: LocateFn | None = None):
        st = stations.copy().reset_index(drop=True)
        if "network" not in st.columns:
            st["network"] = ""
        self.stations = st
        self.tt = tt
        self.config = config
        self.locate = locate
        self._grids: dict[tuple, Grid] = {}
        self._by_code: dict[str, int] = {}
        for i, (net, sta) in enumerate(zip(st["network"].fillna(""), st["station"])):
            self._by_code.setdefault(sta, i)
            self._by_code[f"{net}.{sta}"] = i

    # -- helpers ---------------------------------------------------------------------------
    def station_index(self, picks: pd.DataFrame) -> np.ndarray:
        """Index into ``self.stations`` per pick (-1 = not in the station table)."""
        keys = picks.get("network", pd.Series([""] * len(picks), index=picks.index)).fillna("")
        out = np.full(len(picks), -1, dtype=int)
        for k, (net, sta) in enumerate(zip(keys, picks["station"])):
            out[k] = self._by_code.get(f"{net}.{sta}", self._by_code.get(sta, -1))
        return out

    def _predict(self, phase: str, lat: float, lon: float, depth: float, sidx: np.ndarray) -> tuple:
        d = distance_deg(lat, lon, self._slat[sidx], self._slon[sidx])
        t = np.asarray(self.tt.time(phase, d, np.full(d.shape, depth)), dtype=float) + self.grid.corr[phase][sidx]
        lim = (self.config.local if self.grid.scale == "local" else self.config.global_).max_distance_deg
        t[d > lim] = np.nan
        return t, d

    def _predict_phases(self, lat: float, lon: float, depth: float, sidx: np.ndarray) -> list:
        """:meth:`_predict` for every configured phase (same values), with one table call
        when the table takes a phase per point (:class:`~pipeline.traveltime.TravelTimeTable`)."""
        phases = self.config.phases
        ids = self._table_phase_ids()
        if ids is None or len(sidx) == 0:
            return [self._predict(ph, lat, lon, depth, sidx) for ph in phases]
        d = distance_deg(lat, lon, self._slat[sidx], self._slon[sidx])
        n = d.size
        tt_all = np.asarray(self.tt.time(np.repeat(ids, n), np.tile(d, len(phases)),
                                         np.full(n * len(phases), depth)), dtype=float)
        lim = (self.config.local if self.grid.scale == "local" else self.config.global_).max_distance_deg
        out = []
        for k, ph in enumerate(phases):
            t = tt_all[k * n:(k + 1) * n] + self.grid.corr[ph][sidx]
            t[d > lim] = np.nan
            out.append((t, d))
        return out

    def _table_phase_ids(self) -> np.ndarray | None:
        """Indices of the configured phases in the table's phases, or None when the table
        does not take a phase per point."""
        if not hasattr(self, "_phase_ids"):
            phases = getattr(self.tt, "phases", None)
            ok = hasattr(self.tt, "lookup") and phases is not None and \
                all(p in phases for p in self.config.phases)
            self._phase_ids = (np.array([list(phases).index(p) for p in self.config.phases])
                               if ok else None)
        return self._phase_ids

    # -- main loop -------------------------------------------------------------------------
    def run(self, picks: pd.DataFrame) -> tuple[list[Hypothesis], pd.DataFrame]:
        """Associate ``picks`` (picks DataFrame, see :mod:`pipeline.picks`).

        :returns: ``(events, unassociated)``; unassociated picks include those whose station is
            not in the station table (column ``reason``).
        """
        cfg = self.config
        picks = picks.reset_index(drop=True).copy()
        sidx_all = self.station_index(picks)
        # the grid covers the stations that have picks (a large station table costs nothing)
        active = np.unique(sidx_all[sidx_all >= 0])
        key = tuple(active.tolist())
        if key not in self._grids:
            sub = self.stations.iloc[active].reset_index(drop=True)
            self._grids = {key: build_grid(sub, self.tt, cfg)}
        self.grid = self._grids[key]
        self._active = active
        # per-run numpy copies (no DataFrame indexing in the inner loops)
        act = self.stations.iloc[active].reset_index(drop=True)
        self._active_stations = act
        self._slat = act["latitude"].to_numpy(dtype=float)
        self._slon = act["longitude"].to_numpy(dtype=float)
        remap = np.full(len(self.stations), -1, dtype=int)
        remap[active] = np.arange(len(active))
        picks["_sidx"] = np.where(sidx_all >= 0, remap[np.maximum(sidx_all, 0)], -1)
        picks["_kind"] = [_phase_kind(p) for p in picks["phase"]]
        picks["station_key"] = picks["_sidx"]
        self._pt = picks["time"].to_numpy(dtype=float)
        self._ps = picks["_sidx"].to_numpy()
        self._pk = picks["_kind"].to_numpy()
        # the picks with the columns _gather adds (their values are set per hypothesis)
        self._picks_ext = picks.assign(assoc_phase="", residual=np.nan, distance_deg=np.nan)
        unknown = picks["_sidx"] < 0
        used = np.zeros(len(picks), dtype=bool)
        used[unknown.to_numpy()] = True
        times = picks["time"].to_numpy(dtype=float)
        # per-station false-pick rate, 1/s, from the stream itself (upper bound: every pick false)
        span = max(float(times.max() - times.min()) if len(times) else 0.0, self.grid.window_s)
        counts = np.bincount(picks["_sidx"][~unknown].to_numpy(), minlength=len(self._active))
        self._false_rate = np.maximum(cfg.false_pick_fraction * counts / span, cfg.false_rate_floor)
        events: list[Hypothesis] = []
        if len(times) == 0:
            return events, picks.assign(reason="")
        W = self.grid.window_s
        a = float(times[~unknown.to_numpy()].min()) - self.grid.max_tt if (~unknown).any() else 0.0
        t_end = float(times.max())
        order = np.argsort(times, kind="stable")
        sorted_t = times[order]
        known = order[picks["_sidx"].to_numpy()[order] >= 0]
        self._sorted_t = times[known]
        self._sorted_s = picks["_sidx"].to_numpy()[known]
        while a <= t_end:
            events += self._window(picks, used, a, a + W)
            a += W
            # skip stretches without unused picks (pick streams of sparse events span years)
            k = int(np.searchsorted(sorted_t, a, side="left"))
            while k < len(order) and used[order[k]]:
                k += 1
            if k >= len(order):
                break
            nxt = float(sorted_t[k]) - self.grid.max_tt
            if nxt > a:
                a = nxt
        rest = picks[~used | unknown.to_numpy()].copy()
        rest["reason"] = np.where(rest["_sidx"] < 0, "station not in the station metadata", "not associated")
        return events, rest.drop(columns=["_sidx", "_kind"])

    def _window(self, picks: pd.DataFrame, used: np.ndarray, a: float, b: float) -> list[Hypothesis]:
        cfg = self.config
        g = self.grid
        times = self._pt
        # look-ahead (window_overlap_s): hypotheses with origin times in [b, b + ov) compete
        # too; when one wins, its picks are held back for the next window instead of being
        # explained here by wrong hypotheses inside [a, b) (ov = 0: no look-ahead)
        ov = cfg.window_overlap_s
        sel = np.flatnonzero(~used & (times >= a) & (times < b + ov + g.max_tt))
        held = np.zeros(len(times), dtype=bool)
        out: list[Hypothesis] = []
        blocked: list[tuple[float, float, float]] = []
        for _ in range(cfg.max_events_per_window):
            sel = sel[~used[sel] & ~held[sel]]
            if len(sel) < cfg.min_picks:
                break
            accepted = None
            # the vote stays valid until picks are removed: walk its ranked candidates
            # rank the first few acceptable candidates by their (unlocated) score: the vote
            # maximum of a swarm often mixes picks of neighbouring events
            quick: list[tuple[float, int, float]] = []
            for node, t0 in self._vote(picks, sel, a, b + ov):
                if any(self._near(node, t0, bl) for bl in blocked):
                    continue
                if any(self._near(node, t0, (g.lat[n], g.lon[n], t)) for _, n, t in quick):
                    continue
                hyp = self._build(picks, sel, node, t0, locate=False)
                if hyp is not None and a <= hyp.time < b + ov and self._accept(hyp):
                    quick.append((hyp.score, node, t0))
                    if len(quick) >= cfg.ranked_candidates:
                        break
                    continue
                blocked.append((g.lat[node], g.lon[node], t0))
            for _, node, t0 in sorted(quick, key=lambda x: -x[0]):
                hyp = self._build(picks, sel, node, t0)
                if hyp is not None and a <= hyp.time < b + ov and self._accept(hyp):
                    accepted = hyp
                    break
                blocked.append((g.lat[node], g.lon[node], t0))
            if accepted is None:
                break
            if accepted.time >= b:  # the next window's event (look-ahead): hold its picks
                held[accepted.picks.index.to_numpy()] = True
                blocked.append((accepted.latitude, accepted.longitude, accepted.time))
                continue
            used[accepted.picks.index.to_numpy()] = True
            out.append(accepted)
            # leftovers of this event (picks beyond the residual limits) must not form a twin
            blocked.append((accepted.latitude, accepted.longitude, accepted.time))
        return out

    def _vote(self, picks, sel, a, b) -> list[tuple[int, float]]:
        """Ranked (node, origin time) candidates with enough votes (best first).

        Every (node, pick) pair within reach votes for the origin-time bin ``pick time -
        travel time``; each phase's hits are spread over its tolerance by a triangular kernel.
        Only the finite node-station travel times are visited (:class:`SparseTimes`), in chunks
        of node blocks bounded by :data:`_VOTE_CELLS` cells and pairs."""
        g = self.grid
        cfg = self.config
        binw = g.tol["P"]
        t = self._pt[sel]
        sidx = self._ps[sel]
        kind = self._pk[sel]
        nb = int(math.ceil((b - a) / binw)) + 1
        ncol = nb + 1
        n_nodes = len(g.lat)
        for ph in cfg.phases:
            if ph not in g.sparse:
                g.sparse[ph] = SparseTimes.of(g.tt[ph])
        n_blocks = -(-n_nodes // _VOTE_BLOCK)
        per_chunk = max(1, _VOTE_CELLS // max(_VOTE_BLOCK * max(ncol, len(sel) * len(cfg.phases)), 1))
        best_val = np.zeros(n_nodes, dtype=np.float32)
        best_bin = np.zeros(n_nodes, dtype=np.int64)
        allows = [(ph, (kind == "") | (kind == _phase_kind(ph))) for ph in cfg.phases]
        for b0 in range(0, n_blocks, per_chunk):
            b1 = min(n_blocks, b0 + per_chunk)
            c0, c1 = b0 * _VOTE_BLOCK, min(n_nodes, b1 * _VOTE_BLOCK)
            nrow = c1 - c0
            votes = np.zeros((nrow, ncol), dtype=np.float32)
            for ph, allow in allows:
                if not allow.any():
                    continue
                sp = g.sparse[ph]
                pick, entry = sp.entries(sidx[allow], b0, b1)
                if entry.size == 0:
                    continue
                t0 = t[allow][pick] - sp.time[entry]
                k = np.floor((t0 - a) / binw)
                ok = (k >= 0) & (k < ncol)
                hits = np.bincount((sp.node[entry][ok] - c0) * ncol + k[ok].astype(np.int64),
                                   minlength=nrow * ncol)
                hits = hits.reshape(nrow, ncol).astype(np.float32)
                # triangular spread over ±spread bins: the vote tolerance of this phase
                spread = max(1, int(round(g.tol[ph] / binw)))
                kernel = (1.0 - np.abs(np.arange(-spread, spread + 1)) / (spread + 1)).astype(np.float32)
                votes += convolve1d(hits, kernel, axis=1, mode="constant")
            best_bin[c0:c1] = votes.argmax(axis=1)
            best_val[c0:c1] = votes[np.arange(nrow), best_bin[c0:c1]]
        floor = cfg.min_picks * 0.5
        order = np.argsort(-best_val, kind="stable")
        out: list[tuple[int, float]] = []
        for node in order[: cfg.candidates_per_vote]:
            if best_val[node] < floor:
                break
            out.append((int(node), a + (best_bin[node] + 0.5) * binw))
        return out

    def _growth(self) -> dict[str, float]:
        """Residual limit growth with distance (model error), s/deg, per phase."""
        g = self.config.local if self.grid.scale == "local" else self.config.global_
        return {"P": g.residual_growth_p_s_per_deg, "S": g.residual_growth_s_s_per_deg}

    def _near(self, node: int, t0: float, bl: tuple[float, float, float]) -> bool:
        g = self.grid
        d_km = distance_deg(g.lat[node], g.lon[node], bl[0], bl[1]) * KM_PER_DEG
        # tight enough that a neighbouring event a few km / seconds away is not blocked
        return d_km <= 1.25 * g.spacing_km and abs(t0 - bl[2]) <= g.tol["S"]

    def _gather_arrays(self, sel, lat, lon, depth, t0, limits) -> tuple:
        """:meth:`_gather` as arrays ``(pick rows, phases, residuals, distances)``, in the
        order of the picks table it builds."""
        sidx = self._ps[sel]
        kind = self._pk[sel]
        t = self._pt[sel]
        best_r = np.full(len(sel), np.inf)
        best_ph = np.array([""] * len(sel), dtype=object)
        best_d = np.full(len(sel), np.nan)
        best_lim = np.ones(len(sel))
        grow = self._growth()
        for ph, (pt, d) in zip(self.config.phases, self._predict_phases(lat, lon, depth, sidx)):
            r = t - t0 - pt
            lim = limits[ph] + grow[ph] * np.nan_to_num(d)
            allow = ((kind == "") | (kind == _phase_kind(ph))) & np.isfinite(r) & (np.abs(r) <= lim)
            better = allow & (np.abs(r) / lim < np.abs(best_r) / best_lim)
            best_r = np.where(better, r, best_r)
            best_ph = np.where(better, ph, best_ph)
            best_d = np.where(better, d, best_d)
            best_lim = np.where(better, lim, best_lim)
        k = np.flatnonzero(best_ph != "")
        if k.size == 0:
            e = np.empty(0)
            return np.empty(0, dtype=int), np.empty(0, dtype=object), e, e
        rows, ss, phs, rr, dd = sel[k], sidx[k], best_ph[k], best_r[k], best_d[k]
        ar = np.abs(rr) / (np.array([limits[p] for p in phs]) + np.array([grow[p] for p in phs]) * dd)
        # one pick per station and phase (closest), one phase per pick (the order and tie
        # handling of DataFrame.sort_values("ar").drop_duplicates(...): quicksort, keep first)
        keep = []
        seen_sp: set = set()
        for q in np.argsort(ar, kind="quicksort"):
            sp = (ss[q], phs[q])
            if sp in seen_sp:
                continue
            seen_sp.add(sp)
            keep.append(q)
        keep2, seen_i = [], set()
        for q in keep:
            if rows[q] in seen_i:
                continue
            seen_i.add(rows[q])
            keep2.append(q)
        keep = np.array(keep2, dtype=int)
        return rows[keep], phs[keep], rr[keep], dd[keep]

    def _gather(self, picks, sel, lat, lon, depth, t0, limits) -> pd.DataFrame:
        """Best P and S pick per station within ``limits`` (phase → |residual| s)."""
        rows, phs, rr, dd = self._gather_arrays(sel, lat, lon, depth, t0, limits)
        if rows.size == 0:
            return picks.iloc[[]].assign(assoc_phase=[], residual=[], distance_deg=[])
        out = self._picks_ext.take(rows)  # == picks.loc[rows] + the three columns (RangeIndex)
        out["assoc_phase"] = phs
        out["residual"] = rr
        out["distance_deg"] = dd
        return out

    def _refine(self, picks, sel, node, t0) -> tuple[float, float, float, float]:
        """Finer grid search around ``node``: minimise a robust residual cost."""
        g = self.grid
        cfg = self.config
        lat0, lon0, z0 = g.lat[node], g.lon[node], g.depth[node]
        rows, assoc_phase, _, _ = self._gather_arrays(sel, lat0, lon0, z0, t0, g.tol)
        if len(rows) < 3:
            return lat0, lon0, z0, t0
        step = g.spacing_km / cfg.refine_factor
        offs = np.arange(-cfg.refine_factor, cfg.refine_factor + 1) * step
        kx = KM_PER_DEG * max(math.cos(math.radians(lat0)), 0.05)
        depths = sorted({max(0.0, z0 + dz) for dz in (np.array([-1.0, -0.5, 0, 0.5, 1.0]) *
                         (g.spacing_km if g.scale == "local" else 60.0))})
        DX, DY, DZ = np.meshgrid(offs, offs, depths, indexing="ij")
        lats = lat0 + DY.ravel() / KM_PER_DEG
        lons = lon0 + DX.ravel() / kx
        zs = DZ.ravel()
        sidx = self._ps[rows]
        tt_obs = self._pt[rows]
        d = distance_deg(lats[:, None], lons[:, None], self._slat[sidx][None, :],
                         self._slon[sidx][None, :])
        pred = np.full(d.shape, np.nan)
        ids = self._table_phase_ids()
        if ids is not None:
            # all gathered picks in one table call (same values as one call per phase)
            col_id = np.array([ids[cfg.phases.index(p)] for p in assoc_phase])
            corr = np.array([g.corr[p][s] for p, s in zip(assoc_phase, sidx)], dtype=float)
            pred[:, :] = (self.tt.time(np.broadcast_to(col_id[None, :], d.shape), d,
                                       np.broadcast_to(zs[:, None], d.shape)) + corr[None, :])
        for ph in (cfg.phases if ids is None else ()):
            m = assoc_phase == ph
            if m.any():
                pred[:, m] = (self.tt.time(ph, d[:, m], np.broadcast_to(zs[:, None], d[:, m].shape))
                              + g.corr[ph][sidx[m]][None, :])
        resid = tt_obs[None, :] - pred
        has = np.isfinite(resid).any(axis=1)
        if not has.any():
            return lat0, lon0, z0, t0
        t0s = np.full(len(lats), np.nan)
        t0s[has] = np.nanmedian(resid[has], axis=1)
        r = tt_obs[None, :] - pred - t0s[:, None]
        lim = np.array([g.tol[p] for p in assoc_phase])[None, :]
        cost = np.where(np.isfinite(r), np.minimum((r / lim) ** 2, 1.0), 1.0).sum(axis=1)
        cost[~has] = np.inf
        k = int(np.argmin(cost))
        return float(lats[k]), float(lons[k]), float(zs[k]), float(t0s[k])

    def _build(self, picks, sel, node, t0, locate: bool = True) -> Hypothesis | None:
        g = self.grid
        lat, lon, z, t0 = self._refine(picks, sel, node, t0)
        hyp_picks = self._gather(picks, sel, lat, lon, z, t0, g.res)
        hyp = Hypothesis(time=t0, latitude=lat, longitude=lon, depth_km=z, picks=hyp_picks)
        if locate and self.locate is not None and hyp.n_stations >= 3:
            for _ in range(2):
                located = self.locate(hyp, self._active_stations)
                if located is None:
                    break
                regathered = self._gather(picks, sel, located.latitude, located.longitude, located.depth_km,
                                          located.time, g.res)
                located.picks = regathered
                hyp = located
                hyp.located = True
                if len(regathered) == len(located.picks):
                    break
        hyp.score = self._score(hyp)
        return hyp

    def _score(self, hyp: Hypothesis) -> float:
        cfg = self.config
        g = self.grid
        if len(hyp.picks) == 0:
            return -np.inf
        grow = self._growth()
        phs = hyp.picks["assoc_phase"].to_numpy()
        sig = (np.array([g.res[p] for p in phs], dtype=float)
               + np.array([grow[p] for p in phs], dtype=float) * hyp.picks["distance_deg"].to_numpy()) / 2.0
        r = hyp.picks["residual"].to_numpy(dtype=float)
        dens = np.exp(-0.5 * (r / sig) ** 2) / (sig * math.sqrt(2 * math.pi))
        lam = self._false_rate[hyp.picks["_sidx"].to_numpy()]
        score = float(np.sum(np.log(cfg.p_detect * dens / lam)))
        if True:
            # a station misses the P only if it was live (it reported picks around the event)
            # and it is nearer than the stations that did detect it
            all_idx = np.arange(len(self._active))
            pt, dist = self._predict("P", hyp.latitude, hyp.longitude, hyp.depth_km, all_idx)
            p_rows = phs == "P"
            if p_rows.any():
                with_p = np.zeros(len(all_idx), dtype=bool)
                with_p[hyp.picks["_sidx"].to_numpy()[p_rows]] = True
                reach = float(np.percentile(hyp.picks["distance_deg"].to_numpy()[p_rows], 75))
                live = self._live(hyp.time)
                missed = int(np.count_nonzero(np.isfinite(pt) & (dist <= reach) & live & ~with_p))
                score += missed * math.log(1 - cfg.p_detect)
        return score

    def _live(self, t: float) -> np.ndarray:
        """Stations with at least one pick within ±``live_window_s`` of ``t``."""
        w = self.config.live_window_s
        k0 = np.searchsorted(self._sorted_t, t - w, side="left")
        k1 = np.searchsorted(self._sorted_t, t + w, side="right")
        live = np.zeros(len(self._active), dtype=bool)
        live[self._sorted_s[k0:k1]] = True
        return live

    def _accept(self, hyp: Hypothesis) -> bool:
        cfg = self.config
        if len(hyp.picks) < cfg.min_picks:
            return False
        defining = hyp.picks["station_key"].nunique()
        return defining >= cfg.min_stations and hyp.score >= cfg.min_score


def associate(picks: pd.DataFrame, stations: pd.DataFrame, tt: TravelTimes,
              config: AssociatorConfig = AssociatorConfig(),
              locate: LocateFn | None = None) -> tuple[list[Hypothesis], pd.DataFrame]:
    """Associate ``picks`` with the network ``stations`` (see :class:`Associator`)."""
    return Associator(stations, tt, config, locate).run(picks)
