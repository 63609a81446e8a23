"""A raw archive that takes its time to load, so a test can start a second run while the first
is still running (tests/test_hooks.py). It waits until the file named by the environment
variable ``LOGIFOLD_TEST_RELEASE`` exists (at most two minutes)."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from logifold_kedro.datasets.cifar10_archive import CIFAR10ArchiveDataset


class SlowArchive(CIFAR10ArchiveDataset):
    def load(self) -> Any:
        release = Path(os.environ["LOGIFOLD_TEST_RELEASE"])
        deadline = time.monotonic() + 120
        while not release.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        return super().load()
