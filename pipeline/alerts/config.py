"""``[alerts]``: which events become disaster-management alerts (CAP 1.2 and GeoJSON feed).

The thresholds are configuration with documented defaults: the IDC's own criteria for
"tsunami-relevant" are not in REFERENCE.md (not found); the defaults follow common tsunami-warning
practice (shallow, at sea, magnitude ≥ 6.5) and are meant to be set by the operator.
"""
from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class AlertsConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    #: smallest magnitude (any magnitude type; the event's preferred/largest value) that alerts
    min_magnitude: float = Field(6.5, ge=-2, le=10)
    #: deepest hypocentre that alerts, km
    max_depth_km: float = Field(100.0, gt=0)
    #: require the epicentre at sea (Natural Earth land polygons, pipeline.geo.coast) ...
    require_at_sea: bool = True
    #: ... or within this distance of a coast when on land, km (0 = at sea only)
    max_inland_km: float = Field(0.0, ge=0)
    #: products that alert (a later product revising an alerted event sends an Update)
    products: tuple[str, ...] = ("SEL1", "SEL2", "SEL3", "REB")
    #: CAP <sender> (no spaces or commas, CAP 1.2) and <senderName>
    sender: str = Field("idc-pipeline@localhost", pattern=r"^[^\s,]+$")
    sender_name: str = "idc-pipeline International Data Centre"
    #: CAP <status>: Actual for operations, Exercise/Test for drills
    status: Literal["Actual", "Exercise", "System", "Test", "Draft"] = "Actual"
    #: radius of the CAP <circle> around the epicentre, km
    area_radius_km: float = Field(500.0, gt=0)
    #: how long an alert stays in the CAP list and GeoJSON feed after origin time, hours (0 = forever)
    expires_hours: float = Field(24.0, ge=0)
    #: coastline resolution for the at-sea test ("110m" fast, "50m" default, "10m" if bundled)
    coast_resolution: str = "50m"
    #: public URL prefix used in CAP <web> and Atom links (empty = relative links)
    base_url: str = ""
    #: an event of a later product is the same as an alerted event when the origin times differ by
    #: at most this (s) and the epicentres by at most ``match_distance_km``
    match_time_s: float = Field(60.0, gt=0)
    match_distance_km: float = Field(250.0, gt=0)
    #: reviewed products whose window covers an alerted event that they no longer contain (the
    #: analyst rejected it): the event's alert is withdrawn with a CAP ``Cancel``
    cancel_on_products: tuple[str, ...] = ("REB",)
