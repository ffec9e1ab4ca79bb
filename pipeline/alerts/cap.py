"""CAP 1.2 (Common Alerting Protocol) messages for tsunami-relevant events.

Structure from REFERENCE.md §9 [CAP-IPAWS, CAP-G, CAP-TSU]: namespace
``urn:oasis:names:tc:emergency:cap:1.2``; ``<alert>`` children in schema order identifier, sender,
sent, status, msgType, source, scope, restriction, addresses, code, note, references, incidents,
info; ``<info>`` children language, category, event, responseType, urgency, severity, certainty,
audience, eventCode, effective, onset, expires, senderName, headline, description, instruction,
web, contact, parameter, resource, area; ``<area>`` areaDesc, polygon, circle, geocode, altitude,
ceiling. ``sent`` and other times as ``2003-04-02T14:39:01-05:00`` (offset, never ``Z``).
Earthquake parameters named as in NOAA's CAP-TSU profile: EventLocationName,
EventPreliminaryMagnitude, EventPreliminaryMagnitudeType, EventOriginTime, EventDepth
("39 kilometers"), EventLatLon ("lat,lon 0.000"). The normative CAP 1.2 XSD text is not in
REFERENCE.md (§11 item 8); :func:`check_cap` checks the required elements, their order and the
enumerations listed there.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from xml.etree import ElementTree as ET

NS = "urn:oasis:names:tc:emergency:cap:1.2"
ALERT_ORDER = ("identifier", "sender", "sent", "status", "msgType", "source", "scope", "restriction",
               "addresses", "code", "note", "references", "incidents", "info")
ALERT_REQUIRED = ("identifier", "sender", "sent", "status", "msgType", "scope")
INFO_ORDER = ("language", "category", "event", "responseType", "urgency", "severity", "certainty", "audience",
              "eventCode", "effective", "onset", "expires", "senderName", "headline", "description",
              "instruction", "web", "contact", "parameter", "resource", "area")
INFO_REQUIRED = ("category", "event", "urgency", "severity", "certainty")
AREA_ORDER = ("areaDesc", "polygon", "circle", "geocode", "altitude", "ceiling")
ENUMS = {
    "status": ("Actual", "Exercise", "System", "Test", "Draft"),
    "msgType": ("Alert", "Update", "Cancel", "Ack", "Error"),
    "scope": ("Public", "Restricted", "Private"),
    "category": ("Geo", "Met", "Safety", "Security", "Rescue", "Fire", "Health", "Env", "Transport", "Infra",
                 "CBRNE", "Other"),
    "responseType": ("Shelter", "Evacuate", "Prepare", "Execute", "Avoid", "Monitor", "Assess", "AllClear", "None"),
    "urgency": ("Immediate", "Expected", "Future", "Past", "Unknown"),
    "severity": ("Extreme", "Severe", "Moderate", "Minor", "Unknown"),
    "certainty": ("Observed", "Likely", "Possible", "Unlikely", "Unknown"),
}


def cap_time(t) -> str:
    """CAP date-time ``YYYY-MM-DDThh:mm:ss+00:00`` (UTC with an explicit offset, never ``Z``) of a
    datetime, an obspy UTCDateTime or epoch seconds."""
    if isinstance(t, datetime):
        dt = t if t.tzinfo else t.replace(tzinfo=timezone.utc)
    else:
        from obspy import UTCDateTime

        dt = UTCDateTime(t).datetime.replace(tzinfo=timezone.utc)
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S+00:00")


@dataclass
class CapMessage:
    identifier: str
    sender: str
    sent: str
    status: str
    msg_type: str
    source: str
    incidents: str
    references: list[str] = field(default_factory=list)   # "sender,identifier,sent"
    note: str = ""
    # info
    event: str = "Earthquake (tsunami-relevant)"
    urgency: str = "Immediate"
    severity: str = "Severe"
    certainty: str = "Likely"
    response_type: str = "Monitor"
    event_code: tuple[str, str] = ("IDC", "")
    effective: str = ""
    onset: str = ""
    expires: str = ""
    sender_name: str = ""
    headline: str = ""
    description: str = ""
    web: str = ""
    parameters: list[tuple[str, str]] = field(default_factory=list)
    area_desc: str = ""
    circle: str = ""


def _sub(parent, tag: str, text: str | None = None):
    el = ET.SubElement(parent, f"{{{NS}}}{tag}")
    if text is not None:
        el.text = text
    return el


def to_xml(msg: CapMessage) -> bytes:
    """The CAP 1.2 XML document of ``msg`` (UTF-8, with declaration)."""
    ET.register_namespace("", NS)
    a = ET.Element(f"{{{NS}}}alert")
    for tag, val in (("identifier", msg.identifier), ("sender", msg.sender), ("sent", msg.sent),
                     ("status", msg.status), ("msgType", msg.msg_type), ("source", msg.source),
                     ("scope", "Public")):
        _sub(a, tag, val)
    if msg.note:
        _sub(a, "note", msg.note)
    if msg.references:
        _sub(a, "references", " ".join(msg.references))
    if msg.incidents:
        _sub(a, "incidents", msg.incidents)
    info = _sub(a, "info")
    for tag, val in (("language", "en-US"), ("category", "Geo"), ("event", msg.event),
                     ("responseType", msg.response_type), ("urgency", msg.urgency), ("severity", msg.severity),
                     ("certainty", msg.certainty)):
        _sub(info, tag, val)
    ec = _sub(info, "eventCode")
    _sub(ec, "valueName", msg.event_code[0])
    _sub(ec, "value", msg.event_code[1])
    for tag, val in (("effective", msg.effective), ("onset", msg.onset), ("expires", msg.expires),
                     ("senderName", msg.sender_name), ("headline", msg.headline),
                     ("description", msg.description), ("web", msg.web)):
        if val:
            _sub(info, tag, val)
    for name, value in msg.parameters:
        p = _sub(info, "parameter")
        _sub(p, "valueName", name)
        _sub(p, "value", value)
    area = _sub(info, "area")
    _sub(area, "areaDesc", msg.area_desc or "epicentral area")
    if msg.circle:
        _sub(area, "circle", msg.circle)
    ET.indent(a)
    return ET.tostring(a, encoding="utf-8", xml_declaration=True) + b"\n"


def _local(tag: str) -> str:
    return tag.split("}", 1)[1] if tag.startswith("{") else tag


def _check_children(el, order, required, where: str, problems: list[str]) -> None:
    names = [_local(c.tag) for c in el]
    for c in el:
        if not c.tag.startswith(f"{{{NS}}}"):
            problems.append(f"{where}/{_local(c.tag)}: not in the CAP 1.2 namespace")
    unknown = [n for n in names if n not in order]
    if unknown:
        problems.append(f"{where}: unknown element(s) {', '.join(unknown)}")
    idx = [order.index(n) for n in names if n in order]
    if idx != sorted(idx):
        problems.append(f"{where}: elements out of schema order: {', '.join(names)}")
    for r in required:
        if r not in names:
            problems.append(f"{where}: required element <{r}> missing")
    for c in el:
        n = _local(c.tag)
        if n in ENUMS and (c.text or "") not in ENUMS[n]:
            problems.append(f"{where}/{n}: {c.text!r} is not one of {', '.join(ENUMS[n])}")


def check_cap(xml: bytes | str) -> list[str]:
    """Problems of a CAP 1.2 document against REFERENCE.md §9 (empty list = conforms): root and
    namespace, required elements and their order, enumerations, date-time form, sender, circle."""
    import re

    problems: list[str] = []
    root = ET.fromstring(xml)
    if root.tag != f"{{{NS}}}alert":
        return [f"root element is {root.tag}, expected {{{NS}}}alert"]
    _check_children(root, ALERT_ORDER, ALERT_REQUIRED, "alert", problems)
    dt = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d$")
    for el in root.iter():
        if _local(el.tag) in ("sent", "effective", "onset", "expires") and not dt.match(el.text or ""):
            problems.append(f"{_local(el.tag)}: {el.text!r} is not a CAP date-time (e.g. 2003-04-02T14:39:01-05:00)")
    sender = root.findtext(f"{{{NS}}}sender") or ""
    if re.search(r"[\s,]", sender):
        problems.append("sender: must not contain spaces or commas")
    mt = root.findtext(f"{{{NS}}}msgType")
    refs = root.findtext(f"{{{NS}}}references")
    if mt in ("Update", "Cancel") and not refs:
        problems.append(f"msgType {mt} without <references>")
    for ref in (refs or "").split():
        if len(ref.split(",")) != 3:
            problems.append(f"references: {ref!r} is not sender,identifier,sent")
    for i, info in enumerate(root.findall(f"{{{NS}}}info")):
        _check_children(info, INFO_ORDER, INFO_REQUIRED, f"info[{i}]", problems)
        for j, area in enumerate(info.findall(f"{{{NS}}}area")):
            _check_children(area, AREA_ORDER, ("areaDesc",), f"info[{i}]/area[{j}]", problems)
            for c in area.findall(f"{{{NS}}}circle"):
                if not re.match(r"^-?\d+(\.\d+)?,-?\d+(\.\d+)? \d+(\.\d+)?$", c.text or ""):
                    problems.append(f"circle: {c.text!r} is not 'lat,lon radius_km'")
    return problems
