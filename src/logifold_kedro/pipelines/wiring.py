"""The wiring of the stages: which members, environments and attack settings the pipelines are
built for, and the catalog entries that connect them.

Every `pipeline.py` asks this module what to build; none reads a configuration file itself. The
structure comes from the run's parameters as Kedro resolves them (`--env`, `conf/local`,
`--params`): the project's config loader (`RunConfigLoader`, made by each session) is noted as
the run's and the wiring reads its parameters, hooks or not; `WiringHook` has Kedro rebuild the
pipelines when a later session in the same process resolves a different structure. Without a
session (a test calling `create_pipeline()` directly) the parameters are resolved the way `kedro
run` would in the working directory's project.

Entry names themselves are pure functions in `naming.py`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kedro.config import OmegaConfigLoader
from kedro.framework.hooks import hook_impl

from logifold_kedro.pipelines.naming import (
    ADAPTIVE_SETTINGS,
    AUTOATTACK_SET,
    CONFIDENT_CORE_TARGET,
    ENVIRONMENTS,
    SETTINGS,
    SPLITS,
    U2_ENVIRONMENTS,
    apgd_source,
    environment_sets,
    history_entry,
    image_set,
    member_id,
    model_entry,
    probs_entry,
    soft_imm_target,
)

#: The kind of each row of `adaptive_metrics`: (environment, kind, attack, setting, image set).
AdaptiveRow = tuple[str, str, str, str, str]
#: Experiment 2/3's evaluation sets: (environment, evaluation name, image sets concatenated).
EvaluationSet = tuple[str, str, list[str]]
#: One APGD attack of the art_attacks summary: (target, setting, split, member ids).
AttackSpec = tuple[str, str, str, list[str]]

#: The top of kedro-viz's lineage, in data-flow order: the nodes outside any namespace and the
#: namespaces (by generation and committee) every other node sits in.
LINEAGE_BOXES = (
    "make_splits",
    "u0",
    "transfer",
    "apgd",
    "sps",
    "u1",
    "u2",
    "experiments",
    "adaptive",
    "report",
)
CLEAN_TEST = image_set("clean", "test")
#: The non-adaptive attacks the IMM is compared with: those of its own environment (APGD vs U0).
NON_ADAPTIVE_ATTACK = "APGD vs U0"


def _choice(params: Mapping[str, Any], key: str, allowed: Sequence[str]) -> tuple[str, ...]:
    """A list parameter of `adaptive_attacks` (absent: all of `allowed`), checked against what
    exists, in canonical order."""
    chosen = params.get(key)
    chosen = list(allowed) if chosen is None else list(chosen)
    unknown = sorted(set(chosen) - set(allowed))
    if unknown or not chosen:
        raise ValueError(
            f"params:adaptive_attacks.{key} must list some of {list(allowed)}, got {chosen!r}."
        )
    return tuple(name for name in allowed if name in chosen)


@dataclass(frozen=True)
class Wiring:
    """The structure the pipelines are built from.

    `u0_families` maps each base model, in parameter order, to its family (`resnet` or `vgg`);
    only ResNets get specialists. `adaptive_environments` and `adaptive_settings` are the soft
    IMMs and APGD settings the adaptive stage attacks; the others get no nodes.
    """

    u0_families: tuple[tuple[str, str], ...]
    adaptive_environments: tuple[str, ...]
    adaptive_settings: tuple[str, ...]

    @classmethod
    def from_parameters(cls, params: Mapping[str, Any]) -> Wiring:
        models = params.get("u0_models") or {}
        if not models:
            raise ValueError(
                "the parameters define no `u0_models` (conf/base/parameters_training.yml): "
                "the pipelines are built from its base models"
            )
        families = []
        for name, spec in models.items():
            family = (spec or {}).get("family")
            if family not in ("resnet", "vgg"):
                raise ValueError(
                    f"params:u0_models.{name}.family is {family!r}; expected 'resnet' or 'vgg'"
                )
            families.append((str(name), str(family)))
        adaptive = params.get("adaptive_attacks") or {}
        return cls(
            u0_families=tuple(families),
            adaptive_environments=_choice(adaptive, "environments", U2_ENVIRONMENTS),
            adaptive_settings=_choice(adaptive, "settings", ADAPTIVE_SETTINGS),
        )

    # --- committees ----------------------------------------------------------------------------
    @property
    def u0_members(self) -> list[str]:
        return [name for name, _ in self.u0_families]

    @property
    def resnet_members(self) -> list[str]:
        """The base ResNets: the only models that get specialists (VGGs are never specialized)."""
        return [name for name, family in self.u0_families if family == "resnet"]

    def family(self, base_name: str) -> str:
        return dict(self.u0_families)[base_name]

    def _trained(self, committee: str) -> list[tuple[str, str]]:
        """(committee that trained it, base model) of each member of a committee, in committee
        order: `u0` (every base model), `sps` and `u2_<environment>` (one per base ResNet), `u1`
        (U0's, then the SPs')."""
        if committee == "u0":
            return [("u0", m) for m in self.u0_members]
        if committee == "u1":
            return self._trained("u0") + self._trained("sps")
        return [(committee, r) for r in self.resnet_members]

    def member_ids(self, committee: str) -> list[str]:
        """Probability ids of a committee's members (`resnet_v1_d20`, `sp_resnet_v1_d20`, ...)."""
        return [member_id(owner, base) for owner, base in self._trained(committee)]

    def model_entries(self, committee: str) -> list[str]:
        """Checkpoint entries of a committee's members."""
        return [model_entry(owner, base) for owner, base in self._trained(committee)]

    def members(self, committee: str) -> list[tuple[str, str]]:
        """(member id, checkpoint entry) of each member of a committee, in committee order."""
        return list(zip(self.member_ids(committee), self.model_entries(committee), strict=True))

    def history_entries(self, committee: str) -> list[str]:
        """Training histories of a committee's members."""
        return [history_entry(owner, base) for owner, base in self._trained(committee)]

    # --- image sets ----------------------------------------------------------------------------
    @staticmethod
    def environment_image_sets(splits: Sequence[str] = SPLITS) -> list[str]:
        """Every image set of the clean, weak and strong environments on `splits`."""
        return [
            s
            for env in ("clean", "weak", "strong")
            for split in splits
            for s in environment_sets(env, split)
        ]

    @staticmethod
    def attack_sets(target: str, split: str = "test") -> dict[str, str]:
        """The clean set and the white-box APGD sets of a target on a split, by condition."""
        return {
            "clean": image_set("clean", split),
            **{s: image_set(apgd_source(target, s), split) for s in SETTINGS},
        }

    def art_attacks(self) -> list[AttackSpec]:
        """The attacks the art_attacks summary reports: APGD vs U0 on every split, then APGD vs
        each single base model on test."""
        attacks = [("u0", s, split, self.member_ids("u0")) for split in SPLITS for s in SETTINGS]
        attacks += [(m, s, "test", [m]) for m in self.member_ids("u0") for s in SETTINGS]
        return attacks

    def art_attack_entries(self) -> list[str]:
        """What the art_attacks summary reads: each attack's adversarial set and its members'
        probabilities on the clean and the adversarial set."""
        entries = []
        for target, setting, split, members in self.art_attacks():
            adversarial = image_set(apgd_source(target, setting), split)
            entries += [adversarial, *probs_of(members, [image_set("clean", split), adversarial])]
        return entries

    @staticmethod
    def attacked_sets_of(target: str, splits: Sequence[str] = ("test",)) -> list[str]:
        """The APGD sets against `target` (weak, then strong) on each split."""
        return [image_set(apgd_source(target, s), split) for s in SETTINGS for split in splits]

    def evaluation_sets(self) -> list[EvaluationSet]:
        """Experiment 2/3's rows: each environment's test sets, then the AutoAttack transfer set
        in each environment with a U2'."""
        rows = [(env, "test", environment_sets(env, "test")) for env in ENVIRONMENTS]
        rows += [(env, "autoattack", [AUTOATTACK_SET]) for env in U2_ENVIRONMENTS]
        return rows

    def experiment1_targets(self) -> dict[str, dict[str, str]]:
        """Experiment 1's targets (each base model, U0, SPs, U1) -> {condition: image set}."""
        targets = [*self.member_ids("u0"), "u0", "sps", "u1"]
        return {target: self.attack_sets(target) for target in targets}

    # --- evaluating the IMM ---------------------------------------------------------------------
    def imm_committees(self, environments: Sequence[str]) -> dict[str, Any]:
        """The member ids an IMM evaluation gathers (U0, U1, each environment's U2') and U2''s
        history entries (which say whether it was trained or skipped by policy)."""
        return {
            "u0_ids": self.member_ids("u0"),
            "u1_ids": self.member_ids("u1"),
            "u2_ids": {env: self.member_ids(f"u2_{env}") for env in environments},
            "u2_histories": {env: self.history_entries(f"u2_{env}") for env in environments},
        }

    def imm_entries(
        self, evaluated: Sequence[tuple[str, Sequence[str]]], environments: Sequence[str]
    ) -> list[str]:
        """What evaluating the IMM on each (environment, image sets) reads: the image sets, U1's
        and that environment's U2' probabilities on them, and the U2' histories."""
        committees = self.imm_committees(environments)
        sets = sorted({s for _, image_sets in evaluated for s in image_sets})
        probs = {
            p
            for env, image_sets in evaluated
            for p in probs_of(
                [*committees["u1_ids"], *committees["u2_ids"].get(env, [])], image_sets
            )
        }
        histories = [h for hs in committees["u2_histories"].values() for h in hs]
        return [*sets, *sorted(probs), *histories]

    # --- adaptive attacks ----------------------------------------------------------------------
    @staticmethod
    def soft_imm_set(environment: str, setting: str) -> str:
        return image_set(apgd_source(soft_imm_target(environment), setting), "test")

    @staticmethod
    def confident_core_set(setting: str) -> str:
        return image_set(apgd_source(CONFIDENT_CORE_TARGET, setting), "test")

    def adaptive_rows(self) -> list[AdaptiveRow]:
        """(environment, kind, attack, setting, image set) of every row of `adaptive_metrics`,
        for the attacked environments and settings only."""
        rows = []
        for env in self.adaptive_environments:
            rows.append((env, "none", "clean", "-", CLEAN_TEST))
            for setting in SETTINGS:
                attacked = image_set(apgd_source("u0", setting), "test")
                if attacked in environment_sets(env, "test"):
                    rows.append((env, "non-adaptive", NON_ADAPTIVE_ATTACK, setting, attacked))
            for setting in self.adaptive_settings:
                rows.append((env, "adaptive", "soft IMM", setting, self.soft_imm_set(env, setting)))
            for setting in self.adaptive_settings:
                rows.append(
                    (env, "adaptive", "confident core", setting, self.confident_core_set(setting))
                )
        return rows

    def adaptive_sets(self, environment: str | None = None) -> list[str]:
        """The adaptive image sets (of one environment, or all), sorted."""
        return sorted(
            {
                s
                for env, kind, _, _, s in self.adaptive_rows()
                if kind == "adaptive" and environment in (None, env)
            }
        )


def probs_of(model_ids: Sequence[str], image_sets: Sequence[str]) -> list[str]:
    """Probability entries of each model on each image set."""
    return [probs_entry(m, s) for m in model_ids for s in image_sets]


def named_inputs(*groups: Sequence[str]) -> dict[str, str]:
    """Entries passed to a node as keyword arguments named after themselves, each once."""
    return {name: name for group in groups for name in group}


# --- the run's configuration ---------------------------------------------------------------------
#: The latest project config loader (a session's), the wiring read from it, and the wiring the
#: pipelines were last built with.
_run_loader: OmegaConfigLoader | None = None
_loader_wiring: tuple[OmegaConfigLoader, Wiring] | None = None
_built_wiring: Wiring | None = None


class RunConfigLoader(OmegaConfigLoader):
    """Kedro's OmegaConfigLoader (the project's `CONFIG_LOADER_CLASS`), noted as the run's when a
    session creates it: the wiring reads the run's parameters from it, hooks or not (kedro-viz
    runs without the project's hooks unless `--include-hooks`)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        global _run_loader
        _run_loader = self


def project_parameters(project_path: Path | None = None, env: str | None = None) -> dict:
    """The project's parameters as `kedro run` resolves them without `--params`: base, then
    `env` (default `$KEDRO_ENV`, else the project's default run environment, `local`)."""
    from kedro.framework.project import settings
    from omegaconf.basecontainer import BaseContainer

    root = Path(project_path or Path.cwd())
    conf_source = root / settings.CONF_SOURCE
    if not (conf_source / "base").is_dir():
        # Imported from a source checkout but run elsewhere: the checkout's configuration.
        conf_source = Path(__file__).resolve().parents[3] / "conf"
    # A config loader registers its `globals` and `runtime_params` resolvers process-wide: put
    # back those of the loader already there (a session's, whose catalog may be resolved later).
    resolvers = dict(BaseContainer._resolvers)
    try:
        loader = OmegaConfigLoader(  # not the run's: RunConfigLoader would note it as such
            conf_source=str(conf_source),
            env=env or os.environ.get("KEDRO_ENV"),
            **settings.CONFIG_LOADER_ARGS,
        )
        return dict(loader["parameters"])
    finally:
        BaseContainer._resolvers = resolvers


def run_wiring() -> Wiring:
    """The run's wiring: from its parameters (its config loader's, `--params` included), else
    from the working directory's project with its default configuration."""
    global _loader_wiring
    if _run_loader is None:
        return Wiring.from_parameters(project_parameters())
    if _loader_wiring is None or _loader_wiring[0] is not _run_loader:
        _loader_wiring = (_run_loader, Wiring.from_parameters(_run_loader["parameters"]))
    return _loader_wiring[1]


def wiring_for_run() -> Wiring:
    """The wiring to build the pipelines with (`run_wiring`), noted as the one they were built
    with."""
    global _built_wiring
    _built_wiring = run_wiring()
    return _built_wiring


class WiringHook:
    """Has Kedro rebuild the pipelines when they were built with another structure than this
    run's (a second session in the same process, with another environment or `--params`)."""

    # First: another hook may read the pipelines (building the catalog validates against them),
    # and must not get the ones built for the earlier session.
    @hook_impl(tryfirst=True)
    def after_context_created(self, context: Any) -> None:
        if _built_wiring is not None and _built_wiring != run_wiring():
            from kedro.framework.project import PACKAGE_NAME, pipelines

            pipelines.configure(f"{PACKAGE_NAME}.pipeline_registry")
