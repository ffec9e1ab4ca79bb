"""Open exports for scientists: the catalogue as Parquet (read back by pandas/pyarrow) and archive
waveforms as NetCDF (read back by xarray), compared with the store and the SDS archive read
independently (load_catalog / store rows, obspy's SDS client)."""
from __future__ import annotations

import io
import json

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import xarray as xr
from click.testing import CliRunner
from obspy import UTCDateTime
from obspy.clients.filesystem.sds import Client as SDSClient
from sqlalchemy import select

from pipeline import tasks
from pipeline.alerts.open_data import catalog_tables, waveform_dataset, write_catalog_parquet, write_waveforms_netcdf
from pipeline.store import db
from pipeline.store import models as m
from pipeline.store.catalog import load_catalog
from pipeline.store.products import ProductKey, latest_version
from tests.conftest import make_settings
from tests.test_service_fdsn import FUR, ICELAND, REB1, REB2, REB_WINDOW, Z7, store_reb

T1, T2 = UTCDateTime("2014-08-24T00:01:05"), UTCDateTime("2014-08-24T00:01:45")


@pytest.fixture(scope="module")
def settings(tmp_path_factory):
    s = make_settings(tmp_path_factory.mktemp("open"))
    db.upgrade(s.database_url)
    tasks.load_stations(s, [str(Z7), str(FUR)])
    assert tasks.ingest_files(s, ICELAND, progress=False)["accepted"] == len(ICELAND)
    store_reb(s, REB1, "v1")
    store_reb(s, REB2, "v2")
    return s


def _reb(settings):
    with db.session_scope(settings.database_url) as s:
        prod = latest_version(s, ProductKey("REB", REB_WINDOW[0].timestamp, REB_WINDOW[1].timestamp))
        return prod.version, sorted(load_catalog(s, prod), key=lambda e: e.preferred_origin().time)


def test_parquet_catalogue_equals_the_store(settings, tmp_path):
    res = write_catalog_parquet(settings, "REB", *REB_WINDOW, tmp_path / "reb")
    version, want = _reb(settings)
    ev = pd.read_parquet(res["files"]["events"])
    assert version == 2 and len(ev) == len(want) == 2  # newest version only
    assert str(ev["time"].dtype) == "datetime64[us, UTC]"
    assert ev["event_id"].tolist() == ["REB-19950116T000000-19950117T000000-1", "REB-19950116T000000-19950117T000000-2"]
    for row, e in zip(ev.itertuples(), want):
        o = e.preferred_origin()
        assert abs(row.time.timestamp() - o.time.timestamp) < 1e-6
        assert (row.latitude, row.longitude) == (o.latitude, o.longitude)
        assert row.depth_km == pytest.approx(o.depth / 1000.0)
        assert (row.magnitude_type, row.magnitude) == (e.magnitudes[0].magnitude_type, e.magnitudes[0].mag)
        assert row.version == 2 and row.product == "REB"
    mags = pd.read_parquet(res["files"]["magnitudes"])
    assert sorted(zip(mags.magnitude_type, mags.magnitude)) == \
        sorted((mg.magnitude_type, mg.mag) for e in want for mg in e.magnitudes)
    arr = pd.read_parquet(res["files"]["arrivals"])
    assert len(arr) == sum(len(e.preferred_origin().arrivals) for e in want) == res["arrivals"]
    with db.session_scope(settings.database_url) as s:  # the arrival rows themselves
        prod = latest_version(s, ProductKey("REB", REB_WINDOW[0].timestamp, REB_WINDOW[1].timestamp))
        rows = {a.arid: a for a in s.scalars(select(m.Arrival).where(m.Arrival.product_id == prod.id))}
    for r in arr.itertuples():
        a = rows[r.arrival_id]
        assert (r.station, r.time.timestamp()) == (a.sta, pytest.approx(a.time, abs=1e-6))
        assert (pd.isna(r.amplitude_nm) and a.amp is None) or r.amplitude_nm == pytest.approx(a.amp)
    org = pd.read_parquet(res["files"]["origins"])
    assert org["preferred"].all() and len(org) == 2
    assert org["smajax_km"].tolist() == [e.preferred_origin().origin_uncertainty.max_horizontal_uncertainty / 1000
                                         for e in want]
    md = pq.read_schema(res["files"]["events"]).metadata
    assert md[b"idc:product"] == b"REB" and md[b"idc:table"] == b"events"


def test_public_rule_filters_events(settings):
    rule = {"min_magnitude": 4.0, "magnitude_type": "mb", "min_age_days": 2.0, "now": UTCDateTime().timestamp}
    t = catalog_tables(settings, "REB", *REB_WINDOW, public_rule=rule)
    assert len(t["events"]) == 1 and t["events"].magnitude.iloc[0] >= 4.0
    assert set(t["arrivals"].event_id) == set(t["events"].event_id)
    rule["now"] = UTCDateTime(1995, 1, 17).timestamp  # not 2 days old yet
    assert catalog_tables(settings, "REB", *REB_WINDOW, public_rule=rule)["events"].empty
    with pytest.raises(ValueError, match="must be after"):
        catalog_tables(settings, "REB", REB_WINDOW[1], REB_WINDOW[0])


def test_netcdf_waveforms_equal_the_sds_archive(settings, tmp_path):
    """One channel × time array per sampling rate (issue 14 defect 11: was one variable and one
    time dimension per channel), every sample equal to the archive's, at its grid time."""
    ds = waveform_dataset(settings, T1, T2, station="KVER,FJAS", channel="HH?")
    out = write_waveforms_netcdf(ds, tmp_path / "w.nc")
    back = xr.open_dataset(out)
    sds = SDSClient(str(settings.archive_dir))
    assert list(back.data_vars) == ["counts_100hz"]
    da = back["counts_100hz"]
    assert da.dims == ("channel_100hz", "time_100hz") and da.shape[0] == 6
    assert back["counts_100hz"].encoding["dtype"] == np.dtype("int32")  # counts stored as integers
    t = da["time_100hz"].values
    assert t[0] == np.datetime64(T1.datetime, "ns") and np.all(np.diff(t) == np.timedelta64(10, "ms"))
    assert da.sizes["time_100hz"] == int(round((T2 - T1) * 100))
    for row, cid in enumerate(da["channel_100hz"].values):
        assert str(cid).count(".") == 3, (cid, da["channel_100hz"].values)
        net, sta, loc, cha = str(cid).split(".")
        assert str(back["station_100hz"].values[row]) == sta
        st = sds.get_waveforms(net, sta, loc, cha, T1, T2)
        st.merge(method=-1)
        st.trim(T1, T2 - 1e-6, nearest_sample=False)
        (tr,) = st
        k0 = int(round((tr.stats.starttime - T1) * 100))
        got = da.values[row]
        np.testing.assert_array_equal(got[k0:k0 + tr.stats.npts], tr.data.astype("float64"))
        assert np.isnan(got[:k0]).all() and np.isnan(got[k0 + tr.stats.npts:]).all()
        assert abs(float(back["time_offset_s_100hz"].values[row])) < 0.005
        assert float(back["latitude_100hz"].values[row]) == pytest.approx(64.76347 if sta == "KVER" else 65.02470)
    back.close()


def test_cli_and_http(settings, tmp_path, monkeypatch):
    from fastapi.testclient import TestClient

    from pipeline.cli.main import cli
    from pipeline.service.app import create_app

    monkeypatch.setenv("IDC_HOME", str(settings.home))
    conf = str(settings.sources[-1])
    r = CliRunner().invoke(cli, ["--config", conf, "export-open", "--product", "REB", "--start", "1995-01-16",
                                 "--end", "1995-01-17", "--format", "parquet", "-o", str(tmp_path / "p")])
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["events"] == 2 and (tmp_path / "p" / "arrivals.parquet").exists()
    r = CliRunner().invoke(cli, ["--config", conf, "export-open", "--start", str(T1), "--end", str(T2),
                                 "--format", "netcdf", "--station", "KVER", "--channel", "HHZ",
                                 "-o", str(tmp_path / "w.nc")])
    assert r.exit_code == 0, r.output
    with xr.open_dataset(tmp_path / "w.nc") as d:
        assert list(d.data_vars) == ["counts_100hz"] and list(d["channel_100hz"].values) == ["Z7.KVER..HHZ"]
    r = CliRunner().invoke(cli, ["--config", conf, "export-open", "--start", "2015-01-01", "--end", "2015-01-02",
                                 "--format", "netcdf", "-o", str(tmp_path / "none.nc")])
    assert r.exit_code != 0 and "no archived waveforms" in r.output
    with TestClient(create_app(settings)) as client:
        p = client.get("/open/catalog.parquet", params={"product": "REB", "start": "1995-01-16", "end": "1995-01-17",
                                                         "table": "arrivals"})
        assert p.status_code == 200
        df = pd.read_parquet(io.BytesIO(p.content))
        assert df.equals(catalog_tables(settings, "REB", *REB_WINDOW)["arrivals"])
        w = client.get("/open/waveforms.nc", params={"start": str(T1), "end": str(T2), "station": "FJAS",
                                                      "channel": "HHZ"})
        assert w.status_code == 200 and w.content[:4] == b"\x89HDF"
        (tmp_path / "h.nc").write_bytes(w.content)
        with xr.open_dataset(tmp_path / "h.nc") as d:
            assert list(d.data_vars) == ["counts_100hz"] and d["counts_100hz"].size == 4000
        assert client.get("/open/waveforms.nc", params={"start": "2015-01-01", "end": "2015-01-02"}).status_code == 204
        bad = client.get("/open/catalog.parquet", params={"product": "XYZ", "start": "1995-01-16", "end": "1995-01-17"})
        assert bad.status_code == 400 and "'product'" in bad.text
        bad = client.get("/open/catalog.parquet", params={"start": "yesterday", "end": "1995-01-17"})
        assert bad.status_code == 400 and "'start'" in bad.text


def test_access_policy_public_part_only(settings):
    """With the [access] defaults (REB and waveforms to States), the public gets the public part of
    the REB (mb >= 4.0, older than 2 days) and no waveforms."""
    from fastapi.testclient import TestClient

    from pipeline.service.app import create_app

    states = ["state_principal", "state_user", "analyst", "operator"]
    restricted = make_settings(settings.home, **{"access.products.REB": states, "access.products.SEL3": states,
                                                 "access.products.waveforms": states})
    with TestClient(create_app(restricted)) as client:
        p = client.get("/open/catalog.parquet", params={"product": "REB", "start": "1995-01-16", "end": "1995-01-17"})
        assert p.status_code == 200
        ev = pd.read_parquet(io.BytesIO(p.content))
        _, want = _reb(settings)
        pub = [e for e in want if e.magnitudes[0].magnitude_type == "mb" and e.magnitudes[0].mag >= 4.0]
        assert len(ev) == len(pub) == 1
        assert pq.read_schema(io.BytesIO(p.content)).metadata[b"idc:public_part_only"] == b"True"
        w = client.get("/open/waveforms.nc", params={"start": str(T1), "end": str(T2)})
        assert w.status_code == 403
        assert client.get("/open/catalog.parquet", params={"product": "SEL3", "start": "1995-01-16",
                                                            "end": "1995-01-17"}).status_code == 403


def test_empty_catalogue_says_which_catalog_and_why(settings, tmp_path, monkeypatch):
    """Issue 14 defect 11: the public's REB table was empty without a word. No REB published for
    the window: 404 naming the catalog and the reason; REB events none of them public yet: an
    empty table with ``X-IDC-Note`` (and ``idc:note`` in the Parquet metadata); the CLI warns."""
    from fastapi.testclient import TestClient

    from pipeline.cli.main import cli
    from pipeline.service.app import create_app

    states = ["state_principal", "state_user", "analyst", "operator"]
    strict = make_settings(settings.home, **{"access.products.REB": states, "access.public_events.min_magnitude": 9.0})
    with TestClient(create_app(strict)) as client:
        r = client.get("/open/catalog.parquet", params={"start": "2020-01-01", "end": "2020-01-02"})
        assert r.status_code == 404 and "no REB product has been published" in r.text
        r = client.get("/open/catalog.parquet", params={"start": "1995-01-16", "end": "1995-01-17"})
        assert r.status_code == 200 and r.headers["x-idc-catalog"] == "REB"
        note = r.headers["x-idc-note"]
        assert "2 events, none of them public yet" in note and ">= 9" in note
        assert pq.read_schema(io.BytesIO(r.content)).metadata[b"idc:note"].decode() == note
        assert len(pd.read_parquet(io.BytesIO(r.content))) == 0
    with TestClient(create_app(settings)) as client:
        r = client.get("/open/catalog.parquet", params={"start": "1995-01-16", "end": "1995-01-17"})
        assert r.status_code == 200 and "x-idc-note" not in r.headers and r.headers["x-idc-catalog"] == "REB"
    monkeypatch.setenv("IDC_HOME", str(settings.home))
    r = CliRunner().invoke(cli, ["--config", str(settings.sources[-1]), "export-open", "--start", "2020-01-01",
                                 "--end", "2020-01-02", "--format", "parquet", "-o", str(tmp_path / "empty")])
    assert r.exit_code == 0 and json.loads(r.stdout)["events"] == 0
    assert "warning: no events exported: no REB product has been published" in r.stderr
