"""The core of a learner at an entropy threshold, and accuracy on and off it.

For entropies ``H`` (one per sample), predictions ``yhat`` and labels ``y`` of N samples:

- core at threshold t: ``core = {i : H_i <= t}`` (a sample with ``H_i == t`` is in the core);
- core coverage: ``|core| / N``;
- core accuracy: ``mean(yhat_i == y_i for i in core)``;
- out-of-core accuracy: the same on the complement; overall accuracy: the same on all N.

An accuracy over an empty set is NaN (never an error), so a table can show it as missing.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def check_entropy(entropy: np.ndarray, name: str = "entropy") -> np.ndarray:
    """Validate per-sample entropies: a non-empty, finite 1-D array; returned as float64."""
    array = np.asarray(entropy)
    if array.dtype == object or not np.issubdtype(array.dtype, np.number):
        raise ValueError(f"{name} must be a numeric array, got dtype {array.dtype}.")
    array = array.astype(np.float64, copy=False)
    if array.ndim != 1:
        raise ValueError(f"{name} must have shape (N,), got shape {array.shape}.")
    if array.size == 0:
        raise ValueError(f"{name} is empty: need at least one sample.")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} contains NaN or infinite values.")
    return array


def check_class_indices(values: np.ndarray, name: str, n_samples: int | None = None) -> np.ndarray:
    """Validate 1-D integer class indices (labels or predictions) of optional length N."""
    array = np.asarray(values)
    if array.ndim != 1:
        raise ValueError(
            f"{name} must be 1-D class indices of shape (N,), got shape {array.shape}; "
            "for probabilities take argmax(axis=1) first."
        )
    if array.dtype == bool or not np.issubdtype(array.dtype, np.integer):
        raise ValueError(f"{name} must be integer class indices, got dtype {array.dtype}.")
    if n_samples is not None and array.shape[0] != n_samples:
        raise ValueError(f"{name} has {array.shape[0]} samples, expected {n_samples}.")
    if array.size and array.min() < 0:
        raise ValueError(f"{name} must be non-negative class indices, got {array.min()}.")
    return array.astype(np.int64, copy=False)


def check_threshold(t: float, name: str = "t") -> float:
    """Validate a threshold: a finite real number."""
    if isinstance(t, bool):
        raise ValueError(f"{name} must be a real number, got {t!r}.")
    try:
        value = float(t)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{name} must be a real number, got {t!r}.") from error
    if not np.isfinite(value):
        raise ValueError(f"{name} must be finite, got {t!r}.")
    return value


def check_correctness_inputs(
    entropy: np.ndarray, predictions: np.ndarray, labels: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Validate (entropy, predictions, labels) of equal length N; return (entropy, correct)."""
    entropy = check_entropy(entropy)
    n_samples = entropy.shape[0]
    predictions = check_class_indices(predictions, "predictions", n_samples)
    labels = check_class_indices(labels, "labels", n_samples)
    return entropy, predictions == labels


def core_mask(entropy: np.ndarray, t: float) -> np.ndarray:
    """Boolean mask of the core at threshold t: ``entropy <= t`` (ties are in the core)."""
    return check_entropy(entropy) <= check_threshold(t)


def accuracy(correct: np.ndarray) -> float:
    """Accuracy ``(1/N) sum_i correct_i`` of a boolean correctness array; NaN for N = 0."""
    correct = np.asarray(correct, dtype=bool)
    return float(correct.mean()) if correct.size else float("nan")


def core_metrics(
    entropy: np.ndarray, predictions: np.ndarray, labels: np.ndarray, t: float
) -> dict[str, Any]:
    """Core and out-of-core accuracy and coverage at threshold t.

    Args:
        entropy: (N,) per-sample entropies (single-model or committee).
        predictions: (N,) predicted class indices.
        labels: (N,) true class indices.
        t: threshold; the core is ``entropy <= t``.

    Returns:
        dict with ``threshold``, ``core_accuracy`` (NaN if the core is empty), ``core_coverage``
        (``|core| / N``), ``out_of_core_accuracy`` (NaN if everything is in the core),
        ``overall_accuracy``, ``core_size`` and ``n``.
    """
    entropy, correct = check_correctness_inputs(entropy, predictions, labels)
    threshold = check_threshold(t)
    mask = entropy <= threshold
    n_samples = int(entropy.shape[0])
    core_size = int(mask.sum())
    return {
        "threshold": threshold,
        "core_accuracy": accuracy(correct[mask]),
        "core_coverage": core_size / n_samples,
        "out_of_core_accuracy": accuracy(correct[~mask]),
        "overall_accuracy": accuracy(correct),
        "core_size": core_size,
        "n": n_samples,
    }
