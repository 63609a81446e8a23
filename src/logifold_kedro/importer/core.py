"""One import: plan the members of the zips, check and stage every one, then publish all or none.

1. Plan (``plan``; names only, nothing read): each member maps to a catalog entry, or is skipped
   (not an artifact) or invalid (unsafe path or link, larger than any artifact, ambiguous).
2. Check and stage (``checks``), member by member: read within size limits, convert, check (a
   model must load in safe mode and give 10 probabilities; an attacked set must be a
   perturbation of its clean split with the same labels), and write the result into a staging
   folder. Every error of a member, whatever its type, becomes that member's "invalid" row; the
   others go on.
3. Publish (``writing``), only if no member is invalid: each staged file is moved into its
   entry's version (``<filepath>/<version>/<name>``, atomically), and the small JSON records are
   saved through the catalog. If any member is invalid nothing is written at all; if writing
   fails part-way (a full disk), the summary says exactly which entries were written.

The import holds the run folder's lock (``run_lock``) while it checks and writes, so it never
mixes with a ``kedro run`` on the same scale and seed.
"""

from __future__ import annotations

import logging
import time
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from logifold_kedro.importer.checks import MemberChecks
from logifold_kedro.importer.models import short
from logifold_kedro.importer.names import InvalidArtifactError, UnmappedError
from logifold_kedro.importer.plan import KINDS, Item, plan, split_of
from logifold_kedro.importer.report import STATUS_INVALID, STATUS_SKIPPED, ImportReport, Row
from logifold_kedro.importer.writing import Checked, check_disk_space, publish_all

logger = logging.getLogger(__name__)


class Importer:
    """One import into a catalog: ``plan``, ``check_disk_space``, ``check``, ``publish``.

    The base models and their families are the parameters' ``u0_models`` (ResNets get
    specialists); rows of the summary go to ``report`` in the order things happen.
    """

    def __init__(
        self,
        catalog: Any,
        params: Mapping[str, Any],
        report: ImportReport,
        staging: Path,
        first_command: str = "kedro run --pipelines training --tags data",
    ) -> None:
        models = dict(params.get("u0_models") or {})
        if not models:
            raise ValueError("the project's parameters define no `u0_models`; is this the project?")
        self.catalog = catalog
        self.report = report
        self.staging = staging
        self.u0_names = list(models)
        self.resnet_names = [n for n, spec in models.items() if spec.get("family") == "resnet"]
        families = {n: spec.get("family") for n, spec in models.items()}
        self.checks = MemberChecks(catalog, params, report, staging, families, first_command)

    def plan(self, zip_paths: Sequence[Path]) -> list[Item]:
        """The members to check (``plan.plan``); the others' rows go to the report."""
        items, rows = plan(zip_paths, self.u0_names, self.resnet_names)
        self.report.rows += rows
        return items

    def check_disk_space(self, items: Sequence[Item]) -> None:
        """Refuse the import up front when the staging folder cannot hold what it inflates."""
        check_disk_space([int(item.info.get("size", 0)) for item in items], self.staging)

    def check(self, items: Sequence[Item]) -> list[Checked]:
        """Check and stage every item; rows for all of them, staged outputs for the valid."""
        started = time.perf_counter()
        staged_entries: dict[str, str] = {}
        checked: list[Checked] = []
        # By kind, then split: one clean split at a time is held for the alignment checks.
        ordered = sorted(items, key=lambda i: (KINDS.index(i.kind), split_of(i)))
        for index, item in enumerate(ordered, 1):
            logger.info("checking %d/%d: %s", index, len(ordered), item.source)
            try:
                with zipfile.ZipFile(item.zip_path) as archive:
                    result = self.checks.check(archive, item, staged_entries)
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

    def publish(self, checked: Sequence[Checked]) -> None:
        """All or nothing (``writing.publish_all``)."""
        publish_all(checked, self.report, self.catalog, self.checks.versioned_config)

    def run(self, zip_paths: Sequence[Path]) -> None:
        """Plan, check the disk space, check every member, publish: the whole import."""
        items = self.plan(zip_paths)
        try:
            self.check_disk_space(items)
        except InvalidArtifactError as error:
            self.report.rows.append(Row("(all members)", STATUS_INVALID, "-", str(error)))
            items = []
        self.publish(self.check(items))
