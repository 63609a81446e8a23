"""Nodes of the reporting stage: each takes what the catalog loads, calls ``report_lib`` (the
comparisons, the claims, the figures and the report's Markdown) and returns what the catalog
saves. They import neither TensorFlow nor torch: everything is read from stored tables and
per-sample arrays."""

from __future__ import annotations

import logging
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display on clusters and CI

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from logifold_kedro.datasets.seed_runs import seed_of
from logifold_kedro.logifold.bootstrap import bootstrap_settings
from logifold_kedro.logifold.claims import VERDICTS
from logifold_kedro.logifold.threshold import threshold_grid
from logifold_kedro.pipelines.naming import ENVIRONMENTS, EXPERIMENT1_MEASURES, U2_ENVIRONMENTS
from logifold_kedro.report_lib import stage_figures
from logifold_kedro.report_lib.claims import claims_table
from logifold_kedro.report_lib.comparisons import (
    EXPERIMENT1_KEYS,
    EXPERIMENT2_KEYS,
    EXPERIMENT2_METRICS,
    experiment2_comparison,
    experiment2_out_of_core_comparison,
    experiment3_comparison,
    thresholds_comparison,
)
from logifold_kedro.report_lib.figures import threshold_distribution_figure
from logifold_kedro.report_lib.imm_details import details_for
from logifold_kedro.report_lib.report_markdown import (
    ReportFigures,
    ReportTables,
    report_markdown,
    tables_document,
)
from logifold_kedro.report_lib.tables import across_seeds
from logifold_kedro.report_lib.talk_accuracy import accuracy_figures_by_evaluation
from logifold_kedro.report_lib.talk_adaptive import adaptive_accuracy_figure
from logifold_kedro.report_lib.talk_entropy import entropy_panels, entropy_threshold_panels
from logifold_kedro.report_lib.talk_seeds import seed_spread_figure
from logifold_kedro.report_lib.threshold_notes import unreached_threshold_reasons

logger = logging.getLogger(__name__)

#: Evaluation sets of the claims, in the order the claims table lists them.
CLAIM_EVALUATIONS = ("test", "autoattack")


def compare_experiment2(experiment2: pd.DataFrame, published: dict[str, Any]) -> pd.DataFrame:
    """Experiment 2 (per environment and evaluation set) beside the published numbers."""
    return experiment2_comparison(experiment2, pd.DataFrame(published["experiment2"]))


def compare_experiment2_out_of_core(
    experiment2: pd.DataFrame, published: dict[str, Any]
) -> pd.DataFrame:
    """The rest of Experiment 2 beside the published numbers: U1's out-of-core set and U2' on
    it, with the numbers of images behind each
    (``comparisons.experiment2_out_of_core_comparison``)."""
    return experiment2_out_of_core_comparison(experiment2, pd.DataFrame(published["experiment2"]))


def compare_experiment3(experiment3: pd.DataFrame, published: dict[str, Any]) -> pd.DataFrame:
    """Total entropy U1 -> IMM beside the published numbers: totals side by side, the mean
    entropy per image and the reduction compared (``comparisons.experiment3_comparison``)."""
    return experiment3_comparison(experiment3, pd.DataFrame(published["experiment3"]))


def compare_thresholds(thresholds: dict[str, Any], published: dict[str, Any]) -> pd.DataFrame:
    """The thresholds chosen on validation beside the published ones."""
    return thresholds_comparison(thresholds, pd.DataFrame(published["thresholds"]))


def _tables_by_seed(
    seed: int, current: pd.DataFrame, runs: dict[str, Any]
) -> dict[int, pd.DataFrame]:
    """Seed -> table: the latest of each ``seed<n>`` folder, this run's for this seed."""
    found = {seed_of(partition): load for partition, load in runs.items()}
    found[int(seed)] = lambda: current
    return {s: load() for s, load in found.items()}


def aggregate_seeds(
    seed: int,
    experiment2: pd.DataFrame,
    experiment1: pd.DataFrame,
    experiment2_runs: dict[str, Any],
    experiment1_runs: dict[str, Any],
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Experiments 1 and 2 as mean and std over every seed run so far (the latest version of
    each ``seed<n>`` folder; this run's tables for this seed)."""

    by_seed2 = _tables_by_seed(seed, experiment2, experiment2_runs)
    by_seed1 = _tables_by_seed(seed, experiment1, experiment1_runs)
    logger.info("aggregating Experiments 1 and 2 over seeds %s", sorted(by_seed2))
    return (
        across_seeds(by_seed2, EXPERIMENT2_KEYS, EXPERIMENT2_METRICS),
        across_seeds(by_seed1, EXPERIMENT1_KEYS, EXPERIMENT1_MEASURES),
    )


def _grid(threshold_params: dict[str, Any]) -> np.ndarray:
    return threshold_grid(
        threshold_params["start"], threshold_params["stop"], threshold_params["step"]
    )


def threshold_figures(
    imm_details: dict[str, Any], threshold_params: dict[str, Any]
) -> dict[str, Figure]:
    """Per environment (test): core / out-of-core coverage and accuracy against the threshold."""
    return stage_figures.threshold_figures_on_test(
        imm_details, _grid(threshold_params), ENVIRONMENTS
    )


def validation_threshold_figures(
    threshold_curves: pd.DataFrame, thresholds: dict[str, Any]
) -> dict[str, Figure]:
    """Per environment (validation, where the threshold is chosen): core / out-of-core coverage
    and accuracy against the threshold, the chosen t marked, from the curves the selection
    scanned (``threshold_curves_metrics``)."""
    return stage_figures.validation_threshold_figures(threshold_curves, thresholds, ENVIRONMENTS)


def threshold_panels(
    threshold_curves: pd.DataFrame,
    thresholds: dict[str, Any],
    imm_details: dict[str, Any],
    threshold_params: dict[str, Any],
) -> dict[str, Figure]:
    """Per environment one figure: the validation sweep (chosen t marked) and, beside it, the
    same U1 core on test with that t."""
    return stage_figures.threshold_panel_figures(
        threshold_curves, thresholds, imm_details, _grid(threshold_params), ENVIRONMENTS
    )


def entropy_figures(imm_details: dict[str, Any]) -> dict[str, Figure]:
    """Per environment (test): U1 committee entropy of core against out-of-core samples."""
    return stage_figures.entropy_figures(imm_details, ENVIRONMENTS)


def accuracy_figure(experiment2: pd.DataFrame) -> Figure:
    """Accuracy of U0 / U1 / U2' / all 16 / IMM per environment and evaluation set."""
    return stage_figures.experiment2_accuracy_figure(experiment2)


def threshold_bootstrap_figure(
    threshold_bootstrap: pd.DataFrame, bootstrap_params: dict[str, Any]
) -> Figure:
    """How much the selected threshold moves when the validation set is resampled."""
    return threshold_distribution_figure(
        threshold_bootstrap, float(bootstrap_params.get("confidence", 0.95))
    )


def check_claims(
    imm_details: dict[str, Any],
    threshold_params: dict[str, Any],
    bootstrap_params: dict[str, Any],
    published: dict[str, Any],
) -> pd.DataFrame:
    """The paper's claims checked on every environment, on test and on the AutoAttack set,
    from the per-sample arrays of ``imm_details``: U1's core accuracy against
    ``params:threshold.target`` and against U1's accuracy on the whole set (every environment),
    and where there is a second generation (union, weak, strong) IMM accuracy against U0, U1,
    U2' and the all-16 ensemble and the IMM's entropy against U1's (mean per image). Each row:
    our difference with its paired bootstrap interval (``params:bootstrap``),
    the verdict (holds / not resolved / fails) for the side of 0 the paper's own numbers show,
    and those numbers (``report_lib.claims`` defines the side per row)."""
    settings = bootstrap_settings(bootstrap_params)
    without_u2 = [e for e in ENVIRONMENTS if e not in U2_ENVIRONMENTS]
    evaluation_sets = {}
    for evaluation in CLAIM_EVALUATIONS:
        # the environments without a U2' first (clean), then the paper's table order
        for environment in (*without_u2, *U2_ENVIRONMENTS):
            arrays = details_for(imm_details, environment, evaluation)
            if arrays:
                evaluation_sets[environment, evaluation] = arrays
    table = claims_table(
        evaluation_sets,
        published,
        float(threshold_params["target"]),
        **settings,
        without_second_generation=without_u2,
    )
    counts = table["verdict"].value_counts()
    logger.info("claims: %s", ", ".join(f"{int(counts.get(v, 0))} {v}" for v in VERDICTS))
    return table


def _run_label(scale: str, seed: int) -> str:
    return f"{scale} scale, seed {seed}"


def talk_accuracy_figures(
    experiment2_table: pd.DataFrame, bootstrap_params: dict[str, Any], scale: str, seed: int
) -> dict[str, Figure]:
    """Per evaluation set (test, AutoAttack), for slides: U0, U1, U2', all 16 and the IMM per
    environment from ``experiment2_comparison_metrics``, each with its bootstrap interval and
    the paper's value marked."""
    return accuracy_figures_by_evaluation(
        experiment2_table,
        _run_label(scale, seed),
        float(bootstrap_params.get("confidence", 0.95)),
    )


def talk_entropy_figure(
    imm_details: dict[str, Any], thresholds_table: pd.DataFrame, scale: str, seed: int
) -> Figure:
    """For slides, one panel per environment: U1's committee entropy on the test images (right
    and wrong labels) and the chosen t; a t of 0 carries the report's explanation, an
    environment absent from ``imm_details`` says it was not evaluated."""
    panels = entropy_panels(
        imm_details, unreached_threshold_reasons(thresholds_table), ENVIRONMENTS
    )
    return entropy_threshold_panels(
        panels, f"U1 committee entropy on the test images ({_run_label(scale, seed)})"
    )


def talk_adaptive_figure(adaptive_metrics: pd.DataFrame, scale: str, seed: int) -> Figure:
    """For slides: the IMM's accuracy under each adaptive attack and setting beside the
    non-adaptive transfer and the clean images, per attacked environment."""
    return adaptive_accuracy_figure(
        adaptive_metrics,
        f"IMM under adaptive attacks vs non-adaptive transfer ({_run_label(scale, seed)})",
    )


def talk_seed_figure(
    seed: int, experiment2: pd.DataFrame, experiment2_runs: dict[str, Any], scale: str
) -> Figure:
    """For slides: every Experiment 2 accuracy in each seed's run (the seeds
    ``aggregate_seeds`` averages), with their mean and standard deviation."""
    return seed_spread_figure(
        _tables_by_seed(seed, experiment2, experiment2_runs),
        EXPERIMENT2_KEYS,
        f"Experiment 2 accuracy across seeds ({scale} scale)",
    )


def _headline_summary(
    scale: str, threshold_params: dict[str, Any], experiment2_table: pd.DataFrame
) -> dict[str, Any]:
    """The headline numbers for kedro-viz: the scale, the threshold target and, per
    environment on test, the IMM's and U1's accuracy (an undefined one as ``None``)."""
    test_rows = experiment2_table[experiment2_table["evaluation"] == "test"]
    summary = {
        "scale": scale,
        "threshold_target": threshold_params["target"],
        **{
            f"{row.environment}.imm_accuracy": row.imm_accuracy_ours
            for row in test_rows.itertuples()
        },
        **{
            f"{row.environment}.u1_accuracy": row.u1_accuracy_ours for row in test_rows.itertuples()
        },
    }
    return {k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in summary.items()}


def write_report(
    scale: str,
    threshold_params: dict[str, Any],
    training_metrics: pd.DataFrame,
    art_attacks_metrics: pd.DataFrame,
    autoattack_report: dict[str, Any],
    thresholds_table: pd.DataFrame,
    experiment1: pd.DataFrame,
    experiment2_table: pd.DataFrame,
    experiment2_out_of_core_table: pd.DataFrame,
    experiment3_table: pd.DataFrame,
    experiment2: pd.DataFrame,
    imm_details: dict[str, Any],
    thresholds: dict[str, Any],
    threshold_curves: pd.DataFrame,
    threshold_bootstrap: pd.DataFrame,
    bootstrap_params: dict[str, Any],
    experiment2_seeds: pd.DataFrame,
    claims: pd.DataFrame,
    published: dict[str, Any],
    adaptive_metrics: pd.DataFrame,
    seed: int,
    experiment2_runs: dict[str, Any],
) -> tuple[str, dict[str, Any]]:
    """The report a reader opens first (Markdown with the figures embedded,
    ``report_markdown``) and a JSON summary of the headline numbers for kedro-viz.

    The figures are drawn again here (figure datasets cannot be loaded back), from the same data
    and functions as the figure nodes; the threshold sweeps show validation (where t is chosen)
    and test side by side. The figures for slides (``talk_*``) close the report.
    """
    threshold_plots = threshold_panels(threshold_curves, thresholds, imm_details, threshold_params)
    entropy_plots = entropy_figures(imm_details)
    accuracy_plot = accuracy_figure(experiment2)
    figures = ReportFigures(
        threshold_bootstrap=threshold_bootstrap_figure(threshold_bootstrap, bootstrap_params),
        accuracy=accuracy_plot,
        threshold_panels=list(threshold_plots.values()),
        entropy=list(entropy_plots.values()),
        talk=[
            *talk_accuracy_figures(experiment2_table, bootstrap_params, scale, seed).values(),
            talk_entropy_figure(imm_details, thresholds_table, scale, seed),
            talk_adaptive_figure(adaptive_metrics, scale, seed),
            talk_seed_figure(seed, experiment2, experiment2_runs, scale),
        ],
    )
    tables = ReportTables(
        training=training_metrics,
        art_attacks=art_attacks_metrics,
        autoattack=autoattack_report,
        thresholds=thresholds_table,
        experiment1=experiment1,
        experiment2=experiment2_table,
        experiment2_out_of_core=experiment2_out_of_core_table,
        experiment2_seeds=experiment2_seeds,
        experiment3=experiment3_table,
        claims=claims,
        adaptive=adaptive_metrics,
    )
    report = report_markdown(scale, threshold_params, bootstrap_params, published, tables, figures)
    return report, _headline_summary(scale, threshold_params, experiment2_table)


def markdown_tables(**tables: pd.DataFrame) -> str:
    """All comparison tables as one Markdown document (for pasting into papers and issues)."""
    return tables_document(tables)
