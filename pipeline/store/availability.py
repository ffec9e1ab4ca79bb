"""Per-channel waveform coverage from the ``wfavail`` rows."""
from __future__ import annotations

import fnmatch
import math
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Sequence

from sqlalchemy import and_, literal_column, or_, select, union_all
from sqlalchemy.orm import Session

from pipeline.store.models import WfAvail
from pipeline.store.selection import Selection, batches, code_condition, merge_windows


@dataclass
class ChannelCoverage:
    nslc: str
    samprate: float
    first: float
    last: float
    samples: int
    segments: int
    gaps: list[tuple[float, float]] = field(default_factory=list)
    overlaps: int = 0
    conflicts: int = 0
    window: tuple[float, float] | None = None

    @property
    def span_s(self) -> float:
        a, b = self.window if self.window else (self.first, self.last + 1.0 / self.samprate)
        return max(b - a, 0.0)

    @property
    def covered_s(self) -> float:
        return self.samples / self.samprate if self.samprate else 0.0

    @property
    def coverage(self) -> float:
        """Fraction of the span (or requested window) that has data, 0–1."""
        return min(self.covered_s / self.span_s, 1.0) if self.span_s > 0 else 0.0

    @property
    def gap_s(self) -> float:
        return sum(b - a for a, b in self.gaps)

    def as_dict(self) -> dict:
        return {"nslc": self.nslc, "samprate": self.samprate, "first": self.first, "last": self.last,
                "segments": self.segments, "samples": self.samples, "coverage": round(self.coverage, 6),
                "gaps": len(self.gaps), "gap_s": round(self.gap_s, 6), "overlaps": self.overlaps,
                "conflicts": self.conflicts}


def channel_coverage(session: Session, start: float | None = None, end: float | None = None,
                     pattern: str = "*") -> list[ChannelCoverage]:
    """Coverage of every channel matching ``pattern`` (fnmatch on NET.STA.LOC.CHA).

    With ``start``/``end`` the segments are clipped to the window and coverage is relative to it;
    leading/trailing missing data inside the window count as gaps.
    """
    q = select(WfAvail).order_by(WfAvail.net, WfAvail.sta, WfAvail.loc, WfAvail.chan, WfAvail.starttime)
    if start is not None:
        q = q.where(WfAvail.endtime >= start)
    if end is not None:
        q = q.where(WfAvail.starttime < end)
    groups: dict[str, list[WfAvail]] = defaultdict(list)
    for row in session.scalars(q):
        nslc = f"{row.net}.{row.sta}.{row.loc}.{row.chan}"
        if fnmatch.fnmatch(nslc, pattern):
            groups[nslc].append(row)
    out = []
    for nslc, rows in groups.items():
        segs = [r for r in rows if r.kind == "segment"]
        ovs = [r for r in rows if r.kind == "overlap"]
        if not segs:
            continue
        fs = segs[0].samprate
        dt = 1.0 / fs
        gaps: list[tuple[float, float]] = []
        samples = 0
        prev_end = None
        for r in sorted(segs, key=lambda r: r.starttime):
            a, b, n = r.starttime, r.endtime, r.nsamp
            if start is not None and a < start:  # samples before the window
                skip = int(math.ceil((start - a) * fs - 1e-3))
                n -= skip
                a = a + skip * dt
            if end is not None and b > end - 1e-3 * dt:  # samples at or after the (open) window end
                cut = int(math.floor((b - end) * fs + 1e-3)) + 1
                n -= cut
                b = b - cut * dt
            if n <= 0:
                continue
            if prev_end is not None and a - prev_end > 1.5 * dt:
                gaps.append((prev_end + dt, a))
            elif prev_end is None and start is not None and a - start > 0.5 * dt:
                gaps.append((start, a))
            samples += n
            prev_end = b if prev_end is None else max(prev_end, b)
        if prev_end is None:
            continue
        if end is not None and end - (prev_end + dt) > 0.5 * dt:
            gaps.append((prev_end + dt, end))
        out.append(ChannelCoverage(
            nslc=nslc, samprate=fs, first=max(segs[0].starttime, start) if start is not None else segs[0].starttime,
            last=prev_end, samples=samples, segments=len(segs), gaps=gaps,
            overlaps=len(ovs), conflicts=sum(1 for o in ovs if o.detail.startswith("conflict")),
            window=(start, end) if start is not None and end is not None else None))
    return out


def segments_matching(session: Session, selections: Sequence[Selection]) -> list:
    """Every archived segment (``wfavail`` rows of kind ``segment``) that one of ``selections``
    names and whose span overlaps that selection's window, as rows ``(sel, id, net, sta, loc,
    chan, starttime, endtime, samprate, nsamp)`` (``sel``: the index of the selection; a segment
    named by several selections comes once for each). One ``UNION ALL`` statement per batch of
    selections (:func:`pipeline.store.selection.batches`), sorted by channel and time."""
    W = WfAvail
    out = []
    indexed = list(enumerate(selections))
    for batch in batches(indexed, lambda it: 1 + it[1].n_codes):
        parts = []
        for i, sel in batch:
            conds = [W.kind == "segment"]
            if sel.starttime is not None:
                conds.append(W.endtime >= sel.starttime.timestamp)
            if sel.endtime is not None:
                conds.append(W.starttime <= sel.endtime.timestamp)
            for col, pats in ((W.net, sel.network), (W.sta, sel.station), (W.loc, sel.location),
                              (W.chan, sel.channel)):
                if (c := code_condition(col, pats)) is not None:
                    conds.append(c)
            parts.append(select(literal_column(str(int(i))).label("sel"), W.id, W.net, W.sta, W.loc, W.chan,
                                W.starttime, W.endtime, W.samprate, W.nsamp).where(*conds))
        stmt = parts[0] if len(parts) == 1 else union_all(*parts)
        out += session.execute(stmt).all()
    out.sort(key=lambda r: (r.net, r.sta, r.loc, r.chan, r.starttime, r.sel))
    return out


def has_segment(session: Session, net: str, sta: str, loc: str, chan: str, ondate: float,
                offdate: float | None, windows: Sequence[tuple[float | None, float | None]] = ()) -> bool:
    """Is there an archived segment of the channel within its epoch ``[ondate, offdate]`` (and,
    when ``windows`` are given, overlapping one of them; None = open end)? The windows are merged
    and asked in batches (:func:`pipeline.store.selection.batches`)."""
    W = WfAvail
    conds = [W.net == net, W.sta == sta, W.loc == loc, W.chan == chan, W.kind == "segment", W.endtime >= ondate]
    if offdate is not None:
        conds.append(W.starttime <= offdate)
    merged = merge_windows((-math.inf if a is None else a, math.inf if b is None else b) for a, b in windows)
    if not merged or merged[0] == (-math.inf, math.inf):
        return session.execute(select(W.id).where(*conds).limit(1)).first() is not None
    for batch in batches(merged):
        terms = [and_(*([W.endtime >= a] if a != -math.inf else []), *([W.starttime <= b] if b != math.inf else []))
                 for a, b in batch]
        if session.execute(select(W.id).where(*conds, or_(*terms)).limit(1)).first() is not None:
            return True
    return False


def segments_overlapping(session: Session, start: float, end: float) -> list:
    """The archived segments (``wfavail`` rows of kind ``segment``) with ``endtime >= start`` and
    ``starttime < end`` (epoch s), as rows ``(net, sta, loc, chan, starttime, endtime, nsamp)``, in
    no particular order."""
    W = WfAvail
    return session.execute(select(W.net, W.sta, W.loc, W.chan, W.starttime, W.endtime, W.nsamp).where(
        W.kind == "segment", W.endtime >= start, W.starttime < end)).all()


def channels_overlapping(session: Session, start: float, end: float) -> list[tuple[str, str, str, str]]:
    """``(net, sta, loc, chan)`` (distinct, in no particular order) of the channels with an archived
    segment that has ``endtime >= start`` and ``starttime < end`` (epoch s)."""
    W = WfAvail
    return [tuple(r) for r in session.execute(select(W.net, W.sta, W.loc, W.chan).where(
        W.kind == "segment", W.endtime >= start, W.starttime < end).distinct()).all()]
