"""IDC body-wave magnitude mb from the Veith-Clawson attenuation table.

Station formula [SC-mbIDC]::

    mb = log10(A / T) + Q(D, h)

* ``A``: "A5/2" amplitude, **nm**, half peak-to-trough of vertical ground displacement after a
  0.8-4.5 Hz band-pass (our picks column ``amplitude``);
* ``T``: period of that half cycle, **s** (picks column ``period``);
* ``Q(D, h)``: Veith & Clawson (1972, BSSA 62(2), Table 2) P-wave table for epicentral distance
  ``D`` (deg) and source depth ``h`` (km). The original table refers to peak-to-peak amplitudes;
  for half peak-to-peak amplitudes it is shifted by ``+log10 2``. SeisComP's IDC table
  ``qfvc.mb`` uses exactly ``+0.301`` (3.071 at 20 deg, 0 km = 2.77 + 0.301) [SC-QVC], and so do we
  by default (``MbConfig.q_offset``). iLoc instead doubles the amplitude (same result) [ILOC].

The bundled table (``data/VCmbQ.dat``, from iLoc, BSD-3-Clause) has distances 0-100 deg every
1 deg and depths 0, 15, 40, 100, 200, ..., 800 km. SeisComP interpolates it with bi-cubic splines
[SC-mbIDC]; we do the same by default (an interpolating ``scipy`` ``RectBivariateSpline``,
``kx = ky = 3``, ``s = 0``: exact at the grid nodes), ``bilinear`` is available. Outside the table
(D > 100 deg, h > 800 km) Q is NaN: readings there are rejected, never extrapolated, although
the IDC nominal range reaches 105 deg. Depths above sea level (h < 0) are evaluated at 0 km.

IASPEI/ISC mb (``log10(A/T) + Q_GR - 3``) needs the Gutenberg & Richter (1956) table, which this
project does not hold: it is not implemented.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from pathlib import Path

import numpy as np
from scipy.interpolate import RectBivariateSpline, RegularGridInterpolator

from pipeline.magnitude.config import MbConfig

VC_TABLE_PATH = Path(__file__).resolve().parent / "data" / "VCmbQ.dat"
#: SeisComP's shift from peak-to-peak to half peak-to-peak (log10 2 rounded) [SC-QVC]
IDC_Q_OFFSET = 0.301


@dataclass(frozen=True, eq=False)
class QTable:
    """An mb attenuation table Q(D, h) on a distance x depth grid.

    :param distance_deg: grid distances, deg, strictly increasing (n)
    :param depth_km: grid depths, km, strictly increasing (m)
    :param q: table values, shape (n, m), for the amplitude convention of the source
        (peak-to-peak for Veith-Clawson)
    :param source: where the table came from (informational)
    """

    distance_deg: np.ndarray
    depth_km: np.ndarray
    q: np.ndarray
    source: str = field(default="")

    def __post_init__(self) -> None:
        d, h, q = (np.asarray(a, dtype=float) for a in (self.distance_deg, self.depth_km, self.q))
        if q.shape != (d.size, h.size):
            raise ValueError(f"{self.source}: Q table shape {q.shape} != ({d.size}, {h.size})")
        if np.any(np.diff(d) <= 0) or np.any(np.diff(h) <= 0):
            raise ValueError(f"{self.source}: Q table axes must increase strictly")
        object.__setattr__(self, "distance_deg", d)
        object.__setattr__(self, "depth_km", h)
        object.__setattr__(self, "q", q)

    @classmethod
    def from_file(cls, path: str | Path) -> "QTable":
        """Read an iLoc-format table (``auxdata/magnitude/*.dat``).

        Layout after ``#`` comments: ``n_dist``, n_dist distances (deg), ``n_depth``, n_depth depths
        (km), ``n_dist n_depth``, then one row of n_depth values per distance.
        """
        path = Path(path)
        tokens: list[str] = []
        for line in path.read_text().splitlines():
            line = line.split("#", 1)[0]
            tokens.extend(line.split())
        try:
            vals = [float(t) for t in tokens]
            i = 0
            nd = int(vals[i]); i += 1
            dist = vals[i:i + nd]; i += nd
            nh = int(vals[i]); i += 1
            depth = vals[i:i + nh]; i += nh
            if (int(vals[i]), int(vals[i + 1])) != (nd, nh):
                raise ValueError("table dimensions do not match the axes")
            i += 2
            q = np.array(vals[i:i + nd * nh]).reshape(nd, nh)
            if i + nd * nh != len(vals):
                raise ValueError(f"{len(vals) - i - nd * nh} extra values after the table")
        except (IndexError, ValueError) as exc:
            raise ValueError(f"{path}: not an iLoc magnitude Q table ({exc})") from None
        return cls(np.array(dist), np.array(depth), q, source=str(path))

    @cached_property
    def _spline(self) -> RectBivariateSpline:
        return RectBivariateSpline(self.distance_deg, self.depth_km, self.q, kx=3, ky=3, s=0)

    @cached_property
    def _linear(self) -> RegularGridInterpolator:
        return RegularGridInterpolator((self.distance_deg, self.depth_km), self.q, method="linear")

    def __call__(self, distance_deg, depth_km, interpolation: str = "bicubic") -> np.ndarray:
        """Table value at (distance, depth); NaN outside the table. Depths < 0 use 0 km.

        :param distance_deg: epicentral distance(s), deg
        :param depth_km: source depth(s), km (broadcast against ``distance_deg``)
        :param interpolation: ``"bicubic"`` or ``"bilinear"``
        """
        d, h = np.broadcast_arrays(np.asarray(distance_deg, float), np.asarray(depth_km, float))
        h = np.maximum(h, self.depth_km[0])
        inside = ((d >= self.distance_deg[0]) & (d <= self.distance_deg[-1])
                  & (h <= self.depth_km[-1]) & np.isfinite(d) & np.isfinite(h))
        out = np.full(d.shape, np.nan)
        if inside.any():
            if interpolation == "bicubic":
                out[inside] = self._spline.ev(d[inside], h[inside])
            elif interpolation == "bilinear":
                out[inside] = self._linear(np.column_stack([d[inside], h[inside]]))
            else:
                raise ValueError(f"unknown interpolation {interpolation!r} (bicubic, bilinear)")
        return out


@lru_cache(maxsize=1)
def veith_clawson_table() -> QTable:
    """The bundled Veith & Clawson (1972) table (peak-to-peak convention), read once."""
    return QTable.from_file(VC_TABLE_PATH)


def q_idc(distance_deg, depth_km, interpolation: str = "bicubic", offset: float = IDC_Q_OFFSET,
          table: QTable | None = None) -> np.ndarray:
    """IDC mb attenuation Q(D, h) for half peak-to-peak amplitudes in nm.

    :param distance_deg: epicentral distance, deg (0-100 for the bundled table)
    :param depth_km: source depth, km (0-800)
    :param interpolation: ``"bicubic"`` (SeisComP) or ``"bilinear"``
    :param offset: added to the peak-to-peak table (``0.301``, [SC-QVC])
    :param table: another :class:`QTable`; default the bundled Veith-Clawson table
    :returns: Q, magnitude units; NaN outside the table
    """
    table = table or veith_clawson_table()
    return table(distance_deg, depth_km, interpolation) + offset


def check_mb(amplitude_nm, period_s, distance_deg, depth_km, config: MbConfig = MbConfig(),
             table: QTable | None = None) -> np.ndarray:
    """Why each reading cannot give an mb: array of reasons, ``""`` where it can.

    Checks, in order: amplitude > 0, period > 0 and within the configured range, distance and
    depth within the configured range and within the Q table.
    """
    table = table or veith_clawson_table()
    a, t, d, h = np.broadcast_arrays(*(np.asarray(x, float) for x in
                                       (amplitude_nm, period_s, distance_deg, depth_km)))
    reasons = np.full(a.shape, "", dtype=object)

    def flag(mask, text):
        sel = mask & (reasons == "")
        reasons[sel] = text

    with np.errstate(invalid="ignore"):
        flag(~(a > 0), "amplitude missing or <= 0")
        flag(~(t > 0), "period missing or <= 0")
        flag((t < config.min_period_s) | (t > config.max_period_s),
             f"period outside {config.min_period_s}-{config.max_period_s} s")
        flag(~np.isfinite(d), "distance missing")
        flag((d < config.min_distance_deg) | (d > config.max_distance_deg),
             f"distance outside {config.min_distance_deg}-{config.max_distance_deg} deg")
        flag(d > table.distance_deg[-1], f"distance beyond the Q table ({table.distance_deg[-1]:g} deg)")
        flag(~np.isfinite(h), "depth missing")
        # min_depth_km <= 0 accepts sources above sea level (evaluated at 0 km)
        too_shallow = (h < config.min_depth_km) if config.min_depth_km > 0 else np.zeros(h.shape, bool)
        flag(too_shallow | (h > config.max_depth_km),
             f"depth outside {config.min_depth_km}-{config.max_depth_km} km")
        flag(h > table.depth_km[-1], f"depth beyond the Q table ({table.depth_km[-1]:g} km)")
    return reasons


def station_mb(amplitude_nm, period_s, distance_deg, depth_km, config: MbConfig = MbConfig(),
               table: QTable | None = None) -> np.ndarray:
    """IDC station mb = log10(A/T) + Q(D, h) (no station correction).

    :param amplitude_nm: A5/2 amplitude, nm (half peak-to-trough, vertical displacement)
    :param period_s: period of the amplitude, s
    :param distance_deg: epicentral distance, deg
    :param depth_km: source depth, km
    :param config: validity ranges, interpolation and Q offset
    :param table: Q table; default the bundled Veith-Clawson table
    :returns: mb per reading; NaN where :func:`check_mb` gives a reason
    """
    reasons = check_mb(amplitude_nm, period_s, distance_deg, depth_km, config, table)
    a, t, d, h = np.broadcast_arrays(*(np.asarray(x, float) for x in
                                       (amplitude_nm, period_s, distance_deg, depth_km)))
    ok = reasons == ""
    out = np.full(a.shape, np.nan)
    if ok.any():
        q = q_idc(d[ok], h[ok], config.interpolation, config.q_offset, table)
        out[ok] = np.log10(a[ok] / t[ok]) + q
    return out
