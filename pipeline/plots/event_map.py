"""Event maps: epicentres sized by magnitude and coloured by depth, 90 % error ellipses, stations,
Natural Earth coastlines (bundled, :mod:`pipeline.geo.coast`), automatic local-to-global extent.

The projection is equirectangular (plate carrée) with the aspect ratio set to ``1/cos(mid-latitude)``
for local and regional maps, so that shapes are true at the map centre; global maps use aspect 1.
No cartopy/basemap is needed and nothing is downloaded.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from pipeline.geo import coast
from pipeline.plots.common import (PlotInputError, catalog_span, depth_km, located, magnitude_of, origin_of,
                                   pyplot, save, station_frame)

#: mean Earth radius, km (IUGG; as pipeline.geo.coast)
EARTH_RADIUS_KM = coast.EARTH_RADIUS_KM
KM_PER_DEG = np.pi / 180.0 * EARTH_RADIUS_KM


@dataclass
class MapExtent:
    """Map window in degrees; ``lon_min`` may be < -180 or ``lon_max`` > 180 (a window across the
    antimeridian), ``lon_max - lon_min <= 360``."""

    lon_min: float
    lon_max: float
    lat_min: float
    lat_max: float
    is_global: bool = False

    @property
    def lon_span(self) -> float:
        return self.lon_max - self.lon_min

    @property
    def lat_span(self) -> float:
        return self.lat_max - self.lat_min

    def wrap(self, lon) -> np.ndarray:
        """Longitudes shifted by multiples of 360 into ``[lon_min, lon_min + 360)``."""
        return (np.asarray(lon, dtype=float) - self.lon_min) % 360.0 + self.lon_min


@dataclass
class EventMapResult:
    """What :func:`plot_event_map` drew (for callers and tests)."""

    path: Path
    events_plotted: int
    events_unlocated: int
    stations_plotted: int
    ellipses: int
    coastline_segments: int
    extent: MapExtent
    resolution: str
    station_codes: list[str] = field(default_factory=list)


def _min_lon_arc(lons: np.ndarray) -> tuple[float, float]:
    """Smallest longitude interval (start, end), end possibly > 180, containing all ``lons``."""
    a = np.sort((np.asarray(lons, dtype=float) + 180.0) % 360.0 - 180.0)
    if a.size == 1:
        return float(a[0]), float(a[0])
    gaps = np.diff(np.concatenate([a, [a[0] + 360.0]]))
    i = int(np.argmax(gaps))
    if i == a.size - 1:  # biggest gap is across the antimeridian: no crossing needed
        return float(a[0]), float(a[-1])
    start = float(a[i + 1])
    return start, float(a[i] + 360.0)


def map_extent(lons, lats, min_span_deg: float = 1.0, pad_fraction: float = 0.15,
               global_lon_span_deg: float = 160.0, global_lat_span_deg: float = 100.0) -> MapExtent:
    """A map window around points (deg): the smallest longitude arc (across the antimeridian when that
    is shorter), padded by ``pad_fraction`` of the span (at least ``min_span_deg`` in all), widened to
    a whole-world map when it would exceed ``global_lon_span_deg`` or ``global_lat_span_deg``."""
    lons = np.asarray(lons, dtype=float)
    lats = np.asarray(lats, dtype=float)
    if lons.size == 0:
        return MapExtent(-180.0, 180.0, -90.0, 90.0, True)
    l0, l1 = _min_lon_arc(lons)
    b0, b1 = float(lats.min()), float(lats.max())
    cosm = np.cos(np.radians(np.clip((b0 + b1) / 2, -80, 80)))
    # spans in true (great-circle) degrees; keep width/height between 1.2 and 2 (landscape)
    w = max((l1 - l0) * cosm, min_span_deg)
    h = max(b1 - b0, min_span_deg)
    w, h = max(w, 1.2 * h), max(h, w / 2.0)
    cl, cb = (l0 + l1) / 2, (b0 + b1) / 2
    dl = w / cosm * (1 + 2 * pad_fraction)
    db = h * (1 + 2 * pad_fraction)
    if dl > global_lon_span_deg or db > global_lat_span_deg:
        centre = 0.0 if l1 <= 180.0 else 180.0
        return MapExtent(centre - 180.0, centre + 180.0, -90.0, 90.0, True)
    lat_min, lat_max = max(cb - db / 2, -90.0), min(cb + db / 2, 90.0)
    lon_min = cl - dl / 2
    if lon_min >= 180.0:
        lon_min -= 360.0
    return MapExtent(lon_min, lon_min + dl, lat_min, lat_max, False)


def ellipse_lonlat(lat: float, lon: float, semi_major_km: float, semi_minor_km: float, azimuth_deg: float,
                   n: int = 73) -> tuple[np.ndarray, np.ndarray]:
    """Outline of an error ellipse on the sphere: semi-axes (km), azimuth of the major axis (deg
    clockwise from north, as IMS1.0 ``Az`` / QuakeML ``azimuth_max_horizontal_uncertainty``).

    Each outline point is the great-circle destination from the centre along the point's bearing
    and distance in the local east/north frame; longitudes are continuous around ``lon``.
    """
    t = np.linspace(0, 2 * np.pi, n)
    az = np.radians(azimuth_deg)
    u, v = semi_major_km * np.cos(t), semi_minor_km * np.sin(t)  # along major, along minor axis
    north = u * np.cos(az) - v * np.sin(az)
    east = u * np.sin(az) + v * np.cos(az)
    d = np.hypot(north, east) / EARTH_RADIUS_KM
    brg = np.arctan2(east, north)
    la1, lo1 = np.radians(lat), np.radians(lon)
    la2 = np.arcsin(np.sin(la1) * np.cos(d) + np.cos(la1) * np.sin(d) * np.cos(brg))
    lo2 = lo1 + np.arctan2(np.sin(brg) * np.sin(d) * np.cos(la1), np.cos(d) - np.sin(la1) * np.sin(la2))
    return np.degrees(lo2), np.degrees(la2)


def _marker_size(mag: float | None) -> float:
    """Marker diameter (points) for a magnitude: 4 pt at M <= 1, +3 pt per unit."""
    if mag is None:
        return 4.0
    return 4.0 + 3.0 * max(mag - 1.0, 0.0)


def _nice(x: float) -> float:
    """Largest 1/2/5 x 10^n not above x."""
    e = 10 ** np.floor(np.log10(x))
    for m in (5, 2, 1):
        if m * e <= x:
            return float(m * e)
    return float(e)


def _deg_label(v: float, is_lon: bool) -> str:
    if is_lon:
        v = (v + 180.0) % 360.0 - 180.0
        hemi = "E" if v > 0 else ("W" if v < 0 else "")
    else:
        hemi = "N" if v > 0 else ("S" if v < 0 else "")
    return f"{abs(v):g}°{hemi}"


def _draw_land(ax, extent: MapExtent, resolution: str) -> int:
    """Fill land and draw coastlines in the window; returns the number of coastline pieces drawn."""
    from matplotlib.collections import LineCollection
    from matplotlib.patches import PathPatch
    from matplotlib.path import Path as MPath

    shifts = (-360.0, 0.0, 360.0)
    verts, codes = [], []
    for poly in coast.land_polygons(resolution):
        x0, y0, x1, y1 = poly.bounds
        if y1 < extent.lat_min or y0 > extent.lat_max:
            continue
        for s in shifts:
            if x1 + s < extent.lon_min or x0 + s > extent.lon_max:
                continue
            for ring in (poly.exterior, *poly.interiors):
                xy = np.asarray(ring.coords)
                verts.append(xy + [s, 0.0])
                c = np.full(len(xy), MPath.LINETO, dtype=np.uint8)
                c[0], c[-1] = MPath.MOVETO, MPath.CLOSEPOLY
                codes.append(c)
    if verts:
        ax.add_patch(PathPatch(MPath(np.concatenate(verts), np.concatenate(codes)), facecolor="#ecebe4",
                               edgecolor="none", zorder=0))
    segs = []
    for c in coast.coastlines(resolution):
        x0, x1 = c[:, 0].min(), c[:, 0].max()
        y0, y1 = c[:, 1].min(), c[:, 1].max()
        if y1 < extent.lat_min or y0 > extent.lat_max:
            continue
        for s in shifts:
            if x1 + s < extent.lon_min or x0 + s > extent.lon_max:
                continue
            seg = c + [s, 0.0]
            # strictly inside in longitude: a piece ending on +/-180 is not drawn twice on a world map
            inside = ((seg[:, 0] > extent.lon_min) & (seg[:, 0] < extent.lon_max)
                      & (seg[:, 1] >= extent.lat_min) & (seg[:, 1] <= extent.lat_max))
            if inside.any():
                segs.append(seg)
    ax.add_collection(LineCollection(segs, colors="0.35", linewidths=0.5, zorder=1))
    return len(segs)


def _scale_bar(ax, extent: MapExtent) -> None:
    lat = extent.lat_min + 0.07 * extent.lat_span
    cosl = max(np.cos(np.radians(lat)), 1e-3)
    width_km = extent.lon_span * KM_PER_DEG * cosl
    length = _nice(width_km / 5.0)
    dlon = length / (KM_PER_DEG * cosl)
    x0 = extent.lon_min + 0.05 * extent.lon_span
    ax.plot([x0, x0 + dlon], [lat, lat], color="k", lw=3, solid_capstyle="butt", zorder=6)
    where = f" at {_deg_label(round(lat), False)}" if extent.lat_span > 30 else ""  # true only at that latitude
    ax.text(x0 + dlon / 2, lat + 0.015 * extent.lat_span, f"{length:g} km{where}", ha="center", va="bottom",
            fontsize=8, zorder=6, bbox=dict(facecolor="white", alpha=0.7, edgecolor="none", pad=1))


def plot_event_map(catalog, path: str | Path, stations=None, used_stations_only: bool = False,
                   title: str = "", extent: MapExtent | None = None, resolution: str | None = None,
                   label_stations: bool | None = None, figsize: tuple[float, float] = (10.0, 7.0),
                   dpi: int = 110) -> EventMapResult:
    """Draw an event map to a PNG.

    :param catalog: obspy :class:`~obspy.core.event.Catalog` (or list of events); the preferred
        origin (else the first) and preferred magnitude (else the first) of each event are drawn.
        Events without a located origin are counted in ``events_unlocated`` and not drawn.
    :param stations: DataFrame (``network, station, latitude, longitude``) or obspy Inventory; drawn
        as triangles.
    :param used_stations_only: draw only stations that have an arrival in the catalog.
    :param extent: map window (default: :func:`map_extent` of events and stations).
    :param resolution: ``"50m"`` or ``"110m"`` coastlines (default: 50m for windows narrower than 60 deg).
    :param label_stations: write station codes (default: when at most 40 stations are drawn).
    :returns: :class:`EventMapResult` with the counts of what was drawn.

    Error ellipses come from the origin's ``origin_uncertainty`` (semi-major/minor axis lengths and
    major-axis azimuth; IMS1.0 ``Smajor``/``Sminor``/``Az``, 90 % confidence at the IDC,
    see :mod:`pipeline.store.catalog`).
    """
    from matplotlib.colors import Normalize
    from matplotlib.lines import Line2D

    plt = pyplot()
    events = []
    unlocated = 0
    for ev in catalog:
        o = origin_of(ev)
        if not located(o):
            unlocated += 1
            continue
        events.append((ev, o, *magnitude_of(ev)))
    sta = station_frame(stations)
    if used_stations_only and len(sta):
        used = set()
        for ev, o, *_ in events:
            picks = {str(p.resource_id): p for p in ev.picks}
            for a in o.arrivals:
                p = picks.get(str(a.pick_id))
                if p is not None and p.waveform_id is not None:
                    used.add(p.waveform_id.station_code)
        sta = sta[sta["station"].isin(used)].reset_index(drop=True)
    if not events and not len(sta):
        raise PlotInputError("nothing to map: no located event and no station")
    ev_lon = np.array([o.longitude for _, o, *_ in events], dtype=float)
    ev_lat = np.array([o.latitude for _, o, *_ in events], dtype=float)
    ellipses = []
    for ev, o, *_ in events:
        u = o.origin_uncertainty
        if u is None or u.max_horizontal_uncertainty is None or u.min_horizontal_uncertainty is None:
            continue
        ellipses.append((o, ellipse_lonlat(o.latitude, o.longitude, u.max_horizontal_uncertainty / 1000.0,
                                           u.min_horizontal_uncertainty / 1000.0,
                                           u.azimuth_max_horizontal_uncertainty or 0.0)))
    all_lon = np.concatenate([ev_lon, sta["longitude"].to_numpy(float), *[e[1][0] for e in ellipses]])
    all_lat = np.concatenate([ev_lat, sta["latitude"].to_numpy(float), *[e[1][1] for e in ellipses]])
    ext = extent or map_extent(all_lon, all_lat)
    res = resolution or ("50m" if ext.lon_span < 60 else "110m")

    fig, ax = plt.subplots(figsize=figsize)
    ax.set_facecolor("#dbe9f4")
    n_coast = _draw_land(ax, ext, res)

    for o, (x, y) in ellipses:
        ax.plot(x - o.longitude + float(ext.wrap(o.longitude)), y, color="tab:red", lw=0.8, alpha=0.8, zorder=3)
    n_ell = len(ellipses)

    st_codes = []
    if len(sta):
        sx = ext.wrap(sta["longitude"].to_numpy(float))
        ax.plot(sx, sta["latitude"].to_numpy(float), "^", ms=8, mfc="tab:blue", mec="k", mew=0.6, ls="none",
                zorder=4)
        st_codes = sta["station"].astype(str).tolist()
        if label_stations if label_stations is not None else len(sta) <= 40:
            for x, y, code in zip(sx, sta["latitude"], st_codes):
                ax.annotate(code, (x, y), xytext=(4, 4), textcoords="offset points", fontsize=7, zorder=5)

    depths = np.array([depth_km(o) for _, o, *_ in events])
    mags = [m for *_, m, _ in events]
    sc = None
    if events:
        norm = Normalize(0.0, max(float(depths.max()), 10.0))
        order = np.argsort([-(m if m is not None else -9) for m in mags])  # big ones below small ones
        sizes = np.array([_marker_size(m) ** 2 for m in mags])
        sc = ax.scatter(ext.wrap(ev_lon)[order], ev_lat[order], s=sizes[order], c=depths[order], cmap="viridis_r",
                        norm=norm, edgecolors="k", linewidths=0.5, zorder=5)
        cb = fig.colorbar(sc, ax=ax, shrink=0.6, pad=0.02)
        cb.set_label("depth (km)")

    ax.set_xlim(ext.lon_min, ext.lon_max)
    ax.set_ylim(ext.lat_min, ext.lat_max)
    mid = np.clip((ext.lat_min + ext.lat_max) / 2, -80, 80)
    ax.set_aspect(1.0 if ext.is_global else 1.0 / np.cos(np.radians(mid)))
    ax.xaxis.set_major_formatter(lambda v, _pos: _deg_label(v, True))
    ax.yaxis.set_major_formatter(lambda v, _pos: _deg_label(v, False))
    ax.grid(color="white", lw=0.5, alpha=0.7)
    ax.tick_params(labelsize=8)
    _scale_bar(ax, ext)

    handles = []
    known = [m for m in mags if m is not None]
    if known:
        lo, hi = np.floor(min(known)), np.ceil(max(known))
        for m in sorted({lo, np.round((lo + hi) / 2), hi}):
            handles.append(Line2D([], [], marker="o", ls="none", mfc="0.7", mec="k", ms=_marker_size(m),
                                  label=f"M {m:g}"))
    if any(m is None for m in mags):
        handles.append(Line2D([], [], marker="o", ls="none", mfc="0.7", mec="k", ms=_marker_size(None),
                              label="no magnitude"))
    if n_ell:
        handles.append(Line2D([], [], color="tab:red", lw=0.8, label="error ellipse"))
    if len(sta):
        handles.append(Line2D([], [], marker="^", ls="none", mfc="tab:blue", mec="k", ms=8, label="station"))
    if handles:
        ax.legend(handles=handles, loc="upper right", fontsize=8, framealpha=0.85)
    span = catalog_span([ev for ev, *_ in events])
    head = title or "events"
    ax.set_title(f"{head}\n{len(events)} event{'' if len(events) == 1 else 's'}{f', {span}' if span else ''}"
                 f"{f', {len(sta)} stations' if len(sta) else ''}"
                 f"{f' ({unlocated} without location not shown)' if unlocated else ''}", fontsize=10)
    ax.text(1.0, -0.06 if not ext.is_global else -0.08, "coastlines: Natural Earth (public domain)",
            transform=ax.transAxes, ha="right", va="top", fontsize=6, color="0.4")
    out = save(fig, path, dpi=dpi)
    return EventMapResult(path=out, events_plotted=len(events), events_unlocated=unlocated,
                          stations_plotted=len(sta), ellipses=n_ell, coastline_segments=n_coast, extent=ext,
                          resolution=res, station_codes=st_codes)
