"""Bounding the process-wide caches of tf_lib to their newest entries (no framework here).

The loaded checkpoints (`model_dataset`), the compiled trainers (`trainers`) and the APGD
classifier's gradient rows (`fused_classifier`) are dicts kept in insertion order, the caches
that move a used key to the end being least-recently-used ones. Each drops its oldest entries
past its size the same way, here.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from itertools import islice
from typing import Any


def drop_oldest(entries: MutableMapping[Any, Any], size: int) -> None:
    """Delete the first ``len(entries) - size`` keys in iteration order (none if it is <= 0),
    so that the ``size`` newest entries remain."""
    for key in list(islice(entries, max(len(entries) - size, 0))):
        del entries[key]
