"""Global association (GA): detections of all stations → event hypotheses.

Algorithm (greedy, probabilistic score in the NET-VISA spirit):

1. **Candidate generation by back-projection.** A grid of source nodes covers the region where
   the network can record events (:mod:`pipeline.association.grid`: a local lattice, a regional
   cap with a fine core over the stations, or a Fibonacci lattice over the globe; the family,
   spacing and reach are chosen from the station geometry, :mod:`pipeline.association.network`).
   Travel times from every node to every station within reach come from the precomputed tables.
   Every pick votes, for every node, for the origin time ``t_pick − T(node, station, phase)``
   under each phase it may be (its hint's kind: P-type or S-type, or both); a pick with a
   measured backazimuth/slowness (an array detection) votes only for nodes in that direction and
   at distances with that slowness. Votes are binned in origin time and spread over the vote
   tolerance of the node's level; the (node, time) bin with most votes is the best candidate.
   The votes of one processing window are computed once and the picks of each accepted event
   are subtracted from them (exact: integer weights), so the cost of the vote is linear in the
   number of picks.
2. **Gathering and refinement.** Picks whose residual at the candidate is within the vote
   tolerance are gathered (one pick per station and phase, one phase per pick); the node is
   refined on finer grids around it (robust residual cost, down to the core spacing / 4) and,
   when a locator is given, located; picks are re-gathered with the tighter association
   residual limits (growing with distance: 1-D model error), and, for picks that carry them,
   backazimuth and slowness limits.
3. **Scoring.** ``score = Σ_assoc log(p_d · N(r; σ) / λ_s) + Σ_missed log(1 − p_d)`` plus, for
   each measured backazimuth / slowness, ``log(N(r; σ) / u)`` against a uniform density ``u`` of
   a false detection's direction (1/360°) and slowness (1/20 s/deg): each associated pick
   compares the likelihood of being the event's arrival (detection probability ``p_d`` times
   the Gaussian residual density) with being a false pick at that station (rate ``λ_s`` per
   second: the prior fraction ``false_pick_fraction`` of the station's own pick rate); each live
   station (one that reported picks within ``live_window_s``) nearer to the source than most
   detecting stations but without a P pick costs ``log(1 − p_d)`` — this is what stops random
   coincidences over a large search volume from becoming events. The hypothesis is accepted
   when the score, the number of defining stations (``min_stations``, the IDC minimum rule), of
   picks and of defining data pass the config.
4. Accepted picks are removed and the search repeats; rejected candidates are blocked.

5. **Other technologies.** Infrasound (phases I, Iw, Is, It) and hydroacoustic detections (H,
   T), told by the ``technology`` column or the phase names, **do not vote** and make no
   candidate: steps 1-4 run on the seismic detections (3-C and array) alone, exactly as without
   them. They are then gathered onto the accepted seismic events where they fit (infrasound:
   inside the celerity window, backazimuth consistent; H/T: at the water-path time within the
   tolerance, unblocked paths only), their score terms added, and the events located again
   with them (:mod:`pipeline.association.fused`). An input without them costs nothing extra.

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
from scipy.ndimage import correlate1d
from scipy.special import ndtr

from pipeline.association.config import AssociatorConfig
from pipeline.association.fused import FusedModels, fused_mask
from pipeline.association.grid import (VOTE_BLOCK, Grid, SparseTimes, aperture_km, build_grid,  # noqa: F401
                                       fibonacci_sphere, phase_kind, station_corrections)
from pipeline.geo.coast import unit_vectors
from pipeline.location.geodesy import KM_PER_DEG, distance_azimuth, great_circle_deg
from pipeline.magnitude.mb import q_idc

# one spherical geometry for the whole chain (haversine, sphere of the travel-time tables)
distance_deg = great_circle_deg
_phase_kind = phase_kind
_VOTE_BLOCK = VOTE_BLOCK

#: density of a false detection's backazimuth (uniform over 360 deg) and slowness (uniform over
#: 0-20 s/deg, the range of array detections), per deg and per s/deg
_FALSE_BAZ_DENSITY = 1.0 / 360.0
_FALSE_SLOWNESS_DENSITY = 1.0 / 20.0
#: distances (deg) where the amplitude-based detection model uses the Veith-Clawson mb
_MB_MIN_DEG, _MB_MAX_DEG = 2.0, 100.0
#: bins of the stream's covered time (per-station pick rates), s
_SPAN_BIN_S = 600.0
#: (node, origin-time bin) cells of the hit counts built at once (bounds memory)
_VOTE_CELLS = 4_000_000
#: fewest chunks per worker process before the chunks are spread over processes
_CHUNKS_PER_WORKER = 4
#: (pick, node) entries visited at once when a vote is built (bounds its temporaries)
_VOTE_ENTRIES = 1_000_000


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
#: ``progress(done_s, total_s, events)``: called after each processing window
ProgressFn = Callable[[float, float, int], None]


def _direction_log_ratio(residual: np.ndarray, sigma: np.ndarray, false_density: float) -> float:
    """Sum over the finite residuals (backazimuth or slowness) of log(Gaussian density of the
    residual / density of a false detection's value)."""
    ok = np.isfinite(residual)
    if not ok.any():
        return 0.0
    r, sg = residual[ok], sigma[ok]
    return float(np.sum(np.log(np.exp(-0.5 * (r / sg) ** 2) / (sg * math.sqrt(2 * math.pi)) / false_density)))


def _release_freed_memory() -> None:
    """Give the heap's freed pages back to the system after a window (glibc keeps them in
    per-thread arenas otherwise: a long run's RSS would grow with the vote's temporaries)."""
    global _MALLOC_TRIM
    if _MALLOC_TRIM is None:
        try:
            import ctypes

            _MALLOC_TRIM = ctypes.CDLL("libc.so.6").malloc_trim
        except (OSError, AttributeError):  # not glibc
            _MALLOC_TRIM = False
    if _MALLOC_TRIM:
        _MALLOC_TRIM(0)


_MALLOC_TRIM = None


def _covered_s(times: np.ndarray) -> float:
    """The time a pick stream covers, s: its 10-minute bins holding at least a tenth of the
    median occupied bin's picks. A stream of event windows spanning years, or a stray pick an
    hour before the rest, must not dilute the per-station pick rates."""
    if not len(times):
        return 0.0
    _, counts = np.unique(np.floor(times / _SPAN_BIN_S), return_counts=True)
    return float((counts >= 0.1 * np.median(counts)).sum() * _SPAN_BIN_S)


def _row_nanmedian(x: np.ndarray) -> np.ndarray:
    """``np.nanmedian(x, axis=1)`` for rows with at least one finite value (sort-based: the
    masked-array path of nanmedian costs ~0.5 ms per call in the refinement loops)."""
    s = np.sort(x, axis=1)  # NaN last
    n = np.isfinite(x).sum(axis=1)
    i = np.arange(len(x))
    lo = s[i, np.maximum((n - 1) // 2, 0)]
    hi = s[i, np.maximum(n // 2, 0)]
    return np.where(n % 2 == 1, lo, 0.5 * (lo + hi))


def _wrap180(x):
    return (np.asarray(x, dtype=float) + 180.0) % 360.0 - 180.0


class _Vote:
    """Origin-time votes of one processing window, ``(nodes, bins)`` float32, kept up to date
    as picks are removed.

    Each (node, pick, phase) hit adds integer weights over the bins of the node level's
    tolerance (a triangle: ``s + 1 - |i|`` times the other kind's ``s + 1``, so that P and S
    peaks weigh the same), so sums and later subtractions are exact. A node's vote is its
    largest bin divided by its level's peak weight: the number of picks consistent with an
    origin there (weighted by how central they fall)."""

    def __init__(self, assoc: "Associator", rows: np.ndarray, a: float, b: float):
        g = assoc.grid
        self.assoc = assoc
        self.a = a
        self.binw = assoc.bin_width
        self.ncol = int(math.ceil((b - a) / self.binw)) + 2
        self.n_nodes = g.n_nodes
        self.V = np.zeros(self.n_nodes * self.ncol, dtype=np.float32)
        n_levels = len(g.level_slices)
        # per level and kind: spread in bins and integer weights; peak weight per level
        self.spread = {}
        self.weights = {}
        self.peak = np.ones(n_levels)
        for lv in range(n_levels):
            sp = {}
            for kind in ("P", "S"):
                ph = [p for p in g.phases if g.kinds[p] == kind]
                sp[kind] = max(1, int(round(float(g.tol[ph[0]][lv]) / self.binw))) if ph else 1
            for kind, other in (("P", "S"), ("S", "P")):
                s = sp[kind]
                self.spread[(lv, kind)] = s
                self.weights[(lv, kind)] = ((s + 1 - np.abs(np.arange(-s, s + 1)))
                                            * (sp[other] + 1)).astype(np.float32)
            self.peak[lv] = float((sp["P"] + 1) * (sp["S"] + 1))
        self._node_peak = self.peak[g.level].astype(np.float32)
        # cells of rejected candidates and of accepted events (suppressed: the next candidates
        # are fresh ones), and each node's best unsuppressed bin, kept up to date row by row
        self.mask = np.zeros((self.n_nodes, self.ncol), dtype=bool)
        self.best_bin = np.zeros(self.n_nodes, dtype=np.int64)
        self.best_val = np.zeros(self.n_nodes, dtype=np.float32)
        self._dirty = np.ones(self.n_nodes, dtype=bool)
        self._add(rows, +1.0)

    def _add(self, rows: np.ndarray, sign: float) -> None:
        """Add (``sign`` +1) the votes of pick ``rows``: hit counts per (node, bin) with one
        ``bincount`` per block of nodes and kind, spread over the bins by each level's kernel."""
        if rows.size == 0:
            return
        assoc = self.assoc
        g = assoc.grid
        t_all = assoc._pt[rows]
        s_all = assoc._ps[rows]
        k_all = assoc._pk[rows]
        pad = max(self.spread.values())
        width = self.ncol + 2 * pad
        n_blocks = -(-self.n_nodes // VOTE_BLOCK)
        threads = max(1, getattr(assoc, "_vote_threads", None) or assoc.config.vote_threads)
        blocks_per_chunk = max(1, min(_VOTE_CELLS // (VOTE_BLOCK * width), -(-n_blocks // threads)))
        by_kind = {}
        for ph in g.phases:
            allow = (k_all == "") | (k_all == g.kinds[ph])
            if allow.any():
                by_kind.setdefault(g.kinds[ph], []).append((ph, rows[allow], s_all[allow], t_all[allow]))
        V = self.V.reshape(self.n_nodes, self.ncol)
        chunks = [(b0, min(n_blocks, b0 + blocks_per_chunk)) for b0 in range(0, n_blocks, blocks_per_chunk)]
        if threads > 1 and len(chunks) > 1:
            # node blocks are independent (disjoint rows of V); numpy releases the GIL
            from concurrent.futures import ThreadPoolExecutor

            with ThreadPoolExecutor(max_workers=threads) as pool:
                list(pool.map(lambda c: self._add_block(c[0], c[1], by_kind, pad, width, V, sign), chunks))
        else:
            for b0, b1 in chunks:
                self._add_block(b0, b1, by_kind, pad, width, V, sign)

    def _add_block(self, b0: int, b1: int, by_kind: dict, pad: int, width: int, V: np.ndarray,
                   sign: float) -> None:
        """:meth:`_add` for the nodes of blocks ``b0 <= b < b1``."""
        assoc = self.assoc
        g = assoc.grid
        c0, c1 = b0 * VOTE_BLOCK, min(self.n_nodes, b1 * VOTE_BLOCK)
        # picks in batches: a batch visits at most ~_VOTE_ENTRIES (pick, node) entries, so the
        # temporaries stay bounded whatever the number of picks in the window
        batch = max(1, _VOTE_ENTRIES // max(c1 - c0, 1))
        for kind, parts in by_kind.items():
            H = None
            for ph, r_ph, sidx, t in parts:
                sp = g.sparse[ph]
                for q0 in range(0, len(sidx), batch):
                    q1 = q0 + batch
                    pick, entry = sp.entries(sidx[q0:q1], b0, b1)
                    if entry.size == 0:
                        continue
                    node = sp.node[entry]
                    mask = assoc._direction_mask(ph, r_ph[q0:q1], pick, entry, node, sp)
                    if mask is not None:
                        pick, entry, node = pick[mask], entry[mask], node[mask]
                    k = np.floor((t[q0:q1][pick] - sp.time[entry] - self.a) / self.binw).astype(np.int64) + pad
                    ok = (k >= 0) & (k < width)
                    hits = np.bincount((node[ok].astype(np.int64) - c0) * width + k[ok],
                                       minlength=(c1 - c0) * width)
                    H = hits if H is None else H + hits
            if H is None:
                continue
            H = H.astype(np.float32).reshape(c1 - c0, width)
            for lv, sl in enumerate(g.level_slices):
                r0, r1 = max(sl.start, c0), min(sl.stop, c1)
                if r1 <= r0:
                    continue
                # a hit at bin k adds w[o] to bin k + o (symmetric kernel: a correlation)
                acc = correlate1d(H[r0 - c0:r1 - c0], self.weights[(lv, kind)], axis=1,
                                  mode="constant")[:, pad:pad + self.ncol]
                if sign > 0:
                    V[r0:r1] += acc
                else:
                    V[r0:r1] -= acc

    def remove(self, rows: np.ndarray) -> None:
        """Subtract the votes of pick ``rows`` (a few picks: pick by pick, phase by phase, where
        every node occurs once, so plain fancy indexing is exact)."""
        rows = np.asarray(rows, dtype=np.int64)
        assoc = self.assoc
        g = assoc.grid
        for r in rows:
            s_, t, kd = int(assoc._ps[r]), float(assoc._pt[r]), assoc._pk[r]
            for ph in g.phases:
                kind = g.kinds[ph]
                if kd not in ("", kind):
                    continue
                sp = g.sparse[ph]
                e0, e1 = int(sp.offs[s_, 0]), int(sp.offs[s_, -1])
                if e1 <= e0:
                    continue
                entry = np.arange(e0, e1)
                node = sp.node[e0:e1]
                mask = assoc._direction_mask(ph, np.array([r]), np.zeros(e1 - e0, dtype=np.int64), entry,
                                             node, sp)
                if mask is not None:
                    entry, node = entry[mask], node[mask]
                # (float64: the epoch time with float32 travel times would be cast to float32)
                k = np.floor((t - sp.time[entry].astype(np.float64) - self.a) / self.binw).astype(np.int64)
                lv_of = g.level[node]
                base = node.astype(np.int64) * self.ncol
                # a node's largest bin stays its largest when other bins lose votes: only nodes
                # whose best bin is among the bins this pick voted for need a new maximum
                reach = max(self.spread[(int(lv), kind)] for lv in np.unique(lv_of)) if node.size else 0
                bb = self.best_bin[node]
                self._dirty[node[(bb >= k - reach) & (bb <= k + reach)]] = True
                for lv in np.unique(lv_of):
                    sel = lv_of == lv
                    kk, bb = k[sel], base[sel]
                    sl_ = self.spread[(int(lv), kind)]
                    w = self.weights[(int(lv), kind)]
                    for o in range(-sl_, sl_ + 1):
                        kb = kk + o
                        v = (kb >= 0) & (kb < self.ncol)
                        self.V[bb[v] + kb[v]] -= w[o + sl_]

    def candidates(self, n: int, floor: float) -> list[tuple[int, float]]:
        """Up to ``n`` (node, origin time) candidates with a vote >= ``floor``: the best of
        each level of spacing in turn (the best of level 0, of level 1, ..., then the second
        best of each, ...; within a level by vote, ties: lower node index). Votes of levels
        with different tolerances are not comparable (a coarse far node's wide tolerance
        gathers the picks of an event inside the network too), so every level's best is
        examined and the score decides."""
        g = self.assoc.grid
        V = self.V.reshape(self.n_nodes, self.ncol)
        dirty = np.flatnonzero(self._dirty)
        if dirty.size:
            rows = V[dirty]
            m = self.mask[dirty]
            if m.any():
                rows = np.where(m, -1.0, rows)
            bb = rows.argmax(axis=1)
            self.best_bin[dirty] = bb
            self.best_val[dirty] = rows[np.arange(dirty.size), bb] / self._node_peak[dirty]
            self._dirty[dirty] = False
        best_bin, best_val = self.best_bin, self.best_val
        per_level = []
        for sl in g.level_slices:
            v = best_val[sl]
            order = np.argsort(-v, kind="stable")[:n]
            order = order[v[order] >= floor]
            per_level.append(order + sl.start)
        out = []
        for rank in range(n):
            for nodes in per_level:
                if rank < nodes.size:
                    node = int(nodes[rank])
                    out.append((node, self.a + (best_bin[node] + 0.5) * self.binw))
            if len(out) >= n:
                break
        return out[:n]

    def suppress(self, nodes: np.ndarray, t0: float, half_width_s: float) -> None:
        """Suppress the bins within ``half_width_s`` of origin time ``t0`` at ``nodes``."""
        k0 = max(0, int(math.floor((t0 - half_width_s - self.a) / self.binw)))
        k1 = min(self.ncol, int(math.floor((t0 + half_width_s - self.a) / self.binw)) + 1)
        if k1 > k0 and len(nodes):
            self.mask[nodes, k0:k1] = True
            self._dirty[nodes] = True


class Associator:
    """Associate a pick table for one network. Build once, call :meth:`run`."""

    def __init__(self, stations: pd.DataFrame, tt: TravelTimes, config: AssociatorConfig = AssociatorConfig(),
                 locate: LocateFn | None = None, fused: "FusedModels | None" = None):
        """:param fused: the infrasound celerity windows and the hydroacoustic water-path model
        the infrasound/hydroacoustic detections are gathered with (default: their defaults;
        :mod:`pipeline.association.fused`)"""
        self.fused = fused
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

    @property
    def min_stations(self) -> int:
        """``min_stations``, or by family: 3 (global: the IDC's REB rule), else 4."""
        if self.config.min_stations != "auto":
            return self.config.min_stations
        return 3 if self.grid.scale == "global" else 4

    @property
    def min_picks(self) -> int:
        """``min_picks``, or by family: 3 (global: array detections carry azimuth and
        slowness, see ``min_defining``), else 5."""
        if self.config.min_picks != "auto":
            return self.config.min_picks
        return 3 if self.grid.scale == "global" else 5

    @property
    def window_overlap_s(self) -> float:
        """``window_overlap_s``, or the grid's largest first-P travel time (at most the
        window)."""
        if self.config.window_overlap_s != "auto":
            return float(self.config.window_overlap_s)
        g = self.grid
        return float(min(g.max_tt_phase.get(self._p_phase, 0.0), g.window_s))

    @property
    def bin_width(self) -> float:
        """Origin-time bin of the vote, s: the smallest P-type vote tolerance."""
        g = self.grid
        return float(min(g.tol_min(p) for p in g.phases if g.kinds[p] == "P"))

    def _predict(self, phase: str, lat: float, lon: float, depth: float, sidx: np.ndarray) -> tuple:
        d = distance_deg(lat, lon, self._slat[sidx], self._slon[sidx])
        t = np.asarray(self.tt.time(phase, d, np.full(d.shape, depth)), dtype=float) + self.grid.corr[phase][sidx]
        t[(d > self.grid.reach[phase]) | (d < self.grid.near_limit[phase])] = np.nan
        return t, d

    def _predict_phases(self, lat: float, lon: float, depth: float, sidx: np.ndarray) -> list:
        """:meth:`_predict` for every hypothesised phase (same values), with one table call
        when the table takes a phase per point (:class:`~pipeline.traveltime.TravelTimeTable`)."""
        phases = self.grid.phases
        ids = self._table_phase_ids()
        if ids is None or len(sidx) == 0:
            return [self._predict(ph, lat, lon, depth, sidx) for ph in phases]
        d = distance_deg(lat, lon, self._slat[sidx], self._slon[sidx])
        n = d.size
        tt_all = np.asarray(self.tt.time(np.repeat(ids, n), np.tile(d, len(phases)),
                                         np.full(n * len(phases), depth)), dtype=float)
        out = []
        for k, ph in enumerate(phases):
            t = tt_all[k * n:(k + 1) * n] + self.grid.corr[ph][sidx]
            t[(d > self.grid.reach[ph]) | (d < self.grid.near_limit[ph])] = np.nan
            out.append((t, d))
        return out

    def _table_phase_ids(self) -> np.ndarray | None:
        """Indices of the hypothesised phases in the table's phases, or None when the table
        does not take a phase per point."""
        if self._phase_ids_for != self.grid.phases:
            phases = getattr(self.tt, "phases", None)
            ok = hasattr(self.tt, "lookup") and phases is not None and \
                all(p in phases for p in self.grid.phases)
            self._phase_ids = (np.array([list(phases).index(p) for p in self.grid.phases])
                               if ok else None)
            self._phase_ids_for = self.grid.phases
        return self._phase_ids

    def _slowness(self, phase: str, d: np.ndarray, depth) -> np.ndarray:
        """Predicted horizontal slowness, s/deg (NaN when the table has none)."""
        if not hasattr(self.tt, "slowness"):
            return np.full(np.shape(d), np.nan)
        return np.asarray(self.tt.slowness(phase, d, np.broadcast_to(depth, np.shape(d))), dtype=float)

    # -- direction data (array detections) ---------------------------------------------------
    def _direction_limits(self):
        """Per-pick backazimuth and slowness limits (NaN = the pick carries none or their use
        is off)."""
        cfg = self.config
        n = len(self._pt)
        use_az = cfg.use_azimuth if cfg.use_azimuth != "auto" else self.grid.scale != "local"
        use_sl = cfg.use_slowness if cfg.use_slowness != "auto" else self.grid.scale != "local"
        baz = self._picks_ext["backazimuth"].to_numpy(dtype=float) if use_az else np.full(n, np.nan)
        bsig = self._picks_ext["backazimuth_uncertainty"].to_numpy(dtype=float) if use_az else np.full(n, np.nan)
        bsig = np.where(np.isfinite(bsig) & (bsig > 0), bsig, cfg.backazimuth_uncertainty_deg)
        slo = self._picks_ext["slowness"].to_numpy(dtype=float) if use_sl else np.full(n, np.nan)
        ssig = self._picks_ext["slowness_uncertainty"].to_numpy(dtype=float) if use_sl else np.full(n, np.nan)
        ssig = np.where(np.isfinite(ssig) & (ssig > 0), ssig, cfg.slowness_uncertainty_s_deg)
        self._baz, self._bsig = baz, bsig
        self._baz_lim = np.where(np.isfinite(baz), np.maximum(cfg.backazimuth_min_limit_deg,
                                                              cfg.backazimuth_limit_sigmas * bsig), np.nan)
        self._slo, self._ssig = slo, ssig
        self._slo_lim = np.where(np.isfinite(slo), np.maximum(cfg.slowness_min_limit_s_deg,
                                                              cfg.slowness_limit_sigmas * ssig), np.nan)
        self._has_dir = np.isfinite(baz) | np.isfinite(slo)
        self._az_cache: dict[int, np.ndarray] = {}
        self._slow_cache: dict[tuple[str, int], np.ndarray] = {}

    def _node_backazimuths(self, s: int) -> tuple[np.ndarray, np.ndarray]:
        """Backazimuth (station ``s`` -> each node) and its change across the node's cell seen
        from the station (so that the vote does not miss an event between nodes), deg, float32
        (cached per station)."""
        v = self._az_cache.get(s)
        if v is None:
            g = self.grid
            d, _, baz = distance_azimuth(g.lat, g.lon, self._slat[s], self._slon[s])
            h = g.level_spacing_km[g.level]
            blur = np.degrees(np.arctan2(0.75 * h, np.maximum(d * KM_PER_DEG, 1e-3)))
            v = self._az_cache[s] = (baz.astype(np.float32), blur.astype(np.float32))
        return v

    def _entry_slowness(self, ph: str, s: int, sp: SparseTimes) -> np.ndarray:
        """Predicted slowness of phase ``ph`` for station ``s``'s sparse entries, s/deg."""
        key = (ph, s)
        v = self._slow_cache.get(key)
        if v is None:
            g = self.grid
            e0, e1 = int(sp.offs[s, 0]), int(sp.offs[s, -1])
            nodes = sp.node[e0:e1]
            d = distance_deg(g.lat[nodes], g.lon[nodes], self._slat[s], self._slon[s])
            v = self._slow_cache[key] = self._slowness(ph, d, g.depth[nodes]).astype(np.float32)
        return v

    def _direction_mask(self, ph, rows, pick, entry, node, sp: SparseTimes):
        """Which (pick, node) entries agree with the picks' measured backazimuth / slowness
        (None: no pick of ``rows`` carries one)."""
        has = self._has_dir[rows]
        if not has.any():
            return None
        mask = np.ones(entry.size, dtype=bool)
        for j in np.flatnonzero(has):
            r = rows[j]
            lo = np.searchsorted(pick, j, side="left")
            hi = np.searchsorted(pick, j, side="right")
            if hi <= lo:
                continue
            s = int(self._ps[r])
            m = np.ones(hi - lo, dtype=bool)
            nd = node[lo:hi]
            if np.isfinite(self._baz[r]):
                az, blur = self._node_backazimuths(s)
                m &= np.abs(_wrap180(self._baz[r] - az[nd])) <= self._baz_lim[r] + blur[nd]
            if np.isfinite(self._slo[r]):
                u = self._entry_slowness(ph, s, sp)[entry[lo:hi] - sp.offs[s, 0]]
                # slowness change across a node cell: ~0.5 s/deg per degree of spacing
                blur = 0.5 * self.grid.level_spacing_km[self.grid.level[nd]] / KM_PER_DEG
                m &= ~(np.abs(self._slo[r] - u) > self._slo_lim[r] + blur)
            mask[lo:hi] = m
        return mask

    # -- main loop -------------------------------------------------------------------------
    def run(self, picks: pd.DataFrame, progress: ProgressFn | None = None
            ) -> tuple[list[Hypothesis], pd.DataFrame]:
        """Associate ``picks`` (picks DataFrame, see :mod:`pipeline.picks`).

        :param progress: called after each processing window with (seconds of the stream
            done, seconds in all, events so far)
        :returns: ``(events, unassociated)``; unassociated picks include those whose station is
            not in the station table (column ``reason``).
        """
        cfg = self.config
        picks = picks.reset_index(drop=True).copy()
        fused = fused_mask(picks)
        if fused.any():
            # the seismic detections make the events, the others join them (pipeline.association.fused)
            return self._run_fused(picks, fused, progress)
        sidx_all = self.station_index(picks)
        # the grid covers the stations that have picks (a large station table costs nothing)
        active = np.unique(sidx_all[sidx_all >= 0])
        key = tuple(active.tolist())
        if key not in self._grids:
            sub = self.stations.iloc[active].reset_index(drop=True)
            n_known = int((sidx_all >= 0).sum())
            self._grids = {key: build_grid(sub, self.tt, cfg, n_picks=n_known)} if len(active) else {}
        if not len(active):
            rest = picks.assign(reason="station not in the station metadata")
            return [], rest
        self.grid = self._grids[key]
        self._phase_ids_for = None
        self._node_tree = None
        self._p_phase = next(p for p in self.grid.phases if self.grid.kinds[p] == "P")
        self._active = active
        # per-run numpy copies (no DataFrame indexing in the inner loops)
        act = self.stations.iloc[active].reset_index(drop=True)
        self._active_stations = act
        self._slat = act["latitude"].to_numpy(dtype=float)
        self._slon = act["longitude"].to_numpy(dtype=float)
        remap = np.full(len(self.stations), -1, dtype=int)
        remap[active] = np.arange(len(active))
        picks["_sidx"] = np.where(sidx_all >= 0, remap[np.maximum(sidx_all, 0)], -1)
        picks["_kind"] = [phase_kind(p) for p in picks["phase"]]
        picks["station_key"] = picks["_sidx"]
        self._pt = picks["time"].to_numpy(dtype=float)
        self._ps = picks["_sidx"].to_numpy()
        self._pk = picks["_kind"].to_numpy()
        # the picks with the columns _gather adds (their values are set per hypothesis)
        self._picks_ext = picks.assign(assoc_phase="", residual=np.nan, distance_deg=np.nan)
        if "backazimuth" not in self._picks_ext.columns:
            for c in ("backazimuth", "backazimuth_uncertainty", "slowness", "slowness_uncertainty"):
                self._picks_ext[c] = np.nan
        self._direction_limits()
        eps = cfg.phase_hint_error
        self._hint_penalty = 2.0 * math.log((1.0 - eps) / eps) if eps > 0 else None
        unknown = picks["_sidx"] < 0
        used = np.zeros(len(picks), dtype=bool)
        used[unknown.to_numpy()] = True
        times = picks["time"].to_numpy(dtype=float)
        # per-station false-pick rate, 1/s, from the stream itself (upper bound: every pick false)
        span = max(_covered_s(times[~unknown.to_numpy()]), self.grid.window_s)
        counts = np.bincount(picks["_sidx"][~unknown].to_numpy(), minlength=len(self._active))
        self._false_rate = np.maximum(cfg.false_pick_fraction * counts / span, cfg.false_rate_floor)
        self._detection_model(picks, counts, span)
        if len(times) == 0:
            return [], picks.assign(reason="")
        W = self.grid.window_s
        # the vote array of a window is bounded: shorten the window for very fine grids
        binw = self.bin_width
        max_cols = max(8, cfg.max_vote_cells // max(self.grid.n_nodes, 1))
        W = float(max(min(W, max_cols * binw - self.window_overlap_s), 4 * binw))
        self._W = W
        known_mask = ~unknown.to_numpy()
        t_first = float(times[known_mask].min()) if known_mask.any() else 0.0
        # windows on a fixed grid of epoch time (multiples of W): the result does not depend on
        # when the first pick happens to be (a pick moving by a second must not shift every window)
        start = math.floor((t_first - self.grid.max_tt) / W) * W
        t_end = float(times.max())
        order = np.argsort(times, kind="stable")
        self._order = order
        self._sorted_all = times[order]
        known = order[picks["_sidx"].to_numpy()[order] >= 0]
        self._sorted_t = times[known]
        self._sorted_s = picks["_sidx"].to_numpy()[known]
        self._picks_run = picks
        self._unknown = unknown.to_numpy()
        chunks = self._chunks(start, t_end, W)
        self._chunk_list = chunks
        total = t_end - start
        found: list[list[Hypothesis]] = []
        n_events = 0
        # worker processes pay off from a few chunks each (each chunk repeats its warm-up, each
        # worker holds its own vote arrays): a day on a global grid (~5 chunks) stays in this
        # process, a day of a local network (24) or a multi-year stream is spread
        workers = max(1, min(self.workers, len(chunks) // _CHUNKS_PER_WORKER))
        if workers > 1:
            import multiprocessing as mp

            global _FORKED
            _FORKED = self
            try:
                with mp.get_context("fork").Pool(workers) as pool:
                    for k, evs in pool.imap(_chunk_worker, range(len(chunks))):
                        found.append(evs)
                        n_events += len(evs)
                        if progress is not None:
                            progress(min(chunks[k][1], t_end) - start, total, n_events)
            finally:
                _FORKED = None
        else:
            for k in range(len(chunks)):
                evs = self._run_chunk(chunks[k], None if len(chunks) > 1 or progress is None else
                                      (lambda t, n: progress(min(t, t_end) - start, total, n)))
                found.append(evs)
                n_events += len(evs)
                if progress is not None and len(chunks) > 1:
                    progress(min(chunks[k][1], t_end) - start, total, n_events)
        events = _merge_chunks(found, self.min_picks)
        used = self._unknown.copy()
        for h in events:
            used[h.picks.index.to_numpy()] = True
        rest = picks[~used | self._unknown].copy()
        rest["reason"] = np.where(rest["_sidx"] < 0, "station not in the station metadata", "not associated")
        return events, rest.drop(columns=["_sidx", "_kind"])

    def _run_fused(self, picks: pd.DataFrame, fused: np.ndarray, progress: ProgressFn | None
                   ) -> tuple[list[Hypothesis], pd.DataFrame]:
        """:meth:`run` on the seismic detections, then the infrasound and hydroacoustic
        detections gathered onto its events (:mod:`pipeline.association.fused`) and each event
        that gathered some located again with them. Pick rows stay positions in ``picks``."""
        from pipeline.association.fused import FusedGatherer, FusedModels, assign

        seis_pos = np.flatnonzero(~fused)
        fused_pos = np.flatnonzero(fused)
        if seis_pos.size:
            events, rest = self.run(picks.iloc[seis_pos], progress=progress)
        else:
            events, rest = [], picks.iloc[[]].assign(station_key=[], reason=[])
        for h in events:  # positions in the seismic table -> positions in picks
            h.picks.index = seis_pos[h.picks.index.to_numpy()]
            loc = h.extra.get("location")
            if loc is not None and hasattr(loc, "arrivals"):
                loc.arrivals.index = seis_pos[loc.arrivals.index.to_numpy()]
        rest.index = seis_pos[rest.index.to_numpy()]
        gatherer = FusedGatherer(picks.iloc[fused_pos].set_index(fused_pos), self.stations, self.config,
                                 self.fused or FusedModels())
        cands = []
        for k, h in enumerate(events):
            cands += gatherer.candidates(k, h.latitude, h.longitude, h.time)
        joined = assign(cands)
        taken = np.zeros(len(picks), dtype=bool)
        claimed = {c["row"] for c in joined}
        for k, h in enumerate(events):
            mine = [c for c in joined if c["event"] == k]
            best = None
            # gathered, located with them, gathered again at the new location (a detection
            # outside its tolerance from the seismic location may fit the better one), up to 3 times
            for _ in range(3):
                if not mine:
                    break
                new = self._with_fused(h, mine, fused_pos, picks)
                if new is None:
                    break  # the event does not locate with them: they stay unassociated
                best = (new, mine)
                if self.locate is None:
                    break
                free = {c["row"] for c in mine} | (set(range(len(fused_pos))) - claimed)
                again = assign([c for c in gatherer.candidates(k, new.latitude, new.longitude, new.time)
                                if c["row"] in free])
                if {(c["row"], c["phase"]) for c in again} == {(c["row"], c["phase"]) for c in mine}:
                    break
                mine = again
            if best is None:
                continue
            events[k], mine = best
            claimed |= {c["row"] for c in mine}
            taken[fused_pos[[c["row"] for c in mine]]] = True
        left = fused_pos[~taken[fused_pos]]
        if left.size:
            known = np.isfinite(gatherer.slat[~taken[fused_pos]])
            extra = picks.iloc[left].assign(station_key=-1, reason=np.where(
                known, "not associated", "station not in the station metadata"))
            rest = pd.concat([rest, extra]).sort_index()
        return events, rest

    def _with_fused(self, h: Hypothesis, mine: list[dict], fused_pos: np.ndarray, picks: pd.DataFrame
                    ) -> Hypothesis | None:
        """Event ``h`` (seismic arrivals) with the fused detections ``mine`` added, score
        raised by their terms, located again (None: it does not locate)."""
        rows = np.array([fused_pos[c["row"]] for c in mine])
        add = picks.iloc[rows].assign(
            assoc_phase=[c["phase"] for c in mine], residual=[c["residual"] for c in mine],
            distance_deg=[c["distance_deg"] for c in mine],
            backazimuth_residual=[c["backazimuth_residual"] for c in mine], slowness_residual=np.nan,
            station_key=[f"fused:{c['station']}" for c in mine])
        add.index = rows
        seismic = h.picks[~h.picks.index.isin(fused_pos)]
        new = Hypothesis(time=h.time, latitude=h.latitude, longitude=h.longitude, depth_km=h.depth_km,
                         picks=pd.concat([seismic, add]), score=h.score + sum(c["llr"] for c in mine),
                         located=h.located, extra={k_: v for k_, v in h.extra.items() if k_ != "location"})
        if self.locate is None:
            return new
        located = self.locate(new, self.stations)
        if located is None:
            return None
        new.time, new.latitude, new.longitude, new.depth_km = (located.time, located.latitude, located.longitude,
                                                               located.depth_km)
        new.located = True
        new.extra.update(located.extra)
        return new

    @property
    def workers(self) -> int:
        """``workers``, or "auto": the CPUs this process may use."""
        import multiprocessing as mp

        if mp.current_process().daemon:
            return 1  # a pool worker (e.g. some executors' task processes) cannot have children
        w = self.config.workers
        if w == "auto":
            import os

            try:
                return max(1, len(os.sched_getaffinity(0)))
            except AttributeError:  # pragma: no cover - not Linux
                return max(1, os.cpu_count() or 1)
        return int(w)

    def _chunks(self, start: float, t_end: float, W: float) -> list[tuple[float, float]]:
        """Origin-time chunks ``[T_k, T_k+1)`` on the epoch grid of windows (``chunk_s``, "auto":
        at least an hour and 8 times the warm-up, whole windows). They are associated
        independently (in parallel with ``workers``), the same way whatever the worker count."""
        cfg = self.config
        warm = self.grid.max_tt + self.window_overlap_s
        if cfg.chunk_s == "auto":
            length = max(3600.0, 8.0 * warm)
        else:
            length = float(cfg.chunk_s)
        n_w = max(1, math.ceil(length / W))
        length = n_w * W
        # only chunks that can hold an event: with picks in [T_k, T_k+1 + max_tt) (a stream of
        # sparse event windows spanning years has few)
        t = self._sorted_t
        if not t.size:
            return [(math.floor(start / length) * length, math.floor(start / length) * length + length)]
        ids = np.unique(np.concatenate([np.floor(t / length), np.floor((t - self.grid.max_tt) / length)]))
        return [(float(k) * length, float(k + 1) * length) for k in ids]

    def _run_chunk(self, chunk: tuple[float, float], progress=None) -> list[Hypothesis]:
        """The events with origin times in ``chunk``: its windows are processed after warm-up
        windows (the largest travel time plus the look-ahead before it) whose events only take
        their picks (they belong to the chunk before)."""
        c0, c1 = chunk
        W = self._W
        self._loc_memo: dict = {}
        warm = self.grid.max_tt + self.window_overlap_s
        a = c0 - math.ceil(warm / W) * W
        used = self._unknown.copy()
        order, sorted_t = self._order, self._sorted_all
        # the first window with an unused pick
        k = int(np.searchsorted(sorted_t, a, side="left"))
        if k >= len(order):
            return []
        a = max(a, math.floor((float(sorted_t[k]) - self.grid.max_tt) / W) * W)
        out: list[Hypothesis] = []
        while a < c1:
            evs = self._window(self._picks_run, used, a, a + W)
            out += [e for e in evs if c0 <= e.time < c1]
            _release_freed_memory()
            a += W
            if progress is not None:
                progress(a, len(out))
            # skip stretches without unused picks (pick streams of sparse events span years)
            k = int(np.searchsorted(sorted_t, a, side="left"))
            while k < len(order) and used[order[k]]:
                k += 1
            if k >= len(order):
                break
            nxt = math.floor((float(sorted_t[k]) - self.grid.max_tt) / W) * W
            if nxt > a:
                a = nxt
        return out

    def _window(self, picks: pd.DataFrame, used: np.ndarray, a: float, b: float) -> list[Hypothesis]:
        cfg = self.config
        g = self.grid
        times = self._pt
        # look-ahead (window_overlap_s): hypotheses with origin times in [b, b + ov) compete
        # too; when one wins, its picks are held back for the next window instead of being
        # explained here by wrong hypotheses inside [a, b) (ov = 0: no look-ahead)
        ov = self.window_overlap_s
        sel = np.flatnonzero(~used & (times >= a) & (times < b + ov + g.max_tt))
        if len(sel) < self.min_picks:
            return []
        held = np.zeros(len(times), dtype=bool)
        out: list[Hypothesis] = []
        vote = _Vote(self, sel, a, b + ov)
        floor = self.min_picks * 0.5
        # a candidate of the look-ahead may refine to a later time: an event there is held (its
        # picks kept for the next window and taken out of this vote) rather than rejected, or
        # the halo of a large event just after the window would use up the candidates
        late = b + ov + g.max_tt
        misses = 0  # candidates rejected since the last accepted event
        n_events = 0
        # acceptable candidates evaluated (quick) and not yet built: (score, node, t0, pick rows).
        # They stay valid until an accepted event takes one of their picks, so a swarm's
        # candidates are not evaluated again after every event
        pool: list[tuple[float, int, float, np.ndarray]] = []
        while n_events < cfg.max_events_per_window and misses < cfg.max_rejections:
            sel = sel[~used[sel] & ~held[sel]]
            if len(sel) < self.min_picks:
                break
            exhausted = False
            if len(pool) < cfg.ranked_candidates:
                # rank a few acceptable candidates by their (unlocated) score: the vote maximum
                # of a swarm often mixes picks of neighbouring events. A rejected candidate's
                # vote cells are suppressed: the next candidates are fresh ones
                cands = vote.candidates(cfg.candidates_per_vote, floor)
                exhausted = not cands
                for node, t0 in cands:
                    if any(self._near(node, t0, (g.lat[n], g.lon[n], t, self._node_h(n))) for _, n, t, _ in pool):
                        continue
                    hyp = self._evaluate(sel, node, t0, full=False)
                    if a <= hyp.time < late and self._accept(hyp):
                        pool.append((hyp.score, node, t0, hyp.rows))
                        if len(pool) >= cfg.ranked_candidates:
                            break
                        continue
                    self._suppress(vote, node, t0)
                    misses += 1
                    if misses >= cfg.max_rejections:
                        break
            if not pool:
                if exhausted:
                    break
                continue
            pool.sort(key=lambda x: -x[0])
            accepted = None
            while pool:
                _, node, t0, _ = pool.pop(0)
                hyp = self._build(picks, sel, node, t0)
                if hyp is not None and a <= hyp.time < late and self._accept(hyp):
                    accepted = hyp
                    break
                self._suppress(vote, node, t0)
                misses += 1
            if accepted is None:
                continue
            misses = 0
            rows = accepted.picks.index.to_numpy()
            vote.remove(rows)
            pool = [p for p in pool if not np.isin(p[3], rows).any()]
            # leftovers of this event (picks beyond the residual limits) must not form a twin
            self._suppress_at(vote, accepted.latitude, accepted.longitude, accepted.time)
            if accepted.time >= b:  # the next window's event (look-ahead): hold its picks
                held[rows] = True
                continue
            used[rows] = True
            out.append(accepted)
            n_events += 1
        return out

    def _suppress(self, vote: _Vote, node: int, t0: float) -> None:
        """Suppress a rejected candidate: its node's neighbourhood (:meth:`_near`) at t0."""
        g = self.grid
        self._suppress_at(vote, float(g.lat[node]), float(g.lon[node]), t0, self._node_h(node),
                          int(g.level[node]))

    def _suppress_at(self, vote: _Vote, lat: float, lon: float, t0: float, h: float | None = None,
                     level: int = 0) -> None:
        g = self.grid
        h = g.spacing_km if h is None else h
        nodes = self._nodes_within(lat, lon, 1.25 * h)
        vote.suppress(nodes, t0, float(g.tol[self._p_phase][level]))

    def _nodes_within(self, lat: float, lon: float, km: float) -> np.ndarray:
        """Nodes (all depths) whose epicentre is within ``km`` of (lat, lon)."""
        g = self.grid
        if self._node_tree is None:
            from scipy.spatial import cKDTree

            self._node_tree = cKDTree(unit_vectors(g.lat, g.lon))
        chord = 2.0 * math.sin(min(math.pi, km / KM_PER_DEG * math.pi / 180.0) / 2.0)
        return np.asarray(self._node_tree.query_ball_point(unit_vectors(lat, lon), chord + 1e-12),
                          dtype=np.int64)

    def _node_h(self, node: int) -> float:
        return float(self.grid.level_spacing_km[self.grid.level[node]])

    def _near(self, node: int, t0: float, bl: tuple[float, float, float, float]) -> bool:
        g = self.grid
        d_km = distance_deg(g.lat[node], g.lon[node], bl[0], bl[1]) * KM_PER_DEG
        # tight enough that a neighbouring event a few km / seconds away is not blocked
        h = max(self._node_h(node), bl[3])
        lv = int(g.level[node])
        # within one P vote tolerance: an event a little later at the same place (a swarm,
        # aftershocks) is another event, not a twin
        tol_s = float(g.tol[self._p_phase][lv])
        return d_km <= 1.25 * h and abs(t0 - bl[2]) <= tol_s

    def _gather_arrays(self, sel, lat, lon, depth, t0, limits) -> tuple:
        """:meth:`_gather` as arrays ``(pick rows, phases, residuals, distances, backazimuth
        residuals, slowness residuals)``, in the order of the picks table it builds.

        :param limits: phase -> time residual limit at zero distance, s (grows with distance)
        """
        sidx = self._ps[sel]
        kind = self._pk[sel]
        t = self._pt[sel]
        g = self.grid
        n = len(sel)
        best_r = np.full(n, np.inf)
        best_ph = np.array([""] * n, dtype=object)
        best_d = np.full(n, np.nan)
        best_lim = np.ones(n)
        best_rb = np.full(n, np.nan)
        best_rs = np.full(n, np.nan)
        grow = g.growth
        dirs = self._has_dir[sel]
        rb_all = None
        if dirs.any():
            _, _, pbaz = distance_azimuth(lat, lon, self._slat[sidx], self._slon[sidx])
            rb_all = _wrap180(self._baz[sel] - pbaz)
        soft = self._hint_penalty is not None
        best_cost = np.full(n, np.inf)
        # predictions depend on the station only: once per station of the window's picks
        ust, inv = np.unique(sidx, return_inverse=True)
        for ph, (pt_u, d_u) in zip(g.phases, self._predict_phases(lat, lon, depth, ust)):
            pt, d = pt_u[inv], d_u[inv]
            r = t - t0 - pt
            lim = np.minimum(limits[ph] + grow[ph] * np.nan_to_num(d), max(limits[ph], g.res_max[ph]))
            match = (kind == "") | (kind == g.kinds[ph])
            allow = (match | soft) & np.isfinite(r) & (np.abs(r) <= lim)
            # -2 log-likelihood of the residual (sigma = limit / 2) and of the pick's P/S hint
            # being wrong when the phase is of the other kind
            cost = (2.0 * r / lim) ** 2 + (np.where(match, 0.0, self._hint_penalty) if soft else 0.0)
            rb = rs = None
            if rb_all is not None:
                rb = rb_all
                allow &= ~(np.abs(rb) > self._baz_lim[sel])
                sl = np.isfinite(self._slo[sel]) & allow
                rs = np.full(n, np.nan)
                if sl.any():
                    rs[sl] = self._slo[sel][sl] - self._slowness(ph, d[sl], depth)
                    allow &= ~(np.abs(rs) > self._slo_lim[sel])
            better = allow & (cost < best_cost)
            best_cost = np.where(better, cost, best_cost)
            best_r = np.where(better, r, best_r)
            best_ph = np.where(better, ph, best_ph)
            best_d = np.where(better, d, best_d)
            best_lim = np.where(better, lim, best_lim)
            if rb is not None:
                best_rb = np.where(better, rb, best_rb)
                best_rs = np.where(better, rs, best_rs)
        k = np.flatnonzero(best_ph != "")
        if k.size == 0:
            e = np.empty(0)
            return np.empty(0, dtype=int), np.empty(0, dtype=object), e, e, e, e
        rows, ss, phs, rr, dd = sel[k], sidx[k], best_ph[k], best_r[k], best_d[k]
        ar = best_cost[k]
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
        return rows[keep], phs[keep], rr[keep], dd[keep], best_rb[k][keep], best_rs[k][keep]

    def _refine(self, picks, sel, node, t0, full: bool = True) -> tuple[float, float, float, float]:
        """Finer grid searches around ``node`` (steps of its spacing / ``refine_factor``, then
        / ``refine_factor`` again while coarser than the finest level's): minimise a robust
        residual cost."""
        g = self.grid
        cfg = self.config
        lv = int(g.level[node])
        lat0, lon0, z0 = float(g.lat[node]), float(g.lon[node]), float(g.depth[node])
        tol = {p: float(g.tol[p][lv]) for p in g.phases}
        rows, assoc_phase, _, d_node, _, _ = self._gather_arrays(sel, lat0, lon0, z0, t0, tol)
        if len(rows) < 3:
            return lat0, lon0, z0, t0
        h = float(g.level_spacing_km[lv])
        # the quick pass (ranking of candidates) searches a coarser 5 x 5 x 3 neighbourhood
        rf = cfg.refine_factor if full else max(1, cfg.refine_factor // 2)
        zf = (-1.0, -0.5, 0.0, 0.5, 1.0) if full else (-1.0, 0.0, 1.0)
        step = h / rf
        dz = g.refine_depth_km
        sidx = self._ps[rows]
        tt_obs = self._pt[rows]
        ids = self._table_phase_ids()
        tol_pick = np.array([tol[p] for p in assoc_phase])
        # the association residual limit of each pick (at its distance from the node)
        res_pick = np.minimum(np.array([g.res[p] for p in assoc_phase])
                              + np.array([g.growth[p] for p in assoc_phase]) * np.nan_to_num(d_node),
                              np.array([max(g.res[p], g.res_max[p]) for p in assoc_phase]))
        corr = np.array([g.corr[p][s] for p, s in zip(assoc_phase, sidx)], dtype=float)
        best = (lat0, lon0, z0, t0)
        while True:
            # misfit scale of this level: what the step can leave unexplained (the vote
            # tolerance shrinks with the step), at least the association limit: a loose scale
            # lets the picks of two events close in time (a swarm) fit one wrong place
            lim = np.maximum(res_pick, tol_pick * step / h)[None, :]
            offs = np.arange(-rf, rf + 1) * step
            kx = KM_PER_DEG * max(math.cos(math.radians(best[0])), 0.05)
            depths = sorted({max(0.0, best[2] + f * dz) for f in zf})
            DX, DY, DZ = np.meshgrid(offs, offs, depths, indexing="ij")
            lats = best[0] + DY.ravel() / KM_PER_DEG
            lons = best[1] + DX.ravel() / kx
            zs = DZ.ravel()
            d = distance_deg(lats[:, None], lons[:, None], self._slat[sidx][None, :],
                             self._slon[sidx][None, :])
            pred = np.full(d.shape, np.nan)
            if ids is not None:
                # all gathered picks in one table call (same values as one call per phase)
                col_id = np.array([ids[g.phases.index(p)] for p in assoc_phase])
                pred[:, :] = (self.tt.time(np.broadcast_to(col_id[None, :], d.shape), d,
                                           np.broadcast_to(zs[:, None], d.shape)) + corr[None, :])
            else:
                for ph in g.phases:
                    m = assoc_phase == ph
                    if m.any():
                        pred[:, m] = (self.tt.time(ph, d[:, m], np.broadcast_to(zs[:, None], d[:, m].shape))
                                      + g.corr[ph][sidx[m]][None, :])
            resid = tt_obs[None, :] - pred
            has = np.isfinite(resid).any(axis=1)
            if not has.any():
                return best
            t0s = np.full(len(lats), np.nan)
            t0s[has] = _row_nanmedian(resid[has])
            r = tt_obs[None, :] - pred - t0s[:, None]
            cost = np.where(np.isfinite(r), np.minimum((r / lim) ** 2, 1.0), 1.0).sum(axis=1)
            cost[~has] = np.inf
            k = int(np.argmin(cost))
            best = (float(lats[k]), float(lons[k]), float(zs[k]), float(t0s[k]))
            if not full or step <= (g.fine_km or g.spacing_km) / cfg.refine_factor * 1.001:
                return best
            step /= cfg.refine_factor
            dz = max(dz / cfg.refine_factor, g.refine_depth_km / cfg.refine_factor)

    def _evaluate(self, sel, node, t0, full: bool = True) -> "_Candidate":
        """Refine a (node, origin time) candidate, gather its picks and score it (arrays only:
        no DataFrame). ``full=False``: one refinement level (ranking of candidates)."""
        lat, lon, z, t0 = self._refine(None, sel, node, t0, full=full)
        rows, phs, rr, dd, rb, rs = self._gather_arrays(sel, lat, lon, z, t0, self.grid.res)
        c = _Candidate(t0, lat, lon, z, rows, phs, rr, dd, rb, rs)
        c.score = self._score_arrays(c)
        return c

    def _hypothesis(self, c: "_Candidate") -> Hypothesis:
        """A :class:`Hypothesis` (picks DataFrame) from a candidate's arrays."""
        if c.rows.size == 0:
            picks = self._picks_ext.iloc[[]].assign(backazimuth_residual=[], slowness_residual=[])
        else:
            picks = self._picks_ext.take(c.rows)  # == picks.loc[rows] + the added columns
            picks["assoc_phase"] = c.phases
            picks["residual"] = c.residual
            picks["distance_deg"] = c.distance
            picks["backazimuth_residual"] = c.baz_residual
            picks["slowness_residual"] = c.slowness_residual
        return Hypothesis(time=c.time, latitude=c.latitude, longitude=c.longitude, depth_km=c.depth_km,
                          picks=picks, score=c.score)

    def _build(self, picks, sel, node, t0, locate: bool = True) -> Hypothesis | None:
        """The hypothesis of a candidate, refined, located (when a locator is given) and its
        picks gathered again at the location."""
        c = self._evaluate(sel, node, t0)
        hyp = self._hypothesis(c)
        if locate and self.locate is not None and hyp.n_stations >= 3:
            for _ in range(2):
                located = self._located(hyp)
                if located is None:
                    break
                c2 = self._gather_candidate(sel, located.latitude, located.longitude, located.depth_km,
                                            located.time)
                regathered = self._hypothesis(c2)
                same = (len(regathered.picks) == len(located.picks)
                        and np.array_equal(np.sort(regathered.picks.index.to_numpy()),
                                           np.sort(located.picks.index.to_numpy()))
                        and np.array_equal(regathered.picks.sort_index()["assoc_phase"].to_numpy(),
                                           located.picks.sort_index()["assoc_phase"].to_numpy()))
                if not same:
                    located.extra.pop("location", None)  # located on another pick set
                located.picks = regathered.picks
                located.score = c2.score
                hyp = located
                hyp.located = True
                c = c2
                if same:
                    break
        hyp.score = c.score
        return hyp

    def _located(self, hyp: Hypothesis) -> Hypothesis | None:
        """``self.locate(hyp)``, memoised per chunk on the hypothesis' picks and phases: the
        same pick set is met again when a look-ahead event is built once more in the next
        window, or a rejected candidate comes back after other events took their picks; its
        location from the same data is the same (the locator converges from either start)."""
        key = (hyp.picks.index.to_numpy().tobytes(), tuple(hyp.picks["assoc_phase"]))
        memo = self._loc_memo
        if key not in memo:
            memo[key] = self.locate(hyp, self._active_stations)
        found = memo[key]
        if found is None:
            return None
        # a copy: the caller replaces its picks and score
        return Hypothesis(time=found.time, latitude=found.latitude, longitude=found.longitude,
                          depth_km=found.depth_km, picks=hyp.picks, score=hyp.score, located=True,
                          extra=dict(found.extra))

    def _gather_candidate(self, sel, lat, lon, depth, t0) -> "_Candidate":
        rows, phs, rr, dd, rb, rs = self._gather_arrays(sel, lat, lon, depth, t0, self.grid.res)
        c = _Candidate(t0, lat, lon, depth, rows, phs, rr, dd, rb, rs)
        c.score = self._score_arrays(c)
        return c

    def _score(self, hyp: Hypothesis) -> float:
        """Score of a hypothesis (see the module docstring)."""
        p = hyp.picks
        n = len(p)
        col = (lambda k: p[k].to_numpy(dtype=float) if k in p.columns else np.full(n, np.nan))
        c = _Candidate(hyp.time, hyp.latitude, hyp.longitude, hyp.depth_km, p.index.to_numpy(),
                       p["assoc_phase"].to_numpy() if n else np.empty(0, dtype=object),
                       col("residual"), col("distance_deg"), col("backazimuth_residual"),
                       col("slowness_residual"))
        return self._score_arrays(c)

    def _score_arrays(self, c: "_Candidate") -> float:
        cfg = self.config
        g = self.grid
        if c.rows.size == 0:
            return -np.inf
        phs, dist, r = c.phases, c.distance, c.residual
        sig = np.minimum(np.array([g.res[p] for p in phs], dtype=float)
                         + np.array([g.growth[p] for p in phs], dtype=float) * dist,
                         np.array([g.res_max[p] for p in phs], dtype=float)) / 2.0
        dens = np.exp(-0.5 * (r / sig) ** 2) / (sig * math.sqrt(2 * math.pi))
        sidx = self._ps[c.rows]
        lam = self._false_rate[sidx]
        score = float(np.sum(np.log(cfg.p_detect * dens / lam)))
        if self._hint_penalty is not None:
            hk = self._pk[c.rows]
            wrong = (hk != "") & (hk != np.array([g.kinds[p] for p in phs]))
            score -= 0.5 * self._hint_penalty * int(wrong.sum())
        score += _direction_log_ratio(c.baz_residual, self._bsig[c.rows], _FALSE_BAZ_DENSITY)
        score += _direction_log_ratio(c.slowness_residual, self._ssig[c.rows], _FALSE_SLOWNESS_DENSITY)
        # stations that should have detected the P but did not (only live ones: they reported
        # picks around the event time)
        p_rows = np.array([g.kinds[p] == "P" for p in phs])
        if not p_rows.any():
            return score
        all_idx = np.arange(len(self._active))
        pt, d_all = self._predict(self._p_phase, c.latitude, c.longitude, c.depth_km, all_idx)
        with_p = np.zeros(len(all_idx), dtype=bool)
        with_p[sidx[p_rows]] = True
        live = self._live(c.time)
        pd_sta = self._detection_probability(c, p_rows, d_all)
        if pd_sta is not None:
            # amplitude-based detection model (NET-VISA spirit): each live station within the
            # model's range detects the P with the probability its noise level gives for the
            # event's mb; the detected ones replace the flat p_detect of their time term
            use = np.isfinite(pd_sta) & np.isfinite(pt) & live
            det = use & with_p
            score += float(np.sum(np.log(pd_sta[det])) - det.sum() * math.log(cfg.p_detect))
            score += float(np.sum(np.log1p(-pd_sta[use & ~with_p])))
            return score
        # flat model: a live station nearer than most detecting stations misses with 1 - p_detect
        reach = float(np.percentile(dist[p_rows], 75))
        missed = int(np.count_nonzero(np.isfinite(pt) & (d_all <= reach) & live & ~with_p))
        return score + missed * math.log(1 - cfg.p_detect)

    def _detection_probability(self, c: "_Candidate", p_rows: np.ndarray, d_all: np.ndarray):
        """Per-station P detection probability of the candidate's event from its mb and the
        stations' detection thresholds (``None`` when the picks carry no usable amplitudes).

        ``mb`` = median over its P-type picks of ``log10(A/T) + Q(Δ, h)`` (IDC A5/2 amplitude,
        Veith-Clawson Q, 2-100 deg); a station's threshold is the 20th percentile of
        ``log10(A/T)`` of its P-type detections in the stream (most detections are near the
        threshold: noise triggers and small events); ``p = Φ((mb − Q(Δ_s, h) − thr_s) / σ)``,
        ``σ`` = ``detection_sigma``, bounded to [0.02, 0.98]; NaN where undefined."""
        thr = self._thresholds
        if thr is None:
            return None
        rows = c.rows[p_rows]
        la = self._logat[rows]
        d = c.distance[p_rows]
        ok = np.isfinite(la) & (d >= _MB_MIN_DEG) & (d <= _MB_MAX_DEG)
        if ok.sum() < 2:
            return None
        h = max(float(c.depth_km), 0.0)
        mb = float(np.median(la[ok] + q_idc(d[ok], h)))
        inr = (d_all >= _MB_MIN_DEG) & (d_all <= _MB_MAX_DEG) & np.isfinite(thr)
        out = np.full(d_all.size, np.nan)
        if inr.any():
            z = (mb - q_idc(d_all[inr], h) - thr[inr]) / self.config.detection_sigma
            out[inr] = np.clip(ndtr(z), 0.02, 0.98)
        return out

    def _detection_model(self, picks: pd.DataFrame, counts: np.ndarray, span: float) -> None:
        """From the stream: ``log10(A/T)`` of every pick with an mb amplitude, each station's
        detection threshold (20th percentile of its P-type picks' ``log10(A/T)``, at least
        ``detection_model_min_picks`` of them; None when no station has enough) and the
        stations' live windows."""
        cfg = self.config
        n = len(picks)
        amp = picks["amplitude"].to_numpy(dtype=float) if "amplitude" in picks.columns else np.full(n, np.nan)
        per = picks["period"].to_numpy(dtype=float) if "period" in picks.columns else np.full(n, np.nan)
        with np.errstate(divide="ignore", invalid="ignore"):
            logat = np.where((amp > 0) & (per > 0), np.log10(amp / per), np.nan)
        self._logat = logat
        self._thresholds = None
        if cfg.detection_model and np.isfinite(logat).any():
            thr = np.full(len(self._active), np.nan)
            ok = np.isfinite(logat) & (self._pk != "S") & (self._ps >= 0)
            sidx = self._ps[ok]
            vals = logat[ok]
            order = np.argsort(sidx, kind="stable")
            sidx, vals = sidx[order], vals[order]
            bounds = np.searchsorted(sidx, np.arange(len(self._active) + 1))
            for s_ in range(len(self._active)):
                v = vals[bounds[s_]:bounds[s_ + 1]]
                if v.size >= cfg.detection_model_min_picks:
                    thr[s_] = float(np.percentile(v, 20))
            if np.isfinite(thr).any():
                self._thresholds = thr
        # live windows: live_window_s, or 3 / the station's pick rate for stations with few picks
        rate = counts / max(span, 1.0)
        w = np.clip(3.0 / np.maximum(rate, 1e-12), cfg.live_window_s,
                    max(cfg.live_window_s, cfg.max_live_window_s))
        levels = np.unique(np.round(w, -1))
        self._live_groups = [(float(v), np.round(w, -1) == v) for v in levels]

    def _live(self, t: float) -> np.ndarray:
        """Stations live at ``t``: with at least one pick within their live window of ``t``
        (``live_window_s``, longer for stations with few picks: 3 / their pick rate, up to
        ``max_live_window_s``)."""
        live = np.zeros(len(self._active), dtype=bool)
        for w, members in self._live_groups:
            k0 = np.searchsorted(self._sorted_t, t - w, side="left")
            k1 = np.searchsorted(self._sorted_t, t + w, side="right")
            hit = np.zeros(len(self._active), dtype=bool)
            hit[self._sorted_s[k0:k1]] = True
            live |= hit & members
        return live

    def _accept(self, hyp) -> bool:
        """Accept a :class:`Hypothesis` or a :class:`_Candidate` (counts and score)."""
        cfg = self.config
        if isinstance(hyp, Hypothesis):
            rows = hyp.picks.index.to_numpy()
            n = len(rows)
            rb = hyp.picks["backazimuth_residual"].to_numpy(dtype=float) \
                if "backazimuth_residual" in hyp.picks.columns else np.full(n, np.nan)
            rs = hyp.picks["slowness_residual"].to_numpy(dtype=float) \
                if "slowness_residual" in hyp.picks.columns else np.full(n, np.nan)
        else:
            rows, rb, rs = hyp.rows, hyp.baz_residual, hyp.slowness_residual
        if len(rows) < self.min_picks:
            return False
        if cfg.min_p_picks > 0:
            phases = hyp.picks["assoc_phase"].to_numpy() if isinstance(hyp, Hypothesis) else hyp.phases
            if sum(self.grid.kinds[p] == "P" for p in phases) < cfg.min_p_picks:
                return False
        defining = np.unique(self._ps[rows]).size
        if defining < self.min_stations or hyp.score < cfg.min_score:
            return False
        n_def = len(rows) + int(np.isfinite(rb).sum()) + int(np.isfinite(rs).sum())
        return n_def >= cfg.min_defining


@dataclass
class _Candidate:
    """An evaluated candidate (arrays of the gathered pick rows; see :meth:`Associator._evaluate`)."""

    time: float
    latitude: float
    longitude: float
    depth_km: float
    rows: np.ndarray
    phases: np.ndarray
    residual: np.ndarray
    distance: np.ndarray
    baz_residual: np.ndarray
    slowness_residual: np.ndarray
    score: float = -np.inf

    def __len__(self) -> int:
        return int(self.rows.size)


#: the associator a forked worker process runs chunks of (set in the parent just before the fork)
_FORKED: "Associator | None" = None


def _chunk_worker(k: int) -> tuple[int, list[Hypothesis]]:
    assoc = _FORKED
    assoc._vote_threads = 1  # the workers use the cores already
    return k, assoc._run_chunk(assoc._chunk_list[k])


def _merge_chunks(found: list[list[Hypothesis]], min_picks: int) -> list[Hypothesis]:
    """The events of all chunks, in time order. An event near a chunk boundary may have been
    found by both chunks with origin times on either side: events sharing picks keep them with
    the better score; an event left with half of its picks or fewer than ``min_picks`` is a
    twin and dropped."""
    events = sorted((h for evs in found for h in evs), key=lambda h: h.time)
    owner: dict[int, int] = {}
    drop: set[int] = set()
    for i, h in enumerate(events):
        for r in h.picks.index.to_numpy().tolist():
            j = owner.get(r)
            if j is None:
                owner[r] = i
            elif j != i:
                lose = i if events[i].score < events[j].score else j
                drop.add(lose)  # handled below (remove shared picks or the whole twin)
                owner[r] = j if lose == i else i
    if not drop:
        return events
    out = []
    for i, h in enumerate(events):
        if i in drop:
            mine = np.array([owner.get(r) == i for r in h.picks.index.to_numpy().tolist()], dtype=bool)
            if mine.sum() < max(min_picks, 0.5 * len(mine)):
                continue
            h.picks = h.picks[mine]
            h.extra.pop("location", None)  # located on other picks: the bulletin locates again
        out.append(h)
    return out


def associate(picks: pd.DataFrame, stations: pd.DataFrame, tt: TravelTimes,
              config: AssociatorConfig = AssociatorConfig(),
              locate: LocateFn | None = None, progress: ProgressFn | None = None,
              fused: FusedModels | None = None) -> tuple[list[Hypothesis], pd.DataFrame]:
    """Associate ``picks`` with the network ``stations`` (see :class:`Associator`)."""
    return Associator(stations, tt, config, locate, fused).run(picks, progress=progress)
