"""The two published AutoAttack packages behind one call (docs/stack.md, trap 1).

- GitHub ``fra31/auto-attack``, module ``autoattack``: ``AutoAttack(model, norm=, eps=, seed=,
  verbose=, attacks_to_run=, version=, device=)`` and ``run_standard_evaluation(x, y, bs=)``
  returning the adversarial images (a tuple with the labels when ``return_labels=True``).
- PyPI ``pyautoattack``: ``AutoAttack(model, *, norm, eps, version, seed, device, attacks)``
  and ``run_standard_evaluation(x, y, *, batch_size)`` returning ``(x_adv, y_adv)``.

``autoattack_class`` picks the real ``autoattack`` when it is installed (not our alias of
``pyautoattack``, see ``robustbench_compat``), else ``pyautoattack``; ``attack_chunk`` runs one
AutoAttack call through whichever API the class has.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import inspect
import sys
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from logifold_kedro.torch_lib.robustbench_compat import ALIAS_NAME, ALIAS_TARGET

if TYPE_CHECKING:
    from logifold_kedro.torch_lib.autoattack_batches import AttackBatches


def autoattack_class() -> tuple[type, str]:
    """The AutoAttack class to use and its package: ``"autoattack"`` (GitHub) or ``"pyautoattack"``.

    The GitHub package wins when it is really installed; a module named ``autoattack`` that is
    our alias of pyautoattack counts as pyautoattack.
    """
    module = sys.modules.get(ALIAS_NAME)
    if module is None:
        try:
            module = importlib.import_module(ALIAS_NAME)
        except ModuleNotFoundError as error:
            if error.name != ALIAS_NAME:
                raise
            module = None
    if module is not None and getattr(module, "__name__", None) != ALIAS_TARGET:
        return module.AutoAttack, ALIAS_NAME
    try:
        module = importlib.import_module(ALIAS_TARGET)
    except ModuleNotFoundError as error:
        raise ImportError(
            "AutoAttack is not installed: pip install pyautoattack==0.2.0 (or the GitHub "
            "package: pip install git+https://github.com/fra31/auto-attack)"
        ) from error
    return module.AutoAttack, ALIAS_TARGET


def uses_keyword_api(attack_class: type) -> bool:
    """True for pyautoattack's API (``attacks=``); False for GitHub's (``attacks_to_run=``)."""
    parameters = inspect.signature(attack_class.__init__).parameters
    if "attacks" in parameters:
        return True
    if "attacks_to_run" in parameters:
        return False
    raise TypeError(
        f"{attack_class.__module__}.AutoAttack takes neither 'attacks' nor 'attacks_to_run'; "
        "unknown AutoAttack API"
    )


def attack_chunk(
    attack_class: type,
    model: nn.Module,
    x_nchw: torch.Tensor,
    y: torch.Tensor,
    *,
    norm: str,
    eps: float,
    version: str,
    seed: int,
    batch_size: int,
    attacks: list[str] | None,
    device: str,
    batches: AttackBatches | None = None,
) -> torch.Tensor:
    """One AutoAttack run on a chunk, through whichever API ``attack_class`` has.

    ``batches`` (when given) sees every attack batch: it answers those saved by an earlier run
    and saves the others (module docstring, "Resuming").
    """
    if uses_keyword_api(attack_class):
        adversary = attack_class(
            model, norm=norm, eps=eps, version=version, seed=seed, device=device, attacks=attacks
        )
        if batches is not None:
            batches.intercept(adversary)
        x_adv, _ = adversary.run_standard_evaluation(x_nchw, y, batch_size=batch_size)
        return x_adv
    parameters = inspect.signature(attack_class.__init__).parameters
    kwargs: dict[str, Any] = {"norm": norm, "eps": eps, "version": version, "device": device}
    if "seed" in parameters:
        kwargs["seed"] = seed
    if "verbose" in parameters:
        kwargs["verbose"] = False  # its Logger prints to stdout; we report progress instead
    if attacks is not None:
        kwargs["attacks_to_run"] = list(attacks)
    adversary = attack_class(model, **kwargs)
    if "seed" not in parameters:
        adversary.seed = seed
    if batches is not None:
        batches.intercept(adversary)
    result = adversary.run_standard_evaluation(x_nchw, y, bs=batch_size)
    return result[0] if isinstance(result, tuple | list) else result


def package_version(package: str) -> str:
    """The installed version of ``package`` (its ``__version__`` when it has no metadata)."""
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return str(getattr(sys.modules.get(package), "__version__", "unknown"))
