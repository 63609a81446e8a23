"""``DaskRunner``: each node is a Dask task, submitted as soon as its inputs exist.

Independent nodes (one per model, attack, environment) run at the same time on different workers.
The driver (the `kedro run` process) keeps the scheduling: it submits a node once every node that
produces one of its inputs has finished, and a node's failure fails the run with that node's own
exception (the remaining tasks are cancelled).

Framework workers. A node asks for Dask resources from its tags (``resources_by_tag``, default
``tensorflow -> {tensorflow: 1}``, ``torch -> {torch: 1}``; add ``gpu -> {GPU: 1}`` on GPU
clusters). A worker advertises what it can run (``dask worker ... --resources "torch=1,GPU=1"``),
so torch nodes only run on torch workers and TF nodes on TF workers, and each pool can be started
from its own virtual environment. Framework-free nodes ask for nothing and run on any worker. The
driver checks the workers' advertised resources before it submits anything: a node that no worker
can run is reported at once instead of waiting forever. Before the first node of a framework, a
worker applies that framework's setup once per process (`logifold_kedro.hooks.configure_framework`
with the project parameters' ``frameworks`` section, overridden by ``worker_frameworks``).

Data. Each task carries only the catalog entries its node reads and writes (dataset objects, a
few hundred bytes each, plus parameter values): a torch-only worker never unpickles a Keras
dataset, which would import TensorFlow. Everything handed from one node to another must
therefore be persisted (not a ``MemoryDataset``); the runner checks this before it starts and
names the entries to declare. Pipeline outputs that no node reads may stay in memory: the worker
sends their values back to the driver. Paths are fsspec paths, so a shared filesystem (the
default: absolute local paths) or an object store (``s3://``, ``gs://``, ...) works.

Versioning. Every dataset object carries the run's save version (the session id), so all outputs
of one distributed run share one version, as in a sequential run; "latest" is resolved on the
worker when a node loads its inputs, after their producers have finished.

Hooks. Pipeline hooks run in the driver as usual. Node and dataset hooks would have to run where
the node runs, so they are not called (as with Kedro's ParallelRunner); ``on_node_error`` is
called in the driver with the node's exception. Node timings come back with each task and are
logged; plugins with a ``record_node_duration(node_name, seconds)`` method receive them.

Configuration reaches the runner from ``conf/<env>/dask.yml`` through
`logifold_kedro.hooks.DaskConfigHook` (Kedro's CLI builds the runner with no arguments), or as
constructor arguments (``client``, ``address``, ``config``), which win.
"""

from __future__ import annotations

import copy
import logging
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from kedro.framework.hooks.manager import _create_hook_manager
from kedro.io import DataCatalog
from kedro.pipeline import Pipeline
from kedro.runner import AbstractRunner
from kedro.runner.task import Task

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from kedro.pipeline.node import Node
    from pluggy import PluginManager

logger = logging.getLogger(__name__)

FRAMEWORK_TAGS = ("tensorflow", "torch")  # same as logifold_kedro.hooks (not imported: cycle)

DEFAULT_CONFIG: dict[str, Any] = {
    # A running scheduler, e.g. tcp://10.0.0.5:8786. None: start a local cluster for the run.
    "scheduler_address": None,
    "local_cluster": {
        "host": "127.0.0.1",
        "dashboard_address": None,
        # One entry per worker process: distributed.Nanny options.
        "workers": {
            "worker-0": {"resources": {"tensorflow": 1, "torch": 1}, "nthreads": 1},
            "worker-1": {"resources": {"tensorflow": 1, "torch": 1}, "nthreads": 1},
        },
    },
    "resources_by_tag": {"tensorflow": {"tensorflow": 1}, "torch": {"torch": 1}},
    # Per-worker overrides of the parameters' `frameworks` section (threads, device, ...).
    "worker_frameworks": {},
    # How long a node may wait for a worker that can run it (workers still starting, e.g.
    # queued cluster jobs) before the run fails.
    "resource_wait_seconds": 60,
    "connect_timeout_seconds": 60,
}

_project_config: dict[str, Any] = {}


def set_project_config(config: Mapping[str, Any] | None) -> None:
    """The `dask` configuration of the current Kedro context (`conf/<env>/dask*.yml`)."""
    _project_config.clear()
    _project_config.update(dict(config or {}))


def merged_config(*overrides: Mapping[str, Any] | None) -> dict[str, Any]:
    """`DEFAULT_CONFIG` updated key by key (one level deep for dict values) by `overrides`."""
    config = copy.deepcopy(DEFAULT_CONFIG)
    for override in overrides:
        for key, value in (override or {}).items():
            if key not in DEFAULT_CONFIG:
                raise ValueError(
                    f"unknown DaskRunner option {key!r}; expected one of {sorted(DEFAULT_CONFIG)}"
                )
            if isinstance(value, dict) and isinstance(config.get(key), dict):
                config[key] = {**config[key], **copy.deepcopy(value)}
            else:
                config[key] = copy.deepcopy(value)
    return config


class NonPersistentDatasetError(ValueError):
    """A dataset handed from one node to another is not persisted (a MemoryDataset)."""


class UnsatisfiableResourcesError(RuntimeError):
    """Nodes ask for Dask resources that no worker of the cluster advertises."""


def node_resources(node: Node, resources_by_tag: Mapping[str, Mapping[str, float]]) -> dict:
    """The Dask resources a node asks for: the union over its tags (largest amount wins)."""
    wanted: dict[str, float] = {}
    for tag in sorted(node.tags):
        for resource, amount in (resources_by_tag.get(tag) or {}).items():
            wanted[resource] = max(wanted.get(resource, 0.0), float(amount))
    return wanted


def can_run(wanted: Mapping[str, float], advertised: Mapping[str, float]) -> bool:
    return all(advertised.get(name, 0.0) >= amount for name, amount in wanted.items())


def _is_ephemeral(catalog: Any, name: str) -> bool:
    if name not in catalog:
        return True  # an undeclared entry becomes a MemoryDataset
    return bool(getattr(catalog.get(name), "_EPHEMERAL", False))


def non_persistent_handoffs(pipeline: Pipeline, catalog: Any) -> dict[str, list[str]]:
    """Entries a node writes and another node of `pipeline` reads that would stay in memory,
    each with the nodes reading it."""
    readers: dict[str, list[str]] = {}
    for node in pipeline.nodes:
        for name in node.inputs:
            readers.setdefault(name, []).append(node.name)
    produced = {name for node in pipeline.nodes for name in node.outputs}
    return {
        name: sorted(readers[name])
        for name in sorted(produced & set(readers))
        if _is_ephemeral(catalog, name)
    }


def critical_path_priorities(pipeline: Pipeline) -> dict[str, int]:
    """For each node, the number of nodes on the longest chain from it to the end (itself
    included). Submitted with this priority, the scheduler starts long chains first."""
    children: dict[str, set[str]] = {node.name: set() for node in pipeline.nodes}
    for child, parents in pipeline.node_dependencies.items():
        for parent in parents:
            children[parent.name].add(child.name)
    depth: dict[str, int] = {}
    for node in reversed(pipeline.nodes):  # reverse topological order
        depth[node.name] = 1 + max((depth[c] for c in children[node.name]), default=0)
    return depth


# --- the worker side -------------------------------------------------------------------------

_setup_lock = threading.Lock()
_configured_frameworks: dict[str, dict[str, Any]] = {}


def _setup_frameworks(frameworks: Iterable[str], params: Mapping[str, Any]) -> dict[str, Any]:
    """Set up each framework once per worker process; return the setups done now."""
    from logifold_kedro.hooks import configure_framework

    done_now = {}
    with _setup_lock:
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
    setups = _setup_frameworks([t for t in FRAMEWORK_TAGS if t in node.tags], framework_params)
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
    try:
        from distributed import get_worker

        worker = get_worker().name or get_worker().address
    except ValueError:  # not on a worker (called directly)
        worker = "driver"
    return TaskReport(node.name, str(worker), time.perf_counter() - started, setups, values)


# --- the driver side -------------------------------------------------------------------------


def _require_distributed() -> Any:
    try:
        import distributed
    except ImportError as error:
        raise ImportError(
            "DaskRunner needs dask.distributed: pip install 'logifold_kedro[dask]'"
        ) from error
    return distributed


#: Thread-count variables Dask's nanny would set to 1 in every worker process.
THREAD_ENVIRON = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def start_local_cluster(options: Mapping[str, Any]) -> Any:
    """A cluster of worker processes on this machine, one per entry of `options["workers"]`
    (each entry: distributed.Nanny options such as resources, nthreads, memory_limit, env)."""
    distributed = _require_distributed()
    host = options.get("host") or "127.0.0.1"
    dashboard_address = options.get("dashboard_address")
    workers = options.get("workers") or {}
    if not workers:
        raise ValueError("local_cluster.workers is empty: configure at least one worker")
    scheduler = {
        "cls": distributed.Scheduler,
        "options": {
            "host": host,
            "dashboard": bool(dashboard_address),
            # The scheduler's HTTP server starts even without a dashboard: a free port, so
            # two runs (or users) on one machine do not compete for 8787.
            "dashboard_address": dashboard_address or f"{host}:0",
        },
    }
    specs = {
        str(name): {
            "cls": distributed.Nanny,
            "options": {"host": host, "name": str(name), **dict(spec or {})},
        }
        for name, spec in workers.items()
    }
    # Dask's nanny sets OMP_NUM_THREADS=1 (and MKL/OpenBLAS) in each worker, which makes torch
    # default to one thread: other numbers than a sequential run's. The workers inherit this
    # process's environment instead; a worker's `env` option still sets what it needs.
    import dask

    spawn_environ = {
        key: value
        for key, value in (dask.config.get("distributed.nanny.pre-spawn-environ") or {}).items()
        if key not in THREAD_ENVIRON
    }
    with dask.config.set({"distributed.nanny.pre-spawn-environ": spawn_environ}):
        return distributed.SpecCluster(
            scheduler=scheduler, workers=specs, silence_logs=logging.ERROR
        )


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
        self.node_durations: dict[str, float] = {}
        self.node_workers: dict[str, str] = {}

    @property
    def config(self) -> dict[str, Any]:
        config = merged_config(_project_config, self._config_override)
        if self._address:
            config["scheduler_address"] = self._address
        return config

    def _get_executor(self, max_workers: int) -> None:
        return None  # tasks go to the Dask client, not to a concurrent.futures executor

    def _connect(self, config: Mapping[str, Any]) -> tuple[Any, list[Any]]:
        """The client to use and what to close after the run."""
        if self._client is not None:
            return self._client, []
        distributed = _require_distributed()
        timeout = config["connect_timeout_seconds"]
        address = config.get("scheduler_address")
        if address:
            logger.info("DaskRunner: connecting to the scheduler at %s", address)
            try:
                client = distributed.Client(address, timeout=timeout)
            except OSError as error:
                raise ConnectionError(
                    f"cannot reach the Dask scheduler at {address} ({error}); start it with "
                    "`dask scheduler` or set scheduler_address: null in conf/<env>/dask.yml "
                    "to run on a local cluster"
                ) from error
            return client, [client]
        local = config["local_cluster"]
        cluster = start_local_cluster(local)
        client = distributed.Client(cluster, timeout=timeout)
        client.wait_for_workers(len(local["workers"]), timeout=timeout)
        logger.info(
            "DaskRunner: local cluster %s with workers %s",
            cluster.scheduler_address,
            {name: (spec or {}).get("resources") for name, spec in local["workers"].items()},
        )
        return client, [client, cluster]

    @staticmethod
    def _advertised(client: Any) -> dict[str, dict[str, float]]:
        workers = client.scheduler_info(n_workers=-1)["workers"]
        return {
            str(info.get("name") or address): dict(info.get("resources") or {})
            for address, info in workers.items()
        }

    @staticmethod
    def _unsatisfiable(
        wanted: Mapping[Node, Mapping[str, float]], advertised: Mapping[str, Mapping[str, float]]
    ) -> dict[Node, Mapping[str, float]]:
        return {
            node: need
            for node, need in wanted.items()
            if not any(can_run(need, offer) for offer in advertised.values())
        }

    def _check_resources(
        self, client: Any, wanted: Mapping[Node, Mapping[str, float]], wait_seconds: float
    ) -> None:
        """Fail with the nodes no worker can run, after waiting `wait_seconds` for workers."""
        deadline = time.monotonic() + float(wait_seconds)
        while True:
            advertised = self._advertised(client)
            missing = self._unsatisfiable(wanted, advertised)
            if not missing or time.monotonic() >= deadline:
                break
            time.sleep(0.5)
        if missing:
            listing = "\n".join(
                f"- {node.name}: needs {dict(need)}"
                for node, need in sorted(missing.items(), key=lambda item: item[0].name)
            )
            raise UnsatisfiableResourcesError(
                f"no worker of the Dask cluster can run {len(missing)} node(s):\n{listing}\n"
                f"workers and their resources: {advertised or 'none connected'}.\n"
                "Start workers that advertise these resources (`dask worker <scheduler> "
                '--resources "tensorflow=1"`), or change resources_by_tag in '
                "conf/<env>/dask.yml."
            )

    def _task_catalog(self, catalog: Any, node: Node) -> DataCatalog:
        """A catalog holding only the entries `node` reads and writes (with their validators)."""
        names = [*node.inputs, *node.outputs]
        task_catalog = DataCatalog(datasets={name: catalog.get(name) for name in names})
        specs = getattr(catalog, "_validator_specs", None)
        if specs:
            task_catalog._validator_specs = {n: specs[n] for n in names if n in specs}
            task_catalog.validation_enabled = catalog.validation_enabled
        return task_catalog

    def _framework_params(self, catalog: Any, config: Mapping[str, Any]) -> dict[str, Any]:
        params = dict(catalog.load("parameters")) if "parameters" in catalog else {}
        frameworks = {
            name: dict(options or {}) for name, options in (params.get("frameworks") or {}).items()
        }
        for name, options in (config.get("worker_frameworks") or {}).items():
            frameworks[name] = {**frameworks.get(name, {}), **dict(options or {})}
        return {"seed": params.get("seed", 42), "frameworks": frameworks}

    def _run(
        self,
        pipeline: Pipeline,
        catalog: Any,
        hook_manager: PluginManager | None = None,
        run_id: str | None = None,
    ) -> None:
        handoffs = non_persistent_handoffs(pipeline, catalog)
        if handoffs:
            listing = "\n".join(
                f"- {name} (read by {', '.join(readers)})" for name, readers in handoffs.items()
            )
            raise NonPersistentDatasetError(
                "DaskRunner runs nodes in separate worker processes, so every dataset one node "
                "hands to another must be persisted. Declare these entries in "
                f"conf/<env>/catalog.yml with a file-backed dataset type:\n{listing}"
            )
        config = self.config
        wanted = {node: node_resources(node, config["resources_by_tag"]) for node in pipeline.nodes}
        framework_params = self._framework_params(catalog, config)
        free_outputs = {
            node: [n for n in node.outputs if n in pipeline.outputs() and _is_ephemeral(catalog, n)]
            for node in pipeline.nodes
        }
        priorities = critical_path_priorities(pipeline)
        client, to_close = self._connect(config)
        try:
            self._check_resources(client, wanted, config["resource_wait_seconds"])
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
                    self._task_catalog(catalog, node),
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
                    self._check_resources(client, pending, resource_wait_seconds)
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
