"""Catalog ⇄ store rows, and the IMS1.0 writer read back by obspy (real IDC/IPEC bulletins)."""
import obspy
import pytest

from pipeline.bulletin.ims1 import write_ims1
from pipeline.bulletin.read import BulletinError, read_bulletin
from pipeline.store import db
from pipeline.store.catalog import load_catalog, store_catalog
from pipeline.store.products import ProductKey, write_product
from tests.conftest import DATA

REB = DATA / "bulletins" / "reb_1995_gse2.txt"
REB2 = DATA / "bulletins" / "reb_1995_2events_gse2.txt"
IPEC = DATA / "bulletins" / "ipec_202409_ims1.txt"


def _compare(a: obspy.core.event.Event, b: obspy.core.event.Event):
    oa, ob = a.preferred_origin() or a.origins[0], b.preferred_origin() or b.origins[0]
    assert abs(oa.time - ob.time) < 1e-3
    assert (oa.latitude, oa.longitude) == pytest.approx((ob.latitude, ob.longitude), abs=1e-4)
    assert (oa.depth is None and ob.depth is None) or oa.depth == pytest.approx(ob.depth, abs=1.0)
    assert len(oa.arrivals) == len(ob.arrivals)
    pa = {str(x.resource_id): x for x in a.picks}
    pb = {str(x.resource_id): x for x in b.picks}
    rows_a = sorted((pa[str(r.pick_id)].waveform_id.station_code, round(float(pa[str(r.pick_id)].time.timestamp), 3),
                     r.phase, r.time_residual, r.backazimuth_residual, r.horizontal_slowness_residual,
                     (r.time_weight or 0) > 0, pa[str(r.pick_id)].backazimuth,
                     pa[str(r.pick_id)].horizontal_slowness) for r in oa.arrivals)
    rows_b = sorted((pb[str(r.pick_id)].waveform_id.station_code, round(float(pb[str(r.pick_id)].time.timestamp), 3),
                     r.phase, r.time_residual, r.backazimuth_residual, r.horizontal_slowness_residual,
                     (r.time_weight or 0) > 0, pb[str(r.pick_id)].backazimuth,
                     pb[str(r.pick_id)].horizontal_slowness) for r in ob.arrivals)
    assert rows_a == rows_b
    assert sorted((m.magnitude_type, m.mag) for m in a.magnitudes) == sorted((m.magnitude_type, m.mag)
                                                                          for m in b.magnitudes)
    amps_a = sorted(round(x.generic_amplitude * 1e9, 3) for x in a.amplitudes)
    amps_b = sorted(round(x.generic_amplitude * 1e9, 3) for x in b.amplitudes)
    assert amps_a == amps_b


def test_read_normalises_gse2_amplitudes_to_metres():
    cat, fmt = read_bulletin(REB)
    assert fmt == "GSE2" and len(cat) == 1
    fines = next(a for a in cat[0].amplitudes if a.waveform_id.station_code == "FINES")
    assert fines.generic_amplitude == pytest.approx(4.5e-9) and fines.unit == "m" and fines.period == 0.8


def test_unreadable_bulletin_names_the_file(tmp_path):
    bad = tmp_path / "junk.txt"
    bad.write_text("hello\n")
    with pytest.raises(BulletinError, match="junk.txt: could not be read as any of the supported bulletin formats"):
        read_bulletin(bad)


@pytest.mark.parametrize("path", [REB, REB2])
def test_catalog_store_round_trip(settings, path):
    cat, _ = read_bulletin(path)
    db.upgrade(settings.database_url)
    o = cat[0].origins[0]
    key = ProductKey("REB", float(o.time.timestamp) - 3600, float(o.time.timestamp) + 3600)
    with db.session_scope(settings.database_url) as s:
        product, _ = write_product(s, key, input_fingerprint="x", config_hash="c", software_version="t",
                                   fill=lambda s, p: store_catalog(s, p, cat))
    with db.session_scope(settings.database_url) as s:
        from pipeline.store.products import latest_version

        back = load_catalog(s, latest_version(s, key))
    assert len(back) == len(cat)
    for a, b in zip(cat, back):
        _compare(a, b)
    assert back[0].origins[0].origin_uncertainty.max_horizontal_uncertainty == pytest.approx(93.6e3)
    assert back[0].origins[0].quality.azimuthal_gap is not None


def _store_and_load(settings, cat):
    """Write ``cat`` as an REB product around its first origin and read it back."""
    from pipeline.store.products import latest_version

    o = cat[0].preferred_origin()
    db.upgrade(settings.database_url)
    key = ProductKey("REB", float(o.time.timestamp) - 3600, float(o.time.timestamp) + 3600)
    with db.session_scope(settings.database_url) as s:
        write_product(s, key, input_fingerprint="x", config_hash="c", software_version="t",
                      fill=lambda s, p: store_catalog(s, p, cat))
    with db.session_scope(settings.database_url) as s:
        return load_catalog(s, latest_version(s, key))


def test_counts_without_quality_come_from_the_arrivals(settings):
    """A catalogue without OriginQuality / Magnitude.station_count (e.g. another agency's
    QuakeML) is stored with ndef = its time-defining arrivals and nsta = its station
    magnitude contributions, not 0."""
    cat, _ = read_bulletin(REB)
    ev = cat[0]
    o = ev.preferred_origin()
    expect_ndef = sum(1 for a in o.arrivals if (a.time_weight or 0) > 0)
    expect_nsta = {m.magnitude_type: len(m.station_magnitude_contributions) for m in ev.magnitudes}
    o.quality = None
    for m in ev.magnitudes:
        m.station_count = None
    back = _store_and_load(settings, cat)[0]
    assert expect_ndef == 8 and back.origins[0].quality.used_phase_count == expect_ndef
    assert expect_nsta["mb"] == 3
    assert {m.magnitude_type: m.station_count for m in back.magnitudes} == expect_nsta


@pytest.mark.parametrize("path", [REB, REB2, IPEC])
def test_ims1_writer_is_read_back_by_obspy(tmp_path, path):
    cat, _ = read_bulletin(path)
    out = tmp_path / "out.ims"
    with open(out, "w") as fh:
        write_ims1(cat, fh, title="round trip")
    back = obspy.read_events(str(out), format="IMS10BULLETIN")
    with_origin = [e for e in cat if e.origins]
    assert len(back) == len(with_origin)
    for a, b in zip(with_origin, back):
        _compare(a, b)


def test_amplitudes_on_no_arrival_are_kept(settings):
    """An amplitude without a pick (e.g. from another agency's QuakeML) is stored with its
    event's origin and read back with its stream, type, value and period."""
    from obspy.core.event import Amplitude, WaveformStreamID

    cat, _ = read_bulletin(REB)
    ev = cat[0]
    ev.amplitudes.append(Amplitude(generic_amplitude=1.5e-6, type="AMs", unit="m", period=20.0,
                                   magnitude_hint="Ms", waveform_id=WaveformStreamID("IM", "ARCES", "", "BHZ")))
    back = _store_and_load(settings, cat)[0]
    (ms,) = [a for a in back.amplitudes if a.type == "AMs"]
    assert ms.pick_id is None and ms.waveform_id.station_code == "ARCES" and ms.waveform_id.channel_code == "BHZ"
    assert ms.generic_amplitude == pytest.approx(1.5e-6) and ms.period == 20.0 and ms.magnitude_hint == "Ms"
    assert len(back.amplitudes) == len(ev.amplitudes)


def test_coda_events_are_dissolved_into_the_signal_they_came_from():
    """An event whose arrivals lie, at the same stations, inside a larger event's signal after
    that event's onset is its later phases and coda; one that starts before, or is much larger, is
    kept (synthetic catalog: times in s after an origin)."""
    from obspy import UTCDateTime
    from obspy.core.event import Arrival, Catalog, Event, Magnitude, Origin, Pick, WaveformStreamID

    from pipeline.association.config import AssociatorConfig
    from pipeline.bulletin.build import coda_events

    t0 = UTCDateTime(2014, 8, 24, 0, 9, 49)

    def ev(mag, arrivals):
        e = Event(magnitudes=[Magnitude(mag=mag, magnitude_type="ML")] if mag is not None else [])
        o = Origin(time=t0, latitude=64.6, longitude=-17.5)
        for sta, t in arrivals:
            p = Pick(time=t0 + t, waveform_id=WaveformStreamID("Z7", sta, "", "HHZ"))
            e.picks.append(p)
            o.arrivals.append(Arrival(pick_id=p.resource_id, phase="P"))
        e.origins.append(o)
        e.preferred_origin_id = o.resource_id
        return e

    big = ev(4.8, [("A", 5), ("A", 8), ("B", 6), ("B", 10), ("C", 9), ("C", 15)])
    coda = ev(4.7, [("A", 12), ("B", 14), ("C", 20), ("D", 30)])        # 3 of 4 inside: dissolved
    before = ev(1.5, [("A", 3), ("B", 4), ("C", 7)])                   # onsets before the big one's
    later = ev(2.0, [("A", 80), ("B", 82), ("C", 85)])                  # after the signal (40 s)
    larger = ev(5.6, [("A", 6), ("B", 7), ("C", 10)])                   # much larger: kept
    cfg = AssociatorConfig()
    assert coda_events(Catalog([big, coda, before, later]), cfg) == [1]
    assert coda_events(Catalog([big, larger]), cfg) == []
    assert coda_events(Catalog([big, coda]), AssociatorConfig(coda_s_at_m3=0)) == []
