"""Association configuration (typed, frozen; TOML section ``[association]``).

Every key with its default and meaning is listed in ``config/default.toml`` (sections
``[association]``, ``[association.local]``, ``[association.global]``); the field docstrings
below are the reference.
"""
from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class LocalGrid(_Frozen):
    #: grid margin around the stations' bounding box, km
    margin_km: float = Field(20.0, ge=0)
    #: horizontal node spacing, km
    spacing_km: float = Field(2.0, gt=0)
    #: node depths, km below sea level
    depths_km: tuple[float, ...] = (2.0, 6.0, 10.0, 15.0, 22.0)
    #: half-width of the origin-time vote for P / S picks at a node, s (covers grid spacing)
    tolerance_p_s: float = Field(0.6, gt=0)
    tolerance_s_s: float = Field(1.2, gt=0)
    #: association residual limit after refinement, s (P / S)
    residual_p_s: float = Field(0.5, gt=0)
    residual_s_s: float = Field(1.0, gt=0)
    #: association residual limits grow with distance by this much (1-D model error), s/deg
    residual_growth_p_s_per_deg: float = Field(1.0, ge=0)
    residual_growth_s_s_per_deg: float = Field(2.0, ge=0)
    #: stations farther than this from a node cannot contribute, deg
    max_distance_deg: float = Field(2.0, gt=0)
    #: processing window, s
    window_s: float = Field(120.0, gt=0)


class GlobalGrid(_Frozen):
    #: node spacing on the sphere (Fibonacci lattice), deg
    spacing_deg: float = Field(2.0, gt=0)
    depths_km: tuple[float, ...] = (0.0, 35.0, 120.0, 300.0, 550.0)
    tolerance_p_s: float = Field(12.0, gt=0)
    tolerance_s_s: float = Field(25.0, gt=0)
    residual_p_s: float = Field(4.0, gt=0)
    residual_s_s: float = Field(8.0, gt=0)
    residual_growth_p_s_per_deg: float = Field(0.0, ge=0)
    residual_growth_s_s_per_deg: float = Field(0.0, ge=0)
    max_distance_deg: float = Field(100.0, gt=0)
    window_s: float = Field(1800.0, gt=0)


class AssociatorConfig(_Frozen):
    #: grid family; "auto" picks local when the station aperture is below ``local_aperture_km``
    scale: Literal["auto", "local", "global"] = "auto"
    local_aperture_km: float = Field(600.0, gt=0)
    #: phases hypothesised for picks without a hint (P or S)
    phases: tuple[str, ...] = ("P", "S")
    #: minimum number of stations with a defining (time) phase
    min_stations: int = Field(4, ge=1)
    #: minimum number of associated picks
    min_picks: int = Field(5, ge=1)
    #: detection probability of a station within range (NET-VISA-style score)
    p_detect: float = Field(0.7, gt=0, lt=1)
    #: prior fraction of a station's picks that are false (the false-pick rate is this fraction
    #: of the station's pick rate in the stream)
    false_pick_fraction: float = Field(1.0, gt=0, le=1)
    #: floor of the per-station false-pick rate, 1/s (the rate is estimated from the pick stream)
    false_rate_floor: float = Field(1e-4, gt=0)
    #: a station counts as live (so a missing P costs score) when it has a pick within ± this, s
    live_window_s: float = Field(3600.0, gt=0)
    #: minimum log-likelihood-ratio score of an event
    min_score: float = 8.0
    #: refine the best grid node on a finer grid before scoring (factor of the spacing)
    refine_factor: int = Field(4, ge=1)
    #: local grids have at most this many nodes along the network aperture (coarser for big networks)
    max_nodes_per_side: int = Field(80, ge=10)
    #: candidates examined per vote before giving up on a window
    candidates_per_vote: int = Field(64, ge=1)
    #: acceptable candidates (distinct in space-time) compared by score before the best is
    #: located and kept (1 = the first acceptable candidate of the vote)
    ranked_candidates: int = Field(4, ge=1)
    #: maximum number of events per window (guards against runaway loops)
    max_events_per_window: int = Field(500, ge=1)
    #: look-ahead past the end of each processing window, s: hypotheses with origin times up
    #: to this much after the window's end compete with those inside it, and when one of them
    #: wins its picks are kept for the next window. Without it, the picks of an event just
    #: after a window boundary can only be explained by wrong hypotheses inside the window
    #: (a problem in swarms). Of the order of the network's largest S travel time; 0 = none
    window_overlap_s: float = Field(0.0, ge=0)
    local: LocalGrid = LocalGrid()
    global_: GlobalGrid = Field(GlobalGrid(), alias="global")

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)
