"""Shared look of the figures for slides: the Okabe-Ito palette, which stays apart for the
common colour-vision deficiencies, type large enough to read on a projected slide, and the
drawing helpers every talk figure uses.

Figures are standalone on the Agg canvas, no ``pyplot``. Every size is passed explicitly rather
than through ``rcParams``: tick labels are created when the figure is drawn, after any
``rc_context`` closed. Accuracies are drawn in percent.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

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
EVALUATION_NAMES = {"test": "test images", "autoattack": "AutoAttack transfer set"}

TITLE_SIZE = 20
AXES_TITLE_SIZE = 17
LABEL_SIZE = 16
TICK_SIZE = 14
LEGEND_SIZE = 13
NOTE_SIZE = 13
NOTE_WIDTH = 38  # characters per line of a panel's note


def new_figure(width: float, height: float) -> Figure:
    """An empty constrained-layout Figure of ``width`` x ``height`` inches on the Agg canvas."""
    figure = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def style_axes(axes: Axes) -> None:
    """Slide-sized tick labels and a light horizontal grid behind the data."""
    axes.tick_params(labelsize=TICK_SIZE)
    axes.grid(axis="y", alpha=0.3)
    axes.set_axisbelow(True)


def percent(values: Sequence[float] | np.ndarray | pd.Series) -> np.ndarray:
    """``100 * values`` as floats, anything not a number as NaN."""
    return 100.0 * pd.to_numeric(pd.Series(values), errors="coerce").to_numpy(dtype=np.float64)


def write_note(axes: Axes, text: str, y: float = 0.5) -> None:
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


def interval_bars(
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
