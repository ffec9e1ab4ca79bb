"""fdsnws-dataselect 1.1 at ``/fdsnws/dataselect/1/``: query (GET and POST), version, application.wadl.

Waveforms come from the SDS archive (``settings.archive_dir``) through obspy's SDS client; the
channels a selection names (wildcards ``*``/``?``, comma lists, ``--`` = empty location) are
resolved against the archive's availability rows (``wfavail``), so only archived channels are
read. Each selection is cut to ``[starttime, endtime]`` (samples inside the window) and sent as
miniSEED (integer samples STEIM2, float samples FLOAT32/FLOAT64: lossless).

* ``quality``: ``B`` (best, default) and ``M`` return everything; ``D``, ``R``, ``Q`` return only
  records of that data-quality code.
* ``minimumlength`` (s): continuous segments shorter than this are left out;
  ``longestonly``: only the longest continuous segment of each channel is returned.
* A request larger than ``[service] dataselect_max_channel_seconds`` gets HTTP 413.
* ``queryauth``: as ``query`` for authenticated requests only (401 without credentials): HTTP
  Digest as the FDSN specification says (obspy ``Client(user=..., password=...)``; user = account
  name, password = API token; :mod:`pipeline.service.digest`), or Bearer / Basic with the token.

Parameters: FDSN spec 1.2 (fdsnws-dataselect 1.1), REFERENCE.md §8.4.
"""
from __future__ import annotations

import io

import numpy as np
from fastapi import APIRouter, Depends, Request
from fastapi.responses import PlainTextResponse, Response
from sqlalchemy import and_, select

from pipeline.service.auth import AccessDenied, Principal, current_principal, require
from pipeline.service.fdsn.params import (
    SERVICE_VERSIONS,
    FDSNError,
    Param,
    Selection,
    code_condition,
    OPENAPI_POST_BODY,
    openapi_parameters,
    parse_params,
    read_post_body,
    wadl,
)
from pipeline.store import models as m

router = APIRouter(tags=["fdsnws-dataselect"])

SPECS: list[Param] = [
    Param("starttime", "time", ("start",), selection=True, required=True, doc="Start of the window (UTC), required."),
    Param("endtime", "time", ("end",), selection=True, required=True, doc="End of the window (UTC), required."),
    Param("network", "str", ("net",), selection=True, doc="Network code(s), wildcards * ?, comma list."),
    Param("station", "str", ("sta",), selection=True, doc="Station code(s)."),
    Param("location", "str", ("loc",), selection=True, doc="Location code(s); -- for empty."),
    Param("channel", "str", ("cha",), selection=True, doc="Channel code(s)."),
    Param("quality", "choice", choices=("D", "R", "Q", "M", "B"), default="B",
          doc="Data quality: B (best) and M return all; D, R, Q only records of that quality."),
    Param("minimumlength", "float", minimum=0, default=0.0, doc="Minimum segment length, seconds."),
    Param("longestonly", "bool", default=False, doc="Only the longest continuous segment per channel."),
    Param("format", "choice", choices=("miniseed",), default="miniseed", doc="miniSEED."),
    Param("nodata", "choice", choices=("204", "404"), default="204", doc="Status code when nothing matches."),
]


def _channels(session, sel: Selection) -> list[tuple[str, str, str, str]]:
    W = m.WfAvail
    conds = [W.kind == "segment", W.endtime >= sel.starttime.timestamp, W.starttime <= sel.endtime.timestamp]
    for col, pats in ((W.net, sel.network), (W.sta, sel.station), (W.loc, sel.location), (W.chan, sel.channel)):
        c = code_condition(col, pats)
        if c is not None:
            conds.append(c)
    rows = session.execute(select(W.net, W.sta, W.loc, W.chan).where(and_(*conds)).distinct())
    return sorted(tuple(r) for r in rows)


def _encoding(data: np.ndarray) -> tuple[np.ndarray, str]:
    if data.dtype.kind in "iu":
        return data.astype(np.int32, copy=False), "STEIM2"
    if data.dtype == np.float64:
        return data, "FLOAT64"
    return data.astype(np.float32, copy=False), "FLOAT32"


def fetch(state, params: dict, selections: list[Selection]):
    """The obspy Stream answering ``selections`` (empty when nothing matches)."""
    from obspy import Stream
    from obspy.clients.filesystem.sds import Client

    settings = state.settings
    with state.session() as session:
        wanted = [(sel, _channels(session, sel)) for sel in selections]
    total = sum(len(ch) * (sel.endtime - sel.starttime) for sel, ch in wanted)
    limit = settings.service.dataselect_max_channel_seconds
    if total > limit:
        raise FDSNError(413, f"The request asks for {total:.0f} channel-seconds, more than the limit of "
                             f"{limit:.0f}; split it into smaller requests")
    out = Stream()
    if not any(ch for _, ch in wanted) or not state.archive_dir.is_dir():
        return out
    client = Client(str(state.archive_dir), sds_type=settings.ingest.sds_type)
    for sel, chans in wanted:
        for net, sta, loc, cha in chans:
            st = client.get_waveforms(net, sta, loc, cha, sel.starttime, sel.endtime, merge=-1)
            st.trim(sel.starttime, sel.endtime, nearest_sample=False)
            q = params["quality"]
            if q in ("D", "R", "Q"):
                st.traces = [tr for tr in st if getattr(tr.stats, "mseed", {}).get("dataquality", "D") == q]
            st.traces = [tr for tr in st if tr.stats.npts > 0]
            if params["minimumlength"] > 0:
                st.traces = [tr for tr in st if tr.stats.npts * tr.stats.delta >= params["minimumlength"]]
            if params["longestonly"] and len(st) > 1:
                st.traces = [max(st, key=lambda tr: tr.stats.npts)]
            out += st
    return out


def to_miniseed(st, reclen: int) -> bytes:
    buf = io.BytesIO()
    for tr in st:
        tr.data, enc = _encoding(tr.data)
        tr.stats.pop("mseed", None)
        tr.write(buf, format="MSEED", encoding=enc, reclen=reclen)
    return buf.getvalue()


def _respond(request: Request, params: dict, selections: list[Selection]):
    st = request.app.state.idc
    stream = fetch(st, params, selections)
    if not len(stream):
        if params["nodata"] == "404":
            raise FDSNError(404, "No data matches the selection")
        return Response(status_code=204)
    return Response(to_miniseed(stream, st.settings.service.dataselect_record_length),
                    media_type="application/vnd.fdsn.mseed")


@router.get("/query", openapi_extra=openapi_parameters(SPECS))
def query(request: Request, principal: Principal = Depends(current_principal)):
    require(principal, "waveforms")
    params = parse_params(request.query_params.multi_items(), SPECS)
    for name in ("starttime", "endtime"):
        if params.get(name) is None:
            raise FDSNError(400, f"Missing parameter '{name}' (required by fdsnws-dataselect)")
    if params["endtime"] <= params["starttime"]:
        raise FDSNError(400, "Invalid parameters: 'endtime' is not after 'starttime'")
    from pipeline.service.fdsn.station import selection_from_params

    return _respond(request, params, [selection_from_params(params)])


@router.post("/query", openapi_extra=OPENAPI_POST_BODY)
async def query_post(request: Request, principal: Principal = Depends(current_principal)):
    from starlette.concurrency import run_in_threadpool

    require(principal, "waveforms")
    params, selections = await read_post_body(request, SPECS)
    return await run_in_threadpool(_respond, request, params, selections)


def _authenticated(principal: Principal) -> None:
    if not principal.authenticated:
        raise AccessDenied(401, "queryauth needs credentials: an API token as 'Authorization: Bearer <token>' or as "
                                "the password of HTTP Digest or Basic (user = the account name)")


@router.get("/queryauth", openapi_extra=openapi_parameters(SPECS))
def queryauth(request: Request, principal: Principal = Depends(current_principal)):
    """As ``query``, for authenticated clients only (HTTP Digest, Bearer token or Basic with the token)."""
    _authenticated(principal)
    return query(request, principal)


@router.post("/queryauth", openapi_extra=OPENAPI_POST_BODY)
async def queryauth_post(request: Request, principal: Principal = Depends(current_principal)):
    _authenticated(principal)
    return await query_post(request, principal)


@router.get("/version", response_class=PlainTextResponse)
def version():
    return SERVICE_VERSIONS["dataselect"]


@router.get("/application.wadl")
def application_wadl(request: Request):
    from pipeline.service.app import base_url

    return Response(wadl("dataselect", base_url(request, "dataselect"), SPECS, post=True,
                         queryauth=True),
                    media_type="application/xml")
