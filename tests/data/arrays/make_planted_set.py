"""How ``tests/data/arrays`` was made (run once by hand; never by the tests or the pipeline).

Sources (see SOURCE.txt): NORSAR-official/array-tphasenet @ af2b3a7 (MIT) via
``../shared/data/norsar_fennoscandia_arrays``: the 540 s, 40 Hz, 2-8 Hz pre-filtered example
windows of ``data/1stat_2022_single_station_waveforms.hdf5`` (3-C single element; Z = 3rd
channel, see tests/data/norsar/convert_from_hdf5.py), ``data/zbeam_2022_beams.hdf5`` (Z beams;
channel 0) and ``data/3cbeam_2022_beams.hdf5`` (3-C beams; Z = 3rd channel) with their phase
labels, and the event list ``data/metadata_2022.csv`` (IDC LEB / Helsinki / NORSAR origins).

Written here, with h5py (not a project dependency):

* ``signals.mseed``: for the first labelled P-type arrival (PN, PG, P, PB) of each window whose
  event is in the list (later ones may belong to another event), the vertical from 20 s before to 20 s after the labelled onset (samples rounded to
  integers), trace ``XX.S<id>..BHZ``;
* ``noise.mseed``: real noise: up to two 60 s vertical segments per window, ending at least 10 s
  before the window's first label, trace ``XX.N<id>..BHZ``;
* ``arrivals.csv``: one row per signal: ``set`` (``tune`` = the 1stat windows, ``heldout`` = the
  beam windows, chosen before any tuning), event origin, the array, and the bulletin-predicted
  backazimuth (obspy ``gps2dist_azimuth`` from the array reference point to the epicentre) and
  slowness (TauP iasp91 ray parameter of the labelled phase: PN -> Pn, PG/PB -> Pg, P -> first
  of P/p/Pn/Pg; s/deg); ``noise.csv``: the set of each noise segment.

usage: PYTHONPATH=<site-packages with h5py> .venv/bin/python tests/data/arrays/make_planted_set.py \
    ../shared/data/norsar_fennoscandia_arrays tests/data/arrays
"""
import csv
import sys
from pathlib import Path

import h5py
import numpy as np
from obspy import Stream, Trace, UTCDateTime
from obspy.geodetics import gps2dist_azimuth, kilometers2degrees
from obspy.taup import TauPyModel

CLASSES = ["PN", "PG", "P", "SN", "SG", "S", "PB", "SB", "D"]
FS = 40.0
#: array of each window's station code, and its reference point (isc_stalist)
ARRAY = {"ARA0": "ARCES", "ARCES": "ARCES", "FIA0": "FINES", "FINES": "FINES", "SPITS": "SPITS", "SPA0": "SPITS"}
REF = {"ARCES": (69.53490, 25.50590), "FINES": (61.44360, 26.07710), "SPITS": (78.17770, 16.37000)}
SETS = [("1stat_2022_single_station_waveforms", "1stat_2022_labels_phase_detection", 2, "tune"),
        ("zbeam_2022_beams", "zbeam_2022_labels_phase_detection", 0, "heldout"),
        ("3cbeam_2022_beams", "3cbeam_2022_labels_phase_detection", 2, "heldout")]


def main(src: str, out: str) -> None:
    src, out = Path(src), Path(out)
    events = {r[""]: r for r in csv.DictReader(open(src / "data" / "metadata_2022.csv"))}
    model = TauPyModel("iasp91")
    sig, noise, rows, nrows = Stream(), Stream(), [], []
    for wf_name, lab_name, zc, kind in SETS:
        wf = h5py.File(src / "data" / f"{wf_name}.hdf5", "r")
        lab = h5py.File(src / "data" / f"{lab_name}.hdf5", "r")
        x, stations = wf["X"][:], [s.decode() for s in wf["station"][:]]
        evs = [s.decode() for s in wf["event_id"][:]]
        labels = lab["labels"][:]
        for k in range(x.shape[0]):
            mine = sorted([r for r in labels if r[0] == k and CLASSES[r[3]] != "D"], key=lambda r: r[1])
            arr = ARRAY[stations[k]]
            first = min(int(r[1]) for r in mine) if mine else x.shape[1]
            for j, e in enumerate(range(first - int(10 * FS), int(70 * FS), -int(60 * FS))):
                if j == 2 or e - int(60 * FS) < 0:
                    break
                nid = len(nrows)
                noise += Trace(np.round(x[k, e - int(60 * FS):e, zc]).astype(np.int32),
                               header=dict(network="XX", station=f"N{nid}", channel="BHZ", sampling_rate=FS))
                nrows.append(dict(id=nid, set=kind, source=wf_name, window=k))
            # only the window's first P-type label: later ones may belong to another event
            # (windows list several events in their 'arrivals')
            mine = [r for r in mine if CLASSES[r[3]].startswith("P")][:1]
            for _, i0, _, c in mine:
                lab_ = CLASSES[c]
                ev = events.get(evs[k])
                if not lab_.startswith("P") or ev is None or i0 < 20 * FS or i0 + 20 * FS > x.shape[1]:
                    continue
                lat, lon, dep = float(ev["latitude"]), float(ev["longitude"]), max(float(ev["depth"] or 0), 0.0)
                dist_m, _az, baz = gps2dist_azimuth(*REF[arr], lat, lon)
                dist = kilometers2degrees(dist_m / 1000.0)
                phases = {"PN": ["Pn"], "PG": ["Pg"], "PB": ["Pg"]}.get(lab_, ["P", "p", "Pn", "Pg"])
                tt = model.get_travel_times(dep, dist, phase_list=phases) or \
                    model.get_travel_times(dep, dist, phase_list=["P", "p", "Pn", "Pg"])
                if not tt:
                    continue
                sid = len(rows)
                i0 = int(i0)
                sig += Trace(np.round(x[k, i0 - int(20 * FS):i0 + int(20 * FS), zc]).astype(np.int32),
                             header=dict(network="XX", station=f"S{sid}", channel="BHZ", sampling_rate=FS))
                rows.append(dict(id=sid, set=kind, source=wf_name, window=k, event=evs[k], bulletin=ev["bulletin"],
                                 label=lab_, station=stations[k], array=arr, event_latitude=lat,
                                 event_longitude=lon, depth_km=dep, distance_deg=round(dist, 3),
                                 backazimuth=round(baz, 2), slowness=round(tt[0].ray_param_sec_degree, 3),
                                 onset_s=20.0))
    sig.write(str(out / "signals.mseed"), format="MSEED", encoding="STEIM2")
    noise.write(str(out / "noise.mseed"), format="MSEED", encoding="STEIM2")
    for name, rr in (("arrivals.csv", rows), ("noise.csv", nrows)):
        with open(out / name, "w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=list(rr[0]))
            w.writeheader()
            w.writerows(rr)
    print(f"{len(rows)} arrivals, {len(nrows)} noise segments -> {out}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
