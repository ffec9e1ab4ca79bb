"""Parse IMS1.0 request messages (``BEGIN IMS1.0 / MSG_TYPE REQUEST … STOP``) [GSE21 ch.1–2, REFERENCE §4].

The message is read line by line. Keywords are case-insensitive. Environment lines (TIME, LAT,
LON, DEPTH, MAG, MAG_TYPE, NET_LIST, STA_LIST, CHAN_LIST, BULL_TYPE, …) set the environment that
applies to the request lines that **follow** them; each request line (BULLETIN, EVENT, ORIGIN,
ARRIVAL, WAVEFORM, STATION, CHANNEL, OUTAGE, HELP) takes a snapshot of the environment at that
point [GSE21 p.28–29]. Every problem is collected as a :class:`Problem` naming the 1-based line
number, the line and what is wrong; the caller answers a message with problems with an
``ERROR_LOG`` only.

Product selection for bulletin-type requests: ``BULL_TYPE`` (``IDC_REB``, ``REB``, ``IDC_SEL3`` …)
or a product name given as argument of the request line (``BULLETIN REB IMS1.0``, ``EVENT SEL3``);
default ``[autodrm] default_bulletin``. The IMS1.0 names of SEL/SEB/SSEB bull types are not in
REFERENCE.md (§4.2: not verified), so both ``<TYPE>`` and ``IDC_<TYPE>`` are accepted.

Radionuclide request lines (IMS2.0; ``BEGIN IMS2.0`` or ``BEGIN IMS1.0``): ``RRR`` (the report
product of every sample collected in TIME at a station of STA_LIST) and ``SAMPLEPHD`` (their stored
PHD messages); both need TIME, take an optional format argument ``IMS2.0`` and are answered in
IMS2.0 (``DATA_TYPE RRR IMS2.0``, ``DATA_TYPE SAMPLEPHD``).

``RELATIVE_TO ORIGIN|EVENT|BULLETIN`` (REFERENCE §4.2) ties the **next** request line only to the
events the environment selects (as an ORIGIN/EVENT/BULLETIN line would, product from BULL_TYPE or
``default_bulletin``); environment lines may stand between the two. It applies to WAVEFORM (the
segments around the arrivals of each event) and ARRIVAL (the arrivals of those events, the
ARRIVAL:ASSOCIATED answer); the line is marked with :attr:`RequestLine.relative_to`. A RELATIVE_TO
followed by another request type, by a second RELATIVE_TO or by no request line is a problem
naming the RELATIVE_TO line. Our store keeps one (the preferred) origin per event, so the three
item types select the same events.
"""
from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass, field, replace

from obspy import UTCDateTime

from pipeline.errors import BAD_VALUE

PRODUCTS = ("SEL1", "SEL2", "SEL3", "REB", "SEB", "SSEB")
REQUEST_TYPES = ("BULLETIN", "EVENT", "ORIGIN", "ARRIVAL", "WAVEFORM", "STATION", "CHANNEL", "OUTAGE", "RRR",
                 "SAMPLEPHD")
#: radionuclide request lines (IMS2.0): the report product of the samples collected in TIME at the
#: stations of STA_LIST, and their stored PHD messages
RADIONUCLIDE_REQUESTS = ("RRR", "SAMPLEPHD")
#: environment keywords read and applied
ENVIRONMENT = ("TIME", "LAT", "LON", "DEPTH", "MAG", "MAG_TYPE", "NET_LIST", "STA_LIST", "CHAN_LIST",
               "BULL_TYPE", "EVENT_STA_DIST", "AUX_LIST")
#: GSE2.1 keywords this AutoDRM recognises but does not serve (answered with a clear error)
UNSUPPORTED = ("DEPTH_MINUS_ERROR", "MB_MINUS_MS", "BEAM_LIST", "COMM_LIST", "GROUP_BULL_LIST",
               "ARRIVAL_LIST", "ORIGIN_LIST", "EVENT_LIST", "TIME_STAMP", "NETWORK", "BEAM", "RESPONSE",
               "COMMENT", "STA_STATUS", "CHAN_STATUS", "COMM_STATUS", "AUTH_STATUS", "SUBSCRIBE",
               "CALIBPHD", "SPIKEPHD", "REGENPHD")
FORMATS = ("IMS1.0", "IMS2.0", "GSE2.0", "GSE2.1")
#: request keywords among UNSUPPORTED (a RELATIVE_TO before one of them is used up by it)
UNSUPPORTED_REQUESTS = ("NETWORK", "BEAM", "RESPONSE", "COMMENT", "STA_STATUS", "CHAN_STATUS", "COMM_STATUS",
                        "AUTH_STATUS", "CALIBPHD", "SPIKEPHD", "REGENPHD")
#: RELATIVE_TO items (REFERENCE §4.2) and the request lines a RELATIVE_TO can apply to
RELATIVE_ITEMS = ("ORIGIN", "EVENT", "BULLETIN")
RELATIVE_REQUESTS = ("WAVEFORM", "ARRIVAL")
WAVEFORM_SUBFORMATS = ("CM6", "INT")
BULLETIN_SUBFORMATS = ("SHORT",)


@dataclass(frozen=True)
class Problem:
    line: int          # 1-based line number in the request message (0 = the message as a whole)
    text: str          # the line as received
    message: str

    def __str__(self) -> str:
        where = f"line {self.line}" if self.line else "message"
        text = self.text.strip()
        text = text if len(text) <= 120 else text[:117] + "..."  # quote the line, not a flood
        return f"{where}: {text}\n    -> {self.message}" if text else f"{where}: {self.message}"


@dataclass(frozen=True)
class Environment:
    """The environment a request line is answered in (ranges are inclusive; None = open)."""

    time: tuple[UTCDateTime, UTCDateTime] | None = None
    lat: tuple[float | None, float | None] = (None, None)
    lon: tuple[float | None, float | None] = (None, None)
    depth: tuple[float | None, float | None] = (None, None)
    mag: tuple[float | None, float | None] = (None, None)
    event_sta_dist: tuple[float | None, float | None] = (None, None)
    mag_type: tuple[str, ...] = ()
    net_list: tuple[str, ...] = ("*",)
    sta_list: tuple[str, ...] = ("*",)
    chan_list: tuple[str, ...] = ("*",)
    bull_type: str = ""

    @staticmethod
    def matches(patterns: tuple[str, ...], code: str) -> bool:
        code = (code or "").upper()
        return any(fnmatch.fnmatchcase(code, p.upper()) for p in patterns)

    @staticmethod
    def within(rng: tuple[float | None, float | None], x: float | None) -> bool:
        lo, hi = rng
        if lo is None and hi is None:
            return True
        if x is None:
            return False
        if lo is not None and hi is not None and lo > hi:  # a longitude range across the antimeridian
            return x >= lo or x <= hi
        return (lo is None or x >= lo) and (hi is None or x <= hi)


@dataclass(frozen=True)
class RequestLine:
    keyword: str                 # BULLETIN, WAVEFORM, ...
    subtype: str                 # e.g. ASSOCIATED for ARRIVAL:ASSOCIATED ("" = default)
    format: str                  # IMS1.0 (or GSE2.0 / GSE2.1 as requested)
    subformat: str               # CM6 / INT / SHORT
    product: str                 # bulletin-type requests: SEL1 … SSEB ("" = not applicable)
    env: Environment
    line: int
    text: str
    #: ``RELATIVE_TO`` item (ORIGIN | EVENT | BULLETIN) this line is tied to ("" = a plain line)
    relative_to: str = ""
    #: line number of that RELATIVE_TO line (0 = none)
    relative_line: int = 0


@dataclass
class Request:
    msg_id: str = ""
    source: str = ""
    reply: str = ""              # E-MAIL or FTP address
    reply_kind: str = ""         # "E-MAIL" | "FTP"
    format: str = "IMS1.0"
    help: bool = False
    requests: list[RequestLine] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)


_DATE = re.compile(r"^(\d{4})/(\d{1,2})/(\d{1,2})$")
_TIME = re.compile(r"^(\d{1,2})(?::(\d{1,2})(?::(\d{1,2}(?:\.\d*)?))?)?$")


class _LineError(ValueError):
    pass


def _parse_datetime(tokens: list[str], what: str) -> UTCDateTime:
    if not tokens or len(tokens) > 2:
        raise _LineError(f"{what}: expected 'yyyy/mm/dd [hh:mm:ss.s]', got {' '.join(tokens) or 'nothing'!r}")
    d = _DATE.match(tokens[0])
    if not d:
        raise _LineError(f"{what}: date {tokens[0]!r} is not yyyy/mm/dd")
    h = mi = 0
    sec = 0.0
    if len(tokens) == 2:
        t = _TIME.match(tokens[1])
        if not t:
            raise _LineError(f"{what}: time {tokens[1]!r} is not hh[:mm[:ss.s]]")
        h, mi, sec = int(t.group(1)), int(t.group(2) or 0), float(t.group(3) or 0.0)
        if h > 23 or mi > 59 or sec >= 61:
            raise _LineError(f"{what}: time {tokens[1]!r} out of range")
    try:
        return UTCDateTime(int(d.group(1)), int(d.group(2)), int(d.group(3)), h, mi) + sec
    except BAD_VALUE:
        raise _LineError(f"{what}: {tokens[0]!r} is not a valid date") from None


def _split_to(args: list[str], keyword: str) -> tuple[list[str], list[str]]:
    ups = [a.upper() for a in args]
    if ups.count("TO") != 1:
        raise _LineError(f"{keyword}: expected '<low> TO <high>'")
    i = ups.index("TO")
    return args[:i], args[i + 1:]


def _parse_range(args: list[str], keyword: str, lo_lim: float, hi_lim: float,
                 wrap: bool = False) -> tuple[float | None, float | None]:
    a, b = _split_to(args, keyword)
    out = []
    for part, name in ((a, "low"), (b, "high")):
        if len(part) > 1:
            raise _LineError(f"{keyword}: {name} value {' '.join(part)!r} is not one number")
        if not part:
            out.append(None)
            continue
        try:
            v = float(part[0])
        except ValueError:
            raise _LineError(f"{keyword}: {name} value {part[0]!r} is not a number") from None
        if not lo_lim <= v <= hi_lim:
            raise _LineError(f"{keyword}: {name} value {v:g} outside [{lo_lim:g}, {hi_lim:g}]")
        out.append(v)
    if out[0] is not None and out[1] is not None and out[0] > out[1] and not wrap:
        raise _LineError(f"{keyword}: low value {out[0]:g} is above high value {out[1]:g}")
    return out[0], out[1]


def _parse_list(args: list[str], keyword: str) -> tuple[str, ...]:
    items = tuple(x.strip() for x in " ".join(args).replace(",", " ").split() if x.strip())
    if not items:
        raise _LineError(f"{keyword}: empty list (use * for all)")
    for x in items:
        if not re.fullmatch(r"[A-Za-z0-9_*?\-]+", x):
            raise _LineError(f"{keyword}: {x!r} is not a code or wildcard pattern")
    return items


def _product_name(word: str) -> str | None:
    w = word.upper()
    if w.startswith("IDC_"):
        w = w[4:]
    return w if w in PRODUCTS else None


def _parse_request_line(keyword: str, subtype: str, args: list[str], req: Request, env: Environment,
                        default_bulletin: str, default_wf: str, lineno: int, text: str,
                        relative: tuple[int, str, str] | None = None) -> RequestLine:
    fmt, subformat, product = req.format, "", ""
    for a in args:
        p = _product_name(a)
        if p is not None and keyword in ("BULLETIN", "EVENT", "ORIGIN", "ARRIVAL"):
            product = p
            continue
        f, _, sf = a.upper().partition(":")
        if f not in FORMATS:
            raise _LineError(f"{keyword}: unknown argument {a!r} (expected a format such as IMS1.0"
                             f"{':CM6' if keyword == 'WAVEFORM' else ''}"
                             f"{' or a product ' + '/'.join(PRODUCTS) if keyword in ('BULLETIN', 'EVENT', 'ORIGIN', 'ARRIVAL') else ''})")
        fmt, subformat = f, sf
    if keyword == "WAVEFORM":
        subformat = subformat or default_wf
        if subformat not in WAVEFORM_SUBFORMATS:
            raise _LineError(f"WAVEFORM: sub-format {subformat!r} is not served (use CM6 or INT)")
    elif keyword in ("BULLETIN", "EVENT", "ORIGIN"):
        subformat = subformat or "SHORT"
        if subformat not in BULLETIN_SUBFORMATS:
            raise _LineError(f"{keyword}: sub-format {subformat!r} is not served (IMS1.0:SHORT only)")
        if subtype:
            raise _LineError(f"{keyword}: no subtype {subtype!r}")
    elif keyword == "ARRIVAL":
        subtype = subtype or "ASSOCIATED"
        if subtype != "ASSOCIATED":
            raise _LineError(f"ARRIVAL: subtype {subtype!r} is not served (ASSOCIATED only)")
    elif subformat or subtype:
        raise _LineError(f"{keyword}: no sub-format or subtype is defined")
    if keyword in RADIONUCLIDE_REQUESTS:
        fmt = "IMS2.0"  # radionuclide data is IMS2.0 whatever the message's format
    if keyword in ("BULLETIN", "EVENT", "ORIGIN", "ARRIVAL") or relative is not None:
        product = product or env.bull_type or default_bulletin  # RELATIVE_TO: the events' product
    needs_time = keyword in ("BULLETIN", "EVENT", "ORIGIN", "ARRIVAL", "WAVEFORM", "OUTAGE") + RADIONUCLIDE_REQUESTS
    if needs_time and env.time is None:
        raise _LineError(f"{keyword} needs a TIME line before it (GSE2.1: the default time range is empty)")
    rel_line, _, rel_item = relative if relative is not None else (0, "", "")
    return RequestLine(keyword, subtype, fmt, subformat, product, env, lineno, text, rel_item, rel_line)


def _relative_problem(relative: tuple[int, str, str], why: str) -> Problem:
    line, raw, item = relative
    return Problem(line, raw, f"RELATIVE_TO {item} {why}; RELATIVE_TO applies to the next request line only, "
                              f"a {' or '.join(RELATIVE_REQUESTS)} line")


def parse_request(text: str, default_bulletin: str = "REB", default_waveform_format: str = "CM6",
                  max_lines: int = 1000) -> Request:
    """Parse an IMS1.0 request message; problems are collected in ``Request.problems``."""
    req = Request()
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    if len(lines) > max_lines:
        req.problems.append(Problem(0, "", f"the message has {len(lines)} lines, more than the limit of {max_lines}"))
        return req
    env = Environment()
    state = "begin"
    relative: tuple[int, str, str] | None = None  # a RELATIVE_TO waiting for its request line
    for lineno, raw in enumerate(lines, start=1):
        line = raw.strip()
        if not line or state == "done":
            continue
        words = line.split()
        kw_full = words[0].upper()
        keyword, _, subtype = kw_full.partition(":")
        args = words[1:]
        try:
            if state == "begin":
                if keyword != "BEGIN":
                    if keyword == "HELP":
                        req.help = True
                        state = "done"
                        continue
                    raise _LineError("a request message starts with 'BEGIN IMS1.0'")
                if len(args) != 1 or args[0].upper() not in FORMATS:
                    raise _LineError(f"BEGIN: expected a message format ({', '.join(FORMATS)})")
                req.format = args[0].upper()
                state = "header"
                continue
            if keyword == "STOP":
                state = "done"
                continue
            if keyword == "BEGIN":
                raise _LineError("a second BEGIN before STOP")
            if keyword == "MSG_TYPE":
                if [a.upper() for a in args] != ["REQUEST"]:
                    raise _LineError(f"MSG_TYPE: this service answers REQUEST messages, not {' '.join(args) or 'nothing'}")
                state = "body"
                continue
            if state == "header" and keyword not in ("MSG_ID",):
                raise _LineError("MSG_TYPE REQUEST must follow BEGIN")
            if keyword == "MSG_ID":
                if not 1 <= len(args) <= 2 or len(args[0]) > 20:
                    raise _LineError("MSG_ID: expected '<id (≤ 20 characters)> [<source>]'")
                req.msg_id, req.source = args[0], (args[1] if len(args) > 1 else "")
            elif keyword in ("E-MAIL", "EMAIL", "FTP"):
                if len(args) != 1 or "@" not in args[0]:
                    raise _LineError(f"{keyword}: expected one address user@host")
                if req.reply:
                    raise _LineError("only one E-MAIL or FTP line is allowed")
                req.reply, req.reply_kind = args[0], ("FTP" if keyword == "FTP" else "E-MAIL")
            elif keyword == "HELP":
                req.help = True
            elif keyword == "TIME":
                a, b = _split_to(args, "TIME")
                t1, t2 = _parse_datetime(a, "TIME start"), _parse_datetime(b, "TIME end")
                if t2 <= t1:
                    raise _LineError(f"TIME: end {t2} is not after start {t1}")
                env = replace(env, time=(t1, t2))
            elif keyword == "LAT":
                env = replace(env, lat=_parse_range(args, "LAT", -90, 90))
            elif keyword == "LON":
                env = replace(env, lon=_parse_range(args, "LON", -180, 180, wrap=True))  # 170 TO -170: across 180
            elif keyword == "DEPTH":
                env = replace(env, depth=_parse_range(args, "DEPTH", -10, 800))
            elif keyword == "MAG":
                env = replace(env, mag=_parse_range(args, "MAG", -3, 10))
            elif keyword == "EVENT_STA_DIST":
                env = replace(env, event_sta_dist=_parse_range(args, "EVENT_STA_DIST", 0, 180))
            elif keyword == "MAG_TYPE":
                env = replace(env, mag_type=_parse_list(args, "MAG_TYPE"))
            elif keyword in ("NET_LIST", "STA_LIST", "CHAN_LIST"):
                env = replace(env, **{keyword.lower(): _parse_list(args, keyword)})
            elif keyword == "AUX_LIST":
                _parse_list(args, keyword)  # auxiliary ids: the archive has none; accepted, no effect
            elif keyword == "BULL_TYPE":
                if len(args) != 1 or _product_name(args[0]) is None:
                    raise _LineError(f"BULL_TYPE: expected one of {', '.join(PRODUCTS)} (or IDC_<name>)")
                env = replace(env, bull_type=_product_name(args[0]))
            elif keyword == "RELATIVE_TO":
                if len(args) != 1 or args[0].upper() not in RELATIVE_ITEMS:
                    raise _LineError(f"RELATIVE_TO: expected one of {', '.join(RELATIVE_ITEMS)}")
                if relative is not None:
                    req.problems.append(_relative_problem(relative, f"is followed by another RELATIVE_TO "
                                                                    f"(line {lineno}) before any request line"))
                relative = (lineno, raw, args[0].upper())
            elif keyword in REQUEST_TYPES:
                rel, relative = relative, None  # RELATIVE_TO ties the next request line only
                if rel is not None and keyword not in RELATIVE_REQUESTS:
                    req.problems.append(_relative_problem(rel, f"cannot apply to the next request line (line "
                                                               f"{lineno}: {line})"))
                    rel = None
                req.requests.append(_parse_request_line(keyword, subtype, args, req, env, default_bulletin,
                                                        default_waveform_format, lineno, raw, rel))
            elif keyword in UNSUPPORTED:
                if keyword in UNSUPPORTED_REQUESTS:
                    relative = None  # used up by this line (answered with its own error)
                raise _LineError(f"{keyword} is a GSE2.1/IMS1.0 keyword this AutoDRM does not serve")
            else:
                raise _LineError(f"unknown keyword {words[0]!r}")
        except _LineError as exc:
            req.problems.append(Problem(lineno, raw, str(exc)))
    if relative is not None:
        req.problems.append(_relative_problem(relative, "is not followed by a request line"))
    if state == "begin" and not req.help:
        req.problems.append(Problem(0, "", "empty message (expected BEGIN IMS1.0 … STOP)"))
    elif state == "header":
        req.problems.append(Problem(0, "", "no MSG_TYPE REQUEST line"))
    elif state == "body":
        req.problems.append(Problem(len(lines), "", "the message does not end with STOP"))
    if state != "begin" and not req.msg_id and not req.help:
        req.problems.append(Problem(0, "", "no MSG_ID line (required: MSG_ID <id> [<source>])"))
    if state == "done" and not req.requests and not req.help and not req.problems:
        req.problems.append(Problem(0, "", "no request line (BULLETIN, EVENT, ORIGIN, ARRIVAL, WAVEFORM, STATION, "
                                           "CHANNEL, OUTAGE, RRR, SAMPLEPHD or HELP)"))
    return req
