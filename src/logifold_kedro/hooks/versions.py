"""`RunVersionsHook`: every node of a run reads the versions this run wrote.

Once an entry is saved, its load version is pinned to the run's save version, so a concurrent
writer's newer "latest" is never read in its place. Entries the run does not write are still
read at their latest version.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from kedro.framework.hooks import hook_impl
from kedro.io.core import AbstractVersionedDataset
from kedro.pipeline import Pipeline

logger = logging.getLogger(__name__)


def pin_load_to_save_version(dataset: Any) -> str | None:
    """Make a versioned dataset load the version it saves; return that version (None when it is
    not versioned or its load version was chosen explicitly, e.g. ``--load-versions``)."""
    inner = getattr(dataset, "_dataset", dataset)  # a CachedDataset wraps the real one
    version = getattr(inner, "_version", None)
    if not isinstance(inner, AbstractVersionedDataset) or version is None or version.load:
        return None
    save_version = version.save or inner.resolve_save_version()
    # Kedro has no public setter; Version is a namedtuple, the dataset keeps it in _version.
    inner._version = version._replace(load=save_version)
    inner._clear_version_cache()
    return save_version


class RunVersionsHook:
    """Nodes read the versions their own run wrote (see the module docstring)."""

    def __init__(self) -> None:
        self._catalog: Any = None
        self._outputs: dict[str, list[str]] = {}

    @hook_impl
    def before_pipeline_run(self, pipeline: Pipeline, catalog: Any) -> None:
        self._catalog = catalog
        self._outputs = {node.name: list(node.outputs) for node in pipeline.nodes}

    def _pin(self, names: Iterable[str]) -> None:
        if self._catalog is None:
            return
        for name in names:
            if name in self._catalog:
                version = pin_load_to_save_version(self._catalog.get(name))
                if version:
                    logger.debug("%s: later nodes read this run's version %s", name, version)

    @hook_impl
    def after_dataset_saved(self, dataset_name: str) -> None:
        self._pin([dataset_name])

    def record_node_duration(self, node_name: str, seconds: float) -> None:
        """DaskRunner: a node finished on a worker, which saved its outputs (dataset hooks do
        not run there); pin them in the driver's catalog, which the next tasks are built from."""
        self._pin(self._outputs.get(node_name, []))

    @hook_impl
    def after_pipeline_run(self) -> None:
        self._catalog, self._outputs = None, {}

    @hook_impl
    def on_pipeline_error(self) -> None:
        self._catalog, self._outputs = None, {}
