"""The seed and the run folder it names (``<scale>/seed<seed>``, the catalog's ``_run``).

``check_run_folder`` runs where the catalog is formed (``after_catalog_created``: runs, the
importer and notebooks): the folder's seed must be valid and equal ``params:seed``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from logifold_kedro.parameter_checks.messages import ParameterError
from logifold_kedro.parameter_checks.schema import SEED_MAX, SEED_RULE

_RUN_FOLDER = re.compile(r"(?:^|/)seed(?P<seed>[^/{}]*)(?=/|$)")


def check_seed(seed: Any, source: str = "params:seed") -> int:
    """The seed as an int; ParameterError unless it is an integer in 0..2**32 - 1."""
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= SEED_MAX:
        raise ParameterError(
            f"- {source} = {seed!r}: the seed must be {SEED_RULE} (it seeds NumPy, TensorFlow "
            "and torch and names the run folder <scale>/seed<seed>); e.g. --params seed=7"
        )
    return seed


def run_folder_seeds(filepaths: Iterable[str]) -> set[str]:
    """The ``<seed>`` texts of the ``seed<seed>`` folders in catalog paths (the run folder)."""
    return {match["seed"] for path in filepaths for match in _RUN_FOLDER.finditer(str(path))}


def check_run_folder(filepaths: Iterable[str], params_seed: Any) -> None:
    """Raise ParameterError unless the run folder's seed is valid and equals ``params:seed``.

    The catalog forms the folder from the runtime parameter ``seed``, which
    ``hooks.RunFolderSeedHook`` sets to ``params:seed``; a catalog path that names another seed
    folder, or a session without the project's hooks, would give the nodes one seed and the
    outputs the folder of another.
    """
    seeds = run_folder_seeds(filepaths)
    for text in sorted(seeds):
        if not re.fullmatch(r"\d+", text) or int(text) > SEED_MAX:
            raise ParameterError(
                f"- seed = {text!r}: the run folder would be seed{text}/; the seed must be "
                f"{SEED_RULE} (e.g. --params seed=7)"
            )
    check_seed(params_seed)
    if seeds and seeds != {str(params_seed)}:
        folder = ", ".join(f"seed{s}" for s in sorted(seeds))
        raise ParameterError(
            f"- seed: params:seed is {params_seed} but the run folder is {folder}: build run "
            "output paths from `${_run}` (conf/base/catalog.yml) and keep the project's hooks "
            f"(settings.py), or pass the seed on the command line, `--params seed={params_seed}`."
        )
