"""The RobustBench surrogate: training at CPU scale, saving and loading in robustbench's layout.

Images arrive as the catalog holds them, float32 NHWC in [0, 1]; they become NCHW tensors here,
inside the functions. RobustBench models take NCHW input in [0, 1] (any normalisation is part of
the model; the `Standard` WideResNet-28-10 has none) and return logits.

Checkpoint layout (docs/stack.md, trap 3): ``<model_dir>/<dataset>/<threat_model>/<name>.pt``
holding ``{"state_dict": ...}``, read by ``robustbench.utils.load_model`` with
``map_location="cpu"``.
``load_model`` downloads from Google Drive when the file is missing; ``load_surrogate`` checks the
file first so an offline machine gets a clear FileNotFoundError instead of a network error.

Training (``train_surrogate``): mini-batch SGD (momentum, optional Nesterov) or Adam on the mean
cross-entropy; learning-rate schedule ``[[e, lr], ...]``: the rate becomes ``lr`` for 0-based
epochs ``i > e`` (as in ``tf_lib.training``); optional augmentation per image: a random
translation by whole pixels of up to ``width_shift``·W and ``height_shift``·H with nearest
(edge) fill, and a horizontal flip with probability 1/2. Shuffling and augmentation draw from
one ``torch.Generator`` seeded with ``seed``: the same seed gives the same run. The weights of
the epoch with the best validation accuracy are restored at the end (``restore_best``).

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
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from logifold_kedro.progress import ProgressReporter, format_duration
from logifold_kedro.torch_lib.resume import (
    atomic_write,
    digest_arrays,
    open_state_folder,
    weights_digest,
)
from logifold_kedro.torch_lib.robustbench_compat import ensure_autoattack_module
from logifold_kedro.torch_lib.setup import resolve_device

logger = logging.getLogger(__name__)

RECIPE_DEFAULTS: dict[str, Any] = {
    "epochs": 0,
    "batch_size": 64,
    "optimizer": "sgd",
    "learning_rate": 0.01,
    "momentum": 0.9,
    "nesterov": False,
    "weight_decay": 0.0,
    "lr_schedule": [],
    "augment": None,
    "restore_best": True,
    "log_every_batches": None,
    "eval_batch_size": 256,
    "device": "cpu",
}
OPTIMIZERS = ("sgd", "adam")
# Bumped when the layout of the resume state changes, so older state is not misread.
TRAINING_STATE_FORMAT = 1
AUGMENT_KEYS = ("width_shift", "height_shift", "horizontal_flip")
# robustbench.utils.rm_substr_from_state_dict strips these from keys (see _check_state_dict_keys).
_ROBUSTBENCH_STRIPPED = ("module.", "model.")

# The model name stays quoted: callers substitute their own for 'Standard'.
OBTAIN_STANDARD_HINT = (
    "On a machine with internet access run, from the project root,\n"
    "  python -m logifold_kedro.torch_lib.fetch_surrogate --model-name 'Standard' "
    "--model-dir data/01_raw/robustbench\n"
    "then copy the downloaded file to the path above."
)


def to_nchw_tensor(x_nhwc: np.ndarray) -> torch.Tensor:
    """float32 NHWC numpy images -> contiguous float32 NCHW torch tensor (a copy)."""
    return (
        torch.from_numpy(np.ascontiguousarray(x_nhwc, dtype=np.float32))
        .permute(0, 3, 1, 2)
        .contiguous()
    )


def to_nhwc_array(x_nchw: torch.Tensor) -> np.ndarray:
    """NCHW torch tensor -> float32 NHWC numpy array (on the CPU)."""
    return np.ascontiguousarray(x_nchw.detach().cpu().permute(0, 2, 3, 1).numpy(), dtype=np.float32)


def check_images(x: np.ndarray, y: np.ndarray | None, name: str) -> None:
    """Raise ValueError unless x is float32 NHWC (3 channels) in [0, 1] and y int labels (N,)."""
    if not isinstance(x, np.ndarray) or x.ndim != 4 or x.shape[-1] != 3:
        shape = getattr(x, "shape", None)
        raise ValueError(
            f"{name}: images must be a numpy array (N, H, W, 3) NHWC, got shape {shape}; "
            "the catalog holds NHWC, the transpose to NCHW happens inside torch_lib"
        )
    if x.dtype != np.float32:
        raise ValueError(f"{name}: images must be float32 in [0, 1], got dtype {x.dtype}")
    if x.size and (float(x.min()) < 0.0 or float(x.max()) > 1.0):
        raise ValueError(
            f"{name}: pixel values must lie in [0, 1], got [{x.min():.4f}, {x.max():.4f}]"
        )
    if y is not None:
        if not isinstance(y, np.ndarray) or y.shape != (x.shape[0],):
            raise ValueError(
                f"{name}: labels must be an array of shape ({x.shape[0]},), got "
                f"{getattr(y, 'shape', type(y).__name__)}"
            )
        if not np.issubdtype(y.dtype, np.integer):
            raise ValueError(f"{name}: labels must be integer class indices, got {y.dtype}")


def predict_logits(
    model: nn.Module, x_nhwc: np.ndarray, batch_size: int = 256, device: str = "cpu"
) -> np.ndarray:
    """Logits (N, classes) of ``model`` in eval mode on float32 NHWC images, batch by batch."""
    device = resolve_device(device)
    was_training = model.training
    model.eval().to(device)
    outputs = []
    try:
        with torch.no_grad():
            for start in range(0, len(x_nhwc), int(batch_size)):
                batch = to_nchw_tensor(x_nhwc[start : start + int(batch_size)]).to(device)
                outputs.append(model(batch).float().cpu().numpy())
    finally:
        model.train(was_training)
    if not outputs:
        return np.zeros((0, 0), dtype=np.float32)
    return np.concatenate(outputs)


def checkpoint_path(
    model_dir: str | os.PathLike, name: str, dataset: str = "cifar10", threat_model: str = "L2"
) -> Path:
    """Where ``load_model`` reads a model: ``<model_dir>/<dataset>/<threat_model>/<name>.pt``."""
    return Path(model_dir) / dataset / threat_model / f"{name}.pt"


def _unwrap(model: nn.Module) -> nn.Module:
    """The module inside DataParallel / DistributedDataParallel (their keys carry 'module.')."""
    while isinstance(model, nn.DataParallel | nn.parallel.DistributedDataParallel):
        model = model.module
    return model


def _check_state_dict_keys(keys: list[str]) -> None:
    """Refuse keys that robustbench's loader would rewrite.

    ``rm_substr_from_state_dict`` removes the first ``len("module.")`` characters of every key
    that *contains* ``module.`` (and then the same for ``model.``), wherever the substring is.
    """
    rewritten = [key for key in keys if any(part in key for part in _ROBUSTBENCH_STRIPPED)]
    if rewritten:
        raise ValueError(
            "robustbench.utils.load_model would rewrite these state_dict keys (it strips "
            f"'module.'/'model.' from any key containing them): {rewritten[:5]}. Use a model "
            "without submodules named 'module' or 'model' (e.g. a zoo architecture)."
        )


def save_for_robustbench(
    model: nn.Module,
    model_dir: str | os.PathLike,
    name: str,
    dataset: str = "cifar10",
    threat_model: str = "L2",
) -> Path:
    """Write ``{"state_dict": ...}`` (CPU tensors) where ``load_model`` reads ``name``.

    The file is written to a temporary name and renamed, so an interrupted save leaves no
    half-written checkpoint. Returns the checkpoint path.
    """
    target = checkpoint_path(model_dir, name, dataset, threat_model)
    state_dict = {key: value.detach().cpu() for key, value in _unwrap(model).state_dict().items()}
    _check_state_dict_keys(list(state_dict))
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=target.parent)
    os.close(handle)
    try:
        torch.save({"state_dict": state_dict}, temporary)
        os.replace(temporary, target)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)
    logger.info("saved %s (%d tensors) to %s", name, len(state_dict), target)
    return target


def load_surrogate(
    model_dir: str | os.PathLike, name: str, dataset: str = "cifar10", threat_model: str = "L2"
) -> nn.Module:
    """``robustbench.utils.load_model(name, model_dir, dataset, threat_model)``, offline-safe.

    ``name`` must be an official zoo model or registered with ``register_zoo_model``.

    Raises:
        FileNotFoundError: the checkpoint is missing (names the path and how to get it); raised
            before robustbench is asked, so it never tries a download.
    """
    path = checkpoint_path(model_dir, name, dataset, threat_model)
    if not path.is_file():
        hint = OBTAIN_STANDARD_HINT.replace("'Standard'", repr(name))
        if name != "Standard":
            hint += (
                f"\n(For a model of this project's own, {name!r}, run the node that trains and "
                "saves it: the torch_attacks pipeline's fit_surrogate.)"
            )
        raise FileNotFoundError(
            f"RobustBench checkpoint of {name!r} ({dataset}, {threat_model}) not found at "
            f"{path}. robustbench.utils.load_model would try to download it from Google Drive, "
            f"which is not reachable offline.\n{hint}"
        )
    ensure_autoattack_module()
    from robustbench.utils import load_model

    model = load_model(name, model_dir=str(model_dir), dataset=dataset, threat_model=threat_model)
    logger.info("loaded RobustBench model %s from %s", name, path)
    return model.eval()


def check_recipe_numbers(epochs: int, batch_size: int, learning_rate: float) -> None:
    """Raise ValueError unless epochs >= 0, batch_size >= 1 and, when epochs > 0, lr > 0.

    With 0 epochs nothing is trained (a pretrained surrogate passes through), so the learning
    rate is never used and any value, 0 included, is accepted.
    """
    if epochs < 0 or batch_size < 1 or (epochs > 0 and learning_rate <= 0):
        raise ValueError(
            "surrogate recipe needs epochs >= 0, batch_size >= 1 and, to train (epochs > 0), "
            f"learning_rate > 0; got epochs={epochs}, batch_size={batch_size}, "
            f"learning_rate={learning_rate}"
        )


def parse_surrogate_recipe(recipe: dict[str, Any] | None) -> dict[str, Any]:
    """The recipe with defaults filled in and checked (see ``RECIPE_DEFAULTS`` for the keys).

    ``learning_rate`` must be positive only when the recipe trains (``epochs > 0``).
    """
    recipe = dict(recipe or {})
    unknown = sorted(set(recipe) - set(RECIPE_DEFAULTS))
    if unknown:
        logger.warning(
            "surrogate recipe keys %s are not used (known: %s)", unknown, sorted(RECIPE_DEFAULTS)
        )
    merged = {**RECIPE_DEFAULTS, **{k: v for k, v in recipe.items() if k in RECIPE_DEFAULTS}}
    merged["epochs"] = int(merged["epochs"])
    merged["batch_size"] = int(merged["batch_size"])
    merged["learning_rate"] = float(merged["learning_rate"])
    merged["optimizer"] = str(merged["optimizer"]).lower()
    check_recipe_numbers(merged["epochs"], merged["batch_size"], merged["learning_rate"])
    if merged["optimizer"] not in OPTIMIZERS:
        raise ValueError(
            f"surrogate optimizer must be one of {OPTIMIZERS}, got {recipe['optimizer']!r}"
        )
    schedule = []
    for entry in merged["lr_schedule"] or []:
        if not isinstance(entry, list | tuple) or len(entry) != 2:
            raise ValueError(f"lr_schedule entries must be [epoch, lr] pairs, got {entry!r}")
        schedule.append([int(entry[0]), float(entry[1])])
    if [epoch for epoch, _ in schedule] != sorted({epoch for epoch, _ in schedule}):
        raise ValueError(f"lr_schedule epochs must be strictly increasing, got {schedule}")
    merged["lr_schedule"] = schedule
    augment = merged["augment"] or {}
    if not isinstance(augment, dict) or set(augment) - set(AUGMENT_KEYS):
        raise ValueError(
            "surrogate 'augment' must be null or a dict with width_shift, height_shift "
            f"(fractions in [0, 1)) and horizontal_flip (bool); got {augment!r}"
        )
    merged["augment"] = {
        "width_shift": float(augment.get("width_shift") or 0.0),
        "height_shift": float(augment.get("height_shift") or 0.0),
        "horizontal_flip": bool(augment.get("horizontal_flip") or False),
    }
    for key in ("width_shift", "height_shift"):
        if not 0.0 <= merged["augment"][key] < 1.0:
            raise ValueError(f"augment {key} must be a fraction in [0, 1), got {augment[key]!r}")
    return merged


def learning_rate_at(epoch: int, learning_rate: float, lr_schedule: list[list[float]]) -> float:
    """Learning rate of 0-based ``epoch``: the lr of the last entry [e, lr] with e < epoch."""
    rate = learning_rate
    for after_epoch, scheduled in lr_schedule:
        if epoch > after_epoch:
            rate = scheduled
    return float(rate)


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
    check_images(train["x"], train["y"], "train")
    check_images(val["x"], val["y"], "val")
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

    if history["train_size"] == 0 or history["val_size"] == 0:
        raise ValueError(
            f"training the surrogate needs non-empty train and val sets, got "
            f"{history['train_size']} and {history['val_size']} images"
        )
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
