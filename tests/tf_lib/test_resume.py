"""A training run stopped after an epoch resumes there and ends where an uninterrupted run does.

The recipe has augmentation and a learning-rate step, so a resumed run that got the data order,
the augmentation draws, the schedule position or Adam's moments wrong would drift away from the
uninterrupted run's losses and weights.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import keras
import numpy as np
import pytest

from logifold_kedro.tf_lib.training import train_classifier
from logifold_kedro.tf_lib.training_state import STATE_FILE
from tests.tf_lib.test_training import colour_blobs, tiny_model

REPO = Path(__file__).resolve().parents[2]
RECIPE = {
    "epochs": 5,
    "batch_size": 16,
    "learning_rate": 2e-3,
    "lr_schedule": [[2, 5e-4]],
    "augment": {"width_shift": 0.1, "height_shift": 0.1, "horizontal_flip": True},
}
SEED = 3


class StopAfterEpoch(keras.callbacks.Callback):
    """Raise at the end of 0-based `epoch` (after the trainer saved that epoch's state)."""

    def __init__(self, epoch: int) -> None:
        super().__init__()
        self.epoch = epoch

    def on_epoch_end(self, epoch, logs=None) -> None:
        if epoch == self.epoch:
            raise RuntimeError(f"stopped after epoch {epoch}")


class EpochsRun(keras.callbacks.Callback):
    def __init__(self) -> None:
        super().__init__()
        self.epochs: list[int] = []

    def on_epoch_begin(self, epoch, logs=None) -> None:
        self.epochs.append(epoch)


@pytest.fixture(scope="module")
def data():
    return colour_blobs(72, seed=1), colour_blobs(45, seed=2)


@pytest.fixture(scope="module")
def uninterrupted(data):
    train, val = data
    model, history = train_classifier(tiny_model(seed=0), train, val, RECIPE, SEED)
    return model.get_weights(), history


def assert_same_run(resumed, history, uninterrupted) -> None:
    weights, expected = uninterrupted
    for key in ("loss", "val_accuracy", "lr"):
        np.testing.assert_allclose(history[key], expected[key], rtol=1e-5, atol=1e-6)
    assert history["best_epoch"] == expected["best_epoch"]
    assert len(history["seconds"]) == RECIPE["epochs"]
    for got, want in zip(resumed.get_weights(), weights, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def resume(data, folder: Path, caplog) -> tuple[keras.Model, dict, list[int]]:
    train, val = data
    epochs_run = EpochsRun()
    with caplog.at_level(logging.INFO, logger="logifold_kedro.tf_lib"):
        model, history = train_classifier(
            tiny_model(seed=0), train, val, RECIPE, SEED, callbacks=[epochs_run], resume_dir=folder
        )
    return model, history, epochs_run.epochs


KILLED_CHILD = """
import os, signal, sys
from pathlib import Path
import keras
from logifold_kedro.tf_lib.training import train_classifier
from tests.tf_lib.test_training import colour_blobs, tiny_model
from tests.tf_lib.test_resume import RECIPE, SEED

class KillAfterEpoch(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        if epoch == 1:
            os.kill(os.getpid(), signal.SIGKILL)

train, val = colour_blobs(72, seed=1), colour_blobs(45, seed=2)
train_classifier(tiny_model(seed=0), train, val, RECIPE, SEED, callbacks=[KillAfterEpoch()],
                 resume_dir=Path(sys.argv[1]))
"""


def test_a_killed_run_resumes_after_its_last_epoch_with_the_uninterrupted_weights(
    data, uninterrupted, tmp_path, caplog
):
    folder = tmp_path / "train_tiny"
    child = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(KILLED_CHILD), str(folder)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "LOGIFOLD_PROGRESS": "log"},
    )
    assert child.returncode == -signal.SIGKILL, child.stderr[-3000:]
    assert (folder / STATE_FILE).is_file()

    model, history, epochs_run = resume(data, folder, caplog)
    assert epochs_run == [2, 3, 4]
    assert "resuming after epoch 2 of 5" in caplog.text
    assert "training epochs 3-5 of 5" in caplog.text
    assert_same_run(model, history, uninterrupted)
    assert not folder.exists()  # removed once training completed


@pytest.mark.parametrize("stopped_after", [0, 3, 4])
def test_a_stopped_run_resumes_with_its_best_epoch_schedule_and_optimizer(
    data, uninterrupted, tmp_path, caplog, stopped_after
):
    """After epoch 0 (most to redo), 3 (past the rate step), 4 (all done: only the best epoch
    to restore)."""
    train, val = data
    folder = tmp_path / "train_tiny"
    with pytest.raises(RuntimeError, match=f"stopped after epoch {stopped_after}"):
        train_classifier(
            tiny_model(seed=0),
            train,
            val,
            RECIPE,
            SEED,
            callbacks=[StopAfterEpoch(stopped_after)],
            resume_dir=folder,
        )
    model, history, epochs_run = resume(data, folder, caplog)
    assert epochs_run == list(range(stopped_after + 1, RECIPE["epochs"]))
    assert f"resuming after epoch {stopped_after + 1} of 5" in caplog.text
    assert_same_run(model, history, uninterrupted)
    assert not folder.exists()


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"seed": SEED + 1}, "seed"),
        ({"recipe": {**RECIPE, "epochs": 2, "learning_rate": 1e-3}}, "recipe"),
        ({"train": colour_blobs(72, seed=9)}, "train"),
        ({"model": tiny_model(seed=1)}, "initial_weights"),
    ],
)
def test_a_state_saved_for_other_inputs_is_discarded_and_the_run_starts_afresh(
    data, tmp_path, caplog, change, named
):
    train, val = data
    recipe = {**RECIPE, "epochs": 2}
    folder = tmp_path / "train_tiny"
    with pytest.raises(RuntimeError, match="stopped after epoch 0"):
        train_classifier(
            tiny_model(seed=0), train, val, recipe, SEED, [StopAfterEpoch(0)], resume_dir=folder
        )
    arguments = {"model": tiny_model(seed=0), "train": train, "recipe": recipe, "seed": SEED}
    arguments.update(change)
    epochs_run = EpochsRun()
    with caplog.at_level(logging.INFO, logger="logifold_kedro.tf_lib"):
        train_classifier(
            arguments["model"],
            arguments["train"],
            val,
            arguments["recipe"],
            arguments["seed"],
            callbacks=[epochs_run],
            resume_dir=folder,
        )
    assert epochs_run.epochs == [0, 1]
    assert f"saved for other inputs (changed: {named})" in caplog.text
    assert "resuming" not in caplog.text


def test_an_unreadable_state_is_discarded_with_a_log_line(data, tmp_path, caplog):
    train, val = data
    folder = tmp_path / "train_tiny"
    folder.mkdir()
    (folder / STATE_FILE).write_bytes(b"not an npz file")
    epochs_run = EpochsRun()
    with caplog.at_level(logging.INFO, logger="logifold_kedro.tf_lib"):
        train_classifier(
            tiny_model(seed=0),
            train,
            val,
            {**RECIPE, "epochs": 1},
            SEED,
            callbacks=[epochs_run],
            resume_dir=folder,
        )
    assert epochs_run.epochs == [0]
    assert "cannot be read" in caplog.text
    assert not folder.exists()


def test_every_training_node_takes_the_resume_state_folder():
    from logifold_kedro.pipelines.immunization.pipeline import create_pipeline as immunization
    from logifold_kedro.pipelines.training.pipeline import create_pipeline as training

    trainers = {
        "train_base_model": [],
        "train_first_generation_specialist": [],
        "train_second_generation_specialist": [],
    }
    for node in [*training().nodes, *immunization().nodes]:
        if node.func.__name__ in trainers:
            trainers[node.func.__name__].append(node)
            assert "resume_state" in node.inputs, node.name
    assert all(trainers.values()), {name: len(nodes) for name, nodes in trainers.items()}
