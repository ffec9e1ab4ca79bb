"""miniSEED 2 record index: validate every record of a file and read it in bounded pieces.

obspy (libmseed) recovers silently from damaged files: a file cut inside its last record is read
with the samples of the complete records only, or with a short last record, and without any
warning at most cut points. A data centre must not archive half a record without saying so, so
before decoding, every record's fixed header (SEED 2.4 manual, ch. 8) and blockette 1000 are read
here and checked:

* the file is a sequence of whole records (the last record is not cut);
* each record has a plausible fixed header (sequence number, data-quality indicator D/R/Q/M,
  BTIME, sample count) and a blockette 1000 giving its length (2^8 … 2^20 bytes);
* after decoding, the number of samples equals the sum of the headers' sample counts.

The index also lets ingest decode one channel-day at a time (:func:`iter_record_groups`) instead
of the whole file, so memory follows the largest channel-day, not the file size.
"""
from __future__ import annotations

import io
import struct
import warnings
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Iterator

import numpy as np

from pipeline.errors import InputError

_DAY = 86400.0
_QUALITY = b"DRQM"
#: data encodings whose samples are numbers (SEED 2.4 manual, blockette 1000 field 3)
NUMERIC_ENCODINGS = {1, 3, 4, 5, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 30, 31, 32, 33}


class RecordError(InputError):
    """A damaged record; the message names the byte offset and what is wrong."""


@dataclass(frozen=True)
class Record:
    offset: int
    length: int
    nslc: str
    start: float       # epoch seconds of the first sample (BTIME, without time correction)
    nsamp: int
    encoding: int


def _epoch(year: int, doy: int, hour: int, minute: int, sec: int, frac: int) -> float:
    # days since 1970-01-01 of year-01-01 (proleptic Gregorian, valid 1970..2100+)
    y = year - 1
    days = 365 * (year - 1970) + (y // 4 - 1969 // 4) - (y // 100 - 1969 // 100) + (y // 400 - 1969 // 400)
    return (days + doy - 1) * _DAY + hour * 3600 + minute * 60 + sec + frac * 1e-4


def looks_like_mseed(head: bytes) -> bool:
    """True when ``head`` starts with a miniSEED 2 fixed header that has a blockette 1000."""
    try:
        _parse(head, 0, 1 << 40)
    except RecordError:
        return False
    return True


def _parse(buf: bytes, offset: int, size: int) -> Record:
    if size - offset < 48:
        raise RecordError(f"byte {offset}: {size - offset} bytes left, too short for a record header "
                          "(file cut inside a record)")
    h = buf[:48]
    seq, quality = h[0:6], h[6:7]
    if not all(c in b"0123456789 \x00" for c in seq) or quality not in [bytes([q]) for q in _QUALITY]:
        raise RecordError(f"byte {offset}: not a miniSEED data record header (sequence {seq!r}, "
                          f"quality indicator {quality!r})")
    for endian in (">", "<"):
        year, doy, hour, minute, sec, _, frac = struct.unpack(endian + "HHBBBBH", h[20:30])
        if 1900 <= year <= 2200 and 1 <= doy <= 366:
            break
    else:
        raise RecordError(f"byte {offset}: record start time is not a valid BTIME")
    if hour > 23 or minute > 59 or sec > 60 or frac > 9999:
        raise RecordError(f"byte {offset}: record start time {year}-{doy:03d} {hour}:{minute}:{sec}.{frac:04d} "
                          "is not a valid time")
    nsamp, = struct.unpack(endian + "H", h[30:32])
    nblk = h[39]
    blk, = struct.unpack(endian + "H", h[46:48])
    length = encoding = None
    for _ in range(max(nblk, 1) + 1):
        if blk == 0 or blk + 4 > len(buf):
            break
        btype, nxt = struct.unpack(endian + "HH", buf[blk:blk + 4])
        if btype == 1000 and blk + 8 <= len(buf):
            encoding, exp = buf[blk + 4], buf[blk + 6]
            if not 8 <= exp <= 20:
                raise RecordError(f"byte {offset}: blockette 1000 gives a record length of 2^{exp} bytes")
            length = 1 << exp
            break
        if nxt <= blk:
            break
        blk = nxt
    if length is None:
        raise RecordError(f"byte {offset}: record without blockette 1000 (record length unknown)")
    if offset + length > size:
        raise RecordError(f"byte {offset}: the file ends {size - offset} bytes into a {length}-byte record "
                          "(file cut inside a record)")
    dec = lambda b: b.decode("ascii", "replace").strip()  # noqa: E731
    nslc = f"{dec(h[18:20])}.{dec(h[8:13])}.{dec(h[13:15])}.{dec(h[15:18])}"
    return Record(offset, length, nslc, _epoch(year, doy, hour, minute, sec, frac), nsamp, encoding)


def scan_records(fh: BinaryIO, size: int) -> list[Record]:
    """Index every record of an open miniSEED file; :raises RecordError: naming the first bad one."""
    out: list[Record] = []
    offset = 0
    fh.seek(0)
    while offset < size:
        fh.seek(offset)
        head = fh.read(min(1024, size - offset))
        rec = _parse(head, offset, size)
        out.append(rec)
        offset += rec.length
    return out


def iter_record_groups(path: str | Path, records: list[Record]) -> Iterator[tuple[str, float, "object"]]:
    """Decode the records channel by channel, one UTC day of record start times at a time.

    Yields ``(nslc, day_start_epoch, stream)`` in channel, then time order.
    :raises RecordError: when obspy decodes fewer/more samples than the headers declare, or warns
        that a record is damaged (Steim integrity check, bad frames).
    """
    from obspy import read

    groups: dict[tuple[str, float], list[Record]] = defaultdict(list)
    for r in records:
        groups[(r.nslc, (r.start // _DAY) * _DAY)].append(r)
    with open(path, "rb") as fh:
        for nslc, day in sorted(groups):
            recs = sorted(groups[(nslc, day)], key=lambda r: (r.start, r.offset))
            buf = bytearray()
            for r in recs:
                fh.seek(r.offset)
                buf += fh.read(r.length)
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                try:
                    st = read(io.BytesIO(bytes(buf)), format="MSEED")
                except Exception as exc:  # libmseed/obspy raise many types on damaged records: re-raised naming them
                    raise RecordError(f"{nslc}: records from byte {recs[0].offset} cannot be decoded "
                                      f"({type(exc).__name__}: {' '.join(str(exc).split())[:160]})") from None
            declared = sum(r.nsamp for r in recs if r.encoding in NUMERIC_ENCODINGS)
            got = sum(tr.stats.npts for tr in st if np.issubdtype(tr.data.dtype, np.number))
            caught = [w for w in caught if issubclass(w.category, UserWarning)]  # libmseed's, not GC noise
            if caught:
                msg = " ".join(str(caught[0].message).split())
                raise RecordError(f"{nslc}: damaged record near byte {recs[0].offset}: {msg[:160]}")
            if got != declared:
                raise RecordError(f"{nslc}: the record headers declare {declared} samples from "
                                  f"byte {recs[0].offset} on, {got} could be decoded (damaged data frames)")
            yield nslc, day, st
