"""Nodes of the APGD stage's summary (the attacks themselves are `committee_nodes`' APGD node,
shared with the immunization stage)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from logifold_kedro.logifold.entropy import mean_probabilities
from logifold_kedro.pipelines.naming import apgd_source, image_set, probs_entry
from logifold_kedro.pipelines.wiring import AttackSpec


def attack_table(attacks: Sequence[AttackSpec], **entries: Any) -> pd.DataFrame:
    """Accuracy of each target on clean images against its own adversarial images.

    `attacks` lists (target, setting, split, member ids); `entries` holds, by entry name, each
    attack's adversarial image set and its members' probabilities on the clean and on the
    adversarial set. The committee prediction is the argmax of the members' mean softmax; the
    success rate is the fraction of images whose prediction the attack changed.
    """
    rows = []
    for target, setting, split, members in attacks:
        adversarial_name = image_set(apgd_source(target, setting), split)
        adversarial = entries[adversarial_name]
        clean_probs = [entries[probs_entry(m, image_set("clean", split))]["probs"] for m in members]
        adv_probs = [entries[probs_entry(m, adversarial_name)]["probs"] for m in members]
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
    return pd.DataFrame(rows)
