"""Typed, frozen configuration of analyst review (``[review]`` and ``[review.edc]``).

Event Definition Criteria (EDC) decide whether a reviewed event may enter the REB. The IDC's
REB EDC (station counts, station weights) are **not found** in the documents REFERENCE.md cites
(REFERENCE.md §5 and §11 item 3), so every criterion here is **configuration** with a documented
default; the quantities they test are defined as in REFERENCE.md §2.4 [GSE21 p.91, NNSA-KB]:
"defining" = used in the location (time-, azimuth- or slowness-defining), Nsta = stations with a
defining observation, Gap = largest azimuthal gap between event-to-station azimuths of defining
stations, and the 90 % error ellipse of §2.2.
"""
from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class EventDefinitionCriteria(_Frozen):
    """``[review.edc]``: what a reviewed event must satisfy to enter the REB (configuration)."""

    #: stations with at least one time-defining arrival
    min_defining_stations: int = Field(3, ge=1)
    #: time-defining arrivals (phases)
    min_time_defining: int = Field(3, ge=1)
    #: defining observations of all kinds (time + azimuth + slowness)
    min_defining_data: int = Field(4, ge=1)
    #: largest semi-major axis of the 90 % epicentre ellipse, km (an event without an ellipse
    #: fails when this is finite)
    max_semi_major_km: float = Field(1000.0, gt=0)
    #: largest azimuthal gap of the defining stations, deg (360 = no limit)
    max_azimuthal_gap_deg: float = Field(360.0, gt=0, le=360)
    #: largest RMS of the defining time residuals, s (0 = no limit)
    max_rms_s: float = Field(0.0, ge=0)
    #: the event must carry at least one network magnitude
    require_magnitude: bool = False


class ReviewConfig(_Frozen):
    """``[review]``: the analyst review queue (SEL3 → REB)."""

    #: analyst name when neither ``--analyst`` nor ``$USER`` is given
    default_analyst: str = Field("analyst", min_length=1, max_length=64)
    #: an SEL3 event whose origin is within this time (s) ...
    match_time_s: float = Field(10.0, ge=0)
    #: ... and this epicentral distance (km) of an event already queued ...
    match_distance_km: float = Field(100.0, ge=0)
    #: ... and that shares at least this fraction of the smaller event's picks with it (same
    #: station and phase, onset times within ``match_pick_s``) is a version of the same event (a
    #: later SEL3 version of the same window re-finds it) and is not queued again. Nearby events
    #: of a swarm have their own picks and are all queued.
    match_shared_picks: float = Field(0.5, gt=0, le=1)
    match_pick_s: float = Field(0.5, gt=0)
    #: the event may not be accepted (or published) unless it meets these criteria
    edc: EventDefinitionCriteria = EventDefinitionCriteria()
