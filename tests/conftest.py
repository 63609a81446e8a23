"""Test-session setup that must happen before any test module imports TensorFlow."""

import os

import pytest

# TF_ENABLE_ONEDNN_OPTS is left as the user has it (unset: oneDNN on, as in a run). The one
# faulty oneDNN kernel is routed around on import of tf_lib.training / tf_lib.forward, which
# every test that trains or differentiates a model imports (tests/tf_lib/test_onednn_guard.py).
os.environ.setdefault("KEDRO_DISABLE_TELEMETRY", "1")


@pytest.fixture(scope="session")
def dask_client():
    """One local Dask cluster for the session's DaskRunner tests (tests/dask_cluster.py)."""
    from tests.dask_cluster import framework_cluster_client

    with framework_cluster_client() as client:
        yield client
