"""Fetch RobustBench's ``Standard`` checkpoint (the paper-scale surrogate) into the project.

On a machine with internet access, from the project root::

    python -m logifold_kedro.torch_lib.fetch_surrogate [--model-dir data/01_raw/robustbench]
                                                       [--model-name Standard]

puts the checkpoint at ``<model_dir>/cifar10/L2/<model_name>.pt``, the layout
``robustbench.utils.load_model`` (and the catalog's ``RobustBenchModelDataset``) reads. A plain
``python -c "from robustbench.utils import load_model; ..."`` fails in this project's
environment: robustbench 1.1.1 imports a module ``autoattack`` that PyPI does not have, so this
command first aliases it to ``pyautoattack`` (``robustbench_compat.ensure_autoattack_module``).
Then it calls robustbench's own ``load_model``, which downloads the file from Google Drive only
when it is missing and loads it strictly into the zoo architecture either way: a checkpoint that
is already there is reported as present, not downloaded again, and a broken one fails here
rather than in the pipeline.

Exit status 0 with the file's path and size; 1 with what went wrong (Google Drive unreachable,
a file that does not load, a name that is not in the zoo).
"""

from __future__ import annotations

import argparse
import sys
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from logifold_kedro.torch_lib.checkpoints import checkpoint_path
from logifold_kedro.torch_lib.robustbench_compat import (
    ensure_autoattack_module,
    official_gdrive_id,
)

DEFAULT_MODEL_DIR = "data/01_raw/robustbench"
DEFAULT_MODEL_NAME = "Standard"
DATASET = "cifar10"
THREAT_MODEL = "L2"


class FetchError(RuntimeError):
    """The checkpoint could not be downloaded, or the file there does not load."""


@dataclass(frozen=True)
class FetchedCheckpoint:
    path: Path
    size_bytes: int
    downloaded: bool


def _download_failure(name: str, path: Path, gdrive_id: str, error: Exception) -> FetchError:
    import requests

    if isinstance(error, requests.ConnectionError | requests.Timeout):
        cause = "Google Drive is not reachable from this machine"
    else:
        cause = "the download failed"
    return FetchError(
        f"could not download RobustBench {name!r} ({DATASET}, {THREAT_MODEL}) to {path}: {cause} "
        f"({type(error).__name__}: {error}).\nRun this command on a machine with internet access "
        f"(or download https://drive.google.com/uc?id={gdrive_id} by hand), then copy the file "
        f"to {path} here."
    )


def fetch_checkpoint(
    model_dir: str | Path = DEFAULT_MODEL_DIR, name: str = DEFAULT_MODEL_NAME
) -> FetchedCheckpoint:
    """Make ``<model_dir>/cifar10/L2/<name>.pt`` exist and load, downloading it if missing.

    ``name`` is an official RobustBench CIFAR-10 L2 model (or one registered in this process with
    ``register_zoo_model``, which is only loaded: it has nothing to download).

    Raises:
        ValueError: ``name`` is not in the zoo.
        FetchError: the download failed, or the file does not load into the zoo architecture.
    """
    gdrive_id = official_gdrive_id(name, DATASET, THREAT_MODEL)
    path = checkpoint_path(model_dir, name, DATASET, THREAT_MODEL)
    present = path.is_file()
    if not present and gdrive_id is None:
        raise FetchError(
            f"{path} does not exist and {name!r} is this project's own model, not RobustBench's: "
            "there is nothing to download; the torch_attacks pipeline's fit_surrogate trains it."
        )
    ensure_autoattack_module()
    from gdown.exceptions import FileURLRetrievalError
    from robustbench.utils import load_model

    try:
        load_model(name, model_dir=str(model_dir), dataset=DATASET, threat_model=THREAT_MODEL)
    except Exception as error:
        if path.is_file():  # what is there (found or just downloaded) is what does not load
            raise FetchError(
                f"{path} does not load as RobustBench's {name!r} ({type(error).__name__}: "
                f"{error}). Delete it and run this command again to download it anew."
            ) from error
        if isinstance(error, OSError | FileURLRetrievalError):  # requests' errors are OSErrors
            raise _download_failure(name, path, gdrive_id, error) from error
        raise
    return FetchedCheckpoint(path, path.stat().st_size, downloaded=not present)


def describe(fetched: FetchedCheckpoint, name: str) -> str:
    """One line for the user: where the checkpoint is, its size in MiB, whether it is new."""
    how = "downloaded to" if fetched.downloaded else "already present at"
    return (
        f"RobustBench {name!r} ({DATASET}, {THREAT_MODEL}): {how} {fetched.path} "
        f"({fetched.size_bytes / 2**20:.1f} MiB); robustbench.utils.load_model loads it."
    )


def main(argv: Sequence[str] | None = None) -> int:
    """The command line: fetch, print where the checkpoint is, return the exit code."""
    parser = argparse.ArgumentParser(
        prog="python -m logifold_kedro.torch_lib.fetch_surrogate",
        description=(
            "Download a RobustBench CIFAR-10 L2 checkpoint (the paper's surrogate, 'Standard') "
            "into <model-dir>/cifar10/L2/<model-name>.pt, where the paper-scale run reads it. "
            "Needs internet access (Google Drive); run it from the project root."
        ),
    )
    parser.add_argument(
        "--model-dir",
        default=DEFAULT_MODEL_DIR,
        type=Path,
        help="RobustBench model directory, as load_model(model_dir=) (default: %(default)s)",
    )
    parser.add_argument(
        "--model-name", default=DEFAULT_MODEL_NAME, help="zoo name (default: %(default)s)"
    )
    args = parser.parse_args(argv)
    # Deprecation notices of robustbench's and timm's own imports, nothing the user can act on.
    warnings.filterwarnings("ignore", message="pkg_resources is deprecated", category=UserWarning)
    warnings.filterwarnings("ignore", message=".*torch.jit.interface", category=FutureWarning)
    try:
        fetched = fetch_checkpoint(args.model_dir, args.model_name)
    except (FetchError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(describe(fetched, args.model_name))
    return 0


if __name__ == "__main__":
    sys.exit(main())
