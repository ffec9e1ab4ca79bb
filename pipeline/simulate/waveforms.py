"""A waveform simulator of a network day: real origins + station coordinates → miniSEED in the drop
folder, the truth (QuakeML), StationXML and the true arrivals (issue 18 item 1).

:func:`simulate_waveforms` writes, chunk by chunk (``chunk_s``, default one hour; memory bounded
by one chunk of one station), one miniSEED file per station and chunk — what a real-time feed
delivers to the drop folder. Everything random comes from ``seed`` (independent streams per
channel, per arrival and for the station state, :class:`numpy.random.SeedSequence`), so the same
inputs, configuration and seed give byte-identical files; the noise is continuous across chunks.

The model, step by step (defaults in :class:`WaveformConfig`; "our default" = a choice of this
project, not a published value):

1. **Arrivals**: :func:`pipeline.simulate.detections.predict_arrivals` — the phases each station
   would see (P to 100°, PKP from 110°, regional S and Lg within 20°) at the times of our
   travel-time tables (ak135 by default) with ellipticity and elevation corrections. Station
   clock errors (``n_clock_stations``) shift the *written* time stamps of a station's data.
2. **Amplitudes** follow the IDC mb formula backwards (as the detection simulator): ``log10(A/T)
   = mb − Q(Δ, h) + c_s + ε`` with the Veith–Clawson ``Q``, a station term ``c_s`` and a per-arrival
   ``ε`` (:class:`~pipeline.simulate.detections.SimConfig` sigmas); ``A`` is the A5/2 amplitude
   in nm, so the pipeline's mb of a well-recorded arrival is the origin's mb + c_s + ε. The
   velocity peak is ``2π A / T`` nm/s (``T``: 1 s teleseismic, 0.5 s within 20°). S and Lg get
   ``s_amplitude_factor`` (our default 2.0) times the P amplitude at the same distance.
3. **Source pulse and coda**: a Gabor wavelet of dominant frequency ``1/T`` (``pulse_cycles``
   cycles) followed by a coda of band-limited noise (octave around ``1/T``) with an exponential
   envelope of decay time ``coda_tau_s`` = ``coda_tau_base_s · 10^(coda_tau_per_mag · (mb − 4))``
   (our defaults 4 s and 0.3: longer codas for larger events), peak ``coda_ratio`` (0.5) of the
   pulse.
4. **Polarisation**: P on the vertical (radial ``p_radial`` = 0.3 of it); S and Lg mostly
   horizontal (vertical ``s_vertical`` = 0.3, radial and transverse ``s_horizontal`` = 0.7 each),
   rotated to N/E with the backazimuth.
5. **Arrays**: stations of kind ``array`` are written as their elements (vertical only,
   ``array_channel``): element offsets from ``array_geometry`` (station → list of (east, north)
   km; e.g. IMS array geometries) or, where none is given, a default 9-element layout (centre,
   4 at ``array_radius_km``/2 and 4 at ``array_radius_km`` = 1.5 km, our default). Each element
   gets the plane-wave delay ``−p · (x sin β + y cos β)`` (``p`` the ray parameter in s/km,
   ``β`` the backazimuth, (x, y) east/north offsets): elements nearer the source see the wave
   earlier. Element codes: the first three characters of the array code + two digits.
6. **Noise**: every channel has stationary noise with the spectrum of Peterson's (1993) models,
   ``u`` of the way from the NLNM to the NHNM in dB (``u`` uniform in ``noise_u_range``, per
   station; our default 0.15–0.45), as velocity, shaped by an FIR filter (``noise_taps``) on white
   noise, convolved across chunk boundaries without seams. Arrays: the same level at every element,
   independent noise per element.
7. **Outages, gaps, duplicates, late files** (our defaults): the station outages of the detection
   simulator's ``outage_fraction``/``full_outage_fraction`` (no data written), short gaps in a
   fraction ``gap_fraction`` (2 %) of the chunk files (U(1, 60) s missing), a fraction
   ``duplicate_fraction`` (1 %) of files written twice (a second copy with ``.dup`` in the name),
   a fraction ``late_fraction`` (1 %) written into ``late/`` (to be delivered later).
8. **Units**: counts = nm/s (a flat velocity response, sensitivity ``counts_per_m_s`` = 10⁹
   counts per m/s, written to the StationXML), 32-bit integers, Steim-2.

Outputs in ``out_dir``: ``drop/<station>/<NET.STA>.<YYYYmmddTHHMMSS>.mseed`` (and ``late/``),
``truth.xml`` (QuakeML: the origins with their mb), ``stations.xml`` (StationXML, arrays as
their elements with the array code in the station description), ``arrivals.csv`` (the true
arrivals: station, phase, time, A5/2 amplitude, period, and ``snr`` = pulse peak over the noise
RMS in an octave around 1/T, before outages), ``truth.csv`` (origins with ``n_detectable``: stations
whose first arrival has ``snr >= detectable_snr``, default 3, and that are not down at that time)
and ``simulation.json`` (parameters, seed, counts).
"""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, fields
from functools import lru_cache
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from pipeline.simulate.detections import (SimConfig, _stations, clock_errors_and_outages, leb_origins,
                                          predict_arrivals)

#: Peterson (1993) noise models: obspy gives them as (period s, dB rel. 1 (m/s²)²/Hz)
_STREAMS = ("noise", "signal", "faults")


@dataclass
class WaveformConfig:
    """Parameters of :func:`simulate_waveforms` (see the module docstring)."""

    sampling_rate: float = 40.0
    chunk_s: float = 3600.0
    network: str = "IM"
    channels_3c: str = "BHZ,BHN,BHE"
    array_channel: str = "SHZ"
    counts_per_m_s: float = 1.0e9
    # noise
    noise_u_range: tuple[float, float] = (0.15, 0.45)
    noise_taps: int = 2049
    noise_scale: float = 1.0          # 0: signals only (tests of amplitudes and delays)
    # signals
    s_amplitude_factor: float = 2.0
    pulse_cycles: float = 2.0
    coda_ratio: float = 0.5
    coda_tau_base_s: float = 4.0
    coda_tau_per_mag: float = 0.3
    p_radial: float = 0.3
    s_vertical: float = 0.3
    s_horizontal: float = 0.7
    # arrays
    array_radius_km: float = 1.5
    array_geometry: dict = field(default_factory=dict)
    # delivery faults
    gap_fraction: float = 0.02
    gap_min_s: float = 1.0
    gap_max_s: float = 60.0
    duplicate_fraction: float = 0.01
    late_fraction: float = 0.01
    # an event is "detectable" at a station whose first arrival has at least this SNR (truth.csv)
    detectable_snr: float = 3.0
    # the arrival model (amplitudes, periods, station terms, outages, clock errors)
    arrivals: SimConfig = field(default_factory=SimConfig)

    def __post_init__(self):
        if not self.sampling_rate > 0 or not self.chunk_s > 0:
            raise ValueError("sampling_rate and chunk_s must be positive")
        if abs(self.chunk_s * self.sampling_rate - round(self.chunk_s * self.sampling_rate)) > 1e-9:
            raise ValueError("chunk_s × sampling_rate must be a whole number of samples")
        for name in ("gap_fraction", "duplicate_fraction", "late_fraction"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be in [0, 1]")
        lo, hi = self.noise_u_range
        if not 0.0 <= lo <= hi <= 1.0:
            raise ValueError("noise_u_range must be 0 <= lo <= hi <= 1")
        if self.noise_taps < 65 or self.noise_taps % 2 == 0:
            raise ValueError("noise_taps must be odd and >= 65")

    @classmethod
    def from_mapping(cls, data: dict) -> "WaveformConfig":
        known = {f.name for f in fields(cls)}
        bad = sorted(set(data) - known - set(f.name for f in fields(SimConfig)))
        if bad:
            raise ValueError(f"unknown simulation parameter(s): {', '.join(bad)}")
        mine = {k: tuple(v) if isinstance(v, list) and k == "noise_u_range" else v
                for k, v in data.items() if k in known and k != "arrivals"}
        arr = SimConfig.from_mapping({k: v for k, v in data.items() if k not in known})
        return cls(**mine, arrivals=arr)

    def as_dict(self) -> dict:
        return asdict(self)


# --------------------------------------------------------------------------- noise
@lru_cache(maxsize=1)
def _peterson() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Peterson's NLNM and NHNM as (log10 period, dB) on increasing period, read once per process
    (obspy reads them from files on every call)."""
    from obspy.signal.spectral_estimation import get_nhnm, get_nlnm

    p_lo, db_lo = get_nlnm()
    p_hi, db_hi = get_nhnm()
    return np.log10(p_lo[::-1]), db_lo[::-1], np.log10(p_hi[::-1]), db_hi[::-1]


def noise_psd(f: np.ndarray, u: float) -> np.ndarray:
    """Velocity PSD ((m/s)²/Hz) ``u`` of the way (in dB) from Peterson's NLNM to NHNM at ``f`` Hz."""
    lp_lo, db_lo, lp_hi, db_hi = _peterson()
    ff = np.maximum(np.asarray(f, float), 1e-3)
    logp = np.log10(1.0 / ff)
    lo = np.interp(logp, lp_lo, db_lo)
    hi = np.interp(logp, lp_hi, db_hi)
    return 10.0 ** ((lo + u * (hi - lo)) / 10.0) / (2 * np.pi * ff) ** 2


def noise_band_rms(f_lo: float, f_hi: float, u: float, counts_per_m_s: float) -> float:
    """RMS (counts) of the noise of :func:`noise_psd` in the band [f_lo, f_hi] Hz."""
    f = np.linspace(f_lo, f_hi, 64)
    return float(np.sqrt(np.trapz(noise_psd(f, u), f))) * counts_per_m_s


def noise_fir(sampling_rate: float, u: float, taps: int, counts_per_m_s: float) -> np.ndarray:
    """FIR filter that turns unit-variance white noise into velocity noise (counts) with the PSD of
    :func:`noise_psd`, zero at DC."""
    from scipy.signal import firwin2

    nyq = sampling_rate / 2.0
    f = np.linspace(0.0, nyq, 513)
    gain = np.sqrt(noise_psd(f, u) * sampling_rate / 2.0) * counts_per_m_s
    gain[f < 2.0 * sampling_rate / taps] = 0.0                 # below what the filter resolves
    return firwin2(taps, f / nyq, gain / gain.max(), window="hann") * gain.max()


class _NoiseStream:
    """Seamless noise of one channel: white noise from its own generator, convolved with the FIR;
    the convolution tail is carried into the next chunk."""

    def __init__(self, fir: np.ndarray, seed_seq: np.random.SeedSequence):
        self.fir = fir
        self.rng = np.random.default_rng(seed_seq)
        self.tail = None

    def warm_up(self, n: int) -> None:
        self.next(max(n, len(self.fir)))

    def next(self, n: int) -> np.ndarray:
        from scipy.signal import oaconvolve

        x = self.rng.standard_normal(n)
        y = oaconvolve(x, self.fir)
        if self.tail is not None:
            y[:len(self.tail)] += self.tail
        self.tail = y[n:].copy()
        return y[:n]


# --------------------------------------------------------------------------- signals
def _pulse(t: np.ndarray, f0: float, cycles: float) -> np.ndarray:
    """Gabor wavelet (peak 1 at t = 0) of dominant frequency f0 with ~``cycles`` cycles."""
    sigma = cycles / (2.0 * f0) / 2.0
    return np.exp(-0.5 * (t / sigma) ** 2) * np.cos(2 * np.pi * f0 * t)


def _coda(t: np.ndarray, f0: float, tau: float, rng: np.random.Generator) -> np.ndarray:
    """Band-limited noise (about one octave around f0), unit RMS, under exp(−t/τ) for t ≥ 0."""
    from scipy.signal import butter, sosfilt

    n = len(t)
    if n < 8:
        return np.zeros(n)
    dt = float(t[1] - t[0])
    nyq = 0.5 / dt
    lo, hi = f0 / math.sqrt(2.0), min(f0 * math.sqrt(2.0), 0.95 * nyq)
    x = rng.standard_normal(n)
    if lo < hi:
        x = sosfilt(butter(2, [lo / nyq, hi / nyq], btype="band", output="sos"), x)
    rms = float(np.sqrt(np.mean(x ** 2))) or 1.0
    return x / rms * np.exp(-np.clip(t, 0.0, None) / tau) * (t >= 0)


def _element_layout(code: str, cfg: WaveformConfig) -> list[tuple[float, float]]:
    if code in cfg.array_geometry:
        return [tuple(map(float, xy)) for xy in cfg.array_geometry[code]]
    r = cfg.array_radius_km
    out = [(0.0, 0.0)]
    for k in range(4):
        a = math.radians(90.0 * k)
        out.append((0.5 * r * math.sin(a), 0.5 * r * math.cos(a)))
    for k in range(4):
        a = math.radians(45.0 + 90.0 * k)
        out.append((r * math.sin(a), r * math.cos(a)))
    return out


@dataclass
class _Channel:
    station: int        # row of the station table
    net: str
    sta: str            # the written station code (element code for arrays)
    cha: str
    east_km: float = 0.0
    north_km: float = 0.0
    lat: float = 0.0
    lon: float = 0.0
    elev_m: float = 0.0


def _channels(sta: pd.DataFrame, cfg: WaveformConfig) -> list[_Channel]:
    out = []
    comps = [c.strip() for c in cfg.channels_3c.split(",") if c.strip()]
    for i, r in sta.iterrows():
        net = str(r.get("network") or cfg.network)
        if r["kind"] == "array":
            for k, (x, y) in enumerate(_element_layout(str(r["station"]), cfg)):
                lat = r["latitude"] + y / 111.195
                lon = r["longitude"] + x / (111.195 * max(math.cos(math.radians(r["latitude"])), 1e-3))
                out.append(_Channel(i, net, f"{str(r['station'])[:3]}{k:02d}", cfg.array_channel, x, y,
                                    lat, lon, float(r["elevation_m"])))
        else:
            for c in comps:
                out.append(_Channel(i, net, str(r["station"]), c, 0.0, 0.0, float(r["latitude"]),
                                    float(r["longitude"]), float(r["elevation_m"])))
    return out


# --------------------------------------------------------------------------- the simulator
@dataclass
class SimulatedWaveforms:
    files: int
    channels: int
    stations: int
    samples: int
    arrivals: int
    events: int
    duplicates: int
    late: int
    gaps: int
    outages: list
    clock_offsets: dict
    output: str

    def as_dict(self) -> dict:
        return asdict(self)


def simulate_waveforms(origins: pd.DataFrame, stations: pd.DataFrame, tt, out_dir: str | Path, start, end,
                       config: WaveformConfig | None = None, seed: int = 0,
                       progress: Callable[[int, int], None] | None = None) -> SimulatedWaveforms:
    """Write the simulated waveforms of [start, end) into ``out_dir`` (see the module docstring).

    :param origins: origins (``leb_origins`` layouts: time, latitude, longitude, depth_km, mag).
    :param stations: ``station, latitude, longitude``, optional ``network``, ``elevation_m``,
        ``kind`` (``array``/``3c``).
    :param tt: global travel-time table with P, S, Lg and PKP (as for the detection simulator).
    :param progress: ``progress(done, total)`` after each chunk of each station.
    """
    from obspy import Stream, Trace, UTCDateTime

    cfg = config or WaveformConfig()
    acfg = cfg.arrivals
    t0, t1 = float(UTCDateTime(start).timestamp), float(UTCDateTime(end).timestamp)
    if not t1 > t0:
        raise ValueError("simulation window: end must be after start")
    out = Path(out_dir)
    (out / "drop").mkdir(parents=True, exist_ok=True)
    org = leb_origins(origins)
    org = org[(org["time"] >= t0 - acfg.lookback_s) & (org["time"] < t1)].reset_index(drop=True)
    sta = _stations(stations)
    ns = len(sta)
    fs = cfg.sampling_rate
    dt = 1.0 / fs
    root = np.random.SeedSequence(seed)
    s_noise, s_signal, s_faults = root.spawn(3)
    rng = np.random.default_rng(s_faults)
    # station state, in a fixed order: noise level, station term, clock, outages
    u = rng.uniform(*cfg.noise_u_range, ns)
    station_term = rng.normal(0.0, acfg.station_term_sigma, ns)
    clock, out0, out1 = clock_errors_and_outages(rng, ns, acfg, t0, t1)

    # arrivals with amplitudes (one draw per arrival)
    arr = predict_arrivals(org, sta, tt, acfg)
    srng = np.random.default_rng(s_signal)
    n = len(arr)
    s_idx = arr["s"].to_numpy(int) if n else np.zeros(0, int)
    wave_s = arr["table_phase"].isin(["S", "Lg"]).to_numpy() if n else np.zeros(0, bool)
    dist = arr["distance_deg"].to_numpy(float) if n else np.zeros(0)
    log_at = (arr["mag"].to_numpy(float) - arr["q"].to_numpy(float) + station_term[s_idx]
              + srng.normal(0.0, acfg.amplitude_sigma, n)) if n else np.zeros(0)
    regional = dist <= acfg.regional_s_max_distance_deg
    period = 10.0 ** (np.log10(np.where(regional, acfg.period_regional_s, acfg.period_teleseismic_s))
                      + srng.normal(0.0, acfg.period_sigma_log, n))
    amp_nm = 10.0 ** log_at * period * np.where(wave_s, cfg.s_amplitude_factor, 1.0)
    vel = 2 * np.pi * amp_nm / period * 1e-9 * cfg.counts_per_m_s       # counts (nm/s by default)
    mags = arr["mag"].to_numpy(float) if n else np.zeros(0)
    tau = cfg.coda_tau_base_s * 10.0 ** (cfg.coda_tau_per_mag * (mags - 4.0))
    coda_seeds = srng.integers(0, 2**63 - 1, n)
    if n:
        # signal-to-noise: the pulse peak over the noise RMS in an octave around 1/T (as a detector sees it)
        nrms = np.array([noise_band_rms(1.0 / (T * math.sqrt(2.0)), math.sqrt(2.0) / T, float(u[j]), cfg.counts_per_m_s)
                         for T, j in zip(period, s_idx)]) * max(cfg.noise_scale, 1e-12)
        arr = arr.assign(amplitude_nm=amp_nm, period=period, velocity=vel, coda_tau_s=tau, coda_seed=coda_seeds,
                         station=sta["station"].to_numpy(object)[s_idx], snr=vel / nrms)
    by_station = {s: g for s, g in arr.groupby("s")} if n else {}

    chans = _channels(sta, cfg)
    noise_seqs = s_noise.spawn(len(chans))
    firs: dict[int, np.ndarray] = {}
    streams = []
    for k, ch in enumerate(chans):
        if ch.station not in firs:
            firs[ch.station] = noise_fir(fs, float(u[ch.station]), cfg.noise_taps, cfg.counts_per_m_s)
        ns_ = _NoiseStream(firs[ch.station], noise_seqs[k])
        ns_.warm_up(cfg.noise_taps * 4)
        streams.append(ns_)
    by_chan_station: dict[int, list[int]] = {}
    for k, ch in enumerate(chans):
        by_chan_station.setdefault(ch.station, []).append(k)

    chunks = []
    t = t0
    while t < t1 - 1e-9:
        chunks.append((t, min(t + cfg.chunk_s, t1)))
        t += cfg.chunk_s
    total = len(chunks) * ns
    done = files = samples = dups = late = gaps = 0
    written_outages = []
    for s in range(ns):
        if np.isfinite(out0[s]):
            written_outages.append({"station": str(sta["station"].iat[s]), "start": str(UTCDateTime(out0[s])),
                                    "end": str(UTCDateTime(out1[s]))})
    for c0, c1 in chunks:
        npts = int(round((c1 - c0) * fs))
        tt_rel = np.arange(npts) * dt
        for s in range(ns):
            ks = by_chan_station.get(s, [])
            data = {k: streams[k].next(npts) * cfg.noise_scale for k in ks}
            g = by_station.get(s)
            if g is not None:
                _add_signals(data, [chans[k] for k in ks], ks, g, c0, npts, fs, cfg)
            keep = np.ones(npts, bool)
            if np.isfinite(out0[s]):
                keep &= ~((c0 + tt_rel >= out0[s]) & (c0 + tt_rel < out1[s]))
            if rng.random() < cfg.gap_fraction:
                glen = rng.uniform(cfg.gap_min_s, cfg.gap_max_s)
                gpos = c0 + rng.random() * max(c1 - c0 - glen, 0.0)
                keep &= ~((c0 + tt_rel >= gpos) & (c0 + tt_rel < gpos + glen))
                gaps += 1
            dup = rng.random() < cfg.duplicate_fraction
            is_late = rng.random() < cfg.late_fraction
            done += 1
            if not keep.any():
                if progress:
                    progress(done, total)
                continue
            st = Stream()
            runs = _runs(keep)
            for k in ks:
                ch = chans[k]
                x = np.round(data[k]).astype(np.int32)
                for a, b in runs:
                    tr = Trace(x[a:b].copy(), header={"network": ch.net, "station": ch.sta, "location": "",
                                                      "channel": ch.cha, "sampling_rate": fs,
                                                      "starttime": UTCDateTime(c0 + a * dt + clock[s])})
                    st.append(tr)
                    samples += b - a
            name = f"{sta['network'].iat[s] if 'network' in sta else cfg.network}.{sta['station'].iat[s]}." \
                   f"{UTCDateTime(c0).strftime('%Y%m%dT%H%M%S')}.mseed"
            folder = out / ("late" if is_late else "drop") / str(sta["station"].iat[s])
            folder.mkdir(parents=True, exist_ok=True)
            st.write(str(folder / name), format="MSEED", encoding="STEIM2", reclen=512)
            files += 1
            late += int(is_late)
            if dup:
                (folder / name.replace(".mseed", ".dup.mseed")).write_bytes((folder / name).read_bytes())
                dups += 1
                files += 1
            if progress:
                progress(done, total)

    _write_truth(out, org, sta, chans, arr, cfg, fs)
    _write_detectable(out, org, arr, out0, out1, clock, cfg)
    res = SimulatedWaveforms(files=files, channels=len(chans), stations=ns, samples=samples, arrivals=n,
                             events=len(org), duplicates=dups, late=late, gaps=gaps, outages=written_outages,
                             clock_offsets={str(sta["station"].iat[i]): round(float(clock[i]), 3)
                                            for i in np.flatnonzero(clock)}, output=str(out))
    meta = {"seed": seed, "start": str(UTCDateTime(t0)), "end": str(UTCDateTime(t1)), "config": cfg.as_dict(),
            "result": res.as_dict()}
    (out / "simulation.json").write_text(json.dumps(meta, indent=1, default=str))
    return res


def _runs(keep: np.ndarray) -> list[tuple[int, int]]:
    """Start/end indices of the runs of True in ``keep``."""
    d = np.diff(np.concatenate([[0], keep.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(d == 1), np.flatnonzero(d == -1)))


def _add_signals(data: dict, chans: list, ks: list, g: pd.DataFrame, c0: float, npts: int, fs: float,
                 cfg: WaveformConfig) -> None:
    """Add every arrival of one station that reaches into the chunk [c0, c0 + npts/fs)."""
    c1 = c0 + npts / fs
    for r in g.itertuples(index=False):
        tau = float(r.coda_tau_s)
        t_end = float(r.true_time) + 8.0 * tau + 5.0 * float(r.period)
        if t_end < c0 or float(r.true_time) - 5.0 * float(r.period) > c1:
            continue
        f0 = 1.0 / float(r.period)
        s_wave = r.table_phase in ("S", "Lg")
        baz = math.radians(float(r.true_backazimuth))
        p_s_km = float(r.slowness_true) / 111.195
        # one waveform per component, seeded per arrival: the elements of an array share it, only
        # their plane-wave delays differ
        full_n = int(math.ceil((8.0 * tau + 10.0 * float(r.period)) * fs))
        tt_full = (np.arange(full_n) / fs) - 5.0 * float(r.period)
        shapes: dict[str, np.ndarray] = {}
        for ch, k in zip(chans, ks):
            delay = -p_s_km * (ch.east_km * math.sin(baz) + ch.north_km * math.cos(baz))
            ta = float(r.true_time) + delay
            i0 = max(0, int(math.floor((ta - 5.0 * float(r.period) - c0) * fs)))
            i1 = min(npts, int(math.ceil((ta + 8.0 * tau + 5.0 * float(r.period) - c0) * fs)))
            if i1 <= i0:
                continue
            # the coda is drawn over the whole arrival from its own seed, then cut to the chunk
            comp = ch.cha[-1]
            w = shapes.get(comp)
            if w is None:
                rng = np.random.default_rng([int(r.coda_seed) % (2**63), ord(comp)])
                w = shapes[comp] = _pulse(tt_full, f0, cfg.pulse_cycles) + cfg.coda_ratio * _coda(tt_full, f0, tau, rng)
            if s_wave:
                gain = {"Z": cfg.s_vertical}.get(comp)
                if gain is None:
                    az_r = baz + math.pi
                    radial, transverse = cfg.s_horizontal, cfg.s_horizontal
                    gain = (radial * math.cos(az_r) - transverse * math.sin(az_r)) if comp in "N1" else \
                        (radial * math.sin(az_r) + transverse * math.cos(az_r))
            else:
                gain = {"Z": 1.0}.get(comp)
                if gain is None:
                    az_r = baz + math.pi
                    gain = cfg.p_radial * (math.cos(az_r) if comp in "N1" else math.sin(az_r))
            # place: sample j of the chunk is at c0 + j/fs; w sample m at ta - 5T + m/fs
            first = ta - 5.0 * float(r.period)
            m0 = (c0 + i0 / fs - first) * fs
            idx = np.arange(i1 - i0) + m0
            vals = np.interp(idx, np.arange(full_n), w, left=0.0, right=0.0)
            data[k][i0:i1] += float(r.velocity) * gain * vals


def _write_truth(out: Path, org: pd.DataFrame, sta: pd.DataFrame, chans: list, arr: pd.DataFrame,
                 cfg: WaveformConfig, fs: float) -> None:
    from obspy import UTCDateTime
    from obspy.core.event import Catalog, Event, Magnitude, Origin, ResourceIdentifier
    from obspy.core.inventory import Channel, Inventory, Network, Station
    from obspy.core.inventory.response import Response

    cat = Catalog(resource_id=ResourceIdentifier("smi:idc-pipeline/simulation/truth"))
    for r in org.itertuples(index=False):
        o = Origin(resource_id=ResourceIdentifier(f"smi:idc-pipeline/simulation/origin/{r.event_id}"),
                   time=UTCDateTime(float(r.time)), latitude=float(r.latitude), longitude=float(r.longitude),
                   depth=float(r.depth_km) * 1000.0)
        ev = Event(resource_id=ResourceIdentifier(f"smi:idc-pipeline/simulation/event/{r.event_id}"), origins=[o])
        if math.isfinite(float(r.mag)):
            ev.magnitudes.append(Magnitude(resource_id=ResourceIdentifier(f"smi:idc-pipeline/simulation/magnitude/"
                                                                          f"{r.event_id}"),
                                           mag=float(r.mag), magnitude_type="mb", origin_id=o.resource_id))
            ev.preferred_magnitude_id = ev.magnitudes[0].resource_id
        ev.preferred_origin_id = o.resource_id
        cat.events.append(ev)
    from pipeline.io.quakeml import write_quakeml

    write_quakeml(cat, out / "truth.xml", idc_extra=False)
    resp = Response.from_paz(zeros=[], poles=[], stage_gain=cfg.counts_per_m_s, stage_gain_frequency=1.0,
                             input_units="M/S", output_units="COUNTS", normalization_frequency=1.0)
    nets: dict[str, Network] = {}
    stations: dict[tuple, Station] = {}
    start = UTCDateTime(2000, 1, 1)
    for ch in chans:
        net = nets.setdefault(ch.net, Network(code=ch.net, stations=[], description="simulated (idc simulate)"))
        key = (ch.net, ch.sta)
        if key not in stations:
            kind = sta["kind"].iat[ch.station]
            desc = f"element of array {sta['station'].iat[ch.station]}" if kind == "array" else "3-component"
            stations[key] = Station(code=ch.sta, latitude=round(ch.lat, 6), longitude=round(ch.lon, 6),
                                    elevation=ch.elev_m, channels=[], start_date=start, description=desc)
            net.stations.append(stations[key])
        dip, az = (-90.0, 0.0) if ch.cha[-1] == "Z" else (0.0, 0.0 if ch.cha[-1] in "N1" else 90.0)
        stations[key].channels.append(Channel(code=ch.cha, location_code="", latitude=round(ch.lat, 6),
                                              longitude=round(ch.lon, 6), elevation=ch.elev_m, depth=0.0,
                                              azimuth=az, dip=dip, sample_rate=fs, start_date=start,
                                              response=resp))
    # a fixed creation time: the same inputs and seed give the same bytes
    Inventory(networks=list(nets.values()), source="idc-pipeline simulate", created=start).write(
        str(out / "stations.xml"), format="STATIONXML")
    cols = ["station", "table_phase", "taup", "true_time", "distance_deg", "true_backazimuth", "slowness_true",
            "amplitude_nm", "period", "snr", "mag", "e"]
    if len(arr):
        t = arr[cols].copy()
        t["event_id"] = org["event_id"].to_numpy(object)[t.pop("e").to_numpy(int)]
        t["time"] = [str(UTCDateTime(float(x))) for x in t.pop("true_time")]
        t.to_csv(out / "arrivals.csv", index=False, float_format="%.4f")
    else:
        (out / "arrivals.csv").write_text(",".join(cols) + "\n")


def _write_detectable(out: Path, org: pd.DataFrame, arr: pd.DataFrame, out0, out1, clock, cfg: WaveformConfig) -> None:
    """``truth.csv``: the origins with ``n_detectable`` (stations whose first arrival has
    ``snr >= detectable_snr`` and is written, i.e. not inside an outage)."""
    from obspy import UTCDateTime

    n_det = np.zeros(len(org), int)
    if len(arr):
        first = arr.sort_values("true_time").groupby(["e", "s"], sort=False).head(1)
        s_ = first["s"].to_numpy(int)
        t_ = first["true_time"].to_numpy(float) + clock[s_]
        up = ~((t_ >= out0[s_]) & (t_ < out1[s_]))
        ok = (first["snr"].to_numpy(float) >= cfg.detectable_snr) & up
        n_det = np.bincount(first["e"].to_numpy(int)[ok], minlength=len(org))
    t = org.assign(time=[str(UTCDateTime(float(x))) for x in org["time"]], n_detectable=n_det)
    t[["event_id", "time", "latitude", "longitude", "depth_km", "mag", "n_detectable"]].to_csv(
        out / "truth.csv", index=False, float_format="%.4f")
