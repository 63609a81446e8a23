"""reporting pipeline: comparison tables (CSV + Markdown), the paper's claims checked, figures,
report.md."""

from __future__ import annotations

from kedro.pipeline import Node, Pipeline

from .nodes import (
    accuracy_figure,
    aggregate_seeds,
    check_claims,
    compare_experiment2,
    compare_experiment2_out_of_core,
    compare_experiment3,
    compare_thresholds,
    entropy_figures,
    markdown_tables,
    talk_accuracy_figures,
    talk_adaptive_figure,
    talk_entropy_figure,
    talk_seed_figure,
    threshold_bootstrap_figure,
    threshold_figures,
    validation_threshold_figures,
    write_report,
)

TAGS = ("reporting",)
#: One kedro-viz box for the report, its tables and its figures.
REPORT = "report"


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                compare_experiment2,
                ["experiment2_metrics", "params:published"],
                "experiment2_comparison_metrics",
                name="compare_experiment2",
                namespace=REPORT,
            ),
            Node(
                compare_experiment2_out_of_core,
                ["experiment2_metrics", "params:published"],
                "experiment2_out_of_core_comparison_metrics",
                name="compare_experiment2_out_of_core",
                namespace=REPORT,
            ),
            Node(
                compare_experiment3,
                ["experiment3_metrics", "params:published"],
                "experiment3_comparison_metrics",
                name="compare_experiment3",
                namespace=REPORT,
            ),
            Node(
                compare_thresholds,
                ["thresholds", "params:published"],
                "thresholds_comparison_metrics",
                name="compare_thresholds",
                namespace=REPORT,
            ),
            Node(
                aggregate_seeds,
                {
                    "seed": "params:seed",
                    "experiment2": "experiment2_metrics",
                    "experiment1": "experiment1_metrics",
                    "experiment2_runs": "experiment2_metrics_by_seed",
                    "experiment1_runs": "experiment1_metrics_by_seed",
                },
                ["experiment2_seeds_metrics", "experiment1_seeds_metrics"],
                name="aggregate_seeds",
                namespace=REPORT,
            ),
            Node(
                threshold_figures,
                ["imm_details", "params:threshold"],
                "threshold_plots",
                name="plot_thresholds",
                namespace=REPORT,
            ),
            Node(
                validation_threshold_figures,
                ["threshold_curves_metrics", "thresholds"],
                "validation_threshold_plots",
                name="plot_validation_thresholds",
                namespace=REPORT,
            ),
            Node(
                entropy_figures,
                "imm_details",
                "entropy_plots",
                name="plot_entropies",
                namespace=REPORT,
            ),
            Node(
                threshold_bootstrap_figure,
                ["threshold_bootstrap_metrics", "params:bootstrap"],
                "threshold_bootstrap_plot",
                name="plot_threshold_bootstrap",
                namespace=REPORT,
            ),
            Node(
                accuracy_figure,
                "experiment2_metrics",
                "accuracy_plot",
                name="plot_accuracy",
                namespace=REPORT,
            ),
            # Figures for slides (docs/figures.md).
            Node(
                talk_accuracy_figures,
                [
                    "experiment2_comparison_metrics",
                    "params:bootstrap",
                    "params:scale",
                    "params:seed",
                ],
                "talk_accuracy_plots",
                name="plot_talk_accuracy",
                namespace=REPORT,
            ),
            Node(
                talk_entropy_figure,
                ["imm_details", "thresholds_comparison_metrics", "params:scale", "params:seed"],
                "talk_entropy_plot",
                name="plot_talk_entropy",
                namespace=REPORT,
            ),
            Node(
                talk_adaptive_figure,
                ["adaptive_metrics", "params:scale", "params:seed"],
                "talk_adaptive_plot",
                name="plot_talk_adaptive",
                namespace=REPORT,
            ),
            Node(
                talk_seed_figure,
                {
                    "seed": "params:seed",
                    "experiment2": "experiment2_metrics",
                    "experiment2_runs": "experiment2_metrics_by_seed",
                    "scale": "params:scale",
                },
                "talk_seeds_plot",
                name="plot_talk_seeds",
                namespace=REPORT,
            ),
            Node(
                check_claims,
                ["imm_details", "params:threshold", "params:bootstrap", "params:published"],
                "claims_metrics",
                name="check_claims",
                namespace=REPORT,
            ),
            Node(
                markdown_tables,
                {
                    "experiment1": "experiment1_metrics",
                    "experiment2": "experiment2_comparison_metrics",
                    "experiment2_out_of_core": "experiment2_out_of_core_comparison_metrics",
                    "experiment3": "experiment3_comparison_metrics",
                    "claims": "claims_metrics",
                    "thresholds": "thresholds_comparison_metrics",
                    "experiment2_across_seeds": "experiment2_seeds_metrics",
                    "experiment1_across_seeds": "experiment1_seeds_metrics",
                },
                "tables_markdown",
                name="write_markdown_tables",
                namespace=REPORT,
            ),
            Node(
                write_report,
                {
                    "scale": "params:scale",
                    "threshold_params": "params:threshold",
                    "training_metrics": "training_metrics",
                    "art_attacks_metrics": "art_attacks_metrics",
                    "autoattack_report": "autoattack_transfer_report",
                    "thresholds_table": "thresholds_comparison_metrics",
                    "experiment1": "experiment1_metrics",
                    "experiment2_table": "experiment2_comparison_metrics",
                    "experiment2_out_of_core_table": "experiment2_out_of_core_comparison_metrics",
                    "experiment3_table": "experiment3_comparison_metrics",
                    "experiment2": "experiment2_metrics",
                    "imm_details": "imm_details",
                    "thresholds": "thresholds",
                    "threshold_curves": "threshold_curves_metrics",
                    "threshold_bootstrap": "threshold_bootstrap_metrics",
                    "bootstrap_params": "params:bootstrap",
                    "experiment2_seeds": "experiment2_seeds_metrics",
                    "claims": "claims_metrics",
                    "published": "params:published",
                    "adaptive_metrics": "adaptive_metrics",
                    "seed": "params:seed",
                    "experiment2_runs": "experiment2_metrics_by_seed",
                },
                ["report", "headline_report"],
                name="write_report",
                namespace=REPORT,
            ),
        ],
        tags=list(TAGS),
    )
