"""The reporting stage as a user runs it, on tiny data."""

from __future__ import annotations

import base64

import numpy as np
import pandas as pd
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project

from logifold_kedro.pipelines import training
from logifold_kedro.pipelines.naming import model_entry
from tests.pipelines.conftest import TINY_WIRING as TINY
from tests.pipelines.conftest import load, open_catalog, project_copy, run_stage


def test_report_tables_and_figures(reported):
    root = reported / "data" / "08_reporting" / "tiny" / "seed42"
    reports = list(root.glob("report.md/*/report.md"))
    assert len(reports) == 1
    text = reports[0].read_text()
    for heading in ("Experiment 1", "Experiment 2", "Experiment 3", "Thresholds", "Adaptive"):
        assert heading in text
    assert "CPU scale (tiny)" in text
    pngs = list(root.glob("figures/**/*.png"))
    assert len(pngs) >= 9
    assert all(p.stat().st_size > 1000 for p in pngs)
    assert "0 [" in text or "1 [" in text  # values shown with their bootstrap intervals
    assert (root / "figures" / "threshold_bootstrap.png").is_dir()
    comparison = load(reported, "experiment2_comparison_metrics")
    assert {"imm_accuracy_ours", "imm_accuracy_published", "imm_accuracy_diff"} <= set(
        comparison.columns
    )
    # The validation sweeps (where t is chosen) and every Experiment 2 number.
    assert (root / "figures" / "validation_threshold").is_dir()
    assert "### U1's out-of-core set and U2' on it" in text
    out_of_core = load(reported, "experiment2_out_of_core_comparison_metrics")
    assert {"u2_accuracy_on_u1_out_of_core_published", "u1_out_of_core_size_ours"} <= set(
        out_of_core.columns
    )
    # The claims: 7 per environment with a U2' (union, weak, strong) on test and AutoAttack,
    # and the 2 about U1's core on clean (test only).
    claims = load(reported, "claims_metrics")
    assert len(claims) == 7 * 3 * 2 + 2
    assert set(claims["verdict"]) <= {"holds", "not resolved", "fails"}
    assert "## The paper's claims, checked" in text and "paper's outcome" in text
    # The figures for slides, each in its own versioned entry under figures/talk/.
    talk = root / "figures" / "talk"
    accuracy = sorted(p.name for p in talk.glob("accuracy/*/accuracy/*.png"))
    assert accuracy == ["accuracy_autoattack.png", "accuracy_test.png"]
    for name in ("entropy", "adaptive", "seeds"):
        assert len(list(talk.glob(f"{name}.png/*/{name}.png"))) == 1, name
    assert "## Figures for a talk" in text
    # kedro-viz shows each of them: the preview is a PNG (the set of accuracy figures as one).
    catalog = open_catalog(reported)
    for name in ("talk_accuracy_plots", "talk_entropy_plot", "talk_adaptive_plot"):
        preview = catalog.get(name).preview()
        assert base64.b64decode(preview).startswith(b"\x89PNG"), name


def save_as_seed(project, seed: int, name: str, table: pd.DataFrame) -> None:
    """Save a table through the catalog of another seed's run (`--params seed=<n>`)."""
    bootstrap_project(project)
    with KedroSession.create(
        project_path=project, env="tiny", runtime_params={"seed": seed}
    ) as session:
        session.load_context().catalog.save(name, table)


def test_seeds_keep_their_artifacts_apart_and_the_report_aggregates_them(reported, tmp_path):
    project = project_copy(reported, tmp_path)
    models = project / "data" / "06_models" / "tiny"
    name = TINY.u0_members[0]
    seed42_folder = models / "seed42" / "u0" / f"{name}.keras"
    seed42_versions = sorted(p.name for p in seed42_folder.iterdir())

    # Another seed trains its own models in its own folder and leaves seed 42's alone.
    one_model = training.create_pipeline().only_nodes_with_namespaces([f"u0.{name}"])
    run_stage(
        project,
        "training",
        runtime_params={"seed": 7},
        node_names=["make_splits", *(node.name for node in one_model.nodes)],
    )
    seed7_folder = models / "seed7" / "u0" / f"{name}.keras"
    assert len(list(seed7_folder.iterdir())) == 1
    assert sorted(p.name for p in seed42_folder.iterdir()) == seed42_versions
    weights = [
        load(project, model_entry("u0", name), runtime_params=params).get_weights()[0]
        for params in (None, {"seed": 7})
    ]
    assert not np.allclose(weights[0], weights[1]), "seed 7 trained like seed 42"

    # Seed 7's experiment tables (seed 42's with U1 0.1 lower, standing in for its later
    # stages; U1's accuracy is defined in every row, unlike the IMM's where U2' was skipped),
    # then seed 42's reporting aggregates the latest table of every seed folder.
    experiment2 = load(project, "experiment2_metrics")
    assert experiment2["u1_accuracy"].notna().all()
    save_as_seed(
        project,
        7,
        "experiment2_metrics",
        experiment2.assign(u1_accuracy=experiment2["u1_accuracy"] - 0.1),
    )
    save_as_seed(project, 7, "experiment1_metrics", load(project, "experiment1_metrics"))
    run_stage(project, "reporting")
    seeds = load(project, "experiment2_seeds_metrics")
    assert (seeds["n_seeds"] == 2).all() and (seeds["seeds"] == "7, 42").all()
    merged = seeds.merge(experiment2, on=["environment", "evaluation"])
    assert len(merged) == len(experiment2)
    np.testing.assert_allclose(merged["u1_accuracy_mean"], merged["u1_accuracy"] - 0.05)
    np.testing.assert_allclose(merged["u1_accuracy_std"], 0.1 / np.sqrt(2))
    np.testing.assert_allclose(merged["u0_accuracy_mean"], merged["u0_accuracy"])
    report = load(project, "report")
    assert "Over the runs of seeds 7, 42" in report
