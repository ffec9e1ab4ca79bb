"""The access policy (``[access]``): which role may read which product, and what the public may
read of a bulletin (see :mod:`pipeline.accounts.config` for the defaults and their status)."""
from __future__ import annotations

from dataclasses import dataclass

from pipeline.accounts.config import AccessConfig


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
