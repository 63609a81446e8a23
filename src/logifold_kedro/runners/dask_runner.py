"""``DaskRunner``: each node is a Dask task, submitted as soon as its inputs exist.

Independent nodes (one per model, attack, environment) run at the same time on different workers.
The driver (the `kedro run` process) keeps the scheduling: it submits a node once every node that
produces one of its inputs has finished, and a node's failure fails the run with that node's own
exception (the remaining tasks are cancelled).

Framework workers. A node asks for Dask resources from its tags (``resources_by_tag``, default
``tensorflow -> {tensorflow: 1}``, ``torch -> {torch: 1}``; add ``gpu -> {GPU: 1}`` on GPU
clusters), and runs only on a worker that advertises them (`runners.resources`), so each
framework's pool can be started from its own virtual environment. Framework-free nodes ask for
nothing and run on any worker. Before the first node of a framework, a worker applies that
framework's setup once per process (`runners.worker`, with the project parameters'
``frameworks`` section overridden by ``worker_frameworks``).

Data. Each task carries only the catalog entries its node reads and writes, so everything
handed from one node to another must be persisted; the runner checks this before it starts and
names the entries to declare (`runners.plan`). Pipeline outputs that no node reads may stay in
memory: the worker sends their values back to the driver. Paths are fsspec paths, so a shared
filesystem (the default: absolute local paths) or an object store (``s3://``, ``gs://``, ...)
works.

Versioning. Every dataset object carries the run's save version (the session id), so all outputs
of one distributed run share one version, as in a sequential run; "latest" is resolved on the
worker when a node loads its inputs, after their producers have finished.

Hooks. Pipeline hooks run in the driver as usual. Node and dataset hooks would have to run where
the node runs, so they are not called (as with Kedro's ParallelRunner); ``on_node_error`` is
called in the driver with the node's exception. Node timings come back with each task and are
logged; plugins with a ``record_node_duration(node_name, seconds)`` method receive them.

Configuration: ``conf/<env>/dask.yml``, which the project's `DaskConfigHook` holds for the run's
hook manager (`runners.config.project_config`; Kedro's CLI builds the runner with no
arguments), updated by the constructor arguments (``client``, ``address``, ``config``), which win.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections import Counter
from typing import TYPE_CHECKING, Any

from kedro.runner import AbstractRunner

import logifold_kedro.runners.plan as plan
from logifold_kedro.runners.cluster import connect
from logifold_kedro.runners.config import merged_config, project_config
from logifold_kedro.runners.resources import check_resources, node_resources
from logifold_kedro.runners.worker import TaskReport, run_node_on_worker

if TYPE_CHECKING:
    from collections.abc import Mapping

    from kedro.pipeline import Pipeline
    from kedro.pipeline.node import Node
    from pluggy import PluginManager

logger = logging.getLogger(__name__)


class DaskRunner(AbstractRunner):
    """Run each node as a Dask task on the worker that advertises the node's framework.

    Args:
        client: a connected ``distributed.Client``; the runner neither starts nor closes it.
        address: scheduler address (``tcp://host:8786``); overrides the configuration.
        config: options overriding ``conf/<env>/dask.yml`` (see ``DEFAULT_CONFIG``).
        is_async: load and save a node's datasets in threads on the worker.
    """

    def __init__(
        self,
        client: Any | None = None,
        address: str | None = None,
        config: Mapping[str, Any] | None = None,
        is_async: bool = False,
    ) -> None:
        super().__init__(is_async=is_async)
        self._client = client
        self._address = address
        self._config_override = dict(config or {})
        self._project_config: dict[str, Any] = {}
        self.node_durations: dict[str, float] = {}
        self.node_workers: dict[str, str] = {}

    @property
    def config(self) -> dict[str, Any]:
        """The options this runner runs with: the defaults, the project's ``dask``
        configuration (known once a run has started) and the constructor's arguments."""
        config = merged_config(self._project_config, self._config_override)
        if self._address:
            config["scheduler_address"] = self._address
        return config

    def _get_executor(self, max_workers: int) -> None:
        return None  # tasks go to the Dask client, not to a concurrent.futures executor

    def _run(
        self,
        pipeline: Pipeline,
        catalog: Any,
        hook_manager: PluginManager | None = None,
        run_id: str | None = None,
    ) -> None:
        plan.check_persisted_handoffs(pipeline, catalog)
        self._project_config = project_config(hook_manager)
        config = self.config
        wanted = {node: node_resources(node, config["resources_by_tag"]) for node in pipeline.nodes}
        framework_params = plan.framework_params(catalog, config)
        free_outputs = plan.free_outputs(pipeline, catalog)
        priorities = plan.critical_path_priorities(pipeline)
        client, to_close = (self._client, []) if self._client is not None else connect(config)
        try:
            check_resources(client, wanted, config["resource_wait_seconds"])
            self._schedule(
                pipeline, catalog, hook_manager, run_id, client, wanted, framework_params,
                free_outputs, priorities, float(config["resource_wait_seconds"]),
            )  # fmt: skip
        finally:
            for closable in to_close:
                closable.close()

    def _schedule(  # noqa: PLR0913
        self,
        pipeline: Pipeline,
        catalog: Any,
        hook_manager: PluginManager | None,
        run_id: str | None,
        client: Any,
        wanted: Mapping[Node, Mapping[str, float]],
        framework_params: Mapping[str, Any],
        free_outputs: Mapping[Node, list[str]],
        priorities: Mapping[str, int],
        resource_wait_seconds: float,
    ) -> None:
        """Submit each node once its producers have finished, until every node is done."""
        dependencies = pipeline.node_dependencies
        todo = set(dependencies)
        done: set[Node] = set()
        running: dict[Any, Node] = {}
        load_counts = Counter(name for node in pipeline.nodes for name in node.inputs)
        tag = uuid.uuid4().hex[:8]
        self.node_durations.clear()
        self.node_workers.clear()
        next_check = time.monotonic() + 5.0
        while todo or running:
            ready = sorted((n for n in todo if dependencies[n] <= done), key=lambda n: n.name)
            for node in ready:
                todo.discard(node)
                future = client.submit(
                    run_node_on_worker,
                    node,
                    plan.task_catalog(catalog, node),
                    framework_params,
                    self._is_async,
                    run_id,
                    free_outputs[node],
                    key=f"{node.name}-{tag}",
                    resources=dict(wanted[node]) or None,
                    priority=priorities[node.name],
                    pure=False,
                )
                running[future] = node
            if not running:
                raise RuntimeError(
                    f"cannot schedule {sorted(n.name for n in todo)}: their inputs never appear"
                )
            finished = [future for future in running if future.done()]
            if not finished:
                time.sleep(0.05)
                if time.monotonic() >= next_check:  # workers can leave during a run
                    pending = {running[f]: wanted[running[f]] for f in running}
                    check_resources(client, pending, resource_wait_seconds)
                    next_check = time.monotonic() + 5.0
                continue
            for future in finished:
                node = running.pop(future)
                try:
                    report = future.result()
                except Exception as error:
                    self._fail(error, node, catalog, hook_manager, run_id, client, running)
                    self._suggest_resume_scenario(pipeline, done, catalog)
                    raise
                self._record(report, hook_manager)
                for name, value in report.free_outputs.items():
                    catalog.save(name, value)
                done.add(node)
                logger.info("Completed %d out of %d tasks", len(done), len(pipeline.nodes))
                self._release_datasets(node, catalog, load_counts, pipeline)

    def _fail(  # noqa: PLR0913
        self,
        error: Exception,
        node: Node,
        catalog: Any,
        hook_manager: PluginManager | None,
        run_id: str | None,
        client: Any,
        running: Mapping[Any, Node],
    ) -> None:
        """Log a node's failure, cancel the running tasks and call ``on_node_error``."""
        logger.error("node %s failed on the Dask cluster: %r", node.name, error)
        if type(error).__name__ == "KilledWorker":
            logger.error(
                "the worker process running %s died (crash or out of memory); see the worker's log",
                node.name,
            )
        client.cancel(list(running))
        if hook_manager is not None:
            hook_manager.hook.on_node_error(
                error=error, node=node, catalog=catalog, inputs={}, is_async=self._is_async,
                run_id=run_id,
            )  # fmt: skip

    def _record(self, report: TaskReport, hook_manager: PluginManager | None) -> None:
        """Keep a finished task's time and worker, log them, and hand the time to every plugin
        with a ``record_node_duration`` method."""
        self.node_durations[report.node_name] = report.seconds
        self.node_workers[report.node_name] = report.worker
        for framework, summary in report.framework_setups.items():
            logger.info("%s environment ready on worker %s: %s", framework, report.worker, summary)
        logger.info(
            "Completed node %s on %s in %.1f s", report.node_name, report.worker, report.seconds
        )
        if hook_manager is not None:
            for plugin in hook_manager.get_plugins() or ():  # None from a null manager
                record = getattr(plugin, "record_node_duration", None)
                if callable(record):
                    record(report.node_name, report.seconds)
