"""Nodes of the APGD stage (ART on TensorFlow committees).

A committee is a parameter of these nodes: the same nodes attack U0, each single base model, the
specialists SPs and U1 (immunization stage).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from logifold_kedro.data.perturbations import perturbation_norms
from logifold_kedro.data.validation import validate_image_set
from logifold_kedro.logifold.entropy import mean_probabilities


def apgd_against_committee(
    clean_set: dict[str, Any],
    setting: dict[str, Any],
    seed: int,
    *members: Any,
    target: str,
    setting_name: str,
    output_name: str,
) -> dict[str, Any]:
    """APGD-CE (L2, untargeted, y=None) against the mean softmax of `members`.

    Returns the adversarial image set with the true labels of `clean_set` and, beside the arrays,
    the attack's settings, seed, target and perturbation statistics.
    """
    from logifold_kedro.tf_lib.apgd import apgd_attack
    from logifold_kedro.tf_lib.committee import build_committee

    validate_image_set(clean_set, clean_set.get("name", "clean set"))
    if not members:
        raise ValueError(f"no members given for the APGD target {target!r}")
    model = members[0] if len(members) == 1 else build_committee(list(members), name=target)
    x_adv = apgd_attack(model, clean_set["x"], setting, seed)
    norms = perturbation_norms(clean_set["x"], x_adv)
    return {
        "x": x_adv.astype(np.float32),
        "y": clean_set["y"].astype(np.int64),
        "name": output_name,
        "source_set": clean_set.get("name", ""),
        "target": target,
        "members": [m.name for m in members],
        "attack": "APGD-CE (ART AutoProjectedGradientDescent), L2, untargeted, y=None",
        "setting_name": setting_name,
        "setting": dict(setting),
        "seed": int(seed),
        "l2_mean": float(norms.mean()),
        "l2_max": float(norms.max()),
    }


def attack_table(
    *inputs: Any,
    layout: Sequence[tuple[str, str, str, int]],
) -> pd.DataFrame:
    """Accuracy of each target on clean images against its own adversarial images.

    `layout` lists (target, setting, split, K) per attack; `inputs` holds, per attack in that order,
    the adversarial image set, then the K members' probabilities on the clean set, then the K
    members' probabilities on the adversarial set. The committee prediction is the argmax of the
    members' mean softmax; the success rate is the fraction of images whose prediction the attack
    changed.
    """
    rows, position = [], 0
    for target, setting, split, k in layout:
        adversarial = inputs[position]
        clean_probs = [p["probs"] for p in inputs[position + 1 : position + 1 + k]]
        adv_probs = [p["probs"] for p in inputs[position + 1 + k : position + 1 + 2 * k]]
        position += 1 + 2 * k
        labels = adversarial["y"]
        clean_pred = mean_probabilities(clean_probs).argmax(axis=1)
        adv_pred = mean_probabilities(adv_probs).argmax(axis=1)
        rows.append(
            {
                "target": target,
                "setting": setting,
                "split": split,
                "n": len(labels),
                "clean_accuracy": float(np.mean(clean_pred == labels)),
                "adversarial_accuracy": float(np.mean(adv_pred == labels)),
                "success_rate": float(np.mean(adv_pred != clean_pred)),
                "eps": adversarial["setting"]["eps"],
                "l2_mean": adversarial["l2_mean"],
                "l2_max": adversarial["l2_max"],
            }
        )
    if position != len(inputs):
        raise ValueError(f"attack_table got {len(inputs)} inputs, layout needs {position}")
    return pd.DataFrame(rows)
