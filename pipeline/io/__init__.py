"""Bulletin formats: one registry of writers and readers, also registered as obspy plug-ins.

========  ===========================================  =========================================
format    write                                        read
========  ===========================================  =========================================
quakeml   QuakeML 1.2 (obspy) + IDC ``extra``           obspy
ims1      IMS1.0:SHORT bulletin (:mod:`.ims1`)          obspy IMS10BULLETIN + line checks/restore
gse2      GSE2.0 bulletin, 1995 REB layout (:mod:`.gse2`)  obspy GSE2 + line checks, nm → m
css3      CSS3.0 flat files, 7 tables (:mod:`.css3`)    ours
csv       origins CSV + arrivals CSV (:mod:`.tabular`)  ours
geojson   FeatureCollection of Points (:mod:`.tabular`) ours
========  ===========================================  =========================================

obspy plug-in names (``Catalog.write(path, format=…)`` / ``read_events(path, format=…)``): ``IMS1``,
``GSE2BULLETIN``, ``CSS3``, ``IDCCSV``, ``GEOJSON``, ``IDCQUAKEML`` (write only); see
:mod:`pipeline.io.plugins`. ``read_events(path)`` without a format detects CSS3/IDCCSV/GEOJSON;
IMS1.0/GSE2.0 files are detected by obspy's own readers.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

from obspy.core.event import Catalog

from pipeline.errors import ParameterError
from pipeline.io.columns import FormatError

__all__ = ["FORMATS", "FormatError", "UnknownFormatError", "detect_format", "read_catalog", "write_catalog"]

#: accepted spellings → format name
_ALIASES = {"quakeml": "quakeml", "qml": "quakeml", "xml": "quakeml", "ims1": "ims1", "ims1.0": "ims1",
            "ims10bulletin": "ims1", "gse2": "gse2", "gse2.0": "gse2", "css3": "css3", "css3.0": "css3",
            "css": "css3", "csv": "csv", "geojson": "geojson", "json": "geojson"}
FORMATS = ("quakeml", "ims1", "gse2", "css3", "csv", "geojson")


#: writer options each format uses
_OPTIONS = {"quakeml": {"product", "version"}, "ims1": {"title", "author", "msg_id"},
            "gse2": {"title", "author", "msg_id"}, "css3": {"author", "lddate"},
            "csv": {"product", "version"}, "geojson": {"product", "version"}}


class UnknownFormatError(ParameterError):
    """A format name not in :data:`FORMATS`."""


def _canon(fmt: str) -> str:
    f = _ALIASES.get(str(fmt).strip().lower())
    if f is None:
        raise UnknownFormatError(f"format {fmt!r}: expected one of {', '.join(FORMATS)}")
    return f


def _writers() -> dict[str, Callable]:
    from pipeline.io import css3, gse2, ims1, quakeml, tabular

    return {"quakeml": quakeml.write_quakeml, "ims1": ims1.write_path, "gse2": gse2.write_path,
            "css3": css3.write_path, "csv": tabular.write_csv, "geojson": tabular.write_geojson}


def _readers() -> dict[str, Callable]:
    from pipeline.io import css3, gse2, ims1, quakeml, tabular

    return {"quakeml": quakeml.read_quakeml, "ims1": ims1.read_ims1, "gse2": gse2.read_gse2,
            "css3": css3.read_css3, "csv": tabular.read_csv, "geojson": tabular.read_geojson}


def write_catalog(catalog: Catalog, path: str | Path, fmt: str, **options) -> Path:
    """Write ``catalog`` to ``path`` in ``fmt`` (one of :data:`FORMATS`).

    Options by format: ``title``, ``author``, ``msg_id`` (ims1, gse2); ``product``, ``version``
    (quakeml, csv, geojson: default from the catalog id ``…/<TYPE>/v<N>/…``); ``lddate`` (css3).
    Options a format does not use are ignored.

    :raises UnknownFormatError: ``fmt`` unknown (the message lists the valid formats)
    :raises FormatError: a value does not fit a fixed column
    """
    f = _canon(fmt)
    raw, path = path, Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    opts = {k: v for k, v in options.items() if k in _OPTIONS[f] and v is not None}
    _writers()[f](catalog, raw if f == "css3" else path, **opts)  # css3: a trailing "/" means directory
    return path


def detect_format(path: str | Path) -> str:
    """Guess the format of ``path`` from its content (CSS3.0: a directory or ``*.origin`` file)."""
    p = Path(path)
    from pipeline.io.css3 import table_paths

    if p.is_dir() or p.suffix == ".origin" or (not p.exists() and table_paths(p)["origin"].is_file()):
        return "css3"
    if not p.is_file():
        raise FileNotFoundError(f"{p}: no such file")
    head = p.read_bytes()[:4096].decode("latin-1", "replace")
    up = head.upper()
    if "<QUAKEML" in up or head.lstrip().startswith("<?xml"):
        return "quakeml"
    if "DATA_TYPE BULLETIN IMS1.0" in up:
        return "ims1"
    if up.startswith("BEGIN GSE2.0") and "DATA_TYPE BULLETIN" in up:
        return "gse2"
    if head.lstrip().startswith("{") and '"FeatureCollection"' in head:
        return "geojson"
    if head.startswith("event_id,origin_id,"):
        return "csv"
    raise FormatError(f"{p}: format not recognised (formats: {', '.join(FORMATS)})")


def read_catalog(path: str | Path, fmt: str | None = None, **options) -> Catalog:
    """Read a catalog in ``fmt`` (default: detected from the content).

    :raises UnknownFormatError: ``fmt`` unknown
    :raises FormatError: malformed input, message names the file and line
    """
    f = _canon(fmt) if fmt else detect_format(path)
    return _readers()[f](path, **options)
