"""The adaptive-attacks stage as a user runs it, on tiny data: the attacked sets keep their
budget and labels, and one row of `adaptive_metrics` is recomputed from the stored probabilities
with the math module (hard routing, not the soft stand-in)."""

from __future__ import annotations

import numpy as np
import pytest

from logifold_kedro.data.perturbations import perturbation_norms
from logifold_kedro.logifold import committee_entropy, imm_route, mean_probabilities
from logifold_kedro.pipelines.naming import ADAPTIVE_SETTINGS, U2_ENVIRONMENTS, probs_entry
from logifold_kedro.pipelines.wiring import Wiring
from tests.pipelines.conftest import open_catalog, wiring_of

N_IMAGES = 8  # tests/conf_tiny/parameters_adaptive_attacks.yml
ATTACKED = ["union"]  # its `environments`: the others get no nodes and no rows
confident_core_set, soft_imm_set = Wiring.confident_core_set, Wiring.soft_imm_set


def test_adaptive_sets_keep_the_budget_and_the_first_test_images(adapted):
    catalog = open_catalog(adapted)
    clean = catalog.load("clean_test")
    budgets = {"weak": 0.5, "strong": 0.7, "strongest": 0.7}
    left_out = [
        soft_imm_set(env, s)
        for env in U2_ENVIRONMENTS
        if env not in ATTACKED
        for s in ADAPTIVE_SETTINGS
    ]
    assert not [name for name in left_out if catalog.exists(name)]
    for setting in ADAPTIVE_SETTINGS:
        for name in [confident_core_set(setting)] + [
            soft_imm_set(env, setting) for env in ATTACKED
        ]:
            attacked = catalog.load(name)
            assert attacked["x"].shape == (N_IMAGES, 32, 32, 3)
            assert attacked["x"].dtype == np.float32
            np.testing.assert_array_equal(attacked["y"], clean["y"][:N_IMAGES])
            assert perturbation_norms(clean["x"][:N_IMAGES], attacked["x"]).max() <= (
                budgets[setting] + 1e-4
            )
            assert attacked["setting_name"] == setting


def test_confident_core_attack_changes_u1_labels(adapted):
    """The attack bites: U1's label differs from its clean one on some attacked image. (ART
    returns the unsuccessful images with their random start, so they are not unchanged.)"""
    catalog = open_catalog(adapted)
    ids = wiring_of(adapted).member_ids("u1")
    clean_pred = mean_probabilities(
        [catalog.load(probs_entry(m, "clean_test"))["probs"][:N_IMAGES] for m in ids]
    ).argmax(axis=1)
    changed = 0
    for setting in ADAPTIVE_SETTINGS:
        name = confident_core_set(setting)
        pred = mean_probabilities([catalog.load(probs_entry(m, name))["probs"] for m in ids])
        changed += int(np.sum(pred.argmax(axis=1) != clean_pred))
    assert changed > 0


def test_metrics_table_and_one_row_recomputed_with_hard_routing(adapted):
    catalog = open_catalog(adapted)
    table = catalog.load("adaptive_metrics")
    assert len(table) == len([row for row in wiring_of(adapted).adaptive_rows()])
    assert set(table["environment"]) == set(ATTACKED)
    assert set(table["kind"]) == {"none", "non-adaptive", "adaptive"}
    assert (table["n"] == N_IMAGES).all()
    thresholds = catalog.load("thresholds")
    available = table[table["u2_available"]]
    assert available["imm_accuracy"].between(0, 1).all()
    assert table.loc[~table["u2_available"], "imm_accuracy"].isna().all()
    # The last adaptive row recomputed from the stored probabilities: U1's side always, the
    # IMM where U2' exists (the tiny chain skips it: test_nodes.py checks the routing then).
    row = table[table["kind"] == "adaptive"].iloc[-1]
    env, name = row["environment"], row["image_set"]
    wiring = wiring_of(adapted)
    u1 = np.stack([catalog.load(probs_entry(m, name))["probs"] for m in wiring.member_ids("u1")])
    labels = catalog.load(name)["y"]
    t = thresholds[env]["threshold"]
    h1 = committee_entropy(u1)
    core = h1 <= t
    assert row["u1_core_coverage"] == core.mean()
    wrong_in_core = core & (mean_probabilities(u1).argmax(axis=1) != labels)
    assert row["wrong_in_core"] == wrong_in_core.mean()
    assert row["u1_mean_entropy"] == pytest.approx(h1.mean())
    if not row["u2_available"]:
        assert np.isnan(row["imm_accuracy"]) and np.isnan(row["u2_accuracy"])
    else:
        u2 = np.stack(
            [catalog.load(probs_entry(m, name))["probs"] for m in wiring.member_ids(f"u2_{env}")]
        )
        routed, _ = imm_route(mean_probabilities(u1), mean_probabilities(u2), h1, t)
        assert row["imm_accuracy"] == np.mean(routed.argmax(axis=1) == labels)
