"""The four notebooks run, as a user runs them, against the outputs of all five stages.

Each notebook is executed by a Jupyter kernel of this interpreter, in the tiny project that the
session fixtures ran (`KEDRO_ENV=tiny`), and saved with its outputs to
`test-artifacts/notebooks/` for a look. The notebooks assert their own recomputations (test
accuracies, APGD accuracies and norms, one Experiment 2 row); the checks here read what they
printed and drew.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from tests.test_notebooks import NOTEBOOK_DIR, NOTEBOOKS

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "notebooks"
KERNEL_NAME = "logifold-kedro-tests"


@pytest.fixture(scope="module")
def kernel_on_this_interpreter(tmp_path_factory):
    """A kernelspec whose kernel is this interpreter (not whatever `python` is on PATH)."""
    jupyter_path = tmp_path_factory.mktemp("jupyter")
    spec_dir = jupyter_path / "kernels" / KERNEL_NAME
    spec_dir.mkdir(parents=True)
    spec = {
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "logifold-kedro tests",
        "language": "python",
    }
    (spec_dir / "kernel.json").write_text(json.dumps(spec))
    return jupyter_path


@pytest.fixture(scope="module")
def executed(reported, kernel_on_this_interpreter) -> dict[str, tuple]:
    """Every notebook executed in the tiny project after all five stages: name -> (executed
    notebook, the error that stopped it or None)."""
    mp = pytest.MonkeyPatch()
    mp.setenv("JUPYTER_PATH", str(kernel_on_this_interpreter))
    mp.setenv("KEDRO_ENV", "tiny")
    mp.setenv("KEDRO_DISABLE_TELEMETRY", "1")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    notebooks = {}
    try:
        for name in NOTEBOOKS:
            notebook = nbformat.read(NOTEBOOK_DIR / name, as_version=4)
            client = NotebookClient(
                notebook,
                kernel_name=KERNEL_NAME,
                timeout=600,
                resources={"metadata": {"path": str(reported)}},
            )
            error = None
            try:
                client.execute()
            except CellExecutionError as exc:  # the next notebooks still run
                error = exc
            nbformat.write(notebook, ARTIFACTS / name)
            notebooks[name] = (notebook, error)
    finally:
        mp.undo()
    return notebooks


def outputs_of(notebook) -> list[dict]:
    return [out for cell in notebook.cells if cell.cell_type == "code" for out in cell.outputs]


def printed(notebook) -> str:
    return "".join(
        out.get("text", "") for out in outputs_of(notebook) if out.output_type == "stream"
    )


def images(notebook) -> int:
    return sum("image/png" in out.get("data", {}) for out in outputs_of(notebook))


def tables(notebook) -> int:
    """DataFrames shown (their HTML), not other HTML such as log lines."""
    return sum(
        'class="dataframe' in out.get("data", {}).get("text/html", "")
        for out in outputs_of(notebook)
    )


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_runs_on_the_tiny_project_in_its_environment(executed, name):
    notebook, error = executed[name]
    assert error is None, f"{name} stopped (executed copy in {ARTIFACTS}):\n{error}"
    # kedro.ipython took the environment from KEDRO_ENV: the tiny scale, not the demo's.
    assert "environment 'tiny', scale 'tiny'" in printed(notebook)
    assert images(notebook) >= 2, f"{name} drew {images(notebook)} figures"
    assert tables(notebook) >= 1, f"{name} showed no table"


def test_autoattack_notebook_checks_norms_and_shows_u0_on_the_transfer_set(executed):
    notebook, _ = executed["01_torch_autoattack_robustbench.ipynb"]
    assert "8 images" in printed(notebook)  # tests/conf_tiny: autoattack.num_images = 8
    assert "No U0 probabilities" not in printed(notebook)
    html = "".join(
        out["data"].get("text/html", "") for out in outputs_of(notebook) if "data" in out
    )
    assert "U0 (committee)" in html and "transfer_accuracy" in html


def test_training_notebook_recomputes_the_eight_test_accuracies(executed):
    text = printed(executed["02_tf_train_resnet_vgg.ipynb"][0])
    assert "test accuracies of 8 models match training_metrics" in text


def test_apgd_notebook_matches_the_stage_table_and_includes_u1(executed):
    notebook, _ = executed["03_tf_art_apgd_samples.ipynb"]
    assert "6 U0 rows match art_attacks_metrics" in printed(notebook)
    html = "".join(
        out["data"].get("text/html", "") for out in outputs_of(notebook) if "data" in out
    )
    assert "u1_apgd_strong_test" in html


def test_main_notebook_recomputes_an_experiment2_row_that_matches_the_table(executed):
    text = printed(executed["04_main_experiment.ipynb"][0])
    assert "values recomputed from the stored probabilities match experiment2_metrics" in text
