"""Station metadata: StationXML and station tables → site/sitechan."""
from pathlib import Path

import pytest
from obspy import read_inventory
from sqlalchemy import func, select

from pipeline import tasks
from pipeline.stations.inventory import StationFileError, has_placeholder_response, read_station_file
from pipeline.store.db import session_scope
from pipeline.store.models import Site, Sitechan
from tests import PROJECT_ROOT

STATIONS = PROJECT_ROOT / "stations"


def _counts(settings):
    with session_scope(settings.database_url) as s:
        return (s.scalar(select(func.count()).select_from(Site)),
                s.scalar(select(func.count()).select_from(Sitechan)))


def test_z7_stationxml_is_valid_and_marks_placeholders():
    inv = read_inventory(str(STATIONS / "Z7.xml"))
    chans = [c for n in inv for s in n for c in s]
    assert len(inv[0]) == 12 and len(chans) == 36
    assert all(has_placeholder_response(c) for c in chans)
    # the placeholder response is usable: flat velocity gain at 1 Hz
    sens = chans[0].response.instrument_sensitivity
    assert sens.input_units == "M/S" and sens.value == pytest.approx(2.9e9, rel=0.01)
    dyjn = inv.select(station="DYJN")[0][0]
    assert (dyjn.latitude, dyjn.longitude, dyjn.elevation) == pytest.approx((64.68360, -17.13372, 1381.0))


def test_load_all_stations_is_idempotent(settings):
    res = tasks.load_stations(settings)  # default: stations/ and tests/data/stations (config/test.toml)
    assert res["files"] >= 6 and res["sites_new"] > 200
    assert res["skipped_rows"] > 0  # IMS table rows without code/coordinates are counted, not hidden
    first = _counts(settings)
    res2 = tasks.load_stations(settings)
    assert res2["sites_new"] == 0 and res2["channels_new"] == 0 and res2["sites_updated"] == 0
    assert _counts(settings) == first
    with session_scope(settings.database_url) as s:
        z7 = list(s.scalars(select(Sitechan).where(Sitechan.net == "Z7")))
        assert len(z7) == 36 and {c.response for c in z7} == {"placeholder"}
        fur = list(s.scalars(select(Sitechan).where(Sitechan.sta == "FUR")))
        assert fur and {c.response for c in fur} == {"real"}
        plca = s.scalar(select(Site).where(Site.net == "IM", Site.sta == "PLCA"))
        assert plca is not None and plca.lat == pytest.approx(-40.73278)


def test_station_csv_layouts(tmp_path):
    simple = tmp_path / "s.csv"
    simple.write_text("station,latitude,longitude,elevation_m\nABC,10.5,20.25,100\n")
    inv = read_station_file(simple, default_network="XX").inventory
    assert inv[0].code == "XX" and inv[0][0].code == "ABC" and inv[0][0].elevation == 100
    qm = read_station_file(PROJECT_ROOT / "tests/data/iceland/inputs/iceland_stations.txt", "Z7")
    assert qm.inventory[0][0].elevation == pytest.approx(1381.0)  # km → m


@pytest.mark.parametrize("text,needle", [
    ("station,latitude,longitude\nABC,abc,1\n", "line 2: field 'latitude' is not a number: 'abc'"),
    ("station,latitude,longitude\nABC,95,1\n", "line 2: field 'latitude' out of range"),
    ("station,latitude,longitude\n,1,1\n", "line 2: field 'station' is empty"),
    ("foo,bar\n1,2\n", "unrecognised station CSV header"),
])
def test_bad_station_csv_names_file_line_field(tmp_path, text, needle):
    f = tmp_path / "bad.csv"
    f.write_text(text)
    with pytest.raises(StationFileError) as e:
        read_station_file(f)
    assert str(f) in str(e.value) and needle in str(e.value)


def test_bad_stationxml(tmp_path):
    f = tmp_path / "bad.xml"
    f.write_text("<FDSNStationXML><oops")
    with pytest.raises(StationFileError, match="bad.xml: not a station file"):
        read_station_file(f)
