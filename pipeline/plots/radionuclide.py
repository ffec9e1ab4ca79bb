"""Radionuclide plots: the radioxenon isotopic-ratio plot (civil vs explosion discrimination line),
a gamma spectrum with its peaks, and the beta–gamma histogram with its ROIs."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from pipeline.plots.common import PlotInputError, pyplot, save
from pipeline.radionuclide.xenon_ratios import PLOTS


def plot_xenon_ratios(points: list[dict], path: str | Path, plot: str = "MIRC", title: str = "") -> Path:
    """Log–log isotopic-ratio plot with the discrimination line ``y = K·x^m`` over 1e−4…1e4.

    :param points: dicts with ``x``, ``y`` (ratios) and optional ``label``, ``x_err``, ``y_err``
    :param plot: name of one of :data:`pipeline.radionuclide.xenon_ratios.PLOTS`
    """
    spec = next((p for p in PLOTS if p.name == plot), None)
    if spec is None:
        raise PlotInputError(f"unknown ratio plot {plot!r} (one of {', '.join(p.name for p in PLOTS)})")
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 5.2))
    xs = np.logspace(-4, 4, 200)
    ax.plot(xs, spec.K * xs ** spec.m, "k-", lw=1.2, label=f"y = {spec.K:g}·x^{spec.m:g} (Kalinowski et al. 2010)")
    if spec.explosion_below is not None:
        lo, hi = (1e-4, np.clip(spec.K * xs ** spec.m, 1e-4, 1e4)) if spec.explosion_below else \
            (np.clip(spec.K * xs ** spec.m, 1e-4, 1e4), 1e4)
        ax.fill_between(xs, lo, hi, color="tab:red", alpha=0.08, label="explosion domain")
    for i, p in enumerate(points):
        if not (p.get("x", 0) > 0 and p.get("y", 0) > 0):
            continue
        ax.errorbar([p["x"]], [p["y"]], xerr=p.get("x_err"), yerr=p.get("y_err"), fmt="o", ms=6, capsize=3,
                    label=p.get("label") or f"sample {i + 1}")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(1e-4, 1e4)
    ax.set_ylim(1e-4, 1e4)
    ax.set_xlabel(f"{spec.x[0]} / {spec.x[1]}")
    ax.set_ylabel(f"{spec.y[0]} / {spec.y[1]}")
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize=7, loc="upper left")
    ax.set_title(title or "Radioxenon isotopic ratios")
    return save(fig, path)


def plot_gamma_spectrum(spectrum, path: str | Path, peaks: list[dict] = (), title: str = "") -> Path:
    """A gamma spectrum (xarray with an ``energy_keV`` coordinate) on a log count axis, found peaks
    marked with their nuclide."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(9, 4))
    e = np.asarray(spectrum.energy_keV)
    ax.step(e, np.maximum(np.asarray(spectrum), 0.5), where="mid", lw=0.6, color="tab:blue")
    for p in peaks:
        ax.axvline(p["energy_keV"], color="tab:red", lw=0.5, alpha=0.6)
        if p.get("nuclide"):
            ax.annotate(p["nuclide"], (p["energy_keV"], 1), xycoords=("data", "axes fraction"), rotation=90,
                        fontsize=6, va="top", ha="right", color="tab:red")
    ax.set_yscale("log")
    ax.set_xlabel("energy (keV)")
    ax.set_ylabel("counts per channel")
    ax.set_title(title or str(spectrum.attrs.get("source", "")))
    return save(fig, path)


def plot_bg_histogram(hist, path: str | Path, rois: list[dict] = (), title: str = "") -> Path:
    """The beta–gamma histogram (log colour scale) with the ROI boxes of ``#ROI_Limits``."""
    plt = pyplot()
    from matplotlib.colors import LogNorm
    from matplotlib.patches import Rectangle

    fig, ax = plt.subplots(figsize=(6.4, 5.2))
    c = np.asarray(hist, dtype=float)
    eb, eg = np.asarray(hist.beta_energy_keV), np.asarray(hist.gamma_energy_keV)
    m = ax.pcolormesh(eb, eg, np.where(c > 0, c, np.nan), norm=LogNorm(vmin=1, vmax=max(c.max(), 2)),
                      shading="nearest", cmap="viridis")
    fig.colorbar(m, ax=ax, label="counts")
    for r in rois:
        ax.add_patch(Rectangle((r["beta_low_keV"], r["gamma_low_keV"]), r["beta_high_keV"] - r["beta_low_keV"],
                               r["gamma_high_keV"] - r["gamma_low_keV"], fill=False, ec="w", lw=0.7))
        ax.text(r["beta_high_keV"], r["gamma_high_keV"], str(r["roi"]), color="w", fontsize=6, ha="right", va="top")
    ax.set_xlabel("beta energy (keV)")
    ax.set_ylabel("gamma energy (keV)")
    ax.set_xlim(0, min(eb.max(), 800))
    ax.set_ylim(0, min(eg.max(), 450))
    ax.set_title(title or str(hist.attrs.get("source", "")))
    return save(fig, path)
