"""A local Dask cluster for the DaskRunner tests: one worker per framework, on loopback.

Each worker can import only its own framework (the other is blocked before the worker starts),
as with one virtual environment per framework on a real cluster.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import distributed


def blocker(*packages: str) -> str:
    """Preload code (run in the worker process before it starts) that makes `packages`
    unimportable, as in a virtual environment without them. A `None` entry in sys.modules is
    what `importlib.util.find_spec` reports as absent (torch probes for TensorFlow that way);
    the finder covers submodules and code that reads sys.modules without the None check
    (scipy's array-api layer does for torch, so there only the finder is used)."""
    return f"""
import sys

class BlockFramework:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {packages!r}:
            raise ModuleNotFoundError(f"{{name}} is not installed in this worker's environment")
        return None

sys.meta_path.insert(0, BlockFramework())
if "tensorflow" in {packages!r}:
    for name in {packages!r}:
        sys.modules[name] = None
"""


BLOCK_TORCH = blocker("torch", "torchvision")
BLOCK_TENSORFLOW = blocker("tensorflow", "keras")


@contextmanager
def framework_cluster_client() -> Iterator[distributed.Client]:
    """A client of two worker processes on 127.0.0.1, one advertising and able to import only
    TensorFlow (`name` and resource `tensorflow`), the other only torch."""
    scheduler = {
        "cls": distributed.Scheduler,
        "options": {"host": "127.0.0.1", "dashboard": False},
    }
    workers = {
        name: {
            "cls": distributed.Nanny,
            "options": {
                "host": "127.0.0.1",
                "name": name,
                "nthreads": 1,
                "memory_limit": 0,
                "resources": {name: 1},
                "preload": [block],
            },
        }
        for name, block in (("tensorflow", BLOCK_TORCH), ("torch", BLOCK_TENSORFLOW))
    }
    with distributed.SpecCluster(scheduler=scheduler, workers=workers) as cluster:
        with distributed.Client(cluster) as dask_client:
            dask_client.wait_for_workers(2, timeout=120)
            yield dask_client
