"""adaptive_attacks pipeline: does the IMM hold when the attacker knows the gate?

On the first `num_images` test images, per APGD setting (weak, strong, strongest):
- APGD-CE against the soft IMM of each environment with a U2' (union, weak, strong);
- the confident-core attack on U1 (``CE(U1) - lambda * H1``), the same for every environment;
-> probabilities of every U1 and U2' member on them (and on the non-adaptive sets they lack)
-> the hard-routed IMM of each environment on adaptive, non-adaptive and clean images
(`adaptive_metrics`), which the report turns into its "Adaptive evaluation" section.
"""

from __future__ import annotations

from kedro.pipeline import Node, Pipeline

from logifold_kedro.pipelines.naming import (
    ADAPTIVE_SETTINGS,
    CONFIDENT_CORE_TARGET,
    SETTINGS,
    U2_ENVIRONMENTS,
    apgd_setting_param,
    apgd_source,
    environment_sets,
    history_entry,
    image_set,
    member_id,
    model_entry,
    probs_entry,
    resnet_members,
    soft_imm_target,
    u0_members,
    u1_member_ids,
    u2_member_ids,
)
from logifold_kedro.pipelines.shared import TF_TAGS, named_partial, predict_node

from .nodes import attack_confident_core, attack_soft_imm, evaluate_adaptive_attacks

CLEAN_TEST = image_set("clean", "test")
#: Non-adaptive attacks the IMM is set beside: APGD aimed at its parts (U0, SPs, U1).
#: The non-adaptive attacks the IMM is compared with: those of its own environment (APGD vs U0,
#: Experiment 2), whose U1 and U2' probabilities the immunization stage already stored.
NON_ADAPTIVE_ATTACK = "APGD vs U0"


def soft_imm_set(environment: str, setting: str) -> str:
    return image_set(apgd_source(soft_imm_target(environment), setting), "test")


def confident_core_set(setting: str) -> str:
    return image_set(apgd_source(CONFIDENT_CORE_TARGET, setting), "test")


def non_adaptive_set(target: str, setting: str) -> str:
    return image_set(apgd_source(target, setting), "test")


def u1_models() -> list[str]:
    return [model_entry("u0", m) for m in u0_members()] + [
        model_entry("sps", r) for r in resnet_members()
    ]


def u2_histories(environment: str) -> list[str]:
    return [history_entry(f"u2_{environment}", r) for r in resnet_members()]


def attacks() -> list[Node]:
    nodes = []
    for env in U2_ENVIRONMENTS:
        u2_models = [model_entry(f"u2_{env}", r) for r in resnet_members()]
        for setting in ADAPTIVE_SETTINGS:
            output = soft_imm_set(env, setting)
            nodes.append(
                Node(
                    named_partial(
                        attack_soft_imm,
                        environment=env,
                        n_histories=len(u2_histories(env)),
                        n_u1=len(u1_models()),
                        setting_name=setting,
                        output_name=output,
                    ),
                    inputs=[
                        CLEAN_TEST,
                        apgd_setting_param(setting),
                        "params:adaptive_attacks",
                        "params:seed",
                        "thresholds",
                        *u2_histories(env),
                        *u1_models(),
                        *u2_models,
                    ],
                    outputs=output,
                    name=f"apgd_{setting}_vs_{soft_imm_target(env)}_test",
                    tags=[*TF_TAGS, "attack", "adaptive"],
                )
            )
    for setting in ADAPTIVE_SETTINGS:
        output = confident_core_set(setting)
        nodes.append(
            Node(
                named_partial(attack_confident_core, setting_name=setting, output_name=output),
                inputs=[
                    CLEAN_TEST,
                    apgd_setting_param(setting),
                    "params:adaptive_attacks",
                    "params:seed",
                    *u1_models(),
                ],
                outputs=output,
                name=f"apgd_{setting}_vs_{CONFIDENT_CORE_TARGET}_test",
                tags=[*TF_TAGS, "attack", "adaptive"],
            )
        )
    return nodes


def evaluation_layout() -> list[tuple[str, str, str, str, str]]:
    """(environment, kind, attack, setting, image set) of every row of `adaptive_metrics`."""
    layout = []
    for env in U2_ENVIRONMENTS:
        layout.append((env, "none", "clean", "-", CLEAN_TEST))
        for setting in SETTINGS:
            attacked = non_adaptive_set("u0", setting)
            if attacked in environment_sets(env, "test"):
                layout.append((env, "non-adaptive", NON_ADAPTIVE_ATTACK, setting, attacked))
        for setting in ADAPTIVE_SETTINGS:
            layout.append((env, "adaptive", "soft IMM", setting, soft_imm_set(env, setting)))
        for setting in ADAPTIVE_SETTINGS:
            layout.append((env, "adaptive", "confident core", setting, confident_core_set(setting)))
    return layout


def predictions() -> list[Node]:
    """Each U1 and U2' member's probabilities on the adaptive sets, and U2' on the clean test
    images where its environment has none (the attacked sets of the comparison were stored by
    the immunization stage)."""
    layout = evaluation_layout()
    adaptive_sets = sorted({s for _, kind, _, _, s in layout if kind == "adaptive"})
    nodes = [
        predict_node("u0", m, adaptive_sets, "params:training_recipe", "adaptive_attacks")
        for m in u0_members()
    ]
    nodes += [
        predict_node("sps", r, adaptive_sets, "params:specialist_recipe", "adaptive_attacks")
        for r in resnet_members()
    ]
    for env in U2_ENVIRONMENTS:
        env_adaptive = sorted({s for e, kind, _, _, s in layout if e == env and kind == "adaptive"})
        nodes += [
            predict_node(
                f"u2_{env}", r, env_adaptive, "params:specialist_recipe", "adaptive_attacks"
            )
            for r in resnet_members()
        ]
        # The clean baseline of an environment without clean images (weak, strong): its own
        # node, as these outputs sit in an earlier kedro-viz layer than the adaptive ones.
        if CLEAN_TEST not in environment_sets(env, "test"):
            nodes += [
                predict_node(f"u2_{env}", r, [CLEAN_TEST], "params:specialist_recipe", "clean")
                for r in resnet_members()
            ]
    return nodes


def evaluation() -> Node:
    layout = evaluation_layout()
    u0_ids = [member_id("u0", m) for m in u0_members()]
    u1_ids = u1_member_ids()
    u2_ids = {env: u2_member_ids(env) for env in U2_ENVIRONMENTS}
    histories = {env: u2_histories(env) for env in U2_ENVIRONMENTS}
    sets = sorted({s for *_, s in layout})
    probs = sorted(
        {probs_entry(m, s) for env, _, _, _, s in layout for m in [*u1_ids, *u2_ids[env]]}
    )
    entries = [*sets, *probs, *(h for hs in histories.values() for h in hs)]
    return Node(
        named_partial(
            evaluate_adaptive_attacks,
            layout=layout,
            u0_ids=u0_ids,
            u1_ids=u1_ids,
            u2_ids=u2_ids,
            u2_histories=histories,
        ),
        inputs={
            "thresholds": "thresholds",
            "adaptive_params": "params:adaptive_attacks",
            **{name: name for name in entries},
        },
        outputs="adaptive_metrics",
        name="evaluate_adaptive_attacks",
        tags=["evaluation", "adaptive"],
    )


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline([*attacks(), *predictions(), evaluation()], tags=["adaptive_attacks"])
