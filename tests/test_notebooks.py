"""The committed notebooks: outputs stripped, and everything read through the catalog.

Executing them against a run's outputs is tests/pipelines/test_notebooks.py. The math API
notebook needs no run: it is executed here, on its own synthetic probabilities.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOK_DIR = Path(__file__).resolve().parents[1] / "notebooks"
NOTEBOOKS = [
    "01_torch_autoattack_robustbench.ipynb",
    "02_tf_train_resnet_vgg.ipynb",
    "03_tf_art_apgd_samples.ipynb",
    "04_main_experiment.ipynb",
]
# Runs without a pipeline run or the catalog (docs/math_api.md's walk-through).
MATH_API_NOTEBOOK = "math_api.ipynb"
# Reading files behind the catalog's back: paths into data/, or file-reading calls.
FILE_ACCESS = re.compile(r"data/0\d|\bopen\(|np\.load\(|pd\.read_|Path\(|tf\.keras\.models\.load")


def test_the_four_reference_notebooks_and_the_math_api_notebook_are_there():
    assert sorted(p.name for p in NOTEBOOK_DIR.glob("*.ipynb")) == [*NOTEBOOKS, MATH_API_NOTEBOOK]


@pytest.mark.parametrize("name", [*NOTEBOOKS, MATH_API_NOTEBOOK])
def test_notebook_is_committed_without_outputs(name):
    notebook = nbformat.read(NOTEBOOK_DIR / name, as_version=4)
    nbformat.validate(notebook)
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type != "code":
            continue
        assert cell.outputs == [], f"{name} cell {index} has outputs: strip them before committing"
        assert cell.execution_count is None, f"{name} cell {index} has an execution count"
    assert "widgets" not in notebook.metadata, f"{name} carries widget state: strip it"


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_loads_through_the_catalog_only(name):
    notebook = nbformat.read(NOTEBOOK_DIR / name, as_version=4)
    code = [cell.source for cell in notebook.cells if cell.cell_type == "code"]
    assert code[0].splitlines()[0] == "%load_ext kedro.ipython", "the first cell loads the catalog"
    source = "\n".join(code)
    assert "catalog.load(" in source
    found = FILE_ACCESS.findall(source)
    assert not found, f"{name} reads files directly ({found}); load them with catalog.load"


def test_math_api_notebook_runs_on_its_own(tmp_path):
    """Executed by a kernel of this interpreter, in an empty folder (no project, no data)."""
    spec_dir = tmp_path / "jupyter" / "kernels" / "logifold-kedro-math"
    spec_dir.mkdir(parents=True)
    spec = {
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "logifold-kedro math",
        "language": "python",
    }
    (spec_dir / "kernel.json").write_text(json.dumps(spec))
    notebook = nbformat.read(NOTEBOOK_DIR / MATH_API_NOTEBOOK, as_version=4)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
        NotebookClient(
            notebook,
            kernel_name="logifold-kedro-math",
            timeout=120,
            resources={"metadata": {"path": str(tmp_path)}},
        ).execute()
    outputs = [out for cell in notebook.cells if cell.cell_type == "code" for out in cell.outputs]
    printed = "".join(out.get("text", "") for out in outputs if out.output_type == "stream")
    assert sum("image/png" in out.get("data", {}) for out in outputs) == 1, "the entropy histogram"
    assert "(target_reached)" in printed
    assert re.search(r"IMM accuracy - U1 accuracy +\+0\.\d+ .* holds", printed), printed
