"""``RobustBenchModelDataset``: a torch model stored in robustbench's model-directory layout.

The catalog entry names a RobustBench model directory ``model_dir`` and a zoo name; the model
file is ``<model_dir>/<dataset>/<threat_model>/<model_name>.pt`` holding ``{"state_dict": ...}``,
the layout ``robustbench.utils.load_model`` reads. Versioned, the model directory itself is
versioned: ``<model_dir>/<version>/<basename(model_dir)>/`` is a complete model directory, so
``load_model`` reads a saved version unchanged.

- ``model_name`` an official zoo model (``Standard``, ...) and ``architecture: null``: loads
  the pretrained checkpoint (offline: place it in ``model_dir`` first; the error says how).
- ``architecture: {name: WideResNet, depth: 10, widen_factor: 1}``: ``model_name`` is registered
  in robustbench's zoo as that architecture (``register_zoo_model``) and loads the same way.
- ``from_scratch: true``: ``load`` returns the zoo architecture freshly initialised (torch
  seeded with ``seed``, without touching the global generator's state) and reads no file; for
  the CPU demo, where no pretrained checkpoint exists.

torch and robustbench are imported inside the methods only: importing this module (as Kedro
does for every catalog entry) costs nothing and works without torch installed.

In catalog entries give the directory as ``filepath`` (``model_dir`` is accepted too): Kedro
turns a relative ``filepath`` into an absolute path under the project root, so the model lands
in the project wherever ``kedro run`` is started; a relative ``model_dir`` is left relative to
the working directory.

Example catalog entries::

    surrogate_source:
      type: logifold_kedro.datasets.robustbench_model.RobustBenchModelDataset
      filepath: data/01_raw/robustbench
      model_name: Standard            # RobustBench's WideResNet-28-10, CIFAR-10 L2

    surrogate:
      type: logifold_kedro.datasets.robustbench_model.RobustBenchModelDataset
      filepath: data/06_models/robustbench
      model_name: Demo-WRN-10-1
      architecture: {name: WideResNet, depth: 10, widen_factor: 1}
      versioned: true
"""

from __future__ import annotations

import os
from glob import iglob
from pathlib import Path, PurePosixPath
from typing import Any

from kedro.io.core import AbstractVersionedDataset, DatasetError, Version, VersionNotFoundError


class RobustBenchModelDataset(AbstractVersionedDataset[Any, Any]):
    """A RobustBench-zoo torch model in ``<model_dir>/<dataset>/<threat_model>/<name>.pt``."""

    def __init__(
        self,
        model_dir: str | None = None,
        model_name: str | None = None,
        dataset: str = "cifar10",
        threat_model: str = "L2",
        architecture: dict[str, Any] | None = None,
        from_scratch: bool = False,
        seed: int = 42,
        version: Version | None = None,
        metadata: dict[str, Any] | None = None,
        filepath: str | None = None,
    ) -> None:
        """
        Args:
            model_dir: RobustBench model directory (local path), as ``load_model(model_dir=)``.
            model_name: zoo name and checkpoint stem, e.g. ``Standard`` or ``Demo-WRN-10-1``.
            filepath: the same as ``model_dir`` (give one of the two). Prefer it in catalog
                entries: Kedro makes relative ``filepath`` values absolute under the project
                root, but leaves ``model_dir`` relative to the working directory.
            dataset: RobustBench dataset (``cifar10``). threat_model: ``L2``, ``Linf``, ...
            architecture: ``None`` for an official zoo model; else ``{"name": <zoo
                architecture>, **constructor kwargs}`` registered under ``model_name``.
            from_scratch: ``load`` builds the architecture freshly initialised (no file read).
            seed: torch seed of that initialisation.
            version: Kedro version (set by the catalog for ``versioned: true``).
            metadata: free-form (kedro-viz layer etc.), ignored by Kedro.
        """
        if (model_dir is None) == (filepath is None):
            raise DatasetError(
                "give the RobustBench model directory as exactly one of filepath (preferred in "
                f"catalog entries) and model_dir; got filepath={filepath!r}, "
                f"model_dir={model_dir!r}"
            )
        model_dir = str(filepath if filepath is not None else model_dir)
        if not model_name or not isinstance(model_name, str):
            raise DatasetError(f"model_name must be a non-empty string, got {model_name!r}")
        if architecture is not None and (
            not isinstance(architecture, dict) or "name" not in architecture
        ):
            raise DatasetError(
                "architecture must be null or a dict like {name: WideResNet, depth: 16, "
                f"widen_factor: 2}}, got {architecture!r}"
            )
        if "://" in str(model_dir) and not str(model_dir).startswith("file://"):
            raise DatasetError(
                f"RobustBenchModelDataset needs a local model_dir (robustbench reads local "
                f"files), got {model_dir!r}"
            )
        self._model_name = model_name
        self._dataset = dataset
        self._threat_model = threat_model
        self._architecture = dict(architecture) if architecture is not None else None
        self._from_scratch = bool(from_scratch)
        self._seed = int(seed)
        self.metadata = metadata
        super().__init__(
            filepath=PurePosixPath(Path(str(model_dir).removeprefix("file://")).as_posix()),
            version=version,
            exists_function=self._has_checkpoint,
            glob_function=iglob,
        )

    def _checkpoint(self, model_dir: str | os.PathLike) -> Path:
        """The checkpoint file inside one (possibly versioned) model directory."""
        return Path(model_dir) / self._dataset / self._threat_model / f"{self._model_name}.pt"

    def _has_checkpoint(self, model_dir: str) -> bool:
        # A version directory counts only once its checkpoint is written (not a failed save).
        return self._checkpoint(model_dir).is_file()

    def _register(self) -> None:
        from logifold_kedro.torch_lib.robustbench_compat import register_from_config

        register_from_config(
            self._model_name, self._architecture, self._dataset, self._threat_model
        )

    def _load_dir(self) -> PurePosixPath:
        try:
            return self._get_load_path()
        except VersionNotFoundError as error:
            raise FileNotFoundError(
                f"No saved version of {self._model_name!r} under {self._filepath} (looked for "
                f"<version>/{self._filepath.name}/{self._dataset}/{self._threat_model}/"
                f"{self._model_name}.pt). Run the node that saves it first (torch_attacks: "
                "fit_surrogate)."
            ) from error

    def load(self) -> Any:
        self._register()
        if self._from_scratch:
            import torch

            from logifold_kedro.torch_lib.robustbench_compat import build_zoo_model

            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(self._seed)
                model = build_zoo_model(self._model_name, self._dataset, self._threat_model)
            return model.eval()
        from logifold_kedro.torch_lib.surrogate import load_surrogate

        return load_surrogate(self._load_dir(), self._model_name, self._dataset, self._threat_model)

    def save(self, data: Any) -> None:
        from logifold_kedro.torch_lib.surrogate import save_for_robustbench

        save_for_robustbench(
            data, self._get_save_path(), self._model_name, self._dataset, self._threat_model
        )

    def _exists(self) -> bool:
        if self._from_scratch:
            return True
        try:
            load_dir = self._get_load_path()
        except DatasetError:
            return False
        return self._has_checkpoint(str(load_dir))

    def _describe(self) -> dict[str, Any]:
        return {
            "model_dir": str(self._filepath),
            "model_name": self._model_name,
            "dataset": self._dataset,
            "threat_model": self._threat_model,
            "architecture": self._architecture,
            "from_scratch": self._from_scratch,
            "seed": self._seed,
            "version": self._version,
        }
