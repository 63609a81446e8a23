"""The per-epoch state that lets `training.train_classifier` resume a killed run.

After each finished epoch the trainer writes one file, ``<resume dir>/state.npz``: the weights,
the optimizer's variables (Adam's moments and step count), the best epoch so far (its
validation accuracy and weights), the history of the finished epochs and a *fingerprint* of
what the run was started with. The data order and augmentation need nothing stored: they are
drawn from (seed, epoch) and (seed, global batch index), so the remaining epochs are rebuilt
from the epoch count alone. A state whose fingerprint differs from the new call's (another
recipe, seed, model or data) is removed and the run starts from epoch 1.

The file is written to a temporary name and renamed over the old one, so a kill while writing
leaves the previous epoch's state, never a torn file.

Why not Keras' ``BackupAndRestore``: it restores the weights, the optimizer and the epoch
number, but not the best-epoch record or the history of the finished epochs, it checks nothing
about the inputs, and the resumed fit would read the dataset from its start (epoch 1's batches).
"""

from __future__ import annotations

import io
import json
import logging
import shutil
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from logifold_kedro.datasets.atomic import partial_save_path
from logifold_kedro.datasets.resume_state import array_digest

logger = logging.getLogger(__name__)

STATE_FILE = "state.npz"
# Bumped when the file's layout changes: an older state is then discarded, not misread.
STATE_FORMAT = 1
HISTORY_KEYS = ("loss", "accuracy", "val_loss", "val_accuracy", "lr", "seconds")


def image_set_fingerprint(images: np.ndarray, labels: np.ndarray) -> dict[str, Any]:
    return {"shape": list(images.shape), "digest": array_digest([images, labels])}


@dataclass
class TrainingState:
    """What a run had after `epochs_done` epochs (see the module docstring)."""

    fingerprint: dict[str, Any]
    epochs_done: int
    weights: list[np.ndarray]
    optimizer_variables: list[np.ndarray]
    best_value: float | None
    best_epoch: int | None
    best_weights: list[np.ndarray] | None
    history: dict[str, list[float]] = field(default_factory=dict)


def save_training_state(folder: Path, state: TrainingState) -> None:
    """Write `state` to ``folder/state.npz`` atomically (temporary file, then rename)."""
    folder.mkdir(parents=True, exist_ok=True)
    meta = {
        "format": STATE_FORMAT,
        "fingerprint": state.fingerprint,
        "epochs_done": state.epochs_done,
        "best_value": state.best_value,
        "best_epoch": state.best_epoch,
        "history": {key: [float(v) for v in state.history.get(key, [])] for key in HISTORY_KEYS},
        "counts": [
            len(state.weights),
            len(state.optimizer_variables),
            len(state.best_weights or []),
        ],
    }
    arrays: dict[str, np.ndarray] = {"meta": np.array(json.dumps(meta, sort_keys=True))}
    for prefix, values in (
        ("weight", state.weights),
        ("optimizer", state.optimizer_variables),
        ("best", state.best_weights or []),
    ):
        arrays.update({f"{prefix}_{index}": np.asarray(v) for index, v in enumerate(values)})
    with partial_save_path("file", str(folder / STATE_FILE)) as partial, open(partial, "wb") as f:
        np.savez(f, **arrays)


def _read_state(path: Path) -> TrainingState:
    with np.load(path, allow_pickle=False) as npz:
        meta = json.loads(str(npz["meta"][()]))
        if meta.get("format") != STATE_FORMAT:
            raise ValueError(
                f"state format {meta.get('format')!r}, this code writes {STATE_FORMAT}"
            )
        n_weights, n_optimizer, n_best = meta["counts"]
        return TrainingState(
            fingerprint=meta["fingerprint"],
            epochs_done=int(meta["epochs_done"]),
            weights=[npz[f"weight_{i}"] for i in range(n_weights)],
            optimizer_variables=[npz[f"optimizer_{i}"] for i in range(n_optimizer)],
            best_value=meta["best_value"],
            best_epoch=meta["best_epoch"],
            best_weights=[npz[f"best_{i}"] for i in range(n_best)] if n_best else None,
            history={key: list(meta["history"].get(key, [])) for key in HISTORY_KEYS},
        )


def load_training_state(
    folder: Path, fingerprint: Mapping[str, Any], label: str
) -> TrainingState | None:
    """The state saved in `folder` if it was written for `fingerprint`, else None.

    A state for other inputs, or one that cannot be read, is removed (with an INFO line
    saying why), so the run starts afresh and later epochs overwrite nothing stale.
    """
    path = folder / STATE_FILE
    if not path.exists():
        return None
    try:
        state = _read_state(path)
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, io.UnsupportedOperation) as error:
        logger.info(
            "%s: the resume state in %s cannot be read (%s); starting from epoch 1",
            label,
            folder,
            error,
        )
        discard_training_state(folder)
        return None
    if state.fingerprint != dict(fingerprint):
        changed = sorted(
            key
            for key in set(state.fingerprint) | set(fingerprint)
            if state.fingerprint.get(key) != fingerprint.get(key)
        )
        logger.info(
            "%s: the resume state in %s was saved for other inputs (changed: %s); discarding it "
            "and starting from epoch 1",
            label,
            folder,
            ", ".join(changed),
        )
        discard_training_state(folder)
        return None
    return state


def discard_training_state(folder: Path) -> None:
    """Remove the run's resume folder (once its result is complete, or when it is stale)."""
    shutil.rmtree(folder, ignore_errors=True)
