"""Waveform ingest: files / streams → SDS archive + availability rows, bad input → quarantine.

Each input (file, or chunk of a SeedLink/FDSN stream) is accepted or rejected as a whole:
a rejected input is copied to ``$IDC_HOME/quarantine/YYYYMMDD/``, gets an ``ingest_error`` row,
and the batch continues. Accepted inputs are remembered by SHA-256, so ingesting the same files
twice changes nothing.
"""
from __future__ import annotations

import fnmatch
import hashlib
import io
import shutil
import sys
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterable

from obspy import Stream
from sqlalchemy import delete, select

from pipeline.ingest.readers import IngestRejected, read_waveforms
from pipeline.ingest.sds import DayKey, DayPlan, SDSArchive, merge_day, split_by_day
from pipeline.settings import Settings
from pipeline.store.db import ensure_schema, session_scope
from pipeline.store.models import IngestedFile, IngestError, WfAvail
from pipeline.store.stations import ChannelIndex
from pipeline.util import sha256_file


@dataclass
class Rejection:
    source: str
    kind: str
    message: str
    quarantine_path: str


@dataclass
class IngestReport:
    """Summary of one ingest call (JSON-able via :meth:`as_dict`)."""

    accepted: int = 0
    already_ingested: int = 0
    rejected: list[Rejection] = field(default_factory=list)
    traces: int = 0
    new_samples: int = 0
    bytes_read: int = 0
    day_files_written: int = 0
    overlaps: int = 0
    channels: set[str] = field(default_factory=set)

    def as_dict(self) -> dict:
        return {
            "accepted": self.accepted,
            "already_ingested": self.already_ingested,
            "rejected": len(self.rejected),
            "rejections": [r.__dict__ for r in self.rejected],
            "traces": self.traces,
            "new_samples": self.new_samples,
            "bytes_read": self.bytes_read,
            "day_files_written": self.day_files_written,
            "overlaps": self.overlaps,
            "channels": sorted(self.channels),
        }


def expand_inputs(paths: Iterable[str | Path], ignore: Iterable[str]) -> list[Path]:
    """Files named directly are kept; folders are walked (sorted), skipping ``ignore`` patterns."""
    out: list[Path] = []
    ignore = tuple(ignore)
    for p in map(Path, paths):
        if p.is_dir():
            files = sorted(x for x in p.rglob("*") if x.is_file())
            consumed = _wfdisc_data_files(f for f in files if f.suffix.lower() == ".wfdisc")
            for f in files:
                if any(fnmatch.fnmatch(f.name, pat) for pat in ignore) or f.resolve() in consumed:
                    continue
                if any(part.startswith(".") for part in f.relative_to(p).parts):
                    continue
                out.append(f)
        else:
            out.append(p)
    return out


def _wfdisc_data_files(wfdiscs: Iterable[Path]) -> set[Path]:
    """Data files referenced by CSS3.0 wfdisc files (read through the wfdisc, not alone)."""
    used: set[Path] = set()
    for wf in wfdiscs:
        try:
            lines = wf.read_text(errors="replace").splitlines()
        except OSError:
            continue
        for line in lines:
            toks = line.split()
            for i, tok in enumerate(toks[:-1]):
                cand = (wf.parent / tok / toks[i + 1]).resolve()
                if cand.is_file():
                    used.add(cand)
                    for ext in (".gz",):
                        used.add(cand.with_name(cand.name + ext))
    return used


class Ingestor:
    """Ingest into the archive and store of one :class:`~pipeline.settings.Settings`."""

    def __init__(self, settings: Settings, echo: Callable[[str], None] | None = None):
        self.settings = settings
        self.cfg = settings.ingest
        self.archive = SDSArchive(settings.archive_dir, self.cfg.sds_type, self.cfg.record_length,
                                  self.cfg.integer_encoding)
        self.echo = echo or (lambda msg: print(msg, file=sys.stderr))
        ensure_schema(settings.database_url)
        with session_scope(settings.database_url) as s:
            self.index = ChannelIndex(s)

    # ------------------------------------------------------------------ validation
    def _prepare(self, st: Stream, source: str) -> Stream:
        """Fill missing network codes, strip codes, check metadata; raises IngestRejected."""
        for tr in st:
            s = tr.stats
            s.network, s.station = s.network.strip(), s.station.strip()
            s.location, s.channel = s.location.strip(), s.channel.strip()
            if s.location == "--":
                s.location = ""
            s.station = self.cfg.station_aliases.get(s.station, s.station)
            for name, code, limit in (("network", s.network, 2), ("station", s.station, 5),
                                      ("location", s.location, 2), ("channel", s.channel, 3)):
                if len(code) > limit:
                    raise IngestRejected(
                        "bad_code",
                        f"{source}: {tr.id}: {name} code {code!r} is longer than {limit} characters and "
                        "cannot be stored in miniSEED 2 / SDS without truncation; map it with "
                        "ingest.station_aliases")
            if not s.station or not s.channel:
                raise IngestRejected("corrupt", f"{source}: trace without station or channel code ({tr.id!r})")
            if s.sampling_rate <= 0:
                raise IngestRejected("corrupt", f"{source}: {tr.id}: sampling rate {s.sampling_rate} Hz")
            if not s.network:
                net = self.index.network_for(s.station) or self.settings.stations.default_network
                if not net:
                    raise IngestRejected(
                        "no_network",
                        f"{source}: {s.station}.{s.channel} has no network code and station {s.station} "
                        "is not (uniquely) in the station metadata; load its metadata or set "
                        "stations.default_network")
                s.network = net
            if self.cfg.require_metadata:
                t = float(s.starttime.timestamp)
                ep = self.index.lookup(s.network, s.station, s.location, s.channel, t)
                if ep is None:
                    known = (s.network, s.station) in self.index.stations
                    why = ("channel not in the station metadata (station known, channel not)"
                           if known else "channel not in the station metadata (unknown station)")
                    raise IngestRejected(
                        "unknown_channel",
                        f"{source}: {tr.id} at {s.starttime}: {why}; load it with `idc stations load`")
                if ep.samprate and abs(ep.samprate - s.sampling_rate) > self.cfg.samplerate_tolerance * ep.samprate:
                    raise IngestRejected(
                        "samplerate_change",
                        f"{source}: {tr.id}: sampling rate {s.sampling_rate:g} Hz but the station "
                        f"metadata says {ep.samprate:g} Hz")
        return st

    def _plan(self, st: Stream, source: str, batch: "_Batch") -> list[DayPlan]:
        pieces: dict[DayKey, list] = defaultdict(list)
        for tr in st:
            if tr.stats.npts == 0:
                continue
            for tr_part in (tr.split() if hasattr(tr.data, "mask") else [tr]):
                for key, piece in split_by_day(tr_part):
                    pieces[key].append(piece)
        plans = []
        for key in sorted(pieces, key=lambda k: (k.nslc, k.year, k.doy)):
            if key not in batch.days:
                batch.days[key] = self.archive.read_day(key)
            plans.append(merge_day(key, batch.days[key], pieces[key], self.cfg.on_conflict,
                                   self.cfg.samplerate_tolerance, source))
        return plans

    # ------------------------------------------------------------------ bookkeeping
    def _flush(self, batch: "_Batch", report: IngestReport) -> None:
        """Write every changed day file once, then record availability and accepted inputs."""
        for plan in batch.dirty.values():
            self.archive.write_day(plan)
        with session_scope(self.settings.database_url) as s:
            for plan in batch.dirty.values():
                k = plan.key
                rel = k.relpath(self.cfg.sds_type)
                s.execute(delete(WfAvail).where(WfAvail.path == rel, WfAvail.kind.in_(("segment", "gap"))))
                prev = None
                for seg in plan.segments:
                    if prev is not None:
                        s.add(WfAvail(net=k.net, sta=k.sta, loc=k.loc, chan=k.chan, kind="gap",
                                      starttime=float(prev.end.timestamp), endtime=float(seg.start.timestamp),
                                      samprate=seg.samprate, nsamp=0, path=rel))
                    s.add(WfAvail(net=k.net, sta=k.sta, loc=k.loc, chan=k.chan, kind="segment",
                                  starttime=float(seg.start.timestamp), endtime=float(seg.end.timestamp),
                                  samprate=seg.samprate, nsamp=seg.npts, path=rel))
                    prev = seg
            for k, ov, fs, source in batch.overlaps:
                s.add(WfAvail(net=k.net, sta=k.sta, loc=k.loc, chan=k.chan, kind="overlap",
                              starttime=float(ov.start.timestamp), endtime=float(ov.end.timestamp),
                              samprate=fs, nsamp=ov.nsamp, path=k.relpath(self.cfg.sds_type),
                              detail=f"{ov.detail} from {source}"))
            for row in batch.files:
                s.merge(IngestedFile(**row))
            if batch.files:  # a previously rejected copy of an input is now resolved
                shas = [row["sha256"] for row in batch.files]
                for err in s.scalars(select(IngestError).where(IngestError.sha256.in_(shas))):
                    err.resolved = True
        report.day_files_written += len(batch.dirty)
        batch.reset()

    def _quarantine(self, source: str, kind: str, message: str, sha: str,
                    payload: Path | bytes | None) -> Rejection:
        qdir = self.settings.quarantine_dir / datetime.now(timezone.utc).strftime("%Y%m%d")
        qpath = ""
        if payload is not None:
            qdir.mkdir(parents=True, exist_ok=True)
            name = Path(source).name if isinstance(payload, Path) else "stream.mseed"
            target = qdir / f"{sha[:12]}_{name}"
            if not target.exists():
                if isinstance(payload, Path):
                    shutil.copy2(payload, target)
                else:
                    target.write_bytes(payload)
            qpath = str(target)
        with session_scope(self.settings.database_url) as s:
            row = s.scalar(select(IngestError).where(IngestError.sha256 == sha, IngestError.kind == kind,
                                                     IngestError.resolved.is_(False)))
            if row is None:
                s.add(IngestError(source=source, kind=kind, message=message, quarantine_path=qpath,
                                  sha256=sha))
            else:  # same input rejected again: one row, refreshed
                row.message, row.source, row.created = message, source, datetime.now(timezone.utc)
        self.echo(f"REJECTED {source}: {kind}: {message}")
        return Rejection(source, kind, message, qpath)

    # ------------------------------------------------------------------ entry points
    def ingest_stream(self, st: Stream, source: str, fmt: str, sha: str, size: int,
                      report: IngestReport, payload: Path | bytes | None, batch: "_Batch") -> None:
        """Validate and merge one input into ``batch`` (written by :meth:`_flush`)."""
        try:
            st = self._prepare(st, source)
            plans = self._plan(st, source, batch)
        except IngestRejected as exc:
            report.rejected.append(self._quarantine(source, exc.kind, exc.message, sha, payload))
            return
        for plan in plans:  # the input is accepted as a whole: commit its plans to the batch
            batch.days[plan.key] = plan.stream
            if plan.changed:
                batch.dirty[plan.key] = plan
            fs = plan.segments[0].samprate if plan.segments else 0.0
            batch.overlaps += [(plan.key, ov, fs, source) for ov in plan.overlaps]
        batch.files.append(dict(sha256=sha, source=source, format=fmt, size_bytes=size, ntraces=len(st),
                                nsamples=sum(t.stats.npts for t in st)))
        batch.samples += sum(t.stats.npts for t in st)
        report.accepted += 1
        report.traces += len(st)
        report.bytes_read += size
        report.new_samples += sum(p.new_samples for p in plans)
        report.overlaps += sum(len(p.overlaps) for p in plans)
        report.channels.update(t.id for t in st)
        if batch.samples >= self.BATCH_SAMPLES or len(batch.days) >= self.BATCH_DAYS:
            self._flush(batch, report)

    #: a batch is written out when it holds this many new samples or day files
    BATCH_SAMPLES = 50_000_000
    BATCH_DAYS = 2000

    def ingest_files(self, paths: Iterable[str | Path], progress: bool | None = None,
                     force: bool = False) -> IngestReport:
        """Ingest files and folders. ``force`` re-processes inputs already ingested.

        Day files touched by several inputs of the batch (e.g. hourly files) are merged in memory
        and written once; inputs are recorded as ingested only after their data is on disk.
        """
        from tqdm import tqdm

        files = expand_inputs(paths, self.cfg.ignore_patterns)
        report = IngestReport()
        show = sys.stderr.isatty() if progress is None else progress
        bar = tqdm(files, desc="ingest", unit="file", disable=not show or len(files) < 2,
                   file=sys.stderr, dynamic_ncols=True)
        old_echo = self.echo
        self.echo = lambda m: bar.write(m, file=sys.stderr) if show else old_echo(m)
        batch = _Batch()
        seen: set[str] = set()
        try:
            with self.archive.lock():
                for path in bar:
                    source = str(path)
                    if not path.exists():
                        report.rejected.append(self._quarantine(source, "read_error",
                                                                f"{source}: no such file", "-" * 64, None))
                        continue
                    sha = sha256_file(path)
                    if not force:
                        if sha in seen:
                            report.already_ingested += 1
                            continue
                        with session_scope(self.settings.database_url) as s:
                            if s.get(IngestedFile, sha) is not None:
                                report.already_ingested += 1
                                continue
                    seen.add(sha)
                    try:
                        st, fmt = read_waveforms(path)
                    except IngestRejected as exc:
                        report.rejected.append(self._quarantine(source, exc.kind, exc.message, sha, path))
                        continue
                    self.ingest_stream(st, source, fmt, sha, path.stat().st_size, report, path, batch)
                self._flush(batch, report)
        finally:
            bar.close()
            self.echo = old_echo
        return report

    def ingest_memory(self, st: Stream, source: str, fmt: str = "MSEED") -> IngestReport:
        """Ingest an in-memory stream (SeedLink/FDSN answer).

        Each channel is its own input (accepted, or quarantined as miniSEED, on its own), so one
        channel without metadata does not hold back the others of the same request.
        """
        report = IngestReport()
        batch = _Batch()
        groups: dict[str, Stream] = defaultdict(Stream)
        for tr in st.copy().split():
            groups[tr.id].append(tr)
        with self.archive.lock():
            for tid in sorted(groups):
                part = groups[tid]
                buf = io.BytesIO()
                part.write(buf, format="MSEED")
                raw = buf.getvalue()
                sha = hashlib.sha256(raw).hexdigest()
                with session_scope(self.settings.database_url) as s:
                    if s.get(IngestedFile, sha) is not None:
                        report.already_ingested += 1
                        continue
                self.ingest_stream(part, f"{source} [{tid}]", fmt, sha, len(raw), report, raw, batch)
            self._flush(batch, report)
        return report


@dataclass
class _Batch:
    """Merged day files and bookkeeping of accepted inputs not yet written."""

    days: dict = field(default_factory=dict)
    dirty: dict = field(default_factory=dict)
    overlaps: list = field(default_factory=list)
    files: list = field(default_factory=list)
    samples: int = 0

    def reset(self) -> None:
        self.days.clear()
        self.dirty.clear()
        self.overlaps.clear()
        self.files.clear()
        self.samples = 0
