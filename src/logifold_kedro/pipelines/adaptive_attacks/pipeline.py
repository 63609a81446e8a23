"""adaptive_attacks pipeline: does the IMM hold when the attacker knows the gate?

On the first `num_images` test images, per attacked APGD setting (`params:adaptive_attacks.
settings`) and environment (`.environments`); the others get no nodes:
- APGD-CE against the soft IMM of each attacked environment;
- the confident-core attack on U1 (``CE(U1) - lambda * H1``), the same for every environment;
-> probabilities of every U1 and U2' member on them (and U2' on the clean images it lacks)
-> the hard-routed IMM of each environment on adaptive, non-adaptive and clean images
(`adaptive_metrics`), which the report turns into its "Adaptive evaluation" section.
"""

from __future__ import annotations

from kedro.pipeline import Node, Pipeline

from logifold_kedro.pipelines.committee_nodes import TF_TAGS, named_partial, predict_node
from logifold_kedro.pipelines.naming import (
    CONFIDENT_CORE_TARGET,
    apgd_setting_param,
    environment_sets,
    soft_imm_target,
)
from logifold_kedro.pipelines.wiring import CLEAN_TEST, named_inputs, wiring_for_run

from .nodes import attack_confident_core, attack_soft_imm, evaluate_adaptive_attacks

ATTACK_TAGS = (*TF_TAGS, "attack", "adaptive")
ATTACK_INPUTS = {
    "clean_set": CLEAN_TEST,
    "adaptive_params": "params:adaptive_attacks",
    "seed": "params:seed",
}


def attacks() -> list[Node]:
    wiring = wiring_for_run()
    u1 = dict(wiring.members("u1"))  # member id -> checkpoint entry
    nodes = [
        Node(
            named_partial(
                attack_soft_imm,
                environment=env,
                u1_models=wiring.model_entries("u1"),
                u2_models=wiring.model_entries(f"u2_{env}"),
                histories=wiring.history_entries(f"u2_{env}"),
                setting_name=setting,
                output_name=wiring.soft_imm_set(env, setting),
            ),
            inputs=ATTACK_INPUTS
            | {"setting": apgd_setting_param(setting), "thresholds": "thresholds"}
            | named_inputs(
                wiring.model_entries("u1"),
                wiring.model_entries(f"u2_{env}"),
                wiring.history_entries(f"u2_{env}"),
            ),
            outputs=wiring.soft_imm_set(env, setting),
            name=f"apgd_{setting}_vs_{soft_imm_target(env)}_test",
            namespace=f"adaptive.{env}",
            tags=ATTACK_TAGS,
        )
        for env in wiring.adaptive_environments
        for setting in wiring.adaptive_settings
    ]
    nodes += [
        Node(
            named_partial(
                attack_confident_core,
                setting_name=setting,
                output_name=wiring.confident_core_set(setting),
            ),
            inputs=ATTACK_INPUTS | {"setting": apgd_setting_param(setting)} | u1,
            outputs=wiring.confident_core_set(setting),
            name=f"apgd_{setting}_vs_{CONFIDENT_CORE_TARGET}_test",
            namespace="adaptive.confident_core",
            tags=ATTACK_TAGS,
        )
        for setting in wiring.adaptive_settings
    ]
    return nodes


def predictions() -> list[Node]:
    """Each U1 and U2' member's probabilities on the adaptive sets, and U2' on the clean test
    images where its environment has none (the attacked sets of the comparison were stored by
    the immunization stage)."""
    wiring = wiring_for_run()
    adaptive_sets = wiring.adaptive_sets()
    nodes = [
        predict_node(
            "u0",
            m,
            adaptive_sets,
            "params:training_recipe",
            "adaptive_attacks",
            namespace="adaptive.predictions",
        )
        for m in wiring.u0_members
    ]
    nodes += [
        predict_node(
            "sps",
            r,
            adaptive_sets,
            "params:specialist_recipe",
            "adaptive_attacks",
            namespace="adaptive.predictions",
        )
        for r in wiring.resnet_members
    ]
    for env in wiring.adaptive_environments:
        nodes += [
            predict_node(
                f"u2_{env}",
                r,
                wiring.adaptive_sets(env),
                "params:specialist_recipe",
                "adaptive_attacks",
                namespace="adaptive.predictions",
            )
            for r in wiring.resnet_members
        ]
        # The clean baseline of an environment without clean images (weak, strong): its own
        # node, as these outputs sit in an earlier kedro-viz layer than the adaptive ones.
        if CLEAN_TEST not in environment_sets(env, "test"):
            nodes += [
                predict_node(
                    f"u2_{env}",
                    r,
                    [CLEAN_TEST],
                    "params:specialist_recipe",
                    "clean",
                    namespace="adaptive.predictions",
                )
                for r in wiring.resnet_members
            ]
    return nodes


def evaluation() -> Node:
    wiring = wiring_for_run()
    rows = wiring.adaptive_rows()
    environments = wiring.adaptive_environments
    return Node(
        named_partial(evaluate_adaptive_attacks, rows=rows, **wiring.imm_committees(environments)),
        inputs={"thresholds": "thresholds", "adaptive_params": "params:adaptive_attacks"}
        | named_inputs(wiring.imm_entries([(env, [s]) for env, *_, s in rows], environments)),
        outputs="adaptive_metrics",
        name="evaluate_adaptive_attacks",
        namespace="adaptive",
        tags=["evaluation", "adaptive"],
    )


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline([*attacks(), *predictions(), evaluation()], tags=["adaptive_attacks"])
