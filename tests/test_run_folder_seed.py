"""The run folder is named after the seed the nodes use, wherever the seed is set; a run that does
not read conf/local says so; credentials and local configuration stay out of git."""

from __future__ import annotations

import logging
import shutil
import subprocess
from pathlib import Path

import pytest
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project

from tests.pipelines.conftest import REPO, TINY_CONF, make_project_copy, run_stage


def run_folder_and_seed(project: Path, env: str | None, runtime_params: dict | None = None):
    """(the folder ``clean_train`` is written to, the ``seed`` the nodes get) for one session."""
    bootstrap_project(project)
    with KedroSession.create(
        project_path=project, env=env, runtime_params=runtime_params
    ) as session:
        context = session.load_context()
        catalog = context.catalog
        path = Path(catalog.get("clean_train")._describe()["filepath"]).parent
        assert catalog.load("params:seed") == context.params["seed"]
        return path.relative_to(project).as_posix(), catalog.load("params:seed")


def test_a_seed_in_conf_local_names_the_folder_the_run_writes(tmp_path, monkeypatch):
    monkeypatch.delenv("KEDRO_ENV", raising=False)
    project = make_project_copy(tmp_path / "project")
    # conf/local is the run's environment (no --env): the tiny values, and the user's seed.
    shutil.copytree(TINY_CONF, project / "conf" / "local", dirs_exist_ok=True)
    (project / "conf" / "local" / "parameters_seed.yml").write_text("seed: 7\n")
    run_stage(project, "training", env=None, tags=["data"])
    written = sorted(
        p.relative_to(project).as_posix() for p in (project / "data").rglob("clean_*.npz")
    )
    assert written, "the data nodes wrote nothing"
    assert all(path.startswith("data/02_intermediate/tiny/seed7/") for path in written), written
    assert not list((project / "data").rglob("seed42"))


def test_a_seed_in_an_environment_names_the_folder(tmp_path):
    project = make_project_copy(tmp_path / "project")
    (project / "conf" / "tiny" / "parameters_seed.yml").write_text("seed: 7\n")
    assert run_folder_and_seed(project, "tiny") == ("data/02_intermediate/tiny/seed7", 7)


def test_a_seed_on_the_command_line_wins_over_the_files(tmp_path):
    project = make_project_copy(tmp_path / "project")
    (project / "conf" / "tiny" / "parameters_seed.yml").write_text("seed: 5\n")
    folder_and_seed = run_folder_and_seed(project, "tiny", runtime_params={"seed": 7})
    assert folder_and_seed == ("data/02_intermediate/tiny/seed7", 7)


def test_the_default_seed_names_the_default_folder(tmp_path):
    project = make_project_copy(tmp_path / "project")
    assert run_folder_and_seed(project, "tiny") == ("data/02_intermediate/tiny/seed42", 42)


def unread_warnings(caplog) -> list[str]:
    return [
        record.getMessage()
        for record in caplog.records
        if record.levelno == logging.WARNING and "do not apply" in record.getMessage()
    ]


def test_another_environment_warns_that_conf_local_is_not_read(tmp_path, caplog, monkeypatch):
    monkeypatch.delenv("KEDRO_ENV", raising=False)
    project = make_project_copy(tmp_path / "project")
    (project / "conf" / "local" / "parameters.yml").write_text("seed: 7\n")
    (project / "conf" / "local" / "catalog_mine.yml").write_text("{}\n")
    (project / "conf" / "local" / ".gitkeep").write_text("")
    bootstrap_project(project)
    with caplog.at_level(logging.WARNING):
        with KedroSession.create(project_path=project, env="tiny") as session:
            session.load_context()
    [message] = unread_warnings(caplog)
    assert "conf/local/catalog_mine.yml, conf/local/parameters.yml" in message
    assert ".gitkeep" not in message
    assert "reads conf/base and conf/tiny, not conf/local" in message
    assert "--params" in message and "--env tiny_local" in message

    caplog.clear()
    with caplog.at_level(logging.WARNING):
        with KedroSession.create(project_path=project) as session:  # conf/local is read
            assert session.load_context().params["seed"] == 7
    assert unread_warnings(caplog) == []


@pytest.mark.parametrize(
    ("path", "ignored"),
    [
        ("conf/local/credentials.yml", True),
        ("conf/local/parameters.yml", True),
        ("conf/local/nested/catalog.yml", True),
        ("conf/paper/credentials.yml", True),
        ("conf/cluster/credentials.yml", True),
        ("conf/base/credentials_s3.yml", True),
        ("conf/paper_local/parameters.yml", True),
        ("conf/local/.gitkeep", False),
        ("conf/README.md", False),
        ("conf/paper/parameters.yml", False),
        ("conf/base/catalog.yml", False),
    ],
)
def test_credentials_and_local_configuration_stay_out_of_git(path, ignored):
    # --no-index: the patterns themselves, whether or not the file is tracked or exists.
    result = subprocess.run(
        ["git", "check-ignore", "--no-index", "--quiet", path], cwd=REPO, check=False
    )
    assert result.returncode in (0, 1), f"git check-ignore failed on {path}"
    assert (result.returncode == 0) is ignored


def test_the_template_files_of_conf_are_tracked():
    for path in ("conf/local/.gitkeep", "conf/README.md"):
        listed = subprocess.run(
            ["git", "ls-files", "--error-unmatch", path], cwd=REPO, capture_output=True, check=False
        )
        assert listed.returncode == 0, f"{path} is not in git"
