"""Bulk export and import of tasks as JSON Lines: one task record per line.

A line is the same record as a seed task file (schemas/task.schema.json, docs/task-format.md)
and is checked by the same code (seeding.check_task_records). An import is all-or-nothing:
every line is checked first, every problem is reported with its line number and field, and
nothing is written unless every line is valid.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from django.contrib.auth.base_user import AbstractBaseUser
from django.db import transaction
from django.db.models import QuerySet

from occupations.models import Occupation, Suite, Task, TaskEvent, TaskVersion
from occupations.seeding import (
    TASK_FIELDS,
    SeedError,
    SeedProblem,
    TaskRecord,
    check_task_records,
    cited_in_database,
    create_version,
    occupations_by_code,
    task_fields,
)
from occupations.statements import citation_records


@dataclass
class ImportReport:
    """What an import created, or with dry_run what it would create."""

    dry_run: bool
    slugs: list[str] = field(default_factory=list)
    """Slugs of the tasks created (or that would be), in file order."""
    problems: list[SeedProblem] = field(default_factory=list)
    """Every problem found; when there is one, nothing was created."""
    statements_left_out: int = 0
    """Task statements the records cite that are not in the database, so not cited."""

    @property
    def created(self) -> int:
        return len(self.slugs)

    def __str__(self) -> str:
        if self.dry_run:
            said = f"{self.created} task(s) would be created; dry run, nothing was written"
        else:
            said = f"{self.created} task(s) created as drafts"
        if self.statements_left_out:
            said += (
                f"; {self.statements_left_out} cited task statement(s) are not in the "
                "database and were left out"
            )
        return said


class TaskImportError(SeedError):
    """One or more lines of an import are invalid; nothing was written."""

    what = "the imported lines"

    def __init__(self, report: ImportReport) -> None:
        self.report = report
        super().__init__(report.problems)


def task_record(task: Task, version: TaskVersion) -> dict:
    """The task record of one version, in the schema's field order; a canary only when held
    out, task_statements only when the version cites any."""
    record = {
        "slug": task.slug,
        "taxonomy": str(task.occupation.taxonomy),
        "occupation": task.occupation.code,
        "title": task.title,
        "visibility": task.visibility,
    }
    # A public task's canary marks nothing secret; leaving it out lets a copy get its own.
    if task.is_held_out:
        record["canary"] = str(task.canary)
    record |= {name: getattr(version, name) for name in TASK_FIELDS}
    record["rubric"] = [
        {"text": c.text, "points": c.points, "tag": c.tag, "critical": c.critical}
        for c in version.criteria.all()
    ]
    cited = citation_records(version)
    if cited:
        record["task_statements"] = cited
    return record


def _line(task: Task, version: TaskVersion) -> str:
    return json.dumps(task_record(task, version), ensure_ascii=False)


def export_tasks(tasks: Iterable[Task], *, include_held_out: bool) -> Iterator[str]:
    """One JSON line (without newline) per task, from its published version, else its latest.

    Held-out tasks are skipped unless include_held_out: their text and canary must not leak.
    This function does not check who asks; callers decide who may export held-out tasks.
    Tasks without any version have nothing to export and are skipped.
    """
    for task in tasks:
        if task.is_held_out and not include_held_out:
            continue
        version = task.published_version or task.latest_version()
        if version is not None:
            yield _line(task, version)


def export_suite(suite: Suite, *, include_held_out: bool) -> Iterator[str]:
    """Like export_tasks, but the exact task versions in the suite, which its runs measured."""
    for version in suite_versions(suite, include_held_out=include_held_out):
        yield _line(version.task, version)


def suite_versions(suite: Suite, *, include_held_out: bool) -> QuerySet[TaskVersion]:
    """The suite's task versions by task slug, with their criteria and attachments; held-out
    ones only with include_held_out."""
    versions = (
        suite.task_versions.select_related(
            "task__occupation__taxonomy", "task__occupation__job_category"
        )
        .prefetch_related("criteria", "attachments")
        .order_by("task__slug", "number")
    )
    if not include_held_out:
        versions = versions.exclude(task__visibility=Task.Visibility.HELD_OUT)
    return versions


def _parse(lines: Iterable[str], problems: list[SeedProblem]) -> list[TaskRecord]:
    records = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            records.append(TaskRecord(f"line {number}", json.loads(line)))
        except json.JSONDecodeError as error:
            message = f"is not valid JSON: {error.msg} (column {error.colno})"
            problems.append(SeedProblem(f"line {number}", "task", "-", message))
    return records


def _refuse_existing(checked: list[tuple[TaskRecord, dict]], problems: list[SeedProblem]) -> None:
    """An import only creates tasks: a slug or canary already in the database is an error.

    The messages never name or describe the other task: the importer may not be allowed to
    see it (a held-out task of another panel).
    """
    specs = [spec for _, spec in checked]
    taken = Task.objects.filter(slug__in=[spec["slug"] for spec in specs])
    slugs = set(taken.values_list("slug", flat=True))
    marked = Task.objects.filter(canary__in=[spec["canary"] for spec in specs if spec["canary"]])
    canaries = set(marked.values_list("canary", flat=True))
    for record, spec in checked:
        label = f"task {spec['slug']}"
        if spec["slug"] in slugs:
            message = f"slug {spec['slug']!r} is not available: choose another"
            problems.append(SeedProblem(record.source, label, "slug", message, "$.slug"))
        if spec["canary"] in canaries:
            message = "canary is not available: leave it out and a new one is drawn"
            problems.append(SeedProblem(record.source, label, "canary", message, "$.canary"))


def _source_order(problem: SeedProblem) -> tuple[int, str]:
    """Problems sort by the number of their line or row ('line 12', 'row 3'), then by text."""
    number = re.search(r"\d+", problem.file)
    return (int(number.group()) if number else 0, problem.file)


def _refuse_outside(
    checked: list[tuple[TaskRecord, dict]],
    occupations: dict[tuple[str, str], Occupation],
    allowed: QuerySet[Occupation],
    problems: list[SeedProblem],
) -> None:
    """Every task must be for an occupation in `allowed` (an author's panels)."""
    allowed_ids = set(allowed.values_list("pk", flat=True))
    for record, spec in checked:
        occupation = occupations[(spec["taxonomy"], spec["occupation"])]
        if occupation.pk not in allowed_ids:
            message = f"{occupation.code} is not in your panels"
            label = f"task {spec['slug']}"
            problems.append(
                SeedProblem(record.source, label, "occupation", message, "$.occupation")
            )


AttachFiles = Callable[[TaskRecord, TaskVersion], None]
"""Called for each task created, in the import's transaction: attaches the record's files."""


def import_records(
    records: list[TaskRecord],
    *,
    user: AbstractBaseUser,
    dry_run: bool = False,
    note: str = "Imported from a JSON Lines file.",
    problems: list[SeedProblem] | None = None,
    allowed_occupations: QuerySet[Occupation] | None = None,
    attach: AttachFiles | None = None,
) -> ImportReport:
    """Create one draft task per task record, owned by `user`, or nothing at all.

    `problems` holds any found while reading the records (they are reported with the others);
    `allowed_occupations`, when given, is where the tasks may be (an author's panels);
    `attach` adds each new version's files in the same transaction; `note` is the history
    entry of each task. Raises TaskImportError listing every problem, in source order.
    """
    problems = list(problems or [])
    occupations = occupations_by_code()
    checked = check_task_records(records, set(occupations), problems)
    _refuse_existing(checked, problems)
    if allowed_occupations is not None:
        _refuse_outside(checked, occupations, allowed_occupations, problems)
    # Reading, record checks and database checks each add problems; a reader wants them in order.
    report = ImportReport(dry_run=dry_run, problems=sorted(problems, key=_source_order))
    if problems:
        raise TaskImportError(report)
    report.slugs = [spec["slug"] for _, spec in checked]
    citations = [cited_in_database(spec) for _, spec in checked]
    report.statements_left_out = sum(missing for _, missing in citations)
    if dry_run:
        return report
    with transaction.atomic():
        for (record, spec), (statements, _) in zip(checked, citations, strict=True):
            task = Task.objects.create(
                slug=spec["slug"], status=Task.Status.DRAFT, **task_fields(spec, occupations)
            )
            task.owners.add(user)
            version = create_version(task, spec, number=1, user=user, statements=statements)
            if attach is not None:
                attach(record, version)
            TaskEvent.objects.create(
                task=task,
                version=version,
                actor=user,
                action=TaskEvent.Action.CREATED,
                to_status=task.status,
                note=note,
            )
    return report


def import_tasks(
    lines: Iterable[str],
    *,
    user: AbstractBaseUser,
    dry_run: bool = False,
    allowed_occupations: QuerySet[Occupation] | None = None,
) -> ImportReport:
    """Create one draft task per JSON line, owned by `user`, or nothing at all.

    Blank lines are skipped. Each task gets an unlocked version 1 and keeps the line's canary
    when it has one; it cites the task statements the line lists that are in the database,
    and the report counts the others. With dry_run, everything is checked and nothing is
    written. Raises TaskImportError listing every problem, by line number and field, when
    any line is invalid.
    """
    problems: list[SeedProblem] = []
    records = _parse(lines, problems)
    return import_records(
        records,
        user=user,
        dry_run=dry_run,
        problems=problems,
        allowed_occupations=allowed_occupations,
    )
