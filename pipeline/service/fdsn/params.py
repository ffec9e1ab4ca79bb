"""FDSN web-service parameters: declared once per service, parsed strictly, described by WADL.

Every service declares its parameters as :class:`Param` rows (name, aliases, type, bounds,
choices, default). From that one table come the parser (aliases, types, unknown or repeated
parameters → HTTP 400 naming the parameter), the POST-body parser and the ``application.wadl``
document that obspy's FDSN client reads to learn what the service supports.

Sources: FDSN Web Service Specifications 1.2 (2019) — parameter names, aliases, defaults,
time format, the POST body of dataselect/station and the status codes; the error-body layout
follows SeisComP's fdsnws (``http.py``), see REFERENCE.md §8.1–8.4.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Iterable
from xml.sax.saxutils import escape, quoteattr

from obspy import UTCDateTime

from pipeline.errors import BAD_VALUE, IdcError
# selections and their SQL live in the store (re-exported: the services import them from here)
from pipeline.store.selection import Selection, code_condition, like_pattern  # noqa: F401

#: implementation versions: SpecMajor.SpecMinor.Implementation (FDSN spec 1.2, §"version")
SERVICE_VERSIONS = {"event": "1.2.0", "station": "1.1.0", "dataselect": "1.1.0"}
#: where a user reads about the parameters (named in every error body)
DOC_URLS = {
    "event": "https://www.fdsn.org/webservices/fdsnws-event-1.2.pdf",
    "station": "https://www.fdsn.org/webservices/fdsnws-station-1.1.pdf",
    "dataselect": "https://www.fdsn.org/webservices/fdsnws-dataselect-1.1.pdf",
}

_REASONS = {204: "No Content", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
            405: "Method Not Allowed", 413: "Request Entity Too Large", 414: "Request-URI Too Large", 429: "Too Many Requests",
            500: "Internal Server Error", 503: "Service Unavailable"}

#: FDSN time: ``YYYY-MM-DD[THH[:MM[:SS[.ssssss]]]][Z]`` (spec §"Time format"; date-only allowed)
#: (ASCII digits only: ``\d`` would also match other scripts' digits)
TIME_PATTERN = (r"^[0-9]{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01])"
                r"(?:[T ](?:[01][0-9]|2[0-3])(?::[0-5][0-9](?::(?:[0-5][0-9]|60)(?:\.[0-9]{1,9})?)?)?)?Z?$")
_TIME_RE = re.compile(TIME_PATTERN)
_BOOL = {"true": True, "false": False}
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")
#: longest accepted parameter value (characters)
MAX_VALUE_CHARS = 2000


class FDSNError(IdcError):
    """An error answered with an FDSN error body (text/plain) and ``status``."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


def reason(status: int) -> str:
    return _REASONS.get(status, "Error")


def error_body(status: int, message: str, service: str, request_text: str,
               submitted: datetime | None = None) -> str:
    """The FDSN error document (layout of SeisComP's fdsnws, REFERENCE.md §8.2)."""
    submitted = submitted or datetime.now(timezone.utc)
    return (f"Error {status}: {reason(status)}\n\n{message}\n\n"
            f"Usage details are available from {DOC_URLS.get(service, 'https://www.fdsn.org/webservices/')}\n\n"
            f"Request:\n{request_text}\n\n"
            f"Request Submitted:\n{submitted.strftime('%Y-%m-%dT%H:%M:%S.%f')}\n\n"
            f"Service version:\n{SERVICE_VERSIONS.get(service, '')}\n")


@dataclass(frozen=True)
class Param:
    """One query parameter of a service.

    :param kind: ``time``, ``float``, ``int``, ``bool``, ``str`` or ``choice``
    :param selection: True for the stream/time parameters that a POST body gives per line
        (they are rejected as ``key=value`` lines of a POST body)
    :param required: True when a GET request must give it (OpenAPI ``required``; the service
        checks it itself and answers 400 naming it)
    """

    name: str
    kind: str
    aliases: tuple[str, ...] = ()
    choices: tuple[str, ...] = ()
    default: Any = None
    minimum: float | None = None
    maximum: float | None = None
    doc: str = ""
    selection: bool = False
    required: bool = False

    @property
    def names(self) -> tuple[str, ...]:
        return (self.name,) + self.aliases


_EPOCH = datetime(1970, 1, 1)
_MICROSECOND = timedelta(microseconds=1)


def parse_time(name: str, raw: str) -> UTCDateTime:
    if not _TIME_RE.match(raw):
        raise FDSNError(400, f"Invalid value for parameter '{name}': {raw!r} is not a time "
                             "(expected YYYY-MM-DD[THH:MM:SS[.ssssss]])")
    text = raw[:-1] if raw.endswith("Z") else raw
    if "." not in text or len(text) - text.index(".") <= 7:
        # the common forms (at most microseconds, no leap second) through datetime: the same
        # instant as UTCDateTime's own parser at a twentieth of the cost (tests/test_service_event_index.py)
        try:
            dt = datetime.fromisoformat(text.replace(" ", "T"))
        except ValueError:
            pass
        else:
            return UTCDateTime(ns=((dt - _EPOCH) // _MICROSECOND) * 1000)
    try:
        return UTCDateTime(raw.replace(" ", "T"))
    except BAD_VALUE:
        raise FDSNError(400, f"Invalid value for parameter '{name}': {raw!r} is not a valid date/time") from None


def convert(p: Param, given_as: str, raw: str) -> Any:
    """Convert one raw value of parameter ``p`` (given under the name ``given_as``)."""
    raw = raw.strip()
    if _CONTROL_RE.search(raw):
        raise FDSNError(400, f"Invalid value for parameter '{given_as}': control characters are not allowed")
    if len(raw) > MAX_VALUE_CHARS:
        raise FDSNError(400, f"Invalid value for parameter '{given_as}': longer than {MAX_VALUE_CHARS} characters")
    if raw == "" and p.kind != "str":
        raise FDSNError(400, f"Invalid value for parameter '{given_as}': empty value")
    if p.kind == "time":
        return parse_time(given_as, raw)
    if p.kind == "bool":
        v = _BOOL.get(raw.lower())
        if v is None:
            raise FDSNError(400, f"Invalid value for parameter '{given_as}': {raw!r} (expected true or false)")
        return v
    if p.kind in ("float", "int"):
        try:
            v = int(raw) if p.kind == "int" else float(raw)
        except ValueError:
            what = "an integer" if p.kind == "int" else "a number"
            raise FDSNError(400, f"Invalid value for parameter '{given_as}': {raw!r} is not {what}") from None
        if isinstance(v, float) and not math.isfinite(v):
            raise FDSNError(400, f"Invalid value for parameter '{given_as}': {raw!r} is not a finite number")
        if p.minimum is not None and v < p.minimum or p.maximum is not None and v > p.maximum:
            lo = "-inf" if p.minimum is None else f"{p.minimum:g}"
            hi = "inf" if p.maximum is None else f"{p.maximum:g}"
            raise FDSNError(400, f"Invalid value for parameter '{given_as}': {raw} is outside [{lo}, {hi}]")
        return v
    if p.kind == "choice":
        low = raw.lower()
        for c in p.choices:
            if low == c.lower():
                return c
        raise FDSNError(400, f"Invalid value for parameter '{given_as}': {raw!r} (expected one of "
                             f"{', '.join(p.choices)})")
    return raw


def parse_params(items: Iterable[tuple[str, str]], specs: list[Param], *, post: bool = False) -> dict[str, Any]:
    """Parse ``(name, value)`` pairs against ``specs``; returns ``{canonical name: value}``.

    Unknown and repeated parameters (also an alias together with its long name) are errors.
    Parameters not given get their default (when it is not None).
    """
    lookup = {n: p for p in specs for n in p.names}
    out: dict[str, Any] = {}
    given: dict[str, str] = {}
    for key, raw in items:
        p = lookup.get(key)
        if p is None:
            where = "in the POST body" if post else ""
            raise FDSNError(400, f"Unknown parameter '{key}'{(' ' + where) if where else ''}; valid parameters: "
                                 f"{', '.join(sorted(lookup))}")
        if post and p.selection:
            raise FDSNError(400, f"Parameter '{key}' is not allowed as key=value line of a POST body: give it "
                                 "in the selection lines (NET STA LOC CHA STARTTIME ENDTIME)")
        if p.name in given:
            raise FDSNError(400, f"Parameter '{key}' given more than once (already given as '{given[p.name]}')")
        given[p.name] = key
        out[p.name] = convert(p, key, raw)
    for p in specs:
        if p.name not in out and p.default is not None:
            out[p.name] = p.default
    out["_given"] = given
    return out


# --------------------------------------------------------------------------- stream codes
_CODE_RE = re.compile(r"^[A-Za-z0-9*?_\-]*$")


def split_codes(name: str, raw: str | None, max_len: int) -> list[str] | None:
    """A comma list of codes with ``*``/``?`` wildcards → patterns (None = everything).

    ``--`` stands for the empty location code (FDSN spec, dataselect/station "location").
    """
    if raw is None:
        return None
    out = []
    for part in raw.split(","):
        part = part.strip()
        if part == "--":
            part = ""
        if not _CODE_RE.match(part) or len(part.replace("*", "")) > max_len:
            raise FDSNError(400, f"Invalid value for parameter '{name}': {part!r} is not a code (letters, "
                                 f"digits, '*', '?', at most {max_len} characters, '--' for an empty location)")
        if part == "*":
            return None
        out.append(part)
    return out


# --------------------------------------------------------------------------- POST bodies
async def read_post_body(request, specs: list[Param]) -> tuple[dict[str, Any], list[Selection]]:
    """The parameters and selections of an FDSN POST request (the body is kept on ``request.state``
    for error messages); parameters in the URL are refused.

    Bodies larger than ``[service] post_max_bytes`` are answered 413 before they are read (by
    their ``Content-Length``) or as soon as that many bytes came (chunked, no length); bodies
    of more than ``[service] post_max_lines`` lines are answered 413 before they are parsed.
    """
    svc = request.app.state.idc.settings.service
    max_bytes, max_lines = svc.post_max_bytes, svc.post_max_lines
    request.state.body_text = ""  # error documents then never read the body themselves
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > max_bytes:
        raise FDSNError(413, f"The POST body of {int(length)} bytes is larger than the limit of {max_bytes} bytes "
                             "([service] post_max_bytes); split the request into smaller ones")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        chunks.append(chunk)
        if size > max_bytes:
            request.state.body_text = b"".join(chunks)[:4000].decode("utf-8", "replace")
            raise FDSNError(413, f"The POST body is larger than the limit of {max_bytes} bytes "
                                 "([service] post_max_bytes); split the request into smaller ones")
    body = b"".join(chunks).decode("utf-8", "replace")
    del chunks
    request.state.body_text = body
    if request.query_params:
        raise FDSNError(400, "A POST request takes its parameters in the body, not in the URL "
                             f"(got '{next(iter(request.query_params))}')")
    lines = body.count("\n") + (not body.endswith("\n"))
    if lines > max_lines:
        raise FDSNError(413, f"The POST body has {lines} lines, more than the limit of {max_lines} lines "
                             "([service] post_max_lines); split the request into smaller ones")
    return parse_post_body(body, specs)


def parse_post_body(body: str, specs: list[Param]) -> tuple[dict[str, Any], list[Selection]]:
    """Parse an FDSN POST body: ``key=value`` lines, then ``NET STA LOC CHA START END`` lines.

    Blank lines and ``#`` comments are ignored; an error names the line number. A selection line
    repeated verbatim is parsed (and returned) once.
    """
    items: list[tuple[str, str]] = []
    selections: list[Selection] = []
    seen: set[str] = set()
    for no, line in enumerate(body.splitlines(), start=1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        if "=" in text and len(text.split()) == 1:
            if selections:
                raise FDSNError(400, f"POST body line {no}: key=value line {text!r} after a selection line")
            k, v = text.split("=", 1)
            items.append((k.strip(), v.strip()))
            continue
        if text in seen:
            continue
        parts = text.split()
        if len(parts) != 6:
            raise FDSNError(400, f"POST body line {no}: expected 'NET STA LOC CHA STARTTIME ENDTIME', got "
                                 f"{text[:200]!r}")
        net, sta, loc, cha, t0, t1 = parts
        try:
            for name, value in zip(("network", "station", "location", "channel"), parts):
                if len(value) > MAX_VALUE_CHARS:
                    raise FDSNError(400, f"Invalid value for parameter '{name}': longer than {MAX_VALUE_CHARS} "
                                         "characters")
            sel = Selection(split_codes("network", net, 8), split_codes("station", sta, 8),
                            split_codes("location", loc, 8), split_codes("channel", cha, 8),
                            parse_time("starttime", t0), parse_time("endtime", t1))
        except FDSNError as exc:
            raise FDSNError(400, f"POST body line {no}: {exc.message}") from None
        if sel.endtime <= sel.starttime:
            raise FDSNError(400, f"POST body line {no}: endtime {t1} is not after starttime {t0}")
        seen.add(text)
        selections.append(sel)
    if not selections:
        raise FDSNError(400, "POST body holds no selection line (NET STA LOC CHA STARTTIME ENDTIME)")
    return parse_params(items, specs, post=True), selections


# --------------------------------------------------------------------------- WADL
_XSD = {"time": "xs:dateTime", "float": "xs:double", "int": "xs:int", "bool": "xs:boolean",
        "str": "xs:string", "choice": "xs:string"}


def wadl(service: str, base_url: str, specs: list[Param], *, post: bool = False,
         extra_resources: tuple[str, ...] = (), queryauth: bool = False) -> str:
    """The ``application.wadl`` of a service: every canonical parameter with type, default,
    choices and a doc naming its aliases. ``base_url`` is ``…/fdsnws/<service>/1/``;
    ``queryauth``: the same resource again as ``queryauth`` (authenticated: 401 without
    credentials, HTTP Digest / Basic / Bearer)."""
    lines = ['<?xml version="1.0" encoding="UTF-8"?>',
             '<application xmlns="http://wadl.dev.java.net/2009/02" '
             'xmlns:xs="http://www.w3.org/2001/XMLSchema">',
             f'  <resources base={quoteattr(base_url)}>']
    for path in ("query", "queryauth") if queryauth else ("query",):
        ident = "query" if path == "query" else "queryauth"
        lines += [f'    <resource path="{path}">',
                  f'      <method name="GET" id="{ident}">',
                  '        <request>']
        for p in specs:
            attrs = f'name="{p.name}" style="query" type="{_XSD[p.kind]}" required="false"'
            if p.default is not None:
                d = str(p.default).lower() if isinstance(p.default, bool) else str(p.default)
                attrs += f" default={quoteattr(d)}"
            doc = p.doc + (f" Aliases: {', '.join(p.aliases)}." if p.aliases else "")
            lines.append(f"          <param {attrs}>")
            if doc:
                lines.append(f"            <doc title={quoteattr(doc.strip())}/>")
            for c in p.choices:
                lines.append(f"            <option value={quoteattr(c)}/>")
            lines.append("          </param>")
        lines += ['        </request>',
                  '        <response status="200"/>',
                  '        <response status="204 400 401 403 404 413 414 500 503"/>',
                  '      </method>']
        if post:
            pid = "postQuery" if path == "query" else "postQueryauth"
            lines += [f'      <method name="POST" id="{pid}">',
                      '        <request><representation mediaType="text/plain"/></request>',
                      '        <response status="200"/>',
                      '      </method>']
        lines.append('    </resource>')
    for res in ("version", "application.wadl") + extra_resources:
        kind = "application/xml" if res in ("application.wadl", "catalogs", "contributors") else "text/plain"
        lines += [f'    <resource path="{res}">',
                  '      <method name="GET">',
                  f'        <response><representation mediaType="{kind}"/></response>',
                  '      </method>',
                  '    </resource>']
    lines += ['  </resources>', '</application>', '']
    return "\n".join(lines)


_OPENAPI = {"time": {"type": "string", "pattern": TIME_PATTERN}, "float": {"type": "number"},
            "int": {"type": "integer"}, "bool": {"type": "boolean"}, "str": {"type": "string"},
            "choice": {"type": "string"}}


def openapi_parameters(specs: list[Param]) -> dict:
    """``openapi_extra`` of a query route: the parameters of ``specs`` (canonical names) in the
    OpenAPI schema, so schema-driven clients and fuzzers see them."""
    out = []
    for p in specs:
        schema = dict(_OPENAPI[p.kind])
        if p.choices:
            schema["enum"] = list(p.choices)
        if p.minimum is not None:
            schema["minimum"] = p.minimum
        if p.maximum is not None:
            schema["maximum"] = p.maximum
        if p.default is not None:
            schema["default"] = p.default
        desc = p.doc + (f" Aliases: {', '.join(p.aliases)}." if p.aliases else "")
        out.append({"name": p.name, "in": "query", "required": p.required, "schema": schema, "description": desc})
    return {"parameters": out}


#: ``openapi_extra`` of a POST query route: the FDSN POST body (text/plain)
OPENAPI_POST_BODY = {"requestBody": {"required": True, "content": {"text/plain": {"schema": {
    "type": "string", "example": "quality=B\nZ7 KVER -- HHZ 2014-08-24T00:01:00 2014-08-24T00:02:00\n"}}}}}


def simple_list_xml(tag: str, values: Iterable[str]) -> str:
    """``<Catalogs><Catalog>REB</Catalog>…</Catalogs>`` (the form obspy's client parses)."""
    vals = list(values)
    inner = "".join(f"<{tag}>{escape(v)}</{tag}>" for v in vals)
    return f'<?xml version="1.0" encoding="UTF-8"?>\n<{tag}s>{inner}</{tag}s>\n'


def iso(t: float | UTCDateTime | None) -> str:
    """FDSN time string ``YYYY-MM-DDTHH:MM:SS.ffffff`` (empty for None)."""
    if t is None:
        return ""
    t = t if isinstance(t, UTCDateTime) else UTCDateTime(t)
    return t.strftime("%Y-%m-%dT%H:%M:%S.%f")
