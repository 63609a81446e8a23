"""The folder where long nodes keep the state that lets a killed run resume.

A training node that dies at epoch 150 of 200, or an AutoAttack cut off by a cluster's wall-time
limit, restarts from its last saved state when the same command is run again. That state is not
a result: it lives beside the run's checkpoints (``data/06_models/<scale>/seed<seed>/resume/``),
one subfolder per node, and the node removes its subfolder once its outputs are complete.

The catalog hands the folder to a node as an input (``resume_state``), so a node never builds a
path from the project layout and a test can point it at a temporary directory.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kedro.io.core import AbstractDataset, DatasetError


class ResumeStateDataset(AbstractDataset[None, Path]):
    """``load()`` returns the run's resume-state folder (created if missing); never saved to."""

    def __init__(self, path: str, metadata: dict[str, Any] | None = None) -> None:
        self._path = Path(path)
        self.metadata = metadata

    def load(self) -> Path:
        self._path.mkdir(parents=True, exist_ok=True)
        return self._path

    def save(self, data: None) -> None:
        raise DatasetError(
            f"The resume-state folder {self._path} is read by nodes, not written through the "
            "catalog: a node keeps its state in its own subfolder of the path it loads."
        )

    def _exists(self) -> bool:
        return True

    def _describe(self) -> dict[str, Any]:
        return {"path": str(self._path)}
