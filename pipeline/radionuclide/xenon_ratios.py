"""Radioxenon isotopic ratios and the discrimination lines between civil releases and nuclear
explosions (Kalinowski et al. 2010, PAGEOPH 167:517; constants as in openSpex, REFERENCE.md §6.5).

Each line is a power law ``y = K·x^m`` on log–log axes. In the classic plot (Xe-135/Xe-133 against
Xe-133m/Xe-131m) fresh fission products of an explosion lie to the right of the line (high
Xe-133m/Xe-131m at a given Xe-135/Xe-133); reactor and isotope-production releases, rich in the
long-lived Xe-131m, lie to the left [Kalinowski et al. 2010]: for that plot a point's side is
reported as ``"explosion"`` (right of/below the line, ``y < K·x^m``) or ``"civil"``. For the four
other lines the explosion side is not stated in the code we have (REFERENCE.md §6.5), so only
``"above"``/``"below"`` the line is reported.
"""
from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class RatioPlot:
    name: str
    y: tuple[str, str]  # numerator, denominator
    x: tuple[str, str]
    K: float
    m: float
    #: True: the explosion domain is below/right of the line; None: not known to us
    explosion_below: bool | None = None

    def line(self, x: float) -> float:
        return self.K * x ** self.m

    def side(self, x: float, y: float) -> str:
        """``"explosion"``/``"civil"`` where the explosion side is known, else ``"below"``/``"above"``."""
        below = math.log10(y) < math.log10(self.K) + self.m * math.log10(x)
        if self.explosion_below is None:
            return "below" if below else "above"
        return "explosion" if below == self.explosion_below else "civil"


#: the five lines of REFERENCE.md §6.5 (Kalinowski et al. 2010 via openSpex); the first is the classic one
PLOTS = (
    RatioPlot("MIRC", ("Xe-135", "Xe-133"), ("Xe-133m", "Xe-131m"), 1e-6, 4.4388, explosion_below=True),
    RatioPlot("133m/133 vs 133m/131m", ("Xe-133m", "Xe-133"), ("Xe-133m", "Xe-131m"), 2e-2, 0.6972),
    RatioPlot("135/131m vs 133/131m", ("Xe-135", "Xe-131m"), ("Xe-133", "Xe-131m"), 3.78e-22, 9.0774),
    RatioPlot("135/133m vs 135/131m", ("Xe-135", "Xe-133m"), ("Xe-135", "Xe-131m"), 2.0e-1, 0.7996),
    RatioPlot("135/133 vs 133m/133", ("Xe-135", "Xe-133"), ("Xe-133m", "Xe-133"), 3.27e15, 9.7847),
)


def ratio_points(concentrations: dict[str, float | None]) -> list[dict]:
    """For each plot whose four isotopes are all given (detected, > 0): the point and its side.

    :param concentrations: isotope → activity concentration (any one unit) or ``None`` when not detected
    """
    out = []
    for p in PLOTS:
        vals = [concentrations.get(n) for n in (*p.y, *p.x)]
        if any(v is None or v <= 0 for v in vals):
            continue
        y, x = vals[0] / vals[1], vals[2] / vals[3]
        out.append({"plot": p.name, "x": x, "y": y, "x_ratio": "/".join(p.x), "y_ratio": "/".join(p.y),
                    "line_y_at_x": p.line(x), "side": p.side(x, y)})
    return out
