"""art_attacks pipeline: APGD weak/strong against U0 (train, val, test) and against each single
base model (test, white-box, for Experiment 1); every attacked set's probabilities; a summary."""

from __future__ import annotations

from kedro.pipeline import Node, Pipeline

from logifold_kedro.pipelines.naming import (
    SETTINGS,
    SPLITS,
    apgd_source,
    image_set,
    model_entry,
    probs_entry,
    u0_members,
)
from logifold_kedro.pipelines.shared import apgd_node, named_partial, predict_node

from .nodes import attack_table


def create_pipeline(**kwargs) -> Pipeline:
    members = u0_members()
    u0_models = [model_entry("u0", m) for m in members]
    attacks = [apgd_node("u0", u0_models, s, split) for s in SETTINGS for split in SPLITS]
    attacks += [apgd_node(m, [model_entry("u0", m)], s, "test") for m in members for s in SETTINGS]

    u0_sets = [image_set(apgd_source("u0", s), split) for s in SETTINGS for split in SPLITS]
    predictions = [
        predict_node(
            "u0",
            m,
            [*u0_sets, *(image_set(apgd_source(m, s), "test") for s in SETTINGS)],
            "params:training_recipe",
            "art_attacks",
        )
        for m in members
    ]

    layout, table_inputs = [], []
    targets = [("u0", members, split) for split in SPLITS] + [(m, [m], "test") for m in members]
    for target, target_members, split in targets:
        for s in SETTINGS:
            adversarial = image_set(apgd_source(target, s), split)
            layout.append((target, s, split, len(target_members)))
            table_inputs += [adversarial]
            table_inputs += [probs_entry(m, image_set("clean", split)) for m in target_members]
            table_inputs += [probs_entry(m, adversarial) for m in target_members]
    table = Node(
        named_partial(attack_table, layout=layout),
        inputs=table_inputs,
        outputs="art_attacks_metrics",
        name="summarise_art_attacks",
        tags=["reporting"],
    )
    return Pipeline([*attacks, *predictions, table], tags=["art_attacks"])
