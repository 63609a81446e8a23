"""README command 1 (`pip install -e ".[all]"`) brings every tool the README uses, and each starts:
kedro-viz (`kedro viz build`), IPython (`kedro ipython`), JupyterLab (`kedro jupyter lab`)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement

from tests.pipelines.conftest import make_project_copy

VENV_BIN = Path(sys.executable).parent
# Under CPU contention a kedro command takes minutes to import its plugins; idle, seconds.
COMMAND_TIMEOUT_S = 600


def extra_requirements(extra: str, seen: frozenset[str] = frozenset()) -> dict[str, Requirement]:
    """``{name: requirement}`` of an extra of the installed project, self-references expanded."""
    found: dict[str, Requirement] = {}
    for text in metadata.requires("logifold_kedro") or []:
        requirement = Requirement(text)
        if requirement.marker is None or not requirement.marker.evaluate({"extra": extra}):
            continue
        if requirement.name.replace("_", "-") == "logifold-kedro":
            for inner in sorted(requirement.extras - seen - {extra}):
                found |= extra_requirements(inner, seen | {extra})
        else:
            found[requirement.name] = requirement
    return found


def test_the_all_extra_brings_every_tool_the_readme_uses():
    required = extra_requirements("all")
    for name in ("kedro-viz", "ipython", "ipykernel", "jupyterlab", "tensorflow", "torch"):
        assert name in required, f"the all extra does not bring {name}"
        installed = metadata.version(name)
        assert required[name].specifier.contains(installed, prereleases=True), (
            f"{name} {installed} is installed, the all extra asks for {required[name]}"
        )
    assert "pytest" not in required, "the test tools belong to the test extra"


def run_in(project: Path, *command: str) -> subprocess.CompletedProcess:
    """A command of the installed environment, as in an activated venv: `kedro ipython` starts
    `ipython` by name from PATH."""
    env = {
        **os.environ,
        "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "KEDRO_DISABLE_TELEMETRY": "1",
    }
    env.pop("KEDRO_ENV", None)
    result = subprocess.run(
        command,
        cwd=project,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT_S,
        check=False,
    )
    assert result.returncode == 0, f"{' '.join(command)} failed:\n{result.stdout}\n{result.stderr}"
    return result


def test_kedro_viz_build_writes_every_pipeline(tmp_path):
    project = make_project_copy(tmp_path / "project")
    run_in(project, str(VENV_BIN / "kedro"), "viz", "build")
    pipelines = {path.name for path in (project / "build" / "api" / "pipelines").iterdir()}
    assert {"__default__", "training", "reporting"} <= pipelines
    graph = json.loads((project / "build" / "api" / "main").read_text())
    assert "make_splits" in {node["name"] for node in graph["nodes"]}
    assert (project / "build" / "index.html").is_file()


def test_kedro_ipython_starts_with_the_project_loaded(tmp_path):
    project = make_project_copy(tmp_path / "project")
    code = "print('LOADED', 'clean_train' in catalog, context.params['seed'], sorted(pipelines)[0])"
    result = run_in(project, str(VENV_BIN / "kedro"), "ipython", "-c", code)
    assert "LOADED True 42 __default__" in result.stdout, result.stdout + result.stderr


def test_jupyter_lab_answers_with_the_installed_version(tmp_path):
    result = run_in(tmp_path, str(VENV_BIN / "jupyter"), "lab", "--version")
    assert result.stdout.strip() == metadata.version("jupyterlab")
    # `kedro jupyter lab` runs the project's kernel: IPython with ipykernel.
    kernels = run_in(tmp_path, str(VENV_BIN / "jupyter"), "kernelspec", "list", "--json")
    assert "python3" in json.loads(kernels.stdout)["kernelspecs"]
