"""Softmax outputs of a Keras classifier on an image array, batch by batch, with progress."""

from __future__ import annotations

import math

import keras
import numpy as np
import tensorflow as tf

from logifold_kedro.tf_lib.forward import compiled_forward
from logifold_kedro.tf_lib.progress import PredictionProgressLogger


def predict_probabilities(model: keras.Model, x: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """The model's softmax outputs on images `x` as float32 (N, C), logging progress."""
    if getattr(x, "ndim", None) != 4:
        raise ValueError(f"x must be images of shape (N, H, W, C), got {getattr(x, 'shape', x)}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    num_classes = int(model.output_shape[-1])
    if len(x) == 0:
        return np.zeros((0, num_classes), dtype=np.float32)
    total_batches = math.ceil(len(x) / batch_size)
    progress = PredictionProgressLogger(
        f"{model.name} predict", total_batches, max(1, math.ceil(total_batches / 10))
    )
    forward = compiled_forward(model)
    progress.on_predict_begin()
    batches = []
    try:
        for index, start in enumerate(range(0, len(x), batch_size)):
            batch = np.asarray(x[start : start + batch_size], dtype=np.float32)
            batches.append(np.asarray(forward(tf.constant(batch)), dtype=np.float32))
            progress.on_predict_batch_end(index)
    finally:
        progress.on_predict_end()
    return np.concatenate(batches)
