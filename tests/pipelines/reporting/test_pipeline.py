"""The reporting stage as a user runs it, on tiny data."""

from __future__ import annotations

from tests.pipelines.conftest import load


def test_report_tables_and_figures(reported):
    root = reported / "data" / "08_reporting" / "tiny"
    reports = list(root.glob("report.md/*/report.md"))
    assert len(reports) == 1
    text = reports[0].read_text()
    for heading in ("Experiment 1", "Experiment 2", "Experiment 3", "Thresholds", "Adaptive"):
        assert heading in text
    assert "CPU demo scale" in text
    pngs = list(root.glob("figures/**/*.png"))
    assert len(pngs) >= 9
    assert all(p.stat().st_size > 1000 for p in pngs)
    comparison = load(reported, "experiment2_comparison_metrics")
    assert {"imm_accuracy_ours", "imm_accuracy_published", "imm_accuracy_diff"} <= set(
        comparison.columns
    )
