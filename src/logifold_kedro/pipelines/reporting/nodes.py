"""Nodes of the reporting stage. They import neither TensorFlow nor torch: everything is read
from stored tables and per-sample arrays."""

from __future__ import annotations

import base64
import io
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
from logifold_kedro.logifold.threshold import threshold_curve, threshold_grid
from logifold_kedro.pipelines.naming import ENVIRONMENTS, EXPERIMENT1_MEASURES, U2_ENVIRONMENTS
from logifold_kedro.report_lib.adaptive import adaptive_section
from logifold_kedro.report_lib.claims import claims_for_reading, claims_table
from logifold_kedro.report_lib.figures import (
    entropy_histogram,
    grouped_accuracy_bars,
    threshold_distribution_figure,
    threshold_figure,
    threshold_figure_panels,
)
from logifold_kedro.report_lib.tables import (
    across_seeds,
    as_counts,
    compare_with_published,
    to_markdown,
)
from logifold_kedro.report_lib.talk_figures import (
    EntropyPanel,
    accuracy_interval_bars,
    adaptive_accuracy_figure,
    entropy_threshold_panels,
    evaluation_name,
    seed_spread_figure,
)

logger = logging.getLogger(__name__)

EXPERIMENT2_METRICS = [
    "threshold",
    "u0_accuracy",
    "u1_accuracy",
    "u2_accuracy",
    "all_accuracy",
    "imm_accuracy",
    "u1_core_accuracy",
    "u1_core_coverage",
]
#: Experiment 2 beyond the main table: U1's core and out-of-core, and U2' on U1's out-of-core
#: set with its own core there (coverage, accuracy and the counts behind them).
EXPERIMENT2_OUT_OF_CORE_METRICS = [
    "n",
    "u1_core_size",
    "u1_out_of_core_accuracy",
    "u1_out_of_core_size",
    "u2_accuracy_on_u1_out_of_core",
    "u2_core_coverage_in_u1_out_of_core",
    "u2_core_accuracy_in_u1_out_of_core",
    "u2_core_size_in_u1_out_of_core",
]
#: Numbers of images: ours and the paper's side by side, no difference (the sets differ in size).
EXPERIMENT2_COUNTS = ["n", "u1_core_size", "u1_out_of_core_size", "u2_core_size_in_u1_out_of_core"]
#: Experiment 3: totals side by side; mean entropy per image and the reduction compared.
EXPERIMENT3_TOTALS = ["n", "u1_total_entropy", "imm_total_entropy"]
EXPERIMENT3_COMPARED = ["u1_mean_entropy", "imm_mean_entropy", "reduction"]
#: Comparison-table columns that hold numbers of images (shown as whole numbers).
COUNT_COLUMNS = [
    f"{count}_{side}" for count in EXPERIMENT2_COUNTS for side in ("ours", "published")
]
#: Evaluation sets of the claims, in the order the claims table lists them.
CLAIM_EVALUATIONS = ("test", "autoattack")
EXPERIMENT1_KEYS = ["kind", "target", "condition"]
EXPERIMENT2_KEYS = ["environment", "evaluation"]
GROUP_COLUMNS = {
    "u0_accuracy": "U0",
    "u1_accuracy": "U1",
    "u2_accuracy": "U2'",
    "all_accuracy": "all 16",
    "imm_accuracy": "IMM",
}


def compare_experiment2(experiment2: pd.DataFrame, published: dict[str, Any]) -> pd.DataFrame:
    """Experiment 2 (per environment and evaluation set) beside the published numbers."""
    return compare_with_published(
        experiment2,
        pd.DataFrame(published["experiment2"]),
        ["environment", "evaluation"],
        EXPERIMENT2_METRICS,
    )


def compare_experiment2_out_of_core(
    experiment2: pd.DataFrame, published: dict[str, Any]
) -> pd.DataFrame:
    """The rest of Experiment 2 beside the published numbers: U1's out-of-core accuracy, U2''s
    accuracy on U1's out-of-core set and U2''s own core within it (coverage, accuracy), with
    the numbers of images behind each (``n``, ``*_size``: ours and the paper's, no
    difference)."""
    table = compare_with_published(
        experiment2,
        pd.DataFrame(published["experiment2"]),
        EXPERIMENT2_KEYS,
        EXPERIMENT2_OUT_OF_CORE_METRICS,
        without_difference=EXPERIMENT2_COUNTS,
    )
    return as_counts(table, COUNT_COLUMNS)


def _with_mean_entropies(totals: pd.DataFrame) -> pd.DataFrame:
    """Mean entropy per image ``total / n`` and ``reduction = 1 - imm_total / u1_total`` where
    a table has the totals but not these (the published rows; an older run's table)."""
    table = totals.copy()
    for system in ("u1", "imm"):
        if f"{system}_mean_entropy" not in table.columns:
            n = table["n"] if "n" in table.columns else np.nan
            table[f"{system}_mean_entropy"] = table[f"{system}_total_entropy"] / n
    if "reduction" not in table.columns:
        table["reduction"] = 1 - table["imm_total_entropy"] / table["u1_total_entropy"]
    return table


def compare_experiment3(experiment3: pd.DataFrame, published: dict[str, Any]) -> pd.DataFrame:
    """Total entropy U1 -> IMM beside the published numbers.

    The totals and ``n`` stand side by side without a difference: a total over our images and
    one over the paper's are sums over different numbers of images. What is compared
    (ours, published, difference) is the mean entropy per image, ``total / n`` (ours with its
    bootstrap interval), and the reduction ``1 - imm_total / u1_total``.
    """
    table = compare_with_published(
        _with_mean_entropies(experiment3),
        _with_mean_entropies(pd.DataFrame(published["experiment3"])),
        EXPERIMENT2_KEYS,
        [*EXPERIMENT3_TOTALS, *EXPERIMENT3_COMPARED],
        without_difference=EXPERIMENT3_TOTALS,
    )
    return as_counts(table, COUNT_COLUMNS)


def compare_thresholds(thresholds: dict[str, Any], published: dict[str, Any]) -> pd.DataFrame:
    """The thresholds chosen on validation beside the published ones."""
    ours = pd.DataFrame(
        [{"environment": env, **selection} for env, selection in thresholds.items()]
    )
    table = compare_with_published(
        ours, pd.DataFrame(published["thresholds"]), ["environment"], ["threshold"]
    )
    columns = ["environment", "reached", "target", "core_accuracy", "core_coverage", "reason"]
    # Older thresholds.json versions predate the scan's best core accuracy.
    columns += [c for c in ("best_core_accuracy", "best_core_threshold") if c in ours]
    return table.merge(ours[columns], on="environment")


def unreached_threshold_reasons(thresholds: pd.DataFrame) -> dict[str, str]:
    """Per environment whose threshold stayed 0: ``threshold 0 (<reason>): <how close
    validation came>``, the text of :func:`unreached_threshold_notes` (the entropy figure
    writes it in the environment's panel).

    The best core accuracy is the highest the scan met on a core of at least ``min_core``
    validation images; without it (a core that was never large enough) the text says so.
    """
    reasons = {}
    recorded = "best_core_accuracy" in thresholds.columns
    for row in thresholds.itertuples(index=False):
        if bool(row.reached):
            continue
        best = row.best_core_accuracy if recorded else float("nan")
        if not recorded:
            why = "this thresholds version predates the record of the best core accuracy"
        elif best is None or pd.isna(best):
            why = "no core of the minimum size formed on validation"
        else:
            why = (
                f"the best core accuracy validation reached was {best:.4f} "
                f"(at t = {row.best_core_threshold:.2f}), below the target {row.target:.2f}"
            )
        reasons[row.environment] = f"threshold 0 ({row.reason}): {why}"
    return reasons


def unreached_threshold_notes(thresholds: pd.DataFrame) -> list[str]:
    """One sentence per environment whose threshold stayed 0: how close validation came
    (:func:`unreached_threshold_reasons`)."""
    return [
        f"- **{environment}**: {reason}. Its core is empty, so U1 decides nothing there and the "
        "IMM is U2' alone."
        for environment, reason in unreached_threshold_reasons(thresholds).items()
    ]


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


def _details_for(details: dict[str, Any], environment: str, evaluation: str) -> dict[str, Any]:
    prefix = f"{environment}.{evaluation}."
    return {k[len(prefix) :]: v for k, v in details.items() if k.startswith(prefix)}


def threshold_figures(
    imm_details: dict[str, Any], threshold_params: dict[str, Any]
) -> dict[str, Figure]:
    """Per environment (test): core / out-of-core coverage and accuracy against the threshold."""
    grid = threshold_grid(
        threshold_params["start"], threshold_params["stop"], threshold_params["step"]
    )
    figures = {}
    for environment in ("clean", "weak", "strong", "union"):
        arrays = _details_for(imm_details, environment, "test")
        if not arrays:
            continue
        curve = threshold_curve(arrays["u1_entropy"], arrays["u1_pred"], arrays["labels"], grid)
        figures[f"threshold_{environment}.png"] = threshold_figure(
            curve,
            float(arrays["threshold"]),
            f"U1 core against the threshold: {environment} (test)",
        )
    return figures


def _validation_curves(
    threshold_curves: pd.DataFrame, thresholds: dict[str, Any]
) -> dict[str, tuple[pd.DataFrame, float]]:
    """Per environment: its validation curve (``select_thresholds``'s scan) and its chosen t."""
    curves = {}
    for environment in ENVIRONMENTS:
        rows = threshold_curves[threshold_curves["environment"] == environment]
        if rows.empty or environment not in thresholds:
            continue
        chosen = float(thresholds[environment]["threshold"])
        curves[environment] = (rows.drop(columns=["environment"]), chosen)
    return curves


def _validation_title(environment: str) -> str:
    return f"U1 core against the threshold: {environment} (validation, where t is chosen)"


def validation_threshold_figures(
    threshold_curves: pd.DataFrame, thresholds: dict[str, Any]
) -> dict[str, Figure]:
    """Per environment (validation, where the threshold is chosen): core / out-of-core coverage
    and accuracy against the threshold, the chosen t marked, from the curves the selection
    scanned (``threshold_curves_metrics``)."""
    return {
        f"threshold_{environment}.png": threshold_figure(curve, t, _validation_title(environment))
        for environment, (curve, t) in _validation_curves(threshold_curves, thresholds).items()
    }


def threshold_panels(
    threshold_curves: pd.DataFrame,
    thresholds: dict[str, Any],
    imm_details: dict[str, Any],
    threshold_params: dict[str, Any],
) -> dict[str, Figure]:
    """Per environment one figure: the validation sweep (chosen t marked) and, beside it, the
    same U1 core on test with that t."""
    grid = threshold_grid(
        threshold_params["start"], threshold_params["stop"], threshold_params["step"]
    )
    figures = {}
    for environment, (curve, t) in _validation_curves(threshold_curves, thresholds).items():
        panels = [(curve, t, _validation_title(environment))]
        arrays = _details_for(imm_details, environment, "test")
        if arrays:
            test_curve = threshold_curve(
                arrays["u1_entropy"], arrays["u1_pred"], arrays["labels"], grid
            )
            panels.append(
                (test_curve, float(arrays["threshold"]), f"{environment} (test, the same t)")
            )
        figures[f"threshold_{environment}.png"] = threshold_figure_panels(panels)
    return figures


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
            arrays = _details_for(imm_details, environment, evaluation)
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


def _claims_section(
    claims: pd.DataFrame,
    threshold_params: dict[str, Any],
    bootstrap_params: dict[str, Any],
    published: dict[str, Any],
) -> list[str]:
    confidence = float(bootstrap_params.get("confidence", 0.95))
    counts = claims["verdict"].value_counts()
    tally = ", ".join(f"{int(counts.get(v, 0))} {v}" for v in VERDICTS)
    return [
        "## The paper's claims, checked",
        "Each row compares A with B on the same images, as the difference A - B with its "
        f"{confidence:.0%} paired bootstrap interval (the resamples of the tables above): "
        "IMM accuracy against U0, U1, U2' and the all-16 ensemble (per-image correctness); U1's "
        f"core accuracy against the threshold target (ours {threshold_params['target']}, the "
        f"paper's {published.get('threshold_target', '-')}; an empty core leaves it "
        "undefined) and against U1's accuracy on the whole set (is the core more reliable than "
        "the set it is drawn from: the only claims on clean, which has no U2'); the IMM's "
        "entropy against U1's, as means per image (total / n). "
        "**The claim is written in the direction the paper's own numbers show** for that "
        "environment and evaluation set: on the AutoAttack set the paper's IMM is below U1 and "
        "below the all-16 ensemble, so those rows read `IMM accuracy < ...`. Where the paper "
        "publishes no such numbers (no union row on the AutoAttack set, no total entropy there) "
        "the claim takes the paper's thesis (the IMM above each committee, U1's core above its "
        "target, the IMM less uncertain than U1) and the paper's outcome says *not published*. "
        f"**Verdict**: *holds* when our interval lies strictly on the paper's side of 0, "
        "*fails* when it lies strictly on the other side, *not resolved* when it contains 0 or "
        "is undefined (an empty core, no U2').",
        f"Verdicts: {tally} (of {len(claims)}).",
        to_markdown(claims_for_reading(claims, confidence), floatfmt="+.4f"),
    ]


def entropy_figures(imm_details: dict[str, Any]) -> dict[str, Figure]:
    """Per environment (test): U1 committee entropy of core against out-of-core samples."""
    figures = {}
    for environment in ("clean", "weak", "strong", "union"):
        arrays = _details_for(imm_details, environment, "test")
        if not arrays:
            continue
        core = arrays["u1_entropy"] <= float(arrays["threshold"])
        figures[f"entropy_{environment}.png"] = entropy_histogram(
            arrays["u1_entropy"], core, f"U1 committee entropy: {environment} (test)"
        )
    return figures


def accuracy_figure(experiment2: pd.DataFrame) -> Figure:
    """Accuracy of U0 / U1 / U2' / all 16 / IMM per environment and evaluation set."""
    table = (
        experiment2.assign(
            label=experiment2["environment"]
            + np.where(
                experiment2["evaluation"] == "test", "", " (" + experiment2["evaluation"] + ")"
            )
        )
        .set_index("label")[list(GROUP_COLUMNS)]
        .rename(columns=GROUP_COLUMNS)
    )
    return grouped_accuracy_bars(table, "Accuracy per environment (test and AutoAttack transfer)")


def threshold_bootstrap_figure(
    threshold_bootstrap: pd.DataFrame, bootstrap_params: dict[str, Any]
) -> Figure:
    """How much the selected threshold moves when the validation set is resampled."""
    return threshold_distribution_figure(
        threshold_bootstrap, float(bootstrap_params.get("confidence", 0.95))
    )


def _run_label(scale: str, seed: int) -> str:
    return f"{scale} scale, seed {seed}"


def talk_accuracy_figures(
    experiment2_table: pd.DataFrame, bootstrap_params: dict[str, Any], scale: str, seed: int
) -> dict[str, Figure]:
    """Per evaluation set (test, AutoAttack), for slides: U0, U1, U2', all 16 and the IMM per
    environment from ``experiment2_comparison_metrics``, each with its bootstrap interval and
    the paper's value marked."""
    confidence = float(bootstrap_params.get("confidence", 0.95))
    figures = {}
    for evaluation in dict.fromkeys(experiment2_table["evaluation"]):
        rows = experiment2_table[experiment2_table["evaluation"] == evaluation]
        figures[f"accuracy_{evaluation}.png"] = accuracy_interval_bars(
            rows.reset_index(drop=True),
            f"Experiment 2 accuracy, {evaluation_name(evaluation)} ({_run_label(scale, seed)})",
            confidence,
        )
    return figures


def talk_entropy_figure(
    imm_details: dict[str, Any], thresholds_table: pd.DataFrame, scale: str, seed: int
) -> Figure:
    """For slides, one panel per environment: U1's committee entropy on the test images (right
    and wrong labels) and the chosen t; a t of 0 carries the report's explanation, an
    environment absent from ``imm_details`` says it was not evaluated."""
    reasons = unreached_threshold_reasons(thresholds_table)
    panels = []
    for environment in ENVIRONMENTS:
        arrays = _details_for(imm_details, environment, "test")
        if not arrays:
            note = f"{environment}: not evaluated on the test images in this run."
            panels.append(EntropyPanel(environment, None, None, None, note))
            continue
        t = float(arrays["threshold"])
        note = ""
        if t == 0:
            reason = reasons.get(environment, "threshold 0")
            note = f"{reason}. Its core is empty, so U1 decides nothing here."
        panels.append(
            EntropyPanel(environment, arrays["u1_entropy"], arrays["u1_correct"], t, note)
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


def talk_figures(
    experiment2_table: pd.DataFrame,
    imm_details: dict[str, Any],
    thresholds_table: pd.DataFrame,
    adaptive_metrics: pd.DataFrame,
    experiment2: pd.DataFrame,
    experiment2_runs: dict[str, Any],
    bootstrap_params: dict[str, Any],
    scale: str,
    seed: int,
) -> list[Figure]:
    """Every figure for slides, in the order the report shows them."""
    return [
        *talk_accuracy_figures(experiment2_table, bootstrap_params, scale, seed).values(),
        talk_entropy_figure(imm_details, thresholds_table, scale, seed),
        talk_adaptive_figure(adaptive_metrics, scale, seed),
        talk_seed_figure(seed, experiment2, experiment2_runs, scale),
    ]


def _seeds_note(experiment2_seeds: pd.DataFrame) -> str:
    seeds = sorted(
        {s for cell in experiment2_seeds["seeds"] for s in str(cell).split(", ")}, key=int
    )
    if len(seeds) < 2:
        return (
            f"One seed so far ({', '.join(seeds)}): no spread yet. Run the chain for more seeds "
            "(`kedro run --params seed=7`, ...; docs/uncertainty.md) and this table shows the "
            "mean and standard deviation over all of them."
        )
    return (
        f"Over the runs of seeds {', '.join(seeds)} (the latest version of each): the spread "
        "that training and attack randomness give, beside the single-seed numbers above."
    )


def _embedded_png(figure: Figure) -> str:
    """A Markdown image holding the PNG itself, so the report opens anywhere on its own."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    encoded = base64.b64encode(buffer.getvalue()).decode("ascii")
    return f"![figure](data:image/png;base64,{encoded})"


def _metric_json(table: pd.DataFrame) -> dict[str, Any]:
    return {"columns": list(table.columns), "rows": table.to_dict("records")}


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
    """The report a reader opens first (Markdown with the figures embedded) and a JSON summary of
    the headline numbers for kedro-viz.

    The figures are drawn again here (figure datasets cannot be loaded back), from the same data
    and functions as the figure nodes; the threshold sweeps show validation (where t is chosen)
    and test side by side. The figures for slides (``talk_*``) close the report.
    """
    threshold_plots = threshold_panels(threshold_curves, thresholds, imm_details, threshold_params)
    entropy_plots = entropy_figures(imm_details)
    accuracy_plot = accuracy_figure(experiment2)
    cpu_scale = scale != "paper"
    sections = [
        "# Logifold / IMM report",
        f"Scale: **{scale}**. Threshold target core accuracy: **{threshold_params['target']}** "
        "(scan {start} down to {stop}, step {step}, min core {min_core}).".format(
            **threshold_params
        ),
    ]
    if cpu_scale:
        sections.append(
            f"> **CPU scale ({scale}).** Models of reduced depth and width trained for a few "
            "epochs, fewer APGD restarts, a WideResNet surrogate trained here instead of "
            "RobustBench's pretrained one, AutoAttack and the adaptive attacks on part of the test "
            "images, and the threshold target above. The published columns are the paper's "
            "numbers at full scale: compare the direction of each finding (the claims table, with "
            "its intervals), not the values. Run `kedro run --env paper` on a GPU for comparable "
            "numbers."
        )
    sections += [
        "## Base models (U0)",
        to_markdown(training_metrics),
        "## APGD attacks (white-box, ART)",
        to_markdown(art_attacks_metrics),
        "## AutoAttack transfer set",
        to_markdown(
            pd.DataFrame(
                [{k: v for k, v in autoattack_report.items() if not isinstance(v, (list, dict))}]
            )
        ),
        "## Uncertainty",
        "Every accuracy and coverage below is shown as `value [low, high]`: a "
        f"{bootstrap_params.get('confidence', 0.95):.0%} percentile bootstrap interval over the "
        f"test images ({bootstrap_params.get('n_resamples', 1000)} resamples, seed "
        f"{bootstrap_params.get('seed', 0)}; the numbers of one row share resamples). It covers "
        "the sampling of test images only, not training randomness: for that, compare seeds "
        "(docs/uncertainty.md). Thresholds carry the interval of their bootstrap "
        "distribution over the validation set (figure below).",
        "## Thresholds chosen on validation",
        to_markdown(thresholds_table),
        *unreached_threshold_notes(thresholds_table),
        _embedded_png(threshold_bootstrap_figure(threshold_bootstrap, bootstrap_params)),
        "## Experiment 1: entropy and accuracy of single models and committees",
        to_markdown(experiment1.drop(columns=["image_set"], errors="ignore")),
        "## Experiment 2: generations and IMM (ours, published, difference)",
        to_markdown(experiment2_table),
        _embedded_png(accuracy_plot),
        "### U1's out-of-core set and U2' on it (ours, published, difference)",
        "U1's accuracy off its core, U2''s accuracy on U1's out-of-core images, and U2''s own "
        "core (U2' entropy <= t) within them: its coverage and accuracy. Counts are numbers of "
        "images (`n`: the evaluation set; `*_size`: the set each ratio is over), ours beside the "
        "paper's; ratios carry our bootstrap interval.",
        to_markdown(as_counts(experiment2_out_of_core_table, COUNT_COLUMNS)),
        "## Experiment 2 across seeds (mean ± std)",
        _seeds_note(experiment2_seeds),
        to_markdown(experiment2_seeds),
        "## Experiment 3: total entropy",
        "Totals are sums over different numbers of images (our `n` against the paper's), so they "
        "stand side by side; the difference is taken of the mean entropy per image "
        "(total / n, ours with its bootstrap interval) and of the reduction "
        "1 - IMM total / U1 total.",
        to_markdown(as_counts(experiment3_table, COUNT_COLUMNS)),
        *_claims_section(claims, threshold_params, bootstrap_params, published),
        "## Core against the threshold (validation, where t is chosen; test beside it)",
        *(_embedded_png(fig) for fig in threshold_plots.values()),
        "## Entropy of core and out-of-core samples (test)",
        *(_embedded_png(fig) for fig in entropy_plots.values()),
        *adaptive_section(adaptive_metrics),
        "## Figures for a talk",
        "Large type, colour-blind-safe colours, accuracies in percent; saved at a higher "
        "resolution under `figures/talk/` (catalog entries `talk_accuracy_plots`, "
        "`talk_entropy_plot`, `talk_adaptive_plot`, `talk_seeds_plot`; docs/figures.md): "
        "Experiment 2 per evaluation set with the bootstrap intervals and the paper's values, "
        "U1's entropy with the chosen t, the IMM under the adaptive attacks, and the spread of "
        "Experiment 2 across seeds.",
        *(
            _embedded_png(figure)
            for figure in talk_figures(
                experiment2_table,
                imm_details,
                thresholds_table,
                adaptive_metrics,
                experiment2,
                experiment2_runs,
                bootstrap_params,
                scale,
                seed,
            )
        ),
    ]
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
    summary = {k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in summary.items()}
    return "\n\n".join(sections) + "\n", summary


def markdown_tables(**tables: pd.DataFrame) -> str:
    """All comparison tables as one Markdown document (for pasting into papers and issues)."""
    return (
        "\n\n".join(f"## {name}\n\n{to_markdown(table)}" for name, table in tables.items()) + "\n"
    )
