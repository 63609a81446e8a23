"""Saves that appear under their final name only when complete, and errors that name a damaged
version.

Kedro resolves "latest" by listing ``<filepath>/*/<name>``: whatever exists under the final name
counts as a version. A dataset that writes straight to that name leaves, when the run is killed
mid-save, a truncated file (or a folder with some of its figures) that every later run takes for
the latest version. Here every save writes to a hidden partial name in the same folder
(``.<name>.partial-<pid>-<token>``, which no version listing matches) and renames it to the final
name once it is written and flushed to disk: ``os.replace`` within one folder is atomic, so a
reader sees the complete file or nothing. A killed run leaves only the partial name behind.

Only local (and POSIX shared) filesystems need this: object stores (``s3://``, ``gs://``, ...)
publish an object only when its upload completes, so there the dataset writes as before.

``AtomicSaveMixin`` adds this to kedro-datasets classes (``class X(AtomicSaveMixin, Parent)``);
the project's own datasets call ``partial_save_path`` around their writes.
``damaged_version_error`` is the error every dataset raises for a version it cannot read.
"""

from __future__ import annotations

import inspect
import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import Any

from kedro.io.core import DatasetError, get_filepath_str

PARTIAL_MARKER = ".partial-"


def partial_name(final: str | os.PathLike) -> Path:
    """The hidden name, beside ``final``, that a save writes before renaming: unique per process
    and call, never matched by Kedro's version listing (``*/<name>``)."""
    path = Path(final)
    return path.with_name(f".{path.name}{PARTIAL_MARKER}{os.getpid()}-{uuid.uuid4().hex[:8]}")


def _fsync_tree(path: Path) -> None:
    """Flush a written file, or every file of a written folder, to disk (a rename can reach the
    disk before the data it names otherwise, after a power loss)."""
    files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
    for file in files:
        with file.open("rb") as handle:
            os.fsync(handle.fileno())


def _discard(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    elif path.exists() or path.is_symlink():
        path.unlink(missing_ok=True)


def publish(partial: Path, final: Path) -> None:
    """Rename a completely written file or folder to its final name (atomic on one filesystem).

    Refuses to replace an existing folder: versioned saves never target an existing name, and a
    folder cannot be swapped atomically.
    """
    _fsync_tree(partial)
    if final.is_dir():
        raise DatasetError(
            f"cannot publish {partial.name} as {final}: that folder exists already; a versioned "
            "save never writes over an existing version."
        )
    os.replace(partial, final)


@contextmanager
def partial_save_path(protocol: str, final: str) -> Iterator[str]:
    """Where to write ``final`` so that it appears only when complete.

    For local files: yields a partial name in the same folder; when the block ends normally the
    partial file (or folder) is renamed to ``final``, and in every case nothing is left under the
    partial name. For other protocols: yields ``final`` (object stores publish on completion).
    """
    if protocol != "file":
        yield final
        return
    final_path = Path(final)
    partial = partial_name(final_path)
    try:
        yield str(partial)
        publish(partial, final_path)
    finally:
        _discard(partial)


def _raw_method(owner: type, after: type, name: str) -> Any:
    """``name`` of the first class after ``after`` in ``owner``'s MRO that defines it, without
    Kedro's save wrapper (the mixin's own wrapper already does the versioning bookkeeping)."""
    mro = owner.__mro__
    for klass in mro[mro.index(after) + 1 :]:
        if name in klass.__dict__:
            # Kedro may wrap a wrapper (a subclass of a subclass): take the innermost function.
            return inspect.unwrap(klass.__dict__[name])
    raise AttributeError(f"no {name} after {after.__name__} in {owner.__name__}")


class AtomicSaveMixin:
    """Makes a kedro-datasets file dataset's ``save`` atomic (see the module docstring).

    Put it first in the bases: ``class CSVDataset(AtomicSaveMixin, kedro_datasets CSVDataset)``.
    The parent's save runs unchanged, writing to the partial name this mixin hands it through
    ``_get_save_path``; then the partial name becomes the version.
    """

    _partial_save_path: PurePosixPath | None = None

    def _get_save_path(self) -> PurePosixPath:
        if self._partial_save_path is not None:
            return self._partial_save_path
        return super()._get_save_path()  # type: ignore[misc]

    def save(self, data: Any) -> None:
        protocol = getattr(self, "_protocol", "file")
        # The versioned path; Kedro also refuses here a version that exists already.
        final = self._get_save_path()
        parent_save = _raw_method(type(self), AtomicSaveMixin, "save")
        with partial_save_path(protocol, get_filepath_str(final, protocol)) as target:
            if target != get_filepath_str(final, protocol):
                self._partial_save_path = PurePosixPath(target)
            try:
                parent_save(self, data)
            finally:
                self._partial_save_path = None
        invalidate = getattr(self, "_invalidate_cache", None)
        if callable(invalidate):
            invalidate()


def version_folder(
    path: str | os.PathLike, versioned: bool, folder: str | os.PathLike | None = None
) -> PurePosixPath | None:
    """The version folder of a versioned dataset's file: ``folder`` when given (a dataset with
    its own layout), else the file's parent (``<filepath>/<version>/<name>``); None unversioned."""
    if not versioned:
        return None
    return PurePosixPath(str(folder)) if folder is not None else PurePosixPath(str(path)).parent


def located(
    path: str | os.PathLike, versioned: bool, folder: str | os.PathLike | None = None
) -> str:
    """``<path> (version <v>)``: the file and the version, as errors name them."""
    version = version_folder(path, versioned, folder)
    return f"{path} (version {version.name})" if version else str(path)


def damaged_version_error(
    path: str | os.PathLike,
    versioned: bool,
    cause: BaseException | str,
    folder: str | os.PathLike | None = None,
) -> DatasetError:
    """The error for a saved file that cannot be read: what it is, which version folder, what to
    do. Raised instead of the reader's own error (``BadZipFile``, ``JSONDecodeError``, ...)."""
    reason = f"{type(cause).__name__}: {cause}" if isinstance(cause, BaseException) else cause
    version = version_folder(path, versioned, folder)
    if version is not None:
        remedy = (
            f"Delete its version folder {version} (the other versions are untouched) to fall "
            "back to the previous version, or pin a complete one with `kedro run "
            "--load-versions <entry>:<version>`; then re-run the stage that writes it."
        )
    else:
        remedy = "Delete the file and re-run the stage that writes it."
    return DatasetError(
        f"{located(path, versioned, folder)} cannot be read: it is incomplete or damaged "
        f"({reason}). A run killed while saving it (before saves were atomic) or an edit by "
        f"hand leaves such a file. {remedy}"
    )
