"""Keras callbacks that report progress through `logging` (no progress bar), with an ETA.

They also measure: `TrainingProgressLogger.epoch_seconds` holds the wall time of each epoch
(training and validation), which the training history reports.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import keras

from logifold_kedro.progress import format_duration

logger = logging.getLogger(__name__)


def _format_logs(logs: dict[str, Any] | None, keys: tuple[str, ...]) -> str:
    logs = logs or {}
    return " ".join(f"{key}={float(logs[key]):.4f}" for key in keys if key in logs)


class TrainingProgressLogger(keras.callbacks.Callback):
    """One log line per epoch (metrics, learning rate, time, ETA), optionally every k batches.

    ETA = mean epoch time so far x epochs left (within an epoch: time per batch x batches left).
    """

    def __init__(
        self,
        label: str,
        epochs: int,
        steps_per_epoch: int,
        log_every_batches: int | None = None,
    ) -> None:
        super().__init__()
        self.label = label
        self.epochs = int(epochs)
        self.steps_per_epoch = int(steps_per_epoch)
        self.log_every_batches = int(log_every_batches) if log_every_batches else 0
        self.epoch_seconds: list[float] = []
        self._train_started = 0.0
        self._epoch_started = 0.0

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        self._train_started = time.perf_counter()
        self.epoch_seconds = []
        logger.info(
            "%s: training %d epochs x %d batches", self.label, self.epochs, self.steps_per_epoch
        )

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._epoch_started = time.perf_counter()

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        if not self.log_every_batches or (batch + 1) % self.log_every_batches:
            return
        done = batch + 1
        elapsed = time.perf_counter() - self._epoch_started
        per_batch = elapsed / done
        epochs_left = self.epochs - len(self.epoch_seconds) - 1
        mean_epoch = (
            sum(self.epoch_seconds) / len(self.epoch_seconds)
            if self.epoch_seconds
            else per_batch * self.steps_per_epoch
        )
        eta = per_batch * (self.steps_per_epoch - done) + mean_epoch * epochs_left
        logger.info(
            "%s: epoch %d/%d batch %d/%d %s (%.3f s/batch, ETA %s)",
            self.label,
            len(self.epoch_seconds) + 1,
            self.epochs,
            done,
            self.steps_per_epoch,
            _format_logs(logs, ("loss", "accuracy")),
            per_batch,
            format_duration(eta),
        )

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        seconds = time.perf_counter() - self._epoch_started
        self.epoch_seconds.append(seconds)
        epochs_left = self.epochs - len(self.epoch_seconds)
        eta = sum(self.epoch_seconds) / len(self.epoch_seconds) * epochs_left
        learning_rate = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))
        logger.info(
            "%s: epoch %d/%d %s lr=%.2g (%s, ETA %s)",
            self.label,
            epoch + 1,
            self.epochs,
            _format_logs(logs, ("loss", "accuracy", "val_loss", "val_accuracy")),
            learning_rate,
            format_duration(seconds),
            format_duration(eta),
        )

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        logger.info(
            "%s: trained %d epochs in %s",
            self.label,
            len(self.epoch_seconds),
            format_duration(time.perf_counter() - self._train_started),
        )


class PredictionProgressLogger(keras.callbacks.Callback):
    """A log line every `log_every_batches` prediction batches, with the ETA.

    A Keras predict callback; `training.predict_probabilities` calls its two hooks itself.
    """

    def __init__(self, label: str, total_batches: int, log_every_batches: int) -> None:
        super().__init__()
        self.label = label
        self.total_batches = int(total_batches)
        self.log_every_batches = max(1, int(log_every_batches))
        self._started = 0.0

    def on_predict_begin(self, logs: dict[str, Any] | None = None) -> None:
        self._started = time.perf_counter()

    def on_predict_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        done = batch + 1
        if done % self.log_every_batches and done != self.total_batches:
            return
        elapsed = time.perf_counter() - self._started
        eta = elapsed / done * (self.total_batches - done)
        logger.info(
            "%s: predicted batch %d/%d (%s, ETA %s)",
            self.label,
            done,
            self.total_batches,
            format_duration(elapsed),
            format_duration(eta),
        )
