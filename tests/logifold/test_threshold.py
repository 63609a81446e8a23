"""Tests of the threshold grid, the threshold scan and the accuracy-vs-threshold curve."""

import math

import numpy as np
import pandas as pd
import pytest

from logifold_kedro.logifold import core_metrics, select_threshold, threshold_curve, threshold_grid


def _ladder_fixture():
    """20 samples with entropies 0.1, 0.2, ..., 2.0; wrong at H = 0.3, 1.2 and 1.8.

    Core accuracy for t in [1.0, 1.2): 11 or 10 samples with 1 wrong -> 10/11 or 9/10;
    for t in [0.3, 1.0): fewer than 10 samples; below 0.3 all right.
    """
    entropy = np.arange(1, 21) / 10
    labels = np.zeros(20, dtype=np.int64)
    predictions = labels.copy()
    for wrong_entropy in (0.3, 1.2, 1.8):
        predictions[np.isclose(entropy, wrong_entropy)] = 1
    return entropy, predictions, labels


def test_default_grid_has_199_exact_points():
    grid = threshold_grid()
    assert len(grid) == 199
    assert grid[0] == 2.0 and grid[-1] == 0.02
    # every value is exactly the double nearest to its two-decimal literal: no drift
    expected = np.array([float(f"{k / 100:.2f}") for k in range(200, 1, -1)])
    np.testing.assert_array_equal(grid, expected)
    assert 0.66 in grid and 0.07 in grid
    assert np.all(np.diff(grid) < 0)


def test_grid_with_a_step_that_does_not_divide_the_range_stops_above_stop():
    grid = threshold_grid(1.0, 0.25, 0.1)
    np.testing.assert_array_equal(grid, [1.0, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3])


def test_first_threshold_reaching_the_target_is_returned():
    entropy, predictions, labels = _ladder_fixture()
    result = select_threshold(entropy, predictions, labels, target=0.9)
    # 2.00..1.20 never reach 0.9; at 1.19 the core is H <= 1.19: 11 samples, 1 wrong -> 0.909
    assert result.threshold == 1.19
    assert result.reached and result.reason == "target_reached"
    assert result.core_size == 11
    assert result.core_accuracy == pytest.approx(10 / 11)
    assert result.core_coverage == pytest.approx(11 / 20)
    assert result.thresholds_scanned == 82  # 2.00 down to 1.19
    assert result.to_dict()["threshold"] == 1.19


def test_scan_stops_with_zero_when_core_falls_below_min_core():
    entropy, predictions, labels = _ladder_fixture()
    result = select_threshold(entropy, predictions, labels, target=0.95)
    # 10/11 and 9/10 < 0.95 down to t = 1.00; at 0.99 the core has 9 < 10 samples -> stop
    assert result.threshold == 0.0
    assert not result.reached and result.reason == "core_below_min_core"
    assert result.thresholds_scanned == 102
    assert result.core_size == 0 and math.isnan(result.core_accuracy)


def test_a_scan_that_misses_the_target_reports_the_best_core_accuracy_it_reached():
    entropy, predictions, labels = _ladder_fixture()
    result = select_threshold(entropy, predictions, labels, target=0.95)
    # cores of at least 10 samples: 10/11 for t in [1.10, 1.20), 9/10 at t in [1.00, 1.10)
    # (and lower above 1.2): the best is 10/11, first met at the largest such t, 1.19
    assert result.best_core_accuracy == pytest.approx(10 / 11)
    assert result.best_core_threshold == 1.19
    assert result.best_core_accuracy < result.target


def test_best_core_accuracy_is_nan_when_no_examined_core_is_large_enough():
    entropy, predictions, labels = _ladder_fixture()
    result = select_threshold(entropy, predictions, labels, target=0.95, min_core=25)
    assert result.thresholds_scanned == 1 and not result.reached
    assert math.isnan(result.best_core_accuracy) and math.isnan(result.best_core_threshold)


def test_small_min_core_lets_a_small_perfect_core_qualify():
    entropy, predictions, labels = _ladder_fixture()
    result = select_threshold(entropy, predictions, labels, target=0.95, min_core=2)
    # below 0.3 the core (H = 0.1, 0.2) is all right and has 2 samples
    assert result.threshold == 0.29 and result.reached
    assert result.core_accuracy == 1.0 and result.core_size == 2


def test_target_never_reached_gives_zero_after_the_whole_grid():
    entropy = np.linspace(0.0, 0.01, 50)  # everything stays in the core down to 0.02
    labels = np.zeros(50, dtype=np.int64)
    predictions = np.r_[np.zeros(40), np.ones(10)].astype(np.int64)  # accuracy 0.8 everywhere
    result = select_threshold(entropy, predictions, labels, target=0.95)
    assert result.threshold == 0.0 and not result.reached
    assert result.reason == "grid_exhausted" and result.thresholds_scanned == 199
    # the reported metrics are those at t = 0: only the sample with H = 0 is in the core
    assert result.core_size == 1


def test_exact_ties_at_a_drift_prone_grid_value_are_in_the_core():
    # Repeated subtraction 2.0 - 0.01 - ... gives 0.6599999999999997 instead of 0.66, which would
    # leave these ten samples out. Ten right at H = 0.66, ten wrong at H = 0.67.
    entropy = np.r_[np.full(10, 0.66), np.full(10, 0.67)]
    labels = np.zeros(20, dtype=np.int64)
    predictions = np.r_[np.zeros(10), np.ones(10)].astype(np.int64)
    result = select_threshold(entropy, predictions, labels, target=0.95)
    assert result.threshold == 0.66 and result.reached
    assert result.core_size == 10 and result.core_accuracy == 1.0


def test_target_equal_to_an_exact_fraction_is_reached():
    # 19 of 20 right: 19 / 20 == 0.95 must count as reaching a 0.95 target
    entropy = np.full(20, 0.5)
    labels = np.zeros(20, dtype=np.int64)
    predictions = np.r_[np.zeros(19), np.ones(1)].astype(np.int64)
    result = select_threshold(entropy, predictions, labels, target=0.95)
    assert result.threshold == 2.0 and result.core_accuracy == 0.95


def test_threshold_is_rounded_to_the_requested_decimals():
    # fine grid (step 0.0001): ten right at H = 1.2347, ten wrong at H = 1.2352, so the first
    # qualifying grid value is 1.2351
    entropy = np.r_[np.full(10, 1.2347), np.full(10, 1.2352)]
    labels = np.zeros(20, dtype=np.int64)
    predictions = np.r_[np.zeros(10), np.ones(10)].astype(np.int64)
    fine_grid = {"target": 0.95, "start": 1.3, "stop": 1.2, "step": 0.0001}
    result = select_threshold(entropy, predictions, labels, **fine_grid)
    assert result.threshold == 1.235  # 1.2351 rounded to 3 decimals
    assert result.core_size == 10 and result.core_accuracy == 1.0  # evaluated at 1.235
    result_4 = select_threshold(entropy, predictions, labels, decimals=4, **fine_grid)
    assert result_4.threshold == 1.2351


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"target": 1.5}, r"\[0, 1\]"),
        ({"min_core": -1}, "min_core"),
        ({"decimals": 1.5}, "decimals"),
        ({"start": 0.01, "stop": 0.02}, "start"),
        ({"step": 0.0}, "step"),
    ],
)
def test_invalid_scan_settings_raise_clear_errors(kwargs, message):
    entropy, predictions, labels = _ladder_fixture()
    with pytest.raises(ValueError, match=message):
        select_threshold(entropy, predictions, labels, **kwargs)


def test_threshold_curve_matches_core_metrics_at_every_threshold():
    rng = np.random.default_rng(0)
    entropy = np.round(rng.uniform(0, 1.5, 300), 2)  # rounding creates many exact ties
    labels = rng.integers(0, 10, 300)
    predictions = np.where(rng.random(300) < 1 - entropy / 2, labels, (labels + 1) % 10)
    grid = np.array([2.0, 1.0, 0.5, 0.25, 0.0, -1.0])  # not sorted ascending on purpose
    curve = threshold_curve(entropy, predictions, labels, grid)
    assert isinstance(curve, pd.DataFrame)
    assert list(curve.columns[:6]) == [
        "threshold",
        "core_coverage",
        "out_of_core_coverage",
        "core_accuracy",
        "out_of_core_accuracy",
        "overall_accuracy",
    ]
    np.testing.assert_array_equal(curve["threshold"], grid)
    for row in curve.itertuples():
        expected = core_metrics(entropy, predictions, labels, row.threshold)
        assert row.core_coverage == pytest.approx(expected["core_coverage"])
        assert row.out_of_core_coverage == pytest.approx(1 - expected["core_coverage"])
        assert row.core_size == expected["core_size"]
        for name in ("core_accuracy", "out_of_core_accuracy", "overall_accuracy"):
            value, reference = getattr(row, name), expected[name]
            assert (math.isnan(value) and math.isnan(reference)) or value == pytest.approx(
                reference
            )
    # t = -1: empty core -> NaN core accuracy; t = 2: empty complement -> NaN
    assert math.isnan(curve["core_accuracy"].iloc[-1])
    assert math.isnan(curve["out_of_core_accuracy"].iloc[0])


def test_threshold_curve_rejects_bad_grids():
    entropy, predictions, labels = _ladder_fixture()
    with pytest.raises(ValueError, match="non-empty 1-D"):
        threshold_curve(entropy, predictions, labels, np.array([]))
    with pytest.raises(ValueError, match="NaN"):
        threshold_curve(entropy, predictions, labels, np.array([0.5, np.nan]))
