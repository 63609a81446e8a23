"""Training the RobustBench surrogate at CPU scale (``train_surrogate``).

Images arrive as the catalog holds them, float32 NHWC in [0, 1]; they become NCHW tensors here,
inside the functions (`torch_lib.images`). The trained model is saved in robustbench's layout
by `torch_lib.checkpoints`.

Training: mini-batch SGD (momentum, optional Nesterov) or Adam on the mean cross-entropy;
learning-rate schedule ``[[e, lr], ...]`` (`schedules.learning_rate_at`, as in
``tf_lib.training``): the rate becomes ``lr`` for 0-based epochs ``i > e``; optional
augmentation per image: a random translation by whole pixels of up to ``width_shift``·W and
``height_shift``·H with nearest (edge) fill, and a horizontal flip with probability 1/2.
Shuffling and augmentation draw from one ``torch.Generator`` seeded with ``seed``: the same seed
gives the same run. The weights of the epoch with the best validation accuracy are restored at
the end (``restore_best``). The recipe's keys and checks: `torch_lib.surrogate_recipe`.

Resuming (``state_dir``): after every epoch the model, the optimizer, the generator and torch's
global random state, the history and the best weights so far are saved (``epoch.pt``, written
to a temporary name and renamed). A run killed in epoch k restarts from the end of epoch k - 1
and ends with the same weights as an uninterrupted run (the learning rate of an epoch follows
from its number, so there is no scheduler state besides). A ``fingerprint.json`` (recipe, seed,
digests of the data and of the starting weights) guards the state; the folder is removed when
training completes. Progress (batches of all epochs, loss, ETA) goes through
``ProgressReporter``.
"""

from __future__ import annotations

import copy
import json
import logging
import math
import os
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from logifold_kedro.data.validation import validate_image_set
from logifold_kedro.progress import ProgressReporter, format_duration
from logifold_kedro.schedules import learning_rate_at
from logifold_kedro.torch_lib.checkpoints import OBTAIN_STANDARD_HINT as OBTAIN_STANDARD_HINT
from logifold_kedro.torch_lib.checkpoints import save_for_robustbench as save_for_robustbench
from logifold_kedro.torch_lib.images import to_nchw_tensor
from logifold_kedro.torch_lib.resume import (
    atomic_write,
    digest_arrays,
    open_state_folder,
    weights_digest,
)
from logifold_kedro.torch_lib.setup import resolve_device
from logifold_kedro.torch_lib.surrogate_recipe import AUGMENT_KEYS, parse_surrogate_recipe

logger = logging.getLogger(__name__)

# Bumped when the layout of the resume state changes, so older state is not misread.
TRAINING_STATE_FORMAT = 1


def augment_batch(
    x_nchw: torch.Tensor, augment: dict[str, Any], generator: torch.Generator
) -> torch.Tensor:
    """Random whole-pixel translation (edge fill) and horizontal flip, per image.

    A shift (dy, dx) maps output pixel (r, c) to input pixel (clamp(r - dy), clamp(c - dx)),
    with dy, dx uniform integers in [-round(height_shift·H), +...], [-round(width_shift·W), +...].
    """
    count, _, height, width = x_nchw.shape
    max_dy = int(round(augment["height_shift"] * height))
    max_dx = int(round(augment["width_shift"] * width))
    if max_dy or max_dx:
        dy = torch.randint(-max_dy, max_dy + 1, (count, 1), generator=generator)
        dx = torch.randint(-max_dx, max_dx + 1, (count, 1), generator=generator)
        rows = (torch.arange(height).unsqueeze(0) - dy).clamp(0, height - 1)  # (N, H)
        cols = (torch.arange(width).unsqueeze(0) - dx).clamp(0, width - 1)  # (N, W)
        batch_index = torch.arange(count)[:, None, None]
        # Advanced indexing on (N, H, W, C) view gives (N, H, W, C); back to NCHW.
        x_nhwc = x_nchw.permute(0, 2, 3, 1)
        x_nchw = x_nhwc[batch_index, rows[:, :, None], cols[:, None, :]].permute(0, 3, 1, 2)
    if augment["horizontal_flip"]:
        flip = torch.rand(count, generator=generator) < 0.5
        x_nchw = torch.where(flip[:, None, None, None], x_nchw.flip(3), x_nchw)
    return x_nchw.contiguous()


def _evaluate(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int, device: str
) -> tuple[float, float]:
    """(mean cross-entropy, accuracy) of ``model`` in eval mode."""
    model.eval()
    total_loss, correct = 0.0, 0
    with torch.no_grad():
        for start in range(0, len(x), batch_size):
            logits = model(x[start : start + batch_size].to(device))
            labels = y[start : start + batch_size].to(device)
            total_loss += float(nn.functional.cross_entropy(logits, labels, reduction="sum"))
            correct += int((logits.argmax(1) == labels).sum())
    return total_loss / max(len(x), 1), correct / max(len(x), 1)


def _make_optimizer(model: nn.Module, recipe: dict[str, Any]) -> torch.optim.Optimizer:
    if recipe["optimizer"] == "adam":
        return torch.optim.Adam(
            model.parameters(),
            lr=recipe["learning_rate"],
            weight_decay=float(recipe["weight_decay"]),
        )
    return torch.optim.SGD(
        model.parameters(),
        lr=recipe["learning_rate"],
        momentum=float(recipe["momentum"]),
        nesterov=bool(recipe["nesterov"]),
        weight_decay=float(recipe["weight_decay"]),
    )


def train_surrogate(
    model: nn.Module,
    train: dict[str, Any],
    val: dict[str, Any],
    recipe: dict[str, Any],
    seed: int,
    state_dir: str | os.PathLike | None = None,
) -> tuple[nn.Module, dict[str, Any]]:
    """Train ``model`` in place on ``train`` for ``recipe["epochs"]`` epochs; keep the best by val.

    Args:
        model: a torch classifier taking NCHW [0, 1] input (e.g. a RobustBench zoo model).
        train, val: image sets ``{"x": float32 (N, H, W, 3) in [0, 1], "y": int (N,)}``.
        recipe: ``epochs`` (0: return the model unchanged, e.g. pretrained weights),
            ``batch_size``, ``optimizer`` (sgd|adam), ``learning_rate``, ``momentum``,
            ``nesterov``, ``weight_decay``, ``lr_schedule`` [[epoch, lr], ...], ``augment``
            {width_shift, height_shift, horizontal_flip}, ``restore_best``,
            ``log_every_batches``, ``eval_batch_size``, ``device``. Defaults: RECIPE_DEFAULTS.
        seed: seeds the shuffling and augmentation generator (and torch's global generator,
            for layers such as dropout).
        state_dir: folder for the state that lets a killed run resume from its last finished
            epoch (module docstring); removed when training completes. None: nothing is kept.

    Returns:
        The model (on the CPU, eval mode) and a JSON-ready history: per-epoch lists ``loss``,
        ``accuracy``, ``val_loss``, ``val_accuracy``, ``learning_rate``, ``epoch_seconds``; and
        ``epochs_run``, ``best_epoch`` (0-based), ``best_val_accuracy``, ``train_size``,
        ``val_size``, ``num_parameters``, ``device``, ``seed``, ``recipe``.
    """
    config = parse_surrogate_recipe(recipe)
    validate_image_set(train, "train")
    validate_image_set(val, "val")
    history: dict[str, Any] = {
        "loss": [],
        "accuracy": [],
        "val_loss": [],
        "val_accuracy": [],
        "learning_rate": [],
        "epoch_seconds": [],
        "epochs_run": 0,
        "best_epoch": None,
        "best_val_accuracy": None,
        "train_size": int(len(train["y"])),
        "val_size": int(len(val["y"])),
        "num_parameters": int(sum(p.numel() for p in model.parameters())),
        "model": type(model).__name__,
        "seed": int(seed),
        "recipe": config,
    }
    if config["epochs"] == 0:
        logger.info(
            "surrogate recipe has 0 epochs: %s passes through unchanged", type(model).__name__
        )
        history["device"] = None
        return model, history

    device = resolve_device(config["device"])
    history["device"] = device
    torch.manual_seed(int(seed))
    generator = torch.Generator().manual_seed(int(seed))
    x_train, y_train = to_nchw_tensor(train["x"]), torch.from_numpy(train["y"].astype(np.int64))
    x_val, y_val = to_nchw_tensor(val["x"]), torch.from_numpy(val["y"].astype(np.int64))
    fingerprint = {
        "format": TRAINING_STATE_FORMAT,
        "model": type(model).__name__,
        "weights": weights_digest(model),
        "train": digest_arrays(train["x"], train["y"]),
        "val": digest_arrays(val["x"], val["y"]),
        "recipe": json.loads(json.dumps(config)),
        "seed": int(seed),
        "device": device,
    }
    folder = open_state_folder(state_dir, fingerprint, "surrogate training")
    model.to(device)
    optimizer = _make_optimizer(model, config)
    batch_size, epochs = config["batch_size"], config["epochs"]
    steps = math.ceil(len(x_train) / batch_size)
    log_every = int(config["log_every_batches"] or 0)
    augmenting = any(config["augment"][key] for key in AUGMENT_KEYS)
    best_state: dict[str, torch.Tensor] | None = None
    first_epoch, seconds_before = 0, 0.0
    saved = _load_training_state(folder)
    if saved is not None:
        model.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        generator.set_state(saved["generator"])
        torch.set_rng_state(saved["torch_rng"])
        if saved["cuda_rng"] is not None and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(saved["cuda_rng"])
        best_state, first_epoch = saved["best_state"], int(saved["epochs_done"])
        history.update(saved["history"])
        seconds_before = float(saved["train_seconds"])
        logger.info("surrogate: resuming after epoch %d/%d from %s", first_epoch, epochs, folder)
    logger.info(
        "training surrogate %s (%d parameters) on %d images, %d epochs x %d batches, %s on %s",
        type(model).__name__, history["num_parameters"], len(x_train), epochs, steps,
        config["optimizer"], device,
    )  # fmt: skip
    started = time.perf_counter()
    with ProgressReporter(
        epochs * steps, "surrogate training", unit="batch", logger=logger,
        initial=first_epoch * steps,
    ) as progress:  # fmt: skip
        for epoch in range(first_epoch, epochs):
            epoch_started = time.perf_counter()
            rate = learning_rate_at(epoch, config["learning_rate"], config["lr_schedule"])
            for group in optimizer.param_groups:
                group["lr"] = rate
            model.train()
            order = torch.randperm(len(x_train), generator=generator)
            loss_sum, correct = 0.0, 0
            for step in range(steps):
                index = order[step * batch_size : (step + 1) * batch_size]
                x_batch = x_train[index]
                if augmenting:
                    x_batch = augment_batch(x_batch, config["augment"], generator)
                x_batch, y_batch = x_batch.to(device), y_train[index].to(device)
                optimizer.zero_grad(set_to_none=True)
                logits = model(x_batch)
                loss = nn.functional.cross_entropy(logits, y_batch)
                loss.backward()
                optimizer.step()
                loss_sum += float(loss.detach()) * len(index)
                correct += int((logits.detach().argmax(1) == y_batch).sum())
                progress.update(
                    1, epoch=f"{epoch + 1}/{epochs}", loss=f"{float(loss.detach()):.4f}"
                )
                if log_every and (step + 1) % log_every == 0:
                    per_step = (time.perf_counter() - epoch_started) / (step + 1)
                    eta = per_step * (steps - step - 1 + steps * (epochs - epoch - 1))
                    logger.info(
                        "surrogate: epoch %d/%d batch %d/%d loss=%.4f (%.3f s/batch, ETA %s)",
                        epoch + 1, epochs, step + 1, steps, float(loss.detach()), per_step,
                        format_duration(eta),
                    )  # fmt: skip
            val_loss, val_accuracy = _evaluate(
                model, x_val, y_val, int(config["eval_batch_size"]), device
            )
            seconds = time.perf_counter() - epoch_started
            for key, value in (
                ("loss", loss_sum / len(x_train)),
                ("accuracy", correct / len(x_train)),
                ("val_loss", val_loss),
                ("val_accuracy", val_accuracy),
                ("learning_rate", rate),
                ("epoch_seconds", seconds),
            ):
                history[key].append(float(value))
            if history["best_val_accuracy"] is None or val_accuracy > history["best_val_accuracy"]:
                history["best_epoch"], history["best_val_accuracy"] = epoch, float(val_accuracy)
                if config["restore_best"]:
                    best_state = copy.deepcopy(model.state_dict())
            history["epochs_run"] = epoch + 1
            eta = (time.perf_counter() - started) / (epoch + 1 - first_epoch) * (epochs - epoch - 1)
            logger.info(
                "surrogate: epoch %d/%d loss=%.4f accuracy=%.4f val_loss=%.4f val_accuracy=%.4f "
                "lr=%.2g (%s, ETA %s)",
                epoch + 1, epochs, history["loss"][-1], history["accuracy"][-1], val_loss,
                val_accuracy, rate, format_duration(seconds), format_duration(eta),
            )  # fmt: skip
            if folder is not None:
                _save_training_state(
                    folder, model, optimizer, generator, best_state, history,
                    seconds_before + time.perf_counter() - started,
                )  # fmt: skip
    if best_state is not None:
        model.load_state_dict(best_state)
        logger.info(
            "surrogate: restored epoch %d (val_accuracy %.4f) of %d",
            history["best_epoch"] + 1, history["best_val_accuracy"], epochs,
        )  # fmt: skip
    history["train_seconds"] = float(seconds_before + time.perf_counter() - started)
    if folder is not None:
        shutil.rmtree(folder, ignore_errors=True)
    return model.cpu().eval(), history


# Keys of the history that grow with the epochs (saved with the resume state).
_HISTORY_PER_EPOCH = ("loss", "accuracy", "val_loss", "val_accuracy", "learning_rate")


def _save_training_state(
    folder: Path,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    generator: torch.Generator,
    best_state: dict[str, torch.Tensor] | None,
    history: dict[str, Any],
    train_seconds: float,
) -> None:
    """Everything the next epoch depends on, after a finished epoch (atomically replaced)."""
    state = {
        "epochs_done": int(history["epochs_run"]),
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "generator": generator.get_state(),
        "torch_rng": torch.get_rng_state(),
        # Only a run that uses CUDA has CUDA random state; asking a CPU run would start CUDA.
        "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else None,
        "best_state": best_state,
        "history": {
            key: history[key]
            for key in (*_HISTORY_PER_EPOCH, "epoch_seconds", "epochs_run", "best_epoch")
        }
        | {"best_val_accuracy": history["best_val_accuracy"]},
        "train_seconds": float(train_seconds),
    }
    atomic_write(folder / "epoch.pt", lambda stream: torch.save(state, stream))


def _load_training_state(folder: Path | None) -> dict[str, Any] | None:
    if folder is None or not (folder / "epoch.pt").is_file():
        return None
    return torch.load(folder / "epoch.pt", map_location="cpu", weights_only=True)
