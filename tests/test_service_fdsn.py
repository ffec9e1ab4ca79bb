"""``idc serve``: FDSN web services against a live server on 127.0.0.1, read by obspy's client.

The store holds real data: Iceland waveforms (Z7, 2014-08-24) ingested into the SDS archive with
their StationXML; an REB product from the IDC's 1995 GSE2.0 bulletin (two versions of one
window: only the newest may be served); an automatic product (SEL3) per year holding the NCSN
Calaveras catalogue (308 real events with magnitudes, HypoDD phase file). Every answer is
compared with what the store holds, read independently (``load_catalog``, site/sitechan rows,
the SDS archive).

The event, station and error tests run on SQLite and on a throwaway PostgreSQL; the waveform
tests on SQLite.
"""
from __future__ import annotations

import io
import socket
import threading
import time
from collections import defaultdict

import httpx
import numpy as np
import pytest
import uvicorn
from obspy import UTCDateTime, read_inventory
from obspy.clients.fdsn import Client
from obspy.clients.fdsn.header import FDSNBadRequestException, FDSNNoDataException
from obspy.clients.filesystem.sds import Client as SDSClient
from obspy.core.event import Catalog, Event, Magnitude, Origin
from obspy.geodetics import locations2degrees
from sqlalchemy import select

from pipeline import tasks
from pipeline.bulletin.hypodd import read_hypodd_pha
from pipeline.bulletin.read import read_bulletin
from pipeline.service.app import create_app
from pipeline.store import db
from pipeline.store import models as m
from pipeline.store.catalog import load_catalog, store_catalog
from pipeline.store.products import ProductKey, latest_version, write_product
from tests import PROJECT_ROOT
from tests.conftest import DATA, make_settings

Z7 = PROJECT_ROOT / "stations" / "Z7.xml"
FUR = PROJECT_ROOT / "stations" / "GR.FUR.xml"
ICELAND = sorted((DATA / "iceland" / "waveforms").glob("*.m"))[:3]
REB1 = DATA / "bulletins" / "reb_1995_gse2.txt"
REB2 = DATA / "bulletins" / "reb_1995_2events_gse2.txt"
CALAVERAS = DATA / "ncsn" / "Calaveras.pha"
REB_WINDOW = (UTCDateTime(1995, 1, 16), UTCDateTime(1995, 1, 17))
EVENT_CAP = 200  # [service] event_max_results of the test server (the Calaveras catalogue exceeds it)
DS_CAP = 40 * 3600.0  # [service] dataselect_max_channel_seconds of the test server


# --------------------------------------------------------------------------- the store
def _calaveras_products(settings) -> None:
    """One SEL3 product per calendar year of the NCSN Calaveras catalogue."""
    ev, _ = read_hypodd_pha(CALAVERAS)
    by_year = defaultdict(list)
    for r in ev.itertuples():
        by_year[UTCDateTime(r.time).year].append(r)
    for year, rows in by_year.items():
        cat = Catalog()
        for r in rows:
            o = Origin(time=UTCDateTime(r.time), latitude=r.latitude, longitude=r.longitude,
                       depth=r.depth_km * 1000.0)
            mag = Magnitude(mag=r.magnitude, magnitude_type="Md", origin_id=o.resource_id)
            e = Event(origins=[o], magnitudes=[mag])
            e.preferred_origin_id = o.resource_id
            cat.append(e)
        key = ProductKey("SEL3", UTCDateTime(year, 1, 1).timestamp, UTCDateTime(year + 1, 1, 1).timestamp)
        with db.session_scope(settings.database_url) as s:
            write_product(s, key, input_fingerprint="ncsn", config_hash="c", software_version="t",
                          fill=lambda s, p, cat=cat: store_catalog(s, p, cat))


def store_reb(settings, path, fingerprint):
    cat, _ = read_bulletin(path)
    key = ProductKey("REB", REB_WINDOW[0].timestamp, REB_WINDOW[1].timestamp)
    with db.session_scope(settings.database_url) as s:
        prod, new = write_product(s, key, input_fingerprint=fingerprint, config_hash="c", software_version="t",
                                  fill=lambda s, p: store_catalog(s, p, cat))
        return prod.version, new


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LiveServer:
    """uvicorn running ``create_app(settings)`` on 127.0.0.1 in a background thread
    (what ``idc serve --host 127.0.0.1 --port PORT`` runs)."""

    def __init__(self, settings):
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        cfg = uvicorn.Config(create_app(settings), host="127.0.0.1", port=self.port, log_level="warning")
        self.server = uvicorn.Server(cfg)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self):
        self.thread.start()
        t0 = time.time()
        while not self.server.started:
            if time.time() - t0 > 20 or not self.thread.is_alive():
                raise RuntimeError("the test server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc):
        self.server.should_exit = True
        self.thread.join(10)


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def served(request, tmp_path_factory):
    url = ""
    if request.param == "postgresql":
        url = request.getfixturevalue("pg_server").create_database(f"fdsn_{int(time.time() * 1000) % 10**9}")
    home = tmp_path_factory.mktemp(f"serve_{request.param}")
    settings = make_settings(home, url, **{"service.event_max_results": EVENT_CAP,
                                           "service.dataselect_max_channel_seconds": DS_CAP})
    db.upgrade(settings.database_url)
    tasks.load_stations(settings, [str(Z7), str(FUR)])
    if request.param == "sqlite":
        res = tasks.ingest_files(settings, ICELAND, progress=False)
        assert res["accepted"] == len(ICELAND)
    assert store_reb(settings, REB1, "reb-v1") == (1, True)
    assert store_reb(settings, REB2, "reb-v2") == (2, True)
    _calaveras_products(settings)
    with LiveServer(settings) as srv:
        srv.settings = settings
        srv.backend = request.param
        srv.client = Client(base_url=srv.url)
        yield srv


def stored_events(settings, ptype) -> list[tuple[str, Event]]:
    """(expected event id, event) of the newest versions of ``ptype``, read with load_catalog."""
    out = []
    with db.session_scope(settings.database_url) as s:
        keys = {(p.window_start, p.window_end) for p in s.scalars(select(m.Product).where(m.Product.type == ptype))}
        for ws, we in sorted(keys):
            prod = latest_version(s, ProductKey(ptype, ws, we))
            evs = sorted(load_catalog(s, prod), key=lambda e: e.preferred_origin().time)
            for n, e in enumerate(evs, start=1):
                fmt = "%Y%m%dT%H%M%S"
                eid = f"{ptype}-{UTCDateTime(ws).strftime(fmt)}-{UTCDateTime(we).strftime(fmt)}-{n}"
                out.append((eid, e))
    return out


def _key(e: Event):
    o = e.preferred_origin()
    return round(o.time.timestamp, 3), round(o.latitude, 4), round(o.longitude, 4)


def _eid(e: Event) -> str:
    return str(e.resource_id).rsplit("/", 1)[-1]


# --------------------------------------------------------------------------- discovery
def test_obspy_discovers_the_three_services(served):
    c = served.client
    assert {"event", "station", "dataselect"} <= set(c.services)
    for name in ("starttime", "minlatitude", "maxradius", "includearrivals", "eventid", "orderby", "catalog",
                 "updatedafter", "magnitudetype", "eventtype"):
        assert name in c.services["event"], name
    assert c.services["available_event_catalogs"] == {"REB", "SEL3"}
    assert c.services["available_event_contributors"] == {"IDC"}
    assert c.get_webservice_version("event") == [1, 2, 0]
    assert c.get_webservice_version("station") == [1, 1, 0]
    assert c.get_webservice_version("dataselect") == [1, 1, 0]
    # the OpenAPI schema declares the same parameters (for schema-driven clients and fuzzers)
    from pipeline.service.fdsn import event

    schema = httpx.get(f"{served.url}/openapi.json").json()
    declared = [x["name"] for x in schema["paths"]["/fdsnws/event/1/query"]["get"]["parameters"]]
    assert declared == [p.name for p in event.SPECS]


# --------------------------------------------------------------------------- events
def test_default_catalog_is_the_newest_reb_version(served):
    got = served.client.get_events()
    want = stored_events(served.settings, "REB")
    assert len(want) == 2  # version 2 of the window (version 1 held one event)
    assert [_eid(e) for e in got] == [eid for eid, _ in reversed(want)]  # orderby=time: newest first
    for g, (_, w) in zip(got, reversed(want)):
        go, wo = g.preferred_origin(), w.preferred_origin()
        assert abs(go.time - wo.time) < 1e-6
        assert (go.latitude, go.longitude, go.depth) == (wo.latitude, wo.longitude, wo.depth)
        assert go.origin_uncertainty.max_horizontal_uncertainty == wo.origin_uncertainty.max_horizontal_uncertainty
        # without includeallmagnitudes: the preferred magnitude only (the first one stored)
        assert [(x.magnitude_type, x.mag) for x in g.magnitudes] == [(w.magnitudes[0].magnitude_type,
                                                                      w.magnitudes[0].mag)]
        assert not g.picks and not go.arrivals


def test_includearrivals_and_allmagnitudes_equal_the_store(served):
    got = served.client.get_events(catalog="REB", includearrivals=True, includeallmagnitudes=True,
                                   orderby="time-asc")
    want = [e for _, e in stored_events(served.settings, "REB")]
    assert len(got) == len(want) == 2
    for g, w in zip(got, want):
        gp = sorted((p.waveform_id.station_code, p.phase_hint, round(p.time.timestamp, 3), p.backazimuth)
                    for p in g.picks)
        wp = sorted((p.waveform_id.station_code, p.phase_hint, round(p.time.timestamp, 3), p.backazimuth)
                    for p in w.picks)
        assert gp == wp and len(gp) == len(w.preferred_origin().arrivals) > 5
        ga = sorted((a.phase, a.distance, a.time_residual, a.time_weight) for a in g.preferred_origin().arrivals)
        wa = sorted((a.phase, a.distance, a.time_residual, a.time_weight) for a in w.preferred_origin().arrivals)
        assert ga == wa
        assert sorted((x.magnitude_type, x.mag) for x in g.magnitudes) == sorted(
            (x.magnitude_type, x.mag) for x in w.magnitudes)
        assert sorted(a.generic_amplitude for a in g.amplitudes) == pytest.approx(
            sorted(a.generic_amplitude for a in w.amplitudes))
        assert len(g.station_magnitudes) == len(w.station_magnitudes)
    # the document itself is schema-valid QuakeML 1.2
    from obspy.io.quakeml.core import _validate as validate_quakeml

    r = httpx.get(f"{served.url}/fdsnws/event/1/query", params={"catalog": "REB", "includearrivals": "true",
                                                                "includeallmagnitudes": "true"})
    assert r.headers["content-type"].startswith("application/xml") and validate_quakeml(io.BytesIO(r.content))


def test_event_filters_match_the_store(served):
    c = served.client
    stored = stored_events(served.settings, "SEL3")
    assert len(stored) == 308
    ev = {eid: e for eid, e in stored}

    def mag(e):
        return e.magnitudes[0].mag

    def check(expected_ids, **kw):
        try:
            got = c.get_events(catalog="SEL3", **kw)
        except FDSNNoDataException:
            got = []
        assert sorted(_eid(e) for e in got) == sorted(expected_ids), kw
        for e in got:
            assert _key(e) == _key(ev[_eid(e)])
        return got

    t0, t1 = UTCDateTime(1986, 1, 1), UTCDateTime(1988, 6, 30)
    check([i for i, e in stored if t0 <= e.preferred_origin().time <= t1], starttime=t0, endtime=t1)
    check([i for i, e in stored if 3.0 <= mag(e) <= 3.5], minmagnitude=3.0, maxmagnitude=3.5)
    check([i for i, e in stored if mag(e) >= 3.0], minmag=3.0, magnitudetype="Md")
    check([], minmagnitude=1.0, magnitudetype="mb")
    check([i for i, e in stored if e.preferred_origin().depth >= 8000], mindepth=8.0)
    box = dict(minlatitude=37.28, maxlatitude=37.29, minlongitude=-121.67, maxlongitude=-121.66)
    inbox = [i for i, e in stored if 37.28 <= e.preferred_origin().latitude <= 37.29
             and -121.67 <= e.preferred_origin().longitude <= -121.66]
    assert 5 < len(inbox) < EVENT_CAP
    check(inbox, **box)
    # radius search around one event, degrees on a sphere
    lat0, lon0 = 37.2853, -121.6628
    dist = {i: locations2degrees(lat0, lon0, e.preferred_origin().latitude, e.preferred_origin().longitude)
            for i, e in stored}
    near = [i for i, d in dist.items() if 0.005 <= d <= 0.02]
    assert 5 < len(near) < 300
    check(near, latitude=lat0, longitude=lon0, minradius=0.005, maxradius=0.02)
    # orderby magnitude with limit/offset pages through the same order as the store
    order = sorted(stored, key=lambda x: (-mag(x[1]), -x[1].preferred_origin().time.timestamp))
    page1 = c.get_events(catalog="SEL3", orderby="magnitude", limit=10)
    page2 = c.get_events(catalog="SEL3", orderby="magnitude", limit=10, offset=11)
    assert [_eid(e) for e in page1] + [_eid(e) for e in page2] == [i for i, _ in order[:20]]
    asc = c.get_events(catalog="SEL3", orderby="time-asc", limit=5, starttime=UTCDateTime(1990, 1, 1))
    want = sorted((e.preferred_origin().time, i) for i, e in stored
                  if e.preferred_origin().time >= UTCDateTime(1990, 1, 1))
    assert [_eid(e) for e in asc] == [i for _, i in want[:5]]
    magasc = c.get_events(catalog="SEL3", orderby="magnitude-asc", limit=3)
    assert [e.magnitudes[0].mag for e in magasc] == sorted(mag(e) for _, e in stored)[:3]


def test_eventid_is_stable_across_identical_reruns(served):
    c = served.client
    got = c.get_events(catalog="SEL3", starttime=UTCDateTime(1989, 1, 1), endtime=UTCDateTime(1989, 12, 31),
                       orderby="time-asc")
    ids = [_eid(e) for e in got]
    one = c.get_events(eventid=ids[3])
    assert len(one) == 1 and _eid(one[0]) == ids[3] and _key(one[0]) == _key(got[3])
    assert _eid(c.get_events(eventid=str(got[3].resource_id))[0]) == ids[3]  # full resource id works too
    # an identical re-run rewrites the rows (new primary keys): the ids do not change
    with db.session_scope(served.settings.database_url) as s:
        before = {p.id: p.version for p in s.scalars(select(m.Product).where(m.Product.type == "REB"))}
        pk_before = sorted(s.scalars(select(m.Event.evid).join(m.Product).where(m.Product.type == "REB")))
    reb_before = [(_eid(e), _key(e)) for e in c.get_events()]
    assert store_reb(served.settings, REB2, "reb-v2") == (2, False)
    with db.session_scope(served.settings.database_url) as s:
        assert {p.id: p.version for p in s.scalars(select(m.Product).where(m.Product.type == "REB"))} == before
        pk_after = sorted(s.scalars(select(m.Event.evid).join(m.Product).where(m.Product.type == "REB")))
    assert pk_after != pk_before
    assert [(_eid(e), _key(e)) for e in c.get_events()] == reb_before


def test_text_format_and_updatedafter(served):
    r = httpx.get(f"{served.url}/fdsnws/event/1/query", params={"catalog": "SEL3", "format": "text",
                                                                "minmag": "3.2"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    lines = r.text.strip().splitlines()
    assert lines[0].split("|") == ["#EventID", "Time", "Latitude", "Longitude", "Depth/km", "Author", "Catalog",
                                   "Contributor", "ContributorID", "MagType", "Magnitude", "MagAuthor",
                                   "EventLocationName", "EventType"]
    rows = [x.split("|") for x in lines[1:]]
    xml = served.client.get_events(catalog="SEL3", minmag=3.2)
    assert [r_[0] for r_ in rows] == [_eid(e) for e in xml]
    for r_, e in zip(rows, xml):
        o = e.preferred_origin()
        assert UTCDateTime(r_[1]) == o.time and float(r_[2]) == pytest.approx(o.latitude, abs=1e-4)
        assert float(r_[4]) == pytest.approx(o.depth / 1000.0, abs=0.05) and r_[6] == "SEL3" and r_[7] == "IDC"
        assert r_[9] == "Md" and float(r_[10]) == pytest.approx(e.magnitudes[0].mag, abs=0.005)
    # every product was written before now: nothing updated after now, everything after 2000
    with pytest.raises(FDSNNoDataException):
        served.client.get_events(catalog="SEL3", updatedafter=UTCDateTime() + 60)
    assert len(served.client.get_events(catalog="REB", updatedafter=UTCDateTime(2000, 1, 1))) == 2


def test_too_many_events_is_413_and_limit_works(served):
    r = httpx.get(f"{served.url}/fdsnws/event/1/query", params={"catalog": "SEL3", "format": "text"})
    assert r.status_code == 413 and "limit" in r.text and r.text.startswith("Error 413")
    r = httpx.get(f"{served.url}/fdsnws/event/1/query", params={"catalog": "SEL3", "format": "text", "limit": 150})
    assert r.status_code == 200 and len(r.text.strip().splitlines()) == 151


# --------------------------------------------------------------------------- errors / nodata
def test_nodata_204_and_404(served):
    base = f"{served.url}/fdsnws/event/1/query"
    r = httpx.get(base, params={"starttime": "2031-01-01"})
    assert r.status_code == 204 and r.content == b""
    r = httpx.get(base, params={"starttime": "2031-01-01", "nodata": "404"})
    assert r.status_code == 404 and r.text.startswith("Error 404: Not Found")
    with pytest.raises(FDSNNoDataException):
        served.client.get_events(starttime=UTCDateTime(2031, 1, 1))
    r = httpx.get(f"{served.url}/fdsnws/station/1/query", params={"network": "XX", "nodata": "404"})
    assert r.status_code == 404
    r = httpx.get(f"{served.url}/fdsnws/dataselect/1/query",
                  params={"net": "Z7", "start": "2014-08-25T00:00:00", "end": "2014-08-25T00:01:00"})
    assert r.status_code == 204


@pytest.mark.parametrize("service,params,name", [
    ("event", {"minlat": "abc"}, "minlat"),
    ("event", {"maxlatitude": "91"}, "maxlatitude"),
    ("event", {"foo": "1"}, "foo"),
    ("event", {"start": "2020-01-01", "starttime": "2020-01-01"}, "starttime"),
    ("event", {"starttime": "yesterday"}, "starttime"),
    ("event", {"orderby": "depth"}, "orderby"),
    ("event", {"eventid": "12345"}, "eventid"),
    ("event", {"catalog": "ISC"}, "catalog"),
    ("event", {"includearrivals": "yes"}, "includearrivals"),
    ("event", {"limit": "0"}, "limit"),
    ("event", {"maxradius": "5"}, "latitude"),
    ("event", {"minmag": "5", "maxmag": "4"}, "minmag"),
    ("event", {"format": "json"}, "format"),
    ("event", {"nodata": "500"}, "nodata"),
    ("station", {"level": "everything"}, "level"),
    ("station", {"net": "Z7!"}, "net"),
    ("station", {"level": "response", "format": "text"}, "format"),
    ("dataselect", {"net": "Z7"}, "starttime"),
    ("dataselect", {"start": "2014-08-24T00:01:00", "end": "2014-08-24T00:00:00"}, "endtime"),
    ("dataselect", {"start": "2014-08-24", "end": "2014-08-25", "quality": "X"}, "quality"),
])
def test_bad_parameters_get_400_naming_the_parameter(served, service, params, name):
    r = httpx.get(f"{served.url}/fdsnws/{service}/1/query", params=params)
    assert r.status_code == 400, r.text
    assert r.headers["content-type"].startswith("text/plain")
    body = r.text
    assert body.startswith("Error 400: Bad Request\n")
    assert f"'{name}'" in body
    for section in ("Request:\n", "Request Submitted:\n", "Service version:\n"):
        assert section in body
    assert str(r.url) in body


def test_obspy_sees_bad_request_and_bad_post_body_names_the_line(served):
    with pytest.raises(FDSNBadRequestException, match="eventid"):
        served.client.get_events(eventid="REB-nonsense")
    body = "quality=B\nZ7 KVER -- HHZ 2014-08-24T00:01:00 2014-08-24T00:01:10\nZ7 KVER -- HHZ yesterday today\n"
    r = httpx.post(f"{served.url}/fdsnws/dataselect/1/query", content=body)
    assert r.status_code == 400 and "line 3" in r.text and "Z7 KVER -- HHZ yesterday today" in r.text
    r = httpx.post(f"{served.url}/fdsnws/dataselect/1/query",
                   content="network=Z7\nZ7 KVER -- HHZ 2014-08-24T00:01:00 2014-08-24T00:01:10\n")
    assert r.status_code == 400 and "'network'" in r.text


# --------------------------------------------------------------------------- stations
def _store_stations(settings):
    with db.session_scope(settings.database_url) as s:
        sites = list(s.scalars(select(m.Site)))
        chans = list(s.scalars(select(m.Sitechan)))
    return sites, chans


def _r(rows):
    return [tuple(round(x, 6) if isinstance(x, float) else x for x in row) for row in rows]


def test_stations_all_levels_equal_the_store(served):
    c = served.client
    sites, chans = _store_stations(served.settings)
    inv = c.get_stations(level="network")
    assert sorted(n.code for n in inv) == sorted({s.net for s in sites}) == ["GR", "Z7"]
    inv = c.get_stations(network="Z7", level="station")
    z7 = sorted((s.sta, s.lat, s.lon, s.elev_km * 1000.0, s.ondate) for s in sites if s.net == "Z7")
    got = sorted((st.code, st.latitude, st.longitude, st.elevation, st.start_date.timestamp) for st in inv[0])
    assert _r(got) == _r(z7) and len(got) == 12
    inv = c.get_stations(network="Z7", station="K*,FLUR", channel="HH?", level="channel")
    want = sorted((ch.sta, ch.loc, ch.chan, ch.samprate, ch.hang, ch.ondate) for ch in chans
                  if ch.net == "Z7" and (ch.sta.startswith("K") or ch.sta == "FLUR") and ch.chan.startswith("HH"))
    got = sorted((st.code, ch.location_code, ch.code, ch.sample_rate, ch.azimuth, ch.start_date.timestamp)
                 for st in inv[0] for ch in st)
    assert _r(got) == _r(want) and len(got) == 6
    # response level: the responses of the StationXML file the store was loaded from
    inv = c.get_stations(network="Z7", station="KVER", channel="HHZ", level="response")
    ref = read_inventory(str(Z7)).select(station="KVER", channel="HHZ")
    got_ch, ref_ch = inv[0][0][0], ref[0][0][0]
    assert got_ch.response.instrument_sensitivity.value == ref_ch.response.instrument_sensitivity.value
    assert len(got_ch.response.response_stages) == len(ref_ch.response.response_stages) > 0
    from obspy.io.stationxml.core import validate_stationxml

    r = httpx.get(f"{served.url}/fdsnws/station/1/query", params={"net": "Z7", "sta": "KVER", "level": "response",
                                                                  "includeavailability": "true"})
    valid, errors = validate_stationxml(io.BytesIO(r.content))
    assert valid, errors
    f = np.logspace(-1, 1.5, 20)
    np.testing.assert_allclose(got_ch.response.get_evalresp_response_for_frequencies(f),
                               ref_ch.response.get_evalresp_response_for_frequencies(f))


def test_station_geographic_time_and_text(served):
    c = served.client
    sites, chans = _store_stations(served.settings)
    lat0, lon0 = 64.75, -16.95
    near = sorted(s.sta for s in sites if locations2degrees(lat0, lon0, s.lat, s.lon) <= 0.2)
    assert 0 < len(near) < 12
    inv = c.get_stations(latitude=lat0, longitude=lon0, maxradius=0.2)
    assert sorted(st.code for n in inv for st in n) == near
    inv = c.get_stations(minlatitude=60, maxlatitude=70, minlongitude=-20, maxlongitude=-10)
    assert {n.code for n in inv} == {"Z7"}
    fur = [s for s in sites if s.sta == "FUR"]
    inv = c.get_stations(station="FUR", starttime=UTCDateTime(2015, 1, 1), endtime=UTCDateTime(2015, 1, 2))
    assert len(inv[0]) == sum(1 for s in fur if s.ondate <= UTCDateTime(2015, 1, 2).timestamp
                              and (s.offdate is None or s.offdate >= UTCDateTime(2015, 1, 1).timestamp)) >= 1
    # text formats parse with obspy's STATIONTXT reader and hold the same channels
    txt = c.get_stations(network="Z7", level="channel", format="text")
    assert sorted((cha.code, st.code) for st in txt[0] for cha in st) == sorted(
        (ch.chan, ch.sta) for ch in chans if ch.net == "Z7")
    txt = c.get_stations(level="station", format="text")
    assert sum(len(n) for n in txt) == len(sites)
    r = httpx.get(f"{served.url}/fdsnws/station/1/query", params={"level": "network", "format": "text"})
    assert r.text.splitlines()[0] == "#Network|Description|StartTime|EndTime|TotalStations"
    # POST (fdsnws-station 1.1): several selections at once
    r = httpx.post(f"{served.url}/fdsnws/station/1/query",
                   content="level=channel\nZ7 KVER -- HHZ 2014-01-01 2015-01-01\n"
                           "Z7 FLUR -- HH? 2014-01-01 2015-01-01\n")
    got = read_inventory(io.BytesIO(r.content))
    assert sorted((st.code, ch.code) for st in got[0] for ch in st) == [("FLUR", "HHE"), ("FLUR", "HHN"),
                                                                       ("FLUR", "HHZ"), ("KVER", "HHZ")]


# --------------------------------------------------------------------------- waveforms
def _archive(served, net, sta, loc, cha, t0, t1):
    st = SDSClient(str(served.settings.archive_dir)).get_waveforms(net, sta, loc, cha, t0, t1)
    st.trim(t0, t1, nearest_sample=False)
    return st


def test_waveforms_single_and_bulk_equal_the_archive(served):
    if served.backend != "sqlite":
        pytest.skip("waveforms are archived in the SQLite variant only")
    c = served.client
    t0, t1 = UTCDateTime("2014-08-24T00:01:05"), UTCDateTime("2014-08-24T00:01:45")
    st = c.get_waveforms("Z7", "KVER", "", "HHZ", t0, t1)
    ref = _archive(served, "Z7", "KVER", "", "HHZ", t0, t1)
    assert len(st) == len(ref) == 1
    assert st[0].stats.starttime == ref[0].stats.starttime and st[0].stats.npts == ref[0].stats.npts > 3000
    np.testing.assert_array_equal(st[0].data, ref[0].data)
    # wildcards: three components
    st = c.get_waveforms("Z7", "FLUR", "*", "HH?", t0, t1)
    assert sorted(tr.stats.channel for tr in st) == ["HHE", "HHN", "HHZ"]
    bulk = [("Z7", "KVER", "", "HHZ", t0, t0 + 10), ("Z7", "FLUR", "", "HHN", t0 + 5, t0 + 25),
            ("Z7", "DYSA", "", "HHE", t0, t1)]
    st = c.get_waveforms_bulk(bulk)
    assert len(st) == 3
    for net, sta, loc, cha, a, b in bulk:
        got = st.select(station=sta, channel=cha)
        ref = _archive(served, net, sta, loc, cha, a, b)
        assert len(got) == 1 and got[0].stats.starttime == ref[0].stats.starttime
        np.testing.assert_array_equal(got[0].data, ref[0].data)
    # minimumlength longer than the window: nothing; longestonly keeps one segment per channel
    with pytest.raises(FDSNNoDataException):
        c.get_waveforms("Z7", "KVER", "", "HHZ", t0, t0 + 10, minimumlength=60)
    st = c.get_waveforms("Z7", "KVER", "", "HHZ", t0, t1, longestonly=True, quality="B")
    assert len(st) == 1
    # larger than [service] dataselect_max_channel_seconds: 413 naming the limit
    r = httpx.get(f"{served.url}/fdsnws/dataselect/1/query",
                  params={"net": "Z7", "start": "2014-08-24T00:00:00", "end": "2014-08-25T00:00:00"})
    assert r.status_code == 413 and str(int(DS_CAP)) in r.text
    r = httpx.get(f"{served.url}/fdsnws/dataselect/1/queryauth", params={"net": "Z7"})
    assert r.status_code == 401
    # station metadata about the archive: availability extent and matchtimeseries
    with db.session_scope(served.settings.database_url) as s:
        segs = [(w.starttime, w.endtime) for w in s.scalars(select(m.WfAvail).where(
            m.WfAvail.sta == "KVER", m.WfAvail.chan == "HHZ", m.WfAvail.kind == "segment"))]
    inv = c.get_stations(station="KVER", channel="HHZ", level="channel", includeavailability=True)
    da = inv[0][0][0].data_availability
    assert (da.start.timestamp, da.end.timestamp) == pytest.approx((min(a for a, _ in segs), max(b for _, b in segs)))
    inv = c.get_stations(network="Z7", level="channel", matchtimeseries=True, starttime=t0, endtime=t1)
    assert sum(len(st) for st in inv[0]) == 36
    with pytest.raises(FDSNNoDataException):
        c.get_stations(network="Z7", level="channel", matchtimeseries=True, starttime=UTCDateTime(2014, 9, 1))


# --------------------------------------------------------------------------- robustness, CLI
ODD_VALUES = ["", "nan", "-91", "9999-99-99", "a,,b", "x" * 300, "é\x00", "99999999999999999999",
              "REB-19951399T000000-19950117T000000-1"]


@pytest.mark.parametrize("service", ["event", "station", "dataselect"])
def test_odd_values_of_every_parameter_never_give_5xx(served, service):
    import importlib

    specs = importlib.import_module(f"pipeline.service.fdsn.{service}").SPECS
    base = f"{served.url}/fdsnws/{service}/1/query"
    extra = {"dataselect": {"start": "2014-08-24T00:01:00", "end": "2014-08-24T00:01:10"}}.get(service, {})
    with httpx.Client() as h:
        for p in specs:
            for name in p.names[:1]:
                for v in ODD_VALUES:
                    q = {**{k: x for k, x in extra.items() if k not in p.names and not
                            (p.name in ("starttime", "endtime") and k in ("start", "end"))}, name: v}
                    r = h.get(base, params=q)
                    assert r.status_code < 500, (q, r.text)
                    if r.status_code == 400:
                        assert r.text.startswith("Error 400: Bad Request")


def test_idc_serve_command_serves(tmp_path):
    """The real command: `idc serve --host 127.0.0.1 --port PORT` answers obspy's client."""
    import os
    import subprocess

    home = tmp_path / "home"
    settings = make_settings(home)
    db.upgrade(settings.database_url)
    store_reb(settings, REB2, "x")
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("IDC")}
    env.update(IDC_HOME=str(home), IDC_CONFIG=str(PROJECT_ROOT / "config" / "test.toml"))
    idc = PROJECT_ROOT / ".venv" / "bin" / "idc"
    cmd = [str(idc)] if idc.exists() else [__import__("sys").executable, "-m", "pipeline.cli.main"]
    proc = subprocess.Popen(cmd + ["serve", "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        url = f"http://127.0.0.1:{port}"
        for _ in range(200):
            try:
                if httpx.get(f"{url}/fdsnws/event/1/version", timeout=1).text == "1.2.0":
                    break
            except httpx.HTTPError:
                time.sleep(0.05)
        else:
            raise AssertionError("idc serve did not answer: " + (proc.stdout.read() if proc.poll() is not None else ""))
        got = Client(base_url=url).get_events()
        assert sorted(_key(e) for e in got) == sorted(_key(e) for _, e in stored_events(settings, "REB"))
    finally:
        proc.terminate()
        proc.wait(10)
