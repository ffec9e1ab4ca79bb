"""Typed, frozen configuration of the radionuclide analysis (``[radionuclide]``), with documented
defaults. Where REFERENCE.md §6 says a value is **not found** (the IDC's category definitions and
thresholds, its particulate MDC definition, its noble-gas categorisation), the value here is our
configuration, marked ``source = "configuration"``.
"""
from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class NobleGasConfig(_Frozen):
    """Beta–gamma (SAUNA-style 10-ROI) analysis, after openSpex's BGM implementation
    (REFERENCE.md §6.3–6.4)."""

    #: stable xenon in air, cm3 (ml) per m3: sampled air volume = Xe volume / this [OPENSPEX]
    xe_air_cm3_per_m3: float = Field(0.087, gt=0)
    #: coverage factor of the decision threshold and detection limit (alpha = beta = 5 %) [OPENSPEX]
    k: float = Field(1.6449, gt=0)
    #: branching ratio of the coincidence signature counted in each ROI [OPENSPEX constants]:
    #: ROI 2 Xe-135 250 keV γ + β; ROI 3 Xe-133 81 keV γ + β; ROIs 4, 7–10 Xe-133 ~31 keV X + β/CE;
    #: ROI 5 Xe-131m 30 keV X + 129 keV CE; ROI 6 Xe-133m 30 keV X + 199 keV CE
    branching: dict[int, float] = {2: 0.90, 3: 0.37289, 4: 0.4894, 5: 0.540, 6: 0.5577,
                                   7: 0.4894, 8: 0.4894, 9: 0.4894, 10: 0.4894}
    #: combine Xe-133 from ROI 3 (81 keV) and the X-ray ROI(s) by their variance-weighted mean
    combine_xe133: bool = True


class ParticulateConfig(_Frozen):
    """HPGe particulate analysis: peak search and fit, identification, Currie MDC."""

    #: smallest peak significance (net area / its standard uncertainty) reported as a peak; the IDC
    #: sets its own per line (REFERENCE.md §6.1) — the value is configuration
    min_significance: float = Field(3.0, gt=0)
    #: a library line is assigned to a peak within this many keV ... (configuration)
    match_tolerance_keV: float = Field(1.0, gt=0)
    #: ... or within this fraction of the FWHM at that energy, whichever is larger (configuration)
    match_tolerance_fwhm: float = Field(0.5, gt=0)
    #: background region on each side of a peak, in FWHM (configuration)
    background_fwhm: float = Field(2.0, gt=0)
    #: coverage factor of Currie's decision threshold and detection limit (alpha = beta = 5 %)
    k: float = Field(1.6449, gt=0)
    #: a nuclide is identified when its key (most intense) line is a found peak (configuration)
    require_key_line: bool = True
    #: peaks below this energy are not reported (X-ray and noise region; configuration)
    min_energy_keV: float = Field(20.0, ge=0)
    #: correct a small drift of a file's energy calibration on the natural lines found (configuration)
    recalibrate: bool = True


class CategoryConfig(_Frozen):
    """Particulate sample categories 1–5. The IDC scheme exists (IDC Operations Manual, REFERENCE.md
    §6.1, [PNNL22]) but its exact definitions are not public; ours, as configuration:

    1. only natural nuclides, each at a typical concentration;
    2. a natural nuclide at an anomalous concentration;
    3. CTBT-relevant anthropogenic nuclide(s), each at a typical concentration for the station;
    4. one CTBT-relevant anthropogenic nuclide at an anomalous concentration;
    5. two or more anomalous CTBT-relevant nuclides, at least one a fission product.

    "Anomalous" = above the station's EWMA upper limit (:func:`categories.ewma_limit`: the
    exponentially weighted mean plus :attr:`ewma_k` weighted standard deviations of the station's
    history for that nuclide), else above :attr:`typical_upper_mBq_m3`; a relevant nuclide without
    either is anomalous whenever detected (a new sight is news)."""

    #: EWMA weight of the newest sample (configuration)
    ewma_lambda: float = Field(0.2, gt=0, le=1)
    #: multiple of the EWMA standard deviation above the EWMA mean that is anomalous (configuration)
    ewma_k: float = Field(3.0, gt=0)
    #: least history samples for the EWMA rule (configuration)
    ewma_min_samples: int = Field(10, ge=2)
    #: typical upper concentration (mBq/m3) per nuclide when the station has no history (configuration:
    #: Be-7 is routinely 1–10 mBq/m3 at surface stations; radon progeny depend on the site)
    typical_upper_mBq_m3: dict[str, float] = {"Be-7": 20.0, "Pb-212": 50.0, "Pb-214": 1000.0,
                                              "Bi-214": 1000.0, "K-40": 1.0, "Na-22": 0.05}
    source: str = "configuration (IDC level definitions not found, REFERENCE.md §6.1)"


class BacktrackConfig(_Frozen):
    """Defaults of ``idc radionuclide fuse`` (:func:`pipeline.radionuclide.fusion.fuse_samples`;
    the backward puff model of :mod:`pipeline.radionuclide.backtrack`). All configuration."""

    #: puff model: hours before the collection start that releases are followed back
    hours_back: float = Field(72.0, gt=0, le=24 * 60)
    #: puff model: time bins of the source-receptor field, s
    time_step_s: float = Field(3600.0, gt=0)
    #: puff model: half width and spacing of the grid around the station, deg
    grid_half_width_deg: float = Field(20.0, gt=0, le=90)
    grid_step_deg: float = Field(0.5, gt=0, le=10)
    #: source region: cells above this fraction of each sample's maximum sensitivity
    threshold: float = Field(0.1, gt=0, le=1)
    #: several samples: cells kept by all of them (one release) or by any
    combine: Literal["all", "any"] = "all"
    #: seconds either side of a source-region time bin an origin time may lie
    time_tolerance_s: float = Field(0.0, ge=0)


class ReportConfig(_Frozen):
    """The per-sample radionuclide report product (RRR, :mod:`pipeline.radionuclide.report`)."""

    #: data types of the stored samples that get a report
    data_types: tuple[Literal["SAMPLEPHD", "BLANKPHD", "SPIKEPHD", "QCPHD", "CALIBPHD", "DETBKPHD", "GASBKPHD"], ...] = \
        ("SAMPLEPHD",)
    #: agency named in the report's header
    agency: str = Field("IDC", min_length=1, max_length=16)


class RadionuclideConfig(_Frozen):
    """``[radionuclide]``: analysis, categories, backtracking and the report product."""

    #: nuclide library (CSV with the columns of data/nuclides.csv); empty = the shipped library.
    #: Relative paths are under ``root``; :func:`pipeline.settings.load_settings` checks that it reads
    library: str = ""
    #: earlier FULL samples of a station read for the categories' EWMA rule (newest first)
    history_samples: int = Field(200, ge=1, le=100_000)
    noble_gas: NobleGasConfig = NobleGasConfig()
    particulate: ParticulateConfig = ParticulateConfig()
    categories: CategoryConfig = CategoryConfig()
    backtrack: BacktrackConfig = BacktrackConfig()
    rrr: ReportConfig = ReportConfig()

    def nuclide_library(self) -> dict:
        """The library this configuration names (:func:`pipeline.radionuclide.nuclides.load_library`)."""
        from pipeline.radionuclide.nuclides import load_library

        return load_library(self.library or None)
