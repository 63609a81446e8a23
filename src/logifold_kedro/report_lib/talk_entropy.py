"""U1's committee entropy for slides: per environment, the right and wrong labels' entropies and
the chosen threshold t; a t of 0 or an environment without data is said in words."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from logifold_kedro.report_lib.imm_details import details_for
from logifold_kedro.report_lib.talk_style import (
    AXES_TITLE_SIZE,
    LABEL_SIZE,
    LEGEND_SIZE,
    OKABE_ITO,
    TITLE_SIZE,
    new_figure,
    style_axes,
    write_note,
)


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


def entropy_panels(
    imm_details: dict[str, Any], reasons: Mapping[str, str], environments: Sequence[str]
) -> list[EntropyPanel]:
    """One panel per environment from ``imm_details``' test arrays (U1's entropy, whether its
    label is right, the chosen t). A t of 0 carries its ``reasons`` entry
    (``threshold_notes.unreached_threshold_reasons``); an environment without test arrays says
    it was not evaluated."""
    panels = []
    for environment in environments:
        arrays = details_for(imm_details, environment, "test")
        if not arrays:
            note = f"{environment}: not evaluated on the test images in this run."
            panels.append(EntropyPanel(environment, None, None, None, note))
            continue
        t = float(arrays["threshold"])
        note = ""
        if t == 0:
            reason = reasons.get(environment, "threshold 0")
            note = f"{reason}. Its core is empty, so U1 decides nothing here."
        panels.append(
            EntropyPanel(environment, arrays["u1_entropy"], arrays["u1_correct"], t, note)
        )
    return panels


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
    figure = new_figure(7.5 * columns, 5.0 * rows)
    grid = figure.subplots(rows, columns, squeeze=False)
    for axes in grid.flat[len(panels) :]:
        axes.set_axis_off()
    for axes, panel in zip(grid.flat, panels, strict=False):
        axes.set_title(panel.environment, fontsize=AXES_TITLE_SIZE)
        if panel.entropy is None or panel.threshold is None:
            axes.set_axis_off()
            write_note(axes, panel.note or f"{panel.environment}: not evaluated in this run.")
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
        write_note(axes, panel.note, y=0.55)
    axes.set_xlabel("U1 committee entropy (log base = classes)", fontsize=LABEL_SIZE)
    axes.set_ylabel("test images", fontsize=LABEL_SIZE)
    style_axes(axes)
    axes.legend(loc="upper right", fontsize=LEGEND_SIZE)
