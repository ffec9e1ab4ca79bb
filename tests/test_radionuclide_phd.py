"""IMS2.0 PHD messages: the four real MIX58 files parse, round-trip, give xarray spectra; bad
blocks are named with file, block and line."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pipeline.radionuclide import phd

DATA = Path(__file__).parent / "data" / "radionuclide"
PHD_FILES = sorted(DATA.glob("*.PHD"))
SAMPLE = DATA / "SAMPLE20211203070613605.PHD"


def test_the_real_files_are_there():
    assert len(PHD_FILES) == 4


@pytest.mark.parametrize("path", PHD_FILES, ids=lambda p: p.name)
def test_round_trip_byte_exact_and_canonical(path, tmp_path):
    m = phd.read_phd(path)
    out = phd.write_phd(m, tmp_path / "same.PHD")
    assert out.read_bytes() == path.read_bytes()
    # the canonical layout (every block formatted from its values) reads back equal, field by field
    canon = phd.write_phd(m, tmp_path / "canon.PHD", preserve_layout=False)
    assert canon.read_bytes() != path.read_bytes()
    again = phd.read_phd(canon)
    assert again.equals(m)
    assert again.data_type == m.data_type and again.msg_id == m.msg_id


def test_sample_fields():
    m = phd.read_phd(SAMPLE)
    assert m.data_type == "SAMPLEPHD" and m.msg_id == "20211203070613605"
    info = phd.sample_info(m)
    assert (info.station, info.detector, info.system_type, info.qualifier) == ("MIX58", "MIX58_222", "B", "FULL")
    assert info.srid == "58202112020111X"
    assert info.gas_bk_measurement_id == "MIX58_222-2021/12/02-08:08:59.1"
    assert str(info.collection_start) == "2021-12-02T01:00:25.000000Z"
    assert info.collection_s == pytest.approx(43174.0)
    assert info.decay_s == pytest.approx(4 * 3600 + 55.4)
    assert (info.real_time_s, info.live_time_s, info.air_volume_m3) == (50719.17, 50400.0, 22.347414)
    assert m["#Processing"]["archive_bottle_id"] == "17"
    assert m["#b_Energy"][0] == {"energy_keV": 79.02, "decay_mode": "C", "channel": 21.2, "uncertainty": 0.1}
    assert [r["roi"] for r in m["#ROI_Limits"]] == list(range(1, 11))
    assert len(m["#Ratios"]) == 16 and m["#Ratios"][9]["ratio_id"] == "XE133-4_81:30"
    assert phd.table(m, "#b-gEfficiency").shape == (9, 4)


def test_spectra_as_xarray():
    m = phd.read_phd(SAMPLE)
    g = phd.g_spectrum(m)
    assert g.dims == ("channel",) and g.sizes["channel"] == 256 and int(g.sum()) == 267961
    # the energy coordinate goes through the station's calibration points (#g_Energy)
    assert np.allclose(phd.channel_energy(m, "g", [11.7, 31.55, 229.7]), [30.0, 81.0, 661.66])
    assert g.energy_keV[0] == pytest.approx(30.0 - 11.7 * (53.16 - 30.0) / (19.9 - 11.7))
    assert np.all(np.diff(g.energy_keV) > 0)
    h = phd.histogram(m)
    assert h.dims == ("gamma_channel", "beta_channel") and h.shape == (256, 256)
    assert int(h.sum()) == 3480
    # rows are gamma channels: the 30 keV X-ray and the 81 keV gamma of Xe-133 stand out in the projection
    proj = h.sum("beta_channel")
    peaks = set(int(c) for c in proj.gamma_channel[np.argsort(proj.values)[-6:]])
    assert peaks & {10, 11, 12, 13} and peaks & {29, 30, 31, 32, 33}
    ds = phd.to_dataset(m)
    assert set(ds.data_vars) == {"g_spectrum", "b_spectrum", "bg_histogram"}
    assert ds.gamma_energy_keV.attrs["units"] == "keV"


def test_calibphd_certificate_and_no_collection():
    m = phd.read_phd(DATA / "SPIKE20190502222812845.PHD")
    assert m.data_type == "CALIBPHD" and "#Collection" not in m
    assert m["#Certificate"] == ["Xe-133"]
    assert phd.sample_info(m).collection_start is None


def test_modified_value_is_written_and_read_back(tmp_path):
    m = phd.read_phd(SAMPLE)
    m["#Acquisition"]["live_time_s"] = 50399.5
    m["#g_Spectrum"]["counts"][7] += 1
    text = phd.format_phd(m)
    assert "50399.5" in text
    again = phd.parse_phd(text)
    assert again["#Acquisition"]["live_time_s"] == 50399.5
    assert again["#g_Spectrum"]["counts"][7] == m["#g_Spectrum"]["counts"][7]
    assert again.equals(m)


def _corrupt(tmp_path: Path, old: str, new: str, count: int = 1) -> Path:
    text = SAMPLE.read_text()
    assert old in text
    p = tmp_path / "bad.PHD"
    p.write_text(text.replace(old, new, count))
    return p


@pytest.mark.parametrize("old,new,block,line,words", [
    ("2021/12/02 17:00:54.4 50719.17", "2021/12/02 17:00:54.4 5O719.17", "#Acquisition", 16, "real_time_s"),
    ("5     6308       4077", "5     6308       40x7", "#g_Spectrum", 120, "'40x7' is not an integer"),
    ("10    1871       2149", "11    1871       2149", "#g_Spectrum", 121, "expected channel 10"),
    ("3  29.800000  352.500000 71.150000  99.830000", "3  29.800000  352.500000 71.150000", "#ROI_Limits", 75,
     "gamma_high_keV"),
    ("2021/12/02 01:00:25.0 2021/12/02", "2021/13/02 01:00:25.0 2021/12/02", "#Collection", 14, "collection_start"),
])
def test_bad_block_names_file_block_and_line(tmp_path, old, new, block, line, words):
    p = _corrupt(tmp_path, old, new)
    with pytest.raises(phd.PHDError) as exc:
        phd.read_phd(p)
    e = exc.value
    print(e)
    assert (e.block, e.line) == (block, line)
    assert str(p) in str(e) and block in str(e) and f"line {line}" in str(e) and words in str(e)


def test_truncated_histogram_and_missing_stop(tmp_path):
    lines = SAMPLE.read_text().splitlines(keepends=True)
    p = tmp_path / "cut.PHD"
    p.write_text("".join(lines[:300]))  # cut inside #Histogram, no STOP
    with pytest.raises(phd.PHDError) as exc:
        phd.read_phd(p)
    assert "STOP" in str(exc.value) or exc.value.block == "#Histogram"
    p.write_text("".join(lines[:300]) + "STOP\n")
    with pytest.raises(phd.PHDError, match=r"block #Histogram, line 300: 74 row\(s\) of counts, the header says 256"):
        phd.read_phd(p)


def test_not_a_phd(tmp_path):
    p = tmp_path / "x.txt"
    p.write_text("BEGIN IMS2.0\nMSG_TYPE DATA\nDATA_TYPE BULLETIN IMS1.0\nSTOP\n")
    assert not phd.is_phd(p) and phd.is_phd(SAMPLE)
    with pytest.raises(phd.PHDError, match="not a pulse-height-data type"):
        phd.read_phd(p)
    p.write_bytes(SAMPLE.read_bytes().replace(b"Histogram data", b"Histogram d\xe4ta"))
    with pytest.raises(phd.PHDError, match=r"line 11: byte 0xe4 is not ASCII"):
        phd.read_phd(p)
