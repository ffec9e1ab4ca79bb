"""Read event bulletins (QuakeML, IMS1.0, GSE2.0, ISF) through obspy, normalised to one convention.

IMS1.0 and GSE2.0 go through :mod:`pipeline.io.ims1` / :mod:`pipeline.io.gse2` (obspy's readers plus
line-numbered validation and what obspy drops); ISF (the IASPEI Seismic Format, IMS1.0 with
extensions) goes through the IMS1.0 reader too; every format of :mod:`pipeline.io` is readable with
:func:`pipeline.io.read_catalog`. obspy's readers differ in units: the IMS1.0/ISF reader gives
amplitudes in metres, the GSE2.0 bulletin reader keeps the file's nanometres. After
:func:`read_bulletin` every body-wave amplitude is ``generic_amplitude`` in **metres** with
``unit="m"`` and ``type="A5/2"`` unless the file said otherwise, so the magnitude code sees one
convention.

Bad records are skipped, not fatal: an IMS1.0 phase line without an arrival time and a QuakeML pick
without ``<time>`` (QuakeML requires one) are left out of the catalog with a
:class:`~pipeline.io.columns.SkippedInputWarning` naming ``<file>:<line>`` (and the pick id); a
file that none of the readers accepts raises :class:`BulletinError`, one line saying why each
reader refused it.
"""
from __future__ import annotations

import re
import warnings
from pathlib import Path

from obspy.core.event import Catalog

from pipeline.errors import InputError
from pipeline.io.columns import FormatError, SkippedInputWarning
from pipeline.io.gse2 import read_gse2
from pipeline.io.ims1 import read_ims1
from pipeline.io.quakeml import read_quakeml

#: the format names of ``read_bulletin(path, fmt)``; when the file does not say which it is, QuakeML,
#: IMS1.0 and GSE2.0 are tried in this order (ISF is read by the IMS1.0 reader)
FORMATS = ("QUAKEML", "IMS10BULLETIN", "GSE2", "ISF")
#: what the user reads for each format name
FORMAT_NAMES = {"QUAKEML": "QuakeML", "IMS10BULLETIN": "IMS1.0", "GSE2": "GSE2.0", "ISF": "ISF"}
SUPPORTED = "QuakeML, IMS1.0, GSE2.0, ISF"


class BulletinError(InputError):
    """A bulletin file cannot be read; the message names the file (one line)."""


def _why(exc: Exception, path: Path) -> str:
    """One line: why a reader refused ``path`` (the file name said once, by the caller)."""
    text = " ".join(str(exc).split())
    for p in (str(path), path.name):
        if text.startswith(p + ":"):
            text = text[len(p) + 1:].lstrip()
            break
    text = re.sub(r"^(\d+): ", r"line \1: ", text).replace(f"'{path}'", "the file").replace(str(path), "the file")
    if not isinstance(exc, (FormatError, BulletinError)):
        text = f"{type(exc).__name__}: {text}"
    text = text.rstrip(".")
    return text if len(text) <= 300 else text[:297] + "..."


def _read_one(path: Path, f: str) -> Catalog:
    if f in ("IMS10BULLETIN", "ISF"):
        return read_ims1(path)
    if f == "GSE2":
        return read_gse2(path)
    return read_quakeml(path)


def read_bulletin(path: str | Path, fmt: str | None = None) -> tuple[Catalog, str]:
    """Read a bulletin file; returns ``(catalog, format)`` with amplitudes in metres.

    :param fmt: ``QUAKEML``, ``IMS10BULLETIN``, ``GSE2`` or ``ISF``; default: from the content.
    :raises BulletinError: one line naming the file, the formats tried and why each refused it.
    """
    path = Path(path)
    if not path.is_file():
        raise BulletinError(f"{path}: no such bulletin file")
    head = path.read_bytes()[:4096].decode("latin-1", "replace")
    sniffed = ""
    if fmt is None:
        if "<quakeml" in head.lower() or head.lstrip().startswith("<"):
            order, sniffed = ["QUAKEML"], "it looks like XML"
        elif "DATA_TYPE BULLETIN GSE2" in head.upper():
            order, sniffed = ["GSE2"], "it says DATA_TYPE BULLETIN GSE2.0"
        elif "IMS1.0" in head.upper():
            order, sniffed = ["IMS10BULLETIN"], "it says IMS1.0"
        elif "ISF" in head.upper():
            order, sniffed = ["ISF"], "it says ISF"
        else:
            order = ["QUAKEML", "IMS10BULLETIN", "GSE2"]  # ISF is read by the IMS1.0 reader
    else:
        order = [fmt.upper()]
        if order[0] not in FORMATS:
            raise BulletinError(f"{path}: unknown bulletin format {fmt!r} (supported: {SUPPORTED})")
    guessed = fmt is None and not sniffed
    errors = []
    for f in order:
        with warnings.catch_warnings(record=True) as skipped:
            warnings.simplefilter("always", SkippedInputWarning)
            try:
                cat = _read_one(path, f)
            except Exception as exc:  # obspy raises many types on the wrong format: each reader's reason is reported
                errors.append((f, _why(exc, path)))
                continue
        if guessed and len(cat) == 0:  # a reader that accepts anything: not evidence of a bulletin
            errors.append((f, "no events found"))
            continue
        for w in skipped:  # only the warnings of the reader that succeeded reach the caller
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
        return cat, f
    if fmt is not None:
        raise BulletinError(f"{path}: could not be read as {FORMAT_NAMES[order[0]]}: {errors[0][1]}")
    if sniffed:
        f, why = errors[0]
        raise BulletinError(f"{path}: could not be read as any of the supported bulletin formats ({SUPPORTED}): "
                            f"{sniffed}, but reading it as {FORMAT_NAMES[f]} failed: {why}")
    reasons = "; ".join(f"{'IMS1.0/ISF' if f == 'IMS10BULLETIN' else FORMAT_NAMES[f]}: {why}" for f, why in errors)
    raise BulletinError(f"{path}: could not be read as any of the supported bulletin formats ({SUPPORTED}): {reasons}")
