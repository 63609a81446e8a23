"""Names shared by the stages: committees, image sets and catalog entries.

Pure functions of names, framework-free and configuration-free: which members, environments and
settings a run has is the wiring's business (`wiring.py`, from the run's parameters).
"""

from __future__ import annotations

SPLITS = ("train", "val", "test")
SETTINGS = ("weak", "strong")
ENVIRONMENTS = ("clean", "weak", "strong", "union")
U2_ENVIRONMENTS = ("union", "weak", "strong")
AUTOATTACK_SET = "autoattack_test"


def member_id(committee: str, base_name: str) -> str:
    """The id of a committee member in probability entries: `resnet_v1_d20`, `sp_resnet_v1_d20`,
    `u2_weak_resnet_v1_d20`."""
    if committee == "u0":
        return base_name
    if committee == "sps":
        return f"sp_{base_name}"
    return f"{committee}_{base_name}"


def model_entry(committee: str, base_name: str) -> str:
    return f"model__{committee}__{base_name}"


def history_entry(committee: str, base_name: str) -> str:
    return f"history__{committee}__{base_name}"


def probs_entry(model_id: str, image_set: str) -> str:
    return f"probs__{model_id}__{image_set}"


def image_set(source: str, split: str) -> str:
    """`clean_test`, `u0_apgd_weak_val`, ... (source is `clean` or `<target>_apgd_<setting>`)."""
    return f"{source}_{split}"


def apgd_source(target: str, setting: str) -> str:
    return f"{target}_apgd_{setting}"


def environment_sets(environment: str, split: str) -> list[str]:
    """Image sets of an environment: clean, weak and strong are APGD against U0; union is all
    three concatenated in that order."""
    if environment == "clean":
        return [image_set("clean", split)]
    if environment in SETTINGS:
        return [image_set(apgd_source("u0", environment), split)]
    if environment == "union":
        return [s for env in ("clean", "weak", "strong") for s in environment_sets(env, split)]
    raise ValueError(f"unknown environment {environment!r}; expected one of {ENVIRONMENTS}")


# --- adaptive attacks (pipeline adaptive_attacks) ----------------------------------------------
#: APGD settings of the adaptive attacks: the method's two and a stronger one (docs/method.md).
ADAPTIVE_SETTINGS = ("weak", "strong", "strongest")
#: Target name of the confident-core attack (it attacks U1's gate, the same for every environment).
CONFIDENT_CORE_TARGET = "u1_confident_core"


def soft_imm_target(environment: str) -> str:
    """Target name of the soft IMM of an environment: `imm_union_soft`, ..."""
    if environment not in U2_ENVIRONMENTS:
        raise ValueError(f"no IMM for {environment!r}; environments with a U2': {U2_ENVIRONMENTS}")
    return f"imm_{environment}_soft"


def apgd_setting_param(setting: str) -> str:
    """The parameter holding an APGD setting: `params:apgd.weak`, ...,
    `params:adaptive_attacks.apgd_strongest`."""
    if setting in SETTINGS:
        return f"params:apgd.{setting}"
    if setting in ADAPTIVE_SETTINGS:
        return f"params:adaptive_attacks.apgd_{setting}"
    raise ValueError(f"unknown APGD setting {setting!r}; expected one of {ADAPTIVE_SETTINGS}")


#: Experiment 1's measures of a classifier and its core (tables of immunization and reporting).
EXPERIMENT1_MEASURES = ("core_coverage", "core_accuracy", "overall_accuracy")
