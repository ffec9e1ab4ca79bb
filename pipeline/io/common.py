"""Helpers shared by the bulletin writers and readers: short ids, Flinn–Engdahl region, event-type
codes, the arrival → pick/amplitude/station-magnitude join, amplitude normalisation."""
from __future__ import annotations

from dataclasses import dataclass, field

from obspy import UTCDateTime
from obspy.core.event import Amplitude, Catalog, Event, Origin, Pick, StationMagnitude

#: namespace of IDC-only attributes in obspy ``extra`` dicts (QuakeML ``##other`` elements)
NAMESPACE = "https://idc-pipeline.example/xmlns/1.0"

#: (QuakeML event type, certainty) → IMS1.0/GSE2.0 two-letter event type [GSE21 p.91; OBSPY-ISF]
ETYPE = {("earthquake", "known"): "ke", ("earthquake", "suspected"): "se",
         ("rock burst", "known"): "kr", ("rock burst", "suspected"): "sr",
         ("induced or triggered event", "known"): "ki", ("induced or triggered event", "suspected"): "si",
         ("mining explosion", "known"): "km", ("mining explosion", "suspected"): "sm",
         ("chemical explosion", "known"): "kh", ("chemical explosion", "suspected"): "sh",
         ("experimental explosion", "known"): "kx", ("experimental explosion", "suspected"): "sx",
         ("nuclear explosion", "known"): "kn", ("nuclear explosion", "suspected"): "sn",
         ("landslide", "known"): "ls"}
ETYPE_INV = {v: k for k, v in ETYPE.items()}

#: amplitude types shown in the one amplitude column of IMS1.0/GSE2.0/CSS3.0 arrival lines, in order
#: of preference (body-wave first: the IDC mb amplitude is A5/2 [REFERENCE §1.1])
BODY_AMP_TYPES = ("A5/2", "AMB", "A", "")


def body_amp_rank(a: Amplitude) -> int:
    """Position of ``a``'s type in :data:`BODY_AMP_TYPES` (lower = preferred as the body-wave
    amplitude); ``len(BODY_AMP_TYPES)`` for any other type (e.g. ``AML``, ``AMs``)."""
    t = (a.type or "").upper()
    return BODY_AMP_TYPES.index(t) if t in BODY_AMP_TYPES else len(BODY_AMP_TYPES)

_FE = None


def region_name(lat: float | None, lon: float | None) -> str:
    """Flinn–Engdahl region name (obspy's table), upper case as in IDC bulletins."""
    global _FE
    if lat is None or lon is None:
        return ""
    if _FE is None:
        from obspy.geodetics import FlinnEngdahl

        _FE = FlinnEngdahl()
    try:
        return _FE.get_region(lon, lat).upper()
    except (TypeError, ValueError):  # no position (None, NaN, out of range): no region name
        return ""


def event_region(ev: Event) -> str:
    """The event's region description, else the Flinn–Engdahl region of its preferred origin."""
    for d in ev.event_descriptions:
        if d.text and (d.type in (None, "region name", "Flinn-Engdahl region")):
            return d.text.strip()
    o = preferred_origin(ev)
    return region_name(o.latitude, o.longitude) if o is not None else ""


def preferred_origin(ev: Event) -> Origin | None:
    return ev.preferred_origin() or (ev.origins[0] if ev.origins else None)


def round_time(t: UTCDateTime, decimals: int) -> UTCDateTime:
    """Round to ``decimals`` of a second (so ``ss.ss`` never shows 60.00)."""
    ns = 10 ** (9 - decimals)
    return UTCDateTime(ns=int(round(t.ns / ns)) * ns)


def fmt_time(t: UTCDateTime, decimals: int, date: bool = True) -> str:
    """``yyyy/mm/dd hh:mm:ss.s…`` (or ``hh:mm:ss.s…``) rounded to ``decimals``."""
    t = round_time(t, decimals)
    sec = t.second + t.microsecond / 1e6
    w = 3 + decimals if decimals else 2
    head = t.strftime("%Y/%m/%d %H:%M:" if date else "%H:%M:")
    return head + f"{sec:0{w}.{decimals}f}"


@dataclass
class Ids:
    """Short numeric ids for fixed-width id fields: the resource id's tail when it is a short
    alphanumeric token (so ids read from a bulletin are written back unchanged), else a counter."""

    width: int = 8
    numeric: bool = False
    next_id: int = 1
    seen: dict = field(default_factory=dict)
    used: set = field(default_factory=set)

    def get(self, rid) -> str:
        key = str(rid) if rid is not None else None
        if key is not None and key in self.seen:
            return self.seen[key]
        tail = key.rstrip("/").split("/")[-1] if key else ""
        ok = tail and len(tail) <= self.width and (tail.isdigit() if self.numeric else tail.isalnum())
        if not ok or tail in self.used:
            while str(self.next_id) in self.used:
                self.next_id += 1
            tail = str(self.next_id)
        self.used.add(tail)
        if key is not None:
            self.seen[key] = tail
        return tail


@dataclass
class ArrivalRow:
    """One arrival of an origin joined with its pick, the amplitude shown in the single amplitude
    column and the station magnitude(s) of that pick (first = the one measured on that amplitude)."""

    arrival: object
    pick: Pick
    amplitude: Amplitude | None
    stamags: list[StationMagnitude]


def arrival_rows(ev: Event, o: Origin, unassociated: bool = False) -> list[ArrivalRow]:
    """Join every arrival of ``o`` that has a pick in ``ev`` with amplitude and station magnitudes.

    ``unassociated``: also rows (``arrival=None``) for picks of ``ev`` no origin's arrival refers to,
    so a bulletin keeps them."""
    picks = {str(p.resource_id): p for p in ev.picks}
    by_pick: dict[str, list[Amplitude]] = {}
    for a in ev.amplitudes:
        if a.pick_id is not None and a.generic_amplitude is not None:
            by_pick.setdefault(str(a.pick_id), []).append(a)
    own = [sm for sm in ev.station_magnitudes if sm.origin_id is None or sm.origin_id == o.resource_id]
    if not own and not any(sm.origin_id == o.resource_id for sm in ev.station_magnitudes):
        own = list(ev.station_magnitudes) if len(ev.origins) == 1 else []
    sm_by_amp: dict[str, list[StationMagnitude]] = {}
    for sm in own:
        if sm.amplitude_id is not None:
            sm_by_amp.setdefault(str(sm.amplitude_id), []).append(sm)
    rows = []
    pairs = [(arr, picks.get(str(arr.pick_id))) for arr in o.arrivals]
    if unassociated:
        used = {str(a.pick_id) for org in ev.origins for a in org.arrivals}
        pairs += [(None, p) for p in ev.picks if str(p.resource_id) not in used]
    for arr, p in pairs:
        if p is None or p.time is None:
            continue
        amps = by_pick.get(str(p.resource_id), [])

        def rank(a):
            return (0 if str(a.resource_id) in sm_by_amp else 1, body_amp_rank(a))

        amps = sorted(amps, key=rank)
        amp = amps[0] if amps else None
        sms = []
        for a in amps:
            sms.extend(sm_by_amp.get(str(a.resource_id), []))
        rows.append(ArrivalRow(arr, p, amp, sms))
    return rows


def phase_values(row: ArrivalRow, blank: str) -> dict:
    """The columns the IMS1.0 and GSE2.0 phase lines share, of one :class:`ArrivalRow`: station,
    distance/azimuth, phase, residuals, backazimuth/slowness, defining flags ``T``/``A``/``S``,
    SNR, amplitude (nm), period, pick type ``a``/``m``. ``blank``: what an unset flag or code is
    written as (IMS1.0 ``_``, GSE2.0 nothing). A row without arrival (an unassociated pick) has
    no distance, residual or defining flag."""
    from obspy.core.event import Arrival

    p, a = row.pick, row.amplitude
    arr = row.arrival if row.arrival is not None else Arrival()
    return {
        "sta": p.waveform_id.station_code if p.waveform_id else "",
        "dist": arr.distance, "evaz": arr.azimuth, "phase": arr.phase or p.phase_hint,
        "tres": arr.time_residual, "azim": p.backazimuth, "azres": arr.backazimuth_residual,
        "slow": p.horizontal_slowness, "sres": arr.horizontal_slowness_residual,
        "tdef": "T" if (arr.time_weight or 0) > 0 else blank,
        "adef": "A" if (arr.backazimuth_weight or 0) > 0 else blank,
        "sdef": "S" if (arr.horizontal_slowness_weight or 0) > 0 else blank,
        "snr": a.snr if a is not None else None,
        "amp": a.generic_amplitude * 1e9 if a is not None and a.generic_amplitude is not None else None,
        "per": a.period if a is not None else None,
        "picktype": {"automatic": "a", "manual": "m"}.get(p.evaluation_mode or "", blank),
    }


def stamag_type(sm: StationMagnitude) -> str | None:
    """Station magnitude type; obspy's IMS1.0 reader stores it as ``magnitude_type``."""
    return sm.station_magnitude_type or sm.get("magnitude_type") if sm is not None else None


def normalise_catalog(cat: Catalog, amplitudes_in_nm: bool = False) -> Catalog:
    """One unit convention for every reader: amplitudes ``generic_amplitude`` in metres with
    ``unit="m"`` and ``type="A5/2"`` unless the file said otherwise; station magnitude types in
    ``station_magnitude_type``. ``amplitudes_in_nm``: the reader kept the file's nanometres
    (obspy's GSE2.0 bulletin reader)."""
    for ev in cat:
        for a in ev.amplitudes:
            if amplitudes_in_nm and a.generic_amplitude is not None and a.unit is None:
                a.generic_amplitude *= 1e-9
                a.unit = "m"
            if a.type is None:
                a.type = "A5/2"
            if a.unit is None:
                a.unit = "m"
        for sm in ev.station_magnitudes:
            if not sm.station_magnitude_type and sm.get("magnitude_type"):
                sm.station_magnitude_type = sm.get("magnitude_type")
    return cat
