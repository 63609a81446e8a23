"""The spread of Experiment 2 across seeds for slides: every seed's accuracy as a dot, their
mean and standard deviation, per row of the table."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from logifold_kedro.report_lib.talk_style import (
    ACCURACY_MODELS,
    AXES_TITLE_SIZE,
    LABEL_SIZE,
    NOTE_SIZE,
    TITLE_SIZE,
    evaluation_name,
    new_figure,
    percent,
    style_axes,
)

MIN_SEED_SPAN = 10.0  # percentage points at least on a seed panel's y axis


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
    figure = new_figure(4.6 * columns + 0.5, 4.6 * grid_rows + 0.8)
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
        per_seed = percent(rows[metric].reindex(seeds))
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
    style_axes(axes)
