"""training: CIFAR-10 splits and the eight base classifiers U0 (TensorFlow/Keras)."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
