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

from logifold_kedro.data.perturbations import perturbation_norms
from logifold_kedro.data.validation import validate_image_set
from logifold_kedro.logifold.core import accuracy
from logifold_kedro.logifold.entropy import mean_probabilities
from logifold_kedro.logifold.routing import soft_route
from logifold_kedro.pipelines.immunization.nodes import evaluate_imm
from logifold_kedro.pipelines.naming import probs_entry

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


def attacked_settings(adaptive_params: Mapping[str, Any]) -> list[str]:
    """The APGD settings of the adaptive attacks that run (params `settings`; default all)."""
    from logifold_kedro.pipelines.naming import ADAPTIVE_SETTINGS

    chosen = adaptive_params.get("settings") or list(ADAPTIVE_SETTINGS)
    unknown = sorted(set(chosen) - set(ADAPTIVE_SETTINGS))
    if unknown:
        raise ValueError(
            f"params:adaptive_attacks.settings must list some of {list(ADAPTIVE_SETTINGS)}, "
            f"got {chosen!r}."
        )
    return list(chosen)


def attacked_environments(adaptive_params: Mapping[str, Any]) -> list[str]:
    """The environments whose soft IMM is attacked and evaluated (params `environments`)."""
    from logifold_kedro.pipelines.naming import U2_ENVIRONMENTS

    chosen = adaptive_params.get("environments", list(U2_ENVIRONMENTS))
    unknown = sorted(set(chosen) - set(U2_ENVIRONMENTS))
    if unknown or not chosen:
        raise ValueError(
            f"params:adaptive_attacks.environments must list some of {list(U2_ENVIRONMENTS)}, "
            f"got {chosen!r}."
        )
    return list(chosen)


def _u2_skipped(histories: Sequence[Mapping[str, Any]]) -> str | None:
    """Why the environment's U2' was skipped by policy (None: it was trained)."""
    for history in histories:
        if history.get("skipped", False):
            return str(history.get("reason", "skipped by params:u2.policy"))
    return None


def _attacked_set(
    images: dict[str, Any],
    x_adv: np.ndarray,
    clean_set: Mapping[str, Any],
    setting: Mapping[str, Any],
    seed: int,
    **metadata: Any,
) -> dict[str, Any]:
    norms = perturbation_norms(images["x"], x_adv)
    return {
        "x": x_adv.astype(np.float32),
        "y": images["y"].astype(np.int64),
        "source_set": clean_set.get("name", ""),
        "num_images": int(len(images["y"])),
        "setting": dict(setting),
        "seed": int(seed),
        "l2_mean": float(norms.mean()) if norms.size else 0.0,
        "l2_max": float(norms.max()) if norms.size else 0.0,
        **metadata,
    }


def attack_soft_imm(
    clean_set: dict[str, Any],
    setting: dict[str, Any],
    adaptive_params: dict[str, Any],
    seed: int,
    thresholds: dict[str, Any],
    *histories_and_members: Any,
    environment: str,
    n_histories: int,
    n_u1: int,
    setting_name: str,
    output_name: str,
) -> dict[str, Any]:
    """The gate-aware attack: APGD-CE (ART, L2, y=None) against the soft IMM of `environment`,
    ``g * mean(U1) + (1 - g) * mean(U2')`` with ``g = sigmoid((t - H1) / tau)``, on the first
    `num_images` test images.

    `histories_and_members` holds the environment's U2' histories (`n_histories`), then the U1
    members (`n_u1`), then the U2' members. An environment whose U2' was skipped by policy has no
    IMM: its images are returned unattacked and marked skipped.
    """
    histories = histories_and_members[:n_histories]
    u1_members = list(histories_and_members[n_histories : n_histories + n_u1])
    u2_members = list(histories_and_members[n_histories + n_u1 :])
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
    skipped = _u2_skipped(histories)
    if environment not in attacked_environments(adaptive_params):
        skipped = "not in params:adaptive_attacks.environments"
    if setting_name not in attacked_settings(adaptive_params):
        skipped = "setting not in params:adaptive_attacks.settings"
    if skipped is not None:
        logger.warning("%s: U2' of %s skipped (%s); no attack", output_name, environment, skipped)
        x_adv = images["x"].astype(np.float32)
        return _attacked_set(
            images, x_adv, clean_set, setting, seed, skipped=True, reason=skipped, **metadata
        )
    from logifold_kedro.tf_lib.soft_imm import soft_imm_attack

    x_adv = soft_imm_attack(
        u1_members, u2_members, images["x"], t, tau, setting, seed, name=f"imm_{environment}_soft"
    )
    return _attacked_set(images, x_adv, clean_set, setting, seed, skipped=False, **metadata)


def attack_confident_core(
    clean_set: dict[str, Any],
    setting: dict[str, Any],
    adaptive_params: dict[str, Any],
    seed: int,
    *u1_members: Any,
    setting_name: str,
    output_name: str,
) -> dict[str, Any]:
    """The confident-core attack: APGD (ART, L2, y=None) maximising ``CE(U1) - lambda * H1``,
    i.e. a wrong U1 label inside U1's low-entropy core, on the first `num_images` test images."""
    images = first_images(clean_set, adaptive_params.get("num_images"))
    weight = float(adaptive_params["confident_core"]["entropy_weight"])
    metadata = {
        "name": output_name,
        "target": "U1 entropy gate",
        "attack": "APGD (ART) maximising CE(U1) - lambda * H1, L2, untargeted, y=None",
        "setting_name": setting_name,
        "entropy_weight": weight,
    }
    if setting_name not in attacked_settings(adaptive_params):
        reason = "setting not in params:adaptive_attacks.settings"
        logger.warning("%s: %s; no attack", output_name, reason)
        x_adv = images["x"].astype(np.float32)
        return _attacked_set(
            images, x_adv, clean_set, setting, seed, skipped=True, reason=reason, **metadata
        )
    from logifold_kedro.tf_lib.soft_imm import confident_core_attack

    x_adv = confident_core_attack(
        list(u1_members), images["x"], weight, setting, seed, name="u1_confident_core"
    )
    return _attacked_set(images, x_adv, clean_set, setting, seed, skipped=False, **metadata)


def _probs(
    entries: Mapping[str, Any], model_ids: Sequence[str], image_set: str, n: int
) -> np.ndarray:
    """(K, n, C) probabilities of the members on the first n images of a set."""
    return np.stack(
        [np.asarray(entries[probs_entry(m, image_set)]["probs"][:n], np.float64) for m in model_ids]
    )


def evaluate_adaptive_attacks(
    thresholds: dict[str, Any],
    adaptive_params: dict[str, Any],
    layout: Sequence[tuple[str, str, str, str, str]],
    u0_ids: Sequence[str],
    u1_ids: Sequence[str],
    u2_ids: Mapping[str, Sequence[str]],
    u2_histories: Mapping[str, Sequence[str]],
    **entries: Any,
) -> pd.DataFrame:
    """The hard-routed IMM (not the soft stand-in) on the adaptive images, beside the same IMM on
    the clean and non-adaptively attacked versions of the same test images.

    `layout` lists (environment, kind, attack, setting, image set) with kind `none`,
    `non-adaptive` or `adaptive`. Every set is cut to the first n images, n that of the adaptive
    sets, and must carry the same labels. Per row: accuracy of U1, U2' and the IMM
    (``U1 if H1 <= t else U2'``), U1 core coverage and core accuracy at the environment's t, the
    fraction ``wrong_in_core = mean(H1 <= t and U1 wrong)`` (the IMM's errors the gate cannot
    catch), U1's mean entropy, the soft IMM's accuracy (``g = sigmoid((t - H1) / tau)``) and the
    perturbation sizes. U2' skipped by policy: the U2' and IMM numbers are NaN. Environments
    left out of `params:adaptive_attacks.environments`, and adaptive attacks of settings left out
    of `params:adaptive_attacks.settings`, get no rows.
    """
    adaptive_sets = [s for _, kind, _, _, s in layout if kind == "adaptive"]
    if not adaptive_sets:
        raise ValueError("the layout holds no adaptive image set to evaluate")
    n = len(entries[adaptive_sets[0]]["y"])
    reference_labels = np.asarray(entries[adaptive_sets[0]]["y"])
    tau = float(adaptive_params["soft_imm"]["temperature"])
    rows = []
    chosen = attacked_environments(adaptive_params)
    settings = attacked_settings(adaptive_params)
    for environment, kind, attack, setting, image_set in layout:
        if environment not in chosen:  # not attacked at this scale: no rows
            continue
        if kind == "adaptive" and setting not in settings:
            continue
        images = entries[image_set]
        labels = np.asarray(images["y"][:n]).astype(np.int64)
        if len(labels) != n or not np.array_equal(labels, reference_labels):
            raise ValueError(
                f"{image_set} does not start with the {n} test images of the adaptive sets "
                "(labels differ): rerun the stages that produced it."
            )
        t = float(thresholds[environment]["threshold"])
        histories = [entries[h] for h in u2_histories[environment]]
        available = _u2_skipped(histories) is None
        u1_probs = _probs(entries, u1_ids, image_set, n)
        u2_probs = _probs(entries, u2_ids[environment], image_set, n) if available else None
        row, details = evaluate_imm(
            _probs(entries, u0_ids, image_set, n), u1_probs, u2_probs, labels, t
        )
        h1 = details["u1_entropy"]
        core = h1 <= t
        soft_accuracy = float("nan")
        if u2_probs is not None:
            soft, _ = soft_route(
                mean_probabilities(u1_probs), mean_probabilities(u2_probs), h1, t, tau
            )
            soft_accuracy = accuracy(soft.argmax(axis=1) == labels)
        x_clean = entries["clean_test"]["x"][:n]
        norms = perturbation_norms(x_clean, images["x"][:n])
        rows.append(
            {
                "environment": environment,
                "kind": kind,
                "attack": attack,
                "setting": setting,
                "image_set": image_set,
                "n": n,
                "threshold": t,
                "u2_available": available,
                "imm_accuracy": row["imm_accuracy"],
                "u1_accuracy": row["u1_accuracy"],
                "u2_accuracy": row["u2_accuracy"],
                "soft_imm_accuracy": soft_accuracy,
                "u1_core_coverage": row["u1_core_coverage"],
                "u1_core_accuracy": row["u1_core_accuracy"],
                "u1_core_size": int(core.sum()),
                "wrong_in_core": float(np.mean(core & ~details["u1_correct"])),
                "u1_mean_entropy": float(h1.mean()),
                "l2_mean": float(norms.mean()),
                "l2_max": float(norms.max()),
            }
        )
    return pd.DataFrame(rows)
