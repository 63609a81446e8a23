"""Make robustbench 1.1.1 importable with PyPI's ``pyautoattack``; add custom zoo entries.

Two facts of the installed packages:

- ``robustbench/__init__`` imports ``robustbench.eval``, which does ``from autoattack import
  AutoAttack`` and ``from autoattack.state import EvaluationState``. PyPI has no ``autoattack``:
  the same code is published as ``pyautoattack`` (same submodules: ``autoattack``, ``state``,
  ``checks``, ``autopgd_base``, ...). ``ensure_autoattack_module`` makes the name ``autoattack``
  resolve to ``pyautoattack`` when no real ``autoattack`` is installed: the top-level module is
  aliased in ``sys.modules`` and a meta-path finder maps every ``autoattack.<sub>`` import to the
  already-loaded (or then loaded) ``pyautoattack.<sub>``, so both names give the *same* module
  objects (one ``EvaluationState`` class, not two copies). Submodules load only when imported,
  so pyautoattack's TensorFlow helpers (``utils_tf``) are never touched.
  Only importing works this way: ``robustbench.eval.benchmark`` itself calls the older
  AutoAttack API (``bs=``) and would fail with pyautoattack; this project does not use it (see
  ``autoattack_adapter``).
- ``robustbench.utils.load_model(name, model_dir, dataset, threat_model)`` builds
  ``model_dicts[dataset][threat_model][name]["model"]()`` and reads
  ``<model_dir>/<dataset>/<threat_model>/<name>.pt``. ``register_zoo_model`` adds an entry of our
  own there (e.g. a narrow ``WideResNet``), so the same function loads a CPU-scale surrogate
  exactly as it loads the official ``Standard`` model.
"""

from __future__ import annotations

import functools
import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import inspect
import logging
import sys
from collections.abc import Callable
from types import ModuleType
from typing import Any

logger = logging.getLogger(__name__)

ALIAS_NAME = "autoattack"
ALIAS_TARGET = "pyautoattack"

# Placeholder Google Drive id of our own zoo entries: load_model refuses entries whose id is
# None, and downloads only when the checkpoint file is missing (which load_surrogate checks first).
LOCAL_ONLY_GDRIVE_ID = "local-checkpoint-only"

# Zoo architectures by name: (module, attribute). Imported only when used.
ZOO_ARCHITECTURES: dict[str, tuple[str, str]] = {
    "WideResNet": ("robustbench.model_zoo.architectures.wide_resnet", "WideResNet"),
    "DMWideResNet": ("robustbench.model_zoo.architectures.dm_wide_resnet", "DMWideResNet"),
    "PreActResNet18": ("robustbench.model_zoo.architectures.resnet", "PreActResNet18"),
    "ResNet18": ("robustbench.model_zoo.architectures.resnet", "ResNet18"),
}

# Names this process registered, with the spec they were registered with.
_registered: dict[tuple[str, str, str], dict[str, Any]] = {}


class _AutoattackAliasFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Resolve ``autoattack.<sub>`` to the module object ``pyautoattack.<sub>``.

    Active only while ``sys.modules["autoattack"]`` is the pyautoattack package (our alias); with
    a real ``autoattack`` package installed it finds nothing and the normal import runs.
    """

    def find_spec(
        self, fullname: str, path: Any = None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if not fullname.startswith(ALIAS_NAME + ".") or not is_autoattack_alias():
            return None
        target_name = ALIAS_TARGET + fullname[len(ALIAS_NAME) :]
        if importlib.util.find_spec(target_name) is None:
            return None  # "No module named autoattack.<sub>", as without the alias
        return importlib.util.spec_from_loader(fullname, self)

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        # The existing pyautoattack module object itself; the import system keeps its
        # __name__/__spec__ (they are set) and only files it under the alias name.
        return importlib.import_module(ALIAS_TARGET + spec.name[len(ALIAS_NAME) :])

    def exec_module(self, module: ModuleType) -> None:
        """Nothing to run: the module was executed when pyautoattack imported it."""


_alias_finder = _AutoattackAliasFinder()


def is_autoattack_alias() -> bool:
    """True if ``autoattack`` in this process is our alias of ``pyautoattack``."""
    module = sys.modules.get(ALIAS_NAME)
    return module is not None and getattr(module, "__name__", None) == ALIAS_TARGET


def ensure_autoattack_module() -> str:
    """Make ``import autoattack`` (and ``autoattack.<sub>``) work; return who provides it.

    Returns:
        ``"autoattack"`` when a real ``autoattack`` package (GitHub fra31/auto-attack) is
        importable; ``"pyautoattack"`` when the name is (now) an alias of ``pyautoattack``.

    Raises:
        ImportError: neither package is installed (says how to install one).
    """
    if is_autoattack_alias():
        return ALIAS_TARGET
    if sys.modules.get(ALIAS_NAME) is not None:
        return ALIAS_NAME  # a real autoattack package is already imported
    try:
        importlib.import_module(ALIAS_NAME)
    except ModuleNotFoundError as error:
        if error.name != ALIAS_NAME:
            raise  # the real package is installed but one of its own imports is missing
    else:
        return ALIAS_NAME
    try:
        target = importlib.import_module(ALIAS_TARGET)
    except ModuleNotFoundError as error:
        raise ImportError(
            "robustbench needs a module named 'autoattack' and neither 'autoattack' nor "
            "'pyautoattack' is installed. Install the PyPI package: pip install "
            "pyautoattack==0.2.0 (or the GitHub one: pip install "
            "git+https://github.com/fra31/auto-attack)."
        ) from error
    if _alias_finder not in sys.meta_path:
        # First in line, so the path finder never loads a second copy of pyautoattack's files
        # under the autoattack.* names.
        sys.meta_path.insert(0, _alias_finder)
    sys.modules[ALIAS_NAME] = target
    logger.debug("no 'autoattack' package installed: aliased it to 'pyautoattack'")
    return ALIAS_TARGET


def _zoo_entries(dataset: str, threat_model: str) -> dict[str, dict[str, Any]]:
    """robustbench's (mutable) dict of zoo entries for one dataset and threat model."""
    ensure_autoattack_module()
    from robustbench.model_zoo import model_dicts
    from robustbench.model_zoo.enums import BenchmarkDataset, ThreatModel

    try:
        dataset_key = BenchmarkDataset(dataset)
    except ValueError:
        choices = [item.value for item in BenchmarkDataset]
        raise ValueError(f"unknown RobustBench dataset {dataset!r}; use one of {choices}") from None
    try:
        threat_key = ThreatModel(threat_model)
    except ValueError:
        choices = [item.value for item in ThreatModel]
        raise ValueError(
            f"unknown RobustBench threat model {threat_model!r}; use one of {choices}"
        ) from None
    return model_dicts[dataset_key][threat_key]


def resolve_architecture(architecture: str | Callable[..., Any]) -> Callable[..., Any]:
    """The constructor of a zoo architecture given by name (``ZOO_ARCHITECTURES``) or callable."""
    if callable(architecture):
        return architecture
    if architecture not in ZOO_ARCHITECTURES:
        raise ValueError(
            f"unknown zoo architecture {architecture!r}; use one of {sorted(ZOO_ARCHITECTURES)} "
            "or pass a callable that returns a torch.nn.Module"
        )
    ensure_autoattack_module()
    module_name, attribute = ZOO_ARCHITECTURES[architecture]
    return getattr(importlib.import_module(module_name), attribute)


def is_official_zoo_model(name: str, dataset: str = "cifar10", threat_model: str = "L2") -> bool:
    """True if ``name`` is one of robustbench's own entries (not registered by this process)."""
    key = (name, dataset, threat_model)
    return name in _zoo_entries(dataset, threat_model) and key not in _registered


def official_gdrive_id(name: str, dataset: str = "cifar10", threat_model: str = "L2") -> Any:
    """The Google Drive id ``load_model`` downloads the official zoo model ``name`` from, or
    None for a model this process registered (it has nothing to download).

    Raises:
        ValueError: ``name`` is in neither robustbench's zoo nor this process's registrations.
    """
    entries = _zoo_entries(dataset, threat_model)
    if name not in entries:
        raise ValueError(
            f"{name!r} is not a RobustBench {dataset}/{threat_model} model (the paper's surrogate "
            "is 'Standard'; the zoo is listed at https://robustbench.github.io)"
        )
    if (name, dataset, threat_model) in _registered:
        return None
    return entries[name]["gdrive_id"]


def register_zoo_model(
    name: str,
    dataset: str = "cifar10",
    threat_model: str = "L2",
    architecture: str | Callable[..., Any] = "WideResNet",
    **kwargs: Any,
) -> None:
    """Add ``name`` to robustbench's model zoo as ``architecture(**kwargs)``.

    Afterwards ``robustbench.utils.load_model(name, model_dir=D, dataset=dataset,
    threat_model=threat_model)`` builds that architecture and reads ``D/<dataset>/
    <threat_model>/<name>.pt`` exactly as for an official model. Registering the same name
    again replaces the entry (logged when the spec changes). Registration lives in this process
    only (robustbench's dict in memory); call it before each ``load_model`` in a new process.

    Args:
        name: zoo name, also the checkpoint file's stem; must not be an official model name.
        architecture: a name from ``ZOO_ARCHITECTURES`` (e.g. ``"WideResNet"``) or a callable.
        kwargs: constructor arguments, e.g. ``depth=16, widen_factor=2`` for ``WideResNet``.

    Raises:
        ValueError: official name, unknown dataset/threat model/architecture, or arguments the
            architecture does not take.
    """
    if not name or not isinstance(name, str):
        raise ValueError(f"zoo model name must be a non-empty string, got {name!r}")
    entries = _zoo_entries(dataset, threat_model)
    key = (name, dataset, threat_model)
    if name in entries and key not in _registered:
        raise ValueError(
            f"{name!r} is an official RobustBench {dataset}/{threat_model} model; load it without "
            "an architecture (architecture=None), or register your model under another name"
        )
    builder = resolve_architecture(architecture)
    try:
        inspect.signature(builder).bind(**kwargs)
    except TypeError as error:
        raise ValueError(
            f"architecture {architecture!r} does not take the arguments {kwargs}: {error}"
        ) from None
    spec = {"architecture": architecture, "kwargs": dict(kwargs)}
    previous = _registered.get(key)
    if previous is not None and previous != spec:
        logger.info("zoo model %r re-registered: %s -> %s", name, previous, spec)
    entries[name] = {
        "model": functools.partial(builder, **kwargs),
        "gdrive_id": LOCAL_ONLY_GDRIVE_ID,
    }
    _registered[key] = spec
    logger.debug("registered zoo model %r (%s/%s): %s", name, dataset, threat_model, spec)


def register_from_config(
    name: str,
    architecture: dict[str, Any] | None,
    dataset: str = "cifar10",
    threat_model: str = "L2",
) -> None:
    """Register ``name`` from a config dict ``{"name": <architecture>, **kwargs}``.

    ``None`` registers nothing and requires ``name`` to be an official zoo model.
    """
    if architecture is None:
        if name not in _zoo_entries(dataset, threat_model):
            raise ValueError(
                f"{name!r} is not a RobustBench {dataset}/{threat_model} zoo model; give an "
                'architecture such as {"name": "WideResNet", "depth": 16, "widen_factor": 2}'
            )
        return
    if not isinstance(architecture, dict) or "name" not in architecture:
        raise ValueError(
            'architecture must be a dict like {"name": "WideResNet", "depth": 16, '
            f'"widen_factor": 2}}, got {architecture!r}'
        )
    kwargs = {key: value for key, value in architecture.items() if key != "name"}
    register_zoo_model(name, dataset, threat_model, architecture["name"], **kwargs)


def build_zoo_model(name: str, dataset: str = "cifar10", threat_model: str = "L2") -> Any:
    """A freshly initialised instance of the zoo architecture ``name`` (official or registered).

    Initialisation draws from torch's global generator: seed it first for a repeatable model.
    """
    entries = _zoo_entries(dataset, threat_model)
    if name not in entries:
        raise ValueError(
            f"{name!r} is not in the RobustBench {dataset}/{threat_model} zoo; register it with "
            "register_zoo_model first"
        )
    return entries[name]["model"]()
