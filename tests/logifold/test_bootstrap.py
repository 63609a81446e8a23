"""Tests of bootstrap intervals and per-family summaries."""

import math

import numpy as np
import pytest

from logifold_kedro.logifold import bootstrap_accuracy, bootstrap_ci, family_summary


def _correct(n_samples, accuracy, seed):
    return np.random.default_rng(seed).random(n_samples) < accuracy


@pytest.mark.parametrize(("n_samples", "accuracy"), [(50, 0.5), (400, 0.7), (5000, 0.95)])
def test_intervals_contain_the_point_estimate(n_samples, accuracy):
    correct = _correct(n_samples, accuracy, seed=n_samples)
    for interval in (
        bootstrap_accuracy(correct),
        bootstrap_ci(np.mean, correct, n_resamples=500),
    ):
        assert interval.estimate == pytest.approx(correct.mean())
        assert interval.low <= interval.estimate <= interval.high
        assert interval.low < interval.high


def test_intervals_shrink_with_more_samples():
    small = bootstrap_accuracy(_correct(100, 0.7, seed=1))
    large = bootstrap_accuracy(_correct(10_000, 0.7, seed=2))
    assert (large.high - large.low) < 0.5 * (small.high - small.low)
    small_generic = bootstrap_ci(np.mean, _correct(100, 0.7, seed=1), n_resamples=300)
    large_generic = bootstrap_ci(np.mean, _correct(10_000, 0.7, seed=2), n_resamples=300)
    assert (large_generic.high - large_generic.low) < 0.5 * (small_generic.high - small_generic.low)


def test_intervals_are_reproducible_with_the_seed():
    correct = _correct(300, 0.6, seed=3)
    assert bootstrap_accuracy(correct, seed=7) == bootstrap_accuracy(correct, seed=7)
    assert bootstrap_accuracy(correct, seed=7) != bootstrap_accuracy(correct, seed=8)
    generic = bootstrap_ci(np.mean, correct, n_resamples=200, seed=7)
    assert generic == bootstrap_ci(np.mean, correct, n_resamples=200, seed=7)
    assert generic != bootstrap_ci(np.mean, correct, n_resamples=200, seed=8)


def test_vectorised_accuracy_interval_agrees_with_the_generic_bootstrap_and_the_normal_law():
    correct = _correct(400, 0.7, seed=4)
    fast = bootstrap_accuracy(correct, n_resamples=4000)
    slow = bootstrap_ci(np.mean, correct, n_resamples=4000)
    p, n = correct.mean(), correct.size
    half_width = 1.96 * math.sqrt(p * (1 - p) / n)  # ~0.045 here
    for interval in (fast, slow):
        assert interval.low == pytest.approx(p - half_width, abs=0.01)
        assert interval.high == pytest.approx(p + half_width, abs=0.01)


def test_paired_statistic_resamples_arrays_together():
    # identical arrays: every paired resample has difference exactly 0
    correct = _correct(200, 0.6, seed=5)
    interval = bootstrap_ci(lambda a, b: a.mean() - b.mean(), correct, correct, n_resamples=200)
    assert interval.estimate == 0.0 and interval.low == 0.0 and interval.high == 0.0


def test_confidence_controls_the_width():
    correct = _correct(500, 0.5, seed=6)
    narrow = bootstrap_accuracy(correct, confidence=0.5)
    wide = bootstrap_accuracy(correct, confidence=0.99)
    assert (narrow.high - narrow.low) < (wide.high - wide.low)
    assert wide.to_dict()["confidence"] == 0.99


def test_empty_accuracy_is_nan():
    interval = bootstrap_accuracy(np.array([], dtype=bool))
    assert math.isnan(interval.estimate) and math.isnan(interval.low)


def test_bootstrap_validates_its_inputs():
    with pytest.raises(ValueError, match="same number of samples"):
        bootstrap_ci(np.mean, np.zeros(3), np.zeros(4))
    with pytest.raises(ValueError, match="at least one array"):
        bootstrap_ci(np.mean)
    with pytest.raises(ValueError, match="empty"):
        bootstrap_ci(np.mean, np.zeros(0))
    with pytest.raises(ValueError, match="confidence"):
        bootstrap_accuracy(np.ones(3, dtype=bool), confidence=1.5)
    with pytest.raises(ValueError, match="n_resamples"):
        bootstrap_accuracy(np.ones(3, dtype=bool), n_resamples=0)
    with pytest.raises(ValueError, match="0/1"):
        bootstrap_accuracy(np.array([0, 1, 2]))


def test_family_summary_means_and_population_stds():
    values = {
        "resnet_a": 0.8,
        "vgg_a": 0.5,
        "resnet_b": 0.9,
        "resnet_c": 0.7,
        "vgg_b": 0.5,
        "resnet_d": 0.6,
        "vgg_c": float("nan"),  # e.g. an accuracy over an empty core: left out
    }
    families = {name: name.split("_")[0] for name in values} | {"unused": "other"}
    summary = family_summary(values, families)
    assert list(summary["family"]) == ["resnet", "vgg"]
    resnet = summary.set_index("family").loc["resnet"]
    # mean 0.75; deviations +-0.05, +-0.15 -> variance (2 * 0.0025 + 2 * 0.0225) / 4 = 0.0125
    assert resnet["mean"] == pytest.approx(0.75)
    assert resnet["std"] == pytest.approx(math.sqrt(0.0125))
    assert resnet["n"] == 4
    vgg = summary.set_index("family").loc["vgg"]
    assert vgg["mean"] == pytest.approx(0.5) and vgg["std"] == pytest.approx(0.0)
    assert vgg["n"] == 2
    sample_std = family_summary(values, families, ddof=1).set_index("family").loc["resnet", "std"]
    assert sample_std == pytest.approx(math.sqrt(0.05 / 3))


def test_family_summary_requires_a_family_for_every_model():
    with pytest.raises(ValueError, match="no family given"):
        family_summary({"resnet_a": 0.8, "mystery": 0.3}, {"resnet_a": "resnet"})
