"""Framework-free helpers for progress lines in the logs (shared by the TF and torch libraries)."""

from __future__ import annotations

import math


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
