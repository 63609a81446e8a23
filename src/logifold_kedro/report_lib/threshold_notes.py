"""Why a threshold stayed 0: per environment whose validation scan never reached the target, how
close it came, in the words the report and the entropy figure for slides show."""

from __future__ import annotations

import pandas as pd


def unreached_threshold_reasons(thresholds: pd.DataFrame) -> dict[str, str]:
    """Per environment whose threshold stayed 0: ``threshold 0 (<reason>): <how close
    validation came>``, the text of :func:`unreached_threshold_notes` (the entropy figure
    writes it in the environment's panel).

    The best core accuracy is the highest the scan met on a core of at least ``min_core``
    validation images; without it (a core that was never large enough) the text says so.

    Args:
        thresholds: ``thresholds_comparison_metrics``: per environment ``reached``, ``reason``,
            ``target`` and, from newer thresholds versions, ``best_core_accuracy`` and
            ``best_core_threshold``.
    """
    reasons = {}
    recorded = "best_core_accuracy" in thresholds.columns
    for row in thresholds.itertuples(index=False):
        if bool(row.reached):
            continue
        best = row.best_core_accuracy if recorded else float("nan")
        if not recorded:
            why = "this thresholds version predates the record of the best core accuracy"
        elif best is None or pd.isna(best):
            why = "no core of the minimum size formed on validation"
        else:
            why = (
                f"the best core accuracy validation reached was {best:.4f} "
                f"(at t = {row.best_core_threshold:.2f}), below the target {row.target:.2f}"
            )
        reasons[row.environment] = f"threshold 0 ({row.reason}): {why}"
    return reasons


def unreached_threshold_notes(thresholds: pd.DataFrame) -> list[str]:
    """One Markdown bullet per environment whose threshold stayed 0: how close validation came
    (:func:`unreached_threshold_reasons`) and what an empty core means for the IMM."""
    return [
        f"- **{environment}**: {reason}. Its core is empty, so U1 decides nothing there and the "
        "IMM is U2' alone."
        for environment, reason in unreached_threshold_reasons(thresholds).items()
    ]
