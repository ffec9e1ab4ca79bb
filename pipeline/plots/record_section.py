"""Record sections: traces by epicentral distance against time after the origin.

* :func:`plot_record_section` — the demo's plot: picks and straight moveout lines;
* :func:`plot_event_record_section` — one event with the predicted travel-time curves of our
  travel-time tables (:class:`pipeline.traveltime.tables.TravelTimeTable`) and its arrivals.

Matplotlib with the non-interactive Agg backend; nothing is downloaded.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from obspy import Inventory, Stream, UTCDateTime
from obspy.geodetics import gps2dist_azimuth

from pipeline.plots.common import (PlotInputError, depth_km, located, magnitude_of, origin_of, pyplot, save,
                                   station_frame, station_lookup)


def plot_record_section(stream: Stream, inventory: Inventory, origin_time: UTCDateTime, latitude: float,
                        longitude: float, path: str | Path, title: str = "", before_s: float = 2.0,
                        after_s: float = 20.0, freqmin: float = 2.0, freqmax: float = 16.0,
                        picks: dict[str, list[tuple[str, UTCDateTime]]] | None = None,
                        velocity_kms: tuple[float, ...] = ()) -> Path:
    """Write a record section (traces by epicentral distance, time after origin) to a PNG.

    :param stream: waveforms (vertical components are plotted).
    :param origin_time, latitude, longitude: the origin (deg).
    :param picks: optional ``{station: [(phase, time), ...]}`` drawn as ticks.
    :param velocity_kms: straight moveout lines drawn for these apparent velocities (km/s).
    :returns: the PNG path.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    st = stream.copy().select(component="Z")
    st = st.slice(origin_time - before_s - 5, origin_time + after_s + 5)
    st.merge(method=1, fill_value=0)
    st.detrend("demean")
    st.taper(0.05)
    st.filter("bandpass", freqmin=freqmin, freqmax=freqmax, corners=4, zerophase=True)
    coords = {}
    for net in inventory:
        for sta in net:
            coords[(net.code, sta.code)] = (sta.latitude, sta.longitude)
    rows = []
    for tr in st:
        c = coords.get((tr.stats.network, tr.stats.station))
        if c is None:
            continue
        dist_km = gps2dist_azimuth(latitude, longitude, *c)[0] / 1000.0
        rows.append((dist_km, tr))
    rows.sort(key=lambda r: r[0])
    fig, ax = plt.subplots(figsize=(9, 6), dpi=110)
    fig.subplots_adjust(left=0.09, right=0.9, top=0.9, bottom=0.1)
    if rows:
        span = max(r[0] for r in rows) - min(r[0] for r in rows)
        scale = max(span, 10.0) / max(len(rows), 1) * 0.9
        for dist_km, tr in rows:
            t = tr.times(reftime=origin_time)
            keep = (t >= -before_s) & (t <= after_s)
            d = tr.data[keep].astype(float)
            if d.size == 0:
                continue
            d = d / (np.abs(d).max() or 1.0) * scale
            ax.plot(t[keep], dist_km + d, "k", lw=0.5)
            ax.text(after_s + 0.2, dist_km, tr.stats.station, fontsize=7, va="center")
            for phase, when in (picks or {}).get(tr.stats.station, []):
                x = when - origin_time
                ax.plot([x, x], [dist_km - scale, dist_km + scale], color="tab:red" if phase.startswith("P")
                        else "tab:blue", lw=1.2)
        for v in velocity_kms:
            x = np.array([0, after_s])
            ax.plot(x, x * v, "--", lw=0.7, color="0.5")
            ax.text(after_s * 0.98, after_s * v * 0.98, f"{v:g} km/s", fontsize=7, color="0.4",
                    ha="right", va="bottom")
        ax.set_ylim(min(r[0] for r in rows) - 2 * scale, max(r[0] for r in rows) + 2 * scale)
    ax.set_xlim(-before_s, after_s)
    ax.set_xlabel(f"time after origin {origin_time.strftime('%Y-%m-%d %H:%M:%S.%f')[:-4]} UTC (s)")
    ax.set_ylabel("epicentral distance (km)")
    ax.set_title(title or "record section", fontsize=10)
    ax.grid(alpha=0.3)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, bbox_inches="tight")
    plt.close(fig)
    return path


#: pick/arrival colours by first letter of the phase
PHASE_COLOURS = {"P": "tab:red", "S": "tab:blue", "L": "tab:green", "R": "tab:green", "T": "tab:purple",
                 "I": "tab:orange", "H": "tab:purple"}
#: travel-time curve colours (cycled)
CURVE_COLOURS = ("tab:red", "tab:blue", "tab:orange", "tab:purple", "tab:brown", "tab:pink", "tab:olive", "tab:cyan")


@dataclass
class RecordSectionResult:
    """What :func:`plot_event_record_section` drew (for callers and tests)."""

    path: Path
    traces: int
    picks_marked: int
    picks_without_trace: int
    phases_drawn: list[str]
    distance_unit: str
    predicted_marks: int = 0
    reference_elevation_km: float = 0.0
    stations_without_coordinates: list[str] = field(default_factory=list)
    trace_ids: list[str] = field(default_factory=list)


def _phase_colour(phase: str) -> str:
    return PHASE_COLOURS.get((phase or "?")[:1].upper(), "tab:gray")


def _default_band(max_distance_deg: float) -> tuple[float, float]:
    """Band-pass corners (Hz) by distance: local 2-16 Hz (as the demo), regional 1-8 Hz, teleseismic
    0.8-4.5 Hz (short-period P; the IDC's detection bands lie between 0.5 and 4.5 Hz for teleseismic P)."""
    if max_distance_deg <= 2.0:
        return 2.0, 16.0
    if max_distance_deg <= 20.0:
        return 1.0, 8.0
    return 0.8, 4.5


def plot_event_record_section(event, stream: Stream, stations, tt, path: str | Path, phases=None,
                              component: str = "Z", freqmin: float | None = None, freqmax: float | None = None,
                              before_s: float | None = None, after_s: float | None = None,
                              distance_unit: str | None = None, title: str = "",
                              figsize: tuple[float, float] = (10.0, 7.0), dpi: int = 110) -> RecordSectionResult:
    """Record section of one event with predicted travel-time curves and the event's arrivals.

    :param event: obspy :class:`~obspy.core.event.Event` with a located origin (preferred, else first);
        its arrivals (with their picks) are marked on the traces, coloured by phase.
    :param stream: waveforms; one ``component`` trace per station is drawn (after merging),
        demeaned, tapered, band-passed (zero phase) and normalised to its own maximum in the window.
    :param stations: DataFrame (``network, station, latitude, longitude``) or obspy Inventory.
    :param tt: a :class:`~pipeline.traveltime.tables.TravelTimeTable` (``tasks.travel_times(settings)``);
        its curves are drawn for ``phases`` (default: all its phases) at the origin depth.
    :param freqmin, freqmax: band (Hz); default by distance (see :func:`_default_band`), ``freqmax``
        capped at 0.45 x the sampling rate.
    :param before_s, after_s: window from ``origin - before_s`` to ``origin + after_s`` (default: a
        tenth of the latest predicted or picked time before, a sixth after it).
    :param distance_unit: ``"km"`` or ``"deg"`` (default: km up to 5 deg, deg beyond).
    :returns: :class:`RecordSectionResult`.

    Distances are great circles on the sphere of the travel-time tables with geocentric latitudes, as
    the locator uses (:mod:`pipeline.location.geodesy`). Predicted times include the table's elevation
    correction (:meth:`~pipeline.traveltime.tables.TravelTimeTable.elevation_correction`): the dashed
    curves for the median elevation of the plotted stations, the ▼ marks above each trace for that
    station's own elevation (``elevation_m`` of ``stations``).
    """
    from pipeline.location.geodesy import KM_PER_DEG, distance_azimuth, geocentric_latitude

    plt = pyplot()
    o = origin_of(event)
    if not located(o) or o.time is None:
        raise PlotInputError("event has no located origin (latitude, longitude and time are needed)")
    if distance_unit not in (None, "km", "deg"):
        raise PlotInputError(f"distance_unit must be 'km' or 'deg', not {distance_unit!r}")
    t0 = o.time
    z_km = depth_km(o)
    find = station_lookup(station_frame(stations))
    table_phases = list(getattr(tt, "phases", ()))
    phases = list(phases) if phases else table_phases
    unknown = [p for p in phases if p not in table_phases]
    if unknown:
        raise PlotInputError(f"phase(s) {', '.join(unknown)} not in the travel-time table "
                             f"({', '.join(table_phases)})")

    def dist_deg(lat, lon, *_) -> float:
        d, _, _ = distance_azimuth(geocentric_latitude(o.latitude), o.longitude, geocentric_latitude(lat), lon)
        return float(d)

    # one trace per station: the first channel id in sorted order
    st = stream.select(component=component).copy()
    if not len(st):
        raise PlotInputError(f"no {component!r}-component traces in the stream ({len(stream)} traces)")
    st.merge(method=1, fill_value=0)
    rows, no_coords, seen = [], [], set()
    for tr in sorted(st, key=lambda t: t.id):
        s = tr.stats
        if s.station in seen:
            continue
        c = find(s.network, s.station)
        if c is None:
            no_coords.append(tr.id)
            continue
        seen.add(s.station)
        rows.append((dist_deg(*c), tr, c[2]))
    # arrivals with their picks
    picks = {str(p.resource_id): p for p in event.picks}
    marks = []  # (station, network, phase, time)
    for a in o.arrivals:
        p = picks.get(str(a.pick_id)) if a.pick_id is not None else None
        if p is None or p.time is None:
            continue
        wid = p.waveform_id
        marks.append((wid.station_code if wid else "", wid.network_code if wid else "",
                      a.phase or p.phase_hint or "?", p.time))
    if not rows and not marks:
        raise PlotInputError("no trace of a station with known coordinates and no arrival to draw")
    dists = [d for d, *_ in rows]
    for sta, net, _, _ in marks:
        c = find(net, sta)
        if c is not None:
            dists.append(dist_deg(*c))
    dmax = max(dists) if dists else 1.0
    unit = distance_unit or ("km" if dmax <= 5.0 else "deg")
    ufac = KM_PER_DEG if unit == "km" else 1.0
    # predicted curves at the origin depth, within the table
    d_lo, d_hi = float(tt.distance_deg[0]), float(tt.distance_deg[-1])
    z = float(np.clip(z_km, tt.depth_km[0], tt.depth_km[-1]))
    grid = np.linspace(max(d_lo, 0.0), min(d_hi, max(dmax * 1.08, dmax + 0.02)), 400)
    elevations = [e for *_, e in rows]
    ref_elev = float(np.median(elevations)) if elevations else 0.0

    def predicted(ph: str, d, elev_km: float) -> np.ndarray:
        return tt.station_time(ph, d, z, elev_km)

    curves = {ph: predicted(ph, grid, ref_elev) for ph in phases}
    # time window
    latest = [float(np.nanmax(c)) for c in curves.values() if np.isfinite(c).any()]
    latest += [float(t - t0) for *_, t in marks]
    t_end = max(latest) if latest else 60.0
    before = before_s if before_s is not None else max(1.0, 0.1 * t_end)
    after = after_s if after_s is not None else t_end * 7.0 / 6.0 + 1.0
    fmin, fmax = _default_band(dmax)
    fmin = freqmin if freqmin is not None else fmin
    fmax = freqmax if freqmax is not None else fmax

    fig, ax = plt.subplots(figsize=figsize)
    rows.sort(key=lambda r: r[0])
    ys = np.array([d * ufac for d, *_ in rows])
    spacing = (ys.max() - ys.min()) / max(len(ys) - 1, 1) if len(ys) > 1 else 0.0
    span_y = max((max(dists) - min(dists)) * ufac if dists else 0.0, 0.05 * dmax * ufac, 1e-3)
    scale = 0.6 * max(spacing, span_y / max(len(ys), 1), 0.02 * span_y)
    ids, y_of_station = [], {}
    n_pred = 0
    for d, tr, elev in rows:
        y = d * ufac
        tr = tr.copy().trim(t0 - before - 5, t0 + after + 5)
        if tr.stats.npts < 10:
            continue
        tr.detrend("demean")
        tr.taper(0.05)
        nyq_cap = 0.45 * tr.stats.sampling_rate
        fhi = min(fmax, nyq_cap)
        if fmin < fhi:
            tr.filter("bandpass", freqmin=fmin, freqmax=fhi, corners=4, zerophase=True)
        t = tr.times(reftime=t0)
        keep = (t >= -before) & (t <= after)
        data = tr.data[keep].astype(float)
        if data.size == 0:
            continue
        data = data / (np.abs(data).max() or 1.0) * scale
        ax.plot(t[keep], y + data, color="k", lw=0.5, zorder=2)
        ax.text(after, y, f" {tr.stats.station}", fontsize=7, va="center", ha="left", clip_on=False)
        ids.append(tr.id)
        y_of_station[tr.stats.station] = y
        for k, ph in enumerate(phases):  # this station's own predicted time (its elevation)
            tp = float(predicted(ph, np.array([d]), elev)[0])
            if np.isfinite(tp) and -before <= tp <= after:
                ax.plot(tp, y + 1.15 * scale, marker="v", ms=5, color=CURVE_COLOURS[k % len(CURVE_COLOURS)],
                        ls="none", zorder=4)
                n_pred += 1
    n_marked = n_orphan = 0
    for sta, net, ph, t in marks:
        x = float(t - t0)
        if sta in y_of_station:
            y = y_of_station[sta]
            ax.plot([x, x], [y - scale, y + scale], color=_phase_colour(ph), lw=1.4, zorder=4)
            n_marked += 1
        else:
            c = find(net, sta)
            if c is None:
                continue
            ax.plot(x, dist_deg(*c) * ufac, marker="x", ms=6, color=_phase_colour(ph), ls="none", zorder=4)
            n_orphan += 1
    drawn = []
    for k, (ph, tt_s) in enumerate(curves.items()):
        ok = np.isfinite(tt_s)
        if not ok.any():
            continue
        colour = CURVE_COLOURS[k % len(CURVE_COLOURS)]
        ax.plot(tt_s[ok], grid[ok] * ufac, "--", color=colour, lw=1.0, alpha=0.8, zorder=3,
                label=f"{ph} predicted ({tt.model.name}; ▼ at each station's elevation)")
        drawn.append(ph)
    from matplotlib.lines import Line2D

    handles, _ = ax.get_legend_handles_labels()
    for ph in sorted({m[2] for m in marks}):
        handles.append(Line2D([], [], color=_phase_colour(ph), lw=1.4, label=f"{ph} arrival"))
    if handles:
        ax.legend(handles=handles, loc="lower right", fontsize=8, framealpha=0.85)
    lo_y = (min(dists) * ufac if dists else 0.0) - 1.5 * scale
    hi_y = (max(dists) * ufac if dists else 1.0) + 1.5 * scale
    ax.set_ylim(lo_y, hi_y)
    ax.set_xlim(-before, after)
    ax.set_xlabel(f"time after origin {t0.strftime('%Y-%m-%d %H:%M:%S.%f')[:-4]} UTC (s)")
    ax.set_ylabel(f"epicentral distance ({unit})")
    mag, mtype = magnitude_of(event)
    head = title or "record section"
    ax.set_title(f"{head}\n{o.latitude:.3f}°, {o.longitude:.3f}°, depth {z_km:.1f} km"
                 f"{f', {mtype} {mag:.1f}' if mag is not None else ''}; {component} component, "
                 f"{fmin:g}-{fmax:g} Hz", fontsize=10)
    ax.grid(alpha=0.3)
    out = save(fig, path, dpi=dpi)
    return RecordSectionResult(path=out, traces=len(ids), picks_marked=n_marked, picks_without_trace=n_orphan,
                               predicted_marks=n_pred, reference_elevation_km=ref_elev,
                               phases_drawn=drawn, distance_unit=unit, stations_without_coordinates=no_coords,
                               trace_ids=ids)
