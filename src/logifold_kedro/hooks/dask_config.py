"""`DaskConfigHook`: the run's `dask` configuration (``conf/<env>/dask*.yml``) for the runner.

Kedro's CLI builds `logifold_kedro.runners.DaskRunner` with no arguments, before the context
exists, so the runner cannot be handed its configuration. The hook keeps it in `dask_config`;
the runner, given the run's hook manager, reads it from there
(`logifold_kedro.runners.config.project_config`). Neither module imports the other.
"""

from __future__ import annotations

from typing import Any

from kedro.framework.hooks import hook_impl


class DaskConfigHook:
    """Hold the `dask` configuration of the latest Kedro context (scheduler address, local
    cluster, resources per tag). An environment without ``dask*.yml`` gives ``{}``: the
    runner's defaults."""

    def __init__(self) -> None:
        self.dask_config: dict[str, Any] | None = None  # None until a context is created

    @hook_impl
    def after_context_created(self, context: Any) -> None:
        from kedro.config import MissingConfigException

        try:
            config = context.config_loader["dask"]
        except (KeyError, MissingConfigException):
            config = {}
        self.dask_config = dict(config or {})
