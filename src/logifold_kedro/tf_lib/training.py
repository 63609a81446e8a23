"""Training and prediction of Keras classifiers: U0, and specialist fine-tuning (docs/method.md).

One function, `train_classifier`, serves both the base models and the specialists' fine-tuning: the
recipe (`training_recipe`, `specialist_recipe`) says which. It trains in memory and writes no files
(the catalog saves the returned model):

- The recipe's keys and checks: `tf_lib.recipe`.
- Adam at ``learning_rate``; sparse categorical cross-entropy on the softmax output (the
  same loss as categorical cross-entropy on one-hot labels); metric accuracy.
- Learning-rate schedule ``[[e, lr], ...]``: the rate becomes ``lr`` after epoch ``e``, i.e.
  for 0-based epochs ``i > e`` (`schedules.learning_rate_at`, set by the callbacks of
  `tf_lib.callbacks`). The paper's U0 recipe is
  ``[[80, 1e-4], [120, 1e-5], [160, 1e-6], [180, 5e-7]]``.
- Augmentation on the fly, per batch inside `tf.data` (`tf_lib.training_data`): a random
  translation and a horizontal flip; the same seed gives the same run.
- The weights of the epoch with the best validation accuracy (first one on ties) are kept in
  memory and restored at the end.
- With a ``resume_dir``, the state after each epoch is saved there (`training_state`): a killed
  run called again with the same arguments continues after its last finished epoch and ends
  with the weights an uninterrupted run gives. The folder is removed when training completes.

Models of one architecture train on one shared, compiled *trainer* (`tf_lib.trainers`): tracing
a train step costs more than a CPU-scale epoch. Predictions: `tf_lib.prediction`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from logifold_kedro.data.validation import validate_image_set
from logifold_kedro.seeding import seed_host_generators
from logifold_kedro.tf_lib.callbacks import BestWeightsKeeper, EpochStateSaver, LearningRateSchedule
from logifold_kedro.tf_lib.onednn import route_strided_1x1_filter_gradients

# Re-exported: pipelines.shared and the progress tests import it from here.
from logifold_kedro.tf_lib.prediction import predict_probabilities as predict_probabilities
from logifold_kedro.tf_lib.progress import TrainingProgressLogger
from logifold_kedro.tf_lib.recipe import Recipe, parse_recipe
from logifold_kedro.tf_lib.trainers import acquire_trainer, architecture_key, compile_for_training
from logifold_kedro.tf_lib.training_data import make_training_dataset
from logifold_kedro.tf_lib.training_state import (
    HISTORY_KEYS,
    TrainingState,
    array_digest,
    discard_training_state,
    image_set_fingerprint,
    load_training_state,
)

logger = logging.getLogger(__name__)

# Before any train step is traced: oneDNN's strided 1x1 backward-weights kernel overruns its
# workspace for the demo ResNets' projection shortcut (see tf_lib.onednn).
route_strided_1x1_filter_gradients()


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
    validate_image_set(train, "train", num_classes)
    validate_image_set(val, "val", num_classes)
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
    trainer, reused = acquire_trainer(model, parsed.learning_rate, train_x[:1], train_y[:1])
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
    compile_for_training(model, parsed.learning_rate)
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
