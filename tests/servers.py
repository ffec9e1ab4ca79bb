"""Small in-process waveform servers for the tests: SeedLink v3 and FDSN dataselect.

Both serve an :class:`obspy.Stream` given at construction, listen on a free port of 127.0.0.1,
run in a background thread and are used as context managers::

    with SeedLinkTestServer(st) as sl:
        Client("127.0.0.1", sl.port).get_waveforms("Z7", "DYJN", "", "HHZ", t1, t2)
    with FDSNDataselectTestServer(st) as ws:
        fdsn.Client(ws.url, _discover_services=False).get_waveforms(...)

They implement just enough of the protocols for obspy's clients
(:mod:`obspy.clients.seedlink` and :mod:`obspy.clients.fdsn`) and record what they were asked
(``commands`` / ``requests``) and what they sent (``sent`` / ``responses``) so tests can check
the protocol was really exercised.
"""
from __future__ import annotations

import fnmatch
import io
import re
import socket
import socketserver
import threading
from dataclasses import dataclass
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit
from xml.sax.saxutils import quoteattr

import numpy as np
from obspy import Stream, Trace, UTCDateTime, read

SL_RECLEN = 512


# ============================================================================ common
class _BackgroundServer:
    """start()/stop()/context manager around a socketserver server running in a thread."""

    _server: socketserver.BaseServer | None = None
    _thread: threading.Thread | None = None

    def _make_server(self) -> socketserver.BaseServer:  # pragma: no cover - abstract
        raise NotImplementedError

    def start(self):
        if self._server is not None:
            return self
        self._server = self._make_server()
        self._server.owner = self  # type: ignore[attr-defined]
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=f"{type(self).__name__}:{self.port}", daemon=True)
        self._thread.start()
        return self

    def _close_connections(self) -> None:
        pass

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._close_connections()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = self._thread = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def _match(value: str, patterns: str) -> bool:
    """fnmatch (``?``, ``*``) against a comma-separated list of patterns, case-sensitive."""
    return any(fnmatch.fnmatchcase(value, p.strip()) for p in patterns.split(","))


def _match_location(loc: str, patterns: str) -> bool:
    """FDSN location match: ``--`` (or an empty pattern) means the empty location code."""
    for p in patterns.split(","):
        p = p.strip()
        if p in ("--", ""):
            if loc == "":
                return True
        elif fnmatch.fnmatchcase(loc, p):
            return True
    return False


# ============================================================================ SeedLink
@dataclass(frozen=True)
class SLRecord:
    """One 512-byte miniSEED record of the ring, with its sequence number."""

    seq: int
    net: str
    sta: str
    loc: str
    cha: str
    start: UTCDateTime
    end: UTCDateTime  # time of the last sample
    npts: int
    raw: bytes

    @property
    def id(self) -> str:
        return f"{self.net}.{self.sta}.{self.loc}.{self.cha}"


@dataclass
class _StationRequest:
    net: str
    sta: str
    selectors: list[str]
    action: str = ""  # DATA | FETCH | TIME
    seq: int | None = None
    begin: UTCDateTime | None = None
    end: UTCDateTime | None = None

    def wants(self, rec: SLRecord) -> bool:
        if not (fnmatch.fnmatchcase(rec.net, self.net) and fnmatch.fnmatchcase(rec.sta, self.sta)):
            return False
        if not _selectors_match(self.selectors, rec.loc, rec.cha):
            return False
        if self.seq is not None and rec.seq < self.seq:
            return False
        if self.begin is not None and rec.end < self.begin:
            return False
        if self.end is not None and rec.start > self.end:
            return False
        return True

    @property
    def finite(self) -> bool:
        """Does the request end (then the server sends ``END``), or is it real-time?"""
        return self.action == "FETCH" or (self.action == "TIME" and self.end is not None)


_SELECTOR_RE = re.compile(r"^(!?)([A-Z0-9?* -]{1,5})(?:\.([A-Z?]))?$", re.I)


def _selector_ok(sel: str) -> bool:
    return bool(_SELECTOR_RE.match(sel))


def _selector_hit(sel: str, loc: str, cha: str) -> bool:
    m = _SELECTOR_RE.match(sel)
    assert m is not None
    body, typ = m.group(2).upper(), (m.group(3) or "D").upper()
    if typ not in ("D", "?"):
        return False  # the ring holds data records only
    if len(body) == 5:  # LLCCC
        pat_loc, pat_cha = body[:2].replace("-", " "), body[2:]
        return fnmatch.fnmatchcase(loc.ljust(2), pat_loc) and fnmatch.fnmatchcase(cha, pat_cha)
    return fnmatch.fnmatchcase(cha, body)  # CCC (any location)


def _selectors_match(selectors: list[str], loc: str, cha: str) -> bool:
    pos = [s for s in selectors if not s.startswith("!")]
    neg = [s[1:] for s in selectors if s.startswith("!")]
    if pos and not any(_selector_hit(s, loc, cha) for s in pos):
        return False
    return not any(_selector_hit(s, loc, cha) for s in neg)


def _parse_sl_time(text: str) -> UTCDateTime:
    """SeedLink time ``YYYY,MM,DD,hh,mm,ss`` (seconds may have a fraction)."""
    parts = text.split(",")
    if len(parts) != 6:
        raise ValueError(text)
    y, mo, d, h, mi = (int(p) for p in parts[:5])
    return UTCDateTime(y, mo, d, h, mi) + float(parts[5])


def _info_records(xml: str) -> list[bytes]:
    """Pack an INFO XML document into 512-byte ASCII miniSEED records (as SeedLink servers do)."""
    tr = Trace(data=np.frombuffer(xml.encode("ascii"), dtype="|S1").copy())
    tr.stats.network, tr.stats.station, tr.stats.channel = "SL", "INFO", "LOG"
    tr.stats.starttime = UTCDateTime()
    buf = io.BytesIO()
    tr.write(buf, format="MSEED", encoding="ASCII", reclen=SL_RECLEN)
    raw = buf.getvalue()
    return [raw[i:i + SL_RECLEN] for i in range(0, len(raw), SL_RECLEN)]


class _SLSession:
    def __init__(self):
        self.stations: list[_StationRequest] = []
        self.current: _StationRequest | None = None


class _SLHandler(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        owner: SeedLinkTestServer = self.server.owner  # type: ignore[attr-defined]
        sock: socket.socket = self.request
        owner._register(sock)
        session = _SLSession()
        buf = b""
        try:
            while True:
                data = sock.recv(4096)
                if not data:
                    return
                buf += data
                while True:
                    m = re.search(rb"[\r\n]", buf)
                    if m is None:
                        break
                    line, buf = buf[:m.start()].strip(), buf[m.end():]
                    if not line:
                        continue
                    reply = owner._command(session, line.decode("ascii", "replace"))
                    if reply is None:  # BYE
                        return
                    if reply:
                        sock.sendall(reply)
        except OSError:
            return
        finally:
            owner._unregister(sock)


class _SLTCPServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


class SeedLinkTestServer(_BackgroundServer):
    """A minimal SeedLink v3.1 server (multi-station mode) holding ``stream`` in its ring.

    The stream is cut into 512-byte miniSEED records, ordered by start time and numbered (the
    sequence numbers). Commands: ``HELLO``, ``STATION sta [net]`` (``?``/``*`` allowed),
    ``SELECT [!][LL]CCC[.T]`` (``?`` allowed; 3 characters = any location), ``TIME begin [end]``,
    ``DATA [seq]``, ``FETCH [seq]``, ``END``, ``INFO ID|STATIONS|STREAMS``, ``BYE``.

    After ``END`` the records of every negotiated station that match its selectors and its time
    window (records overlapping ``[begin, end]``) or sequence number are sent as ``SL`` + 6 hex
    digit sequence number + record; ``END`` follows when every request is finite (``TIME`` with
    an end time, or ``FETCH``). ``DATA`` (and ``TIME`` without end) is real-time: the buffered
    records are sent, then the connection stays open. Unlike a real ring, ``DATA``/``FETCH``
    without a sequence number start at the oldest record (the ring never receives new data).
    Uni-station mode (action commands without ``STATION``) is not supported (answered ``ERROR``).
    """

    software = "SeedLink v3.1 (2024.001 idc-pipeline test server) :: SLPROTO:3.1 CAP EXTREPLY NSWILDCARD"
    organization = "idc-pipeline tests"

    def __init__(self, stream: Stream, host: str = "127.0.0.1", delay: float = 0.0,
                 stall_after: int | None = None, known_stations_only: bool = False):
        self.host = host
        #: seconds to wait before answering each command (simulates a slow server)
        self.delay = delay
        #: send at most this many data packets after END, then fall silent (a stalled server)
        self.stall_after = stall_after
        #: answer ERROR to STATION for stations not in the ring (as some servers do)
        self.known_stations_only = known_stations_only
        self.records: list[SLRecord] = self._build_ring(stream)
        self.commands: list[str] = []
        #: records sent to clients, in order
        self.sent: list[SLRecord] = []
        self.started = UTCDateTime()
        self._conns: set[socket.socket] = set()
        self._lock = threading.Lock()
        self.port = 0

    # ------------------------------------------------------------------ public
    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    url = address

    def _make_server(self):
        return _SLTCPServer((self.host, 0), _SLHandler)

    # ------------------------------------------------------------------ ring
    @staticmethod
    def _build_ring(stream: Stream) -> list[SLRecord]:
        chunks = []
        for tr in stream:
            if tr.stats.npts == 0:
                continue
            buf = io.BytesIO()
            tr.write(buf, format="MSEED", reclen=SL_RECLEN)
            raw = buf.getvalue()
            for i in range(0, len(raw), SL_RECLEN):
                rec = raw[i:i + SL_RECLEN]
                s = read(io.BytesIO(rec), format="MSEED", headonly=True)[0].stats
                chunks.append((s.starttime, s.network, s.station, s.location, s.channel, s.endtime,
                               s.npts, rec))
        chunks.sort(key=lambda c: (c[0], c[1], c[2], c[3], c[4]))
        return [SLRecord(seq, net, sta, loc, cha, t0, t1, n, rec)
                for seq, (t0, net, sta, loc, cha, t1, n, rec) in enumerate(chunks)]

    # ------------------------------------------------------------------ connections
    def _register(self, sock: socket.socket) -> None:
        with self._lock:
            self._conns.add(sock)

    def _unregister(self, sock: socket.socket) -> None:
        with self._lock:
            self._conns.discard(sock)

    def _close_connections(self) -> None:
        with self._lock:
            conns = list(self._conns)
        for sock in conns:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    # ------------------------------------------------------------------ protocol
    def _command(self, session: _SLSession, line: str) -> bytes | None:
        with self._lock:
            self.commands.append(line)
        if self.delay:
            threading.Event().wait(self.delay)
        words = line.split()
        cmd, args = words[0].upper(), words[1:]
        ok, err = b"OK\r\n", b"ERROR\r\n"
        if cmd == "HELLO":
            return f"{self.software}\r\n{self.organization}\r\n".encode("ascii")
        if cmd == "BYE":
            return None
        if cmd == "STATION":
            if not 1 <= len(args) <= 2:
                return err
            sta, net = args[0], (args[1] if len(args) == 2 else "*")
            if self.known_stations_only and not any(
                    fnmatch.fnmatchcase(r.sta, sta.upper()) and fnmatch.fnmatchcase(r.net, net.upper())
                    for r in self.records):
                return err
            session.current = _StationRequest(net.upper(), sta.upper(), [])
            session.stations.append(session.current)
            return ok
        if cmd == "SELECT":
            if session.current is None:
                return err
            if not args:
                session.current.selectors.clear()
                return ok
            if not all(_selector_ok(a) for a in args):
                return err
            session.current.selectors.extend(a.upper() for a in args)
            return ok
        if cmd in ("DATA", "FETCH", "TIME"):
            req = session.current
            if req is None or req.action:
                return err
            try:
                if cmd == "TIME":
                    if not 1 <= len(args) <= 2:
                        return err
                    req.begin = _parse_sl_time(args[0])
                    req.end = _parse_sl_time(args[1]) if len(args) == 2 else None
                elif args:
                    req.seq = int(args[0], 16)
                    if len(args) > 1:
                        req.begin = _parse_sl_time(args[1])
            except ValueError:
                return err
            req.action = cmd
            return ok
        if cmd == "END":
            reqs = [r for r in session.stations if r.action]
            if not reqs:
                return err
            out = []
            for rec in self.records:
                if self.stall_after is not None and len(out) >= self.stall_after:
                    return b"".join(out)  # ... and nothing more: the client has to give up
                if any(r.wants(rec) for r in reqs):
                    out.append(b"SL%06X" % (rec.seq & 0xFFFFFF) + rec.raw)
                    with self._lock:
                        self.sent.append(rec)
            if all(r.finite for r in reqs):
                out.append(b"END")
            return b"".join(out)
        if cmd == "INFO":
            level = args[0].upper() if args else "ID"
            recs = _info_records(self._info_xml(level))
            return b"".join((b"SLINFO *" if i < len(recs) - 1 else b"SLINFO  ") + r
                            for i, r in enumerate(recs))
        return err

    def _info_xml(self, level: str) -> str:
        fmt = "%Y/%m/%d %H:%M:%S.%f"
        head = (f'<?xml version="1.0"?>\n<seedlink software={quoteattr(self.software)} '
                f'organization={quoteattr(self.organization)} '
                f'started="{self.started.strftime(fmt)[:-2]}"')
        if level not in ("STATIONS", "STREAMS"):
            return head + "/>"
        by_sta: dict[tuple[str, str], list[SLRecord]] = {}
        for rec in self.records:
            by_sta.setdefault((rec.net, rec.sta), []).append(rec)
        parts = [head + ">"]
        for (net, sta), recs in sorted(by_sta.items()):
            attrs = (f'name="{sta}" network="{net}" description="" begin_seq="{recs[0].seq:06X}" '
                     f'end_seq="{recs[-1].seq + 1:06X}" stream_check="enabled"')
            if level == "STATIONS":
                parts.append(f"<station {attrs}/>")
                continue
            parts.append(f"<station {attrs}>")
            streams: dict[tuple[str, str], list[SLRecord]] = {}
            for rec in recs:
                streams.setdefault((rec.loc, rec.cha), []).append(rec)
            for (loc, cha), srecs in sorted(streams.items()):
                t0 = min(r.start for r in srecs).strftime(fmt)[:-2]
                t1 = max(r.end for r in srecs).strftime(fmt)[:-2]
                parts.append(f'<stream location="{loc}" seedname="{cha}" type="D" begin_time="{t0}" '
                             f'end_time="{t1}" begin_recno="{srecs[0].seq}" end_recno="{srecs[-1].seq + 1}" '
                             'gap_check="enabled" gap_treshold="0"/>')
            parts.append("</station>")
        parts.append("</seedlink>")
        return "".join(parts)


# ============================================================================ FDSN dataselect
_WADL = """<?xml version="1.0" encoding="UTF-8"?>
<application xmlns="http://wadl.dev.java.net/2009/02" xmlns:xs="http://www.w3.org/2001/XMLSchema">
  <resources base="{base}/fdsnws/dataselect/1/">
    <resource path="query">
      <method name="GET" id="query">
        <request>
          <param name="starttime" style="query" type="xs:dateTime"/>
          <param name="endtime" style="query" type="xs:dateTime"/>
          <param name="network" style="query" type="xs:string"/>
          <param name="station" style="query" type="xs:string"/>
          <param name="location" style="query" type="xs:string"/>
          <param name="channel" style="query" type="xs:string"/>
          <param name="quality" style="query" type="xs:string" default="B"/>
          <param name="minimumlength" style="query" type="xs:double" default="0.0"/>
          <param name="longestonly" style="query" type="xs:boolean" default="false"/>
          <param name="format" style="query" type="xs:string" default="miniseed"/>
          <param name="nodata" style="query" type="xs:int" default="204"/>
        </request>
        <response status="200"><representation mediaType="application/vnd.fdsn.mseed"/></response>
        <response status="204 400 404 413 414 500 503"><representation mediaType="text/plain"/></response>
      </method>
      <method name="POST" id="postQuery">
        <request><representation mediaType="text/plain"/></request>
        <response status="200"><representation mediaType="application/vnd.fdsn.mseed"/></response>
      </method>
    </resource>
    <resource path="version"><method name="GET"><response><representation mediaType="text/plain"/></response></method></resource>
    <resource path="application.wadl"><method name="GET"><response><representation mediaType="application/xml"/></response></method></resource>
  </resources>
</application>
"""

_ALIASES = {"net": "network", "sta": "station", "loc": "location", "cha": "channel",
            "start": "starttime", "end": "endtime"}
_PARAMS = {"network", "station", "location", "channel", "starttime", "endtime", "quality",
           "minimumlength", "longestonly", "format", "nodata"}


class _BadRequest(Exception):
    pass


@dataclass
class _Line:
    net: str
    sta: str
    loc: str
    cha: str
    start: UTCDateTime | None
    end: UTCDateTime | None


def _time(text: str | None) -> UTCDateTime | None:
    if text in (None, "", "*"):
        return None
    try:
        return UTCDateTime(text)
    except Exception:
        raise _BadRequest(f"invalid time {text!r}") from None


class _FDSNHandler(BaseHTTPRequestHandler):
    server_version = "idc-pipeline-test-fdsnws/1.0"
    PREFIX = "/fdsnws/dataselect/1/"

    def log_message(self, fmt, *args):  # keep test output quiet
        pass

    @property
    def owner(self) -> FDSNDataselectTestServer:
        return self.server.owner  # type: ignore[attr-defined]

    def _send(self, code: int, body: bytes = b"", ctype: str = "text/plain") -> None:
        self.owner._log_response(code, len(body))
        self.send_response(code)
        if code != 204:
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body and code != 204:
            self.wfile.write(body)

    def _error(self, code: int, text: str) -> None:
        body = (f"Error {code}: {self.responses.get(code, ('',))[0]}\n\n{text}\n\n"
                f"Request:\n{self.path}\n\nRequest Submitted:\n{datetime.now(timezone.utc).isoformat()}\n"
                f"\nService version:\n{self.owner.version}\n").encode()
        self._send(code, body)

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        self.owner._log_request("GET", self.path, b"")
        if not parts.path.startswith(self.PREFIX):
            return self._error(404, f"unknown path {parts.path}")
        resource = parts.path[len(self.PREFIX):]
        if resource == "version":
            return self._send(200, self.owner.version.encode())
        if resource == "application.wadl":
            return self._send(200, _WADL.format(base=self.owner.url).encode(), "application/xml")
        if resource != "query":
            return self._error(404, f"unknown resource {resource!r}")
        try:
            params: dict[str, str] = {}
            for key, values in parse_qs(parts.query, keep_blank_values=True).items():
                k = _ALIASES.get(key.lower(), key.lower())
                if k not in _PARAMS:
                    raise _BadRequest(f"unknown parameter {key!r}")
                params[k] = values[-1]
            lines = [_Line(params.get("network", "*"), params.get("station", "*"),
                           params.get("location", "*"), params.get("channel", "*"),
                           _time(params.get("starttime")), _time(params.get("endtime")))]
            self._answer(lines, params)
        except _BadRequest as exc:
            self._error(400, str(exc))

    def do_POST(self) -> None:
        parts = urlsplit(self.path)
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.owner._log_request("POST", self.path, body)
        if parts.path != self.PREFIX + "query":
            return self._error(404, f"unknown path {parts.path}")
        try:
            params: dict[str, str] = {}
            lines: list[_Line] = []
            for raw in body.decode("ascii", "replace").splitlines():
                raw = raw.strip()
                if not raw or raw.startswith("#"):
                    continue
                if "=" in raw and len(raw.split()) == 1:
                    key, _, value = raw.partition("=")
                    k = _ALIASES.get(key.strip().lower(), key.strip().lower())
                    if k not in _PARAMS - {"network", "station", "location", "channel", "starttime", "endtime"}:
                        raise _BadRequest(f"unknown parameter {key!r}")
                    params[k] = value.strip()
                    continue
                tok = raw.split()
                if len(tok) != 6:
                    raise _BadRequest(f"bad request line {raw!r}: expected NET STA LOC CHA START END")
                if any("," in t for t in tok[:4]):
                    raise _BadRequest(f"bad request line {raw!r}: lists are not allowed in POST lines")
                lines.append(_Line(tok[0], tok[1], tok[2], tok[3], _time(tok[4]), _time(tok[5])))
            if not lines:
                raise _BadRequest("no request lines")
            self._answer(lines, params)
        except _BadRequest as exc:
            self._error(400, str(exc))

    def _answer(self, lines: list[_Line], params: dict[str, str]) -> None:
        fmt = params.get("format", "miniseed").lower()
        if fmt not in ("miniseed", "mseed"):
            raise _BadRequest(f"unsupported format {fmt!r}")
        nodata = params.get("nodata", "204")
        if nodata not in ("204", "404"):
            raise _BadRequest(f"nodata must be 204 or 404, not {nodata!r}")
        body = self.owner._select(lines)
        if not body:
            if nodata == "404":
                return self._error(404, "no data matching the request")
            return self._send(204)
        self._send(200, body, "application/vnd.fdsn.mseed")


class FDSNDataselectTestServer(_BackgroundServer):
    """FDSN dataselect 1 service for ``stream`` on ``http://127.0.0.1:<port>``.

    ``/fdsnws/dataselect/1/query`` answers GET (network/net, station/sta, location/loc,
    channel/cha — comma lists and ``?``/``*`` wildcards, ``--`` = empty location —
    starttime/start, endtime/end, format, nodata, quality/minimumlength/longestonly accepted and
    ignored) and POST (``key=value`` lines, then ``NET STA LOC CHA START END`` lines) with
    miniSEED of the matching samples inside each requested window, 204 (or 404 with
    ``nodata=404``) when nothing matches, 400 with a text message for bad requests.
    ``version`` and ``application.wadl`` are served too.
    """

    version = "1.1.0"

    def __init__(self, stream: Stream, host: str = "127.0.0.1", reclen: int = 512,
                 whole_records: bool = False):
        self.host = host
        self.stream = stream.copy()
        self.reclen = reclen
        #: answer with the whole 512-byte records overlapping the window (as most data centres
        #: do) instead of trimming the samples to the window
        self.whole_records = whole_records
        self._records = SeedLinkTestServer._build_ring(stream) if whole_records else []
        #: (method, path, body) of every request
        self.requests: list[tuple[str, str, bytes]] = []
        #: (status, body length) of every response
        self.responses: list[tuple[int, int]] = []
        self._lock = threading.Lock()
        self.port = 0

    @property
    def url(self) -> str:
        """Base URL (what obspy's FDSN client takes)."""
        return f"http://{self.host}:{self.port}"

    def query_url(self, **params) -> str:
        from urllib.parse import urlencode

        return f"{self.url}/fdsnws/dataselect/1/query" + (f"?{urlencode(params)}" if params else "")

    def _make_server(self):
        srv = ThreadingHTTPServer((self.host, 0), _FDSNHandler)
        srv.daemon_threads = True
        return srv

    def _log_request(self, method: str, path: str, body: bytes) -> None:
        with self._lock:
            self.requests.append((method, path, body))

    def _log_response(self, code: int, size: int) -> None:
        with self._lock:
            self.responses.append((code, size))

    def _select(self, lines: list[_Line]) -> bytes:
        if self.whole_records:
            seqs = sorted({r.seq for ln in lines for r in self._records
                           if _match(r.net, ln.net) and _match(r.sta, ln.sta)
                           and _match_location(r.loc, ln.loc) and _match(r.cha, ln.cha)
                           and (ln.start is None or r.end >= ln.start)
                           and (ln.end is None or r.start <= ln.end)})
            return b"".join(self._records[i].raw for i in seqs)
        out = Stream()
        for ln in lines:
            for tr in self.stream:
                s = tr.stats
                if not (_match(s.network, ln.net) and _match(s.station, ln.sta)
                        and _match_location(s.location, ln.loc) and _match(s.channel, ln.cha)):
                    continue
                piece = tr.slice(ln.start, ln.end, nearest_sample=False)
                if piece.stats.npts > 0:
                    out.append(piece.copy())
        if not len(out):
            return b""
        buf = io.BytesIO()
        out.write(buf, format="MSEED", reclen=self.reclen)
        return buf.getvalue()


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on (right now)."""
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


class SilentTCPServer(_BackgroundServer):
    """Accepts connections and never answers (a hung server)."""

    def __init__(self, host: str = "127.0.0.1"):
        self.host = host
        self.port = 0
        self._conns: list[socket.socket] = []

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def _make_server(self):
        owner = self

        class H(socketserver.BaseRequestHandler):
            def handle(self):
                owner._conns.append(self.request)
                try:
                    while self.request.recv(4096):
                        pass
                except OSError:
                    pass

        srv = _SLTCPServer((self.host, 0), H)
        return srv

    def _close_connections(self) -> None:
        for sock in self._conns:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


__all__ = ["SeedLinkTestServer", "FDSNDataselectTestServer", "SilentTCPServer", "SLRecord", "free_port"]


# ============================================================================ SMTP and webhook receivers
class SMTPTestServer(_BackgroundServer):
    """A minimal SMTP server (RFC 5321: EHLO/HELO, MAIL, RCPT, DATA with dot-unstuffing, RSET,
    NOOP, QUIT) that keeps what it receives in :attr:`messages` as ``(mail_from, rcpt_tos,
    email.message.EmailMessage)``. The first ``fail_first`` DATA transactions are answered
    ``451`` (a transient failure the client should retry)."""

    def __init__(self, host: str = "127.0.0.1", fail_first: int = 0, port: int = 0):
        self.host = host
        self.port = port
        self.fail_first = fail_first
        self.transactions = 0
        self.messages: list[tuple[str, list[str], object]] = []
        self._lock = threading.Lock()

    def _make_server(self):
        import email
        import email.policy

        owner = self

        class H(socketserver.StreamRequestHandler):
            def reply(self, text: str) -> None:
                self.wfile.write(text.encode("ascii") + b"\r\n")
                self.wfile.flush()

            def handle(self):
                self.reply("220 localhost SMTPTestServer ready")
                mail_from, rcpts = "", []
                while True:
                    line = self.rfile.readline()
                    if not line:
                        return
                    cmd = line.decode("ascii", "replace").rstrip("\r\n")
                    verb = cmd[:4].upper()
                    if verb == "EHLO":
                        self.reply("250-localhost")
                        self.reply("250-8BITMIME")
                        self.reply("250 SIZE 52428800")
                    elif verb == "HELO":
                        self.reply("250 localhost")
                    elif verb == "MAIL":
                        mail_from, rcpts = cmd.split(":", 1)[1].split()[0].strip("<>"), []
                        self.reply("250 OK")
                    elif verb == "RCPT":
                        rcpts.append(cmd.split(":", 1)[1].strip().strip("<>"))
                        self.reply("250 OK")
                    elif verb == "DATA":
                        if not rcpts:
                            self.reply("503 need RCPT")
                            continue
                        self.reply("354 end data with <CR><LF>.<CR><LF>")
                        chunks = []
                        while True:
                            d = self.rfile.readline()
                            if not d or d in (b".\r\n", b".\n"):
                                break
                            chunks.append(d[1:] if d.startswith(b"..") else d)
                        with owner._lock:
                            owner.transactions += 1
                            fail = owner.transactions <= owner.fail_first
                            if not fail:
                                msg = email.message_from_bytes(b"".join(chunks), policy=email.policy.default)
                                owner.messages.append((mail_from, list(rcpts), msg))
                        self.reply("451 try again later" if fail else "250 OK queued")
                    elif verb == "RSET":
                        mail_from, rcpts = "", []
                        self.reply("250 OK")
                    elif verb == "NOOP":
                        self.reply("250 OK")
                    elif verb == "QUIT":
                        self.reply("221 bye")
                        return
                    else:
                        self.reply("502 command not implemented")

        return _SLTCPServer((self.host, self.port), H)


class WebhookTestServer(_BackgroundServer):
    """An HTTP receiver of POSTed webhooks: keeps every request in :attr:`requests` as
    ``(path, headers dict (lower-case names), body bytes, status answered)``. The first
    ``fail_first`` requests are answered ``fail_status`` (503), the others ``200``."""

    def __init__(self, host: str = "127.0.0.1", fail_first: int = 0, port: int = 0, fail_status: int = 503):
        self.host = host
        self.port = port
        self.fail_first = fail_first
        self.fail_status = fail_status
        self.requests: list[tuple[str, dict, bytes, int]] = []
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/hook"

    @property
    def accepted(self) -> list[tuple[str, dict, bytes, int]]:
        return [r for r in self.requests if r[3] == 200]

    def _make_server(self):
        owner = self

        class H(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with owner._lock:
                    status = owner.fail_status if len(owner.requests) < owner.fail_first else 200
                    owner.requests.append((self.path, {k.lower(): v for k, v in self.headers.items()}, body, status))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

        srv = ThreadingHTTPServer((self.host, self.port), H)
        srv.daemon_threads = True
        return srv


__all__ += ["SMTPTestServer", "WebhookTestServer"]
