"""Fixed-column line tables: declared once per format, rendered and parsed by one pair of functions.

A table is a list of :class:`Col` (1-based inclusive column positions, Fortran style, as in the
format documents). :func:`render` turns a dict of values into one line; :func:`parse` turns a line
back into a dict, raising :class:`FormatError` naming the file, line number and column on bad input.
Nothing else in :mod:`pipeline.io` slices fixed-column lines by hand.
"""
from __future__ import annotations

import math
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterable, Iterator, Mapping, Sequence

from pipeline.errors import InputError


class FormatError(InputError):
    """A value does not fit its column (writing) or a line cannot be parsed (reading).

    When reading, the message starts with ``<file>:<line>:``.
    """


class SkippedInputWarning(UserWarning):
    """A bad record (line, pick, row) was left out and the rest was read; the message starts with
    ``<file>:<line>:`` (or names the record) and says why. Readers warn instead of failing on one bad
    record of a real-world file; :func:`collect_skipped` gathers these warnings for a summary."""


@contextmanager
def collect_skipped() -> Iterator[list[str]]:
    """``with collect_skipped() as skipped:`` — the messages of the :class:`SkippedInputWarning`
    raised inside, in order (every one, even repeated ones); other warnings pass through."""
    out: list[str] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", SkippedInputWarning)
        yield out
    for w in caught:
        if issubclass(w.category, SkippedInputWarning):
            out.append(str(w.message))
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)


@dataclass(frozen=True)
class Col:
    """One fixed-width field.

    :param name: key in the values dict
    :param first: first column (1-based, inclusive)
    :param last: last column (1-based, inclusive)
    :param kind: ``"a"`` text, ``"i"`` integer, ``"f"`` real, ``"lit"`` literal text (``text``)
    :param dec: decimals of a real (the format's ``fw.d``)
    :param adaptive: a real gets more decimals than ``dec`` when needed to keep 4 significant
        digits and they fit (a Fortran ``Fw.d`` read honours an explicit decimal point, so the
        line stays valid); used for amplitudes, periods and SNR so small values survive
    :param na: value written for ``None`` and read back as ``None`` (CSS3.0 NA values)
    :param when: for ``"lit"``: written only when the value ``when`` is present (e.g. ``+-``)
    :param right: right-align text (numbers are always right-aligned)
    """

    name: str
    first: int
    last: int
    kind: str = "a"
    dec: int = 0
    adaptive: bool = False
    na: object = None
    when: str | None = None
    text: str = ""
    right: bool = False

    @property
    def width(self) -> int:
        return self.last - self.first + 1


def _fmt_real(v: float, c: Col) -> str:
    text = f"{v:.{c.dec}f}"
    if c.adaptive and v != 0:
        target = float(f"{v:.4g}")
        d = c.dec
        while float(text) != target and d < 6:
            d += 1
            alt = f"{v:.{d}f}"
            if len(alt) > c.width:
                break
            text = alt
    if len(text) > c.width:  # drop decimals before giving up
        for d in range(c.dec - 1, -1, -1):
            alt = f"{v:.{d}f}"
            if len(alt) <= c.width:
                return alt
    return text


def _cell(c: Col, v, fmt_name: str) -> str:
    if c.kind == "lit":
        return c.text
    if v is None or (isinstance(v, float) and math.isnan(v)):
        if c.na is None:
            return ""
        v = c.na
        if isinstance(v, str):
            return v
    if c.kind == "f":
        text = _fmt_real(float(v), c)
    elif c.kind == "i":
        text = str(int(round(float(v))))
    else:
        text = str(v)
    if len(text) > c.width:
        if c.kind in ("f", "i"):
            raise FormatError(f"{fmt_name} column {c.name} ({c.first}-{c.last}): value {v!r} "
                              f"does not fit {c.width} characters")
        text = text[:c.width]
    return text


def render(table: Sequence[Col], values: Mapping, fmt_name: str, strip: bool = True) -> str:
    """Render one line; numbers right-aligned, text left-aligned (unless ``right``)."""
    width = max(c.last for c in table)
    line = [" "] * width
    for c in table:
        if c.kind == "lit" and (c.when is None or values.get(c.when) is None):
            continue
        text = _cell(c, values.get(c.name), fmt_name)
        text = text.rjust(c.width) if (c.kind in ("f", "i") or c.right) else text.ljust(c.width)
        line[c.first - 1:c.last] = list(text)
    out = "".join(line)
    return out.rstrip() if strip else out


def parse(table: Iterable[Col], line: str, where: str) -> dict:
    """Parse one line; blank numeric fields and NA values give ``None``.

    :param where: ``"<file>:<line>"`` for error messages
    """
    out = {}
    for c in table:
        if c.kind == "lit":
            continue
        raw = line[c.first - 1:c.last]
        text = raw.strip()
        if c.kind == "a":
            out[c.name] = None if (not text or (c.na is not None and text == c.na)) else text
            continue
        if not text:
            out[c.name] = None
            continue
        try:
            v = int(text) if c.kind == "i" else float(text)
        except ValueError:
            raise FormatError(f"{where}: column {c.name} ({c.first}-{c.last}): {raw!r} is not "
                              f"{'an integer' if c.kind == 'i' else 'a number'}") from None
        if c.na is not None and v == c.na:
            v = None
        out[c.name] = v
    return out
