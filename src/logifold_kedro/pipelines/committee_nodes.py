"""Nodes every stage builds for its committees: a model's probabilities on image sets, and APGD
against a committee; and what the framework-free nodes share: `member_probs`, how they gather a
committee's stored probabilities, and `u2_skipped_reason`, whether an environment's U2' was
trained. No stage imports another stage's nodes; what they share lives here.

Inputs are named after their catalog entries (a model's probabilities are keyed by image set, a
committee's members by member id), so a node never decodes its inputs by position.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from functools import partial, update_wrapper
from typing import Any

import numpy as np
from kedro.pipeline import Node

from logifold_kedro.data.perturbations import perturbation_summary
from logifold_kedro.data.validation import validate_image_set
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


def member_probs(
    entries: Mapping[str, Any], model_ids: Sequence[str], image_sets: Sequence[str]
) -> np.ndarray:
    """(K, N, C) probabilities of the members on the image sets, concatenated in order."""
    stacked = []
    for model_id in model_ids:
        parts = []
        for set_name in image_sets:
            name = probs_entry(model_id, set_name)
            if name not in entries:
                raise KeyError(f"{name} is not among this node's inputs")
            parts.append(np.asarray(entries[name]["probs"], dtype=np.float64))
        stacked.append(np.concatenate(parts))
    return np.stack(stacked)


def u2_skipped_reason(histories: Sequence[Mapping[str, Any]]) -> str | None:
    """Why an environment's U2' was skipped by policy, from its members' training histories
    (None: it was trained)."""
    for history in histories:
        if history.get("skipped", False):
            return str(history.get("reason", "skipped by params:u2.policy"))
    return None


def predict_image_sets(
    model: Any, recipe: dict[str, Any], **image_sets: dict[str, Any]
) -> dict[str, dict[str, Any]]:
    """Softmax outputs of one model on each image set, keyed like `image_sets`: computed once,
    stored, reused by every entropy, threshold, core and IMM number."""
    from logifold_kedro.tf_lib.training import predict_probabilities

    batch_size = int(recipe.get("predict_batch_size", 256))
    return {
        name: {
            "probs": predict_probabilities(model, images["x"], batch_size),
            "model": model.name,
            "image_set": images.get("name", ""),
        }
        for name, images in image_sets.items()
    }


def apgd_against_committee(
    clean_set: dict[str, Any],
    setting: dict[str, Any],
    seed: int,
    *,
    target: str,
    setting_name: str,
    output_name: str,
    **members: Any,
) -> dict[str, Any]:
    """APGD-CE (L2, untargeted, y=None) against the mean softmax of `members` (keyed by member
    id, in committee order).

    Returns the adversarial image set with the true labels of `clean_set` and, beside the arrays,
    the attack's settings, seed, target and perturbation statistics.
    """
    from logifold_kedro.tf_lib.apgd import apgd_attack
    from logifold_kedro.tf_lib.committee import build_committee

    validate_image_set(clean_set, clean_set.get("name", "clean set"))
    models = list(members.values())
    if not models:
        raise ValueError(f"no members given for the APGD target {target!r}")
    model = models[0] if len(models) == 1 else build_committee(models, name=target)
    x_adv = apgd_attack(model, clean_set["x"], setting, seed)
    sizes = perturbation_summary(clean_set["x"], x_adv)
    return {
        "x": x_adv.astype(np.float32),
        "y": clean_set["y"].astype(np.int64),
        "name": output_name,
        "source_set": clean_set.get("name", ""),
        "target": target,
        "members": [m.name for m in models],
        "attack": "APGD-CE (ART AutoProjectedGradientDescent), L2, untargeted, y=None",
        "setting_name": setting_name,
        "setting": dict(setting),
        "seed": int(seed),
        "l2_mean": sizes["l2_mean"],
        "l2_max": sizes["l2_max"],
    }


def predict_node(
    committee: str,
    base_name: str,
    image_sets: Sequence[str],
    recipe_param: str,
    purpose: str,
    namespace: str,
) -> Node:
    """One node: a model's probabilities on several image sets (one model load)."""
    model_id = member_id(committee, base_name)
    return Node(
        predict_image_sets,
        inputs={"model": model_entry(committee, base_name), "recipe": recipe_param}
        | {s: s for s in image_sets},
        outputs={s: probs_entry(model_id, s) for s in image_sets},
        name=f"predict_{model_id}_{purpose}",
        namespace=namespace,
        tags=[*TF_TAGS, "predictions"],
    )


def apgd_node(
    target: str,
    members: Sequence[tuple[str, str]],
    setting: str,
    split: str,
    namespace: str,
) -> Node:
    """APGD-CE of one setting against the committee of `members` ((member id, checkpoint entry)
    pairs) on one split."""
    output = image_set(apgd_source(target, setting), split)
    return Node(
        named_partial(
            apgd_against_committee, target=target, setting_name=setting, output_name=output
        ),
        inputs={
            "clean_set": image_set("clean", split),
            "setting": f"params:apgd.{setting}",
            "seed": "params:seed",
        }
        | {member: entry for member, entry in members},
        outputs=output,
        name=f"apgd_{setting}_vs_{target}_{split}",
        namespace=namespace,
        tags=[*TF_TAGS, "attack"],
    )
