"""torch_attacks pipeline: surrogate (trained at CPU scale, pretrained at paper scale), then
AutoAttack on the test split with the true labels."""

from __future__ import annotations

from kedro.pipeline import Node, Pipeline

from .nodes import autoattack_transfer_set, fit_surrogate

TORCH_TAGS = ("torch", "gpu")


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                fit_surrogate,
                inputs=[
                    "surrogate_source",
                    "clean_train",
                    "clean_val",
                    "params:surrogate",
                    "params:seed",
                    "resume_state",
                ],
                outputs=["surrogate", "surrogate_training_report"],
                name="fit_surrogate",
                namespace="transfer",
                tags=[*TORCH_TAGS, "training"],
            ),
            Node(
                autoattack_transfer_set,
                inputs=[
                    "surrogate",
                    "clean_test",
                    "params:autoattack",
                    "params:seed",
                    "resume_state",
                ],
                outputs=["autoattack_test", "autoattack_transfer_report"],
                name="autoattack_transfer",
                namespace="transfer",
                tags=[*TORCH_TAGS, "attack"],
            ),
        ],
        tags=["torch_attacks"],
    )
