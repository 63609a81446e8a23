"""Counting model passes from outside any ART estimator (the APGD benchmark and its tests).

``with_pass_counter(model)`` puts a :class:`PassCounter` at a model's input: ``forward_rows``
grows by the batch size on every call and ``backward_rows`` whenever a gradient flows back, so
ART's own ``TensorFlowV2Classifier`` and the project's ``FusedCommitteeClassifier`` can be
compared by the images each sends through the model.
"""

from __future__ import annotations

import keras
import tensorflow as tf


class PassCounter(keras.layers.Layer):
    """Identity layer counting the images that pass through it, forward and backward.

    Put it at a model's input to count model passes from outside any ART estimator:
    ``forward_rows`` grows by the batch size on every call (eager or compiled) and
    ``backward_rows`` whenever a gradient flows back through it.
    """

    def build(self, input_shape) -> None:
        self.forward_rows = self.add_weight(
            shape=(), dtype="int64", initializer="zeros", trainable=False, name="forward_rows"
        )
        self.backward_rows = self.add_weight(
            shape=(), dtype="int64", initializer="zeros", trainable=False, name="backward_rows"
        )

    def call(self, inputs):
        self.forward_rows.assign_add(tf.cast(tf.shape(inputs)[0], tf.int64))
        backward_rows = self.backward_rows

        @tf.custom_gradient
        def identity_counting_gradients(tensor):
            def gradient(upstream):
                backward_rows.assign_add(tf.cast(tf.shape(upstream)[0], tf.int64))
                return upstream

            return tf.identity(tensor), gradient

        return identity_counting_gradients(inputs)

    def reset(self) -> None:
        """Set both counters to zero."""
        self.forward_rows.assign(0)
        self.backward_rows.assign(0)


def with_pass_counter(model: keras.Model) -> tuple[keras.Model, PassCounter]:
    """``model`` behind a :class:`PassCounter` (weights shared): (counted model, counter)."""
    inputs = keras.Input(shape=tuple(model.input_shape[1:]))
    counter = PassCounter(name=f"{model.name}_pass_counter")
    counted = keras.Model(inputs, model(counter(inputs)), name=f"{model.name}_counted")
    return counted, counter
