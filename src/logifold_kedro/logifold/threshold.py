"""Choosing the entropy threshold t, and accuracy/coverage as functions of t.

Selection rule (per environment, on its validation set, with U1's committee entropy): scan
``t = start, start - step, ..., stop`` (descending) and return the first t whose core accuracy
``acc(t) = mean(yhat_i == y_i for H_i <= t)`` is at least ``target``. The scan stops early with
``t = 0`` when the core has fewer than ``min_core`` samples, and ends with ``t = 0`` when no grid
value reaches the target. The result is rounded to ``decimals`` decimals.

Both functions sort the entropies once and read the core sizes and numbers of correct
predictions for every t from cumulative sums, so a scan costs O(N log N + len(grid) log N).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from .core import accuracy, check_correctness_inputs, check_threshold

#: Reasons a threshold scan ends, as reported in :class:`ThresholdSelection.reason`.
REASON_TARGET_REACHED = "target_reached"
REASON_CORE_TOO_SMALL = "core_below_min_core"
REASON_GRID_EXHAUSTED = "grid_exhausted"

# Grid values are rounded to this many decimals to remove the drift of start - k * step.
_GRID_DECIMALS = 10


@dataclass(frozen=True)
class ThresholdSelection:
    """Outcome of :func:`select_threshold`.

    Attributes:
        threshold: the chosen t (0.0 when the target was not reached), rounded.
        reached: whether some grid value reached the target core accuracy.
        target: the target core accuracy.
        core_accuracy: core accuracy at ``threshold`` (NaN if that core is empty).
        core_coverage: core coverage at ``threshold``.
        core_size: number of samples with entropy <= ``threshold``.
        n: number of samples.
        reason: ``"target_reached"``, ``"core_below_min_core"`` (the core fell below
            ``min_core`` samples before the target was reached) or ``"grid_exhausted"``
            (the scan reached ``stop`` without reaching the target).
        thresholds_scanned: how many grid values were examined.
        best_core_accuracy: the highest core accuracy among the examined grid values whose
            core held at least ``min_core`` samples (NaN if none did): when the target is not
            reached, how close the scan came.
        best_core_threshold: the grid value where ``best_core_accuracy`` was met first (the
            largest such t; NaN if none).
    """

    threshold: float
    reached: bool
    target: float
    core_accuracy: float
    core_coverage: float
    core_size: int
    n: int
    reason: str
    thresholds_scanned: int
    best_core_accuracy: float = float("nan")
    best_core_threshold: float = float("nan")

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (JSON-friendly) of the fields."""
        return asdict(self)


def threshold_grid(start: float = 2.0, stop: float = 0.02, step: float = 0.01) -> np.ndarray:
    """Descending grid ``start, start - step, ..., >= stop`` without floating-point drift.

    The k-th value is computed as ``start - k * step`` from the integer k (not by repeated
    subtraction) and rounded to 10 decimals, so ``threshold_grid()[193] == 0.07`` exactly and
    the default grid 2.00, 1.99, ..., 0.02 has 199 values.
    """
    start = check_threshold(start, "start")
    stop = check_threshold(stop, "stop")
    step = check_threshold(step, "step")
    if step <= 0:
        raise ValueError(f"step must be > 0, got {step}.")
    if start < stop:
        raise ValueError(f"the grid descends: start ({start}) must be >= stop ({stop}).")
    # The small tolerance keeps the end point when (start - stop) / step is 197.99999999999997.
    n_steps = math.floor((start - stop) / step + 1e-9)
    return np.round(start - step * np.arange(n_steps + 1), _GRID_DECIMALS)


def _core_counts(
    entropy: np.ndarray, correct: np.ndarray, thresholds: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """For each t: (number of samples with entropy <= t, number of those predicted correctly)."""
    order = np.argsort(entropy, kind="stable")
    sorted_entropy = entropy[order]
    correct_before = np.concatenate([[0], np.cumsum(correct[order], dtype=np.int64)])
    core_sizes = np.searchsorted(sorted_entropy, thresholds, side="right")
    return core_sizes.astype(np.int64), correct_before[core_sizes]


def select_threshold(
    entropy: np.ndarray,
    predictions: np.ndarray,
    labels: np.ndarray,
    target: float = 0.95,
    start: float = 2.0,
    stop: float = 0.02,
    step: float = 0.01,
    min_core: int = 10,
    decimals: int = 3,
) -> ThresholdSelection:
    """Largest grid threshold whose core accuracy reaches ``target`` (see the module docstring).

    At each t of :func:`threshold_grid` (descending): if the core ``{H <= t}`` has fewer than
    ``min_core`` samples the scan stops with t = 0; else if its accuracy is ``>= target``, t is
    returned. If no t qualifies, t = 0. The result is ``round(t, decimals)``, and the reported
    core accuracy and coverage are evaluated at that rounded value (with the default 0.01 grid
    rounding to 3 decimals changes nothing; with a grid finer than ``10**-decimals`` it can move
    the core boundary, and the reported numbers show it).

    Args:
        entropy: (N,) committee entropies on the validation set.
        predictions: (N,) ensemble predictions.
        labels: (N,) true labels.
        target: core accuracy to reach, in [0, 1].
        start, stop, step: the scan grid.
        min_core: the smallest core size worth scanning.
        decimals: rounding of the returned threshold.

    Returns:
        :class:`ThresholdSelection`.
    """
    entropy, correct = check_correctness_inputs(entropy, predictions, labels)
    target = check_threshold(target, "target")
    if not 0.0 <= target <= 1.0:
        raise ValueError(f"target is a core accuracy and must lie in [0, 1], got {target}.")
    if isinstance(min_core, bool) or not isinstance(min_core, int | np.integer) or min_core < 0:
        raise ValueError(f"min_core must be an integer >= 0, got {min_core!r}.")
    if isinstance(decimals, bool) or not isinstance(decimals, int | np.integer) or decimals < 0:
        raise ValueError(f"decimals must be an integer >= 0, got {decimals!r}.")

    grid = threshold_grid(start, stop, step)
    core_sizes, core_correct = _core_counts(entropy, correct, grid)

    chosen, reason, scanned = 0.0, REASON_GRID_EXHAUSTED, len(grid)
    for index, t in enumerate(grid):
        if core_sizes[index] < min_core:
            chosen, reason, scanned = 0.0, REASON_CORE_TOO_SMALL, index + 1
            break
        # Integer counts divided once: 19 / 20 compares equal to the literal 0.95.
        if core_sizes[index] > 0 and core_correct[index] / core_sizes[index] >= target:
            chosen, reason, scanned = float(t), REASON_TARGET_REACHED, index + 1
            break

    examined = slice(0, scanned)
    eligible = (core_sizes[examined] >= max(int(min_core), 1)) & (core_sizes[examined] > 0)
    best_accuracy, best_t = float("nan"), float("nan")
    if eligible.any():
        accuracies = np.where(
            eligible, core_correct[examined] / np.maximum(core_sizes[examined], 1), -1.0
        )
        best = int(np.argmax(accuracies))  # first maximum: the largest t on the descending grid
        best_accuracy, best_t = float(accuracies[best]), float(grid[best])

    threshold = round(chosen, int(decimals))
    mask = entropy <= threshold
    n_samples = int(entropy.shape[0])
    return ThresholdSelection(
        threshold=threshold,
        reached=reason == REASON_TARGET_REACHED,
        target=target,
        core_accuracy=accuracy(correct[mask]),
        core_coverage=float(mask.sum()) / n_samples,
        core_size=int(mask.sum()),
        n=n_samples,
        reason=reason,
        thresholds_scanned=scanned,
        best_core_accuracy=best_accuracy,
        best_core_threshold=best_t,
    )


def threshold_curve(
    entropy: np.ndarray, predictions: np.ndarray, labels: np.ndarray, grid: np.ndarray
) -> pd.DataFrame:
    """Coverage and accuracy on and off the core for every threshold of ``grid``.

    For each t: ``core_coverage = |{H <= t}| / N``, ``out_of_core_coverage = 1 - core_coverage``,
    ``core_accuracy`` and ``out_of_core_accuracy`` (NaN for an empty set), the constant
    ``overall_accuracy`` and ``core_size``.

    Returns:
        DataFrame with one row per grid value, in the grid's order, and columns
        ``threshold, core_coverage, out_of_core_coverage, core_accuracy, out_of_core_accuracy,
        overall_accuracy, core_size``.
    """
    entropy, correct = check_correctness_inputs(entropy, predictions, labels)
    thresholds = np.asarray(grid)
    if thresholds.dtype == object or not np.issubdtype(thresholds.dtype, np.number):
        raise ValueError(f"grid must be numeric thresholds, got dtype {thresholds.dtype}.")
    thresholds = thresholds.astype(np.float64, copy=False)
    if thresholds.ndim != 1 or thresholds.size == 0:
        raise ValueError(f"grid must be a non-empty 1-D array, got shape {thresholds.shape}.")
    if not np.all(np.isfinite(thresholds)):
        raise ValueError("grid contains NaN or infinite thresholds.")

    n_samples = entropy.shape[0]
    n_correct = int(correct.sum())
    core_sizes, core_correct = _core_counts(entropy, correct, thresholds)
    out_sizes = n_samples - core_sizes
    out_correct = n_correct - core_correct
    with np.errstate(invalid="ignore", divide="ignore"):
        core_accuracy = np.where(core_sizes > 0, core_correct / core_sizes, np.nan)
        out_accuracy = np.where(out_sizes > 0, out_correct / out_sizes, np.nan)
    return pd.DataFrame(
        {
            "threshold": thresholds,
            "core_coverage": core_sizes / n_samples,
            "out_of_core_coverage": out_sizes / n_samples,
            "core_accuracy": core_accuracy,
            "out_of_core_accuracy": out_accuracy,
            "overall_accuracy": np.full(thresholds.shape, n_correct / n_samples),
            "core_size": core_sizes,
        }
    )
