"""TensorFlow/Keras library: setup, architectures, training, specialists, committees, APGD.

Importing this package imports neither TensorFlow nor torch. It only applies one guard first
(docs/stack.md, trap 2): torch loads ``triton`` lazily, and loading triton after TensorFlow crashes
the process (exit 139). Eager torch never needs triton, so unless triton is already imported,
``sys.modules["triton"]`` is set to ``None``: a later ``import triton`` (by torch, robustbench,
...) then raises ImportError, which torch treats as "triton not available".

``TF_ENABLE_ONEDNN_OPTS`` is left alone: TensorFlow's default on x86 is oneDNN on, the faster
setting for training and APGD here (measured side by side in benchmarks/README.md). The heap crash
that once made the project turn it off (``double free``, exit 134/139, training on a small final
batch) is one faulty oneDNN kernel, the backward-weights pass of a strided 1x1 convolution with
fewer than 16 input channels (the demo ResNet v1s' projection shortcut). `tf_lib.onednn` routes that
gradient around it; `training` and `forward` install the route when they are imported.
"""

from __future__ import annotations

import logging
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


_block_triton_before_tensorflow()
