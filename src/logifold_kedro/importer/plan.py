"""Planning an import: which archive members become which catalog entries, from names and
declared sizes only (nothing is read or inflated).

A member maps to a catalog entry (an ``Item``), or gets a row: skipped (not an artifact, macOS
metadata, a labels file), or invalid (unsafe path or link, larger than any artifact, two members
for one entry).
"""

from __future__ import annotations

import zipfile
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from logifold_kedro.importer.arrays import MAX_MEMBER_BYTES, MAX_MODEL_BYTES, check_member_size
from logifold_kedro.importer.names import (
    MACOS_JUNK,
    InvalidArtifactError,
    UnmappedError,
    apgd_entry,
    classify_model,
    parse_apgd_name,
    unsafe_member_reason,
)
from logifold_kedro.importer.report import STATUS_INVALID, STATUS_SKIPPED, Row
from logifold_kedro.pipelines.naming import AUTOATTACK_SET, model_entry

#: The kinds of artifacts, in the order they are checked (models first: they need no clean split).
KINDS = ("model", "apgd", "autoattack")


@dataclass
class Item:
    """An archive member recognised as an artifact, with the catalog entry it maps to (empty for
    an APGD set whose split or iterations only the file itself says)."""

    zip_path: Path
    member: str
    kind: str  # one of KINDS
    entry: str
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def source(self) -> str:
        return f"{self.zip_path.name}:{self.member}"


def split_of(item: Item) -> str:
    """The clean split an item is checked against, as far as its name says ("" if unknown)."""
    if item.kind == "autoattack":
        return "test"
    return str(item.info.get("name", {}).get("split", ""))


def plan(
    zip_paths: Sequence[Path], u0_names: Sequence[str], resnet_names: Sequence[str]
) -> tuple[list[Item], list[Row]]:
    """The items of the zips that can be checked, and a row for every other member (in the
    order the members were met). ``u0_names``: the base models of the project's parameters;
    ``resnet_names``: those with specialists."""
    items: list[Item] = []
    rows: list[Row] = []
    label_files: dict[tuple[Path, str], list[str]] = defaultdict(list)
    for zip_path in zip_paths:
        if not zip_path.is_file():
            rows.append(Row(str(zip_path), STATUS_INVALID, detail=f"file not found: {zip_path}"))
            continue
        try:
            with zipfile.ZipFile(zip_path) as archive:
                infos = archive.infolist()
        except (zipfile.BadZipFile, OSError) as error:
            rows.append(Row(zip_path.name, STATUS_INVALID, detail=f"not a zip archive ({error})"))
            continue
        for info in infos:
            if info.is_dir():
                continue
            planned = _plan_member(zip_path, info, u0_names, resnet_names)
            if isinstance(planned, Item):
                items.append(planned)
            elif isinstance(planned, Row):
                rows.append(planned)
            else:
                label_files[(zip_path, str(PurePosixPath(info.filename).parent))].append(
                    info.filename
                )
    rows += _attach_label_files(items, label_files)
    kept, ambiguous = _drop_ambiguous(items)
    return kept, rows + ambiguous


def _plan_member(
    zip_path: Path, info: zipfile.ZipInfo, u0_names: Sequence[str], resnet_names: Sequence[str]
) -> Item | Row | None:
    """The item of one member, or its row; None for a labels file (``y*.npy``), which belongs
    to the AutoAttack set beside it."""
    source = f"{zip_path.name}:{info.filename}"
    reason = unsafe_member_reason(info)
    if reason:
        return Row(source, STATUS_INVALID, detail=f"unsafe member ({reason}): refused, not read")
    if MACOS_JUNK.search(info.filename):
        return Row(source, STATUS_SKIPPED, detail="macOS metadata")
    path = PurePosixPath(info.filename)
    suffix, stem = path.suffix.lower(), path.stem.lower()
    try:
        if suffix == ".keras":
            committee, base = classify_model(
                Path(zip_path.name).stem, info.filename, u0_names, resnet_names
            )
            item = Item(
                zip_path,
                info.filename,
                "model",
                model_entry(committee, base),
                {"committee": committee, "base": base},
            )
        elif suffix == ".npz":
            parsed = parse_apgd_name(path.name)
            # The name usually says everything; else the file's own split/max_iter decide.
            entry = ""
            if "split" in parsed and "max_iter" in parsed:
                entry = apgd_entry(parsed, u0_names)
            item = Item(zip_path, info.filename, "apgd", entry, {"name": parsed})
        elif suffix == ".npy" and stem.startswith("x_adv"):
            item = Item(zip_path, info.filename, "autoattack", AUTOATTACK_SET)
        elif suffix == ".npy" and (stem == "y" or stem[:2] == "y_"):
            return None
        else:
            raise UnmappedError(f"not a release artifact ({suffix or 'no suffix'})")
    except UnmappedError as error:
        return Row(source, STATUS_SKIPPED, detail=str(error))
    try:
        check_member_size(info, MAX_MODEL_BYTES if item.kind == "model" else MAX_MEMBER_BYTES)
    except InvalidArtifactError as error:
        return Row(source, STATUS_INVALID, item.entry or "-", str(error))
    item.info["size"] = info.file_size
    return item


def _attach_label_files(
    items: Sequence[Item], label_files: dict[tuple[Path, str], list[str]]
) -> list[Row]:
    """Give each AutoAttack item the labels files of its folder; a "skipped" row for every
    labels file (used beside an image file, or without one)."""
    for item in items:
        if item.kind == "autoattack":
            folder = str(PurePosixPath(item.member).parent)
            item.info["label_files"] = label_files.get((item.zip_path, folder), [])
    used = {(i.zip_path, f) for i in items for f in i.info.get("label_files", [])}
    rows = []
    for (zip_path, _), names in label_files.items():
        for name in names:
            reason = "labels for the x_adv file beside it (checked against clean_test)"
            if (zip_path, name) not in used:
                reason = "labels file without an x_adv image file beside it"
            rows.append(Row(f"{zip_path.name}:{name}", STATUS_SKIPPED, detail=reason))
    return rows


def _drop_ambiguous(items: Sequence[Item]) -> tuple[list[Item], list[Row]]:
    """The items without a rival, and an "invalid" row for each of two or more members that map
    to one entry by name (an APGD set with an empty entry is compared once its file is read)."""
    by_entry: dict[str, list[Item]] = defaultdict(list)
    for item in items:
        if item.entry:
            by_entry[item.entry].append(item)
    kept, rows = [], []
    for item in items:
        rivals = by_entry[item.entry] if item.entry else [item]
        if len(rivals) > 1:
            others = ", ".join(r.source for r in rivals if r is not item)
            detail = f"ambiguous: {others} maps to the same entry; keep one of them"
            rows.append(Row(item.source, STATUS_INVALID, item.entry, detail))
        else:
            kept.append(item)
    return kept, rows
