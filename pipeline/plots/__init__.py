"""Plots people look at (PNG, matplotlib Agg backend, nothing downloaded).

* :func:`plot_event_map` — epicentres, error ellipses, stations, bundled Natural Earth coastlines;
* :func:`plot_record_section` — traces by distance with picks and straight moveout lines (the demo's);
* :func:`plot_event_record_section` — an event's traces with predicted phase curves from our
  travel-time tables and its arrivals marked;
* :func:`plot_residuals` — time residuals per station and phase against distance and azimuth.
"""
from pipeline.plots.common import PlotInputError, arrival_table
from pipeline.plots.event_map import EventMapResult, MapExtent, map_extent, plot_event_map
from pipeline.plots.record_section import RecordSectionResult, plot_event_record_section, plot_record_section
from pipeline.plots.residuals import ResidualPlotResult, plot_residuals

__all__ = ["EventMapResult", "MapExtent", "PlotInputError", "RecordSectionResult", "ResidualPlotResult",
           "arrival_table", "map_extent", "plot_event_map", "plot_event_record_section", "plot_record_section",
           "plot_residuals"]
