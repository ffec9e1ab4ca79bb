"""Disaster-management feeds: ``GET /alerts/cap`` (Atom list of the latest CAP 1.2 message of each
alerted event, newest first), ``GET /alerts/cap/{identifier}.xml`` (one CAP message) and
``GET /alerts/feed.geojson`` (GeoJSON FeatureCollection). Files come from
``$IDC_HOME/products/alerts`` (written by :func:`pipeline.alerts.alerts_for_product`).
Access: product ``alerts`` of the policy (public by default)."""
from __future__ import annotations

import json
import re
from datetime import datetime, timezone
from xml.sax.saxutils import escape

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from pipeline.service.auth import Principal, current_principal
from pipeline.service.fdsn.params import FDSNError

router = APIRouter(tags=["alerts"])
_IDENT = re.compile(r"^[A-Za-z0-9._:-]{1,200}$")


def _check(principal: Principal) -> None:
    try:
        from pipeline.service.auth import require
    except ImportError:  # pragma: no cover
        return
    require(principal, "alerts")


def _state(request: Request) -> dict:
    from pipeline.alerts.feed import _load_state, alerts_dir

    return _load_state(alerts_dir(request.app.state.idc.settings))


@router.get("/feed.geojson")
def feed(request: Request, principal: Principal = Depends(current_principal)):
    """GeoJSON FeatureCollection of the alerted (tsunami-relevant) events; each feature's ``cap``
    property is the absolute URL of its CAP message (``[alerts] base_url``, else
    ``[service] base_url``, else the URL this request came to)."""
    from pipeline.alerts.feed import alerts_dir, cap_link

    _check(principal)
    settings = request.app.state.idc.settings
    p = alerts_dir(settings) / "feed.geojson"
    if not p.exists():
        body = json.dumps({"type": "FeatureCollection", "features": [],
                           "metadata": {"title": "idc-pipeline tsunami-relevant events", "count": 0}}).encode()
        return Response(body, media_type="application/geo+json")
    fc = json.loads(p.read_bytes())
    base = settings.alerts.base_url or settings.service.base_url or str(request.base_url)
    for f in fc.get("features", []):
        props = f.get("properties") or {}
        if props.get("identifier"):
            props["cap"] = cap_link(props["identifier"], base)
    return Response(json.dumps(fc, indent=1).encode() + b"\n", media_type="application/geo+json")


@router.get("/cap")
def cap_list(request: Request, limit: int = Query(50, ge=1, le=1000, description="Most events listed."),
             principal: Principal = Depends(current_principal)):
    """Atom 1.0 feed: one entry per alerted event, its latest CAP message (link rel=alternate,
    type application/cap+xml), newest first."""
    _check(principal)
    st = request.app.state.idc
    base = (st.settings.alerts.base_url or str(request.base_url)).rstrip("/")
    recs = sorted(_state(request)["events"].values(), key=lambda r: r["messages"][-1]["sent"], reverse=True)[:limit]
    updated = recs[0]["messages"][-1]["sent"] if recs else datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S+00:00")
    out = ['<?xml version="1.0" encoding="UTF-8"?>', '<feed xmlns="http://www.w3.org/2005/Atom">',
           "  <title>idc-pipeline CAP alerts (tsunami-relevant events)</title>",
           f"  <id>{escape(base)}/alerts/cap</id>", f"  <updated>{updated}</updated>",
           f'  <link rel="self" href="{escape(base)}/alerts/cap"/>',
           f"  <author><name>{escape(st.settings.alerts.sender_name)}</name></author>"]
    for r in recs:
        m = r["messages"][-1]
        v = m["values"]
        title = (f"{m['msgType']}: {v['magtype'] or 'M'} {v['mag']:.1f} {v['region']}" if v["mag"] is not None
                 else f"{m['msgType']}: {v['region']}")
        out += ["  <entry>", f"    <id>urn:cap:{escape(st.settings.alerts.sender)}:{escape(m['identifier'])}</id>",
                f"    <title>{escape(title)}</title>", f"    <updated>{m['sent']}</updated>",
                f'    <link rel="alternate" type="application/cap+xml" '
                f'href="{escape(base)}/alerts/cap/{escape(m["identifier"])}.xml"/>',
                f"    <summary>{escape(m['product'])} version {m['version']}; {len(r['messages'])} message(s)</summary>",
                "  </entry>"]
    out.append("</feed>")
    return Response("\n".join(out) + "\n", media_type="application/atom+xml")


@router.get("/cap/{identifier}.xml")
def cap_message(identifier: str, request: Request, principal: Principal = Depends(current_principal)):
    """One CAP 1.2 message by its identifier."""
    from pipeline.alerts.feed import alerts_dir

    _check(principal)
    if not _IDENT.match(identifier):
        raise FDSNError(400, f"Invalid parameter 'identifier': {identifier!r}")
    p = alerts_dir(request.app.state.idc.settings) / f"{identifier}.cap.xml"
    if not p.is_file():
        raise FDSNError(404, f"No CAP message {identifier!r}")
    return Response(p.read_bytes(), media_type="application/cap+xml")
