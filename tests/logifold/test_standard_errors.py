"""Standard errors of accuracies (logifold.standard_errors): the formulas, their floor of one
image, and what they refuse."""

from __future__ import annotations

import doctest
import math

import numpy as np
import pytest

from logifold_kedro.logifold import standard_errors
from logifold_kedro.logifold.standard_errors import binomial_half_width, difference_half_width


def test_binomial_half_width_is_two_standard_errors():
    # p = 0.7 over 400 images: SE = sqrt(0.21 / 400) ~ 0.0229
    assert binomial_half_width(0.7, 400) == pytest.approx(2 * math.sqrt(0.7 * 0.3 / 400))
    # four times the images halve it
    assert binomial_half_width(0.7, 1600) == pytest.approx(binomial_half_width(0.7, 400) / 2)


def test_binomial_half_width_matches_the_spread_of_simulated_accuracies():
    rng = np.random.default_rng(0)
    accuracies = rng.binomial(200, 0.6, size=20_000) / 200
    assert binomial_half_width(0.6, 200) == pytest.approx(2 * accuracies.std(), rel=0.03)


def test_half_widths_never_fall_below_one_image():
    assert binomial_half_width(1.0, 8) == 1 / 8
    assert binomial_half_width(0.0, 8) == 1 / 8
    assert difference_half_width(1.0, 0.0, 4) == 1 / 4
    # above the floor the formula wins
    assert binomial_half_width(0.5, 8) > 1 / 8


def test_difference_half_width_adds_the_two_variances():
    p1, p2, n = 0.8, 0.6, 250
    expected = 2 * math.sqrt((p1 * (1 - p1) + p2 * (1 - p2)) / n)
    assert difference_half_width(p1, p2, n) == pytest.approx(expected)
    assert difference_half_width(p1, p2, n) == difference_half_width(p2, p1, n)
    # one accuracy at 0 or 1 leaves the other's standard error alone
    assert difference_half_width(0.6, 1.0, n) == pytest.approx(binomial_half_width(0.6, n))


def test_an_undefined_accuracy_gives_an_undefined_width():
    assert math.isnan(binomial_half_width(float("nan"), 10))
    assert math.isnan(difference_half_width(0.5, float("nan"), 10))


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: binomial_half_width(0.5, 0), "positive number of images"),
        (lambda: difference_half_width(0.5, 0.5, -3), "positive number of images"),
        (lambda: binomial_half_width(1.2, 10), r"in \[0, 1\], got 1.2"),
        (lambda: difference_half_width(0.5, -0.1, 10), r"in \[0, 1\], got -0.1"),
    ],
)
def test_invalid_inputs_are_refused(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_the_docstring_examples_hold():
    result = doctest.testmod(standard_errors)
    assert result.attempted >= 4 and result.failed == 0
