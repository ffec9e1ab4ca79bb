"""Write a Catalog in the formats users ask for: thin wrapper over :mod:`pipeline.io`."""
from __future__ import annotations

from pathlib import Path

from obspy.core.event import Catalog

from pipeline.io import FORMATS, UnknownFormatError
from pipeline.io import write_catalog as _write

#: formats of ``idc export --format`` (= :data:`pipeline.io.FORMATS`)
EXPORT_FORMATS = FORMATS


def write_catalog(catalog: Catalog, path: str | Path, fmt: str, title: str = "", **options) -> Path:
    """Write ``catalog`` to ``path`` as one of :data:`EXPORT_FORMATS` (see :func:`pipeline.io.write_catalog`)."""
    try:
        return _write(catalog, path, fmt, title=title or None, **options)
    except UnknownFormatError as exc:
        raise ValueError(f"export {exc}") from None
