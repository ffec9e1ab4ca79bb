"""QuakeML 1.2 through obspy, with the IDC-only attributes in our ``extra`` namespace.

QuakeML has no place for the IMS1.0 defining flags as such (only weights), the product type and
version of a bulletin, or the two-letter IMS event type; they are written as elements in
:data:`pipeline.io.common.NAMESPACE` (allowed by the schema's ``##other`` wildcards, so the file stays
valid against QuakeML-1.2.xsd — tested with lxml). Existing ``extra`` entries (e.g. screening
values set by :mod:`pipeline.screening`) are written unchanged. The input catalog is not modified.
"""
from __future__ import annotations

import copy
import io
import re
import warnings

from obspy import read_events
from obspy.core.event import Catalog

from pipeline.io.columns import SkippedInputWarning
from pipeline.io.common import ETYPE, NAMESPACE, normalise_catalog, preferred_origin

PRODUCT_RE = re.compile(r"/(SEL1|SEL2|SEL3|REB|SEB|SSEB|LEB)/v(\d+)(/|$)")


def _put(obj, key: str, value) -> None:
    if value is None:
        return
    extra = getattr(obj, "extra", None) or {}
    extra[key] = {"value": str(value), "namespace": NAMESPACE}
    obj.extra = extra


def product_of(catalog: Catalog) -> tuple[str | None, int | None]:
    """(product type, version) from ``extra`` or the store's catalog id ``…/<TYPE>/v<N>/catalog``."""
    extra = getattr(catalog, "extra", None) or {}
    if "productType" in extra:
        v = extra.get("productVersion", {}).get("value")
        return extra["productType"]["value"], int(v) if v else None
    m = PRODUCT_RE.search(str(catalog.resource_id or ""))
    return (m.group(1), int(m.group(2))) if m else (None, None)


def with_idc_extra(catalog: Catalog, product: str | None = None, version: int | None = None) -> Catalog:
    """A copy of ``catalog`` with IDC-only attributes in ``extra``: catalog productType/Version,
    event imsEventType and region, arrival definingFlags (IMS1.0 ``TAS`` string)."""
    cat = copy.deepcopy(catalog)
    p, v = product_of(cat)
    _put(cat, "productType", product or p)
    _put(cat, "productVersion", version if version is not None else v)
    for ev in cat:
        # QuakeML requires networkCode; obspy writes none for None and reads "" back (not idempotent)
        for obj in list(ev.picks) + list(ev.amplitudes) + list(ev.station_magnitudes):
            if obj.waveform_id is not None and obj.waveform_id.network_code is None:
                obj.waveform_id.network_code = ""
        _put(ev, "imsEventType", ETYPE.get((ev.event_type, ev.event_type_certainty or "known"), "uk"))
        for o in ev.origins:
            for a in o.arrivals:
                _put(a, "definingFlags", ("T" if (a.time_weight or 0) > 0 else "_")
                     + ("A" if (a.backazimuth_weight or 0) > 0 else "_")
                     + ("S" if (a.horizontal_slowness_weight or 0) > 0 else "_"))
        o = preferred_origin(ev)
        if o is not None and not ev.event_descriptions:
            from pipeline.io.common import region_name
            from obspy.core.event import EventDescription

            r = region_name(o.latitude, o.longitude)
            if r:
                ev.event_descriptions.append(EventDescription(text=r, type="Flinn-Engdahl region"))
    return cat


def write_quakeml(catalog: Catalog, path, product: str | None = None, version: int | None = None, *,
                  idc_extra: bool = True, **kwargs) -> None:
    """Write QuakeML 1.2: the package's one call of obspy's QuakeML writer.

    With ``idc_extra`` (exports, ``idc export --format quakeml``, the ``IDCQUAKEML`` plug-in) a
    copy with the IDC extras (:func:`with_idc_extra`); without it the catalog as it is (the
    product files of the chain, review and screening, fdsnws-event answers, the simulator's
    truth). ``path``: a file name or a binary file object. (fdsnws-event also writes the same
    bytes directly from store rows for its common requests:
    :mod:`pipeline.service.fdsn.quakeml_fast`, compared with this writer by the tests.)"""
    target = path if hasattr(path, "write") else str(path)
    if idc_extra:
        with_idc_extra(catalog, product, version).write(target, format="QUAKEML", nsmap={"idc": NAMESPACE})
    else:
        catalog.write(target, format="QUAKEML")


def quakeml_bytes(catalog: Catalog, **kwargs) -> bytes:
    """:func:`write_quakeml` into memory (the document as bytes)."""
    buf = io.BytesIO()
    write_quakeml(catalog, buf, **kwargs)
    return buf.getvalue()


def read_quakeml(path, **kwargs) -> Catalog:
    """Read QuakeML through obspy (extras come back as ``extra`` dicts); picks without a time are
    left out (:func:`drop_untimed_picks`)."""
    return drop_untimed_picks(normalise_catalog(read_events(str(path), format="QUAKEML")), path)


def _pick_lines(path) -> dict[str, int]:
    """publicID → line number of the ``<pick>`` elements of a QuakeML file ({} if unreadable)."""
    from lxml import etree

    try:
        return {el.get("publicID"): el.sourceline for el in etree.parse(str(path)).getroot().iter("{*}pick")}
    except (OSError, etree.Error):
        return {}


def drop_untimed_picks(catalog: Catalog, path) -> Catalog:
    """Leave out the picks without a time (``<time>`` is required in QuakeML, obspy reads such a pick
    with ``time=None``) and the arrivals that refer to them, each with a
    :class:`~pipeline.io.columns.SkippedInputWarning` ``<file>:<line>: pick <id> (…) skipped: …``.
    Modifies and returns ``catalog``."""
    lines = None
    for ev in catalog:
        bad = [p for p in ev.picks if p.time is None]
        if not bad:
            continue
        if lines is None:
            lines = _pick_lines(path)
        ids = {str(p.resource_id) for p in bad}
        for p in bad:
            wid = p.waveform_id
            what = f"{(wid.station_code if wid else None) or '?'} {p.phase_hint or '?'}"
            line = lines.get(str(p.resource_id))
            warnings.warn(f"{path}{f':{line}' if line else ''}: pick {p.resource_id} ({what}) skipped: "
                          "no <time> (a pick needs one)", SkippedInputWarning, stacklevel=2)
        ev.picks = [p for p in ev.picks if str(p.resource_id) not in ids]
        for o in ev.origins:
            o.arrivals = [a for a in o.arrivals if str(a.pick_id) not in ids]
    return catalog
