"""Who is asking: the principal of a request.

Accounts, roles and API tokens come later (issue 6 item 4). The routers already take the
principal as a FastAPI dependency (``principal: Principal = Depends(current_principal)``), so the
access policy can be added in one place without touching the services.
"""
from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request


@dataclass(frozen=True)
class Principal:
    """The identity a request acts as.

    :param name: account name (``"public"`` for anonymous requests)
    :param roles: roles of the account (state principal, state user, analyst, operator, public)
    :param state: the State the account belongs to (empty for the public)
    :param unrestricted: True while no access policy exists: every product is readable
    """

    name: str = "public"
    roles: tuple[str, ...] = ("public",)
    state: str = ""
    unrestricted: bool = True

    def may_read(self, product_type: str) -> bool:
        """Whether this principal may read products of ``product_type`` (today: always)."""
        return self.unrestricted


PUBLIC = Principal()


def current_principal(request: Request) -> Principal:
    """FastAPI dependency: the principal of ``request`` (today always :data:`PUBLIC`)."""
    return PUBLIC
