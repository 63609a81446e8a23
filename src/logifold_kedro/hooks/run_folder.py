"""The run folder ``.../<scale>/seed<seed>`` of a catalog: where it is, which seed names it, and
one run at a time writing it.

`RunFolderSeedHook` names the run folder after the seed the nodes use, wherever it is set
(``--params``, ``conf/local``, an environment's parameters): the catalog reads it from the runtime
parameters, so the hook puts the merged ``seed`` there before the catalog is built.

`RunFolderLockHook` lets one run at a time write a run folder (``run_lock``): a second run on the
same scale and seed is refused at start; a lock left by a killed run does not block the restart.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import click
from kedro.framework.hooks import hook_impl

from logifold_kedro.run_lock import RunFolderLockedError, RunLock


class RunFolderBusyError(click.ClickException):
    """Another run holds the run folder (printed without a traceback, exit 1)."""


def catalog_paths(conf_catalog: Mapping[str, Any]) -> dict[str, str]:
    """``{entry: path}`` of every catalog entry with a ``filepath`` or ``path``."""
    paths = {}
    for name, config in conf_catalog.items():
        if isinstance(config, Mapping):
            path = config.get("filepath", config.get("path"))
            if isinstance(path, str):
                paths[name] = path
    return paths


def relative_to_project(path: str, project_path: Path | None) -> str:
    """`path` without the project's own path in front (unchanged when it lies elsewhere)."""
    # Only the part under the project: a folder of the project's own path may be named seed*.
    if project_path is not None:
        return path.removeprefix(project_path.as_posix().rstrip("/") + "/")
    return path


def run_folder_of(
    conf_catalog: Mapping[str, Any], scale: Any, project_path: Path | None
) -> Path | None:
    """The run folder ``.../<scale>/seed<seed>`` of the catalog's reporting entry ``report``
    (else of the first entry, by name, that has one); None when no entry has one."""
    pattern = re.compile(rf"^(?P<folder>.*?(?:^|/){re.escape(str(scale))}/seed[^/{{}}]*)(?=/|$)")
    paths = catalog_paths(conf_catalog)
    for name in ["report", *sorted(paths)]:
        path = paths.get(name)
        if path is None:
            continue
        match = pattern.match(relative_to_project(path, project_path))
        if match:
            folder = Path(match["folder"])
            return folder if folder.is_absolute() or project_path is None else project_path / folder
    return None


class RunFolderSeedHook:
    """Give the catalog's run folder (``${runtime_params:seed,...}``) the seed the nodes use."""

    # First among the after_context_created hooks, before anything can build a catalog.
    @hook_impl(tryfirst=True)
    def after_context_created(self, context: Any) -> None:
        loader = context.config_loader
        runtime_params = dict(loader.runtime_params or {})
        if "seed" in runtime_params:  # --params seed=...: the nodes get it too
            return
        seed = context.params.get("seed")
        if seed is None:
            return
        # A new dict: the session's record of the user's --params stays as typed.
        loader.runtime_params = {**runtime_params, "seed": seed}
        # The loader caches its runtime params for the resolver once it has resolved one.
        if hasattr(loader, "_runtime_params_oc"):
            loader._runtime_params_oc = None


class RunFolderLockHook:
    """One run per run folder: the lock is taken last before the run starts (after every other
    check, whose failure would skip the release) and released when it ends or fails."""

    def __init__(self) -> None:
        self._project_path: Path | None = None
        self._folders: dict[str | None, Path] = {}
        self._locks: dict[str, RunLock] = {}

    @hook_impl
    def after_context_created(self, context: Any) -> None:
        self._project_path = Path(context.project_path)

    @hook_impl
    def after_catalog_created(
        self, conf_catalog: dict[str, Any], parameters: dict[str, Any], save_version: str | None
    ) -> None:
        scale = (parameters.get("parameters") or {}).get("scale")
        folder = run_folder_of(conf_catalog, scale, self._project_path)
        if folder is not None:
            self._folders[save_version] = folder
            # Catalogs built without a run (notebooks, the importer) are never popped.
            while len(self._folders) > 16:
                self._folders.pop(next(iter(self._folders)))

    @hook_impl(trylast=True)
    def before_pipeline_run(self, run_params: dict[str, Any]) -> None:
        # Runs of one process are sequential: a lock still held here belongs to a run that was
        # interrupted (KeyboardInterrupt skips on_pipeline_error).
        for lock in self._locks.values():
            lock.release()
        self._locks.clear()
        run_id = run_params["run_id"]
        folder = self._folders.pop(run_id, None)
        if folder is None:
            return
        pipelines = ",".join(run_params.get("pipeline_names") or ["__default__"])
        lock = RunLock(folder, command=f"kedro run --pipelines {pipelines} (run {run_id})")
        try:
            lock.acquire()
        except RunFolderLockedError as error:
            raise RunFolderBusyError(str(error)) from None
        self._locks[run_id] = lock

    def _release(self, run_params: dict[str, Any]) -> None:
        lock = self._locks.pop(run_params["run_id"], None)
        if lock is not None:
            lock.release()

    @hook_impl
    def after_pipeline_run(self, run_params: dict[str, Any]) -> None:
        self._release(run_params)

    @hook_impl
    def on_pipeline_error(self, run_params: dict[str, Any]) -> None:
        self._release(run_params)
