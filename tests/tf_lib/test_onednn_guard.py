"""Regression: TensorFlow 2.21's oneDNN kernels abort ('double free') when a demo ResNet trains on
a final batch of 17 images. Importing tf_lib turns oneDNN off first; the run must complete."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent(
    """
    import os
    import numpy as np
    import logifold_kedro.tf_lib  # noqa: F401  (sets TF_ENABLE_ONEDNN_OPTS before TF loads)
    assert os.environ["TF_ENABLE_ONEDNN_OPTS"] == "0"
    from logifold_kedro.tf_lib.architectures import build_model
    from logifold_kedro.tf_lib.training import train_classifier
    rng = np.random.default_rng(0)
    train = {"x": rng.random((81, 32, 32, 3), dtype=np.float32), "y": rng.integers(0, 10, 81)}
    val = {"x": rng.random((17, 32, 32, 3), dtype=np.float32), "y": rng.integers(0, 10, 17)}
    spec = {"family": "resnet", "version": 1, "depth": 8, "width": 8, "name": "m"}
    model = build_model(spec, seed=1)
    recipe = {"epochs": 2, "batch_size": 64, "learning_rate": 1e-3, "augment": None}
    train_classifier(model, train, val, recipe, 42)
    print("TRAINED")
    """
)


def test_training_on_a_final_batch_of_17_completes():
    env = {k: v for k, v in os.environ.items() if k != "TF_ENABLE_ONEDNN_OPTS"}
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=300, env=env
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "TRAINED" in result.stdout
