"""The wiring: the pipelines are built from the run's resolved parameters (`--env`,
`conf/local`, `--params`), not from a file read beside the package, and disabled adaptive
settings get no nodes."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from kedro.framework.project import pipelines
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project

from logifold_kedro.pipelines.wiring import LINEAGE_BOXES, Wiring, project_parameters
from tests.pipelines.conftest import make_project_copy

REPO = Path(__file__).resolve().parents[2]


def built(project: Path, name: str, env: str | None = None, runtime_params: dict | None = None):
    """The pipeline `name` as a run of `project` with `env` and `--params` builds it."""
    bootstrap_project(project)
    with KedroSession.create(project_path=project, env=env, runtime_params=runtime_params) as s:
        s.load_context()
        return pipelines[name]


@pytest.fixture(autouse=True)
def keep_the_run_wiring(monkeypatch):
    """The sessions made here note their config loader as the run's: put back the one before,
    so that a later test building a pipeline without a session sees what it saw."""
    from logifold_kedro.pipelines import wiring

    for name in ("_run_loader", "_loader_wiring"):
        monkeypatch.setattr(wiring, name, getattr(wiring, name))


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    root = make_project_copy(tmp_path_factory.mktemp("wiring") / "project")
    fewer = root / "conf" / "fewer"
    fewer.mkdir()
    base = yaml.safe_load((root / "conf" / "base" / "parameters_training.yml").read_text())
    kept = dict(list(base["u0_models"].items())[:1] + list(base["u0_models"].items())[-1:])
    (fewer / "parameters_training.yml").write_text(yaml.safe_dump({"u0_models": kept}))
    return root


def test_the_wiring_of_the_default_configuration_lists_every_base_model_in_order():
    params = project_parameters(REPO)
    wiring = Wiring.from_parameters(params)
    assert wiring.u0_members == list(params["u0_models"])
    assert wiring.resnet_members == [
        m for m, spec in params["u0_models"].items() if spec["family"] == "resnet"
    ]
    assert wiring.member_ids("u1") == wiring.u0_members + [f"sp_{r}" for r in wiring.resnet_members]


def test_an_environment_with_fewer_base_models_builds_fewer_sub_pipelines(project):
    members_of = {
        env: {n.namespace for n in built(project, "training", env).nodes if n.namespace}
        for env in (None, "fewer")
    }
    assert len(members_of["fewer"]) == 3  # the box u0, one model's, the other's
    assert members_of["fewer"] < members_of[None]
    assert len(members_of[None]) == 1 + 8


def test_params_on_the_command_line_change_what_the_adaptive_stage_builds(project):
    def attacked_sets(runtime_params=None):
        nodes = built(project, "adaptive_attacks", runtime_params=runtime_params).nodes
        return {o for n in nodes if "attack" in n.tags for o in n.outputs}

    default = attacked_sets()
    assert default == {
        "imm_union_soft_apgd_weak_test",
        "imm_union_soft_apgd_strongest_test",
        "u1_confident_core_apgd_weak_test",
        "u1_confident_core_apgd_strongest_test",
    }
    one_setting = attacked_sets({"adaptive_attacks": {"settings": ["strong"]}})
    assert one_setting == {"imm_union_soft_apgd_strong_test", "u1_confident_core_apgd_strong_test"}
    # The same process builds the default again once the override is gone.
    assert attacked_sets() == default


def test_disabled_settings_are_neither_attacked_nor_predicted_nor_evaluated(project):
    nodes = built(project, "adaptive_attacks").nodes
    every_dataset = {d for n in nodes for d in (*n.inputs, *n.outputs)}
    assert not [d for d in every_dataset if "apgd_strong_test" in d and "soft" in d]
    assert not [d for d in every_dataset if "imm_weak_soft" in d or "imm_strong_soft" in d]


def test_an_unknown_adaptive_setting_is_refused_with_the_choices():
    params = {"u0_models": {"m": {"family": "resnet"}}, "adaptive_attacks": {"settings": ["x"]}}
    with pytest.raises(ValueError, match=r"adaptive_attacks\.settings must list some of"):
        Wiring.from_parameters(params)


def test_a_model_without_a_known_family_is_refused():
    with pytest.raises(ValueError, match=r"u0_models\.m\.family"):
        Wiring.from_parameters({"u0_models": {"m": {"family": "mlp"}}})


def test_the_lineage_groups_into_contiguous_boxes_by_generation_and_committee(project, recwarn):
    default = built(project, "__default__")
    interrupted = [str(w.message) for w in recwarn if "is interrupted by nodes" in str(w.message)]
    assert not interrupted, interrupted[:3]
    top_level = {n.namespace.split(".")[0] if n.namespace else n.name for n in default.nodes}
    assert top_level == set(LINEAGE_BOXES)
    assert {n.namespace for n in default.nodes if n.name.startswith("u2.union.")} >= {
        "u2.union",
        "u2.union.resnet_v1_d20",
    }


def test_resolving_the_default_wiring_leaves_a_sessions_catalog_resolution_alone(project):
    bootstrap_project(project)
    with KedroSession.create(project_path=project, env="tiny") as session:
        context = session.load_context()
        project_parameters(project)  # the default configuration's loader, made meanwhile
        assert "/tiny/seed42/" in str(context.catalog.get("clean_train")._filepath)


def test_without_the_projects_hooks_the_sessions_config_loader_still_decides(project):
    """kedro-viz builds the lineage without the project's hooks unless --include-hooks: the
    config loader a session makes is enough for the wiring to follow its environment."""
    from kedro.framework.project import settings

    from logifold_kedro.pipelines.training.pipeline import create_pipeline

    bootstrap_project(project)
    settings.CONFIG_LOADER_CLASS(
        conf_source=str(project / "conf"), env="fewer", **settings.CONFIG_LOADER_ARGS
    )
    boxes = {n.namespace for n in create_pipeline().nodes if n.namespace}
    assert len(boxes) == 3  # u0 and its two base models
