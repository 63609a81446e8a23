"""Tests of make_training_dataset: the per-epoch permutations and the augmentation."""

from __future__ import annotations

import numpy as np

from logifold_kedro.tf_lib.recipe import Augmentation
from logifold_kedro.tf_lib.training_data import make_training_dataset


def index_images(count: int) -> np.ndarray:
    """Image i is constant i / count, so a batch tells which indices it holds."""
    return np.broadcast_to(
        (np.arange(count, dtype=np.float32) / count)[:, None, None, None], (count, 4, 4, 1)
    ).copy()


def epoch_indices(dataset, steps: int, count: int) -> list[list[int]]:
    epochs, current = [], []
    for step, (images, labels) in enumerate(dataset.as_numpy_iterator()):
        indices = np.rint(images[:, 0, 0, 0] * count).astype(int)
        np.testing.assert_array_equal(labels, indices)  # labels travel with their images
        current += indices.tolist()
        if (step + 1) % steps == 0:
            epochs.append(current)
            current = []
    return epochs


def test_each_epoch_is_a_fresh_permutation_with_a_partial_last_batch():
    count = 23
    dataset, steps = make_training_dataset(
        index_images(count), np.arange(count, dtype=np.int64), 5, 3, 7, Augmentation()
    )
    assert steps == 5
    sizes = [len(labels) for _, labels in dataset.as_numpy_iterator()]
    assert sizes == [5, 5, 5, 5, 3] * 3
    epochs = epoch_indices(dataset, steps, count)
    assert len(epochs) == 3
    for order in epochs:
        assert sorted(order) == list(range(count))
    assert epochs[0] != epochs[1] != epochs[2]
    again, _ = make_training_dataset(
        index_images(count), np.arange(count, dtype=np.int64), 5, 3, 7, Augmentation()
    )
    other, _ = make_training_dataset(
        index_images(count), np.arange(count, dtype=np.int64), 5, 3, 8, Augmentation()
    )
    assert epoch_indices(again, steps, count) == epochs
    assert epoch_indices(other, steps, count) != epochs


def test_flip_augmentation_mirrors_about_half_of_the_images():
    rng = np.random.default_rng(0)
    images = rng.uniform(size=(64, 8, 8, 3)).astype(np.float32)
    labels = np.arange(64, dtype=np.int64)
    dataset, _ = make_training_dataset(images, labels, 16, 1, 3, Augmentation(horizontal_flip=True))
    flipped = 0
    for batch, batch_labels in dataset.as_numpy_iterator():
        for image, label in zip(batch, batch_labels, strict=True):
            mirrored = np.array_equal(image, images[label][:, ::-1])
            assert mirrored or np.array_equal(image, images[label])
            flipped += mirrored
    assert 16 <= flipped <= 48


def test_shift_augmentation_translates_by_at_most_the_fraction():
    width = 32
    ramp = np.broadcast_to(np.arange(width, dtype=np.float32), (32, width))  # value = column
    images = np.repeat(ramp[None, :, :, None], 40, axis=0).copy()
    labels = np.zeros(40, dtype=np.int64)
    dataset, _ = make_training_dataset(
        images, labels, 20, 1, 0, Augmentation(width_shift=0.1, height_shift=0.0)
    )
    shifts = []
    for batch, _ in dataset.as_numpy_iterator():
        # Interior columns (away from the nearest-fill border): a pure horizontal translation.
        difference = images[: len(batch), :, 8:24, 0] - batch[:, :, 8:24, 0]
        per_image = difference.mean(axis=(1, 2))
        np.testing.assert_allclose(
            difference, np.broadcast_to(per_image[:, None, None], difference.shape), atol=1e-4
        )
        shifts += per_image.tolist()
    shifts = np.abs(shifts)
    assert shifts.max() <= 0.1 * width + 1e-4
    assert shifts.max() > 1.0  # shifts happen, not only sub-pixel jitter
