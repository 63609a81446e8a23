"""Where an import writes: the staging folder it checks members in, then the catalog's versions.

Checked members are staged (inflated, or saved with their entry's own dataset type) in a folder
of the project's data folder; only when no member is invalid is each staged file moved into its
entry's version (``<filepath>/<version>/<name>``, atomically) and each small record saved
through the catalog. If writing fails part-way (a full disk), the rows say exactly which entries
were written.
"""

from __future__ import annotations

import shutil
import tempfile
import zipfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from kedro.io.core import AbstractDataset, get_protocol_and_path

from logifold_kedro.datasets.atomic import partial_name, publish
from logifold_kedro.importer.arrays import gib
from logifold_kedro.importer.names import InvalidArtifactError
from logifold_kedro.importer.report import STATUS_INVALID, STATUS_NOT_WRITTEN, ImportReport, Row


@dataclass
class Staged:
    """One output of a checked member: a staged file for an entry's version, or a small value
    saved through the catalog."""

    entry: str
    file: Path | None = None
    data: Any = None


@dataclass
class Checked:
    """A member that passed its checks: its summary row and what it writes."""

    row: Row
    outputs: list[Staged]


def staging_folder(project: Path, dry_run: bool) -> Path:
    """Where checked members are staged: inside the project's data folder (renames into the
    catalog's folders), or a temporary folder for a dry run (nothing in the project)."""
    if dry_run:
        return Path(tempfile.mkdtemp(prefix="logifold_import_"))
    parent = project / "data"
    parent.mkdir(exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=".import-", dir=parent))


def check_disk_space(sizes: Sequence[int], staging: Path) -> None:
    """Refuse the import up front when ``staging`` cannot hold the members' declared sizes."""
    needed = sum(sizes)
    free = shutil.disk_usage(staging).free
    if needed > free:
        raise InvalidArtifactError(
            f"the members inflate to {gib(needed)} but {staging} has {gib(free)} free"
        )


def copy_member(archive: zipfile.ZipFile, member: str, target: Path) -> Path:
    """The archive member, inflated to ``target`` (its size was checked when it was planned)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with archive.open(member) as stream, target.open("wb") as out:
        shutil.copyfileobj(stream, out, length=2**20)
    return target


def stage_dataset(entry: str, config: Mapping[str, Any], data: Any, staging: Path) -> Path:
    """Save ``data`` with the entry's own dataset type (``config``: its resolved catalog
    configuration) into ``staging``; the type's checks apply (finite numbers, no object
    arrays). Returns the staged file."""
    basename = PurePosixPath(str(config["filepath"])).name
    target = staging / "outputs" / entry / basename
    target.parent.mkdir(parents=True, exist_ok=True)
    staged_config = {k: v for k, v in config.items() if k not in ("versioned", "filepath")}
    dataset = AbstractDataset.from_config(entry, {**staged_config, "filepath": str(target)})
    dataset.save(data)
    return target


def versioned_target(config: Mapping[str, Any], version: str) -> tuple[str, str]:
    """(protocol, ``<filepath>/<version>/<basename>``) of a versioned file entry."""
    protocol, path = get_protocol_and_path(str(config["filepath"]))
    return protocol, f"{path}/{version}/{PurePosixPath(path).name}"


def publish_versioned_file(config: Mapping[str, Any], version: str, source: Path) -> str:
    """Move a staged file into ``<filepath>/<version>/<basename>``: complete or not at all
    (local: a partial name in the target folder, renamed; object stores: one upload). Never
    overwrites. Returns the path written."""
    import fsspec

    protocol, target = versioned_target(config, version)
    fs_args = dict(config.get("fs_args") or {})
    credentials = config.get("credentials")
    fs = fsspec.filesystem(
        protocol, **(credentials if isinstance(credentials, dict) else {}), **fs_args
    )
    if fs.exists(target):
        raise InvalidArtifactError(f"{target} exists already; the importer never overwrites")
    if protocol != "file":
        fs.put(str(source), target)
        return f"{protocol}://{target}"
    final = Path(target)
    final.parent.mkdir(parents=True, exist_ok=True)
    partial = partial_name(final)
    try:
        shutil.move(str(source), partial)  # a rename on one filesystem, else a copy
        publish(partial, final)
    finally:
        partial.unlink(missing_ok=True)
    return target


def publish_all(
    checked: Sequence[Checked],
    report: ImportReport,
    catalog: Any,
    versioned_config: Callable[[str], Mapping[str, Any]],
) -> None:
    """Write every staged output as the import's version, unless a member is invalid (then
    nothing is written and the valid rows say so). ``versioned_config``: an entry's resolved
    catalog configuration. On a write error the row says what of it was written, and the later
    rows are "not written"."""
    if report.invalid:
        for result in checked:
            result.row.status = STATUS_NOT_WRITTEN
            result.row.notes.append("valid, but the import is all or nothing")
        return
    if report.dry_run:
        return
    for position, result in enumerate(checked):
        written: list[str] = []
        try:
            for output in result.outputs:
                if output.file is not None:
                    config = versioned_config(output.entry)
                    publish_versioned_file(config, report.version, output.file)
                else:
                    catalog.save(output.entry, output.data)
                written.append(output.entry)
        except Exception as error:  # noqa: BLE001 - reported with what was written
            report.write_error = f"{result.row.entry}: {type(error).__name__}: {error}"
            result.row.status = STATUS_INVALID
            result.row.detail = (
                f"could not be written: {type(error).__name__}: {error} (written of it: "
                f"{', '.join(written) or 'nothing'})"
            )
            for later in checked[position + 1 :]:
                later.row.status = STATUS_NOT_WRITTEN
            return
