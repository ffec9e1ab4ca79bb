"""IMS2.0 pulse-height-data (PHD) messages: reader, writer, spectra as xarray.

A PHD message (IDC-ENG-SPC-103, REFERENCE.md §6.6) is a preamble (``BEGIN IMS2.0``, ``MSG_TYPE``,
``MSG_ID``, ``DATA_TYPE SAMPLEPHD|CALIBPHD|SPIKEPHD|QCPHD|BLANKPHD|DETBKPHD|GASBKPHD``), then
``#``-blocks, then ``STOP``. Every block this module knows is declared once in :data:`BLOCKS` as a
table of lines and fields (name, type); the reader, the writer, the error messages and the docs
all come from those tables, nothing is sliced by hand.

Block kinds:

``lines``      a fixed sequence of lines, each a fixed sequence of whitespace-separated fields
               (a ``datetime`` field takes two tokens, ``YYYY/MM/DD hh:mm:ss.s``); the value is a
               ``dict`` field → value
``table``      rows of the same fields until the next block; the value is a ``list`` of dicts
``text``       free text (``#Comment``, ``#Certificate``); the value is a ``list`` of lines
``spectrum``   ``#g_Spectrum``/``#b_Spectrum``: ``n_channels energy_span_keV``, then rows
               ``first_channel c c c c c``; the value is ``{"n_channels", "energy_span_keV",
               "counts": int64 array}``
``histogram``  ``#Histogram``: ``gamma_channels beta_channels gamma_span_keV beta_span_keV``,
               then one row per gamma channel with one count per beta channel; the value is a
               dict with ``"counts"`` a (gamma, beta) int64 array

Unknown blocks are kept verbatim as text (a warning names them), so nothing is dropped.

Round trip: :func:`write_phd` formats every block from its values (:func:`format_block`); a block
read from a file whose values were not changed is written with its original lines, so an
unchanged message is written byte for byte as it was read (``preserve_layout=False`` forces the
canonical layout for every block). Either way ``read_phd(write_phd(m)) == m`` field by field.

Errors: :class:`PHDError` names the file, the block and the line number (1-based) and says what
was expected.
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import numpy as np
from obspy import UTCDateTime

from pipeline.errors import IdcError

log = logging.getLogger(__name__)

DATA_TYPES = ("SAMPLEPHD", "CALIBPHD", "SPIKEPHD", "QCPHD", "BLANKPHD", "DETBKPHD", "GASBKPHD")


class PHDError(IdcError, ValueError):
    """A PHD message that cannot be read; names file, block and line.

    :ivar path: the file (or ``"<string>"``)
    :ivar block: the block (``"#g_Spectrum"``), or ``""`` for the preamble
    :ivar line: 1-based line number in the file (0 when not known)
    """

    def __init__(self, path: str, block: str, line: int, message: str):
        self.path, self.block, self.line, self.reason = path, block, line, message
        where = ", ".join(p for p in (f"block {block}" if block else "", f"line {line}" if line else "") if p)
        super().__init__(f"{path}: {where}: {message}" if where else f"{path}: {message}")


# ------------------------------------------------------------------ declarations


@dataclass(frozen=True)
class Field:
    """One field of a line: ``name`` and ``type`` (``str``, ``int``, ``float``, ``datetime``).

    ``optional`` fields may be missing at the end of a line (value ``None``); ``rest`` makes a
    ``str`` field take the remainder of the line (spaces included)."""

    name: str
    type: str = "str"
    optional: bool = False
    rest: bool = False
    unit: str = ""

    @property
    def ntokens(self) -> int:
        return 2 if self.type == "datetime" else 1


@dataclass(frozen=True)
class BlockSpec:
    """How one block looks: kind (module docstring), its lines (``lines`` kind) or its row (``table``)."""

    name: str
    kind: str
    lines: tuple[tuple[Field, ...], ...] = ()
    row: tuple[Field, ...] = ()
    doc: str = ""
    #: number of trailing lines of a ``lines`` block that may be absent
    optional_lines: int = 0


F = Field
_ENERGY = F("energy_keV", "float", unit="keV")
_UNC = F("uncertainty", "float")

#: Every known block, declared once (IDC-ENG-SPC-103 as summarised in REFERENCE.md §6.6).
BLOCKS: dict[str, BlockSpec] = {b.name: b for b in (
    BlockSpec("#Header", "lines", lines=(
        (F("station_code"), F("detector_code"), F("system_type"), F("sample_geometry"),
         F("spectrum_qualifier", optional=True)),
        (F("srid"),),
        (F("measurement_id"), F("detector_bk_measurement_id", optional=True),
         F("gas_bk_measurement_id", optional=True)),
        (F("transmit_time", "datetime"),),
    ), doc="station, detector, system type (B beta-gamma, G gamma, P particulate), geometry, PREL/FULL; "
           "sample reference id; measurement ids (sample, detector background, gas background); transmit time"),
    BlockSpec("#Comment", "text", doc="free text"),
    BlockSpec("#Collection", "lines", lines=(
        (F("collection_start", "datetime"), F("collection_stop", "datetime"), F("air_volume_m3", "float", unit="m3")),
    ), doc="collection start, stop, total air volume (m3)"),
    BlockSpec("#Acquisition", "lines", lines=(
        (F("acquisition_start", "datetime"), F("real_time_s", "float", unit="s"), F("live_time_s", "float", unit="s")),
    ), doc="acquisition start, real time (s), live time (s)"),
    BlockSpec("#Processing", "lines", lines=(
        (F("xe_volume_cm3", "float", unit="cm3"), F("xe_volume_uncertainty_cm3", "float", unit="cm3")),
        (F("xe_yield", "float"), F("xe_yield_uncertainty", "float")),
        (F("archive_bottle_id", rest=True),),
    ), optional_lines=1, doc="noble gas: Xe volume (cm3) ± unc; Xe collection yield ± unc; archive bottle id"),
    BlockSpec("#Sample", "lines", lines=(
        (F("dimension_1_cm", "float", unit="cm"), F("dimension_2_cm", "float", unit="cm")),
    ), doc="particulate: sample dimensions (cm)"),
    BlockSpec("#Calibration", "lines", lines=((F("calibration_time", "datetime"),),),
              doc="date and time of the last calibration"),
    BlockSpec("#g_Energy", "table", row=(_ENERGY, F("channel", "float"), _UNC),
              doc="gamma energy calibration points: energy (keV), centroid channel, uncertainty"),
    BlockSpec("#b_Energy", "table", row=(_ENERGY, F("decay_mode"), F("channel", "float"), _UNC),
              doc="beta/electron energy calibration points: energy (keV), decay mode, channel, uncertainty"),
    BlockSpec("#g_Resolution", "table", row=(_ENERGY, F("fwhm_keV", "float", unit="keV"), _UNC),
              doc="gamma resolution: energy (keV), FWHM (keV), uncertainty"),
    BlockSpec("#b_Resolution", "table", row=(_ENERGY, F("fwhm_keV", "float", unit="keV"), _UNC),
              doc="beta resolution: energy (keV), FWHM (keV), uncertainty"),
    BlockSpec("#g_Efficiency", "table", row=(_ENERGY, F("efficiency", "float"), _UNC),
              doc="gamma efficiency: energy (keV), efficiency, uncertainty"),
    BlockSpec("#ROI_Limits", "table", row=(
        F("roi", "int"), F("beta_low_keV", "float"), F("beta_high_keV", "float"),
        F("gamma_low_keV", "float"), F("gamma_high_keV", "float")),
        doc="beta-gamma regions of interest: ROI number, beta low/high, gamma low/high (keV)"),
    BlockSpec("#b-gEfficiency", "table", row=(F("nuclide"), F("roi", "int"), F("efficiency", "float"), _UNC),
              doc="beta-gamma coincidence efficiency per nuclide and ROI"),
    BlockSpec("#Ratios", "table", row=(F("ratio_id"), F("upper_roi", "int"), F("lower_roi", "int"),
                                       F("count_ratio", "float"), _UNC),
              doc="interference count ratios: counts in the lower ROI per count in the upper ROI"),
    BlockSpec("#g_Spectrum", "spectrum", doc="gamma spectrum: channels, energy span (keV); rows of 5 counts"),
    BlockSpec("#b_Spectrum", "spectrum", doc="beta spectrum: channels, energy span (keV); rows of 5 counts"),
    BlockSpec("#Histogram", "histogram",
              doc="beta-gamma coincidence histogram: gamma channels, beta channels, spans; one row per gamma channel"),
    BlockSpec("#Certificate", "text", doc="calibration source certificate (kept as text)"),
)}


# ------------------------------------------------------------------ message


@dataclass
class Block:
    """One block of a message: its spec, value, the text after the block name (``"3"`` of
    ``#Header 3``), and where it came from (for errors and layout-preserving writes)."""

    spec: BlockSpec
    value: Any
    tag_arg: str = ""
    first_line: int = 0
    source_lines: tuple[str, ...] | None = None

    @property
    def name(self) -> str:
        return self.spec.name


@dataclass
class PHDMessage:
    """A parsed PHD message. ``blocks`` keeps file order; ``msg["#Acquisition"]`` is a block's value.

    :ivar data_type: SAMPLEPHD, CALIBPHD, ...
    :ivar preamble: ``(keyword, rest)`` lines between ``BEGIN`` and the first block
        (``MSG_TYPE``, ``MSG_ID``, ``DATA_TYPE``, ``REF_ID`` ...)
    """

    version: str = "IMS2.0"
    preamble: list[tuple[str, str]] = field(default_factory=list)
    blocks: dict[str, Block] = field(default_factory=dict)
    source: str = "<string>"
    newline: str = "\n"
    trailer: list[str] = field(default_factory=list)

    def _pre(self, key: str) -> str:
        for k, v in self.preamble:
            if k == key:
                return v
        return ""

    @property
    def data_type(self) -> str:
        return self._pre("DATA_TYPE").split()[0] if self._pre("DATA_TYPE") else ""

    @property
    def msg_id(self) -> str:
        return self._pre("MSG_ID").split()[0] if self._pre("MSG_ID") else ""

    def __contains__(self, name: str) -> bool:
        return name in self.blocks

    def __getitem__(self, name: str):
        try:
            return self.blocks[name].value
        except KeyError:
            raise KeyError(f"{self.source}: no block {name} (blocks: {', '.join(self.blocks)})") from None

    def get(self, name: str, default=None):
        return self.blocks[name].value if name in self.blocks else default

    def set(self, name: str, value) -> None:
        """Set (or add) a known block's value."""
        if name in self.blocks:
            self.blocks[name].value = value
        else:
            self.blocks[name] = Block(BLOCKS[name], value)

    def equals(self, other: "PHDMessage") -> bool:
        """Field-by-field equality (arrays compared element-wise), ignoring layout and source."""
        if self.preamble != other.preamble or list(self.blocks) != list(other.blocks):
            return False
        return all(_equal(a.value, other.blocks[n].value) and a.tag_arg == other.blocks[n].tag_arg
                   for n, a in self.blocks.items())


def _equal(a, b) -> bool:
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return isinstance(a, np.ndarray) and isinstance(b, np.ndarray) and a.shape == b.shape and bool(np.array_equal(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_equal(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b))
    return bool(a == b)


# ------------------------------------------------------------------ values

_DATE = re.compile(r"^(\d{4})/(\d{2})/(\d{2})$")
_TIME = re.compile(r"^(\d{1,2}):(\d{2}):(\d{2}(?:\.\d*)?)$")


def parse_datetime(date: str, time: str) -> UTCDateTime:
    """``YYYY/MM/DD`` + ``hh:mm:ss[.s]`` → UTCDateTime (ValueError when malformed)."""
    d, t = _DATE.match(date), _TIME.match(time)
    if not d or not t:
        raise ValueError(f"expected a date and time 'YYYY/MM/DD hh:mm:ss.s', got {date!r} {time!r}")
    sec = float(t.group(3))
    return UTCDateTime(int(d.group(1)), int(d.group(2)), int(d.group(3)), int(t.group(1)), int(t.group(2))) + sec


def format_datetime(t: UTCDateTime) -> str:
    """UTCDateTime → ``YYYY/MM/DD hh:mm:ss.s`` (more decimals only when the value has them)."""
    frac = f"{t.microsecond:06d}".rstrip("0") or "0"
    return t.strftime("%Y/%m/%d %H:%M:%S") + "." + frac


def _convert(f: Field, tokens: list[str]):
    if f.type == "datetime":
        return parse_datetime(tokens[0], tokens[1])
    tok = tokens[0]
    if f.type == "int":
        return int(tok)
    if f.type == "float":
        v = float(tok)
        if not np.isfinite(v):
            raise ValueError(f"not a finite number: {tok!r}")
        return v
    return tok


def _format_value(f: Field, v) -> str:
    if v is None:
        return ""
    if f.type == "datetime":
        return format_datetime(v)
    if f.type == "float":
        return repr(float(v))
    return str(v)


def _parse_fields(fields: tuple[Field, ...], text: str) -> dict:
    tokens = text.split()
    out: dict = {}
    i = 0
    for f in fields:
        if i >= len(tokens):
            if f.optional:
                out[f.name] = None
                continue
            names = " ".join(x.name for x in fields)
            raise ValueError(f"expected fields '{names}', field {f.name!r} is missing in {text.strip()!r}")
        if f.rest:
            out[f.name] = " ".join(tokens[i:])
            i = len(tokens)
            continue
        n = f.ntokens
        if i + n > len(tokens):
            raise ValueError(f"field {f.name!r} ({f.type}) is incomplete in {text.strip()!r}")
        try:
            out[f.name] = _convert(f, tokens[i:i + n])
        except ValueError as exc:
            raise ValueError(f"field {f.name!r} ({f.type}): {exc}" if "field" not in str(exc)
                             else str(exc)) from None
        i += n
    if i < len(tokens):
        raise ValueError(f"{len(tokens) - i} unexpected value(s) {' '.join(tokens[i:])!r} after the fields "
                         f"'{' '.join(x.name for x in fields)}'")
    return out


def _format_fields(fields: tuple[Field, ...], values: dict) -> str:
    parts = [_format_value(f, values.get(f.name)) for f in fields]
    while parts and parts[-1] == "":
        parts.pop()
    return " ".join(parts)


# ------------------------------------------------------------------ block bodies


def _parse_body(spec: BlockSpec, lines: list[str], first: int, path: str):
    """Parse the body lines of one block; ``first`` = file line number of ``lines[0]``."""
    def err(offset: int, msg: str) -> PHDError:
        return PHDError(path, spec.name, first + offset, msg)

    if spec.kind == "text":
        return list(lines)
    content = [(k, ln) for k, ln in enumerate(lines) if ln.strip()]
    if spec.kind == "lines":
        need = len(spec.lines) - spec.optional_lines
        if len(content) < need:
            raise err(len(lines), f"expected {need} line(s) ({'; '.join(' '.join(f.name for f in ln) for ln in spec.lines)}), "
                                  f"found {len(content)}")
        if len(content) > len(spec.lines):
            k = content[len(spec.lines)][0]
            raise err(k, f"unexpected line {content[len(spec.lines)][1].strip()!r}: the block has {len(spec.lines)} line(s)")
        value: dict = {}
        for (k, ln), fields in zip(content, spec.lines):
            try:
                value.update(_parse_fields(fields, ln))
            except ValueError as exc:
                raise err(k, str(exc)) from None
        for fields in spec.lines[len(content):]:
            value.update({f.name: None for f in fields})
        return value
    if spec.kind == "table":
        rows = []
        for k, ln in content:
            try:
                rows.append(_parse_fields(spec.row, ln))
            except ValueError as exc:
                raise err(k, str(exc)) from None
        return rows
    if spec.kind == "spectrum":
        return _parse_spectrum(content, err)
    if spec.kind == "histogram":
        return _parse_histogram(content, err)
    raise AssertionError(spec.kind)


def _ints(tokens: list[str], what: str) -> list[int]:
    try:
        return [int(t) for t in tokens]
    except ValueError:
        bad = next(t for t in tokens if not re.fullmatch(r"[+-]?\d+", t))
        raise ValueError(f"{what}: {bad!r} is not an integer count") from None


def _parse_spectrum(content, err) -> dict:
    if not content:
        raise err(0, "empty block: expected 'n_channels energy_span_keV' and the counts")
    k0, head = content[0]
    tok = head.split()
    try:
        n = int(tok[0])
        span = float(tok[1]) if len(tok) > 1 else None
        if len(tok) > 2 or n <= 0:
            raise ValueError
    except (ValueError, IndexError):
        raise err(k0, f"expected 'n_channels energy_span_keV', got {head.strip()!r}") from None
    counts = np.zeros(n, dtype=np.int64)
    expect = 0
    for k, ln in content[1:]:
        tok = ln.split()
        try:
            vals = _ints(tok, "counts")
        except ValueError as exc:
            raise err(k, str(exc)) from None
        start, row = vals[0], vals[1:]
        if start != expect:
            raise err(k, f"row starts at channel {start}, expected channel {expect}")
        if not row or start + len(row) > n:
            raise err(k, f"row at channel {start} has {len(row)} counts, the spectrum has {n} channels")
        counts[start:start + len(row)] = row
        expect = start + len(row)
    if expect != n:
        raise err(content[-1][0], f"{expect} channel(s) of counts, the header says {n}")
    if (counts < 0).any():
        raise err(content[1][0], "negative counts")
    return {"n_channels": n, "energy_span_keV": span, "counts": counts}


def _parse_histogram(content, err) -> dict:
    if not content:
        raise err(0, "empty block: expected 'gamma_channels beta_channels gamma_span beta_span' and the counts")
    k0, head = content[0]
    tok = head.split()
    try:
        ng, nb = int(tok[0]), int(tok[1])
        gspan, bspan = float(tok[2]), float(tok[3])
        if len(tok) != 4 or ng <= 0 or nb <= 0:
            raise ValueError
    except (ValueError, IndexError):
        raise err(k0, "expected 'gamma_channels beta_channels gamma_span_keV beta_span_keV', "
                      f"got {head.strip()!r}") from None
    rows = content[1:]
    if len(rows) != ng:
        raise err(rows[-1][0] if rows else k0, f"{len(rows)} row(s) of counts, the header says {ng} gamma channels")
    counts = np.zeros((ng, nb), dtype=np.int64)
    for i, (k, ln) in enumerate(rows):
        tok = ln.split()
        if len(tok) != nb:
            raise err(k, f"gamma channel {i}: {len(tok)} counts, the header says {nb} beta channels")
        try:
            counts[i] = _ints(tok, f"gamma channel {i}")
        except ValueError as exc:
            raise err(k, str(exc)) from None
    if (counts < 0).any():
        raise err(rows[0][0], "negative counts")
    return {"gamma_channels": ng, "beta_channels": nb, "gamma_span_keV": gspan, "beta_span_keV": bspan,
            "counts": counts}


def format_block(spec: BlockSpec, value) -> list[str]:
    """The body lines of a block in the canonical layout (values written so they read back equal)."""
    if spec.kind == "text":
        return list(value)
    if spec.kind == "lines":
        out = []
        for fields in spec.lines:
            if all(value.get(f.name) is None for f in fields):
                continue  # an absent optional trailing line
            out.append(_format_fields(fields, value))
        return out
    if spec.kind == "table":
        return [_format_fields(spec.row, row) for row in value]
    if spec.kind == "spectrum":
        c = np.asarray(value["counts"])
        span = "" if value.get("energy_span_keV") is None else f" {_fmt_num(value['energy_span_keV'])}"
        out = [f"{len(c)}{span}"]
        for s in range(0, len(c), 5):
            out.append(f"{s:<5} " + " ".join(f"{int(x):<10}" for x in c[s:s + 5]).rstrip())
        return out
    if spec.kind == "histogram":
        c = np.asarray(value["counts"])
        out = [f"{c.shape[0]} {c.shape[1]} {_fmt_num(value['gamma_span_keV'])} {_fmt_num(value['beta_span_keV'])}"]
        out.extend(" ".join(str(int(x)) for x in row) for row in c)
        return out
    raise AssertionError(spec.kind)


def _fmt_num(v: float) -> str:
    v = float(v)
    return str(int(v)) if v.is_integer() else repr(v)


# ------------------------------------------------------------------ reader


def is_phd(path: str | Path) -> bool:
    """True when the file starts like an IMS2.0 message with a PHD data type."""
    try:
        head = Path(path).read_bytes()[:2048].decode("latin-1")
    except OSError:
        return False
    return head.lstrip().upper().startswith("BEGIN IMS2.0") and bool(
        re.search(r"^DATA_TYPE\s+(" + "|".join(DATA_TYPES) + r")\b", head, re.M | re.I))


def read_phd(path: str | Path) -> PHDMessage:
    """Read an IMS2.0 PHD message file (:class:`PHDError` naming file, block and line when bad)."""
    p = Path(path)
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise PHDError(str(p), "", 0, f"cannot read: {exc.strerror or exc}") from None
    try:
        text = raw.decode("ascii")
    except UnicodeDecodeError as exc:
        line = raw[:exc.start].count(b"\n") + 1
        raise PHDError(str(p), "", line, f"byte 0x{raw[exc.start]:02x} is not ASCII (IMS2.0 messages are ASCII)") from None
    return parse_phd(text, source=str(p))


def parse_phd(text: str, source: str = "<string>") -> PHDMessage:
    """Parse the text of a PHD message (see :func:`read_phd`)."""
    newline = "\r\n" if "\r\n" in text[:4096] else "\n"
    lines = text.split(newline)
    if lines and lines[-1] == "":
        lines.pop()
        end_newline = True
    else:
        end_newline = False
    msg = PHDMessage(source=source, newline=newline)
    i = 0
    while i < len(lines) and not lines[i].strip():
        i += 1
    if i >= len(lines) or not lines[i].strip().upper().startswith("BEGIN"):
        raise PHDError(source, "", i + 1, "expected 'BEGIN IMS2.0' (not a PHD message)")
    msg.version = lines[i].split(None, 1)[1].strip() if len(lines[i].split()) > 1 else ""
    if msg.version.upper() not in ("IMS2.0", "IMS1.0"):
        raise PHDError(source, "", i + 1, f"unsupported message format {msg.version!r} (expected IMS2.0)")
    i += 1
    while i < len(lines) and not lines[i].startswith("#") and lines[i].strip().upper() != "STOP":
        if lines[i].strip():
            kw, _, rest = lines[i].strip().partition(" ")
            msg.preamble.append((kw.upper(), rest.strip()))
        i += 1
    dt = msg.data_type
    if not dt:
        raise PHDError(source, "", i, "no DATA_TYPE line before the first block")
    if dt.upper() not in DATA_TYPES:
        raise PHDError(source, "", i, f"DATA_TYPE {dt!r} is not a pulse-height-data type ({', '.join(DATA_TYPES)})")
    stopped = False
    while i < len(lines):
        ln = lines[i]
        if ln.strip().upper() == "STOP":
            stopped = True
            msg.trailer = lines[i + 1:]
            break
        if not ln.startswith("#"):
            if ln.strip():
                raise PHDError(source, "", i + 1, f"expected a block name ('#...') or STOP, got {ln.strip()[:40]!r}")
            i += 1
            continue
        tag, _, arg = ln.partition(" ")
        start = i
        i += 1
        while i < len(lines) and not lines[i].startswith("#") and lines[i].strip().upper() != "STOP":
            i += 1
        body = lines[start + 1:i]
        spec = BLOCKS.get(tag)
        if spec is None:
            spec = BlockSpec(tag, "text", doc="unknown block, kept verbatim")
            log.warning("%s: line %d: unknown block %s kept as text", source, start + 1, tag)
        if tag in msg.blocks:
            raise PHDError(source, tag, start + 1, "block appears twice")
        value = _parse_body(spec, body, start + 2, source)
        msg.blocks[tag] = Block(spec, value, tag_arg=arg, first_line=start + 1, source_lines=tuple([ln] + body))
    if not stopped:
        raise PHDError(source, "", len(lines), "no STOP line at the end of the message (truncated?)")
    if not end_newline:
        msg.trailer.append(None)  # marker: the file did not end with a newline
    return msg


# ------------------------------------------------------------------ writer


def format_phd(msg: PHDMessage, preserve_layout: bool = True) -> str:
    """The message as text (see module docstring for the layout rule)."""
    out = [f"BEGIN {msg.version}"]
    out.extend(f"{k} {v}".rstrip() for k, v in msg.preamble)
    for name, blk in msg.blocks.items():
        if preserve_layout and blk.source_lines is not None and _unchanged(blk):
            out.extend(blk.source_lines)
            continue
        out.append(f"{name} {blk.tag_arg}".rstrip() if blk.tag_arg else name)
        out.extend(format_block(blk.spec, blk.value))
    out.append("STOP")
    trailer = list(msg.trailer)
    no_final_newline = bool(trailer) and trailer[-1] is None
    if no_final_newline:
        trailer.pop()
    out.extend(trailer)
    text = msg.newline.join(out)
    return text if no_final_newline else text + msg.newline


def _unchanged(blk: Block) -> bool:
    tag = blk.source_lines[0]
    if tag.partition(" ")[2] != blk.tag_arg:
        return False
    try:
        again = _parse_body(blk.spec, list(blk.source_lines[1:]), 0, "")
    except PHDError:
        return False
    return _equal(again, blk.value)


def write_phd(msg: PHDMessage, path: str | Path, preserve_layout: bool = True) -> Path:
    """Write a message to ``path`` (ASCII; the newline style it was read with)."""
    p = Path(path)
    p.write_bytes(format_phd(msg, preserve_layout).encode("ascii"))
    return p


# ------------------------------------------------------------------ views


@dataclass(frozen=True)
class SampleInfo:
    """What the store and the reports need of a message (times UTC, volumes m3/cm3, times s)."""

    data_type: str
    msg_id: str
    station: str
    detector: str
    system_type: str
    sample_geometry: str
    qualifier: str | None
    srid: str
    measurement_id: str
    detector_bk_measurement_id: str | None
    gas_bk_measurement_id: str | None
    collection_start: UTCDateTime | None
    collection_stop: UTCDateTime | None
    air_volume_m3: float | None
    acquisition_start: UTCDateTime | None
    real_time_s: float | None
    live_time_s: float | None
    xe_volume_cm3: float | None

    @property
    def collection_s(self) -> float | None:
        return None if self.collection_stop is None else float(self.collection_stop - self.collection_start)

    @property
    def decay_s(self) -> float | None:
        """Collection stop → acquisition start (the IDC's 'processing' or decay time)."""
        if self.collection_stop is None or self.acquisition_start is None:
            return None
        return float(self.acquisition_start - self.collection_stop)


def sample_info(msg: PHDMessage) -> SampleInfo:
    h = msg["#Header"]
    col = msg.get("#Collection") or {}
    acq = msg.get("#Acquisition") or {}
    proc = msg.get("#Processing") or {}
    return SampleInfo(
        data_type=msg.data_type, msg_id=msg.msg_id, station=h["station_code"], detector=h["detector_code"],
        system_type=h["system_type"], sample_geometry=h["sample_geometry"], qualifier=h["spectrum_qualifier"],
        srid=h["srid"], measurement_id=h["measurement_id"],
        detector_bk_measurement_id=h["detector_bk_measurement_id"], gas_bk_measurement_id=h["gas_bk_measurement_id"],
        collection_start=col.get("collection_start"), collection_stop=col.get("collection_stop"),
        air_volume_m3=col.get("air_volume_m3"), acquisition_start=acq.get("acquisition_start"),
        real_time_s=acq.get("real_time_s"), live_time_s=acq.get("live_time_s"),
        xe_volume_cm3=proc.get("xe_volume_cm3"))


def table(msg: PHDMessage, name: str):
    """A ``table`` block as a pandas DataFrame (columns = the declared fields)."""
    import pandas as pd

    spec = BLOCKS[name]
    return pd.DataFrame(msg.get(name) or [], columns=[f.name for f in spec.row])


def channel_energies(points: Iterable[tuple[float, float]], channels) -> np.ndarray:
    """Energy (keV) of ``channels`` from calibration points (channel, energy_keV): piecewise linear
    through the points (the station's calibration is exact at its points; NaI and plastic
    scintillators are not linear enough for one low-order polynomial: a quadratic through the
    five MIX58 gamma points misses the 81 keV point by 2.5 keV), extended linearly beyond them."""
    pts = np.asarray(sorted(points), dtype=float)
    if len(pts) < 2:
        raise ValueError("an energy calibration needs at least two (channel, energy) points")
    c = np.asarray(channels, dtype=float)
    e = np.interp(c, pts[:, 0], pts[:, 1])
    lo, hi = c < pts[0, 0], c > pts[-1, 0]
    s_lo = (pts[1, 1] - pts[0, 1]) / (pts[1, 0] - pts[0, 0])
    s_hi = (pts[-1, 1] - pts[-2, 1]) / (pts[-1, 0] - pts[-2, 0])
    e = np.where(lo, pts[0, 1] + (c - pts[0, 0]) * s_lo, e)
    return np.where(hi, pts[-1, 1] + (c - pts[-1, 0]) * s_hi, e)


def channel_energy(msg: PHDMessage, which: str, channels) -> np.ndarray:
    """Energies (keV) of ``channels`` of the gamma (``"g"``) or beta (``"b"``) axis from
    ``#g_Energy``/``#b_Energy`` (:func:`channel_energies`); without that block, the linear span
    of the spectrum or histogram header."""
    rows = msg.get(f"#{which}_Energy")
    if rows and len(rows) >= 2:
        return channel_energies([(r["channel"], r["energy_keV"]) for r in rows], channels)
    spec = msg.get(f"#{which}_Spectrum") or {}
    if spec.get("energy_span_keV"):
        return np.asarray(channels, dtype=float) * spec["energy_span_keV"] / spec["n_channels"]
    raise PHDError(msg.source, f"#{which}_Energy", 0, "no energy calibration (block missing or fewer than 2 points)")


def _spectrum(msg: PHDMessage, which: str):
    import xarray as xr

    name = f"#{which}_Spectrum"
    s = msg[name]
    ch = np.arange(s["n_channels"])
    info = sample_info(msg) if "#Header" in msg else None
    attrs = {"long_name": f"{'gamma' if which == 'g' else 'beta'} counts", "units": "counts",
             "energy_span_keV": s["energy_span_keV"], "source": msg.source, "data_type": msg.data_type}
    if info is not None:
        attrs.update(station=info.station, detector=info.detector, live_time_s=info.live_time_s,
                     real_time_s=info.real_time_s)
    return xr.DataArray(s["counts"], dims=("channel",), name=f"{which}_spectrum",
                        coords={"channel": ch, "energy_keV": ("channel", channel_energy(msg, which, ch),
                                                              {"units": "keV"})},
                        attrs={k: v for k, v in attrs.items() if v is not None})


def g_spectrum(msg: PHDMessage):
    """``#g_Spectrum`` as a 1-D DataArray (dim ``channel``; coord ``energy_keV`` from ``#g_Energy``)."""
    return _spectrum(msg, "g")


def b_spectrum(msg: PHDMessage):
    """``#b_Spectrum`` as a 1-D DataArray (dim ``channel``; coord ``energy_keV`` from ``#b_Energy``)."""
    return _spectrum(msg, "b")


def histogram(msg: PHDMessage):
    """``#Histogram`` as a 2-D DataArray, dims (``gamma_channel``, ``beta_channel``) with
    ``gamma_energy_keV``/``beta_energy_keV`` coordinates from the energy calibrations."""
    import xarray as xr

    h = msg["#Histogram"]
    g, b = np.arange(h["gamma_channels"]), np.arange(h["beta_channels"])
    return xr.DataArray(
        h["counts"], dims=("gamma_channel", "beta_channel"), name="bg_histogram",
        coords={"gamma_channel": g, "beta_channel": b,
                "gamma_energy_keV": ("gamma_channel", channel_energy(msg, "g", g), {"units": "keV"}),
                "beta_energy_keV": ("beta_channel", channel_energy(msg, "b", b), {"units": "keV"})},
        attrs={"long_name": "beta-gamma coincidence counts", "units": "counts", "source": msg.source,
               "gamma_span_keV": h["gamma_span_keV"], "beta_span_keV": h["beta_span_keV"]})


def to_dataset(msg: PHDMessage):
    """All spectra of a message in one xarray Dataset (``g_spectrum``, ``b_spectrum``, ``bg_histogram``
    when present; the gamma and beta channel axes are renamed so they do not collide)."""
    import xarray as xr

    parts = {}
    if "#g_Spectrum" in msg:
        parts["g_spectrum"] = g_spectrum(msg).rename(channel="gamma_channel", energy_keV="gamma_energy_keV")
    if "#b_Spectrum" in msg:
        parts["b_spectrum"] = b_spectrum(msg).rename(channel="beta_channel", energy_keV="beta_energy_keV")
    if "#Histogram" in msg:
        parts["bg_histogram"] = histogram(msg)
    if not parts:
        raise PHDError(msg.source, "", 0, "no spectrum blocks (#g_Spectrum, #b_Spectrum, #Histogram)")
    ds = xr.Dataset({k: v.drop_vars([c for c in v.coords if c.endswith("energy_keV")]) for k, v in parts.items()})
    for v in parts.values():
        for c in v.coords:
            if c.endswith("energy_keV"):
                ds = ds.assign_coords({c: v.coords[c]})
    ds.attrs = {"source": msg.source, "data_type": msg.data_type, "msg_id": msg.msg_id}
    return ds
