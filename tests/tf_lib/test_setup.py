"""Tests of the TensorFlow process setup and of the triton guard in tf_lib/__init__.py.

Thread pools can only be set before TensorFlow's runtime starts, and the guard acts at import
time, so these run in fresh Python processes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

ENVIRONMENT = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "KEDRO_DISABLE_TELEMETRY": "1"}


def run_python(code: str) -> str:
    """Run `code` in a fresh interpreter; return its last stdout line (fail on a crash)."""
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        env=ENVIRONMENT,
        timeout=300,
    )
    assert result.returncode == 0, f"exit {result.returncode}\n{result.stderr[-3000:]}"
    return result.stdout.strip().splitlines()[-1]


def test_importing_tf_lib_blocks_triton_and_torch_still_trains_after_tensorflow():
    output = run_python(
        """
        import sys
        import logifold_kedro.tf_lib
        blocked = "triton" in sys.modules and sys.modules["triton"] is None
        import tensorflow as tf
        tf.constant(1.0) + 1.0
        import torch
        layer = torch.nn.Linear(3, 2)
        optimizer = torch.optim.Adam(layer.parameters())
        layer(torch.ones(4, 3)).sum().backward()
        optimizer.step()
        print(blocked)
        """
    )
    assert output == "True"


def test_guard_blocks_triton_when_torch_is_already_imported():
    output = run_python(
        """
        import sys
        import torch
        triton_loaded = sys.modules.get("triton") is not None
        import logifold_kedro.tf_lib
        print(triton_loaded, sys.modules["triton"] is None)
        """
    )
    assert output == "False True"  # torch loads triton lazily; the guard got there first


def test_guard_leaves_an_already_imported_triton_alone():
    output = run_python(
        """
        import sys
        import triton
        import logifold_kedro.tf_lib
        print(sys.modules["triton"] is triton)
        """
    )
    assert output == "True"


def test_configure_tensorflow_sets_threads_seeds_and_is_idempotent():
    output = run_python(
        """
        import json, logging
        import numpy as np
        from logifold_kedro.tf_lib.setup import configure_tensorflow
        first = configure_tensorflow(seed=7, intra_op_threads=1, inter_op_threads=2)
        import keras, tensorflow as tf
        draws = [float(np.random.rand()), float(keras.random.uniform(()).numpy())]
        records = []
        handler = logging.Handler()
        handler.emit = records.append
        logging.getLogger("logifold_kedro.tf_lib.setup").addHandler(handler)
        # The runtime runs now: other thread counts must only warn, same ones silently pass.
        second = configure_tensorflow(seed=7, intra_op_threads=1, inter_op_threads=2)
        third = configure_tensorflow(seed=7, intra_op_threads=2, inter_op_threads=2)
        again = [float(np.random.rand()), float(keras.random.uniform(()).numpy())]
        warnings = [r.getMessage() for r in records if r.levelname == "WARNING"]
        print(json.dumps({"first": first, "second": second, "third": third,
                          "same_draws": draws == again, "warnings": warnings}))
        """
    )
    result = json.loads(output)
    first = result["first"]
    assert (first["intra_op_threads"], first["inter_op_threads"]) == (1, 2)
    assert first["seed"] == 7 and first["gpus"] == [] and first["deterministic"] is False
    assert any(device.endswith("CPU:0") for device in first["devices"])
    assert result["second"] == first
    assert result["third"]["intra_op_threads"] == 1  # kept, not crashed
    assert len(result["warnings"]) == 1 and "already initialised" in result["warnings"][0]
    assert result["same_draws"]


def test_deterministic_ops_are_enabled_on_request():
    output = run_python(
        """
        from logifold_kedro.tf_lib.setup import configure_tensorflow
        summary = configure_tensorflow(seed=0, deterministic=True)
        from tensorflow.python.framework import config
        print(summary["deterministic"] and config.is_op_determinism_enabled())
        """
    )
    assert output == "True"


def test_missing_gpu_index_is_a_clear_error():
    from logifold_kedro.tf_lib.setup import configure_tensorflow

    with pytest.raises(ValueError, match="visible_gpus .* do not exist"):
        configure_tensorflow(seed=0, visible_gpus=[99])
