"""Project pipelines: one per stage, found by ``find_pipelines``.

Stages run in this order, each needing only the ones before it:
training -> torch_attacks -> art_attacks -> immunization -> reporting.
"""

from __future__ import annotations

from kedro.framework.project import find_pipelines
from kedro.pipeline import Pipeline

STAGES = ("training", "torch_attacks", "art_attacks", "immunization", "reporting")


def register_pipelines() -> dict[str, Pipeline]:
    """Register the five stages and ``__default__`` (all of them)."""
    pipelines = find_pipelines(raise_errors=True)
    missing = [name for name in STAGES if name not in pipelines]
    if missing:
        raise RuntimeError(f"pipelines not found: {missing}")
    pipelines["__default__"] = sum((pipelines[name] for name in STAGES), Pipeline([]))
    return pipelines
