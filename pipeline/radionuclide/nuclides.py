"""The nuclide library: half-lives, categories and gamma lines, read from the documented data file
``pipeline/radionuclide/data/nuclides.csv`` (its header comment names columns and sources:
REFERENCE.md §6.2–6.3, plus ENSDF values for lines it does not list)."""
from __future__ import annotations

import csv
import functools
import math
from dataclasses import dataclass
from pathlib import Path

LIBRARY_FILE = Path(__file__).parent / "data" / "nuclides.csv"
_UNIT_S = {"s": 1.0, "min": 60.0, "h": 3600.0, "d": 86400.0, "y": 365.25 * 86400.0}
CATEGORIES = ("natural", "cosmogenic", "fission", "activation", "noble_gas", "calibration")


@dataclass(frozen=True)
class Line:
    energy_keV: float
    intensity: float  # photons per decay (fraction)
    key: bool


@dataclass(frozen=True)
class Nuclide:
    name: str
    half_life_s: float
    category: str
    relevant: bool
    lines: tuple[Line, ...]
    source: str

    @property
    def decay_constant(self) -> float:
        """λ = ln 2 / T½, 1/s."""
        return math.log(2.0) / self.half_life_s

    @property
    def key_line(self) -> Line:
        return next((ln for ln in self.lines if ln.key), max(self.lines, key=lambda ln: ln.intensity))

    @property
    def fission_product(self) -> bool:
        return self.category == "fission"


@functools.lru_cache(maxsize=4)
def load_library(path: str | Path | None = None) -> dict[str, Nuclide]:
    """Nuclide name → :class:`Nuclide` (lines sorted by decreasing intensity). A bad row raises
    ValueError naming the file and line."""
    path = Path(path or LIBRARY_FILE)
    rows: dict[str, list[dict]] = {}
    with path.open(newline="") as fh:
        lines = [(i, ln) for i, ln in enumerate(fh, 1) if ln.strip() and not ln.startswith("#")]
    reader = csv.DictReader([ln for _, ln in lines])
    for (lineno, _), row in zip(lines[1:], reader):
        try:
            if row["half_life_unit"] not in _UNIT_S or row["category"] not in CATEGORIES:
                raise ValueError(f"unit {row['half_life_unit']!r} / category {row['category']!r} unknown")
            row["_t"] = float(row["half_life"]) * _UNIT_S[row["half_life_unit"]]
            row["_line"] = Line(float(row["energy_keV"]), float(row["intensity_pct"]) / 100.0, row["key"] == "1")
        except (ValueError, TypeError, KeyError) as exc:
            raise ValueError(f"{path}: line {lineno}: {exc}") from None
        rows.setdefault(row["nuclide"], []).append(row)
    lib = {}
    for name, rs in rows.items():
        r0 = rs[0]
        if any(r["_t"] != r0["_t"] or r["category"] != r0["category"] for r in rs):
            raise ValueError(f"{path}: {name}: rows disagree on half-life or category")
        lib[name] = Nuclide(name, r0["_t"], r0["category"], r0["relevant"] == "1",
                            tuple(sorted((r["_line"] for r in rs), key=lambda ln: -ln.intensity)),
                            ";".join(sorted({r["src"] for r in rs})))
    return lib
