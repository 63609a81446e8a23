"""``CSVDataset``: kedro-datasets' ``pandas.CSVDataset`` with atomic saves and finite numbers.

- Saves appear under their version only when complete (``datasets.atomic``).
- Empty cells are missing values (NaN in pandas): "not applicable", e.g. no U2' for the clean
  environment. Infinite numbers, and cells that spell NaN or an infinity out (``nan``, ``inf``,
  ``-Infinity``...), are refused on load and on save, naming the file, version, column and row:
  no node of this project writes them, so they mean a broken computation or an edited table.
- A file that does not end with a line break was cut off while being written (pandas ends every
  table with one) and is reported as damaged, with its version folder, instead of loading as a
  table with fewer rows.

Catalog: ``type: logifold_kedro.datasets.tables.CSVDataset`` (same arguments as the original).
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pandas as pd
from kedro.io.core import DatasetError, get_filepath_str
from kedro_datasets.pandas import CSVDataset as _KedroCSVDataset

from logifold_kedro.datasets.atomic import AtomicSaveMixin, damaged_version_error, located
from logifold_kedro.datasets.finite import nonfinite_cells

# Load arguments that change how cells are parsed; the raw-text pass sets its own.
_PARSING_ARGS = ("dtype", "na_values", "keep_default_na", "na_filter", "converters")
_SHOWN = 5


def infinite_cells(frame: pd.DataFrame) -> list[tuple[str, int, str]]:
    """(column, row, value) of every infinite number in the numeric columns of ``frame``."""
    cells = []
    for column in frame.columns:
        values = frame[column]
        if not pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
            continue
        array = values.to_numpy(dtype=np.float64, na_value=np.nan)
        for row in np.flatnonzero(np.isinf(array)):
            cells.append((str(column), int(row), str(array[row])))
    return cells


def spelled_nonfinite_cells(raw: bytes, load_args: dict[str, Any]) -> list[tuple[str, int, str]]:
    """(column, row, text) of every cell whose text is ``nan``, ``inf`` and the like."""
    args = {k: v for k, v in load_args.items() if k not in _PARSING_ARGS}
    text = pd.read_csv(io.BytesIO(raw), dtype=str, keep_default_na=False, **args)
    return nonfinite_cells(
        (str(column), row, value)
        for column in text.columns
        for row, value in enumerate(text[column].tolist())
        if isinstance(value, str)
    )


def describe_cells(cells: list[tuple[str, int, str]]) -> str:
    shown = ", ".join(f"column '{c}' row {r}: {v}" for c, r, v in cells[:_SHOWN])
    more = f" and {len(cells) - _SHOWN} more" if len(cells) > _SHOWN else ""
    return shown + more


class CSVDataset(AtomicSaveMixin, _KedroCSVDataset):
    """A versioned CSV table: atomic saves, finite numbers, truncated files reported."""

    def load(self) -> pd.DataFrame:
        load_path = get_filepath_str(self._get_load_path(), self._protocol)
        versioned = self._version is not None
        raw = self._fs.cat_file(load_path)
        if raw and not raw.endswith(b"\n"):
            raise damaged_version_error(
                load_path, versioned, "the file ends in the middle of a line (cut off)"
            )
        try:
            frame = pd.read_csv(io.BytesIO(raw), **self._load_args)
            found = spelled_nonfinite_cells(raw, self._load_args) + infinite_cells(frame)
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as error:
            raise damaged_version_error(load_path, versioned, error) from error
        # A cell spelled "inf" is also an infinite number: name each cell once.
        cells = sorted({(column, row): (column, row, text) for column, row, text in found}.values())
        if cells:
            raise DatasetError(
                f"{located(load_path, versioned)} holds NaN or infinite numbers "
                f"({describe_cells(cells)}). Missing values are empty cells; no stage writes "
                "these, so the table was edited or its computation broke. Re-run the stage that "
                "writes it, or load an earlier version with `--load-versions`."
            )
        return frame

    def save(self, data: pd.DataFrame) -> None:
        cells = infinite_cells(data) if isinstance(data, pd.DataFrame) else []
        if cells:
            target = get_filepath_str(self._get_save_path(), self._protocol)
            raise DatasetError(
                f"refusing to save a table with infinite numbers to "
                f"{located(target, self._version is not None)} "
                f"({describe_cells(cells)}): the node that computed it divided by zero or "
                "diverged; nothing was written."
            )
        super().save(data)
