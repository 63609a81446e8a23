"""Nodes of the torch stage. torch is imported inside the nodes only (never TensorFlow)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from logifold_kedro.data.validation import validate_image_set


def fit_surrogate(
    surrogate_source: Any,
    clean_train: dict[str, Any],
    clean_val: dict[str, Any],
    surrogate_params: dict[str, Any],
    seed: int,
    resume_state: Path,
) -> tuple[Any, dict[str, Any]]:
    """Train the surrogate from its source for `epochs` epochs (0: the pretrained RobustBench
    weights pass unchanged; otherwise, e.g. a small zoo architecture trained from scratch).

    A killed run resumes from its last finished epoch, kept in `resume_state`/surrogate."""
    from logifold_kedro.torch_lib.surrogate import train_surrogate

    validate_image_set(clean_train, "clean_train")
    validate_image_set(clean_val, "clean_val")
    model, history = train_surrogate(
        surrogate_source,
        clean_train,
        clean_val,
        surrogate_params,
        seed,
        state_dir=Path(resume_state) / "surrogate",
    )
    return model, history


def autoattack_transfer_set(
    surrogate: Any,
    clean_test: dict[str, Any],
    autoattack_params: dict[str, Any],
    seed: int,
    resume_state: Path,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """AutoAttack (L2, standard) on the surrogate with the true labels: the transfer test set.

    A killed run resumes from the chunks and attack batches kept in `resume_state`/autoattack.

    Returns the adversarial images (float32 NHWC in [0, 1], true labels, settings beside them)
    and a report: clean and robust accuracy of the surrogate and L2 perturbation statistics.
    """
    from logifold_kedro.torch_lib.autoattack_adapter import (
        accuracy,
        l2_perturbation_stats,
        run_autoattack,
    )

    validate_image_set(clean_test, "clean_test")
    count = autoattack_params.get("num_images")
    x = clean_test["x"][:count] if count else clean_test["x"]
    y = clean_test["y"][:count] if count else clean_test["y"]
    settings = {
        "norm": autoattack_params.get("norm", "L2"),
        "eps": float(autoattack_params.get("eps", 0.5)),
        "version": autoattack_params.get("version", "standard"),
        "attacks": autoattack_params.get("attacks"),
    }
    batch_size = int(autoattack_params.get("batch_size", 64))
    x_adv = run_autoattack(
        surrogate,
        x,
        y,
        seed=int(seed),
        batch_size=batch_size,
        device=autoattack_params.get("device", "cpu"),
        state_dir=Path(resume_state) / "autoattack",
        **settings,
    )
    stats = l2_perturbation_stats(x, x_adv)
    if stats["l2_max"] > settings["eps"] + 1e-4:
        raise ValueError(
            f"AutoAttack returned a perturbation of L2 norm {stats['l2_max']:.6f} > eps "
            f"{settings['eps']} + 1e-4; refusing to store it"
        )
    surrogate_name = type(surrogate).__name__
    report = {
        "surrogate": surrogate_name,
        "n": len(y),
        "clean_accuracy": accuracy(surrogate, x, y, batch_size),
        "robust_accuracy": accuracy(surrogate, x_adv, y, batch_size),
        **settings,
        "seed": int(seed),
        **stats,
    }
    adversarial = {
        "x": x_adv.astype(np.float32),
        "y": y.astype(np.int64),
        "name": "autoattack_test",
        "source_set": "clean_test",
        "attack": "AutoAttack (transfer from the surrogate)",
        "surrogate": surrogate_name,
        "setting": settings,
        "seed": int(seed),
        **stats,
    }
    return adversarial, report
