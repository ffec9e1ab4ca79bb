"""The event page's array panel (issue 16 item 5; included in :data:`pipeline.service.ui.router`):
the beam and f-k picture of an event's array arrivals.

An array arrival is an arrival under an array code (``ASAR``, ``WRA``) whose elements the site
table knows (``refsta``, as ``idc stations load`` writes it) or ``[array] elements`` names. Its
picture is recomputed from the elements' archived waveforms (SDS archive, channels from
``wfavail`` through :mod:`pipeline.store.event_waveforms`, like the waveform viewer) with the
chain's own array processing (:mod:`pipeline.array`: element data, geometry, the per-array
configuration of ``[array]``, :func:`pipeline.array.measure` in each band of the configuration,
the most coherent kept, as :func:`pipeline.array.detect_array` does for a detection).

* ``GET /ui/api/event/{eventid}/arrays`` - the event's array arrivals: ``station`` (array code),
  ``network``, ``phase``, ``time``, ``backazimuth_deg``, ``slowness_s_deg`` (the bulletin's),
  ``elements`` (element stations with archived data around the arrival).
* ``GET /ui/api/event/{eventid}/array/{station}`` - one array arrival. Parameters (optional; a bad
  value is an FDSN error 400 naming it): ``phase`` (which arrival of that array; default its first),
  ``start``/``end`` (the traces' window, s relative to the arrival, default -10 to 30, at most
  :data:`MAX_WINDOW_S`), ``band`` (``FMIN-FMAX`` Hz; default: the configuration's bands, the one
  with the largest F kept). Answer:

  - ``fk``: the f-k relative power (obspy ``array_processing``, Bartlett, 0-1) in the f-k window
    (``fk_window_s`` after the arrival) on the slowness grid: ``sx``/``sy`` axes in s/deg
    (east/north, the propagation direction), ``power[i][j]`` at ``(sx[i], sy[j])``;
  - ``peak``: the grid maximum (``sx``, ``sy`` s/deg, ``backazimuth_deg``, ``slowness_s_deg``,
    ``relpow``); ``measured``: the plane-wave refinement (what the chain reports: backazimuth,
    slowness, their 1-sigma uncertainties, ``fstat``, ``semblance``, ``relpow``) and the bulletin's
    values (``bulletin``); ``predicted``: backazimuth and slowness from the origin and the
    travel-time table (``null`` members where the phase is not in the table);
  - ``beams``: delay-and-sum beams (band-passed, exact delays) steered to the measured and the
    predicted slowness vectors, each with the Fisher F of the f-k window; ``traces``: the elements
    band-passed and aligned on the measured beam, each with its offsets (``x_km``, ``y_km``) and
    delay (``delay_s``). Beams and traces in the waveform viewer's form (``kind``, ``t0``, ``dt``,
    ``scale``, ``data`` or ``min``/``max``; times in s after the arrival).

Access: the ``waveforms`` product and the event's own access rule (as the waveform viewer).
"""
from __future__ import annotations

import json
import math
import re
import time as _time
from pathlib import Path

import numpy as np
from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from pipeline.service.auth import Principal, current_principal, require
from pipeline.service.fdsn.params import FDSNError
from pipeline.service.ui import _num  # noqa: E402  (defined before the package imports this module)

router = APIRouter(tags=["web UI"])

#: longest traces window, s
MAX_WINDOW_S = 300.0
#: default traces window relative to the arrival, s
DEFAULT_WINDOW_S = (-10.0, 30.0)
#: data read before and after the windows (the band-pass settles, the delays stay inside), s
READ_PAD_S = 30.0
#: envelope buckets of a beam or trace (fewer samples are sent as they are)
WIDTH = 1500
#: around the arrivals, where the array list looks for archived elements (s before and after)
_LIST_SPAN_S = 60.0

_BAND_RE = re.compile(r"^\s*([0-9.eE+]+)\s*-\s*([0-9.eE+]+)\s*$")


# --------------------------------------------------------------------------- parameters
def parse_band(text) -> tuple[float, float] | None:
    """``FMIN-FMAX`` (Hz) or empty (None: the configuration's bands)."""
    if text is None or str(text).strip() == "":
        return None
    m = _BAND_RE.match(str(text))
    usage = "FMIN-FMAX in Hz, e.g. 2-8"
    if not m:
        raise FDSNError(400, f"Invalid value for parameter 'band': {text!r} ({usage})")
    try:
        a, b = float(m.group(1)), float(m.group(2))
    except ValueError:
        raise FDSNError(400, f"Invalid value for parameter 'band': {text!r} ({usage})") from None
    if not (math.isfinite(a) and math.isfinite(b) and 0 < a < b):
        raise FDSNError(400, f"Invalid value for parameter 'band': {text!r} (need 0 < FMIN < FMAX)")
    return a, b


# --------------------------------------------------------------------------- event and store
def _arrivals(ev, origin) -> list[dict]:
    """The origin's arrivals with a pick: station, network, phase, time (UTCDateTime), the
    bulletin's backazimuth/slowness and residuals."""
    picks = {str(p.resource_id): p for p in ev.picks}
    out = []
    for a in origin.arrivals:
        p = picks.get(str(a.pick_id)) if a.pick_id is not None else None
        if p is None or p.time is None or p.waveform_id is None:
            continue
        w = p.waveform_id
        out.append({"network": w.network_code or "", "station": w.station_code or "",
                    "phase": a.phase or p.phase_hint or "?", "time": p.time,
                    "backazimuth_deg": p.backazimuth, "slowness_s_deg": p.horizontal_slowness,
                    "backazimuth_residual_deg": a.backazimuth_residual,
                    "slowness_residual": a.horizontal_slowness_residual})
    return sorted(out, key=lambda x: float(x["time"]))


def _members(session, settings, t: float, stations) -> dict[tuple[str, str], str]:
    """``(net, sta) -> array code`` of the element stations: the site table's ``refsta`` at ``t``,
    then ``[array] elements`` over ``stations`` (those with archived data; the configuration wins,
    as in :func:`pipeline.resources.station_table`)."""
    from pipeline.stations.arrays import array_elements
    from pipeline.store.event_waveforms import array_element_sites

    described = array_element_sites(session, t)
    return {**described, **array_elements(None, dict(settings.array.elements), stations)}


def _inventory(chans):
    """An obspy Inventory of the archived element channels at their site coordinates (those
    without coordinates are left out: the geometry then names them)."""
    from obspy.core.inventory import Channel, Inventory, Network, Station

    nets: dict[str, Network] = {}
    stas: dict[tuple[str, str], Station] = {}
    for c in chans:
        if c.latitude is None:
            continue
        elev_m = (c.elevation_km or 0.0) * 1000.0
        key = (c.net, c.sta)
        if key not in stas:
            stas[key] = Station(c.sta, c.latitude, c.longitude, elev_m)
            nets.setdefault(c.net, Network(c.net)).stations.append(stas[key])
        stas[key].channels.append(Channel(c.chan, c.loc, c.latitude, c.longitude, elev_m, 0.0))
    return Inventory(networks=list(nets.values()), source="idc-pipeline site table")


def _reduced(x: np.ndarray, t_first: float, fs: float, start: float, end: float) -> dict:
    """A beam or trace in the waveform viewer's form (envelope or samples, quantised)."""
    from pipeline.service.ui.waveforms import envelope, quantise

    red = envelope(x, t_first, fs, start, end, WIDTH)
    if red["kind"] == "envelope":
        scale, (lo, hi) = quantise([red["min"], red["max"]], False)
        values = {"min": lo, "max": hi}
    else:
        scale, (vals,) = quantise([red["data"]], False)
        values = {"data": vals}
    return {"kind": red["kind"], "t0": round(red["t0"], 6), "dt": red["dt"], "npts": red["npts"],
            "scale": scale, **values}


# --------------------------------------------------------------------------- the endpoints
def event_arrays(request: Request, principal: Principal, eventid: str) -> dict:
    """The JSON document of ``/ui/api/event/{eventid}/arrays`` (see the module docstring)."""
    from pipeline.service.ui import _one_event
    from pipeline.store.event_waveforms import archived_channels

    require(principal, "waveforms")
    row, ev = _one_event(request, principal, eventid)
    origin = ev.preferred_origin() or ev.origins[0]
    arrs = _arrivals(ev, origin)
    st = request.app.state.idc
    out = []
    if arrs:
        t_lo = min(float(a["time"]) for a in arrs) - _LIST_SPAN_S
        t_hi = max(float(a["time"]) for a in arrs) + _LIST_SPAN_S
        with st.session() as s:
            chans = archived_channels(s, t_lo, t_hi)
            members = _members(s, st.settings, float(origin.time or arrs[0]["time"]),
                               {(c.net, c.sta) for c in chans})
        with_data: dict[str, set] = {}
        for c in chans:
            code = members.get((c.net, c.sta))
            if code:
                with_data.setdefault(code, set()).add((c.net, c.sta))
        for a in arrs:
            n = len(with_data.get(a["station"], ()))
            if n:
                out.append({"station": a["station"], "network": a["network"], "phase": a["phase"],
                            "time": str(a["time"]), "backazimuth_deg": _num(a["backazimuth_deg"], 2),
                            "slowness_s_deg": _num(a["slowness_s_deg"], 3), "elements": n})
    return {"eventid": row["eventid"], "version": row["version"], "arrivals": out}


def array_arrival(request: Request, principal: Principal, eventid: str, station: str, params) -> dict:
    """The JSON document of ``/ui/api/event/{eventid}/array/{station}`` (see the module docstring)."""
    from obspy import Stream
    from obspy.clients.filesystem.sds import Client

    from pipeline.array import (KM_PER_DEG, ArrayGeometryError, AutoArray, ArrayConfig, element_data, fisher_f,
                                geometry_from_inventory, grid_peak, measure, polar, slowness_vector)
    from pipeline.array.beam import beam_window
    from pipeline.detection.stalta import bandpass
    from pipeline.location.geodesy import distance_azimuth, geocentric_latitude
    from pipeline.service.ui import _one_event, record_section_table
    from pipeline.store.event_waveforms import archived_channels

    tick = _time.perf_counter()
    require(principal, "waveforms")
    known = {"phase", "start", "end", "band"}
    for k in params:
        if k not in known:
            raise FDSNError(400, f"Unknown parameter {k!r} (one of {', '.join(sorted(known))})")
    from pipeline.service.ui.waveforms import seconds_param

    start = seconds_param("start", params.get("start"), DEFAULT_WINDOW_S[0], "arrival time", "-10 or 30")
    end = seconds_param("end", params.get("end"), DEFAULT_WINDOW_S[1], "arrival time", "-10 or 30")
    if end <= start:
        raise FDSNError(400, f"Invalid value for parameter 'end': {end:g} (must be after start = {start:g} s)")
    if end - start > MAX_WINDOW_S:
        raise FDSNError(400, f"Invalid value for parameter 'end': the window {start:g} to {end:g} s is longer "
                             f"than {MAX_WINDOW_S:g} s")
    band = parse_band(params.get("band"))
    phase = (params.get("phase") or "").strip()

    row, ev = _one_event(request, principal, eventid)
    origin = ev.preferred_origin() or ev.origins[0]
    arrs = _arrivals(ev, origin)
    mine = [a for a in arrs if a["station"] == station]
    if not mine:
        have = ", ".join(sorted({a["station"] for a in arrs})) or "none"
        raise FDSNError(404, f"Invalid value for parameter 'station': event {eventid} has no arrival at "
                             f"{station!r} (its arrivals' stations: {have})")
    if phase:
        mine = [a for a in mine if a["phase"] == phase]
        if not mine:
            raise FDSNError(400, f"Invalid value for parameter 'phase': {phase!r} (the arrivals at {station}: "
                                 f"{', '.join(a['phase'] for a in arrs if a['station'] == station)})")
    arr = mine[0]
    t_arr = arr["time"]
    st_ = request.app.state.idc
    settings = st_.settings
    acfg = settings.array.build()
    base = ArrayConfig(**acfg.overrides) if isinstance(acfg, AutoArray) else acfg
    fk0, fk1 = base.fk_window_s
    r0 = min(start, fk0) - READ_PAD_S
    r1 = max(end, fk1) + READ_PAD_S
    w1, w2 = t_arr + r0, t_arr + r1
    with st_.session() as s:
        chans = archived_channels(s, float(w1.timestamp), float(w2.timestamp))
        members = _members(s, settings, float(t_arr.timestamp), {(c.net, c.sta) for c in chans})
    elements = sorted(k for k, code in members.items() if code == station)
    if not elements:
        raise FDSNError(400, f"Invalid value for parameter 'station': {station} is not an array (no station "
                             f"of the site table has refsta {station} and [array] elements does not name it): "
                             f"its {arr['phase']} arrival is not an array arrival")
    el_set = set(elements)
    comp = base.component
    el_chans = [c for c in chans if (c.net, c.sta) in el_set
                and (comp is None or c.chan[-1:].upper() == comp.upper())]
    names = ", ".join(f"{n}.{s}" for n, s in elements)
    if not Path(settings.archive_dir).is_dir() or not el_chans:
        raise FDSNError(404, f"No archived data of the elements of array {station} ({names}) from {w1} to {w2}")
    client = Client(str(settings.archive_dir))
    stream = Stream()
    for c in el_chans:
        stream += client.get_waveforms(c.net, c.sta, c.loc, c.chan, w1, w2)
    try:
        ed = element_data(stream, comp)
        geom = geometry_from_inventory(_inventory(el_chans), ed.seed_ids, ed.t0, code=station)
    except ArrayGeometryError as exc:
        raise FDSNError(404, f"No usable archived element data of array {station} from {w1} to {w2}: {exc}") from None
    fs, t0 = ed.fs, ed.t0.timestamp
    config = acfg.resolve(fs, geom.aperture_km) if isinstance(acfg, AutoArray) else acfg
    if band is not None and band[1] >= 0.5 * fs:
        raise FDSNError(400, f"Invalid value for parameter 'band': {band[0]:g}-{band[1]:g} Hz is not below the "
                             f"Nyquist frequency ({0.5 * fs:g} Hz) of the elements of {station}")
    bands = [band] if band is not None else list(config.bands)
    onset = float(t_arr.timestamp)
    need0, need1 = onset + fk0 - 5.0 / min(b[0] for b in bands), onset + fk1
    if need0 < t0 or need1 > t0 + (ed.data.shape[1] - 1) / fs:
        raise FDSNError(404, f"No archived element data of array {station} covering the f-k window "
                             f"{fk0:g} to {fk1:g} s around the arrival {t_arr} (data {ed.t0} to "
                             f"{ed.t0 + (ed.data.shape[1] - 1) / fs})")
    # as detect_array: measured in each band, the most coherent (largest F) kept
    tried = []
    for b in bands:
        values, fkmap = measure(ed.data, geom, fs, t0, onset, config, tuple(b))
        tried.append((values, fkmap, tuple(b)))
    values, fkmap, best = max(tried, key=lambda v: v[0]["fstat"] if np.isfinite(v[0]["fstat"]) else -np.inf)
    psx, psy, prel = grid_peak(fkmap)
    pbaz, pslow = polar(psx, psy)

    # predicted from the origin and the travel-time table at the array's reference point
    pred = {"backazimuth_deg": None, "slowness_s_deg": None, "distance_deg": None, "time_s": None,
            "phase": arr["phase"], "model": ""}
    if origin.latitude is not None and origin.longitude is not None:
        d, _az, baz = distance_azimuth(geocentric_latitude(origin.latitude), origin.longitude,
                                       geocentric_latitude(geom.latitude), geom.longitude)
        pred.update(distance_deg=_num(d, 4), backazimuth_deg=_num(baz, 2))
        tt = record_section_table(request.app)
        pred["model"] = getattr(getattr(tt, "model", None), "name", "")
        if arr["phase"] in list(getattr(tt, "phases", ())):
            z = (origin.depth or 0.0) / 1000.0
            z = float(np.clip(z, tt.depth_km[0], tt.depth_km[-1]))
            p = float(tt.slowness(arr["phase"], float(d), z))
            t = float(tt.time(arr["phase"], float(d), z))
            pred["slowness_s_deg"] = _num(p, 3)
            if origin.time is not None and math.isfinite(t):
                pred["time_s"] = _num(float(origin.time + t - t_arr), 3)

    # beams and aligned elements in the measurement band (the chain's causal band-pass)
    y = bandpass(ed.data, best[0], best[1], fs, config.filter_corners)
    t_first = t0 - onset  # s after the arrival of the first sample
    msx, msy = slowness_vector(values["backazimuth"], values["slowness"])
    aligned, beam = beam_window(y, geom, fs, float(msx), float(msy))
    i0, i1 = int(round((fk0 - t_first) * fs)), int(round((fk1 - t_first) * fs))
    taper = np.hanning(i1 - i0)

    def f_of(al):
        return fisher_f(al[:, i0:i1] * taper)[1]

    beams = {"measured": {"backazimuth_deg": _num(values["backazimuth"], 2),
                          "slowness_s_deg": _num(values["slowness"], 3), "fstat": _num(f_of(aligned), 3),
                          **_reduced(beam, t_first, fs, start, end)}}
    if pred["backazimuth_deg"] is not None and pred["slowness_s_deg"] is not None:
        qsx, qsy = slowness_vector(pred["backazimuth_deg"], pred["slowness_s_deg"])
        al_p, beam_p = beam_window(y, geom, fs, float(qsx), float(qsy))
        beams["predicted"] = {"backazimuth_deg": pred["backazimuth_deg"], "slowness_s_deg": pred["slowness_s_deg"],
                              "fstat": _num(f_of(al_p), 3), **_reduced(beam_p, t_first, fs, start, end)}
    delays = geom.delays_s(float(msx), float(msy))
    traces = [{"nslc": sid, "x_km": round(float(geom.x_km[i]), 4), "y_km": round(float(geom.y_km[i]), 4),
               "delay_s": round(float(delays[i]), 4), **_reduced(aligned[i], t_first, fs, start, end)}
              for i, sid in enumerate(geom.seed_ids)]
    axis = fkmap.sx.values * KM_PER_DEG
    power = np.round(fkmap.values, 4)
    return {
        "eventid": row["eventid"], "version": row["version"], "station": station,
        "array": {"code": geom.code, "network": geom.seed_ids[0].split(".")[0], "reference": geom.reference,
                  "latitude": round(geom.latitude, 5), "longitude": round(geom.longitude, 5),
                  "elements": geom.n, "aperture_km": round(geom.aperture_km, 3), "sampling_rate": fs},
        "arrival": {"phase": arr["phase"], "time": str(t_arr),
                    "origin_time": str(origin.time) if origin.time is not None else None},
        "band_hz": list(best), "bands_tried_hz": [list(b) for _, _, b in tried],
        "fk_window_s": [fk0, fk1], "start": start, "end": end,
        "fk": {"sx": np.round(axis, 4).tolist(), "sy": np.round(fkmap.sy.values * KM_PER_DEG, 4).tolist(),
               "power": power.tolist(), "units": "relative power (0-1)", "slowness_units": "s/deg",
               "max_slowness_s_deg": config.fk_max_slowness_s_deg, "step_s_deg": config.fk_step_s_deg},
        "peak": {"sx": round(psx * KM_PER_DEG, 4), "sy": round(psy * KM_PER_DEG, 4),
                 "backazimuth_deg": _num(pbaz, 2), "slowness_s_deg": _num(pslow, 3), "relpow": _num(prel, 4)},
        "measured": {"backazimuth_deg": _num(values["backazimuth"], 2), "slowness_s_deg": _num(values["slowness"], 3),
                     "backazimuth_uncertainty_deg": _num(values["backazimuth_uncertainty"], 2),
                     "slowness_uncertainty_s_deg": _num(values["slowness_uncertainty"], 3),
                     "fstat": _num(values["fstat"], 3), "semblance": _num(values["semblance"], 4),
                     "relpow": _num(values["relpow"], 4),
                     "bulletin": {"backazimuth_deg": _num(arr["backazimuth_deg"], 2),
                                  "slowness_s_deg": _num(arr["slowness_s_deg"], 3),
                                  "backazimuth_residual_deg": _num(arr["backazimuth_residual_deg"], 2),
                                  "slowness_residual": _num(arr["slowness_residual"], 3)}},
        "predicted": pred, "beams": beams, "traces": traces,
        "elapsed_s": round(_time.perf_counter() - tick, 3)}


def _json(doc: dict) -> Response:
    return Response(json.dumps(doc, separators=(",", ":"), allow_nan=False), media_type="application/json",
                    headers={"Cache-Control": "private, max-age=60"})


@router.get("/ui/api/event/{eventid}/arrays")
def arrays(eventid: str, request: Request, principal: Principal = Depends(current_principal)):
    return _json(event_arrays(request, principal, eventid))


@router.get("/ui/api/event/{eventid}/array/{station}")
def array(eventid: str, station: str, request: Request, principal: Principal = Depends(current_principal)):
    return _json(array_arrival(request, principal, eventid, station, dict(request.query_params)))
