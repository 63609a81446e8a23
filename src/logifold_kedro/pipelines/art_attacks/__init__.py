"""art_attacks: white-box APGD-CE (ART, TensorFlow) against committees and single models."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
