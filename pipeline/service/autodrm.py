"""``POST /ims1/request``: the AutoDRM over HTTP — an IMS1.0 request message in (text/plain), an
IMS1.0 DATA message out (text/plain; problems as ``DATA_TYPE ERROR_LOG``, HTTP 200 as an AutoDRM
always answers). See :mod:`pipeline.autodrm` and REFERENCE.md §4.

Access: each request line is checked with the access policy (:func:`pipeline.service.auth.require`;
products SEL1…SSEB, ``waveforms``, ``stations``); a refused line is answered in the ERROR_LOG, the
public part of a bulletin (``[access.public_events]``) is served where the policy allows only that.
"""
from __future__ import annotations


from fastapi import APIRouter, Depends, Request
from fastapi.responses import PlainTextResponse

from pipeline.accounts.policy import Principal, authorizer, public_event_rule  # noqa: F401
from pipeline.errors import IdcError
from pipeline.service.auth import current_principal

router = APIRouter(tags=["ims1"])

#: largest request body accepted, bytes (a request message is a few lines)
MAX_BODY_BYTES = 256_000


def policy_hook(principal: Principal):
    """:func:`pipeline.accounts.policy.authorizer` (kept under this name for the service)."""
    return authorizer(principal)


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
    except (IdcError, OSError):  # no readable station files: the answer has no calibration
        inventory = None
    body = await run_in_threadpool(answer_request, st.settings, text, None, inventory, policy_hook(principal))
    return PlainTextResponse(body, media_type="text/plain; charset=utf-8")
