"""The classifier APGD attacks: a Keras softmax model wrapped for ART, each input evaluated once.

`tf_lib.apgd` runs ART's APGD algorithm unchanged (L2 norm, untargeted, cross-entropy loss,
labels the attacked model's own predictions ``y=None``, random restarts, ART's step-size
schedule); what changes is the estimator it runs on, this module's. ART's own
``TensorFlowV2Classifier`` evaluates the model far more often than the algorithm needs: per
batch, restart and iteration ART calls
``loss_gradient(x_k)`` (forward + backward, eager, including the weight gradients it then drops)
and ``compute_loss(x_k+1)`` (a second forward on the point whose gradient the next iteration asks
for), ``compute_loss(x_0)`` right after ``loss_gradient(x_0)``, and ``predict`` on points it has
just evaluated (the success check after the iterations, and every image again at each restart).

:class:`FusedCommitteeClassifier` answers the same calls with the same numbers, evaluating each
distinct (image, label) at most once:

- one compiled ``tf.function`` computes probabilities, per-image losses and input gradients in one
  forward + backward (weight gradients are pruned from the graph);
- ``compute_loss`` on new points runs that fused pass and keeps the gradients, so the next
  iteration's ``loss_gradient`` on the same points needs no model pass; on the points of the
  last iteration, whose gradients nobody asks for, it runs a forward pass only;
- probabilities, losses and gradients are cached per image row (key: the row's bytes and label),
  so ``predict``/``compute_loss`` on points already seen need no model pass either.

Per image and restart that is ``max_iter`` forward+backward passes and one forward, instead of
ART's ``2 max_iter + 3`` forwards of which ``max_iter`` eager forward+backwards. Which calls come
when only decides how much is computed ahead; every answer is the same whatever the call order.

The loss is Keras' categorical cross-entropy on probabilities, exactly as ART's APGD sets it up
for a probability-output ``TensorFlowV2Classifier``:
``loss(p, y) = -sum_c y_c log(clip(p_c / sum_j p_j, eps, 1 - eps))`` with ``eps = 1e-7``, and ART's
gradient is that of the batch mean, ``(1/n) d loss_i / d x_i`` for image i of a batch of n.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any, NamedTuple

import keras
import numpy as np
import tensorflow as tf

from logifold_kedro.memo import KeptLRU, drop_oldest
from logifold_kedro.tf_lib.art import TensorFlowV2Classifier, check_and_transform_label_format
from logifold_kedro.tf_lib.forward import compiled_forward

# Cached gradient rows before the oldest are dropped (32x32x3 float32: 12 KiB each, ~100 MiB).
_MAX_CACHED_GRADIENT_ROWS = 8192


def cross_entropy_on_probabilities(labels: tf.Tensor, probs: tf.Tensor) -> tf.Tensor:
    """Per-image Keras categorical cross-entropy of probabilities (ART's APGD loss), shape (n,).

    ``-sum_c y_c log(clip(p_c / sum_j p_j, eps, 1 - eps))``, written out rather than called
    through Keras, whose graph-mode version would swap in the logits of a final Softmax layer and
    so give different numbers from ART's eager evaluation.
    """
    epsilon = keras.config.epsilon()
    normalised = probs / tf.reduce_sum(probs, axis=-1, keepdims=True)
    clipped = tf.clip_by_value(normalised, epsilon, 1.0 - epsilon)
    return -tf.reduce_sum(labels * tf.math.log(clipped), axis=-1)


def _row_digests(rows: np.ndarray) -> list[bytes]:
    """A 128-bit digest of each row's bytes (rows must be C-contiguous)."""
    return [hashlib.blake2b(row.tobytes(), digest_size=16).digest() for row in rows]


#: A per-image attack loss: ``loss(one-hot labels (n, C), model outputs (n, W)) -> (n,)``.
AttackLoss = Callable[[tf.Tensor, tf.Tensor], tf.Tensor]


class _CompiledPasses(NamedTuple):
    forward: Any
    forward_backward: Any
    loss_from_probs: Any


# Compiled passes per (model object, loss), the model kept with them. Tracing a committee's
# passes costs a few seconds; a run attacks the same committee object
# (`committee.build_committee` returns the one it built before) for several splits and settings,
# so the traces are reused.
_COMPILED: KeptLRU[_CompiledPasses] = KeptLRU(16)


def _compiled_passes(
    model: keras.Model,
    input_shape: tuple[int, ...],
    nb_classes: int,
    loss: AttackLoss = cross_entropy_on_probabilities,
) -> _CompiledPasses:
    """The model's forward, fused forward+backward and loss functions, traced once per model and
    loss. ``loss(labels, outputs)`` gives per-image losses from the model's outputs."""

    def build() -> _CompiledPasses:
        x_spec = tf.TensorSpec((None, *input_shape), tf.float32)
        y_spec = tf.TensorSpec((None, nb_classes), tf.float32)
        outputs_spec = tf.TensorSpec((None, int(model.output_shape[-1])), tf.float32)

        # Fixed signatures with an open batch dimension: each function is traced once. The
        # forward pass is the one predictions use (a single model's is traced once for both).
        @tf.function(input_signature=[x_spec, y_spec])
        def forward_backward(x, labels):
            with tf.GradientTape(watch_accessed_variables=False) as tape:
                tape.watch(x)
                probs = model(x, training=False)
                losses = loss(labels, probs)
            # d(sum of losses)/dx: row i is d loss_i / d x_i (images are independent).
            return probs, losses, tape.gradient(losses, x)

        @tf.function(input_signature=[y_spec, outputs_spec])
        def loss_from_probs(labels, probs):
            return loss(labels, probs)

        return _CompiledPasses(compiled_forward(model), forward_backward, loss_from_probs)

    key = (id(model), input_shape, nb_classes, loss)
    return _COMPILED.get_or_build(key, build, keep=model)


class FusedCommitteeClassifier(TensorFlowV2Classifier):
    """ART classifier for a Keras softmax model that evaluates each input once under APGD.

    Drop-in for ``TensorFlowV2Classifier`` under ART's APGD (see the module docstring): same
    ``predict``, ``compute_loss`` and ``loss_gradient`` results, from compiled passes (forward,
    or forward+backward when the gradient is or will be asked for) and a per-row cache.
    Inference mode only (BatchNorm uses moving statistics, so each image's output does not depend
    on the rest of its batch).
    Works for any Keras model with probability outputs: a committee from
    :func:`logifold_kedro.tf_lib.committee.build_committee` or a single member.

    ``loss`` (optional) replaces the cross-entropy by another per-image loss that APGD then
    maximises, ``loss(one-hot labels (n, C), model outputs (n, W)) -> (n,)`` in TensorFlow ops.
    With it the model may output W > C columns: the first C are the class probabilities (what
    ``predict`` returns, and what APGD's labels and success check use), the others per-image
    values the loss reads (e.g. an entropy), so a loss on cached rows needs no model pass.

    ``max_iter`` (attribute, may be set later; `tf_lib.apgd.build_apgd` does) is the attack's
    iteration count per restart. Counters (rows = images): ``forward_rows`` counts images sent
    through the model (with or without backward), ``backward_rows`` those that also got a
    gradient, ``cached_rows`` those answered from the cache.
    """

    def __init__(
        self,
        model: keras.Model,
        nb_classes: int,
        input_shape: tuple[int, ...] | None = None,
        clip_values: tuple[float, float] = (0.0, 1.0),
        batch_size: int = 64,
        max_iter: int | None = None,
        loss: AttackLoss | None = None,
    ) -> None:
        """``batch_size`` bounds the images per model pass. ``max_iter``: the attack's
        iterations per restart, if known; then ``compute_loss`` on new points also computes their
        gradients (APGD asks for them in the next iteration) except in the last iteration.
        ``loss``: see the class docstring (None: cross-entropy)."""
        if input_shape is None:
            input_shape = tuple(model.input_shape[1:])
        n_outputs = model.output_shape[-1]
        if n_outputs != nb_classes and (loss is None or n_outputs < nb_classes):
            raise ValueError(
                f"model {model.name!r} outputs {n_outputs} columns, but nb_classes is "
                f"{nb_classes} (only a custom loss may read extra columns after the classes)."
            )
        if batch_size <= 0:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size}.")
        super().__init__(
            model=model,
            nb_classes=nb_classes,
            input_shape=tuple(input_shape),
            loss_object=keras.losses.CategoricalCrossentropy(from_logits=False),
            clip_values=clip_values,
        )
        self._pass_batch_size = int(batch_size)
        if max_iter is not None and max_iter <= 0:
            raise ValueError(f"max_iter must be a positive integer or None, got {max_iter}.")
        self.max_iter = max_iter
        # loss_gradient calls since the last predict: APGD's iteration within a batch/restart.
        self._gradient_calls_since_predict = 0
        self._probs_cache: dict[bytes, np.ndarray] = {}
        self._gradient_cache: dict[tuple[bytes, bytes], tuple[np.float32, np.ndarray]] = {}
        self.forward_rows = 0
        self.backward_rows = 0
        self.cached_rows = 0

        passes = _compiled_passes(
            model,
            tuple(self._input_shape),
            nb_classes,
            cross_entropy_on_probabilities if loss is None else loss,
        )
        self._fused_forward = passes.forward
        self._fused_forward_backward = passes.forward_backward
        self._loss_from_probs = passes.loss_from_probs

    # -- cache ---------------------------------------------------------------------------------
    def clear_cache(self) -> None:
        """Forget every cached row (call between unrelated inputs to bound memory)."""
        self._probs_cache.clear()
        self._gradient_cache.clear()

    def reset_counters(self) -> None:
        """Set the pass counters to zero."""
        self.forward_rows = self.backward_rows = self.cached_rows = 0

    def _as_rows(self, x: np.ndarray) -> np.ndarray:
        x = np.ascontiguousarray(x, dtype=np.float32)
        if tuple(x.shape[1:]) != tuple(self._input_shape):
            raise ValueError(
                f"inputs must have shape (N, {', '.join(map(str, self._input_shape))}), "
                f"got {x.shape}."
            )
        return x

    def _as_labels(self, y: np.ndarray, n_rows: int) -> np.ndarray:
        labels = check_and_transform_label_format(y, nb_classes=self.nb_classes)
        labels = np.ascontiguousarray(labels, dtype=np.float32)
        if labels.shape != (n_rows, self.nb_classes):
            raise ValueError(
                f"labels must have shape ({n_rows}, {self.nb_classes}), got {labels.shape}."
            )
        return labels

    def _run_forward_backward(
        self, x: np.ndarray, labels: np.ndarray, keys: list[tuple[bytes, bytes]]
    ) -> None:
        """One fused pass per batch over the given rows; cache probabilities, losses, gradients."""
        for start in range(0, x.shape[0], self._pass_batch_size):
            stop = min(start + self._pass_batch_size, x.shape[0])
            probs, losses, grads = self._fused_forward_backward(
                tf.constant(x[start:stop]), tf.constant(labels[start:stop])
            )
            probs, losses, grads = probs.numpy(), losses.numpy(), grads.numpy()
            for offset, key in enumerate(keys[start:stop]):
                self._probs_cache[key[0]] = probs[offset]
                self._gradient_cache[key] = (losses[offset], grads[offset])
            self.forward_rows += stop - start
            self.backward_rows += stop - start
        drop_oldest(self._gradient_cache, _MAX_CACHED_GRADIENT_ROWS)

    def _run_forward(self, x: np.ndarray, digests: list[bytes]) -> None:
        for start in range(0, x.shape[0], self._pass_batch_size):
            stop = min(start + self._pass_batch_size, x.shape[0])
            probs = self._fused_forward(tf.constant(x[start:stop])).numpy()
            for offset, digest in enumerate(digests[start:stop]):
                self._probs_cache[digest] = probs[offset]
            self.forward_rows += stop - start

    def _gradients_wanted_next(self) -> bool:
        """Will APGD ask for the gradients of the points it now evaluates? (Only a guess
        about cost: a wrong one changes which pass computes a gradient, never a result.)"""
        if self.max_iter is None:
            return False
        return self._gradient_calls_since_predict < self.max_iter

    # -- ART interface -------------------------------------------------------------------------
    def predict(
        self, x: np.ndarray, batch_size: int = 128, training_mode: bool = False, **kwargs
    ) -> np.ndarray:
        """Probabilities (N, C); rows seen before come from the cache."""
        if training_mode:
            raise ValueError("FusedCommitteeClassifier predicts in inference mode only.")
        self._gradient_calls_since_predict = 0  # APGD predicts between batches and restarts
        x = self._as_rows(x)
        digests = _row_digests(x)
        missing = [i for i, digest in enumerate(digests) if digest not in self._probs_cache]
        self.cached_rows += len(digests) - len(missing)
        if missing:
            self._run_forward(x[missing], [digests[i] for i in missing])
        if not digests:
            return np.zeros((0, self.nb_classes), dtype=np.float32)
        # The class probabilities: columns after the first C are extra values of a custom loss.
        return np.stack([self._probs_cache[digest][: self.nb_classes] for digest in digests])

    def compute_loss(
        self,
        x: np.ndarray,
        y: np.ndarray,
        reduction: str = "none",
        training_mode: bool = False,
        **kwargs,
    ) -> np.ndarray:
        """Per-image cross-entropy (``reduction`` 'none'), or its 'mean' / 'sum'."""
        if training_mode:
            raise ValueError("FusedCommitteeClassifier computes losses in inference mode only.")
        x = self._as_rows(x)
        labels = self._as_labels(y, x.shape[0])
        keys = list(zip(_row_digests(x), _row_digests(labels), strict=True))
        unknown = [
            i
            for i, key in enumerate(keys)
            if key not in self._gradient_cache and key[0] not in self._probs_cache
        ]
        if unknown:
            subset_keys = [keys[i] for i in unknown]
            if self._gradients_wanted_next():
                self._run_forward_backward(x[unknown], labels[unknown], subset_keys)
            else:
                self._run_forward(x[unknown], [key[0] for key in subset_keys])
        self.cached_rows += x.shape[0] - len(unknown)
        losses = np.empty(x.shape[0], dtype=np.float32)
        from_probs = []
        for i, key in enumerate(keys):
            cached = self._gradient_cache.get(key)
            if cached is not None:
                losses[i] = cached[0]
            else:
                from_probs.append(i)
        if from_probs:
            probs = np.stack([self._probs_cache[keys[i][0]] for i in from_probs])
            losses[from_probs] = self._loss_from_probs(
                tf.constant(labels[from_probs]), tf.constant(probs)
            ).numpy()
        if reduction == "none":
            return losses
        if reduction == "mean":
            return np.float32(losses.mean())
        if reduction == "sum":
            return np.float32(losses.sum())
        raise ValueError(f"reduction must be 'none', 'mean' or 'sum', got {reduction!r}.")

    def loss_gradient(
        self, x: np.ndarray, y: np.ndarray, training_mode: bool = False, **kwargs
    ) -> np.ndarray:
        """Gradient of the batch-mean cross-entropy w.r.t. ``x``: row i is (1/n) dloss_i/dx_i."""
        if training_mode:
            raise ValueError("FusedCommitteeClassifier computes gradients in inference mode only.")
        self._gradient_calls_since_predict += 1
        x = self._as_rows(x)
        labels = self._as_labels(y, x.shape[0])
        keys = list(zip(_row_digests(x), _row_digests(labels), strict=True))
        missing = [i for i, key in enumerate(keys) if key not in self._gradient_cache]
        if missing:
            self._run_forward_backward(x[missing], labels[missing], [keys[i] for i in missing])
        self.cached_rows += x.shape[0] - len(missing)
        if not keys:
            return np.zeros_like(x)
        gradients = np.stack([self._gradient_cache[key][1] for key in keys])
        return gradients / np.float32(x.shape[0])
