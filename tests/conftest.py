"""Test-session setup that must happen before any test module imports TensorFlow."""

import os

import pytest

# TensorFlow 2.21's oneDNN kernels abort on some final batch sizes (see logifold_kedro.tf_lib);
# tests import TensorFlow directly too, before the project's guard could run.
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
os.environ.setdefault("KEDRO_DISABLE_TELEMETRY", "1")


@pytest.fixture(scope="session")
def dask_client():
    """One local Dask cluster for the session's DaskRunner tests (tests/dask_cluster.py)."""
    from tests.dask_cluster import framework_cluster_client

    with framework_cluster_client() as client:
        yield client
