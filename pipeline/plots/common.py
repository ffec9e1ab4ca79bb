"""Helpers shared by the plots: matplotlib set-up, origins, magnitudes, stations and arrival tables."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
from obspy import Inventory
from obspy.core.event import Catalog, Event, Origin

from pipeline.errors import InputError

#: columns of :func:`arrival_table`
ARRIVAL_COLUMNS = ("event", "event_id", "origin_time", "network", "station", "phase", "time", "time_residual_s",
                   "distance_deg", "azimuth_deg", "backazimuth_residual_deg", "slowness_residual_s_deg",
                   "time_defining")


class PlotInputError(InputError):
    """The data given to a plot cannot be drawn; the message says which input and why."""


def pyplot():
    """matplotlib.pyplot with the non-interactive Agg backend (no display, no downloads)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save(fig, path: str | Path, dpi: int = 110) -> Path:
    """Write a figure to PNG (creating the folder) and close it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi, bbox_inches="tight")
    pyplot().close(fig)
    return path


def origin_of(event: Event) -> Origin | None:
    """The preferred origin of an event, else its first origin (``None`` when it has none)."""
    o = event.preferred_origin()
    if o is None and event.origins:
        o = event.origins[0]
    return o


def located(origin: Origin | None) -> bool:
    return origin is not None and origin.latitude is not None and origin.longitude is not None


def magnitude_of(event: Event) -> tuple[float | None, str]:
    """(value, type) of the preferred magnitude, else the first one; ``(None, "")`` when there is none."""
    m = event.preferred_magnitude()
    if m is None and event.magnitudes:
        m = event.magnitudes[0]
    if m is None or m.mag is None:
        return None, ""
    return float(m.mag), m.magnitude_type or ""


def depth_km(origin: Origin) -> float:
    """Origin depth in km (obspy keeps metres); 0 when unknown."""
    return 0.0 if origin.depth is None else float(origin.depth) / 1000.0


def station_frame(stations) -> pd.DataFrame:
    """Stations as a DataFrame (``network, station, latitude, longitude[, elevation_m]``).

    :param stations: ``None`` (empty frame), a DataFrame with those columns, or an obspy
        :class:`~obspy.Inventory`.
    """
    cols = ["network", "station", "latitude", "longitude"]
    if stations is None:
        return pd.DataFrame(columns=cols)
    if isinstance(stations, Inventory):
        from pipeline.picks import stations_from_inventory

        return stations_from_inventory(stations)
    if isinstance(stations, pd.DataFrame):
        missing = [c for c in ("station", "latitude", "longitude") if c not in stations.columns]
        if missing:
            raise PlotInputError(f"stations table lacks column(s) {', '.join(missing)}")
        df = stations.copy()
        if "network" not in df.columns:
            df["network"] = ""
        df["network"] = df["network"].fillna("").astype(str)
        return df.reset_index(drop=True)
    raise PlotInputError(f"stations must be a DataFrame or an obspy Inventory, not {type(stations).__name__}")


def station_lookup(stations: pd.DataFrame):
    """A function ``(network, station) -> (lat, lon, elevation_km) | None``: exact network match first,
    else by station code alone (bulletins often carry no or a placeholder network code). The elevation
    is 0 when the table has no ``elevation_m``."""
    has_elev = "elevation_m" in stations.columns

    def coords(r) -> tuple[float, float, float]:
        e = float(getattr(r, "elevation_m")) / 1000.0 if has_elev and pd.notna(getattr(r, "elevation_m")) else 0.0
        return float(r.latitude), float(r.longitude), e

    exact = {(r.network, r.station): coords(r) for r in stations.itertuples()}
    by_code: dict[str, tuple[float, float, float]] = {}
    for r in stations.itertuples():
        by_code.setdefault(r.station, coords(r))

    def find(network: str | None, station: str):
        return exact.get((network or "", station)) or by_code.get(station)

    return find


def arrival_table(catalog: Catalog | list[Event], stations=None) -> pd.DataFrame:
    """One row per arrival of the preferred origin of every event (columns :data:`ARRIVAL_COLUMNS`).

    The distance is the arrival's (``distance``), else computed from ``stations``. The event-to-station
    azimuth is computed from the coordinates whenever the station is in ``stations`` (great circle with
    geocentric latitudes, as the locator, :mod:`pipeline.location.geodesy`), else taken from the
    arrival's ``azimuth``: bulletins disagree on that column — the 1995 GSE2.0 REB's ``EvAz`` holds the
    station-to-event azimuth (its ``AzRes = Azim - EvAz``, e.g. GERES 163.7 - 150.3 = 13.4), the IMS1.0
    IPEC bulletin's the event-to-station azimuth. Residuals are the bulletin's (observed minus
    predicted, s). ``time_defining`` is ``time_weight > 0`` (obspy's weight, 1 = defining in IMS1.0).
    """
    from pipeline.location.geodesy import distance_azimuth, geocentric_latitude

    find = station_lookup(station_frame(stations))
    rows = []
    for k, ev in enumerate(catalog):
        o = origin_of(ev)
        if o is None:
            continue
        picks = {str(p.resource_id): p for p in ev.picks}
        for a in o.arrivals:
            p = picks.get(str(a.pick_id)) if a.pick_id is not None else None
            wid = p.waveform_id if p is not None else None
            sta = (wid.station_code if wid is not None else "") or ""
            net = (wid.network_code if wid is not None else "") or ""
            dist, az = a.distance, a.azimuth
            c = find(net, sta) if located(o) else None
            if c is not None:
                d, az_c, _ = distance_azimuth(geocentric_latitude(o.latitude), o.longitude,
                                              geocentric_latitude(c[0]), c[1])
                dist = float(d) if dist is None else dist
                az = float(az_c)
            rows.append((k, str(ev.resource_id), o.time, net, sta, a.phase or (p.phase_hint if p else "") or "",
                         p.time if p is not None else None, a.time_residual, dist, az, a.backazimuth_residual,
                         a.horizontal_slowness_residual,
                         a.time_weight is None or a.time_weight > 0))
    df = pd.DataFrame(rows, columns=list(ARRIVAL_COLUMNS))
    for c in ("time_residual_s", "distance_deg", "azimuth_deg", "backazimuth_residual_deg",
              "slowness_residual_s_deg"):
        df[c] = pd.to_numeric(df[c], errors="coerce").astype(float)
    return df


def catalog_span(catalog) -> str:
    """``"YYYY-mm-dd HH:MM – YYYY-mm-dd HH:MM"`` of the located origins ("" when none)."""
    times = [origin_of(ev).time for ev in catalog if located(origin_of(ev)) and origin_of(ev).time is not None]
    if not times:
        return ""
    t0, t1 = min(times), max(times)
    f = "%Y-%m-%d %H:%M"
    return t0.strftime(f) if t1 - t0 < 60 else f"{t0.strftime(f)} – {t1.strftime(f)}"

