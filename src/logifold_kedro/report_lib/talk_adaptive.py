"""The adaptive evaluation for slides: the hard-routed IMM's accuracy on the clean images, under
the non-adaptive transfers and under each adaptive attack, per attacked environment."""

from __future__ import annotations

import textwrap

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from logifold_kedro.logifold.standard_errors import binomial_half_width
from logifold_kedro.report_lib.talk_style import (
    LABEL_SIZE,
    LEGEND_SIZE,
    OKABE_ITO,
    TITLE_SIZE,
    interval_bars,
    new_figure,
    percent,
    style_axes,
    write_note,
)

#: Adaptive-evaluation kinds (the `adaptive_metrics` column `kind`): legend label and colour.
ADAPTIVE_KINDS = {
    "none": ("clean images", OKABE_ITO["grey"]),
    "non-adaptive": ("non-adaptive transfer", OKABE_ITO["sky_blue"]),
    "adaptive": ("adaptive attack", OKABE_ITO["vermillion"]),
}


def adaptive_accuracy_figure(adaptive_metrics: pd.DataFrame, title: str) -> Figure:
    """Per environment: the hard-routed IMM's accuracy on the clean images, under each
    non-adaptive transfer and under each adaptive attack (soft IMM, confident core, per APGD
    setting), with error bars, the worst non-adaptive accuracy as a dashed line, and the soft
    IMM's own accuracy as a hollow marker on the soft-IMM bars.

    The error bars are the table's ``imm_accuracy_low/_high`` where it has them, else two
    binomial standard errors over the n images (:func:`binomial_half_width`).

    Args:
        adaptive_metrics: the ``adaptive_metrics`` table (``adaptive_attacks`` stage); empty:
            one panel saying no adaptive attack was evaluated.
        title: the figure's title (say the scale and seed).
    """
    if not isinstance(adaptive_metrics, pd.DataFrame):
        raise ValueError(
            f"adaptive_metrics must be a DataFrame, got {type(adaptive_metrics).__name__}."
        )
    if adaptive_metrics.empty:
        figure = new_figure(9.0, 4.0)
        axes = figure.add_subplot()
        axes.set_axis_off()
        write_note(axes, "No adaptive attack was evaluated in this run.")
        figure.suptitle(title, fontsize=TITLE_SIZE)
        return figure
    needed = ["environment", "kind", "attack", "setting", "n", "imm_accuracy", "u2_available"]
    missing = [c for c in needed if c not in adaptive_metrics.columns]
    if missing:
        raise ValueError(
            f"adaptive_metrics lacks columns {missing}: pass the adaptive_metrics table."
        )
    environments = list(dict.fromkeys(adaptive_metrics["environment"]))
    # Only panels with bars need the width (a skipped environment's panel is a note).
    with_imm = adaptive_metrics.groupby("environment")["u2_available"].transform("all")
    counts = adaptive_metrics.loc[with_imm.astype(bool), "environment"].value_counts()
    most_rows = int(counts.max()) if len(counts) else 0
    figure = new_figure(max(12.0, 1.9 * most_rows + 6.0), 5.4 * len(environments))
    grid = figure.subplots(len(environments), 1, squeeze=False)[:, 0]
    for axes, environment in zip(grid, environments, strict=True):
        rows = adaptive_metrics[adaptive_metrics["environment"] == environment]
        _draw_adaptive_panel(axes, environment, rows.reset_index(drop=True))
    figure.suptitle(title, fontsize=TITLE_SIZE)
    return figure


def _draw_adaptive_panel(axes: Axes, environment: str, rows: pd.DataFrame) -> None:
    n = int(rows["n"].iloc[0])
    t = float(rows["threshold"].iloc[0]) if "threshold" in rows.columns else float("nan")
    axes.set_title(f"IMM of {environment} (t = {t:.2f}, n = {n} test images)", fontsize=17)
    if not bool(rows["u2_available"].astype(bool).all()):
        axes.set_axis_off()
        write_note(axes, f"{environment}: U2' was skipped by the u2 policy, so there is no IMM.")
        return
    x = np.arange(len(rows), dtype=np.float64)
    values = percent(rows["imm_accuracy"])
    with_bounds = {"imm_accuracy_low", "imm_accuracy_high"} <= set(rows.columns)
    for kind, (label, colour) in ADAPTIVE_KINDS.items():
        chosen = (rows["kind"] == kind).to_numpy()
        if chosen.any():
            axes.bar(x[chosen], np.nan_to_num(values[chosen]), 0.7, color=colour, label=label)
    if with_bounds:
        low, high = percent(rows["imm_accuracy_low"]), percent(rows["imm_accuracy_high"])
        error_label = "bootstrap interval"
    else:
        half = np.array(
            [
                100.0 * binomial_half_width(float(p), n) if pd.notna(p) else np.nan
                for p in rows["imm_accuracy"]
            ]
        )
        low, high = np.clip(values - half, 0, 100), np.clip(values + half, 0, 100)
        error_label = "± 2 standard errors"
    interval_bars(axes, x, values, low, high, error_label)
    non_adaptive = values[(rows["kind"] == "non-adaptive").to_numpy()]
    if non_adaptive.size and not np.isnan(non_adaptive).all():
        worst = float(np.nanmin(non_adaptive))
        axes.axhline(
            worst,
            color=OKABE_ITO["sky_blue"],
            linestyle="--",
            linewidth=2,
            label=f"worst non-adaptive ({worst:.1f}%)",
        )
    if "soft_imm_accuracy" in rows.columns:
        soft = percent(rows["soft_imm_accuracy"])
        marked = (rows["attack"] == "soft IMM").to_numpy() & ~np.isnan(soft)
        if marked.any():
            axes.plot(
                x[marked],
                soft[marked],
                linestyle="none",
                marker="o",
                markersize=10,
                markerfacecolor="white",
                markeredgecolor="black",
                markeredgewidth=2,
                label="soft IMM (the attack's own target)",
            )
    labels = [
        textwrap.fill(str(row.attack), 11)
        + ("" if str(row.setting) in ("-", "") else f"\n({row.setting})")
        for row in rows.itertuples()
    ]
    axes.set_xticks(x, labels)
    axes.set_ylim(0.0, 105.0)
    axes.set_ylabel("IMM accuracy (% of images)", fontsize=LABEL_SIZE)
    style_axes(axes)
    axes.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=LEGEND_SIZE)
