"""Project hooks.

`FrameworkSetupHook` gives every framework node its own environment: before the first node tagged
``tensorflow`` (or ``torch``) loads its inputs, that framework's setup runs once per process (seeds,
thread counts, GPU memory growth, device, determinism). Framework modules are imported only then,
so a run of framework-free nodes never imports TensorFlow or torch.

`PreflightHook` checks, before anything runs, that every input the selected pipeline reads from
the catalog exists, and stops with one clear message naming what is missing and how to get it.

`RunLogHook` logs how long each node took and, at the end, the slowest nodes and peak memory.

`DaskConfigHook` hands the `dask` configuration (`conf/<env>/dask*.yml`) to
`logifold_kedro.runners.DaskRunner`, which Kedro's CLI builds without arguments.
"""

from __future__ import annotations

import importlib
import logging
import resource
import sys
import time
from typing import Any

import click
from kedro.framework.hooks import hook_impl
from kedro.pipeline import Node, Pipeline

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


def _producing_stage(name: str) -> str | None:
    """The stage whose pipeline writes `name` (`kedro run --pipelines X` registers X only)."""
    from logifold_kedro.pipeline_registry import STAGES

    for stage in STAGES:
        module = importlib.import_module(f"logifold_kedro.pipelines.{stage}")
        if name in module.create_pipeline().all_outputs():
            return stage
    return None


class PreflightHook:
    """Stop at once, with what to do, when the run would need inputs that do not exist."""

    @hook_impl
    def before_pipeline_run(self, pipeline: Pipeline, catalog: Any) -> None:
        problems = []
        for name in sorted(pipeline.inputs()):
            if name.startswith("params:") or name == "parameters" or catalog.exists(name):
                continue
            stage = _producing_stage(name)
            if stage:
                problems.append(f"- {name}: not produced yet; run `kedro run --pipelines {stage}`")
                continue
            try:  # a raw input: its dataset says where to put it and where to get it
                catalog.load(name)
            except Exception as error:  # noqa: BLE001 - reported, not swallowed
                problems.append(f"- {name}: {error}")
        if problems:
            raise MissingInputsError(
                "this run needs inputs that do not exist:\n" + "\n".join(problems)
            )


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
