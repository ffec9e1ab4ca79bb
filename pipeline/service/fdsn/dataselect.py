"""fdsnws-dataselect 1.1 at ``/fdsnws/dataselect/1/``: query (GET and POST), version, application.wadl.

Waveforms come from the SDS archive (``settings.archive_dir``) through obspy's SDS client; the
channels a selection names (wildcards ``*``/``?``, comma lists, ``--`` = empty location) are
resolved against the archive's availability rows (``wfavail``), so only archived channels are
read. Each selection is cut to ``[starttime, endtime]`` (samples inside the window) and sent as
miniSEED (integer samples STEIM2, float samples FLOAT32/FLOAT64: lossless).

* Selections are merged before anything is read: repeated lines, overlapping or touching windows
  of one pattern, and two patterns naming the same channel give each sample once. The answer is
  streamed, read and encoded one channel-day at a time (a continuous trace crossing midnight
  is sent as two), so server memory does not grow with the request.
* ``quality``: ``B`` (best, default) and ``M`` return everything; ``D``, ``R``, ``Q`` return only
  records of that data-quality code.
* ``minimumlength`` (s): continuous segments shorter than this are left out;
  ``longestonly``: only the longest continuous segment of each channel (and merged window) is
  returned. Both judge the segments by the availability rows.
* A request larger than ``[service] dataselect_max_channel_seconds`` (channels x merged window
  lengths) or ``dataselect_max_samples`` (counted from the availability rows) gets HTTP 413, as
  does a POST body over ``post_max_bytes`` or ``post_max_lines`` (:func:`read_post_body`).
* ``queryauth``: as ``query`` for authenticated requests only (401 without credentials): HTTP
  Digest as the FDSN specification says (obspy ``Client(user=..., password=...)``; user = account
  name, password = API token; :mod:`pipeline.service.digest`), or Bearer / Basic with the token.

Parameters: FDSN spec 1.2 (fdsnws-dataselect 1.1), REFERENCE.md §8.4.
"""
from __future__ import annotations

import io
import logging
import math
from bisect import bisect_left, bisect_right
from collections import defaultdict
from dataclasses import dataclass, field
from itertools import accumulate, chain, groupby
from typing import Iterator

import numpy as np
from fastapi import APIRouter, Depends, Request
from fastapi.responses import PlainTextResponse, Response, StreamingResponse

from pipeline.service.auth import AccessDenied, Principal, current_principal, require
from pipeline.service.fdsn.params import (
    SERVICE_VERSIONS,
    FDSNError,
    Param,
    Selection,
    OPENAPI_POST_BODY,
    openapi_parameters,
    parse_params,
    wadl,
)
from pipeline.store.availability import segments_matching
from pipeline.store.selection import merge_selections, merge_windows

log = logging.getLogger("pipeline.service")
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


DAY_NS = 86_400 * 10**9


@dataclass
class _Run:
    """A continuous run of archived samples of one channel inside one requested window."""

    start: float  # s, first sample of the run (not clipped)
    end: float  # s, last sample
    samprate: float
    npts: int = 0  # samples inside the window


@dataclass
class _Window:
    """One merged window ``[start_ns, end_ns]`` of one channel and the runs sent from it."""

    start_ns: int
    end_ns: int
    runs: list[_Run] = field(default_factory=list)


@dataclass
class ChannelPlan:
    """What a request sends of one channel: its merged windows and the runs kept in each."""

    nslc: tuple[str, str, str, str]
    windows: list[_Window] = field(default_factory=list)

    @property
    def samples(self) -> int:
        return sum(r.npts for w in self.windows for r in w.runs)


def _inside(t0: float, n: int, fs: float, a: float, b: float) -> int:
    """How many of the ``n`` samples ``t0 + k/fs`` lie in ``[a, b]`` (obspy's trim rounding)."""
    k0 = max(0, math.ceil(round((a - t0) * fs, 7)))
    k1 = min(n - 1, math.floor(round((b - t0) * fs, 7)))
    return max(0, k1 - k0 + 1)


class _Segments:
    """The archived segments of one channel (wfavail rows), sorted by start, with the running
    maximum of their ends: the segments overlapping a window are found by bisection."""

    def __init__(self, rows):
        self.rows = sorted(rows, key=lambda g: (g.starttime, g.id))
        self.starts = [g.starttime for g in self.rows]
        self.max_ends = list(accumulate((g.endtime for g in self.rows), max))

    def overlapping(self, a: float, b: float) -> list:
        return self.rows[bisect_left(self.max_ends, a):bisect_right(self.starts, b)]


def _runs(segments: _Segments, a: float, b: float) -> list[_Run]:
    """The continuous runs of ``segments`` in ``[a, b]``."""
    runs: list[_Run] = []
    for g in segments.overlapping(a, b):
        if g.endtime < a or g.starttime > b or not g.samprate:
            continue
        n = _inside(g.starttime, g.nsamp, g.samprate, a, b)
        last = runs[-1] if runs else None
        if (last is not None and abs(last.samprate - g.samprate) <= 1e-4 * g.samprate
                and g.starttime - last.end <= 1.5 / g.samprate):
            last.end = max(last.end, g.endtime)
            last.npts += n
        else:
            runs.append(_Run(g.starttime, g.endtime, g.samprate, n))
    return [r for r in runs if r.npts > 0]


def plan(state, params: dict, selections: list[Selection]) -> list[ChannelPlan]:
    """What ``selections`` ask of the archive, per channel, from the availability rows alone.

    Selections are merged (:func:`pipeline.store.selection.merge_selections`), matched against
    the archive in bounded batches (:func:`pipeline.store.availability.segments_matching`) and
    the windows of each channel merged again (two patterns naming one channel), so every sample
    is sent once. ``minimumlength``/``longestonly`` choose among the continuous runs of each
    window. Requests beyond ``[service] dataselect_max_channel_seconds`` or
    ``dataselect_max_samples`` raise a 413 here, before anything is read.
    """
    settings = state.settings
    sels = merge_selections(selections)
    with state.session() as session:
        rows = segments_matching(session, sels)
    windows: dict[tuple, list[tuple[int, int]]] = defaultdict(list)
    segments: dict[tuple, dict[int, object]] = defaultdict(dict)
    for r in rows:
        nslc = (r.net, r.sta, r.loc, r.chan)
        sel = sels[r.sel]
        windows[nslc].append((sel.starttime.ns, sel.endtime.ns))
        segments[nslc].setdefault(r.id, r)
    plans = [ChannelPlan(nslc, [_Window(a, b) for a, b in merge_windows(windows[nslc])]) for nslc in sorted(windows)]
    total = sum((w.end_ns - w.start_ns) / 1e9 for p in plans for w in p.windows)
    limit = settings.service.dataselect_max_channel_seconds
    if total > limit:
        raise FDSNError(413, f"The request asks for {total:.0f} channel-seconds, more than the limit of "
                             f"{limit:.0f} ([service] dataselect_max_channel_seconds); split it into smaller "
                             "requests")
    minlen, longest = params["minimumlength"], params["longestonly"]
    for p in plans:
        segs = _Segments(segments[p.nslc].values())
        for w in p.windows:
            runs = _runs(segs, w.start_ns / 1e9, w.end_ns / 1e9)
            if minlen > 0:
                runs = [r for r in runs if r.npts / r.samprate >= minlen]
            if longest and len(runs) > 1:
                runs = [max(runs, key=lambda r: r.npts)]
            w.runs = runs
        p.windows = [w for w in p.windows if w.runs]
    plans = [p for p in plans if p.windows]
    samples = sum(p.samples for p in plans)
    if samples > settings.service.dataselect_max_samples:
        raise FDSNError(413, f"The request would return {samples} samples, more than the limit of "
                             f"{settings.service.dataselect_max_samples} ([service] dataselect_max_samples); "
                             "split it into smaller requests")
    return plans


def _day_pieces(w: _Window) -> Iterator[tuple[int, int, int, bool]]:
    """``(day, start_ns, end_ns, closed)`` pieces of window ``w`` cut at midnight (UTC): a
    piece is closed at its end only where the window ends, so a sample at midnight goes once."""
    day = w.start_ns // DAY_NS
    while True:
        a = max(w.start_ns, day * DAY_NS)
        b = min(w.end_ns, (day + 1) * DAY_NS)
        closed = b == w.end_ns
        yield day, a, b, closed
        if closed:
            return
        day += 1


def _encoding(data: np.ndarray) -> tuple[np.ndarray, str]:
    if data.dtype.kind in "iu":
        return data.astype(np.int32, copy=False), "STEIM2"
    if data.dtype == np.float64:
        return data, "FLOAT64"
    return data.astype(np.float32, copy=False), "FLOAT32"


def to_miniseed(st, reclen: int) -> bytes:
    buf = io.BytesIO()
    for tr in st:
        tr.data, enc = _encoding(tr.data)
        tr.stats.pop("mseed", None)
        tr.write(buf, format="MSEED", encoding=enc, reclen=reclen)
    return buf.getvalue()


def stream_miniseed(state, params: dict, plans: list[ChannelPlan]) -> Iterator[bytes]:
    """miniSEED of ``plans``, one chunk per channel, window and UTC day: the archive is read one
    channel-day at a time (obspy's SDS client), so memory does not grow with the request."""
    from obspy import UTCDateTime
    from obspy.clients.filesystem.sds import Client

    if not plans or not state.archive_dir.is_dir():
        return
    settings = state.settings
    client = Client(str(state.archive_dir), sds_type=settings.ingest.sds_type)
    reclen = settings.service.dataselect_record_length
    quality = params["quality"] if params["quality"] in ("D", "R", "Q") else None
    choose = params["minimumlength"] > 0 or params["longestonly"]
    for p in plans:
        pieces = [(day, a, b, closed, w) for w in p.windows for day, a, b, closed in _day_pieces(w)]
        for day, group in groupby(pieces, key=lambda x: x[0]):
            group = [g for g in group if any(r.start <= g[2] / 1e9 and r.end >= g[1] / 1e9 for r in g[4].runs)]
            if not group:
                continue
            st = client.get_waveforms(*p.nslc, UTCDateTime(ns=min(g[1] for g in group)),
                                      UTCDateTime(ns=max(g[2] for g in group)), merge=-1)
            for _, a, b, closed, w in group:
                t0, t1 = UTCDateTime(ns=a), UTCDateTime(ns=b)
                out = []
                for tr in st:
                    # a piece ending at midnight leaves the sample at midnight to the next day
                    piece = tr.slice(t0, t1 if closed else t1 - tr.stats.delta / 2, nearest_sample=False)
                    if piece.stats.npts == 0:
                        continue
                    if quality and getattr(piece.stats, "mseed", {}).get("dataquality", "D") != quality:
                        continue
                    if choose and not any(r.start <= piece.stats.endtime.timestamp and
                                          r.end >= piece.stats.starttime.timestamp for r in w.runs):
                        continue
                    out.append(piece)
                if out:
                    yield to_miniseed(out, reclen)
            del st


def _respond(request: Request, params: dict, selections: list[Selection]):
    st = request.app.state.idc
    chunks = stream_miniseed(st, params, plan(st, params, selections))
    first = next(chunks, None)  # the status depends on whether anything is sent
    if first is None:
        if params["nodata"] == "404":
            raise FDSNError(404, "No data matches the selection")
        return Response(status_code=204)
    return StreamingResponse(_guarded(chain([first], chunks), str(request.url)),
                             media_type="application/vnd.fdsn.mseed")


def _guarded(chunks: Iterator[bytes], url: str) -> Iterator[bytes]:
    """``chunks``; an error after the answer started is logged as one line and ends the
    connection without a complete answer (the status was sent already)."""
    try:
        yield from chunks
    except Exception as exc:  # the status is sent: any failure is logged and breaks the connection off
        from pipeline.store.db import short_error

        log.error("fdsnws-dataselect answer to %s broken off: %s", url, short_error(exc))
        raise RuntimeError("fdsnws-dataselect answer broken off (see the service log)") from None


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
    from pipeline.service.fdsn.station import answer_post

    return await answer_post(request, principal, "waveforms", SPECS, _respond)


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
