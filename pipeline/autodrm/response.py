"""Answer IMS1.0 request messages with IMS1.0 DATA messages from the store and the SDS archive.

Message layout [GSE21 p.55–57, REFERENCE §4.4]::

    BEGIN IMS1.0
    MSG_TYPE DATA
    MSG_ID <id> <source>
    REF_ID <request MSG_ID> [<request source>]
    DATA_TYPE ERROR_LOG IMS1.0        (only when something could not be answered)
    DATA_TYPE LOG IMS1.0              (what was answered, per request line)
    DATA_TYPE <type> IMS1.0[:<sub>]   (one section per request line)
    STOP

Sections:

* ``BULLETIN`` — the IMS1.0:SHORT bulletin writer (:func:`pipeline.io.ims1.write_ims1`, read by
  obspy's ``IMS10BULLETIN`` reader) over the **newest version** of every product window of the
  requested type that overlaps TIME, events with preferred origin time in [TIME start, TIME end)
  and the environment filters (LAT, LON, DEPTH, MAG (+MAG_TYPE): magnitude in range; STA_LIST:
  events with ≥ 1 arrival at a listed station; EVENT_STA_DIST: … at that distance). ``GSE2.0``
  requests get the GSE2.0 bulletin writer.
* ``EVENT`` / ``ORIGIN`` — the same without phase blocks (origins and magnitudes);
  ``ARRIVAL:ASSOCIATED`` — the event lines and phase blocks of the bulletin (the IMS1.0 arrival
  table layout of IDC-3.4.1 is not in REFERENCE.md; the IMS1.0 phase-line columns of §3.4 are used).
* ``WAVEFORM`` — per continuous segment ``WID2``/``STA2``/``DAT2``/``CHK2`` (§4.5) in CM6 or INT,
  samples from the SDS archive for the channels in ``wfavail`` matching NET/STA/CHAN_LIST.
  ``calib``/``calper`` from the station metadata's instrument sensitivity when an inventory is
  given (nm/count of ground displacement at ``calper`` = 1/sensitivity frequency), else 1.0/1.0.
* ``RELATIVE_TO ORIGIN|EVENT|BULLETIN`` + ``WAVEFORM`` (REFERENCE §4.2) — the same WAVEFORM section,
  cut around the arrivals of the events :func:`select_events` picks for the environment (as a
  BULLETIN line would; product from BULL_TYPE or ``default_bulletin``): per event, every archived
  channel (NET/STA/CHAN_LIST) of the stations with arrivals in its preferred origin (STA_LIST,
  EVENT_STA_DIST as for the event selection), samples in ``[arrival − before, arrival + after)``
  (``[autodrm] relative_window_s``; GSE2.1 gives no lengths), overlapping windows of a channel
  merged; windows of different events are cut separately (one event's segments may overlap
  another's). The windows are not clipped to TIME (TIME selects the events). Access: ``waveforms``
  as for WAVEFORM, and the bulletin product as for BULLETIN (the public part of a bulletin selects
  the public events only). Limits: TIME span and ``max_events`` as for bulletins,
  ``max_waveform_channel_seconds`` per event. ``RELATIVE_TO`` + ``ARRIVAL`` = the
  ``ARRIVAL:ASSOCIATED`` answer (the arrivals of the selected events).
* ``STATION`` / ``CHANNEL`` — the site / sitechan rows in the GSE2.0/2.1 fixed-column lists
  (column positions below; the IMS1.0 document body was not readable, REFERENCE §11 item 7).
* ``RRR`` (IMS2.0) — one ``DATA_TYPE RRR IMS2.0`` section per sample collected in TIME (collection
  overlapping it) at a station of STA_LIST: the newest version of its radionuclide report product
  (:func:`pipeline.radionuclide.report.rrr_section`). Access: product ``RRR``.
* ``SAMPLEPHD`` (IMS2.0) — the stored PHD message of each such SAMPLEPHD sample, as received from its
  ``DATA_TYPE SAMPLEPHD`` line to before its ``STOP`` (one section per sample). Access: ``SAMPLEPHD``.
  Both are limited to ``[autodrm] max_events`` samples per line.
* ``OUTAGE`` — gaps of the archive (``wfavail``) inside TIME per channel, plus channels of the
  station metadata with no data at all in TIME.

Limits (``[autodrm]``): request lines, TIME span, events and waveform channel-seconds; a request
line over a limit is answered with an ERROR_LOG entry naming the line and the limit.
"""
from __future__ import annotations

import io
import logging
import math
from collections import defaultdict
from datetime import datetime, timezone

import numpy as np
from obspy import UTCDateTime
from obspy.core.event import Catalog

from pipeline.autodrm.cm6 import checksum, encode_cm6, encode_int
from pipeline.autodrm.request import Environment, Request, RequestLine, parse_request
from pipeline.errors import IdcError
from pipeline.store.selection import merge_windows

log_ = logging.getLogger("pipeline.autodrm")

HELP_TEXT = """\
idc-pipeline AutoDRM: send an IMS1.0 request message (here indented by two spaces so that
this help section stays one section; send the lines unindented), e.g.

  BEGIN IMS1.0
  MSG_TYPE REQUEST
  MSG_ID my_id_1 MY_NDC
  E-MAIL me@example.org
  TIME 2014/08/24 00:00 TO 2014/08/24 01:00
  STA_LIST *
  CHAN_LIST *Z
  WAVEFORM IMS1.0:CM6
  BULL_TYPE REB
  BULLETIN IMS1.0
  RELATIVE_TO BULLETIN
  WAVEFORM IMS1.0:CM6
  STATION
  CHANNEL
  OUTAGE
  STOP

Environment: TIME, LAT, LON, DEPTH, MAG, MAG_TYPE, EVENT_STA_DIST, NET_LIST, STA_LIST, CHAN_LIST, BULL_TYPE.
Requests: BULLETIN, EVENT, ORIGIN, ARRIVAL[:ASSOCIATED], WAVEFORM [IMS1.0:CM6|IMS1.0:INT], STATION, CHANNEL, OUTAGE.
Radionuclide (IMS2.0): RRR (the reports of the samples collected in TIME at the stations of STA_LIST),
SAMPLEPHD (their PHD messages).
Products (BULL_TYPE or request argument): SEL1, SEL2, SEL3, REB, SEB, SSEB (also IDC_<name>).
RELATIVE_TO ORIGIN|EVENT|BULLETIN ties the next request line only (WAVEFORM or ARRIVAL) to the events
the environment selects (TIME, LAT, LON, DEPTH, MAG, MAG_TYPE, STA_LIST, EVENT_STA_DIST, BULL_TYPE),
as a BULLETIN line would; no bulletin section is returned for them. RELATIVE_TO + WAVEFORM: per
event, the channels (NET_LIST, STA_LIST, CHAN_LIST) of the stations with arrivals in it, cut to a
window around each arrival (overlapping windows merged; lengths below). RELATIVE_TO + ARRIVAL: the
arrivals of those events.
"""

STATION_HEADER = "Net       Sta   Type  Latitude  Longitude Coord Sys     Elev   On Date    Off Date"
CHANNEL_HEADER = ("Net       Sta   Chan Aux   Latitude  Longitude  Coord Sys       Elev   Depth   Hang  Vang "
                  "Sample_Rate Inst      On Date    Off Date")
OUTAGE_HEADER = "Net       Sta   Chan Aux      Start Date Time          End Date Time        Duration Comment"


class LimitError(IdcError, ValueError):
    """A request line asks for more than ``[autodrm]`` allows."""


def _date(t: float | None) -> str:
    return "" if t is None else UTCDateTime(t).strftime("%Y/%m/%d")


def _datetime_ms(t: UTCDateTime) -> str:
    t = UTCDateTime(round(t.timestamp, 3))
    return t.strftime("%Y/%m/%d %H:%M:%S.") + f"{t.microsecond // 1000:03d}"


def _fit(x: float, width: int, decimals: int) -> str:
    for d in range(decimals, -1, -1):
        s = f"{x:{width}.{d}f}"
        if len(s) <= width:
            return s
    return f"{x:{width}.0f}"[:width]


# --------------------------------------------------------------------------- events
def _product_windows(session, product: str, t1: float, t2: float):
    from pipeline.store.products import newest_overlapping

    return newest_overlapping(session, product, t1, t2)


def _event_magnitudes(ev, types: tuple[str, ...]) -> list[float]:
    want = {t.upper() for t in types}
    return [mg.mag for mg in ev.magnitudes if mg.mag is not None
            and (not want or (mg.magnitude_type or "").upper() in want)]


def event_arrivals(ev, origin, env: Environment) -> list[tuple[object, object]]:
    """(arrival, pick) of ``origin`` at stations of STA_LIST within EVENT_STA_DIST (arrival distance)
    — the test by which STA_LIST / EVENT_STA_DIST select events."""
    picks = {str(p.resource_id): p for p in ev.picks}
    out = []
    for a in origin.arrivals:
        p = picks.get(str(a.pick_id))
        sta = p.waveform_id.station_code if p is not None and p.waveform_id else ""
        if env.matches(env.sta_list, sta) and env.within(env.event_sta_dist, a.distance):
            out.append((a, p))
    return out


def select_events(session, rl: RequestLine, max_events: int, keep=None) -> tuple[Catalog, list[str]]:
    """Events of ``rl.product`` in the request's environment, newest product versions; and the
    product versions used (for the LOG)."""
    from pipeline.io.common import preferred_origin
    from pipeline.store.catalog import load_catalog

    env = rl.env
    t1, t2 = env.time
    out = Catalog()
    used = []
    for prod in _product_windows(session, rl.product, t1.timestamp, t2.timestamp):
        used.append(f"{prod.type} {_datetime_ms(UTCDateTime(prod.window_start))} - "
                    f"{_datetime_ms(UTCDateTime(prod.window_end))} version {prod.version}")
        for ev in load_catalog(session, prod):
            o = preferred_origin(ev)
            if o is None or not (t1 <= o.time < t2) or (keep is not None and not keep(ev)):
                continue
            if not (env.within(env.lat, o.latitude) and env.within(env.lon, o.longitude)
                    and env.within(env.depth, None if o.depth is None else o.depth / 1000.0)):
                continue
            if env.mag != (None, None) or env.mag_type:
                mags = _event_magnitudes(ev, env.mag_type)
                if not any(env.within(env.mag, x) for x in mags):
                    continue
            if (env.sta_list != ("*",) or env.event_sta_dist != (None, None)) and not event_arrivals(ev, o, env):
                continue
            out.append(ev)
            if len(out) > max_events:
                raise LimitError(f"more than {max_events} events match (limit [autodrm] max_events); "
                                 "narrow TIME, LAT/LON or MAG")
    out.events.sort(key=lambda e: preferred_origin(e).time)
    return out, used


def _strip_message(text: str) -> str:
    """The DATA_TYPE section of a complete message written by a bulletin writer."""
    lines = text.splitlines()
    i = next(n for n, ln in enumerate(lines) if ln.upper().startswith("DATA_TYPE"))
    j = max(n for n, ln in enumerate(lines) if ln.strip().upper() == "STOP")
    return "\n".join(lines[i:j]) + "\n"  # trailing blank lines kept: GSE2.0 ends events with two


def bulletin_section(cat: Catalog, rl: RequestLine, title: str) -> str:
    from pipeline.io.gse2 import write_gse2
    from pipeline.io.ims1 import write_ims1

    buf = io.StringIO()
    if rl.keyword in ("EVENT", "ORIGIN"):
        cat = cat.copy()
        for ev in cat:
            ev.picks, ev.amplitudes, ev.station_magnitudes = [], [], []
            for o in ev.origins:
                o.arrivals = []
            for mg in ev.magnitudes:
                mg.station_magnitude_contributions = []
    if rl.format == "GSE2.0":
        write_gse2(cat, buf, title=title, msg_id="")
        text = _strip_message(buf.getvalue())
    else:
        write_ims1(cat, buf, title=title, msg_id="")
        text = _strip_message(buf.getvalue())
    if rl.keyword == "BULLETIN":
        return text
    body = text.splitlines()[1:]
    if rl.keyword == "ARRIVAL":  # keep title, EVENT lines and phase blocks
        keep, in_phase = [body[0]], False
        for ln in body[1:]:
            if ln.startswith("EVENT") or ln.startswith("Sta "):
                in_phase = ln.startswith("Sta ")
                keep.append(("\n" if ln.startswith("EVENT") else "") + ln)
            elif in_phase and ln.strip():
                keep.append(ln)
            elif not ln.strip():
                in_phase = False
        body = keep
    sub = f":{rl.subtype}" if rl.subtype else ""
    return f"DATA_TYPE {rl.keyword}{sub} {rl.format}:{rl.subformat or 'SHORT'}\n" + "\n".join(body).rstrip() + "\n"


# --------------------------------------------------------------------------- stations
def _sites(session, env: Environment):
    from pipeline.store.stations import sites

    t1, t2 = env.time if env.time else (None, None)
    out = []
    for s in sites(session):
        if not (env.matches(env.net_list, s.net) and env.matches(env.sta_list, s.sta)):
            continue
        if t1 is not None and (s.ondate >= t2.timestamp or (s.offdate is not None and s.offdate <= t1.timestamp)):
            continue
        out.append(s)
    return out


def _channels(session, env: Environment):
    from pipeline.store.stations import channels

    t1, t2 = env.time if env.time else (None, None)
    sites = {}
    for s in _sites(session, Environment(net_list=env.net_list, sta_list=env.sta_list)):
        sites.setdefault((s.net, s.sta), []).append(s)
    out = []
    for c in channels(session):
        if (c.net, c.sta) not in sites or not env.matches(env.chan_list, c.chan):
            continue
        if t1 is not None and (c.ondate >= t2.timestamp or (c.offdate is not None and c.offdate <= t1.timestamp)):
            continue
        site = next((s for s in sites[(c.net, c.sta)] if s.ondate <= c.ondate
                     and (s.offdate is None or c.ondate < s.offdate)), sites[(c.net, c.sta)][-1])
        out.append((site, c))
    return out


def _station_type(site, chans) -> str:
    if site.statype == "ar":
        return "ar"
    comps = {c.chan[-1:] for c in chans}
    return "3C" if len(comps) >= 3 else "1C"


def station_section(session, rl: RequestLine) -> str:
    sites = _sites(session, rl.env)
    chans = defaultdict(list)
    for _, c in _channels(session, Environment(net_list=rl.env.net_list, sta_list=rl.env.sta_list)):
        chans[(c.net, c.sta)].append(c)
    lines = [f"DATA_TYPE STATION {rl.format}", STATION_HEADER]
    for s in sites:
        # Net a9 1-9, Sta a5 11-15, Type a4 17-20, Lat f9.5 22-30, Lon f10.5 32-41, Coord a12 43-54,
        # Elev f7.3 56-62 (km), On 64-73, Off 75-84
        lines.append(f"{s.net:<9} {s.sta:<5} {_station_type(s, chans[(s.net, s.sta)]):<4} {s.lat:9.5f} "
                     f"{s.lon:10.5f} {'WGS-84':<12} {_fit(s.elev_km, 7, 3)} {_date(s.ondate):<10} "
                     f"{_date(s.offdate)}".rstrip())
    return "\n".join(lines) + "\n"


def channel_section(session, rl: RequestLine) -> str:
    lines = [f"DATA_TYPE CHANNEL {rl.format}", CHANNEL_HEADER]
    for s, c in _channels(session, rl.env):
        # Net 1-9, Sta 11-15, Chan 17-19, Aux 21-24, Lat f9.5 26-34, Lon f10.5 36-45, Coord a12 47-58,
        # Elev f5.3 60-64, Depth f5.3 66-70, Hang f6.1 72-77, Vang f5.1 79-83, Rate f11.6 85-95,
        # Inst a6 97-102, On 104-113, Off 115-124
        hang = -1.0 if c.hang is None or (c.vang is not None and abs(c.vang) < 1e-6) else c.hang
        vang = -1.0 if c.vang is None else c.vang
        rate = f"{c.samprate:11.6f}" if c.samprate else " " * 11
        lines.append(f"{s.net:<9} {s.sta:<5} {c.chan:<3}  {c.loc:<4} {s.lat:9.5f} {s.lon:10.5f} {'WGS-84':<12} "
                     f"{_fit(s.elev_km, 5, 3)} {_fit(c.edepth_km, 5, 3)} {hang:6.1f} {vang:5.1f} {rate} "
                     f"{'':<6} {_date(c.ondate):<10} {_date(c.offdate)}".rstrip())
    return "\n".join(lines) + "\n"


def outage_section(session, rl: RequestLine) -> str:
    from pipeline.store.availability import channel_coverage

    t1, t2 = rl.env.time
    lines = [f"DATA_TYPE OUTAGE {rl.format}",
             f"Report period from {_datetime_ms(t1)} to {_datetime_ms(t2)}", OUTAGE_HEADER]
    env = rl.env
    cov = {c.nslc: c for c in channel_coverage(session, t1.timestamp, t2.timestamp)}
    rows = []
    seen = set()
    for nslc, c in cov.items():
        net, sta, loc, chan = nslc.split(".")
        if not (env.matches(env.net_list, net) and env.matches(env.sta_list, sta) and env.matches(env.chan_list, chan)):
            continue
        seen.add(nslc)
        for a, b in c.gaps:
            rows.append((net, sta, chan, loc, a, b, "gap"))
    for s, ch in _channels(session, env):
        nslc = f"{ch.net}.{ch.sta}.{ch.loc}.{ch.chan}"
        if nslc not in cov and nslc not in seen:
            seen.add(nslc)
            rows.append((ch.net, ch.sta, ch.chan, ch.loc, t1.timestamp, t2.timestamp, "no data"))
    for net, sta, chan, loc, a, b, what in sorted(rows):
        lines.append(f"{net:<9} {sta:<5} {chan:<3}  {loc:<4}  {_datetime_ms(UTCDateTime(a))} "
                     f"{_datetime_ms(UTCDateTime(b))} {b - a:11.3f} {what}")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- waveforms
def _calib(inventory, net, sta, loc, chan, t) -> tuple[float, float, str]:
    """(calib nm/count, calper s, instrument type) from the inventory's instrument sensitivity."""
    if inventory is None:
        return 1.0, 1.0, ""
    try:
        sel = inventory.select(network=net, station=sta, location=loc, channel=chan, time=t)
        ch = sel[0][0][0]
        sens = ch.response.instrument_sensitivity
        f = float(sens.frequency)
        units = (sens.input_units or "").upper()
        power = {"M": 0, "M/S": 1, "M/S**2": 2, "M/S/S": 2}.get(units)
        if not sens.value or not f or power is None:
            return 1.0, 1.0, ""
        calib = 1e9 / (float(sens.value) * (2 * math.pi * f) ** power)
        inst = ((ch.sensor.model or ch.sensor.type or "") if ch.sensor else "")[:6]
        return calib, 1.0 / f, inst.replace(" ", "-")
    except (IndexError, AttributeError, TypeError, ValueError, ZeroDivisionError):  # channel or sensitivity unknown
        return 1.0, 1.0, ""


def wid2_line(tr, subformat: str, calib: float = 1.0, calper: float = 1.0, instype: str = "",
              hang: float = -1.0, vang: float = -1.0) -> str:
    s = tr.stats
    if len(s.station) > 5 or len(s.channel) > 3:
        raise ValueError(f"{s.station}.{s.channel}: WID2 holds at most 5 station and 3 channel characters")
    calib_s = f"{calib:10.2e}"
    return (f"WID2 {_datetime_ms(s.starttime)} {s.station:<5} {s.channel:<3} {'':<4} {subformat:<3} {s.npts:8d} "
            f"{s.sampling_rate:11.6f} {calib_s:>10} {_fit(calper, 7, 3)} {instype:<6} {_fit(hang, 5, 1)} "
            f"{_fit(vang, 4, 1)}")


def sta2_line(net: str, lat: float | None, lon: float | None, elev_km: float | None, edepth_km: float | None) -> str:
    # Network a9 6-14, Lat f9.5 16-24, Lon f10.5 26-35, Coordsys a12 37-48, Elev f5.3 50-54,
    # Edepth f5.3 56-60 (positions as corrected in obspy.io.gse2.libgse2.parse_sta2)
    lat_s = f"{lat:9.5f}" if lat is not None else " " * 9
    lon_s = f"{lon:10.5f}" if lon is not None else " " * 10
    el = _fit(elev_km, 5, 3) if elev_km is not None else " " * 5
    ed = _fit(edepth_km, 5, 3) if edepth_km is not None else " " * 5
    return f"STA2 {net:<9} {lat_s} {lon_s} {'WGS-84':<12} {el} {ed}"


def waveform_block(tr, subformat: str, site=None, chan=None, inventory=None) -> str:
    data = tr.data
    if data.dtype.kind not in "iu":
        if not np.all(np.isfinite(data)) or np.any(data != np.round(data)):
            raise ValueError(f"{tr.id}: samples are not integers; {subformat} carries integer counts only")
        data = data.astype(np.int64)
    if np.abs(data).max(initial=0) >= 2**31:
        raise ValueError(f"{tr.id}: samples exceed the 32-bit range of {subformat}")
    s = tr.stats
    calib, calper, inst = _calib(inventory, s.network, s.station, s.location, s.channel, s.starttime)
    hang = vang = -1.0
    if chan is not None:
        vang = chan.vang if chan.vang is not None else -1.0
        hang = -1.0 if chan.hang is None or (chan.vang is not None and abs(chan.vang) < 1e-6) else chan.hang
    lines = [wid2_line(tr, subformat, calib, calper, inst, hang, vang),
             sta2_line(s.network, site.lat if site else None, site.lon if site else None,
                       site.elev_km if site else None, chan.edepth_km if chan else None),
             "DAT2"]
    lines += encode_cm6(data) if subformat == "CM6" else encode_int(data)
    lines.append(f"CHK2 {checksum(data):8d}")
    return "\n".join(lines) + "\n"


def _archive_segments(session, env: Environment, t1: UTCDateTime, t2: UTCDateTime) -> list[tuple]:
    """``((net, sta, loc, chan), start, end)`` of the archived data (``wfavail`` segments) in
    [t1, t2] of the channels matching NET/STA/CHAN_LIST (epoch s)."""
    from pipeline.store.availability import segments_overlapping

    rows = segments_overlapping(session, t1.timestamp, t2.timestamp)
    return [(tuple(r[:4]), r[4], r[5]) for r in rows if env.matches(env.net_list, r[0])
            and env.matches(env.sta_list, r[1]) and env.matches(env.chan_list, r[3])]


def _channels_in(segments: list[tuple], t1: float, t2: float) -> list[tuple[str, ...]]:
    """The channels of ``segments`` (:func:`_archive_segments`) with data in [t1, t2] (epoch s)."""
    return sorted({nslc for nslc, start, end in segments if end >= t1 and start < t2})


def _archive_channels(session, env: Environment, t1: UTCDateTime, t2: UTCDateTime) -> list[tuple[str, ...]]:
    """(net, sta, loc, chan) with archived data (``wfavail`` segments) in [t1, t2] matching NET/STA/CHAN_LIST."""
    return _channels_in(_archive_segments(session, env, t1, t2), t1.timestamp, t2.timestamp)


def _check_channel_seconds(settings, total: float, what: str) -> None:
    limit = settings.autodrm.max_waveform_channel_seconds
    if total > limit:
        raise LimitError(f"{what} = {total:.0f} channel-seconds, more than the limit of {limit:.0f} "
                         "([autodrm] max_waveform_channel_seconds); narrow TIME or the lists")


def _archive_client(settings):
    from obspy.clients.filesystem.sds import Client

    if not settings.archive_dir.is_dir():
        return None
    return Client(str(settings.archive_dir), sds_type=settings.ingest.sds_type)


def _segment_blocks(client, nslc: tuple[str, ...], t1: UTCDateTime, t2: UTCDateTime, rl: RequestLine, meta,
                    errors: list[str], inventory=None) -> list[str]:
    """WID2…CHK2 blocks of one channel's samples in [t1, t2), one per continuous segment."""
    from obspy import Stream

    net, sta, loc, cha = nslc
    st = client.get_waveforms(net, sta, loc, cha, t1, t2)
    st.trim(t1, t2 - 1e-6, nearest_sample=False)
    st = Stream([tr for tr in st if tr.stats.npts > 0])
    st.merge(method=-1)
    site, chan = meta.get(nslc, (None, None))
    out = []
    for tr in sorted(st, key=lambda tr: tr.stats.starttime):
        try:
            out.append(waveform_block(tr, rl.subformat, site, chan, inventory).rstrip("\n"))
        except ValueError as exc:
            errors.append(f"line {rl.line}: {rl.text.strip()}\n    -> {exc}")
    return out


def waveform_section(settings, session, rl: RequestLine, errors: list[str], inventory=None) -> tuple[str, int]:
    env = rl.env
    t1, t2 = env.time
    chans = _archive_channels(session, env, t1, t2)
    _check_channel_seconds(settings, len(chans) * (t2 - t1), f"{len(chans)} channels × {t2 - t1:.0f} s")
    meta = {(c.net, c.sta, c.loc, c.chan): (s, c) for s, c in _channels(session, Environment(time=env.time))}
    out = [f"DATA_TYPE WAVEFORM {rl.format}:{rl.subformat}"]
    client = _archive_client(settings) if chans else None
    if client is not None:
        for nslc in chans:
            out += _segment_blocks(client, nslc, t1, t2, rl, meta, errors, inventory)
    return "\n".join(out) + "\n", len(out) - 1


def relative_windows(ev, env: Environment, before_s: float, after_s: float) -> dict[tuple[str, str], list]:
    """``{(net or "", sta): [(start, end), …]}``: per station with arrivals of ``ev``'s preferred origin
    (within STA_LIST and EVENT_STA_DIST, as the event selection), the windows
    [arrival − before_s, arrival + after_s], overlapping windows merged (timestamps)."""
    from pipeline.io.common import preferred_origin

    o = preferred_origin(ev)
    wins: dict[tuple[str, str], list[tuple[float, float]]] = defaultdict(list)
    for a, p in event_arrivals(ev, o, env):
        if p is None or p.time is None or not p.waveform_id or not p.waveform_id.station_code:
            continue
        t = p.time.timestamp
        wins[((p.waveform_id.network_code or "").upper(), p.waveform_id.station_code.upper())].append(
            (t - before_s, t + after_s))
    return {k: merge_windows(v) for k, v in wins.items()}


def relative_waveform_section(settings, session, rl: RequestLine, errors: list[str], inventory=None,
                              keep=None) -> tuple[str, list[str]]:
    """``RELATIVE_TO ORIGIN|EVENT|BULLETIN`` + ``WAVEFORM``: for each event the environment selects
    (:func:`select_events`, exactly as the BULLETIN line would), every archived channel (NET/STA/
    CHAN_LIST) of the stations with arrivals in it, cut to the windows of :func:`relative_windows`
    (``[autodrm] relative_window_s``), merged per channel. Each event is held to
    ``max_waveform_channel_seconds`` on its own; an event over it is an ERROR_LOG entry naming the
    line and the event, and is skipped. Returns the WAVEFORM section and the LOG lines."""
    from pipeline.io.common import preferred_origin

    before_s, after_s = settings.autodrm.relative_window_s
    cat, used = select_events(session, rl, settings.autodrm.max_events, keep)
    plans = [(ev, relative_windows(ev, rl.env, before_s, after_s)) for ev in cat]
    starts = [w[0][0] for _, ws in plans for w in ws.values()]
    ends = [w[-1][1] for _, ws in plans for w in ws.values()]
    meta = client = None
    segments: list[tuple] = []
    if starts:
        span = (UTCDateTime(min(starts)), UTCDateTime(max(ends)))
        meta = {(c.net, c.sta, c.loc, c.chan): (s, c) for s, c in _channels(session, Environment(time=span))}
        segments = _archive_segments(session, rl.env, *span)  # one query; each event filters it
        client = _archive_client(settings)
    out = [f"DATA_TYPE WAVEFORM {rl.format}:{rl.subformat}"]
    per_event = []
    for ev, wins in plans:
        o = preferred_origin(ev)
        what = f"event {_datetime_ms(o.time)} {o.latitude:.3f} {o.longitude:.3f}"
        if not wins:
            per_event.append(f"{what}: no arrivals at stations of STA_LIST within EVENT_STA_DIST")
            continue
        t1 = min(w[0][0] for w in wins.values())
        t2 = max(w[-1][1] for w in wins.values())
        todo: dict[tuple[str, ...], list[tuple[float, float]]] = {}
        for nslc in _channels_in(segments, t1, t2):
            w = [x for (net, sta), ws in wins.items() if sta == nslc[1].upper() and net in ("", nslc[0].upper())
                 for x in ws]
            if w:
                todo[nslc] = merge_windows(w)
        try:
            _check_channel_seconds(settings, sum(b - a for ws in todo.values() for a, b in ws),
                                   f"{what}: {len(todo)} channels cut around their arrivals")
        except LimitError as exc:
            errors.append(f"line {rl.line}: {rl.text.strip()}\n    -> request exceeds a limit: {exc}")
            per_event.append(f"{what}: not answered (over a limit, see the ERROR_LOG)")
            continue
        n0 = len(out)
        if client is not None:
            for nslc, ws in sorted(todo.items()):
                for a, b in ws:
                    out += _segment_blocks(client, nslc, UTCDateTime(a), UTCDateTime(b), rl, meta, errors, inventory)
        per_event.append(f"{what}: {len(wins)} stations with arrivals, {len(out) - n0} waveform segments")
    log = [f"{len(out) - 1} waveform segments for {len(cat)} events (RELATIVE_TO {rl.relative_to}, line "
           f"{rl.relative_line}) from "
           + ("; ".join(used) if used else f"no {rl.product} product in this TIME range")
           + f"; windows from {before_s:g} s before to {after_s:g} s after each arrival"] + per_event
    return "\n".join(out) + "\n", log


# --------------------------------------------------------------------------- radionuclide (IMS2.0)
def radionuclide_sections(settings, session, rl: RequestLine, max_samples: int) -> tuple[list[str], str]:
    """``RRR`` / ``SAMPLEPHD``: one section per sample collected in TIME at a station of STA_LIST
    (newest report version / the stored message); and the LOG line."""
    from pipeline.radionuclide import report
    from pipeline.store import radionuclide as rn_store

    t1, t2 = rl.env.time
    if rl.keyword == "RRR":
        rows = [r for r in rn_store.stored_reports(session, report.PRODUCT, t1.timestamp, t2.timestamp)
                if rl.env.matches(rl.env.sta_list, r.station)]
    else:
        rows = [x for x in rn_store.list_samples(session, None, t1.timestamp, t2.timestamp, "SAMPLEPHD")
                if rl.env.matches(rl.env.sta_list, x.station)]
    if len(rows) > max_samples:
        raise LimitError(f"{len(rows)} samples match, more than {max_samples} (limit [autodrm] max_events); "
                         "narrow TIME or STA_LIST")
    out = []
    for r in rows:
        if rl.keyword == "RRR":
            out.append(report.rrr_section(report.report_json(r)))
        else:
            out.append(report.phd_section(report.stored_phd(settings, r.file).read_text(errors="replace")))
    what = "radionuclide reports (newest versions)" if rl.keyword == "RRR" else "SAMPLEPHD messages"
    names = ", ".join(f"{r.station} {r.srid or '-'}" + (f" v{r.version}" if rl.keyword == "RRR" else "") for r in rows)
    return out, f"{len(out)} {what}" + (f": {names}" if names else " (none collected in this TIME range at these stations)")


# --------------------------------------------------------------------------- the message
def _msg_id(text: str, now: datetime) -> str:
    """A new MSG_ID, unique per message (:func:`pipeline.io.ims1.new_msg_id`; was a hash of the
    request, so the same request answered twice in a second gave two messages one id)."""
    from pipeline.io.ims1 import new_msg_id

    return new_msg_id(now)


def answer_request(settings, text: str, now: datetime | None = None, inventory=None, authorize=None) -> str:
    """The IMS1.0 DATA message answering request message ``text`` (never raises for bad input:
    problems are answered with ``DATA_TYPE ERROR_LOG``).

    :param inventory: obspy Inventory for WID2 calib/calper/instrument (optional)
    :param authorize: access policy hook ``authorize(product) -> None | event filter``: ``None``
        = the whole product may be read, a callable ``f(event) -> bool`` = only events passing it
        (the public part of a bulletin); raises :class:`PermissionError` (message = reason) when
        the product may not be read. Products: SEL1…SSEB, ``waveforms``, ``stations``.
        Default: everything readable (local use, ``idc request``).
    """
    cfg = settings.autodrm
    now = now or datetime.now(timezone.utc)
    req = parse_request(text, cfg.default_bulletin, cfg.default_waveform_format, cfg.max_request_lines)
    fmt = req.format if req.format in ("IMS1.0", "IMS2.0", "GSE2.0", "GSE2.1") else "IMS1.0"
    head = [f"BEGIN {fmt}", "MSG_TYPE DATA", f"MSG_ID {_msg_id(text, now)} {cfg.source}"]
    if req.msg_id:
        head.append(f"REF_ID {req.msg_id}" + (f" {req.source}" if req.source else ""))
    errors: list[str] = []
    log: list[str] = []
    sections: list[str] = []
    if req.problems:
        errors += [str(p) for p in req.problems]
        errors.append("The request was not processed; correct the lines above and send it again.")
    else:
        if req.help:
            before_s, after_s = cfg.relative_window_s
            sections.append("DATA_TYPE LOG IMS1.0\n" + HELP_TEXT + f"RELATIVE_TO + WAVEFORM windows here: "
                            f"{before_s:g} s before to {after_s:g} s after each arrival.\n")
        _answer_lines(settings, req, sections, errors, log, inventory, authorize)
    body = []
    if errors:
        body.append(f"DATA_TYPE ERROR_LOG {fmt}\n" + "\n".join(errors) + "\n")
    if log:
        body.append(f"DATA_TYPE LOG {fmt}\n" + "\n".join(log) + "\n")
    body += sections
    # a blank line ends each section (GSE2.0 readers need it before STOP)
    msg = "\n".join(head) + "\n" + "".join(s if s.endswith("\n\n") else s.rstrip("\n") + "\n\n" for s in body) + "STOP\n"
    if len(msg.encode()) > cfg.max_response_bytes:
        err = (f"DATA_TYPE ERROR_LOG {fmt}\nmessage: the response would be {len(msg.encode())} bytes, more than "
               f"the limit of {cfg.max_response_bytes} ([autodrm] max_response_bytes); narrow TIME or the lists "
               "and send smaller requests.\n")
        msg = "\n".join(head) + "\n" + err + "STOP\n"
    from pipeline.io.ims1 import ims1_ascii

    return ims1_ascii(msg, keep_width=False)  # IMS1.0 is ASCII (echoed request lines, names, logs)


def _answer_lines(settings, req: Request, sections, errors, log, inventory, authorize) -> None:
    from pipeline.store.db import ensure_schema, session_scope

    cfg = settings.autodrm
    ensure_schema(settings.database_url)
    with session_scope(settings.database_url) as session:
        for rl in req.requests:
            where = f"line {rl.line}: {rl.text.strip()}"
            try:
                # TIME selects events (RELATIVE_TO + WAVEFORM too): the bulletin limit; plain WAVEFORM
                # lines are held to channel-seconds instead
                if rl.env.time is not None and (rl.keyword != "WAVEFORM" or rl.relative_to):
                    span_d = (rl.env.time[1] - rl.env.time[0]) / 86400.0
                    if span_d > cfg.max_time_span_days:
                        raise LimitError(f"TIME spans {span_d:.1f} days, more than the limit of "
                                         f"{cfg.max_time_span_days:g} days ([autodrm] max_time_span_days)")
                product = (rl.product if rl.keyword in ("BULLETIN", "EVENT", "ORIGIN", "ARRIVAL") else
                           "waveforms" if rl.keyword == "WAVEFORM" else
                           rl.keyword if rl.keyword in ("RRR", "SAMPLEPHD") else "stations")
                keep = authorize(product) if authorize is not None else None
                if rl.keyword == "WAVEFORM" and rl.relative_to:
                    # the waveforms as for a plain WAVEFORM line (checked above), and the events they
                    # are cut around as for a BULLETIN line (the public may see its public part only)
                    keep = authorize(rl.product) if authorize is not None else None
                    text, lines = relative_waveform_section(settings, session, rl, errors, inventory, keep)
                    sections.append(text)
                    log.append(f"{where}\n    -> " + "\n    -> ".join(lines))
                elif rl.keyword in ("BULLETIN", "EVENT", "ORIGIN", "ARRIVAL"):
                    cat, used = select_events(session, rl, cfg.max_events, keep)
                    t1, t2 = rl.env.time
                    title = (f"{rl.product} of the idc-pipeline for {_datetime_ms(t1)[:16]} to "
                             f"{_datetime_ms(t2)[:16]}")
                    sections.append(bulletin_section(cat, rl, title))
                    log.append(f"{where}\n    -> {len(cat)} events"
                               + (f" (RELATIVE_TO {rl.relative_to}: their arrivals)" if rl.relative_to else "")
                               + " from "
                               + ("; ".join(used) if used else f"no {rl.product} product in this TIME range"))
                elif rl.keyword == "WAVEFORM":
                    text, n = waveform_section(settings, session, rl, errors, inventory)
                    sections.append(text)
                    log.append(f"{where}\n    -> {n} waveform segments")
                elif rl.keyword == "STATION":
                    sections.append(station_section(session, rl))
                    log.append(f"{where}\n    -> {sections[-1].count(chr(10)) - 2} stations")
                elif rl.keyword == "CHANNEL":
                    sections.append(channel_section(session, rl))
                    log.append(f"{where}\n    -> {sections[-1].count(chr(10)) - 2} channels")
                elif rl.keyword == "OUTAGE":
                    sections.append(outage_section(session, rl))
                    log.append(f"{where}\n    -> {sections[-1].count(chr(10)) - 3} outages")
                elif rl.keyword in ("RRR", "SAMPLEPHD"):
                    found, line = radionuclide_sections(settings, session, rl, cfg.max_events)
                    sections += found
                    log.append(f"{where}\n    -> {line}")
            except LimitError as exc:
                errors.append(f"{where}\n    -> request exceeds a limit: {exc}")
            except PermissionError as exc:
                errors.append(f"{where}\n    -> not allowed: {exc}")
            except Exception as exc:  # never a failed message for one bad line; the operators see the trace
                log_.exception("AutoDRM: answering %r failed", rl.text.strip())
                errors.append(f"{where}\n    -> internal error ({type(exc).__name__}) answering this line; "
                              "the operators have been told")


def split_sections(message: str) -> dict[str, list[str]]:
    """``{DATA_TYPE line: [section text, …]}`` of a DATA message (a small client-side helper)."""
    out: dict[str, list[str]] = defaultdict(list)
    cur, buf = None, []
    for ln in message.splitlines():
        if ln.upper().startswith("DATA_TYPE") or ln.strip().upper() == "STOP":
            if cur is not None:
                out[cur].append("\n".join(buf) + "\n")
            cur, buf = (ln.strip(), [ln]) if ln.upper().startswith("DATA_TYPE") else (None, [])
        elif cur is not None:
            buf.append(ln)
    return dict(out)
