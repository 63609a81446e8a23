"""The study scale (`kedro run --env study`): conf/study loads as Kedro resolves it, names the
full official archive, keeps the demo's structure (same members, same parameter keys, hence the
same nodes) and is sized for the questions the study answers."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project

REPO = Path(__file__).resolve().parents[2]
BASE, STUDY = REPO / "conf" / "base", REPO / "conf" / "study"


def _yaml(path: Path) -> dict[str, Any]:
    return yaml.safe_load(path.read_text()) or {}


def _extra_keys(study: Any, base: Any, prefix: str = "") -> list[str]:
    """Keys of `study` that `base` does not have, recursively (dicts only)."""
    if not isinstance(study, dict) or not isinstance(base, dict):
        return []
    extra = []
    for key, value in study.items():
        if key not in base:
            extra.append(f"{prefix}{key}")
        else:
            extra += _extra_keys(value, base[key], f"{prefix}{key}.")
    return extra


@pytest.fixture(scope="module")
def study_context(tmp_path_factory):
    root = tmp_path_factory.mktemp("study") / "project"
    root.mkdir()
    shutil.copy(REPO / "pyproject.toml", root / "pyproject.toml")
    (root / "src").mkdir()
    for env in ("base", "study"):
        shutil.copytree(REPO / "conf" / env, root / "conf" / env)
    shutil.copy(REPO / "conf" / "logging.yml", root / "conf" / "logging.yml")
    (root / "conf" / "local").mkdir()
    bootstrap_project(root)
    with KedroSession.create(project_path=root, env="study") as session:
        yield session.load_context()


def test_study_names_the_full_official_archive(study_context):
    raw = study_context.catalog.get("cifar10_raw")
    assert Path(str(raw._filepath)).name == "cifar-10-python.tar.gz"
    assert (raw._expected_train, raw._expected_test) == (50000, 10000)


def test_study_outputs_live_in_their_own_scale_folder(study_context):
    assert study_context.params["scale"] == "study"
    clean = study_context.catalog.get("clean_train")
    assert "/study/seed42/" in str(clean._filepath)


def test_study_keeps_the_demo_members_and_parameter_keys():
    assert list(_yaml(STUDY / "parameters_training.yml")["u0_models"]) == list(
        _yaml(BASE / "parameters_training.yml")["u0_models"]
    )
    for study_file in sorted(STUDY.glob("parameters*.yml")):
        base = _yaml(BASE / study_file.name)
        study = _yaml(study_file)
        # u0_models entries are per-model specs whose keys depend on the family
        study.get("u0_models", {}).clear()
        assert _extra_keys(study, base) == [], f"{study_file.name} adds keys the demo lacks"


def test_study_is_sized_for_its_questions(study_context):
    params = study_context.params
    test_size = params["split"]["test_size"]
    assert test_size is None or test_size >= 1000  # every Experiment 2 test environment
    assert params["autoattack"]["num_images"] is None or params["autoattack"]["num_images"] >= 200
    # the method's rule: one target for every environment, a core accuracy
    assert 0.0 < float(params["threshold"]["target"]) <= 0.95
    # the paper's attack settings but the restarts (a size)
    paper = {"weak": (2, 0.5, 0.2, 2), "strong": (2, 0.7, 0.2, 10)}
    for setting, expected in paper.items():
        apgd = params["apgd"][setting]
        assert (apgd["norm"], apgd["eps"], apgd["eps_step"], apgd["max_iter"]) == expected
    assert params["autoattack"]["version"] == "standard"
    assert params["autoattack"]["eps"] == 0.5
