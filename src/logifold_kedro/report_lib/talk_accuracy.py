"""Experiment 2's accuracies for slides: grouped bars per environment with their bootstrap
intervals and the paper's values."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure

from logifold_kedro.report_lib.talk_style import (
    ACCURACY_MODELS,
    AXES_TITLE_SIZE,
    LABEL_SIZE,
    LEGEND_SIZE,
    NOTE_SIZE,
    PAPER_LABEL,
    evaluation_name,
    interval_bars,
    new_figure,
    percent,
    style_axes,
)


def accuracy_interval_bars(
    comparison: pd.DataFrame, title: str, confidence: float = 0.95
) -> Figure:
    """Grouped bars of U0, U1, U2', all 16 and IMM per environment, each with its bootstrap
    interval as an error bar and the paper's value as a short black line across the bar.

    Args:
        comparison: one evaluation set's rows of ``experiment2_comparison_metrics``: column
            ``environment`` and per model ``<m>_ours``, ``<m>_ours_low``, ``<m>_ours_high``
            and ``<m>_published`` (an interval or published value that is missing is not
            drawn; a missing accuracy, no U2' say, is written on its bar's place as "n/a").
            ``n_ours`` (number of images), when present, goes under the environment's name.
        title: the figure's title (say the scale and seed).
        confidence: coverage of the intervals, for the legend.

    Returns:
        a Figure with one axes: a bar container per model, an error-bar container per model
        with an interval, and one line collection labelled ``paper``.
    """
    if not isinstance(comparison, pd.DataFrame) or comparison.empty:
        raise ValueError("comparison must be a non-empty DataFrame of one evaluation set's rows.")
    missing = [f"{m}_ours" for m, _, _ in ACCURACY_MODELS if f"{m}_ours" not in comparison]
    if "environment" not in comparison.columns or missing:
        raise ValueError(
            f"comparison lacks columns {['environment', *missing]} (has "
            f"{list(comparison.columns)}): pass rows of experiment2_comparison_metrics."
        )
    n_groups, n_bars = len(comparison), len(ACCURACY_MODELS)
    positions = np.arange(n_groups, dtype=np.float64)
    width = 0.8 / n_bars
    figure = new_figure(max(9.0, 3.0 + 2.4 * n_groups), 6.0)
    axes = figure.add_subplot()
    paper_segments = []
    interval_text = f"{confidence:.0%} bootstrap interval"
    interval_label = interval_text
    for index, (metric, label, colour) in enumerate(ACCURACY_MODELS):
        x = positions - 0.4 + width * (index + 0.5)
        values = percent(comparison[f"{metric}_ours"])
        axes.bar(x, np.nan_to_num(values), width=width, color=colour, label=label)
        for at in x[np.isnan(values)]:
            axes.text(at, 2.0, "n/a", rotation=90, ha="center", va="bottom", fontsize=NOTE_SIZE)
        bounds = [f"{metric}_ours_low", f"{metric}_ours_high"]
        if all(b in comparison.columns for b in bounds):
            low, high = percent(comparison[bounds[0]]), percent(comparison[bounds[1]])
            if interval_bars(axes, x, values, low, high, interval_label):
                interval_label = "_nolegend_"  # one legend entry for all models' intervals
        if f"{metric}_published" in comparison.columns:
            published = percent(comparison[f"{metric}_published"])
            paper_segments += [
                [(at - width / 2, value), (at + width / 2, value)]
                for at, value in zip(x, published, strict=True)
                if not np.isnan(value)
            ]
    if paper_segments:
        axes.add_collection(_paper_lines(paper_segments))
    ticks = [str(env) for env in comparison["environment"]]
    if "n_ours" in comparison.columns:
        ticks = [
            f"{env}\nn = {int(n)}" if pd.notna(n) else env
            for env, n in zip(ticks, comparison["n_ours"], strict=True)
        ]
    axes.set_xticks(positions, ticks)
    axes.set_xlim(-0.6, n_groups - 0.4)
    axes.set_ylim(0.0, 105.0)
    axes.set_ylabel("accuracy (% of images)", fontsize=LABEL_SIZE)
    axes.set_xlabel("environment", fontsize=LABEL_SIZE)
    axes.set_title(title, fontsize=AXES_TITLE_SIZE)
    style_axes(axes)
    # The models in the bars' order, then the interval and the paper's values.
    handles, labels = axes.get_legend_handles_labels()
    order = sorted(range(len(labels)), key=lambda i: labels[i] in (PAPER_LABEL, interval_text))
    axes.legend(
        [handles[i] for i in order],
        [labels[i] for i in order],
        loc="upper left",
        bbox_to_anchor=(1.0, 1.0),
        fontsize=LEGEND_SIZE,
    )
    return figure


def _paper_lines(segments: list[list[tuple[float, float]]]) -> LineCollection:
    return LineCollection(segments, colors="black", linewidths=4, label=PAPER_LABEL, zorder=3)


def accuracy_figures_by_evaluation(
    comparison: pd.DataFrame, run_label: str, confidence: float = 0.95
) -> dict[str, Figure]:
    """Per evaluation set of ``experiment2_comparison_metrics``, in the table's order,
    ``accuracy_<evaluation>.png``: :func:`accuracy_interval_bars` of its rows, titled with the
    set's name and ``run_label`` (the scale and seed)."""
    figures = {}
    for evaluation in dict.fromkeys(comparison["evaluation"]):
        rows = comparison[comparison["evaluation"] == evaluation]
        figures[f"accuracy_{evaluation}.png"] = accuracy_interval_bars(
            rows.reset_index(drop=True),
            f"Experiment 2 accuracy, {evaluation_name(evaluation)} ({run_label})",
            confidence,
        )
    return figures
