"""GSE2.0 bulletin (``DATA_TYPE BULLETIN GSE2.0``, the 1995 REB layout): writer and reader.

Column positions (1-based inclusive) follow obspy's GSE2.0 bulletin reader slices [GSE20
``obspy/io/gse2/bulletin.py``; REFERENCE §3.7] and the real 1995-01-16 REB excerpt
(tests/data/bulletins/reb_1995_gse2.txt): a two-line origin with up to three magnitudes inline, the
region name on its own line, arrival lines with full date and time (0.1 s), pick type/direction/onset
before the phase, amplitude in nm, up to two station magnitudes, and events separated by two blank
lines. Each line type is declared once below.

Reading: obspy's GSE2 reader builds the Catalog; before it every origin and arrival line is parsed
here so a malformed line is reported as ``<file>:<line>: …`` (an arrival line with a blank time is
left out with a :class:`~pipeline.io.columns.SkippedInputWarning` naming ``<file>:<line>``); after it
amplitudes are converted from the file's nanometres to metres
(:func:`pipeline.io.common.normalise_catalog`).

Format limits: one origin per event (the preferred), magnitudes with a type of at most 2 characters
(mb, Ms, ML; at most three), origin and arrival times to 0.1 s, periods to 0.1 s unless more
decimals fit (written adaptively), picks without an arrival are not written.
"""
from __future__ import annotations

import tempfile
import warnings
from pathlib import Path
from typing import TextIO

from obspy import UTCDateTime
from obspy.core.event import Catalog

from pipeline.errors import BAD_VALUE
from pipeline.io.columns import Col, FormatError, SkippedInputWarning, parse, render
from pipeline.io.common import (ETYPE, Ids, arrival_rows, event_region, fmt_time, normalise_catalog,
                                phase_values, preferred_origin, stamag_type)

FMT = "GSE2.0"

ORIGIN1_COLUMNS: list[Col] = [
    Col("time", 1, 21),                     # yyyy/mm/dd hh:mm:ss.s
    Col("time_fixed", 23, 23),
    Col("lat", 26, 33, "f", 4),
    Col("lon", 35, 43, "f", 4),
    Col("epi_fixed", 45, 45),
    Col("depth", 48, 52, "f", 1),           # km
    Col("depth_flag", 54, 54),
    Col("ndef", 57, 60, "i"),
    Col("nsta", 62, 65, "i"),
    Col("gap", 67, 69, "i"),
    Col("magtype1", 72, 73), Col("mag1", 74, 77, "f", 1), Col("magn1", 79, 80, "i"),
    Col("magtype2", 83, 84), Col("mag2", 85, 88, "f", 1), Col("magn2", 90, 91, "i"),
    Col("magtype3", 94, 95), Col("mag3", 96, 99, "f", 1), Col("magn3", 101, 102, "i"),
    Col("author", 105, 112),
    Col("id", 115, 122, right=True),
]
ORIGIN2_COLUMNS: list[Col] = [
    Col("rms", 6, 10, "f", 2),
    Col("pm_ot", 14, 15, "lit", text="+-", when="ot_error"),
    Col("ot_error", 16, 21, "f", 2),
    Col("smajor", 26, 31, "f", 1),          # km
    Col("sminor", 33, 38, "f", 1),
    Col("az", 41, 43, "i"),
    Col("pm_depth", 48, 49, "lit", text="+-", when="depth_error"),
    Col("depth_error", 50, 54, "f", 1),
    Col("mdist", 57, 62, "f", 2),
    Col("Mdist", 64, 69, "f", 2),
    Col("pm_m1", 73, 74, "lit", text="+-", when="magerr1"), Col("magerr1", 75, 77, "f", 1),
    Col("pm_m2", 84, 85, "lit", text="+-", when="magerr2"), Col("magerr2", 86, 88, "f", 1),
    Col("pm_m3", 95, 96, "lit", text="+-", when="magerr3"), Col("magerr3", 97, 99, "f", 1),
    Col("antype", 105, 105),
    Col("loctype", 107, 107),
    Col("evtype", 109, 110),
]
ARRIVAL_COLUMNS: list[Col] = [
    Col("sta", 1, 5),
    Col("dist", 7, 12, "f", 2),
    Col("evaz", 14, 18, "f", 1),
    Col("picktype", 20, 20),                # m / a
    Col("direction", 21, 21),               # c / d
    Col("detchar", 22, 22),                 # I / E / Q
    Col("phase", 24, 30),
    Col("time", 32, 52),                    # yyyy/mm/dd hh:mm:ss.s
    Col("tres", 54, 58, "f", 1),
    Col("azim", 60, 64, "f", 1),
    Col("azres", 66, 71, "f", 1),
    Col("slow", 73, 77, "f", 1),
    Col("sres", 79, 83, "f", 1),
    Col("tdef", 85, 85), Col("adef", 86, 86), Col("sdef", 87, 87),
    Col("snr", 89, 93, "f", 1, adaptive=True),
    Col("amp", 95, 103, "f", 1, adaptive=True),   # nm
    Col("per", 105, 109, "f", 1, adaptive=True),
    Col("magtype1", 111, 112), Col("mag1", 113, 116, "f", 1),
    Col("magtype2", 118, 119), Col("mag2", 120, 123, "f", 1),
    Col("id", 125, 132, right=True),
]
ORIGIN_HEADER = ("   Date       Time       Latitude Longitude    Depth    Ndef Nsta Gap    Mag1  N    Mag2  N    "
                 "Mag3  N  Author          ID\n"
                 "       rms   OT_Error      Smajor Sminor Az        Err   mdist  Mdist     Err        Err        "
                 "Err     Quality")
ARRIVAL_HEADER = ("Sta    Dist   EvAz     Phase       Date      Time     TRes  Azim  AzRes  Slow  SRes Def  SNR        "
                  "Amp   Per   Mag1   Mag2 Arr ID")

_ANTYPE = {"manual": "m", "automatic": "a"}


def write_gse2(catalog: Catalog, fh: TextIO, title: str = "", author: str = "IDC",
               msg_id: str | None = None) -> None:
    """Write ``catalog`` as a GSE2.0 bulletin message (obspy's ``format="GSE2"`` reads it).

    :param msg_id: ``MSG_ID`` line content (obspy requires ``id [source]``, word characters only);
        None (default) = a new id unique per message (:func:`pipeline.io.ims1.new_msg_id`, as
        GSE2.0/IMS1.0 want) with source ``author``
    :raises FormatError: a value does not fit its column
    """
    from pipeline.io.ims1 import new_msg_id

    if msg_id is None:
        msg_id = f"{new_msg_id()} {author or 'IDC'}"
    ev_ids, or_ids, ar_ids = Ids(8, numeric=False), Ids(8), Ids(8)
    fh.write(f"BEGIN GSE2.0\nMSG_TYPE DATA\nMSG_ID {msg_id}\nDATA_TYPE BULLETIN GSE2.0\n")
    fh.write((title or catalog.description or "idc-pipeline bulletin").strip().splitlines()[0][:80] + "\n")
    for ev in catalog:
        o = preferred_origin(ev)
        if o is None or o.time is None or o.latitude is None or o.longitude is None:
            continue
        q, ou = o.quality, o.origin_uncertainty
        km = (lambda v: None if v is None else v / 1000.0)
        mags = [m for m in ev.magnitudes if m.mag is not None and m.magnitude_type
                and len(m.magnitude_type) <= 2 and (m.origin_id is None or m.origin_id == o.resource_id)][:3]
        v1 = {"time": fmt_time(o.time, 1), "time_fixed": "f" if o.time_fixed else "",
              "lat": o.latitude, "lon": o.longitude, "epi_fixed": "f" if o.epicenter_fixed else "",
              "depth": km(o.depth),
              "depth_flag": {"operator assigned": "f", "constrained by depth phases": "d"}.get(o.depth_type or "", ""),
              "ndef": q.used_phase_count if q else None, "nsta": q.used_station_count if q else None,
              "gap": q.azimuthal_gap if q else None,
              "author": (o.creation_info.author or o.creation_info.agency_id) if o.creation_info else author,
              "id": or_ids.get(o.resource_id)}
        v2 = {"rms": q.standard_error if q else None,
              "ot_error": o.time_errors.uncertainty if o.time_errors else None,
              "smajor": km(ou.max_horizontal_uncertainty) if ou else None,
              "sminor": km(ou.min_horizontal_uncertainty) if ou else None,
              "az": ou.azimuth_max_horizontal_uncertainty if ou else None,
              "depth_error": km(o.depth_errors.uncertainty) if o.depth_errors else None,
              "mdist": q.minimum_distance if q else None, "Mdist": q.maximum_distance if q else None,
              "antype": _ANTYPE.get(o.evaluation_mode or "", ""),
              "loctype": "i", "evtype": ETYPE.get((ev.event_type, ev.event_type_certainty or "known"), "uk")}
        if o.method_id is not None:
            tail = str(o.method_id).rstrip("/").split("/")[-1]
            v2["loctype"] = {"inversion": "i", "pattern recognition": "p", "ground truth": "g",
                             "other": "o"}.get(tail, "i")
        if any(c.text == "GSE2.0:antype=g" for c in o.comments) or (
                o.evaluation_mode == "manual" and o.evaluation_status == "preliminary"):
            v2["antype"] = "g"
        for i, m in enumerate(mags, 1):
            v1[f"magtype{i}"], v1[f"mag{i}"], v1[f"magn{i}"] = m.magnitude_type, m.mag, m.station_count
            v2[f"magerr{i}"] = m.mag_errors.uncertainty if m.mag_errors else None
        v1["author"] = v1["author"] or author
        fh.write(f"EVENT {ev_ids.get(ev.resource_id)}\n{ORIGIN_HEADER}\n\n")
        fh.write(render(ORIGIN1_COLUMNS, v1, FMT) + "\n")
        fh.write(render(ORIGIN2_COLUMNS, v2, FMT) + "\n\n")
        fh.write((event_region(ev) or "-") + "\n")
        fh.write(ARRIVAL_HEADER + "\n")
        rows = []
        for r in arrival_rows(ev, o):
            p = r.pick
            sms = [s for s in r.stamags if stamag_type(s) and len(stamag_type(s)) <= 2 and s.mag is not None][:2]
            vals = {**phase_values(r, ""), "time": fmt_time(p.time, 1),
                    "direction": {"positive": "c", "negative": "d"}.get(p.polarity or "", ""),
                    "detchar": {"impulsive": "I", "emergent": "E", "questionable": "Q"}.get(p.onset or "", ""),
                    "id": ar_ids.get(p.resource_id)}
            for i, s in enumerate(sms, 1):
                vals[f"magtype{i}"], vals[f"mag{i}"] = stamag_type(s), s.mag
            rows.append((vals["dist"] if vals["dist"] is not None else 1e9, p.time, vals["sta"], vals))
        for *_, vals in sorted(rows, key=lambda r: r[:3]):
            fh.write(render(ARRIVAL_COLUMNS, vals, FMT) + "\n")
        fh.write("\n\n")
    fh.write("STOP\n")


def _check(path: str, text: str) -> tuple[int, str | None, list[tuple[int, str]]]:
    """Parse the origin and arrival lines of every event; returns (number of events, title line,
    arrival lines without a time: (line number, message))."""
    lines = text.splitlines()
    if not lines or not lines[0].startswith("BEGIN GSE2.0"):
        raise FormatError(f"{path}:1: not a GSE2.0 message (first line must be 'BEGIN GSE2.0')")
    n_events = 0
    i = 0
    title = None
    untimed: list[tuple[int, str]] = []
    for k, line in enumerate(lines[:-1]):
        if line.startswith("DATA_TYPE BULLETIN") and not lines[k + 1].startswith("EVENT"):
            title = lines[k + 1].strip() or None
            break

    def next_nonblank(j):
        while j < len(lines) and not lines[j].strip():
            j += 1
        if j >= len(lines):
            raise FormatError(f"{path}:{j}: unexpected end of file inside an event")
        return j

    def when(j, v, name, fmt):
        try:
            return UTCDateTime(v.replace("/", "-"))
        except BAD_VALUE:
            raise FormatError(f"{path}:{j + 1}: {name} {v!r} is not {fmt}") from None

    while i < len(lines):
        line = lines[i]
        if line.startswith("EVENT"):
            n_events += 1
            j = next_nonblank(i + 3)
            v = parse(ORIGIN1_COLUMNS, lines[j], f"{path}:{j + 1}")
            when(j, v["time"] or "", "origin time (columns 1-21)", "yyyy/mm/dd hh:mm:ss.s")
            if v["lat"] is None or v["lon"] is None:
                raise FormatError(f"{path}:{j + 1}: origin latitude/longitude (columns 26-43) missing")
            j = next_nonblank(j + 1)
            parse(ORIGIN2_COLUMNS, lines[j], f"{path}:{j + 1}")
            j = next_nonblank(j + 1) + 2  # region, arrival header
            blank = 0
            while j < len(lines) and blank < 2 and not lines[j].startswith("STOP"):
                if not lines[j].strip():
                    blank += 1
                else:
                    blank = 0
                    v = parse(ARRIVAL_COLUMNS, lines[j], f"{path}:{j + 1}")
                    if v["time"]:
                        when(j, v["time"], "arrival time (columns 32-52)", "yyyy/mm/dd hh:mm:ss.s")
                    else:
                        untimed.append((j + 1, f"{path}:{j + 1}: arrival line skipped: arrival time (columns 32-52) "
                                               f"is blank ({v['sta'] or '?'} {v['phase'] or '?'}"
                                               + (f", arrival id {v['id']})" if v["id"] else ")")))
                j += 1
            i = j
            continue
        i += 1
    return n_events, title, untimed


def read_gse2(source, **kwargs) -> Catalog:
    """Read a GSE2.0 bulletin (path) into a Catalog with amplitudes in metres.

    :raises FormatError: malformed line, message ``<file>:<line>: …``
    """
    path = str(source.name if hasattr(source, "read") else source)
    text = Path(path).read_text(encoding="latin-1")
    n, title, untimed = _check(path, text)
    if n == 0:
        return Catalog(description=title)
    from obspy.io.gse2.bulletin import _read_gse2

    with tempfile.TemporaryDirectory(prefix="idc-gse2-") as tmp:
        source = path
        if untimed:  # a pick needs a time: leave the line out (obspy reads files by name), and say so
            drop = {n for n, _ in untimed}
            source = str(Path(tmp) / Path(path).name)
            Path(source).write_text("".join(ln for n, ln in enumerate(text.splitlines(keepends=True), 1)
                                            if n not in drop), encoding="latin-1")
            for _, msg in untimed:
                warnings.warn(msg, SkippedInputWarning, stacklevel=2)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                cat = _read_gse2(source, **kwargs)
            except Exception as exc:  # obspy's reader raises many types on bad input: re-raised naming the file
                raise FormatError(f"{path}: obspy's GSE2.0 reader failed: {type(exc).__name__}: {exc}") from exc
    if title:
        cat.description = title
    return normalise_catalog(cat, amplitudes_in_nm=True)


def write_path(catalog: Catalog, path, **kwargs) -> None:
    with open(path, "w", encoding="ascii", errors="replace", newline="\n") as fh:
        write_gse2(catalog, fh, **kwargs)
