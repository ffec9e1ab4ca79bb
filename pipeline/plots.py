"""Plots people look at: record sections (more come with the bulletin issue: maps, residuals).

Matplotlib with the non-interactive Agg backend; nothing is downloaded.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from obspy import Inventory, Stream, UTCDateTime
from obspy.geodetics import gps2dist_azimuth


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
