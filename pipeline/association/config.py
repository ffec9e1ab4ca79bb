"""Association configuration (typed, frozen; TOML section ``[association]``).

Every key with its default and meaning is listed in ``config/default.toml`` (sections
``[association]``, ``[association.local]``, ``[association.regional]``,
``[association.global]``); the field docstrings below are the reference.

Keys whose default is ``"auto"`` are chosen from the data: the grid family
from the station geometry (:mod:`pipeline.association.network`), node spacings from the
stations' spacing, the phases from the travel-time table, the minimum station count from the
family. Giving a value overrides the automatic choice.
"""
from __future__ import annotations

from typing import Annotated, Literal, Union

#: a key chosen from the data unless given
Auto = Literal["auto"]

from pydantic import BaseModel, ConfigDict, Field


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class LocalGrid(_Frozen):
    """A flat lattice around the stations (dense local networks)."""

    #: grid margin around the stations' bounding box, km
    margin_km: float = Field(20.0, ge=0)
    #: horizontal node spacing, km ("auto" = the stations' median nearest-neighbour distance /
    #: ``nodes_per_station_spacing``, rounded to 1, 1.5, 2, 2.5, 3, 4, 5, 6, 8 x 10^k; coarser when the
    #: lattice would exceed ``max_nodes_per_side``)
    spacing_km: Union[Annotated[float, Field(gt=0)], Auto] = "auto"
    #: node depths, km below sea level
    depths_km: tuple[float, ...] = (2.0, 6.0, 10.0, 15.0, 22.0)
    #: least half-width of the origin-time vote for P / S picks at a node, s ...
    tolerance_p_s: float = Field(0.6, gt=0)
    tolerance_s_s: float = Field(1.2, gt=0)
    #: ... widened to cover the travel-time change across a node cell: this many s per km of
    #: node spacing (0.12 / 0.2 s/km: half a cell diagonal at ~5.8 / 3.5 km/s)
    tolerance_p_s_per_km: float = Field(0.12, ge=0)
    tolerance_s_s_per_km: float = Field(0.2, ge=0)
    #: association residual limit after refinement, s (P / S)
    residual_p_s: float = Field(0.5, gt=0)
    residual_s_s: float = Field(1.0, gt=0)
    #: association residual limits grow with distance by this much (1-D model error), s/deg ...
    residual_growth_p_s_per_deg: float = Field(1.0, ge=0)
    residual_growth_s_s_per_deg: float = Field(2.0, ge=0)
    #: ... up to these limits, s (P / S)
    residual_max_p_s: float = Field(3.0, gt=0)
    residual_max_s_s: float = Field(6.0, gt=0)
    #: stations farther than this from a node cannot contribute, deg (capped by the table)
    max_distance_deg: float = Field(2.0, gt=0)
    #: processing window, s
    window_s: float = Field(120.0, gt=0)


class RegionalGrid(_Frozen):
    """A spherical cap around the network: a core of uniform spacing over the stations' footprint
    and rings whose spacing grows with the distance beyond it (regional and continental networks,
    and sparse networks whose events lie far outside them)."""

    #: core margin beyond the farthest station from the network's centre, km
    margin_km: float = Field(50.0, ge=0)
    #: core node spacing, km ("auto" = station spacing / ``nodes_per_station_spacing``, at least
    #: the core diameter / ``max_nodes_per_side``; rounded likewise)
    spacing_km: Union[Annotated[float, Field(gt=0)], Auto] = "auto"
    #: beyond the core the node spacing grows by this fraction of the distance from the core
    #: ("auto" = core spacing / core radius, at least 0.1: the spacing grows in proportion to
    #: the distance from the centre, which keeps the error of the travel-time *differences*
    #: between the stations across a node cell, what the vote aligns, about that of the core)
    spacing_growth: Union[Annotated[float, Field(ge=0)], Auto] = "auto"
    #: the cap reaches this far beyond the core, deg (events up to this far outside the
    #: network); capped by ``max_distance_deg`` and the table
    outer_deg: float = Field(12.0, ge=0)
    #: node depths, km below sea level
    depths_km: tuple[float, ...] = (2.0, 10.0, 20.0, 35.0, 60.0)
    tolerance_p_s: float = Field(1.0, gt=0)
    tolerance_s_s: float = Field(2.0, gt=0)
    #: (0.09 / 0.16 s/km: half a cell diagonal at Pn / Sn velocities)
    tolerance_p_s_per_km: float = Field(0.09, ge=0)
    tolerance_s_s_per_km: float = Field(0.16, ge=0)
    residual_p_s: float = Field(1.0, gt=0)
    residual_s_s: float = Field(2.0, gt=0)
    #: the error of a global 1-D model in a given crust: the residuals of the NCSN analyst picks
    #: (Calaveras, Parkfield) at the catalogue hypocentres with ak135 have a 95th percentile
    #: |r| of 0.7 s within 0.25 deg, 2.1 s at 1-1.5 deg, 3.8 s at 2-3 deg (P)
    residual_growth_p_s_per_deg: float = Field(1.0, ge=0)
    residual_growth_s_s_per_deg: float = Field(2.0, ge=0)
    residual_max_p_s: float = Field(5.0, gt=0)
    residual_max_s_s: float = Field(10.0, gt=0)
    max_distance_deg: float = Field(20.0, gt=0)
    #: only the nearest this many stations of a node (within reach) vote for it; every station
    #: within reach still contributes its picks once the candidate is found. Bounds the vote's
    #: memory and time by nodes x this, whatever the size of the network
    vote_stations: int = Field(50, ge=3)
    window_s: float = Field(600.0, gt=0)


class GlobalGrid(_Frozen):
    """A Fibonacci lattice over the globe (networks on several continents, e.g. the IMS)."""

    #: node spacing on the sphere (Fibonacci lattice), deg
    spacing_deg: float = Field(2.0, gt=0)
    depths_km: tuple[float, ...] = (0.0, 35.0, 120.0, 300.0, 550.0)
    tolerance_p_s: float = Field(12.0, gt=0)
    tolerance_s_s: float = Field(25.0, gt=0)
    residual_p_s: float = Field(4.0, gt=0)
    residual_s_s: float = Field(8.0, gt=0)
    residual_growth_p_s_per_deg: float = Field(0.0, ge=0)
    residual_growth_s_s_per_deg: float = Field(0.0, ge=0)
    residual_max_p_s: float = Field(4.0, gt=0)
    residual_max_s_s: float = Field(8.0, gt=0)
    max_distance_deg: float = Field(100.0, gt=0)
    #: (an hour: the look-ahead and the late picks of each window, ~2,000 s, then cost a third)
    window_s: float = Field(3600.0, gt=0)


class AssociatorConfig(_Frozen):
    #: grid family: "auto" chooses from the station geometry (local / regional / global, see
    #: :mod:`pipeline.association.network`)
    scale: Literal["auto", "local", "regional", "global"] = "auto"
    #: "auto": local below this aperture (km) ...
    local_aperture_km: float = Field(300.0, gt=0)
    #: ... when the median nearest-neighbour station distance is also below this, km
    local_max_station_spacing_km: float = Field(30.0, gt=0)
    #: "auto": global at and above this aperture, km (regional in between)
    regional_aperture_km: float = Field(5000.0, gt=0)
    #: node spacing = station spacing / this (local and regional families, when not given)
    nodes_per_station_spacing: float = Field(3.5, gt=0)
    #: phases hypothesised for picks without a hint (P or S) - "auto" = by family, those the
    #: travel-time table has: local P, S; regional P, Pg, S, Lg; global P, PKP, S, Pg, Lg
    phases: Union[tuple[str, ...], Auto] = "auto"
    #: minimum number of stations with a defining (time) phase ("auto" = 3 for the global family,
    #: the IDC's REB rule, 4 otherwise)
    min_stations: Union[Annotated[int, Field(ge=1)], Auto] = "auto"
    #: minimum number of associated picks ("auto" = 3 for the global family, else 5)
    min_picks: Union[Annotated[int, Field(ge=1)], Auto] = "auto"
    #: probability that a pick's P/S phase hint is wrong (3-C hints confuse P and S, and an
    #: S wave often triggers the vertical): a P-hinted pick may be associated as an S-type
    #: phase (and vice versa) at a cost of log(eps / (1 - eps)) in the score, i.e. only when the
    #: hinted kind does not fit; 0 = hints are trusted (the vote always follows the hint)
    phase_hint_error: float = Field(0.0, ge=0, lt=0.5)
    #: minimum number of P-type arrivals of an event (an event of S arrivals only is the tail
    #: of another event's coda or of a missed one in a swarm, not an event)
    min_p_picks: int = Field(1, ge=0)
    #: one signal, one event: an event whose arrivals fall, for at least ``coda_fraction`` of
    #: them, inside another event's signal at the same stations — after that event's onset there
    #: (its first arrival) and before ``coda_s_at_m3 * 10**(0.5 * (M - 3))`` s after its last
    #: arrival (signal duration grows by 10**0.5 per magnitude unit, the slope of duration
    #: magnitudes) — is made of that signal's later phases and coda: it is dissolved and its picks
    #: left unassociated. An event more than ``coda_magnitude_gap`` larger than the other is kept.
    #: 0 = off.
    coda_s_at_m3: float = Field(5.0, ge=0)
    coda_fraction: float = Field(0.6, gt=0, le=1)
    coda_magnitude_gap: float = Field(0.5, ge=0)
    #: minimum number of defining data of an event (times, plus backazimuths and slownesses of
    #: picks that carry them, e.g. array detections): an event of 3 array stations with
    #: azimuth and slowness is as well constrained as one of 5 stations with times only
    min_defining: int = Field(5, ge=1)
    #: detection probability of a station within range (NET-VISA-style score)
    p_detect: float = Field(0.7, gt=0, lt=1)
    #: prior fraction of a station's picks that are false (the false-pick rate is this fraction
    #: of the station's pick rate in the stream)
    false_pick_fraction: float = Field(1.0, gt=0, le=1)
    #: floor of the per-station false-pick rate, 1/s (the rate is estimated from the pick stream)
    false_rate_floor: float = Field(1e-4, gt=0)
    #: a station counts as live (so a missing P costs score) when it has a pick within ± this, s
    #: ...
    live_window_s: float = Field(3600.0, gt=0)
    #: ... or within ± 3 / its pick rate for stations with few picks, at most this, s
    max_live_window_s: float = Field(10800.0, gt=0)
    #: use the picks' mb amplitudes (A5/2 and period) for a detection model where they exist:
    #: each live station detects the P of an event of magnitude mb with probability
    #: Φ((mb − Q(Δ, h) − threshold) / ``detection_sigma``), its threshold (log10 A/T) taken
    #: from its own detections in the stream (NET-VISA spirit); otherwise the flat p_detect
    detection_model: bool = True
    #: spread of the detection curve (station and path amplitude scatter), magnitude units
    detection_sigma: float = Field(0.4, gt=0)
    #: least P-type picks with an amplitude a station needs for a threshold of its own
    detection_model_min_picks: int = Field(5, ge=1)
    #: minimum log-likelihood-ratio score of an event
    min_score: float = 8.0
    #: refine the best grid node on a finer grid before scoring (factor of the spacing)
    refine_factor: int = Field(4, ge=1)
    #: work of the whole vote, node-pick pairs: with an automatic spacing the local lattice is
    #: made coarser (down to what its tolerance floor resolves) when the pick stream would
    #: exceed it (5e8: ~10 s on this project's reference machine)
    vote_budget: float = Field(5e8, gt=0)
    #: local and regional grids have at most this many nodes along the network's extent
    #: (coarser spacing for big networks)
    max_nodes_per_side: int = Field(80, ge=10)
    #: backazimuth residual limit of picks that carry one (array detections), in units of the
    #: pick's backazimuth uncertainty ...
    backazimuth_limit_sigmas: float = Field(3.0, gt=0)
    #: ... with this uncertainty when the pick gives none, deg ...
    backazimuth_uncertainty_deg: float = Field(10.0, gt=0)
    #: ... and at least this limit, deg
    backazimuth_min_limit_deg: float = Field(15.0, gt=0)
    #: slowness residual limit in units of the pick's slowness uncertainty ...
    slowness_limit_sigmas: float = Field(3.0, gt=0)
    #: ... with this uncertainty when the pick gives none, s/deg ...
    slowness_uncertainty_s_deg: float = Field(1.5, gt=0)
    #: ... and at least this limit, s/deg
    slowness_min_limit_s_deg: float = Field(2.0, gt=0)
    #: use backazimuths / slownesses of the picks that carry them (gathering, score, vote); "auto" =
    #: for the regional and global families only (a dense local network locates from times, and
    #: single-station 3-C polarisation azimuths there are poor)
    use_azimuth: Union[bool, Auto] = "auto"
    use_slowness: Union[bool, Auto] = "auto"
    #: candidates taken from the vote at a time (best first, level by level)
    candidates_per_vote: int = Field(64, ge=1)
    #: a window is done after this many candidates in a row were rejected (each rejection
    #: suppresses its vote cells, so every candidate is a fresh one)
    max_rejections: int = Field(32, ge=1)
    #: acceptable candidates (distinct in space-time) compared by score before the best is
    #: located and kept (1 = the first acceptable candidate of the vote)
    ranked_candidates: int = Field(16, ge=1)
    #: maximum number of events per window (guards against runaway loops)
    max_events_per_window: int = Field(500, ge=1)
    #: look-ahead past the end of each processing window, s: hypotheses with origin times up
    #: to this much after the window's end compete with those inside it, and when one of them
    #: wins its picks are kept for the next window. Without it, the picks of an event just
    #: after a window boundary can only be explained by wrong hypotheses inside the window
    #: (a problem in swarms), or by a wrong hypothesis far away whose origin time is earlier by
    #: the extra travel time (a problem of regional grids). "auto" = the grid's largest first-P
    #: travel time (at most ``window_s``); 0 = none
    window_overlap_s: Union[Annotated[float, Field(ge=0)], Auto] = "auto"
    #: threads building the vote of a window (blocks of nodes in parallel; numpy releases the
    #: GIL)
    vote_threads: int = Field(2, ge=1, le=64)
    #: worker processes associating chunks of the stream in parallel ("auto": the CPUs this
    #: process may use; 1: in this process), used with at least 4 chunks per worker. The result
    #: does not depend on it
    workers: Union[Annotated[int, Field(ge=1, le=256)], Auto] = "auto"
    #: origin-time chunks associated independently, s ("auto": at least an hour and 8 x the
    #: largest travel time plus the look-ahead; whole processing windows)
    chunk_s: Union[Annotated[float, Field(gt=0)], Auto] = "auto"
    #: largest vote array of one processing window (nodes x origin-time bins); a longer window
    #: is shortened to fit (bounds memory: 4 bytes per cell)
    max_vote_cells: int = Field(40_000_000, ge=100_000)
    local: LocalGrid = LocalGrid()
    regional: RegionalGrid = RegionalGrid()
    global_: GlobalGrid = Field(GlobalGrid(), alias="global")

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)
