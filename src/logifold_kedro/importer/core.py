"""One import: plan the members of the zips, check and stage every one, then publish all or none.

1. Plan (names only, nothing read): each member maps to a catalog entry, or is skipped (not an
   artifact) or invalid (unsafe path or link, larger than any artifact, ambiguous).
2. Check and stage, member by member: read within size limits, convert, check (a model must
   load in safe mode and give 10 probabilities; an attacked set must be a perturbation of its
   clean split with the same labels), and write the result into a staging folder. Every error of
   a member, whatever its type, becomes that member's "invalid" row; the others go on.
3. Publish, only if no member is invalid: each staged file is moved into its entry's version
   (``<filepath>/<version>/<name>``, atomically), and the small JSON records are saved through
   the catalog. If any member is invalid nothing is written at all; if writing fails part-way
   (a full disk), the summary says exactly which entries were written.

The import holds the run folder's lock (``run_lock``) while it checks and writes, so it never
mixes with a ``kedro run`` on the same scale and seed.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import time
import zipfile
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
from kedro.io.core import AbstractDataset, get_protocol_and_path

from logifold_kedro.datasets.atomic import partial_name, publish
from logifold_kedro.importer.arrays import (
    MAX_MEMBER_BYTES,
    MAX_MODEL_BYTES,
    _scalar,
    _shapes,
    alignment,
    check_image_set,
    check_member_size,
    gib,
    read_npy_member,
    read_npz_checked,
    to_labels,
    to_nhwc_unit_float,
)
from logifold_kedro.importer.models import check_keras_model, probe_images, short
from logifold_kedro.importer.names import (
    ITERATIONS_TO_SETTING,
    MACOS_JUNK,
    InvalidArtifactError,
    UnmappedError,
    apgd_entry,
    apgd_target,
    classify_model,
    member_id,
    merge_apgd_settings,
    parse_apgd_name,
    unsafe_member_reason,
)
from logifold_kedro.importer.report import (
    STATUS_IMPORTED,
    STATUS_INVALID,
    STATUS_NOT_WRITTEN,
    STATUS_SKIPPED,
    STATUS_WOULD_IMPORT,
    ImportReport,
    Row,
)

logger = logging.getLogger(__name__)

APGD_SETTING_KEYS = ("split", "norm", "eps", "eps_step", "max_iter", "nb_random_init", "tag")


@dataclass
class _Item:
    """An archive member recognised as an artifact, with the catalog entry it maps to."""

    zip_path: Path
    member: str
    kind: str  # "model" | "apgd" | "autoattack"
    entry: str
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def source(self) -> str:
        return f"{self.zip_path.name}:{self.member}"


@dataclass
class Staged:
    """One output of a checked member: a staged file for an entry's version, or a small value
    saved through the catalog."""

    entry: str
    file: Path | None = None
    data: Any = None


@dataclass
class _Checked:
    row: Row
    outputs: list[Staged]


def _split_of(item: _Item) -> str:
    if item.kind == "autoattack":
        return "test"
    return str(item.info.get("name", {}).get("split", ""))


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


class _Importer:
    """Plans, checks and stages, then publishes (see the module docstring)."""

    def __init__(
        self,
        catalog: Any,
        params: Mapping[str, Any],
        report: ImportReport,
        staging: Path,
        first_command: str = "kedro run --pipelines training --tags data",
    ) -> None:
        self.catalog = catalog
        self.params = params
        self.report = report
        self.staging = staging
        self.first_command = first_command
        models = dict(params.get("u0_models") or {})
        if not models:
            raise ValueError("the project's parameters define no `u0_models`; is this the project?")
        self.u0_names = list(models)
        self.resnet_names = [n for n, spec in models.items() if spec.get("family") == "resnet"]
        self.families = {n: spec.get("family") for n, spec in models.items()}
        self._clean_cache: dict[str, dict[str, Any] | None] = {}

    # --- planning: names and declared sizes only, nothing is read yet -----------------------
    def plan(self, zip_paths: Sequence[Path]) -> list[_Item]:
        items: list[_Item] = []
        label_files: dict[tuple[Path, str], list[str]] = defaultdict(list)
        for zip_path in zip_paths:
            if not zip_path.is_file():
                self._row(str(zip_path), STATUS_INVALID, detail=f"file not found: {zip_path}")
                continue
            try:
                with zipfile.ZipFile(zip_path) as archive:
                    infos = archive.infolist()
            except (zipfile.BadZipFile, OSError) as error:
                self._row(zip_path.name, STATUS_INVALID, detail=f"not a zip archive ({error})")
                continue
            for info in infos:
                if info.is_dir():
                    continue
                item = self._plan_member(zip_path, info, label_files)
                if item is not None:
                    items.append(item)
        for item in items:
            if item.kind == "autoattack":
                folder = str(PurePosixPath(item.member).parent)
                item.info["label_files"] = label_files.get((item.zip_path, folder), [])
        used = {(i.zip_path, f) for i in items for f in i.info.get("label_files", [])}
        for (zip_path, _), names in label_files.items():
            for name in names:
                reason = "labels for the x_adv file beside it (checked against clean_test)"
                if (zip_path, name) not in used:
                    reason = "labels file without an x_adv image file beside it"
                self._row(f"{zip_path.name}:{name}", STATUS_SKIPPED, detail=reason)
        return self._drop_ambiguous(items)

    def _plan_member(
        self, zip_path: Path, info: zipfile.ZipInfo, label_files: dict
    ) -> _Item | None:
        source = f"{zip_path.name}:{info.filename}"
        reason = unsafe_member_reason(info)
        if reason:
            self._row(source, STATUS_INVALID, detail=f"unsafe member ({reason}): refused, not read")
            return None
        if MACOS_JUNK.search(info.filename):
            self._row(source, STATUS_SKIPPED, detail="macOS metadata")
            return None
        path = PurePosixPath(info.filename)
        suffix = path.suffix.lower()
        try:
            if suffix == ".keras":
                committee, base = classify_model(
                    Path(zip_path.name).stem, info.filename, self.u0_names, self.resnet_names
                )
                item = _Item(
                    zip_path,
                    info.filename,
                    "model",
                    f"model__{committee}__{base}",
                    {"committee": committee, "base": base},
                )
            elif suffix == ".npz":
                parsed = parse_apgd_name(path.name)
                # The name usually says everything; else the file's own split/max_iter decide.
                entry = ""
                if "split" in parsed and "max_iter" in parsed:
                    entry = apgd_entry(parsed, self.u0_names)
                item = _Item(zip_path, info.filename, "apgd", entry, {"name": parsed})
            elif suffix == ".npy" and path.stem.lower().startswith("x_adv"):
                item = _Item(zip_path, info.filename, "autoattack", "autoattack_test")
            elif suffix == ".npy" and (path.stem.lower() == "y" or path.stem.lower()[:2] == "y_"):
                label_files[(zip_path, str(path.parent))].append(info.filename)
                return None
            else:
                raise UnmappedError(f"not a release artifact ({suffix or 'no suffix'})")
        except UnmappedError as error:
            self._row(source, STATUS_SKIPPED, detail=str(error))
            return None
        try:
            check_member_size(info, MAX_MODEL_BYTES if item.kind == "model" else MAX_MEMBER_BYTES)
        except InvalidArtifactError as error:
            self._row(source, STATUS_INVALID, item.entry or "-", str(error))
            return None
        item.info["size"] = info.file_size
        return item

    def _drop_ambiguous(self, items: list[_Item]) -> list[_Item]:
        """Members whose entry is only known from the file's contents (APGD) keep theirs empty
        here; two members that map to one entry by name are both refused."""
        by_entry: dict[str, list[_Item]] = defaultdict(list)
        for item in items:
            if item.entry:
                by_entry[item.entry].append(item)
        kept = []
        for item in items:
            rivals = by_entry.get(item.entry, [item]) if item.entry else [item]
            if len(rivals) > 1:
                others = ", ".join(r.source for r in rivals if r is not item)
                self._row(
                    item.source,
                    STATUS_INVALID,
                    item.entry,
                    f"ambiguous: {others} maps to the same entry; keep one of them",
                )
            else:
                kept.append(item)
        return kept

    def check_disk_space(self, items: Sequence[_Item]) -> None:
        """Refuse the import up front when the staging folder cannot hold what it inflates."""
        needed = sum(int(item.info.get("size", 0)) for item in items)
        free = shutil.disk_usage(self.staging).free
        if needed > free:
            raise InvalidArtifactError(
                f"the members inflate to {gib(needed)} but {self.staging} has {gib(free)} free"
            )

    # --- checking and staging ---------------------------------------------------------------
    def check(self, items: list[_Item]) -> list[_Checked]:
        """Check and stage every item; rows for all of them, staged outputs for the valid."""
        started = time.perf_counter()
        staged_entries: dict[str, str] = {}
        checked: list[_Checked] = []
        # By kind, then split: one clean split at a time is held for the alignment checks.
        ordered = sorted(
            items, key=lambda i: (("model", "apgd", "autoattack").index(i.kind), _split_of(i))
        )
        for index, item in enumerate(ordered, 1):
            logger.info("checking %d/%d: %s", index, len(ordered), item.source)
            try:
                with zipfile.ZipFile(item.zip_path) as archive:
                    if item.kind == "model":
                        result = self._check_model(archive, item)
                    elif item.kind == "apgd":
                        result = self._check_apgd(archive, item, staged_entries)
                    else:
                        result = self._check_autoattack(archive, item)
                row = result.row
                checked.append(result)
            except UnmappedError as error:
                row = Row(item.source, STATUS_SKIPPED, item.entry or "-", str(error))
            except InvalidArtifactError as error:
                row = Row(item.source, STATUS_INVALID, item.entry or "-", str(error))
            except Exception as error:  # noqa: BLE001 - every member's error goes in the summary
                message = f"could not be read or checked: {short(error)}"
                row = Row(item.source, STATUS_INVALID, item.entry or "-", message)
            self.report.rows.append(row)
            elapsed = time.perf_counter() - started
            logger.info(
                "%s -> %s (%s); %.0f s elapsed, about %.0f s left",
                item.source,
                row.entry,
                row.status,
                elapsed,
                elapsed / index * (len(ordered) - index),
            )
        return checked

    def _row(self, source: str, status: str, entry: str = "-", detail: str = "") -> None:
        self.report.rows.append(Row(source, status, entry, detail))

    def _versioned_config(self, entry: str) -> dict[str, Any]:
        """The catalog's resolved configuration of ``entry``; refuses unversioned entries (an
        import must never overwrite)."""
        if entry not in self.catalog:
            raise InvalidArtifactError(f"the catalog has no entry or pattern for {entry}")
        config = self.catalog.config_resolver.resolve_pattern(entry)
        if not config.get("versioned"):
            raise InvalidArtifactError(
                f"catalog entry {entry} is not versioned in this environment; the importer only "
                "adds versions (set `versioned: true`)"
            )
        return config

    def _clean(self, split: str) -> dict[str, Any] | None:
        """The catalog's ``clean_<split>`` (None when absent); only the last split asked for is
        kept in memory (paper scale: 40,000 train images are 0.5 GB)."""
        name = f"clean_{split}"
        if name not in self._clean_cache:
            self._clean_cache.clear()
            self._clean_cache[name] = self.catalog.load(name) if self.catalog.exists(name) else None
        return self._clean_cache[name]

    def _require_clean(self, split: str) -> dict[str, Any]:
        clean = self._clean(split)
        if clean is None:
            self.report.clean_split_hint = (
                f"Hint: `{self.first_command}` writes the clean splits; the importer checks "
                "every attacked set against its clean split (same labels, within eps)."
            )
            raise InvalidArtifactError(
                f"clean_{split} is not in the catalog yet, so this set cannot be checked "
                f"against it; run `{self.first_command}` first"
            )
        return clean

    def _copy_member(self, archive: zipfile.ZipFile, item: _Item, name: str) -> Path:
        """The member, inflated into the staging folder (its size was checked in the plan)."""
        local = self.staging / "members" / name
        local.parent.mkdir(parents=True, exist_ok=True)
        with archive.open(item.member) as member, local.open("wb") as out:
            shutil.copyfileobj(member, out, length=2**20)
        return local

    def _stage_dataset(self, entry: str, data: Any) -> Path:
        """Save ``data`` with the entry's own dataset type into the staging folder (the type's
        checks apply: finite numbers, no object arrays)."""
        config = self._versioned_config(entry)
        basename = PurePosixPath(str(config["filepath"])).name
        target = self.staging / "outputs" / entry / basename
        target.parent.mkdir(parents=True, exist_ok=True)
        staged_config = {k: v for k, v in config.items() if k not in ("versioned", "filepath")}
        dataset = AbstractDataset.from_config(entry, {**staged_config, "filepath": str(target)})
        dataset.save(data)
        return target

    def _status(self) -> str:
        return STATUS_WOULD_IMPORT if self.report.dry_run else STATUS_IMPORTED

    def _check_model(self, archive: zipfile.ZipFile, item: _Item) -> _Checked:
        committee, base = item.info["committee"], item.info["base"]
        self._versioned_config(item.entry)
        history = f"history__{committee}__{base}"
        self._versioned_config(history)
        local = self._copy_member(archive, item, f"{item.entry}.keras")
        notes = check_keras_model(local, probe_images(self._clean("test")))
        size_mb = local.stat().st_size / 2**20
        record = {
            "model": member_id(committee, base),
            "base": base,
            "imported": True,
            "imported_from": item.source,
            "skipped": False,
            "spec": {"family": self.families.get(base)},
            "note": "imported from the reference release; not trained here",
        }
        row = Row(
            item.source,
            self._status(),
            item.entry,
            f".keras, {size_mb:.1f} MB (+ {history})",
            notes,
        )
        return _Checked(row, [Staged(item.entry, file=local), Staged(history, data=record)])

    def _check_apgd(
        self, archive: zipfile.ZipFile, item: _Item, staged_entries: dict[str, str]
    ) -> _Checked:
        named = item.info["name"]
        local = self._copy_member(archive, item, "set.npz")
        try:
            arrays = read_npz_checked(local, keys=("x_adv", "x", "y", *APGD_SETTING_KEYS))
        finally:
            local.unlink(missing_ok=True)
        image_key = "x_adv" if "x_adv" in arrays else "x" if "x" in arrays else None
        if image_key is None or "y" not in arrays:
            raise InvalidArtifactError(f"an .npz without x_adv and y (keys {sorted(arrays)})")
        stored = {k: _scalar(arrays[k]) for k in APGD_SETTING_KEYS if k in arrays}
        settings = merge_apgd_settings(named, stored)
        entry = apgd_entry(settings, self.u0_names)
        settings["norm"] = 2  # L2, checked by apgd_entry; ART's notation
        target = apgd_target(named["target"], self.u0_names)
        setting_name = ITERATIONS_TO_SETTING[settings["max_iter"]]
        split = settings["split"]
        if entry in staged_entries:
            raise InvalidArtifactError(
                f"ambiguous: {staged_entries[entry]} was already imported as {entry}"
            )
        x, notes = to_nhwc_unit_float(arrays.pop(image_key))
        y, label_notes = to_labels(arrays.pop("y"), len(x))
        notes += label_notes
        notes += self._compare_with_parameters(setting_name, settings)
        clean = self._require_clean(split)
        # The attack's own eps bounds the perturbation, but never beyond this environment's
        # setting: a file claiming a huge eps would pass any image set off as an attack.
        eps = min(float(settings["eps"]), self._parameter_eps(setting_name, settings["eps"]))
        stats, why_not = alignment(x, clean, eps)
        if stats is None:
            raise InvalidArtifactError(f"not an attack of clean_{split}: {why_not}")
        if not np.array_equal(y, clean["y"]):
            differing = int(np.count_nonzero(y != clean["y"]))
            raise InvalidArtifactError(
                f"its labels differ from clean_{split}'s at {differing} of {len(y)} positions: "
                "an attacked set keeps the true labels of the images it perturbs"
            )
        image_set = {
            "x": x,
            "y": y,
            "name": entry,
            "source_set": f"clean_{split}",
            "target": target,
            "attack": "APGD-CE (ART AutoProjectedGradientDescent), L2, untargeted, y=None",
            "setting_name": setting_name,
            "setting": {k: settings[k] for k in ("norm", "eps", "eps_step", "max_iter")}
            | {"nb_random_init": settings.get("nb_random_init")},
            "l2_mean": stats["l2_mean"],
            "l2_max": stats["l2_max"],
            "imported_from": item.source,
            "reference_tag": settings.get("tag"),
            "import_notes": list(notes),
        }
        check_image_set(image_set, entry)
        staged = self._stage_dataset(entry, image_set)
        staged_entries[entry] = item.source
        row = Row(item.source, self._status(), entry, _shapes(x, y), notes)
        return _Checked(row, [Staged(entry, file=staged)])

    def _parameter_eps(self, setting_name: str, default: float) -> float:
        expected = (self.params.get("apgd") or {}).get(setting_name) or {}
        try:
            return float(expected.get("eps", default))
        except (TypeError, ValueError):
            return float(default)

    def _compare_with_parameters(self, setting_name: str, settings: Mapping[str, Any]) -> list[str]:
        """Notes where the file's attack differs from this environment's ``apgd.<setting>``."""
        expected = (self.params.get("apgd") or {}).get(setting_name) or {}
        differs = [
            f"{key} {settings[key]} (parameters: {expected[key]})"
            for key in ("eps", "eps_step", "max_iter", "nb_random_init")
            if key in expected
            and settings.get(key) is not None
            and not np.isclose(float(settings[key]), float(expected[key]))
        ]
        if not differs:
            return []
        return [f"differs from params apgd.{setting_name}: " + ", ".join(differs)]

    def _check_autoattack(self, archive: zipfile.ZipFile, item: _Item) -> _Checked:
        autoattack = dict(self.params.get("autoattack") or {})
        eps = float(autoattack.get("eps", 0.5))
        x, notes = to_nhwc_unit_float(read_npy_member(archive, item.member))
        clean_test = self._require_clean("test")
        stats, why_not = alignment(x, clean_test, eps, prefix=True)
        if stats is None:
            raise InvalidArtifactError(f"not an attack of clean_test: {why_not}")
        y = clean_test["y"][: len(x)].copy()
        label_files = item.info.get("label_files", [])
        if len(label_files) > 1:
            raise InvalidArtifactError(f"several label files beside it: {label_files}")
        if label_files:
            file_labels, label_notes = to_labels(read_npy_member(archive, label_files[0]), len(x))
            notes += label_notes
            if not np.array_equal(file_labels, y):
                raise InvalidArtifactError(
                    f"{label_files[0]} and clean_test disagree on "
                    f"{int(np.count_nonzero(file_labels != y))} of {len(y)} labels; an attacked "
                    "set keeps the true labels of the images it perturbs"
                )
        label_source = "clean_test (the images are perturbations of it, index by index)"
        notes.append(f"labels from {label_source}")
        image_set = {
            "x": x,
            "y": y,
            "name": "autoattack_test",
            "source_set": "clean_test",
            "attack": "AutoAttack (transfer from the surrogate), imported",
            "setting": {"norm": "L2", "eps": eps, "version": autoattack.get("version")},
            **stats,
            "imported_from": item.source,
            "label_source": label_source,
            "import_notes": list(notes),
        }
        check_image_set(image_set, "autoattack_test")
        report = {
            "surrogate": "reference release (not run here)",
            "n": len(y),
            "clean_accuracy": None,
            "robust_accuracy": None,
            "norm": "L2",
            "eps": eps,
            "version": autoattack.get("version"),
            "imported_from": item.source,
            "label_source": label_source,
            **stats,
        }
        self._versioned_config("autoattack_transfer_report")
        staged = self._stage_dataset("autoattack_test", image_set)
        row = Row(
            item.source,
            self._status(),
            "autoattack_test",
            _shapes(x, y) + " (+ autoattack_transfer_report)",
            notes,
        )
        outputs = [
            Staged("autoattack_test", file=staged),
            Staged("autoattack_transfer_report", data=report),
        ]
        return _Checked(row, outputs)

    # --- publishing: all or nothing --------------------------------------------------------
    def publish(self, checked: list[_Checked]) -> None:
        """Write every staged output as the import's version, unless a member is invalid (then
        nothing is written and the valid rows say so)."""
        if self.report.invalid:
            for result in checked:
                result.row.status = STATUS_NOT_WRITTEN
                result.row.notes.append("valid, but the import is all or nothing")
            return
        if self.report.dry_run:
            return
        for position, result in enumerate(checked):
            written: list[str] = []
            try:
                for output in result.outputs:
                    if output.file is not None:
                        config = self._versioned_config(output.entry)
                        publish_versioned_file(config, self.report.version, output.file)
                    else:
                        self.catalog.save(output.entry, output.data)
                    written.append(output.entry)
            except Exception as error:  # noqa: BLE001 - reported with what was written
                self.report.write_error = f"{result.row.entry}: {type(error).__name__}: {error}"
                result.row.status = STATUS_INVALID
                result.row.detail = (
                    f"could not be written: {type(error).__name__}: {error} (written of it: "
                    f"{', '.join(written) or 'nothing'})"
                )
                for later in checked[position + 1 :]:
                    later.row.status = STATUS_NOT_WRITTEN
                return


def staging_folder(project: Path, dry_run: bool) -> Path:
    """Where checked members are staged: inside the project's data folder (renames into the
    catalog's folders), or a temporary folder for a dry run (nothing in the project)."""
    if dry_run:
        return Path(tempfile.mkdtemp(prefix="logifold_import_"))
    parent = project / "data"
    parent.mkdir(exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=".import-", dir=parent))
