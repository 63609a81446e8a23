"""The public math API: what `logifold_kedro.logifold` exports and loads, the convenience
functions of the walk-through, and docs/math_api.md's code (run, and the same as the notebook)."""

from __future__ import annotations

import inspect
import math
import re
from pathlib import Path

import nbformat
import numpy as np
import pytest

import logifold_kedro.logifold as api
from logifold_kedro.logifold import (
    committee_entropy,
    core_metric_intervals,
    core_metrics,
    core_ratios,
    imm_route,
    mean_probabilities,
    replicate_columns,
    resampled_ratios,
    route_committees,
)
from tests.fresh_interpreter import run_fresh

REPO = Path(__file__).resolve().parents[2]
MATH_PAGE = REPO / "docs" / "math_api.md"
MATH_NOTEBOOK = REPO / "notebooks" / "math_api.ipynb"
PYTHON_BLOCK = re.compile(r"^```python\n(.*?)^```$", flags=re.S | re.M)


def page_code_blocks() -> list[str]:
    return [block.rstrip("\n") for block in PYTHON_BLOCK.findall(MATH_PAGE.read_text())]


def test_importing_the_math_loads_no_framework_and_no_kedro_runtime():
    _, loaded = run_fresh(
        """
        import sys
        import logifold_kedro.logifold
        runtime = [m for m in sys.modules if m.startswith(("kedro.framework", "kedro.runner"))]
        assert not runtime, f"importing the math loaded Kedro's runtime: {runtime}"
        """,
        REPO,
    )
    assert loaded == {"tensorflow": False, "keras": False, "torch": False}


def test_every_exported_name_exists_and_is_documented():
    assert len(api.__all__) == len(set(api.__all__))
    for name in api.__all__:
        exported = getattr(api, name)
        assert exported.__module__.startswith("logifold_kedro.logifold."), name
        doc = inspect.getdoc(exported)
        assert doc and len(doc) > 40, f"{name} needs a docstring stating what it computes"


def test_the_walk_through_uses_only_exported_names():
    imported = set()
    for block in page_code_blocks():
        for names in re.findall(r"from logifold_kedro\.logifold import (\([^)]*\)|.*)", block):
            imported.update(n.strip() for n in names.strip("()").split(",") if n.strip())
    assert imported, "the walk-through imports nothing from logifold_kedro.logifold"
    assert imported <= set(api.__all__), imported - set(api.__all__)


def _committees():
    """2 samples, 3 classes. U1's two members agree confidently on sample 0 and disagree on
    sample 1; U2' (three members) answers class 2 on both."""
    u1 = np.array(
        [
            [[0.98, 0.01, 0.01], [0.90, 0.05, 0.05]],
            [[0.97, 0.02, 0.01], [0.05, 0.90, 0.05]],
        ]
    )
    u2 = np.tile(np.array([[0.1, 0.1, 0.8], [0.2, 0.1, 0.7]]), (3, 1, 1))
    return u1, u2


def test_route_committees_answers_with_u1_on_its_core_and_u2_elsewhere():
    u1, u2 = _committees()
    h1 = committee_entropy(u1)
    assert h1[0] < 0.5 < h1[1]
    imm_probs, core = route_committees(u1, u2, 0.5)
    assert core.tolist() == [True, False]
    np.testing.assert_allclose(imm_probs[0], mean_probabilities(u1)[0])
    np.testing.assert_allclose(imm_probs[1], mean_probabilities(u2)[1])
    assert imm_probs.argmax(axis=1).tolist() == [0, 2]
    # A list of per-member arrays routes the same as the stacked array.
    listed, listed_core = route_committees(list(u1), list(u2), 0.5)
    np.testing.assert_array_equal(listed, imm_probs)
    np.testing.assert_array_equal(listed_core, core)


def test_route_committees_is_imm_route_on_means_and_u1_entropy():
    rng = np.random.default_rng(3)
    u1 = rng.dirichlet(np.ones(5), size=(4, 200))
    u2 = rng.dirichlet(np.ones(5), size=(2, 200))
    h1 = committee_entropy(u1)
    t = float(np.median(h1))
    expected, expected_core = imm_route(mean_probabilities(u1), mean_probabilities(u2), h1, t)
    routed, core = route_committees(u1, u2, t)
    np.testing.assert_array_equal(routed, expected)
    np.testing.assert_array_equal(core, expected_core)
    assert 0 < core.sum() < core.size


def test_route_committees_refuses_committees_on_different_images():
    u1, u2 = _committees()
    with pytest.raises(ValueError, match="same samples and classes"):
        route_committees(u1, u2[:, :1], 0.5)
    with pytest.raises(ValueError, match="logits"):
        route_committees(u1 * 3.0, u2, 0.5)


def test_core_metric_intervals_match_core_metrics_and_the_paired_replicates():
    rng = np.random.default_rng(5)
    entropy = rng.random(500)
    labels = rng.integers(0, 10, 500)
    # Right more often at low entropy, so the core is more accurate than the rest.
    predictions = np.where(rng.random(500) > entropy, labels, (labels + 1) % 10)
    t = 0.4
    correct, core = predictions == labels, entropy <= t
    intervals = core_metric_intervals(correct, core, n_resamples=300, confidence=0.9, seed=11)
    metrics = core_metrics(entropy, predictions, labels, t)
    bounds = replicate_columns(
        resampled_ratios(core_ratios(correct, core), n_resamples=300, seed=11), 0.9
    )
    assert set(intervals) == {
        "overall_accuracy",
        "core_coverage",
        "core_accuracy",
        "out_of_core_accuracy",
    }
    for name, interval in intervals.items():
        assert interval.estimate == pytest.approx(metrics[name])
        assert (interval.low, interval.high) == (bounds[f"{name}_low"], bounds[f"{name}_high"])
        assert interval.low <= interval.estimate <= interval.high
        assert (interval.confidence, interval.n_resamples) == (0.9, 300)
    assert intervals["core_accuracy"].low > intervals["out_of_core_accuracy"].high


def test_core_metric_intervals_of_an_empty_core_are_nan_and_bad_inputs_are_refused():
    correct = np.array([True, False, True, True])
    intervals = core_metric_intervals(correct, np.zeros(4, dtype=bool), n_resamples=50)
    assert math.isnan(intervals["core_accuracy"].estimate)
    assert math.isnan(intervals["core_accuracy"].low)
    assert intervals["core_coverage"].estimate == 0.0
    assert intervals["out_of_core_accuracy"].estimate == 0.75
    with pytest.raises(ValueError, match="1-D of one length"):
        core_metric_intervals(correct, np.ones(3, dtype=bool))
    with pytest.raises(ValueError, match="confidence"):
        core_metric_intervals(correct, correct, confidence=95)


def test_the_pages_code_runs_without_loading_a_framework_or_kedro():
    blocks = page_code_blocks()
    assert len(blocks) >= 6
    code = "\n\n".join(["import matplotlib", 'matplotlib.use("Agg")', *blocks])
    code += (
        "\nimport sys"
        "\nassert not [m for m in sys.modules if m.startswith(('kedro.framework', 'kedro.runner'))]"
    )
    stdout, loaded = run_fresh(code, REPO)
    assert loaded == {"tensorflow": False, "keras": False, "torch": False}
    # The walk-through's synthetic core is more accurate than the whole set, and says so.
    assert re.search(r"core accuracy - whole-set accuracy +\+0\.\d+ .* holds", stdout), stdout
    assert "(target_reached)" in stdout


def test_the_notebook_is_the_pages_walk_through_cell_for_cell():
    notebook = nbformat.read(MATH_NOTEBOOK, as_version=4)
    cells = [cell.source for cell in notebook.cells if cell.cell_type == "code"]
    assert cells == page_code_blocks(), (
        "notebooks/math_api.ipynb and docs/math_api.md's python blocks differ: edit both"
    )
