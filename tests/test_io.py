"""Bulletin formats (pipeline.io): round trips with no loss beyond column precision, obspy reading our
IMS1.0 and QuakeML, QuakeML 1.2 schema validity, golden read → write → read stability on the real
1995 REB (GSE2.0) and IPEC (IMS1.0) bulletins, line-numbered errors on malformed input.

Catalogs: the real bulletins as read, and a chain catalog: the 1995 REB relocated by our locator and
magnitude code (pipeline.bulletin.build.relocate_catalog) — two origins per event, full-precision
floats, station magnitudes with contributions."""
import filecmp
import math
import re
import warnings
from pathlib import Path

import obspy
import pandas as pd
import pytest
from lxml import etree

from pipeline.bulletin.read import read_bulletin
from pipeline.io import FORMATS, FormatError, UnknownFormatError, read_catalog, write_catalog
from pipeline.io.common import NAMESPACE
from pipeline.io.css3 import table_paths
from tests.conftest import DATA

REB = DATA / "bulletins" / "reb_1995_gse2.txt"
REB2 = DATA / "bulletins" / "reb_1995_2events_gse2.txt"
IPEC = DATA / "bulletins" / "ipec_202409_ims1.txt"
XSD = Path(obspy.__file__).parent / "io" / "quakeml" / "data" / "QuakeML-1.2.xsd"

#: tolerances implied by the column precision of each format (s, deg, km, …); None = not carried
TOL = {
    "ims1": dict(otime=0.005, ll=5e-5, depth_km=0.05, ptime=5e-4, tres=0.05, azres=0.05, sres=0.05, dist=0.005, az=0.05, slow=0.05,
                 amp_rel=5e-4, per=0.005, mag=0.05, all_origins=True, arrivals=True),
    "gse2": dict(otime=0.05, ll=5e-5, depth_km=0.05, ptime=0.05, tres=0.05, azres=0.05, sres=0.05, dist=0.005, az=0.05, slow=0.05,
                 amp_rel=5e-4, per=0.05, mag=0.05, all_origins=False, arrivals=True),
    "css3": dict(otime=5e-6, ll=5e-5, depth_km=5e-5, ptime=5e-6, tres=0.0005, azres=0.05, sres=0.005, dist=0.0005, az=0.005, slow=0.005,
                 amp_rel=5e-4, per=0.005, mag=0.005, all_origins=True, arrivals=True),
    "quakeml": dict(otime=1e-6, ll=1e-9, depth_km=1e-9, ptime=1e-6, tres=1e-9, azres=1e-9, sres=1e-9, dist=1e-9, az=1e-9, slow=1e-9,
                    amp_rel=1e-9, per=1e-9, mag=1e-9, all_origins=True, arrivals=True),
    "csv": dict(otime=1e-6, ll=1e-9, depth_km=1e-9, ptime=1e-6, tres=1e-9, azres=1e-9, sres=1e-9, dist=1e-9, az=1e-9, slow=1e-9,
                amp_rel=1e-9, per=1e-9, mag=1e-9, all_origins=True, arrivals=True),
    "geojson": dict(otime=1e-6, ll=1e-9, depth_km=1e-9, mag=1e-9, all_origins=False, arrivals=False),
}


@pytest.fixture(scope="module")
def chain_catalog(tt_cache):
    from pipeline.bulletin.build import relocate_catalog
    from pipeline.traveltime import TravelTimeTable

    tt = TravelTimeTable("ak135", ["P", "S", "PKP"], cache_dir=tt_cache)
    stations = pd.read_csv(DATA / "bulletins" / "reb1995_stations.csv")
    cat, _ = read_bulletin(REB2)
    rep = relocate_catalog(cat, stations, tt)
    assert not rep.failed and all(len(e.origins) == 2 for e in rep.catalog)
    # a small amplitude (0.0523 nm) and an automatic, dilatational, impulsive pick: values the
    # 1-decimal amplitude column and the flag columns must still carry
    ev = rep.catalog[0]
    ev.amplitudes[0].generic_amplitude = 0.0523e-9
    p = next(p for p in ev.picks if str(p.resource_id) == str(ev.amplitudes[0].pick_id))
    p.evaluation_mode, p.polarity, p.onset = "automatic", "negative", "impulsive"
    return rep.catalog


def _real(path):
    cat, _ = read_bulletin(path)
    return cat


def _pref(ev):
    return ev.preferred_origin() or ev.origins[0]


def _arrival_table(ev, o):
    """(station, phase, time rounded to 0.1 s) → values of the arrival, its pick, amplitude, stamag."""
    picks = {str(p.resource_id): p for p in ev.picks}
    amps = {}
    for a in ev.amplitudes:
        if a.pick_id is not None and (a.type or "A5/2") in ("A5/2", "AMB", "A"):
            amps.setdefault(str(a.pick_id), a)
    sms = {str(s.amplitude_id): s for s in ev.station_magnitudes
           if s.amplitude_id is not None and s.origin_id in (None, o.resource_id)}
    out = {}
    for arr in o.arrivals:
        p = picks[str(arr.pick_id)]
        a = amps.get(str(p.resource_id))
        sm = sms.get(str(a.resource_id)) if a is not None else None
        key = (p.waveform_id.station_code, arr.phase, round(float(p.time.timestamp), 1))
        out[key] = dict(time=float(p.time.timestamp), dist=arr.distance, evaz=arr.azimuth, tres=arr.time_residual,
                        azres=arr.backazimuth_residual, sres=arr.horizontal_slowness_residual, baz=p.backazimuth,
                        slow=p.horizontal_slowness, tdef=(arr.time_weight or 0) > 0,
                        adef=(arr.backazimuth_weight or 0) > 0, sdef=(arr.horizontal_slowness_weight or 0) > 0,
                        amp=None if a is None else a.generic_amplitude * 1e9, per=None if a is None else a.period,
                        snr=None if a is None else a.snr, stamag=None if sm is None else sm.mag,
                        stamag_type=None if sm is None else sm.station_magnitude_type)
    return out


def _close(a, b, tol, what):
    if a is None or b is None:
        assert a is None and b is None, f"{what}: {a!r} vs {b!r}"
    else:
        assert abs(a - b) <= tol + 1e-9, f"{what}: {a!r} vs {b!r} (tol {tol})"


def _compare_origin(ea, oa, eb, ob, t, fmt):
    _close(float(oa.time.timestamp), float(ob.time.timestamp), t["otime"], f"{fmt} origin time")
    _close(oa.latitude, ob.latitude, t["ll"], f"{fmt} latitude")
    _close(oa.longitude, ob.longitude, t["ll"], f"{fmt} longitude")
    _close(None if oa.depth is None else oa.depth / 1e3, None if ob.depth is None else ob.depth / 1e3,
           t["depth_km"], f"{fmt} depth")
    ma = sorted((m.magnitude_type, m.mag) for m in ea.magnitudes if m.origin_id in (None, oa.resource_id)
                and (fmt != "gse2" or len(m.magnitude_type) <= 2))
    mb = sorted((m.magnitude_type, m.mag) for m in eb.magnitudes if m.origin_id in (None, ob.resource_id))
    assert [x[0] for x in ma] == [x[0] for x in mb], f"{fmt} magnitude types"
    for (_, x), (_, y) in zip(ma, mb):
        _close(x, y, t["mag"], f"{fmt} magnitude")
    if not t["arrivals"]:
        return
    aa, ab = _arrival_table(ea, oa), _arrival_table(eb, ob)
    assert len(oa.arrivals) == len(ob.arrivals) and len(aa) == len(ab), f"{fmt} arrival count"
    for key, va in aa.items():
        vb = ab.get(key) or next(v for k, v in ab.items() if k[:2] == key[:2] and abs(k[2] - key[2]) <= 0.11)
        _close(va["time"], vb["time"], t["ptime"], f"{fmt} {key} time")
        for k in ("dist",):
            _close(va[k], vb[k], t["dist"], f"{fmt} {key} {k}")
        for k in ("tres", "sres", "azres"):
            _close(va[k], vb[k], t[k], f"{fmt} {key} {k}")
        for k in ("evaz", "baz"):
            _close(va[k], vb[k], t["az"], f"{fmt} {key} {k}")
        _close(va["slow"], vb["slow"], t["slow"], f"{fmt} {key} slowness")
        assert (va["tdef"], va["adef"], va["sdef"]) == (vb["tdef"], vb["adef"], vb["sdef"]), f"{fmt} {key} flags"
        _close(va["amp"], vb["amp"], t["amp_rel"] * abs(va["amp"] or 0), f"{fmt} {key} amplitude nm")
        _close(va["per"], vb["per"], t["per"], f"{fmt} {key} period")
        if va["stamag"] is not None and (fmt != "gse2" or len(va["stamag_type"] or "") <= 2):
            _close(va["stamag"], vb["stamag"], t["mag"], f"{fmt} {key} station magnitude")
            assert va["stamag_type"] == vb["stamag_type"], f"{fmt} {key} station magnitude type"


def _compare(a, b, fmt):
    t = TOL[fmt]
    evs = [e for e in a if e.origins and _pref(e).latitude is not None] if fmt in ("gse2", "geojson") else list(a)
    assert len(evs) == len(b), f"{fmt}: {len(evs)} events written, {len(b)} read"
    for ea, eb in zip(evs, b):
        _compare_origin(ea, _pref(ea), eb, _pref(eb), t, fmt)
        if t["all_origins"]:
            assert len(ea.origins) == len(eb.origins), f"{fmt} origins per event"
            for oa, ob in zip(sorted(ea.origins, key=lambda o: o.time), sorted(eb.origins, key=lambda o: o.time)):
                _compare_origin(ea, oa, eb, ob, t, fmt)


def _write_read(cat, tmp_path, fmt, name="out"):
    p = tmp_path / f"{name}.{fmt}"
    write_catalog(cat, p, fmt)
    return p, read_catalog(p, fmt)


# ------------------------------------------------------------------------------- round trips


@pytest.mark.parametrize("fmt", FORMATS)
def test_round_trip_chain_catalog(chain_catalog, tmp_path, fmt):
    _, back = _write_read(chain_catalog, tmp_path, fmt)
    _compare(chain_catalog, back, fmt)


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("src", [REB2, IPEC], ids=["reb1995", "ipec"])
def test_round_trip_real_bulletins(src, tmp_path, fmt):
    cat = _real(src)
    _, back = _write_read(cat, tmp_path, fmt)
    _compare(cat, back, fmt)


def test_obspy_reads_our_ims1_and_quakeml_without_loss(chain_catalog, tmp_path):
    """The acceptance path: obspy's own readers (read_events, format detected) on our output."""
    chain_catalog.write(str(tmp_path / "c.ims"), format="IMS1")  # our obspy plug-in
    write_catalog(chain_catalog, tmp_path / "c.xml", "quakeml")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ims = obspy.read_events(str(tmp_path / "c.ims"))
    qml = obspy.read_events(str(tmp_path / "c.xml"))
    # obspy's IMS1.0 reader drops station-magnitude types and magnitude errors (restored by ours)
    for ev in ims:
        for sm in ev.station_magnitudes:
            sm.station_magnitude_type = next(
                s.station_magnitude_type for e in chain_catalog for s in e.station_magnitudes
                if str(s.amplitude_id).rstrip("/").split("/")[-1] == str(sm.amplitude_id).split("/")[-1])
    for ev in ims:
        for a in ev.amplitudes:
            a.type = "A5/2"
    _compare(chain_catalog, ims, "ims1")
    _compare(chain_catalog, qml, "quakeml")


def test_ims1_carries_every_column(chain_catalog, tmp_path):
    p = tmp_path / "c.ims"
    write_catalog(chain_catalog, p, "ims1", title="chain test")
    text = p.read_text()
    assert "DATA_TYPE BULLETIN IMS1.0:SHORT" in text and text.rstrip().endswith("STOP")
    assert "GREECE-ALBANIA BORDER REGION" in text and "VANCOUVER ISLAND REGION" in text
    assert text.count("(#PRIME)") == 2 and text.count("(#OrigID") == 4
    back = read_catalog(p)
    o = _pref(back[0])
    assert o.evaluation_mode == "automatic" and o.quality.used_phase_count == 9
    assert o.origin_uncertainty.confidence_level == 90
    pick = next(p for p in back[0].picks if p.onset == "impulsive")
    assert pick.polarity == "negative" and pick.evaluation_mode == "automatic"
    small = [a for a in back[0].amplitudes if a.generic_amplitude < 1e-10]
    assert len(small) == 1 and small[0].generic_amplitude == pytest.approx(0.0523e-9, rel=1e-4)
    sm_types = {s.station_magnitude_type for e in back for s in e.station_magnitudes}
    assert sm_types == {"mb", "ML"}


# ------------------------------------------------------------------------------- QuakeML


def test_quakeml_schema_valid_with_idc_extra(chain_catalog, tmp_path):
    p = tmp_path / "reb.xml"
    write_catalog(chain_catalog, p, "quakeml", product="REB", version=2)
    schema = etree.XMLSchema(etree.parse(str(XSD)))
    doc = etree.parse(str(p))
    assert schema.validate(doc), schema.error_log
    ns = {"idc": NAMESPACE}
    assert doc.xpath("//idc:productType/text()", namespaces=ns) == ["REB"]
    assert doc.xpath("//idc:productVersion/text()", namespaces=ns) == ["2"]
    flags = doc.xpath("//idc:definingFlags/text()", namespaces=ns)
    assert len(flags) == sum(len(o.arrivals) for e in chain_catalog for o in e.origins)
    assert set(flags) <= {"T__", "TA_", "T_S", "TAS", "_A_", "__S", "_AS", "___"} and "T__" in flags
    back = read_catalog(p)
    assert back[0].extra["imsEventType"]["value"] == "ke"
    # input unchanged (extras go on a copy)
    assert "extra" not in chain_catalog[0].__dict__ or "imsEventType" not in chain_catalog[0].extra


def test_quakeml_product_from_store_catalog_id(tmp_path):
    from obspy.core.event import ResourceIdentifier

    cat = _real(REB)
    cat.resource_id = ResourceIdentifier("smi:idc-pipeline/SEL3/v4/catalog")
    write_catalog(cat, tmp_path / "x.xml", "quakeml")
    doc = etree.parse(str(tmp_path / "x.xml"))
    assert doc.xpath("//idc:productType/text()", namespaces={"idc": NAMESPACE}) == ["SEL3"]


# ------------------------------------------------------------------------------- golden


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("src", [REB, REB2, IPEC], ids=["reb1995", "reb1995_2ev", "ipec"])
def test_golden_read_write_read_is_stable(src, tmp_path, fmt):
    """real bulletin → write → read → write: the second write is byte-identical to the first."""
    cat = _real(src)
    p1, back = _write_read(cat, tmp_path, fmt, "first")
    p2 = tmp_path / f"second.{fmt}"
    write_catalog(back, p2, fmt)
    if fmt == "css3":
        for t, f1 in table_paths(p1).items():
            assert filecmp.cmp(f1, table_paths(p2)[t], shallow=False), t
    else:
        a, b = p1.read_bytes(), p2.read_bytes()
        if fmt in ("ims1", "gse2"):  # every IMS1.0/GSE2.0 message has its own MSG_ID
            a, b = (re.sub(rb"(?m)^MSG_ID \S+", b"MSG_ID *", x) for x in (a, b))
            assert p1.read_bytes() != p2.read_bytes()
        assert a == b
        if fmt == "csv":
            assert filecmp.cmp(tmp_path / "first.arrivals.csv", tmp_path / "second.arrivals.csv", shallow=False)


def test_golden_values_of_the_real_bulletins():
    """Values read (by our readers) from the real files, checked against the text of the files."""
    reb = read_catalog(REB)
    o = _pref(reb[0])
    assert (o.latitude, o.longitude, o.depth) == (39.45, 20.44, 66800.0)
    assert o.origin_uncertainty.max_horizontal_uncertainty == 93600.0
    fines = next(a for a in reb[0].amplitudes if a.waveform_id.station_code == "FINES")
    assert fines.generic_amplitude == pytest.approx(4.5e-9) and fines.period == 0.8
    ipec = read_catalog(IPEC)
    assert [e.event_descriptions[0].text for e in ipec] == ["CZECH REPUBLIC, OSTRAVA"] * 3
    o2 = _pref(ipec[1])
    # obspy 1.5.1 drops these; ours restores them from the lines
    assert o2.evaluation_mode == "automatic"                     # 'a' in column 112
    assert _pref(ipec[0]).evaluation_status == "reviewed"        # 'm'
    assert ipec[1].magnitudes[0].mag_errors.uncertainty == 0.1   # "ML     1.2 0.1"
    sm = next(s for s in ipec[1].station_magnitudes if str(s.resource_id).endswith("19692975"))
    assert sm.station_magnitude_type == "ML" and sm.mag == 1.0
    # round trip through our IMS1.0 keeps the first event's picks that have no arrival
    assert len(ipec[0].picks) == 6 and not ipec[0].origins[0].arrivals


def test_ims1_output_columns_match_the_real_ipec_lines(tmp_path):
    """Our phase and origin lines put every field in the columns of the real IPEC file."""
    p = tmp_path / "ipec.ims"
    write_catalog(read_catalog(IPEC), p, "ims1")
    ours = p.read_text().splitlines()
    real = IPEC.read_text().splitlines()
    for tag in ("MORC    0.66 266.5 Sg       12:33:40.556", "2024/09/01 12:33:19.91", "KRUC    1.60 242.5 Sg"):
        a = next(x for x in ours if x.startswith(tag))
        b = next(x for x in real if x.startswith(tag))
        assert a[:99] == b[:99]
        assert a[103:].split() == b[103:].split() or a[104:].split()[-1] == b[104:].split()[-1]


# ------------------------------------------------------------------------------- obspy plug-ins


@pytest.mark.parametrize("name,ext", [("CSS3", "origin"), ("GEOJSON", "geojson"), ("IDCCSV", "csv")])
def test_obspy_plugins_write_and_autodetect(tmp_path, name, ext):
    cat = _real(REB2)
    p = tmp_path / f"reb.{ext}"
    cat.write(str(p), format=name)
    back = obspy.read_events(str(p))  # format detected: obspy has no reader for these
    assert len(back) == 2
    assert abs(_pref(back[1]).latitude - 50.77) < 1e-9


def test_obspy_plugin_gse2_write_read_by_obspy(tmp_path):
    cat = _real(REB2)
    cat.write(str(tmp_path / "reb.gse"), format="GSE2BULLETIN")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        back = obspy.read_events(str(tmp_path / "reb.gse"))  # obspy's GSE2 reader detects it
    assert len(back) == 2 and len(back[0].origins[0].arrivals) == 9
    ulm = next(a for a in back[1].amplitudes if a.waveform_id.station_code == "ULM")
    assert ulm.generic_amplitude == pytest.approx(15.7)  # obspy keeps nm; our reader normalises to m
    ours = read_catalog(tmp_path / "reb.gse")
    assert next(a for a in ours[1].amplitudes
                if a.waveform_id.station_code == "ULM").generic_amplitude == pytest.approx(15.7e-9)


# ------------------------------------------------------------------------------- errors


def _corrupt(src: Path, dst: Path, startswith: str, col: int, text: str) -> int:
    lines = src.read_text().splitlines()
    n = next(i for i, x in enumerate(lines) if x.startswith(startswith))
    x = lines[n].ljust(col + len(text))
    lines[n] = x[:col - 1] + text + x[col - 1 + len(text):]
    dst.write_text("\n".join(lines) + "\n")
    return n + 1


def test_malformed_ims1_line_names_file_and_line(tmp_path):
    bad = tmp_path / "bad.ims"
    n = _corrupt(IPEC, bad, "VRAC    1.38 248.9 Sg", 42, " x.y ")
    with pytest.raises(FormatError, match=rf"bad.ims:{n}: column tres \(42-46\)"):
        read_catalog(bad)
    n = _corrupt(IPEC, bad, "2024/09/10 00:25:55.18", 37, "49.8z93 ")
    with pytest.raises(FormatError, match=rf"bad.ims:{n}: column latitude"):
        read_catalog(bad, "ims1")


def test_malformed_gse2_line_names_file_and_line(tmp_path):
    bad = tmp_path / "bad.gse"
    n = _corrupt(REB2, bad, "ULM    21.45", 32, "1995/13/16 07:31:51.1")
    with pytest.raises(FormatError, match=rf"bad.gse:{n}: arrival time"):
        read_catalog(bad)


def test_malformed_css3_csv_geojson_name_file_and_line(tmp_path):
    cat = _real(REB2)
    write_catalog(cat, tmp_path / "b", "css3")
    org = table_paths(tmp_path / "b")["origin"]
    lines = org.read_text().splitlines()
    lines[1] = "  50.7x00" + lines[1][9:]
    org.write_text("\n".join(lines) + "\n")
    with pytest.raises(FormatError, match=r"b\.origin:2: column lat \(1-11\)"):
        read_catalog(tmp_path / "b", "css3")
    write_catalog(cat, tmp_path / "b.csv", "csv")
    lines = (tmp_path / "b.csv").read_text().splitlines()
    lines[2] = lines[2].replace(",50.77,", ",fifty,")
    (tmp_path / "b.csv").write_text("\n".join(lines) + "\n")
    with pytest.raises(FormatError, match=r"b\.csv:3: column latitude"):
        read_catalog(tmp_path / "b.csv")
    (tmp_path / "b.geojson").write_text('{"type": "FeatureCollection",\n "features": [\n  {oops}\n]}\n')
    with pytest.raises(FormatError, match=r"b\.geojson:3: not JSON"):
        read_catalog(tmp_path / "b.geojson")


def test_unknown_format_lists_the_valid_ones(tmp_path):
    with pytest.raises(UnknownFormatError, match="expected one of quakeml, ims1, gse2, css3, csv, geojson"):
        write_catalog(_real(REB), tmp_path / "x", "kml")
    from pipeline.bulletin.export import EXPORT_FORMATS, write_catalog as export

    assert set(EXPORT_FORMATS) == set(FORMATS)
    with pytest.raises(ValueError, match="expected one of"):
        export(_real(REB), tmp_path / "x", "nordic")


def test_value_too_wide_for_its_column_is_an_error(tmp_path):
    cat = _real(REB)
    cat[0].origins[0].quality.used_phase_count = 123456
    with pytest.raises(FormatError, match=r"column ndef \(84-87\)"):
        write_catalog(cat, tmp_path / "x.ims", "ims1")


def test_cli_export_offers_every_format():
    from click.testing import CliRunner

    from pipeline.cli.main import cli

    out = CliRunner().invoke(cli, ["export", "--help"]).output
    for f in FORMATS:
        assert f in out


def test_nan_free_numbers_in_csv(chain_catalog, tmp_path):
    write_catalog(chain_catalog, tmp_path / "c.csv", "csv")
    df = pd.read_csv(tmp_path / "c.csv")
    arr = pd.read_csv(tmp_path / "c.arrivals.csv")
    assert len(df) == 4 and df["preferred"].sum() == 2
    assert len(arr) == sum(len(o.arrivals) for e in chain_catalog for o in e.origins)
    assert math.isclose(df.loc[df.preferred == 1, "latitude"].iloc[0], _pref(chain_catalog[0]).latitude)


@pytest.mark.parametrize("src", [REB, REB2], ids=["reb1995", "reb1995_2ev"])
def test_gse2_writer_reproduces_the_real_reb(src, tmp_path):
    """Golden: the 1995 REB read and written again is the original text, line for line (only the
    MSG_ID line is ours)."""
    write_catalog(read_catalog(src), tmp_path / "reb.gse", "gse2")
    ours = (tmp_path / "reb.gse").read_text().splitlines()
    real = src.read_text().splitlines()
    assert len(ours) == len(real)
    diff = [(a, b) for a, b in zip(real, ours) if a.rstrip() != b.rstrip()]
    assert len(diff) == 1 and diff[0][0] == "MSG_ID example GSE_IDC"
    # a message id of its own, unique per message (GSE2.0/IMS1.0), word characters for obspy
    assert re.fullmatch(r"MSG_ID \d{14}_[0-9a-f]{5} IDC", diff[0][1]), diff
    write_catalog(read_catalog(src), tmp_path / "reb2.gse", "gse2")
    again = (tmp_path / "reb2.gse").read_text().splitlines()
    assert [ln for ln in again if ln.startswith("MSG_ID")] != [diff[0][1]]


def test_export_of_a_stored_product_in_every_format(sqlite_settings, tmp_path):
    """`idc export` path: store the REB as product REB v1, export each format, read it back."""
    from pipeline import tasks
    from pipeline.store import db
    from pipeline.store.catalog import store_catalog
    from pipeline.store.products import ProductKey, write_product

    cat = _real(REB2)
    url = sqlite_settings.database_url
    db.upgrade(url)
    t0 = float(_pref(cat[0]).time.timestamp)
    key = ProductKey("REB", t0 - 600, t0 + 3000)
    with db.session_scope(url) as s:
        write_product(s, key, input_fingerprint="x", config_hash="c", software_version="t",
                      fill=lambda s, p: store_catalog(s, p, cat))
    start, end = obspy.UTCDateTime(key.window_start).isoformat(), obspy.UTCDateTime(key.window_end).isoformat()
    for fmt in FORMATS:
        out = tmp_path / f"reb.{fmt}"
        res = tasks.export_product(sqlite_settings, "REB", start, end, fmt, out)
        assert res["events"] == 2 and res["version"] == 1
        back = read_catalog(out, fmt)
        assert len(back) == 2
        assert abs(_pref(back[1]).latitude - 50.77) < 1e-4
        # product type/version come from the stored catalog's id (…/REB/v1/catalog)
        if fmt == "quakeml":
            doc = etree.parse(str(out))
            assert doc.xpath("//idc:productVersion/text()", namespaces={"idc": NAMESPACE}) == ["1"]
        elif fmt == "geojson":
            import json

            props = json.loads(out.read_text())["features"][0]["properties"]
            assert (props["product"], props["product_version"]) == ("REB", 1)
        elif fmt == "csv":
            row = pd.read_csv(out).iloc[0]
            assert (row["product"], row["product_version"]) == ("REB", 1)
