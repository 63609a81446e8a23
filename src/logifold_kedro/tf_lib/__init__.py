"""TensorFlow/Keras library: setup, architectures, training, specialists, committees, APGD.

Importing this package imports neither TensorFlow nor torch. It only applies one guard first
(STACK.md, trap 2): torch loads ``triton`` lazily, and loading triton after TensorFlow crashes
the process (exit 139). Eager torch never needs triton, so unless triton is already imported,
``sys.modules["triton"]`` is set to ``None``: a later ``import triton`` (by torch, robustbench,
...) then raises ImportError, which torch treats as "triton not available".

A second guard: TensorFlow 2.21's oneDNN CPU kernels corrupt the heap (``double free``, exit
134/139) when training these ResNets on a final batch of 17 images (e.g. 1,489 images in batches
of 64); reproduced with a bare ``model.fit``. Unless the user set ``TF_ENABLE_ONEDNN_OPTS``, it is
set to ``0`` before TensorFlow loads (about 15% slower on this CPU, and never a crash).
"""

from __future__ import annotations

import logging
import os
import sys

logger = logging.getLogger(__name__)


def _block_triton_before_tensorflow() -> None:
    """Make triton unimportable in this process unless it is already loaded.

    Both cases need it: torch already imported but triton not yet loaded (torch would load it
    lazily later, after TensorFlow), and torch not imported yet (a later torch import in the same
    process must not load triton either).
    """
    if "triton" in sys.modules:
        if sys.modules["triton"] is not None:
            logger.debug("triton already imported before TensorFlow; leaving it loaded")
        return
    sys.modules["triton"] = None  # type: ignore[assignment]
    logger.debug(
        "blocked triton imports (torch loaded: %s) so torch never loads it after TensorFlow",
        "torch" in sys.modules,
    )


def disable_onednn_before_tensorflow() -> None:
    """Turn TensorFlow's oneDNN CPU kernels off unless the user chose (see the module docstring)."""
    if "tensorflow" in sys.modules and "TF_ENABLE_ONEDNN_OPTS" not in os.environ:
        logger.warning("TensorFlow was imported before logifold_kedro.tf_lib: oneDNN stays on")
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")


_block_triton_before_tensorflow()
disable_onednn_before_tensorflow()
