"""Source grids of the associator and their node-to-station travel times.

A :class:`Grid` holds the candidate source nodes of one network (see
:mod:`pipeline.association.network` for how the family is chosen) and, per phase, the travel
times from every node to every station within reach as a sparse, station-major index
(:class:`SparseTimes`): only the finite node-station pairs are stored (4 + 4 bytes each), built
station by station, so memory is bounded by what the vote needs, not by network x grid.

Families
--------
``local``
    A flat lattice over the stations' bounding box plus ``margin_km``, uniform spacing.
``regional``
    A spherical cap around the network's centre: a core (the stations' footprint plus
    ``margin_km``) sampled at the core spacing on a lattice of the azimuthal-equidistant
    projection, then rings whose spacing grows by ``spacing_growth`` times the distance beyond
    the core, out to ``outer_deg`` beyond it. Far from the stations a location is poorly
    resolved anyway, so the rings cost few nodes (their count grows with the logarithm of the
    cap radius).
``global``
    A Fibonacci lattice over the sphere.

Nodes are grouped in *levels* of spacing (level ``k``: up to ``2**k`` times the core spacing),
in order: each level has its own vote tolerances (the travel-time change across a cell grows
with its size).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from pipeline.association.config import AssociatorConfig
from pipeline.association.network import NetworkGeometry, choose_scale, network_geometry, nice_spacing
from pipeline.geo.coast import unit_vectors
from pipeline.location.geodesy import KM_PER_DEG, destination, great_circle_deg

#: rows of the node-block index of :class:`SparseTimes`
VOTE_BLOCK = 512

#: phases the associator may hypothesise, by family (those the travel-time table has are used)
FAMILY_PHASES = {
    "local": ("P", "S"),
    "regional": ("P", "Pg", "S", "Lg"),
    "global": ("P", "PKP", "S", "Pg", "Lg"),
}
#: largest distance at which a phase is hypothesised, deg (the family's ``max_distance_deg``
#: caps the direct phases; core phases reach the antipode). Crustal Pg and Lg die out at
#: regional distances (IASPEI standard phase list: up to ~20-30 deg at most).
PHASE_MAX_DISTANCE_DEG = {"Pg": 20.0, "Sg": 20.0, "Lg": 25.0, "Pn": 20.0, "Sn": 25.0,
                          "PKP": 180.0}
#: smallest distance at which a phase is hypothesised, deg: the crustal Pg and Lg are later
#: phases only beyond the Pg/Pn and Sg/Sn crossovers (~1.5 deg for a normal crust); nearer, the
#: first-arriving P and S are those waves, and Lg, a group velocity without depth dependence,
#: would pull local sources to wrong depths and places
PHASE_MIN_DISTANCE_DEG = {"Pg": 1.5, "Lg": 1.5}
#: phases not capped by the family's ``max_distance_deg``
CORE_PHASES = ("PKP",)


def phase_kind(name: str) -> str:
    """P-type or S-type family of a phase name or hint ("" = unknown)."""
    n = (name or "").strip().upper()
    if not n:
        return ""
    if n.startswith("S") or n in ("LG", "RG"):
        return "S"
    if n.startswith("P"):
        return "P"
    return ""


@dataclass
class SparseTimes:
    """The finite entries of one phase's (nodes, stations) travel-time matrix, station by
    station, nodes ascending (a station's nodes within reach): ``node[k]``, ``time[k]`` for
    ``k`` in ``offs[s, b]:offs[s, b + 1]`` are station ``s``'s entries in node block ``b``
    (nodes ``b * VOTE_BLOCK`` ... ``(b + 1) * VOTE_BLOCK - 1``)."""

    node: np.ndarray
    time: np.ndarray
    offs: np.ndarray

    @classmethod
    def of(cls, tt: np.ndarray) -> "SparseTimes":
        """From a dense ``(nodes, stations)`` matrix (NaN = no entry)."""
        sta, node = np.nonzero(np.isfinite(tt.T))  # station-major, nodes ascending
        return cls.from_entries(sta, node, tt[node, sta], tt.shape[0], tt.shape[1])

    @classmethod
    def from_entries(cls, sta: np.ndarray, node: np.ndarray, time: np.ndarray, n_nodes: int,
                     n_sta: int) -> "SparseTimes":
        """From entries sorted station-major with nodes ascending per station."""
        n_blocks = max(1, -(-n_nodes // VOTE_BLOCK))
        keys = sta.astype(np.int64) * n_blocks + node // VOTE_BLOCK
        bounds = np.arange(n_sta * n_blocks + 1, dtype=np.int64)
        offs = np.searchsorted(keys, bounds, side="left")
        starts = offs[:-1].reshape(n_sta, n_blocks)
        ends = np.append(starts[1:, :1], len(sta)) if n_sta else np.zeros(0, np.int64)
        offs = np.concatenate([starts, ends[:, None]], axis=1)
        return cls(node=node.astype(np.int32), time=np.asarray(time, dtype=np.float32), offs=offs)

    @property
    def nbytes(self) -> int:
        return self.node.nbytes + self.time.nbytes + self.offs.nbytes

    def entries(self, sidx: np.ndarray, b0: int = 0, b1: int | None = None
                ) -> tuple[np.ndarray, np.ndarray]:
        """``(pick, entry)`` index pairs of the picks at stations ``sidx`` in node blocks
        ``b0 <= b < b1`` (default all): for each pick in order, its station's entries, nodes
        ascending."""
        b1 = self.offs.shape[1] - 1 if b1 is None else b1
        lo = self.offs[sidx, b0]
        cnt = self.offs[sidx, b1] - lo
        total = int(cnt.sum())
        pick = np.repeat(np.arange(len(sidx)), cnt)
        entry = np.arange(total, dtype=np.int64) + np.repeat(lo - (np.cumsum(cnt) - cnt), cnt)
        return pick, entry


@dataclass
class Grid:
    """Source nodes of one network and their travel times to its stations.

    Node arrays are ordered by level (``level_slices[k]`` are the nodes of level ``k``)."""

    scale: str
    geometry: NetworkGeometry
    lat: np.ndarray
    lon: np.ndarray
    depth: np.ndarray
    level: np.ndarray
    #: node spacing of each level, km
    level_spacing_km: np.ndarray
    level_slices: list
    #: hypothesised phases and their kinds ("P"/"S")
    phases: tuple[str, ...]
    kinds: dict[str, str]
    #: phase -> vote half-width per level, s
    tol: dict[str, np.ndarray]
    #: phase -> association residual limit, s, and its growth with distance, s/deg
    res: dict[str, float]
    growth: dict[str, float]
    #: phase -> largest residual limit (the growth stops there), s
    res_max: dict[str, float]
    #: phase -> largest source-station distance used, deg
    reach: dict[str, float]
    #: phase -> smallest source-station distance used, deg
    near_limit: dict[str, float]
    window_s: float
    #: largest travel time of any / of each phase, s
    max_tt: float
    max_tt_phase: dict[str, float]
    #: phase -> per-station elevation correction, s (added to table times)
    corr: dict[str, np.ndarray]
    #: phase -> :class:`SparseTimes`
    sparse: dict[str, SparseTimes] = field(default_factory=dict, repr=False)
    #: depth step of the refinement around a node, km
    refine_depth_km: float = 0.0
    #: the refinement stops at steps of this spacing / ``refine_factor``, km (the resolution
    #: the station spacing supports; the vote's nodes may be coarser)
    fine_km: float = 0.0

    @property
    def spacing_km(self) -> float:
        """Node spacing of the finest level (the core), km."""
        return float(self.level_spacing_km[0])

    @property
    def n_nodes(self) -> int:
        return int(self.lat.size)

    @property
    def nbytes(self) -> int:
        return int(sum(s.nbytes for s in self.sparse.values()))

    def tol_min(self, phase: str) -> float:
        return float(self.tol[phase][0])

    def describe(self) -> str:
        """One line for logs and the CLI."""
        g = self.geometry
        return (f"{self.scale} grid: {g.n_stations} stations (aperture {g.aperture_km:.0f} km, "
                f"spacing {g.spacing_km:.1f} km), {self.n_nodes} nodes, node spacing "
                f"{self.spacing_km:g}-{float(self.level_spacing_km[-1]):g} km (refined to "
                f"{(self.fine_km or self.spacing_km) / 4:g} km), phases "
                f"{'/'.join(self.phases)}, window {self.window_s:g} s, "
                f"{self.nbytes / 1e6:.0f} MB of travel times")


def fibonacci_sphere(spacing_deg: float) -> tuple[np.ndarray, np.ndarray]:
    n = max(int(4 * math.pi / math.radians(spacing_deg) ** 2), 12)
    i = np.arange(n) + 0.5
    lat = np.degrees(np.arcsin(1 - 2 * i / n))
    lon = (np.degrees(math.pi * (1 + 5 ** 0.5) * i) + 180.0) % 360.0 - 180.0
    return lat, lon


#: candidate node spacings of the automatic choice, km (the series of :func:`nice_spacing`)
_SPACINGS = tuple(m * 10.0 ** e for e in range(-1, 4) for m in (1.0, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0))
#: each pick is voted ~1.5 times (a window's picks reach into the next window: look-ahead and
#: travel times)
_VOTE_OVERHEAD = 1.5


def _lattice_nodes(stations: pd.DataFrame, g, spacing_km: float) -> int:
    """Number of nodes of the local lattice at ``spacing_km``."""
    lat0 = float(stations["latitude"].mean())
    kx = KM_PER_DEG * math.cos(math.radians(lat0))
    ex = float(np.ptp(stations["longitude"].to_numpy())) * kx + 2 * g.margin_km
    ey = float(np.ptp(stations["latitude"].to_numpy())) * KM_PER_DEG + 2 * g.margin_km
    return int((ex / spacing_km + 1) * (ey / spacing_km + 1) * len(g.depths_km))


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


def _cap_nodes(geom: NetworkGeometry, core_km: float, h0: float, growth: float,
               outer_km: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Epicentres of a graded cap around the network centre: a lattice of spacing ``h0`` (km,
    azimuthal-equidistant projection) within ``core_km`` of the centre, then rings out to
    ``core_km + outer_km`` whose spacing grows as ``h0 + growth * (r - core_km)``.

    :returns: ``(lat, lon, spacing_km)`` per node."""
    n = int(math.ceil(core_km / h0))
    ax = np.arange(-n, n + 1) * h0
    X, Y = np.meshgrid(ax, ax, indexing="ij")
    r = np.hypot(X, Y).ravel()
    keep = r <= core_km + 1e-9
    rr, az = r[keep], np.degrees(np.arctan2(X.ravel()[keep], Y.ravel()[keep]))
    hs = [np.full(rr.size, h0)]
    rs, azs = [rr], [az]
    radius = core_km
    ring = 0
    limit = min(core_km + outer_km, 180.0 * KM_PER_DEG - h0)
    while True:
        h = h0 + growth * (radius - core_km)
        radius += h
        if radius > limit + 1e-9:
            break
        h = h0 + growth * (radius - core_km)
        k = max(6, int(math.ceil(2 * math.pi * radius / h)))
        a = (np.arange(k) + 0.5 * (ring % 2)) * 360.0 / k
        rs.append(np.full(k, radius))
        azs.append(a)
        hs.append(np.full(k, h))
        ring += 1
    r_all, az_all, h_all = np.concatenate(rs), np.concatenate(azs), np.concatenate(hs)
    lat, lon = destination(geom.centre_lat, geom.centre_lon, az_all, r_all / KM_PER_DEG)
    return np.asarray(lat, float), np.asarray(lon, float), h_all


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


def table_max_distance_deg(tt) -> float:
    """Largest distance of a travel-time table (180 for objects without a grid)."""
    d = getattr(tt, "distance_deg", None)
    return float(d[-1]) if d is not None and len(d) else 180.0


def table_phases(tt) -> tuple[str, ...] | None:
    """Phases a travel-time table provides (None when it does not say)."""
    ph = getattr(tt, "phases", None)
    return tuple(ph) if ph is not None else None


def choose_phases(scale: str, tt, configured) -> tuple[str, ...]:
    """The phases to hypothesise: the configured ones, else the family's that the table has
    (at least one P-type and, when the table has one, one S-type phase)."""
    have = table_phases(tt)
    if configured != "auto":
        if have is not None:
            missing = [p for p in configured if p not in have]
            if missing:
                raise ValueError(f"association.phases {list(configured)}: the travel-time table has no "
                                 f"{', '.join(missing)} (table phases: {', '.join(have)}); add them to "
                                 "[traveltime] phases")
        return tuple(configured)
    wanted = FAMILY_PHASES[scale]
    if have is None:
        return ("P", "S")
    out = tuple(p for p in wanted if p in have)
    if not any(phase_kind(p) == "P" for p in out):
        raise ValueError(f"the travel-time table has no P phase (table phases: {', '.join(have)})")
    return out


def build_grid(stations: pd.DataFrame, tt, config: AssociatorConfig = AssociatorConfig(),
               n_picks: int | None = None) -> Grid:
    """Source nodes and node→station travel times for the network in ``stations``.

    :param n_picks: number of picks the grid will see (the pick stream): with an automatic
        spacing, the local lattice votes at the finest spacing the station spacing supports
        while the vote's work (picks x nodes) stays within ``vote_budget``, else coarser (down
        to what its tolerance floor resolves); the refinement still reaches the fine spacing.
    """
    cfg = config
    lat_s = stations["latitude"].to_numpy(dtype=float)
    lon_s = stations["longitude"].to_numpy(dtype=float)
    geom = network_geometry(lat_s, lon_s)
    scale = cfg.scale
    if scale == "auto":
        scale = choose_scale(geom, cfg.local_aperture_km, cfg.local_max_station_spacing_km,
                             cfg.regional_aperture_km)
    tmax = table_max_distance_deg(tt)
    phases = choose_phases(scale, tt, cfg.phases)
    if scale == "local":
        g = cfg.local
        spacing = fine = g.spacing_km
        if spacing == "auto":
            # the resolution sought (refinement target) from the station spacing; the vote needs
            # no finer nodes than its tolerance floor resolves (tolerance_p_s / s per km), and is
            # that coarse only when the pick stream makes the finer vote too costly
            fine = nice_spacing(max(geom.spacing_km / cfg.nodes_per_station_spacing, 0.5))
            coarsest = max(fine, nice_spacing(g.tolerance_p_s / max(g.tolerance_p_s_per_km, 1e-9)))
            spacing = fine
            for h in _SPACINGS:
                if h <= fine or h > coarsest:
                    continue
                if n_picks is None or _lattice_nodes(stations, g, max(spacing, geom.aperture_km / cfg.max_nodes_per_side)) \
                        * n_picks * _VOTE_OVERHEAD <= cfg.vote_budget:
                    break
                spacing = h
        # large networks get a coarser grid (bounded memory); tolerances grow with the spacing
        spacing = max(spacing, geom.aperture_km / cfg.max_nodes_per_side)
        lat, lon, depth = _local_nodes(stations, g.margin_km, spacing, g.depths_km)
        node_h = np.full(lat.size, spacing)
        refine_dz = spacing
    elif scale == "regional":
        g = cfg.regional
        core = geom.radius_km + g.margin_km
        spacing = fine = g.spacing_km
        if spacing == "auto":
            fine = nice_spacing(max(geom.spacing_km / cfg.nodes_per_station_spacing, 0.5))
            spacing = nice_spacing(max(fine, g.tolerance_p_s / max(g.tolerance_p_s_per_km, 1e-9),
                                       2.0 * core / cfg.max_nodes_per_side))
        outer = min(g.outer_deg, g.max_distance_deg, tmax) * KM_PER_DEG
        growth_rate = max(spacing / core, 0.1) if g.spacing_growth == "auto" else g.spacing_growth
        la, lo, hh = _cap_nodes(geom, core, spacing, growth_rate, outer)
        nd = len(g.depths_km)
        lat, lon, node_h = np.repeat(la, nd), np.repeat(lo, nd), np.repeat(hh, nd)
        depth = np.tile(np.asarray(g.depths_km, float), la.size)
        refine_dz = max(spacing, 10.0)
    else:
        g = cfg.global_
        la, lo = fibonacci_sphere(g.spacing_deg)
        nd = len(g.depths_km)
        lat, lon = np.repeat(la, nd), np.repeat(lo, nd)
        depth = np.tile(np.asarray(g.depths_km, float), la.size)
        spacing = fine = g.spacing_deg * KM_PER_DEG
        node_h = np.full(lat.size, spacing)
        refine_dz = 60.0
    # levels of spacing (level k: up to 2**k x the finest), nodes ordered by level
    level = np.maximum(0, np.ceil(np.log2(node_h / spacing - 1e-9))).astype(np.int16)
    order = np.argsort(level, kind="stable")
    lat, lon, depth, level = lat[order], lon[order], depth[order], level[order]
    n_levels = int(level.max()) + 1 if level.size else 1
    level_h = spacing * 2.0 ** np.arange(n_levels)
    bounds = np.searchsorted(level, np.arange(n_levels + 1))
    slices = [slice(int(bounds[k]), int(bounds[k + 1])) for k in range(n_levels)]
    kinds = {p: phase_kind(p) for p in phases}
    if scale == "global":
        tol = {p: np.full(n_levels, g.tolerance_p_s if kinds[p] == "P" else g.tolerance_s_s)
               for p in phases}
    else:
        # a cell of spacing h changes travel times by up to ~h x slowness; seen from a network of
        # radius R at distance r > 2R from its centre, the *differences* between the stations
        # (what the vote aligns: the origin time takes the common part) change by that times 2R / r
        r_node = great_circle_deg(lat, lon, geom.centre_lat, geom.centre_lon) * KM_PER_DEG
        r_level = np.array([float(r_node[sl].min()) if sl.stop > sl.start else 0.0 for sl in slices])
        shrink = np.minimum(1.0, 2.0 * max(geom.radius_km, spacing) / np.maximum(r_level, 1e-9))
        tol = {p: np.maximum(g.tolerance_p_s if kinds[p] == "P" else g.tolerance_s_s,
                             (g.tolerance_p_s_per_km if kinds[p] == "P" else g.tolerance_s_s_per_km)
                             * level_h * shrink) for p in phases}
    res = {p: g.residual_p_s if kinds[p] == "P" else g.residual_s_s for p in phases}
    growth = {p: g.residual_growth_p_s_per_deg if kinds[p] == "P" else g.residual_growth_s_s_per_deg
              for p in phases}
    res_max = {p: max(res[p], g.residual_max_p_s if kinds[p] == "P" else g.residual_max_s_s) for p in phases}
    reach = {}
    for p in phases:
        cap = 180.0 if p in CORE_PHASES else g.max_distance_deg
        reach[p] = float(min(cap, PHASE_MAX_DISTANCE_DEG.get(p, 180.0), tmax))
    near_limit = {p: float(PHASE_MIN_DISTANCE_DEG.get(p, 0.0)) for p in phases}
    corr = station_corrections(stations, tt, phases)
    node_radius = None
    if scale == "regional" and g.vote_stations < lat_s.size:
        node_radius = _nearest_station_distance(lat, lon, lat_s, lon_s, g.vote_stations)
    sparse, max_tt, max_tt_phase = _sparse_times(lat, lon, depth, lat_s, lon_s, tt, phases, corr, reach, near_limit,
                                   node_radius)
    return Grid(scale=scale, geometry=geom, lat=lat, lon=lon, depth=depth, level=level,
                level_spacing_km=level_h, level_slices=slices, phases=phases, kinds=kinds, tol=tol,
                res=res, growth=growth, res_max=res_max, reach=reach, near_limit=near_limit, window_s=g.window_s, max_tt=max_tt,
                max_tt_phase=max_tt_phase, corr=corr, fine_km=float(min(fine, spacing)),
                sparse=sparse, refine_depth_km=refine_dz)


def _nearest_station_distance(lat, lon, lat_s, lon_s, k: int) -> np.ndarray:
    """Distance from each node to its ``k``-th nearest station, deg (a k-d tree on unit
    vectors; nodes of several depths share their epicentre's value)."""
    from scipy.spatial import cKDTree

    tree = cKDTree(unit_vectors(lat_s, lon_s))
    chord, _ = tree.query(unit_vectors(lat, lon), k=[k])
    return np.degrees(2.0 * np.arcsin(np.clip(chord[:, 0] / 2.0, 0.0, 1.0)))


def _sparse_times(lat, lon, depth, lat_s, lon_s, tt, phases, corr, reach, near_limit, node_radius=None
                  ) -> tuple[dict, float]:
    """Per phase, the :class:`SparseTimes` of the finite node-station travel times within
    ``reach`` (and, with ``node_radius``, within each node's radius, deg), computed station by
    station: memory = the entries kept."""
    n_nodes, n_sta = lat.size, lat_s.size
    parts = {p: ([], [], []) for p in phases}
    max_tt = 0.0
    max_tt_phase: dict[str, float] = {}
    far = max(reach.values()) if reach else 0.0
    for s in range(n_sta):
        d = great_circle_deg(lat, lon, lat_s[s], lon_s[s])
        within = d <= far
        if node_radius is not None:
            within &= d <= node_radius + 1e-9
        near = np.flatnonzero(within)
        dn = d[near]
        for p in phases:
            k = near[(dn <= reach[p]) & (dn >= near_limit[p])] if (reach[p] < far or near_limit[p] > 0) else near
            if not k.size:
                continue
            t = np.asarray(tt.time(p, d[k], depth[k]), dtype=float) + corr[p][s]
            fin = np.isfinite(t)
            if not fin.any():
                continue
            kk = k[fin]
            tf = t[fin]
            max_tt = max(max_tt, float(tf.max()))
            max_tt_phase[p] = max(max_tt_phase.get(p, 0.0), float(tf.max()))
            st, nd, tm = parts[p]
            st.append(np.full(kk.size, s, dtype=np.int32))
            nd.append(kk.astype(np.int32))
            tm.append(tf.astype(np.float32))
    out = {}
    for p, (st, nd, tm) in parts.items():
        if st:
            out[p] = SparseTimes.from_entries(np.concatenate(st), np.concatenate(nd), np.concatenate(tm),
                                              n_nodes, n_sta)
        else:
            e = np.zeros(0, np.int32)
            out[p] = SparseTimes.from_entries(e, e, np.zeros(0, np.float32), n_nodes, n_sta)
    return out, max_tt, max_tt_phase


def aperture_km(stations: pd.DataFrame) -> float:
    """Largest station-to-station distance, km."""
    return network_geometry(stations["latitude"], stations["longitude"]).aperture_km


def geometry_of(stations: pd.DataFrame) -> NetworkGeometry:
    return network_geometry(stations["latitude"], stations["longitude"])
