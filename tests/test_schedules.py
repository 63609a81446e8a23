"""The piecewise-constant learning-rate schedule both trainers use."""

from __future__ import annotations

from logifold_kedro.schedules import learning_rate_at


def test_the_rate_changes_after_the_scheduled_epoch():
    # The paper's U0 recipe: the rate becomes lr after epoch e, i.e. from epoch e + 1 on.
    schedule = ((80, 1e-4), (120, 1e-5), (160, 1e-6), (180, 5e-7))
    rates = {epoch: learning_rate_at(epoch, 1e-3, schedule) for epoch in (0, 80, 81, 120, 121, 199)}
    assert rates == {0: 1e-3, 80: 1e-3, 81: 1e-4, 120: 1e-4, 121: 1e-5, 199: 5e-7}


def test_lists_from_yaml_and_no_schedule():
    schedule = [[1, 0.1], [3, 0.01]]
    assert [learning_rate_at(e, 1.0, schedule) for e in range(5)] == [1.0, 1.0, 0.1, 0.1, 0.01]
    assert learning_rate_at(7, 0.5, []) == 0.5
    assert isinstance(learning_rate_at(2, 1, [[0, 2]]), float)
