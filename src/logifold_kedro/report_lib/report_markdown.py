"""The Markdown of ``report.md``, the report a reader opens first, and of ``tables.md``: sections
in reading order, tables rendered by ``tables.to_markdown``, figures embedded as PNG data so the
report opens anywhere on its own."""

from __future__ import annotations

import base64
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from logifold_kedro.logifold.claims import VERDICTS

from .adaptive import adaptive_section
from .claims import claims_for_reading
from .comparisons import COUNT_COLUMNS
from .tables import as_counts, to_markdown
from .threshold_notes import unreached_threshold_notes


@dataclass(frozen=True)
class ReportTables:
    """The tables the report shows, as the reporting stage holds them.

    Attributes:
        training: ``training_metrics`` (U0).
        art_attacks: ``art_attacks_metrics``.
        autoattack: the AutoAttack transfer report (its list and dict values are not shown).
        thresholds: ``thresholds_comparison_metrics``.
        experiment1: ``experiment1_metrics``.
        experiment2: ``experiment2_comparison_metrics``.
        experiment2_out_of_core: ``experiment2_out_of_core_comparison_metrics``.
        experiment2_seeds: ``experiment2_seeds_metrics`` (mean and std across seeds).
        experiment3: ``experiment3_comparison_metrics``.
        claims: ``claims_metrics``.
        adaptive: ``adaptive_metrics``.
    """

    training: pd.DataFrame
    art_attacks: pd.DataFrame
    autoattack: dict[str, Any]
    thresholds: pd.DataFrame
    experiment1: pd.DataFrame
    experiment2: pd.DataFrame
    experiment2_out_of_core: pd.DataFrame
    experiment2_seeds: pd.DataFrame
    experiment3: pd.DataFrame
    claims: pd.DataFrame
    adaptive: pd.DataFrame


@dataclass(frozen=True)
class ReportFigures:
    """The figures the report embeds, each where its section shows it.

    Attributes:
        threshold_bootstrap: the selected thresholds' bootstrap distribution.
        accuracy: Experiment 2's accuracies.
        threshold_panels: per environment, the threshold sweep on validation and test.
        entropy: per environment, U1's entropy on and off its core.
        talk: the figures for slides, in display order.
    """

    threshold_bootstrap: Figure
    accuracy: Figure
    threshold_panels: Sequence[Figure]
    entropy: Sequence[Figure]
    talk: Sequence[Figure]


def embedded_png(figure: Figure) -> str:
    """A Markdown image holding the PNG itself, so the report opens anywhere on its own."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    encoded = base64.b64encode(buffer.getvalue()).decode("ascii")
    return f"![figure](data:image/png;base64,{encoded})"


def _header(scale: str, threshold_params: Mapping[str, Any]) -> list[str]:
    blocks = [
        "# Logifold / IMM report",
        f"Scale: **{scale}**. Threshold target core accuracy: **{threshold_params['target']}** "
        "(scan {start} down to {stop}, step {step}, min core {min_core}).".format(
            **threshold_params
        ),
    ]
    if scale != "paper":
        blocks.append(
            f"> **CPU scale ({scale}).** Models of reduced depth and width trained for a few "
            "epochs, fewer APGD restarts, a WideResNet surrogate trained here instead of "
            "RobustBench's pretrained one, AutoAttack and the adaptive attacks on part of the test "
            "images, and the threshold target above. The published columns are the paper's "
            "numbers at full scale: compare the direction of each finding (the claims table, with "
            "its intervals), not the values. Run `kedro run --env paper` on a GPU for comparable "
            "numbers."
        )
    return blocks


def _uncertainty(bootstrap_params: Mapping[str, Any]) -> str:
    return (
        "Every accuracy and coverage below is shown as `value [low, high]`: a "
        f"{bootstrap_params.get('confidence', 0.95):.0%} percentile bootstrap interval over the "
        f"test images ({bootstrap_params.get('n_resamples', 1000)} resamples, seed "
        f"{bootstrap_params.get('seed', 0)}; the numbers of one row share resamples). It covers "
        "the sampling of test images only, not training randomness: for that, compare seeds "
        "(docs/uncertainty.md). Thresholds carry the interval of their bootstrap "
        "distribution over the validation set (figure below)."
    )


def seeds_note(experiment2_seeds: pd.DataFrame) -> str:
    """What the across-seeds table shows: no spread yet with one seed, else which seeds."""
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


def claims_section(
    claims: pd.DataFrame,
    threshold_params: Mapping[str, Any],
    bootstrap_params: Mapping[str, Any],
    published: Mapping[str, Any],
) -> list[str]:
    """Markdown blocks of "The paper's claims, checked": how to read a row, the tally of the
    verdicts and the claims table (differences signed, four decimals)."""
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


TALK_INTRODUCTION = (
    "Large type, colour-blind-safe colours, accuracies in percent; saved at a higher "
    "resolution under `figures/talk/` (catalog entries `talk_accuracy_plots`, "
    "`talk_entropy_plot`, `talk_adaptive_plot`, `talk_seeds_plot`; docs/figures.md): "
    "Experiment 2 per evaluation set with the bootstrap intervals and the paper's values, "
    "U1's entropy with the chosen t, the IMM under the adaptive attacks, and the spread of "
    "Experiment 2 across seeds."
)
OUT_OF_CORE_INTRODUCTION = (
    "U1's accuracy off its core, U2''s accuracy on U1's out-of-core images, and U2''s own "
    "core (U2' entropy <= t) within them: its coverage and accuracy. Counts are numbers of "
    "images (`n`: the evaluation set; `*_size`: the set each ratio is over), ours beside the "
    "paper's; ratios carry our bootstrap interval."
)
EXPERIMENT3_INTRODUCTION = (
    "Totals are sums over different numbers of images (our `n` against the paper's), so they "
    "stand side by side; the difference is taken of the mean entropy per image "
    "(total / n, ours with its bootstrap interval) and of the reduction "
    "1 - IMM total / U1 total."
)


def report_markdown(
    scale: str,
    threshold_params: Mapping[str, Any],
    bootstrap_params: Mapping[str, Any],
    published: Mapping[str, Any],
    tables: ReportTables,
    figures: ReportFigures,
) -> str:
    """``report.md``: the run's scale and threshold settings (a CPU-scale warning below the
    paper's scale), the base models and attacks, what the intervals cover, the thresholds,
    Experiments 1 to 3, the claims checked, the threshold and entropy figures, the adaptive
    evaluation and the figures for slides; blocks separated by a blank line."""
    autoattack = {k: v for k, v in tables.autoattack.items() if not isinstance(v, (list, dict))}
    sections = [
        *_header(scale, threshold_params),
        "## Base models (U0)",
        to_markdown(tables.training),
        "## APGD attacks (white-box, ART)",
        to_markdown(tables.art_attacks),
        "## AutoAttack transfer set",
        to_markdown(pd.DataFrame([autoattack])),
        "## Uncertainty",
        _uncertainty(bootstrap_params),
        "## Thresholds chosen on validation",
        to_markdown(tables.thresholds),
        *unreached_threshold_notes(tables.thresholds),
        embedded_png(figures.threshold_bootstrap),
        "## Experiment 1: entropy and accuracy of single models and committees",
        to_markdown(tables.experiment1.drop(columns=["image_set"], errors="ignore")),
        "## Experiment 2: generations and IMM (ours, published, difference)",
        to_markdown(tables.experiment2),
        embedded_png(figures.accuracy),
        "### U1's out-of-core set and U2' on it (ours, published, difference)",
        OUT_OF_CORE_INTRODUCTION,
        to_markdown(as_counts(tables.experiment2_out_of_core, COUNT_COLUMNS)),
        "## Experiment 2 across seeds (mean ± std)",
        seeds_note(tables.experiment2_seeds),
        to_markdown(tables.experiment2_seeds),
        "## Experiment 3: total entropy",
        EXPERIMENT3_INTRODUCTION,
        to_markdown(as_counts(tables.experiment3, COUNT_COLUMNS)),
        *claims_section(tables.claims, threshold_params, bootstrap_params, published),
        "## Core against the threshold (validation, where t is chosen; test beside it)",
        *(embedded_png(figure) for figure in figures.threshold_panels),
        "## Entropy of core and out-of-core samples (test)",
        *(embedded_png(figure) for figure in figures.entropy),
        *adaptive_section(tables.adaptive),
        "## Figures for a talk",
        TALK_INTRODUCTION,
        *(embedded_png(figure) for figure in figures.talk),
    ]
    return "\n\n".join(sections) + "\n"


def tables_document(tables: Mapping[str, pd.DataFrame]) -> str:
    """All comparison tables as one Markdown document, a ``## <name>`` section per table (for
    pasting into papers and issues)."""
    return (
        "\n\n".join(f"## {name}\n\n{to_markdown(table)}" for name, table in tables.items()) + "\n"
    )
