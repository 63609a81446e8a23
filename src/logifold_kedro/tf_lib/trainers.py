"""Compiled trainers shared by the models of one architecture (`tf_lib.training`).

Tracing a train step costs more than a CPU-scale epoch (5-10 s), so models of one architecture
share one: a base ResNet and every specialist fine-tuned from it (same layers, new head) train
on a process-wide *trainer*, a compiled copy of the architecture that gets each model's weights
and a fresh optimizer state before its fit and gives the trained weights back. The arithmetic is
that of a fresh compile: Adam at the recipe's rate (`FusedAdam`, the same update as one fused
op), sparse categorical cross-entropy on the softmax output, metric accuracy.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from logifold_kedro.memo import drop_oldest


def build_before_fit(model: keras.Model, x: np.ndarray, y: np.ndarray) -> None:
    """Create the optimizer's slots and the compiled loss and metrics of a compiled model now.

    Without a distribution strategy, Keras (TensorFlow backend) creates them inside the first
    traced train step, and a `tf.function` that creates variables is traced twice: about half
    of a small model's training time on the CPU. Built here, the train step is traced once;
    the weights and the training are unchanged. `x`, `y`: one example batch.
    """
    symbolic_build = getattr(model, "_symbolic_build", None)  # Keras 3's own pre-fit build
    if symbolic_build is not None:
        symbolic_build(data_batch=(tf.constant(x), tf.constant(y)))
    else:
        model.optimizer.build(model.trainable_variables)


class FusedAdam(keras.optimizers.Adam):
    """Keras' Adam with its update as TensorFlow's fused ``ResourceApplyAdam`` op.

    The formula of ``keras.optimizers.Adam`` (amsgrad off), with t = iterations + 1:
    ``alpha = lr * sqrt(1 - beta_2^t) / (1 - beta_1^t)``, ``m += (g - m)(1 - beta_1)``,
    ``v += (g^2 - v)(1 - beta_2)``, ``w -= alpha * m / (sqrt(v) + epsilon)``. One op per variable
    instead of about fifteen Keras ops, so a train step traces faster (benchmarks/README.md).
    Only the trainers use it; trained models are compiled with plain Adam, so a checkpoint loads
    without this class.
    """

    def update_step(self, gradient: Any, variable: Any, learning_rate: Any) -> None:
        handle = getattr(variable, "handle", None)  # a tf.Variable on the TensorFlow backend
        if self.amsgrad or handle is None:
            super().update_step(gradient, variable, learning_rate)
            return
        dtype = variable.dtype
        step = tf.cast(self.iterations + 1, dtype)
        index = self._get_variable_index(variable)
        tf.raw_ops.ResourceApplyAdam(
            var=handle,
            m=self._momentums[index].value.handle,
            v=self._velocities[index].value.handle,
            beta1_power=tf.pow(tf.cast(self.beta_1, dtype), step),
            beta2_power=tf.pow(tf.cast(self.beta_2, dtype), step),
            lr=tf.cast(learning_rate, dtype),
            beta1=tf.cast(self.beta_1, dtype),
            beta2=tf.cast(self.beta_2, dtype),
            epsilon=tf.cast(self.epsilon, dtype),
            grad=tf.cast(gradient, dtype),
            use_locking=False,
        )


def architecture_key(model: keras.Model) -> str:
    """The model's config as sorted JSON, without weight initializers and with its layers
    renamed by position (``layer_0``, ...) and the model's own name left out.

    Two models with the same key compute the same function of the same weights, so they can
    train on one compiled trainer: initializers only matter before the weights are set, and
    Keras' automatic layer names (``conv2d_37``) depend on what the process built before.
    """
    config = dict(model.get_config())
    for ends in ("input_layers", "output_layers"):
        # Keras writes one endpoint as [name, 0, 0] for a built model, [[name, 0, 0]] for a clone.
        if config.get(ends) and isinstance(config[ends][0], str):
            config[ends] = [config[ends]]
    canonical = {
        layer["name"]: f"layer_{index}" for index, layer in enumerate(config.get("layers", []))
    }

    def rename(value: Any, key: str | None = None) -> Any:
        if isinstance(value, dict):
            return {
                k: rename(v, k)
                for k, v in value.items()
                if not k.endswith("_initializer") and not (value is config and k == "name")
            }
        if isinstance(value, (list, tuple)):
            items = [rename(v) for v in value]
            # A tensor's history [layer name, node, index], and the model's endpoints.
            if key in ("keras_history", "input_layers", "output_layers") and items:
                if isinstance(items[0], str):
                    items[0] = canonical.get(items[0], items[0])
                else:
                    items = [rename(v, key) for v in value]
            return items
        if key == "name" and isinstance(value, str):
            return canonical.get(value, value)
        return value

    return json.dumps(rename(config), sort_keys=True, default=str)


@dataclass
class _Trainer:
    """A compiled copy of one architecture, its optimizer's initial state, and a lock."""

    model: keras.Model
    initial_optimizer_state: list[np.ndarray]
    lock: threading.Lock


# Trainers per architecture key, most recently used last (a few MB of weights each).
_TRAINERS: OrderedDict[str, _Trainer] = OrderedDict()
_TRAINERS_LOCK = threading.Lock()
_MAX_TRAINERS = 16


def compile_for_training(
    model: keras.Model, learning_rate: float, optimizer: type = keras.optimizers.Adam
) -> None:
    """Compile `model` with `optimizer` at `learning_rate`, sparse categorical cross-entropy
    on its softmax outputs and the accuracy metric."""
    model.compile(
        optimizer=optimizer(learning_rate=learning_rate),
        loss=keras.losses.SparseCategoricalCrossentropy(),
        metrics=["accuracy"],
    )


def _new_trainer(
    model: keras.Model, learning_rate: float, x: np.ndarray, y: np.ndarray
) -> _Trainer:
    trainer = keras.models.clone_model(model)
    compile_for_training(trainer, learning_rate, FusedAdam)
    build_before_fit(trainer, x, y)
    state = [np.array(variable.numpy(), copy=True) for variable in trainer.optimizer.variables]
    return _Trainer(trainer, state, threading.Lock())


def acquire_trainer(
    model: keras.Model, learning_rate: float, x: np.ndarray, y: np.ndarray
) -> tuple[_Trainer, bool]:
    """A locked trainer for `model`'s architecture, reset to `model`'s weights and a fresh
    optimizer; and whether it was cached. A trainer in use by another thread is not shared."""
    key = architecture_key(model)
    with _TRAINERS_LOCK:
        cached = _TRAINERS.get(key)
        if cached is not None and cached.lock.acquire(blocking=False):
            _TRAINERS.move_to_end(key)
            trainer, reused = cached, True
        else:
            trainer, reused = None, False
    if trainer is None:
        trainer = _new_trainer(model, learning_rate, x, y)
        trainer.lock.acquire()
        if cached is None:
            with _TRAINERS_LOCK:
                _TRAINERS[key] = trainer
                drop_oldest(_TRAINERS, _MAX_TRAINERS)
    trainer.model.set_weights(model.get_weights())
    for variable, value in zip(
        trainer.model.optimizer.variables, trainer.initial_optimizer_state, strict=True
    ):
        variable.assign(value)
    trainer.model.optimizer.learning_rate.assign(learning_rate)
    trainer.model.name = model.name  # for the callbacks' log lines
    return trainer, reused


def clear_trainers() -> None:
    """Forget the compiled trainers (tests; or to free memory in a long notebook session)."""
    with _TRAINERS_LOCK:
        _TRAINERS.clear()
