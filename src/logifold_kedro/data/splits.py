"""Stratified splits and subsets of labelled image arrays, and the CIFAR-10 split node.

Splits (:func:`stratified_split`) are scikit-learn's own call, the one the reference made on the
50,000 training images in the order of the official batches 1..5::

    idx_a, idx_b = train_test_split(np.arange(n), test_size=fraction, stratify=labels,
                                    random_state=seed)

so with the whole archive as the pool, the validation indices and their order are the
reference's. ``idx_b`` holds ``ceil(fraction * n)`` indices (scikit-learn's rule for a float
``test_size``). Per class, ``StratifiedShuffleSplit`` gives the training part class ``k``'s exact
share ``n_k * (n - size_b) / n`` rounded down, hands the samples left over to the classes with
the largest remainders (ties at random), and gives the other part the rest of the class: each
class's count in either part is within 1 of its exact share. The same call splits the
specialists' data and U2''s, so every split of the project is the reference's.

Subsets (:func:`stratified_subset`, for the optional smaller pool and test set of a CPU scale)
are a draw of this module with the same per-class allocation: to draw ``m`` of ``n`` samples,
class ``k`` with ``n_k`` samples gets ``floor(n_k * m / n)``, and the ``m - sum`` samples left
over go one each to the classes with the largest remainders ``(n_k * m) mod n`` (ties broken at
random by the seed).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)

SPLIT_DEFAULTS: dict[str, Any] = {
    "val_fraction": 0.2,
    "seed": 42,
    "train_pool_size": None,
    "test_size": None,
}
SOURCE = "cifar10"


def _check_labels(labels: Any) -> np.ndarray:
    array = np.asarray(labels)
    if array.ndim != 1 or array.size == 0:
        raise ValueError(f"labels must be a non-empty 1-D array, got shape {array.shape}.")
    return array


def _class_quotas(class_counts: np.ndarray, total: int, rng: np.random.Generator) -> np.ndarray:
    """How many of ``total`` draws each class gets: its exact share, rounded by largest remainder.

    Integer arithmetic throughout, so 20% of 50,000 is exactly 10,000 (no float rounding).
    """
    n = int(class_counts.sum())
    scaled = class_counts.astype(np.int64) * total
    quotas, remainders = scaled // n, scaled % n
    left_over = total - int(quotas.sum())
    if left_over:
        # Largest remainder first; a random permutation before the stable sort breaks ties.
        shuffled = rng.permutation(len(class_counts))
        order = shuffled[np.argsort(-remainders[shuffled], kind="stable")]
        quotas[order[:left_over]] += 1
    return quotas


def _stratified_draw(labels: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    """``size`` indices drawn per class by ``_class_quotas``."""
    _, class_of, class_counts = np.unique(labels, return_inverse=True, return_counts=True)
    quotas = _class_quotas(class_counts, size, rng)
    drawn = [
        rng.permutation(np.flatnonzero(class_of == k))[:quota] for k, quota in enumerate(quotas)
    ]
    # Shuffle across classes so that no consumer sees the images grouped by class.
    return rng.permutation(np.concatenate(drawn)).astype(np.int64)


def _why_not_stratifiable(labels: np.ndarray, size_b: int) -> str | None:
    """Why ``StratifiedShuffleSplit`` would refuse these labels and part sizes, or None.

    It needs every class at least twice and, in each part, at least as many samples as classes.
    """
    classes, counts = np.unique(labels, return_counts=True)
    if counts.min() < 2:
        return f"classes {classes[counts < 2].tolist()} have a single sample"
    smaller = min(size_b, len(labels) - size_b)
    if smaller < len(classes):
        return f"a part of {smaller} samples cannot hold each of the {len(classes)} classes"
    return None


def stratified_split(
    labels: Any, fraction: float, seed: int, *, unstratified_if_impossible: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Split the indices of ``labels`` into (idx_a, idx_b), stratified by label, with
    scikit-learn's ``train_test_split(np.arange(n), test_size=fraction, stratify=labels,
    random_state=seed)``.

    ``idx_b`` (e.g. the validation part) holds ``ceil(fraction * n)`` indices, ``idx_a`` the
    other ones; each class is shared out in the same proportion (see the module docstring).
    Both arrays are int64 in a seeded random order; together they hold every index once.

    Raises ValueError where the labels cannot be stratified (a class with a single sample, a
    part smaller than the number of classes); with ``unstratified_if_impossible`` the same call
    splits without ``stratify`` there instead (logged as a warning).
    """
    labels = _check_labels(labels)
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"fraction must lie strictly between 0 and 1, got {fraction!r}.")
    n = len(labels)
    size_b = math.ceil(fraction * n)  # as scikit-learn sizes a float test_size
    if size_b > n - 1:
        raise ValueError(
            f"fraction {fraction} of {n} samples leaves {size_b} for one part and "
            f"{n - size_b} for the other; both parts need at least one sample."
        )
    reason = _why_not_stratifiable(labels, size_b)
    if reason is not None:
        if not unstratified_if_impossible:
            raise ValueError(f"cannot split {n} samples stratified by label: {reason}.")
        logger.warning("%s: splitting %d samples without stratification", reason, n)
    # Imported here: scikit-learn (and SciPy behind it) would add their import time to every
    # import of the data package, which most processes use without splitting anything.
    from sklearn.model_selection import train_test_split

    idx_a, idx_b = train_test_split(
        np.arange(n, dtype=np.int64),
        test_size=fraction,
        stratify=labels if reason is None else None,
        random_state=seed,
    )
    return idx_a, idx_b


def stratified_subset(labels: Any, size: int, seed: int) -> np.ndarray:
    """``size`` indices of ``labels``, stratified by label, int64 in a seeded random order."""
    labels = _check_labels(labels)
    if isinstance(size, bool) or not isinstance(size, int | np.integer):
        raise ValueError(f"size must be an int, got {size!r}.")
    if not 1 <= size <= len(labels):
        raise ValueError(f"size must lie in 1..{len(labels)} (the number of labels), got {size}.")
    return _stratified_draw(labels, int(size), np.random.default_rng(seed))


def to_unit_float(x_uint8: np.ndarray) -> np.ndarray:
    """uint8 pixels 0..255 -> float32 in [0, 1]: ``x / 255``."""
    if not isinstance(x_uint8, np.ndarray) or x_uint8.dtype != np.uint8:
        form = x_uint8.dtype if isinstance(x_uint8, np.ndarray) else type(x_uint8).__name__
        raise ValueError(f"to_unit_float expects a uint8 array of pixels, got {form}.")
    x = x_uint8.astype(np.float32)
    x /= np.float32(255.0)  # in place: one float32 copy of the images, not two
    return x


def _check_split_params(split_params: Mapping[str, Any] | None) -> dict[str, Any]:
    params = {**SPLIT_DEFAULTS, **(split_params or {})}
    unknown = sorted(set(params) - set(SPLIT_DEFAULTS))
    if unknown:
        raise ValueError(
            f"Unknown split parameters {unknown}; the split takes {sorted(SPLIT_DEFAULTS)}."
        )
    for key in ("train_pool_size", "test_size"):
        value = params[key]
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise ValueError(f"split parameter {key} must be an int or null, got {value!r}.")
    if isinstance(params["seed"], bool) or not isinstance(params["seed"], int):
        raise ValueError(f"split parameter seed must be an int, got {params['seed']!r}.")
    return params


def _image_set(
    x: np.ndarray, y: np.ndarray, idx: np.ndarray, split: str, seed: int, label_names: list
) -> dict[str, Any]:
    return {
        "x": to_unit_float(x[idx]),
        "y": np.asarray(y[idx], dtype=np.int64),
        "split": split,
        "source": SOURCE,
        "seed": seed,
        "label_names": list(label_names),
    }


def _subset_or_all(
    labels: np.ndarray, size: int | None, minimum: int, seed: int, param: str, images: str
) -> np.ndarray:
    """Indices of a stratified subset of `size` labels (`stratified_subset`), or of all of them
    when `size` is None; a size outside `minimum..len(labels)` is refused naming `param`."""
    if size is None:
        return np.arange(len(labels), dtype=np.int64)
    if not minimum <= size <= len(labels):
        raise ValueError(
            f"{param} {size} must lie in {minimum}..{len(labels)} (the {images} images in the "
            "archive), or be null for all of them."
        )
    return stratified_subset(labels, size, seed)


def split_cifar10(
    raw: Mapping[str, Any], split_params: Mapping[str, Any] | None
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """Node: (clean_train, clean_val, clean_test) image sets from the raw CIFAR-10 arrays.

    ``split_params`` (defaults in ``SPLIT_DEFAULTS``):
    - ``train_pool_size``: None for all training images, else a stratified subset of that size
      is drawn first (seed + 1);
    - ``val_fraction``: share of the pool that goes to validation, by ``stratified_split``
      (scikit-learn's stratified ``train_test_split``, ``random_state`` seed): with no pool
      subset, exactly the reference's validation images, in its order;
    - ``test_size``: None for all test images (in archive order), else a stratified subset
      (seed + 2).
    Image sets: ``{"x": float32 (N, 32, 32, 3) in [0, 1], "y": int64 (N,), "split", "source":
    "cifar10", "seed", "label_names"}``.
    """
    params = _check_split_params(split_params)
    missing = [k for k in ("x_train", "y_train", "x_test", "y_test") if k not in raw]
    if missing:
        raise ValueError(
            f"raw CIFAR-10 data lacks {missing}; expected the dict CIFAR10ArchiveDataset loads "
            "(x_train, y_train, x_test, y_test, label_names)."
        )
    seed = params["seed"]
    x_train, y_train = raw["x_train"], np.asarray(raw["y_train"])
    x_test, y_test = raw["x_test"], np.asarray(raw["y_test"])
    label_names = list(raw.get("label_names", []))

    pool = _subset_or_all(
        y_train, params["train_pool_size"], 2, seed + 1, "train_pool_size", "training"
    )
    in_train, in_val = stratified_split(y_train[pool], params["val_fraction"], seed)
    train_idx, val_idx = pool[in_train], pool[in_val]
    test_idx = _subset_or_all(y_test, params["test_size"], 1, seed + 2, "test_size", "test")

    logger.info(
        "CIFAR-10 split (seed %d): train %d, val %d (fraction %.3g of a pool of %d), test %d",
        seed,
        len(train_idx),
        len(val_idx),
        params["val_fraction"],
        len(pool),
        len(test_idx),
    )
    return (
        _image_set(x_train, y_train, train_idx, "train", seed, label_names),
        _image_set(x_train, y_train, val_idx, "val", seed, label_names),
        _image_set(x_test, y_test, test_idx, "test", seed, label_names),
    )
