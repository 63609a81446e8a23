"""Node builders shared by the stages: predictions once per (model, image set), APGD attacks."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial, update_wrapper
from typing import Any

from kedro.pipeline import Node

from logifold_kedro.pipelines.naming import (
    apgd_source,
    image_set,
    member_id,
    model_entry,
    probs_entry,
)

TF_TAGS = ("tensorflow", "gpu")


def named_partial(func: Callable, **kwargs: Any) -> Callable:
    """A partial that keeps the function's name, for readable nodes in logs and kedro-viz."""
    return update_wrapper(partial(func, **kwargs), func)


def predict_image_sets(
    model: Any, recipe: dict[str, Any], *image_sets: dict[str, Any]
) -> list[dict[str, Any]]:
    """Softmax outputs of one model on each image set: computed once, stored, reused by every
    entropy, threshold, core and IMM number."""
    from logifold_kedro.tf_lib.training import predict_probabilities

    batch_size = int(recipe.get("predict_batch_size", 256))
    outputs = []
    for images in image_sets:
        probs = predict_probabilities(model, images["x"], batch_size)
        outputs.append({"probs": probs, "model": model.name, "image_set": images.get("name", "")})
    return outputs


def predict_node(
    committee: str,
    base_name: str,
    image_sets: Sequence[str],
    recipe_param: str,
    suffix: str,
) -> Node:
    """One node: a model's probabilities on several image sets (one model load)."""
    model_id = member_id(committee, base_name)
    return Node(
        predict_image_sets,
        inputs=[model_entry(committee, base_name), recipe_param, *image_sets],
        outputs=[probs_entry(model_id, s) for s in image_sets],
        name=f"predict_{model_id}_{suffix}",
        tags=[*TF_TAGS, "predictions"],
    )


def apgd_node(target: str, member_models: Sequence[str], setting: str, split: str) -> Node:
    """APGD-CE of one setting against the committee of `member_models` on one split."""
    from logifold_kedro.pipelines.art_attacks.nodes import apgd_against_committee

    output = image_set(apgd_source(target, setting), split)
    return Node(
        named_partial(
            apgd_against_committee, target=target, setting_name=setting, output_name=output
        ),
        inputs=[image_set("clean", split), f"params:apgd.{setting}", "params:seed", *member_models],
        outputs=output,
        name=f"apgd_{setting}_vs_{target}_{split}",
        tags=[*TF_TAGS, "attack"],
    )
