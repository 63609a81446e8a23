"""The importer's summary: one row per archive member, and what was (or was not) written."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

STATUS_IMPORTED = "imported"
STATUS_WOULD_IMPORT = "would import"
STATUS_NOT_WRITTEN = "not written"
STATUS_SKIPPED = "skipped"
STATUS_INVALID = "invalid"


@dataclass
class Row:
    """One line of the summary: what happened to one archive member."""

    source: str
    status: str
    entry: str = "-"
    detail: str = ""
    notes: list[str] = field(default_factory=list)


@dataclass
class ImportReport:
    """Everything an import did (or would do), in the order it happened."""

    project: Path
    env: str | None
    version: str
    dry_run: bool
    rows: list[Row] = field(default_factory=list)
    #: Set when writing stopped part-way (a disk error): what stopped it.
    write_error: str = ""
    clean_split_hint: str = ""

    @property
    def imported(self) -> list[Row]:
        return [r for r in self.rows if r.status in (STATUS_IMPORTED, STATUS_WOULD_IMPORT)]

    @property
    def invalid(self) -> list[Row]:
        return [r for r in self.rows if r.status == STATUS_INVALID]

    @property
    def not_written(self) -> list[Row]:
        return [r for r in self.rows if r.status == STATUS_NOT_WRITTEN]

    @property
    def exit_code(self) -> int:
        """0 when something was (or would be) imported and nothing was invalid, else 1."""
        return 0 if self.imported and not self.invalid and not self.not_written else 1


def format_report(report: ImportReport) -> str:
    """The summary table printed by the command: one row per archive member, notes below it,
    then what was written."""
    mode = "dry run, nothing written" if report.dry_run else f"version {report.version}"
    lines = [f"Import into {report.project} (env {report.env or 'local'}; {mode})", ""]
    header = ("status", "source", "catalog entry", "shape / reason")
    table = [header] + [(r.status, r.source, r.entry, r.detail) for r in report.rows]
    widths = [max(len(row[i]) for row in table) for i in range(3)]
    for index, row in enumerate(table):
        cells = [row[i].ljust(widths[i]) for i in range(3)]
        lines.append("  ".join([*cells, row[3]]).rstrip())
        if index:
            lines += [f"{'':{widths[0]}}  note: {note}" for note in report.rows[index - 1].notes]
    counts: dict[str, int] = defaultdict(int)
    for row in report.rows:
        counts[row.status] += 1
    lines += ["", ", ".join(f"{counts[s]} {s}" for s in counts) or "no archive members"]
    if report.clean_split_hint:
        lines.append(report.clean_split_hint)
    written = [r for r in report.rows if r.status == STATUS_IMPORTED]
    if report.write_error:
        lines.append(
            f"Exit 1: writing stopped: {report.write_error}. Written (complete versions "
            f"{report.version}): {', '.join(r.entry for r in written) or 'nothing'}; "
            f"not written: {', '.join(r.entry for r in report.not_written) or 'nothing'}."
        )
    elif report.invalid:
        done = "A real import would write nothing" if report.dry_run else "Nothing was written"
        lines.append(
            f"Exit 1: {len(report.invalid)} invalid (see their reasons above). {done}: the "
            "import is all or nothing; fix or remove the invalid members and run it again."
        )
    elif not report.imported:
        lines.append("Exit 1: nothing to import.")
    return "\n".join(lines)
