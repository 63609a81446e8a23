"""Images between the catalog's float32 NHWC arrays and torch's NCHW tensors, and predictions.

The catalog holds images as float32 NHWC in [0, 1] (the contract `data.validation` checks);
RobustBench models take NCHW input in [0, 1] and return logits. The transposes happen here,
inside torch_lib.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from logifold_kedro.torch_lib.setup import resolve_device


def to_nchw_tensor(x_nhwc: np.ndarray) -> torch.Tensor:
    """float32 NHWC numpy images -> contiguous float32 NCHW torch tensor (a copy)."""
    return (
        torch.from_numpy(np.ascontiguousarray(x_nhwc, dtype=np.float32))
        .permute(0, 3, 1, 2)
        .contiguous()
    )


def to_nhwc_array(x_nchw: torch.Tensor) -> np.ndarray:
    """NCHW torch tensor -> float32 NHWC numpy array (on the CPU)."""
    return np.ascontiguousarray(x_nchw.detach().cpu().permute(0, 2, 3, 1).numpy(), dtype=np.float32)


def predict_logits(
    model: nn.Module, x_nhwc: np.ndarray, batch_size: int = 256, device: str = "cpu"
) -> np.ndarray:
    """Logits (N, classes) of ``model`` in eval mode on float32 NHWC images, batch by batch."""
    device = resolve_device(device)
    was_training = model.training
    model.eval().to(device)
    outputs = []
    try:
        with torch.no_grad():
            for start in range(0, len(x_nhwc), int(batch_size)):
                batch = to_nchw_tensor(x_nhwc[start : start + int(batch_size)]).to(device)
                outputs.append(model(batch).float().cpu().numpy())
    finally:
        model.train(was_training)
    if not outputs:
        return np.zeros((0, 0), dtype=np.float32)
    return np.concatenate(outputs)
