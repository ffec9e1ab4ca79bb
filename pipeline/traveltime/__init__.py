"""Travel times: Earth models and precomputed, cached, interpolated travel-time tables.

Typical use (association, location)::

    from pipeline.traveltime import TravelTimeTable

    cache = settings.cache_dir / "traveltime"
    glob = TravelTimeTable("ak135", ["P", "S", "Pn", "Pg", "Sn", "Lg", "PKP"], cache_dir=cache)
    loc = TravelTimeTable("tests/data/iceland/inputs/iceland_vmodel.txt", ["P", "S"],
                          cache_dir=cache)
    t = glob.time("P", distance_deg, depth_km)            # s, NaN where P does not exist
    t, dtdd, dtdh = glob.derivatives("P", distance_deg, depth_km)   # s, s/deg, s/km
    t += loc.elevation_correction("P", distance_deg, depth_km, station_elevation_km)

Depths are km below sea level, distances epicentral degrees, elevations km above sea level
(see :mod:`pipeline.traveltime.models` for how layered models with negative depths are shifted
for TauP). Importing this package has no side effects; obspy is imported lazily.
"""
from .models import (
    LayeredModel,
    ModelInfo,
    VelocityFileError,
    build_layered_taup_model,
    builtin_model_names,
    read_velocity_file,
    resolve_model,
)
from .tables import (
    GLOBAL_GRID,
    GLOBAL_PHASES,
    LOCAL_PHASES,
    PHASE_GROUPS,
    PhaseGroup,
    TableGrid,
    TravelTimeTable,
    compute_table_dataset,
    default_grid,
    local_grid,
    phase_group,
)

__all__ = [
    "GLOBAL_GRID", "GLOBAL_PHASES", "LOCAL_PHASES", "PHASE_GROUPS", "LayeredModel", "ModelInfo",
    "PhaseGroup", "TableGrid", "TravelTimeTable", "VelocityFileError", "build_layered_taup_model",
    "builtin_model_names", "compute_table_dataset", "default_grid", "local_grid", "phase_group",
    "read_velocity_file", "resolve_model",
]
