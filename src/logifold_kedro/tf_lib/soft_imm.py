"""Differentiable stand-ins of the entropy-gated IMM, for adaptive (gate-aware) attacks.

The real IMM routes each image by a hard, non-differentiable rule (``H1 <= t``: U1, else U2'),
so a gradient attack on it sees only one branch. Two attack targets make the gate visible:

- **Soft IMM**: the committee entropy H1 of U1 (docs/method.md, in TensorFlow ops) drives a sigmoid
  gate, ``g = sigmoid((t - H1) / tau)``, and the output is
  ``clip(g * mean_k P_k^{U1} + (1 - g) * mean_k P_k^{U2'}, 1e-12, 1)``.
  As ``tau -> 0`` it is the hard IMM; for ``|t - H1| >> tau`` it equals it already.
- **Confident core**: U1's mean softmax beside H1, attacked with
  ``loss = CE(mean_k P_k^{U1}, y) - lambda * H1`` (CE in nats as in APGD-CE, H1 in base C as
  in docs/method.md). Maximising it pushes an image to a wrong U1 label *and* into U1's low-entropy
  core, where the IMM trusts U1: the natural attack on an entropy gate.

Both are Keras models over the members' own layers (weights shared, not copied), attacked with
the project's ART APGD (:func:`logifold_kedro.tf_lib.apgd.apgd_attack`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from logifold_kedro.memo import KeptLRU
from logifold_kedro.tf_lib.apgd import apgd_attack
from logifold_kedro.tf_lib.committee import PROBABILITY_FLOOR, ClipProbabilities, _check_members
from logifold_kedro.tf_lib.fused_classifier import cross_entropy_on_probabilities

ENTROPY_EPS = 1e-12  # as logifold.entropy.committee_entropy


def committee_entropy_tf(member_probs: tf.Tensor, eps: float = ENTROPY_EPS) -> tf.Tensor:
    """Committee entropy in base C of K members, per sample, in TensorFlow ops.

    ``H = -sum_c pbar_c * (1/K) sum_l log_C(P_l,c + eps)`` with ``pbar = (1/K) sum_k P_k``,
    for ``member_probs`` of shape (N, K, C); returns (N,). The same formula as the numpy
    :func:`logifold_kedro.logifold.entropy.committee_entropy` (whose input is (K, N, C)).
    """
    member_probs = tf.convert_to_tensor(member_probs)
    n_classes = tf.cast(tf.shape(member_probs)[-1], member_probs.dtype)
    mean_probs = tf.reduce_mean(member_probs, axis=1)
    mean_log_probs = tf.reduce_mean(tf.math.log(member_probs + eps), axis=1)
    return -tf.reduce_sum(mean_probs * mean_log_probs, axis=-1) / tf.math.log(n_classes)


def soft_gate(u1_entropy: tf.Tensor, threshold: float, temperature: float) -> tf.Tensor:
    """``g = sigmoid((t - H1) / tau)``: ~1 deep in U1's core, ~0 far outside it."""
    return tf.sigmoid((threshold - u1_entropy) / temperature)


def _check_gate_parameters(threshold: float, temperature: float) -> tuple[float, float]:
    threshold, temperature = float(threshold), float(temperature)
    if not math.isfinite(threshold) or threshold < 0:
        raise ValueError(f"the threshold t must be a finite number >= 0, got {threshold!r}.")
    if not math.isfinite(temperature) or temperature <= 0:
        raise ValueError(
            f"the gate temperature tau must be a positive number, got {temperature!r} "
            "(small tau: close to the hard IMM; params:adaptive_attacks.soft_imm.temperature)."
        )
    return threshold, temperature


class SoftImmGate(keras.layers.Layer):
    """(N, K1, C) U1 and (N, K2, C) U2' member probabilities -> (N, C) soft IMM output.

    ``g * mean(U1) + (1 - g) * mean(U2')`` with ``g = sigmoid((t - H1) / tau)``.
    """

    def __init__(self, threshold: float, temperature: float, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.threshold, self.temperature = _check_gate_parameters(threshold, temperature)

    def call(self, u1_probs, u2_probs):
        gate = soft_gate(committee_entropy_tf(u1_probs), self.threshold, self.temperature)
        gate = gate[:, None]
        return gate * tf.reduce_mean(u1_probs, axis=1) + (1.0 - gate) * tf.reduce_mean(
            u2_probs, axis=1
        )

    def get_config(self) -> dict:
        config = super().get_config()
        return {**config, "threshold": self.threshold, "temperature": self.temperature}


class MeanAndEntropy(keras.layers.Layer):
    """(N, K, C) member probabilities -> (N, C + 1): clipped mean softmax, then H1."""

    def call(self, member_probs):
        mean = tf.clip_by_value(tf.reduce_mean(member_probs, axis=1), PROBABILITY_FLOOR, 1.0)
        return tf.concat([mean, committee_entropy_tf(member_probs)[:, None]], axis=-1)


def _stacked(members: Sequence[keras.Model], inputs: Any) -> Any:
    return keras.ops.stack([member(inputs) for member in members], axis=1)


# Models built in this process (key: kind, name, member ids, parameters), most recent last: the
# same target object is attacked for several settings, so its compiled APGD passes are reused.
_BUILT: KeptLRU[keras.Model] = KeptLRU(8)


def build_soft_imm(
    u1_members: Sequence[keras.Model],
    u2_members: Sequence[keras.Model],
    threshold: float,
    temperature: float,
    name: str,
) -> keras.Model:
    """The soft IMM as one Keras model: images -> (N, C) probabilities (module docstring).

    ``clip(g * mean(U1) + (1 - g) * mean(U2'), 1e-12, 1)``, ``g = sigmoid((t - H1) / tau)``.
    Members are called as layers (weights shared). The same arguments give the same object.
    """
    u1_members, u2_members = list(u1_members), list(u2_members)
    threshold, temperature = _check_gate_parameters(threshold, temperature)
    _check_members(u1_members + u2_members)  # one input shape and C, unique names

    def build() -> keras.Model:
        inputs = keras.Input(shape=tuple(u1_members[0].input_shape[1:]), name=f"{name}_input")
        gated = SoftImmGate(threshold, temperature, name=f"{name}_gate")(
            _stacked(u1_members, inputs), _stacked(u2_members, inputs)
        )
        outputs = ClipProbabilities(name=f"{name}_clip")(gated)
        return keras.Model(inputs=inputs, outputs=outputs, name=name)

    members = u1_members + u2_members
    key = ("soft_imm", name, tuple(map(id, members)), len(u1_members), threshold, temperature)
    return _BUILT.get_or_build(key, build, keep=members)


def build_confident_core_target(u1_members: Sequence[keras.Model], name: str) -> keras.Model:
    """Images -> (N, C + 1): U1's clipped mean softmax, then its committee entropy H1."""
    u1_members = list(u1_members)
    _check_members(u1_members)

    def build() -> keras.Model:
        inputs = keras.Input(shape=tuple(u1_members[0].input_shape[1:]), name=f"{name}_input")
        outputs = MeanAndEntropy(name=f"{name}_mean_entropy")(_stacked(u1_members, inputs))
        return keras.Model(inputs=inputs, outputs=outputs, name=name)

    key = ("confident_core", name, tuple(map(id, u1_members)))
    return _BUILT.get_or_build(key, build, keep=u1_members)


@dataclass(frozen=True)
class ConfidentCoreLoss:
    """``loss_i = CE(p_i, y_i) - lambda * H1_i`` on outputs ``[p (C columns), H1]``, per image.

    CE is APGD's cross-entropy on probabilities (nats); H1 the committee entropy (base C).
    A frozen dataclass, so equal parameters are one cache key for the compiled attack passes.
    """

    entropy_weight: float
    num_classes: int = 10

    def __post_init__(self) -> None:
        if not math.isfinite(self.entropy_weight) or self.entropy_weight < 0:
            raise ValueError(
                f"the entropy weight lambda must be a finite number >= 0, got "
                f"{self.entropy_weight!r} (params:adaptive_attacks.confident_core.entropy_weight)."
            )

    def __call__(self, labels: tf.Tensor, outputs: tf.Tensor) -> tf.Tensor:
        probs, entropy = outputs[:, : self.num_classes], outputs[:, self.num_classes]
        return cross_entropy_on_probabilities(labels, probs) - self.entropy_weight * entropy


def soft_imm_attack(
    u1_members: Sequence[keras.Model],
    u2_members: Sequence[keras.Model],
    x: np.ndarray,
    threshold: float,
    temperature: float,
    setting: Mapping[str, Any],
    seed: int,
    name: str,
) -> np.ndarray:
    """APGD-CE (ART, L2, y=None) against the soft IMM: the gate-aware attack."""
    model = build_soft_imm(u1_members, u2_members, threshold, temperature, name)
    return apgd_attack(model, x, setting, seed, num_classes=int(model.output_shape[-1]))


def confident_core_attack(
    u1_members: Sequence[keras.Model],
    x: np.ndarray,
    entropy_weight: float,
    setting: Mapping[str, Any],
    seed: int,
    name: str,
) -> np.ndarray:
    """APGD (ART, L2, y=None: U1's own labels) maximising ``CE(U1) - lambda * H1``.

    ART keeps the last iterate only where U1's prediction changed; the other images come back
    at their random start in the L2 ball.
    """
    model = build_confident_core_target(u1_members, name)
    num_classes = int(model.output_shape[-1]) - 1
    loss = ConfidentCoreLoss(float(entropy_weight), num_classes)
    return apgd_attack(model, x, setting, seed, num_classes=num_classes, loss=loss)
