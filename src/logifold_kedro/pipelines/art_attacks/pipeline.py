"""art_attacks pipeline: APGD weak/strong against U0 (train, val, test) and against each single
base model (test, white-box, for Experiment 1); every attacked set's probabilities; a summary."""

from __future__ import annotations

from kedro.pipeline import Node, Pipeline

from logifold_kedro.pipelines.committee_nodes import apgd_node, named_partial, predict_node
from logifold_kedro.pipelines.naming import SETTINGS, SPLITS, model_entry
from logifold_kedro.pipelines.wiring import named_inputs, wiring_for_run

from .nodes import attack_table


def create_pipeline(**kwargs) -> Pipeline:
    wiring = wiring_for_run()
    u0 = wiring.members("u0")
    attacks = [
        apgd_node("u0", u0, setting, split, namespace="apgd.u0")
        for setting in SETTINGS
        for split in SPLITS
    ]
    attacks += [
        apgd_node(m, [(m, model_entry("u0", m))], setting, "test", namespace=f"apgd.{m}")
        for m in wiring.u0_members
        for setting in SETTINGS
    ]
    predictions = [
        predict_node(
            "u0",
            m,
            [*wiring.attacked_sets_of("u0", SPLITS), *wiring.attacked_sets_of(m)],
            "params:training_recipe",
            "art_attacks",
            namespace=f"apgd.{m}",
        )
        for m in wiring.u0_members
    ]
    table = Node(
        named_partial(attack_table, attacks=wiring.art_attacks()),
        inputs=named_inputs(wiring.art_attack_entries()),
        outputs="art_attacks_metrics",
        name="summarise_art_attacks",
        namespace="apgd",
        tags=["reporting"],
    )
    return Pipeline([*attacks, *predictions, table], tags=["art_attacks"])
