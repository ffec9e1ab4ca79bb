"""Write a Catalog in the formats users ask for (QuakeML via obspy, IMS1.0 short bulletin)."""
from __future__ import annotations

from pathlib import Path

from obspy.core.event import Catalog

EXPORT_FORMATS = ("quakeml", "ims1")


def write_catalog(catalog: Catalog, path: str | Path, fmt: str, title: str = "") -> Path:
    """Write ``catalog`` to ``path`` as ``quakeml`` or ``ims1``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fmt = fmt.lower()
    if fmt == "quakeml":
        catalog.write(str(path), format="QUAKEML")
    elif fmt in ("ims1", "ims1.0"):
        from pipeline.bulletin.ims1 import write_ims1

        with open(path, "w", encoding="ascii", errors="replace") as fh:
            write_ims1(catalog, fh, title=title)
    else:
        raise ValueError(f"export format {fmt!r}: expected one of {', '.join(EXPORT_FORMATS)}")
    return path
