"""Element data of one array on a common time grid, and delay-and-sum beams (xarray).

:func:`element_data` cuts the element channels of a stream to their common span;
:func:`beam_set` forms delay-and-sum beams for a set of slowness vectors (integer-sample delays:
at 40 Hz the rounding error is at most 12.5 ms, far below the period of the detection band) as a
``DataArray`` of dims ``(beam, time)`` with the backazimuth and slowness of each beam as
coordinates; :func:`shift_fractional` / :func:`beam_window` give exact (Fourier) delays for the
short windows measured around a detection.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import numpy as np
import xarray as xr
from obspy import Stream, UTCDateTime

from pipeline.array.geometry import ArrayGeometry, ArrayGeometryError, slowness_vector


@dataclass
class ElementData:
    """Samples of every element on one time grid.

    :ivar seed_ids: element channel ids; :ivar data: ``(n_elements, n_samples)`` float64 (counts)
    :ivar t0: time of the first sample; :ivar fs: sampling rate, Hz
    """

    seed_ids: tuple[str, ...]
    data: np.ndarray
    t0: UTCDateTime
    fs: float

    def times(self) -> np.ndarray:
        """Epoch seconds of every sample."""
        return self.t0.timestamp + np.arange(self.data.shape[1]) / self.fs


def element_data(stream: Stream, component: str | None = "Z") -> ElementData:
    """The array's element channels of ``stream`` cut to their common span.

    One channel per element station: those whose last letter is ``component`` (None = any; the
    first channel of each station in sorted order). Elements are sorted by SEED id.

    :raises ArrayGeometryError: no common span, mixed sampling rates or fewer than 3 elements
    """
    st = stream.copy().merge(method=1, fill_value=None)
    by_station: dict[tuple[str, str], list] = defaultdict(list)
    for tr in sorted(st, key=lambda t: t.id):
        if component is None or tr.stats.channel[-1:].upper() == component.upper():
            by_station[(tr.stats.network, tr.stats.station)].append(tr)
    traces = [v[0] for _, v in sorted(by_station.items())]
    if len(traces) < 3:
        raise ArrayGeometryError(f"{len(traces)} array element(s) with component {component!r} in the data, "
                                 "need at least 3")
    fs = traces[0].stats.sampling_rate
    if any(abs(tr.stats.sampling_rate - fs) > 1e-6 * fs for tr in traces):
        raise ArrayGeometryError("array elements have different sampling rates: "
                                 + ", ".join(f"{tr.id} {tr.stats.sampling_rate} Hz" for tr in traces))
    t0 = max(tr.stats.starttime for tr in traces)
    t1 = min(tr.stats.endtime for tr in traces)
    if t1 - t0 < 10.0 / fs:
        raise ArrayGeometryError("array elements have no common time span")
    n = int(np.floor((t1 - t0) * fs + 1e-6)) + 1
    data = np.empty((len(traces), n))
    for i, tr in enumerate(traces):
        i0 = int(round((t0 - tr.stats.starttime) * fs))
        d = tr.data[i0:i0 + n]
        if np.ma.isMaskedArray(d):  # a gap: zeros (the element adds nothing to the beams there)
            d = np.ma.filled(d.astype(np.float64) - d.mean(), 0.0)
        data[i, :len(d)] = d
        data[i] -= data[i].mean()
    return ElementData(tuple(tr.id for tr in traces), data, t0 + 0.0, fs)


def beam_slownesses(slowness_s_deg, azimuth_step_deg: float) -> tuple[np.ndarray, np.ndarray]:
    """Backazimuths (deg) and slownesses (s/deg) of a beam set: every ``azimuth_step_deg`` for
    each non-zero slowness, one beam for slowness 0."""
    baz, slow = [], []
    for s in slowness_s_deg:
        if s <= 0:
            baz.append(0.0)
            slow.append(0.0)
            continue
        for b in np.arange(0.0, 360.0 - 1e-9, azimuth_step_deg):
            baz.append(float(b))
            slow.append(float(s))
    return np.array(baz), np.array(slow)


def beam_set(data: np.ndarray, geometry: ArrayGeometry, fs: float, backazimuth_deg, slowness_s_deg,
             t0: float = 0.0) -> xr.DataArray:
    """Delay-and-sum beams (mean of the delayed elements) for plane waves from
    ``backazimuth_deg`` with ``slowness_s_deg`` (equal-length sequences, one per beam).

    :param data: ``(n_elements, n_samples)``, in the order of ``geometry.seed_ids``
    :param fs: sampling rate, Hz; :param t0: epoch s of the first sample
    :returns: DataArray ``(beam, time)``, time in epoch s at the reference point; coordinates
        ``backazimuth`` (deg) and ``slowness`` (s/deg) per beam. Samples a delay away from the
        ends average fewer elements.
    """
    baz = np.atleast_1d(np.asarray(backazimuth_deg, float))
    slow = np.atleast_1d(np.asarray(slowness_s_deg, float))
    sx, sy = slowness_vector(baz, slow)
    shifts = np.rint(geometry.delays_s(sx, sy) * fs).astype(int)  # (n_beams, n_elements)
    n_el, n = data.shape
    beams = np.zeros((len(baz), n))
    for b in range(len(baz)):
        acc = beams[b]
        for i in range(n_el):
            k = shifts[b, i]  # beam(t) += x_i(t + k)
            if k >= 0:
                acc[:n - k] += data[i, k:]
            else:
                acc[-k:] += data[i, :n + k]
        acc /= n_el
    return xr.DataArray(beams, dims=("beam", "time"),
                        coords={"time": t0 + np.arange(n) / fs, "backazimuth": ("beam", baz),
                                "slowness": ("beam", slow)}, name="beam",
                        attrs={"units": "counts", "array": geometry.code})


def shift_fractional(x: np.ndarray, shift_s: np.ndarray, fs: float) -> np.ndarray:
    """Rows of ``x`` advanced by ``shift_s`` seconds (``y_i(t) = x_i(t + shift_i)``), by a
    Fourier phase shift (circular: taper or pad the window first)."""
    n = x.shape[-1]
    nfft = 2 * n
    f = np.fft.rfftfreq(nfft, 1.0 / fs)
    spec = np.fft.rfft(x, nfft, axis=-1) * np.exp(2j * np.pi * f * np.asarray(shift_s)[..., None])
    return np.fft.irfft(spec, nfft, axis=-1)[..., :n]


def beam_window(x: np.ndarray, geometry: ArrayGeometry, fs: float, sx: float, sy: float) -> tuple[np.ndarray, np.ndarray]:
    """The aligned elements and their beam for slowness ``(sx, sy)`` s/km (exact delays)."""
    aligned = shift_fractional(x, geometry.delays_s(sx, sy), fs)
    return aligned, aligned.mean(axis=0)
