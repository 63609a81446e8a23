"""kedro-viz builds the lineage of the five pipelines (static build, no server)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.pipelines.conftest import make_project_copy


def test_kedro_viz_build_writes_the_five_pipelines(tmp_path):
    project = make_project_copy(tmp_path / "project")
    result = subprocess.run(
        [str(Path(sys.executable).parent / "kedro"), "viz", "build", "--include-hooks"],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "KEDRO_DISABLE_TELEMETRY": "1"},
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    main = json.loads((project / "build" / "api" / "main").read_text())
    pipelines = {p["id"] for p in main["pipelines"]}
    assert {"training", "torch_attacks", "art_attacks", "immunization", "reporting"} <= pipelines
    tags = {t["id"] for t in main["tags"]}
    assert {"tensorflow", "torch", "gpu"} <= tags
