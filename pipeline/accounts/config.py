"""Typed, frozen configuration of access control (``[access]``) and subscriptions (``[subscriptions]``).

The IDC's actual access rules for States and the public are **not found** in the sources
REFERENCE.md cites, so the whole policy is **configuration**; the defaults in
``config/default.toml`` are *our* defaults: automatic and reviewed bulletins (SEL1/2/3, REB, SEB,
SSEB) and waveforms to States (roles ``state_principal`` and ``state_user``), everything to IDC
analysts and operators, the radionuclide reports (RRR) and sample spectra (SAMPLEPHD) to States and
IDC staff, station metadata and the disaster alert feeds to everyone, and for the
public the reviewed events (REB) of magnitude mb ≥ 4.0 that are older than 2 days.
"""
from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

# the roles (``public`` is also the role of anonymous requests) and the default Digest realm are
# those of the account tables (pipeline.store.accounts)
from pipeline.store.accounts import DEFAULT_DIGEST_REALM, IDC_ROLES, ROLES, STATE_ROLES

#: product names the policy knows besides the bulletin types (free names are allowed too)
BULLETINS = ("SEL1", "SEL2", "SEL3", "REB", "SEB", "SSEB")


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def _check_roles(roles, where: str) -> tuple[str, ...]:
    bad = [r for r in roles if r not in ROLES]
    if bad:
        raise ValueError(f"{where}: unknown role(s) {', '.join(map(repr, bad))} (roles: {', '.join(ROLES)})")
    return tuple(roles)


class PublicEventsConfig(_Frozen):
    """``[access.public_events]``: the part of a bulletin the public (no token) may read."""

    #: bulletins the rule applies to
    products: tuple[str, ...] = ("REB",)
    #: smallest magnitude (of ``magnitude_type``; empty = the preferred magnitude)
    min_magnitude: float = 4.0
    magnitude_type: str = "mb"
    #: events become public this many days after their origin time
    min_age_days: float = Field(2.0, ge=0)


class RateLimitConfig(_Frozen):
    """``[access.rate_limit]``: token bucket per account (public: per client address), in memory
    per server process. 0 = unlimited."""

    rate_per_s: float = Field(20.0, ge=0)
    burst: int = Field(100, ge=1)
    public_rate_per_s: float = Field(5.0, ge=0)
    public_burst: int = Field(30, ge=1)


#: Digest algorithms we verify (RFC 7616 §3.3, without the ``-sess`` variants)
DIGEST_ALGORITHMS = ("MD5", "SHA-256")


class DigestConfig(_Frozen):
    """``[access.digest]``: HTTP Digest authentication (RFC 7616, ``qop="auth"``), the scheme FDSN
    ``queryauth`` specifies and obspy's ``Client(user=..., password=...)`` speaks (user = the
    account name, password = an API token). See :mod:`pipeline.service.digest`."""

    #: accept Digest credentials and send Digest challenges
    enabled: bool = True
    #: the realm of the challenges; part of the HA1 stored with each token, so tokens created
    #: under another realm do not verify (re-issue them after changing it)
    realm: str = Field(DEFAULT_DIGEST_REALM, min_length=1, max_length=200, pattern=r'^[^"\\\x00-\x1f]+$')
    #: challenges, in this order (urllib/obspy read only the first one and know only MD5)
    algorithms: tuple[Literal["MD5", "SHA-256"], ...] = Field(DIGEST_ALGORITHMS, min_length=1)
    #: seconds a nonce stays valid; an older one gets 401 with ``stale=true``
    nonce_lifetime_s: float = Field(300.0, gt=0, le=86400)
    #: HMAC key of the (stateless) nonces; empty = random per server process (then set it when
    #: several processes serve behind one address: IDC__ACCESS__DIGEST__NONCE_SECRET)
    nonce_secret: str = ""
    #: paths whose 401 answers carry the Digest (and Basic) challenges; elsewhere (the web UI)
    #: only Bearer, so that browsers do not open a login dialog
    challenge_paths: tuple[str, ...] = ("/fdsnws/",)


def _default_products() -> dict[str, tuple[str, ...]]:
    restricted = STATE_ROLES + IDC_ROLES
    out = {p: restricted for p in BULLETINS}
    out["waveforms"] = restricted
    out["RRR"] = restricted  # radionuclide reports (pipeline.radionuclide.report)
    out["SAMPLEPHD"] = restricted  # the stored PHD messages of the samples and their spectra
    out["stations"] = ROLES
    out["alerts"] = ROLES
    return out


class AccessConfig(_Frozen):
    """``[access]``: who may read which product (see the module docstring for the defaults)."""

    #: product → roles that may read all of it
    products: dict[str, tuple[str, ...]] = Field(default_factory=_default_products)
    #: roles that may read a product not listed in ``products``
    default_roles: tuple[str, ...] = IDC_ROLES
    public_events: PublicEventsConfig = PublicEventsConfig()
    rate_limit: RateLimitConfig = RateLimitConfig()
    digest: DigestConfig = DigestConfig()
    #: write a download_audit row for every request to a data endpoint
    audit: bool = True

    @field_validator("products")
    @classmethod
    def _roles_known(cls, v):
        return {k: _check_roles(r, f"access.products.{k}") for k, r in v.items()}

    @field_validator("default_roles")
    @classmethod
    def _default_known(cls, v):
        return _check_roles(v, "access.default_roles")

    def roles_for(self, product: str) -> tuple[str, ...]:
        return self.products.get(product, self.default_roles)


class SubscriptionsConfig(_Frozen):
    """``[subscriptions]``: how deliveries are sent (SMTP server, webhook retries)."""

    smtp_host: str = "127.0.0.1"
    smtp_port: int = Field(25, ge=1, le=65535)
    #: STARTTLS after EHLO; login when ``smtp_user`` is set (password from the environment:
    #: IDC__SUBSCRIPTIONS__SMTP_PASSWORD)
    smtp_starttls: bool = False
    smtp_user: str = ""
    smtp_password: str = ""
    mail_from: str = "idc-pipeline@localhost"
    #: seconds to wait for an SMTP server or webhook receiver
    timeout_s: float = Field(10.0, gt=0)
    #: attempts per delivery within one run (exponential backoff between them)
    max_attempts: int = Field(5, ge=1, le=50)
    backoff_initial_s: float = Field(2.0, ge=0)
    backoff_factor: float = Field(2.0, ge=1)
    backoff_max_s: float = Field(300.0, ge=0)
    #: largest station_data delivery (miniSEED bytes); larger ones send the fdsnws-dataselect URL
    max_station_data_bytes: int = Field(10_000_000, ge=0)
    #: public base URL of `idc serve` used in links of deliveries (empty = no links)
    service_url: str = ""
    #: bulletin format of deliveries when a subscription does not say
    default_format: Literal["ims1", "quakeml"] = "ims1"
