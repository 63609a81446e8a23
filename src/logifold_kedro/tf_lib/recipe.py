"""The training recipe of `tf_lib.training`: its keys, their checks, and the typed result.

A recipe dict (``training_recipe`` / ``specialist_recipe`` in the parameters) holds ``epochs``,
``batch_size``, ``learning_rate``, an optional ``lr_schedule`` ``[[e, lr], ...]`` (the rate
becomes ``lr`` after epoch ``e``, `schedules.learning_rate_at`), ``augment`` (a random
translation by up to ``width_shift`` x W and ``height_shift`` x H pixels and a horizontal flip)
or null, ``log_every_batches`` and ``predict_batch_size`` (the validation batch size). No
framework is imported here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

REQUIRED_RECIPE_KEYS = ("epochs", "batch_size", "learning_rate")


@dataclass(frozen=True)
class Augmentation:
    """Random translation (fractions of the image size) and horizontal flip."""

    width_shift: float = 0.0
    height_shift: float = 0.0
    horizontal_flip: bool = False

    @property
    def active(self) -> bool:
        return self.width_shift > 0 or self.height_shift > 0 or self.horizontal_flip


@dataclass(frozen=True)
class Recipe:
    """A validated training recipe (see the module docstring for the meaning of each field)."""

    epochs: int
    batch_size: int
    learning_rate: float
    lr_schedule: tuple[tuple[int, float], ...]
    augmentation: Augmentation
    log_every_batches: int | None
    validation_batch_size: int


def parse_augmentation(config: dict[str, Any] | bool | None) -> Augmentation:
    """``None``/``False``/``{}`` mean no augmentation; a dict gives the shifts and the flip."""
    if config is None or config is False:
        return Augmentation()
    if not isinstance(config, dict):
        raise ValueError(
            "recipe 'augment' must be null/false or a dict with width_shift, height_shift, "
            f"horizontal_flip; got {config!r}"
        )
    unknown = set(config) - {"width_shift", "height_shift", "horizontal_flip"}
    if unknown:
        raise ValueError(f"recipe 'augment' has unknown keys {sorted(unknown)}")
    augmentation = Augmentation(
        width_shift=float(config.get("width_shift") or 0.0),
        height_shift=float(config.get("height_shift") or 0.0),
        horizontal_flip=bool(config.get("horizontal_flip") or False),
    )
    for name in ("width_shift", "height_shift"):
        if not 0.0 <= getattr(augmentation, name) < 1.0:
            raise ValueError(f"augment {name} must be a fraction in [0, 1), got {config[name]!r}")
    return augmentation


def parse_recipe(recipe: dict[str, Any]) -> Recipe:
    """Check a recipe dict and return it typed; errors name the offending key."""
    missing = [key for key in REQUIRED_RECIPE_KEYS if key not in recipe]
    if missing:
        raise ValueError(f"training recipe lacks {missing}; it has {sorted(recipe)}")
    epochs, batch_size = int(recipe["epochs"]), int(recipe["batch_size"])
    learning_rate = float(recipe["learning_rate"])
    if epochs < 1 or batch_size < 1 or learning_rate <= 0:
        raise ValueError(
            "recipe epochs and batch_size must be >= 1 and learning_rate > 0; got "
            f"epochs={epochs}, batch_size={batch_size}, learning_rate={learning_rate}"
        )
    schedule = []
    for entry in recipe.get("lr_schedule") or []:
        if not isinstance(entry, (list, tuple)) or len(entry) != 2:
            raise ValueError(f"lr_schedule entries must be [epoch, lr] pairs, got {entry!r}")
        schedule.append((int(entry[0]), float(entry[1])))
    if [epoch for epoch, _ in schedule] != sorted({epoch for epoch, _ in schedule}):
        raise ValueError(f"lr_schedule epochs must be strictly increasing, got {schedule}")
    log_every = recipe.get("log_every_batches")
    validation_batch_size = recipe.get("predict_batch_size") or max(batch_size, 256)
    return Recipe(
        epochs=epochs,
        batch_size=batch_size,
        learning_rate=learning_rate,
        lr_schedule=tuple(schedule),
        augmentation=parse_augmentation(recipe.get("augment")),
        log_every_batches=int(log_every) if log_every else None,
        validation_batch_size=int(validation_batch_size),
    )
