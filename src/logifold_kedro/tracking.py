"""Experiment tracking to a local MLflow store, off unless asked for (docs/tracking.md).

``LOGIFOLD_TRACKING=1 kedro run ...`` turns it on for that run. kedro-mlflow (the ``tracking``
extra) then does what it does in any Kedro project: it reads ``conf/<env>/mlflow.yml`` (the
store, the experiment), opens an MLflow run before the pipeline and closes it after, FAILED when
the run fails. `TrackingHook` adds what comparing seeds and scales needs:

- the run name ``<scale>-seed<seed>-<stage>`` (unless ``mlflow.yml`` names the run) and the tags
  ``scale``, ``seed`` and ``stage`` (the pipeline names joined by ``+``; ``all`` for a bare
  ``kedro run``);
- every parameter, flattened (``threshold.target``), and the whole set as ``parameters.yml``;
  at the start, so a run that fails still shows what it ran with;
- after the run, read back through the catalog from what this run wrote: the headline metrics
  (:func:`headline_metrics`), every metric table as CSV, the thresholds, the report, the
  tables in Markdown, the JSON summaries and the figures' PNG files.

The nodes stay pure: nothing here runs inside a node, so the sequential runners and
`logifold_kedro.runners.DaskRunner` (whose workers run no hooks) track alike. kedro-mlflow's own
hook is disabled in ``settings.py``: installed, it would track every run.

This module imports no framework; mlflow only once tracking is on.
"""

from __future__ import annotations

import copy
import logging
import math
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import click
import pandas as pd
from kedro.config import MissingConfigException
from kedro.framework.hooks import hook_impl
from kedro.pipeline import Pipeline

from logifold_kedro.hooks import flat_params

logger = logging.getLogger(__name__)

#: The environment variable that turns tracking on (``1``) for a run.
TRACKING_VARIABLE = "LOGIFOLD_TRACKING"
_ON = {"1", "true", "yes", "on"}
_OFF = {"", "0", "false", "no", "off"}

#: Where runs go when mlflow.yml does not say (conf/base/mlflow.yml says the same): a SQLite file
#: and an artifacts folder in the project root, one experiment for the project.
DEFAULT_STORE = "sqlite:///mlflow.db"
DEFAULT_ARTIFACTS = "mlartifacts"
DEFAULT_EXPERIMENT = "logifold-kedro"

#: MLflow's limit on a parameter's value (mlflow.utils.validation.MAX_PARAM_VAL_LENGTH).
MAX_PARAM_LENGTH = 6000
#: Characters MLflow refuses in a metric or parameter name are replaced by "_".
_NAME_UNSAFE = re.compile(r"[^\w./\- ]")

#: Claim verdicts as numbers, so a claim's outcome can be plotted across seeds and scales.
VERDICT_SCORES = {"holds": 1.0, "not resolved": 0.0, "fails": -1.0}


class TrackingConfigError(click.ClickException):
    """Tracking was asked for but cannot run (printed without a traceback, exit 1)."""


def tracking_requested(environ: Mapping[str, str] | None = None) -> bool:
    """Whether ``LOGIFOLD_TRACKING`` asks for tracking: 1, true, yes, on do; unset, empty, 0,
    false, no, off do not; anything else is refused."""
    value = (os.environ if environ is None else environ).get(TRACKING_VARIABLE, "")
    value = value.strip().lower()
    if value in _ON:
        return True
    if value in _OFF:
        return False
    raise TrackingConfigError(
        f"{TRACKING_VARIABLE}={value!r} is not understood (nothing was run): set it to 1 to track "
        "the run to MLflow (docs/tracking.md), or unset it to run untracked."
    )


def local_store_uri(uri: str | None, project_path: Path) -> str | None:
    """A relative SQLite store (``sqlite:///mlflow.db``) made absolute under the project, so the
    store is the same whichever folder `kedro run` starts in. kedro-mlflow does this for plain
    paths only; every other URI is returned as it is."""
    prefix = "sqlite:///"
    if uri is None or not uri.startswith(prefix):
        return uri
    path = uri.removeprefix(prefix)
    if not path or path.startswith("/") or path == ":memory:":
        return uri
    return prefix + (Path(project_path) / path).as_posix()


def stage_of(run_params: Mapping[str, Any]) -> str:
    """The pipelines a run ran, joined by ``+``; ``all`` for the default pipeline."""
    names = run_params.get("pipeline_names") or ["__default__"]
    if isinstance(names, str):
        names = [names]
    return "+".join("all" if name == "__default__" else name for name in names)


def run_name(scale: Any, seed: Any, stage: str) -> str:
    """``demo-seed42-reporting``: what the MLflow UI lists runs by."""
    return f"{scale}-seed{seed}-{stage}"


def metric_name(*parts: Any) -> str:
    """``experiment2/strong/test/imm_accuracy``: ``/`` groups the metrics in MLflow's UI."""
    return "/".join(_NAME_UNSAFE.sub("_", str(part)) for part in parts)


def param_items(parameters: Mapping[str, Any]) -> dict[str, str]:
    """Flattened parameters (``threshold.target``) as MLflow parameters: text, cut to MLflow's
    limit (the whole set is logged as ``parameters.yml`` besides)."""
    items = {}
    for key, value in flat_params(parameters):
        text = str(value)
        if len(text) > MAX_PARAM_LENGTH:
            text = text[: MAX_PARAM_LENGTH - 1] + "…"
        items[_NAME_UNSAFE.sub("_", key)] = text
    return items


def _finite(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _row_metrics(
    table: pd.DataFrame, prefix: str, keys: list[str], columns: list[str]
) -> dict[str, float]:
    """``prefix/<key values>/<column>`` for each row and each of ``columns`` it has, finite
    values only (a published number the paper does not give is NaN)."""
    metrics = {}
    present = [column for column in columns if column in table.columns]
    for row in table.to_dict("records"):
        for column in present:
            value = _finite(row[column])
            if value is not None:
                metrics[metric_name(prefix, *(row[key] for key in keys), column)] = value
    return metrics


def _with_bounds(columns: list[str], table: pd.DataFrame) -> list[str]:
    return [
        name
        for column in columns
        for name in (column, f"{column}_low", f"{column}_high")
        if name in table.columns
    ]


def threshold_metrics(thresholds: Mapping[str, Any] | pd.DataFrame) -> dict[str, float]:
    """``threshold/<environment>`` (and ``.../core_accuracy``, ``.../core_coverage``,
    ``.../reached``) from ``thresholds`` (immunization) or ``thresholds_comparison_metrics``
    (reporting, where the value is ``threshold_ours``)."""
    if isinstance(thresholds, pd.DataFrame):
        rows = {
            row["environment"]: {**row, "threshold": row.get("threshold_ours")}
            for row in thresholds.to_dict("records")
        }
    else:
        rows = {env: dict(selection) for env, selection in thresholds.items()}
    metrics = {}
    for environment, selection in rows.items():
        value = _finite(selection.get("threshold"))
        if value is not None:
            metrics[metric_name("threshold", environment)] = value
        for field in ("core_accuracy", "core_coverage", "reached"):
            value = _finite(selection.get(field))
            if value is not None:
                metrics[metric_name("threshold", environment, field)] = value
    return metrics


def experiment2_metrics(table: pd.DataFrame) -> dict[str, float]:
    """``experiment2/<environment>/<evaluation>/<accuracy>`` with ``_low``/``_high`` where the
    table has the interval, from ``experiment2_comparison_metrics`` (``*_ours`` columns, named
    without the suffix) or ``experiment2_metrics``."""
    table = table.rename(columns=lambda c: c.replace("_ours", "") if "_ours" in c else c)
    accuracies = [
        c
        for c in table.columns
        if (c.endswith("_accuracy") or c.endswith("_coverage")) and not c.startswith("paper")
    ]
    accuracies = [c for c in accuracies if not c.endswith("_published") and "_diff" not in c]
    return _row_metrics(
        table, "experiment2", ["environment", "evaluation"], _with_bounds(accuracies, table)
    )


def claims_metrics(table: pd.DataFrame) -> dict[str, float]:
    """``claims/<verdict>`` counts (holds, not resolved, fails) and, per claim and evaluation
    set, ``claims/<claim_id>/<environment>/<evaluation>/difference`` with its interval and
    ``.../verdict`` (holds 1, not resolved 0, fails -1)."""
    metrics = {
        metric_name("claims", verdict.replace(" ", "_")): float((table["verdict"] == verdict).sum())
        for verdict in VERDICT_SCORES
    }
    keys = ["claim_id", "environment", "evaluation"]
    metrics |= _row_metrics(
        table, "claims", keys, ["difference", "difference_low", "difference_high"]
    )
    for row in table.to_dict("records"):
        score = VERDICT_SCORES.get(row["verdict"])
        if score is not None:
            metrics[metric_name("claims", *(row[key] for key in keys), "verdict")] = score
    return metrics


#: Catalog entry -> the headline metrics it gives (the first present of the threshold and the
#: Experiment 2 sources is used: a reporting run and an immunization run log the same names).
HEADLINES = {
    "thresholds_comparison_metrics": threshold_metrics,
    "thresholds": threshold_metrics,
    "experiment2_comparison_metrics": experiment2_metrics,
    "experiment2_metrics": experiment2_metrics,
    "claims_metrics": claims_metrics,
}
_ALTERNATIVES = (
    ("thresholds_comparison_metrics", "thresholds"),
    ("experiment2_comparison_metrics", "experiment2_metrics"),
)


def headline_metrics(outputs: Mapping[str, Any]) -> dict[str, float]:
    """The headline metrics of what a run wrote (``{catalog entry: loaded data}``): thresholds
    per environment, Experiment 2's accuracies with their intervals, the claims' verdicts."""
    names = [name for name in HEADLINES if name in outputs]
    for preferred, fallback in _ALTERNATIVES:
        if preferred in names and fallback in names:
            names.remove(fallback)
    metrics: dict[str, float] = {}
    for name in names:
        try:
            metrics |= HEADLINES[name](outputs[name])
        except (KeyError, TypeError, ValueError, AttributeError) as error:
            # A table of an older layout must not cost the run its other metrics.
            logger.warning(
                "tracking: no metrics from %s (%s: %s)", name, type(error).__name__, error
            )
    return metrics


def _is_table(name: str) -> bool:
    return name.endswith("_metrics")


def _is_figure(name: str) -> bool:
    return name.endswith("_plot") or name.endswith("_plots")


#: Text outputs logged as they are, under ``report/``.
TEXT_OUTPUTS = {"report": "report.md", "tables_markdown": "tables.md"}


def _written_path(dataset: Any) -> Path | None:
    """Where a file dataset holds the version the run wrote (RunVersionsHook pins the load
    version to it), or None when it has no file."""
    inner = getattr(dataset, "_dataset", dataset)  # a CachedDataset wraps the real one
    resolve = getattr(inner, "_get_load_path", None)
    if resolve is None:
        return None
    try:
        path = Path(str(resolve()))
    except Exception:  # noqa: BLE001 - a dataset without a load path logs no file
        return None
    return path if path.exists() else None


def _section(parent: dict[str, Any], key: str) -> dict[str, Any]:
    """``parent[key]``, made an empty mapping where mlflow.yml leaves it out or null."""
    if not isinstance(parent.get(key), dict):
        parent[key] = {}
    return parent[key]


class TrackingHook:
    """Track a run to MLflow when ``LOGIFOLD_TRACKING`` asks for it (module docstring)."""

    def __init__(self) -> None:
        self._plugin: Any = None
        self._enabled = False
        self._active = False
        self._configured_run_name: str | None = None

    def _kedro_mlflow(self) -> Any:
        if self._plugin is None:
            try:
                from kedro_mlflow.framework.hooks.mlflow_hook import MlflowHook
            except ImportError as error:
                raise TrackingConfigError(
                    f"{TRACKING_VARIABLE}=1 needs the tracking extra, which is not installed "
                    f'({error}): pip install -e ".[all,tracking]", or unset {TRACKING_VARIABLE}.'
                ) from None
            self._plugin = MlflowHook()
        return self._plugin

    @hook_impl
    def after_context_created(self, context: Any) -> None:
        self._enabled = tracking_requested()
        self._active = False
        if not self._enabled:
            return
        plugin = self._kedro_mlflow()
        loader = context.config_loader
        try:
            conf = copy.deepcopy(dict(loader["mlflow"]))
        except (KeyError, MissingConfigException):  # no pattern, or no mlflow.yml: defaults
            conf = {}
        # Without a store in mlflow.yml (an environment without the file): MLflow's variable, else
        # the project's default; kedro-mlflow's own default, ./mlruns, is refused by MLflow 3.
        server = _section(conf, "server")
        uri = server.get("mlflow_tracking_uri") or os.environ.get("MLFLOW_TRACKING_URI")
        server["mlflow_tracking_uri"] = local_store_uri(uri or DEFAULT_STORE, context.project_path)
        experiment = _section(_section(conf, "tracking"), "experiment")
        if not experiment.get("name"):
            experiment["name"] = DEFAULT_EXPERIMENT
        creation = _section(experiment, "create_experiment_kwargs")
        if not creation.get("artifact_location"):
            creation["artifact_location"] = DEFAULT_ARTIFACTS
        # A key set on the loader is returned instead of the files: kedro-mlflow reads this one.
        loader["mlflow"] = conf
        plugin.after_context_created(context)
        self._configured_run_name = plugin.mlflow_config.tracking.run.name

    # After every check, the run folder's lock included (also trylast, registered before this
    # hook in settings.py): a run refused before it starts leaves no MLflow run open.
    @hook_impl(trylast=True)
    def before_pipeline_run(
        self, run_params: dict[str, Any], pipeline: Pipeline, catalog: Any
    ) -> None:
        if not self._enabled:
            return
        import mlflow

        plugin = self._kedro_mlflow()
        parameters = catalog.load("parameters") if "parameters" in catalog else {}
        scale, seed = parameters.get("scale"), parameters.get("seed", 42)
        stage = stage_of(run_params)
        if self._configured_run_name is None:
            plugin.mlflow_config.tracking.run.name = run_name(scale, seed, stage)
        plugin.before_pipeline_run(run_params=run_params, pipeline=pipeline, catalog=catalog)
        # mlflow.yml's tracking.disable_tracking.pipelines turns a stage off.
        self._active = bool(plugin._is_mlflow_enabled)
        if not self._active:
            return
        mlflow.set_tags({"scale": str(scale), "seed": str(seed), "stage": stage})
        mlflow.log_params(param_items(parameters))
        mlflow.log_dict(dict(parameters), "parameters.yml")

    @hook_impl
    def after_pipeline_run(
        self, run_params: dict[str, Any], pipeline: Pipeline, catalog: Any
    ) -> None:
        if not self._active:
            return
        import mlflow
        from mlflow.entities import RunStatus

        self._active = False
        try:
            self._log_outputs(pipeline, catalog)
        except Exception:
            mlflow.end_run(RunStatus.to_string(RunStatus.FAILED))
            raise
        self._kedro_mlflow().after_pipeline_run(
            run_params=run_params, pipeline=pipeline, catalog=catalog
        )

    @hook_impl
    def on_pipeline_error(
        self, error: Exception, run_params: dict[str, Any], pipeline: Pipeline, catalog: Any
    ) -> None:
        if not self._active:
            return
        self._active = False
        self._kedro_mlflow().on_pipeline_error(
            error=error, run_params=run_params, pipeline=pipeline, catalog=catalog
        )

    def _log_outputs(self, pipeline: Pipeline, catalog: Any) -> None:
        """Metrics and artifacts from what the run wrote, read through the catalog."""
        import mlflow

        written = sorted(
            name for name in pipeline.all_outputs() if name in catalog and catalog.exists(name)
        )
        loaded = {
            name: catalog.load(name)
            for name in written
            if (_is_table(name) and name in HEADLINES) or name == "thresholds"
        }
        metrics = headline_metrics(loaded)
        if metrics:
            mlflow.log_metrics(metrics)
        for name in written:
            if _is_table(name):
                table = loaded[name] if name in loaded else catalog.load(name)
                if isinstance(table, pd.DataFrame):
                    mlflow.log_text(table.to_csv(index=False), f"tables/{name}.csv")
            elif name == "thresholds":
                mlflow.log_dict(dict(loaded[name]), "thresholds.json")
            elif name in TEXT_OUTPUTS:
                mlflow.log_text(str(catalog.load(name)), f"report/{TEXT_OUTPUTS[name]}")
            elif name.endswith("_report"):  # JSON summaries (headline_report, attack reports)
                document = catalog.load(name)
                if isinstance(document, Mapping):
                    mlflow.log_dict(dict(document), f"report/{name}.json")
            elif _is_figure(name):
                path = _written_path(catalog.get(name))
                if path is None:
                    continue
                if path.is_dir():
                    mlflow.log_artifacts(str(path), f"figures/{name}")
                else:
                    mlflow.log_artifact(str(path), "figures")
        logger.info(
            "tracking: logged %d metrics and the run's tables, report and figures", len(metrics)
        )
