"""The report's "Adaptive evaluation" section, from the `adaptive_metrics` table (framework-free).

Verdicts compare the IMM's worst accuracy under the adaptive attacks with its worst under the
non-adaptive ones on the same n images. A difference counts only beyond two standard errors of
the difference of two accuracies, ``2 sqrt(p1 (1 - p1) / n + p2 (1 - p2) / n)``
(``logifold.standard_errors.difference_half_width``), so a handful of demo images cannot
produce a verdict by chance; the same rule judges the confident-core attack by the fraction of
images it leaves wrongly labelled inside U1's core (``wrong_in_core``).
"""

from __future__ import annotations

import pandas as pd

from logifold_kedro.logifold.standard_errors import difference_half_width
from logifold_kedro.report_lib.tables import to_markdown

SHOWN_COLUMNS = {
    "attack": "attack",
    "setting": "setting",
    "imm_accuracy": "IMM acc",
    "u1_accuracy": "U1 acc",
    "u2_accuracy": "U2' acc",
    "soft_imm_accuracy": "soft IMM acc",
    "u1_core_coverage": "U1 core coverage",
    "u1_core_accuracy": "U1 core acc",
    "wrong_in_core": "wrong in core",
    "u1_mean_entropy": "mean H1",
    "l2_mean": "L2 mean",
}

INTRODUCTION = (
    "Does the IMM hold when the attacker knows the gate? Two adaptive attacks (ART APGD, L2) on "
    "the first n test images: APGD-CE against the **soft IMM** `g * U1 + (1 - g) * U2'`, "
    "`g = sigmoid((t - H1) / tau)` (a differentiable stand-in for the routing), and the "
    "**confident-core** attack, which maximises `CE(U1) - lambda * H1` to give U1 a wrong label "
    "inside its low-entropy core, where the IMM trusts U1. The numbers are those of the real, "
    "hard-routed IMM (`U1 if H1 <= t else U2'`) on the attacked images, beside the same IMM on "
    "the clean images and under the non-adaptive attacks of its environment (APGD vs U0, as in "
    "Experiment 2). "
    "*wrong in core*: fraction of images inside U1's core with a wrong U1 label (errors the gate "
    "cannot catch)."
)


def _named(row: pd.Series) -> str:
    return f"{row['attack']}, {row['setting']}"


def environment_statement(rows: pd.DataFrame) -> str:
    """Plain statement of what holds and what does not for one environment's IMM."""
    first = rows.iloc[0]
    environment, n, t = first["environment"], int(first["n"]), float(first["threshold"])
    head = f"**{environment}** (t = {t:.3f}, n = {n})"
    if not bool(rows["u2_available"].all()):
        return f"{head}: U2' was skipped by the u2 policy, so there is no IMM to evaluate."
    clean = rows[rows["kind"] == "none"].iloc[0]
    non_adaptive = rows[rows["kind"] == "non-adaptive"]
    adaptive = rows[rows["kind"] == "adaptive"]
    worst_non = non_adaptive.loc[non_adaptive["imm_accuracy"].idxmin()]
    worst_ada = adaptive.loc[adaptive["imm_accuracy"].idxmin()]
    p_non, p_ada = float(worst_non["imm_accuracy"]), float(worst_ada["imm_accuracy"])
    margin = difference_half_width(p_non, p_ada, n)
    drop = p_non - p_ada
    if drop > margin:
        verdict = (
            f"the IMM does **not** hold against the adaptive attacks: its accuracy falls to "
            f"{p_ada:.3f} ({_named(worst_ada)}) from {p_non:.3f} under the worst non-adaptive "
            f"attack ({_named(worst_non)}), a drop of {drop:.3f}, more than two standard errors "
            f"({margin:.3f})"
        )
    else:
        verdict = (
            f"the IMM holds against the adaptive attacks: its worst accuracy under them, "
            f"{p_ada:.3f} ({_named(worst_ada)}), is within two standard errors ({margin:.3f}) "
            f"of or above its worst under the non-adaptive attacks, {p_non:.3f} "
            f"({_named(worst_non)})"
        )
    sentences = [f"{head}: {verdict}; clean accuracy {float(clean['imm_accuracy']):.3f}."]
    if int(clean["u1_core_size"]) == 0:
        sentences.append(
            "U1's core is empty on the clean images at this threshold, so the IMM answers with "
            "U2' alone and its gate is hardly exercised: these verdicts say little about the gate."
        )

    core_attack = adaptive[adaptive["attack"] == "confident core"]
    if not core_attack.empty:
        worst_core = core_attack.loc[core_attack["wrong_in_core"].idxmax()]
        w_ada = float(worst_core["wrong_in_core"])
        w_non = float(non_adaptive["wrong_in_core"].max())
        core_margin = difference_half_width(w_ada, w_non, n)
        fooled = w_ada - w_non > core_margin
        core_accuracy = worst_core["u1_core_accuracy"]
        core_text = "empty core" if pd.isna(core_accuracy) else f"core accuracy {core_accuracy:.3f}"
        sentences.append(
            f"The confident-core attack ({worst_core['setting']}) leaves {w_ada:.1%} of the images "
            f"wrongly labelled inside U1's core ({core_text} on {int(worst_core['u1_core_size'])} "
            f"images), against at most {w_non:.1%} under the non-adaptive attacks: the entropy "
            + (
                "gate is **fooled** (more than two standard errors)."
                if fooled
                else f"gate is not fooled beyond two standard errors ({core_margin:.1%})."
            )
        )
    soft = adaptive[adaptive["attack"] == "soft IMM"]
    if not soft.empty and soft["soft_imm_accuracy"].notna().any():
        weakest = soft.loc[soft["soft_imm_accuracy"].idxmin()]
        sentences.append(
            f"Against its own target the soft-IMM attack ({weakest['setting']}) brings the soft "
            f"IMM to {float(weakest['soft_imm_accuracy']):.3f} and the hard IMM to "
            f"{float(weakest['imm_accuracy']):.3f} on the same images"
            + (
                " (a much higher hard accuracy means the hard routing resists what fools its "
                "smooth stand-in, not that no attack exists)."
                if float(weakest["imm_accuracy"]) - float(weakest["soft_imm_accuracy"]) > margin
                else "."
            )
        )
    return " ".join(sentences)


def adaptive_section(adaptive_metrics: pd.DataFrame) -> list[str]:
    """Markdown blocks of the "Adaptive evaluation" section: introduction, verdicts, and one
    table per environment."""
    blocks = ["## Adaptive evaluation", INTRODUCTION]
    if adaptive_metrics.empty:
        return [*blocks, "No adaptive attack was evaluated."]
    environments = list(dict.fromkeys(adaptive_metrics["environment"]))
    blocks += [
        "\n".join(
            f"- {environment_statement(adaptive_metrics[adaptive_metrics['environment'] == env])}"
            for env in environments
        )
    ]
    columns = [c for c in SHOWN_COLUMNS if c in adaptive_metrics.columns]
    for env in environments:
        rows = adaptive_metrics[adaptive_metrics["environment"] == env]
        blocks += [
            f"### IMM of {env} (t = {float(rows['threshold'].iloc[0]):.3f})",
            to_markdown(rows[columns].rename(columns=SHOWN_COLUMNS)),
        ]
    return blocks
