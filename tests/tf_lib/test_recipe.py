"""Tests of parse_recipe: the training recipe's checks and its augmentation."""

from __future__ import annotations

import pytest

from logifold_kedro.tf_lib.recipe import parse_recipe


@pytest.mark.parametrize(
    ("recipe", "message"),
    [
        ({"epochs": 1, "batch_size": 8}, "lacks \\['learning_rate'\\]"),
        ({"epochs": 0, "batch_size": 8, "learning_rate": 1e-3}, "epochs and batch_size"),
        ({"epochs": 1, "batch_size": 8, "learning_rate": 1e-3, "lr_schedule": [[5]]}, "pairs"),
        (
            {"epochs": 1, "batch_size": 8, "learning_rate": 1e-3, "lr_schedule": [[5, 1], [2, 1]]},
            "strictly increasing",
        ),
        ({"epochs": 1, "batch_size": 8, "learning_rate": 1e-3, "augment": "yes"}, "augment"),
        (
            {"epochs": 1, "batch_size": 8, "learning_rate": 1e-3, "augment": {"zoom": 0.1}},
            "unknown keys",
        ),
        (
            {"epochs": 1, "batch_size": 8, "learning_rate": 1e-3, "augment": {"width_shift": 2}},
            "fraction",
        ),
    ],
)
def test_bad_recipes_raise_clear_errors(recipe, message):
    with pytest.raises(ValueError, match=message):
        parse_recipe(recipe)


def test_recipe_without_augmentation_values_means_none():
    base = {"epochs": 1, "batch_size": 8, "learning_rate": 1e-3}
    for augment in (None, False, {}, {"width_shift": 0, "horizontal_flip": False}):
        assert not parse_recipe({**base, "augment": augment}).augmentation.active
