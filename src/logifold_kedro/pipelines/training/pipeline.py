"""training pipeline: splits, then one sub-pipeline per base model (namespace u0.<name>)."""

from __future__ import annotations

from kedro.pipeline import Node, Pipeline

from logifold_kedro.pipelines.committee_nodes import TF_TAGS, named_partial, predict_image_sets
from logifold_kedro.pipelines.naming import history_entry, model_entry, probs_entry
from logifold_kedro.pipelines.wiring import named_inputs, wiring_for_run

from .nodes import make_splits, summarise_training, train_base_model

CLEAN_SETS = ("clean_train", "clean_val", "clean_test")


def base_model_template(model_name: str) -> Pipeline:
    """Train one base model and store its softmax outputs on the clean splits."""
    return Pipeline(
        [
            Node(
                named_partial(train_base_model, model_name=model_name),
                inputs={
                    "clean_train": "clean_train",
                    "clean_val": "clean_val",
                    "model_spec": "params:model_spec",
                    "recipe": "params:recipe",
                    "seed": "params:seed",
                    "resume_state": "resume_state",
                },
                outputs=["model", "history"],
                name="train",
                tags=[*TF_TAGS, "training"],
            ),
            Node(
                predict_image_sets,
                inputs={"model": "model", "recipe": "params:recipe"} | named_inputs(CLEAN_SETS),
                outputs={s: f"probs_{s}" for s in CLEAN_SETS},
                name="predict_clean",
                tags=[*TF_TAGS, "predictions"],
            ),
        ]
    )


def create_pipeline(**kwargs) -> Pipeline:
    members = wiring_for_run().u0_members
    split = Node(
        make_splits,
        inputs=["cifar10_raw", "params:split"],
        outputs=list(CLEAN_SETS),
        name="make_splits",
        tags=["data"],
    )
    per_model = [
        Pipeline(
            base_model_template(name),
            namespace=f"u0.{name}",
            inputs={*CLEAN_SETS, "resume_state"},
            outputs={
                "model": model_entry("u0", name),
                "history": history_entry("u0", name),
                **{f"probs_{s}": probs_entry(name, s) for s in CLEAN_SETS},
            },
            parameters={
                "params:model_spec": f"params:u0_models.{name}",
                "params:recipe": "params:training_recipe",
                "params:seed": "params:seed",
            },
        )
        for name in members
    ]
    summary = Node(
        named_partial(summarise_training, members=members),
        inputs={"clean_val": "clean_val", "clean_test": "clean_test"}
        | named_inputs(
            [history_entry("u0", m) for m in members],
            [probs_entry(m, s) for m in members for s in ("clean_val", "clean_test")],
        ),
        outputs="training_metrics",
        name="summarise_training",
        namespace="u0",
        tags=["reporting"],
    )
    return Pipeline([split, *per_model, summary], tags=["training"])
