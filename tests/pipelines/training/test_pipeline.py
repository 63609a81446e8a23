"""The training stage as a user runs it: `kedro run --pipeline training` on tiny data."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from logifold_kedro.pipelines.naming import model_entry
from tests.pipelines.conftest import REPO, load, make_project_copy, project_copy, run_stage
from tests.pipelines.conftest import TINY_WIRING as TINY


def versions(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.is_dir())


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_training_writes_versioned_checkpoints_that_load_and_predict(trained):
    clean_test = load(trained, "clean_test")
    assert clean_test["x"].dtype == np.float32 and clean_test["x"].shape[1:] == (32, 32, 3)
    for name in TINY.u0_members:
        folder = trained / "data" / "06_models" / "tiny" / "seed42" / "u0" / f"{name}.keras"
        assert len(versions(folder)) == 1
        model = load(trained, model_entry("u0", name))
        probs = model.predict(clean_test["x"][:8], verbose=0)
        assert probs.shape == (8, 10)
        np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-4)
    metrics = load(trained, "training_metrics")
    assert list(metrics["model"]) == TINY.u0_members
    # Each training node removed its resume state once it completed.
    resume = trained / "data" / "06_models" / "tiny" / "seed42" / "resume"
    assert resume.is_dir() and not list(resume.glob("train_*"))
    assert metrics["test_accuracy"].between(0, 1).all()
    assert set(metrics["family"]) == {"resnet", "vgg"}


def test_splits_are_stratified_and_sized(trained):
    train, val, test = (load(trained, f"clean_{s}") for s in ("train", "val", "test"))
    assert (len(train["y"]), len(val["y"]), len(test["y"])) == (160, 40, 40)
    assert np.all(np.bincount(val["y"], minlength=10) == 4)
    assert train["x"].min() >= 0 and train["x"].max() <= 1


def test_second_run_adds_a_version_and_leaves_the_first_untouched(trained, tmp_path):
    project = project_copy(trained, tmp_path)
    name = TINY.u0_members[0]
    folder = project / "data" / "06_models" / "tiny" / "seed42" / "u0" / f"{name}.keras"
    (first,) = versions(folder)
    first_file = folder / first / f"{name}.keras"
    before = digest(first_file)
    run_stage(project, "training", namespaces=[f"u0.{name}"])
    assert len(versions(folder)) == 2
    assert digest(first_file) == before


def test_paper_scale_without_the_archive_stops_with_the_missing_file_error(tmp_path):
    project = make_project_copy(tmp_path / "project")
    (project / "conf" / "paper").mkdir()
    for path in (REPO / "conf" / "paper").iterdir():
        (project / "conf" / "paper" / path.name).write_text(path.read_text())
    result = subprocess.run(
        [
            str(Path(sys.executable).parent / "kedro"),
            "run",
            "--env",
            "paper",
            "--pipeline",
            "training",
        ],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "KEDRO_DISABLE_TELEMETRY": "1"},
    )
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "cifar-10-python.tar.gz" in output
    assert "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz" in output
    # It stopped before any training started.
    assert not (project / "data" / "06_models" / "paper").exists()
