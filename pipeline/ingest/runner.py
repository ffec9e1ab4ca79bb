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
import os
import shutil
import stat
import sys
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterable, Iterator

import numpy as np
from obspy import Stream

from pipeline.errors import IdcError
from pipeline.ingest.readers import IngestRejected, read_waveforms
from pipeline.ingest.sds import DayKey, SDSArchive, StagedBatch, merge_day, segments_of, split_by_day
from pipeline.io.mseed import RecordError, iter_record_groups, looks_like_mseed, scan_records
from pipeline.settings import Settings
from pipeline.store import ingest as ingest_store
from pipeline.store.db import ensure_schema, redact_url, session_scope, short_error
from pipeline.store.stations import ChannelIndex
from pipeline.util import fault_point, sha256_file


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
    #: files of ingested folders skipped by ``ingest.ignore_patterns`` (event/pick lists, notes, ...)
    skipped_side_files: int = 0
    #: inputs moved out of the drop folder (``done_dir``)
    moved: int = 0
    #: quarantined copies deleted because their input is now in the archive
    released: int = 0
    #: IMS2.0 PHD messages stored as radionuclide samples (pipeline.radionuclide.ingest)
    radionuclide: list[dict] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {
            "accepted": self.accepted,
            "skipped_side_files": self.skipped_side_files,
            "moved": self.moved,
            "released_from_quarantine": self.released,
            "already_ingested": self.already_ingested,
            "rejected": len(self.rejected),
            "rejections": [r.__dict__ for r in self.rejected],
            "traces": self.traces,
            "new_samples": self.new_samples,
            "bytes_read": self.bytes_read,
            "day_files_written": self.day_files_written,
            "overlaps": self.overlaps,
            "channels": sorted(self.channels),
            "radionuclide_samples": self.radionuclide,
        }


def expand_inputs(paths: Iterable[str | Path], ignore: Iterable[str], skipped: list[Path] | None = None) -> list[Path]:
    """Files named directly are kept; folders are walked (sorted), skipping ``ignore`` patterns
    (the skipped side files are appended to ``skipped`` when given)."""
    out: list[Path] = []
    ignore = tuple(ignore)
    for p in map(Path, paths):
        if p.is_dir():
            files = sorted(x for x in p.rglob("*") if x.is_file())
            consumed = _wfdisc_data_files(f for f in files if f.suffix.lower() == ".wfdisc")
            for f in files:
                if f.resolve() in consumed:
                    continue
                if any(fnmatch.fnmatch(f.name, pat) for pat in ignore):
                    if skipped is not None and not any(part.startswith(".") for part in f.relative_to(p).parts):
                        skipped.append(f)
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

    def _check_samples(self, st: Stream, source: str) -> Stream:
        """Integer samples must fit 32 bits (miniSEED 2); NaN/Inf float samples per ``non_finite``."""
        out = Stream()
        for tr in st:
            d = tr.data
            if tr.stats.npts == 0:
                continue
            if d.dtype.kind in "iu" and (d.max() > 2**31 - 1 or d.min() < -2**31):
                big = int(np.flatnonzero((d > 2**31 - 1) | (d < -2**31))[0])
                raise IngestRejected(
                    "corrupt", f"{source}: {tr.id}: integer sample {int(d[big])} at "
                    f"{tr.stats.starttime + big / tr.stats.sampling_rate} exceeds 32 bits (miniSEED 2 "
                    "and Steim cannot store it)")
            if d.dtype.kind == "f":
                bad = ~np.isfinite(np.ma.getdata(d))
                if bad.any():
                    first = tr.stats.starttime + int(np.flatnonzero(bad)[0]) / tr.stats.sampling_rate
                    what = f"{source}: {tr.id}: {int(bad.sum())} NaN/Inf samples from {first}"
                    if self.cfg.non_finite == "quarantine":
                        raise IngestRejected("bad_samples", what + " (ingest.non_finite = quarantine)")
                    self.echo(f"WARNING {what}: stored as gaps (ingest.non_finite = gap)")
                    tr = tr.copy()
                    tr.data = np.ma.masked_array(np.ma.getdata(d), mask=bad | np.ma.getmaskarray(d))
            out.append(tr)
        return out

    def _merge_pieces(self, pending: dict, keys: list, source: str, batch: StagedBatch, acc: "_InputPlans") -> None:
        """Merge the pending pieces of ``keys`` into the staged day files of this input."""
        for key in sorted(keys, key=lambda k: (k.nslc, k.year, k.doy)):
            plan = merge_day(key, batch.read_day(key), pending.pop(key), self.cfg.on_conflict,
                             self.cfg.samplerate_tolerance, source)
            if plan.changed:
                batch.put(key, plan.stream)
                acc.segments[key] = plan.segments
            fs = plan.segments[0].samprate if plan.segments else 0.0
            acc.overlaps += [(key, ov, fs) for ov in plan.overlaps]
            acc.new_samples += plan.new_samples

    def _ingest_pieces(self, pieces: Iterable[Stream], source: str, batch: StagedBatch) -> "_InputPlans":
        """Validate and merge one input, piece by piece (channel-days of miniSEED, or the whole
        stream of other formats). Pieces of a day stay pending until the input moves past it.
        :raises IngestRejected: the input is rejected as a whole."""
        acc = _InputPlans()
        pending: dict[DayKey, list] = defaultdict(list)
        for st in pieces:
            st = self._check_samples(self._prepare(st, source), source)
            current: set[tuple[str, float]] = set()
            for tr in st:
                acc.traces += 1
                acc.samples += tr.stats.npts
                acc.channels.add(tr.id)
                for part in (tr.split() if hasattr(tr.data, "mask") else [tr]):
                    for key, piece in split_by_day(part):
                        pending[key].append(piece)
                        current.add(key.nslc)
            # a later piece of the same channel may still reach its last day: keep that one open
            last = {}
            for key in pending:
                if key.nslc in current:
                    last[key.nslc] = max(last.get(key.nslc, (0, 0)), (key.year, key.doy))
            done = [k for k in pending if k.nslc not in last or (k.year, k.doy) < last[k.nslc]]
            self._merge_pieces(pending, done, source, batch, acc)
        self._merge_pieces(pending, list(pending), source, batch, acc)
        return acc

    def _read_pieces(self, path: Path, display: str) -> tuple[str, Iterator[Stream]]:
        """``(format, pieces)`` of one file; miniSEED is validated record by record and decoded
        one channel-day at a time. :raises IngestRejected:"""
        try:
            with open(path, "rb") as fh:
                head = fh.read(1024)
                size = os.fstat(fh.fileno()).st_size
                if not looks_like_mseed(head):
                    raise _NotMseed
                records = scan_records(fh, size)
        except _NotMseed:
            st, fmt = read_waveforms(path, display)
            return fmt, iter([st])
        except RecordError as exc:
            raise IngestRejected("corrupt", f"{display}: corrupt data: {exc}") from None
        except OSError as exc:
            raise IngestRejected("read_error", f"{display}: cannot read file: {exc.strerror or exc}") from None

        def pieces() -> Iterator[Stream]:
            try:
                for _, _, st in iter_record_groups(path, records):
                    for tr in st:
                        if tr.stats.npts and not np.issubdtype(tr.data.dtype, np.number):
                            raise IngestRejected("corrupt", f"{display}: {tr.id}: non-numeric samples")
                    yield st
            except RecordError as exc:
                raise IngestRejected("corrupt", f"{display}: corrupt data: {exc}") from None
        return "MSEED", pieces()

    # ------------------------------------------------------------------ bookkeeping
    def _recover(self) -> None:
        """Finish or discard what an interrupted ingest left in the staging folder."""
        with session_scope(self.settings.database_url) as s:
            left = ingest_store.journal_batches(s)
        if not left and not self.archive.staging_dir.exists():
            return
        done, dropped = self.archive.recover(left)
        with session_scope(self.settings.database_url) as s:
            for b in left:
                ingest_store.finish_batch(s, b)
        if done:
            self.echo(f"recovered {len(done)} interrupted ingest batch(es): committed day files moved into the archive")
        if dropped:
            self.echo(f"discarded {len(dropped)} uncommitted staging folder(s) of an interrupted ingest "
                      "(their inputs are ingested again)")

    def _flush(self, batch: StagedBatch, work: "_Batch", report: IngestReport) -> StagedBatch:
        """Stage every changed day file, commit the rows with a journal row, move the files into
        the archive, clear the journal. A crash anywhere leaves a state :meth:`_recover` completes."""
        if not work.files and not batch.keys:
            return batch
        try:
            nfiles = batch.stage_all()
        except OSError as exc:
            batch.discard()
            raise IngestAborted(f"cannot write to the archive {self.archive.root}: {exc.strerror or exc} "
                                f"({len(work.files)} accepted inputs not committed; free space and re-run)") from None
        fault_point("ingest.staged")
        rel = lambda k: k.relpath(self.cfg.sds_type)  # noqa: E731
        days = [ingest_store.DayRows(k.net, k.sta, k.loc, k.chan, rel(k),
                                     tuple((float(g.start.timestamp), float(g.end.timestamp), g.samprate, g.npts)
                                           for g in segs))
                for k, segs in work.segments.items()]
        overlaps = [ingest_store.OverlapRow(k.net, k.sta, k.loc, k.chan, rel(k), float(ov.start.timestamp),
                                            float(ov.end.timestamp), fs, ov.nsamp, f"{ov.detail} from {src}")
                    for k, ov, fs, src in work.overlaps]
        try:
            with session_scope(self.settings.database_url) as s:
                released = ingest_store.commit_batch(s, batch.id, days, overlaps, work.files, nfiles)
        except Exception as exc:  # whatever stops the commit: the batch is discarded and the store named
            batch.discard()
            raise IngestAborted(f"store {redact_url(self.settings.database_url)} failed while committing an "
                                f"ingest batch ({short_error(exc)}); nothing of the batch "
                                "was committed, re-run the same ingest") from None
        fault_point("ingest.committed")
        if nfiles:
            self.archive.publish(batch)
            fault_point("ingest.published")
            with session_scope(self.settings.database_url) as s:
                ingest_store.finish_batch(s, batch.id)
        report.day_files_written += nfiles
        qroot = self.settings.quarantine_dir.resolve()
        for q in released:  # the input is in the archive now: its quarantined copy goes
            qp = Path(q)
            if qp.is_file() and qp.resolve().is_relative_to(qroot):
                qp.unlink()
                report.released += 1
        work.reset()
        batch.discard()
        return StagedBatch(self.archive, self.cfg.memory_samples)

    def _quarantine(self, source: str, kind: str, message: str, sha: str,
                    payload: Path | bytes | None) -> Rejection:
        qdir = self.settings.quarantine_dir / datetime.now(timezone.utc).strftime("%Y%m%d")
        qpath = ""
        if payload is not None:
            qdir.mkdir(parents=True, exist_ok=True)
            name = _safe_name(Path(source).name) if isinstance(payload, Path) else "stream.mseed"
            target = qdir / f"{sha[:12]}_{name}"
            if not target.exists():
                tmp = qdir / f".{target.name}.{os.getpid()}.tmp"
                try:
                    if isinstance(payload, Path):
                        shutil.copyfile(payload, tmp)
                    else:
                        tmp.write_bytes(payload)
                    os.replace(tmp, target)
                except OSError as exc:
                    message += f" (no quarantined copy: {exc.strerror or exc})"
                    target = None
                finally:
                    if tmp.exists():
                        tmp.unlink()
            qpath = str(target) if target else ""
        fault_point("ingest.quarantine")
        with session_scope(self.settings.database_url) as s:
            ingest_store.record_rejection(s, source, kind, message, qpath, sha)
        self.echo(f"REJECTED {source}: {kind}: {message}")
        return Rejection(source, kind, message, qpath)

    # ------------------------------------------------------------------ entry points
    def _accept_or_reject(self, pieces: Iterable[Stream] | Callable[[], Iterable[Stream]], source: str, fmt: str,
                          sha: str, size: int, report: IngestReport, payload: Path | bytes | None,
                          batch: StagedBatch, work: "_Batch") -> None:
        """One input inside one error boundary: accepted as a whole into ``batch``, or rejected
        (quarantined) leaving no trace in it."""
        try:
            acc = self._ingest_pieces(pieces() if callable(pieces) else pieces, source, batch)
        except IngestRejected as exc:
            batch.discard_input()
            report.rejected.append(self._quarantine(source, exc.kind, exc.message, sha, payload))
            return
        except OSError as exc:
            batch.discard()
            raise IngestAborted(f"{source}: cannot write to the archive staging folder "
                                f"{self.archive.staging_dir}: {exc.strerror or exc}; nothing of this "
                                "batch was committed, free space and re-run") from None
        batch.accept_input()
        work.segments.update(acc.segments)
        work.overlaps += [(k, ov, fs, source) for k, ov, fs in acc.overlaps]
        work.files.append(dict(sha256=sha, source=source, format=fmt, size_bytes=size, ntraces=acc.traces,
                               nsamples=acc.samples))
        work.samples += acc.samples
        report.accepted += 1
        report.traces += acc.traces
        report.bytes_read += size
        report.new_samples += acc.new_samples
        report.overlaps += len(acc.overlaps)
        report.channels.update(acc.channels)

    def ingest_stream(self, st: Stream, source: str, fmt: str, sha: str, size: int,
                      report: IngestReport, payload: Path | bytes | None, batch: StagedBatch,
                      work: "_Batch") -> None:
        """Validate and merge one in-memory input into ``batch`` (committed by :meth:`_flush`)."""
        self._accept_or_reject([st], source, fmt, sha, size, report, payload, batch, work)

    def _due(self, work: "_Batch") -> bool:
        return work.samples >= self.BATCH_SAMPLES or len(work.segments) >= self.BATCH_DAYS

    #: a batch is committed when it holds this many new samples or changed day files
    BATCH_SAMPLES = 50_000_000
    BATCH_DAYS = 2000

    def ingest_files(self, paths: Iterable[str | Path], progress: bool | None = None,
                     force: bool = False, done_dir: Path | None = None) -> IngestReport:
        """Ingest files and folders. ``force`` re-processes inputs already ingested.

        ``done_dir`` (the ingest DAG's drop folder): once the batch is committed, inputs that are
        in the archive (accepted now or before) or quarantined (a copy kept) are moved out of the
        folder to ``done_dir/YYYYMMDD/<path relative to the folder>``, so the drop folder holds only
        what is still to do (and unreadable files, which are reported each run).

        Every input is read, hashed and validated inside its own error boundary: a bad input is
        reported on one line naming it, quarantined (or recorded when it cannot be read) and the
        batch goes on. Day files touched by several inputs of the batch (e.g. hourly files) are
        merged and written once; the batch's rows and its files reach the store and the archive
        together (see :meth:`_flush`).
        """
        from tqdm import tqdm

        side: list[Path] = []
        files = expand_inputs(paths, self.cfg.ignore_patterns, side)
        report = IngestReport(skipped_side_files=len(side))
        show = sys.stderr.isatty() if progress is None else progress
        bar = tqdm(files, desc="ingest", unit="file", disable=not show or len(files) < 2,
                   file=sys.stderr, dynamic_ncols=True)
        old_echo = self.echo
        self.echo = lambda m: bar.write(m, file=sys.stderr) if show else old_echo(m)
        seen: set[str] = set()
        try:
            with self.archive.lock():
                self._recover()
                batch, work = StagedBatch(self.archive, self.cfg.memory_samples), _Batch()
                done: list[Path] = []
                try:
                    for path in bar:
                        before = (report.accepted, report.already_ingested, len(report.rejected))
                        self._one_file(path, force, seen, report, batch, work)
                        if (report.accepted, report.already_ingested) != before[:2] or (
                                len(report.rejected) > before[2] and report.rejected[-1].quarantine_path):
                            done.append(path)
                        if self._due(work):
                            batch = self._flush(batch, work, report)
                    batch = self._flush(batch, work, report)
                finally:
                    batch.discard()
                if done_dir is not None:  # after the commit: a crash before leaves them for the next run
                    report.moved = _move_done(done, [Path(p) for p in paths], Path(done_dir))
        finally:
            bar.close()
            self.echo = old_echo
        return report

    def _one_file(self, path: Path, force: bool, seen: set, report: IngestReport, batch: StagedBatch,
                  work: "_Batch") -> None:
        source = display_path(path)
        try:
            info = os.stat(path)
        except OSError as exc:
            why = "no such file" if isinstance(exc, FileNotFoundError) else f"cannot read file: {exc.strerror}"
            report.rejected.append(self._quarantine(source, "read_error", f"{source}: {why}",
                                                    _sha_of_name(source), None))
            return
        if not stat.S_ISREG(info.st_mode):
            kind = ("a FIFO" if stat.S_ISFIFO(info.st_mode) else "a device" if stat.S_ISCHR(info.st_mode)
                    or stat.S_ISBLK(info.st_mode) else "a socket" if stat.S_ISSOCK(info.st_mode) else "a folder"
                    if stat.S_ISDIR(info.st_mode) else "not a regular file")
            report.rejected.append(self._quarantine(source, "read_error", f"{source}: {kind}, not a regular file "
                                                    "(skipped)", _sha_of_name(source), None))
            return
        try:
            sha = sha256_file(path)
        except OSError as exc:
            report.rejected.append(self._quarantine(source, "read_error",
                                                    f"{source}: cannot read file: {exc.strerror or exc}",
                                                    _sha_of_name(source), None))
            return
        if not force:
            if sha in seen:
                report.already_ingested += 1
                return
            with session_scope(self.settings.database_url) as s:
                if ingest_store.is_ingested(s, sha):
                    report.already_ingested += 1
                    return
        seen.add(sha)
        from pipeline.radionuclide.ingest import is_phd_message

        if is_phd_message(path):  # BEGIN IMS2.0 ... DATA_TYPE SAMPLEPHD|...: a radionuclide sample
            self._ingest_phd(path, source, sha, info.st_size, report)
            return
        try:
            fmt, pieces = self._read_pieces(path, source)
        except IngestRejected as exc:
            report.rejected.append(self._quarantine(source, exc.kind, exc.message, sha, path))
            return
        self._accept_or_reject(pieces, source, fmt, sha, info.st_size, report, path, batch, work)

    def _ingest_phd(self, path: Path, source: str, sha: str, size: int, report: IngestReport) -> None:
        """An IMS2.0 PHD message: kept, analysed and stored as a radionuclide sample
        (:func:`pipeline.radionuclide.ingest.ingest_phd`; the same sample again replaces its rows),
        or quarantined with one line naming the input, the block and the line."""
        from pipeline.radionuclide.ingest import ingest_phd, store_root
        from pipeline.radionuclide.phd import PHDError

        try:
            done = ingest_phd(self.settings, path, source, sha, size, echo=self.echo)
        except PHDError as exc:
            report.rejected.append(self._quarantine(source, "corrupt", str(exc), sha, path))
            return
        except OSError as exc:
            raise IngestAborted(f"{source}: cannot keep the PHD message in {store_root(self.settings)}: "
                                f"{exc.strerror or exc}; re-run the same ingest") from None
        qroot = self.settings.quarantine_dir.resolve()
        for q in done.released:  # an earlier rejected copy of this input is resolved now
            qp = Path(q)
            if qp.is_file() and qp.resolve().is_relative_to(qroot):
                qp.unlink()
                report.released += 1
        report.accepted += 1
        report.bytes_read += size
        report.radionuclide.append(done.as_dict())

    def check_archive(self, repair: bool = False) -> ArchiveCheck:
        """Compare the SDS archive with the store's availability rows.

        Problems: interrupted ingest batches (staging folder / journal rows), temporary files,
        day files whose content disagrees with their segment rows (or has none), rows whose day
        file is missing, unreadable day files. ``repair`` finishes interrupted batches, removes
        temporary files and rewrites the rows from the files (the files hold the data); rows of
        missing files are deleted — their data is gone and the inputs must be ingested again
        with ``idc ingest --force``, which the problem line says.
        """
        from obspy import read

        out = ArchiveCheck()
        root = self.archive.root
        with self.archive.lock():
            with session_scope(self.settings.database_url) as s:
                journal = ingest_store.journal_batches(s)
            staged = sorted(self.archive.staging_dir.iterdir()) if self.archive.staging_dir.exists() else []
            if journal or staged:
                out.problems.append(f"interrupted ingest: {len(journal)} committed batch(es) not fully moved into "
                                    f"the archive, {len(staged)} staging folder(s) in {self.archive.staging_dir}")
                if repair:
                    self._recover()
                    out.repaired.append("interrupted ingest batches completed or discarded")
            with session_scope(self.settings.database_url) as s:
                rows = ingest_store.segment_rows_by_path(s)
            seen: set[str] = set()
            for p in sorted(root.rglob("*")) if root.exists() else []:
                rel = p.relative_to(root)
                if rel.parts[0] == ".staging" or p.name == ".lock" or not p.is_file():
                    continue
                if p.name.endswith(".tmp") or p.name.startswith("."):
                    out.problems.append(f"{rel}: temporary file left by an interrupted write")
                    if repair:
                        p.unlink()
                        out.repaired.append(f"{rel}: removed")
                    continue
                out.files += 1
                key = _day_key(p.name)
                if key is None:
                    out.problems.append(f"{rel}: not an SDS day file name (NET.STA.LOC.CHAN.TYPE.YEAR.DOY); left alone")
                    continue
                seen.add(str(rel))
                try:
                    segs = segments_of(read(str(p), format="MSEED", headonly=True))
                except Exception as exc:  # obspy raises many types on a damaged file: reported by name
                    out.problems.append(f"{rel}: unreadable day file ({short_error(exc)}); "
                                        "move it away and re-ingest its inputs with `idc ingest --force`")
                    continue
                have = [(float(g.start.timestamp), float(g.end.timestamp), g.samprate, g.npts) for g in segs]
                want = rows.get(str(rel), [])
                if _rounded(have) != _rounded(want):
                    out.problems.append(f"{rel}: {len(want)} segment rows in the store, {len(have)} segments "
                                        f"({sum(g[3] for g in have)} samples) in the file")
                    if repair:
                        with session_scope(self.settings.database_url) as s:
                            ingest_store.replace_day_rows(s, ingest_store.DayRows(*key, str(rel), tuple(have)))
                        out.repaired.append(f"{rel}: rows rewritten from the file")
            for rel in sorted(set(rows) - seen):
                out.problems.append(f"{rel}: {len(rows[rel])} segment rows but no day file (data missing; "
                                    "re-ingest its inputs with `idc ingest --force`)")
                if repair:
                    with session_scope(self.settings.database_url) as s:
                        ingest_store.delete_day_rows(s, rel)
                    out.repaired.append(f"{rel}: rows of the missing file deleted")
        return out

    def ingest_memory(self, st: Stream, source: str, fmt: str = "MSEED") -> IngestReport:
        """Ingest an in-memory stream (SeedLink/FDSN answer).

        Each channel is its own input (accepted, or quarantined as miniSEED, on its own), so one
        channel without metadata does not hold back the others of the same request.
        """
        report = IngestReport()
        groups: dict[str, Stream] = defaultdict(Stream)
        for tr in st.copy().split():
            groups[tr.id].append(tr)
        with self.archive.lock():
            self._recover()
            batch, work = StagedBatch(self.archive, self.cfg.memory_samples), _Batch()
            try:
                for tid in sorted(groups):
                    part = groups[tid]
                    buf = io.BytesIO()
                    part.write(buf, format="MSEED")
                    raw = buf.getvalue()
                    sha = hashlib.sha256(raw).hexdigest()
                    with session_scope(self.settings.database_url) as s:
                        if ingest_store.is_ingested(s, sha):
                            report.already_ingested += 1
                            continue
                    self.ingest_stream(part, f"{source} [{tid}]", fmt, sha, len(raw), report, raw, batch, work)
                batch = self._flush(batch, work, report)
            finally:
                batch.discard()
        return report


@dataclass
class ArchiveCheck:
    """Result of :meth:`Ingestor.check_archive`: one line per problem, and what was repaired."""

    files: int = 0
    problems: list[str] = field(default_factory=list)
    repaired: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"files": self.files, "problems": self.problems, "repaired": self.repaired}


def _move_done(files: list[Path], roots: list[Path], done_dir: Path) -> int:
    """Move finished inputs out of their drop folder into ``done_dir/YYYYMMDD/<relative path>``."""
    day = done_dir / datetime.now(timezone.utc).strftime("%Y%m%d")
    n = 0
    for f in files:
        root = next((r for r in roots if r.is_dir() and f.is_relative_to(r)), None)
        target = day / (f.relative_to(root) if root is not None else Path(f.name))
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            if target.exists():  # the same name delivered again (same content: already ingested)
                target = target.with_name(f"{target.name}.{uuid.uuid4().hex[:8]}")
            shutil.move(str(f), str(target))
            n += 1
        except OSError:
            continue  # stays in the drop folder; known by its hash, moved by a later run
    return n


class IngestAborted(IdcError, RuntimeError):
    """The batch cannot go on (archive not writable, store unreachable); nothing half-done is
    left: the next run of the same ingest completes it. The message is one line."""


class _NotMseed(Exception):
    pass


def display_path(path: Path) -> str:
    """A file name as text that can be printed and stored even when it is not valid UTF-8."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def _safe_name(name: str) -> str:
    return "".join(c if c.isalnum() or c in "._-+" else "_" for c in name)[:120] or "input"


def _sha_of_name(source: str) -> str:
    """Stand-in key for an input that cannot be read (one ingest_error row per name and kind)."""
    return "name:" + hashlib.sha256(source.encode()).hexdigest()[:59]


def _day_key(name: str) -> tuple[str, str, str, str] | None:
    parts = name.split(".")
    if len(parts) != 7 or not (parts[5].isdigit() and parts[6].isdigit()):
        return None
    return parts[0], parts[1], parts[2], parts[3]


def _rounded(segs) -> list:
    return [(round(a, 4), round(b, 4), round(fs, 6), int(n)) for a, b, fs, n in sorted(segs)]


@dataclass
class _InputPlans:
    """What one input changes, collected while its pieces are merged."""

    segments: dict = field(default_factory=dict)
    overlaps: list = field(default_factory=list)
    new_samples: int = 0
    traces: int = 0
    samples: int = 0
    channels: set = field(default_factory=set)


@dataclass
class _Batch:
    """Bookkeeping of the accepted inputs of a batch not yet committed."""

    segments: dict = field(default_factory=dict)
    overlaps: list = field(default_factory=list)
    files: list = field(default_factory=list)
    samples: int = 0

    def reset(self) -> None:
        self.segments.clear()
        self.overlaps.clear()
        self.files.clear()
        self.samples = 0
