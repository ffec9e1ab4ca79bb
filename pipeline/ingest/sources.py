"""Network sources for ingest: SeedLink servers and FDSN dataselect services (via obspy)."""
from __future__ import annotations

import fnmatch
import itertools
import logging
import math
from urllib.parse import parse_qs, urlsplit

from obspy import Stream, UTCDateTime

from pipeline.ingest.readers import IngestRejected


def parse_selector(text: str) -> tuple[str, str, str, str]:
    """``"NET STA LOC CHA"`` or ``NET.STA.LOC.CHA`` → tuple; ``--`` or empty location → ""."""
    parts = text.replace(".", " ").split() if " " in text.strip() else text.split(".")
    if len(parts) == 3:  # empty location in the space form: "NET STA CHA"
        parts = [parts[0], parts[1], "", parts[2]]
    if len(parts) != 4:
        raise ValueError(f"stream selector {text!r}: expected 'NET STA LOC CHA' or NET.STA.LOC.CHA")
    net, sta, loc, cha = (p.strip() for p in parts)
    return net, sta, "" if loc in ("--", "") else loc, cha


def _code_matches(value: str, pattern: str) -> bool:
    """SeedLink/FDSN code match with ``?``/``*`` wildcards; ``--`` or empty = empty code."""
    if pattern in ("", "--"):
        return value == ""
    return fnmatch.fnmatchcase(value, pattern)


def _seedlink_client_class():
    """obspy's SeedLink request client, made strict about how a request ended.

    obspy's ``Client.get_waveforms`` fails with ``ValueError: need at least one array to
    concatenate`` when the server has no data for the window, and silently returns whatever
    arrived when the server stops answering mid-transfer (its ``collect`` loop gives up after
    ``timeout`` seconds). Here no data is an empty stream and giving up is an error.
    """
    import numpy as np
    from obspy.clients.seedlink.basic_client import Client
    from obspy.io.mseed.core import _read_mseed

    class StrictClient(Client):
        def _multiselect_request(self, multiselect, starttime, endtime):
            self._init_client()
            self._slclient.multiselect = multiselect
            self._slclient.begin_time = starttime
            self._slclient.end_time = endtime
            self._connect()
            self._slclient.initialize()
            self.bulk_data_container = []
            self._slclient.run(packet_handler=self._fast_packet_handler)
            records, self.bulk_data_container = self.bulk_data_container, []
            if self._slclient.slconn.terminate_flag:  # collect() timed out, not END from the server
                raise TimeoutError(f"no complete answer within {self.timeout:g} s "
                                   f"({len(records)} records received before giving up)")
            if not records:
                return Stream()
            st = _read_mseed(np.concatenate(records))
            st.trim(starttime, endtime)
            return st

    return StrictClient


def fetch_seedlink(server: str, selectors: list[tuple[str, str, str, str]], start: UTCDateTime,
                   end: UTCDateTime, timeout: float = 30.0) -> Stream:
    """Time-window request to a SeedLink server (``host:port``) with obspy's basic client.

    Returns the samples inside ``[start, end]`` (empty stream when the server has none).

    :raises IngestRejected: ``read_error`` naming the server when it cannot be reached, refuses
        the request, or does not complete it within ``timeout`` seconds of silence.
    """
    host, _, port = server.rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"SeedLink server {server!r}: expected host:port")
    client = _seedlink_client_class()(host, int(port), timeout=timeout, debug=False)
    # SeedLink TIME windows have whole seconds: obspy truncates both ends, which would drop
    # records starting between the truncated and the real end time -> ask up to the next second
    req_end = UTCDateTime(math.ceil(float(end.timestamp)))
    st = Stream()
    for net, sta, loc, cha in selectors:
        nslc = f"{net}.{sta}.{loc}.{cha}"
        errors = _LogCapture()
        try:
            with errors:
                got = client.get_waveforms(net, sta, loc, cha, start, req_end)
        except Exception as exc:  # network/server/decoding errors of many types: reported per stream, the rest goes on
            why = f"{type(exc).__name__}: {exc}"
            if isinstance(exc, TimeoutError) and "within" not in str(exc):
                why = f"no answer within {timeout:g} s ({why})"
            if errors.messages:
                why += f" (server dialogue: {errors.messages[-1]})"
            raise IngestRejected("read_error", f"seedlink://{server} {nslc}: {why}") from None
        # a SeedLink selector without location matches every location; keep what was asked for
        got.traces = [tr for tr in got if _code_matches(tr.stats.location, loc)
                      and _code_matches(tr.stats.channel, cha or "*")]
        st += got
    st.trim(start, end, nearest_sample=False)
    st.traces = [tr for tr in st if tr.stats.npts > 0]
    return st


class _LogCapture(logging.Handler):
    """Collect the error messages obspy's SeedLink client logs (why a negotiation failed)."""

    def __init__(self):
        super().__init__(level=logging.ERROR)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())

    def __enter__(self):
        logging.getLogger("obspy.clients.seedlink").addHandler(self)
        return self

    def __exit__(self, *exc) -> None:
        logging.getLogger("obspy.clients.seedlink").removeHandler(self)


def fdsn_request(url: str, selectors: list[tuple[str, str, str, str]] | None = None,
                 start: UTCDateTime | None = None, end: UTCDateTime | None = None):
    """Split a dataselect URL (base or full query URL) into ``(base_url, bulk)``.

    Comma-separated lists in a query URL (``cha=HHZ,HHN``) become one bulk line per combination
    (FDSN allows lists in GET parameters, not in POST lines).
    """
    parts = urlsplit(url)
    base = url.split("/fdsnws/")[0] if "/fdsnws/" in url else f"{parts.scheme}://{parts.netloc}{parts.path}".rstrip("/")
    if parts.query:
        q = {k.lower(): v[0] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        get = lambda *names, default="*": next((q[n] for n in names if n in q), default)  # noqa: E731
        selectors = selectors or [(get("network", "net"), get("station", "sta"),
                                   get("location", "loc", default=""), get("channel", "cha"))]
        t0, t1 = get("starttime", "start", default=""), get("endtime", "end", default="")
        start = start or (UTCDateTime(t0) if t0 else None)
        end = end or (UTCDateTime(t1) if t1 else None)
    if not selectors or start is None or end is None:
        raise ValueError(f"FDSN request {url!r}: need stream selectors and start/end times")
    bulk = []
    for sel in selectors:
        for n, s, loc, c in itertools.product(*(str(x).split(",") for x in sel)):
            line = (n.strip(), s.strip(), loc.strip() or "--", c.strip(), start, end)
            if line not in bulk:
                bulk.append(line)
    return base, bulk


def fetch_fdsn(url: str, selectors: list[tuple[str, str, str, str]] | None = None,
               start: UTCDateTime | None = None, end: UTCDateTime | None = None,
               timeout: float = 60.0) -> Stream:
    """Waveforms from an FDSN dataselect service with obspy's FDSN client (POST bulk query).

    Returns the samples inside the requested window (services answer with whole miniSEED
    records, which usually reach outside it); an empty stream when the service has no data.
    """
    from obspy.clients.fdsn import Client
    from obspy.clients.fdsn.header import FDSNNoDataException

    base, bulk = fdsn_request(url, selectors, start, end)
    client = Client(base_url=base, timeout=timeout, _discover_services=False)
    try:
        st = client.get_waveforms_bulk(bulk)
    except FDSNNoDataException:
        return Stream()
    except Exception as exc:  # network/server/decoding errors of many types: rejected naming the server
        raise IngestRejected("read_error", f"{url}: {type(exc).__name__}: {exc}") from None
    st.trim(bulk[0][4], bulk[0][5], nearest_sample=False)
    st.traces = [tr for tr in st if tr.stats.npts > 0]
    return st
