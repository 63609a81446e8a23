"""The one oneDNN kernel these models must not run, and the gradient that avoids it.

TensorFlow 2.21 bundles oneDNN 3.7.3. Its ``jit_1x1`` backward-weights convolution (the AVX-512
and AVX2 kernels) handles a strided 1x1 convolution by first copying the strided pixels into a
per-thread workspace ("rtus", reduce to unit stride). With an NHWC source, TensorFlow's layout,
each thread's workspace holds ``is * ic`` floats (output pixels x input channels) but the copy
for output pixel ``sp`` starts ``sp * ic_block`` floats into it; with fewer input channels than
a block (``ic_block`` is 16 floats on AVX-512, 8 on AVX2) the copies run past the thread's slot
and the last thread's past the whole scratchpad (upstream: uxlfoundation/oneDNN#6035, open; the
offset is unchanged on oneDNN's main branch). Whether the overrun hits heap metadata depends
on the batch and on how the work is split between threads (odd batches crashed on two
threads, some on four, none on one: the reproduction is in benchmarks/README.md), which is
why the crash showed only on a run's small final batch.

The demo ResNet v1s (width 8) have one such layer, the projection shortcut into stage 2 (a 1x1
convolution, stride 2, from 8 channels). The filter gradient of a 1x1 convolution with stride
``s`` is the filter gradient of a stride-1 1x1 convolution of the pixels it reads,
``x[:, ::s, ::s, :]`` (a 1x1 kernel pads nothing, with SAME or VALID padding), and oneDNN's
stride-1 kernel reads its source in place, without the workspace. So TensorFlow's gradient of
``Conv2D`` is replaced by one that computes it that way for exactly those convolutions (1x1,
strided, NHWC, no dilation, fewer than 16 input channels) and is TensorFlow's own for every other.
The same arithmetic, with or without oneDNN; only the order of the float sums may differ.

`route_strided_1x1_filter_gradients` installs it; `training` and `forward` (hence the trainers,
predictions and APGD) call it on import, before anything is traced. A gradient traced before it
was installed keeps TensorFlow's, so a process that differentiates these models without those
modules must call it first.
"""

from __future__ import annotations

import logging
from typing import Any

import tensorflow as tf
from tensorflow.python.framework import ops as tf_ops
from tensorflow.python.framework import registry as tf_registry
from tensorflow.python.ops import gen_nn_ops

logger = logging.getLogger(__name__)

# oneDNN's largest f32 channel block (AVX-512); AVX2's is 8, so this covers both.
ONEDNN_IC_BLOCK = 16

_ORIGINAL_ATTRIBUTE = "_logifold_original_gradient"


def _attr_text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def needs_route(op: Any) -> bool:
    """Whether `op` (a Conv2D) is a convolution whose filter gradient would run the faulty kernel:
    1x1, stride > 1, NHWC, no dilation, SAME/VALID padding, fewer than 16 input channels (or an
    unknown count)."""
    kernel = op.inputs[1].shape
    if kernel.rank != 4 or kernel[0] != 1 or kernel[1] != 1:
        return False
    if _attr_text(op.get_attr("data_format")) != "NHWC":
        return False
    if _attr_text(op.get_attr("padding")) not in ("SAME", "VALID"):
        return False
    strides, dilations = list(op.get_attr("strides")), list(op.get_attr("dilations"))
    if strides[1:3] == [1, 1] or dilations != [1, 1, 1, 1]:
        return False
    return kernel[2] is None or kernel[2] < ONEDNN_IC_BLOCK


def _routed_conv2d_gradient(op: Any, grad: tf.Tensor) -> list[tf.Tensor | None]:
    """TensorFlow's Conv2D gradient, with the filter gradient of `needs_route` convolutions taken
    on the subsampled input at stride 1 (see the module docstring)."""
    original = getattr(_routed_conv2d_gradient, _ORIGINAL_ATTRIBUTE)
    if not needs_route(op):
        return original(op, grad)
    # An eager tape says which inputs need no gradient; TensorFlow's own function ignores it.
    skip = getattr(op, "skip_input_indices", None) or ()
    strides = list(op.get_attr("strides"))
    images, kernel = op.inputs[0], op.inputs[1]
    input_gradient = None
    if 0 not in skip:
        # The data gradient's kernel (backward_data) has no such fault: TensorFlow's call, as is.
        input_gradient = gen_nn_ops.conv2d_backprop_input(
            tf.shape(images),
            kernel,
            grad,
            strides=strides,
            padding=op.get_attr("padding"),
            use_cudnn_on_gpu=op.get_attr("use_cudnn_on_gpu"),
            data_format="NHWC",
        )
    filter_gradient = None
    if 1 not in skip:
        # Output pixel (i, j) reads input pixel (s_h i, s_w j): exactly these pixels, stride 1.
        read_pixels = images[:, :: strides[1], :: strides[2], :]
        filter_gradient = gen_nn_ops.conv2d_backprop_filter(
            read_pixels,
            tf.shape(kernel),
            grad,
            strides=[1, 1, 1, 1],
            padding="VALID",
            use_cudnn_on_gpu=op.get_attr("use_cudnn_on_gpu"),
            data_format="NHWC",
        )
    return [input_gradient, filter_gradient]


def route_strided_1x1_filter_gradients() -> None:
    """Make TensorFlow's ``Conv2D`` gradient `_routed_conv2d_gradient` (idempotent).

    TensorFlow offers no public way to replace a registered gradient, so this sets the entry of
    its gradient registry, the table both eager tapes and traced functions look gradients up in.
    """
    entries = tf_ops._gradient_registry._registry
    entry = entries["Conv2D"]
    current = entry[tf_registry._TYPE_TAG]
    if current is _routed_conv2d_gradient:
        return
    setattr(_routed_conv2d_gradient, _ORIGINAL_ATTRIBUTE, current)
    entry[tf_registry._TYPE_TAG] = _routed_conv2d_gradient
    logger.debug("Conv2D gradient: strided 1x1 filter gradients routed around oneDNN's rtus")


def is_routed() -> bool:
    """Whether TensorFlow's Conv2D gradient is the routed one."""
    return tf_ops._gradient_registry.lookup("Conv2D") is _routed_conv2d_gradient


def onednn_enabled() -> bool:
    """Whether this process's TensorFlow runs oneDNN's CPU kernels (``TF_ENABLE_ONEDNN_OPTS``)."""
    from tensorflow.python.util import _pywrap_util_port

    return bool(_pywrap_util_port.IsMklEnabled())
