"""QuakeML of fdsnws-event written directly from SQL rows (the common requests).

:func:`pipeline.service.fdsn.event.to_catalog` builds obspy ``Event`` objects and obspy's
QuakeML writer (``obspy.io.quakeml.core.Pickler``) serialises them; for a page of events that
costs tens of milliseconds, mostly in building and validating the objects. For requests
without ``includearrivals``, ``includeallorigins`` and ``includeallmagnitudes`` (one origin
and at most one magnitude per event) :func:`quakeml_bytes` writes **the same bytes** directly:
the elements, their order, the optional ones left out when unset, the value conversions
(``float``/``int`` as obspy's attribute types, ``"%s"`` formatting, ``str(UTCDateTime)``) and
lxml's pretty printing (two-space indent, ``<?xml version='1.0' encoding='utf-8'?>``) follow
obspy 1.x's ``Pickler._serialize``/``_origin``/``_magnitude``/``_creation_info``/``_value``.
``tests/test_service_fast_paths.py`` compares both writers on real bulletins.

It returns None (the caller then uses obspy) when a text holds a character lxml would refuse
or escape differently (control characters), so the two writers never disagree silently.
"""
from __future__ import annotations

import re

from obspy import UTCDateTime

from pipeline.store.events import preferred_origin_rows

_BAD = re.compile(r"[\x00-\x1f\x7f\ud800-\udfff\ufffe\uffff]")
HEAD = ("<?xml version='1.0' encoding='utf-8'?>\n"
        '<q:quakeml xmlns="http://quakeml.org/xmlns/bed/1.2" xmlns:q="http://quakeml.org/xmlns/quakeml/1.2">\n')
TAIL = "  </eventParameters>\n</q:quakeml>\n"


class _Unsafe(Exception):
    pass


def _t(value) -> str:
    """Text content as lxml writes it (``&``, ``<``, ``>`` escaped)."""
    if type(value) is float or type(value) is int:  # digits, '.', '-', 'e', 'inf', 'nan': nothing to check
        return "%s" % value
    s = "%s" % value
    if _BAD.search(s):
        raise _Unsafe(s)
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _a(value) -> str:
    """An attribute value as lxml writes it (double quotes)."""
    return _t(value).replace('"', "&quot;")


def _f(x):
    return None if x is None else float(x)


def _i(x):
    return None if x is None else int(x)


def _el(out: list, ind: str, tag: str, value) -> None:
    if value is not None:
        out.append(f"{ind}<{tag}>{_t(value)}</{tag}>\n")


def _value(out: list, ind: str, tag: str, value, uncertainty=None) -> None:
    if value is None and uncertainty is None:  # obspy's always_create: an empty element
        out.append(f"{ind}<{tag}/>\n")
        return
    out.append(f"{ind}<{tag}>\n")
    _el(out, ind + "  ", "value", value)
    _el(out, ind + "  ", "uncertainty", uncertainty)
    out.append(f"{ind}</{tag}>\n")


def _creation(out: list, ind: str, agency, author, creation_time=None) -> None:
    if agency is None and author is None and creation_time is None:
        return
    out.append(f"{ind}<creationInfo>\n")
    _el(out, ind + "  ", "agencyID", agency)
    _el(out, ind + "  ", "author", author)
    _el(out, ind + "  ", "creationTime", creation_time)
    out.append(f"{ind}</creationInfo>\n")


def quakeml_bytes(session, rows: list[dict], *, magtype: str | None, agency: str,
                  creation_time: UTCDateTime | None = None) -> bytes | None:
    """QuakeML (bytes) of ``rows`` (from :meth:`EventQuery.run`) as ``to_catalog(...,
    all_origins=False, all_magnitudes=False, arrivals=False)`` written by obspy; None when a
    value needs the obspy writer."""
    origins, errs, netmags, assocs = preferred_origin_rows(session, (r["orid"] for r in rows))
    parts = []
    try:
        for r in rows:
            o = origins.get(r["orid"])
            if o is None:  # the preferred origin vanished between the queries
                return None
            nms = [n for n in netmags.get(o.orid, []) if not magtype or n.magtype.lower() == magtype.lower()][:1]
            parts.append(event_xml(r, o, errs.get(o.orid), nms, quality_summary(assocs.get(o.orid, [])), agency))
        return document(parts, agency, creation_time)
    except _Unsafe:
        return None


def document(fragments, agency: str, creation_time: UTCDateTime | None = None) -> bytes:
    """The QuakeML document of ``<event>`` fragments (from :func:`event_xml`); raises
    :class:`_Unsafe` when ``agency`` needs obspy."""
    from pipeline.store.catalog import AUTH

    ct = creation_time if creation_time is not None else UTCDateTime()
    out = [HEAD, '  <eventParameters publicID="smi:idc-pipeline/fdsnws/event/1/query">\n']
    _creation(out, "    ", agency, AUTH, str(ct))
    out.extend(fragments)
    out.append(TAIL)
    return "".join(out).encode("utf-8")


def quality_summary(assocs) -> tuple:
    """What the origin quality needs of the associations of an origin (rows with ``sta``,
    ``timedef``, ``delta``, ``esaz``): (associated stations, used stations, azimuthal gap,
    minimum distance, maximum distance), as ``Pickler._origin`` writes ``origin_quality``."""
    from pipeline.store.catalog import azimuthal_gap

    used, dists, esazs, stas = set(), [], [], set()
    for a in assocs:
        stas.add(a.sta)
        if a.timedef == "d":
            used.add(a.sta)
        if a.delta is not None:
            dists.append(a.delta)
        if a.esaz is not None:
            esazs.append(a.esaz)
    return (len(stas), len(used), _f(azimuthal_gap(esazs)), _f(min(dists)) if dists else None,
            _f(max(dists)) if dists else None)


def event_xml(r, o, e, nms, quality: tuple, agency: str) -> str:
    """The ``<event>`` element (text, pretty-printed as in the document) of one event.

    ``r``: ``eventid``, ``type``, ``etype``, ``evname`` (mapping); ``o``: the preferred origin
    (``time``, ``lat``, ``lon``, ``depth``, ``dtype``, ``algorithm``, ``nass``, ``ndef``,
    ``auth``); ``e``: its origerr row or None; ``nms``: the magnitudes written (at most one);
    ``quality``: :func:`quality_summary`. Raises :class:`_Unsafe` when a text needs obspy."""
    from pipeline.service.fdsn.event import RID_PREFIX
    from pipeline.store.catalog import AUTH, ETYPE_QUAKEML, REVIEWED_TYPES as REVIEWED

    out: list[str] = []
    prefix = RID_PREFIX + r["eventid"]
    mode = "manual" if r["type"] in REVIEWED else "automatic"
    pid = _a(prefix)
    out.append(f'    <event publicID="{pid}">\n')
    out.append(f"      <preferredOriginID>{_t(prefix)}/origin/1</preferredOriginID>\n")
    if nms:
        out.append(f"      <preferredMagnitudeID>{_t(prefix)}/magnitude/1</preferredMagnitudeID>\n")
    code = (r["etype"] or "").lower()
    if code in ETYPE_QUAKEML and ETYPE_QUAKEML[code][0] != "not reported":
        etype, certainty = ETYPE_QUAKEML[code]
        _el(out, "      ", "type", etype)
        _el(out, "      ", "typeCertainty", certainty)
    if r["evname"]:
        out.append("      <description>\n")
        _el(out, "        ", "text", r["evname"])
        _el(out, "        ", "type", "region name")
        out.append("      </description>\n")
    _creation(out, "      ", agency, AUTH)
    # ---- the preferred origin (Pickler._origin)
    out.append(f'      <origin publicID="{pid}/origin/1">\n')
    ind = "        "
    _value(out, ind, "time", str(UTCDateTime(o.time)), _f(e.stime) if e is not None else None)
    _value(out, ind, "latitude", _f(o.lat))
    _value(out, ind, "longitude", _f(o.lon))
    depth = None if o.depth is None else o.depth * 1000.0
    if depth is not None:
        _value(out, ind, "depth", _f(depth),
               _f(e.sdepth * 1000.0) if e is not None and e.sdepth is not None else None)
    if o.dtype == "G":
        _el(out, ind, "depthType", "operator assigned")
    elif o.dtype:
        _el(out, ind, "depthType", "from location")
    if o.algorithm:
        _el(out, ind, "methodID", f"smi:idc-pipeline/method/{o.algorithm}")
    nstas, nused, gap, dmin, dmax = quality
    out.append(f"{ind}<quality>\n")
    q = ind + "  "
    _el(out, q, "associatedPhaseCount", _i(o.nass))
    _el(out, q, "usedPhaseCount", _i(o.ndef))
    _el(out, q, "associatedStationCount", nstas)
    _el(out, q, "usedStationCount", nused)
    _el(out, q, "standardError", _f(e.sdobs) if e is not None else None)
    _el(out, q, "azimuthalGap", gap)
    _el(out, q, "minimumDistance", dmin)
    _el(out, q, "maximumDistance", dmax)
    out.append(f"{ind}</quality>\n")
    _el(out, ind, "evaluationMode", mode)
    _el(out, ind, "evaluationStatus", "reviewed" if mode == "manual" else "preliminary")
    _creation(out, ind, agency, o.auth or AUTH)
    if e is not None and e.smajax is not None:
        out.append(f"{ind}<originUncertainty>\n")
        _el(out, q, "preferredDescription", "uncertainty ellipse")
        _el(out, q, "minHorizontalUncertainty", _f((e.sminax or 0.0) * 1000.0))
        _el(out, q, "maxHorizontalUncertainty", _f(e.smajax * 1000.0))
        _el(out, q, "azimuthMaxHorizontalUncertainty", _f(e.strike))
        _el(out, q, "confidenceLevel", _f((e.conf or 0.9) * 100.0))
        out.append(f"{ind}</originUncertainty>\n")
    out.append("      </origin>\n")
    # ---- the magnitude (Pickler._magnitude)
    for n in nms:
        out.append(f'      <magnitude publicID="{pid}/magnitude/1">\n')
        _value(out, ind, "mag", _f(n.magnitude), _f(n.uncertainty))
        _el(out, ind, "type", n.magtype)
        _el(out, ind, "originID", f"{prefix}/origin/1")
        _el(out, ind, "stationCount", _i(n.nsta))
        _el(out, ind, "evaluationMode", mode)
        _creation(out, ind, agency, n.auth or AUTH)
        out.append("      </magnitude>\n")
    out.append("    </event>\n")
    return "".join(out)
