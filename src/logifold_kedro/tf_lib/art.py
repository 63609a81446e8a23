"""The ART classes the TensorFlow attacks use, imported without letting ART import torch."""

from __future__ import annotations

import importlib
import sys
import warnings
from typing import Any


def _import_art_without_torch() -> tuple[Any, Any, Any]:
    """Import the ART pieces used here without letting ART import torch.

    ART's package ``__init__`` files import its PyTorch certification estimators whenever torch
    is installed (``importlib.util.find_spec("torch")``), which would load torch (~0.5 GB, and the
    TensorFlow-then-torch trap, docs/stack.md) into every TensorFlow process. While ART is
    imported, ``sys.modules["torch"]`` is ``None`` (so ``find_spec`` reports no torch and ART
    skips those parts); afterwards the entry is removed again, so later ``import torch`` works
    normally.
    """
    block_torch = "torch" not in sys.modules
    if block_torch:
        sys.modules["torch"] = None  # type: ignore[assignment]
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="PyTorch not found")
            evasion = importlib.import_module("art.attacks.evasion")
            classification = importlib.import_module("art.estimators.classification")
            art_utils = importlib.import_module("art.utils")
    finally:
        if block_torch and sys.modules.get("torch", False) is None:
            del sys.modules["torch"]
    return (
        evasion.AutoProjectedGradientDescent,
        classification.TensorFlowV2Classifier,
        art_utils.check_and_transform_label_format,
    )


(
    AutoProjectedGradientDescent,
    TensorFlowV2Classifier,
    check_and_transform_label_format,
) = _import_art_without_torch()
