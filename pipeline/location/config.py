"""Typed, frozen configuration of the location stage (:func:`pipeline.location.locate`).

Defaults are published conventions where ``REFERENCE.md`` section 2 gives one (source key in
brackets) and otherwise documented choices marked **configuration**.

Every key with its default and meaning is listed in ``config/default.toml`` (``[location]``,
``[[location.time_uncertainties]]``, ``[location.phase_aliases]``).

Facts made configuration (not found in the documents REFERENCE.md cites):

* default pick-time, backazimuth and slowness uncertainties when an arrival carries none;
* the outlier rule (LocSAT/iLoc have their own; here: drop the worst datum with
  ``|r|/sigma > outlier_cutoff`` after convergence, relocate, repeat);
* the grid-search start (iLoc uses a neighbourhood-algorithm search, LocSAT starts from the
  associator's hypothesis);
* surface velocities for elevation corrections above the travel-time table's model top (iLoc's
  ak135 model-file values ``PSurfVel = 5.8``, ``SSurfVel = 3.46`` km/s).
"""
from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class TimeUncertainties(_Frozen):
    """Default 1-sigma pick-time uncertainties (s) for arrivals up to ``max_distance_deg``.

    Used when an arrival's ``time_uncertainty`` is NaN. ``phases`` maps the arrival's phase
    name (as given, e.g. ``"Pn"``) to seconds; other phases get ``default_s``.
    """

    max_distance_deg: float = Field(gt=0.0)
    default_s: float = Field(gt=0.0)
    phases: dict[str, float] = {}


#: local (<= 2 deg), regional (<= 20 deg) and teleseismic defaults (configuration)
DEFAULT_TIME_UNCERTAINTIES: tuple[TimeUncertainties, ...] = (
    TimeUncertainties(max_distance_deg=2.0, default_s=0.2,
                      phases={"P": 0.1, "Pg": 0.1, "Pn": 0.1, "S": 0.2, "Sg": 0.2, "Sn": 0.2}),
    TimeUncertainties(max_distance_deg=20.0, default_s=2.0,
                      phases={"P": 1.0, "Pn": 1.0, "Pg": 1.5, "S": 2.0, "Sn": 2.0, "Sg": 2.0,
                              "Lg": 2.5}),
    TimeUncertainties(max_distance_deg=180.0, default_s=2.0,
                      phases={"P": 1.0, "PKP": 1.5, "PKPdf": 1.5, "PKIKP": 1.5, "PKPab": 1.5,
                              "PKPbc": 1.5, "Pdiff": 2.0, "S": 2.0}),
)

#: arrival phase name -> travel-time table phases to try, first present in the table wins.
#: IDC bulletins name the first-arriving mantle P "Pn" out to ~20 deg; beyond the Pg/Pn
#: crossover (~1.5 deg) that is the table's first-arriving ``P`` (TauP's pure head wave ``Pn``
#: is up to ~4 s late at 18 deg and does not exist for sources below the Moho).
DEFAULT_PHASE_ALIASES: dict[str, tuple[str, ...]] = {
    "P": ("P",), "S": ("S",),
    "Pn": ("P",), "Sn": ("S",),
    "Pg": ("Pg", "P"), "Sg": ("Sg", "S"), "Lg": ("Lg", "Sg", "S"),
    "Pdiff": ("P",), "Sdiff": ("S",),
    "PKP": ("PKP",), "PKPdf": ("PKP",), "PKIKP": ("PKP",), "PKPab": ("PKP",),
    "PKPbc": ("PKP",),
}


class LocatorConfig(_Frozen):
    """Settings of the linearised least-squares locator (:func:`pipeline.location.locate`).

    :param max_iterations: Levenberg-Marquardt iterations per solve (each outlier rejection
        starts a new solve).
    :param convergence_km: converged when an accepted step moves the hypocentre less than this,
        km (horizontally and in depth) ...
    :param convergence_time_s: ... and the origin time less than this, s.
    :param damping: initial Levenberg-Marquardt damping factor (columns scaled to unit norm);
        multiplied by 10 after a rejected step, divided by 10 after an accepted one.
    :param depth_mode: ``"free"`` (depth solved for, within the bounds) or ``"fixed"``.
    :param fixed_depth_km: depth when fixed, km below sea level. Default 0 km: the IDC REB
        practice of fixing unresolved depths at 0 km [GSE21 examples, REFERENCE 2.3].
    :param min_depth_km: shallowest allowed depth, km below sea level [LocSAT: no negative
        depths].
    :param max_depth_km: deepest allowed depth, km (LocSAT allows 800 km; the default ak135
        table stops at 700 km). The travel-time table's depth range also bounds the depth.
    :param time_uncertainties: default pick-time uncertainties per distance range (the first
        block whose ``max_distance_deg`` is >= the arrival's distance at the starting point).
    :param backazimuth_uncertainty_deg: 1-sigma backazimuth uncertainty when an arrival has
        none, deg (configuration).
    :param backazimuth_uncertainty_from_slowness: an arrival without a backazimuth uncertainty
        but with a measured slowness ``s`` gets ``2 asin(ds / 2s)`` deg instead (``ds`` its
        slowness uncertainty or ``slowness_uncertainty_s_deg``): the direction error of a
        slowness vector, as the IDC's f-k measurement computes it (GMS
        ``DefaultFkMeasurementsAlgorithms.azimuthUncertainty``). Slow arrivals (S, Lg, regional
        P) then constrain the epicentre more than fast teleseismic P.
    :param slowness_uncertainty_s_deg: 1-sigma slowness uncertainty when an arrival has none,
        s/deg (configuration).
    :param min_time_uncertainty_s: floor applied to every time uncertainty, s.
    :param hydroacoustic_time_uncertainty_s: 1-sigma of a hydroacoustic (H, T) arrival time, s,
        ...
    :param hydroacoustic_time_uncertainty_fraction: ... plus this fraction of its water-path
        travel time (at least the pick's own uncertainty); default 5 s + 1 %, half the
        ``[hydroacoustic]`` association tolerance (configuration).
    :param use_time: use arrival times (per-arrival ``use_time`` column can switch them off).
    :param use_azimuth: use measured backazimuths (column ``use_azimuth`` likewise).
    :param use_slowness: use measured horizontal slownesses (column ``use_slowness``).
    :param phase_aliases: arrival phase -> table phases to try (first present in the table);
        phases without an entry use their own name.
    :param prior_dof: Jordan & Sverdrup prior degrees of freedom K (Bratt & Bache used 8;
        SeisComP's LocSAT 9999, iLoc 99999 ~ a "coverage" ellipse) [REFERENCE 2.2].
    :param prior_sigma: prior standard error s0 (in units of the data sigma) [REFERENCE 2.2].
    :param confidence: confidence level of the ellipse and of the depth/time intervals.
    :param outlier_cutoff: after convergence, the defining datum with the largest
        ``|residual| / sigma`` above this is made non-defining and the event relocated;
        repeated (configuration). ``0`` disables.
    :param max_outlier_fraction: at most this fraction of the defining data may be dropped.
    :param min_defining: fewer defining data than this (or than the free parameters) gives an
        unconverged result with a message instead of a location.
    :param geocentric: compute distances/azimuths with geocentric latitudes (LocSAT practice);
        otherwise geographic latitudes on the sphere.
    :param elevation_corrections: correct travel times to the station elevations.
    :param ellipticity_corrections: add the ellipticity correction of the travel-time table
        (built-in global models; LocSAT and iLoc both apply one [REFERENCE 2.1]; see
        :mod:`pipeline.traveltime.ellipticity`). No effect with local layered tables.
    :param surface_vp_km_s: P velocity above the table's model top (e.g. ak135 stations above
        sea level), km/s [iLoc PSurfVel for ak135].
    :param surface_vs_km_s: S velocity above the model top, km/s [iLoc SSurfVel].
    :param grid_depths_km: trial depths of the starting-point grid search, km (clipped to the
        depth bounds and the table; the fixed depth when depth is fixed).
    :param grid_points_per_radius: first grid level spacing = search radius / this. The search
        radius is the travel-time table's largest distance (2 deg for the default local
        table, 180 deg = the globe for global tables) around the first-arriving station.
    :param grid_levels: refinements of the grid around the best nodes (spacing / 4 each).
    :param grid_candidates: distinct grid minima refined; the inversion runs from each and the
        converged solution with the smallest misfit wins.
    """

    max_iterations: int = Field(60, ge=1)
    convergence_km: float = Field(0.005, gt=0.0)
    convergence_time_s: float = Field(0.001, gt=0.0)
    damping: float = Field(1e-3, ge=0.0)
    depth_mode: Literal["free", "fixed"] = "free"
    fixed_depth_km: float = 0.0
    min_depth_km: float = 0.0
    max_depth_km: float = 700.0
    time_uncertainties: tuple[TimeUncertainties, ...] = DEFAULT_TIME_UNCERTAINTIES
    backazimuth_uncertainty_deg: float = Field(10.0, gt=0.0)
    backazimuth_uncertainty_from_slowness: bool = True
    slowness_uncertainty_s_deg: float = Field(1.5, gt=0.0)
    min_time_uncertainty_s: float = Field(0.01, gt=0.0)
    hydroacoustic_time_uncertainty_s: float = Field(5.0, gt=0.0)
    hydroacoustic_time_uncertainty_fraction: float = Field(0.01, ge=0.0)
    use_time: bool = True
    use_azimuth: bool = True
    use_slowness: bool = True
    phase_aliases: dict[str, tuple[str, ...]] = DEFAULT_PHASE_ALIASES
    prior_dof: float = Field(8.0, ge=0.0)
    prior_sigma: float = Field(1.0, gt=0.0)
    confidence: float = Field(0.9, gt=0.0, lt=1.0)
    outlier_cutoff: float = Field(4.0, ge=0.0)
    max_outlier_fraction: float = Field(0.3, ge=0.0, le=1.0)
    min_defining: int = Field(3, ge=1)
    geocentric: bool = True
    elevation_corrections: bool = True
    ellipticity_corrections: bool = True
    surface_vp_km_s: float = Field(5.8, gt=0.0)
    surface_vs_km_s: float = Field(3.46, gt=0.0)
    grid_depths_km: tuple[float, ...] = (0.0, 5.0, 10.0, 15.0, 20.0, 33.0, 60.0, 100.0, 200.0,
                                         300.0, 450.0, 600.0)
    grid_points_per_radius: int = Field(30, ge=4)
    grid_levels: int = Field(2, ge=0)
    grid_candidates: int = Field(3, ge=1)

    @model_validator(mode="after")
    def _check(self) -> "LocatorConfig":
        if not self.min_depth_km < self.max_depth_km:
            raise ValueError(f"location: min_depth_km {self.min_depth_km} must be below "
                             f"max_depth_km {self.max_depth_km}")
        if self.depth_mode == "fixed" and not (
                self.min_depth_km <= self.fixed_depth_km <= self.max_depth_km):
            raise ValueError(f"location: fixed_depth_km {self.fixed_depth_km} is outside the "
                             f"depth bounds {self.min_depth_km}-{self.max_depth_km} km")
        if not self.time_uncertainties:
            raise ValueError("location: time_uncertainties needs at least one block")
        return self

    def default_time_uncertainty(self, phase: str, distance_deg: float) -> float:
        """Default 1-sigma time uncertainty (s) of ``phase`` at ``distance_deg``."""
        blocks = sorted(self.time_uncertainties, key=lambda b: b.max_distance_deg)
        block = next((b for b in blocks if distance_deg <= b.max_distance_deg), blocks[-1])
        return float(block.phases.get(phase, block.default_s))
