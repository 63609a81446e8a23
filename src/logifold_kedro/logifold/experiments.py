"""The experiments' measures: Experiment 1 (cores of single models and committees, clean and
attacked), Experiments 2 and 3 (U0, U1, U2', the all-16 ensemble and the IMM on one evaluation
set), and the adaptive evaluation's per-set measures.

Framework-free, on plain arrays; the nodes only gather stored probabilities by name, call these
functions and package the rows into tables. Notation: member probabilities (K, N, C); ``H1`` and
``H2`` the committee entropies of U1 and U2'; ``t`` the environment's threshold; U1's core is
``{H1 <= t}``; the IMM answers with U1 on its core and with U2' elsewhere.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from .bootstrap import bootstrap_settings, core_ratios, replicate_columns, resampled_ratios
from .core import accuracy, core_mask, core_metrics
from .entropy import committee_entropy, ensemble_predict, mean_probabilities, single_entropy
from .routing import imm_route, soft_route, total_entropy

#: Experiment 1's measures of a classifier and its core.
EXPERIMENT1_MEASURES = ("core_coverage", "core_accuracy", "overall_accuracy")
#: Experiment 2 ratios that need a second generation (NaN intervals without one).
U2_RATIOS = (
    "u2_accuracy",
    "all_accuracy",
    "imm_accuracy",
    "u2_accuracy_on_u1_out_of_core",
    "u2_core_coverage_in_u1_out_of_core",
    "u2_core_accuracy_in_u1_out_of_core",
    "imm_mean_entropy",
)
BOUNDS = ("low", "high")


def nan_mean_rows(rows: Sequence[np.ndarray]) -> np.ndarray:
    """Element-wise mean of equal-length arrays, NaNs left out (NaN where all are NaN)."""
    stacked = np.vstack(rows)
    counts = np.sum(~np.isnan(stacked), axis=0)
    sums = np.nansum(stacked, axis=0)
    return np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)


def evaluate_imm(
    u0_probs: np.ndarray,
    u1_probs: np.ndarray,
    u2_probs: np.ndarray | None,
    labels: np.ndarray,
    t: float,
    bootstrap: Mapping[str, Any] | None = None,
    intervals: bool = True,
) -> tuple[dict[str, float], dict[str, np.ndarray]]:
    """Every Experiment 2 and 3 number for one evaluation set, and the per-sample arrays behind.

    U1 decides on its core (H1 <= t), U2' on the rest. With `u2_probs` None (no second generation
    for this environment) the U2', all-16 and IMM numbers are NaN. Each accuracy and coverage,
    and the mean entropy per image of U1 (`u1_mean_entropy = sum_i H1_i / N`) and of the IMM
    (`imm_mean_entropy = imm_total_entropy / N`), gets a paired percentile bootstrap interval
    (`<name>_low`, `<name>_high`) from `params:bootstrap`. The counts behind the ratios are
    `u1_core_size`, `u1_out_of_core_size` and `u2_core_size_in_u1_out_of_core` (U2''s own core,
    H2 <= t, within U1's out-of-core). With `intervals` False, the point estimates only (no
    resampling, no `_low`/`_high` columns).

    The per-sample arrays: labels, U1's entropy, prediction and correctness, U0's correctness;
    with a U2' also its entropy and correctness, the all-16 ensemble's and the IMM's
    correctness, and the IMM's entropy (`imm_entropy_i = H1_i` on U1's core, `H2_i` elsewhere).
    """
    u1_mean = mean_probabilities(u1_probs)
    u1_pred = u1_mean.argmax(axis=1)
    h1 = committee_entropy(u1_probs)
    core = core_mask(h1, t)  # U1's core: the one mask every U1, U2' and IMM number below uses
    u1_correct = u1_pred == labels
    u1_core = core_metrics(h1, u1_pred, labels, t)
    u0_correct = ensemble_predict(u0_probs) == labels
    row = {
        "n": int(len(labels)),
        "threshold": float(t),
        "u0_accuracy": accuracy(u0_correct),
        "u1_accuracy": float(u1_correct.mean()),
        "u1_core_accuracy": u1_core["core_accuracy"],
        "u1_core_coverage": u1_core["core_coverage"],
        "u1_out_of_core_accuracy": u1_core["out_of_core_accuracy"],
        "u1_core_size": int(core.sum()),
        "u1_out_of_core_size": int((~core).sum()),
        "u1_total_entropy": float(h1.sum()),
        "u1_mean_entropy": float(h1.mean()),
    }
    details = {
        "labels": labels,
        "u1_entropy": h1,
        "u1_pred": u1_pred,
        "u1_correct": u1_correct,
        "u0_correct": u0_correct,
    }
    ones = np.ones(labels.shape, dtype=bool)
    u1_ratios = core_ratios(u1_correct, core)
    ratios = {
        "u0_accuracy": (u0_correct, ones),
        **{f"u1_{name}": pair for name, pair in u1_ratios.items()},
    }
    ratios["u1_accuracy"] = ratios.pop("u1_overall_accuracy")
    ratios["u1_mean_entropy"] = (h1, ones)
    settings = bootstrap_settings(bootstrap)
    confidence = settings.pop("confidence")

    def bounds() -> dict[str, float]:
        """The `_low`/`_high` columns of every ratio in `ratios` (none without `intervals`)."""
        if not intervals:
            return {}
        return replicate_columns(resampled_ratios(ratios, **settings), confidence)

    if u2_probs is None:
        nan_row = dict.fromkeys(
            (*U2_RATIOS, "u2_core_size_in_u1_out_of_core", "imm_total_entropy"), float("nan")
        )
        if intervals:
            nan_row.update({f"{k}_{end}": float("nan") for k in U2_RATIOS for end in BOUNDS})
        return {**row, **bounds(), **nan_row}, details
    u2_mean = mean_probabilities(u2_probs)
    h2 = committee_entropy(u2_probs)
    u2_correct = u2_mean.argmax(axis=1) == labels
    routed, _ = imm_route(u1_mean, u2_mean, h1, t)  # routes on the same H1 <= t as `core`
    imm_correct = routed.argmax(axis=1) == labels
    out_of_core = ~core
    u2_core_within = out_of_core & (h2 <= t)
    totals = total_entropy(h1, h2, t)
    imm_entropy = np.where(core, h1, h2)  # per image; its sum is totals["imm_total"]
    all_correct = ensemble_predict(np.concatenate([u1_probs, u2_probs])) == labels
    row.update(
        {
            "u2_accuracy": float(u2_correct.mean()),
            "all_accuracy": accuracy(all_correct),
            "imm_accuracy": float(imm_correct.mean()),
            "u2_accuracy_on_u1_out_of_core": accuracy(u2_correct[out_of_core]),
            "u2_core_coverage_in_u1_out_of_core": (
                float(u2_core_within.sum() / out_of_core.sum())
                if out_of_core.any()
                else float("nan")
            ),
            "u2_core_accuracy_in_u1_out_of_core": accuracy(u2_correct[u2_core_within]),
            "u2_core_size_in_u1_out_of_core": int(u2_core_within.sum()),
            "imm_total_entropy": totals["imm_total"],
            "imm_mean_entropy": float(imm_entropy.mean()),
        }
    )
    ratios.update(
        {
            "u2_accuracy": (u2_correct, ones),
            "all_accuracy": (all_correct, ones),
            "imm_accuracy": (imm_correct, ones),
            "u2_accuracy_on_u1_out_of_core": (u2_correct & out_of_core, out_of_core),
            "u2_core_coverage_in_u1_out_of_core": (u2_core_within, out_of_core),
            "u2_core_accuracy_in_u1_out_of_core": (u2_correct & u2_core_within, u2_core_within),
            "imm_mean_entropy": (imm_entropy, ones),
        }
    )
    row.update(bounds())
    details.update(
        {
            "u2_entropy": h2,
            "u2_correct": u2_correct,
            "all_correct": all_correct,
            "imm_correct": imm_correct,
            "imm_entropy": imm_entropy,
        }
    )
    return row, details


def experiment3_table(experiment2: pd.DataFrame) -> pd.DataFrame:
    """Experiment 3 from Experiment 2's rows with a U2': total entropy of U1 and of the IMM, the
    mean entropy per image with its interval (it compares across evaluation sets of different
    sizes), and the reduction ``1 - imm_total_entropy / u1_total_entropy``."""
    mean_entropies = [
        f"{system}_mean_entropy{end}" for system in ("u1", "imm") for end in ("", "_low", "_high")
    ]
    experiment3 = experiment2.loc[
        experiment2["u2_available"],
        [
            "environment",
            "evaluation",
            "n",
            "threshold",
            "u1_total_entropy",
            "imm_total_entropy",
            *mean_entropies,
        ],
    ].reset_index(drop=True)
    experiment3["reduction"] = (
        1 - experiment3["imm_total_entropy"] / experiment3["u1_total_entropy"]
    )
    return experiment3


def experiment1_row(
    probs: np.ndarray,
    labels: np.ndarray,
    t: float,
    single: bool,
    bootstrap: Mapping[str, Any] | None = None,
) -> tuple[dict[str, float], dict[str, np.ndarray]]:
    """Experiment 1's measures of one classifier on one image set, and their bootstrap
    replicates.

    A single model (``single``, K = 1) is judged by its own entropy, a committee by its committee
    entropy; the prediction is the argmax of the mean probabilities. At the fixed threshold `t`:
    ``core_coverage = |{H <= t}| / N``, ``core_accuracy`` the accuracy on the core and
    ``overall_accuracy`` the accuracy on all N images, each with a paired percentile bootstrap
    interval (`<measure>_low/_high`) from `bootstrap`.
    """
    settings = bootstrap_settings(bootstrap)
    confidence = settings.pop("confidence")
    entropy = single_entropy(probs[0]) if single else committee_entropy(probs)
    predictions = ensemble_predict(probs)
    metrics = core_metrics(entropy, predictions, labels, t)
    all_ratios = core_ratios(predictions == labels, entropy <= t)
    replicates = resampled_ratios({m: all_ratios[m] for m in EXPERIMENT1_MEASURES}, **settings)
    row = {
        "n": metrics["n"],
        **{m: metrics[m] for m in EXPERIMENT1_MEASURES},
        **replicate_columns(replicates, confidence),
    }
    return row, replicates


def experiment1_family_rows(
    table: pd.DataFrame,
    replicates: Mapping[tuple[str, str], Mapping[str, np.ndarray]],
    t: float,
    confidence: float,
) -> list[dict[str, Any]]:
    """Experiment 1's family rows: per family and condition, the mean and standard deviation of
    its single models' measures; the mean's interval comes from the mean of the models'
    bootstrap replicates (each model's image set resampled with the same seed)."""
    singles = table[table["kind"] == "single"]
    rows = []
    for (family, condition), group in singles.groupby(["family", "condition"], sort=True):
        family_replicates = {
            m: nan_mean_rows([replicates[target, condition][m] for target in group["target"]])
            for m in EXPERIMENT1_MEASURES
        }
        rows.append(
            {
                "kind": "family",
                "target": f"{family} (mean)",
                "family": family,
                "condition": condition,
                "threshold": t,
                "n": int(group["n"].sum()),
                **{m: group[m].mean() for m in EXPERIMENT1_MEASURES},
                **{f"{m}_std": group[m].std() for m in EXPERIMENT1_MEASURES},
                **replicate_columns(family_replicates, confidence),
            }
        )
    return rows


def adaptive_measures(
    u0_probs: np.ndarray,
    u1_probs: np.ndarray,
    u2_probs: np.ndarray | None,
    labels: np.ndarray,
    t: float,
    temperature: float,
) -> dict[str, float]:
    """The adaptive evaluation's measures of the hard-routed IMM on one (attacked) image set.

    Accuracy of U1, U2' and the IMM (``U1 if H1 <= t else U2'``); U1's core coverage, core
    accuracy and core size at `t`; ``wrong_in_core = mean(H1 <= t and U1 wrong)``, the IMM's
    errors the gate cannot catch; U1's mean entropy; and the soft IMM's accuracy,
    ``g * mean(U1) + (1 - g) * mean(U2')`` with ``g = sigmoid((t - H1) / temperature)``. Without a
    U2' (`u2_probs` None) the U2', IMM and soft-IMM accuracies are NaN.
    """
    row, details = evaluate_imm(u0_probs, u1_probs, u2_probs, labels, t, intervals=False)
    h1 = details["u1_entropy"]
    core = core_mask(h1, t)
    soft_accuracy = float("nan")
    if u2_probs is not None:
        soft, _ = soft_route(
            mean_probabilities(u1_probs), mean_probabilities(u2_probs), h1, t, temperature
        )
        soft_accuracy = accuracy(soft.argmax(axis=1) == labels)
    return {
        "imm_accuracy": row["imm_accuracy"],
        "u1_accuracy": row["u1_accuracy"],
        "u2_accuracy": row["u2_accuracy"],
        "soft_imm_accuracy": soft_accuracy,
        "u1_core_coverage": row["u1_core_coverage"],
        "u1_core_accuracy": row["u1_core_accuracy"],
        "u1_core_size": row["u1_core_size"],
        "wrong_in_core": float(np.mean(core & ~details["u1_correct"])),
        "u1_mean_entropy": row["u1_mean_entropy"],
    }


def attack_measures(
    clean_probs: np.ndarray, adversarial_probs: np.ndarray, labels: np.ndarray
) -> dict[str, float]:
    """How an attack moved a committee (K = 1: a single model): its accuracy on the clean and on
    the adversarial images, and the success rate, the fraction of images whose prediction
    (``argmax`` of the members' mean) the attack changed."""
    clean_pred = ensemble_predict(clean_probs)
    adversarial_pred = ensemble_predict(adversarial_probs)
    return {
        "clean_accuracy": float(np.mean(clean_pred == labels)),
        "adversarial_accuracy": float(np.mean(adversarial_pred == labels)),
        "success_rate": float(np.mean(adversarial_pred != clean_pred)),
    }
