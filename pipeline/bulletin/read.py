"""Read event bulletins (QuakeML, IMS1.0, GSE2.0, ISF) through obspy, normalised to one convention.

IMS1.0 and GSE2.0 go through :mod:`pipeline.io.ims1` / :mod:`pipeline.io.gse2` (obspy's readers plus
line-numbered validation and what obspy drops); every format of :mod:`pipeline.io` is readable with
:func:`pipeline.io.read_catalog`. obspy's readers differ in units: the IMS1.0/ISF reader gives
amplitudes in metres, the GSE2.0 bulletin reader keeps the file's nanometres. After
:func:`read_bulletin` every body-wave amplitude is ``generic_amplitude`` in **metres** with
``unit="m"`` and ``type="A5/2"`` unless the file said otherwise, so the magnitude code sees one
convention.
"""
from __future__ import annotations

from pathlib import Path

from obspy import read_events
from obspy.core.event import Catalog

from pipeline.io.common import normalise_catalog
from pipeline.io.gse2 import read_gse2
from pipeline.io.ims1 import read_ims1

#: formats tried, in order, when the caller does not name one
FORMATS = ("QUAKEML", "IMS10BULLETIN", "GSE2", "ISF")


class BulletinError(ValueError):
    """A bulletin file cannot be read; the message names the file."""


def read_bulletin(path: str | Path, fmt: str | None = None) -> tuple[Catalog, str]:
    """Read a bulletin file; returns ``(catalog, format)`` with amplitudes in metres."""
    path = Path(path)
    if not path.is_file():
        raise BulletinError(f"{path}: no such bulletin file")
    head = path.read_bytes()[:4096].decode("latin-1", "replace")
    if fmt is None:
        if "<quakeml" in head.lower() or "<?xml" in head[:100]:
            order = ["QUAKEML"]
        elif "DATA_TYPE BULLETIN GSE2" in head.upper():
            order = ["GSE2"]
        elif "IMS1.0" in head.upper():
            order = ["IMS10BULLETIN"]
        elif "ISF" in head.upper():
            order = ["ISF"]
        else:
            order = list(FORMATS)
    else:
        order = [fmt.upper()]
    guessed = fmt is None and order == list(FORMATS)
    errors = []
    for f in order:
        try:
            if f == "IMS10BULLETIN":
                cat = read_ims1(path)
            elif f == "GSE2":
                cat = read_gse2(path)
            else:
                cat = normalise_catalog(read_events(str(path), format=f))
        except Exception as exc:  # obspy raises many types on the wrong format
            errors.append(f"{f}: {type(exc).__name__}: {exc}")
            continue
        if guessed and len(cat) == 0:  # a reader that accepts anything: not evidence of a bulletin
            errors.append(f"{f}: no events")
            continue
        return cat, f
    raise BulletinError(f"{path}: not a bulletin obspy can read ({'; '.join(errors)})")
