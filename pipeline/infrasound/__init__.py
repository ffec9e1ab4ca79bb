"""Infrasound station processing (IMS infrasound arrays): detection, celerity phases, noise QC,
association and location of infrasound-only events.

Public API::

    from pipeline.infrasound import InfrasoundConfig, detect_infrasound

    result = detect_infrasound(stream, inventory, InfrasoundConfig(), code="DIA")
    result.table      # picks table + technology, fstat, ... + trace_velocity, frequency, duration

* :func:`detect_infrasound` - Fisher F-detector on f-k beams (builds on :mod:`pipeline.array`).
* :func:`noise_qc` - PSD of each channel against the IMS low/high noise models.
* :func:`associate` / :func:`locate` - infrasound detections of several arrays -> events located
  by a grid search with backazimuths and celerity windows (:mod:`pipeline.traveltime.infrasound`).

Importing this package has no side effects.
"""
from pipeline.infrasound.config import InfrasoundConfig, ResolvedInfrasound
from pipeline.infrasound.detector import InfrasoundResult, detect_infrasound, write_infrasound_csv
from pipeline.infrasound.locate import InfrasoundEvent, LocateConfig, associate, locate, parse_infrapy_detections
from pipeline.infrasound.qc import NoiseModels, ims_noise_models, noise_qc

__all__ = ["InfrasoundConfig", "InfrasoundEvent", "InfrasoundResult", "LocateConfig", "NoiseModels",
           "ResolvedInfrasound", "associate", "detect_infrasound", "ims_noise_models", "locate", "noise_qc",
           "parse_infrapy_detections", "write_infrasound_csv"]
