"""Sizes of adversarial perturbations (numpy only; shared by the TF and torch attack code and
the importer of published artifacts)."""

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
