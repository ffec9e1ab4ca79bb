"""``[autodrm]``: limits and defaults of the IMS1.0 request service (AutoDRM)."""
from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator


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
    #: ``RELATIVE_TO ORIGIN|EVENT|BULLETIN`` + ``WAVEFORM``: the window cut around each arrival of a
    #: selected event, (seconds before, seconds after) the arrival time. REFERENCE.md §4.2 gives no
    #: window lengths (not found in GSE2.1 as read; IDC-3.4.1 not readable, §11 item 7): (60, 240) s
    #: is our choice — a minute of pre-arrival noise, four minutes of the phase and its coda.
    relative_window_s: tuple[Annotated[float, Field(ge=0)], Annotated[float, Field(ge=0)]] = (60.0, 240.0)
    #: largest response message, bytes (GSE2.1 ch.1: e-mail up to 1 MB); larger → ERROR_LOG
    max_response_bytes: int = Field(50_000_000, ge=10_000)

    # ------------------------------------------------------------------ the e-mail path (mail.py)
    #: senders whose From address matches no account: answered as the ``public`` role, or not
    #: answered at all (logged and recorded as ``ignored``). From addresses can be forged, so "reject"
    #: (registered correspondents only) is the default: it keeps the AutoDRM from mailing data
    #: messages, or error replies (backscatter), to arbitrary third parties.
    unknown_senders: Literal["public", "reject"] = "reject"
    #: where a registered (non-public) sender's answer may go other than its From address (E-MAIL/
    #: FTP line, Reply-To): "account" = the account's own address only, "state" = also addresses of
    #: active accounts of the same State, "any" = anywhere (GSE2.1 behaviour; only where the MTA
    #: verifies senders). Guards against a forged From with an E-MAIL line to the forger.
    reply_redirect: Literal["account", "state", "any"] = "state"
    #: largest DATA message per e-mail, bytes (GSE2.1 ch.1: e-mail up to 1 MB); larger answers are
    #: split into ``REF_ID <id> PART n OF m`` messages
    max_email_bytes: int = Field(1_000_000, ge=2000)
    #: From of the answers (empty = ``[subscriptions] mail_from``; SMTP server from [subscriptions])
    mail_from: str = ""
    #: folder the answers of requests with an FTP line are written to (empty = $IDC_HOME/autodrm/ftp;
    #: relative = under $IDC_HOME); serve it to authenticated users only
    ftp_dir: str = ""
    #: ``FTP_FILE <ftp_host> <ftp_login> <ftp_directory> <file>`` of the FTP_LOG notification
    ftp_host: str = Field("localhost", pattern=r"^\S+$")
    ftp_login: Literal["USER", "GUEST"] = "USER"
    #: the directory as FTP clients see it (empty = the ftp_dir path)
    ftp_directory: str = Field("", pattern=r"^\S*$")

    @field_validator("relative_window_s")
    @classmethod
    def _window_not_empty(cls, v: tuple[float, float]) -> tuple[float, float]:
        if v[0] + v[1] <= 0:
            raise ValueError("the window around an arrival is empty (before + after must be > 0 s)")
        return v
