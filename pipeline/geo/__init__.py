"""Geography bundled with the pipeline (no downloads): Natural Earth land and coastlines.

See :mod:`pipeline.geo.coast` and ``pipeline/geo/data/SOURCE.txt``.
"""
from pipeline.geo.coast import (coastlines, coastlines_in, distance_to_coast_km, distance_to_coast_km_array,
                                is_at_sea, is_at_sea_array, land_polygons)

__all__ = ["coastlines", "coastlines_in", "distance_to_coast_km", "distance_to_coast_km_array", "is_at_sea",
           "is_at_sea_array", "land_polygons"]
