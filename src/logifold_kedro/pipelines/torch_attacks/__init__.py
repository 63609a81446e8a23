"""torch_attacks: the RobustBench surrogate and the AutoAttack transfer set (PyTorch)."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
