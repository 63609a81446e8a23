"""The piecewise-constant learning-rate schedule of both trainers (no framework here).

`tf_lib.training` (a Keras callback) and `torch_lib.surrogate` (the surrogate's epoch loop) set
each epoch's rate from this one function, so a recipe's ``lr_schedule`` means the same in both.
"""

from __future__ import annotations

from collections.abc import Sequence


def learning_rate_at(
    epoch: int, learning_rate: float, lr_schedule: Sequence[Sequence[float]]
) -> float:
    """The learning rate of 0-based ``epoch`` under ``lr_schedule = [[e_1, lr_1], ...]``.

    ``rate(i) = lr_k`` for the last entry k with ``e_k < i``, and ``learning_rate`` when no
    entry has ``e_k < i``: the rate becomes ``lr_k`` *after* epoch ``e_k`` (the Keras CIFAR-10
    ResNet example's ``epoch > 80``). Entries are read in order; their epochs are increasing.
    """
    rate = learning_rate
    for after_epoch, scheduled in lr_schedule:
        if epoch > after_epoch:
            rate = scheduled
    return float(rate)
