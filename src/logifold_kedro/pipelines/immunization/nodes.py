"""Nodes of the immunization stage.

The specialist nodes are TensorFlow nodes (framework imported inside them). Every entropy,
threshold, core and IMM number comes from stored probabilities through the framework-free
math of `logifold_kedro.logifold` (the experiments' measures: `logifold.experiments`): these
nodes gather, call and package; no model is run again.

Nodes that read many probability entries take them as keyword arguments named after their
catalog entries (`probs__<model>__<image set>`), looked up with the helpers below.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from logifold_kedro.data.splits import stratified_split
from logifold_kedro.data.validation import validate_image_set
from logifold_kedro.logifold.bootstrap import (
    bootstrap_settings,
    bootstrap_thresholds,
    replicate_columns,
)
from logifold_kedro.logifold.entropy import committee_entropy, mean_probabilities
from logifold_kedro.logifold.experiments import (
    evaluate_imm,
    experiment1_family_rows,
    experiment1_row,
    experiment3_table,
)
from logifold_kedro.logifold.threshold import select_threshold, threshold_curve, threshold_grid
from logifold_kedro.pipelines.committee_nodes import member_probs, u2_skipped_reason
from logifold_kedro.pipelines.naming import ENVIRONMENTS, environment_sets

logger = logging.getLogger(__name__)

#: What to do when too few samples are out of U1's core (params:u2.policy).
U2_POLICIES = ("error", "skip")
#: The fewest high-entropy samples worth fine-tuning on (at least one for validation).
MIN_U2_SAMPLES = 4


def concat_image_sets(image_sets: Sequence[Mapping[str, Any]]) -> dict[str, np.ndarray]:
    return {
        "x": np.concatenate([s["x"] for s in image_sets]),
        "y": np.concatenate([s["y"] for s in image_sets]).astype(np.int64),
    }


def labels_of(entries: Mapping[str, Any], image_sets: Sequence[str]) -> np.ndarray:
    return np.concatenate([np.asarray(entries[s]["y"]) for s in image_sets]).astype(np.int64)


def split_for_training(
    x: np.ndarray, y: np.ndarray, val_fraction: float, seed: int
) -> tuple[dict, dict]:
    """Train/val split of (x, y) by scikit-learn's stratified ``train_test_split`` (the
    reference's call, see ``stratified_split``); unstratified where a small pool (a few
    high-entropy samples at CPU scale) has a class too small to stratify.

    The validation part holds ``ceil(val_fraction * N)`` samples, so at least one.
    """
    n_samples = len(y)
    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f"val_fraction must lie strictly between 0 and 1, got {val_fraction!r}.")
    if n_samples < 2:
        raise ValueError(
            f"cannot split {n_samples} sample(s) into a training and a validation part: "
            "need at least 2."
        )
    idx_train, idx_val = stratified_split(y, val_fraction, seed, unstratified_if_impossible=True)
    return {"x": x[idx_train], "y": y[idx_train]}, {"x": x[idx_val], "y": y[idx_val]}


# --- specialists (TensorFlow) ------------------------------------------------------------------
def fine_tune_specialist(
    base_model: Any,
    train: dict[str, Any],
    val: dict[str, Any],
    recipe: dict[str, Any],
    seed: int,
    name: str,
    resume_state: Path | None = None,
) -> tuple[Any, dict[str, Any]]:
    """Base network up to its penultimate layer, a new Dense(10) + Softmax head, all fine-tuned.

    With `resume_state`, a killed fine-tuning resumes from ``resume_state/train_<name>``.
    """
    from logifold_kedro.tf_lib.specialists import make_specialist
    from logifold_kedro.tf_lib.training import train_classifier

    specialist = make_specialist(base_model, name=name, seed=seed)
    resume_dir = None if resume_state is None else Path(resume_state) / f"train_{name}"
    specialist, history = train_classifier(
        specialist, train, val, recipe, seed, resume_dir=resume_dir
    )
    return specialist, {
        "model": name,
        "base": base_model.name,
        "n_train": len(train["y"]),
        "n_val": len(val["y"]),
        **history,
    }


def train_first_generation_specialist(
    base_model: Any,
    weak_train: dict[str, Any],
    weak_val: dict[str, Any],
    recipe: dict[str, Any],
    split_params: dict[str, Any],
    seed: int,
    name: str,
    resume_state: Path | None = None,
) -> tuple[Any, dict[str, Any]]:
    """An SP: fine-tuned on all weak-APGD-against-U0 images of train + val with their true
    labels, re-split 80/20 stratified (seed 42)."""
    validate_image_set(weak_train, "u0_apgd_weak_train")
    validate_image_set(weak_val, "u0_apgd_weak_val")
    pool = concat_image_sets([weak_train, weak_val])
    train, val = split_for_training(
        pool["x"], pool["y"], float(split_params["val_fraction"]), int(split_params["seed"])
    )
    return fine_tune_specialist(base_model, train, val, recipe, seed, name, resume_state)


def train_second_generation_specialist(
    base_model: Any,
    u2_train: dict[str, Any],
    u2_val: dict[str, Any],
    recipe: dict[str, Any],
    seed: int,
    name: str,
    resume_state: Path | None = None,
) -> tuple[Any, dict[str, Any]]:
    """A U2' member: fine-tuned from the *base* ResNet on its environment's high-entropy samples.

    When the environment was skipped by policy (too few out-of-core samples), the specialist is
    the base network with an untrained head, and its history says so; the evaluation reports that
    environment's U2' and IMM numbers as not available.
    """
    if u2_train.get("skipped"):
        from logifold_kedro.tf_lib.specialists import make_specialist

        logger.warning("%s: environment skipped (%s); no fine-tuning", name, u2_train.get("reason"))
        return make_specialist(base_model, name=name, seed=seed), {
            "model": name,
            "skipped": True,
            "reason": u2_train.get("reason"),
        }
    return fine_tune_specialist(base_model, u2_train, u2_val, recipe, seed, name, resume_state)


# --- thresholds and second-generation data (framework-free) ------------------------------------
def select_thresholds(
    threshold_params: dict[str, Any],
    bootstrap_params: dict[str, Any],
    u1_ids: Sequence[str],
    **entries: Any,
) -> tuple[dict[str, Any], pd.DataFrame, pd.DataFrame]:
    """Per environment, the threshold chosen on its *validation* set with U1, its
    percentile bootstrap interval (`threshold_low/_high`), the coverage/accuracy curves, and the
    bootstrap distribution of the choice (`params:bootstrap.threshold_resamples` resamples of
    the validation set)."""
    scan = {
        k: threshold_params[k] for k in ("target", "start", "stop", "step", "min_core", "decimals")
    }
    settings = bootstrap_settings(bootstrap_params)
    n_resamples = int((bootstrap_params or {}).get("threshold_resamples", 200))
    grid = threshold_grid(scan["start"], scan["stop"], scan["step"])
    thresholds, curves, distributions = {}, [], []
    for environment in ENVIRONMENTS:
        sets = environment_sets(environment, "val")
        probs = member_probs(entries, u1_ids, sets)
        labels = labels_of(entries, sets)
        entropy = committee_entropy(probs)
        predictions = mean_probabilities(probs).argmax(axis=1)
        selection = select_threshold(entropy, predictions, labels, **scan)
        replicates = bootstrap_thresholds(
            entropy, predictions, labels, n_resamples, settings["seed"], **scan
        )
        bounds = replicate_columns({"threshold": replicates}, settings["confidence"])
        # JSON has no NaN: an empty core's accuracy is stored as null.
        thresholds[environment] = {
            k: (None if isinstance(v, float) and np.isnan(v) else v)
            for k, v in {**selection.to_dict(), **bounds}.items()
        }
        logger.info("threshold %s: %s", environment, thresholds[environment])
        curve = threshold_curve(entropy, predictions, labels, grid)
        curve.insert(0, "environment", environment)
        curves.append(curve)
        distributions.append(
            pd.DataFrame(
                {
                    "environment": environment,
                    "replicate": np.arange(n_resamples),
                    "threshold": replicates,
                    "selected": selection.threshold,
                }
            )
        )
    return (
        thresholds,
        pd.concat(curves, ignore_index=True),
        pd.concat(distributions, ignore_index=True),
    )


def select_second_generation_data(
    thresholds: dict[str, Any],
    u2_params: dict[str, Any],
    u1_ids: Sequence[str],
    environment: str,
    **entries: Any,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Train + val samples of an environment whose U1 committee entropy is above its threshold,
    split 90/10 stratified. Fewer than `min_out_of_core_fraction` of them: `policy` decides
    (`error`: stop with a clear error; `skip`: mark the environment skipped)."""
    policy = u2_params.get("policy", "error")
    if policy not in U2_POLICIES:
        raise ValueError(
            f"params:u2.policy is {policy!r}; expected one of {U2_POLICIES} "
            "(error: stop when too few samples are out of U1's core; skip: leave it out)."
        )
    sets = environment_sets(environment, "train") + environment_sets(environment, "val")
    images = concat_image_sets([entries[s] for s in sets])
    entropy = committee_entropy(member_probs(entries, u1_ids, sets))
    t = float(thresholds[environment]["threshold"])
    selected = entropy > t
    fraction = float(selected.mean())
    info = {
        "environment": environment,
        "threshold": t,
        "pool_size": int(len(selected)),
        "selected": int(selected.sum()),
        "selected_fraction": fraction,
    }
    minimum = float(u2_params.get("min_out_of_core_fraction", 0.10))
    if fraction < minimum or selected.sum() < MIN_U2_SAMPLES:
        reason = (
            f"only {fraction:.1%} ({selected.sum()} of {len(selected)}) of the {environment} "
            f"train+val samples have U1 entropy above t = {t}; U2' needs at least {minimum:.0%} "
            f"and at least {MIN_U2_SAMPLES} samples"
        )
        if policy == "error":
            raise ValueError(
                f"{reason}. Lower the threshold target (params:threshold.target) or set "
                "params:u2.policy to 'skip' to leave this environment out of the report."
            )
        logger.warning("%s: skipping this environment (policy 'skip')", reason)
        empty = {"x": images["x"][:0], "y": images["y"][:0]}
        skipped = {**info, "skipped": True, "reason": reason}
        return {**empty, **skipped}, {**empty, **skipped}
    train, val = split_for_training(
        images["x"][selected],
        images["y"][selected],
        float(u2_params["val_fraction"]),
        int(u2_params["seed"]),
    )
    logger.info(
        "U2' %s: %d train, %d val high-entropy samples", environment, len(train["y"]), len(val["y"])
    )
    return {**train, **info, "skipped": False}, {**val, **info, "skipped": False}


# --- evaluation: gather stored probabilities by name, measure with logifold.experiments ----
def evaluate_generations(
    thresholds: dict[str, Any],
    bootstrap_params: dict[str, Any],
    layout: Sequence[tuple[str, str, Sequence[str]]],
    u0_ids: Sequence[str],
    u1_ids: Sequence[str],
    u2_ids: Mapping[str, Sequence[str]],
    u2_histories: Mapping[str, Sequence[str]],
    **entries: Any,
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """Experiments 2 and 3 on test and on the AutoAttack transfer set, from stored probabilities.

    `layout` lists (environment, evaluation name, image sets); `u2_ids` and `u2_histories` map an
    environment to its U2' member ids and history entries. U2' of an environment skipped by
    policy (its histories say so) gives NaN. Returns the Experiment 2 table, the
    Experiment 3 table (total entropy, and the mean entropy per image with its interval, which
    compares across evaluation sets of different sizes) and the per-sample arrays for figures,
    the claims table and notebooks (`<environment>.<evaluation>.<array>`, see `evaluate_imm`).
    """
    rows, details = [], {}
    for environment, evaluation, sets in layout:
        labels = labels_of(entries, sets)
        t = float(thresholds[environment]["threshold"])
        members = u2_ids.get(environment)
        histories = [entries[h] for h in u2_histories.get(environment, [])]
        trained = u2_skipped_reason(histories) is None
        u2_probs = member_probs(entries, members, sets) if members and trained else None
        row, arrays = evaluate_imm(
            member_probs(entries, u0_ids, sets),
            member_probs(entries, u1_ids, sets),
            u2_probs,
            labels,
            t,
            bootstrap_params,
        )
        rows.append(
            {
                "environment": environment,
                "evaluation": evaluation,
                "u2_available": u2_probs is not None,
                **row,
            }
        )
        details.update(
            {f"{environment}.{evaluation}.{key}": value for key, value in arrays.items()}
        )
        details[f"{environment}.{evaluation}.threshold"] = np.float64(t)
    experiment2 = pd.DataFrame(rows)
    experiment3 = experiment3_table(experiment2)
    return experiment2, experiment3, {**details, "name": "imm_details"}


def entropy_core_table(
    experiment1_params: dict[str, Any],
    bootstrap_params: dict[str, Any],
    singles: Mapping[str, str],
    committees: Mapping[str, Sequence[str]],
    attacked_sets: Mapping[str, Mapping[str, str]],
    **entries: Any,
) -> pd.DataFrame:
    """Experiment 1: core coverage and accuracy at a fixed entropy threshold (0.95), clean against
    white-box attacked (weak, strong), for single models (own entropy) and committees (committee
    entropy), with mean and std per family of the single models.

    `singles` maps model id -> family; `committees` maps committee name -> member ids;
    `attacked_sets` maps a target (model id or committee) -> {condition: image set}.
    Every coverage and accuracy gets a percentile bootstrap interval (`<measure>_low/_high`);
    a family mean's interval comes from the mean of its models' replicates (each model's image
    set resampled with the same seed).
    """
    t = float(experiment1_params.get("entropy_threshold", 0.95))
    confidence = bootstrap_settings(bootstrap_params)["confidence"]
    rows, replicates = [], {}
    targets = [(m, "single", family, [m]) for m, family in singles.items()]
    targets += [(c, "committee", c, list(ids)) for c, ids in committees.items()]
    for target, kind, family, ids in targets:
        for condition, image_set in attacked_sets[target].items():
            row, replicates[target, condition] = experiment1_row(
                member_probs(entries, ids, [image_set]),
                labels_of(entries, [image_set]),
                t,
                single=kind == "single",
                bootstrap=bootstrap_params,
            )
            rows.append(
                {
                    "kind": kind,
                    "target": target,
                    "family": family,
                    "condition": condition,
                    "image_set": image_set,
                    "threshold": t,
                    **row,
                }
            )
    table = pd.DataFrame(rows)
    family_rows = experiment1_family_rows(table, replicates, t, confidence)
    return pd.concat([table, pd.DataFrame(family_rows)], ignore_index=True)
