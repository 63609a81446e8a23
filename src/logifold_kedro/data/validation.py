"""Checks of the arrays that cross the catalog, with errors that name the set and the fix.

Image set contract: ``{"x": float32 (N, H, W, 3) in [0, 1], "y": int64 (N,) in 0..C-1}`` plus
optional metadata values. Probabilities: the math package's contract
(``logifold.entropy.check_probabilities``), with the set's name.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from logifold_kedro.logifold.entropy import check_probabilities

_IMAGE_FORM = "x float32 of shape (N, 32, 32, 3) (NHWC) with values in [0, 1]"
_LABEL_FORM = "y int64 of shape (N,) with class indices"


def validate_image_set(image_set: Mapping[str, Any], name: str, num_classes: int = 10) -> None:
    """Raise ValueError unless ``image_set`` is a non-empty image set of the contract.

    Checks: ``x`` is a float32 4-D NHWC array with 3 channels, finite, in [0, 1]; ``y`` is an
    int64 1-D array with one label per image, every label in 0..num_classes-1.
    """
    label_form = f"{_LABEL_FORM} in 0..{num_classes - 1}"
    if not isinstance(image_set, Mapping):
        raise ValueError(
            f"Image set '{name}' is a {type(image_set).__name__}; expected a dict with "
            f"{_IMAGE_FORM} and {label_form}."
        )
    missing = [k for k in ("x", "y") if k not in image_set]
    if missing:
        raise ValueError(
            f"Image set '{name}' lacks {missing} (it has {sorted(map(str, image_set))}); "
            f"expected {_IMAGE_FORM} and {label_form}."
        )
    x, y = image_set["x"], image_set["y"]

    if not isinstance(x, np.ndarray):
        raise ValueError(
            f"Image set '{name}': x is a {type(x).__name__}; expected a numpy array, {_IMAGE_FORM}."
        )
    if x.dtype != np.float32:
        hint = " (convert uint8 images with to_unit_float)" if x.dtype == np.uint8 else ""
        raise ValueError(
            f"Image set '{name}': x has dtype {x.dtype}; expected {_IMAGE_FORM}{hint}."
        )
    if x.ndim != 4 or x.shape[-1] != 3:
        raise ValueError(
            f"Image set '{name}': x has shape {x.shape}; expected {_IMAGE_FORM} "
            "(channels last, 3 channels)."
        )
    if x.shape[0] == 0:
        raise ValueError(f"Image set '{name}' is empty (x shape {x.shape}); expected N >= 1.")
    # min/max propagate NaN and show infinities without allocating a mask of the whole array.
    low, high = float(x.min()), float(x.max())
    if not (np.isfinite(low) and np.isfinite(high)):
        bad = int(np.count_nonzero(~np.isfinite(x)))
        raise ValueError(
            f"Image set '{name}': x holds {bad} NaN or infinite values; expected {_IMAGE_FORM}."
        )
    if low < 0.0 or high > 1.0:
        raise ValueError(
            f"Image set '{name}': x values lie in [{low:.4g}, {high:.4g}]; expected "
            f"{_IMAGE_FORM} (scale uint8 pixels by 1/255; clip attacked images to [0, 1])."
        )

    if not isinstance(y, np.ndarray):
        raise ValueError(
            f"Image set '{name}': y is a {type(y).__name__}; expected a numpy array, {label_form}."
        )
    if y.dtype != np.int64:
        raise ValueError(f"Image set '{name}': y has dtype {y.dtype}; expected {label_form}.")
    if y.ndim != 1 or len(y) != len(x):
        raise ValueError(
            f"Image set '{name}': y has shape {y.shape} for {len(x)} images; expected "
            f"{label_form}, one per image."
        )
    y_low, y_high = int(y.min()), int(y.max())
    if y_low < 0 or y_high >= num_classes:
        raise ValueError(
            f"Image set '{name}': labels lie in [{y_low}, {y_high}]; expected {label_form}."
        )


def validate_probabilities(
    probs: Any, name: str, num_classes: int | None = None, atol: float | None = None
) -> None:
    """Raise ValueError unless ``probs`` holds probabilities of shape (N, C), naming the set.

    The contract is ``logifold.entropy.check_probabilities`` (numeric, N >= 1, C >= 2 and
    C == num_classes when given, finite, in [0, 1], rows summing to 1 within ``atol``, by
    default its float32 tolerance); this name keeps the data helpers' ``(probs, name)`` call
    and quotes the name in the message.
    """
    check_probabilities(probs, f"probabilities '{name}'", num_classes=num_classes, atol=atol)
