"""immunization: SPs, U1, thresholds, U2' and IMM, evaluated from stored probabilities."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
