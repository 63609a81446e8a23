"""`DaskRunner`'s options: the defaults, how overrides merge into them, and where the project's
``conf/<env>/dask*.yml`` comes from.

Kedro's CLI builds the runner with no arguments, before the Kedro context exists. The project's
`DaskConfigHook` reads the ``dask`` configuration when the context is created and keeps it in
its ``dask_config`` attribute; the runner receives the run's hook manager and reads it from
there (`project_config`). The runner package never imports the hooks, nor they it.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

DEFAULT_CONFIG: dict[str, Any] = {
    # A running scheduler, e.g. tcp://10.0.0.5:8786. None: start a local cluster for the run.
    "scheduler_address": None,
    "local_cluster": {
        "host": "127.0.0.1",
        "dashboard_address": None,
        # One entry per worker process: distributed.Nanny options.
        "workers": {
            "worker-0": {"resources": {"tensorflow": 1, "torch": 1}, "nthreads": 1},
            "worker-1": {"resources": {"tensorflow": 1, "torch": 1}, "nthreads": 1},
        },
    },
    "resources_by_tag": {"tensorflow": {"tensorflow": 1}, "torch": {"torch": 1}},
    # Per-worker overrides of the parameters' `frameworks` section (threads, device, ...).
    "worker_frameworks": {},
    # How long a node may wait for a worker that can run it (workers still starting, e.g.
    # queued cluster jobs) before the run fails.
    "resource_wait_seconds": 60,
    "connect_timeout_seconds": 60,
}


def merged_config(*overrides: Mapping[str, Any] | None) -> dict[str, Any]:
    """`DEFAULT_CONFIG` updated key by key (one level deep for dict values) by `overrides`."""
    config = copy.deepcopy(DEFAULT_CONFIG)
    for override in overrides:
        for key, value in (override or {}).items():
            if key not in DEFAULT_CONFIG:
                raise ValueError(
                    f"unknown DaskRunner option {key!r}; expected one of {sorted(DEFAULT_CONFIG)}"
                )
            if isinstance(value, dict) and isinstance(config.get(key), dict):
                config[key] = {**config[key], **copy.deepcopy(value)}
            else:
                config[key] = copy.deepcopy(value)
    return config


def project_config(hook_manager: Any) -> dict[str, Any]:
    """The project's ``dask`` configuration: the ``dask_config`` mapping of the first plugin of
    `hook_manager` that holds one (the project's `DaskConfigHook`); ``{}`` when none does (a
    run outside a Kedro session, or a null hook manager)."""
    for plugin in (hook_manager.get_plugins() if hook_manager is not None else None) or ():
        config = getattr(plugin, "dask_config", None)
        if isinstance(config, Mapping):
            return dict(config)
    return {}
