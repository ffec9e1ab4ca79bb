"""IMS1.0 bulletin, short form (``DATA_TYPE BULLETIN IMS1.0:SHORT``): writer and reader.

Column positions are 1-based inclusive as in the format documents [GSE21 p.91–97 = REFERENCE §3.2–3.4;
OBSPY-ISF ``obspy/io/iaspei/core.py`` column comments]. Each line type is declared once below as a
column table and both written and parsed through :mod:`pipeline.io.columns`.

Writing: every origin of an event (the preferred one tagged ``(#PRIME)`` when there are several),
its magnitudes, and a phase block per origin (``(#OrigID …)``) with distance, event-to-station
azimuth, phase, time, time/azimuth/slowness residuals, observed azimuth and slowness, the
``T``/``A``/``S`` defining flags, SNR, amplitude (nm), period, pick type, polarity, onset, station
magnitude and arrival id. Event lines carry the region (the event's description, else the
Flinn–Engdahl region of the preferred origin). obspy's ``read_events(format="IMS10BULLETIN")`` reads
the output (tested).

Reading: obspy's reader builds the Catalog; before it, every origin, magnitude and phase line is
parsed here so a malformed line is reported as ``<file>:<line>: …`` (a phase line with a blank
arrival time is left out with a :class:`~pipeline.io.columns.SkippedInputWarning` naming
``<file>:<line>``: a pick needs a time); after it, what obspy drops is
restored (the station magnitude type of phase lines) and units are normalised
(:func:`pipeline.io.common.normalise_catalog`).

Format limits (documented, not silent): one amplitude and one station magnitude per phase line
(further ones stay in QuakeML/CSS3.0); amplitude 0 and SNR without an amplitude are not read back by
obspy; slowness residual is read by obspy from columns 67–71 (REFERENCE gives 67–72), so it is
written right-aligned in 67–71.
"""
from __future__ import annotations

import io
import secrets
import unicodedata
import warnings
from datetime import datetime, timezone
from pathlib import Path
from typing import TextIO

from obspy import UTCDateTime
from obspy.core.event import Catalog, Event, Origin, QuantityError, ResourceIdentifier

from pipeline.errors import BAD_VALUE
from pipeline.io.columns import Col, FormatError, SkippedInputWarning, parse, render
from pipeline.io.common import (ETYPE, Ids, arrival_rows, event_region, fmt_time, normalise_catalog,
                                phase_values, preferred_origin, stamag_type)

FMT = "IMS1.0"

ORIGIN_COLUMNS: list[Col] = [
    Col("datetime", 1, 22),                  # yyyy/mm/dd hh:mm:ss.ss
    Col("time_fixed", 23, 23),               # f = fixed origin time
    Col("time_error", 25, 29, "f", 2),
    Col("rms", 31, 35, "f", 2),
    Col("latitude", 37, 44, "f", 4),
    Col("longitude", 46, 54, "f", 4),
    Col("epi_fixed", 55, 55),                # f = fixed epicentre
    Col("smajor", 56, 60, "f", 1),           # km
    Col("sminor", 62, 66, "f", 1),           # km
    Col("strike", 68, 70, "i"),              # deg
    Col("depth", 72, 76, "f", 1),            # km
    Col("depth_flag", 77, 77),               # f fixed, d depth phases
    Col("depth_error", 79, 82, "f", 1),      # km
    Col("ndef", 84, 87, "i"),
    Col("nsta", 89, 92, "i"),
    Col("gap", 94, 96, "i"),
    Col("mdist", 98, 103, "f", 2),
    Col("Mdist", 105, 110, "f", 2),
    Col("analysis", 112, 112),               # a automatic, m manual, g guess
    Col("method", 114, 114),                 # i inversion, p pattern, g ground truth, o other
    Col("etype", 116, 117),                  # ke known earthquake, se suspected earthquake, ...
    Col("author", 119, 127),
    Col("origid", 129, 136, right=True),
]
ORIGIN_HEADER = ("   Date       Time        Err   RMS Latitude Longitude  Smaj  Smin  Az Depth   Err Ndef Nsta "
                 "Gap  mdist  Mdist Qual   Author      OrigID")

MAGNITUDE_COLUMNS: list[Col] = [
    Col("magtype", 1, 5),
    Col("minmax", 6, 6),
    Col("mag", 7, 10, "f", 1),
    Col("error", 12, 14, "f", 1),
    Col("nsta", 16, 19, "i"),
    Col("author", 21, 29),
    Col("origid", 31, 38, right=True),
]
MAGNITUDE_HEADER = "Magnitude  Err Nsta Author      OrigID"

PHASE_COLUMNS: list[Col] = [
    Col("sta", 1, 5),
    Col("dist", 7, 12, "f", 2),              # deg
    Col("evaz", 14, 18, "f", 1),             # event-to-station azimuth, deg
    Col("phase", 20, 27),
    Col("time", 29, 40),                     # hh:mm:ss.sss
    Col("tres", 42, 46, "f", 1),             # s
    Col("azim", 48, 52, "f", 1),             # observed backazimuth, deg
    Col("azres", 54, 58, "f", 1),
    Col("slow", 60, 65, "f", 1),             # s/deg
    Col("sres", 67, 71, "f", 1),             # obspy reads 67-71
    Col("tdef", 74, 74),                     # T or _
    Col("adef", 75, 75),                     # A or _
    Col("sdef", 76, 76),                     # S or _
    Col("snr", 78, 82, "f", 1, adaptive=True),
    Col("amp", 84, 92, "f", 1, adaptive=True),   # nm
    Col("per", 94, 98, "f", 2, adaptive=True),   # s
    Col("picktype", 100, 100),               # a automatic, m manual
    Col("fm", 101, 101),                     # c, d, _
    Col("onset", 102, 102),                  # i, e, q, _
    Col("magtype", 104, 108),
    Col("minmax", 109, 109),
    Col("mag", 110, 113, "f", 1),
    Col("arrid", 115, 122),
]
PHASE_HEADER = ("Sta     Dist  EvAz Phase        Time      TRes  Azim AzRes   Slow   SRes Def   SNR       Amp   "
                "Per Qual Magnitude    ArrID")

EVENT_COLUMNS: list[Col] = [Col("event", 1, 5), Col("evid", 7, 14), Col("region", 16, 80)]

_ANALYSIS = {("manual", "preliminary"): "g", ("manual", None): "m", ("manual", "reviewed"): "m",
             ("manual", "confirmed"): "m", ("manual", "final"): "m", ("automatic", None): "a",
             ("automatic", "preliminary"): "a", ("automatic", "reviewed"): "a", ("automatic", "final"): "a"}
_METHOD = {"inversion": "i", "pattern recognition": "p", "ground truth": "g", "other": "o"}


def render_line(columns: list[Col], values: dict) -> str:
    """One IMS1.0 line from ``values`` (kept for callers of the former ``pipeline.bulletin.ims1``)."""
    return render(columns, values, FMT)


def _method(o: Origin) -> str:
    for c in o.comments:
        t = (c.text or "").strip()
        if t.startswith("location method:"):
            return _METHOD.get(t.split(":", 1)[1].strip(), "o")
    if o.method_id is not None:
        tail = str(o.method_id).rstrip("/").split("/")[-1].lower()
        if tail in _METHOD:
            return _METHOD[tail]
    return "i"


def _author(obj, default: str) -> str:
    ci = getattr(obj, "creation_info", None)
    if ci is not None:
        return ci.author or ci.agency_id or default
    return default


def _origin_values(ev: Event, o: Origin, author: str, origid: str) -> dict:
    q = o.quality
    ou = o.origin_uncertainty
    km = (lambda v: None if v is None else v / 1000.0)
    dflag = {"operator assigned": "f", "constrained by depth phases": "d"}.get(o.depth_type or "", "")
    return {
        "datetime": fmt_time(o.time, 2),
        "time_fixed": "f" if o.time_fixed else "",
        "time_error": o.time_errors.uncertainty if o.time_errors else None,
        "rms": q.standard_error if q else None,
        "latitude": o.latitude, "longitude": o.longitude,
        "epi_fixed": "f" if o.epicenter_fixed else "",
        "smajor": km(ou.max_horizontal_uncertainty) if ou else None,
        "sminor": km(ou.min_horizontal_uncertainty) if ou else None,
        "strike": ou.azimuth_max_horizontal_uncertainty if ou else None,
        "depth": km(o.depth), "depth_flag": dflag,
        "depth_error": km(o.depth_errors.uncertainty) if o.depth_errors else None,
        "ndef": q.used_phase_count if q else None, "nsta": q.used_station_count if q else None,
        "gap": q.azimuthal_gap if q else None, "mdist": q.minimum_distance if q else None,
        "Mdist": q.maximum_distance if q else None,
        "analysis": _ANALYSIS.get((o.evaluation_mode, o.evaluation_status), ""),
        "method": _method(o),
        "etype": ETYPE.get((ev.event_type, ev.event_type_certainty or "known"), "uk"),
        "author": _author(o, author), "origid": origid,
    }


def _phase_values(row, ids: Ids) -> dict:
    p = row.pick
    sm = row.stamags[0] if row.stamags else None
    return {
        **phase_values(row, "_"),
        "time": fmt_time(p.time, 3, date=False),
        "fm": {"positive": "c", "negative": "d"}.get(p.polarity or "", "_"),
        "onset": {"impulsive": "i", "emergent": "e", "questionable": "q"}.get(p.onset or "", "_"),
        "magtype": stamag_type(sm) if sm is not None else None,
        "mag": sm.mag if sm is not None else None,
        "arrid": ids.get(p.resource_id),
    }


#: one ASCII character for common non-ASCII ones (fixed columns keep their width)
_ASCII1 = {"\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2013": "-", "\u2014": "-", "\u2212": "-",
           "\u2018": "'", "\u2019": "'", "\u201a": ",", "\u201c": '"', "\u201d": '"', "\u201e": '"',
           "\u00d7": "x", "\u00a0": " ", "\u2009": " ", "\u202f": " ", "\u2264": "<", "\u2265": ">"}
#: free text (no columns): a closer ASCII spelling
_ASCII_TEXT = {"\u2264": "<=", "\u2265": ">=", "\u2026": "...", "\u00b0": " deg", "\u2192": "->", "\u00b1": "+/-"}


def ims1_ascii(text: str, keep_width: bool = True) -> str:
    """``text`` in ASCII, as IMS1.0 requires [GSE21 p.3: the messages are ASCII]: dashes, quotes
    and spaces as their ASCII look-alikes, accented letters as the base letter, anything else as
    ``?``. ``keep_width``: one character for one (fixed-column lines); else ``≥`` → ``>=`` etc."""
    if text.isascii():
        return text
    out = []
    for ch in text:
        if ch.isascii():
            out.append(ch)
            continue
        rep = None if keep_width else _ASCII_TEXT.get(ch)
        rep = rep or _ASCII1.get(ch)
        if rep is None:
            base = unicodedata.normalize("NFKD", ch)[:1]
            rep = base if base.isascii() and base.isprintable() and base else "?"
        out.append(rep)
    return "".join(out)


def new_msg_id(now: datetime | None = None) -> str:
    """A fresh IMS1.0 message id, unique per message (IMS1.0 wants every message's MSG_ID
    unique for its source): ``YYYYmmddHHMMSS_xxxxx`` (UTC second + 5 random hex digits,
    20 characters, the IMS1.0 maximum)."""
    now = now or datetime.now(timezone.utc)
    return now.strftime("%Y%m%d%H%M%S") + "_" + secrets.token_hex(3)[:5]


def write_ims1(catalog: Catalog, fh: TextIO, title: str = "", author: str = "IDC",
               msg_id: str | None = None) -> None:
    """Write ``catalog`` as an IMS1.0:SHORT bulletin message to ``fh`` (ASCII only:
    :func:`ims1_ascii`).

    :param title: bulletin title line (obspy's reader needs one; default: the catalog description
        or "idc-pipeline bulletin")
    :param author: author written where an origin/magnitude has no ``creation_info`` author/agency
    :param msg_id: ``MSG_ID <id> [<source>]`` of the message skeleton [GSE21 p.28]; None (default)
        = a new unique id (:func:`new_msg_id`) with source ``author``; "" omits the line
    :raises FormatError: a value does not fit its column (names column and value)
    """
    out = fh
    fh = io.StringIO()
    _write_ims1(catalog, fh, title, author, f"{new_msg_id()} {author or 'IDC'}" if msg_id is None else msg_id)
    out.write(ims1_ascii(fh.getvalue()))


def _write_ims1(catalog: Catalog, fh: TextIO, title: str, author: str, msg_id: str) -> None:
    ev_ids, or_ids, ar_ids = Ids(8), Ids(8), Ids(8)
    fh.write("BEGIN IMS1.0\nMSG_TYPE DATA\n")
    if msg_id:
        fh.write(f"MSG_ID {msg_id}\n")
    fh.write("DATA_TYPE BULLETIN IMS1.0:SHORT\n")
    fh.write((title or catalog.description or "idc-pipeline bulletin").strip().splitlines()[0][:80] + "\n")
    for ev in catalog:
        pref = preferred_origin(ev)
        if pref is None:
            continue
        origins = [o for o in ev.origins if o is not pref] + [pref]  # preferred last, tagged #PRIME
        fh.write("\n" + render(EVENT_COLUMNS, {"event": "EVENT", "evid": ev_ids.get(ev.resource_id),
                                               "region": event_region(ev)}, FMT) + "\n\n")
        fh.write(ORIGIN_HEADER + "\n")
        origids = {}
        for o in origins:
            origids[str(o.resource_id)] = oid = or_ids.get(o.resource_id)
            fh.write(render(ORIGIN_COLUMNS, _origin_values(ev, o, author, oid), FMT) + "\n")
        if len(origins) > 1:
            fh.write(" (#PRIME)\n")
        mags = [m for m in ev.magnitudes if m.mag is not None]
        if mags:
            fh.write("\n" + MAGNITUDE_HEADER + "\n")
            for m in mags:
                oid = origids.get(str(m.origin_id)) if m.origin_id is not None else None
                fh.write(render(MAGNITUDE_COLUMNS, {
                    "magtype": m.magnitude_type, "mag": m.mag,
                    "error": m.mag_errors.uncertainty if m.mag_errors else None,
                    "nsta": m.station_count, "author": _author(m, author),
                    "origid": oid or origids[str(pref.resource_id)]}, FMT) + "\n")
        for o in origins:
            rows = arrival_rows(ev, o, unassociated=o is pref)
            if not rows:
                continue
            fh.write("\n" + PHASE_HEADER + "\n")
            if len(origins) > 1:
                fh.write(f" (#OrigID {origids[str(o.resource_id)]})\n")
            vals = [_phase_values(r, ar_ids) for r in rows]
            order = sorted(range(len(rows)), key=lambda i: (
                vals[i]["dist"] if vals[i]["dist"] is not None else 1e9, rows[i].pick.time,
                vals[i]["sta"], vals[i]["phase"] or ""))
            for i in order:
                fh.write(render(PHASE_COLUMNS, vals[i], FMT) + "\n")
    fh.write("\nSTOP\n")


def ims1_time(t: UTCDateTime) -> str:
    return fmt_time(t, 2)


# --------------------------------------------------------------------------- reading


def _block(line: str):
    from obspy.io.iaspei.util import _block_header

    return _block_header(line) if line.split() else False


def _check(path: str, text: str) -> tuple[str, list[dict]]:
    """Parse every data line with the column tables; returns the subformat and, per event, the phase
    lines' (arrid → magtype) and the phase lines without an arrival time (``untimed``: line number,
    message). Raises :class:`FormatError` naming ``path:line``."""
    lines = text.splitlines()
    start = None
    for n, line in enumerate(lines, 1):
        if line.upper().startswith("DATA_TYPE BULLETIN IMS1.0"):
            if "LONG" in line.upper():
                raise FormatError(f"{path}:{n}: IMS1.0:LONG bulletins are not supported (SHORT only)")
            start = n
            break
    if start is None:
        raise FormatError(f"{path}: no 'DATA_TYPE BULLETIN IMS1.0' line: not an IMS1.0 bulletin")
    events: list[dict] = []
    block = None
    for n, line in enumerate(lines[start:], start + 1):
        where = f"{path}:{n}"
        if not line.strip():
            continue
        if line.startswith("STOP"):
            break
        if line.lstrip().startswith("("):
            continue
        b = _block(line)
        if b:
            block = b
            if b == "event":
                events.append({"origins": {}, "mags": [], "stamags": {}, "untimed": []})
            continue
        if block is None or not events:
            continue  # title
        if block == "origins":
            v = parse(ORIGIN_COLUMNS, line, where)
            dt = v["datetime"] or ""
            try:
                UTCDateTime.strptime(dt[:16], "%Y/%m/%d %H:%M") + float(dt[17:])
                assert dt[16] == ":"
            except (*BAD_VALUE, IndexError, AssertionError):
                raise FormatError(f"{where}: origin date/time (columns 1-22) {dt!r} is not "
                                  f"yyyy/mm/dd hh:mm:ss.ss") from None
            if len(line.rstrip()) < 114 or v["analysis"] not in (None, "a", "m", "g"):
                raise FormatError(f"{where}: origin line needs the fixed columns up to 114 "
                                  f"(analysis type a/m/g at 112, location method at 114)")
            events[-1]["origins"][v["origid"] or ""] = v["analysis"]
        elif block == "magnitudes":
            events[-1]["mags"].append(parse(MAGNITUDE_COLUMNS, line, where))
        elif block == "phases":
            v = parse(PHASE_COLUMNS, line, where)
            t = v["time"] or ""
            if t:
                try:
                    h, m, s = int(t[0:2]), int(t[3:5]), float(t[6:])
                    assert t[2] == ":" and t[5] == ":" and h < 24 and m < 60 and s < 61
                except (ValueError, IndexError, AssertionError):
                    raise FormatError(f"{where}: phase time (columns 29-40) {t!r} is not hh:mm:ss.sss") from None
            if len(line.rstrip()) < 109:
                raise FormatError(f"{where}: phase line ends at column {len(line.rstrip())}; the fixed "
                                  f"columns up to 109 (quality and magnitude flags) must be present")
            if not t:
                events[-1]["untimed"].append((n, f"{where}: phase line skipped: arrival time (columns 29-40) is "
                                                 f"blank ({v['sta'] or '?'} {v['phase'] or '?'}"
                                                 + (f", arrival id {v['arrid']})" if v["arrid"] else ")")))
                continue
            if v["arrid"] and v["magtype"]:
                events[-1]["stamags"][v["arrid"]] = (v["magtype"], v["minmax"])
        elif block == "bibliography":
            continue
    return "SHORT", events


def read_ims1(source, **kwargs) -> Catalog:
    """Read an IMS1.0:SHORT bulletin (path or file object) into a Catalog (amplitudes in metres).

    :raises FormatError: malformed line, message ``<file>:<line>: …``
    """
    if hasattr(source, "read"):
        raw = source.read()
        path = getattr(source, "name", "<stream>")
    else:
        path = str(source)
        raw = Path(source).read_bytes()
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    _, parsed = _check(path, text)
    if not parsed:
        return Catalog(description=None)
    untimed = [u for info in parsed for u in info["untimed"]]
    if untimed:
        # a pick needs a time (QuakeML); obspy would drop such a line silently or keep a pick
        # without a time (when it has an amplitude): leave the line out, and say so
        drop = {n for n, _ in untimed}
        text = "".join(ln for n, ln in enumerate(text.splitlines(keepends=True), 1) if n not in drop)
        for _, msg in untimed:
            warnings.warn(msg, SkippedInputWarning, stacklevel=2)
    from obspy.io.iaspei.core import ISFReader

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            cat = ISFReader(io.BytesIO(text.encode("utf-8")), **kwargs).deserialize()
        except Exception as exc:  # obspy's reader raises many types on bad input: re-raised naming the file
            raise FormatError(f"{path}: obspy's IMS1.0 reader failed: {type(exc).__name__}: {exc}") from exc
    # restore what obspy 1.5.1's reader drops: analysis type (evaluation mode/status), magnitude
    # errors, station magnitude types
    for ev, info in zip(cat, parsed):
        for o in ev.origins:
            a = info["origins"].get(str(o.resource_id).rstrip("/").split("/")[-1])
            if a:
                o.evaluation_mode, o.evaluation_status = {
                    "a": ("automatic", None), "m": ("manual", "reviewed"), "g": ("manual", "preliminary")}[a]
        for m, v in zip(ev.magnitudes, info["mags"]):
            if v["error"] is not None and (m.mag_errors is None or m.mag_errors.uncertainty is None):
                m.mag_errors = QuantityError(uncertainty=v["error"])
        for sm in ev.station_magnitudes:
            tail = str(sm.resource_id).rstrip("/").split("/")[-1]
            if tail in info["stamags"] and not sm.station_magnitude_type:
                sm.station_magnitude_type = info["stamags"][tail][0]
        _dedupe(ev)
    return normalise_catalog(cat)


def _dedupe(ev: Event) -> None:
    """A pick listed in the phase blocks of several origins becomes one Pick/Amplitude (obspy makes
    one per line, with the same id); its station magnitudes stay one per origin, with distinct ids."""
    for attr in ("picks", "amplitudes"):
        seen: set = set()
        setattr(ev, attr, [x for x in getattr(ev, attr)
                           if not (str(x.resource_id) in seen or seen.add(str(x.resource_id)))])
    ids: dict = {}
    out = []
    for sm in ev.station_magnitudes:
        key = str(sm.resource_id)
        if key in ids:
            if ids[key] == str(sm.origin_id):
                continue
            tail = str(sm.origin_id).rstrip("/").split("/")[-1]
            sm.resource_id = ResourceIdentifier(f"{key}/origin/{tail}")
        else:
            ids[key] = str(sm.origin_id)
        out.append(sm)
    ev.station_magnitudes = out


def write_path(catalog: Catalog, path, **kwargs) -> None:
    with open(path, "w", encoding="ascii", errors="replace", newline="\n") as fh:
        write_ims1(catalog, fh, **kwargs)
