"""The training batches of `tf_lib.training`: a fresh permutation per epoch, augmented on the fly.

Augmentation runs per batch inside `tf.data`: a random translation of up to ``width_shift`` x W
and ``height_shift`` x H pixels (uniform, bilinear, nearest fill, as Keras' ImageDataGenerator)
and a horizontal flip with probability 1/2. The random draws are stateless, seeded by (seed,
global batch index): the same seed gives the same batches, and a resumed run gets the batches
the full run had.
"""

from __future__ import annotations

import math

import numpy as np
import tensorflow as tf

from logifold_kedro.tf_lib.recipe import Augmentation


def _augment_batch(images: tf.Tensor, seed: tf.Tensor, augmentation: Augmentation) -> tf.Tensor:
    """Random translation and horizontal flip of a batch, from a stateless seed pair."""
    batch = tf.shape(images)[0]
    height, width = images.shape[1], images.shape[2]
    if augmentation.width_shift > 0 or augmentation.height_shift > 0:
        max_shift = tf.constant(
            [augmentation.width_shift * width, augmentation.height_shift * height], tf.float32
        )
        shifts = tf.random.stateless_uniform([batch, 2], seed, -1.0, 1.0) * max_shift
        ones, zeros = tf.ones([batch, 1]), tf.zeros([batch, 1])
        # Output pixel (x, y) reads input (x - dx, y - dy): the content moves by (dx, dy).
        transforms = tf.concat(
            [ones, zeros, -shifts[:, :1], zeros, ones, -shifts[:, 1:], zeros, zeros], axis=1
        )
        images = tf.raw_ops.ImageProjectiveTransformV3(
            images=images,
            transforms=transforms,
            output_shape=tf.constant([height, width], tf.int32),
            fill_value=tf.constant(0.0),
            interpolation="BILINEAR",
            fill_mode="NEAREST",
        )
    if augmentation.horizontal_flip:
        flip_seed = seed + tf.constant([0, 1], tf.int64)
        flip = tf.random.stateless_uniform([batch], flip_seed) < 0.5
        images = tf.where(flip[:, None, None, None], tf.reverse(images, axis=[2]), images)
    return images


def make_training_dataset(
    images: np.ndarray,
    labels: np.ndarray,
    batch_size: int,
    epochs: int,
    seed: int,
    augmentation: Augmentation,
    first_epoch: int = 0,
) -> tuple[tf.data.Dataset, int]:
    """Batches for epochs `first_epoch` .. `epochs` - 1 (a fresh permutation per epoch) and the
    batches per epoch.

    Vectorised like Keras' own array adapter: permute indices, cut them into batches, gather
    each batch at once; then augment the whole batch. Epoch e's order and augmentation depend
    only on (seed, e): a run resumed at `first_epoch` gets the batches the full run had there.
    """
    count = len(images)
    steps_per_epoch = math.ceil(count / batch_size)
    seed_value = tf.constant(int(seed), tf.int64)

    def epoch_batches(epoch: tf.Tensor) -> tf.data.Dataset:
        order = tf.random.experimental.stateless_shuffle(
            tf.range(count, dtype=tf.int64), seed=tf.stack([seed_value, epoch])
        )
        # Consecutive slices of the permutation, the last one partial. `batch` leaves the batch
        # dimension open, so every batch size and data size feeds one traced train step.
        return tf.data.Dataset.from_tensor_slices(order).batch(batch_size)

    indices = (
        tf.data.Dataset.range(first_epoch, epochs)
        .flat_map(epoch_batches)
        .enumerate(start=first_epoch * steps_per_epoch)
    )
    data = tf.data.Dataset.from_tensors((images, labels)).repeat()

    def gather(step_and_index: tuple[tf.Tensor, tf.Tensor], arrays: tuple) -> tuple:
        step, index = step_and_index
        batch_images = tf.gather(arrays[0], index)
        if augmentation.active:
            batch_images = _augment_batch(
                batch_images, tf.stack([seed_value, 2 * step]), augmentation
            )
        return batch_images, tf.gather(arrays[1], index)

    dataset = tf.data.Dataset.zip((indices, data)).map(
        gather, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True
    )
    return dataset.prefetch(tf.data.AUTOTUNE), steps_per_epoch
