"""The committed notebooks: outputs stripped, and everything read through the catalog.

Executing them against a run's outputs is tests/pipelines/test_notebooks.py.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

NOTEBOOK_DIR = Path(__file__).resolve().parents[1] / "notebooks"
NOTEBOOKS = [
    "01_torch_autoattack_robustbench.ipynb",
    "02_tf_train_resnet_vgg.ipynb",
    "03_tf_art_apgd_samples.ipynb",
    "04_main_experiment.ipynb",
]
# Reading files behind the catalog's back: paths into data/, or file-reading calls.
FILE_ACCESS = re.compile(r"data/0\d|\bopen\(|np\.load\(|pd\.read_|Path\(|tf\.keras\.models\.load")


def test_the_four_reference_notebooks_are_there():
    assert sorted(p.name for p in NOTEBOOK_DIR.glob("*.ipynb")) == NOTEBOOKS


@pytest.mark.parametrize("name", NOTEBOOKS)
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
