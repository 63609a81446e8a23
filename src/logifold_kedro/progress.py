"""Framework-free progress reporting (shared by the TF and torch libraries).

One long job (epochs of training, chunks of an attack) reports through `ProgressReporter`: a
tqdm bar when standard error is an interactive terminal, otherwise (a batch job, a log file,
CI) an INFO log line at most every `log_every_s` seconds and at the end, each with the elapsed
time and the expected remaining time. ``LOGIFOLD_PROGRESS=log`` forces log lines and
``LOGIFOLD_PROGRESS=bar`` forces the bar.
"""

from __future__ import annotations

import logging
import math
import os
import sys
import time
from typing import Any, TextIO

PROGRESS_ENV = "LOGIFOLD_PROGRESS"


def format_duration(seconds: float) -> str:
    """Seconds as a short human duration: 42s, 3m05s, 2h07m."""
    if not math.isfinite(seconds) or seconds < 0:
        return "?"
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


def remaining_seconds(done: float, total: float, elapsed_s: float) -> float:
    """Expected remaining time at the mean rate so far: elapsed * (total - done) / done."""
    if done <= 0 or total <= 0:
        return math.nan
    return elapsed_s * max(total - done, 0.0) / done


def use_progress_bar(stream: TextIO | None = None) -> bool:
    """Whether progress is drawn as a bar: ``LOGIFOLD_PROGRESS`` if set, else whether `stream`
    (standard error by default) is an interactive terminal."""
    choice = (os.environ.get(PROGRESS_ENV) or "auto").strip().lower()  # set but empty: auto
    if choice in {"bar", "log"}:
        return choice == "bar"
    if choice != "auto":
        raise ValueError(f"{PROGRESS_ENV}={choice!r}: use 'bar', 'log' or 'auto' (the default).")
    stream = sys.stderr if stream is None else stream
    return bool(getattr(stream, "isatty", lambda: False)())


class ProgressReporter:
    """Progress of `total` units of one job, as a bar or as throttled log lines with an ETA.

    Use as a context manager; `update(n)` after each finished unit. `postfix` values (a loss,
    an accuracy) are shown on the bar and appended to the log line.
    """

    def __init__(
        self,
        total: int,
        description: str,
        unit: str = "it",
        logger: logging.Logger | None = None,
        log_every_s: float = 30.0,
        bar: bool | None = None,
        initial: int = 0,
    ) -> None:
        if total < 0 or initial < 0:
            raise ValueError(
                f"{description}: total and initial must be >= 0, got {total} and {initial}"
            )
        self.total = int(total)
        self.done = int(initial)
        self.description = description
        self.unit = unit
        self.logger = logger or logging.getLogger(__name__)
        self.log_every_s = float(log_every_s)
        self._start = time.monotonic()
        self._last_log = -math.inf
        self._start_done = self.done
        self._postfix: dict[str, Any] = {}
        self._bar = None
        if use_progress_bar() if bar is None else bar:
            from tqdm.auto import tqdm

            self._bar = tqdm(
                total=self.total, initial=self.done, desc=description, unit=unit, leave=False
            )

    def __enter__(self) -> ProgressReporter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def eta_seconds(self) -> float:
        """Expected remaining seconds, from the units done in this process (not resumed ones)."""
        return remaining_seconds(
            self.done - self._start_done, self.total - self._start_done, self.elapsed_s()
        )

    def elapsed_s(self) -> float:
        return time.monotonic() - self._start

    def line(self) -> str:
        """``description: 3/10 chunk (30%), 1m02s elapsed, ETA 2m25s[, key=value ...]``."""
        share = f" ({100 * self.done / self.total:.0f}%)" if self.total else ""
        extra = "".join(f", {key}={value}" for key, value in self._postfix.items())
        return (
            f"{self.description}: {self.done}/{self.total} {self.unit}{share}, "
            f"{format_duration(self.elapsed_s())} elapsed, "
            f"ETA {format_duration(self.eta_seconds())}{extra}"
        )

    def update(self, n: int = 1, **postfix: Any) -> None:
        self.done += int(n)
        self._postfix.update(postfix)
        if self._bar is not None:
            if postfix:
                self._bar.set_postfix(self._postfix, refresh=False)
            self._bar.update(int(n))
            return
        now = time.monotonic()
        if now - self._last_log >= self.log_every_s or self.done >= self.total:
            self._last_log = now
            self.logger.info(self.line())

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
