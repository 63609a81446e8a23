"""Logifold math, framework-free (numpy and pandas only).

The public API works on plain arrays: member probabilities of shape (K, N, C) (members,
samples, classes), or a list of K arrays (N, C); predictions and labels of shape (N,).
Importing it loads neither TensorFlow, torch nor Kedro's runtime (walk-through:
``docs/math_api.md``).

- :mod:`.entropy`: mean probabilities, ensemble prediction, single-model and committee entropy
  (log base = number of classes).
- :mod:`.core`: the core ``{H <= t}`` and accuracy/coverage on and off it.
- :mod:`.threshold`: threshold selection by a descending scan, accuracy-vs-threshold curves.
- :mod:`.routing`: the Immunization Mechanism (U1 on its core, U2' elsewhere), from mean
  probabilities or from the members' probabilities, its soft form, total entropy.
- :mod:`.bootstrap`: percentile bootstrap intervals (paired ratios such as accuracies and
  coverages, selected thresholds).
- :mod:`.claims`: paired differences with their intervals, and the holds / fails / not
  resolved verdict of a claim.
- :mod:`.experiments`: the experiments' measures: Experiment 1's cores of single models and
  committees, Experiments 2 and 3 on one evaluation set (U0, U1, U2', all-16, the IMM), and the
  adaptive evaluation's per-set measures.
- :mod:`.standard_errors`: the two-standard-error rule of accuracies over n images (one accuracy,
  the difference of two).
"""

from .bootstrap import (
    BootstrapInterval,
    bootstrap_ci,
    bootstrap_thresholds,
    core_metric_intervals,
    core_ratios,
    replicate_columns,
    resampled_ratios,
)
from .claims import (
    claim_verdict,
    core_accuracy_advantage,
    core_accuracy_margin,
    paired_mean_difference,
    paired_mean_differences,
    paper_side,
)
from .core import accuracy, core_mask, core_metrics
from .entropy import committee_entropy, ensemble_predict, mean_probabilities, single_entropy
from .experiments import (
    adaptive_measures,
    attack_measures,
    evaluate_imm,
    experiment1_family_rows,
    experiment1_row,
    experiment3_table,
)
from .routing import imm_route, route_committees, soft_route, total_entropy
from .standard_errors import binomial_half_width, difference_half_width
from .threshold import ThresholdSelection, select_threshold, threshold_curve, threshold_grid

__all__ = [
    "BootstrapInterval",
    "ThresholdSelection",
    "accuracy",
    "adaptive_measures",
    "attack_measures",
    "binomial_half_width",
    "bootstrap_ci",
    "bootstrap_thresholds",
    "claim_verdict",
    "committee_entropy",
    "core_accuracy_advantage",
    "core_accuracy_margin",
    "core_mask",
    "core_metric_intervals",
    "core_metrics",
    "core_ratios",
    "difference_half_width",
    "ensemble_predict",
    "evaluate_imm",
    "experiment1_family_rows",
    "experiment1_row",
    "experiment3_table",
    "imm_route",
    "mean_probabilities",
    "paired_mean_difference",
    "paired_mean_differences",
    "paper_side",
    "replicate_columns",
    "resampled_ratios",
    "route_committees",
    "select_threshold",
    "single_entropy",
    "soft_route",
    "threshold_curve",
    "threshold_grid",
    "total_entropy",
]
