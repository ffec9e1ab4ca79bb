"""Network sources for ingest: SeedLink servers and FDSN dataselect services (via obspy)."""
from __future__ import annotations

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


def fetch_seedlink(server: str, selectors: list[tuple[str, str, str, str]], start: UTCDateTime,
                   end: UTCDateTime, timeout: float = 30.0) -> Stream:
    """Time-window request to a SeedLink server (``host:port``) with obspy's basic client."""
    from obspy.clients.seedlink.basic_client import Client

    host, _, port = server.rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"SeedLink server {server!r}: expected host:port")
    client = Client(host, int(port), timeout=timeout, debug=False)
    st = Stream()
    for net, sta, loc, cha in selectors:
        try:
            st += client.get_waveforms(net, sta, loc, cha, start, end)
        except Exception as exc:
            raise IngestRejected("read_error",
                                 f"seedlink://{server} {net}.{sta}.{loc}.{cha}: {type(exc).__name__}: {exc}") from None
    return st


def fdsn_request(url: str, selectors: list[tuple[str, str, str, str]] | None = None,
                 start: UTCDateTime | None = None, end: UTCDateTime | None = None):
    """Split a dataselect URL (base or full query URL) into ``(base_url, bulk)``."""
    parts = urlsplit(url)
    base = url.split("/fdsnws/")[0] if "/fdsnws/" in url else f"{parts.scheme}://{parts.netloc}{parts.path}".rstrip("/")
    if parts.query:
        q = {k.lower(): v[0] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        get = lambda *names, default="*": next((q[n] for n in names if n in q), default)  # noqa: E731
        selectors = selectors or [(get("network", "net"), get("station", "sta"),
                                   get("location", "loc", default=""), get("channel", "cha"))]
        start = start or UTCDateTime(get("starttime", "start", default=None))
        end = end or UTCDateTime(get("endtime", "end", default=None))
    if not selectors or start is None or end is None:
        raise ValueError(f"FDSN request {url!r}: need stream selectors and start/end times")
    bulk = [(n, s, loc or "--", c, start, end) for n, s, loc, c in selectors]
    return base, bulk


def fetch_fdsn(url: str, selectors: list[tuple[str, str, str, str]] | None = None,
               start: UTCDateTime | None = None, end: UTCDateTime | None = None,
               timeout: float = 60.0) -> Stream:
    """Waveforms from an FDSN dataselect service with obspy's FDSN client (POST bulk query)."""
    from obspy.clients.fdsn import Client
    from obspy.clients.fdsn.header import FDSNNoDataException

    base, bulk = fdsn_request(url, selectors, start, end)
    client = Client(base_url=base, timeout=timeout, _discover_services=False)
    try:
        return client.get_waveforms_bulk(bulk)
    except FDSNNoDataException:
        return Stream()
    except Exception as exc:
        raise IngestRejected("read_error", f"{url}: {type(exc).__name__}: {exc}") from None
