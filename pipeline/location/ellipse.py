"""Confidence regions of a location: Jordan & Sverdrup (1981) scaling [REFERENCE 2.2].

With N defining data (weighted residuals ``r_i = residual / sigma``), M free parameters and K
prior degrees of freedom with prior standard error ``s0``::

    ndf      = K + N - M
    sigma²   = (K * s0² + sum r_i²) / ndf
    C        = sigma² * (GᵀG)⁻¹            (G: the weighted design matrix)

The epicentre ellipse at confidence ``p`` has the semi-axes ``sqrt(lambda_i * 2 F(2, ndf, p))``
of the (east, north) 2×2 block of ``C`` (eigenvalues ``lambda_i``; the same as
``sqrt(lambda_i(GᵀG)⁻¹) * sqrt(2 F) * sigma``), strike = azimuth of the major axis clockwise
from north; depth and origin-time half-intervals are ``sqrt(C_kk * F(1, ndf, p))``. With
``K -> inf``: ``sigma = s0`` and ``k F(k, inf, p) = chi²_k(p)`` (the "coverage" ellipse).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


def f_critical(dfn: int, ndf: float, confidence: float) -> float:
    """Critical value of the F distribution F(dfn, ndf) at ``confidence`` (``ndf = inf``
    allowed: then chi²_dfn(confidence) / dfn)."""
    from scipy import stats

    if not ndf > 0:
        raise ValueError(f"degrees of freedom must be > 0, got {ndf}")
    if math.isinf(ndf) or ndf > 1e7:
        return float(stats.chi2.ppf(confidence, dfn) / dfn)
    return float(stats.f.ppf(confidence, dfn, ndf))


def jordan_sverdrup(weighted_residuals, n_params: int, prior_dof: float = 8.0,
                    prior_sigma: float = 1.0) -> tuple[float, float]:
    """``(ndf, sigma_hat)``: degrees of freedom ``K + N - M`` and the a-posteriori standard
    error ``sqrt((K s0² + sum r²) / ndf)`` (dimensionless, in units of the data sigmas).

    :param weighted_residuals: residual / sigma of each defining datum.
    :param n_params: number of free parameters M.
    :param prior_dof: K (``inf`` = sigma_hat is s0).
    :param prior_sigma: s0.
    """
    r = np.asarray(weighted_residuals, dtype=float)
    if math.isinf(prior_dof):
        return math.inf, float(prior_sigma)
    ndf = prior_dof + r.size - n_params
    if ndf <= 0:
        return float(ndf), math.nan
    return float(ndf), math.sqrt((prior_dof * prior_sigma ** 2 + float(np.sum(r * r))) / ndf)


@dataclass(frozen=True)
class ErrorEllipse:
    """Epicentre confidence ellipse.

    :param semi_major_km: semi-major axis, km.
    :param semi_minor_km: semi-minor axis, km.
    :param strike_deg: azimuth of the major axis, deg clockwise from north, in [0, 180).
    :param confidence: confidence level (0.9 = 90 %).
    """

    semi_major_km: float
    semi_minor_km: float
    strike_deg: float
    confidence: float

    def contains(self, east_km, north_km) -> np.ndarray:
        """Whether offsets (east, north) in km from the epicentre lie inside the ellipse."""
        s = math.radians(self.strike_deg)
        e, n = np.asarray(east_km, float), np.asarray(north_km, float)
        u = e * math.sin(s) + n * math.cos(s)   # along the major axis
        v = e * math.cos(s) - n * math.sin(s)   # along the minor axis
        a = max(self.semi_major_km, 1e-12)
        b = max(self.semi_minor_km, 1e-12)
        return (u / a) ** 2 + (v / b) ** 2 <= 1.0

    @property
    def area_km2(self) -> float:
        return math.pi * self.semi_major_km * self.semi_minor_km


def error_ellipse(cov_en_km2, ndf: float, confidence: float = 0.9) -> ErrorEllipse:
    """Ellipse from the **scaled** 2×2 (east, north) covariance block (km²).

    :param cov_en_km2: ``[[C_ee, C_en], [C_ne, C_nn]]`` already multiplied by sigma_hat².
    :param ndf: Jordan & Sverdrup degrees of freedom.
    :param confidence: confidence level.
    """
    c = np.asarray(cov_en_km2, dtype=float)
    c = 0.5 * (c + c.T)
    lam, vec = np.linalg.eigh(c)
    lam = np.clip(lam, 0.0, None)
    k = math.sqrt(2.0 * f_critical(2, ndf, confidence))
    major = vec[:, 1]
    strike = math.degrees(math.atan2(major[0], major[1])) % 180.0
    return ErrorEllipse(semi_major_km=k * math.sqrt(lam[1]), semi_minor_km=k * math.sqrt(lam[0]),
                        strike_deg=strike, confidence=confidence)


def half_interval(variance: float, ndf: float, confidence: float = 0.9) -> float:
    """One-parameter half-interval ``sqrt(variance * F(1, ndf, p))`` (variance scaled)."""
    return math.sqrt(max(variance, 0.0) * f_critical(1, ndf, confidence))
