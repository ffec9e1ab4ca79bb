"""Shared loaders of the stages: the travel-time table of the configuration, the chain's
configuration, the station table (a station file or the store's site table). They sit below
:mod:`pipeline.tasks` so that stage packages (e.g. :mod:`pipeline.review`) can use them;
:mod:`pipeline.tasks` re-exports them."""
from __future__ import annotations

import sys
from pathlib import Path

from pipeline.settings import Settings


def travel_times(settings: Settings, model: str | None = None):
    """The travel-time table of the configured (or given) model, cached under ``$IDC_HOME/cache``."""
    from pipeline.traveltime.models import read_velocity_file
    from pipeline.traveltime.tables import TravelTimeTable, local_grid

    cfg = settings.traveltime
    model = model or settings.model_path()
    phases = list(cfg.table_phases(model))
    grid = None
    if Path(model).is_file():
        model = read_velocity_file(model, interpolation=cfg.model_interpolation)
        grid = local_grid(model.model_top_km, max_distance_deg=cfg.local_max_distance_deg)
    return TravelTimeTable(model, phases, cache_dir=settings.cache_dir / "traveltime", grid=grid)


def chain_config(settings: Settings):
    from pipeline.association.fused import FusedModels
    from pipeline.bulletin.build import ChainConfig
    from pipeline.traveltime.infrasound import CelerityModel

    fused = FusedModels(celerity=CelerityModel(dict(settings.infrasound.celerity_km_s)),
                        hydroacoustic=settings.hydroacoustic)
    return ChainConfig(association=settings.association, location=settings.location, magnitude=settings.magnitude,
                       fused=fused)


def station_table(settings: Settings, path: str | Path | None = None, arrays: bool = True):
    """Stations DataFrame from a StationXML/CSV file, or from the store's site table; with a row
    per array (``[array]``: its code at the reference point of its elements) unless ``arrays`` is
    False (the stations that record data only)."""
    import pandas as pd

    from pipeline.picks import stations_from_inventory
    from pipeline.stations.arrays import array_elements
    from pipeline.stations.inventory import read_station_file
    from pipeline.store.db import ensure_schema, session_scope
    from pipeline.store.stations import sites_by_start

    if path is not None:
        p = Path(path)
        # real station lists have the odd bad row: it is skipped with a warning naming file,
        # line and field (as `idc stations load` does), the other stations are used
        table = read_station_file(p, default_network="" if p.suffix.lower() == ".csv" else "XX", strict=False)
        for msg in table.rejected:
            print(f"warning: {msg}", file=sys.stderr)
        df = stations_from_inventory(table.inventory)
        return _with_arrays(settings, df, array_elements(table.inventory, settings.array.elements) if arrays else {})
    ensure_schema(settings.database_url)
    with session_scope(settings.database_url) as s:
        sites = sites_by_start(s)
        rows = [(x.net, x.sta, x.lat, x.lon, x.elev_km * 1000.0) for x in sites]
        described = {(x.net, x.sta): x.refsta for x in sites if x.refsta}
    df = pd.DataFrame(rows, columns=["network", "station", "latitude", "longitude", "elevation_m"])
    df = df.drop_duplicates(["network", "station"], keep="last").reset_index(drop=True)
    if not arrays:
        return df
    members = {**described, **array_elements(None, settings.array.elements, zip(df["network"], df["station"]))}
    return _with_arrays(settings, df, members)


def _with_arrays(settings: Settings, df, members):
    """The station table plus a row per array (its code at the reference point,
    :func:`pipeline.stations.arrays.array_sites`) that is not a station of the table already:
    the associator and the locator find array detections under the array code."""
    import pandas as pd

    from pipeline.stations.arrays import array_sites

    if not settings.array.enabled or not members:
        return df
    sites = array_sites(df, members)
    sites = sites[~sites["station"].isin(set(df["station"]))]
    return pd.concat([df, sites], ignore_index=True) if len(sites) else df
