"""Three-component polarisation analysis (covariance-matrix method, Jurkevics 1988).

In a short window after the onset the 3 x 3 covariance matrix of the band-passed (Z, N, E)
ground motion is decomposed; with eigenvalues l1 >= l2 >= l3 and principal eigenvector
u = (uz, un, ue):

* rectilinearity ``1 - (l2 + l3) / (2 l1)`` (0 = circular, 1 = linear);
* apparent incidence ``arccos(|uz|)``, degrees from the vertical;
* backazimuth (P only): the horizontal direction of u gives the azimuth up to 180 degrees. The
  P wave moves the ground *up and away from the source* at the same time, so the vertical and
  the radial motion along azimuth ``az = atan2(ue, un)`` are positively correlated when ``az``
  points away from the source: then ``baz = az + 180``, otherwise ``baz = az``;
* apparent slowness (P only) from the apparent incidence with Wiechert's free-surface relation
  ``p = sin(i_app / 2) / vs`` (s/km; vs = near-surface S velocity), converted to s/deg with
  111.195 km/deg.

Uncertainties are the usual eigenvalue-ratio spreads: backazimuth ``atan(sqrt(h2 / h1))`` from
the horizontal 2 x 2 covariance (h1 >= h2), incidence ``atan(sqrt(l2 / l1))`` propagated to the
slowness. These are 1-sigma-like indicators, not calibrated errors.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

KM_PER_DEG = 111.195


@dataclass(frozen=True)
class Polarisation:
    """Polarisation attributes of one window (angles in degrees, slowness in s/deg)."""

    rectilinearity: float
    incidence: float
    incidence_uncertainty: float
    azimuth: float  # horizontal azimuth of the principal axis, 0-180 ambiguous, deg
    backazimuth: float  # P convention (see module docstring), deg
    backazimuth_uncertainty: float
    slowness: float
    slowness_uncertainty: float


NAN_POLARISATION = Polarisation(*([np.nan] * 8))


def polarisation(z: np.ndarray, n: np.ndarray, e: np.ndarray, vs_km_s: float) -> Polarisation:
    """Covariance-matrix polarisation of equally long windows of Z (up), N and E.

    :param z: / :param n: / :param e: band-passed ground motion, same unit on all three
    :param vs_km_s: near-surface S velocity for the slowness, km/s
    """
    x = np.vstack([z, n, e]).astype(np.float64)
    if x.shape[1] < 4 or not np.all(np.isfinite(x)):
        return NAN_POLARISATION
    x -= x.mean(axis=1, keepdims=True)
    cov = x @ x.T / x.shape[1]
    if not np.isfinite(cov).all() or np.trace(cov) <= 0:
        return NAN_POLARISATION
    w, v = np.linalg.eigh(cov)  # ascending
    l3, l2, l1 = np.maximum(w, 0.0)
    u = v[:, 2]
    rect = 1.0 - (l2 + l3) / (2.0 * l1) if l1 > 0 else np.nan
    inc = float(np.degrees(np.arccos(min(1.0, abs(u[0])))))
    inc_unc = float(np.degrees(np.arctan(np.sqrt(l2 / l1)))) if l1 > 0 else np.nan

    az = float(np.degrees(np.arctan2(u[2], u[1]))) % 360.0
    radial = x[1] * np.cos(np.radians(az)) + x[2] * np.sin(np.radians(az))
    baz = (az + 180.0) % 360.0 if float(np.dot(x[0], radial)) > 0 else az
    hcov = cov[1:, 1:]
    hw = np.maximum(np.linalg.eigvalsh(hcov), 0.0)
    baz_unc = float(np.degrees(np.arctan(np.sqrt(hw[0] / hw[1])))) if hw[1] > 0 else np.nan

    half = np.radians(inc) / 2.0
    slow = np.sin(half) / vs_km_s * KM_PER_DEG
    slow_unc = np.cos(half) / (2.0 * vs_km_s) * np.radians(inc_unc) * KM_PER_DEG
    return Polarisation(float(rect), inc, inc_unc, az % 180.0, float(baz), baz_unc,
                        float(slow), float(slow_unc))


def polarisation_batch(x: np.ndarray, vs_km_s: float) -> dict[str, np.ndarray]:
    """:func:`polarisation` of many windows at once.

    :param x: windows, shape ``(n_windows, 3, n_samples)`` with rows Z (up), N, E
    :param vs_km_s: near-surface S velocity for the slowness, km/s
    :returns: dict of float arrays (length ``n_windows``) keyed like the fields of
        :class:`Polarisation`
    """
    x = np.asarray(x, dtype=np.float64)
    m = x.shape[0]
    keys = Polarisation.__dataclass_fields__.keys()
    if m == 0 or x.shape[2] < 4:
        return {k: np.full(m, np.nan) for k in keys}
    x = x - x.mean(axis=2, keepdims=True)
    cov = np.einsum("cij,ckj->cik", x, x) / x.shape[2]
    ok = np.isfinite(cov).all(axis=(1, 2)) & (np.trace(cov, axis1=1, axis2=2) > 0)
    cov[~ok] = np.eye(3)
    w, v = np.linalg.eigh(cov)
    w = np.maximum(w, 0.0)
    l1, l2, l3 = w[:, 2], w[:, 1], w[:, 0]
    u = v[:, :, 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        rect = 1.0 - (l2 + l3) / (2.0 * l1)
        inc = np.degrees(np.arccos(np.minimum(1.0, np.abs(u[:, 0]))))
        inc_unc = np.degrees(np.arctan(np.sqrt(l2 / l1)))
        az = np.degrees(np.arctan2(u[:, 2], u[:, 1])) % 360.0
        radial = (x[:, 1] * np.cos(np.radians(az))[:, None] + x[:, 2] * np.sin(np.radians(az))[:, None])
        corr = np.einsum("cj,cj->c", x[:, 0], radial)
        baz = np.where(corr > 0, (az + 180.0) % 360.0, az)
        hw = np.maximum(np.linalg.eigvalsh(cov[:, 1:, 1:]), 0.0)
        baz_unc = np.degrees(np.arctan(np.sqrt(hw[:, 0] / hw[:, 1])))
        half = np.radians(inc) / 2.0
        slow = np.sin(half) / vs_km_s * KM_PER_DEG
        slow_unc = np.cos(half) / (2.0 * vs_km_s) * np.radians(inc_unc) * KM_PER_DEG
    out = dict(rectilinearity=rect, incidence=inc, incidence_uncertainty=inc_unc, azimuth=az % 180.0,
               backazimuth=baz, backazimuth_uncertainty=baz_unc, slowness=slow,
               slowness_uncertainty=slow_unc)
    for k in out:
        out[k] = np.where(ok, out[k], np.nan).astype(np.float64)
    return out
