"""immunization pipeline.

SPs (from each base ResNet, on weak APGD vs U0) -> U1 = U0 + SPs -> APGD vs SPs and U1 (test)
-> probabilities once per (model, image set) -> thresholds per environment (val, U1)
-> U2' per environment (union, weak, strong) on U1's high-entropy train + val samples
-> Experiments 1, 2 and 3 from the stored probabilities.
"""

from __future__ import annotations

from kedro.pipeline import Node, Pipeline

from logifold_kedro.pipelines.naming import (
    AUTOATTACK_SET,
    ENVIRONMENTS,
    SETTINGS,
    SPLITS,
    U2_ENVIRONMENTS,
    apgd_source,
    environment_sets,
    history_entry,
    image_set,
    member_id,
    model_entry,
    probs_entry,
    resnet_members,
    u0_members,
    u0_model_families,
    u1_member_ids,
    u2_member_ids,
)
from logifold_kedro.pipelines.shared import TF_TAGS, apgd_node, named_partial, predict_node

from .nodes import (
    entropy_core_table,
    evaluate_generations,
    select_second_generation_data,
    select_thresholds,
    train_first_generation_specialist,
    train_second_generation_specialist,
)

SPECIALIST_RECIPE = "params:specialist_recipe"
ENVIRONMENT_SETS = [
    s
    for env in ("clean", "weak", "strong")
    for split in SPLITS
    for s in environment_sets(env, split)
]
FIRST_GEN_ATTACK_SETS = [
    image_set(apgd_source(t, s), "test") for t in ("sps", "u1") for s in SETTINGS
]


def identity_inputs(*groups: list[str]) -> dict[str, str]:
    """Inputs passed to a node as keyword arguments named after their catalog entries."""
    return {name: name for group in groups for name in group}


def probs_of(model_ids: list[str], image_sets: list[str]) -> list[str]:
    return [probs_entry(m, s) for m in model_ids for s in image_sets]


def first_generation() -> list[Node]:
    nodes = [
        Node(
            named_partial(train_first_generation_specialist, name=member_id("sps", r)),
            inputs={
                "base_model": model_entry("u0", r),
                "weak_train": "u0_apgd_weak_train",
                "weak_val": "u0_apgd_weak_val",
                "recipe": SPECIALIST_RECIPE,
                "split_params": "params:sp_split",
                "seed": "params:seed",
                "resume_state": "resume_state",
            },
            outputs=[model_entry("sps", r), history_entry("sps", r)],
            name=f"train_{member_id('sps', r)}",
            tags=[*TF_TAGS, "training", "specialists"],
        )
        for r in resnet_members()
    ]
    sp_models = [model_entry("sps", r) for r in resnet_members()]
    u0_models = [model_entry("u0", m) for m in u0_members()]
    nodes += [apgd_node("sps", sp_models, s, "test") for s in SETTINGS]
    nodes += [apgd_node("u1", u0_models + sp_models, s, "test") for s in SETTINGS]
    nodes += [
        predict_node(
            "sps", r, [*ENVIRONMENT_SETS, AUTOATTACK_SET], SPECIALIST_RECIPE, "environments"
        )
        for r in resnet_members()
    ]
    nodes += [
        predict_node("sps", r, FIRST_GEN_ATTACK_SETS, SPECIALIST_RECIPE, "first_gen_attacks")
        for r in resnet_members()
    ]
    u1_attack_sets = [image_set(apgd_source("u1", s), "test") for s in SETTINGS]
    # Two nodes per model, not one: U0 on the transfer set is U0's own output (layer
    # model_output), U0 on sets attacked against U1 belongs to the first generation; one node
    # writing both would point the lineage back from first_generation to model_output, and
    # kedro-viz draws no layers for a cycle. The second node reuses the loaded checkpoint.
    nodes += [
        predict_node("u0", m, [AUTOATTACK_SET], "params:training_recipe", "transfer")
        for m in u0_members()
    ]
    nodes += [
        predict_node("u0", m, u1_attack_sets, "params:training_recipe", "first_gen_attacks")
        for m in u0_members()
    ]
    return nodes


def thresholds_and_second_generation() -> list[Node]:
    u1_ids = u1_member_ids()
    val_sets = [s for env in ("clean", "weak", "strong") for s in environment_sets(env, "val")]
    nodes = [
        Node(
            named_partial(select_thresholds, u1_ids=u1_ids),
            inputs={
                "threshold_params": "params:threshold",
                "bootstrap_params": "params:bootstrap",
                **identity_inputs(val_sets, probs_of(u1_ids, val_sets)),
            },
            outputs=["thresholds", "threshold_curves_metrics", "threshold_bootstrap_metrics"],
            name="select_thresholds",
            tags=["thresholds"],
        )
    ]
    for env in U2_ENVIRONMENTS:
        pool = environment_sets(env, "train") + environment_sets(env, "val")
        nodes.append(
            Node(
                named_partial(select_second_generation_data, u1_ids=u1_ids, environment=env),
                inputs={
                    "thresholds": "thresholds",
                    "u2_params": "params:u2",
                    **identity_inputs(pool, probs_of(u1_ids, pool)),
                },
                outputs=[f"u2_{env}_data_train", f"u2_{env}_data_val"],
                name=f"select_u2_{env}_data",
                tags=["second_generation"],
            )
        )
        for r in resnet_members():
            committee = f"u2_{env}"
            nodes.append(
                Node(
                    named_partial(train_second_generation_specialist, name=member_id(committee, r)),
                    inputs={
                        "base_model": model_entry("u0", r),
                        "u2_train": f"u2_{env}_data_train",
                        "u2_val": f"u2_{env}_data_val",
                        "recipe": SPECIALIST_RECIPE,
                        "seed": "params:seed",
                        "resume_state": "resume_state",
                    },
                    outputs=[model_entry(committee, r), history_entry(committee, r)],
                    name=f"train_{member_id(committee, r)}",
                    tags=[*TF_TAGS, "training", "second_generation"],
                )
            )
            nodes.append(
                predict_node(
                    committee,
                    r,
                    [*environment_sets(env, "test"), AUTOATTACK_SET],
                    SPECIALIST_RECIPE,
                    "evaluation",
                )
            )
    return nodes


def evaluation() -> list[Node]:
    u0_ids = [member_id("u0", m) for m in u0_members()]
    sp_ids = [member_id("sps", r) for r in resnet_members()]
    u1_ids = u1_member_ids()
    layout = [(env, "test", environment_sets(env, "test")) for env in ENVIRONMENTS]
    layout += [(env, "autoattack", [AUTOATTACK_SET]) for env in U2_ENVIRONMENTS]
    u2_ids = {env: u2_member_ids(env) for env in U2_ENVIRONMENTS}
    u2_histories = {
        env: [history_entry(f"u2_{env}", r) for r in resnet_members()] for env in U2_ENVIRONMENTS
    }
    eval_sets = sorted({s for _, _, sets in layout for s in sets})
    probs = probs_of(u1_ids, eval_sets)
    for env, _, sets in layout:
        probs += probs_of(u2_ids.get(env, []), sets)
    generations = Node(
        named_partial(
            evaluate_generations,
            layout=layout,
            u0_ids=u0_ids,
            u1_ids=u1_ids,
            u2_ids=u2_ids,
            u2_histories=u2_histories,
        ),
        inputs={
            "thresholds": "thresholds",
            "bootstrap_params": "params:bootstrap",
            **identity_inputs(eval_sets, sorted(set(probs)), *u2_histories.values()),
        },
        outputs=["experiment2_metrics", "experiment3_metrics", "imm_details"],
        name="evaluate_generations",
        tags=["evaluation"],
    )

    singles = {member_id("u0", m): family for m, family in u0_model_families().items()}
    committees = {"u0": u0_ids, "sps": sp_ids, "u1": u1_ids}
    attacked = {
        target: {
            "clean": "clean_test",
            **{s: image_set(apgd_source(target, s), "test") for s in SETTINGS},
        }
        for target in [*singles, *committees]
    }
    needed = []
    for target, sets in attacked.items():
        ids = committees.get(target, [target])
        needed += probs_of(ids, list(sets.values()))
    exp1_sets = sorted({s for sets in attacked.values() for s in sets.values()})
    experiment1 = Node(
        named_partial(
            entropy_core_table, singles=singles, committees=committees, attacked_sets=attacked
        ),
        inputs={
            "experiment1_params": "params:experiment1",
            "bootstrap_params": "params:bootstrap",
            **identity_inputs(exp1_sets, sorted(set(needed))),
        },
        outputs="experiment1_metrics",
        name="entropy_core_table",
        tags=["evaluation"],
    )
    return [generations, experiment1]


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [*first_generation(), *thresholds_and_second_generation(), *evaluation()],
        tags=["immunization"],
    )
