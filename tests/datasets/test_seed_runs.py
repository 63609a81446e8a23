"""SeedRunsDataset: the latest version of one table from every seed's folder."""

from __future__ import annotations

import pandas as pd
import pytest
from kedro.io import Version
from kedro.io.core import DatasetError
from kedro_datasets.pandas import CSVDataset

from logifold_kedro.datasets.seed_runs import SeedRunsDataset, seed_of


def save_version(root, seed: int, version: str, value: float) -> None:
    path = root / f"seed{seed}" / "experiment2_metrics.csv"
    CSVDataset(filepath=str(path), version=Version(None, version)).save(
        pd.DataFrame({"imm_accuracy": [value]})
    )


def runs(root) -> SeedRunsDataset:
    return SeedRunsDataset(
        path=str(root),
        filename_suffix="/experiment2_metrics.csv",
        dataset={"type": "pandas.CSVDataset", "versioned": True},
    )


def test_latest_version_of_each_seed_and_nothing_else(tmp_path):
    dataset = runs(tmp_path)
    assert dataset.exists() and dataset.load() == {}  # before any run: empty, not an error
    save_version(tmp_path, 42, "2026-01-01T00.00.00.000Z", 0.5)
    save_version(tmp_path, 42, "2026-01-02T00.00.00.000Z", 0.6)
    save_version(tmp_path, 7, "2026-01-01T00.00.00.000Z", 0.4)
    # A look-alike table that must not be picked up.
    other = tmp_path / "seed42" / "experiment2_comparison_metrics.csv"
    CSVDataset(filepath=str(other)).save(pd.DataFrame({"x": [1]}))
    loaded = dataset.load()
    assert sorted(loaded) == ["seed42", "seed7"]
    assert loaded["seed42"]()["imm_accuracy"].item() == 0.6
    assert loaded["seed7"]()["imm_accuracy"].item() == 0.4
    assert sorted(seed_of(p) for p in loaded) == [7, 42]


def test_read_only_and_strange_folders_are_reported(tmp_path):
    dataset = runs(tmp_path)
    with pytest.raises(DatasetError, match="read-only"):
        dataset.save({"seed1": pd.DataFrame()})
    save_version(tmp_path, 1, "2026-01-01T00.00.00.000Z", 0.5)
    stray = tmp_path / "old_run" / "experiment2_metrics.csv"
    CSVDataset(filepath=str(stray), version=Version(None, "2026-01-01T00.00.00.000Z")).save(
        pd.DataFrame({"imm_accuracy": [0.1]})
    )
    with pytest.raises(DatasetError, match="old_run"):
        dataset.load()
    with pytest.raises(ValueError, match="seed folder"):
        seed_of("old_run")
