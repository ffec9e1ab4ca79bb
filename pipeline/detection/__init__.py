"""Station processing (IDC "DFX"): waveforms -> detections.

Public API::

    from pipeline.detection import DetectionConfig, detect, process_station, picks_to_obspy

    picks = detect(stream, inventory, DetectionConfig.local())   # picks DataFrame
    pick_objs, amplitude_objs = picks_to_obspy(picks)

* :func:`detect` - chunked, parallel (dask threads or a ``distributed.Client``) processing of a
  multi-station stream; returns the picks DataFrame of :mod:`pipeline.picks`.
* :func:`process_station` - one station, one time window (what each dask task runs).
* :func:`picks_to_obspy` - DataFrame rows -> obspy ``Pick`` + ``Amplitude`` (A5/2, AML).
* :class:`DetectionConfig` - the frozen, typed configuration (``DetectionConfig.local()`` is the
  preset for dense local networks).

Importing this package has no side effects.
"""
from pipeline.detection.config import (AmplitudeConfig, BandSet, DetectionConfig, PolarisationConfig,
                                       SDetectionConfig)
from pipeline.detection.processor import chunk_intervals, detect, process_station
from pipeline.detection.products import picks_to_obspy

__all__ = ["AmplitudeConfig", "BandSet", "DetectionConfig", "PolarisationConfig", "SDetectionConfig",
           "chunk_intervals", "detect", "process_station", "picks_to_obspy"]
