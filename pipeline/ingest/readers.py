"""Read waveform files of any supported format through obspy, with strict error reporting.

Supported: miniSEED, SAC, GSE2/GSE1 (``WID2`` files), IMS1.0 / GSE2.0 waveform *messages*
(``BEGIN IMS1.0 … DATA_TYPE WAVEFORM …``; obspy reads only bare ``WID2`` files, so the message
header is skipped here and obspy parses the ``WID2/STA2/DAT2/CHK2`` blocks), CSS3.0 and NNSA KB
wfdisc, and anything else obspy's ``read`` detects. obspy's silent recoveries from corrupt
miniSEED (skipped records, short last record) are turned into errors: nothing is dropped
without the operator knowing.
"""
from __future__ import annotations

import io
import re
import warnings
from pathlib import Path

import numpy as np
from obspy import Stream, read

from pipeline.errors import IdcError

#: obspy warnings that mean data was skipped
_CORRUPT_PATTERNS = re.compile(
    r"(corrupt|not a seed record|will skip|not enough to constitute|truncat|invalid|checksum|integrity check)", re.I)


class IngestRejected(IdcError):
    """An input that cannot be archived. ``kind`` is the ingest_error category."""

    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind
        self.message = message


def _message_waveform_offset(head: bytes) -> int | None:
    """Offset of the first WID2 line of an IMS1.0/GSE2.x message, None when not a message."""
    if not re.match(rb"\s*BEGIN\s+(IMS1\.0|GSE2\.\d)", head, re.I):
        return None
    m = re.search(rb"^WID2", head, re.M)
    return m.start() if m else -1


def read_waveforms(path: str | Path, display: str | None = None) -> tuple[Stream, str]:
    """Read one waveform file; returns ``(stream, format_name)``. ``display`` names the file in
    errors (default: the path).

    :raises IngestRejected: ``unknown_format`` (not a waveform format obspy knows), ``corrupt``
        (obspy failed or skipped data), ``read_error`` (unreadable file).
    """
    path = Path(path)
    name = display or str(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise IngestRejected("read_error", f"{name}: cannot read file: {exc.strerror}") from None
    if not raw:
        raise IngestRejected("corrupt", f"{name}: empty file")
    caught: list[warnings.WarningMessage] = []
    fmt_hint = None
    off = _message_waveform_offset(raw[:65536])
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            if off is not None:
                if off < 0:
                    m = re.search(rb"^WID2", raw, re.M)
                    if not m:
                        raise IngestRejected(
                            "unknown_format",
                            f"{name}: IMS1.0/GSE2 message without waveform data (no WID2 block)")
                    off = m.start()
                st = read(io.BytesIO(raw[off:]), format="GSE2")
                fmt_hint = "IMS1.0"
            else:
                st = read(str(path))
    except IngestRejected:
        raise
    except TypeError as exc:
        if "Unknown format" in str(exc):
            raise IngestRejected("unknown_format",
                                 f"{name}: unknown format (not miniSEED, SAC, GSE2/IMS1.0 or CSS3.0 wfdisc)") from None
        raise IngestRejected("corrupt", f"{name}: {type(exc).__name__}: {exc}") from None
    except FileNotFoundError as exc:
        raise IngestRejected("read_error", f"{name}: referenced file missing: {exc.filename}") from None
    except Exception as exc:  # obspy raises many types for damaged files: rejected naming the file
        text = " ".join(str(exc).split())
        raise IngestRejected("corrupt", f"{name}: corrupt data ({type(exc).__name__}: {text[:200]})") from None
    bad = [str(w.message) for w in caught if _CORRUPT_PATTERNS.search(str(w.message))]
    if bad:
        first = " ".join(bad[0].split())
        more = f" (+{len(bad) - 1} more)" if len(bad) > 1 else ""
        raise IngestRejected("corrupt", f"{name}: corrupt data: {first[:200]}{more}")
    if len(st) == 0:
        raise IngestRejected("corrupt", f"{name}: no waveform data in file")
    fmt = fmt_hint or getattr(st[0].stats, "_format", "") or "unknown"
    for tr in st:
        if tr.stats.npts == 0:
            continue
        if not np.issubdtype(tr.data.dtype, np.number):
            raise IngestRejected("corrupt", f"{name}: {tr.id}: non-numeric samples")
    return st, fmt
