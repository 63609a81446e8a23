"""Framework-free nodes of the immunization stage, on synthetic probabilities whose answers are
known (hand-checked entropies and accuracies) or recomputed with the math module."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from logifold_kedro.logifold.core import core_metrics
from logifold_kedro.logifold.entropy import committee_entropy, mean_probabilities
from logifold_kedro.logifold.experiments import evaluate_imm
from logifold_kedro.logifold.routing import imm_route
from logifold_kedro.logifold.threshold import select_threshold, threshold_grid
from logifold_kedro.pipelines.immunization.nodes import (
    concat_image_sets,
    entropy_core_table,
    evaluate_generations,
    member_probs,
    select_second_generation_data,
    select_thresholds,
    split_for_training,
)
from logifold_kedro.pipelines.naming import probs_entry
from tests.fresh_interpreter import run_fresh

REPO = Path(__file__).resolve().parents[3]
C = 10  # classes; entropies are in base 10
EPS = 1e-12
# Two one-hot members that disagree: H = -(log10(1 + eps) + log10(eps)) / 2 (about 6).
H_DISAGREE = -(np.log10(1 + EPS) + np.log10(EPS)) / 2
# Entropy of [0.6, 0.4] in base 10.
H_60_40 = -(0.6 * np.log10(0.6) + 0.4 * np.log10(0.4))

BOOTSTRAP = {"n_resamples": 300, "confidence": 0.95, "seed": 1, "threshold_resamples": 40}


def assert_intervals_hold_their_values(table: pd.DataFrame, measures) -> None:
    """Every measure has `_low <= value <= _high` where it is defined."""
    for measure in measures:
        defined = table[measure].notna()
        assert defined.any(), measure
        low, high = table.loc[defined, f"{measure}_low"], table.loc[defined, f"{measure}_high"]
        values = table.loc[defined, measure]
        assert (low <= values + 1e-12).all() and (values <= high + 1e-12).all(), measure


THRESHOLD_PARAMS = {
    "target": 0.9,
    "start": 2.0,
    "stop": 0.02,
    "step": 0.01,
    "min_core": 5,
    "decimals": 3,
}
VAL_SETS = {"clean": "clean_val", "weak": "u0_apgd_weak_val", "strong": "u0_apgd_strong_val"}


def one_hot(classes) -> np.ndarray:
    return np.eye(C)[np.asarray(classes)]


def peaked_probs(rng: np.random.Generator, labels: np.ndarray, confident: np.ndarray) -> np.ndarray:
    """Softmax-like rows: 0.95 on the label where `confident`, a flat Dirichlet draw elsewhere."""
    probs = rng.dirichlet(np.full(C, 1.0), size=len(labels))
    sure = np.full((len(labels), C), 0.05 / (C - 1))
    sure[np.arange(len(labels)), labels] = 0.95
    return np.where(confident[:, None], sure, probs)


def images(ids: np.ndarray, labels: np.ndarray) -> dict[str, np.ndarray]:
    """An image set whose image i is filled with the value ids[i], so it can be traced."""
    x = np.broadcast_to(ids[:, None, None, None], (len(ids), 32, 32, 3)).astype(np.float32)
    return {"x": x.copy(), "y": labels.astype(np.int64), "split": "test"}


# --- member_probs, concat_image_sets, split_for_training -----------------------------------------
def test_member_probs_stacks_members_and_concatenates_sets_in_order():
    a1, a2 = one_hot([1, 2]), one_hot([3])
    b1, b2 = one_hot([4, 5]), one_hot([6])
    entries = {
        probs_entry("a", "s1"): {"probs": a1.astype(np.float32)},
        probs_entry("a", "s2"): {"probs": a2},
        probs_entry("b", "s1"): {"probs": b1},
        probs_entry("b", "s2"): {"probs": b2},
    }
    stacked = member_probs(entries, ["b", "a"], ["s2", "s1"])
    assert stacked.shape == (2, 3, C)
    assert stacked.dtype == np.float64
    np.testing.assert_array_equal(stacked.argmax(axis=2), [[6, 4, 5], [3, 1, 2]])
    with pytest.raises(KeyError, match="probs__c__s1"):
        member_probs(entries, ["a", "c"], ["s1"])


def test_concat_image_sets_keeps_order_and_int64_labels():
    first = images(np.array([1.0, 2.0]), np.array([3, 4], dtype=np.int32))
    second = images(np.array([3.0]), np.array([5], dtype=np.int32))
    joined = concat_image_sets([first, second])
    assert set(joined) == {"x", "y"}
    np.testing.assert_array_equal(joined["x"][:, 0, 0, 0], [1.0, 2.0, 3.0])
    np.testing.assert_array_equal(joined["y"], [3, 4, 5])
    assert joined["y"].dtype == np.int64


def test_split_for_training_is_stratified_disjoint_and_complete():
    y = np.repeat(np.arange(C), 20)
    x = np.arange(len(y))
    train, val = split_for_training(x, y, 0.1, seed=42)
    assert len(val["y"]) == 20 and len(train["y"]) == 180
    assert sorted(np.concatenate([train["x"], val["x"]])) == list(range(len(y)))
    np.testing.assert_array_equal(np.bincount(val["y"], minlength=C), np.full(C, 2))
    np.testing.assert_array_equal(y[train["x"]], train["y"])
    again, _ = split_for_training(x, y, 0.1, seed=42)
    np.testing.assert_array_equal(again["x"], train["x"])


def test_split_for_training_is_the_references_train_test_split():
    # The specialists' 80/20 and U2''s 90/10 re-splits are the reference's scikit-learn call.
    from sklearn.model_selection import train_test_split

    y = np.random.default_rng(0).integers(0, C, size=301)
    x = np.arange(len(y))
    for fraction in (0.2, 0.1):
        train, val = split_for_training(x, y, fraction, seed=42)
        ref_train, ref_val = train_test_split(x, test_size=fraction, stratify=y, random_state=42)
        np.testing.assert_array_equal(val["x"], ref_val)
        np.testing.assert_array_equal(train["x"], ref_train)


def test_split_for_training_small_pools_still_get_a_validation_sample():
    # 10% of 4 rounds to 0: the split must still give one validation sample.
    train, val = split_for_training(np.arange(4), np.array([0, 0, 1, 1]), 0.1, seed=0)
    assert len(val["y"]) == 1 and len(train["y"]) == 3
    # A class with a single sample: split without stratification, nothing lost.
    train, val = split_for_training(np.arange(5), np.array([0, 0, 0, 0, 7]), 0.2, seed=0)
    assert len(val["y"]) == 1
    assert sorted(np.concatenate([train["x"], val["x"]])) == [0, 1, 2, 3, 4]
    with pytest.raises(ValueError, match="at least 2"):
        split_for_training(np.arange(1), np.array([3]), 0.1, seed=0)
    with pytest.raises(ValueError, match="val_fraction"):
        split_for_training(np.arange(4), np.array([0, 0, 1, 1]), 1.0, seed=0)


# --- evaluate_imm on a hand-built fixture --------------------------------------------------------
LABELS = np.array([1, 2, 3, 4, 5, 6])
T = 0.25


def imm_fixture() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Samples 0-2: U1 (2 members) confident and right (H1 ~ 0, core). Samples 3-5: U1's members
    confidently disagree, both wrong (H1 ~ 6). U2' (3 members): uniform (H2 = 1, predicts 0,
    wrong) on 0-1, confidently wrong on 2, confident and right on 3-4 (H2 ~ 0), 0.6/0.4 on
    the label and class 0 on 5 (H2 = 0.292 > t, right). U0: right on samples 0 and 3 only."""
    u1_a = one_hot(np.where(np.arange(6) < 3, LABELS, (LABELS + 2) % C))
    u1_b = one_hot(np.where(np.arange(6) < 3, LABELS, (LABELS + 3) % C))
    u2_member = np.full((6, C), 1.0 / C)
    u2_member[2] = one_hot([9])[0]
    u2_member[3:5] = one_hot(LABELS[3:5])
    u2_member[5] = 0.6 * one_hot([6])[0] + 0.4 * one_hot([0])[0]
    u2 = np.stack([u2_member] * 3)
    u0_member = one_hot(np.where(np.isin(np.arange(6), [0, 3]), LABELS, (LABELS + 1) % C))
    u0 = np.stack([u0_member, u0_member])
    return u0, np.stack([u1_a, u1_b]), u2


def test_evaluate_imm_u1_decides_its_core_and_u2_the_rest():
    u0, u1, u2 = imm_fixture()
    row, details = evaluate_imm(u0, u1, u2, LABELS, T)
    assert row["n"] == 6 and row["threshold"] == T
    assert row["u0_accuracy"] == pytest.approx(2 / 6)
    assert row["u1_accuracy"] == pytest.approx(0.5)
    assert row["u1_core_accuracy"] == 1.0
    assert row["u1_core_coverage"] == 0.5
    assert row["u1_out_of_core_accuracy"] == 0.0
    assert (row["u1_core_size"], row["u1_out_of_core_size"]) == (3, 3)
    assert row["u2_accuracy"] == pytest.approx(0.5)
    # All 16 (here 5) members averaged: sample 2 goes to U2''s 3 confident wrong members.
    assert row["all_accuracy"] == pytest.approx(5 / 6)
    assert row["imm_accuracy"] == 1.0
    assert row["u2_accuracy_on_u1_out_of_core"] == 1.0
    # Within U1's out-of-core (3, 4, 5), U2''s own core at t is 3 and 4 (H2 of 5 is 0.292 > t).
    assert row["u2_core_coverage_in_u1_out_of_core"] == pytest.approx(2 / 3)
    assert row["u2_core_accuracy_in_u1_out_of_core"] == 1.0
    assert row["u2_core_size_in_u1_out_of_core"] == 2
    # Total entropy: U1 is ~0 on its core and ~6 on each of the 3 others; the IMM keeps U1's
    # ~0 on the core and takes U2''s ~0, ~0 and 0.292 on the rest.
    assert row["u1_total_entropy"] == pytest.approx(3 * H_DISAGREE, rel=1e-9)
    assert row["imm_total_entropy"] == pytest.approx(H_60_40, abs=1e-9)
    assert row["u1_mean_entropy"] == pytest.approx(3 * H_DISAGREE / 6, rel=1e-9)
    assert row["imm_mean_entropy"] == pytest.approx(H_60_40 / 6, abs=1e-9)

    np.testing.assert_allclose(details["u1_entropy"], [0, 0, 0, *[H_DISAGREE] * 3], atol=1e-9)
    np.testing.assert_allclose(details["u2_entropy"], [1, 1, 0, 0, 0, H_60_40], atol=1e-9)
    np.testing.assert_array_equal(details["u1_correct"], [1, 1, 1, 0, 0, 0])
    np.testing.assert_array_equal(details["u2_correct"], [0, 0, 0, 1, 1, 1])
    np.testing.assert_array_equal(details["imm_correct"], [1] * 6)
    np.testing.assert_array_equal(details["labels"], LABELS)
    # What the claims table compares: U0, the all-16 ensemble and the IMM's own entropy.
    np.testing.assert_array_equal(details["u0_correct"], [1, 0, 0, 1, 0, 0])
    np.testing.assert_array_equal(details["all_correct"], [1, 1, 0, 1, 1, 1])
    np.testing.assert_allclose(details["imm_entropy"], [0, 0, 0, 0, 0, H_60_40], atol=1e-9)


def test_evaluate_imm_without_u2_gives_nan_for_u2_all_and_imm():
    u0, u1, u2 = imm_fixture()
    with_u2, _ = evaluate_imm(u0, u1, u2, LABELS, T)
    row, details = evaluate_imm(u0, u1, None, LABELS, T)
    for key in (
        "u2_accuracy",
        "all_accuracy",
        "imm_accuracy",
        "u2_accuracy_on_u1_out_of_core",
        "u2_core_coverage_in_u1_out_of_core",
        "u2_core_accuracy_in_u1_out_of_core",
        "u2_core_size_in_u1_out_of_core",
        "imm_total_entropy",
        "imm_mean_entropy",
        "imm_mean_entropy_low",
    ):
        assert np.isnan(row[key]), key
    for key in (
        "u0_accuracy",
        "u1_accuracy",
        "u1_core_coverage",
        "u1_core_size",
        "u1_total_entropy",
        "u1_mean_entropy_high",
    ):
        assert row[key] == with_u2[key]
    assert "imm_correct" not in details and "all_correct" not in details
    assert {"u1_entropy", "u0_correct"} <= set(details)
    assert np.isnan(row["imm_accuracy_low"]) and np.isnan(row["imm_accuracy_high"])
    assert row["u1_accuracy_low"] == with_u2["u1_accuracy_low"]


def test_evaluate_imm_intervals_are_paired_bootstrap_percentiles():
    u0, u1, u2 = imm_fixture()
    row, _ = evaluate_imm(u0, u1, u2, LABELS, T, BOOTSTRAP)
    # IMM is right on every sample and U1 on all of its core: no resample can change that.
    assert row["imm_accuracy_low"] == row["imm_accuracy_high"] == 1.0
    assert row["u1_core_accuracy_low"] == row["u1_core_accuracy_high"] == 1.0
    # U1 is right on 3 of 6: a 6-sample bootstrap spreads widely around 0.5.
    assert row["u1_accuracy_low"] <= 0.2 and row["u1_accuracy_high"] >= 0.8
    # Mean entropies per image: U1's is ~6 on half the images, so it spreads; the IMM's stays
    # within [0, H2 of sample 5].
    assert row["u1_mean_entropy_low"] < row["u1_mean_entropy"] < row["u1_mean_entropy_high"]
    assert -1e-9 <= row["imm_mean_entropy_low"] <= row["imm_mean_entropy_high"] <= H_60_40 + 1e-9
    again, _ = evaluate_imm(u0, u1, u2, LABELS, T, BOOTSTRAP)
    assert again == row


# --- select_thresholds ---------------------------------------------------------------------------
def threshold_entries(rng: np.random.Generator, u1_ids: list[str]) -> dict:
    """Validation sets where the confident samples (share differs per set) are the right ones."""
    entries = {}
    for share, name in zip((0.7, 0.5, 0.3), VAL_SETS.values(), strict=True):
        labels = rng.integers(0, C, 60)
        confident = rng.random(60) < share
        entries[name] = {"x": np.zeros((60, 32, 32, 3), np.float32), "y": labels}
        for model_id in u1_ids:
            probs = peaked_probs(rng, labels, confident)
            entries[probs_entry(model_id, name)] = {"probs": probs.astype(np.float32)}
    return entries


def test_select_thresholds_matches_the_math_module_per_environment():
    u1_ids = ["m1", "m2", "sp_m1"]
    entries = threshold_entries(np.random.default_rng(0), u1_ids)
    thresholds, curves, distribution = select_thresholds(
        THRESHOLD_PARAMS, BOOTSTRAP, u1_ids, **entries
    )

    assert list(thresholds) == ["clean", "weak", "strong", "union"]
    environment_sets = {env: [name] for env, name in VAL_SETS.items()}
    environment_sets["union"] = list(VAL_SETS.values())  # clean, weak, strong
    scan = {k: THRESHOLD_PARAMS[k] for k in ("target", "start", "stop", "step", "min_core")}
    for environment, sets in environment_sets.items():
        probs = np.concatenate(
            [
                np.stack([entries[probs_entry(m, s)]["probs"] for m in u1_ids]).astype(np.float64)
                for s in sets
            ],
            axis=1,
        )
        labels = np.concatenate([entries[s]["y"] for s in sets])
        expected = select_threshold(
            committee_entropy(probs), mean_probabilities(probs).argmax(axis=1), labels, **scan
        )
        got = dict(thresholds[environment])
        low, high = got.pop("threshold_low"), got.pop("threshold_high")
        assert got == expected.to_dict(), environment
        # The bootstrap interval of the choice, from its distribution over resampled val sets.
        replicates = distribution.loc[distribution["environment"] == environment, "threshold"]
        assert len(replicates) == BOOTSTRAP["threshold_resamples"]
        assert (distribution.loc[replicates.index, "selected"] == expected.threshold).all()
        assert low == pytest.approx(np.quantile(replicates, 0.025))
        assert high == pytest.approx(np.quantile(replicates, 0.975))
        assert low <= expected.threshold <= high
    # The fixture is built so that the target is reached with a core of confident samples.
    assert all(selection["reached"] for selection in thresholds.values())
    assert thresholds["union"]["n"] == 180
    json.dumps(thresholds)  # saved with a JSON dataset

    grid = threshold_grid(2.0, 0.02, 0.01)
    assert list(curves["environment"].unique()) == ["clean", "weak", "strong", "union"]
    assert (curves.groupby("environment").size() == len(grid)).all()
    for environment, selection in thresholds.items():
        at_t = curves[
            (curves["environment"] == environment)
            & np.isclose(curves["threshold"], selection["threshold"])
        ].iloc[0]
        assert at_t["core_coverage"] == selection["core_coverage"]
        assert at_t["core_accuracy"] >= THRESHOLD_PARAMS["target"]
        assert at_t["core_size"] >= THRESHOLD_PARAMS["min_core"]


# --- select_second_generation_data ---------------------------------------------------------------
U2_PARAMS = {"val_fraction": 0.1, "seed": 42, "min_out_of_core_fraction": 0.1, "policy": "error"}


def second_generation_entries(u1_ids: list[str], uncertain_every: int) -> tuple[dict, dict]:
    """Every image set of the three base environments (train and val, 40 samples each): image
    ids are unique across sets; every `uncertain_every`-th sample has uniform members (H = 1),
    the others confident agreeing members (H ~ 0). Returns (entries, uncertain ids per set)."""
    entries, uncertain_ids = {}, {}
    offset = 0
    for source in ("clean", "u0_apgd_weak", "u0_apgd_strong"):
        for split in ("train", "val"):
            name = f"{source}_{split}"
            ids = np.arange(offset, offset + 40, dtype=np.float64)
            offset += 40
            labels = np.arange(40) % C
            uncertain = np.arange(40) % uncertain_every == 0
            entries[name] = images(ids, labels)
            probs = np.where(uncertain[:, None], np.full((40, C), 1.0 / C), one_hot(labels))
            for model_id in u1_ids:
                entries[probs_entry(model_id, name)] = {"probs": probs}
            uncertain_ids[name] = set(ids[uncertain].tolist())
    return entries, uncertain_ids


def test_second_generation_data_is_the_high_entropy_samples_split_90_10():
    u1_ids = ["m1", "sp_m1"]
    entries, uncertain = second_generation_entries(u1_ids, uncertain_every=2)
    thresholds = {"weak": {"threshold": 0.5}}
    train, val = select_second_generation_data(thresholds, U2_PARAMS, u1_ids, "weak", **entries)
    expected = uncertain["u0_apgd_weak_train"] | uncertain["u0_apgd_weak_val"]
    train_ids, val_ids = train["x"][:, 0, 0, 0].tolist(), val["x"][:, 0, 0, 0].tolist()
    assert set(train_ids) | set(val_ids) == expected
    assert not set(train_ids) & set(val_ids)
    assert (len(train["y"]), len(val["y"])) == (36, 4)
    # Labels travel with their images (label of image id i is i % 10 within its 40-sample set).
    np.testing.assert_array_equal(train["y"], (train["x"][:, 0, 0, 0].astype(int) % 40) % C)
    assert train["skipped"] is False and val["skipped"] is False
    assert train["pool_size"] == 80 and train["selected"] == 40
    assert train["selected_fraction"] == 0.5 and train["threshold"] == 0.5


def test_second_generation_union_pools_all_three_environments():
    u1_ids = ["m1"]
    entries, uncertain = second_generation_entries(u1_ids, uncertain_every=4)
    train, val = select_second_generation_data(
        {"union": {"threshold": 0.5}}, U2_PARAMS, u1_ids, "union", **entries
    )
    selected = set(train["x"][:, 0, 0, 0].tolist()) | set(val["x"][:, 0, 0, 0].tolist())
    assert selected == set().union(*uncertain.values())
    assert train["pool_size"] == 240 and train["selected"] == 60


def test_too_few_high_entropy_samples_raise_or_skip_by_policy():
    u1_ids = ["m1"]
    # 1 in 20 uncertain: 5% of the pool, below the 10% minimum.
    entries, _ = second_generation_entries(u1_ids, uncertain_every=20)
    thresholds = {"strong": {"threshold": 0.5}}
    with pytest.raises(ValueError, match=r"strong train\+val.*policy"):
        select_second_generation_data(thresholds, U2_PARAMS, u1_ids, "strong", **entries)

    skip = {**U2_PARAMS, "policy": "skip"}
    train, val = select_second_generation_data(thresholds, skip, u1_ids, "strong", **entries)
    for part in (train, val):
        assert part["skipped"] is True
        assert part["x"].shape == (0, 32, 32, 3) and part["x"].dtype == np.float32
        assert part["y"].shape == (0,) and part["y"].dtype == np.int64
        assert "strong" in part["reason"] and part["selected"] == 4

    # Ties are in U1's core: at t equal to the uniform rows' entropy nothing is selected.
    t_uniform = float(committee_entropy(np.full((1, 1, C), 1.0 / C))[0])
    with pytest.raises(ValueError, match=r"\(0 of 80\)"):
        select_second_generation_data(
            {"strong": {"threshold": t_uniform}}, U2_PARAMS, u1_ids, "strong", **entries
        )

    with pytest.raises(ValueError, match="'skipp'"):
        select_second_generation_data(
            thresholds, {**U2_PARAMS, "policy": "skipp"}, u1_ids, "strong", **entries
        )


# --- evaluate_generations ------------------------------------------------------------------------
U0_IDS = ["m1", "m2"]
U1_IDS = ["m1", "m2", "sp_m1"]
U2_IDS = {env: [f"u2_{env}_m1", f"u2_{env}_m2"] for env in ("union", "weak", "strong")}
U2_HISTORIES = {env: [f"history__u2_{env}__m1"] for env in ("union", "weak", "strong")}
TEST_SETS = {"clean": "clean_test", "weak": "u0_apgd_weak_test", "strong": "u0_apgd_strong_test"}
LAYOUT = [
    *[(env, "test", [name]) for env, name in TEST_SETS.items()],
    ("union", "test", list(TEST_SETS.values())),
    *[(env, "autoattack", ["autoattack_test"]) for env in ("union", "weak", "strong")],
]
GEN_THRESHOLDS = {"clean": 1.2, "weak": 0.8, "strong": 0.5, "union": 0.9}


def generation_entries(rng: np.random.Generator) -> dict:
    entries = {}
    all_ids = U1_IDS + [m for ids in U2_IDS.values() for m in ids]
    for name in [*TEST_SETS.values(), "autoattack_test"]:
        labels = rng.integers(0, C, 50)
        entries[name] = {"x": np.zeros((50, 32, 32, 3), np.float32), "y": labels}
        for model_id in all_ids:
            probs = peaked_probs(rng, labels, rng.random(50) < 0.5)
            entries[probs_entry(model_id, name)] = {"probs": probs.astype(np.float32)}
    for env, histories in U2_HISTORIES.items():
        for history in histories:
            entries[history] = {"model": history, "skipped": env == "strong"}
    return entries


def run_generations(entries: dict):
    thresholds = {env: {"threshold": t, "reached": True} for env, t in GEN_THRESHOLDS.items()}
    return evaluate_generations(
        thresholds, BOOTSTRAP, LAYOUT, U0_IDS, U1_IDS, U2_IDS, U2_HISTORIES, **entries
    )


def stack(entries: dict, ids: list[str], sets: list[str]) -> np.ndarray:
    return np.concatenate(
        [
            np.stack([entries[probs_entry(m, s)]["probs"] for m in ids]).astype(np.float64)
            for s in sets
        ],
        axis=1,
    )


def test_one_experiment2_row_recomputed_by_hand():
    entries = generation_entries(np.random.default_rng(1))
    experiment2, _, _ = run_generations(entries)
    assert_intervals_hold_their_values(
        experiment2,
        ["u0_accuracy", "u1_accuracy", "u1_core_accuracy", "u1_core_coverage", "imm_accuracy"],
    )
    row = experiment2.set_index(["environment", "evaluation"]).loc[("union", "test")]

    sets = list(TEST_SETS.values())
    labels = np.concatenate([entries[s]["y"] for s in sets])
    u0, u1, u2 = (stack(entries, ids, sets) for ids in (U0_IDS, U1_IDS, U2_IDS["union"]))
    t = GEN_THRESHOLDS["union"]
    h1, h2 = committee_entropy(u1), committee_entropy(u2)
    u1_mean, u2_mean = u1.mean(axis=0), u2.mean(axis=0)
    core = h1 <= t
    u2_right = u2_mean.argmax(axis=1) == labels
    imm = np.where(core[:, None], u1_mean, u2_mean).argmax(axis=1)
    u1_core = core_metrics(h1, u1_mean.argmax(axis=1), labels, t)

    assert row["n"] == 150 and row["threshold"] == t and bool(row["u2_available"])
    assert row["u0_accuracy"] == pytest.approx(np.mean(u0.mean(axis=0).argmax(axis=1) == labels))
    assert row["u1_accuracy"] == pytest.approx(np.mean(u1_mean.argmax(axis=1) == labels))
    assert row["u2_accuracy"] == pytest.approx(np.mean(u2_right))
    all_mean = np.concatenate([u1, u2]).mean(axis=0)
    assert row["all_accuracy"] == pytest.approx(np.mean(all_mean.argmax(axis=1) == labels))
    assert row["imm_accuracy"] == pytest.approx(np.mean(imm == labels))
    assert row["u1_core_accuracy"] == pytest.approx(u1_core["core_accuracy"])
    assert row["u1_core_coverage"] == pytest.approx(core.mean())
    assert row["u1_out_of_core_accuracy"] == pytest.approx(u1_core["out_of_core_accuracy"])
    assert row["u2_accuracy_on_u1_out_of_core"] == pytest.approx(u2_right[~core].mean())
    assert row["u2_core_coverage_in_u1_out_of_core"] == pytest.approx((h2[~core] <= t).mean())
    assert row["u1_total_entropy"] == pytest.approx(h1.sum())
    assert row["imm_total_entropy"] == pytest.approx(h1[core].sum() + h2[~core].sum())
    assert row["imm_mean_entropy"] == pytest.approx(row["imm_total_entropy"] / 150)
    assert row["u1_out_of_core_size"] == (~core).sum() == 150 - row["u1_core_size"]
    assert row["u2_core_size_in_u1_out_of_core"] == (h2[~core] <= t).sum()
    # The fixture must exercise both routes for the comparison above to mean anything.
    assert 0 < core.sum() < len(core)
    routed, routed_core = imm_route(u1_mean, u2_mean, h1, t)
    np.testing.assert_array_equal(routed_core, core)
    assert row["imm_accuracy"] != row["u1_accuracy"]


def test_experiment3_and_skipped_environments():
    entries = generation_entries(np.random.default_rng(2))
    experiment2, experiment3, details = run_generations(entries)
    assert len(experiment2) == len(LAYOUT)
    available = experiment2.set_index(["environment", "evaluation"])["u2_available"]
    assert available.to_dict() == {
        ("clean", "test"): False,  # no second generation for clean
        ("weak", "test"): True,
        ("strong", "test"): False,  # its history says skipped
        ("union", "test"): True,
        ("union", "autoattack"): True,
        ("weak", "autoattack"): True,
        ("strong", "autoattack"): False,
    }
    missing = experiment2[~experiment2["u2_available"]]
    for column in ("u2_accuracy", "all_accuracy", "imm_accuracy", "imm_total_entropy"):
        assert missing[column].isna().all(), column
    assert missing["u1_accuracy"].notna().all()
    assert experiment2.loc[experiment2["u2_available"], "imm_accuracy"].notna().all()

    assert list(experiment3.columns) == [
        "environment",
        "evaluation",
        "n",
        "threshold",
        "u1_total_entropy",
        "imm_total_entropy",
        "u1_mean_entropy",
        "u1_mean_entropy_low",
        "u1_mean_entropy_high",
        "imm_mean_entropy",
        "imm_mean_entropy_low",
        "imm_mean_entropy_high",
        "reduction",
    ]
    keys = list(zip(experiment3["environment"], experiment3["evaluation"], strict=True))
    assert keys == [
        ("weak", "test"),
        ("union", "test"),
        ("union", "autoattack"),
        ("weak", "autoattack"),
    ]
    np.testing.assert_allclose(
        experiment3["reduction"],
        1 - experiment3["imm_total_entropy"] / experiment3["u1_total_entropy"],
    )
    merged = experiment3.merge(experiment2, on=["environment", "evaluation"])
    np.testing.assert_allclose(merged["imm_total_entropy_x"], merged["imm_total_entropy_y"])
    np.testing.assert_allclose(
        experiment3["imm_mean_entropy"], experiment3["imm_total_entropy"] / experiment3["n"]
    )

    assert details["name"] == "imm_details"
    assert details["union.test.u1_entropy"].shape == (150,)
    assert details["weak.autoattack.imm_correct"].dtype == bool
    assert "strong.test.u2_entropy" not in details
    assert float(details["strong.test.threshold"]) == GEN_THRESHOLDS["strong"]


# --- entropy_core_table --------------------------------------------------------------------------
SINGLES = {"r1": "resnet", "r2": "resnet", "v1": "vgg"}
COMMITTEES = {"u0": ["r1", "r2", "v1"], "sps": ["r1", "r2"]}


def own_entropy(p: np.ndarray) -> np.ndarray:
    return -np.sum(p * np.log10(p + EPS), axis=1)


def experiment1_entries(rng: np.random.Generator) -> tuple[dict, dict]:
    attacked = {
        target: {"clean": "clean_test", "weak": f"{target}_apgd_weak_test"}
        for target in [*SINGLES, *COMMITTEES]
    }
    entries = {}
    for name in sorted({s for sets in attacked.values() for s in sets.values()}):
        labels = rng.integers(0, C, 80)
        entries[name] = {"y": labels}
        # A shared row per sample (mixed concentrations: some nearly one-hot, some flat) plus
        # each member's own noise, so single and committee entropies fall on both sides of 0.95;
        # on the last 20 samples each member is confident in a class of its own (low own
        # entropy, high committee entropy).
        alphas = rng.choice([0.05, 0.5, 5.0], size=80)
        shared = np.vstack([rng.dirichlet(np.full(C, alpha)) for alpha in alphas])
        for k, model_id in enumerate(SINGLES):
            probs = 0.85 * shared + 0.15 * rng.dirichlet(np.ones(C), size=80)
            probs[60:] = 0.9 * one_hot((labels[60:] + k) % C) + 0.1 / C
            entries[probs_entry(model_id, name)] = {"probs": probs}
    return entries, attacked


def test_entropy_core_table_singles_committees_and_families():
    entries, attacked = experiment1_entries(np.random.default_rng(3))
    table = entropy_core_table(
        {"entropy_threshold": 0.95}, BOOTSTRAP, SINGLES, COMMITTEES, attacked, **entries
    )
    assert set(table["kind"]) == {"single", "committee", "family"}
    assert (table["threshold"] == 0.95).all()

    def row(kind, target, condition):
        found = table[
            (table.kind == kind) & (table.target == target) & (table.condition == condition)
        ]
        assert len(found) == 1, (kind, target, condition)
        return found.iloc[0]

    for model_id in SINGLES:
        for condition, image_set in attacked[model_id].items():
            p = entries[probs_entry(model_id, image_set)]["probs"]
            labels = entries[image_set]["y"]
            core = own_entropy(p) <= 0.95
            got = row("single", model_id, condition)
            assert 0 < core.sum() < len(core)
            assert got["image_set"] == image_set and got["family"] == SINGLES[model_id]
            assert got["core_coverage"] == pytest.approx(core.mean())
            assert got["core_accuracy"] == pytest.approx(np.mean(p.argmax(1)[core] == labels[core]))
            assert got["overall_accuracy"] == pytest.approx(np.mean(p.argmax(1) == labels))

    for committee, ids in COMMITTEES.items():
        for condition, image_set in attacked[committee].items():
            probs = np.stack([entries[probs_entry(m, image_set)]["probs"] for m in ids])
            labels = entries[image_set]["y"]
            entropy = committee_entropy(probs)
            core = entropy <= 0.95
            got = row("committee", committee, condition)
            assert got["core_coverage"] == pytest.approx(core.mean())
            # The fixture tells committee entropy from the entropy of the mean (Jensen: >=).
            assert (own_entropy(probs.mean(0)) <= 0.95).sum() > core.sum()
            predictions = probs.mean(0).argmax(1)
            assert got["core_accuracy"] == pytest.approx(np.mean(predictions[core] == labels[core]))

    singles = table[table.kind == "single"]
    for condition in ("clean", "weak"):
        resnets = singles[(singles.family == "resnet") & (singles.condition == condition)]
        family = row("family", "resnet (mean)", condition)
        for measure in ("core_coverage", "core_accuracy", "overall_accuracy"):
            assert family[measure] == pytest.approx(resnets[measure].mean())
            assert family[f"{measure}_std"] == pytest.approx(resnets[measure].std(ddof=1))
        # One VGG: its mean is its own value and the std is undefined.
        vgg = row("family", "vgg (mean)", condition)
        assert vgg["core_coverage"] == row("single", "v1", condition)["core_coverage"]
        assert pd.isna(vgg["core_coverage_std"])
        # The family interval averages its members' replicates: one member, the same interval.
        assert vgg["core_coverage_low"] == row("single", "v1", condition)["core_coverage_low"]
    assert_intervals_hold_their_values(
        table, ["core_coverage", "core_accuracy", "overall_accuracy"]
    )


# --- framework isolation -------------------------------------------------------------------------
def test_node_modules_import_no_framework():
    code = """
        import logifold_kedro.pipelines.immunization.nodes
        import logifold_kedro.pipelines.reporting.nodes
        """
    _, loaded = run_fresh(code, REPO, timeout=120)
    assert not any(loaded.values()), loaded
