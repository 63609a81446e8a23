"""The triton guard of ``logifold_kedro.torch_lib`` (docs/stack.md, trap 2), in fresh
interpreters."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

ENV = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "1", "TF_CPP_MIN_LOG_LEVEL": "3"}


def run_python(code: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=ENV,
    )


def test_guard_blocks_triton_when_tensorflow_is_loaded():
    result = run_python(
        """
        import sys, types
        sys.modules["tensorflow"] = types.ModuleType("tensorflow")
        import logifold_kedro.torch_lib
        assert "triton" in sys.modules and sys.modules["triton"] is None, sys.modules.get("triton")
        try:
            import triton
        except ImportError:
            print("blocked")
        """
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "blocked"


def test_guard_leaves_triton_alone_without_tensorflow():
    result = run_python(
        """
        import sys
        import logifold_kedro.torch_lib
        assert "triton" not in sys.modules
        assert "tensorflow" not in sys.modules and "torch" not in sys.modules
        print("untouched")
        """
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "untouched"


def test_guard_keeps_an_already_loaded_triton():
    result = run_python(
        """
        import sys, types
        loaded = types.ModuleType("triton")
        sys.modules["triton"] = loaded
        sys.modules["tensorflow"] = types.ModuleType("tensorflow")
        import logifold_kedro.torch_lib
        assert sys.modules["triton"] is loaded
        print("kept")
        """
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "kept"


def test_tensorflow_then_torch_training_and_robustbench_do_not_crash():
    # Without the guard this process dies with SIGSEGV (exit 139) at the optimizer step.
    result = run_python(
        """
        import warnings
        warnings.filterwarnings("ignore")
        import tensorflow
        import logifold_kedro.torch_lib
        import torch
        layer = torch.nn.Linear(4, 2)
        optimizer = torch.optim.SGD(layer.parameters(), lr=0.1)
        layer(torch.rand(3, 4)).sum().backward()
        optimizer.step()
        from logifold_kedro.torch_lib.robustbench_compat import ensure_autoattack_module
        ensure_autoattack_module()
        import robustbench
        print("survived")
        """,
        timeout=300,
    )
    assert result.returncode == 0, (result.returncode, result.stderr[-2000:])
    assert result.stdout.strip().endswith("survived")
