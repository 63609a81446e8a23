"""Project hooks.

`FrameworkSetupHook` gives every framework node its own environment: before the first node tagged
``tensorflow`` (or ``torch``) loads its inputs, that framework's setup runs once per process (seeds,
thread counts, GPU memory growth, device, determinism). Framework modules are imported only then,
so a run of framework-free nodes never imports TensorFlow or torch.

`ParameterCheckHook` checks the parameters (``parameter_checks``) before any node runs, and the
seed where the catalog forms the run folder: a bad value stops the run with its key, its value
and what is allowed, before anything is written.

`RunFolderSeedHook` names the run folder after the seed the nodes use, wherever it is set
(``--params``, ``conf/local``, an environment's parameters): the catalog reads it from the runtime
parameters, so the hook puts the merged ``seed`` there before the catalog is built.

`UnreadLocalConfigHook` warns when ``conf/local`` holds configuration that this run does not read
(Kedro layers one environment over ``conf/base``: ``--env paper`` reads ``conf/paper`` instead).

`PreflightHook` checks, before anything runs, that every input the selected pipeline reads from
the catalog exists, and stops with one clear message naming what is missing and how to get it
(the command to run first, with the user's ``--env`` and ``--params``).

`RunFolderLockHook` lets one run at a time write a run folder (``run_lock``): a second run on the
same scale and seed is refused at start; a lock left by a killed run does not block the restart.

`RunVersionsHook` makes every node of a run read the versions this run wrote: once an entry is
saved, its load version is pinned to the run's save version, so a concurrent writer's newer
"latest" is never read in its place. Entries the run does not write are still read at their
latest version.

`RunLogHook` logs how long each node took and, at the end, the slowest nodes and peak memory.

`DaskConfigHook` hands the `dask` configuration (`conf/<env>/dask*.yml`) to
`logifold_kedro.runners.DaskRunner`, which Kedro's CLI builds without arguments.
"""

from __future__ import annotations

import importlib
import logging
import re
import resource
import shlex
import sys
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import click
from kedro.framework.hooks import hook_impl
from kedro.io.core import AbstractVersionedDataset
from kedro.pipeline import Node, Pipeline

from logifold_kedro.parameter_checks import ParameterError, check_parameters, check_run_folder
from logifold_kedro.run_lock import RunFolderLockedError, RunLock

logger = logging.getLogger(__name__)

FRAMEWORK_TAGS = ("tensorflow", "torch")


def configure_framework(framework: str, params: dict[str, Any]) -> dict[str, Any]:
    """Apply one framework's setup from the project parameters and return what it did."""
    seed = int(params.get("seed", 42))
    options = dict((params.get("frameworks") or {}).get(framework) or {})
    if framework == "tensorflow":
        from logifold_kedro.tf_lib.setup import configure_tensorflow

        return configure_tensorflow(seed=seed, **options)
    if framework == "torch":
        from logifold_kedro.torch_lib.setup import configure_torch

        return configure_torch(seed=seed, **options)
    raise ValueError(f"unknown framework {framework!r}; expected one of {FRAMEWORK_TAGS}")


class FrameworkSetupHook:
    """Set up TensorFlow / torch once per process, before the first node of that framework."""

    def __init__(self) -> None:
        self._params: dict[str, Any] = {}
        self.configured: dict[str, dict[str, Any]] = {}

    @hook_impl
    def after_context_created(self, context: Any) -> None:
        self._params = dict(context.params)

    def setup_for(self, node: Node) -> None:
        for framework in FRAMEWORK_TAGS:
            if framework in node.tags and framework not in self.configured:
                summary = configure_framework(framework, self._params)
                self.configured[framework] = summary
                logger.info("%s environment ready for node %r: %s", framework, node.name, summary)

    # Inputs are loaded before `before_node_run`; loading a Keras model starts the TF runtime,
    # after which thread counts can no longer be set. So set up before the first load as well.
    @hook_impl
    def before_dataset_loaded(self, dataset_name: str, node: Node) -> None:
        self.setup_for(node)

    @hook_impl
    def before_node_run(self, node: Node) -> None:
        self.setup_for(node)


class MissingInputsError(click.ClickException):
    """Inputs of the selected pipeline are missing. A ClickException, so `kedro run` prints the
    message alone (no traceback) and exits 1."""


class InvalidParametersError(click.ClickException):
    """Parameters no node could use (printed without a traceback, exit 1)."""


class RunFolderBusyError(click.ClickException):
    """Another run holds the run folder (printed without a traceback, exit 1)."""


def _producing_stage(name: str) -> str | None:
    """The stage whose pipeline writes `name` (`kedro run --pipelines X` registers X only)."""
    from logifold_kedro.pipeline_registry import STAGES

    for stage in STAGES:
        module = importlib.import_module(f"logifold_kedro.pipelines.{stage}")
        if name in module.create_pipeline().all_outputs():
            return stage
    return None


def flat_params(params: Mapping[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    """``{"a": {"b": 1}, "seed": 7}`` -> ``[("a.b", 1), ("seed", 7)]`` (how --params spells it)."""
    items: list[tuple[str, Any]] = []
    for key, value in params.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            items += flat_params(value, f"{name}.")
        else:
            items.append((name, value))
    return items


def kedro_run_command(stage: str, env: str | None, runtime_params: Mapping[str, Any] | None) -> str:
    """``kedro run [--env E] --pipelines <stage> [--params k=v,...]``: the user's run, for
    another stage (same configuration environment, same runtime parameters)."""
    parts = ["kedro", "run"]
    if env and env != "local":
        parts += ["--env", env]
    parts += ["--pipelines", stage]
    pairs = [f"{key}={value}" for key, value in flat_params(runtime_params or {})]
    if pairs:
        parts += ["--params", ",".join(pairs)]
    return " ".join(shlex.quote(part) for part in parts)


class PreflightHook:
    """Stop at once, with what to do, when the run would need inputs that do not exist."""

    @hook_impl
    def before_pipeline_run(
        self, run_params: dict[str, Any], pipeline: Pipeline, catalog: Any
    ) -> None:
        problems = []
        env = run_params.get("env")
        runtime_params = run_params.get("runtime_params")
        for name in sorted(pipeline.inputs()):
            if name.startswith("params:") or name == "parameters" or catalog.exists(name):
                continue
            stage = _producing_stage(name)
            if stage:
                command = kedro_run_command(stage, env, runtime_params)
                problems.append(f"- {name}: not produced yet; run `{command}`")
                continue
            try:  # a raw input: its dataset says where to put it and where to get it
                catalog.load(name)
            except Exception as error:  # noqa: BLE001 - reported, not swallowed
                problems.append(f"- {name}: {error}")
        if problems:
            raise MissingInputsError(
                "this run needs inputs that do not exist:\n" + "\n".join(problems)
            )


def catalog_paths(conf_catalog: Mapping[str, Any]) -> dict[str, str]:
    """``{entry: path}`` of every catalog entry with a ``filepath`` or ``path``."""
    paths = {}
    for name, config in conf_catalog.items():
        if isinstance(config, Mapping):
            path = config.get("filepath", config.get("path"))
            if isinstance(path, str):
                paths[name] = path
    return paths


def _relative(path: str, project_path: Path | None) -> str:
    # Only the part under the project: a folder of the project's own path may be named seed*.
    if project_path is not None:
        return path.removeprefix(project_path.as_posix().rstrip("/") + "/")
    return path


def run_folder_of(
    conf_catalog: Mapping[str, Any], scale: Any, project_path: Path | None
) -> Path | None:
    """The run folder ``.../<scale>/seed<seed>`` of the catalog's reporting entry ``report``
    (else of the first entry, by name, that has one); None when no entry has one."""
    pattern = re.compile(rf"^(?P<folder>.*?(?:^|/){re.escape(str(scale))}/seed[^/{{}}]*)(?=/|$)")
    paths = catalog_paths(conf_catalog)
    for name in ["report", *sorted(paths)]:
        path = paths.get(name)
        if path is None:
            continue
        match = pattern.match(_relative(path, project_path))
        if match:
            folder = Path(match["folder"])
            return folder if folder.is_absolute() or project_path is None else project_path / folder
    return None


class RunFolderSeedHook:
    """Give the catalog's run folder (``${runtime_params:seed,...}``) the seed the nodes use."""

    # First among the after_context_created hooks, before anything can build a catalog.
    @hook_impl(tryfirst=True)
    def after_context_created(self, context: Any) -> None:
        loader = context.config_loader
        runtime_params = dict(loader.runtime_params or {})
        if "seed" in runtime_params:  # --params seed=...: the nodes get it too
            return
        seed = context.params.get("seed")
        if seed is None:
            return
        # A new dict: the session's record of the user's --params stays as typed.
        loader.runtime_params = {**runtime_params, "seed": seed}
        # The loader caches its runtime params for the resolver once it has resolved one.
        if hasattr(loader, "_runtime_params_oc"):
            loader._runtime_params_oc = None


CONFIG_SUFFIXES = (".yml", ".yaml", ".json")


def unread_local_files(conf_source: Path, local_env: str, run_env: str) -> list[Path]:
    """The configuration files of ``conf/<local_env>`` when the run reads another environment."""
    folder = conf_source / local_env
    if run_env == local_env or not folder.is_dir():
        return []
    return sorted(
        path
        for path in folder.rglob("*")
        if path.is_file() and path.suffix in CONFIG_SUFFIXES and not path.name.startswith(".")
    )


class UnreadLocalConfigHook:
    """Warn at start when ``conf/local`` has files this run does not read (``--env X``)."""

    @hook_impl
    def after_context_created(self, context: Any) -> None:
        loader = context.config_loader
        local_env = getattr(loader, "default_run_env", "") or "local"
        run_env = loader.env or local_env
        files = unread_local_files(Path(loader.conf_source), local_env, run_env)
        if not files:
            return
        project_path = Path(context.project_path)
        names = ", ".join(
            path.relative_to(project_path).as_posix()
            if path.is_relative_to(project_path)
            else path.as_posix()
            for path in files
        )
        logger.warning(
            "this run reads conf/base and conf/%s, not conf/%s, so these files do not apply: %s. "
            "Pass such values with --params (e.g. --params seed=7), or copy conf/%s to "
            "conf/%s_local (git-ignored), add your overrides there and run with --env %s_local "
            "(docs/configuration.md).",
            run_env,
            local_env,
            names,
            run_env,
            run_env,
            run_env,
        )


class ParameterCheckHook:
    """Check the parameters before any node runs, and the seed where the run folder is formed."""

    def __init__(self) -> None:
        self._project_path: Path | None = None

    @hook_impl
    def after_context_created(self, context: Any) -> None:
        self._project_path = Path(context.project_path)

    @hook_impl
    def after_catalog_created(
        self, conf_catalog: dict[str, Any], parameters: dict[str, Any]
    ) -> None:
        values = dict(parameters.get("parameters") or {})
        scale = values.get("scale")
        paths = [
            _relative(path, self._project_path) for path in catalog_paths(conf_catalog).values()
        ]
        if scale is not None:  # only the <scale>/seed<seed> folders are run folders
            paths = [p for p in paths if f"{scale}/seed" in p]
        try:
            check_run_folder(paths, values.get("seed", 42))
        except ParameterError as error:
            raise InvalidParametersError(
                f"this seed cannot be used (nothing was run):\n{error}"
            ) from None

    @hook_impl(tryfirst=True)
    def before_pipeline_run(self, catalog: Any) -> None:
        params = catalog.load("parameters") if "parameters" in catalog else {}
        try:
            check_parameters(params)
        except ParameterError as error:
            raise InvalidParametersError(str(error)) from None


class RunFolderLockHook:
    """One run per run folder: the lock is taken last before the run starts (after every other
    check, whose failure would skip the release) and released when it ends or fails."""

    def __init__(self) -> None:
        self._project_path: Path | None = None
        self._folders: dict[str | None, Path] = {}
        self._locks: dict[str, RunLock] = {}

    @hook_impl
    def after_context_created(self, context: Any) -> None:
        self._project_path = Path(context.project_path)

    @hook_impl
    def after_catalog_created(
        self, conf_catalog: dict[str, Any], parameters: dict[str, Any], save_version: str | None
    ) -> None:
        scale = (parameters.get("parameters") or {}).get("scale")
        folder = run_folder_of(conf_catalog, scale, self._project_path)
        if folder is not None:
            self._folders[save_version] = folder
            # Catalogs built without a run (notebooks, the importer) are never popped.
            while len(self._folders) > 16:
                self._folders.pop(next(iter(self._folders)))

    @hook_impl(trylast=True)
    def before_pipeline_run(self, run_params: dict[str, Any]) -> None:
        # Runs of one process are sequential: a lock still held here belongs to a run that was
        # interrupted (KeyboardInterrupt skips on_pipeline_error).
        for lock in self._locks.values():
            lock.release()
        self._locks.clear()
        run_id = run_params["run_id"]
        folder = self._folders.pop(run_id, None)
        if folder is None:
            return
        pipelines = ",".join(run_params.get("pipeline_names") or ["__default__"])
        lock = RunLock(folder, command=f"kedro run --pipelines {pipelines} (run {run_id})")
        try:
            lock.acquire()
        except RunFolderLockedError as error:
            raise RunFolderBusyError(str(error)) from None
        self._locks[run_id] = lock

    def _release(self, run_params: dict[str, Any]) -> None:
        lock = self._locks.pop(run_params["run_id"], None)
        if lock is not None:
            lock.release()

    @hook_impl
    def after_pipeline_run(self, run_params: dict[str, Any]) -> None:
        self._release(run_params)

    @hook_impl
    def on_pipeline_error(self, run_params: dict[str, Any]) -> None:
        self._release(run_params)


def pin_load_to_save_version(dataset: Any) -> str | None:
    """Make a versioned dataset load the version it saves; return that version (None when it is
    not versioned or its load version was chosen explicitly, e.g. ``--load-versions``)."""
    inner = getattr(dataset, "_dataset", dataset)  # a CachedDataset wraps the real one
    version = getattr(inner, "_version", None)
    if not isinstance(inner, AbstractVersionedDataset) or version is None or version.load:
        return None
    save_version = version.save or inner.resolve_save_version()
    # Kedro has no public setter; Version is a namedtuple, the dataset keeps it in _version.
    inner._version = version._replace(load=save_version)
    inner._clear_version_cache()
    return save_version


class RunVersionsHook:
    """Nodes read the versions their own run wrote (see the module docstring)."""

    def __init__(self) -> None:
        self._catalog: Any = None
        self._outputs: dict[str, list[str]] = {}

    @hook_impl
    def before_pipeline_run(self, pipeline: Pipeline, catalog: Any) -> None:
        self._catalog = catalog
        self._outputs = {node.name: list(node.outputs) for node in pipeline.nodes}

    def _pin(self, names: Iterable[str]) -> None:
        if self._catalog is None:
            return
        for name in names:
            if name in self._catalog:
                version = pin_load_to_save_version(self._catalog.get(name))
                if version:
                    logger.debug("%s: later nodes read this run's version %s", name, version)

    @hook_impl
    def after_dataset_saved(self, dataset_name: str) -> None:
        self._pin([dataset_name])

    def record_node_duration(self, node_name: str, seconds: float) -> None:
        """DaskRunner: a node finished on a worker, which saved its outputs (dataset hooks do
        not run there); pin them in the driver's catalog, which the next tasks are built from."""
        self._pin(self._outputs.get(node_name, []))

    @hook_impl
    def after_pipeline_run(self) -> None:
        self._catalog, self._outputs = None, {}

    @hook_impl
    def on_pipeline_error(self) -> None:
        self._catalog, self._outputs = None, {}


def peak_rss_mib() -> float:
    """Peak resident memory of this process (and finished children) in MiB."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    scale = (
        1 / 1024 / 1024 if sys.platform == "darwin" else 1 / 1024
    )  # bytes on macOS, KiB on Linux
    return max(own, children) * scale


class RunLogHook:
    """Log each node's wall time and, after the run, the slowest nodes and peak memory."""

    def __init__(self) -> None:
        self._started: dict[str, float] = {}
        self.durations: dict[str, float] = {}
        self._run_started = 0.0

    @hook_impl
    def before_pipeline_run(self) -> None:
        self._run_started = time.perf_counter()
        self.durations.clear()

    @hook_impl
    def before_node_run(self, node: Node) -> None:
        self._started[node.name] = time.perf_counter()

    @hook_impl
    def after_node_run(self, node: Node) -> None:
        seconds = time.perf_counter() - self._started.pop(node.name, time.perf_counter())
        self.durations[node.name] = seconds
        logger.info("node %s took %.1f s", node.name, seconds)

    def record_node_duration(self, node_name: str, seconds: float) -> None:
        """A node's wall time measured elsewhere (DaskRunner: on a worker, no node hooks)."""
        self.durations[node_name] = seconds

    @hook_impl
    def after_pipeline_run(self) -> None:
        total = time.perf_counter() - self._run_started
        slowest = sorted(self.durations.items(), key=lambda item: -item[1])[:5]
        listing = ", ".join(f"{name} {seconds:.1f}s" for name, seconds in slowest)
        logger.info(
            "run finished in %.1f s, peak memory %.0f MiB; slowest nodes: %s",
            total,
            peak_rss_mib(),
            listing,
        )


class DaskConfigHook:
    """Give `DaskRunner` the run's `dask` configuration (scheduler address, local cluster,
    resources per tag). An environment without `dask*.yml` gets the runner's defaults."""

    @hook_impl
    def after_context_created(self, context: Any) -> None:
        from kedro.config import MissingConfigException

        from logifold_kedro.runners.dask_runner import set_project_config

        try:
            config = context.config_loader["dask"]
        except (KeyError, MissingConfigException):
            config = {}
        set_project_config(config)
