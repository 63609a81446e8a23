"""The same table from every seed's run, for aggregating across seeds.

Runs with different seeds (`kedro run --params seed=7`) write under
``data/<layer>/<scale>/seed<seed>/``. `SeedRunsDataset` is kedro-datasets' `PartitionedDataset`
over ``data/<layer>/<scale>`` that finds one file name in each ``seed*`` folder and loads its
latest version: ``{"seed42": <load>, "seed7": <load>}``. It is read-only, and before any run
it is an empty dict (not an error), so a first run can aggregate over itself alone.

```yaml
experiment2_metrics_by_seed:
  type: logifold_kedro.datasets.seed_runs.SeedRunsDataset
  path: data/08_reporting/${globals:scale}
  filename_suffix: /experiment2_metrics.csv
  dataset: {type: pandas.CSVDataset, versioned: true}
```
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from kedro.io.core import DatasetError
from kedro_datasets.partitions import PartitionedDataset

SEED_FOLDER = re.compile(r"^seed(-?\d+)$")


class SeedRunsDataset(PartitionedDataset):
    """Latest version of one versioned table in each ``seed<n>`` folder (read-only)."""

    def load(self) -> dict[str, Callable[[], Any]]:
        self._invalidate_caches()  # runs earlier in this session may have added seeds
        if not self._list_partitions():
            return {}
        partitions = super().load()
        unexpected = sorted(p for p in partitions if not SEED_FOLDER.match(p))
        if unexpected:
            raise DatasetError(
                f"{self._path}: expected only seed<n> folders holding "
                f"'{self._filename_suffix.lstrip('/')}', found {unexpected}. Move them out of "
                "the folder or narrow `filename_suffix`."
            )
        return partitions

    def save(self, data: dict[str, Any]) -> None:
        raise DatasetError(
            f"{self._path} is read-only: each seed's run saves its own tables; this dataset "
            "only gathers them."
        )

    def _exists(self) -> bool:
        return True  # no seed yet is a valid (empty) input


def seed_of(partition_id: str) -> int:
    """The seed of a ``seed<n>`` partition id."""
    match = SEED_FOLDER.match(partition_id)
    if not match:
        raise ValueError(f"{partition_id!r} is not a seed folder (seed<n>).")
    return int(match.group(1))
