"""`PreflightHook`: before anything runs, every input the selected pipeline reads from the
catalog must exist; otherwise the run stops with one message naming what is missing and how to
get it (the command to run first, with the user's ``--env`` and ``--params``)."""

from __future__ import annotations

import importlib
import shlex
from collections.abc import Mapping
from typing import Any

import click
from kedro.framework.hooks import hook_impl
from kedro.pipeline import Pipeline


class MissingInputsError(click.ClickException):
    """Inputs of the selected pipeline are missing. A ClickException, so `kedro run` prints the
    message alone (no traceback) and exits 1."""


def _producing_stage(name: str) -> str | None:
    """The stage whose pipeline writes `name` (`kedro run --pipelines X` registers X only)."""
    from logifold_kedro.pipeline_registry import STAGES

    for stage in STAGES:
        module = importlib.import_module(f"logifold_kedro.pipelines.{stage}")
        if name in module.create_pipeline().all_outputs():
            return stage
    return None


def flat_params(params: Mapping[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    """``{"a": {"b": 1}, "seed": 7}`` -> ``[("a.b", 1), ("seed", 7)]`` (how --params spells it)."""
    items: list[tuple[str, Any]] = []
    for key, value in params.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            items += flat_params(value, f"{name}.")
        else:
            items.append((name, value))
    return items


def kedro_run_command(stage: str, env: str | None, runtime_params: Mapping[str, Any] | None) -> str:
    """``kedro run [--env E] --pipelines <stage> [--params k=v,...]``: the user's run, for
    another stage (same configuration environment, same runtime parameters)."""
    parts = ["kedro", "run"]
    if env and env != "local":
        parts += ["--env", env]
    parts += ["--pipelines", stage]
    pairs = [f"{key}={value}" for key, value in flat_params(runtime_params or {})]
    if pairs:
        parts += ["--params", ",".join(pairs)]
    return " ".join(shlex.quote(part) for part in parts)


class PreflightHook:
    """Stop at once, with what to do, when the run would need inputs that do not exist."""

    @hook_impl
    def before_pipeline_run(
        self, run_params: dict[str, Any], pipeline: Pipeline, catalog: Any
    ) -> None:
        problems = []
        env = run_params.get("env")
        runtime_params = run_params.get("runtime_params")
        for name in sorted(pipeline.inputs()):
            if name.startswith("params:") or name == "parameters" or catalog.exists(name):
                continue
            stage = _producing_stage(name)
            if stage:
                command = kedro_run_command(stage, env, runtime_params)
                problems.append(f"- {name}: not produced yet; run `{command}`")
                continue
            try:  # a raw input: its dataset says where to put it and where to get it
                catalog.load(name)
            except Exception as error:  # noqa: BLE001 - reported, not swallowed
                problems.append(f"- {name}: {error}")
        if problems:
            raise MissingInputsError(
                "this run needs inputs that do not exist:\n" + "\n".join(problems)
            )
