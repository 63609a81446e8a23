"""Checks of the run's configuration before anything runs.

`UnreadLocalConfigHook` warns when ``conf/local`` holds configuration that this run does not read
(Kedro layers one environment over ``conf/base``: ``--env paper`` reads ``conf/paper`` instead).

`ParameterCheckHook` checks the parameters (``parameter_checks``) before any node runs, and the
seed where the catalog forms the run folder: a bad value stops the run with its key, its value
and what is allowed, before anything is written.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import click
from kedro.framework.hooks import hook_impl

from logifold_kedro.hooks.run_folder import catalog_paths, relative_to_project
from logifold_kedro.parameter_checks import ParameterError, check_parameters, check_run_folder

logger = logging.getLogger(__name__)

CONFIG_SUFFIXES = (".yml", ".yaml", ".json")


class InvalidParametersError(click.ClickException):
    """Parameters no node could use (printed without a traceback, exit 1)."""


def unread_local_files(conf_source: Path, local_env: str, run_env: str) -> list[Path]:
    """The configuration files of ``conf/<local_env>`` when the run reads another environment."""
    folder = conf_source / local_env
    if run_env == local_env or not folder.is_dir():
        return []
    return sorted(
        path
        for path in folder.rglob("*")
        if path.is_file() and path.suffix in CONFIG_SUFFIXES and not path.name.startswith(".")
    )


class UnreadLocalConfigHook:
    """Warn at start when ``conf/local`` has files this run does not read (``--env X``)."""

    @hook_impl
    def after_context_created(self, context: Any) -> None:
        loader = context.config_loader
        local_env = getattr(loader, "default_run_env", "") or "local"
        run_env = loader.env or local_env
        files = unread_local_files(Path(loader.conf_source), local_env, run_env)
        if not files:
            return
        project_path = Path(context.project_path)
        names = ", ".join(
            path.relative_to(project_path).as_posix()
            if path.is_relative_to(project_path)
            else path.as_posix()
            for path in files
        )
        logger.warning(
            "this run reads conf/base and conf/%s, not conf/%s, so these files do not apply: %s. "
            "Pass such values with --params (e.g. --params seed=7), or copy conf/%s to "
            "conf/%s_local (git-ignored), add your overrides there and run with --env %s_local "
            "(docs/configuration.md).",
            run_env,
            local_env,
            names,
            run_env,
            run_env,
            run_env,
        )


class ParameterCheckHook:
    """Check the parameters before any node runs, and the seed where the run folder is formed."""

    def __init__(self) -> None:
        self._project_path: Path | None = None

    @hook_impl
    def after_context_created(self, context: Any) -> None:
        self._project_path = Path(context.project_path)

    @hook_impl
    def after_catalog_created(
        self, conf_catalog: dict[str, Any], parameters: dict[str, Any]
    ) -> None:
        values = dict(parameters.get("parameters") or {})
        scale = values.get("scale")
        paths = [
            relative_to_project(path, self._project_path)
            for path in catalog_paths(conf_catalog).values()
        ]
        if scale is not None:  # only the <scale>/seed<seed> folders are run folders
            paths = [p for p in paths if f"{scale}/seed" in p]
        try:
            check_run_folder(paths, values.get("seed", 42))
        except ParameterError as error:
            raise InvalidParametersError(
                f"this seed cannot be used (nothing was run):\n{error}"
            ) from None

    @hook_impl(tryfirst=True)
    def before_pipeline_run(self, catalog: Any) -> None:
        params = catalog.load("parameters") if "parameters" in catalog else {}
        try:
            check_parameters(params)
        except ParameterError as error:
            raise InvalidParametersError(str(error)) from None
