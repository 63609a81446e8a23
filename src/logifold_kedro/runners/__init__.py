"""Kedro runners of this project: ``DaskRunner`` runs a pipeline on a Dask cluster.

``kedro run --runner logifold_kedro.runners.DaskRunner`` (configuration in ``conf/<env>/dask.yml``).
Importing this package imports neither Dask, TensorFlow nor torch.
"""

from logifold_kedro.runners.dask_runner import (
    DaskRunner,
    NonPersistentDatasetError,
    UnsatisfiableResourcesError,
)

__all__ = ["DaskRunner", "NonPersistentDatasetError", "UnsatisfiableResourcesError"]
