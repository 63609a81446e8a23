"""torch library: setup, RobustBench compatibility, the surrogate, the AutoAttack adapter.

Importing this package imports neither torch nor TensorFlow. It only applies one guard first
(docs/stack.md, trap 2): torch 2.14 loads ``triton`` lazily, and loading triton after TensorFlow
crashes the process (exit 139), e.g. on the first optimizer step or on ``import robustbench``.
So when TensorFlow is already imported and triton is not, ``sys.modules["triton"]`` is set to
``None``: a later ``import triton`` raises ImportError, which torch treats as "triton not
available". Eager torch (all this project runs) never needs triton; only ``torch.compile``
would. Without TensorFlow in the process nothing is changed. (``logifold_kedro.tf_lib`` blocks
triton on its own side, so the order "torch first, TensorFlow later" is covered there.)
"""

from __future__ import annotations

import logging
import sys

logger = logging.getLogger(__name__)


def _block_triton_after_tensorflow() -> None:
    """Make triton unimportable if TensorFlow is loaded and triton is not (yet)."""
    if "triton" in sys.modules:
        return  # already loaded (safe: it came before TensorFlow) or already blocked
    if "tensorflow" not in sys.modules:
        return
    sys.modules["triton"] = None  # type: ignore[assignment]
    logger.debug(
        "TensorFlow is loaded: blocked triton imports (torch loaded: %s) so torch never loads "
        "triton after TensorFlow (docs/stack.md, trap 2)",
        "torch" in sys.modules,
    )


_block_triton_after_tensorflow()
