"""The folder where long nodes keep the state that lets a killed run resume.

A training node that dies in a late epoch, or an AutoAttack cut off by a cluster's wall-time
limit, restarts from its last saved state when the same command is run again. That state is not
a result: it lives beside the run's checkpoints (``data/06_models/<scale>/seed<seed>/resume/``),
one subfolder per node, and the node removes its subfolder once its outputs are complete.

The catalog hands the folder to a node as an input (``resume_state``), so a node never builds a
path from the project layout and a test can point it at a temporary directory.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
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


def array_digest(arrays: Iterable[np.ndarray]) -> str:
    """A 128-bit digest of the arrays' dtypes, shapes and bytes, in order: the fingerprint a
    resumed node compares to know its saved state came from the same inputs."""
    digest = hashlib.blake2b(digest_size=16)
    for array in arrays:
        array = np.ascontiguousarray(array)
        digest.update(f"{array.dtype.str}{array.shape}".encode())
        digest.update(memoryview(array).cast("B"))
    return digest.hexdigest()
