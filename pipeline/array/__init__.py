"""Array processing (IDC seismic and infrasound arrays): geometry, beams, f-k, beam detection.

Public API::

    from pipeline.array import ArrayConfig, detect_array, geometry_from_inventory

    table = detect_array(stream, inventory, ArrayConfig(), code="ARCES")   # one array

* :func:`geometry_from_inventory` - element offsets (km) from StationXML (obspy ``get_geometry``).
* :func:`beam_set` - delay-and-sum beams, DataArray ``(beam, time)``.
* :func:`fk_grid` - obspy ``array_processing`` f-k maps, DataArray ``(time, sx, sy)``.
* :func:`plane_wave_fit` - refined slowness, uncertainties, semblance, Fisher F.
* :func:`detect_array` - the array processed as one station: a picks table plus
  ``technology``, ``fstat``, ``semblance``, ``relpow``.
* :class:`AutoArray` - the configuration chosen per array from its sampling rate and aperture.
* :func:`detect_network` - station processing of a network with arrays (what the automatic
  chain runs): 3-C stations by :mod:`pipeline.detection`, every array (its elements, recognised
  by :mod:`pipeline.stations.arrays`) as one station; :func:`with_array_sites` adds the arrays
  to a station table.

Importing this package has no side effects.
"""
from pipeline.array.beam import beam_set, beam_slownesses, element_data
from pipeline.array.config import ArrayConfig, AutoArray
from pipeline.array.detector import ARRAY_COLUMNS, array_table, detect_array, measure, write_array_csv
from pipeline.array.fk import fisher_f, fk_grid, grid_peak, plane_wave_fit
from pipeline.array.network import NetworkDetections, detect_network, with_array_sites
from pipeline.array.geometry import (KM_PER_DEG, ArrayGeometry, ArrayGeometryError, geometry_from_inventory,
                                     polar, slowness_vector)

__all__ = ["ARRAY_COLUMNS", "KM_PER_DEG", "ArrayConfig", "AutoArray", "ArrayGeometry", "ArrayGeometryError", "array_table",
           "beam_set", "beam_slownesses", "detect_array", "element_data", "fisher_f", "fk_grid",
           "geometry_from_inventory", "grid_peak", "measure", "plane_wave_fit", "polar", "slowness_vector",
           "write_array_csv", "NetworkDetections", "detect_network", "with_array_sites"]
