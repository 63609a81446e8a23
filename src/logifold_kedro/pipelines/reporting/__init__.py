"""reporting: tables beside the published numbers, figures and one report (no TF, no torch)."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
