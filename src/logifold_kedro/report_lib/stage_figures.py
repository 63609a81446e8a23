"""The reporting stage's figures from what the earlier stages stored: per environment the U1 core
against the threshold (validation, where t is chosen, and test), U1's entropy on and off its
core, and the accuracies of Experiment 2. The drawing itself is ``report_lib.figures``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from logifold_kedro.logifold.threshold import threshold_curve

from .figures import (
    entropy_histogram,
    grouped_accuracy_bars,
    threshold_figure,
    threshold_figure_panels,
)
from .imm_details import details_for

#: Experiment 2's accuracy columns and the group names the accuracy figure gives them.
GROUP_COLUMNS = {
    "u0_accuracy": "U0",
    "u1_accuracy": "U1",
    "u2_accuracy": "U2'",
    "all_accuracy": "all 16",
    "imm_accuracy": "IMM",
}


def _test_curve(arrays: dict[str, Any], grid: np.ndarray) -> pd.DataFrame:
    return threshold_curve(arrays["u1_entropy"], arrays["u1_pred"], arrays["labels"], grid)


def threshold_figures_on_test(
    imm_details: dict[str, Any], grid: np.ndarray, environments: Sequence[str]
) -> dict[str, Figure]:
    """Per environment evaluated on test, ``threshold_<environment>.png``: U1's core and
    out-of-core coverage and accuracy on the test images at every t of ``grid``, the chosen t
    marked."""
    figures = {}
    for environment in environments:
        arrays = details_for(imm_details, environment, "test")
        if not arrays:
            continue
        figures[f"threshold_{environment}.png"] = threshold_figure(
            _test_curve(arrays, grid),
            float(arrays["threshold"]),
            f"U1 core against the threshold: {environment} (test)",
        )
    return figures


def validation_curves(
    threshold_curves: pd.DataFrame, thresholds: dict[str, Any], environments: Sequence[str]
) -> dict[str, tuple[pd.DataFrame, float]]:
    """Per environment with a curve and a selection: its validation curve (the rows of
    ``threshold_curves``, the scan ``select_thresholds`` made) and its chosen t."""
    curves = {}
    for environment in environments:
        rows = threshold_curves[threshold_curves["environment"] == environment]
        if rows.empty or environment not in thresholds:
            continue
        chosen = float(thresholds[environment]["threshold"])
        curves[environment] = (rows.drop(columns=["environment"]), chosen)
    return curves


def _validation_title(environment: str) -> str:
    return f"U1 core against the threshold: {environment} (validation, where t is chosen)"


def validation_threshold_figures(
    threshold_curves: pd.DataFrame, thresholds: dict[str, Any], environments: Sequence[str]
) -> dict[str, Figure]:
    """Per environment, ``threshold_<environment>.png``: the validation sweep of
    :func:`validation_curves` with the chosen t marked."""
    return {
        f"threshold_{environment}.png": threshold_figure(curve, t, _validation_title(environment))
        for environment, (curve, t) in validation_curves(
            threshold_curves, thresholds, environments
        ).items()
    }


def threshold_panel_figures(
    threshold_curves: pd.DataFrame,
    thresholds: dict[str, Any],
    imm_details: dict[str, Any],
    grid: np.ndarray,
    environments: Sequence[str],
) -> dict[str, Figure]:
    """Per environment one figure: the validation sweep (chosen t marked) and, where the
    environment was evaluated on test, the same U1 core on the test images with that t."""
    figures = {}
    for environment, (curve, t) in validation_curves(
        threshold_curves, thresholds, environments
    ).items():
        panels = [(curve, t, _validation_title(environment))]
        arrays = details_for(imm_details, environment, "test")
        if arrays:
            panels.append(
                (
                    _test_curve(arrays, grid),
                    float(arrays["threshold"]),
                    f"{environment} (test, the same t)",
                )
            )
        figures[f"threshold_{environment}.png"] = threshold_figure_panels(panels)
    return figures


def entropy_figures(imm_details: dict[str, Any], environments: Sequence[str]) -> dict[str, Figure]:
    """Per environment evaluated on test, ``entropy_<environment>.png``: U1's committee entropy
    of the core samples (entropy <= t) against the out-of-core ones."""
    figures = {}
    for environment in environments:
        arrays = details_for(imm_details, environment, "test")
        if not arrays:
            continue
        core = arrays["u1_entropy"] <= float(arrays["threshold"])
        figures[f"entropy_{environment}.png"] = entropy_histogram(
            arrays["u1_entropy"], core, f"U1 committee entropy: {environment} (test)"
        )
    return figures


def experiment2_accuracy_figure(experiment2: pd.DataFrame) -> Figure:
    """Accuracy of U0 / U1 / U2' / all 16 / IMM (:data:`GROUP_COLUMNS`) per environment and
    evaluation set, one group per row of ``experiment2`` (``<environment>`` on test,
    ``<environment> (<evaluation>)`` otherwise)."""
    table = (
        experiment2.assign(
            label=experiment2["environment"]
            + np.where(
                experiment2["evaluation"] == "test", "", " (" + experiment2["evaluation"] + ")"
            )
        )
        .set_index("label")[list(GROUP_COLUMNS)]
        .rename(columns=GROUP_COLUMNS)
    )
    return grouped_accuracy_bars(table, "Accuracy per environment (test and AutoAttack transfer)")
