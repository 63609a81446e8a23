"""Names shared by the stages: committees, members, image sets and catalog entries.

Framework-free. The member list is read from `conf/base/parameters_training.yml` (`u0_models`)
when the pipelines are built, so adding a model there adds its sub-pipelines everywhere; other
configuration environments may change a model's depth and width but keep the names.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import yaml

SPLITS = ("train", "val", "test")
SETTINGS = ("weak", "strong")
ENVIRONMENTS = ("clean", "weak", "strong", "union")
U2_ENVIRONMENTS = ("union", "weak", "strong")
AUTOATTACK_SET = "autoattack_test"


def conf_dir() -> Path:
    """The project's `conf/` folder (source checkout layout, else the working directory)."""
    here = Path(__file__).resolve()
    for parent in here.parents:
        if (parent / "conf" / "base").is_dir():
            return parent / "conf"
    return Path.cwd() / "conf"


@lru_cache(maxsize=1)
def u0_model_families() -> dict[str, str]:
    """Base model names in parameter order, each with its family (`resnet` or `vgg`)."""
    path = conf_dir() / "base" / "parameters_training.yml"
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: the pipelines are built from its `u0_models`")
    models = (yaml.safe_load(path.read_text()) or {}).get("u0_models") or {}
    if not models:
        raise ValueError(f"{path} defines no `u0_models`")
    return {name: spec["family"] for name, spec in models.items()}


def u0_members() -> list[str]:
    return list(u0_model_families())


def resnet_members() -> list[str]:
    """The base ResNets: the only models that get specialists (VGGs are never specialized)."""
    return [name for name, family in u0_model_families().items() if family == "resnet"]


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


def u1_member_ids() -> list[str]:
    return [member_id("u0", m) for m in u0_members()] + [
        member_id("sps", m) for m in resnet_members()
    ]


def u2_member_ids(environment: str) -> list[str]:
    return [member_id(f"u2_{environment}", m) for m in resnet_members()]


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
