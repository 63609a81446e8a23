"""Tests for the report's "Adaptive evaluation" section (report_lib.adaptive)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from logifold_kedro.report_lib.adaptive import adaptive_section, environment_statement

ROWS = [  # (kind, attack, setting)
    ("none", "clean", "-"),
    ("non-adaptive", "APGD vs U0", "strong"),
    ("non-adaptive", "APGD vs U1", "strong"),
    ("adaptive", "soft IMM", "strongest"),
    ("adaptive", "confident core", "strongest"),
]


def environment_rows(environment: str, imm: list[float], wrong: list[float], n: int = 100):
    soft = [np.nan, np.nan, np.nan, 0.05, np.nan]
    return pd.DataFrame(
        [
            {
                "environment": environment,
                "kind": kind,
                "attack": attack,
                "setting": setting,
                "n": n,
                "threshold": 0.5,
                "u2_available": True,
                "imm_accuracy": imm[i],
                "u1_accuracy": 0.5,
                "u2_accuracy": 0.6,
                "soft_imm_accuracy": soft[i],
                "u1_core_coverage": 0.4,
                "u1_core_accuracy": 0.7,
                "u1_core_size": 40,
                "wrong_in_core": wrong[i],
                "u1_mean_entropy": 0.6,
                "l2_mean": 0.0 if kind == "none" else 0.6,
            }
            for i, (kind, attack, setting) in enumerate(ROWS)
        ]
    )


def adaptive_metrics_frame() -> pd.DataFrame:
    """Union: the IMM breaks (0.80 -> 0.30) and the gate is fooled; weak: it holds; strong:
    U2' skipped."""
    union = environment_rows("union", [0.9, 0.8, 0.82, 0.5, 0.3], [0.02, 0.05, 0.04, 0.1, 0.5])
    weak = environment_rows("weak", [0.9, 0.7, 0.72, 0.68, 0.69], [0.02, 0.1, 0.1, 0.12, 0.11])
    strong = environment_rows("strong", [np.nan] * 5, [0.0] * 5).assign(u2_available=False)
    return pd.concat([union, weak, strong], ignore_index=True)


def test_statement_says_when_the_imm_does_not_hold_and_the_gate_is_fooled():
    table = adaptive_metrics_frame()
    text = environment_statement(table[table["environment"] == "union"])
    assert "does **not** hold" in text
    assert "falls to 0.300 (confident core, strongest) from 0.800" in text
    assert "50.0% of the images wrongly labelled inside U1's core" in text
    assert "**fooled**" in text
    # the soft IMM fell far lower than the hard one on its own images: said, with the caution
    assert "soft IMM to 0.050 and the hard IMM to 0.500" in text and "not that no attack" in text


def test_statement_says_when_the_imm_holds_within_two_standard_errors():
    table = adaptive_metrics_frame()
    text = environment_statement(table[table["environment"] == "weak"])
    assert "the IMM holds" in text and "0.680 (soft IMM, strongest)" in text
    assert "gate is not fooled" in text
    # the same drop on 5 images is within the noise, on 10,000 it is not
    small = environment_rows("x", [0.9, 0.8, 0.8, 0.6, 0.7], [0.0, 0.2, 0.2, 0.2, 0.4], n=5)
    large = small.assign(n=10_000)
    assert "the IMM holds" in environment_statement(small)
    assert "does **not** hold" in environment_statement(large)


def test_skipped_environment_and_section_layout():
    table = adaptive_metrics_frame()
    assert "skipped" in environment_statement(table[table["environment"] == "strong"])
    blocks = adaptive_section(table)
    text = "\n\n".join(blocks)
    assert blocks[0] == "## Adaptive evaluation"
    for env in ("union", "weak", "strong"):
        assert f"### IMM of {env} (t = 0.500)" in text
        assert f"- **{env}** (t = 0.500" in text
    assert "| attack" in text and "soft IMM acc" in text and "wrong in core" in text
    assert adaptive_section(table.iloc[:0])[-1] == "No adaptive attack was evaluated."


def test_statement_warns_when_the_clean_core_is_empty():
    rows = environment_rows("union", [0.9, 0.8, 0.82, 0.5, 0.3], [0.0] * 5)
    assert "core is empty" not in environment_statement(rows)
    rows.loc[rows["kind"] == "none", "u1_core_size"] = 0
    assert "core is empty on the clean images" in environment_statement(rows)
