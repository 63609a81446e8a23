"""Which deep-learning framework a node needs, and that framework's per-process setup.

A node that runs TensorFlow or torch code carries the framework's name as a tag. Before the first
such node of a process, `configure_framework` applies the framework's setup (seeds, thread
counts, GPU memory growth, device, determinism) from the project parameters. Both the project's
`FrameworkSetupHook` (sequential runs) and the Dask workers (`logifold_kedro.runners`) use it.
The framework modules are imported only inside `configure_framework`, so importing this module
imports neither TensorFlow nor torch.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

FRAMEWORK_TAGS = ("tensorflow", "torch")


def frameworks_of(tags: Iterable[str]) -> list[str]:
    """The frameworks named by a node's tags, in `FRAMEWORK_TAGS` order."""
    tags = set(tags)
    return [framework for framework in FRAMEWORK_TAGS if framework in tags]


def configure_framework(framework: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """Apply one framework's setup from the project parameters (``seed`` and the framework's
    entry of ``frameworks``) and return the summary of what it set."""
    seed = int(params.get("seed", 42))
    options = dict((params.get("frameworks") or {}).get(framework) or {})
    if framework == "tensorflow":
        from logifold_kedro.tf_lib.setup import configure_tensorflow

        return configure_tensorflow(seed=seed, **options)
    if framework == "torch":
        from logifold_kedro.torch_lib.setup import configure_torch

        return configure_torch(seed=seed, **options)
    raise ValueError(f"unknown framework {framework!r}; expected one of {FRAMEWORK_TAGS}")
