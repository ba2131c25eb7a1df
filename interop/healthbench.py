"""HealthBench (OpenAI, 2025): one conversation per JSON line, graded by a rubric of
criteria with points and axis tags. docs/formats.md has the field mapping both ways.

In: each line is one draft task; the last user message is the instructions, the turns
before it (the system message included) are the context. Out: `healthbench.jsonl` with
the messages our models are sent and an `evalbuilder` object that makes the trip lossless.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from interop.conversion import (
    CITATIONS,
    EVALBUILDER,
    ImportedTask,
    ImportOptions,
    evalbuilder_field_names,
    evalbuilder_fields,
    labels_for,
    problem,
    read_citations,
    slug_for,
    tag_and_critical,
    title_from,
)
from occupations.jsonl import suite_versions, task_record
from occupations.models import Suite, TaskVersion
from occupations.seeding import SeedProblem, TaskRecord
from runs.prompting import task_messages

FILENAME = "healthbench.jsonl"
DELIVERABLE = "The assistant's next reply in the conversation."
MINUTES_METHOD = "Assumed on import: HealthBench records no time for its conversations."
FIELD_NAMES = {
    "slug": "prompt_id",
    "title": "prompt",
    "instructions": "prompt",
    "context": "prompt",
    "reference_solution": "ideal_completions_data.ideal_completion",
    "rubric": "rubrics",
    "rubric.text": "criterion",
    "rubric.points": "points",
    "rubric.tag": "tags",
    "rubric.critical": "tags",
}
ROLE_NAMES = {"system": "System message", "developer": "System message", "user": "User"}


# --- import -------------------------------------------------------------------------------


def read_records(
    text: str, options: ImportOptions, problems: list[SeedProblem]
) -> list[ImportedTask]:
    """Our task records from HealthBench lines; every problem names its line and field."""
    imported = []
    for number, line in enumerate(text.split("\n"), 1):
        if not line.strip():
            continue
        source = f"line {number}"
        try:
            data = json.loads(line)
        except json.JSONDecodeError as error:
            message = f"is not valid JSON: {error.msg} (column {error.colno})"
            problems.append(problem(source, "example", "-", message))
            continue
        task = _read_example(source, number, data, options, problems)
        if task is not None:
            imported.append(task)
    return imported


def _read_example(
    source: str, number: int, data: Any, options: ImportOptions, problems: list[SeedProblem]
) -> ImportedTask | None:
    if not isinstance(data, dict):
        problems.append(problem(source, "example", "-", "must be a JSON object (one example)"))
        return None
    found = len(problems)
    label = f"example {data.get('prompt_id') or number}"

    def complain(field_name: str, message: str) -> None:
        problems.append(problem(source, label, field_name, message))

    ours = data.get(EVALBUILDER)
    if ours is not None and not isinstance(ours, dict):
        complain(EVALBUILDER, "must be an object of evalbuilder task fields")
        ours = None
    instructions, context = _conversation(data.get("prompt"), complain)
    rubric = _rubric(data.get("rubrics"), complain)
    reference = _ideal_completion(data.get("ideal_completions_data"), complain)
    if not reference:
        if options.reference:
            reference = options.reference
        else:
            complain(
                "ideal_completions_data.ideal_completion",
                "is missing: a task needs a reference solution; give one for the examples "
                "without (--reference)",
            )
    citations = []
    if ours is not None:
        citations = read_citations(ours.get(CITATIONS), complain)
        fields = {k: v for k, v in ours.items() if k not in ("version", CITATIONS)}
        record = {**fields, "reference_solution": reference, "rubric": rubric}
        record["slug"] = f"{options.prefix}{fields.get('slug', '')}"
        field_names = evalbuilder_field_names(FIELD_NAMES, {"rubric", "reference_solution"})
    else:
        record = _record_from_options(source, data, number, options, complain)
        record |= {
            "title": title_from(instructions),
            "instructions": instructions,
            "context": context,
            "reference_solution": reference,
            "rubric": rubric,
        }
        field_names = dict(FIELD_NAMES)
    if len(problems) > found:
        return None
    return ImportedTask(TaskRecord(source, record), field_names=field_names, citations=citations)


def _record_from_options(source, data, number, options, complain) -> dict:
    if not options.occupation:
        complain("occupation", "HealthBench names none: choose the occupation (--occupation)")
    if options.minutes is None:
        complain(
            "minutes",
            "HealthBench records no time: give the minutes a practitioner needs (--minutes)",
        )
    return {
        "slug": slug_for(options, data.get("prompt_id"), f"healthbench-line-{number}"),
        "taxonomy": options.taxonomy,
        "occupation": options.occupation,
        "deliverable": options.deliverable or DELIVERABLE,
        "estimated_minutes": options.minutes,
        "minutes_estimate_method": MINUTES_METHOD,
        "pass_threshold": options.pass_threshold,
    }


def _text_of(content: Any) -> str | None:
    """A message's text: a string, or the text parts of a list of content parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list) and all(
        isinstance(part, dict) and isinstance(part.get("text"), str) for part in content
    ):
        return "\n\n".join(part["text"] for part in content)
    return None


def _conversation(prompt: Any, complain) -> tuple[str, str]:
    """(instructions, context): the last user message, and every turn before it."""
    if not isinstance(prompt, list) or not prompt:
        complain("prompt", "must be a non-empty list of messages {role, content}")
        return "", ""
    turns = []
    for index, message in enumerate(prompt):
        role = message.get("role") if isinstance(message, dict) else None
        text = _text_of(message.get("content")) if isinstance(message, dict) else None
        if not isinstance(role, str) or not role.strip():
            complain(f"prompt[{index}].role", "must name who speaks: system, user or assistant")
        elif text is None:
            complain(f"prompt[{index}].content", "must be text, or a list of text parts")
        else:
            turns.append((role, text))
    if len(turns) < len(prompt):
        return "", ""
    role, instructions = turns[-1]
    if role != "user":
        complain(f"prompt[{len(prompt) - 1}].role", "the last message must be the user's")
        return "", ""
    earlier = turns[:-1]
    if not earlier:
        return instructions, ""
    lines = [
        "The conversation so far; the task is the assistant's reply to the last user "
        "message. A system message, if any, is what the assistant was told to be."
    ]
    lines += [f"**{ROLE_NAMES.get(r, r.capitalize())}:** {t}" for r, t in earlier]
    return instructions, "\n\n".join(lines)


def _rubric(rubrics: Any, complain) -> list[dict]:
    if not isinstance(rubrics, list) or not rubrics:
        complain("rubrics", "must be a non-empty list of {criterion, points, tags}")
        return []
    criteria = []
    for index, item in enumerate(rubrics):
        if not isinstance(item, dict):
            complain(f"rubrics[{index}]", "must be an object {criterion, points, tags}")
            continue
        tags = item.get("tags", [])
        if not isinstance(tags, list):
            complain(f"rubrics[{index}].tags", "must be a list of labels such as 'axis:accuracy'")
        tag, critical = tag_and_critical(tags)
        criteria.append(
            {
                "text": item.get("criterion"),
                "points": item.get("points"),
                "tag": tag,
                "critical": critical,
            }
        )
    return criteria


def _ideal_completion(data: Any, complain) -> str:
    if data is None:
        return ""
    completion = data.get("ideal_completion") if isinstance(data, dict) else None
    if completion is not None and not isinstance(completion, str):
        complain("ideal_completions_data.ideal_completion", "must be text")
        return ""
    return completion if completion and completion.strip() else ""


# --- export -------------------------------------------------------------------------------


def example(suite: Suite, version: TaskVersion) -> dict:
    """One HealthBench example: what our models are sent, the rubric, the reference
    solution as the ideal completion, and our own fields."""
    task = version.task
    record = task_record(task, version)
    return {
        "prompt_id": f"{task.slug}-v{version.number}",
        "prompt": task_messages(version, suite=suite),
        "rubrics": [
            {"criterion": c.text, "points": c.points, "tags": labels_for(c)}
            for c in version.criteria.all()
        ],
        "example_tags": [f"occupation:{task.occupation.code}"],
        "ideal_completions_data": {"ideal_completion": version.reference_solution},
        EVALBUILDER: {**evalbuilder_fields(record), "version": version.number},
    }


def write_suite(suite: Suite, directory: Path, *, include_held_out: bool) -> list[Path]:
    """Write the suite as `healthbench.jsonl` in `directory`; held-out tasks only when asked."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / FILENAME
    with path.open("w", encoding="utf-8", newline="\n") as file:
        for version in suite_versions(suite, include_held_out=include_held_out):
            file.write(json.dumps(example(suite, version), ensure_ascii=False) + "\n")
    return [path]
