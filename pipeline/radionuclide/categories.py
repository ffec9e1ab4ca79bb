"""Particulate sample categories 1–5 (definitions and defaults: :class:`config.CategoryConfig`;
the IDC's exact rules are not public, REFERENCE.md §6.1)."""
from __future__ import annotations

import math
from dataclasses import dataclass

from pipeline.radionuclide.config import CategoryConfig
from pipeline.radionuclide.nuclides import load_library


@dataclass(frozen=True)
class Category:
    level: int
    reason: str
    anomalous: tuple[str, ...] = ()


def ewma_limit(history: list[float], lam: float, k: float) -> float:
    """Upper limit ``m + k·s`` of an exponentially weighted moving average ``m`` (weight ``lam`` on
    the newest value) and the weighted standard deviation ``s`` of the history (oldest first)."""
    m, v = history[0], 0.0
    for x in history[1:]:
        d = x - m
        m += lam * d
        v = (1 - lam) * (v + lam * d * d)
    return m + k * math.sqrt(v)


def categorise(concentrations: dict[str, float], config: CategoryConfig | None = None,
               history: dict[str, list[float]] | None = None, library: dict | None = None) -> Category:
    """The category of a particulate sample.

    :param concentrations: identified nuclide → activity concentration (mBq/m3; for a spectrum without
        a collection, any consistent unit — only the relevant/natural split then matters)
    :param history: nuclide → the station's earlier concentrations (mBq/m3, oldest first) for the EWMA rule
    """
    cfg = config or CategoryConfig()
    lib = library if library is not None else load_library()
    history = history or {}

    def anomalous(n: str, c: float) -> bool:
        h = history.get(n) or []
        if len(h) >= cfg.ewma_min_samples:
            return c > ewma_limit(h, cfg.ewma_lambda, cfg.ewma_k)
        if n in cfg.typical_upper_mBq_m3:
            return c > cfg.typical_upper_mBq_m3[n]
        return lib[n].relevant  # a relevant nuclide without history: news whenever seen

    relevant = {n: c for n, c in concentrations.items() if n in lib and lib[n].relevant}
    natural = {n: c for n, c in concentrations.items()
               if n in lib and lib[n].category in ("natural", "cosmogenic")}
    bad = sorted(n for n, c in relevant.items() if anomalous(n, c))
    if len(bad) >= 2 and any(lib[n].fission_product for n in bad):
        return Category(5, f"{len(bad)} anomalous CTBT-relevant nuclides, at least one a fission product: "
                           f"{', '.join(bad)}", tuple(bad))
    if bad:
        return Category(4, f"anomalous CTBT-relevant nuclide(s): {', '.join(bad)}", tuple(bad))
    if relevant:
        return Category(3, f"CTBT-relevant nuclide(s) at typical levels for the station: {', '.join(sorted(relevant))}")
    odd = sorted(n for n, c in natural.items() if anomalous(n, c))
    if odd:
        return Category(2, f"natural nuclide(s) at anomalous levels: {', '.join(odd)}", tuple(odd))
    return Category(1, "natural nuclides only, at typical levels" if natural else "no nuclide identified")
