"""Typed, frozen configuration of the radionuclide analysis (``[radionuclide]``), with documented
defaults. Where REFERENCE.md §6 says a value is **not found** (the IDC's category definitions and
thresholds, its particulate MDC definition, its noble-gas categorisation), the value here is our
configuration, marked ``source = "configuration"``.
"""
from __future__ import annotations

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


class RadionuclideConfig(_Frozen):
    noble_gas: NobleGasConfig = NobleGasConfig()
    particulate: ParticulateConfig = ParticulateConfig()
    categories: CategoryConfig = CategoryConfig()
