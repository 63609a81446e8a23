"""Project settings for logifold-kedro.

`conf/base` is the CPU demo scale and is what a bare `kedro run` uses; `conf/study` the full
archive on a CPU (`kedro run --env study`); `conf/paper` the paper-scale values of docs/method.md
(`kedro run --env paper`); `conf/local` is for a user's overrides.
"""

import warnings

from kedro.config import OmegaConfigLoader

from logifold_kedro.hooks import (
    DaskConfigHook,
    FrameworkSetupHook,
    ParameterCheckHook,
    PreflightHook,
    RunFolderLockHook,
    RunFolderSeedHook,
    RunLogHook,
    RunVersionsHook,
    UnreadLocalConfigHook,
)

# Upstream deprecation noise (Kedro's own use of OmegaConf), not actionable for users.
warnings.filterwarnings("ignore", message="register_new_resolver", category=UserWarning)

# Before a run: parameters (first), inputs, then the run folder's lock (last: a failing check
# before it must not leave it taken). During: own versions pinned. The order within
# before_pipeline_run is set by tryfirst/trylast in the hooks, not by this tuple.
HOOKS = (
    RunFolderSeedHook(),
    UnreadLocalConfigHook(),
    ParameterCheckHook(),
    PreflightHook(),
    RunFolderLockHook(),
    RunVersionsHook(),
    FrameworkSetupHook(),
    RunLogHook(),
    DaskConfigHook(),
)

# kedro-telemetry would try the network, which this project's machines do not have.
DISABLE_HOOKS_FOR_PLUGINS = ("kedro-telemetry",)

CONFIG_LOADER_CLASS = OmegaConfigLoader
CONFIG_LOADER_ARGS = {
    "base_env": "base",
    "default_run_env": "local",
    "config_patterns": {
        "globals": ["globals.yml"],
        # DaskRunner: scheduler address, local cluster, resources per tag (conf/<env>/dask.yml)
        "dask": ["dask*", "dask*/**"],
    },
}
