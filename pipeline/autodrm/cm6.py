"""GSE2.1 / IMS1.0 waveform sample codecs: CM6 (6-bit ASCII compression), INT, and the CHK2 checksum.

Source: "Provisional GSE2.1 Formats and Protocols" [GSE21 p.65–67, App. B p.123] as summarised in
REFERENCE.md §4.5:

* **Second differences** before compression: ``D(1) = S(1)``, ``D(2) = S(2) − 2·S(1)``,
  ``D(j) = S(j) − 2·S(j−1) + S(j−2)`` (the first two follow from taking ``S(0) = S(−1) = 0``).
* **CM6**: each difference in sign–magnitude form is cut into 6-bit groups, most significant first.
  Bit 5 (32) of a group says "another group follows"; in the first group of a value bit 4 (16) is the
  sign and bits 0–3 hold data, later groups hold 5 data bits. Each 6-bit value indexes the alphabet
  ``+ - 0-9 A-Z a-z`` (Table 16). The character stream is written in lines of 80 characters.
* **Checksum** (``CHK2``): running sum of the integer samples (before differencing), each sample and
  the running sum reduced modulo 100 000 000 keeping the sign; the absolute final value.

Differences are computed in 64-bit integers, so every int32 series is encoded without overflow
(a difference of up to ±2^33 needs 7 groups). obspy's C decoder (``obspy.io.gse2``) reads what
:func:`encode_cm6` writes (tested), and :func:`decode_cm6` reads obspy's encoder output.
"""
from __future__ import annotations

import numpy as np

from pipeline.errors import InputError

#: GSE2.1 Table 16: the 64 characters of the CM6 alphabet, value 0 first
ALPHABET = "+-0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_VALUE = {c: i for i, c in enumerate(ALPHABET)}
LINE_LENGTH = 80
CHECKSUM_MODULO = 100_000_000


class CM6Error(InputError):
    """Malformed CM6 text (bad character, truncated value, wrong sample count)."""


def second_differences(samples) -> np.ndarray:
    """``D(j) = S(j) − 2 S(j−1) + S(j−2)`` with ``S(0) = S(−1) = 0`` (int64)."""
    s = np.asarray(samples, dtype=np.int64)
    d = s.copy()
    d[1:] -= 2 * s[:-1]
    d[2:] += s[:-2]
    return d


def remove_second_differences(diffs) -> np.ndarray:
    """Inverse of :func:`second_differences` (two cumulative sums), int64."""
    return np.cumsum(np.cumsum(np.asarray(diffs, dtype=np.int64)))


def _encode_value(v: int, out: list[str]) -> None:
    """Append the 6-bit groups of one difference |v| ≥ 16 (most significant group first)."""
    sign = 16 if v < 0 else 0
    mag = -v if v < 0 else v
    groups = [mag & 0x1F]                   # last group: 5 data bits, no continuation flag
    mag >>= 5
    while mag >= 16:                        # middle groups: continuation flag + 5 data bits
        groups.append(32 | (mag & 0x1F))
        mag >>= 5
    groups.append(32 | sign | mag)          # first group: continuation + sign + 4 data bits
    out.extend(ALPHABET[g] for g in reversed(groups))


def encode_cm6(samples, line_length: int = LINE_LENGTH) -> list[str]:
    """CM6 text lines (≤ ``line_length`` characters) of integer ``samples`` (second differences
    are taken here)."""
    data = np.asarray(samples)
    if data.dtype.kind not in "iu":
        if not np.all(np.isfinite(data)) or np.any(data != np.round(data)):
            raise CM6Error("CM6 carries integer samples only (these are not integers)")
        data = data.astype(np.int64)
    chars: list[str] = []
    for v in second_differences(data).tolist():
        if -16 < v < 16:
            chars.append(ALPHABET[(16 if v < 0 else 0) | abs(v)])
        else:
            _encode_value(v, chars)
    text = "".join(chars)
    return [text[i:i + line_length] for i in range(0, len(text), line_length)]


def decode_cm6(text: str | list[str], nsamp: int) -> np.ndarray:
    """The ``nsamp`` integer samples (int64) of CM6 ``text`` (lines or one string; whitespace ignored).

    :raises CM6Error: a character outside the alphabet, a value cut off, or fewer values than ``nsamp``
    """
    if not isinstance(text, str):
        text = "".join(text)
    diffs = np.empty(nsamp, dtype=np.int64)
    n = 0
    i = 0
    chars = "".join(text.split())
    size = len(chars)
    while n < nsamp:
        if i >= size:
            raise CM6Error(f"CM6 data end after {n} of {nsamp} samples")
        c = chars[i]
        g = _VALUE.get(c)
        if g is None:
            raise CM6Error(f"character {c!r} at position {i + 1} is not in the CM6 alphabet")
        i += 1
        negative = bool(g & 16)
        value = g & 15
        more = g & 32
        while more:
            if i >= size:
                raise CM6Error(f"CM6 value of sample {n + 1} is cut off at the end of the data")
            g = _VALUE.get(chars[i])
            if g is None:
                raise CM6Error(f"character {chars[i]!r} at position {i + 1} is not in the CM6 alphabet")
            i += 1
            value = (value << 5) | (g & 31)
            more = g & 32
        diffs[n] = -value if negative else value
        n += 1
    return remove_second_differences(diffs)


def checksum(samples) -> int:
    """GSE2.1 ``CHK2`` checksum of integer ``samples`` [GSE21 App. B]."""
    total = 0
    m = CHECKSUM_MODULO
    for s in np.asarray(samples, dtype=np.int64).tolist():
        if abs(s) >= m:
            s = int(np.fmod(s, m))
        total += s
        if abs(total) >= m:
            total = int(np.fmod(total, m))
    return abs(total)


def encode_int(samples, per_line: int = 10) -> list[str]:
    """``INT`` sub-format: the samples as decimal integers, ``per_line`` to a line."""
    vals = [str(int(v)) for v in np.asarray(samples).tolist()]
    return [" ".join(vals[i:i + per_line]) for i in range(0, len(vals), per_line)]


def decode_int(text: str | list[str], nsamp: int) -> np.ndarray:
    if not isinstance(text, str):
        text = " ".join(text)
    try:
        vals = [int(t) for t in text.split()]
    except ValueError as exc:
        raise CM6Error(f"INT data: {exc}") from None
    if len(vals) < nsamp:
        raise CM6Error(f"INT data end after {len(vals)} of {nsamp} samples")
    return np.asarray(vals[:nsamp], dtype=np.int64)
