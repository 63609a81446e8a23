"""``JSONDataset`` and ``TextDataset``: kedro-datasets' datasets with atomic saves.

A save appears under its version only when complete (``datasets.atomic``), so a run killed while
writing ``thresholds.json`` or ``report.md`` leaves no half document as the latest version. A
JSON document that cannot be parsed (one cut off before saves were atomic, or edited) is
reported with its path and version folder and what to do.

Catalog: ``type: logifold_kedro.datasets.documents.JSONDataset`` / ``...documents.TextDataset``
(same arguments as the originals).
"""

from __future__ import annotations

import json
from typing import Any

from kedro.io.core import get_filepath_str
from kedro_datasets.json import JSONDataset as _KedroJSONDataset
from kedro_datasets.text import TextDataset as _KedroTextDataset

from logifold_kedro.datasets.atomic import AtomicSaveMixin, damaged_version_error


class JSONDataset(AtomicSaveMixin, _KedroJSONDataset):
    """A versioned JSON document: atomic saves, damaged files reported by version."""

    def load(self) -> Any:
        load_path = get_filepath_str(self._get_load_path(), self._protocol)
        try:
            with self._fs.open(load_path, **self._fs_open_args_load) as fs_file:
                return json.load(fs_file)
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise damaged_version_error(load_path, self._version is not None, error) from error


class TextDataset(AtomicSaveMixin, _KedroTextDataset):
    """A versioned text file (Markdown report, tables): atomic saves."""
