"""What runs on a Dask worker: one node, after its frameworks' setup, reported back to the driver.

Before the first node of a framework, a worker applies that framework's setup once per process
(`logifold_kedro.frameworks.configure_framework`, with the parameters the driver sends). Node and
dataset hooks are not called here; the node's time and the values of its in-memory outputs go
back in a `TaskReport`. Workers of either framework import this module, so it imports none.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from kedro.framework.hooks.manager import _create_hook_manager
from kedro.runner.task import Task

from logifold_kedro.frameworks import configure_framework, frameworks_of

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from kedro.io import DataCatalog
    from kedro.pipeline.node import Node

_setup_lock = threading.Lock()
_configured_frameworks: dict[str, dict[str, Any]] = {}


def setup_frameworks(frameworks: Iterable[str], params: Mapping[str, Any]) -> dict[str, Any]:
    """Set up each framework once per worker process; return the setups done now."""
    done_now = {}
    with _setup_lock:  # a worker with several threads may start two nodes at once
        for framework in frameworks:
            if framework not in _configured_frameworks:
                summary = configure_framework(framework, params)
                _configured_frameworks[framework] = summary
                done_now[framework] = summary
    return done_now


@dataclass
class TaskReport:
    """What a finished task sends back to the driver."""

    node_name: str
    worker: str
    seconds: float
    framework_setups: dict[str, Any] = field(default_factory=dict)
    free_outputs: dict[str, Any] = field(default_factory=dict)


def _worker_name() -> str:
    """This Dask worker's name (its address when unnamed); ``driver`` outside a worker."""
    try:
        from distributed import get_worker

        return str(get_worker().name or get_worker().address)
    except ValueError:  # not on a worker (called directly)
        return "driver"


def run_node_on_worker(
    node: Node,
    catalog: DataCatalog,
    framework_params: Mapping[str, Any],
    is_async: bool,
    run_id: str | None,
    free_outputs: list[str],
) -> TaskReport:
    """Run one node on a Dask worker: framework setup, load inputs, run, save outputs."""
    started = time.perf_counter()
    setups = setup_frameworks(frameworks_of(node.tags), framework_params)
    for name in catalog.keys():
        # A version resolved in the driver (e.g. by an `exists` check) may predate outputs
        # saved since by other tasks: resolve "latest" here, when the inputs exist.
        clear = getattr(catalog.get(name), "_clear_version_cache", None)
        if clear is not None:
            clear()
    Task(
        node=node,
        catalog=catalog,
        is_async=is_async,
        hook_manager=_create_hook_manager(),
        run_id=run_id,
    ).execute()
    values = {name: catalog.load(name) for name in free_outputs}
    return TaskReport(node.name, _worker_name(), time.perf_counter() - started, setups, values)
