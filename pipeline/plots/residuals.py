"""Station residual plot: arrival-time residuals (observed minus predicted, s) of one or many events,
against epicentral distance and event-to-station azimuth, and summarised per station and phase.

Systematic per-station residuals are what station corrections (SSSCs at the IDC) absorb; a residual
that varies with azimuth points at lateral heterogeneity or a mislocated event.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline.plots.common import PlotInputError, arrival_table, catalog_span, pyplot, save
from pipeline.plots.record_section import CURVE_COLOURS


@dataclass
class ResidualPlotResult:
    """What :func:`plot_residuals` drew: residual counts and the per-station/phase statistics."""

    path: Path
    residuals: int
    events: int
    stations: int
    per_phase: dict[str, int]
    station_stats: pd.DataFrame = field(repr=False, default_factory=pd.DataFrame)


def station_residual_stats(table: pd.DataFrame) -> pd.DataFrame:
    """Per (station, phase): ``n``, ``mean_s``, ``median_s``, ``std_s`` (sample, NaN for n = 1) and
    ``distance_deg`` (mean), from an :func:`~pipeline.plots.common.arrival_table` with residuals."""
    t = table.dropna(subset=["time_residual_s"])
    if t.empty:
        return pd.DataFrame(columns=["station", "phase", "n", "mean_s", "median_s", "std_s", "distance_deg"])
    g = t.groupby(["station", "phase"])
    out = pd.DataFrame({"n": g["time_residual_s"].size(), "mean_s": g["time_residual_s"].mean(),
                        "median_s": g["time_residual_s"].median(), "std_s": g["time_residual_s"].std(ddof=1),
                        "distance_deg": g["distance_deg"].mean()}).reset_index()
    return out.sort_values(["distance_deg", "station", "phase"], na_position="last").reset_index(drop=True)


def plot_residuals(catalog, path: str | Path, stations=None, phases=None, defining_only: bool = False,
                   title: str = "", max_station_rows: int = 50, figsize: tuple[float, float] = (12.0, 7.5),
                   dpi: int = 110) -> ResidualPlotResult:
    """Plot arrival-time residuals of the preferred origins of ``catalog`` to a PNG.

    :param catalog: obspy Catalog (or list of events) whose arrivals carry ``time_residual``.
    :param stations: optional DataFrame/Inventory, used only where an arrival lacks distance/azimuth.
    :param phases: restrict to these phase names (default: all).
    :param defining_only: keep only time-defining arrivals (``time_weight > 0``); otherwise
        non-defining ones are drawn as open symbols.
    :param max_station_rows: the per-station panel shows at most this many (station, phase) rows,
        those with most residuals.
    :returns: :class:`ResidualPlotResult`.
    """
    plt = pyplot()
    table = arrival_table(catalog, stations)
    table = table.dropna(subset=["time_residual_s"])
    if phases:
        table = table[table["phase"].isin(list(phases))]
    if defining_only:
        table = table[table["time_defining"]]
    if table.empty:
        raise PlotInputError("no arrival with a time residual to plot"
                             + (f" for phases {', '.join(phases)}" if phases else "")
                             + (" among time-defining arrivals" if defining_only else ""))
    stats = station_residual_stats(table)
    phase_list = sorted(table["phase"].unique(), key=lambda p: (-int((table["phase"] == p).sum()), p))
    colour = {p: CURVE_COLOURS[i % len(CURVE_COLOURS)] for i, p in enumerate(phase_list)}

    fig = plt.figure(figsize=figsize)
    gs = fig.add_gridspec(2, 2, width_ratios=(1.6, 1.0), hspace=0.35, wspace=0.25)
    ax_d = fig.add_subplot(gs[0, 0])
    ax_a = fig.add_subplot(gs[1, 0], sharey=ax_d)
    ax_s = fig.add_subplot(gs[:, 1])
    for p in phase_list:
        sel = table[table["phase"] == p]
        label = f"{p} ({len(sel)})"
        for defining in (True, False):
            s = sel[sel["time_defining"] == defining]
            if s.empty:
                continue
            kw = dict(marker="o", ls="none", ms=5, mec=colour[p], mfc=colour[p] if defining else "none", alpha=0.85)
            ax_d.plot(s["distance_deg"], s["time_residual_s"], label=label, **kw)
            ax_a.plot(s["azimuth_deg"], s["time_residual_s"], **kw)
            label = None
    for ax in (ax_d, ax_a):
        ax.axhline(0.0, color="0.3", lw=0.8)
        ax.grid(alpha=0.3)
        ax.set_ylabel("time residual (s)")
    ax_d.set_xlabel("epicentral distance (deg)")
    ax_a.set_xlabel("event-to-station azimuth (deg)")
    ax_a.set_xlim(0, 360)
    ax_a.set_xticks(range(0, 361, 45))
    handles, labels = ax_d.get_legend_handles_labels()
    if not table["time_defining"].all():
        from matplotlib.lines import Line2D

        handles.append(Line2D([], [], marker="o", ls="none", mec="0.3", mfc="none", label="non-defining"))
    ax_d.legend(handles=handles, fontsize=8, loc="best", title="phase (n)", title_fontsize=8)

    rows = stats.nlargest(max_station_rows, "n").sort_values(["distance_deg", "station", "phase"],
                                                               na_position="last", ascending=False)
    y = np.arange(len(rows))
    err = rows["std_s"].fillna(0.0).to_numpy()
    for k, r in enumerate(rows.itertuples()):
        ax_s.errorbar(r.mean_s, k, xerr=err[k], fmt="o", ms=4, color=colour.get(r.phase, "k"), capsize=2)
        ax_s.text(1.01, k, f"n={r.n}", transform=ax_s.get_yaxis_transform(), fontsize=6, va="center")
    ax_s.set_yticks(y)
    ax_s.set_yticklabels([f"{r.station} {r.phase}" for r in rows.itertuples()], fontsize=7)
    ax_s.axvline(0.0, color="0.3", lw=0.8)
    ax_s.grid(alpha=0.3, axis="x")
    ax_s.set_xlabel("mean time residual ± 1 std (s)")
    ax_s.set_title("per station and phase (by distance)", fontsize=9)
    n_events = int(table["event"].nunique())
    span = catalog_span(catalog)
    fig.suptitle(f"{title or 'arrival-time residuals'}\n{len(table)} residuals, {n_events} events, "
                 f"{table['station'].nunique()} stations{f', {span}' if span else ''}", fontsize=10)
    out = save(fig, path, dpi=dpi)
    return ResidualPlotResult(path=out, residuals=len(table), events=n_events,
                              stations=int(table["station"].nunique()),
                              per_phase={p: int((table["phase"] == p).sum()) for p in phase_list},
                              station_stats=stats)
