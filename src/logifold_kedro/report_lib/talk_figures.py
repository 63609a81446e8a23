"""Figures for slides: Experiment 2's accuracies with their bootstrap intervals and the paper's
values, U1's entropy with the chosen threshold, the adaptive evaluation and the spread across
seeds.

Drawn like ``report_lib.figures`` (standalone Figures on the Agg canvas, no ``pyplot``), with
type large enough to read on a projected slide and the Okabe-Ito palette, which stays apart for
the common colour-vision deficiencies. Every size is passed explicitly rather than through
``rcParams``: tick labels are created when the figure is drawn, after any ``rc_context`` closed.
Accuracies are drawn in percent. A panel with nothing to draw (an environment not evaluated,
U2' skipped, a threshold of 0) says so in words instead of failing.
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure

from logifold_kedro.logifold.standard_errors import binomial_half_width

#: Okabe & Ito's colour-blind-safe palette.
OKABE_ITO = {
    "orange": "#E69F00",
    "sky_blue": "#56B4E9",
    "green": "#009E73",
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "purple": "#CC79A7",
    "grey": "#999999",
}
#: Experiment 2's accuracy columns, their labels and colours, in the tables' order.
ACCURACY_MODELS = (
    ("u0_accuracy", "U0", OKABE_ITO["orange"]),
    ("u1_accuracy", "U1", OKABE_ITO["sky_blue"]),
    ("u2_accuracy", "U2'", OKABE_ITO["green"]),
    ("all_accuracy", "all 16", OKABE_ITO["purple"]),
    ("imm_accuracy", "IMM", OKABE_ITO["blue"]),
)
#: Label of the paper's values in every legend.
PAPER_LABEL = "paper"
#: Adaptive-evaluation kinds (the `adaptive_metrics` column `kind`): legend label and colour.
ADAPTIVE_KINDS = {
    "none": ("clean images", OKABE_ITO["grey"]),
    "non-adaptive": ("non-adaptive transfer", OKABE_ITO["sky_blue"]),
    "adaptive": ("adaptive attack", OKABE_ITO["vermillion"]),
}
EVALUATION_NAMES = {"test": "test images", "autoattack": "AutoAttack transfer set"}

TITLE_SIZE = 20
AXES_TITLE_SIZE = 17
LABEL_SIZE = 16
TICK_SIZE = 14
LEGEND_SIZE = 13
NOTE_SIZE = 13
NOTE_WIDTH = 38  # characters per line of a panel's note
MIN_SEED_SPAN = 10.0  # percentage points at least on a seed panel's y axis


def _new_figure(width: float, height: float) -> Figure:
    figure = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def _style(axes: Axes) -> None:
    axes.tick_params(labelsize=TICK_SIZE)
    axes.grid(axis="y", alpha=0.3)
    axes.set_axisbelow(True)


def _percent(values: Sequence[float] | np.ndarray | pd.Series) -> np.ndarray:
    return 100.0 * pd.to_numeric(pd.Series(values), errors="coerce").to_numpy(dtype=np.float64)


def _note(axes: Axes, text: str, y: float = 0.5) -> None:
    """A wrapped note in the middle of a panel, on a white box so bars do not hide it."""
    axes.text(
        0.5,
        y,
        textwrap.fill(text, NOTE_WIDTH),
        transform=axes.transAxes,
        ha="center",
        va="center",
        fontsize=NOTE_SIZE,
        bbox={"boxstyle": "round", "facecolor": "white", "edgecolor": OKABE_ITO["grey"]},
    )


def _interval_bars(
    axes: Axes, x: np.ndarray, values: np.ndarray, low: np.ndarray, high: np.ndarray, label: str
) -> bool:
    """Black error bars from ``low`` to ``high`` at the bars that have all three numbers; whether
    any was drawn."""
    drawn = ~(np.isnan(values) | np.isnan(low) | np.isnan(high))
    if drawn.any():
        axes.errorbar(
            x[drawn],
            values[drawn],
            yerr=[values[drawn] - low[drawn], high[drawn] - values[drawn]],
            fmt="none",
            ecolor="black",
            elinewidth=1.5,
            capsize=4,
            label=label,
        )
    return bool(drawn.any())


def evaluation_name(evaluation: str) -> str:
    """How a figure names an evaluation set (`test` -> `test images`)."""
    return EVALUATION_NAMES.get(evaluation, evaluation)


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
    figure = _new_figure(max(9.0, 3.0 + 2.4 * n_groups), 6.0)
    axes = figure.add_subplot()
    paper_segments = []
    interval_text = f"{confidence:.0%} bootstrap interval"
    interval_label = interval_text
    for index, (metric, label, colour) in enumerate(ACCURACY_MODELS):
        x = positions - 0.4 + width * (index + 0.5)
        values = _percent(comparison[f"{metric}_ours"])
        axes.bar(x, np.nan_to_num(values), width=width, color=colour, label=label)
        for at in x[np.isnan(values)]:
            axes.text(at, 2.0, "n/a", rotation=90, ha="center", va="bottom", fontsize=NOTE_SIZE)
        bounds = [f"{metric}_ours_low", f"{metric}_ours_high"]
        if all(b in comparison.columns for b in bounds):
            low, high = _percent(comparison[bounds[0]]), _percent(comparison[bounds[1]])
            if _interval_bars(axes, x, values, low, high, interval_label):
                interval_label = "_nolegend_"  # one legend entry for all models' intervals
        if f"{metric}_published" in comparison.columns:
            published = _percent(comparison[f"{metric}_published"])
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
    _style(axes)
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


@dataclass(frozen=True)
class EntropyPanel:
    """One environment's panel of :func:`entropy_threshold_panels`.

    Attributes:
        environment: the panel's title.
        entropy: U1's committee entropy per image (None: the environment was not evaluated).
        correct: whether U1's label is right, per image (same shape as ``entropy``).
        threshold: the chosen t (None: not evaluated).
        note: shown inside the panel (why t is 0, why there is nothing to draw).
    """

    environment: str
    entropy: np.ndarray | None
    correct: np.ndarray | None
    threshold: float | None
    note: str = ""


def entropy_threshold_panels(panels: Sequence[EntropyPanel], title: str) -> Figure:
    """Per environment: histograms of U1's committee entropy, its right and its wrong labels
    stacked on shared bins, and the chosen threshold t as a vertical line with its value in the
    legend (core: entropy <= t). A t of 0 (an empty core) and an environment without data are
    written in the panel.

    Args:
        panels: one per environment, in display order (two columns).
        title: the figure's title (say the images, scale and seed).
    """
    if not panels:
        raise ValueError("panels must hold at least one EntropyPanel.")
    columns = min(2, len(panels))
    rows = -(-len(panels) // columns)
    figure = _new_figure(7.5 * columns, 5.0 * rows)
    grid = figure.subplots(rows, columns, squeeze=False)
    for axes in grid.flat[len(panels) :]:
        axes.set_axis_off()
    for axes, panel in zip(grid.flat, panels, strict=False):
        axes.set_title(panel.environment, fontsize=AXES_TITLE_SIZE)
        if panel.entropy is None or panel.threshold is None:
            axes.set_axis_off()
            _note(axes, panel.note or f"{panel.environment}: not evaluated in this run.")
            continue
        _draw_entropy_panel(axes, panel)
    figure.suptitle(title, fontsize=TITLE_SIZE)
    return figure


def _draw_entropy_panel(axes: Axes, panel: EntropyPanel) -> None:
    values = np.asarray(panel.entropy, dtype=np.float64)
    correct = np.asarray(panel.correct, dtype=bool)
    if values.ndim != 1 or values.shape != correct.shape or values.size == 0:
        raise ValueError(
            f"{panel.environment}: entropy and correct must be non-empty 1-D arrays of one "
            f"shape, got {values.shape} and {correct.shape}."
        )
    t = float(panel.threshold)
    low, high = min(float(values.min()), t), max(float(values.max()), t)
    if high <= low:
        low, high = low - 0.5, high + 0.5
    edges = np.linspace(low, high, 41)
    axes.hist(
        [values[correct], values[~correct]],
        bins=edges,
        stacked=True,
        color=[OKABE_ITO["blue"], OKABE_ITO["vermillion"]],
        label=[f"U1 right (n = {int(correct.sum())})", f"U1 wrong (n = {int((~correct).sum())})"],
    )
    label = f"chosen t = {t:.2f}" if t > 0 else "chosen t = 0 (empty core)"
    axes.axvline(t, color="black", linestyle="--", linewidth=2.5, label=label)
    if panel.note:
        _note(axes, panel.note, y=0.55)
    axes.set_xlabel("U1 committee entropy (log base = classes)", fontsize=LABEL_SIZE)
    axes.set_ylabel("test images", fontsize=LABEL_SIZE)
    _style(axes)
    axes.legend(loc="upper right", fontsize=LEGEND_SIZE)


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
        figure = _new_figure(9.0, 4.0)
        axes = figure.add_subplot()
        axes.set_axis_off()
        _note(axes, "No adaptive attack was evaluated in this run.")
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
    figure = _new_figure(max(12.0, 1.9 * most_rows + 6.0), 5.4 * len(environments))
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
        _note(axes, f"{environment}: U2' was skipped by the u2 policy, so there is no IMM.")
        return
    x = np.arange(len(rows), dtype=np.float64)
    values = _percent(rows["imm_accuracy"])
    with_bounds = {"imm_accuracy_low", "imm_accuracy_high"} <= set(rows.columns)
    for kind, (label, colour) in ADAPTIVE_KINDS.items():
        chosen = (rows["kind"] == kind).to_numpy()
        if chosen.any():
            axes.bar(x[chosen], np.nan_to_num(values[chosen]), 0.7, color=colour, label=label)
    if with_bounds:
        low, high = _percent(rows["imm_accuracy_low"]), _percent(rows["imm_accuracy_high"])
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
    _interval_bars(axes, x, values, low, high, error_label)
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
        soft = _percent(rows["soft_imm_accuracy"])
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
    _style(axes)
    axes.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=LEGEND_SIZE)


def seed_spread_figure(
    tables: Mapping[int, pd.DataFrame], keys: Sequence[str], title: str
) -> Figure:
    """Per row of Experiment 2 (environment and evaluation set), each model's accuracy in every
    seed's run as a dot, their mean as a short black line and, with two seeds or more, the
    mean ± one standard deviation (``ddof = 1``, as ``across_seeds``) as an error bar. The
    title says how many seeds there are ("1 seed": no spread yet).

    Args:
        tables: seed -> that seed's ``experiment2_metrics`` (the ``keys`` and the accuracy
            columns of :data:`ACCURACY_MODELS`).
        keys: the columns naming a row, e.g. ``["environment", "evaluation"]``.
        title: the start of the figure's title (say the scale); the seeds are appended.
    """
    if not tables:
        raise ValueError("tables must hold the experiment2_metrics of at least one seed.")
    keys = list(keys)
    metrics = [m for m, _, _ in ACCURACY_MODELS]
    frames = []
    for seed, table in sorted(tables.items()):
        missing = [c for c in [*keys, *metrics] if c not in table.columns]
        if missing:
            raise ValueError(f"the table of seed {seed} lacks columns {missing}.")
        frames.append(table[[*keys, *metrics]].assign(seed=seed))
    stacked = pd.concat(frames, ignore_index=True)
    seeds = sorted(tables)
    row_keys = list(dict.fromkeys(map(tuple, stacked[keys].to_numpy().tolist())))
    columns = min(4, len(row_keys))
    grid_rows = -(-len(row_keys) // columns)
    figure = _new_figure(4.6 * columns + 0.5, 4.6 * grid_rows + 0.8)
    # Each panel its own y range: a spread of a point or two must stay visible.
    grid = figure.subplots(grid_rows, columns, squeeze=False)
    for axes in grid.flat[len(row_keys) :]:
        axes.set_axis_off()
    offsets = np.linspace(-0.18, 0.18, len(seeds)) if len(seeds) > 1 else np.zeros(1)
    for axes, key in zip(grid.flat, row_keys, strict=False):
        selected = np.logical_and.reduce(
            [stacked[k].to_numpy() == v for k, v in zip(keys, key, strict=True)]
        )
        rows = stacked[selected].set_index("seed")
        _draw_seed_panel(axes, rows, seeds, offsets)
        environment, *rest = key
        suffix = f" ({evaluation_name(str(rest[0]))})" if rest and rest[0] != "test" else ""
        axes.set_title(f"{environment}{suffix}", fontsize=AXES_TITLE_SIZE)
    for axes in grid[:, 0]:
        axes.set_ylabel("accuracy (% of images)", fontsize=LABEL_SIZE)
    count = f"{len(seeds)} seed" + ("" if len(seeds) == 1 else "s")
    seed_list = ", ".join(str(s) for s in seeds)
    reading = (
        "a dot per seed, the black line their mean: no spread yet"
        if len(seeds) == 1
        else "a dot per seed, the black line their mean, the bar ± one std"
    )
    figure.suptitle(f"{title}, {count} ({seed_list})\n{reading}", fontsize=TITLE_SIZE)
    return figure


def _draw_seed_panel(axes: Axes, rows: pd.DataFrame, seeds: list[int], offsets: np.ndarray):
    for index, (metric, label, colour) in enumerate(ACCURACY_MODELS):
        per_seed = _percent(rows[metric].reindex(seeds))
        present = ~np.isnan(per_seed)
        if not present.any():
            axes.text(
                index,
                0.03,
                "n/a",
                transform=axes.get_xaxis_transform(),  # x in data, y in axes units
                rotation=90,
                ha="center",
                va="bottom",
                fontsize=NOTE_SIZE,
            )
            continue
        axes.scatter(
            index + offsets[present],
            per_seed[present],
            s=70,
            color=colour,
            edgecolors="black",
            zorder=3,
            label=label,
        )
        mean = float(per_seed[present].mean())
        axes.hlines(mean, index - 0.3, index + 0.3, colors="black", linewidth=2.5, zorder=4)
        if present.sum() > 1:
            std = float(per_seed[present].std(ddof=1))
            axes.errorbar([index + 0.3], [mean], yerr=[std], fmt="none", ecolor="black", capsize=5)
    axes.set_xticks(range(len(ACCURACY_MODELS)), [label for _, label, _ in ACCURACY_MODELS])
    axes.set_xlim(-0.6, len(ACCURACY_MODELS) - 0.4)
    low, high = axes.get_ylim()
    middle = (low + high) / 2
    half_span = max((high - low) / 2, MIN_SEED_SPAN / 2)
    axes.set_ylim(max(0.0, middle - half_span), min(100.0, middle + half_span))
    _style(axes)
