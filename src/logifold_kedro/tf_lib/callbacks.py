"""The Keras callbacks of `tf_lib.training`: the learning-rate schedule, the best epoch's
weights, and the state a resumed run needs."""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

import keras
import numpy as np

from logifold_kedro.schedules import learning_rate_at
from logifold_kedro.tf_lib.progress import TrainingProgressLogger
from logifold_kedro.tf_lib.training_state import (
    HISTORY_KEYS,
    TrainingState,
    save_training_state,
)

# The training's logger: the restored-epoch line belongs to its run.
logger = logging.getLogger("logifold_kedro.tf_lib.training")


class LearningRateSchedule(keras.callbacks.Callback):
    """Set the optimizer's learning rate at each epoch start (`schedules.learning_rate_at`)
    and record it."""

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
