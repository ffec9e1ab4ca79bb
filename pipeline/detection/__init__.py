"""Station processing (IDC "DFX"): waveforms -> detections.

Public API::

    from pipeline.detection import AutoDetection, DetectionConfig, detect, picks_to_obspy

    picks = detect(stream, inventory)                       # the default: AutoDetection()
    picks = detect(stream, inventory, DetectionConfig.local())   # one fixed configuration
    pick_objs, amplitude_objs = picks_to_obspy(picks)

* :func:`detect` - chunked, parallel (dask threads or a ``distributed.Client``) processing of a
  multi-station stream; returns the picks DataFrame of :mod:`pipeline.picks`.
* :func:`process_station` - one station, one time window (what each dask task runs).
* :func:`detect_tasks` / :func:`compute_tasks` - the (station, chunk) tasks of :func:`detect` and
  their parallel run (also used by :func:`pipeline.array.detect_network` for arrays).
* :func:`merge_contiguous` - join each channel's touching traces without filling gaps (read
  files with it: data years apart then cost what their samples cost).
* :func:`picks_to_obspy` - DataFrame rows -> obspy ``Pick`` + ``Amplitude`` (A5/2, AML).
* :class:`DetectionConfig` - the frozen, typed configuration (``DetectionConfig.local()`` is the
  preset for dense local networks; ``auto_local()`` / ``auto_regional()`` the scales of the
  automatic preset).
* :class:`AutoDetection` - the default ``"auto"`` preset: one DetectionConfig per station from
  its sampling rate and, when station coordinates are known, its distance to the nearest other
  station (:func:`station_configs` shows the choice).

Importing this package has no side effects.
"""
from pipeline.detection.config import (AmplitudeConfig, AutoDetection, BandSet, DetectionConfig,
                                       PolarisationConfig, SDetectionConfig)
from pipeline.detection.processor import (chunk_intervals, compute_tasks, data_spans, detect, detect_tasks,
                                          merge_contiguous, process_station, station_configs, station_rows)
from pipeline.detection.products import picks_to_obspy

__all__ = ["AmplitudeConfig", "AutoDetection", "BandSet", "DetectionConfig", "PolarisationConfig", "SDetectionConfig",
           "chunk_intervals", "compute_tasks", "data_spans", "detect", "detect_tasks", "merge_contiguous", "process_station",
           "station_configs", "station_rows", "picks_to_obspy"]
