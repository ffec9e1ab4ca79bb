"""Shared helpers of the array tests and bench/array_validation.py: real IMS array inventories
from the ISC station list, and plane waves planted into real noise (tests/data/arrays)."""
from __future__ import annotations

import numpy as np
import pandas as pd
from obspy import Inventory, Stream, Trace, UTCDateTime, read
from obspy.core.inventory import Channel, Network, Station

from pipeline.array.beam import shift_fractional
from pipeline.array.geometry import slowness_vector
from tests import PROJECT_ROOT

DATA = PROJECT_ROOT / "tests" / "data" / "arrays"
FS = 40.0
#: reference element of each array (IMS convention) and the element codes used
PREFIX = {"ARCES": "AR", "FINES": "FI", "SPITS": "SP"}


def array_inventory(array: str, channel: str = "BHZ", network: str = "IM") -> Inventory:
    """Inventory of ``array``'s elements (ISC coordinates, tests/data/arrays/isc_stalist_arrays.txt)
    with one vertical channel each."""
    stations = []
    for line in (DATA / "isc_stalist_arrays.txt").read_text().splitlines():
        code, _parent, lat, lon, elev = [p.strip() for p in line.split(",")]
        if not code.startswith(PREFIX[array]):
            continue
        cha = Channel(channel, "", float(lat), float(lon), float(elev), 0.0, azimuth=0.0, dip=-90.0,
                      sample_rate=FS)
        stations.append(Station(code, float(lat), float(lon), float(elev), channels=[cha],
                                creation_date=UTCDateTime(2000, 1, 1)))
    return Inventory(networks=[Network(network, stations=stations)], source="ISC station list (iLoc)")


def arrivals() -> pd.DataFrame:
    return pd.read_csv(DATA / "arrivals.csv")


def noise_pool(kind: str) -> list[np.ndarray]:
    """Real noise segments (60 s, unit RMS) of set ``kind`` (``tune`` or ``heldout``)."""
    ids = set(pd.read_csv(DATA / "noise.csv").query("set == @kind")["id"])
    out = []
    for tr in read(str(DATA / "noise.mseed")):
        if int(tr.stats.station[1:]) in ids:
            x = tr.data.astype(float) - tr.data.mean()
            out.append(x / x.std())
    return out


def signal(i: int) -> np.ndarray:
    tr = read(str(DATA / "signals.mseed")).select(station=f"S{i}")[0]
    return tr.data.astype(float) - tr.data.mean()


def plant(sig: np.ndarray, inventory: Inventory, backazimuth: float, slowness: float, noise: list[np.ndarray],
          snr: float, rng: np.random.Generator, statics_s: float = 0.015, amp_spread: float = 0.2,
          t0: UTCDateTime = UTCDateTime(2022, 1, 1), onset_s: float = 30.0, sig_onset_s: float = 20.0) -> Stream:
    """Element traces (60 s, onset at ``t0 + onset_s`` at the array reference point, IM.xxx..BHZ)
    of the real arrival ``sig`` planted as a plane wave from ``backazimuth`` (deg) with
    ``slowness`` (s/deg) into real noise segments drawn from ``noise`` (one per element, unit RMS).

    The arrival is scaled to an RMS of ``snr`` over its first 3 s; each element gets a random
    static (normal, ``statics_s``) and amplitude factor (lognormal, ``amp_spread``) so that the
    signal is not perfectly coherent."""
    from pipeline.array.geometry import geometry_from_inventory

    ids = [f"{n.code}.{s.code}..{s.channels[0].code}" for n in inventory for s in n]
    geom = geometry_from_inventory(inventory, ids)
    n = len(noise[0])
    x = np.zeros(n)
    k0 = int(round((onset_s - sig_onset_s) * FS))
    # from 5 s before the labelled onset (1 s taper): the snippet's own noise, coherent across the
    # elements once planted, stays a short stretch
    s = sig.copy()
    s[:int((sig_onset_s - 5.0) * FS)] = 0.0
    i5 = int((sig_onset_s - 5.0) * FS)
    s[i5:i5 + 40] *= np.hanning(80)[:40]
    s[-40:] *= np.hanning(80)[40:]
    x[k0:k0 + len(s)] = s
    j = int(onset_s * FS)
    x *= snr / np.sqrt(np.mean(x[j:j + int(3 * FS)] ** 2))
    sx, sy = slowness_vector(backazimuth, slowness)
    tau = geom.delays_s(sx, sy) + rng.normal(0.0, statics_s, geom.n)
    el = shift_fractional(np.tile(x, (geom.n, 1)), -tau, FS) * np.exp(rng.normal(0, amp_spread, geom.n))[:, None]
    pick = rng.choice(len(noise), geom.n, replace=len(noise) < geom.n)
    st = Stream()
    for i, sid in enumerate(geom.seed_ids):
        net, sta, loc, cha = sid.split(".")
        st += Trace((el[i] + noise[pick[i]]).astype(np.float64),
                    header=dict(network=net, station=sta, location=loc, channel=cha, sampling_rate=FS, starttime=t0))
    return st
