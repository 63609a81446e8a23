"""Sizes of adversarial perturbations, per image and summarised (numpy only; shared by the TF and
torch attack code, the pipelines' attack reports and the importer of published artifacts)."""

from __future__ import annotations

import numpy as np

_ORDERS = {"L2": 2, "Linf": np.inf, "L1": 1}
# Images per chunk: float64 differences of a whole 50,000-image split would need ~1.2 GB.
_CHUNK = 2048


def perturbation_norms(x: np.ndarray, x_adv: np.ndarray, norm: str = "L2") -> np.ndarray:
    """Per-image ``||x_adv_i - x_i||_p`` in float64, shape (N,).

    ``p`` is 2, infinity or 1 for ``norm`` "L2", "Linf" or "L1"; each image is flattened
    first. Computed in chunks of images, so memory stays bounded on full CIFAR-10 splits.
    """
    if norm not in _ORDERS:
        raise ValueError(f"norm must be one of {sorted(_ORDERS)}, got {norm!r}")
    if x.shape != x_adv.shape:
        raise ValueError(f"x and x_adv must have the same shape, got {x.shape} and {x_adv.shape}")
    norms = np.empty(len(x), dtype=np.float64)
    for start in range(0, len(x), _CHUNK):
        delta = x_adv[start : start + _CHUNK].astype(np.float64) - x[start : start + _CHUNK]
        norms[start : start + _CHUNK] = np.linalg.norm(
            delta.reshape(len(delta), -1), ord=_ORDERS[norm], axis=1
        )
    return norms


def perturbation_summary(x: np.ndarray, x_adv: np.ndarray) -> dict[str, float | int]:
    """Per-image ``l_i = ||x_adv_i - x_i||_2`` summarised, the numbers the attack reports carry.

    ``l2_mean`` = mean_i l_i, ``l2_median``, ``l2_min``, ``l2_max``; ``l2_mean_perturbed`` =
    the mean over the images with ``l_i > 0``; ``linf_max`` = max_i ||x_adv_i - x_i||_inf;
    ``n_perturbed`` = #{i: l_i > 0} (an attack leaves the images it could not attack, or did
    not need to, unchanged); ``n`` = N. Every statistic of an empty set is 0.
    """
    l2 = perturbation_norms(x, x_adv, "L2")
    linf = perturbation_norms(x, x_adv, "Linf")
    perturbed = l2 > 0
    return {
        "l2_mean": float(l2.mean()) if len(l2) else 0.0,
        "l2_median": float(np.median(l2)) if len(l2) else 0.0,
        "l2_min": float(l2.min()) if len(l2) else 0.0,
        "l2_max": float(l2.max()) if len(l2) else 0.0,
        "l2_mean_perturbed": float(l2[perturbed].mean()) if perturbed.any() else 0.0,
        "linf_max": float(linf.max()) if len(linf) else 0.0,
        "n_perturbed": int(perturbed.sum()),
        "n": int(len(l2)),
    }
