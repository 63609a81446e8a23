"""DaskRunner on a local cluster on loopback: one worker that can only run TensorFlow (torch is
unimportable there) and one that can only run torch (TensorFlow unimportable), as with one
virtual environment per framework.

The stage slice re-runs, on a copy of the tiny project the sequential pipeline tests produced,
the AutoAttack node (torch), a prediction node that reads its output (TensorFlow, on the other
worker), the framework-free threshold, second-generation data and evaluation nodes and the whole
reporting stage; every table, array and text it writes must equal the sequential run's.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from kedro.io import DataCatalog, MemoryDataset, Version
from kedro.pipeline import Node, Pipeline
from kedro_datasets.json import JSONDataset

from logifold_kedro.runners import (
    DaskRunner,
    NonPersistentDatasetError,
    UnsatisfiableResourcesError,
)
from logifold_kedro.runners.dask_runner import critical_path_priorities, node_resources
from tests.pipelines.conftest import run_stage

distributed = pytest.importorskip("distributed")


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
VERSION = re.compile(r"^\d{4}-\d\d-\d\dT\d\d\.\d\d\.\d\d\.\d{3}Z$")


@pytest.fixture(scope="module")
def client():
    """Two worker processes on 127.0.0.1, each advertising (and able to import) one framework."""
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


def test_failing_node_fails_the_run_with_its_own_error(client, tmp_path):
    pipeline = Pipeline(
        [
            Node(double, "params:values", "doubled", name="double"),
            Node(explode, "doubled", "exploded", name="explode", tags=["torch"]),
        ]
    )
    catalog = json_catalog(tmp_path, ["doubled", "exploded"])
    with pytest.raises(ValueError, match="bad input: 3 values"):
        DaskRunner(client=client).run(pipeline, catalog)
    assert catalog.load("doubled") == [2, 4, 6]  # the first node ran and saved
    assert not catalog.exists("exploded")


def test_node_needing_a_resource_no_worker_has_is_reported_quickly(client, tmp_path):
    pipeline = Pipeline(
        [
            Node(double, "params:values", "doubled", name="double_on_gpu", tags=["torch", "gpu"]),
            Node(total, "doubled", "summed", name="sum"),
        ]
    )
    runner = DaskRunner(
        client=client,
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


def test_unread_memory_outputs_come_back_to_the_driver(client, tmp_path):
    pipeline = Pipeline(
        [
            Node(double, "params:values", "doubled", name="double", tags=["tensorflow"]),
            Node(total, "doubled", "summed", name="sum", tags=["torch"]),
        ]
    )
    catalog = json_catalog(tmp_path, ["doubled"], save_version="2026-01-02T03.04.05.678Z")
    runner = DaskRunner(client=client)
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


# --- the project's own stages -------------------------------------------------------------------


def version_dirs(project: Path) -> set[Path]:
    return {p for p in (project / "data").rglob("*") if p.is_dir() and VERSION.match(p.name)}


def same_content(old: Path, new: Path) -> bool:
    if new.suffix == ".npz":
        with np.load(old, allow_pickle=False) as a, np.load(new, allow_pickle=False) as b:
            return set(a.files) == set(b.files) and all(np.array_equal(a[k], b[k]) for k in a)
    return old.read_bytes() == new.read_bytes()


def slice_node_names() -> list[str]:
    from logifold_kedro.pipelines.naming import U2_ENVIRONMENTS
    from logifold_kedro.pipelines.reporting.pipeline import create_pipeline as reporting

    return [
        "autoattack_transfer",  # torch
        "predict_resnet_v1_d20_immunization",  # TensorFlow, reads autoattack_test
        "select_thresholds",
        *(f"select_u2_{env}_data" for env in U2_ENVIRONMENTS),
        "evaluate_generations",
        "entropy_core_table",
        *(node.name for node in reporting().nodes),
    ]


@pytest.fixture(scope="module")
def distributed_copy(reported, tmp_path_factory) -> Path:
    """A copy of the sequentially run tiny project (the session fixtures stay untouched)."""
    copy = tmp_path_factory.mktemp("dask") / "project"
    shutil.copytree(reported, copy)
    return copy


def test_stage_slice_matches_the_sequential_run_and_uses_one_version(client, distributed_copy):
    before = version_dirs(distributed_copy)
    runner = DaskRunner(client=client)
    run_stage(distributed_copy, None, runner=runner, node_names=slice_node_names())

    new = version_dirs(distributed_copy) - before
    assert len({p.name for p in new}) == 1, "one distributed run, one save version"
    written = {p.parent for p in new}
    assert len(written) >= 20
    assert runner.node_workers["autoattack_transfer"] == "torch"
    assert runner.node_workers["predict_resnet_v1_d20_immunization"] == "tensorflow"
    assert set(runner.node_durations) == set(slice_node_names())

    differing = []
    for dataset_dir in written:
        versions = sorted(p for p in dataset_dir.iterdir() if VERSION.match(p.name))
        sequential, distributed_run = versions[-2], versions[-1]
        for new_file in distributed_run.rglob("*"):
            if new_file.is_file() and new_file.suffix != ".png":
                old_file = sequential / new_file.relative_to(distributed_run)
                if not same_content(old_file, new_file):
                    differing.append(str(new_file.relative_to(distributed_copy)))
    assert not differing, f"differs from the sequential run: {differing}"


def test_kedro_run_cli_with_the_dask_runner_and_conf_dask_yml(client, distributed_copy):
    """`kedro run --runner ...` starts the local cluster of conf/base/dask.yml (loopback)."""
    before = version_dirs(distributed_copy)
    env = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "1", "TF_ENABLE_ONEDNN_OPTS": "0"}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "kedro",
            "run",
            "--env",
            "tiny",
            "--pipelines",
            "reporting",
            "--runner",
            "logifold_kedro.runners.DaskRunner",
        ],  # fmt: skip
        cwd=distributed_copy,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    log = result.stdout + result.stderr
    assert "DaskRunner: local cluster tcp://127.0.0.1:" in log
    assert "on worker-" in log
    new = version_dirs(distributed_copy) - before
    assert len({p.name for p in new}) == 1 and len(new) >= 8
