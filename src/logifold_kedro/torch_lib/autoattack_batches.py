"""AutoAttack's saved work: every attack batch of the chunk being attacked, and finished chunks.

`AttackBatches` sits between AutoAttack's loop and its attack objects: each ``perturb`` call
(one batch of APGD-CE, APGD-T, FAB-T or Square on up to ``batch_size`` still-robust images) is
answered from a saved output when an earlier run saved one for the same attack, call number and
images, and is otherwise attacked and saved before it is used. A finished chunk's adversarial
images and robust flags are one ``.npz`` (``save_chunk`` / ``load_chunk``). See
`torch_lib.autoattack_adapter` ("Resuming") for why AutoAttack's loop stays in charge.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from logifold_kedro.progress import ProgressReporter, use_progress_bar
from logifold_kedro.torch_lib.resume import atomic_write, digest_arrays

# The adapter's logger: these lines belong to its run.
logger = logging.getLogger("logifold_kedro.torch_lib.autoattack_adapter")

# AutoAttack's attack objects (attribute of the AutoAttack instance) whose batches are saved.
ATTACK_ATTRIBUTES = ("apgd", "apgd_targeted", "fab", "square")


def _attack_name(attribute: str, attack: Any) -> str:
    """The AutoAttack name of the run an attack object is about to do (its loop sets loss and
    targeted on the shared APGD and FAB objects before each call)."""
    if attribute == "apgd":
        return "apgd-dlr" if getattr(attack, "loss", "ce") == "dlr" else "apgd-ce"
    if attribute == "apgd_targeted":
        return "apgd-t"
    if attribute == "fab":
        return "fab-t" if getattr(attack, "targeted", False) else "fab"
    return "square"


class AttackBatches:
    """The attack batches of one chunk: saved outputs, progress per attack, robust count.

    ``intercept(adversary)`` routes each attack object's ``perturb`` through ``perturb``: a
    batch saved in ``folder`` by an earlier run (same attack, same call number, same images)
    returns its saved output; any other is attacked and its output saved before it is used.
    """

    def __init__(
        self,
        model: nn.Module,
        folder: Path | None,
        label: str,
        robust: int,
        total: int,
        batch_size: int,
    ) -> None:
        self.model = model
        self.folder = folder
        self.label = label
        self.robust = robust
        self.total = total
        self.batch_size = batch_size
        self.calls: dict[str, int] = {}
        self.attacked = 0
        self.replayed = 0
        self._attack: str | None = None
        self._progress: ProgressReporter | None = None
        if folder is not None:
            folder.mkdir(parents=True, exist_ok=True)

    def intercept(self, adversary: Any) -> None:
        for attribute in ATTACK_ATTRIBUTES:
            attack = getattr(adversary, attribute, None)
            if attack is not None and callable(getattr(attack, "perturb", None)):
                attack.perturb = self._wrap(attribute, attack, attack.perturb)

    def _wrap(self, attribute: str, attack: Any, perturb: Callable[..., Any]) -> Callable:
        def perturb_saved(x: torch.Tensor, y: torch.Tensor, *args: Any, **kwargs: Any) -> Any:
            return self.perturb(_attack_name(attribute, attack), perturb, x, y, *args, **kwargs)

        return perturb_saved

    def perturb(
        self, name: str, perturb: Callable[..., Any], x: torch.Tensor, y: torch.Tensor,
        *args: Any, **kwargs: Any,
    ) -> torch.Tensor:  # fmt: skip
        self._start_attack(name)
        call = self.calls.get(name, 0)
        self.calls[name] = call + 1
        path = None if self.folder is None else self.folder / f"{name}_{call:05d}.pt"
        inputs = "" if path is None else digest_arrays(x, y)
        x_adv = self._saved(path, inputs)
        if x_adv is None:
            x_adv = perturb(x, y, *args, **kwargs)
            self.attacked += 1
            if path is not None:
                record = {"inputs": inputs, "x_adv": x_adv.detach().cpu()}
                atomic_write(path, lambda stream: torch.save(record, stream))
        else:
            x_adv = x_adv.to(device=x.device, dtype=x.dtype)
            self.replayed += 1
        with torch.no_grad():
            fooled = int((self.model(x_adv).argmax(1) != y.to(x_adv.device)).sum())
        self.robust -= fooled
        if self._progress is not None:
            self._progress.update(1, robust_accuracy=self.robust_accuracy())
        return x_adv

    @staticmethod
    def _saved(path: Path | None, inputs: str) -> torch.Tensor | None:
        if path is None or not path.is_file():
            return None
        record = torch.load(path, map_location="cpu", weights_only=True)
        if record.get("inputs") != inputs:
            logger.info(
                "AutoAttack: saved batch %s was made from other images; attacking anew", path
            )
            return None
        return record["x_adv"]

    def robust_accuracy(self) -> str:
        return f"{self.robust / self.total:.1%}" if self.total else "n/a"

    def _start_attack(self, name: str) -> None:
        if name == self._attack:
            return
        self.close()
        self._attack = name
        batches = max(1, math.ceil(self.robust / self.batch_size))
        if not use_progress_bar():
            logger.info(
                "AutoAttack %s: %s on %d still-robust images (robust accuracy of the chunk %s)",
                self.label, name.upper(), self.robust, self.robust_accuracy(),
            )  # fmt: skip
        self._progress = ProgressReporter(
            batches, f"AutoAttack {self.label} {name.upper()}", unit="batch", logger=logger
        )

    def close(self) -> None:
        if self._progress is not None:
            self._progress.close()
            self._progress = None


def correct_mask(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int) -> np.ndarray:
    """Which images of a chunk the model classifies correctly (batch by batch, on its device)."""
    device = next(iter(model.parameters()), torch.empty(0)).device
    correct = []
    with torch.no_grad():
        for start in range(0, len(x), batch_size):
            logits = model(x[start : start + batch_size].to(device))
            correct.append((logits.argmax(1) == y[start : start + batch_size].to(device)).cpu())
    return torch.cat(correct).numpy() if correct else np.zeros(0, dtype=bool)


def save_chunk(path: Path, x_adv_nhwc: np.ndarray, robust: np.ndarray) -> None:
    atomic_write(path, lambda stream: np.savez(stream, x_adv=x_adv_nhwc, robust=robust))


def load_chunk(path: Path, count: int) -> tuple[np.ndarray, np.ndarray] | None:
    """A finished chunk's (adversarial images, robust flags), or None if absent or unreadable."""
    if not path.is_file():
        return None
    try:
        with np.load(path) as saved:
            x_adv, robust = saved["x_adv"], saved["robust"]
    except (OSError, ValueError, KeyError) as error:
        logger.info("AutoAttack: saved chunk %s is unreadable (%s); attacking it anew", path, error)
        return None
    if len(x_adv) != count or len(robust) != count:
        return None
    return x_adv, robust
