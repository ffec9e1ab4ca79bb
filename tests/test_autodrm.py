"""The AutoDRM (IMS1.0 request messages → IMS1.0 DATA messages), on a store with real data.

Store: Iceland waveforms (Z7, 2014-08-24) ingested into the SDS archive with their StationXML
(Z7 + GR.FUR), and the IDC's 1995 REB in two versions (only the newest may be answered), and the
three QuakeMigrate events of those waveforms (origins, ML, P/S picks) as an SEL3 product (the
RELATIVE_TO tests). Every
answer is parsed back — the bulletin by obspy's ``IMS10BULLETIN`` reader, the waveforms by obspy's
GSE2 reader (its C CM6 decoder) and by ours — and compared with the store read independently.
"""
from __future__ import annotations

import io
import re
import time

import numpy as np
import pytest
from click.testing import CliRunner
from obspy import Stream, UTCDateTime, read, read_events
from obspy.core.event import Catalog
from obspy.clients.filesystem.sds import Client as SDSClient
from obspy.io.gse2 import libgse2
from sqlalchemy import select

from pipeline import tasks
from pipeline.autodrm import answer_request, parse_request, split_sections
from pipeline.autodrm.cm6 import CM6Error, checksum, decode_cm6, decode_int, encode_cm6, second_differences
from pipeline.store import db
from pipeline.store import models as m
from pipeline.store.catalog import load_catalog, store_catalog
from pipeline.store.products import ProductKey, latest_version, write_product
from tests.conftest import make_settings
from tests.test_service_fdsn import FUR, ICELAND, REB1, REB2, REB_WINDOW, Z7, store_reb
from tests.test_web_ui import qm_event

WF_T1, WF_T2 = UTCDateTime("2014-08-24T00:01:05"), UTCDateTime("2014-08-24T00:01:40")
#: the SEL3 product of the QuakeMigrate events of the ingested Iceland files (ML 1.11, 1.18, 1.19)
SEL3_WINDOW = (UTCDateTime(2014, 8, 24), UTCDateTime(2014, 8, 24, 1))
QM_EVENTS = [f.stem for f in ICELAND]


def msg(*lines: str, msg_id: str = "ex002 ANY_NDC") -> str:
    return "\n".join(["BEGIN IMS1.0", "MSG_TYPE REQUEST", f"MSG_ID {msg_id}", "E-MAIL me@example.org",
                      *lines, "STOP", ""])


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    settings = make_settings(tmp_path_factory.mktemp("autodrm"), **{"autodrm.max_waveform_channel_seconds": 3600.0})
    db.upgrade(settings.database_url)
    tasks.load_stations(settings, [str(Z7), str(FUR)])
    assert tasks.ingest_files(settings, ICELAND, progress=False)["accepted"] == len(ICELAND)
    assert store_reb(settings, REB1, "reb-v1") == (1, True)
    assert store_reb(settings, REB2, "reb-v2") == (2, True)
    sel3 = Catalog([qm_event(e) for e in QM_EVENTS])
    with db.session_scope(settings.database_url) as s:
        write_product(s, ProductKey("SEL3", SEL3_WINDOW[0].timestamp, SEL3_WINDOW[1].timestamp),
                      input_fingerprint="qm", config_hash="c", software_version="t",
                      fill=lambda s, p: store_catalog(s, p, sel3))
    settings_inv = tasks.station_inventory(settings)
    return settings, settings_inv


def reb_events(settings):
    with db.session_scope(settings.database_url) as s:
        prod = latest_version(s, ProductKey("REB", REB_WINDOW[0].timestamp, REB_WINDOW[1].timestamp))
        return sorted(load_catalog(s, prod), key=lambda e: e.preferred_origin().time)


def section(answer: str, prefix: str) -> list[str]:
    return [t for k, v in split_sections(answer).items() if k.startswith(prefix) for t in v]


def as_message(sec: str) -> str:
    return "BEGIN IMS1.0\nMSG_TYPE DATA\nMSG_ID x\n" + sec + "STOP\n"


# --------------------------------------------------------------------------- CM6 codec
def test_cm6_round_trips_through_obspys_c_codec():
    rng = np.random.default_rng(42)
    x = np.concatenate([rng.integers(-2**23, 2**23, 3000), np.cumsum(rng.integers(-50, 50, 3000)),
                        [0, 1, -1, 15, -15, 16, -16, 511, 512, -512, 2**24, -2**24, 0]]).astype(np.int32)
    lines = encode_cm6(x)
    assert all(len(ln) <= 80 for ln in lines) and len(lines[0]) == 80
    # obspy's decoder (C, GSE_UTI) reads ours
    got = libgse2.uncompress_cm6(io.BytesIO(("DAT2\n" + "\n".join(lines) + "\n").encode()), len(x))
    np.testing.assert_array_equal(got, x)
    # we read obspy's encoder output, character for character the same text
    y = x.copy()
    libgse2.clibgse2.diff_2nd(y, len(y), 0)
    theirs = libgse2.compress_cm6(y).tobytes().decode().replace("\x00", "")
    assert theirs == "".join(lines)
    np.testing.assert_array_equal(decode_cm6(theirs, len(x)), x)
    # checksum as obspy's C check_sum (GSE2.1 App. B)
    import ctypes

    assert checksum(x) == abs(libgse2.clibgse2.check_sum(x, len(x), ctypes.c_int32(0)))
    # worked example of the second differences [GSE21 p.65]: S = 1, 3, 6, 10 → 1, 1, 1, 1
    assert second_differences([1, 3, 6, 10]).tolist() == [1, 1, 1, 1]
    # full int32 range (obspy's writer refuses > 2^26; we encode 64-bit differences)
    big = np.array([2**31 - 1, -2**31, 2**31 - 1, 0], dtype=np.int64)
    np.testing.assert_array_equal(decode_cm6(encode_cm6(big), 4), big)


def test_cm6_bad_text_is_reported():
    with pytest.raises(CM6Error, match="not in the CM6 alphabet"):
        decode_cm6("12#4", 4)
    with pytest.raises(CM6Error, match="2 of 3 samples"):
        decode_cm6("12", 3)
    with pytest.raises(CM6Error, match="cut off"):
        decode_cm6("1" + "U", 2)  # 'U' has the continuation bit and nothing follows
    with pytest.raises(CM6Error, match="1 of 2"):
        decode_int("7", 2)


# --------------------------------------------------------------------------- bulletins
def test_bulletin_request_read_back_by_obspy(store):
    settings, _ = store
    ans = answer_request(settings, msg("TIME 1995/01/16 TO 1995/01/17", "BULL_TYPE IDC_REB", "BULLETIN IMS1.0"))
    assert ans.startswith("BEGIN IMS1.0\nMSG_TYPE DATA\nMSG_ID ")
    assert "\nREF_ID ex002 ANY_NDC\n" in ans and ans.endswith("STOP\n")
    assert "ERROR_LOG" not in ans
    got = read_events(io.BytesIO(ans.encode()), format="IMS10BULLETIN")
    want = reb_events(settings)
    assert len(want) == 2 and len(got) == 2  # version 2 of the window (version 1 held one event)
    for g, w in zip(got, want):
        go, wo = g.preferred_origin(), w.preferred_origin()
        assert abs(go.time - wo.time) < 0.006
        assert (round(go.latitude, 4), round(go.longitude, 4)) == (round(wo.latitude, 4), round(wo.longitude, 4))
        assert abs(go.depth - wo.depth) < 51  # depth written to 0.1 km
        assert len(go.arrivals) == len(wo.arrivals) > 0
        assert sorted((mg.magnitude_type, round(mg.mag, 1)) for mg in g.magnitudes) == \
            sorted((mg.magnitude_type, round(mg.mag, 1)) for mg in w.magnitudes)
    assert "version 2" in section(ans, "DATA_TYPE LOG")[0]


def test_environment_filters_select_events(store):
    settings, _ = store
    want = reb_events(settings)
    west = [e for e in want if e.preferred_origin().longitude < 0]
    assert len(west) == 1

    def events(*env):
        ans = answer_request(settings, msg("TIME 1995/01/16 TO 1995/01/17", *env, "BULLETIN IMS1.0"))
        assert "ERROR_LOG" not in ans, ans
        return read_events(io.BytesIO(ans.encode()), format="IMS10BULLETIN") if "\nEVENT " in ans else []

    lon = events("LON -180 TO 0")
    assert [round(e.origins[0].latitude, 2) for e in lon] == [round(west[0].preferred_origin().latitude, 2)]
    # magnitude: the Vancouver Island event has mb 4.0, the Greek one mb 3.6 / ML 4.0
    assert len(events("MAG 3.9 TO 5", "MAG_TYPE mb")) == 1
    assert len(events("MAG 3.9 TO 5")) == 2
    assert len(events("MAG 4.5 TO")) == 0
    # STA_LIST: events with an arrival at GERES (only the Greek event)
    sta = events("STA_LIST GERES")
    assert len(sta) == 1 and sta[0].origins[0].longitude > 0
    assert len(events("DEPTH 0 TO 50")) == sum(e.preferred_origin().depth <= 50_000 for e in want)
    # a window outside the product: empty bulletin, the LOG says so
    ans = answer_request(settings, msg("TIME 1996/01/16 TO 1996/01/17", "BULLETIN IMS1.0"))
    assert "no REB product in this TIME range" in ans


def test_gse20_bulletin_and_longitude_range_across_the_antimeridian(store):
    settings, _ = store
    ans = answer_request(settings, "BEGIN GSE2.0\nMSG_TYPE REQUEST\nMSG_ID g1 NDC\nTIME 1995/01/16 TO 1995/01/17\n"
                                    "LON 170 TO -100\nBULLETIN GSE2.0\nSTOP\n")
    assert ans.startswith("BEGIN GSE2.0\n") and "DATA_TYPE BULLETIN GSE2.0" in ans
    got = read_events(io.BytesIO(ans.encode()), format="GSE2")  # obspy's GSE2.0 bulletin reader, whole message
    (want,) = [e for e in reb_events(settings) if e.preferred_origin().longitude < -100]
    assert len(got) == 1 and abs(got[0].origins[0].time - want.preferred_origin().time) < 0.06


def test_event_origin_and_arrival_sections(store):
    settings, _ = store
    ans = answer_request(settings, msg("TIME 1995/01/16 TO 1995/01/17", "EVENT", "ARRIVAL"))
    ev = section(ans, "DATA_TYPE EVENT IMS1.0")[0]
    assert "Latitude Longitude" in ev and "Sta     Dist" not in ev
    cat = read_events(io.BytesIO(as_message(ev.replace("DATA_TYPE EVENT", "DATA_TYPE BULLETIN", 1)).encode()),
                      format="IMS10BULLETIN")
    assert len(cat) == 2 and all(not e.picks for e in cat)
    arr = section(ans, "DATA_TYPE ARRIVAL:ASSOCIATED")[0]
    n_arr = sum(len(e.preferred_origin().arrivals) for e in reb_events(settings))
    phase_lines = [ln for ln in arr.splitlines() if re.match(r"^[A-Z0-9]{2,5} +\d+\.\d\d ", ln)]
    assert len(phase_lines) == n_arr


# --------------------------------------------------------------------------- waveforms
# GSE2.1 App. B: the CHK2 value is the absolute checksum; obspy's reader accepts it with a warning
@pytest.mark.filterwarnings("ignore:Checksum differs only in absolute value")
@pytest.mark.parametrize("fmt", ["CM6", "INT"])
def test_waveforms_equal_the_archive(store, fmt):
    settings, inv = store
    ans = answer_request(settings, msg(f"TIME {WF_T1.strftime('%Y/%m/%d %H:%M:%S')} TO "
                                       f"{WF_T2.strftime('%Y/%m/%d %H:%M:%S')}",
                                       "STA_LIST KVER, FJAS", "CHAN_LIST HH?", f"WAVEFORM IMS1.0:{fmt}"),
                         inventory=inv)
    assert "ERROR_LOG" not in ans, ans
    wf = section(ans, f"DATA_TYPE WAVEFORM IMS1.0:{fmt}")[0]
    st = read(io.BytesIO(wf.encode()), format="GSE2", verify_chksum=True)  # obspy's GSE2 reader, checksums on
    sds = SDSClient(str(settings.archive_dir))
    assert len(st) == 6
    for tr in st:
        ref = sds.get_waveforms(tr.stats.network, tr.stats.station, "", tr.stats.channel, WF_T1, WF_T2)
        ref.merge(method=-1)
        ref.trim(WF_T1, WF_T2 - 1e-6, nearest_sample=False)
        assert len(ref) == 1
        r = ref[0]
        assert tr.stats.network == "Z7" and tr.stats.npts == r.stats.npts > 3000
        assert abs(tr.stats.starttime - r.stats.starttime) < 0.0005
        np.testing.assert_array_equal(tr.data, r.data)
        # STA2 coordinates and calib from the StationXML sensitivity (nm/count at calper)
        coords = inv.get_coordinates(r.id, r.stats.starttime)
        assert abs(tr.stats.gse2.lat - coords["latitude"]) < 1e-5
        sens = inv.get_response(r.id, r.stats.starttime).instrument_sensitivity
        f = sens.frequency
        assert tr.stats.gse2.calper == pytest.approx(1 / f, abs=1e-3)
        assert tr.stats.calib == pytest.approx(1e9 / (sens.value * 2 * np.pi * f), rel=0.01)
        vertical = tr.stats.channel.endswith("Z")
        assert (tr.stats.gse2.hang == -1.0) == vertical
        assert tr.stats.gse2.vang == (0.0 if vertical else 90.0)
    if fmt == "CM6":  # and our own decoder on the same text
        blocks = wf.split("WID2 ")[1:]
        b = blocks[0].splitlines()
        n = int(("WID2 " + b[0])[48:56])
        d = b[b.index("DAT2") + 1: next(i for i, ln in enumerate(b) if ln.startswith("CHK2"))]
        np.testing.assert_array_equal(decode_cm6(d, n), st[0].data)


def test_waveform_limit_and_empty_selection(store):
    settings, _ = store
    ans = answer_request(settings, msg("TIME 2014/08/24 00:00 TO 2014/08/24 01:00", "WAVEFORM IMS1.0:CM6"))
    err = section(ans, "DATA_TYPE ERROR_LOG")[0]
    assert "line 6: WAVEFORM IMS1.0:CM6" in err and "max_waveform_channel_seconds" in err
    assert "channel-seconds" in err and "WID2" not in ans
    ans = answer_request(settings, msg("TIME 2014/08/24 00:01 TO 2014/08/24 00:02", "STA_LIST NOPE",
                                       "WAVEFORM"))
    assert "ERROR_LOG" not in ans and "WID2" not in ans and "DATA_TYPE WAVEFORM IMS1.0:CM6" in ans


# --------------------------------------------------------------------------- RELATIVE_TO
SEL3_TIME = "TIME 2014/08/24 00:00 TO 2014/08/24 01:00"


def sel3_events(settings):
    with db.session_scope(settings.database_url) as s:
        prod = latest_version(s, ProductKey("SEL3", SEL3_WINDOW[0].timestamp, SEL3_WINDOW[1].timestamp))
        return sorted(load_catalog(s, prod), key=lambda e: e.preferred_origin().time)


def merged(windows):
    out = []
    for a, b in sorted(windows):
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


def expected_segments(settings, events, before, after, stations="*", chans="HH?"):
    """Independently of the AutoDRM: per event (time order), per archived channel (sorted) of each
    station with a pick, per merged window [pick − before, pick + after] (time order), the archive's
    samples in the window, read from the SDS archive with obspy."""
    import fnmatch

    sds = SDSClient(str(settings.archive_dir))
    archived = sorted(set(sds.get_all_nslc()))
    out = []
    for ev in events:
        wins = {}
        for p in ev.picks:
            sta = p.waveform_id.station_code
            if fnmatch.fnmatch(sta, stations):
                wins.setdefault(sta, []).append((p.time - before, p.time + after))
        for net, sta, loc, cha in archived:
            if sta not in wins or not fnmatch.fnmatch(cha, chans):
                continue
            for a, b in merged(wins[sta]):
                st = sds.get_waveforms(net, sta, loc, cha, a, b)
                st.trim(a, b - 1e-6, nearest_sample=False)
                st = Stream([tr for tr in st if tr.stats.npts]).merge(method=-1)
                out += [(ev, a, b, tr) for tr in sorted(st, key=lambda tr: tr.stats.starttime)]
    return out


def waveforms_of(ans, fmt="CM6", n=0):
    secs = section(ans, f"DATA_TYPE WAVEFORM IMS1.0:{fmt}")
    return read(io.BytesIO(secs[n].encode()), format="GSE2", verify_chksum=True) if "WID2" in secs[n] else Stream()


@pytest.mark.filterwarnings("ignore:Checksum differs only in absolute value")
@pytest.mark.parametrize("fmt", ["CM6", "INT"])
def test_relative_to_bulletin_waveforms_around_the_arrivals(store, fmt):
    settings, inv = store
    before, after = 2.0, 4.0  # short windows: all inside the archived 00:01:00.14-00:01:51.69
    s = make_settings(settings.home, **{"autodrm.relative_window_s": [before, after]})
    ans = answer_request(s, msg(SEL3_TIME, "BULL_TYPE SEL3", "RELATIVE_TO BULLETIN", f"WAVEFORM IMS1.0:{fmt}"),
                         inventory=inv)
    assert "ERROR_LOG" not in ans, ans
    assert "DATA_TYPE BULLETIN" not in ans and "\nEVENT " not in ans  # the events themselves are not returned
    events = sel3_events(settings)
    assert len(events) == 3
    got = waveforms_of(ans, fmt)
    want = expected_segments(settings, events, before, after)
    assert len(got) == len(want) == 3 * 11 * 3  # 3 events, 11 of the 12 stations picked in each, HH[ZNE]
    for tr, (ev, a, b, ref) in zip(got, want):
        assert tr.id == ref.id
        # WID2: the first archived sample in the window, and every sample up to its end
        dt = tr.stats.delta
        assert abs(tr.stats.starttime - ref.stats.starttime) < 0.0005 and tr.stats.npts == ref.stats.npts
        assert a <= tr.stats.starttime < a + dt and b - dt <= tr.stats.endtime < b
        assert tr.stats.npts == pytest.approx((b - a) / dt, abs=1)
        # ... a window [pick − before, pick + after] of a pick of this event at this station (or several merged)
        picks = sorted(p.time for p in ev.picks if p.waveform_id.station_code == tr.stats.station)
        inside = [t for t in picks if a <= t - before and t + after <= b]
        assert inside and abs(inside[0] - before - a) < 1e-6 and abs(inside[-1] + after - b) < 1e-6
        np.testing.assert_array_equal(tr.data, ref.data)
    # P and S windows of a station overlap (S-P < 6 s here): one segment per channel and event
    ids = [(w[0].resource_id, w[3].id) for w in want]
    assert len(ids) == len(set(ids))
    # stations without a pick in an event get nothing for it: RIFR has none in the first event
    first = events[0].preferred_origin().time
    assert not [tr for tr in got if tr.stats.station == "RIFR" and tr.stats.starttime < first + 10]
    assert [tr for tr in got if tr.stats.station == "RIFR"]
    log = section(ans, "DATA_TYPE LOG")[0]
    assert "line 8: WAVEFORM" in log and "3 events (RELATIVE_TO BULLETIN, line 7)" in log
    assert f"{len(got)} waveform segments" in log and "SEL3" in log


@pytest.mark.filterwarnings("ignore:Checksum differs only in absolute value")
def test_relative_to_with_the_default_window(store):
    """[autodrm] relative_window_s = [60, 240]: the windows reach past both ends of the short
    archive, so each event gets each channel of its stations from the archive's first to its last
    sample in [first pick − 60 s, last pick + 240 s)."""
    settings, _ = store
    assert tuple(settings.autodrm.relative_window_s) == (60.0, 240.0)
    ans = answer_request(settings, msg(SEL3_TIME, "BULL_TYPE SEL3", "CHAN_LIST HHZ", "RELATIVE_TO EVENT",
                                       "WAVEFORM IMS1.0:CM6"))
    assert "ERROR_LOG" not in ans, ans
    got = waveforms_of(ans)
    want = expected_segments(settings, sel3_events(settings), 60.0, 240.0, chans="HHZ")
    assert [(tr.id, tr.stats.starttime, tr.stats.npts) for tr in got] == \
        [(r.id, r.stats.starttime, r.stats.npts) for *_, r in want]
    assert all(tr.stats.starttime == UTCDateTime("2014-08-24T00:01:00.14") for tr in got)
    assert len(got) == 3 * 11  # stations with picks per event (RIFR, FJAS, DYJS missing in one each)


@pytest.mark.filterwarnings("ignore:Checksum differs only in absolute value")
def test_relative_to_uses_the_environment_selection(store):
    settings, _ = store
    s = make_settings(settings.home, **{"autodrm.relative_window_s": [1.0, 3.0]})
    events = sel3_events(settings)

    def ask(*env):
        ans = answer_request(s, msg(SEL3_TIME, "BULL_TYPE SEL3", *env, "BULLETIN", "RELATIVE_TO ORIGIN",
                                    "WAVEFORM"))
        assert "ERROR_LOG" not in ans, ans
        bull = section(ans, "DATA_TYPE BULLETIN")[0]  # the BULLETIN line in the same environment
        n_bull = len(read_events(io.BytesIO(as_message(bull).encode()), format="IMS10BULLETIN")) \
            if "\nEVENT " in bull else 0
        return ans, waveforms_of(ans), n_bull

    # MAG (ML 1.11, 1.18, 1.19): the two larger events only, as the BULLETIN line selects them
    ans, got, n_bull = ask("MAG 1.15 TO 2", "MAG_TYPE ML")
    want = expected_segments(settings, events[1:], 1.0, 3.0)
    assert n_bull == 2 and "2 events" in section(ans, "DATA_TYPE LOG")[0]
    assert [(tr.id, tr.stats.starttime, tr.stats.npts) for tr in got] == \
        [(r.id, r.stats.starttime, r.stats.npts) for *_, r in want]
    assert min(tr.stats.starttime for tr in got) >= min(p.time for p in events[1].picks) - 1.0
    # STA_LIST: events with a pick at a listed station, and only the listed stations' channels
    # (the second event has no FJAS pick)
    ans, got, n_bull = ask("STA_LIST FJAS, KVER", "CHAN_LIST HHZ")
    want = expected_segments(settings, events, 1.0, 3.0, stations="[FK][JV]*", chans="HHZ")
    assert n_bull == 3 and [(tr.id, tr.stats.starttime) for tr in got] == [(r.id, r.stats.starttime) for *_, r in want]
    assert [tr.stats.station for tr in got] == ["FJAS", "KVER", "KVER", "FJAS", "KVER"]
    # LAT/LON/DEPTH as well: DEPTH 6 TO 7 km drops the 5.95 km event
    _, got, n_bull = ask("DEPTH 6 TO 7", "STA_LIST KVER", "CHAN_LIST HHZ")
    assert n_bull == 2 and len(got) == 2
    # no event: no segment, the LOG says so (as an empty BULLETIN answer), nothing is an error
    for env in (("MAG 3 TO 5",), ("LAT -10 TO 10",)):
        ans, got, n_bull = ask(*env)
        assert n_bull == 0 and len(got) == 0 and "WID2" not in ans
        assert "0 waveform segments for 0 events (RELATIVE_TO ORIGIN, line 9) from SEL3" in \
            section(ans, "DATA_TYPE LOG")[0]
    ans = answer_request(s, msg("TIME 2014/08/25 TO 2014/08/26", "BULL_TYPE SEL3", "RELATIVE_TO BULLETIN", "WAVEFORM"))
    assert "ERROR_LOG" not in ans and "WID2" not in ans and "DATA_TYPE WAVEFORM IMS1.0:CM6" in ans
    assert "no SEL3 product in this TIME range" in section(ans, "DATA_TYPE LOG")[0]


@pytest.mark.filterwarnings("ignore:Checksum differs only in absolute value")
def test_relative_to_applies_to_the_next_request_line_only(store):
    settings, _ = store
    s = make_settings(settings.home, **{"autodrm.relative_window_s": [1.0, 3.0]})
    text = msg(SEL3_TIME, "BULL_TYPE SEL3", "RELATIVE_TO BULLETIN", "STA_LIST KVER", "CHAN_LIST HHZ",
               "WAVEFORM IMS1.0:CM6", f"TIME {WF_T1.strftime('%Y/%m/%d %H:%M:%S')} TO 2014/08/24 00:01:10",
               "WAVEFORM IMS1.0:CM6", SEL3_TIME, "RELATIVE_TO EVENT", "ARRIVAL", "ARRIVAL")
    req = parse_request(text)
    assert not req.problems
    assert [(r.keyword, r.relative_to, r.relative_line, r.product) for r in req.requests] == [
        ("WAVEFORM", "BULLETIN", 7, "SEL3"), ("WAVEFORM", "", 0, ""), ("ARRIVAL", "EVENT", 14, "SEL3"),
        ("ARRIVAL", "", 0, "SEL3")]
    ans = answer_request(s, text)
    assert "ERROR_LOG" not in ans, ans
    rel, plain = waveforms_of(ans, n=0), waveforms_of(ans, n=1)
    # the first WAVEFORM line: KVER HHZ around the picks of the three events
    want = expected_segments(settings, sel3_events(settings), 1.0, 3.0, stations="KVER", chans="HHZ")
    assert [(tr.id, tr.stats.starttime, tr.stats.npts) for tr in rel] == \
        [(r.id, r.stats.starttime, r.stats.npts) for *_, r in want] and len(rel) == 3
    # the second is a plain one: TIME 00:01:05-00:01:10, 5 s at 100 Hz
    assert [tr.id for tr in plain] == ["Z7.KVER..HHZ"] and plain[0].stats.npts == 500
    assert plain[0].stats.starttime == WF_T1
    log = section(ans, "DATA_TYPE LOG")[0]
    assert "line 12: WAVEFORM IMS1.0:CM6\n    -> 1 waveform segments" in log
    # RELATIVE_TO EVENT + ARRIVAL: the arrivals of the selected events, the ARRIVAL:ASSOCIATED answer
    rel_arr, plain_arr = section(ans, "DATA_TYPE ARRIVAL:ASSOCIATED")
    assert rel_arr == plain_arr and len(re.findall(r"\nKVER ", rel_arr)) == 5
    assert "(RELATIVE_TO EVENT: their arrivals)" in log


def test_relative_to_waveforms_follow_the_access_policy(store):
    from pipeline.service.auth import Principal
    from pipeline.service.autodrm import policy_hook

    settings, _ = store
    staff = ["analyst", "operator"]
    s = make_settings(settings.home, **{"autodrm.relative_window_s": [1.0, 3.0], "access.products.waveforms": staff})

    def as_role(role, text):
        p = Principal(name=f"x_{role}", roles=(role,), state="IS" if role.startswith("state") else "",
                      unrestricted=False, user_id=None, state_id=None, access=s.access)
        return answer_request(s, text, authorize=policy_hook(p)), p

    text = msg(SEL3_TIME, "BULL_TYPE SEL3", "STA_LIST KVER", "CHAN_LIST HHZ", "WAVEFORM IMS1.0:CM6",
               "RELATIVE_TO BULLETIN", "WAVEFORM IMS1.0:CM6")
    ans, _ = as_role("state_user", text)
    err = section(ans, "DATA_TYPE ERROR_LOG")[0]
    plain = re.search(r"line 9: WAVEFORM IMS1\.0:CM6\n    -> (.*)", err).group(1)
    rel = re.search(r"line 11: WAVEFORM IMS1\.0:CM6\n    -> (.*)", err).group(1)
    assert plain == rel and plain.startswith("not allowed: Access to waveforms is not allowed")
    assert "WID2" not in ans
    ans, p = as_role("analyst", text)
    assert "ERROR_LOG" not in ans and len(waveforms_of(ans, n=1)) == 3
    assert p.products == ["waveforms", "SEL3"]  # both audited
    # the events follow the bulletin's policy: where the public may read only the public part of
    # SEL3 (here ML >= 1.15), it gets the waveforms around those events only (waveforms are public)
    s_pub = make_settings(settings.home, **{"autodrm.relative_window_s": [1.0, 3.0],
                                            "access.products.SEL3": staff, "access.public_events.products": ["SEL3"],
                                            "access.public_events.magnitude_type": "ML",
                                            "access.public_events.min_magnitude": 1.15})
    pub = Principal(name="public", roles=("public",), unrestricted=False, access=s_pub.access)
    ans = answer_request(s_pub, msg(SEL3_TIME, "BULL_TYPE SEL3", "STA_LIST KVER", "CHAN_LIST HHZ",
                                    "RELATIVE_TO BULLETIN", "WAVEFORM"), authorize=policy_hook(pub))
    assert "ERROR_LOG" not in ans, ans
    want = expected_segments(settings, sel3_events(settings)[1:], 1.0, 3.0, stations="KVER", chans="HHZ")
    assert [(tr.id, tr.stats.starttime) for tr in waveforms_of(ans)] == [(r.id, r.stats.starttime) for *_, r in want]
    assert len(want) == 2


def test_relative_to_per_event_limit(store):
    settings, _ = store
    s = make_settings(settings.home, **{"autodrm.max_waveform_channel_seconds": 100.0})
    ans = answer_request(s, msg(SEL3_TIME, "BULL_TYPE SEL3", "STA_LIST KVER", "RELATIVE_TO BULLETIN", "WAVEFORM"))
    err = section(ans, "DATA_TYPE ERROR_LOG")[0]
    assert err.count("line 9: WAVEFORM") == 3 and "max_waveform_channel_seconds" in err and "WID2" not in ans
    assert "event 2014/08/24 00:01:08.920" in err
    # TIME of a RELATIVE_TO line selects events: the bulletin's TIME span limit holds
    ans = answer_request(settings, msg("TIME 2014/08/01 TO 2014/10/01", "RELATIVE_TO BULLETIN", "WAVEFORM"))
    assert "max_time_span_days" in section(ans, "DATA_TYPE ERROR_LOG")[0]


# --------------------------------------------------------------------------- stations, channels, outages
def _columns(sec: str, header: str) -> list[list[str]]:
    lines = sec.splitlines()
    i = next(n for n, ln in enumerate(lines) if ln.startswith(header))
    return [ln.split() for ln in lines[i + 1:] if ln.strip()]


def test_station_and_channel_lists_match_the_store(store):
    settings, _ = store
    ans = answer_request(settings, msg("STATION", "CHANNEL", "STA_LIST FUR, K*", "CHAN_LIST BH?", "STATION",
                                       "CHANNEL"))
    stations, stations_k = section(ans, "DATA_TYPE STATION")
    channels, channels_k = section(ans, "DATA_TYPE CHANNEL")
    with db.session_scope(settings.database_url) as s:
        sites = [(r.net, r.sta, r.lat, r.lon) for r in s.scalars(select(m.Site).order_by(m.Site.net, m.Site.sta))]
        chans = [(r.net, r.sta, r.chan, r.samprate) for r in s.scalars(select(m.Sitechan))]
    got = [(c[0], c[1], float(c[3]), float(c[4])) for c in _columns(stations, "Net ")]
    assert got == [(n, st, round(la, 5), round(lo, 5)) for n, st, la, lo in sites]
    got_c = sorted((c[0], c[1], c[2], float(c[10])) for c in _columns(channels, "Net "))
    assert got_c == sorted((n, st, ch, sr) for n, st, ch, sr in chans)
    assert {c[1] for c in _columns(stations_k, "Net ")} == {st for _, st, _, _ in sites if st == "FUR" or st.startswith("K")}
    assert {(c[1], c[2]) for c in _columns(channels_k, "Net ")} == \
        {(st, ch) for _, st, ch, _ in chans if (st == "FUR" or st.startswith("K")) and ch.startswith("BH")}


def test_outage_lists_gaps_of_the_archive(store):
    settings, _ = store
    ans = answer_request(settings, msg("TIME 2014/08/24 00:00 TO 2014/08/24 00:05", "STA_LIST KVER",
                                       "CHAN_LIST HHZ", "OUTAGE"))
    rows = _columns(section(ans, "DATA_TYPE OUTAGE")[0], "Net ")
    # the archive holds KVER HHZ from 00:01:00.14 to the end of the last file only
    with db.session_scope(settings.database_url) as s:
        seg = s.scalars(select(m.WfAvail).where(m.WfAvail.sta == "KVER", m.WfAvail.chan == "HHZ",
                                                m.WfAvail.kind == "segment")).all()
    first, last = min(r.starttime for r in seg), max(r.endtime for r in seg)
    assert len(rows) == 2
    (a1, b1), (a2, b2) = [(UTCDateTime(f"{r[3]}T{r[4]}"), UTCDateTime(f"{r[5]}T{r[6]}")) for r in rows]
    assert a1 == UTCDateTime(2014, 8, 24) and abs(b1.timestamp - first) < 0.002
    assert abs(a2.timestamp - (last + 0.01)) < 0.002 and b2 == UTCDateTime(2014, 8, 24, 0, 5)
    assert float(rows[0][7]) == pytest.approx(first - UTCDateTime(2014, 8, 24).timestamp, abs=0.002)


# --------------------------------------------------------------------------- errors
@pytest.mark.parametrize("lines, line_no, words", [
    (["TIME 1995/01/16 TO"], 5, "TIME end"),
    (["TIME 1995/13/16 TO 1995/01/17"], 5, "not a valid date"),
    (["TIME 1995/01/17 TO 1995/01/16"], 5, "not after"),
    (["LAT 95 TO 10"], 5, "outside [-90, 90]"),
    (["MAG abc TO 5"], 5, "not a number"),
    (["FOO_LIST x"], 5, "unknown keyword 'FOO_LIST'"),
    (["TIME 1995/01/16 TO 1995/01/17", "WAVEFORM IMS1.0:CM8"], 6, "CM8"),
    (["BULLETIN IMS1.0"], 5, "needs a TIME line"),
    (["TIME 1995/01/16 TO 1995/01/17", "BULL_TYPE NOPE"], 6, "BULL_TYPE"),
    (["DEPTH_MINUS_ERROR 0 TO 10"], 5, "does not serve"),
    # RELATIVE_TO ties the next request line, which must exist and be WAVEFORM or ARRIVAL
    (["RELATIVE_TO ORIGIN"], 5, "RELATIVE_TO ORIGIN is not followed by a request line"),
    (["RELATIVE_TO EVENT", "STATION"], 5, "cannot apply to the next request line (line 6: STATION)"),
    (["TIME 2014/08/24 TO 2014/08/25", "RELATIVE_TO BULLETIN", "LAT 60 TO 70", "OUTAGE"], 6,
     "cannot apply to the next request line (line 8: OUTAGE)"),
    (["RELATIVE_TO ARRIVAL", "TIME 2014/08/24 TO 2014/08/25", "WAVEFORM"], 5,
     "expected one of ORIGIN, EVENT, BULLETIN"),
    (["TIME 2014/08/24 TO 2014/08/25", "RELATIVE_TO BULLETIN", "RELATIVE_TO EVENT", "WAVEFORM"], 6,
     "followed by another RELATIVE_TO (line 7)"),
])
def test_malformed_requests_get_an_error_log_naming_the_line(store, lines, line_no, words):
    settings, _ = store
    ans = answer_request(settings, msg(*lines))
    assert ans.startswith("BEGIN IMS1.0\nMSG_TYPE DATA\n") and "REF_ID ex002 ANY_NDC" in ans
    err = section(ans, "DATA_TYPE ERROR_LOG")[0]
    assert f"line {line_no}: {lines[line_no - 5]}" in err and words in err, err
    assert "DATA_TYPE BULLETIN" not in ans and "not processed" in err


def test_message_structure_errors(store):
    settings, _ = store
    no_stop = "BEGIN IMS1.0\nMSG_TYPE REQUEST\nMSG_ID a\nSTATION\n"
    assert "does not end with STOP" in answer_request(settings, no_stop)
    assert "starts with 'BEGIN IMS1.0'" in answer_request(settings, "hello\n")
    assert "no MSG_ID" in answer_request(settings, "BEGIN IMS1.0\nMSG_TYPE REQUEST\nSTATION\nSTOP\n")
    assert "answers REQUEST messages" in answer_request(settings, "BEGIN IMS1.0\nMSG_TYPE DATA\nMSG_ID a\nSTOP\n")
    many = msg(*(["STATION"] * 1200))
    assert "more than the limit of 1000" in answer_request(settings, many)
    help_ans = answer_request(settings, "HELP\n")
    assert "WAVEFORM" in help_ans and "ERROR_LOG" not in help_ans
    req = parse_request(msg("TIME 2000/01/09 01:00 TO 2000/01/09 01:15", "STA_LIST CMAR, PDAR", "CHAN_LIST *",
                            "WAVEFORM IMS1.0:CM6"))  # GSE21 p.30 / REFERENCE §4.3 example
    assert not req.problems and req.msg_id == "ex002" and req.source == "ANY_NDC"
    (w,) = req.requests
    assert w.env.sta_list == ("CMAR", "PDAR") and w.subformat == "CM6"
    assert w.env.time == (UTCDateTime(2000, 1, 9, 1), UTCDateTime(2000, 1, 9, 1, 15))


def test_response_size_limit_and_non_integer_samples(store):
    settings, _ = store
    small = make_settings(settings.home, **{"autodrm.max_response_bytes": 10_000})
    ans = answer_request(small, msg("TIME 2014/08/24 00:01:05 TO 2014/08/24 00:01:40", "STA_LIST KVER",
                                    "CHAN_LIST HHZ", "WAVEFORM IMS1.0:INT"))
    err = section(ans, "DATA_TYPE ERROR_LOG")[0]
    assert "max_response_bytes" in err and "WID2" not in ans and len(ans) < 1000
    from obspy import Trace

    from pipeline.autodrm.response import waveform_block

    tr = Trace(np.array([1.0, 2.5, 3.0]), header={"station": "X", "channel": "HHZ", "sampling_rate": 1.0})
    with pytest.raises(ValueError, match="not integers"):
        waveform_block(tr, "CM6")
    tr.data = np.array([1.0, 2.0, 3.0])  # integral floats are sent as integers
    assert "CHK2        6" in waveform_block(tr, "INT")


def test_time_span_limit(store):
    settings, _ = store
    ans = answer_request(settings, msg("TIME 1995/01/01 TO 1995/03/01", "BULLETIN"))
    err = section(ans, "DATA_TYPE ERROR_LOG")[0]
    assert "line 6: BULLETIN" in err and "max_time_span_days" in err


# --------------------------------------------------------------------------- HTTP and CLI
def _post(settings, body: str):
    from fastapi.testclient import TestClient

    from pipeline.service.app import create_app

    with TestClient(create_app(settings)) as client:
        t0 = time.perf_counter()
        r = client.post("/ims1/request", content=body, headers={"Content-Type": "text/plain"})
        print(f"POST /ims1/request: {1000 * (time.perf_counter() - t0):.0f} ms, {len(r.content)} bytes")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    return r.text


HTTP_BODY = msg("TIME 1995/01/16 TO 1995/01/17", "BULLETIN IMS1.0", "STATION",
                "TIME 2014/08/24 00:01:05 TO 2014/08/24 00:01:10", "STA_LIST KVER", "CHAN_LIST HHZ", "WAVEFORM")


@pytest.mark.filterwarnings("ignore:Checksum differs only in absolute value")
def test_http_endpoint(store):
    settings, _ = store  # config/test.toml opens every product to the public
    ans = _post(settings, HTTP_BODY)
    assert "ERROR_LOG" not in ans
    bull = as_message(section(ans, "DATA_TYPE BULLETIN IMS1.0")[0])  # obspy reads one section per message
    assert len(read_events(io.BytesIO(bull.encode()), format="IMS10BULLETIN")) == 2
    wf = section(ans, "DATA_TYPE WAVEFORM IMS1.0:CM6")[0]
    st = read(io.BytesIO(wf.encode()), format="GSE2")
    assert [tr.id for tr in st] == ["Z7.KVER..HHZ"] and st[0].stats.npts == 500


def test_http_endpoint_applies_the_access_policy(store):
    settings, _ = store
    states = ["state_principal", "state_user", "analyst", "operator"]
    restricted = make_settings(settings.home, **{"access.products.REB": states, "access.products.waveforms": states})
    ans = _post(restricted, HTTP_BODY)
    assert "DATA_TYPE STATION IMS1.0" in ans  # station metadata is public
    # waveforms and the REB to States only ([access] defaults): the public gets an ERROR_LOG entry
    # for the WAVEFORM line, and only the public part of the REB (mb >= 4.0, older than 2 days)
    err = section(ans, "DATA_TYPE ERROR_LOG")[0]
    assert "line 11: WAVEFORM" in err and "not allowed" in err and "WID2" not in ans
    pub = read_events(io.BytesIO(as_message(section(ans, "DATA_TYPE BULLETIN")[0]).encode()), format="IMS10BULLETIN")
    want = [e for e in reb_events(settings) if e.magnitudes[0].magnitude_type == "mb" and e.magnitudes[0].mag >= 4.0]
    assert len(pub) == len(want) == 1
    assert abs(pub[0].origins[0].time - want[0].preferred_origin().time) < 0.01


def test_cli_request(store, tmp_path, monkeypatch):
    from pipeline.cli.main import cli

    settings, _ = store
    req = tmp_path / "req.txt"
    req.write_text(msg("TIME 1995/01/16 TO 1995/01/17", "BULLETIN IMS1.0"))
    out = tmp_path / "out.txt"
    monkeypatch.setenv("IDC_HOME", str(settings.home))
    res = CliRunner().invoke(cli, ["--config", str(settings.sources[-1]), "request", str(req), "-o", str(out)])
    assert res.exit_code == 0, res.output
    assert len(read_events(str(out), format="IMS10BULLETIN")) == 2
    bad = tmp_path / "bad.txt"
    bad.write_text(msg("TIME 1995/01/16 TO nonsense", "BULLETIN"))
    res = CliRunner().invoke(cli, ["--config", str(settings.sources[-1]), "request", str(bad)])
    assert res.exit_code == 1 and "line 5: TIME" in res.output
