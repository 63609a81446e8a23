"""``KerasModelDataset`` with atomic saves and finite weights.

``tf_lib.model_dataset.KerasModelDataset`` (kedro-datasets' TensorFlowModelDataset that loads
each version once per process) with:

- atomic saves (``datasets.atomic``): the ``.keras`` file appears under its version only when it
  is completely written, so a run killed mid-save leaves no truncated checkpoint as the latest;
- finite weights: a model whose weights hold NaN or infinite values (a diverged training) is
  refused on save, and a stored one on load, naming the file and version;
- a file Keras cannot open (truncated, not a ``.keras`` archive) is reported with its version
  folder and what to do.

Keras loads in its default safe mode (no Lambda layers, no arbitrary code in the config).

This module imports TensorFlow when imported (the dataset it extends does); Kedro imports it only
when a model entry is used, and ``logifold_kedro.datasets`` does not import it.

Catalog: ``type: logifold_kedro.datasets.keras_model.KerasModelDataset``.
"""

from __future__ import annotations

import zipfile
from typing import Any

import numpy as np
from kedro.io.core import DatasetError, get_filepath_str

from logifold_kedro.datasets.atomic import AtomicSaveMixin, damaged_version_error, located
from logifold_kedro.datasets.finite import nonfinite_count
from logifold_kedro.tf_lib.model_dataset import KerasModelDataset as _CachedKerasModelDataset


def nonfinite_weights(model: Any) -> dict[str, int]:
    """``{weight path: count}`` of the model's weights with NaN or infinite values."""
    counts = {}
    for weight in model.weights:
        count = nonfinite_count(np.asarray(weight.numpy()))
        if count:
            counts[getattr(weight, "path", weight.name)] = count
    return counts


def _describe(counts: dict[str, int]) -> str:
    names = ", ".join(f"{name} ({count})" for name, count in list(counts.items())[:5])
    return names + (f" and {len(counts) - 5} more" if len(counts) > 5 else "")


class KerasModelDataset(AtomicSaveMixin, _CachedKerasModelDataset):
    """A versioned ``.keras`` model: cached loads, atomic saves, finite weights."""

    def load(self) -> Any:
        load_path = get_filepath_str(self._get_load_path(), self._protocol)
        versioned = self._version is not None
        cached = self._version is not None and load_path in self._loaded
        try:
            model = super().load()
        except DatasetError as error:
            cause = error.__cause__
            if cause is None or isinstance(cause, FileNotFoundError):
                raise
            if not self._is_zip(load_path):
                raise damaged_version_error(load_path, versioned, cause) from error
            raise DatasetError(
                f"{located(load_path, versioned)}: Keras refused to load it "
                f"({type(cause).__name__}: {cause})"
            ) from error
        if not cached:  # a cached model was checked when it was read from disk
            bad = nonfinite_weights(model)
            if bad:
                self._loaded.pop(load_path, None)
                raise DatasetError(
                    f"{located(load_path, versioned)} holds NaN or infinite weights in "
                    f"{_describe(bad)}: the training that saved it diverged, or the file was "
                    "edited. Re-run the stage that trains it, or load an earlier version with "
                    "`--load-versions`."
                )
        return model

    def _is_zip(self, load_path: str) -> bool:
        """Whether the stored file is a complete zip archive (a ``.keras`` file is one; other
        formats are not checked)."""
        if not load_path.endswith(".keras"):
            return True
        try:
            with self._fs.open(load_path, mode="rb") as handle:
                return zipfile.is_zipfile(handle)
        except OSError:
            return False

    def save(self, data: Any) -> None:
        bad = nonfinite_weights(data)
        if bad:
            target = get_filepath_str(self._get_save_path(), self._protocol)
            raise DatasetError(
                f"refusing to save {located(target, self._version is not None)}: the model's "
                f"weights hold NaN or infinite values in {_describe(bad)} (the training "
                "diverged: lower the learning rate); nothing was written."
            )
        super().save(data)
