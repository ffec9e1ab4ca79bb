"""Stream/time selections (the lines of an FDSN POST request) as bounded SQL.

A :class:`Selection` names channels by code patterns (``*``/``?`` wildcards, comma lists) and a
time window. A request may hold thousands of them; turned into one ``OR`` of thousands of terms,
SQLite refuses the statement ("Expression tree is too large", depth limit 1000) and any database
pays for it. So selections are first merged (:func:`merge_selections`: the same code patterns with
overlapping or touching windows become one), then run in batches of at most
:data:`MAX_SELECTIONS` selections and :data:`MAX_CODES` codes per statement
(:func:`batches`, :func:`scalars_any`): the expression depth and the number of bound parameters
of every statement stay bounded on SQLite and PostgreSQL alike.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Callable, Hashable, Iterable, Iterator, Sequence, TypeVar

from obspy import UTCDateTime
from sqlalchemy import or_

#: most selections in one SQL statement (SQLite's expression depth limit is 1000, its limit of
#: ``UNION ALL`` terms 500)
MAX_SELECTIONS = 200
#: most code patterns (bound parameters) of the selections in one SQL statement (SQLite allows
#: 32766 parameters, PostgreSQL 65535); a selection with more goes alone
MAX_CODES = 2000

T = TypeVar("T")


@dataclass(frozen=True)
class Selection:
    """One windowed channel selection (a POST line, or the GET stream parameters).

    Code lists are patterns with ``*``/``?`` (None = any code; ``""`` = the empty location);
    None as start or end time = open.
    """

    network: list[str] | None
    station: list[str] | None
    location: list[str] | None
    channel: list[str] | None
    starttime: UTCDateTime | None
    endtime: UTCDateTime | None

    @property
    def codes(self) -> tuple:
        """The code patterns as a hashable key (order and repetitions do not matter)."""
        return tuple(None if p is None else tuple(sorted(set(p)))
                     for p in (self.network, self.station, self.location, self.channel))

    @property
    def n_codes(self) -> int:
        return sum(len(p) for p in (self.network, self.station, self.location, self.channel) if p is not None)


def merge_windows(windows: Iterable[tuple[float, float]]) -> list[tuple[float, float]]:
    """Closed intervals ``[a, b]`` merged where they overlap or touch, sorted."""
    out: list[list[float]] = []
    for a, b in sorted(windows):
        if out and a <= out[-1][1]:
            out[-1][1] = max(out[-1][1], b)
        else:
            out.append([a, b])
    return [(a, b) for a, b in out]


def _span(s: Selection) -> tuple[float, float]:
    return (-math.inf if s.starttime is None else s.starttime.ns, math.inf if s.endtime is None else s.endtime.ns)


def merge_selections(selections: Iterable[Selection]) -> list[Selection]:
    """Selections of the same code patterns whose windows overlap or touch merged into one.

    Windows are closed (``[starttime, endtime]``, open ends as infinite), so the merged list
    selects exactly what the given one does, each channel epoch or sample once per pattern.
    The result is sorted by codes and time.
    """
    by_codes: dict[tuple, list[Selection]] = {}
    for s in selections:
        by_codes.setdefault(s.codes, []).append(s)
    out = []
    for codes in sorted(by_codes, key=repr):
        group = sorted(by_codes[codes], key=_span)
        cur = group[0]
        for s in group[1:]:
            if _span(s)[0] <= _span(cur)[1]:
                if _span(s)[1] > _span(cur)[1]:
                    cur = replace(cur, endtime=s.endtime)
            else:
                out.append(cur)
                cur = s
        out.append(cur)
    return out


def batches(items: Sequence[T], cost: Callable[[T], int] = lambda _: 1, *, max_items: int = MAX_SELECTIONS,
            max_cost: int = MAX_CODES) -> Iterator[list[T]]:
    """Consecutive runs of ``items`` of at most ``max_items`` items and ``max_cost`` summed cost
    (an item costing more than ``max_cost`` forms a batch of its own)."""
    batch: list[T] = []
    total = 0
    for it in items:
        c = cost(it)
        if batch and (len(batch) >= max_items or total + c > max_cost):
            yield batch
            batch, total = [], 0
        batch.append(it)
        total += c
    if batch:
        yield batch


def like_pattern(code: str) -> str | None:
    """SQL LIKE pattern (escape ``\\``) of a code with wildcards, or None when it has none."""
    if "*" not in code and "?" not in code:
        return None
    return (code.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            .replace("*", "%").replace("?", "_"))


def code_condition(column, patterns: list[str] | None):
    """SQLAlchemy condition matching ``column`` against code patterns (None = no condition):
    exact codes as one ``IN``, wildcard patterns as ``LIKE`` terms."""
    if patterns is None:
        return None
    exact = sorted({c for c in patterns if like_pattern(c) is None})
    conds = [column.in_(exact)] if len(exact) > 1 else [column == c for c in exact]
    conds += [column.like(like, escape="\\") for c in patterns if (like := like_pattern(c)) is not None]
    return or_(*conds)


def scalars_any(session, stmt, items: Sequence[T], condition: Callable[[T], object], *,
                cost: Callable[[T], int] = lambda _: 1,
                key: Callable[[object], Hashable] = lambda row: row.id) -> list:
    """The ORM rows of ``stmt`` matching any of ``items`` (``condition(item)``: a SQL condition,
    or None = no condition, then every row of ``stmt``), run in :func:`batches` of items weighed
    by ``cost``; each row once (by ``key``), in no particular order."""
    if not items:
        return []
    conds = [condition(it) for it in items]
    if any(c is None for c in conds):
        return list(session.scalars(stmt))
    rows: dict = {}
    costs = {id(c): cost(it) for c, it in zip(conds, items)}
    for batch in batches(conds, lambda c: costs[id(c)]):
        for row in session.scalars(stmt.where(or_(*batch))):
            rows.setdefault(key(row), row)
    return list(rows.values())


def lon_range(lo: float, hi: float) -> tuple[float, float] | None:
    """A longitude range ``lo``…``hi`` with bounds outside ±180 normalised; ``lo > hi`` afterwards
    means it crosses the antimeridian; None when it covers the globe."""
    def norm(x):
        return ((x + 180.0) % 360.0) - 180.0 if (x < -180 or x > 180) else x
    if hi - lo >= 360:
        return None
    return norm(lo), norm(hi)


def lon_condition(col, lo: float, hi: float):
    """SQLAlchemy condition ``lo <= col <= hi`` on a longitude with wrap-around (:func:`lon_range`);
    None when the range covers the globe."""
    from sqlalchemy import and_

    r = lon_range(lo, hi)
    if r is None:
        return None
    lo, hi = r
    if lo <= hi:
        return and_(col >= lo, col <= hi)
    return or_(col >= lo, col <= hi)
