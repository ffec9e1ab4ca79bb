"""Network magnitude from station magnitudes, robust to outliers.

Methods (``NetworkConfig.method``):

``alpha_trimmed_median`` (default; ISC / iLoc ``GetNetmag`` [ILOC])
    Sort the n station magnitudes, drop ``m = floor(alpha*n)`` from each end (alpha = 0.2), the
    network magnitude is the median (of all, which equals the median of the trimmed set), the
    uncertainty is the SMAD ``1.4826 * median(|m_i - median|)`` of the trimmed set. Note that with
    n < 5 nothing is trimmed, and that the SMAD can be 0 (e.g. two of three values equal).
``trimmed_mean`` (SeisComP default [SC-mb, SC-Ms20])
    Mean after dropping ``trim_fraction`` (12.5 %) of the values at each end with fractional
    end weights (Rosenberger & Gasko 1983, as SeisComP ``computeTrimmedMean``); uncertainty =
    weighted standard deviation ``sqrt(sum w (m - M)^2 / (sum w - 1))``; used = weight > 0.
``outlier_mean`` (IDC: "average of station magnitudes after removing outliers" [CTBTO23])
    The IDC's rejection rule was not found, so it is configuration: station magnitudes with
    ``|m_i - median| > max(outlier_k * SMAD, outlier_min_deviation)`` (defaults 3 and 0.5
    magnitude units; one pass around the median of all) are removed; the network magnitude is
    the mean of the rest, the uncertainty their sample standard deviation. The 0.5 floor keeps
    the 1995 REB example (FINES 3.7, ARCES 3.7, MBC 3.3 -> REB mb 3.6 from 3 stations) intact.

Fewer than ``min_stations`` (default 3, ISC) valid station magnitudes: the plain mean is
returned with ``low_quality=True`` and ``method="mean"``; the uncertainty is the sample standard
deviation for two values and NaN for one. No valid values: NaN, ``n_used = 0``.

Residuals are ``m_i - network value`` for every finite station magnitude, including the ones not
used (trimmed/outliers, ``used=False``); NaN inputs get a NaN residual and ``used=False``.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from pipeline.magnitude.config import NetworkConfig

SMAD_SCALE = 1.4826


@dataclass(frozen=True)
class NetworkMagnitude:
    """A network magnitude and how it was formed (sequences in the order of the input values).

    :ivar magtype: "mb", "ML", "Ms" (or whatever the caller passed)
    :ivar value: network magnitude (NaN when no station magnitude was valid)
    :ivar uncertainty: method-specific spread (SMAD or standard deviation), magnitude units
    :ivar n_used: station magnitudes that contributed
    :ivar n_stations: finite station magnitudes considered
    :ivar method: method actually applied ("mean" for the low-quality fallback)
    :ivar low_quality: fewer than ``min_stations`` station magnitudes
    :ivar residuals: station magnitude - network value
    :ivar used: contributed to the value
    :ivar labels: station labels given by the caller (or "")
    """

    magtype: str
    value: float
    uncertainty: float
    n_used: int
    n_stations: int
    method: str
    low_quality: bool
    residuals: tuple[float, ...]
    used: tuple[bool, ...]
    labels: tuple[str, ...] = ()

    def as_dict(self) -> dict:
        """JSON-able dictionary (NaN stays float NaN)."""
        return asdict(self)


def _smad(values: np.ndarray, center: float) -> float:
    if values.size == 0:
        return float("nan")
    return float(SMAD_SCALE * np.median(np.abs(values - center)))


def alpha_trimmed_median(values, alpha: float = 0.2) -> tuple[float, float, np.ndarray]:
    """ISC alpha-trimmed median.

    :param values: finite station magnitudes
    :param alpha: fraction trimmed from each end (``floor(alpha*n)`` values)
    :returns: (median, SMAD of the trimmed set, used mask in input order)
    """
    v = np.asarray(values, float)
    n = v.size
    if n == 0:
        return float("nan"), float("nan"), np.zeros(0, bool)
    order = np.argsort(v, kind="stable")
    m = int(np.floor(alpha * n))
    used = np.zeros(n, bool)
    used[order[m:n - m]] = True
    median = float(np.median(v))
    return median, _smad(v[used], median), used


def trimmed_mean(values, fraction: float = 0.125) -> tuple[float, float, np.ndarray]:
    """SeisComP trimmed mean with fractional end weights (Rosenberger & Gasko 1983).

    :param values: finite station magnitudes
    :param fraction: fraction trimmed from each end (SeisComP "25 %" trimmed mean = 0.125)
    :returns: (mean, weighted standard deviation, weights in input order)
    """
    v = np.asarray(values, float)
    n = v.size
    if n == 0:
        return float("nan"), float("nan"), np.zeros(0)
    order = np.argsort(v, kind="stable")
    k = int(n * fraction + 1e-5)
    w_sorted = np.zeros(n)
    for i in range(n):
        if k + 1 <= i < n - k - 1:
            w_sorted[i] = 1.0
        elif i == k or i == n - k - 1:
            w_sorted[i] = k + 1 - n * fraction
    weights = np.empty(n)
    weights[order] = w_sorted
    mean = float(np.sum(weights * v) / np.sum(weights))
    sw = float(np.sum(weights))
    std = float(np.sqrt(np.sum(weights * (v - mean) ** 2) / (sw - 1))) if sw > 1 else float("nan")
    return mean, std, weights


def outlier_mean(values, k: float = 3.0, min_deviation: float = 0.5) -> tuple[float, float, np.ndarray]:
    """Mean after removing outliers around the median (IDC-style; the rule is configuration).

    :param values: finite station magnitudes
    :param k: threshold in SMADs
    :param min_deviation: smallest threshold, magnitude units
    :returns: (mean of kept values, their sample standard deviation, used mask)
    """
    v = np.asarray(values, float)
    if v.size == 0:
        return float("nan"), float("nan"), np.zeros(0, bool)
    median = float(np.median(v))
    threshold = max(k * _smad(v, median), min_deviation)
    used = np.abs(v - median) <= threshold
    kept = v[used]
    std = float(np.std(kept, ddof=1)) if kept.size > 1 else float("nan")
    return float(np.mean(kept)), std, used


def network_magnitude(values, config: NetworkConfig = NetworkConfig(), magtype: str = "",
                      labels=None) -> NetworkMagnitude:
    """Network magnitude of one type from its station magnitudes.

    :param values: station magnitudes (NaN = not valid, kept with ``used=False``)
    :param config: method and its parameters
    :param magtype: label carried into the result
    :param labels: optional station labels (same length as ``values``)
    :returns: :class:`NetworkMagnitude`
    """
    v = np.asarray(values, float).ravel()
    labels = tuple(str(s) for s in labels) if labels is not None else ("",) * v.size
    if len(labels) != v.size:
        raise ValueError(f"{len(labels)} labels for {v.size} station magnitudes")
    finite = np.isfinite(v)
    vals = v[finite]
    n = int(vals.size)
    if n == 0:
        return NetworkMagnitude(magtype, float("nan"), float("nan"), 0, 0, config.method, True,
                                tuple([float("nan")] * v.size), (False,) * v.size, labels)
    if n < config.min_stations:
        method = "mean"
        value = float(np.mean(vals))
        unc = float(np.std(vals, ddof=1)) if n > 1 else float("nan")
        used_f = np.ones(n, bool)
    elif config.method == "alpha_trimmed_median":
        method = config.method
        value, unc, used_f = alpha_trimmed_median(vals, config.alpha)
    elif config.method == "trimmed_mean":
        method = config.method
        value, unc, w = trimmed_mean(vals, config.trim_fraction)
        used_f = w > 0
    elif config.method == "outlier_mean":
        method = config.method
        value, unc, used_f = outlier_mean(vals, config.outlier_k, config.outlier_min_deviation)
    else:  # pragma: no cover - the config validates the name
        raise ValueError(f"unknown network magnitude method {config.method!r}")
    used = np.zeros(v.size, bool)
    used[np.flatnonzero(finite)[used_f]] = True
    residuals = v - value
    return NetworkMagnitude(magtype, float(value), float(unc), int(used.sum()), n, method,
                            n < config.min_stations, tuple(float(r) for r in residuals),
                            tuple(bool(u) for u in used), labels)
