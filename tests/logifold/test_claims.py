"""The claims math: paired differences, core accuracy against a target, and the verdict rule,
on fixtures whose verdict is known."""

from __future__ import annotations

import numpy as np
import pytest

from logifold_kedro.logifold.bootstrap import replicate_columns, resampled_ratios
from logifold_kedro.logifold.claims import (
    FAILS,
    HOLDS,
    NOT_RESOLVED,
    claim_verdict,
    core_accuracy_advantage,
    core_accuracy_margin,
    paired_mean_difference,
    paired_mean_differences,
    paper_side,
)

SETTINGS = {"n_resamples": 500, "confidence": 0.95, "seed": 3}


def verdict_of(first, second, side: int) -> str:
    interval = paired_mean_difference(first, second, **SETTINGS)
    return claim_verdict(interval.low, interval.high, side)


# --- the verdict rule ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("low", "high", "side", "expected"),
    [
        (0.01, 0.2, 1, HOLDS),
        (-0.2, -0.01, -1, HOLDS),
        (-0.2, -0.01, 1, FAILS),
        (0.01, 0.2, -1, FAILS),
        (-0.1, 0.1, 1, NOT_RESOLVED),
        (-0.1, 0.1, -1, NOT_RESOLVED),
        (0.0, 0.1, 1, NOT_RESOLVED),  # touching 0 is not strictly on a side
        (-0.1, 0.0, 1, NOT_RESOLVED),
        (0.0, 0.0, 1, NOT_RESOLVED),
        (float("nan"), float("nan"), 1, NOT_RESOLVED),  # undefined (an empty core, no U2')
    ],
)
def test_claim_verdict(low, high, side, expected):
    assert claim_verdict(low, high, side) == expected


def test_claim_verdict_refuses_a_side_that_is_not_plus_or_minus_one():
    for side in (0, 2, True):
        with pytest.raises(ValueError, match="side"):
            claim_verdict(0.1, 0.2, side)
    with pytest.raises(ValueError, match="low <= high"):
        claim_verdict(0.2, 0.1, 1)


def test_paper_side_is_the_sign_of_the_papers_difference_else_the_default():
    assert paper_side(0.23, -1) == 1
    assert paper_side(-0.02, 1) == -1
    assert paper_side(None, -1) == -1
    assert paper_side(float("nan"), 1) == 1
    assert paper_side(0.0, -1) == -1
    with pytest.raises(ValueError, match="side"):
        paper_side(0.1, 0)


# --- paired differences -------------------------------------------------------------------------
def test_a_committee_right_wherever_the_other_is_wrong_holds_and_the_reverse_fails():
    rng = np.random.default_rng(0)
    better = rng.random(200) < 0.9
    worse = rng.random(200) < 0.4
    assert verdict_of(better, worse, side=1) == HOLDS
    assert verdict_of(better, worse, side=-1) == FAILS
    assert verdict_of(worse, better, side=-1) == HOLDS
    interval = paired_mean_difference(better, worse, **SETTINGS)
    assert interval.estimate == pytest.approx(better.mean() - worse.mean())
    assert interval.low < interval.estimate < interval.high


def test_equal_committees_and_a_coin_flip_apart_are_not_resolved():
    rng = np.random.default_rng(1)
    correct = rng.random(300) < 0.6
    same = paired_mean_difference(correct, correct, **SETTINGS)
    assert same.estimate == same.low == same.high == 0.0
    assert claim_verdict(same.low, same.high, 1) == NOT_RESOLVED
    # Two committees that each get a different half of 40 images right: d = 0, spread wide.
    first = np.arange(40) % 2 == 0
    assert verdict_of(first, ~first, side=1) == NOT_RESOLVED
    assert verdict_of(first, ~first, side=-1) == NOT_RESOLVED


def test_pairing_resolves_a_small_difference_that_unpaired_intervals_would_not():
    # Identical on 190 of 200 images; on the other 10 only the first committee is right.
    rng = np.random.default_rng(2)
    second = rng.random(200) < 0.5
    first = second.copy()
    flipped = np.flatnonzero(~second)[:10]
    first[flipped] = True
    interval = paired_mean_difference(first, second, **SETTINGS)
    assert interval.estimate == pytest.approx(0.05)
    assert claim_verdict(interval.low, interval.high, 1) == HOLDS
    # Each accuracy's own interval is wide (about +-0.07) and the two overlap.
    ones = np.ones(200, dtype=bool)
    bounds = replicate_columns(
        resampled_ratios({"a": (first, ones), "b": (second, ones)}, 500, seed=3), 0.95
    )
    assert bounds["a_low"] < bounds["b_high"]


def test_paired_replicates_are_the_differences_of_the_ratio_replicates_on_one_seed():
    rng = np.random.default_rng(4)
    a, b = rng.random(150) < 0.7, rng.random(150) < 0.5
    ones = np.ones(150, dtype=bool)
    replicates = resampled_ratios({"a": (a, ones), "b": (b, ones)}, 500, seed=3)
    expected = replicate_columns({"d": replicates["a"] - replicates["b"]}, 0.95)
    interval = paired_mean_difference(a, b, **SETTINGS)
    assert interval.low == pytest.approx(expected["d_low"])
    assert interval.high == pytest.approx(expected["d_high"])
    assert paired_mean_difference(a, b, **SETTINGS) == interval  # seeded


def test_entropy_differences_are_differences_of_per_image_means():
    rng = np.random.default_rng(5)
    u1_entropy = rng.random(120) * 1.5
    imm_entropy = u1_entropy * 0.3  # the IMM is less uncertain on every image
    interval = paired_mean_difference(imm_entropy, u1_entropy, **SETTINGS)
    assert interval.estimate == pytest.approx((imm_entropy.sum() - u1_entropy.sum()) / 120)
    assert claim_verdict(interval.low, interval.high, -1) == HOLDS


def test_several_pairs_share_resamples_and_empty_sets_are_undefined():
    rng = np.random.default_rng(6)
    a, b, c = (rng.random(80) < p for p in (0.8, 0.6, 0.4))
    both = paired_mean_differences({"ab": (a, b), "ac": (a, c)}, **SETTINGS)
    assert both["ab"] == paired_mean_difference(a, b, **SETTINGS)
    assert both["ac"] == paired_mean_difference(a, c, **SETTINGS)
    empty = paired_mean_difference(np.zeros(0, bool), np.zeros(0, bool), **SETTINGS)
    assert np.isnan([empty.estimate, empty.low, empty.high]).all()
    with pytest.raises(ValueError, match="same images"):
        paired_mean_difference(a, b[:10], **SETTINGS)
    with pytest.raises(ValueError, match="same N"):
        paired_mean_differences({"ab": (a, b), "short": (a[:5], b[:5])}, **SETTINGS)


# --- core accuracy against the target -----------------------------------------------------------
def test_a_core_above_the_target_holds_and_one_below_fails():
    core = np.arange(100) < 60
    right_on_core = core.copy()  # every core image right
    margin = core_accuracy_margin(right_on_core, core, 0.9, **SETTINGS)
    assert margin.estimate == pytest.approx(0.1)
    assert margin.low == pytest.approx(0.1) and margin.high == pytest.approx(0.1)
    assert claim_verdict(margin.low, margin.high, 1) == HOLDS

    half_right = core & (np.arange(100) % 2 == 0)  # 30 of the 60 core images right
    margin = core_accuracy_margin(half_right, core, 0.9, **SETTINGS)
    assert margin.estimate == pytest.approx(0.5 - 0.9)
    assert claim_verdict(margin.low, margin.high, 1) == FAILS


def test_a_core_at_the_target_is_not_resolved():
    core = np.ones(200, dtype=bool)
    correct = np.arange(200) % 10 != 0  # 90% right
    margin = core_accuracy_margin(correct, core, 0.9, **SETTINGS)
    assert margin.estimate == pytest.approx(0.0, abs=1e-12)
    assert margin.low < 0 < margin.high
    assert claim_verdict(margin.low, margin.high, 1) == NOT_RESOLVED


def test_an_empty_core_is_not_resolved():
    core = np.zeros(50, dtype=bool)
    margin = core_accuracy_margin(np.ones(50, bool), core, 0.95, **SETTINGS)
    assert np.isnan([margin.estimate, margin.low, margin.high]).all()
    assert claim_verdict(margin.low, margin.high, 1) == NOT_RESOLVED
    assert claim_verdict(margin.low, margin.high, -1) == NOT_RESOLVED


def test_the_margin_interval_is_the_core_ratio_interval_minus_the_target():
    rng = np.random.default_rng(7)
    correct, core = rng.random(300) < 0.7, rng.random(300) < 0.5
    bounds = replicate_columns(resampled_ratios({"c": (correct & core, core)}, 500, seed=3), 0.95)
    margin = core_accuracy_margin(correct, core, 0.6, **SETTINGS)
    assert margin.low == pytest.approx(bounds["c_low"] - 0.6)
    assert margin.high == pytest.approx(bounds["c_high"] - 0.6)
    with pytest.raises(ValueError, match="finite"):
        core_accuracy_margin(correct, core, float("nan"))


# --- core accuracy against the whole set ---------------------------------------------------------
def test_a_core_more_accurate_than_its_set_holds_and_a_core_of_the_wrong_ones_fails():
    core = np.arange(200) < 80
    right_on_core = core | (np.arange(200) % 3 == 0)  # core all right, a third of the rest
    advantage = core_accuracy_advantage(right_on_core, core, **SETTINGS)
    assert advantage.estimate == pytest.approx(1.0 - right_on_core.mean())
    assert advantage.low > 0 and claim_verdict(advantage.low, advantage.high, 1) == HOLDS
    wrong_on_core = ~core & (np.arange(200) % 3 != 0)  # the core all wrong
    advantage = core_accuracy_advantage(wrong_on_core, core, **SETTINGS)
    assert advantage.high < 0 and claim_verdict(advantage.low, advantage.high, 1) == FAILS


def test_a_core_drawn_at_random_is_not_resolved_and_an_empty_one_is_undefined():
    rng = np.random.default_rng(11)
    correct, core = rng.random(400) < 0.5, rng.random(400) < 0.5
    advantage = core_accuracy_advantage(correct, core, **SETTINGS)
    assert advantage.low < 0 < advantage.high
    assert claim_verdict(advantage.low, advantage.high, 1) == NOT_RESOLVED
    empty = core_accuracy_advantage(correct, np.zeros(400, bool), **SETTINGS)
    assert np.isnan([empty.estimate, empty.low, empty.high]).all()


def test_the_advantage_is_paired_the_core_and_whole_ratios_on_one_resample():
    rng = np.random.default_rng(2)
    correct, core = rng.random(300) < 0.6, rng.random(300) < 0.4
    ones = np.ones(300, bool)
    replicates = resampled_ratios({"k": (correct & core, core), "a": (correct, ones)}, 500, seed=3)
    expected = replicate_columns({"d": replicates["k"] - replicates["a"]}, 0.95)
    advantage = core_accuracy_advantage(correct, core, **SETTINGS)
    assert advantage.low == pytest.approx(expected["d_low"])
    assert advantage.high == pytest.approx(expected["d_high"])
