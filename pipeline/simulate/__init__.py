"""Simulated station-processing output for testing and benchmarking the network stages.

:mod:`pipeline.simulate.detections` turns a list of real origins (e.g. the IDC LEB) and a
station network (e.g. the IMS seismic stations) into one day of IDC-like detections: arrivals
with realistic misses, timing errors, array backazimuth/slowness and a majority of false
detections, plus the truth needed to score an associator. Importing this package has no side
effects.
"""
from pipeline.simulate.detections import (
    SimConfig,
    SimulatedDetections,
    ims_seismic_stations,
    leb_origins,
    simulate_detections,
)

__all__ = ["SimConfig", "SimulatedDetections", "ims_seismic_stations", "leb_origins", "simulate_detections"]
