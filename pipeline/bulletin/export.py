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


def product_title(product: str, start, end, version: int | None, windows: int = 1) -> str:
    """Title line of an exported product: ``<TYPE> of the idc-pipeline for <span> (version N)``."""
    from obspy import UTCDateTime

    start, end = UTCDateTime(start), UTCDateTime(end)
    span = f"{start.strftime('%Y-%m-%d %H:%M')} – {end.strftime('%Y-%m-%d %H:%M' if end - start >= 86400 else '%H:%M')}"
    return (f"{product} of the idc-pipeline for {span} (version {version})" if version is not None else
            f"{product} of the idc-pipeline for {span} ({windows} windows, newest versions)")
