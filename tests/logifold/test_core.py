"""Tests of the core mask and core/out-of-core metrics."""

import math

import numpy as np
import pytest

from logifold_kedro.logifold import accuracy, core_mask, core_metrics


def test_core_mask_includes_ties():
    entropy = np.array([0.1, 0.5, 0.50000001, 0.9])
    np.testing.assert_array_equal(core_mask(entropy, 0.5), [True, True, False, False])


def test_core_metrics_on_a_hand_fixture():
    entropy = np.array([0.1, 0.2, 0.3, 0.4, 0.6, 0.7, 0.8, 0.9])
    labels = np.array([0, 1, 2, 3, 4, 5, 6, 7])
    # core (H <= 0.5): samples 0-3, 3 of 4 right; out of core: samples 4-7, 1 of 4 right
    predictions = np.array([0, 1, 2, 9, 4, 0, 0, 0])
    metrics = core_metrics(entropy, predictions, labels, 0.5)
    assert metrics["core_accuracy"] == pytest.approx(0.75)
    assert metrics["core_coverage"] == pytest.approx(0.5)
    assert metrics["out_of_core_accuracy"] == pytest.approx(0.25)
    assert metrics["overall_accuracy"] == pytest.approx(0.5)
    assert metrics["core_size"] == 4 and metrics["n"] == 8
    assert metrics["threshold"] == 0.5


def test_empty_core_and_empty_complement_give_nan_not_errors():
    entropy = np.array([0.3, 0.4])
    labels = np.array([1, 1])
    predictions = np.array([1, 0])
    below = core_metrics(entropy, predictions, labels, 0.0)
    assert math.isnan(below["core_accuracy"]) and below["core_coverage"] == 0.0
    assert below["out_of_core_accuracy"] == pytest.approx(0.5)
    above = core_metrics(entropy, predictions, labels, 1.0)
    assert math.isnan(above["out_of_core_accuracy"]) and above["core_coverage"] == 1.0
    assert above["core_accuracy"] == pytest.approx(0.5)
    assert math.isnan(accuracy(np.array([], dtype=bool)))


@pytest.mark.parametrize(
    ("entropy", "predictions", "labels", "t", "message"),
    [
        (np.array([0.1, np.nan]), np.array([0, 1]), np.array([0, 1]), 0.5, "NaN"),
        (np.array([0.1, 0.2]), np.array([0, 1, 2]), np.array([0, 1]), 0.5, "3 samples"),
        (np.array([0.1, 0.2]), np.array([0.0, 1.0]), np.array([0, 1]), 0.5, "integer"),
        (np.array([0.1, 0.2]), np.eye(2), np.array([0, 1]), 0.5, "argmax"),
        (np.array([0.1, 0.2]), np.array([0, 1]), np.array([0, -1]), 0.5, "non-negative"),
        (np.array([0.1, 0.2]), np.array([0, 1]), np.array([0, 1]), float("nan"), "finite"),
        (np.array([0.1, 0.2]), np.array([0, 1]), np.array([0, 1]), "high", "real number"),
        (np.array([]), np.array([], dtype=int), np.array([], dtype=int), 0.5, "empty"),
        (np.ones((2, 2)), np.array([0, 1]), np.array([0, 1]), 0.5, r"shape \(N,\)"),
    ],
)
def test_invalid_inputs_raise_clear_errors(entropy, predictions, labels, t, message):
    with pytest.raises(ValueError, match=message):
        core_metrics(entropy, predictions, labels, t)
