"""``/accounts/1/``: who am I, and the outputs of my requests.

* ``GET /accounts/1/whoami`` — the caller's account, role, State and what it may read (JSON);
* ``GET /accounts/1/outputs`` — the request outputs the caller may read (JSON list);
* ``GET /accounts/1/outputs/{id}`` — one request output (e.g. an IMS1.0 DATA message), readable
  by its owner, the ``state_principal`` of the owner's State, analysts and operators; anyone else
  gets 403 (and the public 401: outputs need a token).

Outputs are written with :func:`pipeline.store.accounts.store_output` by the services that
produce them (IMS1.0 requests).
"""
from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response

from pipeline.service.auth import AccessDenied, Principal, current_principal
from pipeline.service.fdsn.params import FDSNError

router = APIRouter(tags=["accounts"])


@router.get("/whoami")
def whoami(principal: Principal = Depends(current_principal)):
    cfg = principal.access
    pe = cfg.public_events if cfg is not None else None
    return JSONResponse({
        "name": principal.name, "role": principal.role, "state": principal.state,
        "authenticated": principal.authenticated, "products": principal.readable(),
        "public_rule": None if pe is None else {"products": list(pe.products), "min_magnitude": pe.min_magnitude,
                                                "magnitude_type": pe.magnitude_type,
                                                "min_age_days": pe.min_age_days}})


def _need_account(principal: Principal) -> None:
    if not principal.authenticated:
        raise AccessDenied(401, "Request outputs need an API token (Authorization: Bearer ...)")


@router.get("/outputs")
def list_outputs(request: Request, principal: Principal = Depends(current_principal)):
    from pipeline.store.accounts import readable_outputs

    _need_account(principal)
    with request.app.state.idc.session() as s:
        rows = readable_outputs(s, principal.user_id, principal.role, principal.state_id)
    return JSONResponse([{"id": r.public_id, "kind": r.kind, "product": r.product, "media_type": r.media_type,
                          "created": r.created.isoformat(timespec="seconds")} for r in rows])


@router.get("/outputs/{public_id}")
def get_output(public_id: str, request: Request, principal: Principal = Depends(current_principal)):
    from pipeline.store.accounts import may_read_output, request_output

    principal.products.append(f"output:{public_id[:40]}")
    _need_account(principal)
    with request.app.state.idc.session() as s:
        out = request_output(s, public_id)
        if out is None:
            raise FDSNError(404, f"No request output {public_id!r}")
        if not may_read_output(principal.user_id, principal.role, principal.state_id, out):
            raise AccessDenied(403, f"Request output {public_id!r} belongs to another account"
                                    f"{' of another State' if out.state_id != principal.state_id else ''}")
        return Response(out.content, media_type=out.media_type)
