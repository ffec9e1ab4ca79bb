"""``POST /ims1/request``: the AutoDRM over HTTP — an IMS1.0 request message in (text/plain), an
IMS1.0 DATA message out (text/plain; problems as ``DATA_TYPE ERROR_LOG``, HTTP 200 as an AutoDRM
always answers). See :mod:`pipeline.autodrm` and REFERENCE.md §4.

Access: each request line is checked with the access policy (:func:`pipeline.service.auth.require`;
products SEL1…SSEB, ``waveforms``, ``stations``); a refused line is answered in the ERROR_LOG, the
public part of a bulletin (``[access.public_events]``) is served where the policy allows only that.
"""
from __future__ import annotations

import time

from fastapi import APIRouter, Depends, Request
from fastapi.responses import PlainTextResponse

from pipeline.service.auth import Principal, current_principal

router = APIRouter(tags=["ims1"])

#: largest request body accepted, bytes (a request message is a few lines)
MAX_BODY_BYTES = 256_000


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


def policy_hook(principal: Principal):
    """``authorize(product)`` for :func:`pipeline.autodrm.answer_request` and the open exports:
    ``None`` (all), an event filter (public part) or :class:`PermissionError`."""
    try:
        from pipeline.service.auth import require
    except ImportError:  # pragma: no cover - before the access policy existed
        return None
    from pipeline.service.fdsn.params import FDSNError

    def authorize(product: str):
        try:
            d = require(principal, product, partial_ok=True)
        except FDSNError as exc:
            raise PermissionError(exc.message) from None
        if getattr(d, "full", True):
            return None
        return public_event_rule(principal)

    return authorize


@router.post("/request", response_class=PlainTextResponse,
             openapi_extra={"requestBody": {"required": True, "content": {"text/plain": {"schema": {"type": "string"}}}}})
async def ims1_request(request: Request, principal: Principal = Depends(current_principal)):
    """Answer an IMS1.0 request message (``BEGIN IMS1.0 / MSG_TYPE REQUEST … STOP``)."""
    from starlette.concurrency import run_in_threadpool

    from pipeline.autodrm import answer_request

    st = request.app.state.idc
    raw = await request.body()
    if len(raw) > MAX_BODY_BYTES:
        text = (f"BEGIN IMS1.0\nMSG_TYPE REQUEST\nMSG_ID too_large\n"
                + "\n" * (st.settings.autodrm.max_request_lines + 1))
    else:
        text = raw.decode("utf-8", "replace")
    try:
        inventory = st.file_inventory()
    except Exception:
        inventory = None
    body = await run_in_threadpool(answer_request, st.settings, text, None, inventory, policy_hook(principal))
    return PlainTextResponse(body, media_type="text/plain; charset=utf-8")
