"""Standard errors of accuracies over n images, and the two-standard-error margins the report
judges differences by (framework-free: the standard library only).

An accuracy ``p`` over ``n`` images is a binomial proportion; its standard error is

.. math::

    \\mathrm{SE}(p) = \\sqrt{\\frac{p (1 - p)}{n}}

Both margins are floored at one image's worth, ``1 / n``: at ``p`` of 0 or 1 the formula gives
0, and a handful of images must not turn a difference of one image into a verdict.
A ``p`` that is NaN (an undefined accuracy) gives NaN.
"""

from __future__ import annotations

import math


def _checked(n: int, *accuracies: float) -> None:
    if n < 1:
        raise ValueError(f"n must be a positive number of images, got {n}.")
    for p in accuracies:
        if not math.isnan(p) and not 0.0 <= p <= 1.0:
            raise ValueError(f"an accuracy must lie in [0, 1], got {p}.")


def binomial_half_width(accuracy: float, n: int) -> float:
    """Two standard errors of one accuracy over ``n`` images, the half width of its error bar.

    .. math::

        h(p, n) = \\max\\left(2 \\sqrt{\\frac{p (1 - p)}{n}}, \\frac{1}{n}\\right)

    Args:
        accuracy: the fraction ``p`` of the ``n`` images labelled right, in [0, 1].
        n: the number of images, at least 1.

    Returns:
        ``h(p, n)``, in the units of ``p`` (a fraction, not percent).

    Examples:
        >>> binomial_half_width(0.5, 100)
        0.1
        >>> binomial_half_width(1.0, 8)  # the floor: one image of eight
        0.125
    """
    _checked(n, accuracy)
    return max(2.0 * math.sqrt(accuracy * (1 - accuracy) / n), 1.0 / n)


def difference_half_width(first: float, second: float, n: int) -> float:
    """Two standard errors of the difference of two accuracies over ``n`` images each.

    The two are treated as independent, so their variances add:

    .. math::

        h(p_1, p_2, n) = \\max\\left(
            2 \\sqrt{\\frac{p_1 (1 - p_1) + p_2 (1 - p_2)}{n}}, \\frac{1}{n}\\right)

    A difference ``|p_1 - p_2|`` beyond ``h`` is one the report calls real.

    Args:
        first: the first accuracy ``p_1``, in [0, 1].
        second: the second accuracy ``p_2``, in [0, 1].
        n: the number of images behind each, at least 1.

    Returns:
        ``h(p_1, p_2, n)``, a fraction.

    Examples:
        >>> round(difference_half_width(0.5, 0.5, 50), 12)
        0.2
        >>> difference_half_width(0.0, 1.0, 4)  # the floor: one image of four
        0.25
    """
    _checked(n, first, second)
    return max(2.0 * math.sqrt((first * (1 - first) + second * (1 - second)) / n), 1.0 / n)
