"""One compiled inference pass per model object, shared by predictions and APGD.

``model(x, training=False)`` as a ``tf.function`` with an open batch dimension, so it is traced
once per model whatever the batch sizes (Keras' ``predict`` traces again for the second batch
shape it meets). A run predicts each model on several image sets in several nodes and attacks
the single models with APGD; all of them share this one trace.
"""

from __future__ import annotations

from typing import Any

import keras
import tensorflow as tf

from logifold_kedro.memo import KeptLRU
from logifold_kedro.tf_lib.onednn import route_strided_1x1_filter_gradients

# APGD differentiates the models it gets from here; its gradients must not run oneDNN's faulty
# strided 1x1 backward-weights kernel either (see tf_lib.onednn).
route_strided_1x1_filter_gradients()

# Compiled passes by model id (the model kept with its pass).
_FORWARD: KeptLRU[Any] = KeptLRU(64)


def compiled_forward(model: keras.Model) -> Any:
    """``x (N, *input_shape) float32 -> model(x, training=False)``, traced once per model."""

    def build() -> Any:
        spec = tf.TensorSpec((None, *model.input_shape[1:]), tf.float32)

        @tf.function(input_signature=[spec])
        def forward(x: tf.Tensor) -> tf.Tensor:
            return model(x, training=False)

        return forward

    return _FORWARD.get_or_build(id(model), build, keep=model)
