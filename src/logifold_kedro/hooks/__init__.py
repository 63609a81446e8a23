"""Project hooks (registered in `logifold_kedro.settings`), one module per job.

- `run_folder`: `RunFolderSeedHook` names the run folder after the seed the nodes use;
  `RunFolderLockHook` lets one run at a time write a run folder.
- `config_checks`: `UnreadLocalConfigHook` warns about ``conf/local`` files the run does not
  read; `ParameterCheckHook` checks the parameters and the run folder's seed before anything runs.
- `preflight`: `PreflightHook` stops a run whose inputs do not exist, naming the command that
  produces them.
- `versions`: `RunVersionsHook` makes every node read the versions its own run wrote.
- `framework`: `FrameworkSetupHook` sets TensorFlow / torch up once per process, before the
  first node of that framework.
- `run_log`: `RunLogHook` logs node times, the slowest nodes and peak memory.
- `dask_config`: `DaskConfigHook` holds ``conf/<env>/dask*.yml`` for `DaskRunner`.

Every name below can be imported from `logifold_kedro.hooks`.
"""

from logifold_kedro.hooks.config_checks import (
    InvalidParametersError,
    ParameterCheckHook,
    UnreadLocalConfigHook,
    unread_local_files,
)
from logifold_kedro.hooks.dask_config import DaskConfigHook
from logifold_kedro.hooks.framework import FrameworkSetupHook
from logifold_kedro.hooks.preflight import (
    MissingInputsError,
    PreflightHook,
    flat_params,
    kedro_run_command,
)
from logifold_kedro.hooks.run_folder import (
    RunFolderBusyError,
    RunFolderLockHook,
    RunFolderSeedHook,
    catalog_paths,
    run_folder_of,
)
from logifold_kedro.hooks.run_log import RunLogHook, peak_rss_mib
from logifold_kedro.hooks.versions import RunVersionsHook, pin_load_to_save_version

__all__ = [
    "DaskConfigHook",
    "FrameworkSetupHook",
    "InvalidParametersError",
    "MissingInputsError",
    "ParameterCheckHook",
    "PreflightHook",
    "RunFolderBusyError",
    "RunFolderLockHook",
    "RunFolderSeedHook",
    "RunLogHook",
    "RunVersionsHook",
    "UnreadLocalConfigHook",
    "catalog_paths",
    "flat_params",
    "kedro_run_command",
    "peak_rss_mib",
    "pin_load_to_save_version",
    "run_folder_of",
    "unread_local_files",
]
