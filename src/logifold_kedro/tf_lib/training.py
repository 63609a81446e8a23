"""Training and prediction of Keras classifiers: U0, and specialist fine-tuning (docs/method.md).

One function, `train_classifier`, serves both the base models (200 epochs, batch 32, with
augmentation) and the specialists' fine-tuning (21 epochs, batch 128, none): the recipe says
which. It trains in memory and writes no files (the catalog saves the returned model):

- Adam at ``learning_rate``; sparse categorical cross-entropy on the softmax output (the
  same loss as categorical cross-entropy on one-hot labels); metric accuracy.
- Learning-rate schedule ``[[e, lr], ...]``: the rate becomes ``lr`` after epoch ``e``, i.e.
  for 0-based epochs ``i > e`` (the Keras CIFAR-10 ResNet example's ``epoch > 80``). The paper's
  U0 recipe is ``[[80, 1e-4], [120, 1e-5], [160, 1e-6], [180, 5e-7]]``.
- Augmentation on the fly, per batch inside `tf.data`: a random translation of up to
  ``width_shift`` x W and ``height_shift`` x H pixels (uniform, bilinear, nearest fill, as
  Keras' ImageDataGenerator) and a horizontal flip with probability 1/2. The random draws are
  stateless, seeded by (seed, global batch index): the same seed gives the same run.
- The weights of the epoch with the best validation accuracy (first one on ties) are kept in
  memory and restored at the end.
- With a ``resume_dir``, the state after each epoch is saved there (`training_state`): a killed
  run called again with the same arguments continues after its last finished epoch and ends
  with the weights an uninterrupted run gives. The folder is removed when training completes.

Tracing a train step costs more than a CPU-scale epoch (5-10 s), so models of one architecture
share one: a base ResNet and every specialist fine-tuned from it (same layers, new head) train
on a process-wide *trainer*, a compiled copy of the architecture that gets each model's weights
and a fresh optimizer state before its fit and gives the trained weights back. The arithmetic is
that of a fresh compile.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import math
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from logifold_kedro.seeding import seed_host_generators
from logifold_kedro.tf_lib.forward import compiled_forward
from logifold_kedro.tf_lib.onednn import route_strided_1x1_filter_gradients
from logifold_kedro.tf_lib.progress import PredictionProgressLogger, TrainingProgressLogger
from logifold_kedro.tf_lib.training_state import (
    HISTORY_KEYS,
    TrainingState,
    array_digest,
    discard_training_state,
    image_set_fingerprint,
    load_training_state,
    save_training_state,
)

logger = logging.getLogger(__name__)

# Before any train step is traced: oneDNN's strided 1x1 backward-weights kernel overruns its
# workspace for the demo ResNets' projection shortcut (see tf_lib.onednn).
route_strided_1x1_filter_gradients()

REQUIRED_RECIPE_KEYS = ("epochs", "batch_size", "learning_rate")


@dataclass(frozen=True)
class Augmentation:
    """Random translation (fractions of the image size) and horizontal flip."""

    width_shift: float = 0.0
    height_shift: float = 0.0
    horizontal_flip: bool = False

    @property
    def active(self) -> bool:
        return self.width_shift > 0 or self.height_shift > 0 or self.horizontal_flip


@dataclass(frozen=True)
class Recipe:
    """A validated training recipe (see the module docstring for the meaning of each field)."""

    epochs: int
    batch_size: int
    learning_rate: float
    lr_schedule: tuple[tuple[int, float], ...]
    augmentation: Augmentation
    log_every_batches: int | None
    validation_batch_size: int


def parse_augmentation(config: dict[str, Any] | bool | None) -> Augmentation:
    """``None``/``False``/``{}`` mean no augmentation; a dict gives the shifts and the flip."""
    if config is None or config is False:
        return Augmentation()
    if not isinstance(config, dict):
        raise ValueError(
            "recipe 'augment' must be null/false or a dict with width_shift, height_shift, "
            f"horizontal_flip; got {config!r}"
        )
    unknown = set(config) - {"width_shift", "height_shift", "horizontal_flip"}
    if unknown:
        raise ValueError(f"recipe 'augment' has unknown keys {sorted(unknown)}")
    augmentation = Augmentation(
        width_shift=float(config.get("width_shift") or 0.0),
        height_shift=float(config.get("height_shift") or 0.0),
        horizontal_flip=bool(config.get("horizontal_flip") or False),
    )
    for name in ("width_shift", "height_shift"):
        if not 0.0 <= getattr(augmentation, name) < 1.0:
            raise ValueError(f"augment {name} must be a fraction in [0, 1), got {config[name]!r}")
    return augmentation


def parse_recipe(recipe: dict[str, Any]) -> Recipe:
    """Check a recipe dict and return it typed; errors name the offending key."""
    missing = [key for key in REQUIRED_RECIPE_KEYS if key not in recipe]
    if missing:
        raise ValueError(f"training recipe lacks {missing}; it has {sorted(recipe)}")
    epochs, batch_size = int(recipe["epochs"]), int(recipe["batch_size"])
    learning_rate = float(recipe["learning_rate"])
    if epochs < 1 or batch_size < 1 or learning_rate <= 0:
        raise ValueError(
            "recipe epochs and batch_size must be >= 1 and learning_rate > 0; got "
            f"epochs={epochs}, batch_size={batch_size}, learning_rate={learning_rate}"
        )
    schedule = []
    for entry in recipe.get("lr_schedule") or []:
        if not isinstance(entry, (list, tuple)) or len(entry) != 2:
            raise ValueError(f"lr_schedule entries must be [epoch, lr] pairs, got {entry!r}")
        schedule.append((int(entry[0]), float(entry[1])))
    if [epoch for epoch, _ in schedule] != sorted({epoch for epoch, _ in schedule}):
        raise ValueError(f"lr_schedule epochs must be strictly increasing, got {schedule}")
    log_every = recipe.get("log_every_batches")
    validation_batch_size = recipe.get("predict_batch_size") or max(batch_size, 256)
    return Recipe(
        epochs=epochs,
        batch_size=batch_size,
        learning_rate=learning_rate,
        lr_schedule=tuple(schedule),
        augmentation=parse_augmentation(recipe.get("augment")),
        log_every_batches=int(log_every) if log_every else None,
        validation_batch_size=int(validation_batch_size),
    )


def learning_rate_at(
    epoch: int, learning_rate: float, lr_schedule: tuple[tuple[int, float], ...]
) -> float:
    """Learning rate of 0-based `epoch`: the lr of the last entry [e, lr] with e < epoch."""
    rate = learning_rate
    for after_epoch, scheduled in lr_schedule:
        if epoch > after_epoch:
            rate = scheduled
    return rate


def check_image_set(image_set: dict[str, Any], name: str, num_classes: int) -> None:
    """Raise ValueError unless image_set holds float NHWC images and int labels < num_classes."""
    if not isinstance(image_set, dict) or "x" not in image_set or "y" not in image_set:
        raise ValueError(f"{name} must be a dict with 'x' (images) and 'y' (labels)")
    images, labels = image_set["x"], image_set["y"]
    if getattr(images, "ndim", None) != 4 or not np.issubdtype(images.dtype, np.floating):
        raise ValueError(
            f"{name}['x'] must be float images of shape (N, H, W, C) in [0, 1], got "
            f"{getattr(images, 'dtype', type(images))} {getattr(images, 'shape', '')}"
        )
    if getattr(labels, "ndim", None) != 1 or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"{name}['y'] must be integer class indices of shape (N,)")
    if len(images) != len(labels):
        raise ValueError(f"{name} has {len(images)} images but {len(labels)} labels")
    if len(labels) == 0:
        raise ValueError(f"{name} is empty")
    if labels.min() < 0 or labels.max() >= num_classes:
        raise ValueError(
            f"{name}['y'] has labels in [{labels.min()}, {labels.max()}] but the model "
            f"has {num_classes} classes"
        )


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


class LearningRateSchedule(keras.callbacks.Callback):
    """Set the optimizer's learning rate at each epoch start and record it."""

    def __init__(self, learning_rate: float, lr_schedule: tuple[tuple[int, float], ...]) -> None:
        super().__init__()
        self.learning_rate = learning_rate
        self.lr_schedule = lr_schedule
        self.rates: list[float] = []

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        rate = learning_rate_at(epoch, self.learning_rate, self.lr_schedule)
        self.model.optimizer.learning_rate.assign(rate)
        self.rates.append(rate)


class BestWeightsKeeper(keras.callbacks.Callback):
    """Copy the weights whenever val_accuracy improves (strictly); restore them at the end."""

    def __init__(self, monitor: str = "val_accuracy", state: TrainingState | None = None) -> None:
        super().__init__()
        self.monitor = monitor
        self.best_value = -math.inf
        self.best_epoch: int | None = None
        self.best_weights: list[np.ndarray] | None = None
        if state is not None and state.best_epoch is not None:  # the resumed run's record
            self.best_value = float(state.best_value)
            self.best_epoch = int(state.best_epoch)
            self.best_weights = state.best_weights

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        value = (logs or {}).get(self.monitor)
        if value is None:
            raise ValueError(f"{self.monitor} missing from the epoch logs: pass validation data")
        if math.isfinite(value) and value > self.best_value:
            self.best_value = float(value)
            self.best_epoch = epoch
            self.best_weights = [np.array(weight, copy=True) for weight in self.model.get_weights()]

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        self.restore_best(self.model)

    def restore_best(self, model: keras.Model) -> None:
        if self.best_weights is not None:
            model.set_weights(self.best_weights)
            logger.info(
                "%s: restored epoch %d (%s %.4f)",
                model.name,
                self.best_epoch + 1,
                self.monitor,
                self.best_value,
            )


class EpochStateSaver(keras.callbacks.Callback):
    """After each epoch, save what a resumed run needs (`training_state`) to `folder`.

    Runs after the schedule, the best-epoch keeper and the progress logger, so the epoch's
    learning rate, best record and time are in the state.
    """

    def __init__(
        self,
        folder: Path,
        fingerprint: dict[str, Any],
        history: dict[str, list[float]],
        schedule: LearningRateSchedule,
        best: BestWeightsKeeper,
        progress: TrainingProgressLogger,
    ) -> None:
        super().__init__()
        self.folder = folder
        self.fingerprint = fingerprint
        self.history = {key: list(history.get(key, [])) for key in HISTORY_KEYS}
        self.schedule = schedule
        self.best = best
        self.progress = progress

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        logs = logs or {}
        for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
            if key in logs:
                self.history[key].append(float(logs[key]))
        self.history["lr"].append(float(self.schedule.rates[-1]))
        self.history["seconds"].append(float(self.progress.epoch_seconds[-1]))
        save_training_state(
            self.folder,
            TrainingState(
                fingerprint=self.fingerprint,
                epochs_done=epoch + 1,
                weights=self.model.get_weights(),
                optimizer_variables=[
                    np.array(variable.numpy(), copy=True)
                    for variable in self.model.optimizer.variables
                ],
                best_value=None if self.best.best_epoch is None else self.best.best_value,
                best_epoch=self.best.best_epoch,
                best_weights=self.best.best_weights,
                history=self.history,
            ),
        )


def training_fingerprint(
    model: keras.Model,
    train_x: np.ndarray,
    train_y: np.ndarray,
    val: dict[str, Any],
    parsed: Recipe,
    seed: int,
) -> dict[str, Any]:
    """What a saved training state must have been started with to be resumed: the model (name,
    architecture, initial weights), the recipe (but its log frequency), the seed and the data."""
    recipe = dataclasses.asdict(parsed)
    del recipe["log_every_batches"]  # changes the log, not the training
    fingerprint = {
        "model": model.name,
        "architecture": hashlib.blake2b(
            architecture_key(model).encode(), digest_size=16
        ).hexdigest(),
        "initial_weights": array_digest(model.get_weights()),
        "recipe": recipe,
        "seed": int(seed),
        "train": image_set_fingerprint(train_x, train_y),
        "val": image_set_fingerprint(np.asarray(val["x"]), np.asarray(val["y"])),
    }
    return json.loads(json.dumps(fingerprint))  # tuples as lists, as a loaded state has them


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
    instead of about fifteen Keras ops: tracing a small ResNet's train step takes about 3 s less
    on the CPU. Only the trainers use it; trained models are compiled with plain Adam, so a
    checkpoint loads without this class.
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


def _compile_for_training(
    model: keras.Model, learning_rate: float, optimizer: type = keras.optimizers.Adam
) -> None:
    model.compile(
        optimizer=optimizer(learning_rate=learning_rate),
        loss=keras.losses.SparseCategoricalCrossentropy(),
        metrics=["accuracy"],
    )


def _new_trainer(
    model: keras.Model, learning_rate: float, x: np.ndarray, y: np.ndarray
) -> _Trainer:
    trainer = keras.models.clone_model(model)
    _compile_for_training(trainer, learning_rate, FusedAdam)
    build_before_fit(trainer, x, y)
    state = [np.array(variable.numpy(), copy=True) for variable in trainer.optimizer.variables]
    return _Trainer(trainer, state, threading.Lock())


def _acquire_trainer(
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
                while len(_TRAINERS) > _MAX_TRAINERS:
                    _TRAINERS.popitem(last=False)
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


def train_classifier(
    model: keras.Model,
    train: dict[str, Any],
    val: dict[str, Any],
    recipe: dict[str, Any],
    seed: int,
    callbacks: list[keras.callbacks.Callback] | None = None,
    resume_dir: Path | str | None = None,
) -> tuple[keras.Model, dict[str, Any]]:
    """Train `model` (in place) on `train`, keep the best epoch by accuracy on `val`.

    Args:
        model: a Keras classifier with softmax outputs (N, C).
        train, val: image sets ``{"x": float32 (N, H, W, C) in [0, 1], "y": int (N,)}``.
        recipe: ``epochs``, ``batch_size``, ``learning_rate``, optional ``lr_schedule``
            ``[[epoch, lr], ...]``, ``augment`` ``{width_shift, height_shift,
            horizontal_flip}`` or null, ``log_every_batches``, ``predict_batch_size``
            (validation batch size; default max(batch_size, 256)).
        seed: seeds Python and NumPy (`seeding.seed_host_generators`) and the data order and
            augmentation of every batch.
        callbacks: extra Keras callbacks (e.g. timers, TensorBoard), run after ours.
        resume_dir: a folder for this run's state after each epoch. A state left there by a
            killed call with the same model, recipe, seed and data is resumed; one saved for
            anything else is discarded. The folder is removed when training completes.

    Returns:
        The model with the best epoch's weights, and a history of plain Python values:
        per-epoch ``loss``, ``accuracy``, ``val_loss``, ``val_accuracy``, ``lr``, ``seconds``;
        ``best_epoch`` (0-based), ``best_val_accuracy``, ``train_size``, ``val_size``.
    """
    parsed = parse_recipe(recipe)
    num_classes = int(model.output_shape[-1])
    check_image_set(train, "train", num_classes)
    check_image_set(val, "val", num_classes)
    seed_host_generators(int(seed))
    train_x = np.asarray(train["x"], dtype=np.float32)
    train_y = np.asarray(train["y"], dtype=np.int64)
    resume = None
    if resume_dir is not None:
        folder = Path(resume_dir)
        fingerprint = training_fingerprint(model, train_x, train_y, val, parsed, int(seed))
        resume = _Resume(folder, fingerprint, load_training_state(folder, fingerprint, model.name))
    first_epoch = resume.state.epochs_done if resume and resume.state else 0
    dataset, steps_per_epoch = make_training_dataset(
        train_x,
        train_y,
        parsed.batch_size,
        parsed.epochs,
        int(seed),
        parsed.augmentation,
        first_epoch=min(first_epoch, parsed.epochs),
    )
    logger.info(
        "%s: %d train / %d val images, batch %d, lr %g, schedule %s, augmentation %s",
        model.name,
        len(train_y),
        len(val["y"]),
        parsed.batch_size,
        parsed.learning_rate,
        list(parsed.lr_schedule),
        parsed.augmentation if parsed.augmentation.active else "off",
    )
    trainer, reused = _acquire_trainer(model, parsed.learning_rate, train_x[:1], train_y[:1])
    if reused:
        logger.info("%s: reusing the train step traced for this architecture", model.name)
    try:
        if resume and resume.state:
            _restore_state(trainer.model, resume.state)
            logger.info(
                "%s: resuming after epoch %d of %d from the state in %s",
                model.name,
                first_epoch,
                parsed.epochs,
                resume.folder,
            )
        history = _fit(trainer.model, dataset, steps_per_epoch, val, parsed, callbacks, resume)
        model.set_weights(trainer.model.get_weights())  # the best epoch's, restored
    finally:
        trainer.lock.release()
    # Compiled like the trainer (optimizer unbuilt), so the checkpoint loads and evaluates as one.
    _compile_for_training(model, parsed.learning_rate)
    history["train_size"] = len(train_y)
    history["val_size"] = len(val["y"])
    if resume is not None:
        discard_training_state(resume.folder)
    return model, history


@dataclass
class _Resume:
    """Where a run keeps its state, what it was started with, and the state found there."""

    folder: Path
    fingerprint: dict[str, Any]
    state: TrainingState | None


def _restore_state(model: keras.Model, state: TrainingState) -> None:
    """Put a saved epoch's weights and optimizer variables into the trainer."""
    variables = model.optimizer.variables
    if len(state.optimizer_variables) != len(variables):
        raise ValueError(
            f"{model.name}: the resume state has {len(state.optimizer_variables)} optimizer "
            f"variables, the trainer {len(variables)}; delete the resume folder and run again."
        )
    model.set_weights(state.weights)
    for variable, value in zip(variables, state.optimizer_variables, strict=True):
        variable.assign(value)


def _fit(
    model: keras.Model,
    dataset: tf.data.Dataset,
    steps_per_epoch: int,
    val: dict[str, Any],
    parsed: Recipe,
    callbacks: list[keras.callbacks.Callback] | None,
    resume: _Resume | None = None,
) -> dict[str, Any]:
    """`model.fit` with our callbacks (best epoch restored at the end); the history.

    With `resume`, the state is saved after every epoch, and a found state's epochs are not
    run again: their history comes from the state.
    """
    state = resume.state if resume else None
    first_epoch = state.epochs_done if state else 0
    earlier = state.history if state else {key: [] for key in HISTORY_KEYS}
    schedule = LearningRateSchedule(parsed.learning_rate, parsed.lr_schedule)
    best = BestWeightsKeeper(state=state)
    progress = TrainingProgressLogger(
        model.name, parsed.epochs, steps_per_epoch, parsed.log_every_batches, first_epoch
    )
    ours: list[keras.callbacks.Callback] = [schedule, best, progress]
    if resume is not None:
        ours.append(
            EpochStateSaver(resume.folder, resume.fingerprint, earlier, schedule, best, progress)
        )
    fit_history: dict[str, list[float]] = {}
    if first_epoch < parsed.epochs:
        fit = model.fit(
            dataset,
            epochs=parsed.epochs,
            initial_epoch=first_epoch,
            steps_per_epoch=steps_per_epoch,
            validation_data=(
                np.asarray(val["x"], dtype=np.float32),
                np.asarray(val["y"], dtype=np.int64),
            ),
            validation_batch_size=parsed.validation_batch_size,
            callbacks=[*ours, *(callbacks or [])],
            shuffle=False,  # the dataset is already shuffled per epoch
            verbose=0,
        )
        fit_history = fit.history
    else:  # killed after the last epoch's state was saved: only the best epoch to restore
        best.restore_best(model)
    history: dict[str, Any] = {
        key: [*earlier[key], *(float(value) for value in fit_history.get(key, []))]
        for key in ("loss", "accuracy", "val_loss", "val_accuracy")
    }
    history["lr"] = [*earlier["lr"], *(float(rate) for rate in schedule.rates)]
    history["seconds"] = [*earlier["seconds"], *(float(s) for s in progress.epoch_seconds)]
    history["best_epoch"] = best.best_epoch
    history["best_val_accuracy"] = None if best.best_epoch is None else best.best_value
    return history


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
