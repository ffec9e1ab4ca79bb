"""Onset refinement with the Akaike information criterion (AIC) picker.

Maeda (1985) computes the AIC directly from the samples of a window of length ``N``::

    AIC(k) = k * log(var(x[0:k])) + (N - k - 1) * log(var(x[k:N]))

The onset is the sample ``k`` where AIC is minimal: the split that best separates two
stationary segments (noise, then signal). Variances are computed from cumulative sums, so the
picker is O(N). For several components (e.g. both horizontals of an S wave) the AIC curves are
summed.
"""
from __future__ import annotations

import numpy as np

#: samples excluded at each end of the window (variance of 1-2 samples is meaningless)
_EDGE = 5


def aic_curve(x: np.ndarray) -> np.ndarray:
    """Maeda AIC of window ``x`` (1-D). Entry ``k`` scores an onset at sample ``k``; the first
    and last :data:`_EDGE` entries are ``+inf``.

    :param x: samples of one component, any unit (the AIC is scale-invariant)
    :returns: float64 array, same length as ``x``
    """
    x = np.asarray(x, dtype=np.float64)
    n = x.size
    out = np.full(n, np.inf)
    if n < 2 * _EDGE + 2:
        return out
    x = x - x.mean()
    c1 = np.cumsum(x)
    c2 = np.cumsum(x * x)
    k = np.arange(_EDGE, n - _EDGE)
    # prefix x[0:k] has k samples -> sums c[k-1]; suffix x[k:n] has n-k samples
    s1p, s2p = c1[k - 1], c2[k - 1]
    s1s, s2s = c1[-1] - s1p, c2[-1] - s2p
    var_p = s2p / k - (s1p / k) ** 2
    var_s = s2s / (n - k) - (s1s / (n - k)) ** 2
    tiny = np.finfo(np.float64).tiny + 1e-30 * (c2[-1] / n)
    out[k] = k * np.log(np.maximum(var_p, tiny)) + (n - k - 1) * np.log(np.maximum(var_s, tiny))
    return out


def aic_onset(components: list[np.ndarray], i0: int, i1: int) -> tuple[int, np.ndarray]:
    """AIC onset of the summed AIC curves of ``components`` inside samples ``[i0, i1)``.

    :param components: equally long 1-D arrays (band-passed samples of one or more components)
    :param i0: first sample of the search window (clipped to the array)
    :param i1: end of the search window (exclusive, clipped)
    :returns: ``(index, curve)``: absolute sample index of the onset (-1 when the window is too
        short) and the summed AIC curve of the window
    """
    n = len(components[0])
    i0, i1 = max(0, int(i0)), min(n, int(i1))
    if i1 - i0 < 2 * _EDGE + 2:
        return -1, np.empty(0)
    curve = np.zeros(i1 - i0)
    for c in components:
        curve += aic_curve(c[i0:i1])
    k = int(np.argmin(curve))
    if not np.isfinite(curve[k]):
        return -1, curve
    return i0 + k, curve


def aic_curves(x: np.ndarray) -> np.ndarray:
    """:func:`aic_curve` of every row of the 2-D array ``x`` (one window per row), vectorised.

    :param x: windows, shape ``(n_windows, n_samples)``
    :returns: float64 array of the same shape (edges ``+inf``)
    """
    x = np.asarray(x, dtype=np.float64)
    m, n = x.shape
    out = np.full((m, n), np.inf)
    if n < 2 * _EDGE + 2 or m == 0:
        return out
    x = x - x.mean(axis=1, keepdims=True)
    c1 = np.cumsum(x, axis=1)
    c2 = np.cumsum(x * x, axis=1)
    k = np.arange(_EDGE, n - _EDGE)
    s1p, s2p = c1[:, k - 1], c2[:, k - 1]
    s1s, s2s = c1[:, -1:] - s1p, c2[:, -1:] - s2p
    var_p = s2p / k - (s1p / k) ** 2
    var_s = s2s / (n - k) - (s1s / (n - k)) ** 2
    tiny = np.finfo(np.float64).tiny + 1e-30 * (c2[:, -1:] / n)
    out[:, k] = k * np.log(np.maximum(var_p, tiny)) + (n - k - 1) * np.log(np.maximum(var_s, tiny))
    return out
