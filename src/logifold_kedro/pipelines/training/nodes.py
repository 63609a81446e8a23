"""Nodes of the training stage.

Framework imports stay inside the TensorFlow nodes so that building the pipeline (and running
its framework-free nodes) never imports TensorFlow.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from logifold_kedro.data.splits import split_cifar10
from logifold_kedro.data.validation import validate_image_set
from logifold_kedro.logifold.core import accuracy
from logifold_kedro.pipelines.naming import history_entry, probs_entry


def make_splits(
    cifar10_raw: dict[str, Any], split_params: dict[str, Any]
) -> tuple[dict, dict, dict]:
    """Train/val/test image sets: 80/20 stratified split of the training images, float32 [0, 1]."""
    clean_train, clean_val, clean_test = split_cifar10(cifar10_raw, split_params)
    for name, image_set in (
        ("clean_train", clean_train),
        ("clean_val", clean_val),
        ("clean_test", clean_test),
    ):
        validate_image_set(image_set, name)
        image_set["name"] = name
    return clean_train, clean_val, clean_test


def train_base_model(
    clean_train: dict[str, Any],
    clean_val: dict[str, Any],
    model_spec: dict[str, Any],
    recipe: dict[str, Any],
    seed: int,
    model_name: str,
    resume_state: Path | None = None,
) -> tuple[Any, dict[str, Any]]:
    """Build one base classifier, train it with the recipe, keep the best epoch by val accuracy.

    With `resume_state` (the catalog's folder), a killed run resumes from the state kept in
    ``resume_state/train_u0_<model>`` (docs/resume_and_progress.md).
    """
    from logifold_kedro.tf_lib.architectures import build_model
    from logifold_kedro.tf_lib.training import train_classifier

    validate_image_set(clean_train, "clean_train")
    validate_image_set(clean_val, "clean_val")
    # Seeded per model: initial weights do not depend on what the process built before.
    model = build_model({**model_spec, "name": model_name}, seed=seed)
    resume_dir = None if resume_state is None else Path(resume_state) / f"train_u0_{model_name}"
    model, history = train_classifier(
        model, clean_train, clean_val, recipe, seed, resume_dir=resume_dir
    )
    history = {"model": model_name, "spec": dict(model_spec), **history}
    history["parameters"] = int(model.count_params())
    return model, history


def summarise_training(
    clean_val: dict[str, Any],
    clean_test: dict[str, Any],
    members: Sequence[str],
    **entries: dict[str, Any],
) -> pd.DataFrame:
    """One row per base model: family, size, best epoch, val and test accuracy, training time.

    `entries` holds, by entry name, each member's history and its val and test probabilities.
    """
    rows = []
    for name in members:
        history = entries[history_entry("u0", name)]
        val_probs = entries[probs_entry(name, "clean_val")]
        test_probs = entries[probs_entry(name, "clean_test")]
        rows.append(
            {
                "model": history["model"],
                "family": history["spec"].get("family"),
                "depth": history["spec"].get("depth", history["spec"].get("config")),
                "width": history["spec"].get("width"),
                "parameters": history.get("parameters"),
                "epochs": len(history.get("val_accuracy", [])),
                "best_epoch": history.get("best_epoch"),
                "val_accuracy": accuracy(val_probs["probs"].argmax(axis=1) == clean_val["y"]),
                "test_accuracy": accuracy(test_probs["probs"].argmax(axis=1) == clean_test["y"]),
                "train_seconds": float(np.sum(history.get("seconds", [0.0]))),
            }
        )
    return pd.DataFrame(rows)
