"""Project pipelines: one per stage, found by ``find_pipelines``.

Stages run in this order, each needing only the ones before it:
training -> torch_attacks -> art_attacks -> immunization -> adaptive_attacks -> reporting.
"""

from __future__ import annotations

from kedro.framework.project import find_pipelines
from kedro.pipeline import Pipeline

STAGES = (
    "training",
    "torch_attacks",
    "art_attacks",
    "immunization",
    "adaptive_attacks",
    "reporting",
)


def register_pipelines() -> dict[str, Pipeline]:
    """Register the six stages and ``__default__`` (all of them).

    `kedro run --pipeline <stage>` makes Kedro load only that stage's module, so ``__default__``
    is assembled only when every stage was found.
    """
    pipelines = find_pipelines(raise_errors=True)
    if all(name in pipelines for name in STAGES):
        pipelines["__default__"] = sum((pipelines[name] for name in STAGES), Pipeline([]))
    return pipelines
