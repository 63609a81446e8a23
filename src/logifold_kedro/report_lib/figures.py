"""Report figures, built as standalone matplotlib Figures on the Agg canvas.

The figures never go through ``pyplot``: no global figure registry (nothing to close, no leaks in
long runs) and no interactive backend, so they work headless and inside Kedro's
``matplotlib.MatplotlibDataset`` (which calls ``figure.savefig``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

THRESHOLD_CURVE_COLUMNS = (
    "threshold",
    "core_coverage",
    "out_of_core_coverage",
    "core_accuracy",
    "out_of_core_accuracy",
    "overall_accuracy",
)

# (column, legend label, line style, colour): coverages dashed, accuracies solid; core blue.
_CURVES = (
    ("core_coverage", "core coverage", "--", "tab:blue"),
    ("out_of_core_coverage", "out-of-core coverage", "--", "tab:orange"),
    ("core_accuracy", "core accuracy", "-", "tab:blue"),
    ("out_of_core_accuracy", "out-of-core accuracy", "-", "tab:orange"),
)


def _new_figure(width: float, height: float) -> Figure:
    figure = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def _require_columns(df: pd.DataFrame, columns: tuple[str, ...] | list[str], name: str) -> None:
    if not isinstance(df, pd.DataFrame):
        raise ValueError(f"{name} must be a pandas DataFrame, got {type(df).__name__}.")
    missing = [column for column in columns if column not in df.columns]
    if missing:
        raise ValueError(
            f"{name} lacks columns {missing} (has {list(df.columns)}); "
            "build it with logifold.threshold_curve."
        )


def _draw_threshold_curve(
    axes: Axes, curve_df: pd.DataFrame, chosen_t: float | None, title: str
) -> None:
    _require_columns(curve_df, THRESHOLD_CURVE_COLUMNS, "curve_df")
    if curve_df.empty:
        raise ValueError("curve_df has no rows: evaluate the curve on a non-empty grid.")
    curve = curve_df.sort_values("threshold")
    for column, label, style, color in _CURVES:
        axes.plot(curve["threshold"], curve[column], linestyle=style, color=color, label=label)
    overall = float(curve["overall_accuracy"].iloc[0])
    axes.axhline(overall, color="black", linestyle=":", label=f"overall accuracy ({overall:.3f})")
    if chosen_t is not None:
        axes.axvline(float(chosen_t), color="tab:red", label=f"chosen t = {float(chosen_t):.3f}")
    axes.set_xlabel("entropy threshold t")
    axes.set_ylabel("coverage / accuracy")
    axes.set_ylim(-0.02, 1.02)
    axes.set_title(title)
    axes.grid(alpha=0.3)
    axes.legend(loc="best", fontsize="small")


def threshold_figure(curve_df: pd.DataFrame, chosen_t: float | None, title: str) -> Figure:
    """Core/out-of-core coverage and accuracy against the threshold t.

    Args:
        curve_df: output of ``logifold.threshold_curve`` (columns ``threshold, core_coverage,
            out_of_core_coverage, core_accuracy, out_of_core_accuracy, overall_accuracy``).
        chosen_t: the selected threshold, drawn as a vertical line (None: no line).
        title: axes title (e.g. the environment and split).

    Returns:
        a matplotlib Figure with one axes, overall accuracy as a horizontal line and a legend.
    """
    figure = _new_figure(7.0, 4.5)
    _draw_threshold_curve(figure.add_subplot(), curve_df, chosen_t, title)
    return figure


def threshold_figure_panels(
    panels: Sequence[tuple[pd.DataFrame, float | None, str]],
) -> Figure:
    """Several threshold curves side by side (e.g. validation, where t is chosen, and test),
    each drawn as :func:`threshold_figure` draws one.

    Args:
        panels: (curve_df, chosen_t, title) per panel, left to right.

    Returns:
        a Figure with one axes per panel, sharing the y axis.
    """
    if not panels:
        raise ValueError("panels must hold at least one (curve_df, chosen_t, title).")
    figure = _new_figure(6.0 * len(panels), 4.5)
    axes = figure.subplots(1, len(panels), squeeze=False, sharey=True)[0]
    for ax, (curve_df, chosen_t, title) in zip(axes, panels, strict=True):
        _draw_threshold_curve(ax, curve_df, chosen_t, title)
    return figure


def entropy_histogram(
    entropy: np.ndarray, core_mask: np.ndarray, title: str, bins: int = 50
) -> Figure:
    """Histograms of the entropy of core and out-of-core samples on shared bins.

    Args:
        entropy: (N,) entropies.
        core_mask: (N,) booleans, True for core samples.
        title: axes title.
        bins: number of bins over the range of ``entropy``.
    """
    values = np.asarray(entropy, dtype=np.float64)
    mask = np.asarray(core_mask)
    if values.ndim != 1 or values.size == 0:
        raise ValueError(f"entropy must be a non-empty 1-D array, got shape {values.shape}.")
    if not np.all(np.isfinite(values)):
        raise ValueError("entropy contains NaN or infinite values.")
    if mask.dtype != bool or mask.shape != values.shape:
        raise ValueError(
            f"core_mask must be booleans of the same shape as entropy {values.shape}, "
            f"got dtype {mask.dtype} and shape {mask.shape}."
        )
    low, high = float(values.min()), float(values.max())
    if high <= low:  # all equal: give the single bin some width
        low, high = low - 0.5, high + 0.5
    edges = np.linspace(low, high, int(bins) + 1)
    figure = _new_figure(7.0, 4.0)
    axes = figure.add_subplot()
    axes.hist(values[mask], bins=edges, alpha=0.6, color="tab:blue", label=f"core (n={mask.sum()})")
    axes.hist(
        values[~mask],
        bins=edges,
        alpha=0.6,
        color="tab:orange",
        label=f"out of core (n={(~mask).sum()})",
    )
    axes.set_xlabel("entropy")
    axes.set_ylabel("samples")
    axes.set_title(title)
    axes.legend(loc="best", fontsize="small")
    return figure


def grouped_accuracy_bars(df: pd.DataFrame, title: str = "Accuracy by environment") -> Figure:
    """Grouped bars: one group per row (environment), one bar per column (model group).

    Args:
        df: index = environments, columns = model groups (e.g. ``U0, U1, U2', all, IMM``),
            values = accuracies in [0, 1]; NaN cells are left empty.
        title: axes title.
    """
    if not isinstance(df, pd.DataFrame) or df.empty:
        raise ValueError("df must be a non-empty DataFrame (rows environments, columns models).")
    try:
        values = df.to_numpy(dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise ValueError(f"df must hold numeric accuracies only: {error}") from error
    n_groups, n_bars = values.shape
    positions = np.arange(n_groups)
    width = 0.8 / n_bars
    figure = _new_figure(max(6.0, 2.0 + n_groups * (0.35 * n_bars + 0.4)), 4.5)
    axes = figure.add_subplot()
    for bar_index, column in enumerate(df.columns):
        offsets = positions - 0.4 + width * (bar_index + 0.5)
        bars = axes.bar(offsets, values[:, bar_index], width=width, label=str(column))
        labels = ["" if np.isnan(v) else f"{v:.2f}" for v in values[:, bar_index]]
        axes.bar_label(bars, labels=labels, fontsize="x-small", padding=1)
    axes.set_xticks(positions, [str(index) for index in df.index])
    axes.set_xlabel(str(df.index.name) if df.index.name else "environment")
    axes.set_ylabel("accuracy")
    axes.set_ylim(0.0, 1.08)
    axes.set_title(title)
    axes.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize="small")
    return figure


def threshold_distribution_figure(distribution: pd.DataFrame, confidence: float = 0.95) -> Figure:
    """Bootstrap distribution of the selected threshold, one panel per environment.

    Args:
        distribution: columns ``environment, threshold`` (one row per bootstrap replicate) and
            ``selected`` (the threshold chosen on the full validation set).
        confidence: coverage of the percentile interval drawn as a shaded band.

    Returns:
        a Figure with a histogram per environment, the selected threshold as a solid line and
        the interval as a band.
    """
    _require_columns(distribution, ["environment", "threshold", "selected"], "distribution")
    environments = list(dict.fromkeys(distribution["environment"]))
    if not environments:
        raise ValueError("distribution has no rows to plot.")
    figure = _new_figure(3.2 * len(environments), 2.8)
    axes = figure.subplots(1, len(environments), squeeze=False)[0]
    alpha = (1 - confidence) / 2
    for ax, environment in zip(axes, environments, strict=True):
        rows = distribution[distribution["environment"] == environment]
        values = rows["threshold"].to_numpy(dtype=np.float64)
        selected = float(rows["selected"].iloc[0])
        low, high = np.quantile(values, [alpha, 1 - alpha])
        ax.hist(values, bins=min(30, max(5, len(np.unique(values)))), color="tab:blue", alpha=0.7)
        ax.axvspan(low, high, color="tab:orange", alpha=0.2, label=f"{confidence:.0%} interval")
        ax.axvline(selected, color="black", label=f"selected t = {selected:g}")
        ax.set_title(environment)
        ax.set_xlabel("threshold t")
        ax.legend(fontsize="x-small")
    axes[0].set_ylabel("bootstrap replicates")
    return figure
