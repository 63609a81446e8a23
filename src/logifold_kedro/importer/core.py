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
from collections.abc import Sequence
from pathlib import Path

from logifold_kedro.importer.checks import MemberChecks
from logifold_kedro.importer.models import short
from logifold_kedro.importer.names import InvalidArtifactError, UnmappedError
from logifold_kedro.importer.plan import KINDS, Item, plan, split_of
from logifold_kedro.importer.report import STATUS_INVALID, STATUS_SKIPPED, Row
from logifold_kedro.importer.writing import Checked, check_disk_space, publish_all

logger = logging.getLogger(__name__)


def run_import(checks: MemberChecks, zip_paths: Sequence[Path]) -> None:
    """The whole import into ``checks``' catalog and report: plan the members, refuse them all
    when the staging folder cannot hold them, check every one, publish all or none."""
    items, rows = plan(zip_paths, checks.u0_names, checks.resnet_names)
    checks.report.rows += rows
    try:
        check_disk_space([int(item.info.get("size", 0)) for item in items], checks.staging)
    except InvalidArtifactError as error:
        checks.report.rows.append(Row("(all members)", STATUS_INVALID, "-", str(error)))
        items = []
    checked = check_members(checks, items)
    publish_all(checked, checks.report, checks.catalog, checks.versioned_config)


def check_members(checks: MemberChecks, items: Sequence[Item]) -> list[Checked]:
    """Check and stage every item; a row in the report for each, the staged outputs of the
    valid ones. Any error of a member makes its row, and the others go on."""
    report = checks.report
    started = time.perf_counter()
    staged_entries: dict[str, str] = {}
    checked: list[Checked] = []
    # By kind, then split: one clean split at a time is held for the alignment checks.
    ordered = sorted(items, key=lambda i: (KINDS.index(i.kind), split_of(i)))
    for index, item in enumerate(ordered, 1):
        logger.info("checking %d/%d: %s", index, len(ordered), item.source)
        try:
            with zipfile.ZipFile(item.zip_path) as archive:
                result = checks.check(archive, item, staged_entries)
            row = result.row
            checked.append(result)
        except UnmappedError as error:
            row = Row(item.source, STATUS_SKIPPED, item.entry or "-", str(error))
        except InvalidArtifactError as error:
            row = Row(item.source, STATUS_INVALID, item.entry or "-", str(error))
        except Exception as error:  # noqa: BLE001 - every member's error goes in the summary
            message = f"could not be read or checked: {short(error)}"
            row = Row(item.source, STATUS_INVALID, item.entry or "-", message)
        report.rows.append(row)
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
