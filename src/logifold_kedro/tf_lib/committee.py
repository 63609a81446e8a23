"""Keras committees: the attacked model of an ensemble, and all members' probabilities at once.

A committee of K members with softmax outputs ``P_k(x)`` (N, C) is attacked as one model whose
output is the clipped mean (docs/method.md, Attacks):

    committee(x) = clip((1/K) sum_k P_k(x), 1e-12, 1)

The clip keeps the cross-entropy of the attack finite when every member gives a class exactly 0.
Both functions call the members' own layers, so the weights are shared with the members, never
copied: training a member later changes the committee too.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

import keras
import numpy as np
import tensorflow as tf

from logifold_kedro.memo import KeptLRU
from logifold_kedro.tf_lib.progress import format_duration

logger = logging.getLogger(__name__)

PROBABILITY_FLOOR = 1e-12
# One progress line per this many batches in committee_member_probabilities.
_LOG_EVERY_BATCHES = 20


@keras.saving.register_keras_serializable(package="logifold_kedro")
class ClipProbabilities(keras.layers.Layer):
    """Clip probabilities into ``[min_value, max_value]`` (a layer, so the model still saves)."""

    def __init__(
        self, min_value: float = PROBABILITY_FLOOR, max_value: float = 1.0, **kwargs
    ) -> None:
        super().__init__(**kwargs)
        if not 0.0 <= min_value < max_value:
            raise ValueError(
                f"ClipProbabilities needs 0 <= min_value < max_value, got {min_value}, {max_value}."
            )
        self.min_value = float(min_value)
        self.max_value = float(max_value)

    def call(self, inputs):
        return keras.ops.clip(inputs, self.min_value, self.max_value)

    def get_config(self) -> dict:
        return {**super().get_config(), "min_value": self.min_value, "max_value": self.max_value}


def _check_members(members: Sequence[keras.Model]) -> tuple[tuple[int, ...], int]:
    """Check the members agree on input shape and class count; return (input_shape, C)."""
    members = list(members)
    if not members:
        raise ValueError("a committee needs at least one member model, got an empty sequence.")
    input_shapes = {tuple(member.input_shape[1:]) for member in members}
    if len(input_shapes) != 1:
        raise ValueError(
            f"committee members must share one input shape, got {sorted(input_shapes)} "
            f"for members {[member.name for member in members]}."
        )
    output_shapes = {tuple(member.output_shape[1:]) for member in members}
    if len(output_shapes) != 1 or len(next(iter(output_shapes))) != 1:
        raise ValueError(
            "committee members must all output probabilities of shape (N, C) with the same C, "
            f"got output shapes {sorted(output_shapes)}."
        )
    names = [member.name for member in members]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ValueError(
            f"committee member names must be unique (Keras needs unique layer names), but "
            f"{duplicates} occur more than once: give each model its own name when building it."
        )
    return input_shapes.pop(), output_shapes.pop()[0]


# Committees built in this process, by name and member objects (kept with them).
_BUILT: KeptLRU[keras.Model] = KeptLRU(16)


def build_committee(members: Sequence[keras.Model], name: str) -> keras.Model:
    """One functional Keras model: the members' mean softmax, clipped to [1e-12, 1].

    ``committee(x) = clip((1/K) sum_k P_k(x), 1e-12, 1)``; the members are called as layers, so
    their weights are shared with this model (not copied). Members must have unique names, one
    input shape and softmax outputs of one width C.

    The same name and member objects give the same committee object as before, so whatever was
    compiled for it (the APGD passes) is reused by later nodes attacking it.
    """
    members = list(members)
    key = (name, tuple(id(member) for member in members))
    return _BUILT.get_or_build(key, lambda: _new_committee(members, name), keep=members)


def _new_committee(members: list[keras.Model], name: str) -> keras.Model:
    input_shape, _ = _check_members(members)
    inputs = keras.Input(shape=input_shape, name=f"{name}_input")
    member_outputs = [member(inputs) for member in members]
    mean = (
        member_outputs[0]
        if len(member_outputs) == 1
        else keras.layers.Average(name=f"{name}_mean")(member_outputs)
    )
    outputs = ClipProbabilities(name=f"{name}_clip")(mean)
    return keras.Model(inputs=inputs, outputs=outputs, name=name)


def _build_stacked_members(members: list[keras.Model]) -> keras.Model:
    """All members side by side: (B, H, W, C_in) -> (B, K, C) in one forward pass."""
    input_shape, _ = _check_members(members)
    inputs = keras.Input(shape=input_shape)
    stacked = keras.ops.stack([member(inputs) for member in members], axis=1)
    return keras.Model(inputs=inputs, outputs=stacked, name="stacked_members")


def committee_member_probabilities(
    members: Sequence[keras.Model], x: np.ndarray, batch_size: int
) -> np.ndarray:
    """Every member's probabilities on ``x``, float32 of shape (K, N, C).

    All K members run in one compiled forward pass per batch (each image is read once per batch,
    not once per member). ``x`` is float32 NHWC; inference mode (BatchNorm uses its moving stats).
    """
    members = list(members)
    if batch_size <= 0:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size}.")
    x = np.asarray(x)
    stacked_model = _build_stacked_members(members)
    expected_shape = tuple(stacked_model.input_shape[1:])
    if x.ndim != 1 + len(expected_shape) or tuple(x.shape[1:]) != expected_shape:
        raise ValueError(
            f"x must have shape (N, {', '.join(map(str, expected_shape))}) for these members, "
            f"got {x.shape}."
        )
    n_samples = x.shape[0]
    n_classes = stacked_model.output_shape[-1]
    if n_samples == 0:
        return np.zeros((len(members), 0, n_classes), dtype=np.float32)

    # A fixed signature with an open batch dimension: one trace, also for the last short batch.
    @tf.function(input_signature=[tf.TensorSpec((None, *expected_shape), tf.float32)])
    def forward(batch):
        return stacked_model(batch, training=False)

    probs = np.empty((n_samples, len(members), n_classes), dtype=np.float32)
    n_batches = -(-n_samples // batch_size)
    started = time.perf_counter()
    for batch_index, start in enumerate(range(0, n_samples, batch_size)):
        stop = min(start + batch_size, n_samples)
        probs[start:stop] = forward(tf.constant(x[start:stop], dtype=tf.float32)).numpy()
        done = batch_index + 1
        if done % _LOG_EVERY_BATCHES == 0 or done == n_batches:
            elapsed = time.perf_counter() - started
            eta = elapsed / done * (n_batches - done)
            logger.info(
                "member probabilities: batch %d/%d (%d members, %d images; %s, ETA %s)",
                done,
                n_batches,
                len(members),
                stop,
                format_duration(elapsed),
                format_duration(eta),
            )
    return np.ascontiguousarray(probs.transpose(1, 0, 2))
