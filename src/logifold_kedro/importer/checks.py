"""Checking and staging one planned member: it is imported only if it works here.

A model must load in safe mode and give 10 probabilities (``models``); an attacked set must be a
perturbation of its clean split, image by image, with exactly its labels, and is stored in the
project's image-set contract (``arrays``). Each check stages what the member writes (``writing``)
and returns its summary row; it raises InvalidArtifactError (or UnmappedError) otherwise.
"""

from __future__ import annotations

import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from logifold_kedro.importer.arrays import (
    alignment,
    check_image_set,
    describe_shapes,
    read_npy_member,
    read_npz_checked,
    stored_value,
    to_labels,
    to_nhwc_unit_float,
)
from logifold_kedro.importer.models import check_keras_model, probe_images
from logifold_kedro.importer.names import (
    ITERATIONS_TO_SETTING,
    InvalidArtifactError,
    apgd_entry,
    apgd_target,
    merge_apgd_settings,
)
from logifold_kedro.importer.plan import Item
from logifold_kedro.importer.report import STATUS_IMPORTED, STATUS_WOULD_IMPORT, ImportReport, Row
from logifold_kedro.importer.writing import Checked, Staged, copy_member, stage_dataset
from logifold_kedro.pipelines.naming import (
    AUTOATTACK_SET,
    history_entry,
    image_set,
    member_id,
)

APGD_SETTING_KEYS = ("split", "norm", "eps", "eps_step", "max_iter", "nb_random_init", "tag")
AUTOATTACK_REPORT = "autoattack_transfer_report"


def model_families(params: Mapping[str, Any]) -> dict[str, str | None]:
    """The project's base models (the parameters' ``u0_models``, in order) and their families;
    ValueError when there are none (not this project's parameters)."""
    models = dict(params.get("u0_models") or {})
    if not models:
        raise ValueError("the project's parameters define no `u0_models`; is this the project?")
    return {name: spec.get("family") for name, spec in models.items()}


class MemberChecks:
    """The checks of the members of one import, against the project's catalog and parameters.

    The base models are the parameters' ``u0_models`` (the ResNets get specialists); rows of the
    summary go to ``report``; ``first_command`` writes the clean splits (named when one is
    missing).
    """

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
        self.families = model_families(params)
        self.u0_names: Sequence[str] = list(self.families)
        self.resnet_names = [n for n, family in self.families.items() if family == "resnet"]
        self._clean_cache: dict[str, dict[str, Any] | None] = {}

    # --- the catalog ------------------------------------------------------------------------
    def versioned_config(self, entry: str) -> dict[str, Any]:
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

    def clean(self, split: str) -> dict[str, Any] | None:
        """The catalog's clean set of ``split`` (None when absent); only the last split asked
        for is kept in memory (paper scale: 40,000 train images are 0.5 GB)."""
        name = image_set("clean", split)
        if name not in self._clean_cache:
            self._clean_cache.clear()
            self._clean_cache[name] = self.catalog.load(name) if self.catalog.exists(name) else None
        return self._clean_cache[name]

    def require_clean(self, split: str) -> dict[str, Any]:
        """``clean(split)``; InvalidArtifactError naming the command to run when it is absent."""
        clean = self.clean(split)
        if clean is None:
            self.report.clean_split_hint = (
                f"Hint: `{self.first_command}` writes the clean splits; the importer checks "
                "every attacked set against its clean split (same labels, within eps)."
            )
            raise InvalidArtifactError(
                f"{image_set('clean', split)} is not in the catalog yet, so this set cannot be "
                f"checked against it; run `{self.first_command}` first"
            )
        return clean

    def copy_member(self, archive: zipfile.ZipFile, item: Item, name: str) -> Path:
        """The member, inflated into the staging folder as ``name``."""
        return copy_member(archive, item.member, self.staging / "members" / name)

    def stage(self, entry: str, data: Any) -> Path:
        """``data`` staged with the dataset type of ``entry`` (``writing.stage_dataset``)."""
        return stage_dataset(entry, self.versioned_config(entry), data, self.staging)

    def status(self) -> str:
        return STATUS_WOULD_IMPORT if self.report.dry_run else STATUS_IMPORTED

    # --- the checks of each kind ------------------------------------------------------------
    def check(
        self, archive: zipfile.ZipFile, item: Item, staged_entries: dict[str, str]
    ) -> Checked:
        """Check and stage ``item``; ``staged_entries`` (entry -> source) grows by its entry."""
        if item.kind == "model":
            return self.check_model(archive, item)
        if item.kind == "apgd":
            return self.check_apgd(archive, item, staged_entries)
        return self.check_autoattack(archive, item)

    def check_model(self, archive: zipfile.ZipFile, item: Item) -> Checked:
        """A ``.keras`` that works here, staged, and its ``history__`` record."""
        committee, base = item.info["committee"], item.info["base"]
        self.versioned_config(item.entry)
        history = history_entry(committee, base)
        self.versioned_config(history)
        local = self.copy_member(archive, item, f"{item.entry}.keras")
        notes = check_keras_model(local, probe_images(self.clean("test")))
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
        detail = f".keras, {size_mb:.1f} MB (+ {history})"
        row = Row(item.source, self.status(), item.entry, detail, notes)
        return Checked(row, [Staged(item.entry, file=local), Staged(history, data=record)])

    def check_apgd(
        self, archive: zipfile.ZipFile, item: Item, staged_entries: dict[str, str]
    ) -> Checked:
        """An APGD ``.npz`` that attacks its clean split with the settings its name says."""
        named = item.info["name"]
        local = self.copy_member(archive, item, "set.npz")
        try:
            arrays = read_npz_checked(local, keys=("x_adv", "x", "y", *APGD_SETTING_KEYS))
        finally:
            local.unlink(missing_ok=True)
        image_key = "x_adv" if "x_adv" in arrays else "x" if "x" in arrays else None
        if image_key is None or "y" not in arrays:
            raise InvalidArtifactError(f"an .npz without x_adv and y (keys {sorted(arrays)})")
        stored = {k: stored_value(arrays[k]) for k in APGD_SETTING_KEYS if k in arrays}
        settings = merge_apgd_settings(named, stored)
        entry = apgd_entry(settings, self.u0_names)
        settings["norm"] = 2  # L2, checked by apgd_entry; ART's notation
        target = apgd_target(named["target"], self.u0_names)
        setting_name = ITERATIONS_TO_SETTING[settings["max_iter"]]
        split = settings["split"]
        source_set = image_set("clean", split)
        if entry in staged_entries:
            raise InvalidArtifactError(
                f"ambiguous: {staged_entries[entry]} was already imported as {entry}"
            )
        x, notes = to_nhwc_unit_float(arrays.pop(image_key))
        y, label_notes = to_labels(arrays.pop("y"), len(x))
        notes += label_notes
        notes += self._compare_with_parameters(setting_name, settings)
        clean = self.require_clean(split)
        # The attack's own eps bounds the perturbation, but never beyond this environment's
        # setting: a file claiming a huge eps would pass any image set off as an attack.
        eps = min(float(settings["eps"]), self._parameter_eps(setting_name, settings["eps"]))
        stats, why_not = alignment(x, clean, eps)
        if stats is None:
            raise InvalidArtifactError(f"not an attack of {source_set}: {why_not}")
        if not np.array_equal(y, clean["y"]):
            differing = int(np.count_nonzero(y != clean["y"]))
            raise InvalidArtifactError(
                f"its labels differ from {source_set}'s at {differing} of {len(y)} positions: "
                "an attacked set keeps the true labels of the images it perturbs"
            )
        attacked = {
            "x": x,
            "y": y,
            "name": entry,
            "source_set": source_set,
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
        check_image_set(attacked, entry)
        staged = self.stage(entry, attacked)
        staged_entries[entry] = item.source
        row = Row(item.source, self.status(), entry, describe_shapes(x, y), notes)
        return Checked(row, [Staged(entry, file=staged)])

    def _apgd_parameters(self, setting_name: str) -> Mapping[str, Any]:
        """This environment's ``apgd.<setting_name>`` parameters ({} when absent)."""
        return (self.params.get("apgd") or {}).get(setting_name) or {}

    def _parameter_eps(self, setting_name: str, default: float) -> float:
        """The eps of this environment's setting, else ``default``."""
        try:
            return float(self._apgd_parameters(setting_name).get("eps", default))
        except (TypeError, ValueError):
            return float(default)

    def _compare_with_parameters(self, setting_name: str, settings: Mapping[str, Any]) -> list[str]:
        """Notes where the file's attack differs from this environment's ``apgd.<setting>``."""
        expected = self._apgd_parameters(setting_name)
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

    def check_autoattack(self, archive: zipfile.ZipFile, item: Item) -> Checked:
        """An AutoAttack ``x_adv`` that attacks the first clean test images, labelled with
        theirs (a labels file beside it must agree), and its transfer report."""
        autoattack = dict(self.params.get("autoattack") or {})
        eps = float(autoattack.get("eps", 0.5))
        source_set = image_set("clean", "test")
        x, notes = to_nhwc_unit_float(read_npy_member(archive, item.member))
        clean_test = self.require_clean("test")
        stats, why_not = alignment(x, clean_test, eps, prefix=True)
        if stats is None:
            raise InvalidArtifactError(f"not an attack of {source_set}: {why_not}")
        y = clean_test["y"][: len(x)].copy()
        notes += self._check_label_files(archive, item, y)
        label_source = f"{source_set} (the images are perturbations of it, index by index)"
        notes.append(f"labels from {label_source}")
        attacked = {
            "x": x,
            "y": y,
            "name": AUTOATTACK_SET,
            "source_set": source_set,
            "attack": "AutoAttack (transfer from the surrogate), imported",
            "setting": {"norm": "L2", "eps": eps, "version": autoattack.get("version")},
            **stats,
            "imported_from": item.source,
            "label_source": label_source,
            "import_notes": list(notes),
        }
        check_image_set(attacked, AUTOATTACK_SET)
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
        self.versioned_config(AUTOATTACK_REPORT)
        staged = self.stage(AUTOATTACK_SET, attacked)
        detail = describe_shapes(x, y) + f" (+ {AUTOATTACK_REPORT})"
        row = Row(item.source, self.status(), AUTOATTACK_SET, detail, notes)
        outputs = [Staged(AUTOATTACK_SET, file=staged), Staged(AUTOATTACK_REPORT, data=report)]
        return Checked(row, outputs)

    @staticmethod
    def _check_label_files(archive: zipfile.ZipFile, item: Item, y: np.ndarray) -> list[str]:
        """Notes on the labels file beside an AutoAttack set (at most one), which must hold
        exactly the labels ``y`` of the clean images it perturbs."""
        label_files = item.info.get("label_files", [])
        if len(label_files) > 1:
            raise InvalidArtifactError(f"several label files beside it: {label_files}")
        if not label_files:
            return []
        file_labels, notes = to_labels(read_npy_member(archive, label_files[0]), len(y))
        if not np.array_equal(file_labels, y):
            raise InvalidArtifactError(
                f"{label_files[0]} and {image_set('clean', 'test')} disagree on "
                f"{int(np.count_nonzero(file_labels != y))} of {len(y)} labels; an attacked "
                "set keeps the true labels of the images it perturbs"
            )
        return notes
