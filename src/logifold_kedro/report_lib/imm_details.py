"""Reading ``imm_details``, the immunization stage's per-sample arrays: one flat mapping whose keys
are ``<environment>.<evaluation>.<array>`` (``union.test.u1_entropy``, ...)."""

from __future__ import annotations

from typing import Any


def details_for(imm_details: dict[str, Any], environment: str, evaluation: str) -> dict[str, Any]:
    """The arrays of one environment on one evaluation set, keyed by the array's own name
    (``u1_entropy``, ``labels``, ``threshold``, ...); empty where it was not evaluated."""
    prefix = f"{environment}.{evaluation}."
    return {k[len(prefix) :]: v for k, v in imm_details.items() if k.startswith(prefix)}
