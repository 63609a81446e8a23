"""Reporting nodes: comparison tables against the published numbers of
`conf/base/parameters_reporting.yml`, figures that save to PNGs, the Markdown report and its
JSON summary."""

from __future__ import annotations

import base64
import io
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from matplotlib.figure import Figure

from logifold_kedro.logifold.claims import FAILS, HOLDS, NOT_RESOLVED
from logifold_kedro.logifold.threshold import select_threshold, threshold_curve, threshold_grid
from logifold_kedro.pipelines.immunization.nodes import evaluate_generations
from logifold_kedro.pipelines.naming import probs_entry
from logifold_kedro.pipelines.reporting.nodes import (
    accuracy_figure,
    aggregate_seeds,
    check_claims,
    compare_experiment2,
    compare_experiment2_out_of_core,
    compare_experiment3,
    compare_thresholds,
    entropy_figures,
    markdown_tables,
    threshold_figures,
    threshold_panels,
    validation_threshold_figures,
    write_report,
)
from logifold_kedro.report_lib.comparisons import (
    EXPERIMENT2_METRICS,
    EXPERIMENT2_OUT_OF_CORE_METRICS,
)
from logifold_kedro.report_lib.threshold_notes import unreached_threshold_notes
from tests.report_lib.test_adaptive import adaptive_metrics_frame

REPO = Path(__file__).resolve().parents[3]
PUBLISHED = yaml.safe_load((REPO / "conf" / "base" / "parameters_reporting.yml").read_text())[
    "published"
]
THRESHOLD_PARAMS = yaml.safe_load(
    (REPO / "conf" / "base" / "parameters_immunization.yml").read_text()
)["threshold"]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
C = 10


def png_bytes(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def experiment2_frame() -> pd.DataFrame:
    """Rows as evaluate_generations writes them; the clean row has no U2' (NaN)."""
    rows = [
        ("union", "test", 0.66, 0.60, 0.65, 0.70, 0.75, 0.88, 0.95, 0.55),
        ("weak", "test", 0.96, 0.67, 0.77, 0.75, 0.81, 0.86, 0.95, 0.66),
        ("clean", "test", 1.73, 0.90, 0.91, np.nan, np.nan, np.nan, 0.97, 0.80),
        ("weak", "autoattack", 0.96, 0.78, 0.85, 0.76, 0.84, 0.83, 0.90, 0.70),
    ]
    frame = pd.DataFrame(rows, columns=["environment", "evaluation", *EXPERIMENT2_METRICS])
    frame.insert(2, "u2_available", frame["u2_accuracy"].notna())
    frame.insert(3, "n", 100)
    # evaluate_generations writes a bootstrap interval beside each accuracy and coverage
    frame["imm_accuracy_low"] = frame["imm_accuracy"] - 0.03
    frame["imm_accuracy_high"] = frame["imm_accuracy"] + 0.02
    # U1's out-of-core set and U2' on it (NaN for U2' without a second generation)
    frame["u1_core_size"] = (frame["u1_core_coverage"] * 100).round().astype(int)
    frame["u1_out_of_core_size"] = 100 - frame["u1_core_size"]
    frame["u1_out_of_core_accuracy"] = [0.30, 0.41, 0.50, 0.60]
    frame["u2_accuracy_on_u1_out_of_core"] = [0.79, 0.66, np.nan, 0.67]
    frame["u2_core_coverage_in_u1_out_of_core"] = [0.70, 0.75, np.nan, 0.65]
    frame["u2_core_accuracy_in_u1_out_of_core"] = [0.90, 0.73, np.nan, 0.70]
    frame["u2_core_size_in_u1_out_of_core"] = [31.0, 26.0, np.nan, 20.0]
    frame["u2_accuracy_on_u1_out_of_core_low"] = frame["u2_accuracy_on_u1_out_of_core"] - 0.05
    frame["u2_accuracy_on_u1_out_of_core_high"] = frame["u2_accuracy_on_u1_out_of_core"] + 0.04
    return frame


def experiment3_frame() -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "environment": ["union", "weak", "weak"],
            "evaluation": ["test", "test", "autoattack"],
            "n": [300, 100, 100],
            "threshold": [0.66, 0.96, 0.96],
            "u1_total_entropy": [290.0, 64.0, 50.0],
            "imm_total_entropy": [70.0, 28.5, 30.0],
        }
    )
    for system in ("u1", "imm"):
        mean = frame[f"{system}_total_entropy"] / frame["n"]
        frame[f"{system}_mean_entropy"] = mean
        frame[f"{system}_mean_entropy_low"] = mean - 0.01
        frame[f"{system}_mean_entropy_high"] = mean + 0.01
    frame["reduction"] = 1 - frame["imm_total_entropy"] / frame["u1_total_entropy"]
    return frame


def thresholds_dict() -> dict:
    rng = np.random.default_rng(0)
    thresholds = {}
    for environment in ("clean", "weak", "strong", "union"):
        labels = rng.integers(0, C, 50)
        predictions = np.where(rng.random(50) < 0.7, labels, (labels + 1) % C)
        selection = select_threshold(rng.random(50) * 2, predictions, labels, target=0.6)
        thresholds[environment] = selection.to_dict()
    return thresholds


def details_dict() -> dict:
    """imm_details as evaluate_generations writes it: weak and union on test, weak on the
    AutoAttack set (no figure for that one), plus the dataset's metadata name."""
    rng = np.random.default_rng(1)
    details = {"name": "imm_details"}
    for environment, evaluation, t in (
        ("weak", "test", 0.96),
        ("union", "test", 0.66),
        ("weak", "autoattack", 0.96),
    ):
        labels = rng.integers(0, C, 120)
        prefix = f"{environment}.{evaluation}."
        details[prefix + "labels"] = labels
        details[prefix + "u1_entropy"] = h1 = rng.random(120) * 1.5
        details[prefix + "u1_pred"] = np.where(rng.random(120) < 0.6, labels, (labels + 1) % C)
        details[prefix + "u1_correct"] = details[prefix + "u1_pred"] == labels
        details[prefix + "threshold"] = np.float64(t)
        for committee, share in (("u0", 0.5), ("u2", 0.6), ("all", 0.7), ("imm", 0.8)):
            details[prefix + f"{committee}_correct"] = rng.random(120) < share
        details[prefix + "u2_entropy"] = h2 = rng.random(120)
        details[prefix + "imm_entropy"] = np.where(h1 <= t, h1, h2)
    return details


def curves_frame() -> pd.DataFrame:
    """threshold_curves_metrics as select_thresholds writes it (validation, all environments)."""
    rng = np.random.default_rng(5)
    grid = threshold_grid(THRESHOLD_PARAMS["start"], THRESHOLD_PARAMS["stop"], 0.01)
    curves = []
    for environment in ("clean", "weak", "strong", "union"):
        labels = rng.integers(0, C, 80)
        predictions = np.where(rng.random(80) < 0.7, labels, (labels + 1) % C)
        curve = threshold_curve(rng.random(80) * 2, predictions, labels, grid)
        curve.insert(0, "environment", environment)
        curves.append(curve)
    return pd.concat(curves, ignore_index=True)


# --- comparisons ---------------------------------------------------------------------------------
def test_compare_experiment2_has_ours_published_and_difference():
    ours = experiment2_frame()
    table = compare_experiment2(ours, PUBLISHED)
    for metric in EXPERIMENT2_METRICS:
        assert {f"{metric}_ours", f"{metric}_published", f"{metric}_diff"} <= set(table.columns)
    assert list(zip(table.environment, table.evaluation, strict=True)) == list(
        zip(ours.environment, ours.evaluation, strict=True)
    )
    union = table.iloc[0]
    assert union["imm_accuracy_ours"] == 0.88
    assert union["imm_accuracy_published"] == 0.8758
    assert union["imm_accuracy_diff"] == pytest.approx(0.88 - 0.8758)
    assert union["u1_core_coverage_published"] == 0.5378
    assert union["threshold_published"] == 0.66
    autoattack = table.iloc[3]
    assert autoattack["u0_accuracy_published"] == 0.7847
    assert autoattack["u2_accuracy_diff"] == pytest.approx(0.76 - 0.7595)
    # U1's core on the AutoAttack set is published (its coverage from the published counts).
    assert autoattack["u1_core_accuracy_published"] == 0.9240
    assert autoattack["u1_core_coverage_published"] == 0.6161
    # Not published: every clean number.
    assert table.iloc[2][[c for c in table.columns if c.endswith("_published")]].isna().all()


def test_published_counts_agree_with_the_published_coverages():
    for row in PUBLISHED["experiment2"]:
        assert row["u1_core_size"] + row["u1_out_of_core_size"] == row["n"], row
        assert row["u1_core_size"] / row["n"] == pytest.approx(row["u1_core_coverage"], abs=1e-4)
        within = row["u2_core_size_in_u1_out_of_core"] / row["u1_out_of_core_size"]
        assert within == pytest.approx(row["u2_core_coverage_in_u1_out_of_core"], abs=1e-4)
    assert PUBLISHED["threshold_target"] == 0.95


def test_compare_experiment2_out_of_core_with_counts_and_intervals():
    table = compare_experiment2_out_of_core(experiment2_frame(), PUBLISHED)
    for metric in EXPERIMENT2_OUT_OF_CORE_METRICS:
        assert {f"{metric}_ours", f"{metric}_published"} <= set(table.columns)
    # Counts over sets of different sizes: side by side, whole numbers, no difference.
    for count in ("n", "u1_core_size", "u1_out_of_core_size", "u2_core_size_in_u1_out_of_core"):
        assert f"{count}_diff" not in table.columns
        assert str(table[f"{count}_ours"].dtype) == "Int64"
    union = table.iloc[0]
    assert union["u1_out_of_core_accuracy_published"] == 0.2847
    assert union["u1_out_of_core_accuracy_diff"] == pytest.approx(0.30 - 0.2847)
    assert union["u2_accuracy_on_u1_out_of_core_published"] == 0.7873
    assert union["u1_out_of_core_size_published"] == 13867
    assert union["u2_core_coverage_in_u1_out_of_core_published"] == 0.7019
    assert union["u2_core_accuracy_in_u1_out_of_core_published"] == 0.8972
    assert union["u2_core_size_in_u1_out_of_core_published"] == 9733
    assert union["u2_accuracy_on_u1_out_of_core_ours_low"] == pytest.approx(0.74)
    autoattack = table.iloc[3]
    assert autoattack["u2_accuracy_on_u1_out_of_core_published"] == 0.6715
    assert autoattack["u2_core_size_in_u1_out_of_core_published"] == 2511
    assert np.isnan(autoattack["u1_out_of_core_accuracy_published"])  # not in the log
    assert pd.isna(table.iloc[2]["u2_core_size_in_u1_out_of_core_ours"])  # clean: no U2'


def test_compare_experiment3_mean_entropy_per_image_and_totals_side_by_side():
    table = compare_experiment3(experiment3_frame(), PUBLISHED)
    weak = table[(table.environment == "weak") & (table.evaluation == "test")].iloc[0]
    assert weak["u1_total_entropy_published"] == 6408.0
    assert weak["imm_total_entropy_published"] == 2846.6
    assert weak["n_ours"] == 100 and weak["n_published"] == 10000
    # Totals over 100 and 10000 images do not compare: no difference of totals.
    assert "imm_total_entropy_diff" not in table.columns and "n_diff" not in table.columns
    assert weak["imm_mean_entropy_published"] == pytest.approx(2846.6 / 10000)
    assert weak["imm_mean_entropy_diff"] == pytest.approx(28.5 / 100 - 2846.6 / 10000)
    assert weak["u1_mean_entropy_ours_low"] == pytest.approx(0.64 - 0.01)
    assert weak["reduction_published"] == pytest.approx(1 - 2846.6 / 6408.0)
    assert table[table.evaluation == "autoattack"]["u1_total_entropy_published"].isna().all()
    # An older run's table without the mean columns: derived from the totals.
    old = experiment3_frame().drop(columns=["u1_mean_entropy", "imm_mean_entropy"])
    derived = compare_experiment3(old, PUBLISHED)
    assert derived["u1_mean_entropy_ours"].tolist() == pytest.approx([290 / 300, 0.64, 0.5])


def test_compare_thresholds_adds_the_selection_details():
    thresholds = thresholds_dict()
    table = compare_thresholds(thresholds, PUBLISHED)
    assert list(table.environment) == ["clean", "weak", "strong", "union"]
    published = dict(zip(table.environment, table.threshold_published, strict=True))
    assert published == {"clean": 1.73, "weak": 0.96, "strong": 0.02, "union": 0.66}
    for row in table.itertuples():
        assert row.threshold_ours == thresholds[row.environment]["threshold"]
        assert row.threshold_diff == pytest.approx(row.threshold_ours - row.threshold_published)
        assert row.reason == thresholds[row.environment]["reason"]
    assert {"reached", "target", "core_accuracy", "core_coverage"} <= set(table.columns)


def test_a_threshold_left_at_zero_is_explained_by_the_best_core_validation_reached():
    rng = np.random.default_rng(3)
    labels = rng.integers(0, C, 200)
    reached = select_threshold(rng.random(200), labels, labels, target=0.6)  # all correct
    wrong = (labels + 1) % C
    predictions = np.where(np.arange(200) < 40, labels, wrong)  # the 40 most certain: 20 right
    entropy = np.arange(200) / 100
    predictions[:40:2] = wrong[:40:2]
    missed = select_threshold(entropy, predictions, labels, target=0.6, min_core=10)
    assert missed.threshold == 0.0 and missed.best_core_accuracy == pytest.approx(0.5)
    never = select_threshold(entropy, predictions, labels, target=0.6, min_core=500)
    thresholds = {"clean": reached.to_dict(), "strong": missed.to_dict(), "weak": never.to_dict()}
    published = {"thresholds": [{"environment": e, "threshold": 0.5} for e in thresholds]}
    notes = unreached_threshold_notes(compare_thresholds(thresholds, published))
    assert len(notes) == 2  # clean reached its target: nothing to explain
    strong, weak = sorted(notes, key=lambda note: "weak" in note)
    assert "**strong**" in strong and "0.5000" in strong and "below the target 0.60" in strong
    assert "**weak**" in weak and "no core of the minimum size" in weak
    # a thresholds.json written before the scan recorded its best core accuracy
    old = {
        e: {k: v for k, v in t.items() if not k.startswith("best_")} for e, t in thresholds.items()
    }
    old_notes = unreached_threshold_notes(compare_thresholds(old, published))
    assert len(old_notes) == 2 and all("predates" in note for note in old_notes)


# --- figures -------------------------------------------------------------------------------------
def test_threshold_and_entropy_figures_per_test_environment():
    details = details_dict()
    threshold_plots = threshold_figures(details, THRESHOLD_PARAMS)
    entropy_plots = entropy_figures(details)
    assert set(threshold_plots) == {"threshold_weak.png", "threshold_union.png"}
    assert set(entropy_plots) == {"entropy_weak.png", "entropy_union.png"}
    for name, figure in {**threshold_plots, **entropy_plots}.items():
        assert isinstance(figure, Figure)
        environment = name.split("_")[1].removesuffix(".png")
        assert environment in figure.axes[0].get_title()
        data = png_bytes(figure)
        assert data.startswith(PNG_MAGIC) and len(data) > 1000
    # The chosen threshold is marked with a vertical line at t.
    lines = threshold_plots["threshold_union.png"].axes[0].get_lines()
    assert any(np.allclose(line.get_xdata(), 0.66) for line in lines)
    # Core and out-of-core histograms hold every test sample.
    patches = entropy_plots["entropy_weak.png"].axes[0].patches
    assert sum(patch.get_height() for patch in patches) == 120


def test_validation_sweeps_mark_the_threshold_chosen_on_validation():
    thresholds = thresholds_dict()
    figures = validation_threshold_figures(curves_frame(), thresholds)
    assert set(figures) == {f"threshold_{env}.png" for env in ("clean", "weak", "strong", "union")}
    for name, figure in figures.items():
        environment = name.removeprefix("threshold_").removesuffix(".png")
        axes = figure.axes[0]
        assert environment in axes.get_title() and "validation" in axes.get_title()
        chosen = thresholds[environment]["threshold"]
        assert any(np.allclose(line.get_xdata(), chosen) for line in axes.get_lines())
        assert png_bytes(figure).startswith(PNG_MAGIC)
    # In the report: validation and, where imm_details has it, test beside it with the same t.
    panels = threshold_panels(curves_frame(), thresholds, details_dict(), THRESHOLD_PARAMS)
    assert [len(panels[f"threshold_{env}.png"].axes) for env in ("clean", "weak", "union")] == [
        1,
        2,
        2,
    ]
    validation, test = panels["threshold_union.png"].axes
    assert "validation" in validation.get_title() and "test" in test.get_title()
    assert any(np.allclose(line.get_xdata(), 0.66) for line in test.get_lines())


def test_figures_from_the_imm_details_written_by_evaluate_generations():
    rng = np.random.default_rng(2)
    entries = {}
    sets = ["clean_test", "u0_apgd_weak_test"]
    for name in sets:
        labels = rng.integers(0, C, 40)
        entries[name] = {"y": labels}
        for model_id in ("m1", "m2", "u2_weak_m1"):
            entries[probs_entry(model_id, name)] = {"probs": rng.dirichlet(np.ones(C), 40)}
    entries["history__u2_weak__m1"] = {"skipped": False}
    layout = [("clean", "test", ["clean_test"]), ("weak", "test", ["u0_apgd_weak_test"])]
    thresholds = {"clean": {"threshold": 1.5}, "weak": {"threshold": 1.2}}
    experiment2, _, details = evaluate_generations(
        thresholds,
        {"n_resamples": 100, "seed": 0},
        layout,
        ["m1"],
        ["m1", "m2"],
        {"weak": ["u2_weak_m1"]},
        {"weak": ["history__u2_weak__m1"]},
        **entries,
    )
    assert set(threshold_figures(details, THRESHOLD_PARAMS)) == {
        "threshold_clean.png",
        "threshold_weak.png",
    }
    assert set(entropy_figures(details)) == {"entropy_clean.png", "entropy_weak.png"}
    assert isinstance(accuracy_figure(experiment2), Figure)


def test_accuracy_figure_groups_environments_and_models():
    figure = accuracy_figure(experiment2_frame())
    axes = figure.axes[0]
    labels = [tick.get_text() for tick in axes.get_xticklabels()]
    assert labels == ["union", "weak", "clean", "weak (autoattack)"]
    assert [text.get_text() for text in axes.get_legend().get_texts()] == [
        "U0",
        "U1",
        "U2'",
        "all 16",
        "IMM",
    ]
    assert png_bytes(figure).startswith(PNG_MAGIC)


# --- report --------------------------------------------------------------------------------------
HEADINGS = [
    "# Logifold / IMM report",
    "## Base models (U0)",
    "## APGD attacks (white-box, ART)",
    "## AutoAttack transfer set",
    "## Uncertainty",
    "## Thresholds chosen on validation",
    "## Experiment 1: entropy and accuracy of single models and committees",
    "## Experiment 2: generations and IMM (ours, published, difference)",
    "### U1's out-of-core set and U2' on it (ours, published, difference)",
    "## Experiment 2 across seeds (mean ± std)",
    "## Experiment 3: total entropy",
    "## The paper's claims, checked",
    "## Core against the threshold (validation, where t is chosen; test beside it)",
    "## Entropy of core and out-of-core samples (test)",
    "## Adaptive evaluation",
    "## Figures for a talk",
]


def report_inputs(scale: str) -> dict:
    details = details_dict()
    bootstrap = {"n_resamples": 100, "confidence": 0.9, "seed": 3}
    experiment2 = experiment2_frame()
    experiment1 = pd.DataFrame(
        {
            "kind": ["single", "committee"],
            "target": ["resnet_v1_d20", "u1"],
            "condition": ["clean", "weak"],
            "image_set": ["clean_test", "u1_apgd_weak_test"],
            "core_coverage": [0.8, 0.3],
            "core_accuracy": [0.9, np.nan],
            "overall_accuracy": [0.7, 0.4],
        }
    )
    return {
        "scale": scale,
        "threshold_params": THRESHOLD_PARAMS,
        "training_metrics": pd.DataFrame({"model": ["resnet_v1_d20"], "val_accuracy": [0.41]}),
        "art_attacks_metrics": pd.DataFrame({"image_set": ["u0_apgd_weak_test"], "acc": [0.2]}),
        "autoattack_report": {"surrogate": "tiny_wrn", "n": 20, "robust_accuracy": 0.1, "x": []},
        "thresholds_table": compare_thresholds(thresholds_dict(), PUBLISHED),
        "experiment1": experiment1,
        "experiment2_table": compare_experiment2(experiment2, PUBLISHED),
        "experiment2_out_of_core_table": compare_experiment2_out_of_core(experiment2, PUBLISHED),
        "experiment3_table": compare_experiment3(experiment3_frame(), PUBLISHED),
        "experiment2": experiment2,
        "imm_details": details,
        "thresholds": thresholds_dict(),
        "threshold_curves": curves_frame(),
        "threshold_bootstrap": threshold_bootstrap_frame(),
        "bootstrap_params": bootstrap,
        "experiment2_seeds": aggregate_seeds(
            42, experiment2, experiment1, {"seed7": lambda: shifted(experiment2)}, {}
        )[0],
        "claims": check_claims(details, THRESHOLD_PARAMS, bootstrap, PUBLISHED),
        "published": PUBLISHED,
        "adaptive_metrics": adaptive_metrics_frame(),
        "seed": 42,
        "experiment2_runs": {"seed7": lambda: shifted(experiment2)},
    }


def shifted(experiment2: pd.DataFrame) -> pd.DataFrame:
    """Another seed's table: every accuracy 0.02 lower."""
    other = experiment2.copy()
    other["imm_accuracy"] -= 0.02
    return other


def test_aggregate_seeds_mean_and_std_over_every_seed_run():
    experiment2 = experiment2_frame()
    experiment1 = report_inputs("demo")["experiment1"].assign(overall_accuracy=[0.5, 0.6])
    runs2 = {"seed7": lambda: shifted(experiment2), "seed42": lambda: pytest.fail("stale")}
    runs1 = {"seed7": lambda: experiment1.assign(core_coverage=[0.6, 0.1])}
    seeds2, seeds1 = aggregate_seeds(42, experiment2, experiment1, runs2, runs1)
    union = seeds2.set_index(["environment", "evaluation"]).loc[("union", "test")]
    assert union["n_seeds"] == 2 and union["seeds"] == "7, 42"
    assert union["imm_accuracy_mean"] == pytest.approx(0.87)
    assert union["imm_accuracy_std"] == pytest.approx(np.std([0.88, 0.86], ddof=1))
    assert union["u1_accuracy_std"] == pytest.approx(0.0)
    single = seeds1.set_index(["kind", "target", "condition"]).iloc[0]
    assert single["core_coverage_mean"] == pytest.approx(0.7)
    # One seed only: the mean is that seed's value and there is no spread.
    alone, _ = aggregate_seeds(42, experiment2, experiment1, {}, {})
    assert (alone["n_seeds"] == 1).all() and alone["imm_accuracy_std"].isna().all()
    np.testing.assert_allclose(alone["imm_accuracy_mean"], experiment2["imm_accuracy"])


def threshold_bootstrap_frame() -> pd.DataFrame:
    """The distribution select_thresholds writes: replicates per environment + the choice."""
    rng = np.random.default_rng(4)
    frames = [
        pd.DataFrame(
            {
                "environment": env,
                "replicate": np.arange(30),
                "threshold": np.round(t + rng.normal(0, 0.05, 30), 2),
                "selected": t,
            }
        )
        for env, t in {"clean": 1.2, "weak": 0.7, "union": 0.66}.items()
    ]
    return pd.concat(frames, ignore_index=True)


def test_write_report_has_every_section_and_embedded_pngs():
    report, summary = write_report(**report_inputs("demo"))
    positions = [report.index(heading + "\n") for heading in HEADINGS]
    assert positions == sorted(positions)
    assert "CPU scale (demo)" in report
    assert f"Threshold target core accuracy: **{THRESHOLD_PARAMS['target']}**" in report
    assert "scan 2.0 down to 0.02, step 0.01, min core 10" in report
    images = re.findall(r"!\[figure\]\(data:image/png;base64,([A-Za-z0-9+/=]+)\)", report)
    # accuracy, threshold bootstrap, four validation sweeps (two with test beside them), two
    # entropy plots; for a talk: accuracy on test and on the AutoAttack set, entropy, adaptive,
    # seeds
    assert len(images) == 1 + 1 + 4 + 2 + 2 + 1 + 1 + 1
    assert "90% percentile bootstrap interval" in report and "100 resamples" in report
    assert "0.8800 [0.8500, 0.9000]" in report  # union IMM accuracy with its interval
    assert "seeds 7, 42" in report and "0.8700 ± 0.0141" in report  # across seeds
    assert all(base64.b64decode(data).startswith(PNG_MAGIC) for data in images)
    # Tables are rendered: published value beside ours, the surrogate's name, no list values.
    assert "0.8758" in report and "tiny_wrn" in report
    assert "image_set" not in report.split("## Experiment 1")[1].split("## Experiment 2")[0]
    # Every Experiment 2 number: U2' on U1's out-of-core set beside the paper's, counts whole.
    out_of_core = report.split("### U1's out-of-core")[1].split("## Experiment 2 across")[0]
    assert "0.7873" in out_of_core and "13867" in out_of_core and "13867.0" not in out_of_core
    assert "0.7900 [0.7400, 0.8300]" in out_of_core
    # Experiment 3 compares means per image.
    experiment3 = report.split("## Experiment 3")[1].split("## The paper's claims")[0]
    assert "imm_mean_entropy_diff" in experiment3 and "0.2850 [0.2750, 0.2950]" in experiment3


def test_report_summary_is_json_and_paper_scale_has_no_demo_note():
    report, summary = write_report(**report_inputs("paper"))
    assert "CPU scale" not in report
    text = json.dumps(summary, allow_nan=False)
    assert json.loads(text) == summary
    assert summary["scale"] == "paper"
    assert summary["threshold_target"] == THRESHOLD_PARAMS["target"]
    assert summary["union.imm_accuracy"] == 0.88
    assert summary["weak.u1_accuracy"] == 0.77
    assert summary["clean.imm_accuracy"] is None  # NaN: no second generation for clean
    assert "weak (autoattack).imm_accuracy" not in summary and len(summary) == 2 + 2 * 3


def claim_details() -> dict:
    """imm_details whose claims have known verdicts (see the test below)."""
    rng = np.random.default_rng(8)
    n = 200
    half = np.arange(n) % 2 == 0
    details = {"name": "imm_details"}

    def add(environment, evaluation, t, u1_entropy, u1_correct, imm_correct=None):
        prefix = f"{environment}.{evaluation}."
        details[prefix + "labels"] = np.zeros(n, dtype=np.int64)
        details[prefix + "u1_entropy"] = u1_entropy
        details[prefix + "u1_pred"] = np.where(u1_correct, 0, 1)
        details[prefix + "u1_correct"] = u1_correct
        details[prefix + "u0_correct"] = half.copy()
        details[prefix + "threshold"] = np.float64(t)
        if imm_correct is not None:
            for committee in ("u2", "all"):
                details[prefix + f"{committee}_correct"] = half.copy()
            details[prefix + "imm_correct"] = imm_correct
            details[prefix + "u2_entropy"] = np.full(n, 0.05)
            details[prefix + "imm_entropy"] = np.where(u1_entropy <= t, u1_entropy, 0.05)

    # U1 right on its core (H1 <= 0.5), wrong elsewhere; the IMM right everywhere.
    h1 = np.where(half, 0.2, 1.5)
    add("weak", "test", 0.5, h1, half, np.ones(n, bool))
    add("weak", "autoattack", 0.5, h1, half, np.ones(n, bool))
    # The IMM exactly as good as U1 (same images right), the others a fair coin.
    add("union", "test", 0.5, h1 + rng.random(n) * 0.01, half, half.copy())
    # Skipped (no U2') and an empty core: every entropy above t.
    add("strong", "test", 0.02, np.full(n, 1.2), half)
    return details


def verdicts_of(claims: pd.DataFrame) -> dict:
    return {
        (row.claim_id, row.environment, row.evaluation): row.verdict for row in claims.itertuples()
    }


def test_check_claims_verdicts_on_the_papers_side():
    claims = check_claims(
        claim_details(), THRESHOLD_PARAMS, {"n_resamples": 300, "seed": 0}, PUBLISHED
    )
    verdicts = verdicts_of(claims)
    # Rows: 7 claims x 4 evaluation sets, claims in order, then test before AutoAttack.
    assert len(claims) == 7 * 4
    assert list(claims["claim_id"].unique()) == [
        "imm_vs_u0_accuracy",
        "imm_vs_u1_accuracy",
        "imm_vs_u2_accuracy",
        "imm_vs_all_accuracy",
        "u1_core_accuracy_vs_target",
        "u1_core_vs_u1_accuracy",
        "imm_vs_u1_mean_entropy",
    ]
    sets = claims.loc[claims["claim_id"] == "imm_vs_u1_accuracy", ["environment", "evaluation"]]
    assert list(map(tuple, sets.to_numpy())) == [
        ("union", "test"),
        ("weak", "test"),
        ("strong", "test"),
        ("weak", "autoattack"),
    ]
    # weak, test: the paper's IMM beats every committee; ours is right on every image.
    for opponent in ("u0", "u1", "u2", "all"):
        assert verdicts[f"imm_vs_{opponent}_accuracy", "weak", "test"] == HOLDS
    assert verdicts["u1_core_accuracy_vs_target", "weak", "test"] == HOLDS  # all right, > 0.9
    assert verdicts["imm_vs_u1_mean_entropy", "weak", "test"] == HOLDS
    # weak, AutoAttack: the paper's IMM is below U1 and all 16 (.8271 < .8471, < .8382) and its
    # core below 0.95 (.9240): ours above all three fails the paper's side, on the others holds.
    row = claims.set_index(["claim_id", "environment", "evaluation"])
    u1_aa = row.loc[("imm_vs_u1_accuracy", "weak", "autoattack")]
    assert u1_aa["claim"] == "IMM accuracy < U1 accuracy" and u1_aa["paper_side"] == -1
    assert u1_aa["paper_difference"] == pytest.approx(0.8271 - 0.8471)
    assert u1_aa["difference"] == pytest.approx(0.5) and u1_aa["verdict"] == FAILS
    assert verdicts["imm_vs_all_accuracy", "weak", "autoattack"] == FAILS
    assert verdicts["u1_core_accuracy_vs_target", "weak", "autoattack"] == FAILS
    assert verdicts["imm_vs_u0_accuracy", "weak", "autoattack"] == HOLDS
    assert verdicts["imm_vs_u2_accuracy", "weak", "autoattack"] == HOLDS
    # No published entropy on the AutoAttack set: the thesis side (IMM below U1).
    entropy_aa = row.loc[("imm_vs_u1_mean_entropy", "weak", "autoattack")]
    assert entropy_aa["paper_side_from"] == "thesis" and entropy_aa["paper_side"] == -1
    assert entropy_aa["paper_outcome"].startswith("not published")
    assert entropy_aa["verdict"] == HOLDS
    # union, test: the IMM right on exactly U1's images: a difference of 0, not resolved.
    assert row.loc[("imm_vs_u1_accuracy", "union", "test"), "difference"] == 0.0
    assert verdicts["imm_vs_u1_accuracy", "union", "test"] == NOT_RESOLVED
    # strong, test: no U2' and an empty core leave every claim unresolved.
    strong = claims[claims["environment"] == "strong"]
    assert (strong["verdict"] == NOT_RESOLVED).all()
    assert strong["difference"].isna().all()
    # The paper's values beside ours.
    core = row.loc[("u1_core_accuracy_vs_target", "weak", "test")]
    assert core["paper_first_value"] == 0.9545 and core["paper_second_value"] == 0.95
    assert core["second_value"] == THRESHOLD_PARAMS["target"]
    assert core["paper_outcome"] == "U1 core > target (0.9545 vs 0.9500)"
    entropy = row.loc[("imm_vs_u1_mean_entropy", "weak", "test")]
    assert entropy["paper_difference"] == pytest.approx((2846.6 - 6408.0) / 10000)
    # Published totals without their n take the number of images of the Experiment 2 row.
    without_n = {
        **PUBLISHED,
        "experiment3": [{k: v for k, v in r.items() if k != "n"} for r in PUBLISHED["experiment3"]],
    }
    again = check_claims(claim_details(), THRESHOLD_PARAMS, {"n_resamples": 50}, without_n)
    again = again.set_index(["claim_id", "environment", "evaluation"])
    assert again.loc[("imm_vs_u1_mean_entropy", "weak", "test"), "paper_difference"] == (
        pytest.approx((2846.6 - 6408.0) / 10000)
    )


def test_the_clean_environment_gets_only_the_claims_about_u1s_core():
    details = claim_details()
    rng = np.random.default_rng(5)
    labels = rng.integers(0, C, 400)
    h1 = rng.random(400)
    # right on the 200 most certain images, right on 1 in 4 of the others
    correct = (h1 <= 0.5) | (np.arange(400) % 4 == 0)
    details.update(
        {
            "clean.test.labels": labels,
            "clean.test.u1_entropy": h1,
            "clean.test.u1_correct": correct,
            "clean.test.u0_correct": correct,
            "clean.test.threshold": np.float64(0.5),
        }
    )
    claims = check_claims(details, THRESHOLD_PARAMS, {"n_resamples": 300, "seed": 0}, PUBLISHED)
    clean = claims[claims["environment"] == "clean"].set_index("claim_id")
    assert list(clean.index) == ["u1_core_accuracy_vs_target", "u1_core_vs_u1_accuracy"]
    whole = clean.loc["u1_core_vs_u1_accuracy"]
    assert whole["claim"] == "U1 core accuracy > U1 accuracy"
    assert whole["first_value"] == 1.0 and whole["second_value"] == pytest.approx(correct.mean())
    assert whole["difference_low"] > 0 and whole["verdict"] == HOLDS
    assert whole["paper_outcome"].startswith("not published")  # the paper has no clean row
    # where the paper publishes both, its side comes from them: weak test .9545 > .7732
    weak = claims.set_index(["claim_id", "environment", "evaluation"]).loc[
        ("u1_core_vs_u1_accuracy", "weak", "test")
    ]
    assert weak["paper_side_from"] == "published"
    assert weak["paper_difference"] == pytest.approx(0.9545 - 0.7732)


def test_the_claims_table_reaches_the_report():
    inputs = report_inputs("paper")
    inputs["claims"] = check_claims(
        claim_details(), THRESHOLD_PARAMS, inputs["bootstrap_params"], PUBLISHED
    )
    report, _ = write_report(**inputs)
    section = report.split("## The paper's claims, checked\n")[1].split("\n## ")[0]
    assert "| claim" in section and "| verdict" in section and "paper's outcome" in section
    assert "ours: A - B [90% interval]" in section
    assert "IMM accuracy < U1 accuracy" in section  # the AutoAttack row, the paper's direction
    assert "+0.5000 [" in section and "-0.0200" in section  # ours and the paper's difference
    for verdict in (HOLDS, NOT_RESOLVED, FAILS):
        assert f"| {verdict}" in section
    assert "IMM > U1 (0.8583 vs 0.7732)" in section
    assert "of 28)." in section
    # One table row per claim and evaluation set.
    assert (
        sum(line.startswith("| IMM") or line.startswith("| U1") for line in section.split("\n"))
        == 28
    )


def test_markdown_tables_one_section_per_table():
    text = markdown_tables(
        experiment2=compare_experiment2(experiment2_frame(), PUBLISHED),
        experiment3=compare_experiment3(experiment3_frame(), PUBLISHED),
    )
    assert text.index("## experiment2\n") < text.index("## experiment3\n")
    assert "| environment" in text and "imm_accuracy_published" in text
    assert "6408.0000" in text
    assert text.endswith("\n")
