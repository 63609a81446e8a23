"""Kedro runners of this project: ``DaskRunner`` runs a pipeline on a Dask cluster.

``kedro run --runner logifold_kedro.runners.DaskRunner`` (configuration in ``conf/<env>/dask.yml``).
Importing this package imports neither Dask, TensorFlow nor torch.

Modules: `dask_runner` (the runner: scheduling in the driver), `config` (options and the
project's ``dask`` configuration), `plan` (checks and task contents worked out before submitting),
`resources` (nodes matched to workers), `cluster` (connecting, local cluster), `worker` (what
runs on a worker).
"""

from logifold_kedro.runners.dask_runner import DaskRunner
from logifold_kedro.runners.plan import NonPersistentDatasetError
from logifold_kedro.runners.resources import UnsatisfiableResourcesError

__all__ = ["DaskRunner", "NonPersistentDatasetError", "UnsatisfiableResourcesError"]
