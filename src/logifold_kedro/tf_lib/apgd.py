"""APGD-CE (ART ``AutoProjectedGradientDescent``) against Keras softmax models, fast.

The attack is ART's algorithm, unchanged: L2 norm, untargeted, cross-entropy loss, labels the
attacked model's own predictions (``y=None``), random restarts, ART's step-size schedule. What
changes is the estimator it runs on. ART's ``TensorFlowV2Classifier`` evaluates the model far
more often than the algorithm needs: per batch, restart and iteration ART calls
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
import importlib
import logging
import math
import sys
import time
import warnings
from collections.abc import Callable, Mapping
from itertools import islice
from typing import Any, NamedTuple

import keras
import numpy as np
import tensorflow as tf

from logifold_kedro.data.perturbations import perturbation_norms
from logifold_kedro.memo import KeptLRU
from logifold_kedro.progress import ProgressReporter, format_duration, use_progress_bar
from logifold_kedro.seeding import seed_host_generators
from logifold_kedro.tf_lib.forward import compiled_forward

logger = logging.getLogger(__name__)


def _import_art_without_torch() -> tuple[Any, Any, Any]:
    """Import the ART pieces used here without letting ART import torch.

    ART's package ``__init__`` files import its PyTorch certification estimators whenever torch
    is installed (``importlib.util.find_spec("torch")``), which would load torch (~0.5 GB, and the
    TensorFlow-then-torch trap, docs/stack.md) into every TensorFlow process. While ART is
    imported, ``sys.modules["torch"]`` is ``None`` (so ``find_spec`` reports no torch and ART
    skips those parts); afterwards the entry is removed again, so later ``import torch`` works
    normally.
    """
    block_torch = "torch" not in sys.modules
    if block_torch:
        sys.modules["torch"] = None  # type: ignore[assignment]
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="PyTorch not found")
            evasion = importlib.import_module("art.attacks.evasion")
            classification = importlib.import_module("art.estimators.classification")
            art_utils = importlib.import_module("art.utils")
    finally:
        if block_torch and sys.modules.get("torch", False) is None:
            del sys.modules["torch"]
    return (
        evasion.AutoProjectedGradientDescent,
        classification.TensorFlowV2Classifier,
        art_utils.check_and_transform_label_format,
    )


(
    AutoProjectedGradientDescent,
    TensorFlowV2Classifier,
    check_and_transform_label_format,
) = _import_art_without_torch()

APGD_REQUIRED_KEYS = ("eps", "eps_step", "max_iter", "nb_random_init", "batch_size")
APGD_OPTIONAL_KEYS = ("norm",)
# Contract on the returned images: per-image L2 perturbation <= eps + this.
L2_TOLERANCE = 1e-4
# Rows above eps by more than this are projected back (float32 rounding in ART leaves ~1e-7).
_PROJECTION_SLACK = 1e-6
# Cached gradient rows before the oldest are dropped (32x32x3 float32: 12 KiB each, ~100 MiB).
_MAX_CACHED_GRADIENT_ROWS = 8192


def check_apgd_setting(setting: Mapping[str, Any]) -> dict[str, Any]:
    """Validate an APGD setting and return it with Python types.

    Keys: ``eps`` > 0, ``eps_step`` > 0 (floats), ``max_iter``, ``nb_random_init``,
    ``batch_size`` (positive integers), optional ``norm`` which must be 2 (L2).
    """
    if not isinstance(setting, Mapping):
        raise ValueError(f"the APGD setting must be a mapping, got {type(setting).__name__}.")
    missing = [key for key in APGD_REQUIRED_KEYS if key not in setting]
    unknown = sorted(set(setting) - set(APGD_REQUIRED_KEYS) - set(APGD_OPTIONAL_KEYS))
    if missing or unknown:
        raise ValueError(
            f"APGD setting {dict(setting)} is missing keys {missing} / has unknown keys {unknown}; "
            f"expected {list(APGD_REQUIRED_KEYS)} and optionally {list(APGD_OPTIONAL_KEYS)}."
        )
    norm = setting.get("norm", 2)
    if str(norm) not in ("2", "2.0"):
        raise ValueError(f"only the L2 attack is implemented (norm: 2), got norm {norm!r}.")
    checked: dict[str, Any] = {}
    for key in ("eps", "eps_step"):
        value = float(setting[key])
        if not math.isfinite(value) or value <= 0:
            raise ValueError(f"APGD {key} must be a positive number, got {setting[key]!r}.")
        checked[key] = value
    for key in ("max_iter", "nb_random_init", "batch_size"):
        value = setting[key]
        if isinstance(value, bool) or int(value) != value or int(value) <= 0:
            raise ValueError(f"APGD {key} must be a positive integer, got {value!r}.")
        checked[key] = int(value)
    return checked


def _cross_entropy_on_probabilities(labels: tf.Tensor, probs: tf.Tensor) -> tf.Tensor:
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
    loss: AttackLoss = _cross_entropy_on_probabilities,
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

    ``max_iter`` (attribute, may be set later; :func:`build_apgd` does) is the attack's
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
            _cross_entropy_on_probabilities if loss is None else loss,
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

    def _bound_gradient_cache(self) -> None:
        excess = len(self._gradient_cache) - _MAX_CACHED_GRADIENT_ROWS
        if excess > 0:  # dicts keep insertion order: drop the oldest rows
            for key in list(islice(self._gradient_cache, excess)):
                del self._gradient_cache[key]

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
        self._bound_gradient_cache()

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


def build_apgd(
    estimator: TensorFlowV2Classifier, setting: Mapping[str, Any]
) -> AutoProjectedGradientDescent:
    """ART's APGD-CE (L2, untargeted, cross-entropy, tqdm off) on ``estimator``.

    For ``loss_type="cross_entropy"`` ART wraps any ``TensorFlowV2Classifier`` into a fresh
    base-class instance carrying its cross-entropy loss object. A plain estimator is left to that
    (ART as is); a :class:`FusedCommitteeClassifier`, which computes that same loss itself, is
    put back in place of the wrapper (and told ``max_iter`` if it was not).
    """
    checked = check_apgd_setting(setting)
    attack = AutoProjectedGradientDescent(
        estimator=estimator,
        norm=2,
        eps=checked["eps"],
        eps_step=checked["eps_step"],
        max_iter=checked["max_iter"],
        targeted=False,
        nb_random_init=checked["nb_random_init"],
        batch_size=checked["batch_size"],
        loss_type="cross_entropy",
        verbose=False,
    )
    if isinstance(estimator, FusedCommitteeClassifier):
        attack._estimator = estimator
        if estimator.max_iter is None:
            estimator.max_iter = checked["max_iter"]
    return attack


def generate_in_batches(
    attack: AutoProjectedGradientDescent, x: np.ndarray, seed: int, label: str = "APGD"
) -> np.ndarray:
    """Run ``attack.generate`` (``y=None``) one attack batch at a time, with progress and ETA:
    a log line per batch, or a bar over the images where `use_progress_bar()` says so.

    Seeds Python and numpy first (`seeding.seed_host_generators`; not TensorFlow, whose reseeding
    clears the compiled passes): ART draws its random starts from numpy's global generator, so
    the same seed gives the same arrays. Each
    batch is attacked completely (all restarts) before the next; per image this is ART's
    algorithm, and the caches of a :class:`FusedCommitteeClassifier` stay one batch small.
    """
    seed_host_generators(seed)
    batch_size = attack.batch_size
    n_images = x.shape[0]
    n_batches = -(-n_images // batch_size)
    x_adv = np.empty_like(x, dtype=np.float32)
    estimator = attack.estimator
    bar = ProgressReporter(n_images, label, unit="image", bar=True) if use_progress_bar() else None
    started = time.perf_counter()
    try:
        for batch_index, start in enumerate(range(0, n_images, batch_size)):
            stop = min(start + batch_size, n_images)
            if isinstance(estimator, FusedCommitteeClassifier):
                estimator.clear_cache()
            x_adv[start:stop] = attack.generate(x=x[start:stop])
            if bar is not None:
                bar.update(stop - start)
            else:
                _log_batch(label, batch_index + 1, n_batches, stop, n_images, started)
    finally:
        if bar is not None:
            bar.close()
    return x_adv


def _log_batch(
    label: str, done: int, n_batches: int, stop: int, n_images: int, started: float
) -> None:
    elapsed = time.perf_counter() - started
    logger.info(
        "%s: batch %d/%d, %d/%d images, %.2f images/s (%s, ETA %s)",
        label,
        done,
        n_batches,
        stop,
        n_images,
        stop / elapsed if elapsed > 0 else float("nan"),
        format_duration(elapsed),
        format_duration(elapsed / done * (n_batches - done)),
    )


def project_into_l2_ball(x: np.ndarray, x_adv: np.ndarray, eps: float) -> np.ndarray:
    """``x_adv`` with every image in [0, 1] and in the L2 ball of radius ``eps`` around ``x``.

    Rows with ``||delta||_2 > eps + 1e-6`` (``delta = x_adv - x``) are rescaled to
    ``x + delta eps (1 - 1e-6) / ||delta||_2``, then clipped to [0, 1] (clipping only moves
    pixels towards ``x`` in [0, 1], so the norm stays inside); each correction is logged.
    """
    x_adv = np.clip(x_adv, 0.0, 1.0).astype(np.float32)
    norms = perturbation_norms(x, x_adv)
    over = np.flatnonzero(norms > eps + _PROJECTION_SLACK)
    if over.size:
        scale = (eps * (1.0 - _PROJECTION_SLACK) / norms[over]).reshape((-1,) + (1,) * (x.ndim - 1))
        delta = x_adv[over].astype(np.float64) - x[over].astype(np.float64)
        x_adv[over] = np.clip(x[over] + delta * scale, 0.0, 1.0).astype(np.float32)
        logger.warning(
            "APGD returned %d of %d images outside the L2 ball (eps %.4g, largest norm %.6g, "
            "excess %.3g); projected them back.",
            over.size,
            norms.size,
            eps,
            norms[over].max(),
            norms[over].max() - eps,
        )
    worst = float(perturbation_norms(x, x_adv).max(initial=0.0))
    if worst > eps + L2_TOLERANCE:
        raise RuntimeError(f"L2 projection failed: a perturbation of {worst:.6g} > eps {eps}.")
    return x_adv


def _check_images(model: keras.Model, x: np.ndarray) -> np.ndarray:
    x = np.asarray(x)
    expected = tuple(model.input_shape[1:])
    if x.ndim != 1 + len(expected) or tuple(x.shape[1:]) != expected:
        raise ValueError(
            f"x must be images of shape (N, {', '.join(map(str, expected))}) for model "
            f"{model.name!r}, got {x.shape}."
        )
    if not np.issubdtype(x.dtype, np.floating):
        raise ValueError(f"x must be float images in [0, 1] (pixels / 255), got dtype {x.dtype}.")
    if x.size and (x.min() < 0.0 or x.max() > 1.0 or not np.all(np.isfinite(x))):
        raise ValueError(
            f"x must lie in [0, 1] (pixels / 255), got values in [{x.min():.4g}, {x.max():.4g}]."
        )
    return np.ascontiguousarray(x, dtype=np.float32)


def apgd_attack(
    model: keras.Model,
    x: np.ndarray,
    setting: Mapping[str, Any],
    seed: int,
    num_classes: int = 10,
    loss: AttackLoss | None = None,
) -> np.ndarray:
    """APGD-CE images against ``model``: float32 NHWC in [0, 1], ``||x_adv - x||_2 <= eps``.

    ART's ``AutoProjectedGradientDescent`` (L2, untargeted, cross-entropy, ``y=None`` so the
    labels are the model's own predictions) on a :class:`FusedCommitteeClassifier`; ``setting``
    holds ``eps, eps_step, max_iter, nb_random_init, batch_size`` (and optionally ``norm: 2``).
    The same seed gives the same arrays. ``loss``: another per-image loss for APGD to maximise
    instead of the cross-entropy (see :class:`FusedCommitteeClassifier`).
    """
    checked = check_apgd_setting(setting)
    x = _check_images(model, x)
    if x.shape[0] == 0:
        return x.copy()
    classifier = FusedCommitteeClassifier(
        model,
        nb_classes=num_classes,
        batch_size=checked["batch_size"],
        max_iter=checked["max_iter"],
        loss=loss,
    )
    attack = build_apgd(classifier, checked)
    started = time.perf_counter()
    x_adv = generate_in_batches(attack, x, seed=seed, label=f"APGD on {model.name}")
    elapsed = time.perf_counter() - started
    x_adv = project_into_l2_ball(x, x_adv, checked["eps"])
    logger.info(
        "APGD on %s: %d images in %.1f s (%.2f images/s), %.2f model passes per image "
        "(%.2f with gradient), eps %.3g, max_iter %d, restarts %d",
        model.name,
        x.shape[0],
        elapsed,
        x.shape[0] / elapsed,
        classifier.forward_rows / x.shape[0],
        classifier.backward_rows / x.shape[0],
        checked["eps"],
        checked["max_iter"],
        checked["nb_random_init"],
    )
    return x_adv


def attack_summary(
    clean_probs: np.ndarray,
    adv_probs: np.ndarray,
    labels: np.ndarray,
    x: np.ndarray,
    x_adv: np.ndarray,
) -> dict[str, float | int]:
    """Accuracy before/after the attack, how many predictions it changed, perturbation sizes.

    - ``clean_accuracy`` = mean(argmax clean_probs == labels), ``adversarial_accuracy`` likewise;
    - ``attack_success_rate`` = fraction of images whose predicted class changed,
      mean(argmax adv_probs != argmax clean_probs) (APGD with ``y=None`` attacks the model's own
      prediction, so that is what it tries to change);
    - ``flipped_correct_rate`` = among images predicted correctly when clean, the fraction
      predicted wrongly after the attack (0 if none was correct);
    - ``l2_mean`` / ``l2_max`` of ``||x_adv - x||_2`` per image; ``n_images``.
    """
    clean_probs, adv_probs = np.asarray(clean_probs), np.asarray(adv_probs)
    labels = np.asarray(labels)
    n_images = labels.shape[0]
    if labels.ndim != 1:
        raise ValueError(f"labels must be class indices of shape (N,), got shape {labels.shape}.")
    for name, array in (("clean_probs", clean_probs), ("adv_probs", adv_probs)):
        if array.ndim != 2 or array.shape[0] != n_images:
            raise ValueError(f"{name} must have shape ({n_images}, C), got {array.shape}.")
    if np.shape(x) != np.shape(x_adv) or np.shape(x)[0] != n_images:
        raise ValueError(
            f"x and x_adv must have the same shape with {n_images} images, "
            f"got {np.shape(x)} and {np.shape(x_adv)}."
        )
    if n_images == 0:
        raise ValueError("attack_summary needs at least one image.")
    clean_pred = clean_probs.argmax(axis=1)
    adv_pred = adv_probs.argmax(axis=1)
    clean_correct = clean_pred == labels
    norms = perturbation_norms(np.asarray(x), np.asarray(x_adv))
    return {
        "n_images": int(n_images),
        "clean_accuracy": float(clean_correct.mean()),
        "adversarial_accuracy": float((adv_pred == labels).mean()),
        "attack_success_rate": float((adv_pred != clean_pred).mean()),
        "flipped_correct_rate": (
            float((adv_pred[clean_correct] != labels[clean_correct]).mean())
            if clean_correct.any()
            else 0.0
        ),
        "l2_mean": float(norms.mean()),
        "l2_max": float(norms.max()),
    }
