"""Precomputed travel-time tables (source depth × epicentral distance) with fast interpolation.

obspy's TauP costs ~7–18 ms per ``get_travel_times`` call (ak135; ~300 ms in a many-layered
local model), far too slow for association and location (10^5 look-ups). A
:class:`TravelTimeTable` computes, once per model, phase list and grid, the travel time, ray
parameter, take-off and incidence angles and ``dT/dh`` on a grid of source depth × epicentral
distance, stores them as an :class:`xarray.Dataset` cached as NetCDF, and interpolates them
vectorised (~2.5 ms for 10,000 look-ups).

Phases
------
Each table "phase" is a named :class:`PhaseGroup`: a list of TauP phases whose **earliest**
arrival is kept (see :data:`PHASE_GROUPS`):

========  ======================================  =============================================
name      TauP phases                             meaning
========  ======================================  =============================================
``P``     ``p, P, Pn, Pg, Pdiff``                 first-arriving P
``S``     ``s, S, Sn, Sg, Sdiff``                 first-arriving S
``Pn``    ``Pn``                                  head wave along the Moho
``Pg``    ``Pg, p``                               crustal P (NaN for sources below the Moho)
``Sn``    ``Sn``                                  S head wave along the Moho
``Sg``    ``Sg, s``                               crustal S (NaN for sources below the Moho)
``Lg``    ``3.5kmps``                             Lg as a **group velocity of 3.5 km/s** (time =
                                                  distance along the surface / 3.5 km/s, no
                                                  depth dependence; NaN below the Moho)
``PKP``   ``PKIKP, PKP``                          first of PKPdf (= PKIKP) and PKPab/PKPbc
                                                  (TauP's ``PKP``)
========  ======================================  =============================================

Grid and references
-------------------
``depth_km`` is the source depth in km **below sea level** (for local models the grid starts at
the model top, e.g. -3 km for Iceland); ``distance_deg`` is the epicentral distance in degrees.
The receiver sits at ``receiver_elevation_km`` (km above sea level; default: the model top, i.e.
the TauP surface); :meth:`TravelTimeTable.elevation_correction` corrects to a station's own
elevation. See :mod:`pipeline.traveltime.models` for the depth reference of layered models.

How the table is computed
-------------------------
For each grid depth (the grid's depths plus the model's velocity discontinuities, so that no
depth cell straddles one) the TauP model is depth-corrected once and, for every TauP phase, the
sampled travel-time curve (ray parameter, distance, time) is densified by shooting extra ray
parameters with obspy's own tau-branch integrals (vectorised form of
:meth:`~obspy.taup.seismic_phase.SeismicPhase.shoot_ray`). Times at the grid distances follow
from the stationarity of ``theta = T + p (x - x_i)`` exactly as in
:meth:`~obspy.taup.seismic_phase.SeismicPhase.linear_interp_arrival`, with much denser samples
than TauP's refinement tolerance. The nodes agree with ``TauPyModel.get_travel_times`` to
~1 ms at ~1/100 of the cost (default ak135 table with 7 phases: ~10 s; Iceland P+S: ~8 s).

Ellipticity
-----------
Tables of built-in global models also carry, per node, the ellipticity coefficients σ0..σ2
of the node's ray (its TauP phase and ray parameter; Russell et al. 2022, shipped coefficient
files, :mod:`pipeline.traveltime.ellipticity`); :meth:`TravelTimeTable.ellipticity` turns
them into the correction for a source latitude and azimuth. Layered local models carry zeros.

Interpolation
-------------
Each node stores the time, ray parameter, one-sided ``dT/dh`` (from the ray's vertical slowness
with the velocity just below / above the source), and which travel-time *branch* (TauP phase and
monotonic piece of its distance(p) curve) gives the arrival, with the branch's distance range.

* Along distance: cubic Hermite from the times and ray parameters when both nodes are on the
  same branch; where the first arrival changes branch between two nodes (crossover,
  triplication, caustic, branch end) each branch is extrapolated from its node (quadratic,
  curvature from its other neighbour) within its own distance range and the earlier one wins.
* Along depth: cubic Hermite from the two rows' times and one-sided ``dT/dh`` when both rows
  give the same branch; otherwise the earlier of the two depth tangents kept within the
  branches' (depth-interpolated) distance ranges, else linear.
* ``NaN`` outside the grid and where the phase does not exist at the cell's nodes (so a few
  cells at the edge of a phase's existence are NaN although TauP has an arrival).

Accuracy against direct TauP calls (default grids, dense checks of ~10^5 random points): ak135
P max 0.03 s, S max 0.09 s (triplications of deep sources), Pn/Sn/Lg < 1 ms, PKP 0.04 s (B
caustic), median < 0.1 ms; Iceland P 0.015 s, S 0.03 s.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import numpy as np

from .models import ModelInfo, builtin_model_names, resolve_model

#: bump when the table content or layout changes (invalidates caches)
TABLE_FORMAT_VERSION = 2  # 2: ellipticity-correction coefficients ellip_c0..ellip_c2
_VARS = ("time", "slowness", "dtdh_below", "dtdh_above", "takeoff_angle", "incidence_angle",
         "branch_start_deg", "branch_end_deg")
_ELLIP_VARS = ("ellip_c0", "ellip_c1", "ellip_c2")


@dataclass(frozen=True)
class PhaseGroup:
    """A table phase: the earliest arrival among some TauP phases.

    :param name: table phase name (``"P"``, ``"Pn"``, ...).
    :param phases: TauP phase names (``"P"``, ``"Pdiff"``, ``"3.5kmps"``, ...).
    :param wave: ``"P"`` or ``"S"``: the wave type at the station (elevation corrections).
    :param crust_only: NaN for sources below the model's Moho (crustal phases).
    """

    name: str
    phases: tuple[str, ...]
    wave: str = "P"
    crust_only: bool = False

    def as_dict(self) -> dict:
        return {"name": self.name, "phases": list(self.phases), "wave": self.wave,
                "crust_only": self.crust_only}


#: named phase groups (see the module docstring)
PHASE_GROUPS: dict[str, PhaseGroup] = {
    g.name: g for g in (
        PhaseGroup("P", ("p", "P", "Pn", "Pg", "Pdiff"), "P"),
        PhaseGroup("S", ("s", "S", "Sn", "Sg", "Sdiff"), "S"),
        PhaseGroup("Pn", ("Pn",), "P"),
        PhaseGroup("Pg", ("Pg", "p"), "P", crust_only=True),
        PhaseGroup("Sn", ("Sn",), "S"),
        PhaseGroup("Sg", ("Sg", "s"), "S", crust_only=True),
        PhaseGroup("Lg", ("3.5kmps",), "S", crust_only=True),
        PhaseGroup("PKP", ("PKIKP", "PKP"), "P"),
    )
}
#: default table phases for global models and for local layered models
GLOBAL_PHASES = ("P", "S", "Pn", "Pg", "Sn", "Lg", "PKP")
LOCAL_PHASES = ("P", "S")


def phase_group(phase: str | PhaseGroup) -> PhaseGroup:
    """The :class:`PhaseGroup` for a name in :data:`PHASE_GROUPS` (or the group itself)."""
    if isinstance(phase, PhaseGroup):
        return phase
    try:
        return PHASE_GROUPS[phase]
    except KeyError:
        raise ValueError(f"unknown table phase {phase!r}; known: {', '.join(PHASE_GROUPS)} "
                         "(or pass a PhaseGroup)") from None


# -- grid --------------------------------------------------------------------------------------
Segments = tuple[tuple[float, float, float], ...]


def _axis(segments: Segments, label: str) -> np.ndarray:
    pts: list[float] = []
    for seg in segments:
        if len(seg) != 3:
            raise ValueError(f"{label}: each segment is (start, stop, step), got {seg!r}")
        a, b, h = (float(v) for v in seg)
        if not (h > 0 and b > a):
            raise ValueError(f"{label}: segment {seg!r} needs stop > start and step > 0")
        n = max(1, int(math.ceil((b - a) / h - 1e-9)))
        pts.extend(np.linspace(a, b, n + 1).tolist())
    ax = np.unique(np.round(np.asarray(pts, float), 9))
    if ax.size < 2:
        raise ValueError(f"{label}: at least two grid nodes are needed")
    return ax


@dataclass(frozen=True)
class TableGrid:
    """Grid of a travel-time table, as piecewise-uniform segments ``(start, stop, step)``.

    Each segment is sampled with the largest step <= ``step`` that divides it evenly, so
    segment ends are always nodes. Example: ``distance_deg=((0, 20, 0.05), (20, 180, 0.25))``.

    :param distance_deg: epicentral-distance segments, degrees.
    :param depth_km: source-depth segments, km below sea level.
    """

    distance_deg: Segments
    depth_km: Segments

    @classmethod
    def uniform(cls, distance_deg: tuple[float, float, float],
                depth_km: tuple[float, float, float]) -> "TableGrid":
        """One segment per axis: ``(start, stop, step)`` each."""
        return cls((tuple(distance_deg),), (tuple(depth_km),))

    @classmethod
    def from_mapping(cls, data: Mapping) -> "TableGrid":
        """From ``{"distance_deg": [[0, 20, 0.05], ...], "depth_km": [[...]]}`` (e.g. TOML)."""
        return cls(tuple(tuple(float(v) for v in s) for s in data["distance_deg"]),
                   tuple(tuple(float(v) for v in s) for s in data["depth_km"]))

    def distances(self) -> np.ndarray:
        """Distance nodes, degrees (sorted)."""
        return _axis(self.distance_deg, "distance_deg")

    def depths(self) -> np.ndarray:
        """Depth nodes, km below sea level (sorted)."""
        return _axis(self.depth_km, "depth_km")

    def as_dict(self) -> dict:
        return {"distance_deg": [list(s) for s in self.distance_deg],
                "depth_km": [list(s) for s in self.depth_km]}


#: default grid for global models: fine near the source (Pg/Pn crossovers, triplications)
GLOBAL_GRID = TableGrid(distance_deg=((0.0, 2.0, 0.02), (2.0, 25.0, 0.1), (25.0, 180.0, 0.5)),
                        depth_km=((0.0, 40.0, 2.0), (40.0, 100.0, 5.0), (100.0, 300.0, 10.0),
                                  (300.0, 700.0, 20.0)))


def local_grid(model_top_km: float, max_distance_deg: float = 2.0, distance_step_deg: float = 0.01,
               max_depth_km: float = 40.0, depth_step_km: float = 1.0,
               refine_near_receiver: bool = True) -> TableGrid:
    """Default grid for a local model: 0–``max_distance_deg`` × model top–``max_depth_km``.

    With ``refine_near_receiver`` the steps are 4× finer within ``2 * distance_step_deg`` of the
    epicentre and within 1 km below the model top, 2× finer from 1 to 5 km below the top:
    near the receiver the travel time is a cone (``sqrt(x^2 + z^2)/v``) that a coarse grid
    cannot follow (errors ~0.1 s for S in a 0.8 km/s surface layer without it).

    :param model_top_km: depth of the model top below sea level, km (grid starts there).
    :param max_distance_deg: largest epicentral distance, degrees.
    :param distance_step_deg: distance step, degrees.
    :param max_depth_km: deepest source, km below sea level.
    :param depth_step_km: depth step, km.
    """
    top, dd, dz = float(model_top_km), float(distance_step_deg), float(depth_step_km)
    if not refine_near_receiver:
        return TableGrid(((0.0, max_distance_deg, dd),), ((top, max_depth_km, dz),))
    dist = [(0.0, min(2 * dd, max_distance_deg), dd / 4)]
    if 2 * dd < max_distance_deg:
        dist.append((2 * dd, max_distance_deg, dd))
    depth = []
    for a, b, h in ((top, top + 1.0, dz / 4), (top + 1.0, top + 5.0, dz / 2),
                    (top + 5.0, max_depth_km, dz)):
        if a < max_depth_km:
            depth.append((a, min(b, max_depth_km), h))
    return TableGrid(tuple(dist), tuple(depth))


def default_grid(model: ModelInfo) -> TableGrid:
    """:func:`local_grid` for layered models, :data:`GLOBAL_GRID` for built-in models."""
    return local_grid(model.top_km) if model.layered is not None else GLOBAL_GRID


# -- computation with obspy's TauP internals ----------------------------------------------------
def _shoot(phase, tmod, ray_params: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Time (s) and distance (rad) of ``phase`` for many ray parameters (s/rad) at once.

    Vectorised form of :meth:`obspy.taup.seismic_phase.SeismicPhase.shoot_ray`.
    """
    s_mod = tmod.s_mod
    mult = phase.calc_branch_mult(tmod)
    time = np.zeros(ray_params.shape)
    dist = np.zeros(ray_params.shape)
    for j in range(tmod.tau_branches.shape[1]):
        for w, is_p in ((0, True), (1, False)):
            if mult[w, j] != 0:
                br = tmod.get_tau_branch(j, is_p)
                # rays with p > the branch's max ray parameter never reach it (contribute 0):
                # skipping them saves most of the work for shallow-turning rays
                sel = np.nonzero(ray_params <= br.max_ray_param)[0]
                if sel.size == 0:
                    continue
                top = s_mod.layer_number_below(br.top_depth, is_p)
                bot = s_mod.layer_number_above(br.bot_depth, is_p)
                td = br.calc_time_dist(s_mod, top, bot, ray_params[sel], allow_turn_in_layer=True)
                time[sel] += mult[w, j] * td["time"]
                dist[sel] += mult[w, j] * td["dist"]
    return time, dist


def _dense_curve(phase, tmod, dx_rad: float, dp_rad: float, x_range: tuple[float, float]):
    """The phase's travel-time curve densified so that consecutive samples differ by at most
    ``dx_rad`` in distance or ``dp_rad`` (s/rad) in ray parameter, where the curve overlaps
    the grid's distance range ``x_range`` (radians; or its mirror 2 pi - x).

    :returns: list of ``(ray_param, dist, time, branch)`` arrays, one per continuous piece;
        ``branch`` numbers the monotonic pieces of dist(p) (branches of the curve).
    """
    if phase.dist is None or len(phase.dist) == 0:
        return []
    if phase.head_or_diffract_seq or phase.name.endswith("kmps"):
        n = len(phase.ray_param)
        return [(phase.ray_param.copy(), phase.dist.copy(), phase.time.copy(),
                 np.zeros(n, int))]
    out = []
    for k, sl in enumerate(phase._shadow_zone_splits()):
        rp, di, ti = phase.ray_param[sl], phase.dist[sl], phase.time[sl]
        if len(rp) < 2:
            continue
        n = np.ceil(np.maximum(np.abs(np.diff(di)) / dx_rad, np.abs(np.diff(rp)) / dp_rad))
        lo, hi = np.minimum(di[:-1], di[1:]), np.maximum(di[:-1], di[1:])
        xa, xb = x_range
        used = ((hi >= xa) & (lo <= xb)) | ((hi >= 2 * math.pi - xb) & (lo <= 2 * math.pi - xa))
        n = np.where(used, np.clip(n, 1, 400), 1).astype(int)
        idx = np.repeat(np.arange(len(rp) - 1), n)
        sub = np.arange(idx.size) - np.repeat(np.cumsum(n) - n, n)
        frac = sub / np.repeat(n, n)
        p_all = np.append(rp[idx] + (rp[idx + 1] - rp[idx]) * frac, rp[-1])
        node = np.append(sub == 0, True)
        node_idx = np.append(idx[sub == 0], len(rp) - 1)
        t_all = np.empty(p_all.size)
        d_all = np.empty(p_all.size)
        t_all[node], d_all[node] = ti[node_idx], di[node_idx]
        todo = np.nonzero(~node)[0]
        for c in range(0, todo.size, 1000):  # chunks bound the (rays x layers) work arrays
            sel = todo[c:c + 1000]
            t_all[sel], d_all[sel] = _shoot(phase, tmod, p_all[sel])
        # branches: monotonic pieces of distance vs ray parameter
        sgn = np.sign(np.diff(d_all))
        sgn[sgn == 0] = 1
        turns = np.concatenate([[0], np.cumsum(sgn[1:] != sgn[:-1])])
        branch = np.append(turns, turns[-1]) + 1000 * k
        out.append((p_all, d_all, t_all, branch))
    return out


def _curve_hits(curves, x_rad: np.ndarray):
    """All arrivals of a densified curve at sorted grid distances ``x_rad``.

    :returns: ``(grid_index, time_s, ray_param_s_rad, branch)`` arrays (several rows per grid
        index where the curve is multi-valued).
    """
    gi, tt, pp, bb, st, en = [], [], [], [], [], []
    nx = x_rad.size
    for p, d, t, br in curves:
        if p.size < 2:
            continue
        d0, d1 = d[:-1], d[1:]
        ok = (d0 != d1)
        head = p.size == 2 and p[0] == p[1]
        if not head:
            ok &= p[:-1] != p[1:]
        seg = np.nonzero(ok)[0]
        if seg.size == 0:
            continue
        for mirror in (False, True):
            xs = (2.0 * math.pi - x_rad[::-1]) if mirror else x_rad
            lo = np.minimum(d0[seg], d1[seg])
            hi = np.maximum(d0[seg], d1[seg])
            i0 = np.searchsorted(xs, lo, "left")
            i1 = np.searchsorted(xs, hi, "right")
            cnt = np.clip(i1 - i0, 0, None)
            if cnt.sum() == 0:
                continue
            s = np.repeat(seg, cnt)
            pos = np.repeat(i0, cnt) + (np.arange(cnt.sum()) - np.repeat(np.cumsum(cnt) - cnt, cnt))
            X = xs[pos]
            dpdx = (p[s + 1] - p[s]) / (d[s + 1] - d[s])
            th0 = t[s] + p[s] * (X - d[s])
            th1 = t[s + 1] + p[s + 1] * (X - d[s + 1])
            # stationarity of theta (Buland & Chapman 1983), as obspy's linear_interp_arrival
            time = np.where(dpdx > 0, np.maximum(th0, th1), np.minimum(th0, th1))
            rp = p[s] + dpdx * (X - d[s])
            # extent (grid distance, deg) of each branch, for extrapolation limits
            bid = br[s]
            ub, inv = np.unique(br, return_inverse=True)
            dmin = np.full(ub.size, np.inf)
            dmax = np.full(ub.size, -np.inf)
            np.minimum.at(dmin, inv, d)
            np.maximum.at(dmax, inv, d)
            k = np.searchsorted(ub, bid)
            lo_b, hi_b = np.degrees(dmin[k]), np.degrees(dmax[k])
            if mirror:
                lo_b, hi_b = 360.0 - hi_b, 360.0 - lo_b
                bid = bid + 50000  # the long way round is another branch
            gi.append((nx - 1 - pos) if mirror else pos)
            tt.append(time)
            pp.append(rp)
            bb.append(bid)
            st.append(lo_b)
            en.append(hi_b)
    if not gi:
        e = np.empty(0)
        return e.astype(int), e, e, e.astype(int), e, e
    return tuple(np.concatenate(a) for a in (gi, tt, pp, bb, st, en))


def _angle_info(phase, tmod, src_depth: float, rcv_depth: float):
    """``(v_source, downgoing, v_receiver, arrives_downgoing)`` for angle computations."""
    vmod = tmod.s_mod.v_mod
    if phase.name.endswith("kmps"):
        return None
    first, last = phase.name[0].lower(), phase.legs[-2][0].lower()
    try:
        down0 = bool(phase.down_going[0])
        v_src = (vmod.evaluate_below(src_depth, first) if down0
                 else vmod.evaluate_above(src_depth, first))[0]
        down1 = bool(phase.down_going[-1])
        v_rcv = (vmod.evaluate_above(rcv_depth, last) if down1
                 else vmod.evaluate_below(rcv_depth, last))[0]
    except (IndexError, LookupError):
        return None
    return float(v_src), down0, float(v_rcv), down1


def _compute_depth(info: ModelInfo, depth_km: float, rcv_taup_km: float, taup_phases: Sequence[str],
                   x_deg: np.ndarray, dx_rad: float, dp_rad: float) -> dict:
    """All arrivals of ``taup_phases`` at the grid distances for one source depth."""
    from obspy.taup.helper_classes import TauModelError
    from obspy.taup.seismic_phase import SeismicPhase

    z = float(info.taup_depth(depth_km))
    tmod = info.tau_model.depth_correct(z)
    if rcv_taup_km != z:
        tmod = tmod.split_branch(rcv_taup_km)
    x_rad = np.radians(x_deg)
    radius = float(tmod.radius_of_planet)
    res = {}
    for k, name in enumerate(taup_phases):
        try:
            ph = SeismicPhase(name, tmod, rcv_taup_km)
        except TauModelError:
            continue
        curves = _dense_curve(ph, tmod, dx_rad, dp_rad, (float(x_rad[0]), float(x_rad[-1])))
        gi, t, p, b, start, end = _curve_hits(curves, x_rad)
        if gi.size == 0:
            continue
        ang = _angle_info(ph, tmod, z, rcv_taup_km)
        if ang is None:  # group-velocity phases: no depth dependence
            takeoff = np.zeros_like(t)
            incid = np.zeros_like(t)
            dtdh_below = np.zeros_like(t)
            dtdh_above = np.zeros_like(t)
        else:
            v_src, down0, v_rcv, down1 = ang
            takeoff = np.degrees(np.arcsin(np.clip(v_src * p / (radius - z), -1.0, 1.0)))
            if not down0:
                takeoff = 180.0 - takeoff
            incid = np.degrees(np.arcsin(np.clip(v_rcv * p / (radius - rcv_taup_km), -1, 1)))
            if down1:
                incid = 180.0 - incid
            # dT/dh = -/+ vertical slowness at the source (down-/up-going first leg), one-sided:
            # with the velocity below (source moves down) or above (source moves up) the source
            sign = -1.0 if down0 else 1.0
            dtdh_below = sign * _vertical_slowness(tmod, z, ph.name[0], "below", p, radius)
            dtdh_above = sign * _vertical_slowness(tmod, z, ph.name[0], "above", p, radius)
        res[name] = (gi, t, p, b + 100000 * k, takeoff, incid, dtdh_below, dtdh_above,
                     start, end)
    return res


def _vertical_slowness(tmod, z: float, wave: str, side: str, p: np.ndarray,
                       radius: float) -> np.ndarray:
    """``sqrt(1/v^2 - p^2/r^2)`` (s/km) just below/above depth ``z`` (NaN if evanescent)."""
    vmod = tmod.s_mod.v_mod
    try:
        fn = vmod.evaluate_below if side == "below" else vmod.evaluate_above
        v = float(fn(z, wave.lower())[0])
    except (IndexError, LookupError):
        return np.full(p.shape, np.nan)
    if v <= 0:
        return np.full(p.shape, np.nan)
    q2 = 1.0 / v ** 2 - (p / (radius - z)) ** 2
    with np.errstate(invalid="ignore"):
        return np.where(q2 >= -1e-12, np.sqrt(np.clip(q2, 0.0, None)), np.nan)


def _reduce_group(hits: dict, group: PhaseGroup, nx: int) -> dict[str, np.ndarray]:
    """Earliest arrival per grid distance among the group's TauP phases."""
    parts = [hits[n] for n in group.phases if n in hits]
    out = {v: np.full(nx, np.nan) for v in _VARS}
    out["branch"] = np.full(nx, -1, dtype=np.int32)
    out["taup_phase"] = np.full(nx, -1, dtype=np.int16)
    if not parts:
        return out
    cols = [np.concatenate([pt[i] for pt in parts]) for i in range(10)]
    gi, t, p, b, tk, inc, dhb, dha, start, end = cols
    order = np.lexsort((t, gi))
    gi_sorted = gi[order]
    first = order[np.r_[True, gi_sorted[1:] != gi_sorted[:-1]]]
    g = gi[first]
    out["time"][g] = t[first]
    out["slowness"][g] = p[first] * math.pi / 180.0  # s/rad -> s/deg
    out["dtdh_below"][g] = dhb[first]
    out["dtdh_above"][g] = dha[first]
    out["branch_start_deg"][g] = start[first]
    out["branch_end_deg"][g] = end[first]
    out["takeoff_angle"][g] = tk[first]
    out["incidence_angle"][g] = inc[first]
    out["branch"][g] = b[first]
    out["taup_phase"][g] = (b[first] // 100000).astype(np.int16)
    return out


def compute_table_dataset(model, phases: Iterable[str | PhaseGroup] | None = None,
                          grid: TableGrid | None = None, receiver_elevation_km: float | None = None,
                          cache_dir: str | Path | None = None, *, sampling_deg: float | None = None,
                          sampling_p_s_rad: float = 5.0):
    """Compute a travel-time table (no caching) as an :class:`xarray.Dataset`.

    :param model: see :func:`~pipeline.traveltime.models.resolve_model`.
    :param phases: table phase names / :class:`PhaseGroup` (default :data:`GLOBAL_PHASES` for
        built-in models, :data:`LOCAL_PHASES` for layered ones).
    :param grid: the grid (default :func:`default_grid`).
    :param receiver_elevation_km: receiver elevation, km above sea level (default model top).
    :param cache_dir: where layered models are built (``<cache_dir>/models``).
    :param sampling_deg: max distance between shot rays, degrees (default: min(0.25°, 1/200 of
        the grid's distance span)).
    :param sampling_p_s_rad: max ray-parameter step between shot rays, s/rad.
    :returns: dataset with dims ``(phase, depth_km, distance_deg)`` and variables ``time`` (s),
        ``slowness`` (ray parameter dT/dx, s/deg), ``dtdh_below``/``dtdh_above`` (dT/d(source
        depth) in s/km from the ray's vertical slowness, with the velocity just below/above
        the source: they differ at velocity discontinuities), ``takeoff_angle`` and
        ``incidence_angle`` (degrees from the downward vertical at the source / receiver; > 90
        = up-going at the source), ``branch`` (int id of the travel-time branch giving the
        arrival, -1 = none), ``branch_start_deg``/``branch_end_deg`` (distance range of that
        branch at that depth) and ``taup_phase`` (index into attribute ``taup_phases``).
    """
    import obspy
    import xarray as xr

    info = resolve_model(model, cache_dir)
    groups = _groups(info, phases)
    grid = grid or default_grid(info)
    rcv_elev = _receiver_elevation(info, receiver_elevation_km)
    x = grid.distances()
    zs = table_depths(info, grid)
    if x[0] < 0 or x[-1] > 180:
        raise ValueError("table distances must be within 0-180 degrees")
    if zs[0] < info.top_km - 1e-9:
        raise ValueError(f"table depths start at {zs[0]} km, above the model top "
                         f"({info.top_km} km)")
    taup_phases = sorted({n for g in groups for n in g.phases})
    dx = math.radians(sampling_deg or min(0.25, (x[-1] - x[0]) / 200.0))
    rcv_taup = float(-rcv_elev - info.top_km)
    data = {v: np.full((len(groups), zs.size, x.size), np.nan) for v in _VARS}
    data["branch"] = np.full((len(groups), zs.size, x.size), -1, dtype=np.int32)
    data["taup_phase"] = np.full((len(groups), zs.size, x.size), -1, dtype=np.int16)
    moho = info.moho_km
    for j, z in enumerate(zs):
        hits = _compute_depth(info, float(z), rcv_taup, taup_phases, x, dx, sampling_p_s_rad)
        for i, g in enumerate(groups):
            if g.crust_only and z > moho + 1e-9:
                continue
            red = _reduce_group(hits, g, x.size)
            for v in data:
                data[v][i, j] = red[v]
    _add_ellipticity(data, info, groups, zs, x, taup_phases, cache_dir)
    dims = ("phase", "depth_km", "distance_deg")
    units = {"time": "s", "slowness": "s/deg", "dtdh_below": "s/km", "dtdh_above": "s/km",
             "takeoff_angle": "deg", "incidence_angle": "deg", "branch_start_deg": "deg",
             "branch_end_deg": "deg", "branch": "1", "taup_phase": "1",
             "ellip_c0": "s", "ellip_c1": "s", "ellip_c2": "s"}
    long = {"time": "travel time", "slowness": "ray parameter dT/d(distance)",
            "dtdh_below": "dT/d(source depth) with the velocity below the source",
            "dtdh_above": "dT/d(source depth) with the velocity above the source",
            "takeoff_angle": "take-off angle from downward vertical",
            "incidence_angle": "incidence angle at the receiver from downward vertical",
            "branch_start_deg": "smallest distance of the arrival's travel-time branch",
            "branch_end_deg": "largest distance of the arrival's travel-time branch",
            "branch": "travel-time branch id (-1 = no arrival)",
            "taup_phase": "index into attribute taup_phases (-1 = no arrival)",
            **{f"ellip_c{m}": f"ellipticity coefficient sigma_{m} (Russell et al. 2022)"
               for m in range(3)}}
    ds = xr.Dataset(
        {v: (dims, a, {"units": units[v], "long_name": long[v]}) for v, a in data.items()},
        coords={"phase": [g.name for g in groups],
                "depth_km": ("depth_km", zs, {"units": "km",
                                              "long_name": "source depth below sea level"}),
                "distance_deg": ("distance_deg", x, {"units": "deg",
                                                     "long_name": "epicentral distance"})},
        attrs={
            "title": "idc-pipeline travel-time table",
            "format_version": TABLE_FORMAT_VERSION,
            "model_name": info.name,
            "model_id": info.model_id,
            "model_sha256": info.sha256,
            "model_top_km": info.top_km,
            "model_moho_km": moho,
            "taup_model": info.taup_model,
            "model_radius_km": info.radius_km,
            "receiver_elevation_km": rcv_elev,
            "groups": json.dumps([g.as_dict() for g in groups]),
            "taup_phases": json.dumps(taup_phases),
            "grid": json.dumps(grid.as_dict()),
            "sampling_deg": math.degrees(dx),
            "sampling_p_s_rad": sampling_p_s_rad,
            "obspy_version": obspy.__version__,
        })
    return ds


def _add_ellipticity(data: dict, info: ModelInfo, groups, zs: np.ndarray, x: np.ndarray,
                     taup_phases: Sequence[str], cache_dir) -> None:
    """Ellipticity coefficients σ0..σ2 of every node's arrival (its TauP phase and ray
    parameter, :mod:`pipeline.traveltime.ellipticity`); zeros for layered local models and
    where the phase does not exist."""
    for v in _ELLIP_VARS:
        data[v] = np.zeros_like(data["time"])
    if info.layered is not None or info.name not in builtin_model_names():
        return
    from .ellipticity import coefficients_for

    coeffs = coefficients_for(info.name, cache_dir)
    for i in range(len(groups)):
        for j, z in enumerate(zs):
            tp = data["taup_phase"][i, j]
            for k in np.unique(tp[tp >= 0]):
                sel = tp == k
                p_rad = data["slowness"][i, j, sel] * 180.0 / math.pi  # s/deg -> s/rad
                c = coeffs.node_coefficients(taup_phases[int(k)], float(info.taup_depth(z)),
                                             p_rad, x[sel])
                for m, v in enumerate(_ELLIP_VARS):
                    data[v][i, j, sel] = c[m]


def table_depths(info: ModelInfo, grid: TableGrid) -> np.ndarray:
    """The grid's depth nodes plus the model's velocity discontinuities inside the grid range
    (km below sea level), so that no depth cell straddles a discontinuity, plus a node 1 m
    above the Moho (TauP puts a source on the Moho in the mantle: no Pn, Pg, Sn, Sg, Lg)."""
    zs = grid.depths()
    disc = info.sea_level_depth(info.tau_model.s_mod.v_mod.get_discontinuity_depths())
    disc = np.append(disc, info.moho_km - 1e-3)
    disc = disc[(disc > zs[0]) & (disc < zs[-1])]
    disc = disc[np.min(np.abs(disc[:, None] - zs[None, :]), axis=1) > 1e-6] if disc.size else disc
    return np.unique(np.round(np.concatenate([zs, disc]), 9))


def _groups(info: ModelInfo, phases) -> list[PhaseGroup]:
    if phases is None:
        phases = LOCAL_PHASES if info.layered is not None else GLOBAL_PHASES
    if isinstance(phases, (str, PhaseGroup)):
        phases = [phases]
    groups = [phase_group(p) for p in phases]
    names = [g.name for g in groups]
    if len(set(names)) != len(names) or not names:
        raise ValueError(f"table phases must be distinct and non-empty, got {names}")
    return groups


def _receiver_elevation(info: ModelInfo, receiver_elevation_km: float | None) -> float:
    top_elev = 0.0 - info.top_km + 0.0  # + 0.0: no "-0.0" in cache keys
    if receiver_elevation_km is None:
        return float(top_elev)
    if receiver_elevation_km > top_elev + 1e-9:
        raise ValueError(f"receiver elevation {receiver_elevation_km} km is above the model top "
                         f"({top_elev} km)")
    return float(receiver_elevation_km)


def table_key(info: ModelInfo, groups: Sequence[PhaseGroup], grid: TableGrid,
              receiver_elevation_km: float, sampling_deg: float | None,
              sampling_p_s_rad: float) -> str:
    """SHA-256 (hex) identifying a table: model hash + phase lists + grid + receiver + sampling."""
    blob = json.dumps({
        "format": TABLE_FORMAT_VERSION,
        "model_id": info.model_id,
        "model_sha256": info.sha256,
        "groups": [g.as_dict() for g in groups],
        "distance_deg": np.round(grid.distances(), 9).tolist(),
        # grid nodes as specified; the model discontinuities added to them follow from the
        # model content (hashed above), so the key needs no TauP model
        "depth_km": np.round(grid.depths(), 9).tolist(),
        "receiver_elevation_km": round(float(receiver_elevation_km), 9) + 0.0,
        "sampling_deg": sampling_deg,
        "sampling_p_s_rad": sampling_p_s_rad,
    }, sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()


# -- the table ---------------------------------------------------------------------------------
class TravelTimeTable:
    """Travel times of some phases in one model, on a depth × distance grid, cached as NetCDF.

    The first construction computes the table (seconds) and, when ``cache_dir`` is given,
    writes ``<cache_dir>/<model_id>_<phases>_<key16>.nc``; later constructions with the same
    model content, phases, grid and receiver elevation load that file without calling TauP.

    :param model: obspy built-in name (``"ak135"``, ``"iasp91"``), a ``Depth,Vp,Vs`` velocity
        file, a :class:`~pipeline.traveltime.models.LayeredModel` or a
        :class:`~pipeline.traveltime.models.ModelInfo`.
    :param phases: table phases (names in :data:`PHASE_GROUPS` or :class:`PhaseGroup`);
        default :data:`GLOBAL_PHASES` (built-in model) or :data:`LOCAL_PHASES` (layered model).
    :param cache_dir: cache folder (callers pass ``settings.cache_dir / "traveltime"``);
        ``None`` = compute in memory only (layered models then need ``cache_dir``).
    :param grid: :class:`TableGrid` (default :func:`default_grid`).
    :param receiver_elevation_km: receiver elevation, km above sea level (default: model top).
    :param rebuild: recompute even when a cached file exists.

    Attributes: ``dataset`` (:class:`xarray.Dataset`), ``model`` (:class:`ModelInfo`),
    ``path`` (cache file or ``None``), ``computed`` (``True`` when this construction ran TauP).

    Look-ups take arrays (broadcast together) of ``distance_deg`` (degrees) and ``depth_km``
    (km below sea level) and return float arrays of their broadcast shape, NaN where the phase
    does not exist or the point is outside the grid::

        tt = TravelTimeTable("ak135", ["P", "S"], cache_dir=settings.cache_dir / "traveltime")
        t = tt.time("P", dist_deg, depth_km)
        t, dtdd, dtdh = tt.derivatives("P", dist_deg, depth_km)
    """

    def __init__(self, model="ak135", phases: Iterable[str | PhaseGroup] | None = None,
                 cache_dir: str | Path | None = None, grid: TableGrid | None = None,
                 receiver_elevation_km: float | None = None, *, rebuild: bool = False,
                 sampling_deg: float | None = None, sampling_p_s_rad: float = 5.0):
        self.model = resolve_model(model, cache_dir)
        groups = _groups(self.model, phases)
        grid = grid or default_grid(self.model)
        rcv = _receiver_elevation(self.model, receiver_elevation_km)
        self.key = table_key(self.model, groups, grid, rcv, sampling_deg, sampling_p_s_rad)
        self.path: Path | None = None
        self.computed = False
        ds = None
        if cache_dir is not None:
            names = "-".join("".join(c if c.isalnum() else "_" for c in g.name) for g in groups)
            if len(names) > 40:
                names = f"{len(groups)}phases"
            self.path = Path(cache_dir) / f"{self.model.model_id}_{names}_{self.key[:16]}.nc"
            if self.path.exists() and not rebuild:
                try:
                    ds = _load_dataset(self.path)
                except (OSError, ValueError, KeyError) as exc:  # unreadable: compute again
                    warnings.warn(f"{self.path}: cannot read cached travel-time table ({exc}); "
                                  "recomputing it", RuntimeWarning, stacklevel=2)
        if ds is None:
            ds = compute_table_dataset(self.model, groups, grid, rcv, cache_dir,
                                       sampling_deg=sampling_deg,
                                       sampling_p_s_rad=sampling_p_s_rad)
            ds.attrs["cache_key"] = self.key
            self.computed = True
            if self.path is not None:
                _save_dataset(ds, self.path)
        self._set_dataset(ds)

    @classmethod
    def from_dataset(cls, ds) -> "TravelTimeTable":
        """Wrap a dataset made by :func:`compute_table_dataset` (or read from a cache file)."""
        self = cls.__new__(cls)
        taup = str(ds.attrs.get("taup_model", ""))
        if taup and taup not in builtin_model_names() and not Path(taup).exists():
            taup = ""  # the generated TauP model is gone: no elevation corrections
        self.model = ModelInfo(name=ds.attrs["model_name"], model_id=ds.attrs["model_id"],
                               taup_model=taup, top_km=float(ds.attrs["model_top_km"]),
                               sha256=ds.attrs.get("model_sha256", ""))
        self.key = ds.attrs.get("cache_key", "")
        self.path = None
        self.computed = False
        self._set_dataset(ds)
        return self

    @classmethod
    def load(cls, path: str | Path) -> "TravelTimeTable":
        """Open a cached NetCDF table file."""
        self = cls.from_dataset(_load_dataset(Path(path)))
        self.path = Path(path)
        return self

    def _set_dataset(self, ds) -> None:
        self.dataset = ds
        self.phases: tuple[str, ...] = tuple(str(p) for p in ds["phase"].values)
        self.groups = {g["name"]: PhaseGroup(g["name"], tuple(g["phases"]), g["wave"],
                                             bool(g["crust_only"]))
                       for g in json.loads(ds.attrs["groups"])}
        self.taup_phases: tuple[str, ...] = tuple(json.loads(ds.attrs["taup_phases"]))
        self.receiver_elevation_km = float(ds.attrs["receiver_elevation_km"])
        self.distance_deg = np.ascontiguousarray(ds["distance_deg"].values, dtype=float)
        self.depth_km = np.ascontiguousarray(ds["depth_km"].values, dtype=float)
        self._arr = {v: np.ascontiguousarray(ds[v].values) for v in (*_VARS, "branch",
                                                                       "taup_phase")}
        self._ellip = np.stack([np.nan_to_num(ds[v].values) if v in ds else
                                np.zeros_like(self._arr["time"], dtype=float)
                                for v in _ELLIP_VARS])  # (3, phase, depth, distance)
        #: the table carries ellipticity coefficients (built-in global models)
        self.has_ellipticity = bool(np.any(self._ellip))
        # per phase, the node values interpolation needs packed as rows of one array (flat,
        # depth-major node order), twice: with dT/dh below the node (rows 0..n-1) and above it
        # (rows n..2n-1); columns time, slowness, dT/dh, branch; _packed_cols: the same
        # column-major plus the branch start and end distances (for the few special cells)
        self._n_nodes = self.distance_deg.size * self.depth_km.size
        packed = []
        for k in range(len(self.phases)):
            cols = [self._arr[v][k].ravel().astype(float) for v in
                    ("time", "slowness", "dtdh_below", "branch")]
            below = np.stack(cols, axis=1)
            above = below.copy()
            above[:, 2] = self._arr["dtdh_above"][k].ravel()
            packed += [below, above]
        # all phases in one array (phase k at rows k * 2n ...): mixed-phase batches in one go
        self._packed = np.ascontiguousarray(np.concatenate(packed))  # (row, column)
        starts = [self._arr["branch_start_deg"][k].ravel() for k in range(len(self.phases))
                  for _ in range(2)]  # same values for both halves
        ends = [self._arr["branch_end_deg"][k].ravel() for k in range(len(self.phases))
                for _ in range(2)]
        self._packed_cols = np.ascontiguousarray(
            np.vstack([self._packed.T, np.concatenate(starts), np.concatenate(ends)]))
        self._phase_ids = {p: k for k, p in enumerate(self.phases)}
        self._xloc = _CellLocator(self.distance_deg)
        self._zloc = _CellLocator(self.depth_km)

    def __repr__(self) -> str:
        return (f"TravelTimeTable({self.model.model_id}, phases={list(self.phases)}, "
                f"distance {self.distance_deg[0]:g}-{self.distance_deg[-1]:g} deg "
                f"({self.distance_deg.size}), depth {self.depth_km[0]:g}-{self.depth_km[-1]:g} km "
                f"({self.depth_km.size}))")

    # -- look-ups ------------------------------------------------------------------------
    def _index(self, phase: str) -> int:
        try:
            return self.phases.index(phase)
        except ValueError:
            raise KeyError(f"phase {phase!r} is not in this table ({', '.join(self.phases)})") \
                from None

    def _phase_base(self, phase, shape) -> np.ndarray | int:
        """First packed row of each point's phase: a phase name, or one phase (name or index
        into :attr:`phases`) per point, broadcast to the points' shape."""
        if isinstance(phase, str):
            return self._index(phase) * 2 * self._n_nodes
        ph = np.asarray(phase)
        if ph.dtype.kind in "US O":
            try:
                ph = np.array([self._phase_ids[p] for p in ph.ravel().tolist()],
                              dtype=np.int64).reshape(ph.shape)
            except KeyError as exc:
                raise KeyError(f"phase {exc.args[0]!r} is not in this table "
                               f"({', '.join(self.phases)})") from None
        elif ph.dtype.kind not in "iu" or (ph.size and (ph.min() < 0 or ph.max() >= len(self.phases))):
            raise ValueError(f"phase indices must be integers in 0..{len(self.phases) - 1}")
        return np.broadcast_to(ph, shape).ravel() * (2 * self._n_nodes)

    def _cell(self, distance_deg, depth_km):
        x = np.asarray(distance_deg, dtype=float)
        z = np.asarray(depth_km, dtype=float)
        if x.shape != z.shape:
            x, z = np.broadcast_arrays(x, z)
        shape = x.shape
        x = x.ravel()
        z = z.ravel()
        xg, zg = self.distance_deg, self.depth_km
        inside = (x >= xg[0]) & (x <= xg[-1]) & (z >= zg[0]) & (z <= zg[-1])
        return shape, inside, x, z, self._xloc(x), self._zloc(z)

    def _fractions(self, x, z, i, j):
        xg, zg = self.distance_deg, self.depth_km
        return (x - xg[i]) / (xg[i + 1] - xg[i]), (z - zg[j]) / (zg[j + 1] - zg[j])

    # rows of _packed_cols (columns of _packed: the first four), see _set_dataset
    _T, _P, _D, _B, _S, _E = range(6)

    def _branch_range(self, Q: np.ndarray, br: np.ndarray, na: np.ndarray, nb: np.ndarray,
                      w: np.ndarray, x: np.ndarray):
        """Whether branch ``br`` has a known distance range in both rows of the cells (via a
        cell node on that branch in each row), and whether ``x`` lies inside that range
        interpolated to the fractional depth ``w``. ``na``/``nb``: packed rows of the cells'
        left nodes in the upper/lower grid row."""
        def node_range(n):
            on1 = Q[self._B][n + 1] == br
            on0 = Q[self._B][n] == br
            m = np.where(on1, n + 1, n)
            return on1 | on0, Q[self._S][m], Q[self._E][m]

        ka, sa, ea = node_range(na)
        kb, sb, eb = node_range(nb)
        start = sa + w * (sb - sa)
        end = ea + w * (eb - ea)
        return ka & kb, (x >= start - 1e-6) & (x <= end + 1e-6)

    def _curvature(self, Q: np.ndarray, n: np.ndarray, step: int, col: np.ndarray) -> np.ndarray:
        """dp/dx (s/deg^2) between packed node ``n`` and its neighbour ``n + step`` in the
        same grid row when both are on the same branch, else 0; ``col`` is the column of ``n``."""
        nb = n + step
        ok = (col + step >= 0) & (col + step < self.distance_deg.size)
        nb = np.where(ok, nb, n)
        same = ok & (Q[self._B][nb] == Q[self._B][n])
        cb = np.where(ok, col + step, col)
        # (no neighbour: dx = 1 instead of 0, the result is 0 anyway; no warnings to handle)
        dx = np.where(ok, self.distance_deg[cb] - self.distance_deg[col], 1.0)
        c = (Q[self._P][nb] - Q[self._P][n]) / dx
        return np.where(same & np.isfinite(c), c, 0.0)

    def _rows(self, Q: np.ndarray, n0: np.ndarray, x, x0, hx, s, full: bool, col: np.ndarray):
        """Interpolate along distance between packed nodes ``n0`` and ``n0 + 1``, for both grid
        rows of the cells at once (``n0`` has shape ``(2, m)``: upper row with the one-sided
        ``dT/dh`` below its nodes, lower row with the one above; ``x``... have shape ``(m,)``).

        Same branch at both nodes: cubic Hermite from the times and slopes (ray parameters).
        Different branches (a crossover, triplication or branch end between the nodes): each
        node's branch continued along its tangent within that branch's distance range, the
        earlier one wins (exact for straight branches); chord if neither covers ``x``.

        :returns: ``(time, dtdh, branch, dtdx, slowness)`` of shape ``(2, m)`` (the last two
            ``None`` unless ``full``).
        """
        V = self._packed.take(np.concatenate((n0, n0 + 1)).reshape(2, *n0.shape), axis=0)
        if V.shape[2] > 64:  # contiguous columns: faster arithmetic on large batches
            V = np.ascontiguousarray(np.moveaxis(V, 3, 0))
            (t0, t1), (m0, m1), (d0, d1), (b0, b1) = V
        else:  # V: (node, grid row, point, column)
            t0, t1 = V[0, :, :, 0], V[1, :, :, 0]
            m0, m1 = V[0, :, :, 1], V[1, :, :, 1]
            d0, d1 = V[0, :, :, 2], V[1, :, :, 2]
            b0, b1 = V[0, :, :, 3], V[1, :, :, 3]
        s2 = s * s
        s3 = s2 * s
        h01 = 3 * s2 - 2 * s3
        time = t0 + h01 * (t1 - t0) + hx * ((s3 - 2 * s2 + s) * m0 + (s3 - s2) * m1)
        deriv = d0 + s * (d1 - d0)
        branch = b0.copy()
        dtdx = slow = None
        if full:
            dtdx = ((6 * s2 - 6 * s) * (t0 - t1) / hx + (3 * s2 - 4 * s + 1) * m0
                    + (3 * s2 - 2 * s) * m1)
            slow = m0 + s * (m1 - m0)
        r, c = np.nonzero(b0 != b1)
        if r.size:
            xd, x0d, hxd, sd, cd = x[c], x0[c], hx[c], s[c], col[c]
            na = n0[r, c]
            nb = na + 1
            t0d, t1d, m0d, m1d = t0[r, c], t1[r, c], m0[r, c], m1[r, c]
            ua, ub = xd - x0d, xd - x0d - hxd
            # curvature dp/dx of each branch from its other neighbour on the same branch
            # (0 when there is none): quadratic instead of straight extrapolation
            ca, cb = self._curvature(Q, na, -1, cd), self._curvature(Q, nb, +1, cd + 1)
            ta = np.where(xd <= Q[self._E][na] + 1e-6, t0d + ua * (m0d + 0.5 * ca * ua), np.inf)
            tb = np.where(xd >= Q[self._S][nb] - 1e-6, t1d + ub * (m1d + 0.5 * cb * ub), np.inf)
            ta[np.isnan(ta)] = np.inf  # a node without arrival: only the other branch counts
            tb[np.isnan(tb)] = np.inf
            left = ta <= tb
            tt = np.where(left, ta, tb)
            gap = ~np.isfinite(tt)
            chord = t0d + sd * (t1d - t0d)
            time[r, c] = np.where(gap, chord, tt)
            deriv[r, c] = np.where(left, d0[r, c], d1[r, c])
            branch[r, c] = np.where(left, b0[r, c], b1[r, c])
            if full:
                slope = np.where(left, m0d + ca * ua, m1d + cb * ub)
                dtdx[r, c] = np.where(gap, (t1d - t0d) / hxd, slope)
                slow[r, c] = slope
        return time, deriv, branch, dtdx, slow

    def _interp(self, phase, distance_deg, depth_km, full: bool = False):
        """Time (and with ``full`` dT/dx, slowness, dT/dh) at the points, flattened.

        In depth: cubic Hermite with the one-sided ray derivatives inside the cell (velocity
        just below the upper node, just above the lower node: cells never straddle a
        discontinuity) when both rows give the same branch; otherwise the earlier of the two
        depth tangents when they are consistent, else linear.

        Per call the work is a fixed number of array operations on all points together (both
        grid rows of a cell in one pass, all node values in one gather from the packed
        per-phase node array), so small batches (a locator's ~10 arrivals) cost ~0.1 ms.
        """
        Q = self._packed_cols
        if not isinstance(phase, str):  # a phase per point: broadcast all three together
            phase = np.asarray(phase)
            full_shape = np.broadcast_shapes(phase.shape, np.shape(distance_deg), np.shape(depth_km))
            if full_shape != np.shape(distance_deg):
                distance_deg = np.broadcast_to(np.asarray(distance_deg, dtype=float), full_shape)
        shape, inside, x, z, i, j = self._cell(distance_deg, depth_km)
        xg, zg = self.distance_deg, self.depth_km
        nx = xg.size
        base = self._phase_base(phase, shape)
        x0 = xg[i]
        hx = xg[i + 1] - x0
        s = (x - x0) / hx
        z0 = zg[j]
        hz = zg[j + 1] - z0
        w = (z - z0) / hz
        na = j * nx + i + base
        # upper row: nodes with dT/dh below them (first half of the phase's rows); lower row:
        # above (second half)
        time2, deriv2, branch2, dtdx2, slow2 = self._rows(
            Q, np.concatenate((na, na + (nx + self._n_nodes))).reshape(2, -1), x, x0, hx, s,
            full, i)
        ta, tb, da, db = time2[0], time2[1], deriv2[0], deriv2[1]
        w2 = w * w
        w3 = w2 * w
        time = ta + (3 * w2 - 2 * w3) * (tb - ta) + hz * ((w3 - 2 * w2 + w) * da + (w3 - w2) * db)
        if full:
            dtdh = ((6 * w2 - 6 * w) * (ta - tb) / hz + (3 * w2 - 4 * w + 1) * da
                    + (3 * w2 - 2 * w) * db)
        fin = np.isfinite(time2)
        dfin = np.isfinite(deriv2)
        other = np.nonzero((branch2[0] != branch2[1]) | ~dfin[0] | ~dfin[1]
                           | ~fin[0] | ~fin[1])[0]
        if other.size:
            o = other
            tao, tbo, dao, dbo, ho = ta[o], tb[o], da[o], db[o], hz[o]
            ka, kb = dfin[0, o], dfin[1, o]
            known = ka & kb
            # (non-finite dT/dh never reaches the results: 0 keeps the tangents finite)
            dao, dbo = np.where(ka, dao, 0.0), np.where(kb, dbo, 0.0)
            tan_a = tao + dao * (z[o] - z0[o])
            tan_b = tbo + dbo * (z[o] - z0[o] - ho)
            cons = known & (tao + dao * ho >= tbo - 1e-3) & (tbo - dbo * ho >= tao - 1e-3)
            lin = tao + w[o] * (tbo - tao)
            # where both rows know both branches' distance ranges (e.g. a caustic moving with
            # depth), keep each depth tangent only inside its branch's range at this depth
            nao, nbo = na[o], na[o] + nx
            ok_a, ra = self._branch_range(Q, branch2[0, o], nao, nbo, w[o], x[o])
            ok_b, rb = self._branch_range(Q, branch2[1, o], nao, nbo, w[o], x[o])
            # (a row without arrival only lets the other row's branch through when that
            # branch's range is known in both rows, e.g. Pg near its largest distance)
            fa, fb = fin[0, o], fin[1, o]
            ua, ub = fa & ok_a & ka, fb & ok_b & kb
            ca = np.where(ua & ra, tan_a, np.inf)
            cb = np.where(ub & rb, tan_b, np.inf)
            best = np.minimum(ca, cb)
            use_r = (ua | ~fa) & (ub | ~fb) & np.isfinite(best)
            time[o] = np.where(use_r, best, np.where(cons, np.minimum(tan_a, tan_b), lin))
            if full:
                dtdh[o] = np.where(use_r, np.where(ca <= cb, dao, dbo),
                                   np.where(cons, np.where(tan_a <= tan_b, dao, dbo),
                                            (tbo - tao) / ho))
        bad = ~inside
        time[bad] = np.nan
        if not full:
            return shape, time
        dtdx = dtdx2[0] + w * (dtdx2[1] - dtdx2[0])
        slow = slow2[0] + w * (slow2[1] - slow2[0])
        nan = bad | ~np.isfinite(time)
        for arr in (dtdx, slow, dtdh):
            arr[nan] = np.nan
        return shape, time, dtdx, slow, dtdh

    def time(self, phase: str, distance_deg, depth_km) -> np.ndarray:
        """Travel time, s (NaN where ``phase`` does not exist or outside the grid).

        :param phase: a table phase (``"P"``, ``"S"``, ``"Pn"``, ...).
        :param distance_deg: epicentral distance(s), degrees.
        :param depth_km: source depth(s), km below sea level.
        """
        shape, t = self._interp(phase, distance_deg, depth_km)
        return t.reshape(shape)

    def slowness(self, phase: str, distance_deg, depth_km) -> np.ndarray:
        """Ray parameter (horizontal slowness), s/deg, interpolated from TauP's values."""
        shape, _, _, p, _ = self._interp(phase, distance_deg, depth_km, full=True)
        return p.reshape(shape)

    def derivatives(self, phase: str, distance_deg, depth_km):
        """Time and its partial derivatives (of the interpolant), for a locator.

        :returns: ``(time_s, dtdd_s_per_deg, dtdh_s_per_km)``: travel time, dT/d(distance) in
            s/deg (~ the slowness) and dT/d(source depth) in s/km (negative when a deeper
            source arrives earlier).
        """
        shape, t, dx, _, dh = self._interp(phase, distance_deg, depth_km, full=True)
        return t.reshape(shape), dx.reshape(shape), dh.reshape(shape)

    def lookup(self, phase, distance_deg, depth_km):
        """Everything :meth:`time`, :meth:`derivatives` and :meth:`slowness` give, from one
        interpolation (a locator needs all of them at the same points), for one phase or a
        different phase per point (one call for all arrivals of an event is much cheaper than
        one call per phase: the cost of a call is mostly fixed below ~100 points).

        :param phase: a table phase name, or an array (broadcast with the points) of table
            phase names or of indices into :attr:`phases`.
        :param distance_deg: epicentral distance(s), degrees.
        :param depth_km: source depth(s), km below sea level.
        :returns: ``(time_s, dtdd_s_per_deg, slowness_s_per_deg, dtdh_s_per_km)``, each of the
            broadcast shape of the inputs; the values are those of the single-purpose methods.
        """
        shape, t, dx, p, dh = self._interp(phase, distance_deg, depth_km, full=True)
        return t.reshape(shape), dx.reshape(shape), p.reshape(shape), dh.reshape(shape)

    def _bilinear(self, var: str, phase: str, distance_deg, depth_km) -> np.ndarray:
        k = self._index(phase)
        shape, inside, x, z, i, j = self._cell(distance_deg, depth_km)
        s, w = self._fractions(x, z, i, j)
        A = self._arr[var][k]
        out = ((1 - w) * ((1 - s) * A[j, i] + s * A[j, i + 1])
               + w * ((1 - s) * A[j + 1, i] + s * A[j + 1, i + 1]))
        out[~inside] = np.nan
        return out.reshape(shape)

    def ellipticity(self, phase, distance_deg, depth_km, source_latitude_deg, azimuth_deg
                    ) -> np.ndarray:
        """Ellipticity correction (s, to **add** to :meth:`time`) for sources at geocentric
        latitude ``source_latitude_deg`` and receivers at azimuth ``azimuth_deg`` (from the
        source, clockwise from north): the node coefficients σ0..σ2 interpolated bilinearly,
        combined as in :func:`pipeline.traveltime.ellipticity.correction`. Zero for layered
        local models; NaN outside the grid.

        :param phase: a table phase name, or an array of names / indices (one per point).
        """
        from .ellipticity import correction

        ph = np.asarray(phase)
        shape, inside, x, z, i, j = self._cell(distance_deg, depth_km)
        s, w = self._fractions(x, z, i, j)
        if ph.dtype.kind in "iu":
            k = np.broadcast_to(ph, shape).ravel()
        else:
            k = np.array([self._index(str(p)) for p in np.broadcast_to(ph, shape).ravel()],
                         dtype=int)
        E = self._ellip  # (3, phase, depth, distance)
        c = ((1 - w) * ((1 - s) * E[:, k, j, i] + s * E[:, k, j, i + 1])
             + w * ((1 - s) * E[:, k, j + 1, i] + s * E[:, k, j + 1, i + 1]))
        lat = np.broadcast_to(np.asarray(source_latitude_deg, float), shape).ravel()
        az = np.broadcast_to(np.asarray(azimuth_deg, float), shape).ravel()
        out = correction(c[0], c[1], c[2], lat, az)
        out[~inside] = np.nan
        return out.reshape(shape)

    def takeoff_angle(self, phase: str, distance_deg, depth_km) -> np.ndarray:
        """Take-off angle at the source, degrees from the downward vertical (> 90 = up-going)."""
        return self._bilinear("takeoff_angle", phase, distance_deg, depth_km)

    def incidence_angle(self, phase: str, distance_deg, depth_km) -> np.ndarray:
        """Incidence angle at the receiver, degrees from the downward vertical (TauP's)."""
        return self._bilinear("incidence_angle", phase, distance_deg, depth_km)

    def dtdh_ray(self, phase: str, distance_deg, depth_km) -> np.ndarray:
        """dT/d(source depth) from the ray's vertical slowness at the source
        (``-cos(takeoff)/v_source`` for down-going rays, velocity below the source), s/km."""
        return self._bilinear("dtdh_below", phase, distance_deg, depth_km)

    def taup_phase(self, phase: str, distance_deg, depth_km) -> np.ndarray:
        """Name of the TauP phase giving the arrival at the nearest grid node ('' = none)."""
        k = self._index(phase)
        shape, inside, x, z, i, j = self._cell(distance_deg, depth_km)
        s, w = self._fractions(x, z, i, j)
        ii = np.where(s < 0.5, i, i + 1)
        jj = np.where(w < 0.5, j, j + 1)
        idx = self._arr["taup_phase"][k][jj, ii]
        names = np.array(list(self.taup_phases) + [""], dtype=object)
        out = names[np.where((idx >= 0) & inside, idx, len(self.taup_phases))]
        return out.reshape(shape)

    def elevation_correction(self, phase: str, distance_deg, depth_km, elevation_km) -> np.ndarray:
        """Seconds to **add** to :meth:`time` for a station at ``elevation_km`` (km above sea
        level) instead of the table's receiver elevation.

        ``tau = integral sqrt(1/v^2 - p^2/r^2) dz`` between the two elevations with the
        interpolated ray parameter (exact to first order; velocities of the model's layers,
        e.g. 1.5 km/s above 1 km below sea level in the Iceland model, 5.8 km/s in ak135).
        NaN where the phase does not exist. Needs the model's TauP file (velocities).

        :param phase: a table phase.
        :param distance_deg: epicentral distance(s), degrees.
        :param depth_km: source depth(s), km below sea level.
        :param elevation_km: station elevation(s), km above sea level.
        """
        if not self.model.taup_model:
            raise RuntimeError("elevation corrections need the model's TauP file: build the "
                               "table with TravelTimeTable(model, ...)")
        wave = self.groups[phase].wave
        p = self.slowness(phase, distance_deg, depth_km)
        ref = -self.receiver_elevation_km
        dt = self.model.vertical_slowness_integral(ref, -np.asarray(elevation_km, float),
                                                   np.nan_to_num(p), wave)
        return np.where(np.isnan(p), np.nan, dt)

    def station_time(self, phase: str, distance_deg, depth_km, elevation_km) -> np.ndarray:
        """Predicted travel time to a station at ``elevation_km``: :meth:`time` plus
        :meth:`elevation_correction` (the table time as it is when the model has no TauP file).
        NaN where the phase does not exist."""
        t = np.asarray(self.time(phase, distance_deg, depth_km), dtype=float)
        if not self.model.taup_model:
            return t
        e = np.broadcast_to(np.asarray(elevation_km, float), np.shape(t))
        return t + np.asarray(self.elevation_correction(phase, distance_deg, depth_km, e), dtype=float)


class _CellLocator:
    """Index ``i`` of the cell ``[nodes[i], nodes[i+1]]`` holding each value (clipped to the
    first/last cell): a bucket table over the axis plus a few vectorised steps, ~4x faster
    than :func:`numpy.searchsorted` for 10^4 random values."""

    def __init__(self, nodes: np.ndarray):
        self.nodes = nodes
        self.last = nodes.size - 2
        span = float(nodes[-1] - nodes[0])
        n_buckets = int(min(max(4 * nodes.size, 2 * span / np.min(np.diff(nodes))), 100_000))
        self.x0 = float(nodes[0])
        self.scale = n_buckets / float(nodes[-1] - nodes[0])
        edges = self.x0 + np.arange(n_buckets + 1) / self.scale
        self.lut = np.clip(np.searchsorted(nodes, edges, "right") - 1, 0, self.last)
        # worst number of nodes inside one bucket = number of correction steps needed
        self.steps = int(np.max(np.diff(self.lut))) + 1 if n_buckets > 0 else 1

    def __call__(self, x: np.ndarray) -> np.ndarray:
        # bucket number clamped to the table before the integer cast (NaN -> 0: any index,
        # masked by the caller; same values as casting first and clipping after)
        k = np.fmin(np.fmax((x - self.x0) * self.scale, 0.0), self.lut.size - 1).astype(np.int64)
        i = self.lut[k]
        for _ in range(self.steps):
            up = (i < self.last) & (x >= self.nodes[np.minimum(i + 1, self.last + 1)])
            if not up.any():
                break
            i = i + up
        return i


def _save_dataset(ds, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}-", suffix=".nc")
    os.close(fd)
    try:
        ds.to_netcdf(tmp, engine="netcdf4",
                     encoding={v: {"zlib": True, "complevel": 4} for v in ds.data_vars})
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; the cache may be shared
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _load_dataset(path: Path):
    import xarray as xr

    with xr.open_dataset(path, engine="netcdf4") as ds:
        ds = ds.load()
    if int(ds.attrs.get("format_version", -1)) != TABLE_FORMAT_VERSION:
        raise ValueError(f"{path}: travel-time table format {ds.attrs.get('format_version')} "
                         f"!= {TABLE_FORMAT_VERSION}; delete the file to rebuild it")
    return ds

