"""Our experiment tables beside the paper's published rows: which columns each comparison holds,
which of them are numbers of images (side by side, no difference), and the mean entropies per
image that make Experiment 3 comparable across sets of different sizes."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from .tables import as_counts, compare_with_published

EXPERIMENT2_METRICS = [
    "threshold",
    "u0_accuracy",
    "u1_accuracy",
    "u2_accuracy",
    "all_accuracy",
    "imm_accuracy",
    "u1_core_accuracy",
    "u1_core_coverage",
]
#: Experiment 2 beyond the main table: U1's core and out-of-core, and U2' on U1's out-of-core
#: set with its own core there (coverage, accuracy and the counts behind them).
EXPERIMENT2_OUT_OF_CORE_METRICS = [
    "n",
    "u1_core_size",
    "u1_out_of_core_accuracy",
    "u1_out_of_core_size",
    "u2_accuracy_on_u1_out_of_core",
    "u2_core_coverage_in_u1_out_of_core",
    "u2_core_accuracy_in_u1_out_of_core",
    "u2_core_size_in_u1_out_of_core",
]
#: Numbers of images: ours and the paper's side by side, no difference (the sets differ in size).
EXPERIMENT2_COUNTS = ["n", "u1_core_size", "u1_out_of_core_size", "u2_core_size_in_u1_out_of_core"]
#: Experiment 3: totals side by side; mean entropy per image and the reduction compared.
EXPERIMENT3_TOTALS = ["n", "u1_total_entropy", "imm_total_entropy"]
EXPERIMENT3_COMPARED = ["u1_mean_entropy", "imm_mean_entropy", "reduction"]
#: Comparison-table columns that hold numbers of images (shown as whole numbers).
COUNT_COLUMNS = [
    f"{count}_{side}" for count in EXPERIMENT2_COUNTS for side in ("ours", "published")
]
EXPERIMENT1_KEYS = ["kind", "target", "condition"]
EXPERIMENT2_KEYS = ["environment", "evaluation"]


def experiment2_comparison(experiment2: pd.DataFrame, published: pd.DataFrame) -> pd.DataFrame:
    """Experiment 2 (per environment and evaluation set) beside the published rows: ours,
    published and difference per metric of :data:`EXPERIMENT2_METRICS`."""
    return compare_with_published(experiment2, published, EXPERIMENT2_KEYS, EXPERIMENT2_METRICS)


def experiment2_out_of_core_comparison(
    experiment2: pd.DataFrame, published: pd.DataFrame
) -> pd.DataFrame:
    """The rest of Experiment 2 beside the published rows: U1's out-of-core accuracy, U2''s
    accuracy on U1's out-of-core set and U2''s own core within it (coverage, accuracy), with
    the numbers of images behind each (``n``, ``*_size``: ours and the paper's, no
    difference)."""
    table = compare_with_published(
        experiment2,
        published,
        EXPERIMENT2_KEYS,
        EXPERIMENT2_OUT_OF_CORE_METRICS,
        without_difference=EXPERIMENT2_COUNTS,
    )
    return as_counts(table, COUNT_COLUMNS)


def with_mean_entropies(totals: pd.DataFrame) -> pd.DataFrame:
    """Mean entropy per image ``total / n`` and ``reduction = 1 - imm_total / u1_total`` where
    a table has the totals but not these (the published rows; an older run's table)."""
    table = totals.copy()
    for system in ("u1", "imm"):
        if f"{system}_mean_entropy" not in table.columns:
            n = table["n"] if "n" in table.columns else np.nan
            table[f"{system}_mean_entropy"] = table[f"{system}_total_entropy"] / n
    if "reduction" not in table.columns:
        table["reduction"] = 1 - table["imm_total_entropy"] / table["u1_total_entropy"]
    return table


def experiment3_comparison(experiment3: pd.DataFrame, published: pd.DataFrame) -> pd.DataFrame:
    """Total entropy U1 -> IMM beside the published rows.

    The totals and ``n`` stand side by side without a difference: a total over our images and
    one over the paper's are sums over different numbers of images. What is compared
    (ours, published, difference) is the mean entropy per image, ``total / n`` (ours with its
    bootstrap interval), and the reduction ``1 - imm_total / u1_total``.
    """
    table = compare_with_published(
        with_mean_entropies(experiment3),
        with_mean_entropies(published),
        EXPERIMENT2_KEYS,
        [*EXPERIMENT3_TOTALS, *EXPERIMENT3_COMPARED],
        without_difference=EXPERIMENT3_TOTALS,
    )
    return as_counts(table, COUNT_COLUMNS)


def thresholds_comparison(thresholds: dict[str, Any], published: pd.DataFrame) -> pd.DataFrame:
    """The thresholds chosen on validation (environment -> its selection record) beside the
    published ones, with how each selection went (reached, target, core accuracy and coverage,
    reason, and where recorded the scan's best core accuracy)."""
    ours = pd.DataFrame(
        [{"environment": env, **selection} for env, selection in thresholds.items()]
    )
    table = compare_with_published(ours, published, ["environment"], ["threshold"])
    columns = ["environment", "reached", "target", "core_accuracy", "core_coverage", "reason"]
    # Older thresholds.json versions predate the scan's best core accuracy.
    columns += [c for c in ("best_core_accuracy", "best_core_threshold") if c in ours]
    return table.merge(ours[columns], on="environment")
