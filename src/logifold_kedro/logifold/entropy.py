"""Committee predictions and entropies (log base = number of classes).

Notation: a committee of K members gives probabilities ``P_k`` of shape (N, C) for N samples and
C classes (softmax outputs, rows summing to 1). All entropies use the logarithm in base C, so a
single model's entropy lies in [0, 1] (up to the ``eps`` smoothing).

- Mean probabilities: ``pbar = (1/K) sum_k P_k``.
- Ensemble prediction: ``argmax_c pbar_c``.
- Single-model entropy: ``H(p) = -sum_c p_c log_C(p_c + eps)``.
- Committee entropy: ``H = -sum_c pbar_c (1/K) sum_l log_C(P_l,c + eps)``, the mean cross-entropy
  over all ordered pairs of members (k, l), k = l included. By Jensen's inequality it is at least
  ``H(pbar)``; with confident members that disagree it can exceed 1.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

# float32 softmax rows sum to 1 only up to rounding; logits or raw scores are far off.
_ROW_SUM_TOLERANCE = 1e-3
_RANGE_TOLERANCE = 1e-6

MemberProbabilities = np.ndarray | Sequence[np.ndarray]


def check_probabilities(
    probs: np.ndarray,
    name: str = "probs",
    num_classes: int | None = None,
    atol: float | None = None,
) -> np.ndarray:
    """Validate one model's probabilities and return them as a float64 array of shape (N, C).

    The project's one probability contract (``data.validation.validate_probabilities`` calls
    it): a numeric 2-D array, at least 1 sample and 2 classes (exactly ``num_classes`` when
    given), finite, in [0, 1] and every row summing to 1 within ``atol`` (by default a tolerance
    enough for float32 softmax outputs).
    """
    atol = _ROW_SUM_TOLERANCE if atol is None else atol
    array = np.asarray(probs)
    if array.dtype == object or not np.issubdtype(array.dtype, np.number):
        raise ValueError(f"{name} must be a numeric array of probabilities, not {array.dtype}.")
    array = array.astype(np.float64, copy=False)
    if array.ndim != 2:
        raise ValueError(
            f"{name} must have shape (N, C) (samples, classes), got shape {array.shape}."
        )
    n_samples, n_classes = array.shape
    if n_samples == 0:
        raise ValueError(f"{name} is empty (shape {array.shape}): need at least one sample.")
    if n_classes < 2:
        raise ValueError(f"{name} needs at least 2 classes (columns), got shape {array.shape}.")
    if num_classes is not None and n_classes != num_classes:
        raise ValueError(f"{name} has {n_classes} columns; expected {num_classes} (one per class).")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} contains NaN or infinite values: check the model outputs.")
    if array.min() < -_RANGE_TOLERANCE or array.max() > 1 + _RANGE_TOLERANCE:
        raise ValueError(
            f"{name} must lie in [0, 1], got values in [{array.min():.4g}, {array.max():.4g}]: "
            "pass softmax probabilities, not logits."
        )
    row_sums = array.sum(axis=1)
    worst = int(np.argmax(np.abs(row_sums - 1.0)))
    if abs(row_sums[worst] - 1.0) > atol:
        raise ValueError(
            f"rows of {name} must sum to 1 (softmax outputs), but row {worst} sums to "
            f"{row_sums[worst]:.6g} (tolerance {atol}): pass normalised probabilities, not "
            "logits or scores."
        )
    return array


def check_member_probabilities(member_probs: MemberProbabilities) -> list[np.ndarray]:
    """Validate a committee's probabilities and return them as a list of K float64 (N, C) arrays.

    Accepts a (K, N, C) array or a sequence of K arrays of shape (N, C), all with the same shape.
    """
    if isinstance(member_probs, np.ndarray):
        if member_probs.ndim != 3:
            raise ValueError(
                "member_probs as an array must have shape (K, N, C) (members, samples, classes), "
                f"got shape {member_probs.shape}; pass a list of (N, C) arrays otherwise."
            )
        members = list(member_probs)
    else:
        members = list(member_probs)
    if len(members) == 0:
        raise ValueError("member_probs is empty: a committee needs at least one member.")
    checked = [check_probabilities(p, name=f"member_probs[{k}]") for k, p in enumerate(members)]
    first_shape = checked[0].shape
    for k, p in enumerate(checked):
        if p.shape != first_shape:
            raise ValueError(
                f"all members must have the same shape (N, C): member 0 has {first_shape}, "
                f"member {k} has {p.shape}."
            )
    return checked


def mean_probabilities(member_probs: MemberProbabilities) -> np.ndarray:
    """Equal-weight mean of the members' probabilities: ``pbar = (1/K) sum_k P_k``.

    Args:
        member_probs: (K, N, C) array or sequence of K arrays of shape (N, C).

    Returns:
        float64 array of shape (N, C).
    """
    members = check_member_probabilities(member_probs)
    total = np.zeros_like(members[0])
    for p in members:
        total += p
    return total / len(members)


def ensemble_predict(member_probs: MemberProbabilities) -> np.ndarray:
    """Ensemble prediction ``argmax_c pbar_c`` (ties go to the lowest class index).

    Returns:
        int64 array of shape (N,).
    """
    return np.argmax(mean_probabilities(member_probs), axis=1).astype(np.int64)


def single_entropy(
    p: np.ndarray, num_classes: int | None = None, eps: float = 1e-12
) -> np.ndarray | float:
    """Entropy of each probability vector in base C: ``H(p) = -sum_c p_c log_C(p_c + eps)``.

    Args:
        p: probabilities, shape (N, C) or a single vector (C,).
        num_classes: the log base C; defaults to the number of columns of ``p``.
        eps: smoothing inside the logarithm, so that ``0 log 0`` counts as 0.

    Returns:
        float64 array of shape (N,), or a float for a single vector. In [0, 1] up to ``eps``
        (0 for a one-hot vector, 1 for the uniform distribution when C = num_classes).
    """
    array = np.asarray(p)
    single_vector = array.ndim == 1
    probs = check_probabilities(array[None, :] if single_vector else array, name="p")
    base = _check_base(probs.shape[1] if num_classes is None else num_classes)
    _check_eps(eps)
    entropy = -np.sum(probs * np.log(probs + eps), axis=1) / np.log(base)
    return float(entropy[0]) if single_vector else entropy


def committee_entropy(member_probs: MemberProbabilities, eps: float = 1e-12) -> np.ndarray:
    """Committee entropy in base C of K members, per sample.

    ``H = -sum_c pbar_c * (1/K) sum_l log_C(P_l,c + eps)`` with ``pbar = (1/K) sum_k P_k``.

    Equivalently the mean over all K^2 ordered pairs (k, l) of the cross-entropy of ``P_k``
    against ``P_l``. With one member it is the single-model entropy; it is always
    ``>= H(pbar)`` (Jensen); it is ~0 for confident agreeing members, 1 for uniform members and
    can exceed 1 for confident members that disagree (up to about ``-log_C(eps)``).

    Memory: accumulates over members, so it holds O(N * C) floats beyond the inputs.

    Args:
        member_probs: (K, N, C) array or sequence of K arrays of shape (N, C).
        eps: smoothing inside the logarithm.

    Returns:
        float64 array of shape (N,).
    """
    members = check_member_probabilities(member_probs)
    _check_eps(eps)
    base = _check_base(members[0].shape[1])
    prob_sum = np.zeros_like(members[0])
    log_prob_sum = np.zeros_like(members[0])
    for p in members:
        prob_sum += p
        log_prob_sum += np.log(p + eps)
    n_members = len(members)
    # (pbar_c) * (mean_l log P_l,c), summed over classes; the 1/K^2 is applied once at the end.
    return -np.sum(prob_sum * log_prob_sum, axis=1) / (n_members * n_members * np.log(base))


def _check_base(num_classes: int) -> int:
    if isinstance(num_classes, bool) or not isinstance(num_classes, int | np.integer):
        raise ValueError(f"num_classes must be an integer >= 2, got {num_classes!r}.")
    if num_classes < 2:
        raise ValueError(f"num_classes (the log base) must be >= 2, got {num_classes}.")
    return int(num_classes)


def _check_eps(eps: float) -> None:
    if not np.isfinite(eps) or eps < 0:
        raise ValueError(f"eps must be a finite number >= 0, got {eps!r}.")
