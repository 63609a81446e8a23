"""The experiments' measures in logifold.experiments, checked against their formulas on small
hand-made committees."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from logifold_kedro.logifold import committee_entropy, single_entropy
from logifold_kedro.logifold.experiments import (
    adaptive_measures,
    attack_measures,
    evaluate_imm,
    experiment1_family_rows,
    experiment1_row,
    experiment3_table,
)

LABELS = np.array([0, 1, 2, 0])


def one_hot(classes, confidence=0.9, n_classes=10):
    probs = np.full((len(classes), n_classes), (1 - confidence) / (n_classes - 1))
    probs[np.arange(len(classes)), classes] = confidence
    return probs


def committee(*predictions, confidence=0.9):
    return np.stack([one_hot(p, confidence) for p in predictions])


def test_experiment3_reduction_is_one_minus_the_imm_over_u1_total_entropy():
    experiment2 = pd.DataFrame(
        {
            "environment": ["weak", "clean"],
            "evaluation": ["test", "test"],
            "u2_available": [True, False],
            "n": [4, 4],
            "threshold": [0.5, 0.5],
            "u1_total_entropy": [2.0, 1.0],
            "imm_total_entropy": [0.5, np.nan],
            **{
                f"{s}_mean_entropy{e}": [0.1, 0.2]
                for s in ("u1", "imm")
                for e in ("", "_low", "_high")
            },
        }
    )
    table = experiment3_table(experiment2)
    assert list(table["environment"]) == ["weak"]  # rows without a U2' are left out
    assert table["reduction"].iloc[0] == pytest.approx(1 - 0.5 / 2.0)


def test_experiment1_judges_a_single_model_by_its_own_entropy_and_a_committee_by_its_own():
    agreeing = committee([0, 1, 2, 0], [0, 1, 2, 0])
    split = committee([0, 1, 2, 0], [3, 1, 2, 3])
    t = float(np.median(committee_entropy(split)))
    row, replicates = experiment1_row(split, LABELS, t, single=False)
    core = committee_entropy(split) <= t
    assert row["core_coverage"] == pytest.approx(core.mean())
    assert row["overall_accuracy"] == pytest.approx(1.0)  # the mean still argmaxes right
    assert set(replicates) == {"core_coverage", "core_accuracy", "overall_accuracy"}
    single_row, _ = experiment1_row(agreeing[:1], LABELS, t, single=True)
    assert single_row["core_coverage"] == pytest.approx(np.mean(single_entropy(agreeing[0]) <= t))
    assert row["core_coverage_low"] <= row["core_coverage"] <= row["core_coverage_high"]


def test_experiment1_family_rows_average_the_single_models_and_their_spread():
    table = pd.DataFrame(
        {
            "kind": ["single", "single", "committee"],
            "target": ["a", "b", "u0"],
            "family": ["resnet", "resnet", "u0"],
            "condition": ["clean"] * 3,
            "n": [4, 4, 4],
            "core_coverage": [0.25, 0.75, 0.5],
            "core_accuracy": [1.0, 0.5, 0.9],
            "overall_accuracy": [0.5, 1.0, 0.8],
        }
    )
    ones = {m: np.array([0.5, 0.5]) for m in ("core_coverage", "core_accuracy", "overall_accuracy")}
    rows = experiment1_family_rows(table, {("a", "clean"): ones, ("b", "clean"): ones}, 0.5, 0.9)
    assert len(rows) == 1 and rows[0]["target"] == "resnet (mean)" and rows[0]["n"] == 8
    assert rows[0]["core_coverage"] == pytest.approx(0.5)
    assert rows[0]["core_coverage_std"] == pytest.approx(np.std([0.25, 0.75], ddof=1))


def test_adaptive_measures_count_the_errors_inside_u1s_core_the_gate_cannot_catch():
    u1 = committee([1, 1, 2, 3], [1, 1, 2, 3], confidence=0.99)  # sure, wrong on 0 and 3
    u2 = committee([0, 1, 2, 0], [0, 1, 2, 0], confidence=0.5)
    u0 = u1[:1]
    t = float(committee_entropy(u1).max()) + 1e-6  # every image in U1's core
    measures = adaptive_measures(u0, u1, u2, LABELS, t, temperature=0.05)
    assert measures["u1_core_coverage"] == 1.0 and measures["u1_core_size"] == 4
    assert measures["wrong_in_core"] == pytest.approx(0.5)
    assert measures["imm_accuracy"] == measures["u1_accuracy"] == pytest.approx(0.5)
    assert measures["u2_accuracy"] == pytest.approx(1.0)
    assert measures["soft_imm_accuracy"] == pytest.approx(0.5)  # the gate trusts U1 everywhere
    without_u2 = adaptive_measures(u0, u1, None, LABELS, t, temperature=0.05)
    assert np.isnan(without_u2["imm_accuracy"]) and np.isnan(without_u2["soft_imm_accuracy"])


def test_attack_measures_count_the_predictions_an_attack_changed():
    clean = committee([0, 1, 2, 0])
    attacked = committee([0, 5, 5, 0])
    measures = attack_measures(clean, attacked, LABELS)
    assert measures == {"clean_accuracy": 1.0, "adversarial_accuracy": 0.5, "success_rate": 0.5}


@pytest.mark.parametrize("with_u2", [True, False])
def test_evaluate_imm_without_intervals_gives_the_same_point_estimates_and_no_bounds(with_u2):
    u0 = committee([0, 1, 2, 1], [0, 1, 1, 0])
    u1 = np.concatenate([u0, committee([0, 2, 2, 0], [1, 1, 2, 0])])
    u2 = committee([0, 1, 2, 0], [0, 1, 2, 0]) if with_u2 else None
    t = float(committee_entropy(u1).min()) + 1e-9
    with_bounds, details = evaluate_imm(u0, u1, u2, LABELS, t, {"n_resamples": 20})
    point, point_details = evaluate_imm(u0, u1, u2, LABELS, t, intervals=False)
    assert not [k for k in point if k.endswith(("_low", "_high"))]
    bounds = {k for k in with_bounds if k.endswith(("_low", "_high"))}
    assert bounds and set(with_bounds) - bounds == set(point)
    for key, value in point.items():
        assert value == with_bounds[key] or (np.isnan(value) and np.isnan(with_bounds[key])), key
    assert point_details.keys() == details.keys()
