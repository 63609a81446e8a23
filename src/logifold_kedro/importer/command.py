"""``python -m logifold_kedro.importer``: the command line and ``import_release``."""

from __future__ import annotations

import argparse
import shutil
from collections.abc import Sequence
from pathlib import Path

import click

from logifold_kedro.importer.checks import MemberChecks
from logifold_kedro.importer.core import run_import
from logifold_kedro.importer.report import ImportReport, format_report
from logifold_kedro.importer.writing import staging_folder


class ImportRefusedError(click.ClickException):
    """The import cannot start (run folder in use, bad configuration); nothing was written."""


def import_release(
    zip_paths: Sequence[str | Path],
    project_path: str | Path = ".",
    env: str | None = None,
    dry_run: bool = False,
) -> ImportReport:
    """Import the release zips into the Kedro project at ``project_path`` (configuration ``env``).

    One Kedro session: its id is the version of everything written. Every member is checked and
    staged first; only when none is invalid is anything written (``core.run_import``). The
    run folder's lock is held meanwhile (not for a dry run, which writes nothing). Raises
    ImportRefusedError when the import cannot start (another run holds the run folder, a bad
    seed).
    """
    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project

    from logifold_kedro.hooks import kedro_run_command, run_folder_of
    from logifold_kedro.run_lock import RunFolderLockedError, RunLock

    project = Path(project_path).resolve()
    bootstrap_project(project)
    with KedroSession.create(project_path=project, env=env) as session:
        context = session.load_context()
        version = session.session_id
        # `kedro run` builds its catalog this way: one save version for every dataset (the
        # project's hooks check the seed of the run folder here).
        catalog = context._get_catalog(save_version=version)
        params = context.params
        report = ImportReport(project=project, env=env, version=version, dry_run=dry_run)
        first = kedro_run_command("training", env, None) + " --tags data"
        folder = run_folder_of(context.config_loader["catalog"], params.get("scale"), project)
        command = f"python -m logifold_kedro.importer (import {version})"
        lock = RunLock(folder, command=command) if folder is not None and not dry_run else None
        staging = staging_folder(project, dry_run)
        try:
            if lock is not None:
                lock.acquire()
            checks = MemberChecks(catalog, params, report, staging, first_command=first)
            run_import(checks, [Path(p) for p in zip_paths])
        except RunFolderLockedError as error:
            raise ImportRefusedError(f"{error} Nothing was imported.") from None
        finally:
            if lock is not None:
                lock.release()
            shutil.rmtree(staging, ignore_errors=True)
    return report


def main(argv: Sequence[str] | None = None) -> int:
    """The command line: import, print the summary, return the exit code."""
    parser = argparse.ArgumentParser(
        prog="python -m logifold_kedro.importer",
        description=(
            "Import the reference release (models.zip, specialized_models.zip, "
            "adversarial_samples.zip) into this project's catalog as new versions, so the "
            "immunization and reporting stages can run on the published artifacts. Every "
            "member is checked first; nothing is written unless all are valid. Run it from "
            "the project root."
        ),
    )
    parser.add_argument("zips", nargs="+", type=Path, help="release zip files")
    parser.add_argument("--env", default=None, help="Kedro configuration environment (e.g. paper)")
    parser.add_argument(
        "--dry-run", action="store_true", help="read and check everything, write nothing"
    )
    args = parser.parse_args(argv)
    try:
        report = import_release(args.zips, Path.cwd(), env=args.env, dry_run=args.dry_run)
    except click.ClickException as error:  # a refused start: the message, no traceback
        print(f"Error: {error.format_message()}")
        return 1
    print(format_report(report))
    return report.exit_code
