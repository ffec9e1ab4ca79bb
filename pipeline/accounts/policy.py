"""The access policy (``[access]``): which role may read which product, and what the public may
read of a bulletin (see :mod:`pipeline.accounts.config` for the defaults and their status)."""
from __future__ import annotations

import time
from dataclasses import dataclass, field

from pipeline.accounts.config import AccessConfig
from pipeline.errors import IdcError


@dataclass(frozen=True)
class Decision:
    """``full``: the whole product; ``partial``: only events passing the public rule
    (:class:`~pipeline.accounts.config.PublicEventsConfig`); neither: refused."""

    product: str
    full: bool
    partial: bool

    @property
    def allowed(self) -> bool:
        return self.full or self.partial


def decide(cfg: AccessConfig, roles: tuple[str, ...], product: str) -> Decision:
    full = any(r in cfg.roles_for(product) for r in roles)
    partial = (not full and "public" in roles and product in cfg.public_events.products)
    return Decision(product, full, partial)


def readable_products(cfg: AccessConfig, roles: tuple[str, ...]) -> dict[str, str]:
    """product → ``all`` | ``public events`` for the products the roles may read."""
    out = {}
    for p in sorted(set(cfg.products) | set(cfg.public_events.products)):
        d = decide(cfg, roles, p)
        if d.allowed:
            out[p] = "all" if d.full else "public events"
    return out


# --------------------------------------------------------------------------- who asks
@dataclass(frozen=True)
class Principal:
    """The identity a request acts as.

    :param name: account name (``"public"`` for anonymous requests)
    :param roles: roles of the account (state_principal, state_user, analyst, operator, public)
    :param state: ISO code of the State the account belongs to (empty for IDC staff and the public)
    :param unrestricted: True when no access policy applies (every product is readable)
    :param user_id: account id in the store (None for the public)
    :param state_id: State id in the store (None when without State)
    :param access: the ``[access]`` configuration the decisions follow
    :param client: client address (rate limit key of the public)
    :param products: products this request asked for (filled by :func:`require`, for the audit)
    """

    name: str = "public"
    roles: tuple[str, ...] = ("public",)
    state: str = ""
    unrestricted: bool = True
    user_id: int | None = None
    state_id: int | None = None
    access: object | None = field(default=None, compare=False, repr=False)
    client: str = ""
    products: list = field(default_factory=list, compare=False, repr=False)

    @property
    def authenticated(self) -> bool:
        return self.user_id is not None

    @property
    def role(self) -> str:
        return self.roles[0] if self.roles else "public"

    def decision(self, product: str) -> Decision:
        if self.unrestricted or self.access is None:
            return Decision(product, True, False)
        return decide(self.access, self.roles, product)

    def may_read(self, product_type: str) -> bool:
        """Whether this principal may read (all or the public part of) ``product_type``."""
        return self.decision(product_type).allowed

    def readable(self) -> dict[str, str]:
        if self.unrestricted or self.access is None:
            return {"*": "all"}
        return readable_products(self.access, self.roles)


PUBLIC = Principal()


def who(p: Principal) -> str:
    if not p.authenticated:
        return "the public (no token)"
    return f"account {p.name!r} (role {p.role}{', State ' + p.state if p.state else ''})"



class Refused(IdcError, PermissionError):
    """The principal may not read a product (the message says who, what and what would help)."""


def check(principal: Principal, product: str, *, partial_ok: bool = False) -> Decision:
    """The decision for ``principal`` reading ``product``; raise :class:`Refused` unless it may
    read it (with ``partial_ok`` the public part of a bulletin is enough: the caller then applies
    :func:`public_event_rule`). Records ``product`` in ``principal.products`` for the audit row."""
    if product not in principal.products:
        principal.products.append(product)
    d = principal.decision(product)
    if d.full or (partial_ok and d.partial):
        return d
    hint = " Send an API token (Authorization: Bearer ...) of an account allowed to read it." \
        if not principal.authenticated else ""
    if d.partial:
        hint = (f" The public may read only the events of {product} that pass the public rule "
                "(see /accounts/1/whoami).")
    raise Refused(f"Access to {product} is not allowed for {who(principal)}.{hint}")


def public_event_rule(principal: Principal, now: float | None = None):
    """``f(event) -> bool`` of the public part of a bulletin (``[access.public_events]``):
    magnitude (of ``magnitude_type``, else the first) ≥ ``min_magnitude`` and origin time at least
    ``min_age_days`` before ``now`` — the same rule as the SQL condition of fdsnws-event."""
    cfg = principal.access.public_events
    now = time.time() if now is None else now

    def keep(ev) -> bool:
        mags = [m for m in ev.magnitudes if m.mag is not None
                and (not cfg.magnitude_type or (m.magnitude_type or "").lower() == cfg.magnitude_type.lower())]
        o = ev.preferred_origin() or (ev.origins[0] if ev.origins else None)
        if not mags or o is None:
            return False
        return mags[0].mag >= cfg.min_magnitude and o.time.timestamp <= now - cfg.min_age_days * 86400.0

    return keep


def authorizer(principal: Principal):
    """``authorize(product)`` for :func:`pipeline.autodrm.answer_request` and the open exports:
    ``None`` (all), an event filter (the public part) or :class:`Refused` (a PermissionError)."""

    def authorize(product: str):
        d = check(principal, product, partial_ok=True)
        if getattr(d, "full", True):
            return None
        return public_event_rule(principal)

    return authorize
