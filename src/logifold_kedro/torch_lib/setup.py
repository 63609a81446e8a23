"""Process-wide torch setup: seeds, CPU threads, device choice, deterministic algorithms."""

from __future__ import annotations

import logging
import os
from typing import Any

import torch

from logifold_kedro.seeding import seed_host_generators

logger = logging.getLogger(__name__)

DEVICE_CHOICES = ("auto", "cpu", "cuda", "mps")


def resolve_device(device: str = "auto") -> str:
    """The torch device name to use: ``auto`` means ``cuda`` if available, else ``cpu``.

    ``cuda:1`` style names are accepted. Asking for a device this machine does not have is an
    error (not a silent fallback), so a GPU run configured by mistake on a CPU box says so.
    """
    name = str(device).strip().lower()
    kind = name.split(":", 1)[0]
    if kind not in DEVICE_CHOICES:
        raise ValueError(f"unknown torch device {device!r}; use one of {DEVICE_CHOICES}")
    if kind == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if kind == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            f"device {device!r} requested but torch sees no CUDA GPU; use device 'cpu' or 'auto'"
        )
    if kind == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"device {device!r} requested but MPS is not available; use 'cpu'")
    return name


def seed_everything(seed: int) -> None:
    """Seed Python's ``random``, NumPy's global generator and torch (CPU and all GPUs)."""
    seed_host_generators(seed)
    torch.manual_seed(int(seed))


def configure_torch(
    seed: int,
    num_threads: int | None = None,
    device: str = "auto",
    deterministic: bool = False,
) -> dict[str, Any]:
    """Seed Python, NumPy and torch; set the CPU thread count; pick the device; determinism.

    Args:
        seed: seed of ``random``, ``numpy.random`` and ``torch`` (all devices).
        num_threads: torch intra-op CPU threads; ``None`` keeps torch's default (all cores).
        device: ``auto`` (cuda if available, else cpu), ``cpu``, ``cuda[:i]`` or ``mps``.
        deterministic: ``torch.use_deterministic_algorithms(True, warn_only=True)`` and
            deterministic cuDNN (slower on GPU); False switches both back off.

    Returns:
        A summary for logging: torch version, seed, threads, resolved device, determinism.
    """
    resolved = resolve_device(device)
    if num_threads is not None:
        if int(num_threads) < 1:
            raise ValueError(f"num_threads must be >= 1 (or null for all cores), got {num_threads}")
        torch.set_num_threads(int(num_threads))
    if deterministic:
        # cuBLAS needs this before its first use to be deterministic (no effect on CPU).
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    # warn_only: an op without a deterministic kernel warns instead of failing the run.
    torch.use_deterministic_algorithms(bool(deterministic), warn_only=True)
    torch.backends.cudnn.deterministic = bool(deterministic)
    torch.backends.cudnn.benchmark = not deterministic and resolved.startswith("cuda")
    seed_everything(seed)
    summary = {
        "torch": torch.__version__,
        "seed": int(seed),
        "num_threads": torch.get_num_threads(),
        "device": resolved,
        "cuda_available": torch.cuda.is_available(),
        "deterministic": bool(deterministic),
    }
    logger.info("torch configured: %s", summary)
    return summary
