"""Tests of the framework-free progress reporter: log lines with an ETA, or a tqdm bar."""

from __future__ import annotations

import io
import logging
import math

import pytest

from logifold_kedro.progress import (
    PROGRESS_ENV,
    ProgressReporter,
    format_duration,
    remaining_seconds,
    use_progress_bar,
)


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0s"), (42.4, "42s"), (185, "3m05s"), (7620, "2h07m"), (-1, "?"), (math.nan, "?")],
)
def test_durations_read_as_seconds_minutes_hours(seconds, text):
    assert format_duration(seconds) == text


def test_remaining_time_is_the_mean_rate_so_far_times_what_is_left():
    assert remaining_seconds(2, 10, 30.0) == pytest.approx(120.0)
    assert remaining_seconds(10, 10, 30.0) == 0.0
    assert math.isnan(remaining_seconds(0, 10, 30.0))


def test_the_environment_variable_chooses_bar_or_log_and_rejects_other_values(monkeypatch):
    monkeypatch.delenv(PROGRESS_ENV, raising=False)
    assert use_progress_bar(Terminal()) is True
    assert use_progress_bar(io.StringIO()) is False  # a log file or a pipe
    monkeypatch.setenv(PROGRESS_ENV, "log")
    assert use_progress_bar(Terminal()) is False
    monkeypatch.setenv(PROGRESS_ENV, "bar")
    assert use_progress_bar(io.StringIO()) is True
    monkeypatch.setenv(PROGRESS_ENV, "")  # set but empty: as if unset
    assert use_progress_bar(Terminal()) is True
    monkeypatch.setenv(PROGRESS_ENV, "sometimes")
    with pytest.raises(ValueError, match="use 'bar', 'log' or 'auto'"):
        use_progress_bar()


def test_log_mode_writes_throttled_lines_with_elapsed_time_and_eta(monkeypatch, caplog):
    monkeypatch.setenv(PROGRESS_ENV, "log")
    log = logging.getLogger("tests.progress")
    with caplog.at_level(logging.INFO, logger="tests.progress"):
        with ProgressReporter(4, "attack", unit="chunk", logger=log, log_every_s=3600) as progress:
            for _ in range(4):
                progress.update(1, loss=0.5)
    lines = [record.message for record in caplog.records]
    # The first update and the last one; the two between fall inside the throttle interval.
    assert len(lines) == 2
    assert lines[0].startswith("attack: 1/4 chunk (25%), ") and "ETA " in lines[0]
    assert lines[1].startswith("attack: 4/4 chunk (100%), ") and lines[1].endswith("loss=0.5")
    assert "ETA 0s" in lines[1]


def test_resumed_units_count_as_done_but_not_in_the_rate(monkeypatch):
    monkeypatch.setenv(PROGRESS_ENV, "log")
    progress = ProgressReporter(10, "train", initial=6, bar=False)
    assert progress.done == 6
    assert math.isnan(progress.eta_seconds())  # nothing run in this process yet
    progress._start -= 4.0  # four seconds for the two units below
    progress.update(2)
    assert progress.eta_seconds() == pytest.approx(4.0, rel=0.05)  # 2 s per unit, 2 left
    assert "8/10" in progress.line()


def test_bar_mode_draws_a_tqdm_bar_on_standard_error_and_logs_nothing(monkeypatch, capsys, caplog):
    monkeypatch.setenv(PROGRESS_ENV, "bar")
    with caplog.at_level(logging.INFO):
        with ProgressReporter(5, "predict u0", unit="batch") as progress:
            for _ in range(5):
                progress.update(1)
    err = capsys.readouterr().err
    assert "predict u0" in err and "/5" in err and "batch" in err
    assert not [r for r in caplog.records if "predict u0" in r.getMessage()]


def test_negative_totals_are_refused():
    with pytest.raises(ValueError, match="must be >= 0"):
        ProgressReporter(-1, "job", bar=False)
