"""The exchange formats: which ones a suite can be exported to and tasks imported from.

The commands (export_suite, import_suite) and the pages read this registry and nothing
else, so a format added here shows up everywhere at once.
"""

from __future__ import annotations

import io
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from django.contrib.auth.base_user import AbstractBaseUser
from django.db import IntegrityError
from django.db.models import QuerySet

from interop import gdpval, healthbench, inspect_task
from interop.conversion import CITATIONS, ImportedTask, ImportOptions, renamed
from occupations import attachments
from occupations.jsonl import ImportReport, TaskImportError, import_records
from occupations.models import Attachment, Occupation, Suite, Task, TaskVersion
from occupations.seeding import SeedProblem, TaskRecord

SuiteWriter = Callable[..., list[Path]]
"""write(suite, directory, *, include_held_out) -> the files written."""
RecordReader = Callable[[str, ImportOptions, list[SeedProblem]], list[ImportedTask]]
"""read(text, options, problems) -> our task records, adding every problem found."""


@dataclass(frozen=True)
class ExportFormat:
    name: str
    label: str
    """What pages call it: 'Inspect AI task'."""
    filename: str
    """The main file it writes."""
    write: SuiteWriter


@dataclass(frozen=True)
class ImportFormat:
    name: str
    label: str
    read: RecordReader
    takes_files: bool
    """Whether its records name reference files to attach (a folder or a zip of them)."""


EXPORTERS: dict[str, ExportFormat] = {
    "inspect": ExportFormat("inspect", "Inspect AI task", "task.py", inspect_task.write_suite),
    "healthbench": ExportFormat(
        "healthbench", "HealthBench", healthbench.FILENAME, healthbench.write_suite
    ),
    "gdpval": ExportFormat("gdpval", "GDPval", gdpval.FILENAME, gdpval.write_suite),
}

IMPORTERS: dict[str, ImportFormat] = {
    "healthbench": ImportFormat(
        "healthbench", "HealthBench (JSON Lines)", healthbench.read_records, takes_files=False
    ),
    "gdpval": ImportFormat("gdpval", "GDPval (JSON Lines or CSV)", gdpval.read_records, True),
}


# --- export -------------------------------------------------------------------------------


def held_out_versions(suite: Suite) -> QuerySet[TaskVersion]:
    """The suite's versions of held-out tasks: what an export leaves out unless asked."""
    return suite.task_versions.filter(task__visibility=Task.Visibility.HELD_OUT).select_related(
        "task"
    )


def export_zip(suite: Suite, format_name: str, *, include_held_out: bool) -> bytes:
    """The files of a suite in a format, as a zip archive whose paths start at its folder."""
    exporter = EXPORTERS[format_name]
    with tempfile.TemporaryDirectory() as folder:
        directory = Path(folder) / f"{suite.slug}-{format_name}"
        written = exporter.write(suite, directory, include_held_out=include_held_out)
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for path in sorted(written):
                archive.write(path, path.relative_to(folder).as_posix())
    return buffer.getvalue()


# --- import -------------------------------------------------------------------------------


def import_text(
    format_name: str,
    text: str,
    *,
    user: AbstractBaseUser,
    options: ImportOptions,
    dry_run: bool = False,
    allowed_occupations: QuerySet[Occupation] | None = None,
) -> ImportReport:
    """Create one draft task per record of a file in a format, owned by `user`, or nothing.

    Every record is read and checked first, its reference files with every check an upload
    gets; any problem, named by line (or row) and the format's field, raises
    TaskImportError and nothing is written. The files are attached in the same transaction.
    """
    importer = IMPORTERS[format_name]
    problems: list[SeedProblem] = []
    imported = importer.read(text, options, problems)
    by_source = {task.record.source: task for task in imported}
    stored: list[str] = []

    def attach(record: TaskRecord, version: TaskVersion) -> None:
        task = by_source[record.source]
        for file in task.files:
            stored.append(attachments.add_attachment(version, file.as_upload(), user).file.name)

    try:
        return import_records(
            [_with_citations(task) for task in imported],
            user=user,
            dry_run=dry_run,
            note=f"Imported from a {importer.label} file.",
            problems=problems,
            allowed_occupations=allowed_occupations,
            attach=attach,
        )
    except TaskImportError as error:
        error.report.problems = renamed(error.report.problems, imported)
        raise TaskImportError(error.report) from None
    except BaseException as error:
        # The rows were rolled back; the files stored meanwhile would be left behind.
        for name in stored:
            Attachment.file.field.storage.delete(name)
        if isinstance(error, IntegrityError):  # a task made meanwhile under one of the slugs
            found = SeedProblem(
                "file",
                "tasks",
                "slug",
                "a task with one of these slugs was made while this import ran",
            )
            raise TaskImportError(ImportReport(dry_run=dry_run, problems=[found])) from None
        raise


def _with_citations(task: ImportedTask) -> TaskRecord:
    """The task record with the statements its `evalbuilder` object cites as its
    task_statements field: the import cites those in the database and counts the others."""
    if not task.citations:
        return task.record
    cited = [
        {"taxonomy": taxonomy, "occupation": code, "statement_id": number}
        for taxonomy, code, number in task.citations
    ]
    return replace(task.record, data={**task.record.data, CITATIONS: cited})
