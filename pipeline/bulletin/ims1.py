"""IMS1.0 (GSE2.1-style) short bulletin writer.

Fixed-column lines are declared once as column tables (1-based inclusive positions, as in the
format documents [GSE21 p.92–97; ISF; obspy ``io/iaspei`` reader comments]) and rendered by one
function; nothing is sliced by hand elsewhere. obspy's ``read_events(format="IMS10BULLETIN")``
reads the output back (tested).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable, TextIO

from obspy import UTCDateTime
from obspy.core.event import Catalog, Event, Origin

#: (name, first column, last column, formatter) — columns 1-based inclusive
Column = tuple[str, int, int, Callable[[object], str]]


def _num(fmt: str) -> Callable[[object], str]:
    return lambda v: "" if v is None else format(v, fmt)


def _txt(v) -> str:
    return "" if v is None else str(v)


ORIGIN_COLUMNS: list[Column] = [
    ("datetime", 1, 22, _txt),          # yyyy/mm/dd hh:mm:ss.ss
    ("time_fixed", 23, 23, _txt),       # f = fixed origin time
    ("time_error", 25, 29, _num("5.2f")),
    ("rms", 31, 35, _num("5.2f")),
    ("latitude", 37, 44, _num("8.4f")),
    ("longitude", 46, 54, _num("9.4f")),
    ("epi_fixed", 55, 55, _txt),
    ("smajor", 56, 60, _num("5.1f")),   # km
    ("sminor", 62, 66, _num("5.1f")),   # km
    ("strike", 68, 70, _num("3.0f")),   # deg
    ("depth", 72, 76, _num("5.1f")),    # km
    ("depth_fixed", 77, 77, _txt),
    ("depth_error", 79, 82, _num("4.1f")),
    ("ndef", 84, 87, _num("4d")),
    ("nsta", 89, 92, _num("4d")),
    ("gap", 94, 96, _num("3.0f")),
    ("mdist", 98, 103, _num("6.2f")),
    ("Mdist", 105, 110, _num("6.2f")),
    ("analysis", 112, 112, _txt),       # a automatic, m manual, g guess
    ("method", 114, 114, _txt),         # i inversion, p pattern, g ground truth, o other
    ("etype", 116, 117, _txt),          # ke known earthquake, se suspected earthquake, ...
    ("author", 119, 127, _txt),
    ("origid", 129, 136, _txt),
]
ORIGIN_HEADER = ("   Date       Time        Err   RMS Latitude Longitude  Smaj  Smin  Az Depth   Err Ndef Nsta "
                 "Gap  mdist  Mdist Qual   Author      OrigID")

MAGNITUDE_COLUMNS: list[Column] = [
    ("magtype", 1, 5, _txt),
    ("minmax", 6, 6, _txt),
    ("mag", 7, 10, _num("4.1f")),
    ("error", 12, 14, _num("3.1f")),
    ("nsta", 16, 19, _num("4d")),
    ("author", 21, 29, _txt),
    ("origid", 31, 38, _txt),
]
MAGNITUDE_HEADER = "Magnitude  Err Nsta Author      OrigID"

PHASE_COLUMNS: list[Column] = [
    ("sta", 1, 5, _txt),
    ("dist", 7, 12, _num("6.2f")),      # deg
    ("evaz", 14, 18, _num("5.1f")),     # event-to-station azimuth, deg
    ("phase", 20, 27, _txt),
    ("time", 29, 40, _txt),             # hh:mm:ss.sss
    ("tres", 42, 46, _num("5.1f")),     # s
    ("azim", 48, 52, _num("5.1f")),     # observed backazimuth, deg
    ("azres", 54, 58, _num("5.1f")),
    ("slow", 60, 65, _num("6.1f")),     # s/deg
    ("sres", 67, 71, _num("5.1f")),
    ("tdef", 74, 74, _txt),             # T or _
    ("adef", 75, 75, _txt),             # A or _
    ("sdef", 76, 76, _txt),             # S or _
    ("snr", 78, 82, _num("5.1f")),
    ("amp", 84, 92, _num("9.1f")),      # nm
    ("per", 94, 98, _num("5.2f")),      # s
    ("picktype", 100, 100, _txt),       # a automatic, m manual
    ("fm", 101, 101, _txt),             # c, d, _
    ("onset", 102, 102, _txt),          # i, e, q, _
    ("magtype", 104, 108, _txt),
    ("minmax", 109, 109, _txt),
    ("mag", 110, 113, _num("4.1f")),
    ("arrid", 115, 122, _txt),
]
PHASE_HEADER = ("Sta     Dist  EvAz Phase        Time      TRes  Azim AzRes   Slow   SRes Def   SNR       Amp   "
                "Per Qual Magnitude    ArrID")


#: (QuakeML event type, certainty) → IMS1.0 two-letter event type [GSE21 Table; obspy io/iaspei]
_ETYPE = {("earthquake", "known"): "ke", ("earthquake", "suspected"): "se",
          ("rock burst", "known"): "kr", ("rock burst", "suspected"): "sr",
          ("induced or triggered event", "known"): "ki", ("induced or triggered event", "suspected"): "si",
          ("mining explosion", "known"): "km", ("mining explosion", "suspected"): "sm",
          ("chemical explosion", "known"): "kh", ("chemical explosion", "suspected"): "sh",
          ("experimental explosion", "known"): "kx", ("experimental explosion", "suspected"): "sx",
          ("nuclear explosion", "known"): "kn", ("nuclear explosion", "suspected"): "sn",
          ("landslide", "known"): "ls"}


class FormatError(ValueError):
    """A value does not fit its fixed-width column."""


def render(columns: list[Column], values: dict, right: Iterable[str] = ()) -> str:
    """Render one fixed-column line; numbers right-aligned, text left-aligned."""
    width = columns[-1][2]
    line = [" "] * width
    for name, first, last, fmt in columns:
        text = fmt(values.get(name))
        n = last - first + 1
        v = values.get(name)
        if len(text) > n and isinstance(v, float):  # drop decimals before giving up
            for d in range(3, -1, -1):
                alt = f"{v:.{d}f}"
                if len(alt) <= n:
                    text = alt
                    break
        if len(text) > n:
            if isinstance(values.get(name), (int, float)):
                raise FormatError(f"IMS1.0 column {name} ({first}-{last}): value {values.get(name)!r} "
                                  f"does not fit {n} characters")
            text = text[:n]
        numeric = fmt is not _txt or name in right
        text = text.rjust(n) if numeric else text.ljust(n)
        line[first - 1:last] = list(text)
    return "".join(line).rstrip()


@dataclass
class _Ids:
    next_id: int = 1

    def take(self) -> str:
        i = self.next_id
        self.next_id += 1
        return str(i)


def _short_id(rid, ids: _Ids) -> str:
    tail = str(rid).rstrip("/").split("/")[-1] if rid is not None else ""
    return tail[-8:] if tail and len(tail) <= 8 and tail.isalnum() else ids.take()


def _origin_values(ev: Event, o: Origin, author: str, origid: str) -> dict:
    q = o.quality
    ou = o.origin_uncertainty
    t = o.time
    analysis = {"automatic": "a", "manual": "m"}.get(o.evaluation_mode or "", "")
    return {
        "datetime": t.strftime("%Y/%m/%d %H:%M:") + f"{t.second + t.microsecond / 1e6:05.2f}",
        "time_error": o.time_errors.uncertainty if o.time_errors else None,
        "rms": q.standard_error if q else None,
        "latitude": o.latitude, "longitude": o.longitude,
        "smajor": ou.max_horizontal_uncertainty / 1000.0 if ou and ou.max_horizontal_uncertainty is not None else None,
        "sminor": ou.min_horizontal_uncertainty / 1000.0 if ou and ou.min_horizontal_uncertainty is not None else None,
        "strike": ou.azimuth_max_horizontal_uncertainty if ou else None,
        "depth": o.depth / 1000.0 if o.depth is not None else None,
        "depth_fixed": "f" if o.depth_type == "operator assigned" else "",
        "depth_error": o.depth_errors.uncertainty / 1000.0 if o.depth_errors and o.depth_errors.uncertainty else None,
        "ndef": q.used_phase_count if q else None, "nsta": q.used_station_count if q else None,
        "gap": q.azimuthal_gap if q else None, "mdist": q.minimum_distance if q else None,
        "Mdist": q.maximum_distance if q else None, "analysis": analysis, "method": "i",
        "etype": _ETYPE.get((ev.event_type, ev.event_type_certainty or "known"), "uk"),
        "author": author, "origid": origid,
    }


def write_ims1(catalog: Catalog, fh: TextIO, title: str = "", author: str = "IDC", msg_id: str = "") -> None:
    """Write ``catalog`` as an IMS1.0:SHORT bulletin message to ``fh``."""
    ids = _Ids()
    fh.write("BEGIN IMS1.0\nMSG_TYPE DATA\n")
    if msg_id:
        fh.write(f"MSG_ID {msg_id}\n")
    fh.write("DATA_TYPE BULLETIN IMS1.0:SHORT\n")
    if title:
        fh.write(f"{title}\n")
    for ev in catalog:
        o = ev.preferred_origin() or (ev.origins[0] if ev.origins else None)
        if o is None:
            continue
        evid = _short_id(ev.resource_id, ids)
        origid = _short_id(o.resource_id, ids)
        region = ev.event_descriptions[0].text if ev.event_descriptions else ""
        fh.write(f"\nEVENT {evid:<8} {region}\n\n")
        fh.write(ORIGIN_HEADER + "\n")
        fh.write(render(ORIGIN_COLUMNS, _origin_values(ev, o, author, origid)) + "\n")
        mags = [m for m in ev.magnitudes if m.origin_id is None or m.origin_id == o.resource_id]
        if mags:
            fh.write("\n" + MAGNITUDE_HEADER + "\n")
            for m in mags:
                fh.write(render(MAGNITUDE_COLUMNS, {
                    "magtype": m.magnitude_type, "mag": m.mag,
                    "error": m.mag_errors.uncertainty if m.mag_errors else None,
                    "nsta": m.station_count, "author": author, "origid": origid}) + "\n")
        picks = {str(p.resource_id): p for p in ev.picks}
        amps = {}
        for a in ev.amplitudes:
            if a.pick_id is not None and (a.type or "A5/2").upper() in ("A5/2", "AMB", "A"):
                amps.setdefault(str(a.pick_id), a)
        stamag_by_amp = {str(sm.amplitude_id): sm for sm in ev.station_magnitudes if sm.amplitude_id}
        fh.write("\n" + PHASE_HEADER + "\n")
        rows = []
        for arr in o.arrivals:
            p = picks.get(str(arr.pick_id))
            if p is None:
                continue
            a = amps.get(str(p.resource_id))
            sm = stamag_by_amp.get(str(a.resource_id)) if a is not None else None
            tt = p.time
            rows.append((tt, {
                "sta": p.waveform_id.station_code if p.waveform_id else "",
                "dist": arr.distance, "evaz": arr.azimuth, "phase": arr.phase or p.phase_hint,
                "time": tt.strftime("%H:%M:%S.") + f"{tt.microsecond // 1000:03d}",
                "tres": arr.time_residual, "azim": p.backazimuth, "azres": arr.backazimuth_residual,
                "slow": p.horizontal_slowness, "sres": arr.horizontal_slowness_residual,
                "tdef": "T" if (arr.time_weight or 0) > 0 else "_",
                "adef": "A" if (arr.backazimuth_weight or 0) > 0 else "_",
                "sdef": "S" if (arr.horizontal_slowness_weight or 0) > 0 else "_",
                "snr": a.snr if a is not None else None,
                "amp": a.generic_amplitude * 1e9 if a is not None and a.generic_amplitude is not None else None,
                "per": a.period if a is not None else None,
                "picktype": "a" if (p.evaluation_mode or "automatic") == "automatic" else "m",
                "fm": {"positive": "c", "negative": "d"}.get(p.polarity or "", "_"),
                "onset": {"impulsive": "i", "emergent": "e", "questionable": "q"}.get(p.onset or "", "_"),
                # obspy's IMS1.0 reader stores the type as ``magnitude_type``
                "magtype": (sm.station_magnitude_type or sm.get("magnitude_type")) if sm is not None else None,
                "mag": sm.mag if sm is not None else None,
                "arrid": _short_id(p.resource_id, ids),
            }))
        for _, vals in sorted(rows, key=lambda r: (r[1]["dist"] if r[1]["dist"] is not None else 1e9, r[0])):
            fh.write(render(PHASE_COLUMNS, vals) + "\n")
    fh.write("\nSTOP\n")


def ims1_time(t: UTCDateTime) -> str:
    return t.strftime("%Y/%m/%d %H:%M:%S.%f")[:-4]
