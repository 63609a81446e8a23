"""DaskRunner on a local cluster on loopback (tests/dask_cluster.py): one worker that can only
import and run TensorFlow, one that can only import and run torch, as with one virtual
environment per framework. The project's own stages through the runner: tests/pipelines.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from kedro.io import DataCatalog, MemoryDataset, Version
from kedro.pipeline import Node, Pipeline
from kedro_datasets.json import JSONDataset

from logifold_kedro.runners import (
    DaskRunner,
    NonPersistentDatasetError,
    UnsatisfiableResourcesError,
)
from logifold_kedro.runners.plan import critical_path_priorities
from logifold_kedro.runners.resources import node_resources

# --- small pipelines: node functions importable on the workers ------------------------------


def double(values: list[int]) -> list[int]:
    return [2 * v for v in values]


def total(values: list[int]) -> int:
    return sum(values)


def explode(values: list[int]) -> list[int]:
    raise ValueError(f"bad input: {len(values)} values")


def json_catalog(root: Path, names: list[str], save_version: str | None = None) -> DataCatalog:
    """JSON entries under `root` (versioned when `save_version` is given) and one parameter."""
    version = Version(None, save_version) if save_version else None
    datasets = {
        name: JSONDataset(filepath=str(root / f"{name}.json"), version=version) for name in names
    }
    return DataCatalog(datasets={**datasets, "params:values": MemoryDataset([1, 2, 3])})


def test_failing_node_fails_the_run_with_its_own_error(dask_client, tmp_path):
    pipeline = Pipeline(
        [
            Node(double, "params:values", "doubled", name="double"),
            Node(explode, "doubled", "exploded", name="explode", tags=["torch"]),
        ]
    )
    catalog = json_catalog(tmp_path, ["doubled", "exploded"])
    with pytest.raises(ValueError, match="bad input: 3 values"):
        DaskRunner(client=dask_client).run(pipeline, catalog)
    assert catalog.load("doubled") == [2, 4, 6]  # the first node ran and saved
    assert not catalog.exists("exploded")


def test_node_needing_a_resource_no_worker_has_is_reported_quickly(dask_client, tmp_path):
    pipeline = Pipeline(
        [
            Node(double, "params:values", "doubled", name="double_on_gpu", tags=["torch", "gpu"]),
            Node(total, "doubled", "summed", name="sum"),
        ]
    )
    runner = DaskRunner(
        client=dask_client,
        config={
            "resources_by_tag": {"torch": {"torch": 1}, "gpu": {"GPU": 1}},
            "resource_wait_seconds": 1,
        },
    )
    started = time.monotonic()
    with pytest.raises(UnsatisfiableResourcesError) as raised:
        runner.run(pipeline, json_catalog(tmp_path, ["doubled", "summed"]))
    assert time.monotonic() - started < 30
    message = str(raised.value)
    assert "double_on_gpu: needs {'GPU': 1.0, 'torch': 1.0}" in message
    assert "sum" not in message.split("workers and their resources")[0]
    assert "'torch': {'torch': 1" in message  # what the cluster does offer
    assert not (tmp_path / "doubled.json").exists()  # nothing ran


def test_memory_handoff_between_nodes_is_refused_before_anything_runs(tmp_path):
    pipeline = Pipeline(
        [
            Node(double, "params:values", "doubled", name="double"),
            Node(double, "doubled", "quadrupled", name="double_again"),
            Node(total, "quadrupled", "summed", name="sum"),
        ]
    )
    catalog = DataCatalog(
        datasets={
            "params:values": MemoryDataset([1, 2, 3]),
            "summed": JSONDataset(filepath=str(tmp_path / "summed.json")),
        }
    )  # `doubled` and `quadrupled` are not declared: they would be MemoryDatasets
    with pytest.raises(NonPersistentDatasetError) as raised:
        DaskRunner(address="tcp://127.0.0.1:9").run(pipeline, catalog)  # never contacted
    message = str(raised.value)
    assert "- doubled (read by double_again)" in message
    assert "- quadrupled (read by sum)" in message
    assert "summed" not in message


def test_unread_memory_outputs_come_back_to_the_driver(dask_client, tmp_path):
    pipeline = Pipeline(
        [
            Node(double, "params:values", "doubled", name="double", tags=["tensorflow"]),
            Node(total, "doubled", "summed", name="sum", tags=["torch"]),
        ]
    )
    catalog = json_catalog(tmp_path, ["doubled"], save_version="2026-01-02T03.04.05.678Z")
    runner = DaskRunner(client=dask_client)
    runner.run(pipeline, catalog)
    assert catalog.load("summed") == 12  # a MemoryDataset filled in the driver
    assert runner.node_workers == {"double": "tensorflow", "sum": "torch"}
    assert [p.name for p in (tmp_path / "doubled.json").iterdir()] == ["2026-01-02T03.04.05.678Z"]


def test_resources_and_priorities_follow_tags_and_the_dag():
    tagged = Node(double, "a", "b", name="train", tags=["tensorflow", "gpu", "training"])
    free = Node(total, "b", "c", name="summarise", tags=["reporting"])
    by_tag = {"tensorflow": {"tensorflow": 1}, "torch": {"torch": 1}}
    assert node_resources(tagged, by_tag) == {"tensorflow": 1.0}
    assert node_resources(tagged, {**by_tag, "gpu": {"GPU": 1}}) == {"tensorflow": 1, "GPU": 1}
    assert node_resources(free, by_tag) == {}
    assert critical_path_priorities(Pipeline([tagged, free])) == {"train": 2, "summarise": 1}


def test_runner_module_imports_no_framework():
    """Workers of either framework import the runner package (the task function lives there)."""
    from tests.fresh_interpreter import run_fresh

    _, loaded = run_fresh(
        """
        from logifold_kedro.runners import DaskRunner
        from logifold_kedro.runners.worker import run_node_on_worker
        DaskRunner(address="tcp://127.0.0.1:9")
        """,
        Path(__file__).resolve().parents[2],
    )
    assert loaded == {"tensorflow": False, "keras": False, "torch": False}


def test_unreachable_scheduler_says_what_to_do(tmp_path):
    pipeline = Pipeline([Node(double, "params:values", "doubled", name="double")])
    runner = DaskRunner(address="tcp://127.0.0.1:9", config={"connect_timeout_seconds": 2})
    with pytest.raises(ConnectionError, match="cannot reach the Dask scheduler at tcp://127"):
        runner.run(pipeline, json_catalog(tmp_path, ["doubled"]))


def _thread_environ() -> dict:
    import os

    from logifold_kedro.runners.cluster import THREAD_ENVIRON

    return {key: os.environ.get(key) for key in THREAD_ENVIRON}


def test_local_cluster_workers_keep_the_drivers_thread_environment(monkeypatch):
    """Dask's nanny would set OMP_NUM_THREADS=1 in the workers, so torch would use one thread
    there and compute other numbers than a sequential run."""
    import distributed

    from logifold_kedro.runners.cluster import start_local_cluster

    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    monkeypatch.delenv("MKL_NUM_THREADS", raising=False)
    options = {"workers": {"worker-0": {"nthreads": 1, "memory_limit": 0}}}
    with start_local_cluster(options) as cluster, distributed.Client(cluster) as client:
        client.wait_for_workers(1, timeout=60)
        (worker_environ,) = client.run(_thread_environ).values()
    assert worker_environ["OMP_NUM_THREADS"] == "3"
    assert worker_environ["MKL_NUM_THREADS"] is None


# --- the project's conf/<env>/dask.yml reaches the runner through the run's hooks ------------


class _Loader(dict):
    """A config loader holding only the ``dask`` key (or nothing: no dask*.yml)."""


class _Context:
    def __init__(self, dask: dict | None) -> None:
        self.config_loader = _Loader({} if dask is None else {"dask": dask})


def _hooks_with_dask_config(dask: dict | None):
    from kedro.framework.hooks.manager import _create_hook_manager

    from logifold_kedro.hooks import DaskConfigHook

    hook = DaskConfigHook()
    hook.after_context_created(context=_Context(dask))
    manager = _create_hook_manager()
    manager.register(hook)
    return manager


def test_project_dask_config_reaches_the_runner_and_constructor_arguments_win(tmp_path):
    pipeline = Pipeline([Node(double, "params:values", "doubled", name="double")])
    project = {"scheduler_address": "tcp://127.0.0.1:9", "connect_timeout_seconds": 2}
    hooks = _hooks_with_dask_config(project)
    runner = DaskRunner()  # as Kedro's CLI builds it
    with pytest.raises(ConnectionError, match=r"scheduler at tcp://127\.0\.0\.1:9 "):
        runner.run(pipeline, json_catalog(tmp_path, ["doubled"]), hooks)
    assert runner.config["connect_timeout_seconds"] == 2
    runner = DaskRunner(address="tcp://127.0.0.1:8")
    with pytest.raises(ConnectionError, match=r"scheduler at tcp://127\.0\.0\.1:8 "):
        runner.run(pipeline, json_catalog(tmp_path, ["doubled"]), hooks)


def test_project_config_is_empty_without_a_dask_config_hook_or_dask_yml():
    from kedro.framework.hooks.manager import _create_hook_manager, _NullPluginManager

    from logifold_kedro.runners.config import DEFAULT_CONFIG, project_config

    assert project_config(_NullPluginManager()) == {}
    assert project_config(_create_hook_manager()) == {}
    assert project_config(_hooks_with_dask_config(None)) == {}  # the runner's defaults
    assert DaskRunner().config == DEFAULT_CONFIG
    assert project_config(_hooks_with_dask_config({"resource_wait_seconds": 3})) == {
        "resource_wait_seconds": 3
    }


def test_hooks_and_runners_do_not_import_each_other():
    from tests.fresh_interpreter import run_fresh

    stdout, _ = run_fresh(
        """
        import sys
        import logifold_kedro.hooks
        print("hooks->runners", "logifold_kedro.runners" in sys.modules)
        for name in [m for m in sys.modules if m.startswith("logifold_kedro.hooks")]:
            del sys.modules[name]
        import logifold_kedro.runners.worker
        print("runners->hooks", "logifold_kedro.hooks" in sys.modules)
        """,
        Path(__file__).resolve().parents[2],
    )
    assert "hooks->runners False" in stdout
    assert "runners->hooks False" in stdout
