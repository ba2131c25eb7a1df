"""GDPval (OpenAI, 2025): real work requests by occupation, with reference files and a
rubric whose items carry scores. docs/formats.md has the field mapping both ways.

In: JSON Lines or CSV rows (rubric_json as a JSON string); each row is one draft task,
its reference files attached with every check an upload gets. Out: `gdpval.jsonl` and
`reference_files/<task>/...`, with an `evalbuilder` object that makes the trip lossless.
"""

from __future__ import annotations

import csv
import io
import json
import shutil
from pathlib import Path
from typing import Any

from django.conf import settings

from interop.conversion import (
    CITATIONS,
    EVALBUILDER,
    ImportedTask,
    ImportOptions,
    ReferenceFileError,
    checked_file,
    evalbuilder_field_names,
    evalbuilder_fields,
    labels_for,
    problem,
    read_citations,
    rubric_item_id,
    slug_for,
    tag_and_critical,
    title_from,
)
from occupations.jsonl import suite_versions, task_record
from occupations.models import Occupation, Suite, TaskVersion
from occupations.seeding import SeedProblem, TaskRecord
from runs.prompting import task_prompt

FILENAME = "gdpval.jsonl"
FILES_FOLDER = "reference_files"
DELIVERABLE = "The work product the request asks for, as the files or text it names."
MINUTES_METHOD = "Assumed on import: the GDPval rows record no time for their tasks."
FIELD_NAMES = {
    "slug": "task_id",
    "title": "prompt",
    "instructions": "prompt",
    "occupation": "occupation",
    "rubric": "rubric_json",
    "rubric.text": "criterion",
    "rubric.points": "score",
    "rubric.tag": "tags",
    "rubric.critical": "tags",
}


# --- import -------------------------------------------------------------------------------


def read_rows(text: str) -> list[tuple[str, Any]]:
    """(source, row) pairs: JSON Lines when the text starts with '{', else CSV with a header.

    A line that is not JSON comes back as a JSONDecodeError in place of its row; a CSV row
    that cannot be read, as a csv.Error, and the rows after it are not read.
    """
    if text.lstrip().startswith("{"):
        rows: list[tuple[str, Any]] = []
        for number, line in enumerate(text.split("\n"), 1):
            if line.strip():
                try:
                    rows.append((f"line {number}", json.loads(line)))
                except json.JSONDecodeError as error:
                    rows.append((f"line {number}", error))
        return rows
    # GDPval prompts and rubrics outgrow csv's default 128 KiB field: a field may be as
    # long as the largest file imported.
    csv.field_size_limit(settings.EVALBUILDER_MAX_IMPORT_BYTES)
    reader = csv.DictReader(io.StringIO(text, newline=""))
    rows = []
    # The header is row 1, as a spreadsheet numbers it.
    number = 1
    while True:
        number += 1
        try:
            row = next(reader)
        except StopIteration:
            return rows
        except csv.Error as error:
            rows.append((f"row {number}", error))
            return rows
        rows.append((f"row {number}", row))


def read_records(
    text: str, options: ImportOptions, problems: list[SeedProblem]
) -> list[ImportedTask]:
    """Our task records, with their checked files, from GDPval rows; every problem names
    its line (or row) and the GDPval field."""
    titles = _occupations_by_title(options.taxonomy)
    imported = []
    for source, row in read_rows(text):
        if isinstance(row, json.JSONDecodeError):
            message = f"is not valid JSON: {row.msg} (column {row.colno})"
            problems.append(problem(source, "task", "-", message))
            continue
        if isinstance(row, csv.Error):
            message = f"cannot be read as CSV ({row}); the rows after it were not read"
            problems.append(problem(source, "task", "-", message))
            continue
        task = _read_row(source, row, options, titles, problems)
        if task is not None:
            imported.append(task)
    return imported


def _occupations_by_title(taxonomy: str) -> dict[str, list[Occupation]]:
    found: dict[str, list[Occupation]] = {}
    for occupation in Occupation.objects.select_related("taxonomy"):
        if str(occupation.taxonomy) == taxonomy:
            found.setdefault(occupation.title.casefold(), []).append(occupation)
    return found


def _json_value(value: Any, name: str, complain) -> Any:
    """A field that CSV holds as JSON text (rubric_json, reference_files)."""
    if not isinstance(value, str):
        return value
    if not value.strip():
        return None
    try:
        return json.loads(value)
    except json.JSONDecodeError as error:
        complain(name, f"is not valid JSON: {error.msg} (column {error.colno})")
        return None


def _read_row(
    source: str,
    row: Any,
    options: ImportOptions,
    titles: dict[str, list[Occupation]],
    problems: list[SeedProblem],
) -> ImportedTask | None:
    if not isinstance(row, dict):
        problems.append(problem(source, "task", "-", "must be a JSON object (one task)"))
        return None
    found = len(problems)
    label = f"task {row.get('task_id') or source}"

    def complain(field_name: str, message: str) -> None:
        problems.append(problem(source, label, field_name, message))

    ours = _json_value(row.get(EVALBUILDER), EVALBUILDER, complain)
    if ours is not None and not isinstance(ours, dict):
        complain(EVALBUILDER, "must be an object of evalbuilder task fields")
        ours = None
    rubric = _rubric(_json_value(row.get("rubric_json"), "rubric_json", complain), complain)
    files = _files(
        _json_value(row.get("reference_files"), "reference_files", complain), options, complain
    )
    citations = []
    if ours is not None:
        citations = read_citations(ours.get(CITATIONS), complain)
        fields = {k: v for k, v in ours.items() if k not in ("version", CITATIONS)}
        record = {**fields, "rubric": rubric}
        record["slug"] = f"{options.prefix}{fields.get('slug', '')}"
        if "reference_solution" not in fields:
            record["reference_solution"] = options.reference
        field_names = evalbuilder_field_names(FIELD_NAMES, {"rubric"})
    else:
        record = _record_from_row(source, row, options, titles, complain)
        record["rubric"] = rubric
        field_names = dict(FIELD_NAMES)
    if len(problems) > found:
        return None
    return ImportedTask(
        TaskRecord(source, record), files=files, field_names=field_names, citations=citations
    )


def _record_from_row(source, row, options, titles, complain) -> dict:
    prompt = row.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        complain("prompt", "is missing: it is the request the task makes")
        prompt = ""
    occupation = options.occupation or _occupation_code(row.get("occupation"), titles, complain)
    if options.minutes is None:
        complain(
            "minutes",
            "GDPval rows record no time: give the minutes a practitioner needs (--minutes)",
        )
    if not options.reference:
        complain(
            "reference_solution",
            "GDPval rows carry no expert deliverable as text: give the reference solution the "
            "panel will replace before review (--reference)",
        )
    return {
        "slug": slug_for(options, row.get("task_id"), f"gdpval-{source.replace(' ', '-')}"),
        "taxonomy": options.taxonomy,
        "occupation": occupation,
        "title": title_from(prompt),
        "instructions": prompt,
        "deliverable": options.deliverable or DELIVERABLE,
        "estimated_minutes": options.minutes,
        "minutes_estimate_method": MINUTES_METHOD,
        "reference_solution": options.reference,
        "pass_threshold": options.pass_threshold,
    }


def _occupation_code(title: Any, titles: dict[str, list[Occupation]], complain) -> str:
    if not isinstance(title, str) or not title.strip():
        complain("occupation", "is missing: name the occupation, or choose one (--occupation)")
        return ""
    matches = titles.get(title.strip().casefold(), [])
    detailed = [o for o in matches if o.level == Occupation.Level.DETAILED]
    matches = detailed or matches
    if len(matches) != 1:
        what = "matches no occupation" if not matches else "matches more than one occupation"
        complain("occupation", f"{title!r} {what} of the taxonomy: choose one (--occupation)")
        return ""
    return matches[0].code


def _rubric(items: Any, complain) -> list[dict]:
    if not isinstance(items, list) or not items:
        complain("rubric_json", "must be a non-empty list of {rubric_item_id, score, criterion}")
        return []
    criteria = []
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            complain(
                f"rubric_json[{index}]", "must be an object {rubric_item_id, score, criterion}"
            )
            continue
        tag, critical = tag_and_critical(item.get("tags", []))
        criteria.append(
            {
                "text": item.get("criterion"),
                "points": item.get("score"),
                "tag": tag,
                "critical": critical,
            }
        )
    return criteria


def _files(paths: Any, options: ImportOptions, complain) -> list:
    if paths is None:
        return []
    if not isinstance(paths, list):
        complain("reference_files", "must be a list of paths")
        return []
    if paths and options.files is None:
        complain("reference_files", "name files: give the folder (or zip) that holds them")
        return []
    files = []
    for index, path in enumerate(paths):
        try:
            files.append(checked_file(options.files, path))
        except ReferenceFileError as error:
            complain(f"reference_files[{index}]", str(error))
    return files


# --- export -------------------------------------------------------------------------------


def _file_paths(task_id: str, names: list[str]) -> list[str]:
    """Where each attachment goes: reference_files/<task>/<name>, a numbered folder for a
    name used twice, so that every file keeps its own name."""
    paths, used = [], set()
    for name in names:
        path, copy = f"{FILES_FOLDER}/{task_id}/{name}", 1
        while path in used:
            copy += 1
            path = f"{FILES_FOLDER}/{task_id}/{copy}/{name}"
        used.add(path)
        paths.append(path)
    return paths


def row(version: TaskVersion) -> tuple[dict, list[tuple[str, Any]]]:
    """One GDPval row, and (relative path, attachment) for each of its reference files."""
    task = version.task
    task_id = f"{task.slug}-v{version.number}"
    attachments = list(version.attachments.all())
    paths = _file_paths(task_id, [a.original_name for a in attachments])
    criteria = list(version.criteria.all())
    rubric = [
        {
            "rubric_item_id": rubric_item_id(version, c),
            "score": c.points,
            "criterion": c.text,
            "tags": labels_for(c),
        }
        for c in criteria
    ]
    category = task.occupation.job_category
    record = task_record(task, version)
    data = {
        "task_id": task_id,
        "sector": category.title if category else "",
        "occupation": task.occupation.title,
        "prompt": task_prompt(version),
        "reference_files": paths,
        "reference_file_urls": [],
        "reference_file_hf_uris": [],
        "rubric_pretty": "\n".join(f"[{c.points:+d}] {c.text}" for c in criteria),
        "rubric_json": json.dumps(rubric, ensure_ascii=False),
        EVALBUILDER: {
            **evalbuilder_fields(record),
            "reference_solution": version.reference_solution,
            "version": version.number,
        },
    }
    return data, list(zip(paths, attachments, strict=True))


def write_suite(suite: Suite, directory: Path, *, include_held_out: bool) -> list[Path]:
    """Write the suite as `gdpval.jsonl` and its reference files in `directory`; held-out
    tasks only when asked."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / FILENAME
    written = [path]
    with path.open("w", encoding="utf-8", newline="\n") as file:
        for version in suite_versions(suite, include_held_out=include_held_out):
            data, files = row(version)
            file.write(json.dumps(data, ensure_ascii=False) + "\n")
            for relative, attachment in files:
                target = directory / relative
                target.parent.mkdir(parents=True, exist_ok=True)
                with attachment.file.open("rb") as stored, target.open("wb") as copy:
                    shutil.copyfileobj(stored, copy)
                written.append(target)
    return written
