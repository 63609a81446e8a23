"""Framework-free data helpers: stratified splits, pixel scaling, array validation (numpy only)."""

from logifold_kedro.data.splits import (
    split_cifar10,
    stratified_split,
    stratified_subset,
    to_unit_float,
)
from logifold_kedro.data.validation import validate_image_set, validate_probabilities

__all__ = [
    "split_cifar10",
    "stratified_split",
    "stratified_subset",
    "to_unit_float",
    "validate_image_set",
    "validate_probabilities",
]
