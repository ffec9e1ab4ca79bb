"""obspy event plug-ins (entry points in pyproject.toml, group ``obspy.plugin.event``).

``Catalog.write(path, format="IMS1")`` etc. and ``read_events(path, format="CSS3")``. Auto-detection
(``read_events(path)`` without a format) is offered only for formats obspy has no reader for (CSS3,
IDCCSV, GEOJSON); for IMS1.0 and GSE2.0 files obspy's own ``IMS10BULLETIN``/``GSE2`` readers detect
them, so our ``isFormat`` says no and the choice never depends on entry-point order.
"""
from __future__ import annotations

from pathlib import Path

from pipeline.io import css3, gse2, ims1, quakeml, tabular


def _path(f) -> Path | None:
    try:
        return Path(f.name if hasattr(f, "read") else f)
    except TypeError:
        return None


def _head(f, n=4096) -> str:
    p = _path(f)
    try:
        return p.read_bytes()[:n].decode("latin-1", "replace") if p is not None and p.is_file() else ""
    except OSError:
        return ""


def _never(filename) -> bool:
    return False


# IMS1.0
is_ims1 = _never


def read_ims1(filename, **kw):
    return ims1.read_ims1(filename, **kw)


def write_ims1(catalog, filename, **kw):
    ims1.write_path(catalog, filename, **kw)


# GSE2.0 bulletin
is_gse2 = _never


def read_gse2(filename, **kw):
    return gse2.read_gse2(filename, **kw)


def write_gse2(catalog, filename, **kw):
    gse2.write_path(catalog, filename, **kw)


# CSS3.0
def is_css3(filename) -> bool:
    p = _path(filename)
    if p is None or p.suffix != ".origin" or not p.is_file():
        return False
    try:
        line = p.read_text(encoding="latin-1").splitlines()[0]
        css3.parse(css3.TABLES["origin"], line, str(p))
        return len(line.rstrip()) >= 220
    except (OSError, ValueError, IndexError):  # unreadable, not text, empty or not an origin row
        return False


def read_css3(filename, **kw):
    return css3.read_css3(_path(filename), **kw)


def write_css3(catalog, filename, **kw):
    css3.write_css3(catalog, filename, **kw)


# CSV (ours; obspy's own "CSV" is a different layout)
def is_csv(filename) -> bool:
    return _head(filename).startswith("event_id,origin_id,preferred,time,")


def read_csv(filename, **kw):
    return tabular.read_csv(_path(filename), **kw)


def write_csv(catalog, filename, **kw):
    tabular.write_csv(catalog, filename, **kw)


# GeoJSON
def is_geojson(filename) -> bool:
    h = _head(filename)
    return h.lstrip().startswith("{") and '"FeatureCollection"' in h


def read_geojson(filename, **kw):
    return tabular.read_geojson(_path(filename), **kw)


def write_geojson(catalog, filename, **kw):
    tabular.write_geojson(catalog, filename, **kw)


# QuakeML with IDC extras (write only; obspy's QUAKEML reads it)
def write_quakeml(catalog, filename, **kw):
    quakeml.write_quakeml(catalog, filename, **kw)
