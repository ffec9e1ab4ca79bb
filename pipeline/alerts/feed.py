"""Alerts from a product version: which events are tsunami-relevant, the CAP messages and the
GeoJSON feed under ``$IDC_HOME/products/alerts/``.

Rules (``[alerts]``, :class:`~pipeline.alerts.config.AlertsConfig`):

* an event is **tsunami-relevant** when its largest magnitude ≥ ``min_magnitude``, its depth ≤
  ``max_depth_km`` and its epicentre is at sea (outside the Natural Earth land polygons,
  :func:`pipeline.geo.coast.is_at_sea`) or, with ``max_inland_km`` > 0, on land within that
  distance of the coast (:func:`pipeline.geo.coast.distance_to_coast_km`);
* a relevant event not yet alerted gets a CAP ``Alert``; an alerted event found again in a later
  product or version (origin times within ``match_time_s``, epicentres within
  ``match_distance_km``) whose origin time, location, depth or magnitude changed gets an
  ``Update`` whose ``<references>`` list every earlier message of the event — whether or not it
  still passes the thresholds (the revision is news to those who received the alert);
* an alerted event inside the window of a reviewed product (``cancel_on_products``, REB) that the
  product does not contain (the analyst rejected it) gets a ``Cancel`` referencing its messages;
* identifiers are stable: ``<sender>-<event key>-<n>`` where the event key is built from the
  product, window and origin time of the first alert and ``n`` counts the messages of the event.
  A re-run of the same product version rewrites the same messages with the same ``sent`` time (no
  duplicates); ``state.json`` remembers what was sent.

Files: ``<identifier>.cap.xml`` per message, ``feed.geojson`` (one Point feature per alerted
event: its latest values and message), ``state.json``. Writes are atomic (temporary file +
rename) under a lock file, so concurrent distribute runs do not lose alerts.
"""
from __future__ import annotations

import fcntl
import json
import time
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

from obspy import UTCDateTime

from pipeline.alerts.cap import CapMessage, cap_time, to_xml
from pipeline.util import fault_point, write_atomic

#: rank of the products: a later stage may revise an earlier one
PRODUCT_RANK = {"SEL1": 1, "SEL2": 2, "SEL3": 3, "REB": 4, "SEB": 5, "SSEB": 6}


def alerts_dir(settings) -> Path:
    return settings.products_dir / "alerts"


@contextmanager
def _locked(folder: Path):
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _load_state(folder: Path) -> dict:
    p = folder / "state.json"
    if not p.exists():
        return {"events": {}}
    try:
        return json.loads(p.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"{p}: alert state is not valid JSON ({exc}); restore it or move it away") from None


def _distance_km(lat1, lon1, lat2, lon2) -> float:
    from obspy.geodetics import locations2degrees

    return locations2degrees(lat1, lon1, lat2, lon2) * 111.19492664455873


def event_values(ev) -> dict | None:
    """The values an alert carries, from an obspy Event (preferred origin, largest magnitude)."""
    from pipeline.io.common import event_region, preferred_origin

    o = preferred_origin(ev)
    if o is None or o.latitude is None or o.longitude is None:
        return None
    mags = [m for m in ev.magnitudes if m.mag is not None]
    best = max(mags, key=lambda m: m.mag) if mags else None
    return {"time": float(o.time.timestamp), "lat": float(o.latitude), "lon": float(o.longitude),
            "depth_km": None if o.depth is None else float(o.depth) / 1000.0,
            "mag": None if best is None else round(float(best.mag), 2),
            "magtype": "" if best is None else (best.magnitude_type or ""),
            "region": event_region(ev)}


def _changed(a: dict, b: dict) -> bool:
    return (abs(a["time"] - b["time"]) >= 0.05 or abs(a["lat"] - b["lat"]) >= 0.005
            or abs(a["lon"] - b["lon"]) >= 0.005
            or abs((a["depth_km"] or 0) - (b["depth_km"] or 0)) >= 0.5
            or (a["mag"] is None) != (b["mag"] is None)
            or (a["mag"] is not None and abs(a["mag"] - b["mag"]) >= 0.05) or a["magtype"] != b["magtype"])


def relevance(cfg, v: dict) -> tuple[bool, dict]:
    """(tsunami-relevant?, facts: at_sea, distance_to_coast_km, reasons)."""
    from pipeline.geo.coast import distance_to_coast_km, is_at_sea

    reasons = []
    if v["mag"] is None or v["mag"] < cfg.min_magnitude:
        reasons.append(f"magnitude {v['mag']} < {cfg.min_magnitude}")
    if v["depth_km"] is not None and v["depth_km"] > cfg.max_depth_km:
        reasons.append(f"depth {v['depth_km']:.0f} km > {cfg.max_depth_km:g} km")
    facts = {"at_sea": None, "distance_to_coast_km": None}
    if reasons:  # cheap tests first: the coast look-ups only for candidates
        return False, {**facts, "reasons": reasons}
    at_sea = is_at_sea(v["lat"], v["lon"], cfg.coast_resolution)
    dist = distance_to_coast_km(v["lat"], v["lon"], cfg.coast_resolution)
    facts = {"at_sea": at_sea, "distance_to_coast_km": round(dist, 1)}
    if cfg.require_at_sea and not at_sea and not (cfg.max_inland_km > 0 and dist <= cfg.max_inland_km):
        reasons.append(f"on land, {dist:.0f} km from the coast")
    return not reasons, {**facts, "reasons": reasons}


def _severity(mag: float | None, relevant: bool) -> str:
    if mag is None:
        return "Unknown"
    if not relevant:
        return "Moderate"
    return "Extreme" if mag >= 7.5 else "Severe"


def _message(cfg, rec: dict, n: int, msg_type: str, sent: str, product: str, version: int) -> CapMessage:
    v = rec["values"]
    ident = f"{rec['key']}-{n}"
    depth = v["depth_km"]
    mag_s = "unknown magnitude" if v["mag"] is None else f"{v['magtype'] or 'M'} {v['mag']:.1f}"
    where = v["region"] or f"{v['lat']:.2f},{v['lon']:.2f}"
    sea = ("at sea" if rec["facts"].get("at_sea") else
           f"on land {rec['facts'].get('distance_to_coast_km')} km from the coast"
           if rec["facts"].get("at_sea") is False else "")
    prefix = {"Update": "UPDATED: ", "Cancel": "CANCELLED: "}.get(msg_type, "")
    headline = f"{prefix}{mag_s} earthquake {sea} – {where}".strip()
    desc = (f"{product} (version {version}) of the {cfg.sender_name}: an earthquake of {mag_s} at "
            f"{UTCDateTime(v['time']).strftime('%Y-%m-%d %H:%M:%S')} UTC, latitude {v['lat']:.3f}, longitude "
            f"{v['lon']:.3f}, depth {'unknown' if depth is None else f'{depth:.0f} km'} ({where}). "
            + ("The reviewed bulletin does not contain this event: the earlier alert is withdrawn. "
               if msg_type == "Cancel" else
               "It meets the tsunami-relevance criteria (magnitude, depth, at sea). " if rec["relevant"] else
               "After revision it no longer meets the tsunami-relevance criteria "
               f"({'; '.join(rec['facts'].get('reasons', []))}). ")
            + ("Automatic solution, not reviewed by an analyst." if product.startswith("SEL") else
               "Reviewed solution."))
    base = cfg.base_url.rstrip("/")
    params = [("EventLocationName", where),
              ("EventPreliminaryMagnitude", "" if v["mag"] is None else f"{v['mag']:.1f}"),
              ("EventPreliminaryMagnitudeType", v["magtype"]),
              ("EventOriginTime", cap_time(v["time"])),
              ("EventDepth", "" if depth is None else f"{depth:.0f} kilometers"),
              ("EventLatLon", f"{v['lat']:.3f},{v['lon']:.3f} 0.000"),
              ("Product", f"{product} version {version}")]
    refs = [f"{cfg.sender},{m['identifier']},{m['sent']}" for m in rec["messages"][:n - 1]]
    return CapMessage(
        identifier=ident, sender=cfg.sender, sent=sent, status=cfg.status, msg_type=msg_type,
        source=f"{product} v{version}", incidents=rec["key"], references=refs,
        urgency="Past" if msg_type == "Cancel" else "Immediate",
        severity="Minor" if msg_type == "Cancel" else _severity(v["mag"], rec["relevant"]),
        certainty="Likely" if product.startswith("SEL") else "Observed",
        response_type="AllClear" if msg_type == "Cancel" else "Monitor", event_code=("IDC", rec["key"]),
        effective=sent, onset=cap_time(v["time"]),
        expires=cap_time(v["time"] + cfg.expires_hours * 3600.0) if cfg.expires_hours > 0 else "",
        sender_name=cfg.sender_name, headline=headline[:160], description=desc,
        web=f"{base}/alerts/cap/{ident}.xml" if base else "",
        parameters=params, area_desc=where, circle=f"{v['lat']:.3f},{v['lon']:.3f} {cfg.area_radius_km:.1f}")


def cap_link(identifier: str, base_url: str = "") -> str:
    """Where the CAP message ``identifier`` is served: ``<base_url>/alerts/cap/<id>.xml``, or
    without a base URL ``cap/<id>.xml``, relative to the feed's own URL ``/alerts/feed.geojson``."""
    base = (base_url or "").rstrip("/")
    return f"{base}/alerts/cap/{identifier}.xml" if base else f"cap/{identifier}.xml"


def _feature(rec: dict, base_url: str = "") -> dict:
    v, last = rec["values"], rec["messages"][-1]
    return {"type": "Feature", "id": rec["key"],
            "geometry": {"type": "Point", "coordinates": [round(v["lon"], 4), round(v["lat"], 4)]},
            "properties": {"event_key": rec["key"], "identifier": last["identifier"], "msgType": last["msgType"],
                           "sent": last["sent"], "messages": len(rec["messages"]),
                           "product": last["product"], "version": last["version"],
                           "time": UTCDateTime(v["time"]).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                           "depth_km": None if v["depth_km"] is None else round(v["depth_km"], 1),
                           "mag": v["mag"], "magtype": v["magtype"], "region": v["region"],
                           "at_sea": rec["facts"].get("at_sea"),
                           "distance_to_coast_km": rec["facts"].get("distance_to_coast_km"),
                           "tsunami_relevant": rec["relevant"], "cap": cap_link(last["identifier"], base_url)}}


def write_feed(folder: Path, state: dict, base_url: str = "") -> Path:
    recs = sorted(state["events"].values(), key=lambda r: r["values"]["time"], reverse=True)
    fc = {"type": "FeatureCollection",
          "metadata": {"title": "idc-pipeline tsunami-relevant events", "count": len(recs)},
          "features": [_feature(r, base_url) for r in recs]}
    path = folder / "feed.geojson"
    write_atomic(path, (json.dumps(fc, indent=1) + "\n").encode())
    return path


def alerts_for_catalog(settings, catalog, product: str, version: int, window: tuple[float, float],
                       now: datetime | None = None) -> dict:
    """Alerts for the events of ``catalog`` (one product version); see the module docstring."""
    cfg = settings.alerts
    t0 = time.perf_counter()
    now = now or datetime.now(timezone.utc)
    folder = alerts_dir(settings)
    summary = {"product": product, "version": version, "events": len(catalog), "alerts": [], "updates": [],
               "cancels": [], "unchanged": 0, "skipped": {}}
    if product not in cfg.products:
        summary["skipped"]["product"] = f"{product} is not in [alerts] products"
        return summary
    with _locked(folder):
        state = _load_state(folder)
        events = state["events"]
        src = f"{product}:{window[0]:.0f}:{window[1]:.0f}:v{version}"
        written = []
        matched: set[str] = set()
        for ev in catalog:
            v = event_values(ev)
            if v is None:
                continue
            rec = None
            for r in events.values():  # the alerted event this one revises (closest in time)
                rv = r["values"]
                if (abs(rv["time"] - v["time"]) <= cfg.match_time_s
                        and _distance_km(rv["lat"], rv["lon"], v["lat"], v["lon"]) <= cfg.match_distance_km):
                    if rec is None or abs(rv["time"] - v["time"]) < abs(rec["values"]["time"] - v["time"]):
                        rec = r
            if rec is not None:
                matched.add(rec["key"])
                same = next((i for i, m_ in enumerate(rec["messages"]) if m_["source"] == src), None)
                if same is not None:  # a re-run of a version that already sent a message: rewrite it as it was
                    written.append(_rewrite(settings, folder, rec, same))
                    summary["unchanged"] += 1
                    continue
                reinstated = rec["messages"][-1]["msgType"] == "Cancel"  # cancelled, now back in a product
                if (not _changed(rec["values"], v) and not reinstated) or \
                        (PRODUCT_RANK.get(product, 0), version) < tuple(rec.get("rank", (0, 0))):
                    summary["unchanged"] += 1  # nothing new, or an older stage arriving late
                    continue
                relevant, facts = relevance(cfg, v)
                rec.update(values=v, facts=facts, relevant=relevant, rank=[PRODUCT_RANK.get(product, 0), version])
                n = len(rec["messages"]) + 1
                msg_type = "Update"
                summary["updates"].append(f"{rec['key']}-{n}")
            else:
                relevant, facts = relevance(cfg, v)
                if not relevant:
                    summary["skipped"][UTCDateTime(v["time"]).isoformat()] = "; ".join(facts["reasons"])
                    continue
                key = (f"{cfg.sender.split('@')[0]}-{product}-{UTCDateTime(window[0]).strftime('%Y%m%dT%H%M%S')}-"
                       f"{UTCDateTime(v['time']).strftime('%Y%m%dT%H%M%S')}")
                rec = {"key": key, "values": v, "facts": facts, "relevant": True, "messages": [],
                       "rank": [PRODUCT_RANK.get(product, 0), version]}
                events[key] = rec
                matched.add(key)
                n, msg_type = 1, "Alert"
                summary["alerts"].append(f"{key}-1")
            sent = cap_time(now)
            rec["messages"].append({"identifier": f"{rec['key']}-{n}", "sent": sent, "msgType": msg_type,
                                    "product": product, "version": version, "source": src, "values": v,
                                    "facts": rec["facts"], "relevant": rec["relevant"]})
            written.append(_rewrite(settings, folder, rec, n - 1))
        if product in cfg.cancel_on_products:
            for rec in events.values():
                if rec["key"] in matched or not window[0] <= rec["values"]["time"] < window[1]:
                    continue
                last = rec["messages"][-1]
                if last["source"] == src:  # re-run: the Cancel of this version is rewritten as it was
                    written.append(_rewrite(settings, folder, rec, len(rec["messages"]) - 1))
                    continue
                if last["msgType"] == "Cancel" or \
                        (PRODUCT_RANK.get(product, 0), version) < tuple(rec.get("rank", (0, 0))):
                    continue
                n = len(rec["messages"]) + 1
                rec["rank"] = [PRODUCT_RANK.get(product, 0), version]
                rec["messages"].append({"identifier": f"{rec['key']}-{n}", "sent": cap_time(now), "msgType": "Cancel",
                                        "product": product, "version": version, "source": src,
                                        "values": rec["values"], "facts": rec["facts"], "relevant": False})
                summary["cancels"].append(f"{rec['key']}-{n}")
                written.append(_rewrite(settings, folder, rec, n - 1))
        fault_point("distribute.alert_messages")  # CAP files written, state.json not yet
        write_atomic(folder / "state.json", (json.dumps(state, indent=1) + "\n").encode())
        fault_point("distribute.alert_state")  # state.json written, the GeoJSON feed not yet
        summary["feed"] = str(write_feed(folder, state, cfg.base_url))
    summary["files"] = [str(p) for p in written]
    summary["seconds"] = round(time.perf_counter() - t0, 3)
    return summary


def _rewrite(settings, folder: Path, rec: dict, i: int) -> Path:
    m_ = rec["messages"][i]
    rec_i = dict(rec, values=m_["values"], facts=m_.get("facts", rec["facts"]), relevant=m_.get("relevant", rec["relevant"]))
    msg = _message(settings.alerts, rec_i, i + 1, m_["msgType"], m_["sent"], m_["product"], m_["version"])
    path = folder / f"{m_['identifier']}.cap.xml"
    write_atomic(path, to_xml(msg))
    return path


def alerts_for_product(settings, product: str, start, end, version: int | None = None,
                       now: datetime | None = None) -> dict:
    """Alerts for a stored product version (default: the newest) of window [start, end)."""
    from pipeline.store.catalog import load_catalog
    from pipeline.store.db import ensure_schema, session_scope
    from pipeline.store.products import ProductKey, select_version

    start, end = UTCDateTime(start), UTCDateTime(end)
    key = ProductKey(product, float(start.timestamp), float(end.timestamp))
    if product not in settings.alerts.products:  # nothing to load (SEB/SSEB by default)
        return alerts_for_catalog(settings, [], product, version or 0, (key.window_start, key.window_end))
    ensure_schema(settings.database_url)
    with session_scope(settings.database_url) as s:
        prod = select_version(s, key, version, label=f"{product} {start} – {end}",
                              missing=f"no {product} product for {start} – {end}")
        cat = load_catalog(s, prod)
        v, created = prod.version, prod.created
    out = alerts_for_catalog(settings, cat, product, v, (key.window_start, key.window_end), now=now)
    if created is not None:
        c = created if created.tzinfo else created.replace(tzinfo=timezone.utc)
        out["seconds_after_product"] = round((datetime.now(timezone.utc) - c).total_seconds(), 3)
    return out
