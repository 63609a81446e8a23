"""adaptive_attacks: gate-aware and confident-core APGD, and the hard IMM evaluated on them."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
