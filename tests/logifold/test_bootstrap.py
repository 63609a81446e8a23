"""Tests of the bootstrap intervals: the generic one and the paired ratio replicates."""

import math

import numpy as np
import pytest

from logifold_kedro.logifold import (
    bootstrap_ci,
    bootstrap_thresholds,
    core_ratios,
    replicate_columns,
    resampled_ratios,
    select_threshold,
)


def _correct(n_samples, accuracy, seed):
    return np.random.default_rng(seed).random(n_samples) < accuracy


def _accuracy_bounds(correct, n_resamples=1000, confidence=0.95, seed=0):
    ones = np.ones(correct.shape, dtype=bool)
    replicates = resampled_ratios({"acc": (correct, ones)}, n_resamples=n_resamples, seed=seed)
    bounds = replicate_columns(replicates, confidence)
    return bounds["acc_low"], bounds["acc_high"]


@pytest.mark.parametrize(("n_samples", "accuracy"), [(50, 0.5), (400, 0.7), (5000, 0.95)])
def test_intervals_contain_the_point_estimate(n_samples, accuracy):
    correct = _correct(n_samples, accuracy, seed=n_samples)
    interval = bootstrap_ci(np.mean, correct, n_resamples=500)
    assert interval.estimate == pytest.approx(correct.mean())
    for low, high in ((interval.low, interval.high), _accuracy_bounds(correct)):
        assert low <= correct.mean() <= high
        assert low < high


@pytest.mark.parametrize("chunk_elements", [1000, 4_000_000])
def test_generic_and_ratio_bootstraps_draw_the_same_resamples(chunk_elements):
    # One mechanism: the same seed gives the same index draws, chunked or not.
    correct = _correct(400, 0.7, seed=1)
    generic = bootstrap_ci(np.mean, correct, n_resamples=500, seed=3)
    ones = np.ones(400, dtype=bool)
    replicates = resampled_ratios(
        {"acc": (correct, ones)}, n_resamples=500, seed=3, chunk_elements=chunk_elements
    )
    assert replicate_columns(replicates, 0.95) == {"acc_low": generic.low, "acc_high": generic.high}


def test_intervals_shrink_with_more_samples():
    small = bootstrap_ci(np.mean, _correct(100, 0.7, seed=1), n_resamples=300)
    large = bootstrap_ci(np.mean, _correct(10_000, 0.7, seed=2), n_resamples=300)
    assert (large.high - large.low) < 0.5 * (small.high - small.low)


def test_intervals_are_reproducible_with_the_seed():
    correct = _correct(300, 0.6, seed=3)
    generic = bootstrap_ci(np.mean, correct, n_resamples=200, seed=7)
    assert generic == bootstrap_ci(np.mean, correct, n_resamples=200, seed=7)
    assert generic != bootstrap_ci(np.mean, correct, n_resamples=200, seed=8)


def test_accuracy_interval_agrees_with_the_normal_law():
    correct = _correct(400, 0.7, seed=4)
    p, n = correct.mean(), correct.size
    half_width = 1.96 * math.sqrt(p * (1 - p) / n)  # ~0.045 here
    low, high = _accuracy_bounds(correct, n_resamples=4000)
    assert low == pytest.approx(p - half_width, abs=0.01)
    assert high == pytest.approx(p + half_width, abs=0.01)


def test_paired_statistic_resamples_arrays_together():
    # identical arrays: every paired resample has difference exactly 0
    correct = _correct(200, 0.6, seed=5)
    interval = bootstrap_ci(lambda a, b: a.mean() - b.mean(), correct, correct, n_resamples=200)
    assert interval.estimate == 0.0 and interval.low == 0.0 and interval.high == 0.0


def test_confidence_controls_the_width():
    correct = _correct(500, 0.5, seed=6)
    narrow = bootstrap_ci(np.mean, correct, n_resamples=500, confidence=0.5)
    wide = bootstrap_ci(np.mean, correct, n_resamples=500, confidence=0.99)
    assert (narrow.high - narrow.low) < (wide.high - wide.low)
    assert wide.to_dict()["confidence"] == 0.99
    low_narrow, high_narrow = _accuracy_bounds(correct, confidence=0.5)
    low_wide, high_wide = _accuracy_bounds(correct, confidence=0.99)
    assert high_narrow - low_narrow < high_wide - low_wide


def test_bootstrap_validates_its_inputs():
    with pytest.raises(ValueError, match="same number of samples"):
        bootstrap_ci(np.mean, np.zeros(3), np.zeros(4))
    with pytest.raises(ValueError, match="at least one array"):
        bootstrap_ci(np.mean)
    with pytest.raises(ValueError, match="empty"):
        bootstrap_ci(np.mean, np.zeros(0))
    with pytest.raises(ValueError, match="confidence"):
        bootstrap_ci(np.mean, np.zeros(3), confidence=1.5)
    with pytest.raises(ValueError, match="n_resamples"):
        bootstrap_ci(np.mean, np.zeros(3), n_resamples=0)
    with pytest.raises(ValueError, match="confidence"):
        replicate_columns({"acc": np.zeros(3)}, 0.0)


# --- paired ratio replicates (every accuracy and coverage of the experiments) ------------------
def _core_fixture(n_samples, seed):
    rng = np.random.default_rng(seed)
    correct = rng.random(n_samples) < 0.7
    core = rng.random(n_samples) < 0.5
    return correct, core


def _bounds(n_samples, seed=0, data_seed=3, n_resamples=500):
    correct, core = _core_fixture(n_samples, data_seed)
    replicates = resampled_ratios(core_ratios(correct, core), n_resamples=n_resamples, seed=seed)
    return correct, core, replicate_columns(replicates, 0.95)


def test_ratio_intervals_contain_each_point_estimate():
    correct, core, bounds = _bounds(400)
    estimates = {
        "overall_accuracy": correct.mean(),
        "core_coverage": core.mean(),
        "core_accuracy": correct[core].mean(),
        "out_of_core_accuracy": correct[~core].mean(),
    }
    for name, estimate in estimates.items():
        assert bounds[f"{name}_low"] <= estimate <= bounds[f"{name}_high"], name
        assert bounds[f"{name}_low"] < bounds[f"{name}_high"], name


def test_ratio_intervals_shrink_with_more_samples():
    _, _, small = _bounds(100)
    _, _, large = _bounds(10_000)
    for name in ("overall_accuracy", "core_accuracy"):
        width_small = small[f"{name}_high"] - small[f"{name}_low"]
        width_large = large[f"{name}_high"] - large[f"{name}_low"]
        assert width_large < 0.3 * width_small, name


def test_ratio_replicates_are_reproducible_with_the_seed_and_paired():
    correct, core = _core_fixture(300, 5)
    ratios = core_ratios(correct, core)
    first = resampled_ratios(ratios, n_resamples=50, seed=11)
    again = resampled_ratios(ratios, n_resamples=50, seed=11)
    other = resampled_ratios(ratios, n_resamples=50, seed=12)
    for name in ratios:
        np.testing.assert_array_equal(first[name], again[name])
    assert not np.array_equal(first["core_accuracy"], other["core_accuracy"])
    # Paired: coverage * core accuracy + (1 - coverage) * out-of-core accuracy is the accuracy
    # of the same resample.
    recombined = (
        first["core_coverage"] * first["core_accuracy"]
        + (1 - first["core_coverage"]) * first["out_of_core_accuracy"]
    )
    np.testing.assert_allclose(recombined, first["overall_accuracy"])


def test_ratio_replicates_match_a_direct_resampling_in_distribution():
    correct, core = _core_fixture(200, 9)
    replicates = resampled_ratios(core_ratios(correct, core), n_resamples=4000, seed=1)
    rng = np.random.default_rng(2)
    direct = []
    for _ in range(4000):
        idx = rng.integers(0, 200, 200)
        direct.append(correct[idx][core[idx]].mean())
    assert np.mean(replicates["core_accuracy"]) == pytest.approx(np.mean(direct), abs=0.005)
    assert np.std(replicates["core_accuracy"]) == pytest.approx(np.std(direct), rel=0.1)


def test_ratio_with_an_empty_denominator_gives_nan_bounds():
    correct = np.array([True, False, True])
    never = np.zeros(3, dtype=bool)
    replicates = resampled_ratios({"empty_core": (correct & never, never)}, n_resamples=20)
    assert np.isnan(replicates["empty_core"]).all()
    bounds = replicate_columns(replicates, 0.95)
    assert math.isnan(bounds["empty_core_low"]) and math.isnan(bounds["empty_core_high"])


def test_resampled_ratios_rejects_bad_input():
    with pytest.raises(ValueError, match="same N samples"):
        resampled_ratios({"a": (np.ones(3), np.ones(3)), "b": (np.ones(4), np.ones(4))})
    with pytest.raises(ValueError, match="1-D of one length"):
        resampled_ratios({"a": (np.ones(3), np.ones(4))})
    with pytest.raises(ValueError, match="empty"):
        resampled_ratios({"a": (np.ones(0), np.ones(0))})
    with pytest.raises(ValueError, match="n_resamples"):
        resampled_ratios({"a": (np.ones(3), np.ones(3))}, n_resamples=0)


# --- the threshold's bootstrap distribution ----------------------------------------------------
def test_threshold_distribution_centres_on_the_selection_and_is_reproducible():
    rng = np.random.default_rng(0)
    n_samples = 2000
    entropy = rng.random(n_samples)
    labels = rng.integers(0, 10, n_samples)
    # Right with probability 1 - entropy: the core accuracy falls as t rises.
    predictions = np.where(rng.random(n_samples) < 1 - entropy, labels, (labels + 1) % 10)
    scan = {"target": 0.8, "start": 1.0, "stop": 0.02, "step": 0.01, "min_core": 10}
    chosen = select_threshold(entropy, predictions, labels, **scan).threshold
    thresholds = bootstrap_thresholds(entropy, predictions, labels, 100, seed=4, **scan)
    assert thresholds.shape == (100,)
    low, high = np.quantile(thresholds, [0.025, 0.975])
    assert low <= chosen <= high
    assert high - low < 0.2
    np.testing.assert_array_equal(
        thresholds, bootstrap_thresholds(entropy, predictions, labels, 100, seed=4, **scan)
    )
