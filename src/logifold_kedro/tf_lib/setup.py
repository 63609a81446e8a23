"""Process-wide TensorFlow setup: seeds, thread pools, GPU visibility and memory, determinism.

Thread counts and GPU options can only be set before the TensorFlow runtime starts (the first
op, device listing of logical devices or model load starts it). Called later, this module logs
a warning and keeps the running values instead of failing, so calling it twice is harmless.
"""

from __future__ import annotations

import logging
from typing import Any

# The package __init__ (run before this module) blocks triton before TensorFlow loads.

logger = logging.getLogger(__name__)

# Op determinism cannot be switched off once enabled; remember it for the summary.
_determinism_enabled = False


def _set_threads(intra_op_threads: int | None, inter_op_threads: int | None) -> None:
    """Set TensorFlow's thread pools; warn (do not fail) when the runtime already runs."""
    import tensorflow as tf

    wanted = {
        "intra_op": (intra_op_threads, tf.config.threading.get_intra_op_parallelism_threads,
                     tf.config.threading.set_intra_op_parallelism_threads),
        "inter_op": (inter_op_threads, tf.config.threading.get_inter_op_parallelism_threads,
                     tf.config.threading.set_inter_op_parallelism_threads),
    }  # fmt: skip
    for pool, (count, get_count, set_count) in wanted.items():
        if count is None:
            continue
        if count < 0:
            raise ValueError(f"{pool}_threads must be >= 0 (0: TensorFlow's default), got {count}")
        if get_count() == count:
            continue
        try:
            set_count(int(count))
        except RuntimeError as error:
            logger.warning(
                "cannot set TensorFlow %s threads to %d: the runtime is already initialised "
                "(%s); keeping %d. Configure TensorFlow before any model is built or loaded.",
                pool,
                count,
                error,
                get_count(),
            )


def _configure_gpus(visible_gpus: list[int] | None, memory_growth: bool) -> list[str]:
    """Restrict the visible GPUs and turn on memory growth; returns the visible GPU names."""
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if visible_gpus is not None:
        unknown = [index for index in visible_gpus if not 0 <= index < len(gpus)]
        if unknown:
            raise ValueError(
                f"visible_gpus {visible_gpus} names GPUs {unknown} that do not exist; "
                f"this machine has {len(gpus)} GPU(s) (indices 0..{len(gpus) - 1})"
            )
        try:
            tf.config.set_visible_devices([gpus[index] for index in visible_gpus], "GPU")
        except RuntimeError as error:
            logger.warning("cannot change visible GPUs after TensorFlow started: %s", error)
    visible = tf.config.get_visible_devices("GPU")
    for gpu in visible:
        if tf.config.experimental.get_memory_growth(gpu) == memory_growth:
            continue
        try:
            # Growth lets a torch process share the card instead of TF taking all memory.
            tf.config.experimental.set_memory_growth(gpu, memory_growth)
        except RuntimeError as error:
            logger.warning("cannot set memory growth on %s after TF started: %s", gpu.name, error)
    return [gpu.name for gpu in visible]


def configure_tensorflow(
    seed: int,
    intra_op_threads: int | None = None,
    inter_op_threads: int | None = None,
    memory_growth: bool = True,
    deterministic: bool = False,
    visible_gpus: list[int] | None = None,
) -> dict[str, Any]:
    """Seed Python, NumPy, TensorFlow and Keras; set threads, GPUs and op determinism.

    Args:
        seed: passed to ``keras.utils.set_random_seed`` (Python, NumPy, TF and Keras seeds).
        intra_op_threads / inter_op_threads: TF thread pool sizes; ``None`` keeps the current
            value (0 = TensorFlow's default, all cores).
        memory_growth: allocate GPU memory as needed instead of all at once.
        deterministic: enable TF op determinism (slower; cannot be switched off again in the
            same process).
        visible_gpus: indices of the GPUs TensorFlow may use; ``None`` keeps all.

    Returns:
        A summary for logging: versions, seed, thread counts, visible devices, determinism.
    """
    import keras
    import tensorflow as tf

    global _determinism_enabled
    _set_threads(intra_op_threads, inter_op_threads)
    gpu_names = _configure_gpus(visible_gpus, memory_growth)
    if deterministic and not _determinism_enabled:
        tf.config.experimental.enable_op_determinism()
        _determinism_enabled = True
    elif not deterministic and _determinism_enabled:
        logger.warning("op determinism was enabled earlier in this process and stays on")
    keras.utils.set_random_seed(int(seed))
    summary = {
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "seed": int(seed),
        "intra_op_threads": tf.config.threading.get_intra_op_parallelism_threads(),
        "inter_op_threads": tf.config.threading.get_inter_op_parallelism_threads(),
        "gpus": gpu_names,
        "devices": [device.name for device in tf.config.get_visible_devices()],
        "memory_growth": bool(memory_growth) if gpu_names else None,
        "deterministic": _determinism_enabled,
    }
    logger.info("TensorFlow configured: %s", summary)
    return summary
