"""Tests of the report figures: they render to non-empty PNG files and show what they claim."""

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from logifold_kedro.logifold import threshold_curve, threshold_grid
from logifold_kedro.report_lib import (
    entropy_histogram,
    grouped_accuracy_bars,
    threshold_distribution_figure,
    threshold_figure,
    threshold_figure_panels,
)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _saved_png(figure, path):
    figure.savefig(path)
    data = path.read_bytes()
    assert data.startswith(PNG_SIGNATURE)
    assert len(data) > 1000
    return data


def _curve():
    rng = np.random.default_rng(0)
    entropy = rng.uniform(0, 1.5, 200)
    labels = rng.integers(0, 10, 200)
    predictions = np.where(rng.random(200) < 1 - entropy / 2, labels, (labels + 1) % 10)
    return threshold_curve(entropy, predictions, labels, threshold_grid())


def test_threshold_figure_has_the_four_curves_the_chosen_t_and_overall_accuracy(tmp_path):
    figure = threshold_figure(_curve(), 0.66, "union / val")
    assert isinstance(figure, Figure)
    _saved_png(figure, tmp_path / "threshold.png")
    (axes,) = figure.axes
    labels = [text.get_text() for text in axes.get_legend().get_texts()]
    for expected in (
        "core coverage",
        "out-of-core coverage",
        "core accuracy",
        "out-of-core accuracy",
    ):
        assert expected in labels
    assert any(label.startswith("chosen t = 0.660") for label in labels)
    assert any(label.startswith("overall accuracy") for label in labels)
    assert axes.get_xlabel() and axes.get_ylabel() and axes.get_title() == "union / val"
    vertical = [line for line in axes.lines if np.all(np.asarray(line.get_xdata()) == 0.66)]
    assert vertical, "the chosen threshold is drawn as a vertical line"


def test_threshold_figure_without_a_chosen_t_and_with_bad_input(tmp_path):
    figure = threshold_figure(_curve(), None, "no threshold")
    _saved_png(figure, tmp_path / "no_t.png")
    with pytest.raises(ValueError, match="lacks columns"):
        threshold_figure(pd.DataFrame({"threshold": [0.1]}), 0.1, "bad")


def test_threshold_panels_side_by_side_each_with_its_chosen_t(tmp_path):
    figure = threshold_figure_panels(
        [(_curve(), 0.66, "union (validation)"), (_curve(), 0.66, "union (test)")]
    )
    _saved_png(figure, tmp_path / "panels.png")
    assert [axes.get_title() for axes in figure.axes] == ["union (validation)", "union (test)"]
    for axes in figure.axes:
        assert any(np.all(np.asarray(line.get_xdata()) == 0.66) for line in axes.lines)
    assert len(threshold_figure_panels([(_curve(), None, "one")]).axes) == 1
    with pytest.raises(ValueError, match="at least one"):
        threshold_figure_panels([])


def test_entropy_histogram_renders_core_and_out_of_core(tmp_path):
    rng = np.random.default_rng(1)
    entropy = rng.uniform(0, 2, 300)
    core = entropy <= 0.7
    figure = entropy_histogram(entropy, core, "weak / test")
    _saved_png(figure, tmp_path / "hist.png")
    labels = [text.get_text() for text in figure.axes[0].get_legend().get_texts()]
    assert labels == [f"core (n={core.sum()})", f"out of core (n={(~core).sum()})"]
    # a constant entropy (every sample identical) still renders
    _saved_png(entropy_histogram(np.zeros(5), np.ones(5, dtype=bool), "flat"), tmp_path / "f.png")
    with pytest.raises(ValueError, match="core_mask"):
        entropy_histogram(entropy, core[:10], "bad")


def test_grouped_accuracy_bars_draws_one_bar_per_cell(tmp_path):
    df = pd.DataFrame(
        {"U0": [0.58, 0.67, 0.13], "U1": [0.64, 0.77, 0.21], "IMM": [0.88, 0.86, np.nan]},
        index=pd.Index(["union", "weak", "strong"], name="environment"),
    )
    figure = grouped_accuracy_bars(df)
    _saved_png(figure, tmp_path / "bars.png")
    axes = figure.axes[0]
    assert len(axes.patches) == 9
    assert [tick.get_text() for tick in axes.get_xticklabels()] == ["union", "weak", "strong"]
    assert axes.get_xlabel() == "environment"
    with pytest.raises(ValueError, match="numeric"):
        grouped_accuracy_bars(pd.DataFrame({"U0": ["high"]}))
    with pytest.raises(ValueError, match="non-empty"):
        grouped_accuracy_bars(pd.DataFrame())


def test_threshold_distribution_figure_one_panel_per_environment(tmp_path):
    rng = np.random.default_rng(1)
    distribution = pd.concat(
        [
            pd.DataFrame({"environment": env, "threshold": rng.normal(t, 0.05, 100), "selected": t})
            for env, t in {"clean": 1.5, "weak": 0.9}.items()
        ]
    )
    figure = threshold_distribution_figure(distribution, 0.9)
    assert [ax.get_title() for ax in figure.axes] == ["clean", "weak"]
    for ax, t in zip(figure.axes, (1.5, 0.9), strict=True):
        assert sum(patch.get_height() for patch in ax.patches if patch.get_height() > 0) >= 100
        assert any(np.allclose(line.get_xdata(), t) for line in ax.get_lines())
    _saved_png(figure, tmp_path / "distribution.png")
    with pytest.raises(ValueError, match="selected"):
        threshold_distribution_figure(distribution.drop(columns=["selected"]))
