"""``[autodrm]``: limits and defaults of the IMS1.0 request service (AutoDRM)."""
from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class AutoDRMConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    #: source name written after the MSG_ID of response messages (``MSG_ID <id> <source>``)
    source: str = Field("IDC_PIPELINE", pattern=r"^\S+$")
    #: product answering BULLETIN/EVENT/ORIGIN/ARRIVAL requests without BULL_TYPE or product argument
    default_bulletin: Literal["SEL1", "SEL2", "SEL3", "REB", "SEB", "SSEB"] = "REB"
    #: waveform sub-format when a WAVEFORM line names none
    default_waveform_format: Literal["CM6", "INT"] = "CM6"
    #: largest request message, lines (longer: ERROR_LOG, nothing answered)
    max_request_lines: int = Field(1000, ge=10)
    #: largest TIME span of one BULLETIN/EVENT/ORIGIN/ARRIVAL/OUTAGE request, days
    max_time_span_days: float = Field(31.0, gt=0)
    #: largest number of events one bulletin-type request may return
    max_events: int = Field(20000, ge=1)
    #: largest WAVEFORM request, channel-seconds (channels × requested seconds)
    max_waveform_channel_seconds: float = Field(10 * 86400.0, gt=0)
    #: largest response message, bytes (GSE2.1 ch.1: e-mail up to 1 MB); larger → ERROR_LOG
    max_response_bytes: int = Field(50_000_000, ge=10_000)
