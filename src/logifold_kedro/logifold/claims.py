"""The paper's claims as checks: a difference, its bootstrap interval, and a verdict.

A claim compares two quantities A and B measured on the same N images and says on which side
of 0 their difference ``d = A - B`` lies: the *paper's side* ``s = +1`` (A > B) or ``s = -1``
(A < B).

- Paired difference of means of per-image quantities ``a_i, b_i`` (an accuracy: ``a_i = 1``
  where the first committee is right on image i, else 0; an entropy: the per-image entropy)::

      d = (1/N) sum_i a_i - (1/N) sum_i b_i = (1/N) sum_i (a_i - b_i)

  Its bootstrap replicates ``d*_r = (1/N) sum_j (a - b)_{I_rj}`` draw one set of N indices
  ``I_r`` with replacement for both quantities (paired), through
  :func:`~logifold_kedro.logifold.bootstrap.resampled_ratios` with numerator ``a - b`` and
  denominator 1.
- Core accuracy against a target (one sample: the target is a constant)::

      m = sum_i c_i k_i / sum_i k_i - target

  with ``c_i`` the correctness and ``k_i`` the core indicator of image i; its replicates are
  the bootstrap replicates of the core-accuracy ratio (the same resampling) minus the target.
  An empty core (``sum_i k_i = 0``) leaves m undefined (NaN).
- Core accuracy against the accuracy on the whole set (paired: both ratios on one resample)::

      a = sum_i c_i k_i / sum_i k_i - (1/N) sum_i c_i

  undefined (NaN) for an empty core.
- The interval ``[low, high]`` is the percentile interval of the replicates
  (:func:`~logifold_kedro.logifold.bootstrap.replicate_columns`), NaN replicates left out.
- Verdict of ``[low, high]`` for the paper's side s::

      holds         if s * low > 0 and s * high > 0   (strictly on the paper's side of 0)
      fails         if s * low < 0 and s * high < 0   (strictly on the other side)
      not resolved  otherwise: the interval contains 0 (or touches it), or is undefined (NaN)

- The paper's side of a claim is the sign of the paper's own difference (its published A minus
  its published B) where it publishes both; where it publishes neither, or they are equal, the
  side the claim states by default (:func:`paper_side`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from .bootstrap import BootstrapInterval, replicate_columns, resampled_ratios

HOLDS = "holds"
NOT_RESOLVED = "not resolved"
FAILS = "fails"
#: Every verdict :func:`claim_verdict` gives.
VERDICTS = (HOLDS, NOT_RESOLVED, FAILS)


def _undefined(confidence: float, n_resamples: int) -> BootstrapInterval:
    nan = float("nan")
    return BootstrapInterval(nan, nan, nan, float(confidence), int(n_resamples))


def _check_side(side: int) -> int:
    if isinstance(side, bool) or side not in (1, -1):
        raise ValueError(f"a side is +1 (A > B) or -1 (A < B), got {side!r}.")
    return int(side)


def paired_mean_differences(
    pairs: Mapping[str, tuple[np.ndarray, np.ndarray]],
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> dict[str, BootstrapInterval]:
    """Paired bootstrap intervals of ``d = mean(a) - mean(b)`` for several pairs of per-image
    quantities of the same N images, all on the same resamples.

    Args:
        pairs: name -> (a, b), 1-D arrays (booleans or numbers) of one length N for every pair.
        n_resamples: number of bootstrap replicates B.
        confidence: coverage of the interval, in (0, 1).
        seed: the same seed gives the same resamples (and, for the same N, the same resamples
            as every other interval drawn with :func:`resampled_ratios` and that seed).

    Returns:
        name -> :class:`BootstrapInterval` of d (estimate on all N images). With N = 0 every
        interval is NaN.
    """
    if not pairs:
        raise ValueError("paired_mean_differences needs at least one (a, b) pair.")
    differences = {}
    for name, (first, second) in pairs.items():
        a = np.asarray(first, dtype=np.float64)
        b = np.asarray(second, dtype=np.float64)
        if a.ndim != 1 or a.shape != b.shape:
            raise ValueError(
                f"pair {name!r}: a and b must be 1-D of one length (the same images), got "
                f"shapes {a.shape} and {b.shape}."
            )
        differences[name] = a - b
    lengths = {name: d.shape[0] for name, d in differences.items()}
    if len(set(lengths.values())) != 1:
        raise ValueError(f"every pair must be over the same N images, got lengths {lengths}.")
    n_samples = next(iter(lengths.values()))
    if n_samples == 0:
        return {name: _undefined(confidence, n_resamples) for name in differences}
    ones = np.ones(n_samples, dtype=bool)
    replicates = resampled_ratios(
        {name: (d, ones) for name, d in differences.items()}, n_resamples=n_resamples, seed=seed
    )
    bounds = replicate_columns(replicates, confidence)
    return {
        name: BootstrapInterval(
            float(d.mean()),
            bounds[f"{name}_low"],
            bounds[f"{name}_high"],
            float(confidence),
            int(n_resamples),
        )
        for name, d in differences.items()
    }


def paired_mean_difference(
    first: np.ndarray,
    second: np.ndarray,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> BootstrapInterval:
    """Paired bootstrap interval of ``d = (1/N) sum_i (a_i - b_i)`` (see the module docstring):
    :func:`paired_mean_differences` for one pair."""
    intervals = paired_mean_differences(
        {"difference": (first, second)}, n_resamples, confidence, seed
    )
    return intervals["difference"]


def _check_correct_and_core(correct: np.ndarray, core: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Both as booleans, refused unless 1-D of one length."""
    correct = np.asarray(correct, dtype=bool)
    core = np.asarray(core, dtype=bool)
    if correct.ndim != 1 or correct.shape != core.shape:
        raise ValueError(
            f"correct and core must be 1-D of one length, got {correct.shape} and {core.shape}."
        )
    return correct, core


def core_accuracy_margin(
    correct: np.ndarray,
    core: np.ndarray,
    target: float,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> BootstrapInterval:
    """Bootstrap interval of ``m = sum(c k) / sum(k) - target``: core accuracy minus a target.

    Args:
        correct: (N,) booleans, whether each image is predicted correctly.
        core: (N,) booleans, whether each image is in the core.
        target: the core accuracy to compare with (a constant, not resampled).
        n_resamples, confidence, seed: as in :func:`paired_mean_differences`.

    Returns:
        :class:`BootstrapInterval` of m; NaN (estimate and interval) for an empty core.
    """
    correct, core = _check_correct_and_core(correct, core)
    target = float(target)
    if not math.isfinite(target):
        raise ValueError(f"target must be a finite number, got {target!r}.")
    if not core.any():
        return _undefined(confidence, n_resamples)
    replicates = resampled_ratios(
        {"core_accuracy": (correct & core, core)}, n_resamples=n_resamples, seed=seed
    )
    bounds = replicate_columns(replicates, confidence)
    return BootstrapInterval(
        float(correct[core].mean()) - target,
        bounds["core_accuracy_low"] - target,
        bounds["core_accuracy_high"] - target,
        float(confidence),
        int(n_resamples),
    )


def core_accuracy_advantage(
    correct: np.ndarray,
    core: np.ndarray,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> BootstrapInterval:
    """Paired bootstrap interval of ``a = sum(c k) / sum(k) - (1/N) sum(c)``: how much more
    accurate the core is than the whole set it is drawn from.

    Both ratios are computed on the same resamples of the N images (the core of a resample is
    the resampled images' core), so the interval is of the paired difference.

    Args:
        correct: (N,) booleans, whether each image is predicted correctly.
        core: (N,) booleans, whether each image is in the core.
        n_resamples, confidence, seed: as in :func:`paired_mean_differences`.

    Returns:
        :class:`BootstrapInterval` of a; NaN (estimate and interval) for an empty core.
    """
    correct, core = _check_correct_and_core(correct, core)
    if not core.any():
        return _undefined(confidence, n_resamples)
    replicates = resampled_ratios(
        {"core": (correct & core, core), "all": (correct, np.ones_like(core))},
        n_resamples=n_resamples,
        seed=seed,
    )
    bounds = replicate_columns({"advantage": replicates["core"] - replicates["all"]}, confidence)
    return BootstrapInterval(
        float(correct[core].mean() - correct.mean()),
        bounds["advantage_low"],
        bounds["advantage_high"],
        float(confidence),
        int(n_resamples),
    )


def paper_side(paper_difference: float | None, default_side: int) -> int:
    """The side of 0 on which the paper puts ``A - B``: the sign of its own difference, or
    ``default_side`` where it publishes none (None or NaN) or its two numbers are equal."""
    default_side = _check_side(default_side)
    if paper_difference is None:
        return default_side
    value = float(paper_difference)
    if math.isnan(value) or value == 0.0:
        return default_side
    return 1 if value > 0 else -1


def claim_verdict(low: float, high: float, side: int) -> str:
    """``holds``, ``fails`` or ``not resolved`` for the interval ``[low, high]`` of a
    difference and the paper's side ``side`` (+1 or -1) of 0.

    ``holds`` if ``side * low > 0`` and ``side * high > 0``; ``fails`` if both are ``< 0``;
    ``not resolved`` otherwise (the interval contains or touches 0, or is NaN).
    """
    side = _check_side(side)
    low, high = float(low), float(high)
    if math.isnan(low) or math.isnan(high):
        return NOT_RESOLVED
    if low > high:
        raise ValueError(f"an interval has low <= high, got [{low}, {high}].")
    if side * low > 0 and side * high > 0:
        return HOLDS
    if side * low < 0 and side * high < 0:
        return FAILS
    return NOT_RESOLVED
