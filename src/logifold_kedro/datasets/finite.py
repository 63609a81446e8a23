"""Finite numbers only: the checks the datasets apply to arrays, tables and weights.

A NaN or an infinity in a stored probability set, image set, table or checkpoint is never a
result: it comes from a diverged training, a broken attack or an edited file, and downstream it
turns into a report that prints ``inf [0.1000, 0.2500]``. The datasets refuse it on save (naming
the entry's file and the key) and on load (naming the file and version).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np


def nonfinite_count(array: np.ndarray) -> int:
    """How many NaN or infinite values a numeric array holds (0 for non-float dtypes).

    Float arrays are first checked with min/max (NaN propagates, infinities are extremes), so a
    finite array, the usual case, costs two reductions and no mask of its size.
    """
    if array.size == 0 or not (
        np.issubdtype(array.dtype, np.floating) or np.issubdtype(array.dtype, np.complexfloating)
    ):
        return 0
    if np.issubdtype(array.dtype, np.floating):
        if np.isfinite(array.min()) and np.isfinite(array.max()):
            return 0
    return int(array.size - np.count_nonzero(np.isfinite(array)))


def nonfinite_arrays(arrays: Mapping[str, np.ndarray]) -> dict[str, int]:
    """``{key: count}`` for each array with NaN or infinite values."""
    counts = {key: nonfinite_count(np.asarray(value)) for key, value in arrays.items()}
    return {key: count for key, count in counts.items() if count}


def describe_nonfinite(counts: Mapping[str, int], sizes: Mapping[str, int]) -> str:
    """``'probs' (3 of 40 values), 'x' (1 of 12)``."""
    return ", ".join(f"'{key}' ({count} of {sizes[key]} values)" for key, count in counts.items())


NONFINITE_TOKENS = frozenset(
    {"nan", "+nan", "-nan", "inf", "+inf", "-inf", "infinity", "+infinity", "-infinity"}
)


def nonfinite_cells(cells: Iterable[tuple[str, int, str]]) -> list[tuple[str, int, str]]:
    """The (column, row, text) cells whose text spells NaN or an infinity (any case)."""
    return [cell for cell in cells if cell[2].strip().lower() in NONFINITE_TOKENS]
