"""CSV (one row per origin + an arrivals CSV) and GeoJSON (FeatureCollection of Points): writers and
readers.

CSV: ``<path>`` holds the origins (:data:`ORIGIN_FIELDS`), ``<stem>.arrivals.csv`` next to it the
arrivals (:data:`ARRIVAL_FIELDS`); reals are written with Python's shortest round-trip repr, times
as ISO 8601 with microseconds, so both files are lossless for the fields they carry. Network
magnitudes of an origin are a JSON list in the ``magnitudes`` cell (``type``, ``mag``, ``error``,
``nsta``), plus the preferred one in ``mag``/``mag_type`` for spreadsheet users.

GeoJSON (RFC 7946): one Point Feature per event at the preferred origin's ``[longitude, latitude]``
(depth is a property, ``depth_km``, not a third coordinate, whose RFC meaning is height); properties
``time``, ``depth_km``, ``magnitudes``, ``mag``, ``mag_type``, ``region``, ``product``,
``product_version``, ``event_type``, ``evaluation_mode`` and the origin quality numbers.
Arrivals are not part of GeoJSON.

Readers raise :class:`~pipeline.io.columns.FormatError` naming file and line (CSV) or feature
index (GeoJSON).
"""
from __future__ import annotations

import csv
import json
import math
from pathlib import Path

from obspy import UTCDateTime
from obspy.core.event import (Amplitude, Arrival, Catalog, CreationInfo, Event, EventDescription, Magnitude,
                              Origin, OriginQuality, OriginUncertainty, Pick, QuantityError, ResourceIdentifier,
                              StationMagnitude, WaveformStreamID)

from pipeline.errors import BAD_VALUE
from pipeline.io.columns import FormatError
from pipeline.io.common import ETYPE, ETYPE_INV, arrival_rows, event_region, preferred_origin, stamag_type
from pipeline.io.quakeml import product_of

ORIGIN_FIELDS = ["event_id", "origin_id", "preferred", "time", "latitude", "longitude", "depth_km", "depth_type",
                 "time_error_s", "depth_error_km", "smajor_km", "sminor_km", "strike_deg", "rms_s", "ndef", "nsta",
                 "gap_deg", "mdist_deg", "Mdist_deg", "evaluation_mode", "evaluation_status", "event_type",
                 "region", "mag", "mag_type", "magnitudes", "author", "product", "product_version"]
ARRIVAL_FIELDS = ["event_id", "origin_id", "arrival_id", "pick_id", "network", "station", "channel", "phase",
                  "time", "distance_deg", "event_azimuth_deg", "time_residual_s", "backazimuth_deg",
                  "backazimuth_residual_deg", "slowness_s_deg", "slowness_residual_s_deg", "time_defining",
                  "azimuth_defining", "slowness_defining", "snr", "amplitude_nm", "period_s", "amplitude_type",
                  "stamag_type", "stamag", "pick_mode", "polarity", "onset"]


def _g(v, scale: float = 1.0):
    """``v * scale`` rounded to 12 significant digits: unit conversions (m → km, m → nm) then read
    back give the same decimal text (3.5000000000000004 nm is 3.5 nm)."""
    return None if v is None else float(f"{v * scale:.12g}")


def _num(v) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return ""
    return repr(float(v)) if isinstance(v, float) else str(v)


def arrivals_path(path) -> Path:
    p = Path(path)
    return p.with_name(p.stem + ".arrivals.csv")


def _mags(ev: Event, o: Origin) -> list[dict]:
    return [{"type": m.magnitude_type, "mag": m.mag,
             "error": m.mag_errors.uncertainty if m.mag_errors else None, "nsta": m.station_count}
            for m in ev.magnitudes if m.mag is not None and (m.origin_id is None or m.origin_id == o.resource_id)]


def _pref_mag(ev: Event, o: Origin):
    m = ev.preferred_magnitude()
    if m is None or (m.origin_id is not None and m.origin_id != o.resource_id):
        ms = [x for x in ev.magnitudes if x.origin_id is None or x.origin_id == o.resource_id]
        m = ms[0] if ms else None
    return m


def _origin_row(ev, o, pref, product, version) -> dict:
    q, ou = o.quality, o.origin_uncertainty
    m = _pref_mag(ev, o)
    return {
        "event_id": str(ev.resource_id), "origin_id": str(o.resource_id), "preferred": int(o is pref),
        "time": str(o.time), "latitude": o.latitude, "longitude": o.longitude,
        "depth_km": _g(o.depth, 1e-3), "depth_type": o.depth_type,
        "time_error_s": o.time_errors.uncertainty if o.time_errors else None,
        "depth_error_km": _g(o.depth_errors.uncertainty, 1e-3) if o.depth_errors else None,
        "smajor_km": _g(ou.max_horizontal_uncertainty, 1e-3) if ou else None,
        "sminor_km": _g(ou.min_horizontal_uncertainty, 1e-3) if ou else None,
        "strike_deg": ou.azimuth_max_horizontal_uncertainty if ou else None,
        "rms_s": q.standard_error if q else None, "ndef": q.used_phase_count if q else None,
        "nsta": q.used_station_count if q else None, "gap_deg": q.azimuthal_gap if q else None,
        "mdist_deg": q.minimum_distance if q else None, "Mdist_deg": q.maximum_distance if q else None,
        "evaluation_mode": o.evaluation_mode, "evaluation_status": o.evaluation_status,
        "event_type": ETYPE.get((ev.event_type, ev.event_type_certainty or "known"), "uk"),
        "region": event_region(ev), "mag": m.mag if m else None, "mag_type": m.magnitude_type if m else None,
        "magnitudes": json.dumps(_mags(ev, o)),
        "author": (o.creation_info.author or o.creation_info.agency_id) if o.creation_info else None,
        "product": product, "product_version": version,
    }


def write_csv(catalog: Catalog, path, product: str | None = None, version: int | None = None, **kw) -> list[Path]:
    """Write ``path`` (origins) and ``<stem>.arrivals.csv``; returns both paths."""
    p0, v0 = product_of(catalog)
    product, version = product or p0, version if version is not None else v0
    path = Path(path)
    apath = arrivals_path(path)
    with open(path, "w", newline="", encoding="utf-8") as fo, open(apath, "w", newline="", encoding="utf-8") as fa:
        wo = csv.DictWriter(fo, ORIGIN_FIELDS, lineterminator="\n")
        wa = csv.DictWriter(fa, ARRIVAL_FIELDS, lineterminator="\n")
        wo.writeheader()
        wa.writeheader()
        for ev in catalog:
            pref = preferred_origin(ev)
            for o in ev.origins:
                wo.writerow({k: _num(v) if not isinstance(v, str) else v
                             for k, v in _origin_row(ev, o, pref, product, version).items()})
                for r in arrival_rows(ev, o, unassociated=o is pref):
                    p, a, arr = r.pick, r.amplitude, r.arrival
                    sm = r.stamags[0] if r.stamags else None
                    wid = p.waveform_id or WaveformStreamID()
                    row = {"event_id": str(ev.resource_id), "origin_id": str(o.resource_id) if arr else "",
                           "arrival_id": str(arr.resource_id) if arr else "", "pick_id": str(p.resource_id),
                           "network": wid.network_code or "", "station": wid.station_code or "",
                           "channel": wid.channel_code or "",
                           "phase": (arr.phase if arr else None) or p.phase_hint or "",
                           "time": str(p.time),
                           "distance_deg": arr.distance if arr else None,
                           "event_azimuth_deg": arr.azimuth if arr else None,
                           "time_residual_s": arr.time_residual if arr else None, "backazimuth_deg": p.backazimuth,
                           "backazimuth_residual_deg": arr.backazimuth_residual if arr else None,
                           "slowness_s_deg": p.horizontal_slowness,
                           "slowness_residual_s_deg": arr.horizontal_slowness_residual if arr else None,
                           "time_defining": int((arr.time_weight or 0) > 0) if arr else None,
                           "azimuth_defining": int((arr.backazimuth_weight or 0) > 0) if arr else None,
                           "slowness_defining": int((arr.horizontal_slowness_weight or 0) > 0) if arr else None,
                           "snr": a.snr if a else None,
                           "amplitude_nm": _g(a.generic_amplitude, 1e9) if a else None,
                           "period_s": a.period if a else None, "amplitude_type": (a.type or "") if a else "",
                           "stamag_type": stamag_type(sm) or "" if sm else "", "stamag": sm.mag if sm else None,
                           "pick_mode": p.evaluation_mode or "", "polarity": p.polarity or "", "onset": p.onset or ""}
                    wa.writerow({k: _num(v) if not isinstance(v, str) else v for k, v in row.items()})
    return [path, apath]


def _f(row, k, where):
    v = row.get(k)
    if v is None or v == "":
        return None
    try:
        return float(v)
    except ValueError:
        raise FormatError(f"{where}: column {k}: {v!r} is not a number") from None


def _i(row, k, where):
    v = _f(row, k, where)
    return None if v is None else int(v)


def _t(row, k, where):
    try:
        return UTCDateTime(row[k])
    except (*BAD_VALUE, KeyError):
        raise FormatError(f"{where}: column {k}: {row.get(k)!r} is not an ISO 8601 time") from None


def _rows(path: Path, fields: list[str]):
    with open(path, newline="", encoding="utf-8") as fh:
        r = csv.DictReader(fh)
        missing = [f for f in ("event_id", "time") if f not in (r.fieldnames or [])]
        if missing:
            raise FormatError(f"{path}:1: header lacks column(s) {', '.join(missing)}")
        for row in r:
            if None in row or any(v is None for v in row.values()):
                raise FormatError(f"{path}:{r.line_num}: expected {len(r.fieldnames)} fields")
            yield f"{path}:{r.line_num}", row


def read_csv(path, **kw) -> Catalog:
    """Read the origins CSV (and ``<stem>.arrivals.csv`` when present)."""
    path = Path(path)
    cat = Catalog()
    events: dict[str, Event] = {}
    origins: dict[str, Origin] = {}
    for where, r in _rows(path, ORIGIN_FIELDS):
        ev = events.get(r["event_id"])
        if ev is None:
            ev = events[r["event_id"]] = Event(resource_id=ResourceIdentifier(r["event_id"]))
            if r.get("event_type") in ETYPE_INV:
                ev.event_type, ev.event_type_certainty = ETYPE_INV[r["event_type"]]
            if r.get("region"):
                ev.event_descriptions.append(EventDescription(text=r["region"], type="region name"))
            cat.append(ev)
            if r.get("product"):
                cat.extra = {"productType": {"value": r["product"], "namespace": _ns()},
                             **({"productVersion": {"value": r["product_version"], "namespace": _ns()}}
                                if r.get("product_version") else {})}
        o = Origin(resource_id=ResourceIdentifier(r["origin_id"]), time=_t(r, "time", where),
                   latitude=_f(r, "latitude", where), longitude=_f(r, "longitude", where),
                   depth=_g(_f(r, "depth_km", where), 1e3),
                   depth_type=r.get("depth_type") or None, evaluation_mode=r.get("evaluation_mode") or None,
                   evaluation_status=r.get("evaluation_status") or None,
                   creation_info=CreationInfo(author=r["author"]) if r.get("author") else None)
        if _f(r, "time_error_s", where) is not None:
            o.time_errors = QuantityError(uncertainty=_f(r, "time_error_s", where))
        if _f(r, "depth_error_km", where) is not None:
            o.depth_errors = QuantityError(uncertainty=_g(_f(r, "depth_error_km", where), 1e3))
        if _f(r, "smajor_km", where) is not None:
            o.origin_uncertainty = OriginUncertainty(
                max_horizontal_uncertainty=_g(_f(r, "smajor_km", where), 1e3),
                min_horizontal_uncertainty=_g(_f(r, "sminor_km", where), 1e3),
                azimuth_max_horizontal_uncertainty=_f(r, "strike_deg", where),
                preferred_description="uncertainty ellipse")
        o.quality = OriginQuality(standard_error=_f(r, "rms_s", where), used_phase_count=_i(r, "ndef", where),
                                  used_station_count=_i(r, "nsta", where), azimuthal_gap=_f(r, "gap_deg", where),
                                  minimum_distance=_f(r, "mdist_deg", where),
                                  maximum_distance=_f(r, "Mdist_deg", where))
        ev.origins.append(o)
        origins[r["origin_id"]] = o
        if r.get("preferred") == "1":
            ev.preferred_origin_id = o.resource_id
        try:
            mags = json.loads(r.get("magnitudes") or "[]")
        except json.JSONDecodeError as exc:
            raise FormatError(f"{where}: column magnitudes: not a JSON list ({exc})") from None
        for k, m in enumerate(mags):
            mag = Magnitude(resource_id=ResourceIdentifier(f"{r['origin_id']}/magnitude/{k}"), mag=m.get("mag"),
                            magnitude_type=m.get("type"), station_count=m.get("nsta"), origin_id=o.resource_id)
            if m.get("error") is not None:
                mag.mag_errors = QuantityError(uncertainty=m["error"])
            ev.magnitudes.append(mag)
            if r.get("preferred") == "1" and m.get("type") == r.get("mag_type") and ev.preferred_magnitude_id is None:
                ev.preferred_magnitude_id = mag.resource_id
    apath = arrivals_path(path)
    if apath.is_file():
        for where, r in _rows(apath, ARRIVAL_FIELDS):
            ev = events.get(r["event_id"])
            if ev is None:
                raise FormatError(f"{where}: event_id {r['event_id']!r} is not in {path.name}")
            pid = r["pick_id"]
            p = next((x for x in ev.picks if str(x.resource_id) == pid), None)
            wid = WaveformStreamID(network_code=r["network"] or None, station_code=r["station"],
                                   channel_code=r["channel"] or None)
            if p is None:
                p = Pick(resource_id=ResourceIdentifier(pid), time=_t(r, "time", where), waveform_id=wid,
                         phase_hint=r["phase"] or None, backazimuth=_f(r, "backazimuth_deg", where),
                         horizontal_slowness=_f(r, "slowness_s_deg", where),
                         evaluation_mode=r.get("pick_mode") or None, polarity=r.get("polarity") or None,
                         onset=r.get("onset") or None)
                ev.picks.append(p)
                if _f(r, "amplitude_nm", where) is not None:
                    a = Amplitude(resource_id=ResourceIdentifier(pid + "/amplitude"),
                                  generic_amplitude=_g(_f(r, "amplitude_nm", where), 1e-9), unit="m",
                                  type=r.get("amplitude_type") or "A5/2", period=_f(r, "period_s", where),
                                  snr=_f(r, "snr", where), pick_id=p.resource_id, waveform_id=wid)
                    ev.amplitudes.append(a)
                    if _f(r, "stamag", where) is not None:
                        ev.station_magnitudes.append(StationMagnitude(
                            resource_id=ResourceIdentifier(pid + "/stamag"), mag=_f(r, "stamag", where),
                            station_magnitude_type=r.get("stamag_type") or None, amplitude_id=a.resource_id,
                            origin_id=ResourceIdentifier(r["origin_id"]) if r["origin_id"] else None,
                            waveform_id=wid))
            if r["origin_id"]:
                o = origins.get(r["origin_id"])
                if o is None:
                    raise FormatError(f"{where}: origin_id {r['origin_id']!r} is not in {path.name}")
                d = lambda k: 1.0 if _i(r, k, where) else 0.0  # noqa: E731
                o.arrivals.append(Arrival(
                    resource_id=ResourceIdentifier(r["arrival_id"]), pick_id=p.resource_id, phase=r["phase"] or None,
                    distance=_f(r, "distance_deg", where), azimuth=_f(r, "event_azimuth_deg", where),
                    time_residual=_f(r, "time_residual_s", where),
                    backazimuth_residual=_f(r, "backazimuth_residual_deg", where),
                    horizontal_slowness_residual=_f(r, "slowness_residual_s_deg", where),
                    time_weight=d("time_defining"), backazimuth_weight=d("azimuth_defining"),
                    horizontal_slowness_weight=d("slowness_defining")))
    return cat


def _ns():
    from pipeline.io.common import NAMESPACE

    return NAMESPACE


# --------------------------------------------------------------------------- GeoJSON


def to_geojson(catalog: Catalog, product: str | None = None, version: int | None = None) -> dict:
    p0, v0 = product_of(catalog)
    product, version = product or p0, version if version is not None else v0
    feats = []
    for ev in catalog:
        o = preferred_origin(ev)
        if o is None or o.latitude is None or o.longitude is None:
            continue
        r = _origin_row(ev, o, o, product, version)
        props = {k: r[k] for k in ("time", "depth_km", "region", "mag", "mag_type", "product", "product_version",
                                   "event_type", "evaluation_mode", "evaluation_status", "depth_type",
                                   "time_error_s", "depth_error_km", "smajor_km", "sminor_km", "strike_deg",
                                   "rms_s", "ndef", "nsta", "gap_deg", "mdist_deg", "Mdist_deg", "author")}
        props["magnitudes"] = _mags(ev, o)
        props["origin_id"] = str(o.resource_id)
        feats.append({"type": "Feature", "id": str(ev.resource_id),
                      "geometry": {"type": "Point", "coordinates": [o.longitude, o.latitude]},
                      "properties": props})
    return {"type": "FeatureCollection", "features": feats}


def write_geojson(catalog: Catalog, path, product: str | None = None, version: int | None = None, **kw) -> None:
    Path(path).write_text(json.dumps(to_geojson(catalog, product, version), indent=1) + "\n", encoding="utf-8")


def read_geojson(path, **kw) -> Catalog:
    """Read our GeoJSON back (origins and magnitudes; GeoJSON carries no arrivals)."""
    path = Path(path)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise FormatError(f"{path}:{exc.lineno}: not JSON ({exc.msg})") from None
    if not isinstance(doc, dict) or doc.get("type") != "FeatureCollection":
        raise FormatError(f"{path}: not a GeoJSON FeatureCollection")
    cat = Catalog()
    for k, f in enumerate(doc.get("features", [])):
        where = f"{path}: feature {k}"
        try:
            lon, lat = f["geometry"]["coordinates"][:2]
            pr = f["properties"]
            t = UTCDateTime(pr["time"])
        except (*BAD_VALUE, KeyError, IndexError) as exc:
            raise FormatError(f"{where}: needs a Point geometry and a 'time' property "
                              f"({type(exc).__name__}: {exc})") from None
        ev = Event(resource_id=ResourceIdentifier(f.get("id")) if f.get("id") else ResourceIdentifier())
        if pr.get("event_type") in ETYPE_INV:
            ev.event_type, ev.event_type_certainty = ETYPE_INV[pr["event_type"]]
        if pr.get("region"):
            ev.event_descriptions.append(EventDescription(text=pr["region"], type="region name"))
        o = Origin(resource_id=ResourceIdentifier(pr["origin_id"]) if pr.get("origin_id") else ResourceIdentifier(),
                   time=t, latitude=float(lat), longitude=float(lon),
                   depth=_g(pr.get("depth_km"), 1e3),
                   depth_type=pr.get("depth_type"), evaluation_mode=pr.get("evaluation_mode"),
                   evaluation_status=pr.get("evaluation_status"),
                   creation_info=CreationInfo(author=pr["author"]) if pr.get("author") else None)
        if pr.get("time_error_s") is not None:
            o.time_errors = QuantityError(uncertainty=pr["time_error_s"])
        if pr.get("depth_error_km") is not None:
            o.depth_errors = QuantityError(uncertainty=_g(pr["depth_error_km"], 1e3))
        if pr.get("smajor_km") is not None:
            o.origin_uncertainty = OriginUncertainty(
                max_horizontal_uncertainty=_g(pr["smajor_km"], 1e3),
                min_horizontal_uncertainty=_g(pr.get("sminor_km"), 1e3),
                azimuth_max_horizontal_uncertainty=pr.get("strike_deg"), preferred_description="uncertainty ellipse")
        o.quality = OriginQuality(standard_error=pr.get("rms_s"), used_phase_count=pr.get("ndef"),
                                  used_station_count=pr.get("nsta"), azimuthal_gap=pr.get("gap_deg"),
                                  minimum_distance=pr.get("mdist_deg"), maximum_distance=pr.get("Mdist_deg"))
        ev.origins.append(o)
        ev.preferred_origin_id = o.resource_id
        for j, m in enumerate(pr.get("magnitudes") or []):
            mag = Magnitude(resource_id=ResourceIdentifier(f"{o.resource_id}/magnitude/{j}"), mag=m.get("mag"),
                            magnitude_type=m.get("type"), station_count=m.get("nsta"), origin_id=o.resource_id)
            if m.get("error") is not None:
                mag.mag_errors = QuantityError(uncertainty=m["error"])
            ev.magnitudes.append(mag)
            if m.get("type") == pr.get("mag_type") and ev.preferred_magnitude_id is None:
                ev.preferred_magnitude_id = mag.resource_id
        if pr.get("product"):
            cat.extra = {"productType": {"value": pr["product"], "namespace": _ns()},
                         **({"productVersion": {"value": str(pr["product_version"]), "namespace": _ns()}}
                            if pr.get("product_version") is not None else {})}
        cat.append(ev)
    return cat
