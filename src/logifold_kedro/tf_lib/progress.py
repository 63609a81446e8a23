"""Keras callbacks that report progress with an ETA: log lines, or bars on a terminal.

Where `logifold_kedro.progress.use_progress_bar` says so (standard error is a terminal, or
``LOGIFOLD_PROGRESS=bar``), tqdm bars drawn by `ProgressReporter` replace the per-batch log
lines: the epochs and the batches of the current epoch while training, the batches of a
prediction. The one line per epoch and the end-of-training line are logged either way, so a
log file keeps them.

They also measure: `TrainingProgressLogger.epoch_seconds` holds the wall time of each epoch
run in this call (training and validation), which the training history reports.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import keras

from logifold_kedro.progress import ProgressReporter, format_duration, use_progress_bar

logger = logging.getLogger(__name__)


def _format_logs(logs: dict[str, Any] | None, keys: tuple[str, ...]) -> str:
    logs = logs or {}
    return " ".join(f"{key}={float(logs[key]):.4f}" for key in keys if key in logs)


class TrainingProgressLogger(keras.callbacks.Callback):
    """One log line per epoch (metrics, learning rate, time, ETA), optionally every k batches.

    ETA = mean epoch time so far x epochs left (within an epoch: time per batch x batches left),
    from the epochs run in this call: a resumed run (`initial_epoch` > 0) starts its ETA afresh.
    `bar`: draw bars instead of the per-batch lines (default: `use_progress_bar()`).
    """

    def __init__(
        self,
        label: str,
        epochs: int,
        steps_per_epoch: int,
        log_every_batches: int | None = None,
        initial_epoch: int = 0,
        bar: bool | None = None,
    ) -> None:
        super().__init__()
        self.label = label
        self.epochs = int(epochs)
        self.steps_per_epoch = int(steps_per_epoch)
        self.log_every_batches = int(log_every_batches) if log_every_batches else 0
        self.initial_epoch = int(initial_epoch)
        self.bar = use_progress_bar() if bar is None else bool(bar)
        self.epoch_seconds: list[float] = []
        self._train_started = 0.0
        self._epoch_started = 0.0
        self._epochs_bar: ProgressReporter | None = None
        self._batches_bar: ProgressReporter | None = None

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        self._train_started = time.perf_counter()
        self.epoch_seconds = []
        if self.initial_epoch:
            logger.info(
                "%s: training epochs %d-%d of %d x %d batches",
                self.label,
                self.initial_epoch + 1,
                self.epochs,
                self.epochs,
                self.steps_per_epoch,
            )
        else:
            logger.info(
                "%s: training %d epochs x %d batches",
                self.label,
                self.epochs,
                self.steps_per_epoch,
            )
        if self.bar:
            self._epochs_bar = ProgressReporter(
                self.epochs, self.label, unit="epoch", bar=True, initial=self.initial_epoch
            )

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._epoch_started = time.perf_counter()
        if self.bar:
            self._batches_bar = ProgressReporter(
                self.steps_per_epoch, f"epoch {epoch + 1}/{self.epochs}", unit="batch", bar=True
            )

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        if self._batches_bar is not None:
            loss = (logs or {}).get("loss")
            self._batches_bar.update(1, **({} if loss is None else {"loss": f"{float(loss):.4f}"}))
            return
        if not self.log_every_batches or (batch + 1) % self.log_every_batches:
            return
        done = batch + 1
        elapsed = time.perf_counter() - self._epoch_started
        per_batch = elapsed / done
        epochs_left = self.epochs - self.initial_epoch - len(self.epoch_seconds) - 1
        mean_epoch = (
            sum(self.epoch_seconds) / len(self.epoch_seconds)
            if self.epoch_seconds
            else per_batch * self.steps_per_epoch
        )
        eta = per_batch * (self.steps_per_epoch - done) + mean_epoch * epochs_left
        logger.info(
            "%s: epoch %d/%d batch %d/%d %s (%.3f s/batch, ETA %s)",
            self.label,
            self.initial_epoch + len(self.epoch_seconds) + 1,
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
        epochs_left = self.epochs - epoch - 1
        eta = sum(self.epoch_seconds) / len(self.epoch_seconds) * epochs_left
        learning_rate = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))
        if self._batches_bar is not None:
            self._batches_bar.close()
            self._batches_bar = None
        if self._epochs_bar is not None:
            accuracy = (logs or {}).get("val_accuracy")
            self._epochs_bar.update(
                1, **({} if accuracy is None else {"val_accuracy": f"{float(accuracy):.4f}"})
            )
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
        for reporter in (self._batches_bar, self._epochs_bar):
            if reporter is not None:
                reporter.close()
        self._batches_bar = self._epochs_bar = None
        logger.info(
            "%s: trained %d epochs in %s",
            self.label,
            len(self.epoch_seconds),
            format_duration(time.perf_counter() - self._train_started),
        )


class PredictionProgressLogger(keras.callbacks.Callback):
    """A log line every `log_every_batches` prediction batches, with the ETA; or a bar (`bar`,
    default `use_progress_bar()`) over the batches, for more than one batch.

    A Keras predict callback; `training.predict_probabilities` calls its hooks itself.
    """

    def __init__(
        self, label: str, total_batches: int, log_every_batches: int, bar: bool | None = None
    ) -> None:
        super().__init__()
        self.label = label
        self.total_batches = int(total_batches)
        self.log_every_batches = max(1, int(log_every_batches))
        self.bar = (use_progress_bar() if bar is None else bool(bar)) and self.total_batches > 1
        self._started = 0.0
        self._reporter: ProgressReporter | None = None

    def on_predict_begin(self, logs: dict[str, Any] | None = None) -> None:
        self._started = time.perf_counter()
        if self.bar:
            self._reporter = ProgressReporter(
                self.total_batches, self.label, unit="batch", bar=True
            )

    def on_predict_end(self, logs: dict[str, Any] | None = None) -> None:
        if self._reporter is not None:
            self._reporter.close()
            self._reporter = None

    def on_predict_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        if self._reporter is not None:
            self._reporter.update(1)
            return
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
