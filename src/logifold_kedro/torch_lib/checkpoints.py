"""The surrogate's checkpoint in robustbench's layout: where it lies, saving and loading it.

Checkpoint layout (docs/stack.md, trap 3): ``<model_dir>/<dataset>/<threat_model>/<name>.pt``
holding ``{"state_dict": ...}``, read by ``robustbench.utils.load_model`` with
``map_location="cpu"``.
``load_model`` downloads from Google Drive when the file is missing; ``load_surrogate`` checks the
file first so an offline machine gets a clear FileNotFoundError instead of a network error.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import torch
from torch import nn

from logifold_kedro.torch_lib.resume import atomic_write
from logifold_kedro.torch_lib.robustbench_compat import ensure_autoattack_module

logger = logging.getLogger(__name__)

# robustbench.utils.rm_substr_from_state_dict strips these from keys (see _check_state_dict_keys).
_ROBUSTBENCH_STRIPPED = ("module.", "model.")

# The model name stays quoted: callers substitute their own for 'Standard'.
OBTAIN_STANDARD_HINT = (
    "On a machine with internet access run, from the project root,\n"
    "  python -m logifold_kedro.torch_lib.fetch_surrogate --model-name 'Standard' "
    "--model-dir data/01_raw/robustbench\n"
    "then copy the downloaded file to the path above."
)


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

    The file is written under a partial name and renamed (`resume.atomic_write`), so an
    interrupted save leaves no half-written checkpoint. Returns the checkpoint path.
    """
    target = checkpoint_path(model_dir, name, dataset, threat_model)
    state_dict = {key: value.detach().cpu() for key, value in _unwrap(model).state_dict().items()}
    _check_state_dict_keys(list(state_dict))
    target.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(target, lambda stream: torch.save({"state_dict": state_dict}, stream))
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
