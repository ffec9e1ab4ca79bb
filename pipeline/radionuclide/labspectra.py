"""Laboratory gamma spectra: ORTEC ``.Spe`` (ASCII) and Canberra ``.cnf`` (binary), read into the
same 1-D xarray as a PHD ``#g_Spectrum`` (dim ``channel``; coordinate ``energy_keV`` when the file
carries an energy calibration; attributes ``live_time_s``, ``real_time_s``, ``acquisition_start``,
``energy_coefficients`` (polynomial, lowest order first, keV), ``format``, ``source``).

We do not depend on ``becquerel`` for these readers (it pulls numba, llvmlite, lmfit, iminuit,
black and HTML parsers as run-time dependencies for two small formats). The CNF layout used here
(section table of 48-byte entries from offset 112; acquisition section 0x00, sample 0x01, channel
data 0x05; PDP-11 floats for the calibration; times as 100 ns ticks) is the one documented by the
open-source xylib ``canberra_cnf.cpp`` and followed by becquerel's parser (BSD-3-Clause, LBNL).
"""
from __future__ import annotations

import re
import struct
from pathlib import Path

import numpy as np
from obspy import UTCDateTime

from pipeline.errors import InputError


class SpectrumFileError(InputError):
    """A lab spectrum that cannot be read; names the file and the section or line."""


def _array(counts, coeffs, source: str, fmt: str, live: float, real: float, start, extra: dict | None = None):
    import xarray as xr

    ch = np.arange(len(counts))
    coords = {"channel": ch}
    if coeffs is not None and len(coeffs) >= 2 and coeffs[1] != 0:
        coords["energy_keV"] = ("channel", np.polynomial.polynomial.polyval(ch, coeffs), {"units": "keV"})
    attrs = {"long_name": "gamma counts", "units": "counts", "source": source, "format": fmt,
             "live_time_s": float(live), "real_time_s": float(real)}
    if start is not None:
        attrs["acquisition_start"] = str(start)
    if coeffs is not None:
        attrs["energy_coefficients"] = [float(c) for c in coeffs]
    attrs.update(extra or {})
    return xr.DataArray(np.asarray(counts, dtype=np.int64), dims=("channel",), coords=coords, name="g_spectrum",
                        attrs=attrs)


# ------------------------------------------------------------------ ORTEC .Spe


def read_spe(path: str | Path):
    """An ORTEC ``.Spe`` file (``$DATA``, ``$MEAS_TIM`` live/real, ``$DATE_MEA``, ``$MCA_CAL`` or
    ``$ENER_FIT``, ``$SHAPE_CAL`` FWHM coefficients in channels)."""
    p = Path(path)
    try:
        lines = p.read_text(encoding="latin-1").splitlines()
    except OSError as exc:
        raise SpectrumFileError(f"{p}: cannot read: {exc.strerror or exc}") from None
    sections: dict[str, tuple[int, list[str]]] = {}
    key = None
    for i, ln in enumerate(lines, 1):
        s = ln.strip()
        if s.startswith("$") and s.endswith(":"):
            key = s[1:-1]
            sections[key] = (i, [])
        elif key is not None:
            sections[key][1].append(s)
    if "DATA" not in sections:
        raise SpectrumFileError(f"{p}: no $DATA: section (not an ORTEC .Spe file)")
    line0, data = sections["DATA"]
    try:
        first, last = (int(x) for x in data[0].split()[:2])
        n = last - first + 1
        counts = np.array([int(float(x)) for x in data[1:1 + n]], dtype=np.int64)
    except (ValueError, IndexError):
        raise SpectrumFileError(f"{p}: $DATA at line {line0}: expected 'first last' and one count per line") from None
    if len(counts) != n:
        raise SpectrumFileError(f"{p}: $DATA at line {line0}: {len(counts)} counts, the header says {n}")
    live = real = 0.0
    if "MEAS_TIM" in sections:
        try:
            live, real = (float(x) for x in sections["MEAS_TIM"][1][0].split()[:2])
        except (ValueError, IndexError):
            raise SpectrumFileError(f"{p}: $MEAS_TIM at line {sections['MEAS_TIM'][0]}: expected 'live real' (s)") from None
    if live <= 0:
        raise SpectrumFileError(f"{p}: no live time ($MEAS_TIM)")
    start = None
    if "DATE_MEA" in sections and sections["DATE_MEA"][1]:
        m = re.match(r"(\d{2})/(\d{2})/(\d{4})\s+(\d{2}):(\d{2}):(\d{2})", sections["DATE_MEA"][1][0])
        if m:
            mo, d, y, hh, mi, ss = (int(x) for x in m.groups())
            start = UTCDateTime(y, mo, d, hh, mi, ss)
    coeffs = None
    if "MCA_CAL" in sections and len(sections["MCA_CAL"][1]) >= 2:
        k = int(sections["MCA_CAL"][1][0])
        coeffs = [float(x) for x in sections["MCA_CAL"][1][1].split()[:k]]
    elif "ENER_FIT" in sections and sections["ENER_FIT"][1]:
        coeffs = [float(x) for x in sections["ENER_FIT"][1][0].split()[:2]]
    extra = {}
    if "SHAPE_CAL" in sections and len(sections["SHAPE_CAL"][1]) >= 2:
        k = int(sections["SHAPE_CAL"][1][0])
        shape = [float(x) for x in sections["SHAPE_CAL"][1][1].split()[:k]]
        if shape and shape[0] > 0:
            extra["fwhm_channel_coefficients"] = shape
    if "SPEC_ID" in sections and sections["SPEC_ID"][1]:
        extra["description"] = sections["SPEC_ID"][1][0]
    return _array(counts, coeffs, str(p), "SPE", live, real, start, extra)


# ------------------------------------------------------------------ Canberra .cnf


def _u(b: bytes, off: int, n: int) -> int:
    return int.from_bytes(b[off:off + n], "little")


def _pdp11(b: bytes, off: int) -> float:
    """A 32-bit DEC PDP-11 float: bytes (lo0, hi0, lo1, hi1); sign and 8-bit exponent in the first
    word, 23-bit mantissa with a hidden leading bit, value = 0.1mmm… × 2^(exp − 128)."""
    if off + 4 > len(b):
        return 0.0
    b0, b1, b2, b3 = b[off:off + 4]
    exp = ((b1 & 0x7F) << 1) | (b0 >> 7)
    if exp == 0:
        return 0.0
    mant = ((0x80 | (b0 & 0x7F)) << 16 | b3 << 8 | b2) / float(1 << 24)
    return (-1.0 if b1 & 0x80 else 1.0) * mant * 2.0 ** (exp - 128)


def read_cnf(path: str | Path):
    """A Canberra ``.cnf`` file (Genie 2000): counts, live/real time, start, energy polynomial."""
    p = Path(path)
    try:
        b = p.read_bytes()
    except OSError as exc:
        raise SpectrumFileError(f"{p}: cannot read: {exc.strerror or exc}") from None

    def fail(what: str):
        raise SpectrumFileError(f"{p}: {what} (not a Canberra CNF file, or an unsupported variant)")

    acq = sam = chan = 0
    enc = 0
    for off in range(112, min(len(b) - 48, 128 * 1024), 48):
        kind, b1, b2 = b[off], b[off + 1], b[off + 2]
        if not ((b1 == 0x20 and b2 == 0x01) or b1 == 0 or b2 == 0):
            continue
        where = _u(b, off + 10, 4)
        if kind == 0:
            if acq == 0:
                acq = where
            else:
                enc = where
        elif kind == 1 and sam == 0:
            sam = where
        elif kind == 5 and chan == 0:
            chan = where
        if acq and sam and chan:
            break
    enc = enc or acq
    if not acq or acq + 200 >= len(b) or b[acq] != 0 or b[acq + 1] != 0x20:
        fail("no acquisition section")
    off1, off2 = _u(b, acq + 34, 2), _u(b, acq + 36, 2)
    pha = acq + 48 + 128
    if b[pha:pha + 3] != b"PHA":
        fail("no PHA keyword in the acquisition section")
    n = 256 * _u(b, pha + 10, 2)
    if not 256 <= n <= 65536:
        fail(f"{n} channels")
    t0 = acq + 48 + off2 + 1
    if t0 + 24 > len(b):
        fail("acquisition times out of the file")
    ticks = _u(b, t0, 8)
    start = UTCDateTime(ticks / 1e7 - 3506716800) if ticks else None  # 100 ns since 1858-11-17 (MJD 0)

    def duration(o):
        return ((1 << 64) - 1 - _u(b, o, 8)) * 1e-7  # stored as the complement of 100 ns ticks

    real, live = duration(t0 + 8), duration(t0 + 16)
    if not 0 < live <= real:
        fail(f"live time {live} s / real time {real} s")
    coeffs = None
    for base in (enc + 48 + 32 + off1, enc + 48 + 32):
        c = [_pdp11(b, base + 36 + 4 * i) for i in range(4)]
        if c[1] != 0.0:
            coeffs = c
            break
    if not chan or chan + 512 + 4 * n > len(b) or b[chan] != 5 or b[chan + 1] != 0x20:
        fail("no channel data section")
    counts = np.frombuffer(b, dtype="<u4", count=n, offset=chan + 512).astype(np.int64)
    counts[:2] = [0 if c in (int(real), int(live)) else c for c in counts[:2]]  # channels 0/1 may hold times
    name = b[sam + 48:sam + 112].replace(b"\x00", b" ").decode("latin-1").strip() if sam else ""
    return _array(counts, coeffs, str(p), "CNF", live, real, start, {"description": name} if name else None)


def read_lab_spectrum(path: str | Path):
    """Dispatch on the file: ``.spe`` → :func:`read_spe`, ``.cnf`` → :func:`read_cnf`."""
    suffix = Path(path).suffix.lower()
    if suffix == ".spe":
        return read_spe(path)
    if suffix == ".cnf":
        return read_cnf(path)
    raise SpectrumFileError(f"{path}: unknown spectrum format {suffix!r} (ORTEC .Spe, Canberra .cnf, IMS2.0 PHD)")
