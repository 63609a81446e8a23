"""Project settings for logifold-kedro.

`conf/base` is the CPU demo scale and is what a bare `kedro run` uses; `conf/study` the full
archive on a CPU (`kedro run --env study`); `conf/paper` the paper-scale values of docs/method.md
(`kedro run --env paper`); `conf/local` is for a user's overrides.
"""

import warnings

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
from logifold_kedro.pipelines.wiring import RunConfigLoader, WiringHook
from logifold_kedro.tracking import TrackingHook

# Upstream deprecation noise (Kedro's own use of OmegaConf), not actionable for users.
warnings.filterwarnings("ignore", message="register_new_resolver", category=UserWarning)

# Before a run: parameters (first), inputs, then the run folder's lock (last: a failing check
# before it must not leave it taken). During: own versions pinned. The order within
# before_pipeline_run is set by tryfirst/trylast in the hooks, not by this tuple.
HOOKS = (
    RunFolderSeedHook(),
    # Rebuilds the pipelines when a later session in the process resolves another structure
    # (members, environments, attack settings; pipelines/wiring.py).
    WiringHook(),
    UnreadLocalConfigHook(),
    ParameterCheckHook(),
    PreflightHook(),
    RunFolderLockHook(),
    RunVersionsHook(),
    FrameworkSetupHook(),
    RunLogHook(),
    DaskConfigHook(),
    # MLflow, when LOGIFOLD_TRACKING=1 (docs/tracking.md). Registered after the lock hook: of two
    # trylast before_pipeline_run hooks, the later registered runs last, once the lock is taken.
    TrackingHook(),
)

# kedro-telemetry would try the network, which this project's machines do not have.
# kedro-mlflow (the `tracking` extra) would track every run once installed; TrackingHook runs it
# only when tracking is turned on (Kedro matches the distribution name, spelled with "_").
DISABLE_HOOKS_FOR_PLUGINS = ("kedro-telemetry", "kedro_mlflow")

# OmegaConfigLoader, noted as the run's so the wiring reads its parameters (pipelines/wiring.py).
CONFIG_LOADER_CLASS = RunConfigLoader
CONFIG_LOADER_ARGS = {
    "base_env": "base",
    "default_run_env": "local",
    "config_patterns": {
        "globals": ["globals.yml"],
        # DaskRunner: scheduler address, local cluster, resources per tag (conf/<env>/dask.yml)
        "dask": ["dask*", "dask*/**"],
        # Experiment tracking, kedro-mlflow's format (conf/<env>/mlflow.yml, docs/tracking.md)
        "mlflow": ["mlflow*", "mlflow*/**"],
    },
}
