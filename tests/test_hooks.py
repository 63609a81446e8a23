"""Project hooks: parameter checks, preflight checks of missing inputs, one run per run folder,
each run reading its own versions, per-framework setup, run log."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from kedro.framework.hooks import hook_impl
from kedro.framework.hooks.manager import _create_hook_manager
from kedro.io import DataCatalog, MemoryDataset
from kedro.io.core import Version
from kedro.pipeline import Pipeline, node
from kedro.runner import SequentialRunner

from logifold_kedro.datasets.tables import CSVDataset
from logifold_kedro.frameworks import configure_framework, frameworks_of
from logifold_kedro.hooks import (
    InvalidParametersError,
    MissingInputsError,
    RunFolderBusyError,
    RunVersionsHook,
    kedro_run_command,
    peak_rss_mib,
)
from logifold_kedro.run_lock import LOCK_NAME
from tests.pipelines.conftest import REPO, make_project_copy, run_stage

KEDRO = str(Path(sys.executable).parent / "kedro")


def data_files(project: Path) -> list[str]:
    return sorted(str(p.relative_to(project)) for p in (project / "data").rglob("*") if p.is_file())


# --- preflight ---------------------------------------------------------------------------------
def test_a_stage_run_before_its_inputs_exist_names_the_command_to_run_first(tmp_path):
    project = make_project_copy(tmp_path / "project")
    with pytest.raises(MissingInputsError) as error:
        run_stage(project, "art_attacks", runtime_params={"seed": 7})
    message = error.value.message
    first = "run `kedro run --env tiny --pipelines training --params seed=7`"
    assert f"model__u0__resnet_v1_d20: not produced yet; {first}" in message
    assert "clean_test: not produced yet" in message
    assert not (project / "data" / "07_model_output").exists(), "nothing ran"


def test_the_hint_repeats_env_and_every_runtime_parameter():
    assert kedro_run_command("training", None, None) == "kedro run --pipelines training"
    assert kedro_run_command("training", "local", {}) == "kedro run --pipelines training"
    command = kedro_run_command("immunization", "paper", {"seed": 7, "u2": {"policy": "skip"}})
    expected = "kedro run --env paper --pipelines immunization --params seed=7,u2.policy=skip"
    assert command == expected
    quoted = kedro_run_command("x", None, {"note": "a b"})
    assert quoted == "kedro run --pipelines x --params 'note=a b'"


def test_a_missing_raw_archive_says_where_to_put_and_get_it(tmp_path):
    project = make_project_copy(tmp_path / "project")
    (project / "data" / "01_raw" / "cifar10_demo.tar.gz").unlink()
    with pytest.raises(MissingInputsError) as error:
        run_stage(project, "training")
    assert "cifar10_raw" in error.value.message
    assert "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz" in error.value.message


# --- parameters --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("runtime_params", "expected"),
    [
        ({"seed": "abc"}, "- seed = 'abc': the run folder would be seedabc/; the seed must be"),
        ({"seed": -1}, "- seed = '-1': the run folder would be seed-1/"),
        (
            {"experiment1": {"entropy_threshold": "abc"}},
            "- experiment1.entropy_threshold = 'abc': Input should be a valid number",
        ),
        ({"u2": {"policy": "bogus"}}, "- u2.policy = 'bogus': Input should be 'error' or 'skip'"),
        ({"apgd": {"weak": {"eps": "big"}}}, "- apgd.weak.eps = 'big': Input should be a valid"),
        ({"apgd": {"strong": {"max_iter": 0}}}, "apgd.strong.max_iter = 0: Input should be"),
        ({"bootstrap": {"confidence": 1.5}}, "- bootstrap.confidence = 1.5: Input should be less"),
        ({"threshold": {"target": 2}}, "- threshold.target = 2: Input should be less than"),
    ],
)
def test_a_bad_parameter_stops_the_run_before_anything_is_written(
    tmp_path, runtime_params, expected
):
    project = make_project_copy(tmp_path / "project")
    before = data_files(project)
    with pytest.raises(InvalidParametersError) as error:
        run_stage(project, "training", runtime_params=runtime_params, tags=["data"])
    assert expected in error.value.message, error.value.message
    assert "nothing was run" in error.value.message
    assert data_files(project) == before
    assert not (project / "data" / "02_intermediate").exists()


def test_the_allowed_values_are_named(tmp_path):
    project = make_project_copy(tmp_path / "project")
    with pytest.raises(InvalidParametersError) as error:
        run_stage(project, "training", runtime_params={"u2": {"policy": "bogus"}}, tags=["data"])
    assert "allowed: one of 'error', 'skip'" in error.value.message
    with pytest.raises(InvalidParametersError) as error:
        run_stage(project, "training", runtime_params={"experiment1": {"entropy_threshold": "x"}})
    assert "allowed: a finite number >= 0" in error.value.message


# --- one run per run folder --------------------------------------------------------------------
def slow_project(tmp_path: Path) -> Path:
    """A project whose raw archive loads only once the test creates the release file."""
    project = make_project_copy(tmp_path / "project")
    (project / "conf" / "tiny" / "catalog.yml").write_text(
        "cifar10_raw:\n"
        "  type: tests.slow_dataset.SlowArchive\n"
        "  filepath: ${globals:raw_cifar10}\n"
        "  expected_train: ${globals:expected_train}\n"
        "  expected_test: ${globals:expected_test}\n"
    )
    return project


def start_kedro(project: Path, release: Path) -> subprocess.Popen:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
        "LOGIFOLD_TEST_RELEASE": str(release),
        "KEDRO_DISABLE_TELEMETRY": "1",
    }
    command = [KEDRO, "run", "--env", "tiny", "--pipelines", "training", "--tags", "data"]
    return subprocess.Popen(
        command, cwd=project, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


def wait_for(path: Path, process: subprocess.Popen, seconds: float = 180) -> None:
    deadline = time.monotonic() + seconds
    while not path.exists():
        if process.poll() is not None:
            pytest.fail(f"the run ended before taking its lock:\n{process.stdout.read()}")
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.2)


def test_a_second_run_on_the_same_folder_is_refused_and_a_killed_run_does_not_block(
    tmp_path, monkeypatch
):
    project = slow_project(tmp_path)
    release = tmp_path / "release"
    lock = project / "data" / "08_reporting" / "tiny" / "seed42" / LOCK_NAME
    first = start_kedro(project, release)
    try:
        wait_for(lock, first)
        second = start_kedro(project, release)
        out, _ = second.communicate(timeout=180)
        assert second.returncode == 1, out
        assert "another run is using the run folder" in out and f"PID {first.pid}" in out, out
        assert "Traceback" not in out
        assert not (project / "data" / "02_intermediate").exists(), "the second run wrote"
        release.write_text("go")
        out, _ = first.communicate(timeout=180)
        assert first.returncode == 0, out
    finally:
        if first.poll() is None:
            first.kill()
    (version,) = os.listdir(project / "data/02_intermediate/tiny/seed42/clean_train.npz")
    assert not lock.exists(), "the finished run released its lock"

    release.unlink()
    killed = start_kedro(project, release)
    wait_for(lock, killed)
    os.kill(killed.pid, signal.SIGKILL)
    killed.wait(timeout=30)
    assert lock.exists(), "a killed run leaves its lock"
    release.write_text("go")
    monkeypatch.setenv("LOGIFOLD_TEST_RELEASE", str(release))
    run_stage(project, "training", tags=["data"])  # the restart takes the stale lock over
    assert len(os.listdir(project / "data/02_intermediate/tiny/seed42/clean_train.npz")) == 2
    assert not lock.exists()


def test_a_refused_run_is_refused_in_process_too_and_another_seed_runs(tmp_path):
    from logifold_kedro.run_lock import RunLock

    project = make_project_copy(tmp_path / "project")
    folder = project / "data" / "08_reporting" / "tiny" / "seed42"
    with RunLock(folder, command="kedro run --pipelines reporting"):
        with pytest.raises(RunFolderBusyError, match="kedro run --pipelines reporting"):
            run_stage(project, "training", tags=["data"])
        assert not (project / "data" / "02_intermediate").exists()
        run_stage(project, "training", tags=["data"], runtime_params={"seed": 7})
    assert (project / "data" / "02_intermediate" / "tiny" / "seed7").is_dir()
    run_stage(project, "training", tags=["data"])  # released: the folder is free again
    assert not (folder / LOCK_NAME).exists()


# --- each run reads its own versions -----------------------------------------------------------
OWN, NEWER = "2026-01-01T00.00.00.000Z", "2026-01-02T00.00.00.000Z"


class ConcurrentWriter:
    """Another run, started later (newer version), saving the same table just before ours."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @hook_impl
    def before_node_run(self, node) -> None:
        if node.name == "write":
            table = pd.DataFrame({"run": ["other"]})
            CSVDataset(filepath=str(self.path), version=Version(None, NEWER)).save(table)


def run_two_nodes(tmp_path: Path, pin: bool) -> tuple[str, str]:
    table, earlier = tmp_path / "table.csv", tmp_path / "earlier.csv"
    CSVDataset(filepath=str(earlier), version=Version(None, "2025-12-31T00.00.00.000Z")).save(
        pd.DataFrame({"run": ["earlier run"]})
    )
    catalog = DataCatalog(
        {
            "table": CSVDataset(filepath=str(table), version=Version(None, OWN)),
            "earlier": CSVDataset(filepath=str(earlier), version=Version(None, OWN)),
            "seen": MemoryDataset(),
        }
    )
    pipeline = Pipeline(
        [
            node(lambda: pd.DataFrame({"run": ["own"]}), None, "table", name="write"),
            node(lambda t, e: (t["run"][0], e["run"][0]), ["table", "earlier"], "seen", name="rd"),
        ]
    )
    hooks = _create_hook_manager()
    hooks.register(ConcurrentWriter(table))
    if pin:
        versions = RunVersionsHook()
        hooks.register(versions)
        versions.before_pipeline_run(pipeline=pipeline, catalog=catalog)
    SequentialRunner().run(pipeline, catalog, hooks)
    return catalog.load("seen")


def test_a_node_reads_the_version_its_run_wrote_not_a_concurrent_newer_one(tmp_path):
    (tmp_path / "without").mkdir()
    (tmp_path / "with").mkdir()
    assert run_two_nodes(tmp_path / "without", pin=False) == ("other", "earlier run")  # the bug
    assert run_two_nodes(tmp_path / "with", pin=True) == ("own", "earlier run")


def test_dask_completed_nodes_pin_their_outputs_in_the_driver_catalog(tmp_path):
    catalog = DataCatalog(
        {"table": CSVDataset(filepath=str(tmp_path / "t.csv"), version=Version(None, OWN))}
    )
    pipeline = Pipeline([node(lambda: None, None, "table", name="write")])
    hook = RunVersionsHook()
    hook.before_pipeline_run(pipeline=pipeline, catalog=catalog)
    hook.record_node_duration("write", 1.0)
    assert catalog.get("table")._version == Version(OWN, OWN)


# --- framework setup and run log ---------------------------------------------------------------
def test_unknown_framework_is_refused():
    with pytest.raises(ValueError, match="unknown framework"):
        configure_framework("jax", {"seed": 1})


def test_peak_memory_is_positive():
    assert peak_rss_mib() > 10


def test_a_node_needs_the_frameworks_its_tags_name():
    assert frameworks_of({"gpu", "torch", "training"}) == ["torch"]
    assert frameworks_of(["torch", "tensorflow"]) == ["tensorflow", "torch"]
    assert frameworks_of({"reporting"}) == []
