"""The immunization stage as a user runs it, on tiny data; one Experiment 2 row is recomputed
from the stored probabilities with the math module."""

from __future__ import annotations

import numpy as np

from logifold_kedro.logifold import committee_entropy, core_metrics, mean_probabilities
from logifold_kedro.pipelines.naming import probs_entry
from tests.pipelines.conftest import TINY_WIRING as TINY
from tests.pipelines.conftest import open_catalog


def test_thresholds_and_tables(immunized):
    catalog = open_catalog(immunized)
    thresholds = catalog.load("thresholds")
    assert set(thresholds) == {"clean", "weak", "strong", "union"}
    for selection in thresholds.values():
        assert 0 <= selection["threshold"] <= 2
    experiment2 = catalog.load("experiment2_metrics")
    assert set(experiment2["environment"]) == {"clean", "weak", "strong", "union"}
    assert set(experiment2["evaluation"]) == {"test", "autoattack"}
    experiment1 = catalog.load("experiment1_metrics")
    assert {"single", "committee", "family"} <= set(experiment1["kind"])


def test_one_experiment2_row_recomputed_from_stored_probabilities(immunized):
    catalog = open_catalog(immunized)
    experiment2 = catalog.load("experiment2_metrics")
    row = experiment2[
        (experiment2.environment == "weak") & (experiment2.evaluation == "test")
    ].iloc[0]
    thresholds = catalog.load("thresholds")
    labels = catalog.load("u0_apgd_weak_test")["y"]
    probs = np.stack(
        [catalog.load(probs_entry(m, "u0_apgd_weak_test"))["probs"] for m in TINY.member_ids("u1")]
    )
    entropy = committee_entropy(probs)
    metrics = core_metrics(
        entropy, mean_probabilities(probs).argmax(axis=1), labels, thresholds["weak"]["threshold"]
    )
    assert row["u1_accuracy"] == metrics["overall_accuracy"]
    assert row["u1_core_coverage"] == metrics["core_coverage"]
    np.testing.assert_allclose(row["u1_total_entropy"], entropy.sum())
