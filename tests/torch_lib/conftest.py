"""Shared fixtures of the torch_lib tests: synthetic image sets and small zoo models.

The image sets are learnable in a few steps: each class has its own mean colour, every pixel
adds Gaussian noise. ``TinyNet`` is a small network of the RobustBench-zoo kind (NCHW [0, 1]
in, logits out) registered through ``register_zoo_model`` like any custom architecture; it
keeps the AutoAttack tests fast. The WideResNet tests use robustbench's own WRN at depth 10,
width 1.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch
from torch import nn

from logifold_kedro.torch_lib.robustbench_compat import build_zoo_model, register_zoo_model
from logifold_kedro.torch_lib.surrogate import train_surrogate

os.environ.setdefault("KEDRO_DISABLE_TELEMETRY", "1")

WRN_NAME = "Test-WRN-10-1"
TINY_NAME = "Test-TinyNet"


def make_image_set(count: int, seed: int, noise: float = 0.15) -> dict[str, np.ndarray]:
    """float32 NHWC images in [0, 1] whose class is their mean colour; labels 0..9 in turn."""
    class_colours = np.random.default_rng(123).uniform(0.3, 0.7, (10, 3)).astype(np.float32)
    labels = np.arange(count) % 10
    pixels = np.random.default_rng(seed).standard_normal((count, 32, 32, 3))
    images = np.clip(class_colours[labels][:, None, None, :] + noise * pixels, 0.0, 1.0)
    return {"x": images.astype(np.float32), "y": labels.astype(np.int64)}


class TinyNet(nn.Module):
    """Two strided conv + BN + ReLU layers, global average pooling, a linear classifier."""

    def __init__(self, width: int = 8, num_classes: int = 10) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, width, 3, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(width),
            nn.ReLU(),
            nn.Conv2d(width, 2 * width, 3, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(2 * width),
            nn.ReLU(),
        )
        self.fc = nn.Linear(2 * width, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(x).mean(dim=(2, 3)))


@pytest.fixture(scope="session", autouse=True)
def one_torch_thread():
    """One intra-op thread: on a shared 2-core machine, OpenMP threads spin-waiting for a busy
    core made every op of these tiny models 10-20x slower than with one thread."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def wrn_name() -> str:
    register_zoo_model(WRN_NAME, architecture="WideResNet", depth=10, widen_factor=1)
    return WRN_NAME


@pytest.fixture(scope="session")
def tiny_name() -> str:
    register_zoo_model(TINY_NAME, architecture=TinyNet, width=8)
    return TINY_NAME


@pytest.fixture(scope="session")
def train_set() -> dict[str, np.ndarray]:
    return make_image_set(200, seed=0)


@pytest.fixture(scope="session")
def val_set() -> dict[str, np.ndarray]:
    return make_image_set(50, seed=1)


@pytest.fixture(scope="session")
def trained_tiny(tiny_name, train_set, val_set) -> nn.Module:
    """TinyNet trained a few epochs (well above chance on the synthetic classes)."""
    torch.manual_seed(0)
    model = build_zoo_model(tiny_name)
    recipe = {"epochs": 6, "batch_size": 20, "optimizer": "adam", "learning_rate": 0.01}
    model, _ = train_surrogate(model, train_set, val_set, recipe, seed=0)
    return model
