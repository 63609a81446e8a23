"""Kedro catalog datasets (numpy and fsspec only, no deep-learning framework)."""

from logifold_kedro.datasets.cifar10_archive import CIFAR10ArchiveDataset
from logifold_kedro.datasets.npz_dataset import NpzDataset

__all__ = ["CIFAR10ArchiveDataset", "NpzDataset"]
