"""Nodes of the APGD stage's summary (the attacks themselves are `committee_nodes`' APGD node,
shared with the immunization stage)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

from logifold_kedro.logifold.experiments import attack_measures
from logifold_kedro.pipelines.naming import apgd_source, image_set, probs_entry
from logifold_kedro.pipelines.wiring import AttackSpec


def attack_table(attacks: Sequence[AttackSpec], **entries: Any) -> pd.DataFrame:
    """Accuracy of each target on clean images against its own adversarial images.

    `attacks` lists (target, setting, split, member ids); `entries` holds, by entry name, each
    attack's adversarial image set and its members' probabilities on the clean and on the
    adversarial set. The measures are `logifold.experiments.attack_measures`.
    """
    rows = []
    for target, setting, split, members in attacks:
        adversarial_name = image_set(apgd_source(target, setting), split)
        adversarial = entries[adversarial_name]
        clean_probs = [entries[probs_entry(m, image_set("clean", split))]["probs"] for m in members]
        adv_probs = [entries[probs_entry(m, adversarial_name)]["probs"] for m in members]
        rows.append(
            {
                "target": target,
                "setting": setting,
                "split": split,
                "n": len(adversarial["y"]),
                **attack_measures(clean_probs, adv_probs, adversarial["y"]),
                "eps": adversarial["setting"]["eps"],
                "l2_mean": adversarial["l2_mean"],
                "l2_max": adversarial["l2_max"],
            }
        )
    return pd.DataFrame(rows)
