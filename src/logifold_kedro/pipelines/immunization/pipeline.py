"""immunization pipeline.

SPs (from each base ResNet, on weak APGD vs U0) -> U1 = U0 + SPs -> APGD vs SPs and U1 (test)
-> probabilities once per (model, image set) -> thresholds per environment (val, U1)
-> U2' per environment (union, weak, strong) on U1's high-entropy train + val samples
-> Experiments 1, 2 and 3 from the stored probabilities.
"""

from __future__ import annotations

from kedro.pipeline import Node, Pipeline

from logifold_kedro.pipelines.committee_nodes import TF_TAGS, apgd_node, named_partial, predict_node
from logifold_kedro.pipelines.naming import (
    AUTOATTACK_SET,
    SETTINGS,
    U2_ENVIRONMENTS,
    environment_sets,
    history_entry,
    member_id,
    model_entry,
)
from logifold_kedro.pipelines.wiring import named_inputs, probs_of, wiring_for_run

from .nodes import (
    entropy_core_table,
    evaluate_generations,
    select_second_generation_data,
    select_thresholds,
    train_first_generation_specialist,
    train_second_generation_specialist,
)

SPECIALIST_RECIPE = "params:specialist_recipe"


def first_generation() -> list[Node]:
    wiring = wiring_for_run()
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
            namespace=f"sps.{r}",
            tags=[*TF_TAGS, "training", "specialists"],
        )
        for r in wiring.resnet_members
    ]
    for committee in ("sps", "u1"):
        nodes += [
            apgd_node(committee, wiring.members(committee), s, "test", "u1.attacks")
            for s in SETTINGS
        ]
    environment_sets_all = [*wiring.environment_image_sets(), AUTOATTACK_SET]
    first_gen_attacks = wiring.attacked_sets_of("sps") + wiring.attacked_sets_of("u1")
    nodes += [
        predict_node("sps", r, environment_sets_all, SPECIALIST_RECIPE, "environments", f"sps.{r}")
        for r in wiring.resnet_members
    ]
    nodes += [
        predict_node(
            "sps", r, first_gen_attacks, SPECIALIST_RECIPE, "first_gen_attacks", "u1.predictions"
        )
        for r in wiring.resnet_members
    ]
    # Two nodes per model, not one: U0 on the transfer set is U0's own output (layer
    # model_output), U0 on sets attacked against U1 belongs to the first generation; one node
    # writing both would point the lineage back from first_generation to model_output, and
    # kedro-viz draws no layers for a cycle. The second node reuses the loaded checkpoint.
    nodes += [
        predict_node("u0", m, [AUTOATTACK_SET], "params:training_recipe", "transfer", "transfer")
        for m in wiring.u0_members
    ]
    nodes += [
        predict_node(
            "u0",
            m,
            wiring.attacked_sets_of("u1"),
            "params:training_recipe",
            "first_gen_attacks",
            "u1.predictions",
        )
        for m in wiring.u0_members
    ]
    return nodes


def thresholds_and_second_generation() -> list[Node]:
    wiring = wiring_for_run()
    u1_ids = wiring.member_ids("u1")
    val_sets = wiring.environment_image_sets(["val"])
    nodes = [
        Node(
            named_partial(select_thresholds, u1_ids=u1_ids),
            inputs={
                "threshold_params": "params:threshold",
                "bootstrap_params": "params:bootstrap",
            }
            | named_inputs(val_sets, probs_of(u1_ids, val_sets)),
            outputs=["thresholds", "threshold_curves_metrics", "threshold_bootstrap_metrics"],
            name="select_thresholds",
            namespace="u1",
            tags=["thresholds"],
        )
    ]
    for env in U2_ENVIRONMENTS:
        committee = f"u2_{env}"
        pool = environment_sets(env, "train") + environment_sets(env, "val")
        nodes.append(
            Node(
                named_partial(select_second_generation_data, u1_ids=u1_ids, environment=env),
                inputs={"thresholds": "thresholds", "u2_params": "params:u2"}
                | named_inputs(pool, probs_of(u1_ids, pool)),
                outputs=[f"u2_{env}_data_train", f"u2_{env}_data_val"],
                name=f"select_u2_{env}_data",
                namespace=f"u2.{env}",
                tags=["second_generation"],
            )
        )
        nodes += [
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
                namespace=f"u2.{env}.{r}",
                tags=[*TF_TAGS, "training", "second_generation"],
            )
            for r in wiring.resnet_members
        ]
        nodes += [
            predict_node(
                committee,
                r,
                [*environment_sets(env, "test"), AUTOATTACK_SET],
                SPECIALIST_RECIPE,
                "evaluation",
                f"u2.{env}.{r}",
            )
            for r in wiring.resnet_members
        ]
    return nodes


def evaluation() -> list[Node]:
    wiring = wiring_for_run()
    evaluation_sets = wiring.evaluation_sets()
    generations = Node(
        named_partial(
            evaluate_generations,
            layout=evaluation_sets,
            **wiring.imm_committees(U2_ENVIRONMENTS),
        ),
        inputs={"thresholds": "thresholds", "bootstrap_params": "params:bootstrap"}
        | named_inputs(
            wiring.imm_entries([(env, sets) for env, _, sets in evaluation_sets], U2_ENVIRONMENTS)
        ),
        outputs=["experiment2_metrics", "experiment3_metrics", "imm_details"],
        name="evaluate_generations",
        namespace="experiments",
        tags=["evaluation"],
    )

    committees = {c: wiring.member_ids(c) for c in ("u0", "sps", "u1")}
    targets = wiring.experiment1_targets()
    needed = [
        p
        for target, sets in targets.items()
        for p in probs_of(committees.get(target, [target]), list(sets.values()))
    ]
    exp1_sets = sorted({s for sets in targets.values() for s in sets.values()})
    experiment1 = Node(
        named_partial(
            entropy_core_table,
            singles={m: wiring.family(m) for m in wiring.u0_members},
            committees=committees,
            attacked_sets=targets,
        ),
        inputs={
            "experiment1_params": "params:experiment1",
            "bootstrap_params": "params:bootstrap",
        }
        | named_inputs(exp1_sets, sorted(set(needed))),
        outputs="experiment1_metrics",
        name="entropy_core_table",
        namespace="experiments",
        tags=["evaluation"],
    )
    return [generations, experiment1]


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [*first_generation(), *thresholds_and_second_generation(), *evaluation()],
        tags=["immunization"],
    )
