"""Uncertainty of reported numbers: percentile bootstrap intervals.

Percentile bootstrap: draw B resamples of the N samples with replacement (the same indices for
every array, so paired statistics such as a difference of accuracies stay paired), evaluate the
statistic on each, and report the ``(1 - confidence) / 2`` and ``(1 + confidence) / 2`` quantiles
of the B values around the statistic on the original data.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from .threshold import select_threshold


@dataclass(frozen=True)
class BootstrapInterval:
    """A point estimate with its percentile bootstrap interval."""

    estimate: float
    low: float
    high: float
    confidence: float
    n_resamples: int

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (JSON-friendly) of the fields."""
        return asdict(self)


def _check_n_resamples(n_resamples: int) -> None:
    if isinstance(n_resamples, bool) or not isinstance(n_resamples, int | np.integer):
        raise ValueError(f"n_resamples must be an integer >= 1, got {n_resamples!r}.")
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be >= 1, got {n_resamples}.")


def _check_confidence(confidence: float) -> None:
    if not (isinstance(confidence, int | float) and 0.0 < confidence < 1.0):
        raise ValueError(f"confidence must lie strictly between 0 and 1, got {confidence!r}.")


def _check_bootstrap_settings(n_resamples: int, confidence: float) -> None:
    _check_n_resamples(n_resamples)
    _check_confidence(confidence)


def _percentile_interval(values: np.ndarray, confidence: float) -> tuple[float, float]:
    alpha = 1.0 - confidence
    if np.all(np.isnan(values)):
        return float("nan"), float("nan")
    # NaN statistics (e.g. an accuracy over an empty resampled subset) are left out.
    low, high = np.nanpercentile(values, [100 * alpha / 2, 100 * (1 - alpha / 2)])
    return float(low), float(high)


def bootstrap_ci(
    statistic_fn: Callable[..., float],
    *arrays: np.ndarray,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> BootstrapInterval:
    """Percentile bootstrap interval of ``statistic_fn(*arrays)``.

    ``[low, high]`` are the ``(1 -+ confidence) / 2`` percentiles of the replicates
    ``s*_r = statistic_fn(*(a[I_r] for a in arrays))``, r = 1..B, where each ``I_r`` draws N
    indices uniformly with replacement (N = length of the first axis, shared by all arrays).

    Args:
        statistic_fn: maps the arrays to a scalar (for example ``np.mean``).
        *arrays: one or more arrays with the same first-axis length N >= 1.
        n_resamples: number of bootstrap resamples B.
        confidence: coverage of the interval, in (0, 1).
        seed: seed of the numpy generator; the same seed gives the same interval.

    Returns:
        :class:`BootstrapInterval` with the estimate on the original data and the interval.
    """
    if not arrays:
        raise ValueError("bootstrap_ci needs at least one array to resample.")
    _check_bootstrap_settings(n_resamples, confidence)
    data = [np.asarray(a) for a in arrays]
    for index, array in enumerate(data):
        if array.ndim == 0:
            raise ValueError(f"array {index} is a scalar; pass arrays with a sample axis.")
    n_samples = data[0].shape[0]
    if n_samples == 0:
        raise ValueError("cannot bootstrap an empty array (N = 0).")
    for index, array in enumerate(data):
        if array.shape[0] != n_samples:
            raise ValueError(
                f"all arrays must have the same number of samples: array 0 has {n_samples}, "
                f"array {index} has {array.shape[0]}."
            )

    estimate = float(statistic_fn(*data))
    rng = np.random.default_rng(seed)
    values = np.empty(n_resamples, dtype=np.float64)
    for resample in range(n_resamples):
        indices = rng.integers(0, n_samples, size=n_samples)
        values[resample] = float(statistic_fn(*(array[indices] for array in data)))
    low, high = _percentile_interval(values, confidence)
    return BootstrapInterval(estimate, low, high, float(confidence), int(n_resamples))


def resampled_ratios(
    ratios: Mapping[str, tuple[np.ndarray, np.ndarray]],
    n_resamples: int = 1000,
    seed: int = 0,
    chunk_elements: int = 4_000_000,
) -> dict[str, np.ndarray]:
    """Bootstrap replicates of ratio statistics ``sum(num_i) / sum(den_i)``, paired.

    Every accuracy and coverage of the experiments is such a ratio over the N samples of one
    image set: accuracy ``num = correct, den = 1``; coverage ``num = core, den = 1``; core
    accuracy ``num = correct & core, den = core``; out-of-core accuracy
    ``num = correct & ~core, den = ~core``. Each replicate draws one set of N indices with
    replacement and evaluates *all* ratios on it, so the statistics of one table row stay paired.
    A replicate whose denominator is 0 gives NaN.

    Args:
        ratios: name -> (numerator, denominator), 0/1 or boolean arrays of one length N >= 1.
        n_resamples: number of replicates B.
        seed: the same seed gives the same replicates.
        chunk_elements: replicates are drawn in chunks of about this many indices (memory).

    Returns:
        name -> (B,) float64 replicates.
    """
    _check_n_resamples(n_resamples)
    if not ratios:
        raise ValueError("resampled_ratios needs at least one (numerator, denominator) pair.")
    arrays = {}
    for name, (numerator, denominator) in ratios.items():
        num, den = np.asarray(numerator), np.asarray(denominator)
        if num.ndim != 1 or num.shape != den.shape:
            raise ValueError(
                f"ratio {name!r}: numerator and denominator must be 1-D of one length, "
                f"got shapes {num.shape} and {den.shape}."
            )
        arrays[name] = (num, den)
    lengths = {name: num.shape[0] for name, (num, _) in arrays.items()}
    n_samples = next(iter(lengths.values()))
    if len(set(lengths.values())) != 1:
        raise ValueError(f"all ratios must be over the same N samples, got lengths {lengths}.")
    if n_samples == 0:
        raise ValueError("cannot bootstrap an empty set of samples (N = 0).")

    def resampled_sums(values: np.ndarray, indices: np.ndarray) -> np.ndarray:
        if values.dtype == bool and values.all():  # a plain rate: every resample has N
            return np.full(indices.shape[0], float(n_samples))
        if values.dtype == bool:  # counting is much faster than summing floats
            return np.count_nonzero(values[indices], axis=1).astype(np.float64)
        return values[indices].sum(axis=1, dtype=np.float64)

    rng = np.random.default_rng(seed)
    replicates = {name: np.empty(n_resamples) for name in arrays}
    chunk = max(1, chunk_elements // n_samples)
    for first in range(0, n_resamples, chunk):
        size = min(chunk, n_resamples - first)
        indices = rng.integers(0, n_samples, size=(size, n_samples))
        for name, (num, den) in arrays.items():
            den_sums = resampled_sums(den, indices)
            num_sums = resampled_sums(num, indices)
            with np.errstate(invalid="ignore", divide="ignore"):
                replicates[name][first : first + size] = np.where(
                    den_sums > 0, num_sums / np.where(den_sums > 0, den_sums, 1), np.nan
                )
    return replicates


def replicate_columns(replicates: Mapping[str, np.ndarray], confidence: float) -> dict[str, float]:
    """Table columns ``<name>_low`` and ``<name>_high``: the ``(1 -+ confidence) / 2``
    percentiles of each statistic's bootstrap replicates (NaN replicates left out)."""
    _check_confidence(confidence)
    columns = {}
    for name, values in replicates.items():
        columns[f"{name}_low"], columns[f"{name}_high"] = _percentile_interval(
            np.asarray(values, dtype=np.float64), confidence
        )
    return columns


def core_ratios(correct: np.ndarray, core: np.ndarray) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The ratios of one classifier and its core (for :func:`resampled_ratios`).

    ``overall_accuracy = sum(c) / N``, ``core_coverage = sum(k) / N``,
    ``core_accuracy = sum(c k) / sum(k)``, ``out_of_core_accuracy = sum(c (1-k)) / sum(1-k)``
    with c the correctness and k the core indicator of each sample.
    """
    correct, core = np.asarray(correct, dtype=bool), np.asarray(core, dtype=bool)
    ones = np.ones(correct.shape, dtype=bool)
    return {
        "overall_accuracy": (correct, ones),
        "core_coverage": (core, ones),
        "core_accuracy": (correct & core, core),
        "out_of_core_accuracy": (correct & ~core, ~core),
    }


def core_metric_intervals(
    correct: np.ndarray,
    core: np.ndarray,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> dict[str, BootstrapInterval]:
    """Paired percentile bootstrap intervals of one classifier's core metrics.

    The four ratios of :func:`core_ratios` (``overall_accuracy = sum(c) / N``,
    ``core_coverage = sum(k) / N``, ``core_accuracy = sum(c k) / sum(k)``,
    ``out_of_core_accuracy = sum(c (1-k)) / sum(1-k)``), all evaluated on the same B resamples
    of the N samples (:func:`resampled_ratios`), with their
    ``(1 -+ confidence) / 2`` percentiles (:func:`replicate_columns`).

    Args:
        correct: (N,) booleans, whether each sample is predicted correctly.
        core: (N,) booleans, whether each sample is in the core (e.g. ``entropy <= t``).
        n_resamples: number of bootstrap resamples B.
        confidence: coverage of the intervals, in (0, 1).
        seed: the same seed gives the same intervals.

    Returns:
        name -> :class:`BootstrapInterval` (estimate on all N samples); a ratio over an empty
        set (an empty core, or everything in the core) has a NaN estimate and interval.
    """
    _check_bootstrap_settings(n_resamples, confidence)
    correct, core = np.asarray(correct), np.asarray(core)
    if correct.ndim != 1 or correct.shape != core.shape:
        raise ValueError(
            f"correct and core must be 1-D of one length, got {correct.shape} and {core.shape}."
        )
    ratios = core_ratios(correct, core)
    bounds = replicate_columns(
        resampled_ratios(ratios, n_resamples=n_resamples, seed=seed), confidence
    )
    intervals = {}
    for name, (numerator, denominator) in ratios.items():
        total = int(np.count_nonzero(denominator))
        estimate = np.count_nonzero(numerator) / total if total else float("nan")
        intervals[name] = BootstrapInterval(
            float(estimate),
            bounds[f"{name}_low"],
            bounds[f"{name}_high"],
            float(confidence),
            int(n_resamples),
        )
    return intervals


def bootstrap_settings(params: Mapping[str, Any] | None) -> dict[str, Any]:
    """``n_resamples``, ``confidence`` and ``seed`` from ``params:bootstrap`` (defaults 1000,
    0.95, 0), checked."""
    params = dict(params or {})
    settings = {
        "n_resamples": int(params.get("n_resamples", 1000)),
        "confidence": float(params.get("confidence", 0.95)),
        "seed": int(params.get("seed", 0)),
    }
    _check_bootstrap_settings(settings["n_resamples"], settings["confidence"])
    return settings


def bootstrap_thresholds(
    entropy: np.ndarray,
    predictions: np.ndarray,
    labels: np.ndarray,
    n_resamples: int = 200,
    seed: int = 0,
    **scan: Any,
) -> np.ndarray:
    """Bootstrap distribution of the selected threshold.

    Each replicate resamples the N validation samples with replacement and runs
    :func:`~logifold_kedro.logifold.threshold.select_threshold` with the same ``scan`` settings
    (target, start, stop, step, min_core, decimals) on the resample.

    Returns:
        (B,) float64 thresholds, one per replicate.
    """
    _check_n_resamples(n_resamples)
    entropy, predictions, labels = (np.asarray(a) for a in (entropy, predictions, labels))
    n_samples = entropy.shape[0]
    if n_samples == 0:
        raise ValueError("cannot bootstrap a threshold on an empty validation set (N = 0).")
    rng = np.random.default_rng(seed)
    thresholds = np.empty(n_resamples)
    for replicate in range(n_resamples):
        indices = rng.integers(0, n_samples, size=n_samples)
        thresholds[replicate] = select_threshold(
            entropy[indices], predictions[indices], labels[indices], **scan
        ).threshold
    return thresholds
