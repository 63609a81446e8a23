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
  the CPU scales, which train their surrogate (no pretrained checkpoint exists for it).

Loading is safe whatever the environment says: the checkpoint is read here with
``torch.load(weights_only=True)`` (tensors and plain containers only; a pickled object that would
run code is refused), never through ``robustbench.utils.load_model``, whose ``torch.load`` has
no ``weights_only`` and so unpickles anything when ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1`` is
set. The state dict is then handled as ``load_model`` does (``module.``/``model.`` prefixes
removed, strict ``load_state_dict`` into the zoo architecture). Checkpoints with NaN or infinite
weights are refused on load and on save, naming the file and version. Saves are atomic: the
``.pt`` is written under a temporary name and renamed, and a version folder counts only once its
checkpoint exists.

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
import pickle
import zipfile
from collections.abc import Mapping
from glob import iglob
from pathlib import Path, PurePosixPath
from typing import Any

from kedro.io.core import AbstractVersionedDataset, DatasetError, Version, VersionNotFoundError

from logifold_kedro.datasets.atomic import damaged_version_error, located

# robustbench.utils.load_model strips these from state-dict keys before loading (same order).
_ROBUSTBENCH_PREFIXES = ("module.", "model.")


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
        return self._load_checkpoint(self._load_dir())

    def _load_checkpoint(self, model_dir: PurePosixPath) -> Any:
        """The zoo architecture with the weights of ``model_dir``'s checkpoint, loaded safely."""
        import torch

        from logifold_kedro.torch_lib.robustbench_compat import build_zoo_model
        from logifold_kedro.torch_lib.surrogate import OBTAIN_STANDARD_HINT

        path = self._checkpoint(model_dir)
        versioned = self._version is not None
        # <model_dir>/<version>/<basename>/<dataset>/<threat model>/<name>.pt
        folder = PurePosixPath(model_dir).parent if versioned else None
        where = located(path, versioned, folder)
        if not path.is_file():
            hint = OBTAIN_STANDARD_HINT.replace("'Standard'", repr(self._model_name))
            raise FileNotFoundError(
                f"RobustBench checkpoint of {self._model_name!r} ({self._dataset}, "
                f"{self._threat_model}) not found at {path}. robustbench.utils.load_model "
                "would try to download it from Google Drive, which is not reachable offline.\n"
                f"{hint}\n(For a model of this project's own, run the node that trains and "
                "saves it: the torch_attacks pipeline's fit_surrogate.)"
            )
        model = build_zoo_model(self._model_name, self._dataset, self._threat_model)
        try:
            # weights_only=True explicitly: TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD cannot override it.
            checkpoint = torch.load(path, map_location="cpu", weights_only=True)
        except pickle.UnpicklingError as error:
            raise DatasetError(
                f"{where} holds Python objects besides tensors, which only a full unpickling "
                "could read, and unpickling can run code: it is refused (checkpoints are loaded "
                "with weights_only=True). Re-save it as {'state_dict': model.state_dict()}. "
                f"torch said: {error}"
            ) from error
        except (RuntimeError, EOFError, zipfile.BadZipFile, ValueError) as error:
            raise damaged_version_error(path, versioned, error, folder) from error
        state_dict = robustbench_state_dict(checkpoint, where)
        bad = nonfinite_tensors(state_dict)
        if bad:
            raise DatasetError(
                f"{where} holds NaN or infinite weights in {', '.join(bad[:5])}: the training "
                "that saved it diverged, or the file was edited. Re-run fit_surrogate, or load "
                "an earlier version with `--load-versions`."
            )
        try:
            model.load_state_dict(state_dict, strict=True)
        except RuntimeError as error:
            raise DatasetError(
                f"{where} does not fit the architecture of {self._model_name!r} "
                f"({self._architecture or 'RobustBench zoo'}): {error}"
            ) from error
        return model.eval()

    def save(self, data: Any) -> None:
        from logifold_kedro.torch_lib.surrogate import save_for_robustbench

        save_dir = self._get_save_path()
        bad = nonfinite_tensors(dict(data.state_dict()))
        if bad:
            versioned = self._version is not None
            folder = PurePosixPath(save_dir).parent if versioned else None
            raise DatasetError(
                f"refusing to save {located(self._checkpoint(save_dir), versioned, folder)}"
                f": the model's weights hold NaN or infinite values in {', '.join(bad[:5])} (the "
                "training diverged: lower the learning rate); nothing was written."
            )
        # save_for_robustbench writes the .pt under a temporary name and renames it; the version
        # folder counts as a version only once that file exists (_has_checkpoint).
        save_for_robustbench(data, save_dir, self._model_name, self._dataset, self._threat_model)

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


def robustbench_state_dict(checkpoint: Any, where: str) -> dict[str, Any]:
    """The state dict of a loaded checkpoint as ``robustbench.utils.load_model`` reads it:
    ``checkpoint["state_dict"]`` (or the checkpoint itself), each prefix of
    ``_ROBUSTBENCH_PREFIXES`` cut from the keys that contain it."""
    state = checkpoint.get("state_dict", checkpoint) if isinstance(checkpoint, Mapping) else None
    if not isinstance(state, Mapping) or not all(isinstance(k, str) for k in state):
        raise DatasetError(
            f"{where} is not a checkpoint of a model: expected {{'state_dict': {{name: tensor}}}} "
            f"or {{name: tensor}}, got {type(checkpoint).__name__}"
        )
    for prefix in _ROBUSTBENCH_PREFIXES:
        # robustbench cuts len(prefix) characters from the start of every key containing it
        state = {(k[len(prefix) :] if prefix in k else k): v for k, v in state.items()}
    return dict(state)


def nonfinite_tensors(state_dict: Mapping[str, Any]) -> list[str]:
    """Names of the floating-point tensors that hold NaN or infinite values."""
    import torch

    return [
        name
        for name, tensor in state_dict.items()
        if isinstance(tensor, torch.Tensor)
        and tensor.is_floating_point()
        and not bool(torch.isfinite(tensor).all())
    ]
