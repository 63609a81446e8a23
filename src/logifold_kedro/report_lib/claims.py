"""The claims table: each of the paper's claims, per environment and evaluation set, with our
difference and its bootstrap interval, the verdict, and the paper's own numbers beside them.

A claim compares A with B on the same images (the math: :mod:`logifold_kedro.logifold.claims`):

- ``imm_vs_<x>_accuracy`` (x = U0, U1, U2', all 16): A = IMM accuracy, B = x's accuracy;
  per-image quantities: correctness (1 right, 0 wrong); paired bootstrap of the difference.
- ``u1_core_accuracy_vs_target``: A = U1's core accuracy at the environment's threshold, B = the
  threshold target (ours ``params:threshold.target``, the paper's ``published.threshold_target``);
  bootstrap of the core ratio minus the target. An empty core leaves it undefined.
- ``u1_core_vs_u1_accuracy``: A = U1's core accuracy, B = U1's accuracy on the whole set: is
  the core more reliable than the set it is drawn from; paired bootstrap of both ratios. The
  only claims on the clean environment, which has no second generation.
- ``imm_vs_u1_mean_entropy``: A = the IMM's entropy, B = U1's, as means per image
  (``total / n``, so sets of different sizes compare); paired bootstrap of the difference.

The **paper's side** of a row (A > B or A < B) is the direction the paper's own numbers show for
that environment and evaluation set: ``sign(A_paper - B_paper)``. Where the paper publishes no
such numbers (no union row on the AutoAttack set, no total entropy there) the side is the
claim's thesis: the IMM above each other committee, U1's core at or above its target, the IMM
less uncertain than U1. The claim is then written in that direction ("IMM accuracy < U1
accuracy" on the AutoAttack set, where the paper's IMM is below U1), the difference is always
A - B, and the verdict says whether our interval lies strictly on the paper's side of 0.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from logifold_kedro.logifold.bootstrap import BootstrapInterval
from logifold_kedro.logifold.claims import (
    claim_verdict,
    core_accuracy_advantage,
    core_accuracy_margin,
    paired_mean_differences,
    paper_side,
)

from .tables import with_intervals

#: Where the paper's side of a row comes from.
SIDE_FROM_PUBLISHED = "published"
SIDE_FROM_THESIS = "thesis"


@dataclass(frozen=True)
class Claim:
    """One claim: A (``first``) against B (``second``), and the side its thesis states."""

    claim_id: str
    first: str
    second: str
    first_short: str
    second_short: str
    thesis_side: int
    needs_second_generation: bool = True


#: Committee names of the accuracy claims: (array prefix in imm_details and published column
#: prefix, label).
ACCURACY_OPPONENTS = (("u0", "U0"), ("u1", "U1"), ("u2", "U2'"), ("all", "all 16"))
ENTROPY_CLAIM = Claim(
    "imm_vs_u1_mean_entropy", "IMM mean entropy", "U1 mean entropy", "IMM", "U1", -1
)
CORE_CLAIM = Claim(
    "u1_core_accuracy_vs_target",
    "U1 core accuracy",
    "threshold target",
    "U1 core",
    "target",
    1,
    needs_second_generation=False,
)
CORE_VS_WHOLE_CLAIM = Claim(
    "u1_core_vs_u1_accuracy",
    "U1 core accuracy",
    "U1 accuracy",
    "U1 core",
    "U1",
    1,
    needs_second_generation=False,
)
CLAIMS = (
    *(
        Claim(f"imm_vs_{key}_accuracy", "IMM accuracy", f"{label} accuracy", "IMM", label, 1)
        for key, label in ACCURACY_OPPONENTS
    ),
    CORE_CLAIM,
    CORE_VS_WHOLE_CLAIM,
    ENTROPY_CLAIM,
)
#: The columns of the claims table, in order.
CLAIMS_COLUMNS = (
    "claim_id",
    "claim",
    "environment",
    "evaluation",
    "n",
    "paper_side",
    "paper_side_from",
    "first_value",
    "second_value",
    "difference",
    "difference_low",
    "difference_high",
    "verdict",
    "paper_first_value",
    "paper_second_value",
    "paper_difference",
    "paper_outcome",
)


def claim_statement(claim: Claim, side: int) -> str:
    """The claim written in the direction ``side``: ``"IMM accuracy > U1 accuracy"``."""
    return f"{claim.first} {'>' if side > 0 else '<'} {claim.second}"


def _published_row(rows: Sequence[Mapping[str, Any]], environment: str, evaluation: str) -> dict:
    for row in rows or ():
        if row.get("environment") == environment and row.get("evaluation") == evaluation:
            return dict(row)
    return {}


def _number(value: Any) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return float("nan")
    return number


def published_values(
    claim: Claim, environment: str, evaluation: str, published: Mapping[str, Any]
) -> tuple[float, float]:
    """The paper's A and B of a claim for one environment and evaluation set (NaN where the
    paper publishes none): accuracies from ``published.experiment2``, U1's core accuracy and
    ``published.threshold_target``, mean entropies per image ``total / n`` from
    ``published.experiment3`` (n from its row, else from the set's ``experiment2`` row)."""
    row2 = _published_row(published.get("experiment2", ()), environment, evaluation)
    if claim.claim_id == CORE_CLAIM.claim_id:
        return (
            _number(row2.get("u1_core_accuracy")),
            _number(published.get("threshold_target")),
        )
    if claim.claim_id == CORE_VS_WHOLE_CLAIM.claim_id:
        return _number(row2.get("u1_core_accuracy")), _number(row2.get("u1_accuracy"))
    if claim.claim_id == ENTROPY_CLAIM.claim_id:
        row3 = _published_row(published.get("experiment3", ()), environment, evaluation)
        # The number of images: the total entropy's own row, else that set's Experiment 2 row.
        n = _number(row3.get("n", row2.get("n")))
        if not n > 0:
            return float("nan"), float("nan")
        return (
            _number(row3.get("imm_total_entropy")) / n,
            _number(row3.get("u1_total_entropy")) / n,
        )
    opponent = claim.claim_id.removeprefix("imm_vs_").removesuffix("_accuracy")
    return _number(row2.get("imm_accuracy")), _number(row2.get(f"{opponent}_accuracy"))


def _outcome(claim: Claim, paper_first: float, paper_second: float, side: int) -> str:
    relation = ">" if side > 0 else "<"
    if math.isnan(paper_first) or math.isnan(paper_second):
        return f"not published (thesis: {claim.first_short} {relation} {claim.second_short})"
    if paper_first == paper_second:
        return f"{claim.first_short} = {claim.second_short} ({paper_first:.4f})"
    return (
        f"{claim.first_short} {relation} {claim.second_short} "
        f"({paper_first:.4f} vs {paper_second:.4f})"
    )


def _pair_keys(claim: Claim) -> tuple[str, str]:
    """The per-image arrays of A and B of a paired claim."""
    if claim.claim_id == ENTROPY_CLAIM.claim_id:
        return "imm_entropy", "u1_entropy"
    opponent = claim.claim_id.removeprefix("imm_vs_").removesuffix("_accuracy")
    return "imm_correct", f"{opponent}_correct"


def evaluation_set_claims(
    arrays: Mapping[str, Any],
    target: float,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> dict[str, tuple[float, float, BootstrapInterval]]:
    """Our A, B and the interval of A - B for every claim on one evaluation set, from its
    per-sample arrays (``imm_details`` under one ``<environment>.<evaluation>.`` prefix:
    ``threshold``, ``u1_entropy``, ``u1_correct``, ``u0_correct`` and, with a U2',
    ``u2_correct``, ``all_correct``, ``imm_correct``, ``imm_entropy`` (or ``u2_entropy``, from
    which ``imm_entropy_i = H1_i`` on U1's core, ``H2_i`` elsewhere)).

    Returns:
        claim id -> (our A, our B, interval of A - B). A claim whose arrays are missing (no
        U2') is left out. The paired differences share one set of resamples (for the same N and
        seed, the resamples of the Experiment 2 intervals too).
    """
    h1 = np.asarray(arrays["u1_entropy"], dtype=np.float64)
    core = h1 <= float(arrays["threshold"])
    per_image = {k: np.asarray(v) for k, v in arrays.items() if isinstance(v, np.ndarray)}
    if "imm_entropy" not in per_image and "u2_entropy" in per_image:
        per_image["imm_entropy"] = np.where(core, h1, per_image["u2_entropy"])
    pairs = {}
    for claim in CLAIMS:
        if not claim.needs_second_generation:
            continue
        first_key, second_key = _pair_keys(claim)
        if first_key in per_image and second_key in per_image:
            pairs[claim.claim_id] = (per_image[first_key], per_image[second_key])
    differences = paired_mean_differences(pairs, n_resamples, confidence, seed) if pairs else {}
    ours = {
        claim_id: (float(np.mean(first)), float(np.mean(second)), differences[claim_id])
        for claim_id, (first, second) in pairs.items()
    }
    margin = core_accuracy_margin(
        per_image["u1_correct"], core, target, n_resamples, confidence, seed
    )
    core_accuracy = margin.estimate + float(target)  # NaN for an empty core
    ours[CORE_CLAIM.claim_id] = (core_accuracy, float(target), margin)
    correct = per_image["u1_correct"].astype(bool)
    advantage = core_accuracy_advantage(correct, core, n_resamples, confidence, seed)
    ours[CORE_VS_WHOLE_CLAIM.claim_id] = (core_accuracy, float(correct.mean()), advantage)
    return ours


def claims_table(
    evaluation_sets: Mapping[tuple[str, str], Mapping[str, Any]],
    published: Mapping[str, Any],
    target: float,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
    without_second_generation: Sequence[str] = (),
) -> pd.DataFrame:
    """Every claim on every evaluation set: one row each, columns :data:`CLAIMS_COLUMNS`.

    Args:
        evaluation_sets: (environment, evaluation) -> that set's per-sample arrays (see
            :func:`evaluation_set_claims`), in the order the table lists them.
        without_second_generation: environments that have no U2' by design (clean): only the
            claims about U1's core get rows there. (An environment whose U2' was skipped keeps
            its rows, undefined: *not resolved*.)
        published: ``params:published`` (``experiment2``, ``experiment3``, ``threshold_target``).
        target: our threshold target (``params:threshold.target``).
        n_resamples, confidence, seed: the bootstrap (``params:bootstrap``).

    Returns:
        The table, rows grouped by claim (in :data:`CLAIMS` order), then by evaluation set.
        ``first_value`` and ``second_value`` are our A and B, ``difference`` our A - B with its
        interval; ``paper_side`` +1 / -1 says on which side of 0 the paper puts it
        (``paper_side_from``: its own numbers, or the thesis where it has none); ``verdict`` is
        holds / not resolved / fails.
    """
    ours = {
        key: evaluation_set_claims(arrays, target, n_resamples, confidence, seed)
        for key, arrays in evaluation_sets.items()
    }
    nan = float("nan")
    rows = []
    for claim in CLAIMS:
        for (environment, evaluation), arrays in evaluation_sets.items():
            if claim.needs_second_generation and environment in without_second_generation:
                continue
            first, second, interval = ours[environment, evaluation].get(
                claim.claim_id, (nan, nan, None)
            )
            paper_first, paper_second = published_values(claim, environment, evaluation, published)
            paper_difference = paper_first - paper_second
            side = paper_side(paper_difference, claim.thesis_side)
            from_thesis = math.isnan(paper_difference) or paper_difference == 0
            low, high = (interval.low, interval.high) if interval else (nan, nan)
            rows.append(
                {
                    "claim_id": claim.claim_id,
                    "claim": claim_statement(claim, side),
                    "environment": environment,
                    "evaluation": evaluation,
                    "n": int(len(np.asarray(arrays["u1_entropy"]))),
                    "paper_side": side,
                    "paper_side_from": SIDE_FROM_THESIS if from_thesis else SIDE_FROM_PUBLISHED,
                    "first_value": first,
                    "second_value": second,
                    "difference": interval.estimate if interval else nan,
                    "difference_low": low,
                    "difference_high": high,
                    "verdict": claim_verdict(low, high, side),
                    "paper_first_value": paper_first,
                    "paper_second_value": paper_second,
                    "paper_difference": paper_difference,
                    "paper_outcome": _outcome(claim, paper_first, paper_second, side),
                }
            )
    return pd.DataFrame(rows, columns=list(CLAIMS_COLUMNS))


def claims_for_reading(claims: pd.DataFrame, confidence: float = 0.95) -> pd.DataFrame:
    """The claims table as a reader scans it: claim, environment, evaluation set, our
    difference ``A - B [low, high]``, verdict, the paper's difference and its outcome."""
    table = claims[
        [
            "claim",
            "environment",
            "evaluation",
            "difference",
            "difference_low",
            "difference_high",
            "verdict",
            "paper_difference",
            "paper_outcome",
        ]
    ]
    return with_intervals(table, floatfmt="+.4f").rename(
        columns={
            "evaluation": "evaluation set",
            "difference": f"ours: A - B [{confidence:.0%} interval]",
            "paper_difference": "paper: A - B",
            "paper_outcome": "paper's outcome",
        }
    )
