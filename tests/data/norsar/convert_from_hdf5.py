"""How ``tests/data/norsar`` was made (run once by hand; never by the tests or the pipeline).

Source: NORSAR-official/array-tphasenet @ af2b3a7 (MIT), copied to
``../shared/data/norsar_fennoscandia_arrays``: ``data/1stat_2022_single_station_waveforms.hdf5``
(10 windows of 540 s at 40 Hz, 3-C single-station traces of ARCES/FINES/SPITS elements,
pre-filtered 2-8 Hz by the authors) and ``data/1stat_2022_labels_phase_detection.hdf5`` (rows
``window, first sample, last sample, class`` with classes PN, PG, P, SN, SG, S, PB, SB and D =
the labelled detection span, in the order of the source's ``allowed_phases``).

Written here: the windows that have a labelled P-type arrival (7 of 10; the other three label
only an S-type arrival, so their P is in the data but unlabelled), one miniSEED file per window
and ``truth.csv`` (one row per labelled arrival). Changes to the data, all documented:

* the HDF5 files carry no absolute times: window ``k`` starts at the fictitious
  ``2022-01-01T00:00:00 + k hours``;
* the channel order of ``X`` is E, N, Z (the source's prediction code reads streams after
  ``Stream.sort()``, i.e. alphabetical channel codes; the labelled P energy is largest on the
  third channel, the S energy on the first two); channels are named BHE/BHN/BHZ;
* samples are rounded to integers (STEIM2; the pre-P noise has a standard deviation of 33-100
  units, so the rounding error of 0.29 units is 40 dB below it). Units are those of the source
  (pre-filtered, uncalibrated).

The labelled times are multiples of 1 s (all sample indices are multiples of 40): they are
bulletin/analyst times at 1-s resolution, so the scoring tolerances are of that order.

usage: .venv/bin/python tests/data/norsar/convert_from_hdf5.py ../shared/data/norsar_fennoscandia_arrays tests/data/norsar
(needs h5py, which is not a dependency of the project)
"""
import csv
import sys
from pathlib import Path

import h5py
import numpy as np
from obspy import Stream, Trace, UTCDateTime

CLASSES = ["PN", "PG", "P", "SN", "SG", "S", "PB", "SB", "D"]
FS = 40.0


def main(src: str, out: str) -> None:
    src, out = Path(src), Path(out)
    wf = h5py.File(src / "data" / "1stat_2022_single_station_waveforms.hdf5", "r")
    lab = h5py.File(src / "data" / "1stat_2022_labels_phase_detection.hdf5", "r")
    x, stations = wf["X"][:], [s.decode() for s in wf["station"][:]]
    events = [s.decode() for s in wf["event_id"][:]]
    assert [s.decode() for s in lab["event_id"][:]] == events
    labels = lab["labels"][:]
    base = UTCDateTime("2022-01-01T00:00:00")
    rows = []
    for k in range(x.shape[0]):
        mine = [r for r in labels if r[0] == k and CLASSES[r[3]] != "D"]
        if not any(CLASSES[r[3]].startswith("P") for r in mine):
            continue
        t0 = base + 3600.0 * k
        st = Stream()
        for j, comp in enumerate("ENZ"):
            st += Trace(np.round(x[k, :, j]).astype(np.int32),
                        header=dict(network="NO", station=stations[k], channel=f"BH{comp}",
                                    sampling_rate=FS, starttime=t0))
        name = f"w{k:02d}_{stations[k]}.mseed"
        st.write(str(out / name), format="MSEED", encoding="STEIM2")
        for _, i0, _, c in sorted(mine, key=lambda r: r[1]):
            rows.append(dict(file=name, station=stations[k], window=k, event=events[k], label=CLASSES[c],
                             kind=CLASSES[c][0], sample=int(i0), time=str(t0 + i0 / FS)))
    with open(out / "truth.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    print(f"{len({r['file'] for r in rows})} windows, {len(rows)} labelled arrivals -> {out}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
