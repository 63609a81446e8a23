"""The figures for slides (report_lib.talk_figures) draw what the tables hold: the bars, their
intervals and the paper's values, the chosen t, the adaptive settings, the per-seed values."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from matplotlib.collections import LineCollection
from matplotlib.container import BarContainer, ErrorbarContainer
from matplotlib.figure import Figure

from logifold_kedro.logifold.standard_errors import binomial_half_width
from logifold_kedro.report_lib.talk_figures import (
    ACCURACY_MODELS,
    PAPER_LABEL,
    EntropyPanel,
    accuracy_interval_bars,
    adaptive_accuracy_figure,
    entropy_threshold_panels,
    seed_spread_figure,
)
from tests.report_lib.test_adaptive import adaptive_metrics_frame

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
METRICS = [metric for metric, _, _ in ACCURACY_MODELS]


def rendered(figure: Figure, path) -> None:
    figure.savefig(path)
    data = path.read_bytes()
    assert data.startswith(PNG_SIGNATURE) and len(data) > 5000


def error_segments(container: ErrorbarContainer) -> np.ndarray:
    """(bars, 2 ends, x/y) of an error-bar container's vertical lines."""
    return np.asarray(container.lines[2][0].get_segments())


def comparison_rows() -> pd.DataFrame:
    """Rows of one evaluation set as compare_experiment2 writes them: clean has no U2' (NaN),
    the paper publishes no clean row, and U0's interval is missing on weak."""
    rows = []
    for environment, base, published in (
        ("union", 0.6, 0.58),
        ("weak", 0.7, 0.66),
        ("clean", 0.9, np.nan),
    ):
        row = {"environment": environment, "n_ours": 100}
        for index, metric in enumerate(METRICS):
            value = base + 0.02 * index
            if environment == "clean" and metric in ("u2_accuracy", "all_accuracy", "imm_accuracy"):
                value = np.nan
            row[f"{metric}_ours"] = value
            row[f"{metric}_ours_low"] = value - 0.03 - 0.01 * index
            row[f"{metric}_ours_high"] = value + 0.01 + 0.01 * index
            row[f"{metric}_published"] = published + 0.03 * index
        rows.append(row)
    table = pd.DataFrame(rows)
    table.loc[table["environment"] == "weak", ["u0_accuracy_ours_low"]] = np.nan
    return table


def test_accuracy_bars_carry_the_tables_intervals_and_the_papers_values(tmp_path):
    table = comparison_rows()
    figure = accuracy_interval_bars(table, "Experiment 2, test (demo scale, seed 42)", 0.9)
    (axes,) = figure.axes
    bars = [c for c in axes.containers if isinstance(c, BarContainer)]
    assert [len(c) for c in bars] == [3] * len(ACCURACY_MODELS)
    assert [c.get_label() for c in bars] == [label for _, label, _ in ACCURACY_MODELS]
    intervals = [c for c in axes.containers if isinstance(c, ErrorbarContainer)]
    assert len(intervals) == len(ACCURACY_MODELS)
    for bar_set, interval, metric in zip(bars, intervals, METRICS, strict=True):
        heights = np.array([patch.get_height() for patch in bar_set])
        np.testing.assert_allclose(heights, 100 * table[f"{metric}_ours"].fillna(0))
        has_interval = table[[f"{metric}_ours", f"{metric}_ours_low"]].notna().all(axis=1)
        segments = error_segments(interval)
        assert len(segments) == has_interval.sum()
        centres = np.array([patch.get_x() + patch.get_width() / 2 for patch in bar_set])
        np.testing.assert_allclose(segments[:, 0, 0], centres[has_interval])
        np.testing.assert_allclose(
            segments[:, 0, 1], 100 * table.loc[has_interval, f"{metric}_ours_low"]
        )
        np.testing.assert_allclose(
            segments[:, 1, 1], 100 * table.loc[has_interval, f"{metric}_ours_high"]
        )
    # The paper's values: a line across each bar that has one (none on clean).
    (paper,) = [c for c in axes.collections if c.get_label() == PAPER_LABEL]
    assert isinstance(paper, LineCollection)
    lines = np.asarray(paper.get_segments())
    expected = [
        100 * table.loc[row, f"{metric}_published"]
        for metric in METRICS
        for row in table.index
        if pd.notna(table.loc[row, f"{metric}_published"])
    ]
    assert len(lines) == 2 * len(ACCURACY_MODELS)
    np.testing.assert_allclose(lines[:, 0, 1], expected)
    np.testing.assert_allclose(lines[:, 1, 1], expected)
    widths = lines[:, 1, 0] - lines[:, 0, 0]
    np.testing.assert_allclose(widths, bars[0][0].get_width())
    legend = [text.get_text() for text in axes.get_legend().get_texts()]
    assert legend[:5] == [label for _, label, _ in ACCURACY_MODELS]
    assert set(legend[5:]) == {PAPER_LABEL, "90% bootstrap interval"}
    assert [t.get_text() for t in axes.texts].count("n/a") == 3  # clean's U2', all 16, IMM
    assert [tick.get_text() for tick in axes.get_xticklabels()][0] == "union\nn = 100"
    assert "%" in axes.get_ylabel()
    assert axes.title.get_fontsize() >= 16 and axes.xaxis.get_ticklabels()[0].get_fontsize() >= 14
    rendered(figure, tmp_path / "accuracy.png")


def test_accuracy_bars_without_intervals_or_published_values_still_draw():
    table = comparison_rows()[["environment", *(f"{m}_ours" for m in METRICS)]]
    (axes,) = accuracy_interval_bars(table, "old table").axes
    assert not [c for c in axes.containers if isinstance(c, ErrorbarContainer)]
    assert not [c for c in axes.collections if c.get_label() == PAPER_LABEL]
    with pytest.raises(ValueError, match="experiment2_comparison_metrics"):
        accuracy_interval_bars(table.drop(columns=["imm_accuracy_ours"]), "broken")


def entropy_panels() -> list[EntropyPanel]:
    rng = np.random.default_rng(0)
    entropy = rng.random(200) * 1.5
    correct = entropy < rng.random(200) * 1.5
    return [
        EntropyPanel("clean", None, None, None, "clean: not evaluated on the test images."),
        EntropyPanel("weak", entropy, correct, 0.66),
        EntropyPanel("strong", entropy, correct, 0.0, "threshold 0 (grid_exhausted): below"),
    ]


def test_entropy_panels_mark_the_threshold_and_say_when_it_is_zero(tmp_path):
    figure = entropy_threshold_panels(entropy_panels(), "U1 entropy (demo scale, seed 42)")
    clean, weak, strong, spare = figure.axes
    assert not clean.axison and not spare.axison
    assert "not evaluated" in clean.texts[0].get_text()
    for axes, t in ((weak, 0.66), (strong, 0.0)):
        vertical = [line for line in axes.get_lines() if line.get_linestyle() == "--"]
        assert len(vertical) == 1 and np.allclose(vertical[0].get_xdata(), t)
        assert sum(patch.get_height() for patch in axes.patches) == 200  # stacked: all images
    weak_legend = [text.get_text() for text in weak.get_legend().get_texts()]
    assert "chosen t = 0.66" in weak_legend
    assert any(text.startswith("U1 wrong (n = ") for text in weak_legend)
    assert "chosen t = 0 (empty core)" in [t.get_text() for t in strong.get_legend().get_texts()]
    assert "grid_exhausted" in strong.texts[0].get_text() and not weak.texts
    assert figure.get_suptitle() == "U1 entropy (demo scale, seed 42)"
    rendered(figure, tmp_path / "entropy.png")


def test_adaptive_figure_per_setting_with_two_standard_errors(tmp_path):
    table = adaptive_metrics_frame()
    figure = adaptive_accuracy_figure(table, "adaptive (demo scale, seed 42)")
    union, weak, strong = figure.axes
    rows = table[table["environment"] == "union"]
    bars = [c for c in union.containers if isinstance(c, BarContainer)]
    heights = [patch.get_height() for container in bars for patch in container]
    assert sorted(heights) == pytest.approx(sorted(100 * rows["imm_accuracy"]))
    kinds = [c.get_label() for c in bars]
    assert kinds == ["clean images", "non-adaptive transfer", "adaptive attack"]
    (interval,) = [c for c in union.containers if isinstance(c, ErrorbarContainer)]
    half = [100 * binomial_half_width(p, 100) for p in rows["imm_accuracy"]]
    segments = error_segments(interval)
    np.testing.assert_allclose(segments[:, 1, 1] - segments[:, 0, 1], 2 * np.array(half))
    worst = [line for line in union.get_lines() if line.get_linestyle() == "--"]
    assert np.allclose(worst[0].get_ydata(), 100 * 0.8)  # the worst non-adaptive transfer
    labels = [tick.get_text() for tick in union.get_xticklabels()]
    assert labels[0] == "clean" and labels[-1] == "confident\ncore\n(strongest)"
    assert not strong.axison and "skipped" in strong.texts[0].get_text()
    assert weak.axison
    rendered(figure, tmp_path / "adaptive.png")
    # The table's own interval, where it has one, instead of the binomial one.
    with_bounds = table.assign(
        imm_accuracy_low=table["imm_accuracy"] - 0.1, imm_accuracy_high=table["imm_accuracy"]
    )
    union = adaptive_accuracy_figure(with_bounds, "adaptive").axes[0]
    (interval,) = [c for c in union.containers if isinstance(c, ErrorbarContainer)]
    np.testing.assert_allclose(np.diff(error_segments(interval)[:, :, 1]).ravel(), 10.0)
    (skipped,) = adaptive_accuracy_figure(table[table["environment"] == "strong"], "a").axes
    assert "skipped" in skipped.texts[0].get_text()
    empty = adaptive_accuracy_figure(table.iloc[:0], "adaptive")
    assert "No adaptive attack" in empty.axes[0].texts[0].get_text()


def seed_table(shift: float) -> pd.DataFrame:
    table = pd.DataFrame(
        {
            "environment": ["union", "clean"],
            "evaluation": ["test", "test"],
            **{m: [0.6 + 0.05 * i, 0.8] for i, m in enumerate(METRICS)},
        }
    )
    table.loc[1, ["u2_accuracy", "all_accuracy", "imm_accuracy"]] = np.nan
    return table.assign(**{m: table[m] + shift for m in METRICS})


LABELS = {label for _, label, _ in ACCURACY_MODELS}


def dots(axes) -> list[np.ndarray]:
    """Each model's per-seed points (the scatter labelled with the model's name)."""
    return [np.asarray(c.get_offsets()) for c in axes.collections if c.get_label() in LABELS]


def test_seed_spread_with_one_seed_says_so(tmp_path):
    figure = seed_spread_figure({42: seed_table(0.0)}, ["environment", "evaluation"], "Exp 2")
    union, clean = figure.axes
    assert "1 seed (42)" in figure.get_suptitle() and "no spread yet" in figure.get_suptitle()
    assert [len(points) for points in dots(union)] == [1] * 5
    assert not [c for c in union.containers if isinstance(c, ErrorbarContainer)]
    assert len(dots(clean)) == 2 and [t.get_text() for t in clean.texts].count("n/a") == 3
    rendered(figure, tmp_path / "one_seed.png")


def test_seed_spread_dots_mean_and_std_over_several_seeds(tmp_path):
    shifts = {7: -0.02, 42: 0.0, 100: 0.05}
    tables = {seed: seed_table(shift) for seed, shift in shifts.items()}
    figure = seed_spread_figure(tables, ["environment", "evaluation"], "Exp 2")
    assert "3 seeds (7, 42, 100)" in figure.get_suptitle()
    union = figure.axes[0]
    assert union.get_title() == "union"
    imm = 0.6 + 0.05 * 4 + np.array(list(shifts.values()))
    points = dots(union)[-1]
    np.testing.assert_allclose(sorted(points[:, 1]), sorted(100 * imm))
    lines = [c for c in union.collections if isinstance(c, LineCollection)]
    assert any(np.allclose(c.get_segments()[0][:, 1], 100 * imm.mean()) for c in lines)
    intervals = [c for c in union.containers if isinstance(c, ErrorbarContainer)]
    assert len(intervals) == 5
    (segment,) = error_segments(intervals[-1])
    np.testing.assert_allclose(
        segment[:, 1], 100 * (imm.mean() + np.array([-1, 1]) * imm.std(ddof=1))
    )
    rendered(figure, tmp_path / "seeds.png")
