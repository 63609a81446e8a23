"""Stratified splits and subsets, pixel scaling and the CIFAR-10 split node."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.model_selection import train_test_split

from logifold_kedro.data.splits import (
    split_cifar10,
    stratified_split,
    stratified_subset,
    to_unit_float,
)
from logifold_kedro.data.validation import validate_image_set


def balanced_labels(per_class: int, num_classes: int = 10, seed: int = 0) -> np.ndarray:
    labels = np.repeat(np.arange(num_classes), per_class)
    return np.random.default_rng(seed).permutation(labels).astype(np.int64)


def test_paper_proportions_40000_10000_exactly_stratified():
    labels = balanced_labels(5000)  # the 50,000 CIFAR-10 training labels' class counts
    idx_train, idx_val = stratified_split(labels, 0.2, seed=42)
    assert len(idx_train) == 40000 and len(idx_val) == 10000
    assert np.bincount(labels[idx_val]).tolist() == [1000] * 10
    assert np.bincount(labels[idx_train]).tolist() == [4000] * 10
    # A partition: every index exactly once.
    np.testing.assert_array_equal(np.sort(np.concatenate([idx_train, idx_val])), np.arange(50000))
    assert idx_train.dtype == np.int64 and idx_val.dtype == np.int64


@pytest.mark.parametrize(("fraction", "seed"), [(0.2, 42), (0.1, 42), (0.2, 7)])
def test_split_is_scikit_learns_stratified_train_test_split(fraction, seed):
    labels = np.random.default_rng(3).integers(0, 10, size=777)  # unbalanced classes
    idx_a, idx_b = stratified_split(labels, fraction, seed)
    ref_a, ref_b = train_test_split(
        np.arange(777), test_size=fraction, stratify=labels, random_state=seed
    )
    # The same indices in the same order, not only the same sets.
    np.testing.assert_array_equal(idx_b, ref_b)
    np.testing.assert_array_equal(idx_a, ref_a)


@pytest.mark.parametrize("fraction", [0.1, 0.2, 0.33, 0.5, 0.77])
@pytest.mark.parametrize("n", [97, 250, 1003])
def test_split_per_class_counts_within_one_of_exact_share(n, fraction):
    rng = np.random.default_rng(n)
    labels = rng.integers(0, 10, size=n)  # unbalanced classes
    idx_a, idx_b = stratified_split(labels, fraction, seed=3)
    assert len(idx_b) == math.ceil(fraction * n) and len(idx_a) == n - len(idx_b)
    assert len(np.intersect1d(idx_a, idx_b)) == 0
    counts = np.bincount(labels, minlength=10)
    exact_b = counts * len(idx_b) / n
    got_b = np.bincount(labels[idx_b], minlength=10)
    assert np.all(np.abs(got_b - exact_b) < 1.0)
    np.testing.assert_array_equal(np.bincount(labels[idx_a], minlength=10), counts - got_b)


def test_balanced_split_with_remainder_differs_by_at_most_one():
    labels = balanced_labels(33)  # 330 samples, 20% = 66: 6.6 per class
    _, idx_b = stratified_split(labels, 0.2, seed=1)
    per_class = np.bincount(labels[idx_b])
    assert per_class.sum() == 66 and per_class.max() - per_class.min() <= 1


def test_split_is_deterministic_and_depends_on_the_seed():
    labels = balanced_labels(50)
    first = stratified_split(labels, 0.2, seed=42)
    again = stratified_split(labels, 0.2, seed=42)
    other = stratified_split(labels, 0.2, seed=43)
    for a, b in zip(first, again, strict=True):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(np.sort(first[1]), np.sort(other[1]))


def test_split_indices_are_shuffled_not_grouped_by_class():
    labels = np.repeat(np.arange(10), 100)  # sorted by class
    idx_a, _ = stratified_split(labels, 0.2, seed=0)
    # Grouped output would change class only 9 times in 800 entries.
    assert np.count_nonzero(np.diff(labels[idx_a])) > 500


@pytest.mark.parametrize("fraction", [0.0, 1.0, -0.1, 1.5])
def test_split_rejects_fractions_outside_zero_one(fraction):
    with pytest.raises(ValueError, match="strictly between 0 and 1"):
        stratified_split(balanced_labels(10), fraction, seed=0)


def test_split_rejects_an_empty_part():
    # ceil(0.9 * 4) = 4 leaves nothing for the other part.
    with pytest.raises(ValueError, match="at least one sample"):
        stratified_split(np.array([0, 1, 0, 1]), 0.9, seed=0)


@pytest.mark.parametrize(
    ("labels", "fraction", "reason"),
    [
        (np.array([0, 0, 0, 0, 7]), 0.2, r"classes \[7\] have a single sample"),
        (np.repeat(np.arange(3), 4), 0.1, "a part of 2 samples cannot hold each of the 3 classes"),
    ],
)
def test_unstratifiable_labels_raise_or_split_unstratified(labels, fraction, reason, caplog):
    with pytest.raises(ValueError, match=reason):
        stratified_split(labels, fraction, seed=0)
    idx_a, idx_b = stratified_split(labels, fraction, seed=0, unstratified_if_impossible=True)
    assert reason.replace("\\", "") in caplog.text
    ref_a, ref_b = train_test_split(np.arange(len(labels)), test_size=fraction, random_state=0)
    np.testing.assert_array_equal(idx_b, ref_b)
    np.testing.assert_array_equal(idx_a, ref_a)


def test_subset_is_stratified_and_deterministic():
    labels = balanced_labels(500)
    subset = stratified_subset(labels, 1000, seed=7)
    assert len(subset) == 1000 and len(np.unique(subset)) == 1000
    assert np.bincount(labels[subset]).tolist() == [100] * 10
    np.testing.assert_array_equal(subset, stratified_subset(labels, 1000, seed=7))
    assert not np.array_equal(np.sort(subset), np.sort(stratified_subset(labels, 1000, seed=8)))


def test_subset_of_unbalanced_labels_keeps_proportions():
    labels = np.array([0] * 60 + [1] * 30 + [2] * 10)
    subset = stratified_subset(labels, 10, seed=0)
    assert np.bincount(labels[subset]).tolist() == [6, 3, 1]


@pytest.mark.parametrize("size", [0, 102, 2.5, True])
def test_subset_rejects_bad_sizes(size):
    with pytest.raises(ValueError, match="size"):
        stratified_subset(np.arange(101) % 10, size, seed=0)


def test_subset_of_everything_is_a_permutation():
    labels = np.arange(101) % 10
    subset = stratified_subset(labels, 101, seed=0)
    np.testing.assert_array_equal(np.sort(subset), np.arange(101))


def test_to_unit_float():
    pixels = np.array([[0, 1, 128, 255]], dtype=np.uint8)
    scaled = to_unit_float(pixels)
    assert scaled.dtype == np.float32
    np.testing.assert_allclose(scaled, pixels / 255.0, rtol=1e-7)
    assert scaled.min() == 0.0 and scaled.max() == 1.0
    with pytest.raises(ValueError, match="uint8"):
        to_unit_float(np.zeros(3, dtype=np.float32))


def fake_raw(n_train: int, n_test: int) -> dict:
    rng = np.random.default_rng(0)
    return {
        "x_train": rng.integers(0, 256, size=(n_train, 32, 32, 3), dtype=np.uint8),
        "y_train": balanced_labels(n_train // 10, seed=1),
        "x_test": rng.integers(0, 256, size=(n_test, 32, 32, 3), dtype=np.uint8),
        "y_test": balanced_labels(n_test // 10, seed=2),
        "label_names": [f"class{i}" for i in range(10)],
    }


def test_split_cifar10_all_images():
    raw = fake_raw(500, 100)
    train, val, test = split_cifar10(raw, {"val_fraction": 0.2, "seed": 42})
    assert len(train["y"]) == 400 and len(val["y"]) == 100 and len(test["y"]) == 100
    for name, image_set in (("clean_train", train), ("clean_val", val), ("clean_test", test)):
        validate_image_set(image_set, name)
        assert image_set["x"].dtype == np.float32 and image_set["y"].dtype == np.int64
        assert image_set["source"] == "cifar10" and image_set["label_names"] == raw["label_names"]
    assert (train["split"], val["split"], test["split"]) == ("train", "val", "test")
    assert np.bincount(val["y"]).tolist() == [10] * 10
    # With no pool subset, the split is stratified_split of the training labels with the seed.
    idx_train, idx_val = stratified_split(raw["y_train"], 0.2, 42)
    np.testing.assert_array_equal(val["x"], raw["x_train"][idx_val] / np.float32(255))
    np.testing.assert_array_equal(train["y"], raw["y_train"][idx_train])
    # All test images, in archive order.
    np.testing.assert_array_equal(test["x"], raw["x_test"] / np.float32(255))


def indexed_raw(y_train: np.ndarray, n_test: int) -> dict:
    """Raw arrays whose training image i carries i in its first pixel (i // 256, i % 256)."""
    index = np.arange(len(y_train))
    x_train = np.zeros((len(y_train), 32, 32, 3), dtype=np.uint8)
    x_train[:, 0, 0, 0], x_train[:, 0, 0, 1] = index // 256, index % 256
    return {
        "x_train": x_train,
        "y_train": y_train,
        "x_test": np.zeros((n_test, 32, 32, 3), dtype=np.uint8),
        "y_test": np.arange(n_test) % 10,
    }


def indices_of(image_set: dict) -> np.ndarray:
    pixels = np.rint(image_set["x"][:, 0, 0, :2] * 255).astype(np.int64)
    return pixels[:, 0] * 256 + pixels[:, 1]


def test_paper_scale_validation_is_the_references_train_test_split():
    # 5,000 balanced labels in a random "official" order, as the archive's batches 1..5 are.
    y = np.random.default_rng(2026).permutation(np.repeat(np.arange(10), 500))
    raw = indexed_raw(y, n_test=10)
    train, val, _ = split_cifar10(raw, {"val_fraction": 0.2, "seed": 42, "train_pool_size": None})
    _, ref_val = train_test_split(np.arange(5000), test_size=0.2, stratify=y, random_state=42)
    np.testing.assert_array_equal(indices_of(val), ref_val)
    # The reference's call on the images themselves gives the same images in the same order.
    x_train, x_val, y_train, y_val = train_test_split(
        raw["x_train"], y, test_size=0.2, stratify=y, random_state=42
    )
    np.testing.assert_array_equal(val["x"], x_val / np.float32(255))
    np.testing.assert_array_equal(val["y"], y_val)
    np.testing.assert_array_equal(train["x"], x_train / np.float32(255))
    np.testing.assert_array_equal(train["y"], y_train)


def test_a_pool_subset_is_split_by_the_same_call():
    y = np.random.default_rng(5).permutation(np.repeat(np.arange(10), 100))
    train, val, _ = split_cifar10(indexed_raw(y, n_test=10), {"seed": 3, "train_pool_size": 320})
    pool = stratified_subset(y, 320, seed=4)  # the pool is drawn with seed + 1
    ref_train, ref_val = train_test_split(
        np.arange(320), test_size=0.2, stratify=y[pool], random_state=3
    )
    np.testing.assert_array_equal(indices_of(val), pool[ref_val])
    np.testing.assert_array_equal(indices_of(train), pool[ref_train])


def test_split_cifar10_pool_and_test_subsets_are_stratified_and_disjoint():
    raw = fake_raw(1000, 200)
    params = {"val_fraction": 0.2, "seed": 5, "train_pool_size": 300, "test_size": 50}
    train, val, test = split_cifar10(raw, params)
    assert (len(train["y"]), len(val["y"]), len(test["y"])) == (240, 60, 50)
    assert np.bincount(train["y"]).tolist() == [24] * 10
    assert np.bincount(val["y"]).tolist() == [6] * 10
    assert np.bincount(test["y"]).max() - np.bincount(test["y"]).min() <= 1
    # Train and val images are distinct training images (pixels identify them here).
    flat_train = {row.tobytes() for row in train["x"].reshape(240, -1)}
    flat_val = {row.tobytes() for row in val["x"].reshape(60, -1)}
    assert len(flat_train) == 240 and len(flat_val) == 60 and not flat_train & flat_val


def test_split_cifar10_is_deterministic():
    raw = fake_raw(300, 100)
    params = {"seed": 9, "train_pool_size": 200, "test_size": 40}
    first, second = split_cifar10(raw, params), split_cifar10(raw, params)
    for a, b in zip(first, second, strict=True):
        np.testing.assert_array_equal(a["x"], b["x"])
        np.testing.assert_array_equal(a["y"], b["y"])
    other = split_cifar10(raw, {**params, "seed": 10})
    assert not np.array_equal(first[1]["y"], other[1]["y"]) or not np.array_equal(
        first[1]["x"], other[1]["x"]
    )


def test_split_cifar10_defaults_and_bad_parameters():
    raw = fake_raw(100, 20)
    train, val, _ = split_cifar10(raw, {})  # defaults: 0.2, seed 42, all images
    assert (len(train["y"]), len(val["y"])) == (80, 20) and train["seed"] == 42
    with pytest.raises(ValueError, match=r"Unknown split parameters \['val_frac'\]"):
        split_cifar10(raw, {"val_frac": 0.2})
    with pytest.raises(ValueError, match="train_pool_size 500 must lie in 2..100"):
        split_cifar10(raw, {"train_pool_size": 500})
    with pytest.raises(ValueError, match="test_size 21 must lie in 1..20"):
        split_cifar10(raw, {"test_size": 21})
    with pytest.raises(ValueError, match="lacks \\['x_test', 'y_test'\\]"):
        split_cifar10({"x_train": raw["x_train"], "y_train": raw["y_train"]}, {})
