"""Nodes of the adaptive-attacks stage: attacks that know the IMM's entropy gate, and the real
(hard-routed) IMM evaluated on them beside the non-adaptive attacks.

The attack nodes are TensorFlow nodes (framework imported inside them). The evaluation is
framework-free: every number comes from stored probabilities with `logifold_kedro.logifold`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from logifold_kedro.data.perturbations import perturbation_summary
from logifold_kedro.data.validation import validate_image_set
from logifold_kedro.logifold.experiments import adaptive_measures
from logifold_kedro.pipelines.committee_nodes import member_probs, u2_skipped_reason

logger = logging.getLogger(__name__)

#: Attack kinds in the metrics table, in the order the report shows them.
KINDS = ("none", "non-adaptive", "adaptive")


def first_images(clean_set: Mapping[str, Any], num_images: int | None) -> dict[str, Any]:
    """The first `num_images` images of a set (None: all), with their labels."""
    validate_image_set(clean_set, clean_set.get("name", "clean set"))
    n_total = len(clean_set["y"])
    if num_images is None:
        n = n_total
    elif isinstance(num_images, bool) or int(num_images) != num_images or num_images < 1:
        raise ValueError(
            f"params:adaptive_attacks.num_images must be a positive integer or null (all), "
            f"got {num_images!r}."
        )
    else:
        n = min(int(num_images), n_total)
    return {"x": np.asarray(clean_set["x"][:n]), "y": np.asarray(clean_set["y"][:n])}


def _attacked_set(
    images: dict[str, Any],
    x_adv: np.ndarray,
    clean_set: Mapping[str, Any],
    setting: Mapping[str, Any],
    seed: int,
    **metadata: Any,
) -> dict[str, Any]:
    sizes = perturbation_summary(images["x"], x_adv)
    return {
        "x": x_adv.astype(np.float32),
        "y": images["y"].astype(np.int64),
        "source_set": clean_set.get("name", ""),
        "num_images": int(len(images["y"])),
        "setting": dict(setting),
        "seed": int(seed),
        "l2_mean": sizes["l2_mean"],
        "l2_max": sizes["l2_max"],
        **metadata,
    }


def attack_soft_imm(
    clean_set: dict[str, Any],
    setting: dict[str, Any],
    adaptive_params: dict[str, Any],
    seed: int,
    thresholds: dict[str, Any],
    *,
    environment: str,
    u1_models: Sequence[str],
    u2_models: Sequence[str],
    histories: Sequence[str],
    setting_name: str,
    output_name: str,
    **entries: Any,
) -> dict[str, Any]:
    """The gate-aware attack: APGD-CE (ART, L2, y=None) against the soft IMM of `environment`,
    ``g * mean(U1) + (1 - g) * mean(U2')`` with ``g = sigmoid((t - H1) / tau)``, on the first
    `num_images` test images.

    `entries` holds, by entry name, the checkpoints of U1's members (`u1_models`, in committee
    order) and of U2' (`u2_models`), and U2' training histories (`histories`). An environment
    whose U2' was skipped by policy has no IMM: its images are returned unattacked and marked
    skipped.
    """
    images = first_images(clean_set, adaptive_params.get("num_images"))
    t = float(thresholds[environment]["threshold"])
    tau = float(adaptive_params["soft_imm"]["temperature"])
    metadata = {
        "name": output_name,
        "target": f"soft IMM ({environment})",
        "attack": "APGD-CE (ART AutoProjectedGradientDescent) vs soft IMM, L2, untargeted, y=None",
        "setting_name": setting_name,
        "environment": environment,
        "threshold": t,
        "temperature": tau,
    }
    skipped = u2_skipped_reason([entries[h] for h in histories])
    if skipped is not None:
        logger.warning("%s: U2' of %s skipped (%s); no attack", output_name, environment, skipped)
        x_adv = images["x"].astype(np.float32)
        return _attacked_set(
            images, x_adv, clean_set, setting, seed, skipped=True, reason=skipped, **metadata
        )
    from logifold_kedro.tf_lib.soft_imm import soft_imm_attack

    x_adv = soft_imm_attack(
        [entries[m] for m in u1_models],
        [entries[m] for m in u2_models],
        images["x"],
        t,
        tau,
        setting,
        seed,
        name=f"imm_{environment}_soft",
    )
    return _attacked_set(images, x_adv, clean_set, setting, seed, skipped=False, **metadata)


def attack_confident_core(
    clean_set: dict[str, Any],
    setting: dict[str, Any],
    adaptive_params: dict[str, Any],
    seed: int,
    *,
    setting_name: str,
    output_name: str,
    **u1_members: Any,
) -> dict[str, Any]:
    """The confident-core attack: APGD (ART, L2, y=None) maximising ``CE(U1) - lambda * H1``,
    i.e. a wrong U1 label inside U1's low-entropy core, on the first `num_images` test images.
    `u1_members` are U1's models keyed by member id, in committee order."""
    images = first_images(clean_set, adaptive_params.get("num_images"))
    weight = float(adaptive_params["confident_core"]["entropy_weight"])
    metadata = {
        "name": output_name,
        "target": "U1 entropy gate",
        "attack": "APGD (ART) maximising CE(U1) - lambda * H1, L2, untargeted, y=None",
        "setting_name": setting_name,
        "entropy_weight": weight,
    }
    from logifold_kedro.tf_lib.soft_imm import confident_core_attack

    x_adv = confident_core_attack(
        list(u1_members.values()), images["x"], weight, setting, seed, name="u1_confident_core"
    )
    return _attacked_set(images, x_adv, clean_set, setting, seed, skipped=False, **metadata)


def evaluate_adaptive_attacks(
    thresholds: dict[str, Any],
    adaptive_params: dict[str, Any],
    rows: Sequence[tuple[str, str, str, str, str]],
    u0_ids: Sequence[str],
    u1_ids: Sequence[str],
    u2_ids: Mapping[str, Sequence[str]],
    u2_histories: Mapping[str, Sequence[str]],
    **entries: Any,
) -> pd.DataFrame:
    """The hard-routed IMM (not the soft stand-in) on the adaptive images, beside the same IMM on
    the clean and non-adaptively attacked versions of the same test images.

    `rows` lists (environment, kind, attack, setting, image set) with kind `none`,
    `non-adaptive` or `adaptive`, for the attacked environments and settings. Every set is cut to
    the first n images, n that of the adaptive sets, and must carry the same labels. Each row's
    measures are `logifold.experiments.adaptive_measures`, beside the perturbation sizes. U2'
    skipped by policy: the U2' and IMM numbers are NaN.
    """
    adaptive_sets = [s for _, kind, _, _, s in rows if kind == "adaptive"]
    if not adaptive_sets:
        raise ValueError("no adaptive image set to evaluate")
    n = len(entries[adaptive_sets[0]]["y"])
    reference_labels = np.asarray(entries[adaptive_sets[0]]["y"])
    tau = float(adaptive_params["soft_imm"]["temperature"])
    table = []
    for environment, kind, attack, setting, image_set in rows:
        images = entries[image_set]
        labels = np.asarray(images["y"][:n]).astype(np.int64)
        if len(labels) != n or not np.array_equal(labels, reference_labels):
            raise ValueError(
                f"{image_set} does not start with the {n} test images of the adaptive sets "
                "(labels differ): rerun the stages that produced it."
            )
        t = float(thresholds[environment]["threshold"])
        available = u2_skipped_reason([entries[h] for h in u2_histories[environment]]) is None
        u2_probs = (
            member_probs(entries, u2_ids[environment], [image_set])[:, :n] if available else None
        )
        measures = adaptive_measures(
            member_probs(entries, u0_ids, [image_set])[:, :n],
            member_probs(entries, u1_ids, [image_set])[:, :n],
            u2_probs,
            labels,
            t,
            tau,
        )
        sizes = perturbation_summary(entries["clean_test"]["x"][:n], images["x"][:n])
        table.append(
            {
                "environment": environment,
                "kind": kind,
                "attack": attack,
                "setting": setting,
                "image_set": image_set,
                "n": n,
                "threshold": t,
                "u2_available": available,
                **measures,
                "l2_mean": sizes["l2_mean"],
                "l2_max": sizes["l2_max"],
            }
        )
    return pd.DataFrame(table)
