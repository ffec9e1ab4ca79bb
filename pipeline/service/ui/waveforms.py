"""The web UI's waveform viewer endpoint (issue 14; included in :data:`pipeline.service.ui.router`).

``GET /ui/api/event/{eventid}/waveforms`` — the traces of an event's stations around its arrivals,
read from the SDS archive (obspy's SDS client), filtered server-side and reduced to what a screen
can show, with the event's picks and the predicted phases of the travel-time table. Needs the
``waveforms`` product. Parameters (all optional; a bad value is an FDSN error 400 naming it):

* ``start``, ``end`` — window in seconds relative to the origin time (default: 10 s before the
  first pick to 1.3 x the last pick + 10 s; at most :data:`MAX_WINDOW_S` long);
* ``components`` — ``Z`` (default), ``ZNE``, ``Z12``, any letters of ``ZNE123``, or ``*`` (all);
* ``filter`` — ``none`` (default: the raw counts), ``bandpass:FMIN-FMAX``, ``highpass:F`` or
  ``lowpass:F`` (Hz, below the Nyquist frequency of every trace); ``zerophase`` ``true``
  (default) or ``false``. Filtering is done on a window padded by a few periods of the lowest
  corner (demean, Hann taper over the padding only, 4-corner Butterworth), each contiguous
  segment on its own, so that the window's edges and gaps are clean;
* ``width`` — number of envelope buckets (default :data:`WIDTH_DEFAULT`, at most
  :data:`WIDTH_MAX`): a trace with more than ``2 x width`` samples in the window is sent as the
  minimum and maximum of each bucket, otherwise as its samples;
* ``maxtraces`` — at most this many channels (default :data:`MAXTRACES_DEFAULT`).

Channels: those with archived data in the window (``wfavail``, :mod:`pipeline.store.event_waveforms`;
a scan of the SDS day directories when the table knows none), the stations with picks first
(by distance), then the other stations within the picks' distance range (by distance).

Each trace: ``nslc``, ``distance_deg``, ``azimuth_deg``, ``elevation_m``, ``sampling_rate``,
``starttime`` (UTC of the first sample in the window), ``kind`` (``envelope`` or ``samples``),
``t0`` (s after origin of the first bucket or sample), ``dt`` (bucket width or sample interval, s),
``scale`` (a value is the integer sent times ``scale``; 1 for raw integer counts), ``min``/``max``
or ``data`` (``null`` where there are no data), ``gaps`` (``[from, to]`` s after origin, the
window's missing data), ``picks`` (``phase``, ``time`` s after origin, ``time_residual_s``,
``defining``) and ``predicted`` (``phase``, ``time`` s after origin: the table time at the origin
depth plus the station's elevation correction, as the record section's ▼ marks).
"""
from __future__ import annotations

import json
import math
import re
import time as _time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from obspy import UTCDateTime

from pipeline.service.auth import Principal, current_principal, require
from pipeline.service.fdsn.params import FDSNError

router = APIRouter(tags=["web UI"])

#: envelope buckets: default and largest
WIDTH_DEFAULT = 1500
WIDTH_MAX = 4000
#: channels per request: default and largest
MAXTRACES_DEFAULT = 60
MAXTRACES_MAX = 300
#: longest window (s)
MAX_WINDOW_S = 7200.0
#: samples read per request at most (padded windows of all channels; ~400 MB as float64 at most
#: for one channel at a time, the budget bounds the time): further channels are left out
MAX_SAMPLES = 40_000_000
#: component letters in display order
COMPONENTS = "ZNE123"
#: Butterworth corners of the filters
CORNERS = 4


# --------------------------------------------------------------------------- parameters
@dataclass(frozen=True)
class FilterSpec:
    """A filter of the viewer: ``kind`` none/bandpass/highpass/lowpass and its corners (Hz)."""

    kind: str = "none"
    freqmin: float | None = None
    freqmax: float | None = None

    @property
    def label(self) -> str:
        if self.kind == "bandpass":
            return f"bandpass:{self.freqmin:g}-{self.freqmax:g}"
        if self.kind == "highpass":
            return f"highpass:{self.freqmin:g}"
        if self.kind == "lowpass":
            return f"lowpass:{self.freqmax:g}"
        return "none"

    @property
    def highest_hz(self) -> float | None:
        return self.freqmax if self.kind in ("bandpass", "lowpass") else self.freqmin

    @property
    def pad_s(self) -> float:
        """Padding on each side of the window (s): three periods of the lowest corner, 2 s to 300 s."""
        if self.kind == "none":
            return 0.0
        f = self.freqmin if self.kind in ("bandpass", "highpass") else self.freqmax
        return float(min(max(3.0 / f, 2.0), 300.0))

    def obspy_args(self) -> tuple[str, dict]:
        if self.kind == "bandpass":
            return "bandpass", {"freqmin": self.freqmin, "freqmax": self.freqmax}
        if self.kind == "highpass":
            return "highpass", {"freq": self.freqmin}
        return "lowpass", {"freq": self.freqmax}


_FILTER_RE = re.compile(r"^(bandpass|highpass|lowpass):([0-9.eE+]+)(?:-([0-9.eE+]+))?$")


def parse_filter(text: str) -> FilterSpec:
    """``none`` | ``bandpass:FMIN-FMAX`` | ``highpass:F`` | ``lowpass:F`` (Hz) as a :class:`FilterSpec`."""
    t = (text or "none").strip().lower()
    if t in ("none", "raw"):
        return FilterSpec()
    usage = "none, bandpass:FMIN-FMAX, highpass:F or lowpass:F (Hz)"
    m = _FILTER_RE.match(t)
    if not m or (m.group(1) == "bandpass") != (m.group(3) is not None):
        raise FDSNError(400, f"Invalid value for parameter 'filter': {text!r} ({usage})")
    try:
        a = float(m.group(2))
        b = float(m.group(3)) if m.group(3) is not None else None
    except ValueError:
        raise FDSNError(400, f"Invalid value for parameter 'filter': {text!r} ({usage})") from None
    for f in (a, b):
        if f is not None and not (math.isfinite(f) and f > 0):
            raise FDSNError(400, f"Invalid value for parameter 'filter': {text!r} (frequencies must be > 0 Hz)")
    if m.group(1) == "bandpass":
        if not a < b:
            raise FDSNError(400, f"Invalid value for parameter 'filter': {text!r} (FMIN must be below FMAX)")
        return FilterSpec("bandpass", a, b)
    if m.group(1) == "highpass":
        return FilterSpec("highpass", freqmin=a)
    return FilterSpec("lowpass", freqmax=a)


def parse_components(text: str) -> str:
    """``*`` or letters of :data:`COMPONENTS` (upper-cased, in the given order, no repeats)."""
    t = (text or "Z").strip().upper()
    if t == "*":
        return t
    if not t or len(set(t)) != len(t) or any(c not in COMPONENTS for c in t):
        raise FDSNError(400, f"Invalid value for parameter 'components': {text!r} (letters of "
                             f"{COMPONENTS}, e.g. Z, ZNE, Z12, or * for all)")
    return t


def seconds_param(name: str, text, default=None, relative_to: str = "origin time", example: str = "-10 or 120.5"):
    """A window bound in seconds relative to ``relative_to`` (``default`` when absent); a 400
    naming the parameter otherwise."""
    if text is None or str(text).strip() == "":
        return default
    try:
        v = float(text)
    except ValueError:
        v = math.nan
    if not math.isfinite(v):
        raise FDSNError(400, f"Invalid value for parameter '{name}': {text!r} (seconds relative to the "
                             f"{relative_to}, e.g. {example})")
    return v


def _int(name: str, text: str, default: int, lo: int, hi: int) -> int:
    if text is None or str(text).strip() == "":
        return default
    try:
        v = int(text)
    except ValueError:
        raise FDSNError(400, f"Invalid value for parameter '{name}': {text!r} (an integer "
                             f"{lo} to {hi})") from None
    if not lo <= v <= hi:
        raise FDSNError(400, f"Invalid value for parameter '{name}': {v} (an integer {lo} to {hi})")
    return v


def _bool(name: str, text: str, default: bool) -> bool:
    if text is None or str(text).strip() == "":
        return default
    t = str(text).strip().lower()
    if t in ("true", "1", "yes"):
        return True
    if t in ("false", "0", "no"):
        return False
    raise FDSNError(400, f"Invalid value for parameter '{name}': {text!r} (true or false)")


# --------------------------------------------------------------------------- reduction
def envelope(data: np.ndarray, t_first: float, fs: float, start: float, end: float, width: int) -> dict:
    """Reduce the samples ``data`` (``data[0]`` at ``t_first``, ``fs`` Hz; NaN = no data) to the
    window ``[start, end]`` (same time origin as ``t_first``).

    With more than ``2 * width`` samples in the window: ``width`` buckets of ``(end - start) /
    width`` s, bucket ``k`` holding the samples with ``floor((t - start) / dt) == k``, as arrays
    ``min`` and ``max`` (NaN for a bucket without data); otherwise the samples themselves
    (``data``). Returns ``{"kind", "t0", "dt", "npts", ...}``; ``npts`` is the number of samples
    in the window."""
    n = data.size
    off = (start - t_first) * fs  # window start in samples from data[0]
    i0 = max(0, int(math.ceil(off - 1e-6)))
    i1 = min(n, int(math.floor((end - t_first) * fs + 1e-6)) + 1)
    if i1 <= i0:
        return {"kind": "samples", "t0": start, "dt": 1.0 / fs, "npts": 0, "data": data[:0]}
    seg = data[i0:i1]
    if seg.size <= 2 * width:
        return {"kind": "samples", "t0": t_first + i0 / fs, "dt": 1.0 / fs, "npts": int(seg.size), "data": seg}
    dtb = (end - start) / width
    k = np.floor((np.arange(i0, i1, dtype=np.float64) - off) / (dtb * fs)).astype(np.int64)
    np.clip(k, 0, width - 1, out=k)
    if seg.dtype.kind == "f":
        ok = ~np.isnan(seg)
        if not ok.all():
            k, seg = k[ok], seg[ok]
    lo = np.full(width, np.nan)
    hi = np.full(width, np.nan)
    if seg.size:
        first = np.concatenate(([0], np.flatnonzero(np.diff(k)) + 1))  # k is non-decreasing
        lo[k[first]] = np.minimum.reduceat(seg, first)
        hi[k[first]] = np.maximum.reduceat(seg, first)
    return {"kind": "envelope", "t0": start, "dt": dtb, "npts": int(i1 - i0), "min": lo, "max": hi}


def quantise(arrays: list[np.ndarray], integer: bool) -> tuple[float, list[list]]:
    """Arrays as JSON lists of integers times a common power-of-two ``scale`` (1 for integer
    data, else about 7 significant digits); NaN becomes ``None``."""
    finite = [a[np.isfinite(a)] if a.dtype.kind == "f" else a for a in arrays]
    m = max((float(np.abs(a).max()) for a in finite if a.size), default=0.0)
    scale = 1.0
    if not integer and m > 0:
        scale = 2.0 ** (math.ceil(math.log2(m)) - 23)
    out = []
    for a in arrays:
        if a.dtype.kind in "iu" and scale == 1.0:
            out.append(a.astype(np.int64).tolist())
            continue
        nan = np.isnan(a)
        q = np.rint(np.where(nan, 0.0, a) / scale).astype(np.int64).tolist()
        for i in np.flatnonzero(nan):
            q[i] = None
        out.append(q)
    return scale, out


def gap_list(data: np.ndarray, t_first: float, fs: float, start: float, end: float) -> list[list[float]]:
    """The missing data of the window ``[start, end]``: before the first and after the last sample,
    and the NaN runs of ``data`` (``[from, to]``, same time origin; ``to`` is the next sample)."""
    dt = 1.0 / fs
    out = []
    t_last = t_first + (data.size - 1) * dt
    if t_first - start > 1.5 * dt:
        out.append([start, min(t_first, end)])
    if data.dtype.kind == "f" and data.size:
        nan = np.isnan(data).astype(np.int8)
        edges = np.diff(np.concatenate(([0], nan, [0])))
        for a, b in zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)):
            ta, tb = t_first + a * dt, t_first + b * dt
            if tb >= start and ta <= end:
                out.append([max(ta, start), min(tb, end)])
    if end - t_last > 1.5 * dt:
        out.append([max(t_last + dt, start), end])
    return [[round(a, 4), round(b, 4)] for a, b in out if b > a]


# --------------------------------------------------------------------------- reading and filtering
def _merged(stream):
    """One trace (the first id) of ``stream``, gaps filled with NaN; None when empty."""
    if not len(stream):
        return None
    st = stream.select(id=stream[0].id)
    try:
        st.merge(method=1, fill_value=None)
    except Exception:  # obspy's merge raises several types (e.g. segments of different sampling rates): the longest one
        st.traces = [max(st, key=lambda t: t.stats.npts)]
    tr = st[0]
    if np.ma.isMaskedArray(tr.data):
        if tr.data.mask is np.ma.nomask or not tr.data.mask.any():
            tr.data = np.asarray(tr.data.data)
        else:
            tr.data = tr.data.astype(np.float64).filled(np.nan)
    return tr


def filtered(tr, spec: FilterSpec, zerophase: bool) -> np.ndarray:
    """The samples of ``tr`` (NaN in gaps) filtered by ``spec``: each contiguous run of samples
    demeaned, Hann-tapered over at most ``spec.pad_s`` at its ends and filtered (runs shorter
    than 10 samples become NaN). Unfiltered: the samples as they are."""
    data = tr.data
    if spec.kind == "none":
        return data
    x = np.asarray(data, dtype=np.float64).copy()
    nan = np.isnan(x)
    runs = [(0, x.size)]
    if nan.any():
        edges = np.diff(np.concatenate(([1], nan.astype(np.int8), [1])))
        runs = list(zip(np.flatnonzero(edges == -1), np.flatnonzero(edges == 1)))
    kind, kw = spec.obspy_args()
    for a, b in runs:
        if b - a < 10:
            x[a:b] = np.nan
            continue
        seg = tr.copy()
        seg.data = x[a:b].copy()
        seg.stats.starttime = tr.stats.starttime + a / tr.stats.sampling_rate
        seg.detrend("demean")
        seg.taper(max_percentage=0.5, type="hann", max_length=spec.pad_s)
        seg.filter(kind, corners=CORNERS, zerophase=zerophase, **kw)
        x[a:b] = seg.data
    return x


def predicted_times(tt, phases, distance_deg: np.ndarray, depth_km: float, elevation_km: np.ndarray) -> dict:
    """Predicted travel times (s) of ``phases`` at ``distance_deg`` for a source at ``depth_km``
    (clipped to the table): the table time plus the correction from the table's receiver
    elevation to each station's ``elevation_km`` — the arithmetic of the record section's ▼ marks
    (:func:`pipeline.plots.plot_event_record_section`). NaN where a phase does not exist."""
    d = np.asarray(distance_deg, dtype=float)
    z = float(np.clip(depth_km, tt.depth_km[0], tt.depth_km[-1]))
    return {ph: tt.station_time(ph, d, z, elevation_km) for ph in phases}


# --------------------------------------------------------------------------- channel selection
@dataclass
class _Station:
    net: str
    sta: str
    distance_deg: float | None
    azimuth_deg: float | None
    elevation_km: float
    picked: bool
    channels: list


def _comp_key(chan: str) -> tuple:
    c = chan[-1:] if chan else ""
    return (COMPONENTS.index(c) if c in COMPONENTS else len(COMPONENTS), chan)


def _archive_channels(settings, session_factory, t1: UTCDateTime, t2: UTCDateTime):
    """Channels with data in the window: the ``wfavail`` table, else the SDS day directories."""
    from pipeline.store.event_waveforms import ArchivedChannel, archived_channels, site_coordinates

    with session_factory() as s:
        chans = archived_channels(s, float(t1.timestamp), float(t2.timestamp))
        if chans:
            return chans
        from obspy.clients.filesystem.sds import Client

        client = Client(str(settings.archive_dir))
        found = set()
        day = UTCDateTime(t1.date)
        while day <= t2:
            found |= set(client.get_all_nslc(datetime=day))
            day += 86400
        coords = site_coordinates(s, {x[1] for x in found}, float(t1.timestamp))
    out = []
    for net, sta, loc, chan in sorted(found):
        c = coords.get((net, sta)) or coords.get(("", sta)) or (None, None, None)
        out.append(ArchivedChannel(net, sta, loc, chan, 0.0, *c))
    return out


def _picks_of(ev, origin) -> list[dict]:
    picks = {str(p.resource_id): p for p in ev.picks}
    out = []
    for a in origin.arrivals:
        p = picks.get(str(a.pick_id)) if a.pick_id is not None else None
        if p is None or p.time is None:
            continue
        w = p.waveform_id
        out.append({"network": (w.network_code or "") if w else "", "station": (w.station_code or "") if w else "",
                    "channel": (w.channel_code or "") if w else "", "phase": a.phase or p.phase_hint or "?",
                    "time": round(float(p.time - origin.time), 4),
                    "time_residual_s": None if a.time_residual is None else round(float(a.time_residual), 4),
                    "defining": bool(a.time_weight), "distance_deg": a.distance})
    return out


def select_stations(chans, picks, origin, components: str) -> list[_Station]:
    """The stations to show: those with picks first, then the others within the picks' distance
    range (all of them when there are no picks), each group by distance; channels of the wanted
    components, in :data:`COMPONENTS` order."""
    from pipeline.location.geodesy import distance_azimuth, geocentric_latitude

    by_sta: dict[tuple[str, str], _Station] = {}
    picked = {(p["network"], p["station"]) for p in picks} | {("", p["station"]) for p in picks}
    pick_dist = {p["station"]: p["distance_deg"] for p in picks if p["distance_deg"] is not None}
    lat0 = geocentric_latitude(origin.latitude)
    for c in chans:
        if components != "*" and c.chan[-1:] not in components:
            continue
        key = (c.net, c.sta)
        st = by_sta.get(key)
        if st is None:
            d = az = None
            if c.latitude is not None:
                d, az, _ = distance_azimuth(lat0, origin.longitude, geocentric_latitude(c.latitude), c.longitude)
                d, az = float(d), float(az)
            elif c.sta in pick_dist:
                d = float(pick_dist[c.sta])
            st = by_sta[key] = _Station(c.net, c.sta, d, az, c.elevation_km or 0.0,
                                        key in picked or ("", c.sta) in picked, [])
        st.channels.append(c)
    stations = list(by_sta.values())
    for st in stations:
        st.channels.sort(key=lambda c: (c.loc, _comp_key(c.chan)))

    def order(st):
        return (st.distance_deg is None, st.distance_deg or 0.0, st.net, st.sta)

    first = sorted((s for s in stations if s.picked), key=order)
    d_picked = [s.distance_deg for s in first if s.distance_deg is not None]
    d_picked += [float(v) for v in pick_dist.values()]
    others = [s for s in stations if not s.picked]
    if d_picked:
        lo, hi = min(d_picked), max(d_picked)
        margin = max(0.1 * hi, 0.02)
        others = [s for s in others if s.distance_deg is not None and lo - margin <= s.distance_deg <= hi + margin]
    return first + sorted(others, key=order)


# --------------------------------------------------------------------------- the endpoint
def event_waveforms(request: Request, principal: Principal, eventid: str, params) -> dict:
    """The JSON document of ``/ui/api/event/{eventid}/waveforms`` (see the module docstring)."""
    from obspy.clients.filesystem.sds import Client

    from pipeline.service.ui import _one_event, record_section_table

    tick = _time.perf_counter()
    require(principal, "waveforms")
    known = {"start", "end", "components", "filter", "zerophase", "width", "maxtraces"}
    for k in params:
        if k not in known:
            raise FDSNError(400, f"Unknown parameter {k!r} (one of {', '.join(sorted(known))})")
    start = seconds_param("start", params.get("start"))
    end = seconds_param("end", params.get("end"))
    components = parse_components(params.get("components", "Z"))
    spec = parse_filter(params.get("filter", "none"))
    zerophase = _bool("zerophase", params.get("zerophase"), True)
    width = _int("width", params.get("width"), WIDTH_DEFAULT, 10, WIDTH_MAX)
    maxtraces = _int("maxtraces", params.get("maxtraces"), MAXTRACES_DEFAULT, 1, MAXTRACES_MAX)

    row, ev = _one_event(request, principal, eventid)
    st = request.app.state.idc
    settings = st.settings
    origin = ev.preferred_origin() or ev.origins[0]
    if origin.time is None or origin.latitude is None or origin.longitude is None:
        raise FDSNError(404, f"Event {eventid!r} has no located origin: no waveforms to align")
    t0 = origin.time
    picks = _picks_of(ev, origin)
    rel = [p["time"] for p in picks]
    if start is None:
        start = (min(rel) - 10.0) if rel else -30.0
    if end is None:
        end = (1.3 * max(rel) + 10.0) if rel else 300.0
        end = min(max(end, start + 10.0), start + MAX_WINDOW_S)  # a default never exceeds the cap
    if end <= start:
        raise FDSNError(400, f"Invalid value for parameter 'end': {end:g} (must be after start = {start:g} s)")
    if end - start > MAX_WINDOW_S:
        raise FDSNError(400, f"Invalid value for parameter 'end': the window {start:g} to {end:g} s is longer "
                             f"than {MAX_WINDOW_S:g} s")
    if not Path(settings.archive_dir).is_dir():
        raise FDSNError(404, f"No waveform archive at {settings.archive_dir}")
    pad = spec.pad_s
    w1, w2 = t0 + start, t0 + end
    chans = _archive_channels(settings, st.session, w1, w2)
    stations = select_stations(chans, picks, origin, components)
    if not stations:
        raise FDSNError(404, f"No waveforms in the archive from {w1} to {w2} ({components} components) "
                             f"for event {eventid}")
    tt = record_section_table(request.app)
    phases = list(getattr(tt, "phases", ()))
    depth_km = (origin.depth or 0.0) / 1000.0
    with_d = [s for s in stations if s.distance_deg is not None]
    pred = predicted_times(tt, phases, np.array([s.distance_deg for s in with_d]), depth_km,
                           np.array([s.elevation_km for s in with_d])) if with_d and phases else {}
    pred_of = {(s.net, s.sta): [{"phase": ph, "time": round(float(pred[ph][i]), 4)} for ph in phases
                                if np.isfinite(pred[ph][i])]
               for i, s in enumerate(with_d)}

    client = Client(str(settings.archive_dir))
    traces, missing, budget = [], [], MAX_SAMPLES
    todo = [(s, c) for s in stations for c in s.channels]
    skipped = 0
    for k, (sta, c) in enumerate(todo):
        if len(traces) >= maxtraces:
            skipped = len(todo) - k
            break
        need = (c.samprate or 100.0) * (end - start + 2 * pad)
        if need > budget:
            skipped = len(todo) - k
            break
        stream = client.get_waveforms(c.net, c.sta, c.loc, c.chan, w1 - pad, w2 + pad)
        tr = _merged(stream)
        if tr is None or tr.stats.npts == 0:
            missing.append(c.nslc)
            continue
        fs = float(tr.stats.sampling_rate)
        budget -= tr.stats.npts
        f_hi = spec.highest_hz
        if f_hi is not None and f_hi >= 0.5 * fs:
            raise FDSNError(400, f"Invalid value for parameter 'filter': {spec.label}: {f_hi:g} Hz is not below "
                                 f"the Nyquist frequency ({0.5 * fs:g} Hz) of {tr.id}")
        data = filtered(tr, spec, zerophase)
        t_first = float(tr.stats.starttime - t0)
        red = envelope(data, t_first, fs, start, end, width)
        if red["npts"] == 0:
            missing.append(c.nslc)
            continue
        integer = spec.kind == "none" and (tr.data.dtype.kind in "iu" or np.all(
            np.isnan(data) | (data == np.round(data))))
        if red["kind"] == "envelope":
            scale, (lo, hi) = quantise([red["min"], red["max"]], integer)
            values = {"min": lo, "max": hi}
        else:
            scale, (vals,) = quantise([red["data"]], integer)
            values = {"data": vals}
        tp = [p for p in picks if p["station"] == c.sta and p["network"] in ("", c.net)]
        traces.append({
            "nslc": tr.id, "network": c.net, "station": c.sta, "location": c.loc, "channel": c.chan,
            "distance_deg": None if sta.distance_deg is None else round(sta.distance_deg, 5),
            "azimuth_deg": None if sta.azimuth_deg is None else round(sta.azimuth_deg, 2),
            "elevation_m": round(sta.elevation_km * 1000.0, 1), "sampling_rate": fs,
            "starttime": str(t0 + red["t0"]), "kind": red["kind"], "t0": round(red["t0"], 6), "dt": red["dt"],
            "npts": red["npts"], "scale": scale, **values,
            "gaps": gap_list(data, t_first, fs, start, end),
            "picks": [{k2: p[k2] for k2 in ("phase", "time", "time_residual_s", "defining", "channel")} for p in tp],
            "predicted": pred_of.get((c.net, c.sta), [])})
    if not traces:
        raise FDSNError(404, f"No waveforms in the archive from {w1} to {w2} ({components} components) "
                             f"for event {eventid}")
    return {"eventid": row["eventid"], "version": row["version"], "origin_time": str(t0),
            "latitude": origin.latitude, "longitude": origin.longitude, "depth_km": round(depth_km, 3),
            "start": start, "end": end, "width": width, "components": components, "filter": spec.label,
            "zerophase": zerophase, "pad_s": pad, "phases": phases,
            "model": getattr(getattr(tt, "model", None), "name", ""),
            "traces": traces, "missing": missing, "truncated": skipped,
            "elapsed_s": round(_time.perf_counter() - tick, 3)}


@router.get("/ui/api/event/{eventid}/waveforms")
def waveforms(eventid: str, request: Request, principal: Principal = Depends(current_principal)):
    doc = event_waveforms(request, principal, eventid, dict(request.query_params))
    return Response(json.dumps(doc, separators=(",", ":"), allow_nan=False), media_type="application/json",
                    headers={"Cache-Control": "private, max-age=60"})
