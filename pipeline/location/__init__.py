"""Location stage: arrivals (time, backazimuth, slowness) -> hypocentre with a 90 % ellipse.

Public API::

    from pipeline.location import LocatorConfig, locate, to_obspy_origin
    result = locate(arrivals_df, stations_df, tt, LocatorConfig())
    origin = to_obspy_origin(result, arrivals_df)

See :mod:`pipeline.location.locator` for the method and the DataFrame schemas,
:mod:`pipeline.location.config` for the settings and :mod:`pipeline.location.ellipse` for the
Jordan & Sverdrup confidence regions.
"""
from .config import LocatorConfig, TimeUncertainties
from .ellipse import ErrorEllipse, error_ellipse, f_critical, jordan_sverdrup
from .locator import (
    PARAMETERS,
    RESIDUAL_COLUMNS,
    LocationError,
    LocationResult,
    arrivals_from_event,
    locate,
    residuals_at,
)
from .origin import to_obspy_origin

__all__ = [
    "LocatorConfig", "TimeUncertainties", "ErrorEllipse", "error_ellipse", "f_critical",
    "jordan_sverdrup", "PARAMETERS", "RESIDUAL_COLUMNS", "LocationError", "LocationResult",
    "arrivals_from_event", "locate", "residuals_at", "to_obspy_origin",
]
