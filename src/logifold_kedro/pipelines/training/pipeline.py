"""training pipeline: splits, then one sub-pipeline per base model (namespace u0.<name>)."""

from __future__ import annotations

from kedro.pipeline import Node, Pipeline, node

from logifold_kedro.pipelines.naming import history_entry, model_entry, probs_entry, u0_members
from logifold_kedro.pipelines.shared import TF_TAGS, named_partial, predict_image_sets

from .nodes import make_splits, summarise_training, train_base_model

CLEAN_SETS = ("clean_train", "clean_val", "clean_test")


def base_model_template(model_name: str) -> Pipeline:
    """Train one base model and store its softmax outputs on the clean splits."""
    return Pipeline(
        [
            node(
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
            node(
                predict_image_sets,
                inputs=["model", "params:recipe", *CLEAN_SETS],
                outputs=[f"probs_{image_set}" for image_set in CLEAN_SETS],
                name="predict_clean",
                tags=[*TF_TAGS, "predictions"],
            ),
        ]
    )


def create_pipeline(**kwargs) -> Pipeline:
    members = u0_members()
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
            inputs={
                **{image_set: image_set for image_set in CLEAN_SETS},
                "resume_state": "resume_state",
            },
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
    summary_inputs = ["clean_val", "clean_test"]
    for name in members:
        summary_inputs += [
            history_entry("u0", name),
            probs_entry(name, "clean_val"),
            probs_entry(name, "clean_test"),
        ]
    summary = Node(
        summarise_training,
        inputs=summary_inputs,
        outputs="training_metrics",
        name="summarise_training",
        tags=["reporting"],
    )
    return Pipeline([split, *per_model, summary], tags=["training"])
