"""The project's stages through the DaskRunner, against the sequential run of the tiny project.

Cluster: tests/dask_cluster.py (one TensorFlow-only and one torch-only worker on loopback). To
stay within the CI budget, the sequential session fixtures' outputs are reused: on a copy of
the `reported` project the DaskRunner re-runs the AutoAttack node (torch worker), a prediction
node that reads its output (TensorFlow worker), the framework-free threshold, second-generation
data and evaluation nodes and the whole reporting stage; every table and text it writes must
equal the sequential run's (arrays up to float32 rounding), in one new version. Then
`kedro run --runner ...` itself, with the local cluster of conf/base/dask.yml.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from logifold_kedro.runners import DaskRunner
from tests.pipelines.conftest import REPO, run_stage

VERSION = re.compile(r"^\d{4}-\d\d-\d\dT\d\d\.\d\d\.\d\d\.\d{3}Z$")


def version_dirs(project: Path) -> set[Path]:
    return {p for p in (project / "data").rglob("*") if p.is_dir() and VERSION.match(p.name)}


def same_content(old: Path, new: Path) -> bool:
    """Equal files; arrays equal up to float32 rounding (TensorFlow's CPU reductions can differ
    in the last bit between two processes: seen as 7e-9 on softmax outputs)."""
    if new.suffix == ".npz":
        with np.load(old, allow_pickle=False) as a, np.load(new, allow_pickle=False) as b:
            return set(a.files) == set(b.files) and all(same_array(a[k], b[k]) for k in a.files)
    return old.read_bytes() == new.read_bytes()


def same_array(a: np.ndarray, b: np.ndarray) -> bool:
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    if np.issubdtype(a.dtype, np.floating):
        return bool(np.allclose(a, b, rtol=0, atol=1e-6))
    return bool(np.array_equal(a, b))


def slice_node_names() -> list[str]:
    from logifold_kedro.pipelines.naming import U2_ENVIRONMENTS
    from logifold_kedro.pipelines.reporting.pipeline import create_pipeline as reporting

    return [
        "transfer.autoattack_transfer",  # torch
        "transfer.predict_resnet_v1_d20_transfer",  # TensorFlow, reads autoattack_test
        "u1.select_thresholds",
        *(f"u2.{env}.select_u2_{env}_data" for env in U2_ENVIRONMENTS),
        "experiments.evaluate_generations",
        "experiments.entropy_core_table",
        *(node.name for node in reporting().nodes),
    ]


@pytest.fixture(scope="module")
def distributed_copy(reported, tmp_path_factory) -> Path:
    """A copy of the sequentially run tiny project (the session fixtures stay untouched)."""
    copy = tmp_path_factory.mktemp("dask") / "project"
    shutil.copytree(reported, copy)
    return copy


def test_stage_slice_matches_the_sequential_run_and_uses_one_version(dask_client, distributed_copy):
    before = version_dirs(distributed_copy)
    runner = DaskRunner(client=dask_client)
    run_stage(distributed_copy, None, runner=runner, node_names=slice_node_names())

    new = version_dirs(distributed_copy) - before
    assert len({p.name for p in new}) == 1, "one distributed run, one save version"
    written = {p.parent for p in new}
    assert len(written) >= 20
    assert runner.node_workers["transfer.autoattack_transfer"] == "torch"
    assert runner.node_workers["transfer.predict_resnet_v1_d20_transfer"] == "tensorflow"
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


def test_kedro_run_cli_with_the_dask_runner_and_conf_dask_yml(dask_client, distributed_copy):
    """`kedro run --runner ...` starts the local cluster of conf/base/dask.yml (loopback)."""
    before = version_dirs(distributed_copy)
    env = {
        **os.environ,
        "KEDRO_DISABLE_TELEMETRY": "1",
        "TF_ENABLE_ONEDNN_OPTS": "0",
        # the project's plain one-line records (the copy has no conf/logging.yml)
        "KEDRO_LOGGING_CONFIG": str(REPO / "conf" / "logging.yml"),
    }
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
