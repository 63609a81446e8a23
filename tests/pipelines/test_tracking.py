"""Experiment tracking (logifold_kedro.tracking, docs/tracking.md) against a real local MLflow
store, read back through `mlflow.MlflowClient`.

To stay within the CI budget, the session's tiny chain is reused: each test works on its own
copy of the `reported` project and runs reporting (or a few of its nodes) through a real
`KedroSession` with the project's hooks. The store's schema is created once per module and
copied into each project (creating it takes seconds).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import mlflow
import pandas as pd
import pytest
from mlflow import MlflowClient

from logifold_kedro.hooks import RunFolderBusyError
from logifold_kedro.run_lock import RunLock
from logifold_kedro.runners import DaskRunner
from logifold_kedro.tracking import (
    TRACKING_VARIABLE,
    TrackingConfigError,
    local_store_uri,
    tracking_requested,
)
from tests.pipelines.conftest import REPO, make_project_copy, open_catalog, run_stage

EXPERIMENT = "logifold-kedro"  # conf/base/mlflow.yml


@pytest.fixture(scope="module")
def empty_store(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("mlflow") / "mlflow.db"
    MlflowClient(tracking_uri=f"sqlite:///{path}").search_experiments()
    return path


def with_store(project: Path, empty_store: Path) -> Path:
    shutil.copy(REPO / "conf" / "base" / "mlflow.yml", project / "conf" / "base" / "mlflow.yml")
    shutil.copy(empty_store, project / "mlflow.db")
    return project


def copy_of(reported: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "project"
    shutil.copytree(reported, copy, ignore=shutil.ignore_patterns("mlflow.db", "mlartifacts"))
    return copy


def runs_in(project: Path) -> list:
    client = MlflowClient(tracking_uri=f"sqlite:///{project}/mlflow.db")
    experiment = client.get_experiment_by_name(EXPERIMENT)
    return [] if experiment is None else client.search_runs([experiment.experiment_id])


def artifact_paths(client: MlflowClient, run_id: str, path: str | None = None) -> list[str]:
    paths = []
    for item in client.list_artifacts(run_id, path):
        paths += artifact_paths(client, run_id, item.path) if item.is_dir else [item.path]
    return paths


def test_a_tracked_reporting_run_records_parameters_metrics_tags_and_the_report(
    reported, tmp_path, empty_store, monkeypatch
):
    project = with_store(copy_of(reported, tmp_path), empty_store)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # the store is the project's, whichever folder the run starts in
    monkeypatch.setenv(TRACKING_VARIABLE, "1")
    run_stage(project, "reporting")

    assert mlflow.active_run() is None
    assert not [
        name for name in ("mlflow.db", "mlartifacts", "mlruns") if (elsewhere / name).exists()
    ]
    [run] = runs_in(project)
    assert run.info.status == "FINISHED"
    assert run.info.run_name == "tiny-seed42-reporting"
    tags = run.data.tags
    assert (tags["scale"], tags["seed"], tags["stage"]) == ("tiny", "42", "reporting")

    catalog = open_catalog(project)
    parameters = catalog.load("parameters")
    params = run.data.params
    assert params["seed"] == "42"
    assert params["threshold.target"] == str(parameters["threshold"]["target"])
    assert params["bootstrap.n_resamples"] == str(parameters["bootstrap"]["n_resamples"])

    metrics = run.data.metrics
    thresholds = catalog.load("thresholds_comparison_metrics")
    assert len(thresholds) >= 2
    for row in thresholds.itertuples():
        assert metrics[f"threshold/{row.environment}"] == pytest.approx(row.threshold_ours)
    experiment2 = catalog.load("experiment2_comparison_metrics")
    assert len(experiment2) >= 2
    for row in experiment2.to_dict("records"):
        prefix = f"experiment2/{row['environment']}/{row['evaluation']}"
        for accuracy in ("u1_core_accuracy", "imm_accuracy"):
            for suffix in ("", "_low", "_high"):
                ours = row[f"{accuracy}_ours{suffix}"]
                if pd.isna(ours):  # undefined (U2' skipped on the tiny data): not logged
                    assert f"{prefix}/{accuracy}{suffix}" not in metrics
                else:
                    assert metrics[f"{prefix}/{accuracy}{suffix}"] == pytest.approx(ours)
    claims = catalog.load("claims_metrics")
    counts = {v: metrics[f"claims/{v}"] for v in ("holds", "not_resolved", "fails")}
    assert sum(counts.values()) == len(claims)
    assert counts["holds"] == (claims["verdict"] == "holds").sum()
    claim = claims.dropna(subset=["difference"]).iloc[0]
    prefix = f"claims/{claim.claim_id}/{claim.environment}/{claim.evaluation}"
    assert metrics[f"{prefix}/difference"] == pytest.approx(claim.difference)
    assert (
        metrics[f"{prefix}/verdict"] == {"holds": 1, "not resolved": 0, "fails": -1}[claim.verdict]
    )

    client = MlflowClient(tracking_uri=f"sqlite:///{project}/mlflow.db")
    artifacts = artifact_paths(client, run.info.run_id)
    assert {"report/report.md", "report/tables.md", "report/headline_report.json"} <= set(artifacts)
    assert "parameters.yml" in artifacts
    assert "tables/claims_metrics.csv" in artifacts
    assert any(p.startswith("figures/") and p.endswith(".png") for p in artifacts)
    report = Path(client.download_artifacts(run.info.run_id, "report/report.md", str(tmp_path)))
    assert report.read_text() == catalog.load("report")
    assert (project / "mlartifacts").is_dir()


def test_with_tracking_off_no_mlflow_run_or_store_is_created(reported, tmp_path, monkeypatch):
    project = copy_of(reported, tmp_path)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(TRACKING_VARIABLE, raising=False)
    run_stage(project, "reporting", node_names=["report.compare_thresholds"])

    assert mlflow.active_run() is None
    # kedro-mlflow's own hook, were it not disabled, would have made a store here or in project.
    made = [p for name in ("mlflow.db", "mlartifacts", "mlruns") for p in tmp_path.rglob(name)]
    assert not made


def test_a_tracked_run_through_the_dask_runner_without_a_report_logs_its_tables(
    dask_client, reported, tmp_path, empty_store, monkeypatch
):
    project = with_store(copy_of(reported, tmp_path), empty_store)
    monkeypatch.setenv(TRACKING_VARIABLE, "1")
    nodes = ["report.compare_thresholds", "report.check_claims"]
    run_stage(project, "reporting", runner=DaskRunner(client=dask_client), node_names=nodes)

    [run] = runs_in(project)
    assert run.info.status == "FINISHED"
    assert run.data.tags["stage"] == "reporting"
    thresholds = open_catalog(project).load("thresholds_comparison_metrics")
    for row in thresholds.itertuples():
        assert run.data.metrics[f"threshold/{row.environment}"] == pytest.approx(row.threshold_ours)
    assert "claims/holds" in run.data.metrics
    client = MlflowClient(tracking_uri=f"sqlite:///{project}/mlflow.db")
    artifacts = set(artifact_paths(client, run.info.run_id))
    assert {"tables/thresholds_comparison_metrics.csv", "tables/claims_metrics.csv"} <= artifacts
    assert not any(p.startswith(("report/", "figures/")) for p in artifacts)


def test_a_failing_tracked_run_is_recorded_failed_with_its_parameters_without_mlflow_yml(
    reported, tmp_path, empty_store, monkeypatch
):
    project = copy_of(reported, tmp_path)
    (project / "conf" / "base" / "mlflow.yml").unlink(missing_ok=True)
    shutil.copy(empty_store, project / "mlflow.db")  # where the default store is
    monkeypatch.setenv(TRACKING_VARIABLE, "1")
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    broken = {"published": {"thresholds": "not a table"}}  # compare_thresholds fails on it
    with pytest.raises(ValueError):
        run_stage(
            project, "reporting", node_names=["report.compare_thresholds"], runtime_params=broken
        )

    assert mlflow.active_run() is None
    [run] = runs_in(project)
    assert (run.info.run_name, run.info.status) == ("tiny-seed42-reporting", "FAILED")
    assert run.data.params["published.thresholds"] == "not a table"
    assert run.data.metrics == {}


def test_a_run_refused_by_the_run_lock_leaves_no_mlflow_run_and_the_next_one_is_tracked(
    tmp_path, empty_store, monkeypatch
):
    project = with_store(make_project_copy(tmp_path / "project"), empty_store)
    monkeypatch.setenv(TRACKING_VARIABLE, "1")
    with RunLock(project / "data" / "08_reporting" / "tiny" / "seed42", command="another run"):
        with pytest.raises(RunFolderBusyError):
            run_stage(project, "training", tags=["data"])
    assert runs_in(project) == []
    assert mlflow.active_run() is None

    run_stage(project, "training", tags=["data"], runtime_params={"seed": 7})
    [run] = runs_in(project)
    assert (run.info.run_name, run.info.status) == ("tiny-seed7-training", "FINISHED")
    assert run.data.params["seed"] == "7"
    assert run.data.metrics == {}  # the data nodes write no metric table


def test_an_unknown_switch_value_stops_before_anything_runs(tmp_path, monkeypatch):
    project = make_project_copy(tmp_path / "project")
    monkeypatch.setenv(TRACKING_VARIABLE, "maybe")
    with pytest.raises(TrackingConfigError, match="LOGIFOLD_TRACKING='maybe' is not understood"):
        run_stage(project, "training", tags=["data"])
    assert not (project / "data" / "02_intermediate").exists()
    assert not (project / "mlflow.db").exists()


def test_the_switch_and_the_store_location():
    assert tracking_requested({TRACKING_VARIABLE: " On "})
    assert not tracking_requested({})
    assert not tracking_requested({TRACKING_VARIABLE: "0"})
    project = Path("/work/project")
    assert local_store_uri("sqlite:///mlflow.db", project) == "sqlite:////work/project/mlflow.db"
    assert local_store_uri("sqlite:////srv/m.db", project) == "sqlite:////srv/m.db"
    assert local_store_uri("http://127.0.0.1:5000", project) == "http://127.0.0.1:5000"
