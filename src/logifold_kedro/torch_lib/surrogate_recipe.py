"""The surrogate's training recipe: defaults, checks, normalised values (no framework here).

The numbers, the optimizer and the schedule are checked by the ``surrogate`` group of
`parameter_checks` (the model the run's parameter check applies to ``params:surrogate``), so a
recipe handed to `torch_lib.surrogate.train_surrogate` directly is held to the same rules; the
augmentation, which that group does not cover, is checked here.
"""

from __future__ import annotations

import logging
from typing import Any

from pydantic import ValidationError

from logifold_kedro.parameter_checks import ProjectParameters, describe_errors

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
AUGMENT_KEYS = ("width_shift", "height_shift", "horizontal_flip")


def check_surrogate_recipe(recipe: dict[str, Any]) -> None:
    """Raise ValueError unless `recipe` passes `parameter_checks.Surrogate`.

    That is: epochs >= 0, batch_size >= 1, optimizer sgd or adam, lr_schedule [epoch >= 0,
    lr > 0] pairs with increasing epochs, and, when epochs > 0, learning_rate > 0. With 0 epochs
    nothing is trained (a pretrained surrogate passes through), so the learning rate is never
    used and any value >= 0 is accepted. The message has one line per problem, keyed as in the
    parameters (``surrogate.<key>``).
    """
    params = {"surrogate": recipe}
    try:
        ProjectParameters.model_validate(params)
    except ValidationError as error:
        problems = "\n".join(describe_errors(error, params))
        raise ValueError(f"the surrogate recipe cannot be trained with:\n{problems}") from None


def _checked_augment(augment: Any) -> dict[str, Any]:
    """The augmentation as ``{width_shift, height_shift: fractions in [0, 1), horizontal_flip}``."""
    augment = augment or {}
    if not isinstance(augment, dict) or set(augment) - set(AUGMENT_KEYS):
        raise ValueError(
            "surrogate 'augment' must be null or a dict with width_shift, height_shift "
            f"(fractions in [0, 1)) and horizontal_flip (bool); got {augment!r}"
        )
    checked = {
        "width_shift": float(augment.get("width_shift") or 0.0),
        "height_shift": float(augment.get("height_shift") or 0.0),
        "horizontal_flip": bool(augment.get("horizontal_flip") or False),
    }
    for key in ("width_shift", "height_shift"):
        if not 0.0 <= checked[key] < 1.0:
            raise ValueError(f"augment {key} must be a fraction in [0, 1), got {augment[key]!r}")
    return checked


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
    merged["lr_schedule"] = merged["lr_schedule"] or []  # YAML's empty `lr_schedule:` is null
    check_surrogate_recipe(merged)
    merged["epochs"] = int(merged["epochs"])
    merged["batch_size"] = int(merged["batch_size"])
    merged["learning_rate"] = float(merged["learning_rate"])
    merged["optimizer"] = str(merged["optimizer"]).lower()
    merged["lr_schedule"] = [[int(epoch), float(rate)] for epoch, rate in merged["lr_schedule"]]
    merged["augment"] = _checked_augment(merged["augment"])
    return merged
