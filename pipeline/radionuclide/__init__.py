"""Radionuclide sensor data: IMS2.0 pulse-height-data (PHD) messages, beta–gamma (noble gas) and
HPGe (particulate) spectrum analysis, sample categories.

:mod:`pipeline.radionuclide.phd` (IMS2.0 PHD reader/writer, spectra as xarray),
:mod:`pipeline.radionuclide.labspectra` (ORTEC .Spe and Canberra .cnf lab spectra),
:mod:`pipeline.radionuclide.nuclides` (the documented nuclide library, ``data/nuclides.csv``),
:mod:`pipeline.radionuclide.betagamma` (ROI net counts, Xe activity concentrations, MDCs),
:mod:`pipeline.radionuclide.hpge` (calibration, peak search and fit, activity, Currie MDC),
:mod:`pipeline.radionuclide.categories` (sample categories 1–5),
:mod:`pipeline.radionuclide.analyse` (one call: a file in, a JSON-able report out),
:mod:`pipeline.radionuclide.config` (typed configuration with documented defaults).

Importing this package has no side effects and imports none of its modules.
"""
