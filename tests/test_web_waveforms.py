"""The web UI's waveform viewer (issue 14): ``/ui/api/event/{id}/waveforms`` and ``waveforms.js``.

Real data: the test store of :mod:`tests.test_web_ui` (four 2014 Bardarbunga events of the Z7
network with their QuakeMigrate picks as an SEL3 product, their miniSEED in the SDS archive, the
Z7 StationXML; the 1995 REB excerpt without waveforms). Every check recomputes the expected value
independently: the SDS day files read with obspy, obspy's own filters, the QuakeMigrate pick
files, the travel-time table of the test store.
"""
from __future__ import annotations

import math
import os
import shutil

import numpy as np
import pytest
from obspy import UTCDateTime, read, read_inventory
from obspy.geodetics import locations2degrees

from tests.test_web_ui import (  # noqa: F401  (pytest fixtures imported by name)
    DOCS,
    EVENT_IDS,
    Z7,
    _browser_missing,
    auth,
    browser,
    client,
    png_size,
    qm_event,
    store,
    ui_app,
)


@pytest.fixture(scope="module")
def sel3_ids(client, store):
    """SEL3 event ids in time order, with the QuakeMigrate source events (EVENT_IDS are in time order)."""
    evs = client.get("/ui/api/events", params={"catalog": "SEL3", "orderby": "time-asc"},
                     headers=auth(store, "ana")).json()["events"]
    assert len(evs) == len(EVENT_IDS)
    out = []
    for e, src_id in zip(evs, EVENT_IDS):
        src = qm_event(src_id)
        assert abs(UTCDateTime(e["time"]) - src.origins[0].time) < 1e-3
        out.append((e["eventid"], src))
    return out


def _get(client, store, eid, who="ana", **params):
    return client.get(f"/ui/api/event/{eid}/waveforms", params=params, headers=auth(store, who))


def _sds_trace(store, nslc: str, day: UTCDateTime):
    """The channel's SDS day file read with obspy (independent of the SDS client), merged."""
    net, sta, loc, cha = nslc.split(".")
    path = (store["settings"].archive_dir / str(day.year) / net / sta / f"{cha}.D"
            / f"{nslc}.D.{day.year}.{day.julday:03d}")
    st = read(str(path))
    st.merge(method=1)
    assert len(st) == 1
    return st[0]


def _values(tr_json, key):
    return np.array([np.nan if v is None else v * tr_json["scale"] for v in tr_json[key]], dtype=float)


# --------------------------------------------------------------------------- envelope and samples
def test_envelope_is_the_min_max_of_the_archived_samples(client, store, sel3_ids):
    eid, src = sel3_ids[0]
    t0 = src.origins[0].time
    # a window and a bucket count whose bucket edges fall between samples (checked below)
    start, end, width = -7.003, 22.991, 701
    r = _get(client, store, eid, start=start, end=end, width=width, components="ZNE")
    assert r.status_code == 200, r.text
    d = r.json()
    assert d["start"] == start and d["end"] == end and d["filter"] == "none" and d["components"] == "ZNE"
    traces = d["traces"]
    # the stations with picks first, by distance, each Z, N, E; the 12 Z7 stations have data
    picked = {p.waveform_id.station_code for p in src.picks}
    stas = list(dict.fromkeys(t["station"] for t in traces))
    assert stas[:len(picked)] and set(stas[:len(picked)]) == picked, (stas, picked)
    dist = [next(t["distance_deg"] for t in traces if t["station"] == s) for s in stas[:len(picked)]]
    assert dist == sorted(dist)
    assert len(traces) == 3 * len(stas) and all(
        [t["channel"][-1] for t in traces if t["station"] == s] == ["Z", "N", "E"] for s in stas)
    worst, buckets = 0.0, 0
    for t in traces:
        assert t["kind"] == "envelope" and len(t["min"]) == len(t["max"]) == width
        assert t["t0"] == start and t["dt"] == pytest.approx((end - start) / width)
        assert t["scale"] == 1.0  # raw counts are sent as integers
        tr = _sds_trace(store, t["nslc"], t0)
        rel = tr.times(reftime=t0)
        pos = (rel - start) / t["dt"]
        inside = (rel >= start) & (rel <= end)
        frac = np.abs(pos[inside] - np.round(pos[inside]))
        assert frac.min() > 1e-6, "a sample on a bucket edge: the comparison would be ambiguous"
        k = np.floor(pos[inside]).astype(int)
        data = tr.data[inside]
        assert t["npts"] == inside.sum()
        lo, hi = _values(t, "min"), _values(t, "max")
        for b in range(width):
            sel = data[k == b]
            if sel.size:
                worst = max(worst, abs(lo[b] - sel.min()), abs(hi[b] - sel.max()))
                buckets += 1
            else:
                assert np.isnan(lo[b]) and np.isnan(hi[b])
    print(f"envelope: {len(traces)} traces x {width} buckets ({buckets} with data), "
          f"largest |server - obspy| = {worst} counts")
    assert buckets > 0.9 * len(traces) * width and worst == 0.0


def test_narrow_window_returns_the_real_samples(client, store, sel3_ids):
    eid, src = sel3_ids[1]
    t0 = src.origins[0].time
    d = _get(client, store, eid, start=4.0, end=5.5).json()  # zoomed in: 151 samples < 2 x 1500
    assert d["start"] == 4.0 and d["end"] == 5.5
    worst = 0.0
    for t in d["traces"]:
        assert t["kind"] == "samples" and t["channel"].endswith("Z") and t["dt"] == 0.01
        first, n = t["t0"], len(t["data"])
        assert 4.0 <= first < 4.0 + t["dt"] and first + (n - 1) * t["dt"] <= 5.5 + 1e-6 and n in (150, 151)
        tr = _sds_trace(store, t["nslc"], t0)
        rel = tr.times(reftime=t0)
        want = tr.data[(rel >= 4.0 - 1e-6) & (rel <= 5.5 + 1e-6)]
        got = _values(t, "data")
        assert got.size == want.size
        worst = max(worst, float(np.abs(got - want).max()))
        assert UTCDateTime(t["starttime"]) == t0 + first
    print(f"samples of the window 4.0-5.5 s: {len(d['traces'])} traces, largest difference {worst} counts")
    assert worst == 0.0
    # a zoomed window with an envelope: only that window, at its resolution
    d = _get(client, store, eid, start=0, end=20, width=200).json()
    assert all(t["kind"] == "envelope" and t["t0"] == 0 and len(t["min"]) == 200 and t["dt"] == 0.1
               for t in d["traces"])


def test_filtered_traces_equal_obspy_filters(client, store, sel3_ids):
    eid, src = sel3_ids[2]
    t0 = src.origins[0].time
    start, end = 1.0, 13.0
    for flt, kind, kw in (("bandpass:2-8", "bandpass", {"freqmin": 2.0, "freqmax": 8.0}),
                          ("highpass:1", "highpass", {"freq": 1.0}),
                          ("lowpass:5", "lowpass", {"freq": 5.0})):
        d = _get(client, store, eid, start=start, end=end, filter=flt).json()
        assert d["filter"] == flt and d["pad_s"] >= 2.0
        worst = 0.0
        for t in d["traces"]:
            assert t["kind"] == "samples"
            tr = _sds_trace(store, t["nslc"], t0)
            # obspy on its own, on a longer window (20 s either side): demean, 5 % taper, filter
            tr.trim(t0 + start - 20, t0 + end + 20)
            tr.data = tr.data.astype(float)
            tr.detrend("demean")
            tr.taper(0.05)
            tr.filter(kind, corners=4, zerophase=True, **kw)
            rel = tr.times(reftime=t0)
            got = _values(t, "data")
            trel = t["t0"] + np.arange(got.size) * t["dt"]
            mid = (trel >= start + 3.0) & (trel <= end - 3.0)  # away from the server's padded edges
            want = np.interp(trel[mid], rel, tr.data)
            g = got[mid]
            if kind == "lowpass":  # the mean passes a low-pass: it is that of the demeaned window
                g, want = g - g.mean(), want - want.mean()
            rel_err = float(np.abs(g - want).max() / np.abs(want).max())
            worst = max(worst, rel_err)
        print(f"{flt}: {len(d['traces'])} traces, largest |server - obspy| in {start + 3}-{end - 3} s "
              f"= {100 * worst:.2g} % of the trace maximum")
        assert worst < 0.02, flt


# --------------------------------------------------------------------------- picks and predictions
def test_picks_and_predicted_phases(client, store, sel3_ids):
    inv = {s.code: s for n in read_inventory(str(Z7)) for s in n}
    tt = store["tt"]
    for eid, src in sel3_ids[:2]:
        o = src.origins[0]
        picks = {str(p.resource_id): p for p in src.picks}
        want = {}
        for a in o.arrivals:
            p = picks[str(a.pick_id)]
            want.setdefault(p.waveform_id.station_code, []).append(
                (a.phase, float(p.time - o.time), a.time_residual))
        d = _get(client, store, eid).json()
        z = o.depth / 1000.0
        worst_pick = worst_pred = worst_obspy = worst_dist = 0.0
        seen = set()
        for t in d["traces"]:
            got = sorted((p["phase"], p["time"], p["time_residual_s"]) for p in t["picks"])
            exp = sorted(want.get(t["station"], []))
            assert [g[0] for g in got] == [e[0] for e in exp] and all(p["defining"] for p in t["picks"])
            for g, e in zip(got, exp):
                worst_pick = max(worst_pick, abs(g[1] - e[1]), abs(g[2] - e[2]))
            if exp:
                seen.add(t["station"])
            st = inv[t["station"]]
            dist = locations2degrees(o.latitude, o.longitude, st.latitude, st.longitude)
            # distances on the sphere with geocentric latitudes (the locator's): obspy's within 0.5 %
            assert t["distance_deg"] == pytest.approx(dist, rel=5e-3, abs=2e-3)
            worst_dist = max(worst_dist, abs(t["distance_deg"] - dist) / dist)
            pred = {p["phase"]: p["time"] for p in t["predicted"]}
            assert set(pred) == {"P", "S"} and pred["P"] < pred["S"]
            for ph in ("P", "S"):
                elev = st.elevation / 1000.0
                exact = float(tt.time(ph, t["distance_deg"], z)) + float(
                    tt.elevation_correction(ph, t["distance_deg"], z, elev))
                near = float(tt.time(ph, dist, z)) + float(tt.elevation_correction(ph, dist, z, elev))
                worst_pred = max(worst_pred, abs(pred[ph] - exact))
                worst_obspy = max(worst_obspy, abs(pred[ph] - near))
        print(f"{eid}: picks on {len(seen)} stations, largest pick time/residual difference {worst_pick:.2e} s; "
              f"predicted P/S vs the table at the trace's distance: {worst_pred:.2e} s, at obspy's "
              f"locations2degrees distance: {worst_obspy:.4f} s (distances differ by {100 * worst_dist:.2f} %)")
        assert seen == set(want) and worst_pick < 1e-3 and worst_pred < 1e-3 and worst_obspy < 0.05


# --------------------------------------------------------------------------- access and errors
def test_access_and_clear_errors(client, store, sel3_ids):
    eid = sel3_ids[0][0]
    r = client.get(f"/ui/api/event/{eid}/waveforms")
    assert r.status_code == 403 and "waveforms" in r.text
    assert _get(client, store, eid, who="sue").status_code == 200  # a State user may read waveforms
    reb_id = client.get("/ui/api/events", params={"catalog": "REB"}, headers=auth(store, "ana")).json()["events"][0]["eventid"]
    r = _get(client, store, reb_id)
    assert r.status_code == 404 and "waveforms" in r.text, r.text
    assert _get(client, store, "SEL3-20140824T000000-20140824T010000-999").status_code == 404
    for params, name in ((dict(filter="foo"), "filter"), (dict(filter="bandpass:1-60"), "filter"),
                         (dict(filter="bandpass:8-2"), "filter"), (dict(filter="highpass:0"), "filter"),
                         (dict(filter="lowpass:50"), "filter"),
                         (dict(start="soon"), "start"), (dict(start=10, end=5), "end"),
                         (dict(start=0, end=9000), "end"), (dict(width=99999), "width"),
                         (dict(maxtraces=0), "maxtraces"), (dict(components="Q"), "components"),
                         (dict(zerophase="maybe"), "zerophase"), (dict(colour="red"), "colour")):
        r = _get(client, store, eid, **params)
        assert r.status_code == 400 and f"'{name}'" in r.text, (params, r.status_code, r.text)
    r = _get(client, store, eid, filter="bandpass:1-60")
    assert "Nyquist" in r.text and "50 Hz" in r.text
    d = _get(client, store, eid, components="*", maxtraces=5).json()
    assert len(d["traces"]) == 5 and d["truncated"] == 36 - 5
