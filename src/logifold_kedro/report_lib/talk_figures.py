"""Figures for slides: Experiment 2's accuracies with their bootstrap intervals and the paper's
values (``talk_accuracy``), U1's entropy with the chosen threshold (``talk_entropy``), the
adaptive evaluation (``talk_adaptive``) and the spread across seeds (``talk_seeds``), in the
shared look of ``talk_style``: large type, the Okabe-Ito palette, accuracies in percent. A panel
with nothing to draw (an environment not evaluated, U2' skipped, a threshold of 0) says so in
words instead of failing.

This module gathers their public names in one place to import from.
"""

from logifold_kedro.report_lib.talk_accuracy import accuracy_interval_bars
from logifold_kedro.report_lib.talk_adaptive import ADAPTIVE_KINDS, adaptive_accuracy_figure
from logifold_kedro.report_lib.talk_entropy import EntropyPanel, entropy_threshold_panels
from logifold_kedro.report_lib.talk_seeds import seed_spread_figure
from logifold_kedro.report_lib.talk_style import (
    ACCURACY_MODELS,
    EVALUATION_NAMES,
    OKABE_ITO,
    PAPER_LABEL,
    evaluation_name,
)

__all__ = [
    "ACCURACY_MODELS",
    "ADAPTIVE_KINDS",
    "EVALUATION_NAMES",
    "OKABE_ITO",
    "PAPER_LABEL",
    "EntropyPanel",
    "accuracy_interval_bars",
    "adaptive_accuracy_figure",
    "entropy_threshold_panels",
    "evaluation_name",
    "seed_spread_figure",
]
