"""A tiny copy of the project that the pipeline tests run through real `KedroSession`s.

The copy has the project's `conf/base` and `pyproject.toml`, the embedded demo archive and the
`tiny` environment of `tests/conf_tiny` (same nodes, smaller parameters). Stages run once per test
session, in the order a user runs them, and each stage's tests read what its run wrote. A test
that runs a stage again or saves into a project works on its own copy (`project_copy`), so that
what the tests after it read is what the session's runs wrote, whichever order they run in.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project

from logifold_kedro.pipelines.wiring import Wiring, project_parameters

REPO = Path(__file__).resolve().parents[2]
TINY_CONF = Path(__file__).resolve().parents[1] / "conf_tiny"


def make_project_copy(root: Path) -> Path:
    """A runnable project folder: conf (base + tiny), pyproject, empty src, demo archive."""
    root.mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / "pyproject.toml", root / "pyproject.toml")
    shutil.copy(REPO / ".telemetry", root / ".telemetry")
    # Kedro's bootstrap wants a source folder; the package itself is the installed one.
    (root / "src").mkdir()
    shutil.copytree(REPO / "conf" / "base", root / "conf" / "base")
    shutil.copytree(TINY_CONF, root / "conf" / "tiny")
    (root / "conf" / "local").mkdir()
    raw = root / "data" / "01_raw"
    raw.mkdir(parents=True)
    shutil.copy(REPO / "data" / "01_raw" / "cifar10_demo.tar.gz", raw / "cifar10_demo.tar.gz")
    return root


def project_copy(project: Path, tmp_path: Path) -> Path:
    """A copy of a session project (its conf and every artifact its stages wrote) under
    ``tmp_path``, for a test that writes: new versions, other seeds, re-run stages."""
    copy = tmp_path / "project"
    shutil.copytree(project, copy)
    return copy


def run_stage(
    project: Path,
    pipeline_name: str | None,
    env: str = "tiny",
    runtime_params: dict | None = None,
    **kwargs,
) -> dict:
    """`kedro run --env <env> --pipelines <name> [--params ...]` in the project."""
    bootstrap_project(project)
    with KedroSession.create(
        project_path=project, env=env, runtime_params=runtime_params
    ) as session:
        return session.run(pipeline_name=pipeline_name, **kwargs)


def wiring_of(project: Path, env: str = "tiny") -> Wiring:
    """The members, environments and settings a run of `project` with `env` is built for."""
    return Wiring.from_parameters(project_parameters(project, env))


def _tiny_wiring() -> Wiring:
    """The tiny environment's wiring, resolved by Kedro from `conf/base` and `tests/conf_tiny`."""
    with tempfile.TemporaryDirectory() as folder:
        conf = Path(folder) / "conf"
        conf.mkdir()
        (conf / "base").symlink_to(REPO / "conf" / "base")
        (conf / "tiny").symlink_to(TINY_CONF)
        return wiring_of(Path(folder))


TINY_WIRING = _tiny_wiring()


def open_catalog(project: Path, env: str = "tiny", runtime_params: dict | None = None):
    """The tiny project's catalog from one session: for a test that loads many entries (a
    session per entry costs about a second) and runs nothing in between."""
    bootstrap_project(project)
    with KedroSession.create(
        project_path=project, env=env, runtime_params=runtime_params
    ) as session:
        return session.load_context().catalog


def load(
    project: Path,
    name: str,
    env: str = "tiny",
    version: str | None = None,
    runtime_params: dict | None = None,
):
    """Load a catalog entry of the tiny project, as a notebook user would."""
    bootstrap_project(project)
    with KedroSession.create(
        project_path=project, env=env, runtime_params=runtime_params
    ) as session:
        catalog = session.load_context().catalog
        if version is None:
            return catalog.load(name)
        return catalog.load(name, version=version)


@pytest.fixture(scope="session")
def tiny_project(tmp_path_factory) -> Path:
    return make_project_copy(tmp_path_factory.mktemp("tiny") / "project")


@pytest.fixture(scope="session")
def trained(tiny_project) -> Path:
    run_stage(tiny_project, "training")
    return tiny_project


@pytest.fixture(scope="session")
def torch_attacked(trained) -> Path:
    run_stage(trained, "torch_attacks")
    return trained


@pytest.fixture(scope="session")
def art_attacked(torch_attacked) -> Path:
    run_stage(torch_attacked, "art_attacks")
    return torch_attacked


@pytest.fixture(scope="session")
def immunized(art_attacked) -> Path:
    run_stage(art_attacked, "immunization")
    return art_attacked


@pytest.fixture(scope="session")
def adapted(immunized) -> Path:
    run_stage(immunized, "adaptive_attacks")
    return immunized


@pytest.fixture(scope="session")
def reported(adapted) -> Path:
    run_stage(adapted, "reporting")
    return adapted
