"""The reporting nodes that draw the figures for slides, from the tables the stage already has:
the paper's values of `parameters_reporting.yml`, the chosen thresholds (and why one is 0), the
adaptive table and every seed's Experiment 2."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.container import BarContainer, ErrorbarContainer

from logifold_kedro.logifold.threshold import select_threshold
from logifold_kedro.pipelines.reporting.nodes import (
    compare_experiment2,
    compare_thresholds,
    talk_accuracy_figures,
    talk_adaptive_figure,
    talk_entropy_figure,
    talk_seed_figure,
)
from logifold_kedro.report_lib.talk_figures import ACCURACY_MODELS, PAPER_LABEL
from logifold_kedro.report_lib.threshold_notes import unreached_threshold_reasons
from tests.pipelines.reporting.test_nodes import (
    PUBLISHED,
    details_dict,
    experiment2_frame,
    shifted,
    thresholds_dict,
)
from tests.report_lib.test_adaptive import adaptive_metrics_frame

METRICS = [metric for metric, _, _ in ACCURACY_MODELS]


def experiment2_with_intervals():
    """experiment2_frame with an interval beside every accuracy, as evaluate_generations
    writes them."""
    frame = experiment2_frame()
    for metric in METRICS:
        frame[f"{metric}_low"] = frame[metric] - 0.04
        frame[f"{metric}_high"] = frame[metric] + 0.03
    return frame


def published_value(environment: str, evaluation: str, metric: str) -> float:
    rows = [
        row
        for row in PUBLISHED["experiment2"]
        if (row["environment"], row["evaluation"]) == (environment, evaluation)
    ]
    return rows[0][metric] if rows and metric in rows[0] else np.nan


def test_accuracy_figures_per_set_with_intervals_and_the_published_values():
    table = compare_experiment2(experiment2_with_intervals(), PUBLISHED)
    figures = talk_accuracy_figures(table, {"confidence": 0.9}, "demo", 42)
    assert list(figures) == ["accuracy_test.png", "accuracy_autoattack.png"]
    for evaluation, environments in (
        ("test", ["union", "weak", "clean"]),
        ("autoattack", ["weak"]),
    ):
        (axes,) = figures[f"accuracy_{evaluation}.png"].axes
        assert "demo scale, seed 42" in axes.get_title()
        bars = [c for c in axes.containers if isinstance(c, BarContainer)]
        assert len(bars) == 5 and all(len(c) == len(environments) for c in bars)
        (paper,) = [c for c in axes.collections if c.get_label() == PAPER_LABEL]
        expected = [
            100 * published_value(environment, evaluation, metric)
            for metric in METRICS
            for environment in environments
        ]
        expected = [value for value in expected if not np.isnan(value)]
        segments = np.asarray(paper.get_segments())
        np.testing.assert_allclose(segments[:, 0, 1], expected)
        intervals = [c for c in axes.containers if isinstance(c, ErrorbarContainer)]
        assert len(intervals) == 5
        rows = table[table["evaluation"] == evaluation]
        defined = rows["imm_accuracy_ours"].notna()
        imm_ends = np.asarray(intervals[-1].lines[2][0].get_segments())[:, :, 1]
        np.testing.assert_allclose(
            imm_ends,
            100 * rows.loc[defined, ["imm_accuracy_ours_low", "imm_accuracy_ours_high"]],
        )
    # union's IMM on test: the paper's 0.8758 (parameters_reporting.yml) across its bar.
    (axes,) = figures["accuracy_test.png"].axes
    (paper,) = [c for c in axes.collections if c.get_label() == PAPER_LABEL]
    union_imm = [c for c in axes.containers if isinstance(c, BarContainer)][-1][0]
    centre = union_imm.get_x() + union_imm.get_width() / 2
    (line,) = [s for s in paper.get_segments() if s[0, 0] < centre < s[1, 0]]
    assert line[0, 1] == pytest.approx(87.58)
    assert line[1, 0] - line[0, 0] == pytest.approx(union_imm.get_width())


def thresholds_with_a_zero():
    """thresholds_dict with strong's threshold left at 0 (a core too inaccurate on validation)."""
    thresholds = thresholds_dict()
    labels = np.zeros(200, dtype=np.int64)
    predictions = np.where(np.arange(200) % 2 == 0, 0, 1)  # right on half the images
    missed = select_threshold(np.arange(200) / 100, predictions, labels, target=0.9, min_core=10)
    assert missed.threshold == 0.0 and not missed.reached
    thresholds["strong"] = missed.to_dict()
    return thresholds


def test_entropy_figure_marks_t_and_explains_a_threshold_of_zero():
    details = details_dict()
    rng = np.random.default_rng(9)
    details["strong.test.u1_entropy"] = rng.random(50)
    details["strong.test.u1_correct"] = rng.random(50) < 0.3
    details["strong.test.labels"] = np.zeros(50, dtype=np.int64)
    details["strong.test.u1_pred"] = np.zeros(50, dtype=np.int64)
    details["strong.test.threshold"] = np.float64(0.0)
    table = compare_thresholds(thresholds_with_a_zero(), PUBLISHED)
    figure = talk_entropy_figure(details, table, "demo", 42)
    clean, weak, strong, union = figure.axes
    assert "demo scale, seed 42" in figure.get_suptitle()
    assert [a.get_title() for a in figure.axes] == ["clean", "weak", "strong", "union"]
    assert not clean.axison and "not evaluated" in clean.texts[0].get_text()
    for axes, t in ((weak, 0.96), (union, 0.66), (strong, 0.0)):
        (line,) = [line for line in axes.get_lines() if line.get_linestyle() == "--"]
        assert np.allclose(line.get_xdata(), t)
    assert "chosen t = 0.96" in [t.get_text() for t in weak.get_legend().get_texts()]
    # The report's own sentence for the zero threshold, in the panel.
    reason = unreached_threshold_reasons(table)["strong"]
    assert reason.startswith("threshold 0 (")
    note = " ".join(strong.texts[0].get_text().split())
    assert note.startswith(" ".join(reason.split())) and "core is empty" in note
    # U1's right and wrong labels together hold every test image.
    assert sum(patch.get_height() for patch in weak.patches) == 120


def test_adaptive_and_seed_figures_for_one_seed_and_for_several():
    adaptive = talk_adaptive_figure(adaptive_metrics_frame(), "demo", 42)
    assert "demo scale, seed 42" in adaptive.get_suptitle() and len(adaptive.axes) == 3
    experiment2 = experiment2_frame()
    alone = talk_seed_figure(42, experiment2, {}, "demo")
    assert "1 seed (42)" in alone.get_suptitle()
    assert len(alone.axes) == len(experiment2)
    two = talk_seed_figure(42, experiment2, {"seed7": lambda: shifted(experiment2)}, "demo")
    assert "2 seeds (7, 42)" in two.get_suptitle()
    union = two.axes[0]
    (imm,) = [c for c in union.collections if c.get_label() == "IMM"]
    np.testing.assert_allclose(sorted(np.asarray(imm.get_offsets())[:, 1]), [86.0, 88.0])
