"""SDS archive: merge new samples into day files atomically, without duplicate samples.

Layout (SeisComP Data Structure, as obspy's SDS client reads it)::

    <root>/YEAR/NET/STA/CHAN.TYPE/NET.STA.LOC.CHAN.TYPE.YEAR.DOY

Merging works on the sample grid of the channel-day: samples present both in the archive and in
the new data are compared; identical samples are a *duplicate* overlap (kept once), different
samples a *conflict* handled by the configured policy. Files are written to a temporary name in
the same folder and renamed (``os.replace``), so a reader never sees a half-written file.
"""
from __future__ import annotations

import fcntl
import io
import math
import os
import shutil
import uuid
from collections import OrderedDict
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np
from obspy import Stream, Trace, UTCDateTime, read

from pipeline.ingest.readers import IngestRejected
from pipeline.util import fault_point

SDS_FMT = "{year}/{net}/{sta}/{chan}.{typ}/{net}.{sta}.{loc}.{chan}.{typ}.{year}.{doy:03d}"
DAY = 86400.0
#: folder under the archive root where ingest batches stage day files (see StagedBatch)
STAGING = ".staging"


@dataclass(frozen=True)
class DayKey:
    net: str
    sta: str
    loc: str
    chan: str
    year: int
    doy: int

    @property
    def nslc(self) -> str:
        return f"{self.net}.{self.sta}.{self.loc}.{self.chan}"

    @property
    def start(self) -> UTCDateTime:
        return UTCDateTime(year=self.year, julday=self.doy)

    def relpath(self, typ: str = "D") -> str:
        return SDS_FMT.format(year=self.year, net=self.net, sta=self.sta, loc=self.loc,
                              chan=self.chan, typ=typ, doy=self.doy)


@dataclass
class Segment:
    start: UTCDateTime
    samprate: float
    npts: int

    @property
    def end(self) -> UTCDateTime:
        """Time of the last sample."""
        return self.start + (self.npts - 1) / self.samprate


@dataclass
class Overlap:
    start: UTCDateTime
    end: UTCDateTime
    nsamp: int
    #: "duplicate" or "conflict:<policy>"
    detail: str


@dataclass
class DayPlan:
    key: DayKey
    stream: Stream
    changed: bool
    segments: list[Segment] = field(default_factory=list)
    overlaps: list[Overlap] = field(default_factory=list)
    new_samples: int = 0


def split_by_day(tr: Trace) -> Iterator[tuple[DayKey, Trace]]:
    """Cut a trace at UTC midnights by sample index (no sample is duplicated or lost)."""
    fs = tr.stats.sampling_rate
    t0 = tr.stats.starttime
    n = tr.stats.npts
    i = 0
    while i < n:
        t = t0 + i / fs
        day0 = UTCDateTime(t.year, t.month, t.day)
        # first sample index at or after the next midnight (tolerate float noise of 1 µs)
        j = min(n, int(math.ceil((day0 + DAY - t0) * fs - 1e-6)))
        j = max(j, i + 1)
        piece = Trace(data=tr.data[i:j], header={k: tr.stats[k] for k in
                                                  ("network", "station", "location", "channel",
                                                   "sampling_rate")})
        piece.stats.starttime = t
        yield DayKey(tr.stats.network, tr.stats.station, tr.stats.location, tr.stats.channel,
                     t.year, t.julday), piece
        i = j


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """[start, stop) index pairs of the True runs of a boolean array."""
    n = mask.size
    if n == 0:
        return []
    if mask.all():
        return [(0, n)]
    edges = np.concatenate(([0], np.flatnonzero(mask[1:] != mask[:-1]) + 1, [n]))
    return [(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:]) if mask[a]]


def merge_day(key: DayKey, existing: Stream, new: list[Trace], policy: str, tolerance: float,
              source: str) -> DayPlan:
    """Merge ``new`` traces into the ``existing`` content of one SDS day file.

    :param policy: ``quarantine`` | ``keep_archive`` | ``replace`` for conflicting samples.
    :raises IngestRejected: ``samplerate_change``, ``dtype_mismatch`` or ``conflict``.
    """
    traces = [t for t in existing if t.stats.npts] + [t for t in new if t.stats.npts]
    if not traces:
        return DayPlan(key, existing, changed=False)
    fs = traces[0].stats.sampling_rate
    for t in traces:
        if abs(t.stats.sampling_rate - fs) > tolerance * fs:
            what = "already archived" if len(existing) else "elsewhere in the same input"
            raise IngestRejected(
                "samplerate_change",
                f"{source}: {key.nslc}: sampling rate {t.stats.sampling_rate:g} Hz differs from "
                f"{fs:g} Hz {what} on {key.year}-{key.doy:03d} (a sample-rate change inside a day)")
    kinds = {np.dtype(t.data.dtype).kind for t in traces}
    if len(kinds) > 1:
        raise IngestRejected(
            "dtype_mismatch",
            f"{source}: {key.nslc}: sample type {new[0].data.dtype} does not match the archived "
            f"{existing[0].data.dtype if len(existing) else '?'} on {key.year}-{key.doy:03d}")
    dtype = np.result_type(*[t.data.dtype for t in traces])
    ref = traces[0].stats.starttime
    idx = [int(round((t.stats.starttime - ref) * fs)) for t in traces]
    lo = min(idx)
    hi = max(i + t.stats.npts for i, t in zip(idx, traces))
    buf = np.zeros(hi - lo, dtype=dtype)
    have = np.zeros(hi - lo, dtype=bool)
    n_exist = len([t for t in existing if t.stats.npts])
    for t, i in zip(traces[:n_exist], idx[:n_exist]):
        buf[i - lo:i - lo + t.stats.npts] = t.data
        have[i - lo:i - lo + t.stats.npts] = True
    overlaps: list[Overlap] = []
    new_samples = 0
    for t, i in zip(traces[n_exist:], idx[n_exist:]):
        sl = slice(i - lo, i - lo + t.stats.npts)
        data = np.asarray(t.data)
        ov = have[sl]
        write = ~ov
        if ov.any():
            diff = ov & (buf[sl] != data)
            for a, b in _runs(ov):
                conflict = bool(diff[a:b].any())
                detail = f"conflict:{policy}" if conflict else "duplicate"
                overlaps.append(Overlap(ref + (i + a) / fs, ref + (i + b - 1) / fs, b - a, detail))
            if diff.any():
                if policy == "quarantine":
                    k = int(np.flatnonzero(diff)[0])
                    raise IngestRejected(
                        "conflict",
                        f"{source}: {key.nslc}: {int(diff.sum())} samples from {ref + (i + k) / fs} "
                        f"differ from the archived ones (policy on_conflict=quarantine)")
                if policy == "replace":
                    write = write | diff
        if not ov.any():
            new_samples += data.size
            buf[sl] = data
        else:
            new_samples += int((write & ~ov).sum())
            buf[sl][write] = data[write]
        have[sl] = True
    out = Stream()
    segments = []
    for a, b in _runs(have):
        tr = Trace(data=np.ascontiguousarray(buf[a:b]),
                   header=dict(network=key.net, station=key.sta, location=key.loc, channel=key.chan,
                               sampling_rate=fs, starttime=ref + (a + lo) / fs))
        out.append(tr)
        segments.append(Segment(tr.stats.starttime, fs, tr.stats.npts))
    old = sorted((round(float(t.stats.starttime.timestamp), 6), t.stats.npts) for t in existing if t.stats.npts)
    changed = (old != sorted((round(float(s.start.timestamp), 6), s.npts) for s in segments)
               or any(o.detail == "conflict:replace" for o in overlaps))
    return DayPlan(key, out, changed=changed, segments=segments, overlaps=overlaps,
                   new_samples=new_samples)


class SDSArchive:
    """An SDS archive rooted at ``root``."""

    def __init__(self, root: str | Path, sds_type: str = "D", record_length: int = 4096,
                 integer_encoding: str = "STEIM2"):
        self.root = Path(root)
        self.sds_type = sds_type
        self.record_length = record_length
        self.integer_encoding = integer_encoding

    def path(self, key: DayKey) -> Path:
        return self.root / key.relpath(self.sds_type)

    def read_day(self, key: DayKey) -> Stream:
        p = self.path(key)
        if not p.exists():
            return Stream()
        st = read(str(p), format="MSEED")
        # one file holds one channel; merge only adjacent records (never interpolate)
        st.merge(method=-1)
        return st

    @contextmanager
    def lock(self) -> Iterator[None]:
        """Exclusive lock on the archive (serialises concurrent ingest processes)."""
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / ".lock", "w") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def _encoding(self, data: np.ndarray) -> str:
        if data.dtype.kind in "iu":
            return self.integer_encoding
        return "FLOAT64" if data.dtype == np.float64 else "FLOAT32"

    @property
    def staging_dir(self) -> Path:
        """Where ingest batches stage day files before their rows are committed."""
        return self.root / STAGING

    def write_day(self, plan: DayPlan) -> Path:
        """Write the merged content of one day file atomically (temp file + rename)."""
        p = self.path(plan.key)
        self.write_stream(plan.stream, p)
        return p

    def write_stream(self, stream: Stream, p: Path) -> None:
        """Write one channel-day as miniSEED to ``p``: temp file in the same folder, fsync, rename."""
        p.parent.mkdir(parents=True, exist_ok=True)
        tmp = p.parent / f".{p.name}.{uuid.uuid4().hex[:8]}.tmp"
        st = stream.copy()
        for tr in st:
            if tr.data.dtype.kind in "iu":
                if tr.data.size and (tr.data.max() > 2**31 - 1 or tr.data.min() < -2**31):
                    raise IngestRejected("corrupt", f"{tr.id}: integer samples exceed 32 bits")
                tr.data = tr.data.astype(np.int32)
            elif tr.data.dtype not in (np.float32, np.float64):
                tr.data = tr.data.astype(np.float64)
        enc = self._encoding(st[0].data)
        # encode in memory: obspy's writer calls back into Python from libmseed and only prints
        # (ignores) an OSError raised there, so a full disk could leave a short file unnoticed
        buf = io.BytesIO()
        try:
            st.write(buf, format="MSEED", reclen=self.record_length, encoding=enc)
        except Exception:  # libmseed's encoders raise several types; only Steim's overflow is retried below
            if not enc.startswith("STEIM"):
                raise
            buf = io.BytesIO()  # differences too large for Steim: store uncompressed
            st.write(buf, format="MSEED", reclen=self.record_length, encoding="INT32")
        try:
            with open(tmp, "wb") as fh:
                fh.write(buf.getbuffer())
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, p)
        finally:
            if tmp.exists():
                tmp.unlink()

    # ------------------------------------------------------------------ staged batches
    def publish(self, batch: "StagedBatch") -> int:
        """Rename a committed batch's staged day files into the archive (roll forward)."""
        return self._roll_forward(batch.dir)

    def _roll_forward(self, folder: Path) -> int:
        n = 0
        dirs: set[Path] = set()
        if folder.exists():
            for f in sorted(folder.rglob("*")):
                if not f.is_file() or f.name.endswith(".tmp"):
                    continue
                target = self.root / f.relative_to(folder)
                target.parent.mkdir(parents=True, exist_ok=True)
                os.replace(f, target)
                dirs.add(target.parent)
                n += 1
                fault_point("ingest.rename")
            for d in dirs:
                _fsync_dir(d)
            shutil.rmtree(folder, ignore_errors=True)
        return n

    def recover(self, committed: set[str]) -> tuple[list[str], list[str]]:
        """Complete what crashed ingest runs left: ``(rolled_forward, discarded)`` batch ids.

        A staged batch whose rows were committed (its id in ``committed``) has its files renamed
        into the archive; anything else in the staging folder was never committed and is deleted.
        """
        done, dropped = [], []
        if not self.staging_dir.exists():
            return done, dropped
        for d in sorted(self.staging_dir.iterdir()):
            if d.is_dir() and d.name in committed:
                self._roll_forward(d)
                done.append(d.name)
            else:
                shutil.rmtree(d, ignore_errors=True) if d.is_dir() else d.unlink()
                dropped.append(d.name)
        return done, dropped


def _fsync_dir(d: Path) -> None:
    try:
        fd = os.open(d, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def segments_of(stream: Stream) -> list[Segment]:
    """Contiguous runs of a channel-day as read back from a file (adjacent records joined)."""
    out: list[Segment] = []
    for tr in sorted(stream, key=lambda t: t.stats.starttime):
        fs, n = tr.stats.sampling_rate, tr.stats.npts
        if n == 0:
            continue
        if out and abs(float(tr.stats.starttime - out[-1].end) * fs - 1.0) < 0.5 and abs(out[-1].samprate - fs) < 1e-9 * fs:
            out[-1] = Segment(out[-1].start, fs, out[-1].npts + n)
        else:
            out.append(Segment(tr.stats.starttime, fs, n))
    return out


class _Layer:
    """Day streams of one staging layer: newest in memory, older spilled to ``folder``."""

    def __init__(self, archive: SDSArchive, folder: Path):
        self.archive, self.folder = archive, folder
        self.mem: "OrderedDict[DayKey, Stream]" = OrderedDict()
        self.on_disk: set[DayKey] = set()
        self.samples = 0

    def file(self, key: DayKey) -> Path:
        return self.folder / key.relpath(self.archive.sds_type)

    def get(self, key: DayKey) -> Stream | None:
        if key in self.mem:
            self.mem.move_to_end(key)
            return self.mem[key]
        if key in self.on_disk:
            st = read(str(self.file(key)), format="MSEED")
            st.merge(method=-1)
            return st
        return None

    def put(self, key: DayKey, st: Stream) -> None:
        old = self.mem.pop(key, None)
        if old is not None:
            self.samples -= sum(t.stats.npts for t in old)
        self.mem[key] = st
        self.samples += sum(t.stats.npts for t in st)

    def spill(self, target: int) -> None:
        """Write the least recently used streams to disk until at most ``target`` samples remain."""
        while self.mem and self.samples > target:
            key, st = self.mem.popitem(last=False)
            self.samples -= sum(t.stats.npts for t in st)
            self.archive.write_stream(st, self.file(key))
            self.on_disk.add(key)
            fault_point("ingest.spill")

    def clear(self) -> None:
        self.mem.clear()
        self.on_disk.clear()
        self.samples = 0
        shutil.rmtree(self.folder, ignore_errors=True)


class StagedBatch:
    """The day files an ingest batch changes, before they reach the archive.

    Merged streams stay in memory up to ``memory_samples`` and are spilled to
    ``<archive>/.staging/<batch>/`` beyond that. The input being ingested has its own layer
    (``<batch>.input``) so that a rejected input leaves no trace in the batch. At the end,
    :meth:`stage_all` writes every day file to the staging folder; the caller commits the
    batch's rows with a journal row and then :meth:`SDSArchive.publish` renames the files into
    the archive.
    """

    def __init__(self, archive: SDSArchive, memory_samples: int = 20_000_000):
        self.id = uuid.uuid4().hex
        self.archive = archive
        self.dir = archive.staging_dir / self.id
        self.base = _Layer(archive, self.dir)
        self.input = _Layer(archive, archive.staging_dir / f"{self.id}.input")
        self.limit = memory_samples

    def read_day(self, key: DayKey) -> Stream:
        for layer in (self.input, self.base):
            st = layer.get(key)
            if st is not None:
                return st
        return self.archive.read_day(key)

    def put(self, key: DayKey, st: Stream) -> None:
        self.input.put(key, st)
        if self.input.samples + self.base.samples > self.limit:
            self.base.spill(max(self.limit - self.input.samples, 0))
            self.input.spill(self.limit // 2)

    def accept_input(self) -> None:
        for key in sorted(self.input.on_disk, key=lambda k: (k.nslc, k.year, k.doy)):
            target = self.base.file(key)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(self.input.file(key), target)
            self.base.on_disk.add(key)
            old = self.base.mem.pop(key, None)
            if old is not None:
                self.base.samples -= sum(t.stats.npts for t in old)
        for key, st in self.input.mem.items():
            self.base.put(key, st)
        self.input.clear()

    def discard_input(self) -> None:
        self.input.clear()

    def stage_all(self) -> int:
        """Write every day file of the batch to the staging folder; returns how many there are."""
        self.base.spill(0)
        return len(self.base.on_disk)

    @property
    def keys(self) -> set[DayKey]:
        return set(self.base.mem) | self.base.on_disk

    def discard(self) -> None:
        self.input.clear()
        self.base.clear()
