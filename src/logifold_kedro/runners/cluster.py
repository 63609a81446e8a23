"""The Dask cluster a run uses: a running scheduler (``scheduler_address``) or a local cluster of
worker processes started for the run (``local_cluster``). Dask is imported only here, and only
when a run connects, so importing the runner imports no Dask."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Mapping

logger = logging.getLogger(__name__)

#: Thread-count variables Dask's nanny would set to 1 in every worker process.
THREAD_ENVIRON = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def require_distributed() -> Any:
    """The ``distributed`` module, or an ImportError that says how to install it."""
    try:
        import distributed
    except ImportError as error:
        raise ImportError(
            "DaskRunner needs dask.distributed: pip install 'logifold_kedro[dask]'"
        ) from error
    return distributed


def start_local_cluster(options: Mapping[str, Any]) -> Any:
    """A cluster of worker processes on this machine, one per entry of `options["workers"]`
    (each entry: distributed.Nanny options such as resources, nthreads, memory_limit, env)."""
    distributed = require_distributed()
    host = options.get("host") or "127.0.0.1"
    dashboard_address = options.get("dashboard_address")
    workers = options.get("workers") or {}
    if not workers:
        raise ValueError("local_cluster.workers is empty: configure at least one worker")
    scheduler = {
        "cls": distributed.Scheduler,
        "options": {
            "host": host,
            "dashboard": bool(dashboard_address),
            # The scheduler's HTTP server starts even without a dashboard: a free port, so
            # two runs (or users) on one machine do not compete for 8787.
            "dashboard_address": dashboard_address or f"{host}:0",
        },
    }
    specs = {
        str(name): {
            "cls": distributed.Nanny,
            "options": {"host": host, "name": str(name), **dict(spec or {})},
        }
        for name, spec in workers.items()
    }
    # Dask's nanny sets OMP_NUM_THREADS=1 (and MKL/OpenBLAS) in each worker, which makes torch
    # default to one thread: other numbers than a sequential run's. The workers inherit this
    # process's environment instead; a worker's `env` option still sets what it needs.
    import dask

    spawn_environ = {
        key: value
        for key, value in (dask.config.get("distributed.nanny.pre-spawn-environ") or {}).items()
        if key not in THREAD_ENVIRON
    }
    with dask.config.set({"distributed.nanny.pre-spawn-environ": spawn_environ}):
        return distributed.SpecCluster(
            scheduler=scheduler, workers=specs, silence_logs=logging.ERROR
        )


def connect(config: Mapping[str, Any]) -> tuple[Any, list[Any]]:
    """A client of the configured cluster, and what to close after the run (the client, and
    the local cluster when one was started for it)."""
    distributed = require_distributed()
    timeout = config["connect_timeout_seconds"]
    address = config.get("scheduler_address")
    if address:
        logger.info("DaskRunner: connecting to the scheduler at %s", address)
        try:
            client = distributed.Client(address, timeout=timeout)
        except OSError as error:
            raise ConnectionError(
                f"cannot reach the Dask scheduler at {address} ({error}); start it with "
                "`dask scheduler` or set scheduler_address: null in conf/<env>/dask.yml "
                "to run on a local cluster"
            ) from error
        return client, [client]
    local = config["local_cluster"]
    cluster = start_local_cluster(local)
    client = distributed.Client(cluster, timeout=timeout)
    client.wait_for_workers(len(local["workers"]), timeout=timeout)
    logger.info(
        "DaskRunner: local cluster %s with workers %s",
        cluster.scheduler_address,
        {name: (spec or {}).get("resources") for name, spec in local["workers"].items()},
    )
    return client, [client, cluster]
