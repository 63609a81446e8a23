"""One compiled inference pass per model object, shared by predictions and APGD.

``model(x, training=False)`` as a ``tf.function`` with an open batch dimension, so it is traced
once per model whatever the batch sizes (Keras' ``predict`` traces again for the second batch
shape it meets). A run predicts each model on several image sets in several nodes and attacks
the single models with APGD; all of them share this one trace.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import keras
import tensorflow as tf

# Compiled passes by model id, most recently used last; the model is kept with its pass so that
# its id is not reused by another object while the entry exists.
_FORWARD: OrderedDict[int, tuple[keras.Model, Any]] = OrderedDict()
_MAX_FORWARD = 64


def compiled_forward(model: keras.Model) -> Any:
    """``x (N, *input_shape) float32 -> model(x, training=False)``, traced once per model."""
    key = id(model)
    entry = _FORWARD.get(key)
    if entry is not None and entry[0] is model:
        _FORWARD.move_to_end(key)
        return entry[1]
    spec = tf.TensorSpec((None, *model.input_shape[1:]), tf.float32)

    @tf.function(input_signature=[spec])
    def forward(x: tf.Tensor) -> tf.Tensor:
        return model(x, training=False)

    _FORWARD[key] = (model, forward)
    while len(_FORWARD) > _MAX_FORWARD:
        _FORWARD.popitem(last=False)
    return forward
