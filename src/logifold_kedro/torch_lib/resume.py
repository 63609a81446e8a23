"""State that lets a long torch job resume: a fingerprinted folder, digests, atomic writes.

A job (AutoAttack over many chunks, the surrogate's epochs) keeps what it has finished in a
folder of its own. ``open_state_folder`` keeps that folder only when its ``fingerprint.json``
matches the job's (settings, seed, digests of the inputs and weights); otherwise the old state
is discarded with an INFO line, so a changed input never picks up results made from another.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from logifold_kedro.datasets.atomic import partial_save_path
from logifold_kedro.datasets.resume_state import array_digest

logger = logging.getLogger(__name__)


def digest_arrays(*arrays: np.ndarray | torch.Tensor) -> str:
    """`array_digest` of the arrays, a tensor read on the CPU."""
    return array_digest(
        a.detach().cpu().contiguous().numpy() if isinstance(a, torch.Tensor) else a for a in arrays
    )


def weights_digest(model: nn.Module) -> str:
    """sha256 of a model's state_dict (parameters and buffers, by name): which weights ran."""
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(digest_arrays(tensor).encode())
    return digest.hexdigest()


def atomic_write(path: Path, write: Callable[[Any], None]) -> None:
    """Write through ``write(file)`` under the datasets' partial name, then rename: never half a
    file (`logifold_kedro.datasets.atomic.partial_save_path`)."""
    with partial_save_path("file", str(path)) as partial, open(partial, "wb") as stream:
        write(stream)


def open_state_folder(
    state_dir: str | os.PathLike | None, fingerprint: dict[str, Any], what: str
) -> Path | None:
    """``state_dir`` ready for ``fingerprint``: kept when its fingerprint.json matches, else
    emptied (with an INFO line saying which settings differ). None: no state kept."""
    if state_dir is None:
        return None
    folder = Path(state_dir)
    record = folder / "fingerprint.json"
    if record.is_file():
        try:
            saved = json.loads(record.read_text())
        except (OSError, ValueError):
            saved = {}
        if saved == fingerprint:
            return folder
        differing = sorted(
            key for key in set(saved) | set(fingerprint) if saved.get(key) != fingerprint.get(key)
        )
        logger.info(
            "%s: the saved state in %s was made with other inputs or settings (%s differ); "
            "starting fresh",
            what, folder, ", ".join(differing),
        )  # fmt: skip
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    text = json.dumps(fingerprint, indent=1, sort_keys=True).encode()
    atomic_write(record, lambda stream: stream.write(text))
    return folder
