"""Load the taxonomy, tasks and suites in seeds/ (YAML), idempotently and all-or-nothing.

Every file is read and checked before anything is written; any problem is reported with
its file, record and field, and nothing is written. Loading the same files twice changes
nothing. Published task versions never change: edited seed content becomes a new version.

A task record has one format, described by schemas/task.schema.json: a seed task file and a
line of a JSON Lines import (occupations.jsonl) are checked by the same `check_task_records`.
"""

from __future__ import annotations

import json
import math
import uuid
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import yaml
from django.db import transaction
from django.utils import timezone
from jsonschema import Draft202012Validator, ValidationError
from jsonschema.validators import extend

from occupations.models import (
    Occupation,
    Suite,
    Task,
    TaskStatement,
    TaskVersion,
    Taxonomy,
    TaxonomyImport,
)
from occupations.statements import statements_named

SEED_DIR = Path(__file__).resolve().parent.parent / "seeds"
TASK_SCHEMA_PATH = Path(__file__).resolve().parent / "schemas" / "task.schema.json"
TASK_SCHEMA: dict = json.loads(TASK_SCHEMA_PATH.read_text(encoding="utf-8"))
# The schema holds the defaults, so the documented format and the loader cannot disagree.
DEFAULT_TAXONOMY: str = TASK_SCHEMA["properties"]["taxonomy"]["default"]
TASK_FIELDS = TaskVersion.CONTENT_FIELDS


@dataclass(frozen=True)
class SeedProblem:
    file: str
    """The seed file ('tasks/x.yaml'), or 'line N' of a JSON Lines import."""
    record: str
    field: str
    message: str
    path: str = ""
    """JSON path of the field within a task record, e.g. '$.rubric[1].points'."""

    def __str__(self) -> str:
        where = f" (at {self.path})" if self.path else ""
        return f"{self.file}: {self.record}: field '{self.field}': {self.message}{where}"


class SeedError(ValueError):
    """One or more problems in seed files; nothing was written."""

    what = "seed files"

    def __init__(self, problems: list[SeedProblem]) -> None:
        self.problems = problems
        super().__init__(
            f"{len(problems)} problem(s) in {self.what}, nothing was written:\n"
            + "\n".join(f"  {p}" for p in problems)
        )


@dataclass
class SeedReport:
    counts: Counter = field(default_factory=Counter)
    notes: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        parts = [f"{name}: {count}" for name, count in sorted(self.counts.items())]
        return ", ".join(parts) or "nothing to do"


@dataclass(frozen=True)
class TaskRecord:
    """One task record as read, before any check, and where it came from."""

    source: str
    """What problems name as the file: 'tasks/x.yaml' or 'line 3'."""
    data: Any
    name: str = ""
    """What to call the task when it has no slug (a seed file's stem)."""


def _label(path: Path) -> str:
    """A seed file as its messages name it: 'tasks/x.yaml', 'suites.yaml'."""
    return path.name if path.parent.name in ("seeds", "") else f"{path.parent.name}/{path.name}"


class _Checker:
    """Collects problems for one file (or line) so all of them are reported at once."""

    def __init__(self, source: str, problems: list[SeedProblem]) -> None:
        self.file = source
        self.problems = problems

    def problem(self, record: str, field_name: str, message: str, path: str = "") -> None:
        self.problems.append(SeedProblem(self.file, record, field_name, message, path))

    def text(self, data: dict, record: str, name: str, *, required: bool = True) -> str:
        value = data.get(name)
        if value is None or (isinstance(value, str) and not value.strip()):
            if required:
                self.problem(record, name, "is missing")
            return ""
        if not isinstance(value, str):
            self.problem(record, name, f"must be text, got {type(value).__name__}")
            return ""
        if "\x00" in value:
            self.problem(record, name, "contains a NUL character (U+0000), which cannot be stored")
            return ""
        return value


def _read_yaml(path: Path, problems: list[SeedProblem]) -> Any:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark else "file"
        problems.append(SeedProblem(_label(path), where, "-", f"is not valid YAML: {error}"))
    except UnicodeDecodeError as error:
        problems.append(
            SeedProblem(_label(path), "file", "-", f"is not UTF-8 text (byte {error.start})")
        )
    except OSError as error:
        problems.append(SeedProblem(_label(path), "file", "-", f"cannot be read: {error}"))
    return None


# --- reading and checking -------------------------------------------------------------


def _check_taxonomy(path: Path, data: Any, problems: list[SeedProblem]) -> dict | None:
    check = _Checker(_label(path), problems)
    if not isinstance(data, dict):
        check.problem("file", "-", "must be a mapping with 'taxonomy' and 'occupations'")
        return None
    meta = data.get("taxonomy")
    if not isinstance(meta, dict):
        check.problem("file", "taxonomy", "must be a mapping with name and version")
        return None
    name = check.text(meta, "taxonomy", "name")
    version = str(meta.get("version", "")).strip()
    if not version:
        check.problem("taxonomy", "version", "is missing")
    occupations = data.get("occupations")
    if not isinstance(occupations, list) or not occupations:
        check.problem("file", "occupations", "must be a non-empty list")
        return None
    codes: set[str] = set()
    rows = []
    for index, row in enumerate(occupations, 1):
        if not isinstance(row, dict):
            check.problem(f"occupation {index}", "-", "must be a mapping")
            continue
        code = str(row.get("code", "")).strip()
        record = f"occupation {code or index}"
        if not code:
            check.problem(record, "code", "is missing")
        elif code in codes:
            check.problem(record, "code", "appears twice")
        codes.add(code)
        title = check.text(row, record, "title")
        level = row.get("level")
        if level not in Occupation.Level.values:
            check.problem(record, "level", f"must be one of {', '.join(Occupation.Level.values)}")
        parent = str(row.get("parent") or "").strip()
        if parent and parent not in codes:
            check.problem(record, "parent", f"{parent!r} is not listed before this occupation")
        employment = row.get("employment")
        if employment is not None and (
            isinstance(employment, bool) or not isinstance(employment, int) or employment < 0
        ):
            check.problem(record, "employment", f"must be a whole number >= 0, got {employment!r}")
        wage = row.get("mean_annual_wage")
        if wage is not None:
            try:
                wage = Decimal(str(wage))
                if not wage.is_finite() or wage < 0:
                    raise InvalidOperation
            except InvalidOperation:
                check.problem(
                    record,
                    "mean_annual_wage",
                    f"must be a number >= 0, got {row['mean_annual_wage']!r}",
                )
                wage = None
        rows.append(
            {
                "code": code,
                "title": title,
                "level": level,
                "parent": parent,
                "employment": employment,
                "mean_annual_wage": wage,
                "employment_flag": str(row.get("employment_flag") or ""),
                "wage_flag": str(row.get("wage_flag") or ""),
                "source": str(row.get("source") or data.get("source") or ""),
            }
        )
    return {
        "name": name,
        "version": version,
        "country": str(meta.get("country") or ""),
        "description": str(meta.get("description") or ""),
        "occupations": rows,
    }


def _is_number(value: object) -> bool:
    # YAML's .nan and JSON's NaN pass every minimum and maximum, so they are not numbers here.
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


_TaskValidator = extend(
    Draft202012Validator,
    type_checker=Draft202012Validator.TYPE_CHECKER.redefine(
        "number", lambda checker, instance: _is_number(instance)
    ),
)
_TASK_VALIDATOR = _TaskValidator(TASK_SCHEMA, format_checker=Draft202012Validator.FORMAT_CHECKER)
_TYPE_WORDS = {
    "string": "text",
    "integer": "a whole number",
    "number": "a number",
    "boolean": "true or false",
    "array": "a list",
    "object": "a mapping",
}


def _schema_message(error: ValidationError) -> str:
    """Say what a field must be in the words of the other checks, not jsonschema's."""
    value, got = error.validator_value, f"got {error.instance!r}"
    match error.validator:
        case "type":
            return f"must be {_TYPE_WORDS.get(value, value)}, {got}"
        case "minimum" | "maximum" if "minimum" in error.schema and "maximum" in error.schema:
            return f"must be between {error.schema['minimum']} and {error.schema['maximum']}, {got}"
        case "minimum":
            return f"must be at least {value}, {got}"
        case "maximum":
            return f"must be at most {value}, {got}"
        case "not" if "const" in value:
            return f"must not be {value['const']!r}"
        case "enum":
            return f"must be one of {', '.join(map(repr, value))}, {got}"
        case "format":
            return f"must be a {'GUID' if value == 'uuid' else value}, {got}"
        case "pattern":
            return "must not be blank" if value == r"\S" else f"must match {value!r}, {got}"
        case "minItems" | "minLength":
            return "must not be empty"
        case "maxLength":
            return f"must be at most {value} characters"
    return error.message


def _schema_problems(data: dict) -> Iterator[tuple[list[str | int], str]]:
    """(path of the field, message) for every way the record breaks the schema."""
    reported_missing: set[tuple] = set()
    for error in _TASK_VALIDATOR.iter_errors(data):
        path = list(error.absolute_path)
        if error.validator == "required":
            # jsonschema raises one error per missing field; name them all, once, in order.
            if tuple(path) not in reported_missing:
                reported_missing.add(tuple(path))
                for name in error.validator_value:
                    if name not in error.instance:
                        yield [*path, name], "is missing"
        elif error.validator == "additionalProperties":
            for name in error.instance:
                if name not in error.schema["properties"]:
                    yield [*path, name], "is not a field of this record"
        else:
            yield path, _schema_message(error)


def _nul_problems(value: Any, path: list[str | int]) -> Iterator[list[str | int]]:
    """Paths of the strings holding a NUL character, which no database column stores."""
    if isinstance(value, str):
        if "\x00" in value:
            yield path
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _nul_problems(item, [*path, key])
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _nul_problems(item, [*path, index])


def _json_path(path: list[str | int]) -> str:
    return "$" + "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in path)


_ITEM_NAMES = {"rubric": "criterion", "task_statements": "task statement"}
"""What a problem calls an item of a list field of the task record."""


def _where(record: str, path: list[str | int]) -> tuple[str, str]:
    """The record and field a path names: ['rubric', 1, 'points'] is 'criterion 2', 'points';
    ['task_statements', 0, 'statement_id'] is 'task statement 1', 'statement_id'."""
    if len(path) > 1 and path[0] in _ITEM_NAMES and isinstance(path[1], int):
        record, path = f"{record} {_ITEM_NAMES[path[0]]} {path[1] + 1}", path[2:]
    return record, str(path[0]) if path else "-"


def _with_defaults(data: dict, properties: dict) -> dict:
    return {name: data.get(name, spec.get("default")) for name, spec in properties.items()}


def _task_spec(data: dict) -> dict:
    """A valid record as the writers use it: defaults filled in, rubric as 'criteria', the
    task statements as (taxonomy, occupation, statement id) keys, or None when the record
    has no task_statements field."""
    spec = _with_defaults(data, TASK_SCHEMA["properties"])
    criterion_properties = TASK_SCHEMA["$defs"]["criterion"]["properties"]
    spec["criteria"] = [_with_defaults(item, criterion_properties) for item in spec.pop("rubric")]
    spec["canary"] = uuid.UUID(spec["canary"]) if spec["canary"] is not None else None
    # JSON Schema counts 30.0 as an integer; the database wants 30.
    spec["estimated_minutes"] = int(spec["estimated_minutes"])
    spec["pass_threshold"] = float(spec["pass_threshold"])
    for criterion in spec["criteria"]:
        criterion["points"] = int(criterion["points"])
    if spec["task_statements"] is not None:
        spec["task_statements"] = [
            (item["taxonomy"], item["occupation"], int(item["statement_id"]))
            for item in spec["task_statements"]
        ]
    return spec


def _record_label(record: TaskRecord) -> str:
    """'task <slug>', or the record's name while it has no usable slug."""
    slug = record.data.get("slug") if isinstance(record.data, dict) else None
    return f"task {slug if isinstance(slug, str) and slug.strip() else record.name}".rstrip()


def _check_task(
    record: TaskRecord, known: set[tuple[str, str]], problems: list[SeedProblem]
) -> dict | None:
    """The record's spec, or None after adding its problems: the schema's, then the domain's."""
    check = _Checker(record.source, problems)
    data, label = record.data, _record_label(record)
    if not isinstance(data, dict):
        check.problem(label, "-", "must be a mapping (a JSON object) describing one task")
        return None
    found = len(problems)
    for path, message in _schema_problems(data):
        check.problem(*_where(label, path), message, _json_path(path))
    for path in _nul_problems(data, []):
        message = "contains a NUL character (U+0000), which cannot be stored"
        check.problem(*_where(label, path), message, _json_path(path))

    taxonomy = data.get("taxonomy", DEFAULT_TAXONOMY)
    occupation = data.get("occupation")
    named = isinstance(taxonomy, str) and isinstance(occupation, str) and occupation.strip()
    if named and (taxonomy, occupation) not in known:
        message = f"unknown occupation code {occupation!r} in {taxonomy}"
        check.problem(label, "occupation", message, "$.occupation")
    if data.get("visibility") == Task.Visibility.HELD_OUT and "canary" not in data:
        message = "is missing: every held-out task carries a canary GUID"
        check.problem(label, "canary", message, "$.canary")
    rubric = data.get("rubric")
    if isinstance(rubric, list) and rubric:
        points = [item.get("points") for item in rubric if isinstance(item, dict)]
        if not any(_is_number(p) and p > 0 for p in points):
            message = "needs at least one criterion with positive points"
            check.problem(label, "rubric", message, "$.rubric")
    return _task_spec(data) if len(problems) == found else None


def check_task_records(
    records: Iterable[TaskRecord], known: set[tuple[str, str]], problems: list[SeedProblem]
) -> list[tuple[TaskRecord, dict]]:
    """Check task records (seed files or JSON lines) against each other and the taxonomy.

    `known` holds the (taxonomy, code) pairs an occupation may name, e.g. ('SOC 2018',
    '23-2011'). Adds every problem found to `problems`; returns the valid records with
    their specs, which are safe to write only when no problem was found at all.
    """
    checked = []
    first_use: dict[tuple[str, str], str] = {}
    for record in records:
        spec = _check_task(record, known, problems)
        if spec is not None:
            checked.append((record, spec))
        data = record.data if isinstance(record.data, dict) else {}
        for name in ("slug", "canary"):
            value = data.get(name)
            if not isinstance(value, str) or not value.strip():
                continue
            # A GUID in capitals is the same GUID; slugs differ by case.
            key = (name, value.lower() if name == "canary" else value)
            if key in first_use:
                message = f"already used by {first_use[key]}"
                check = _Checker(record.source, problems)
                check.problem(_record_label(record), name, message, f"$.{name}")
            first_use.setdefault(key, record.source)
    return checked


def _check_suites(path: Path, data: Any, slugs: set[str], problems: list[SeedProblem]):
    check = _Checker(_label(path), problems)
    suites = (data or {}).get("suites") if isinstance(data, dict) else None
    if not isinstance(suites, list):
        check.problem("file", "suites", "must be a list")
        return []
    found = []
    for index, item in enumerate(suites, 1):
        record = f"suite {item.get('slug', index) if isinstance(item, dict) else index}"
        if not isinstance(item, dict):
            check.problem(record, "-", "must be a mapping")
            continue
        slug = check.text(item, record, "slug")
        name = check.text(item, record, "name")
        tasks = item.get("tasks", "all")
        if tasks != "all":
            if not isinstance(tasks, list):
                check.problem(record, "tasks", "must be 'all' or a list of task slugs")
                tasks = []
            for task_slug in tasks:
                if not isinstance(task_slug, str):
                    check.problem(record, "tasks", f"must list task slugs, got {task_slug!r}")
                elif task_slug not in slugs:
                    check.problem(record, "tasks", f"unknown task slug {task_slug!r}")
        found.append(
            {
                "slug": slug,
                "name": name,
                "description": str(item.get("description") or ""),
                "system_prompt": check.text(item, record, "system_prompt", required=False),
                "tasks": tasks,
            }
        )
    return found


def occupations_by_code() -> dict[tuple[str, str], Occupation]:
    """Every occupation in the database by (taxonomy, code), e.g. ('SOC 2018', '23-2011')."""
    return {(str(o.taxonomy), o.code): o for o in Occupation.objects.select_related("taxonomy")}


def read_seeds(seed_dir: Path = SEED_DIR) -> tuple[list[dict], list[dict], list[dict]]:
    """Read and check every seed file; raises SeedError listing every problem."""
    problems: list[SeedProblem] = []
    taxonomies = []
    for path in sorted((seed_dir / "taxonomy").glob("*.yaml")):
        checked = _check_taxonomy(path, _read_yaml(path, problems), problems)
        if checked:
            taxonomies.append(checked)
    known = {
        (f"{t['name']} {t['version']}", row["code"]) for t in taxonomies for row in t["occupations"]
    }
    known |= set(occupations_by_code())
    records = [
        TaskRecord(_label(path), _read_yaml(path, problems), name=path.stem)
        for path in sorted((seed_dir / "tasks").glob("*.yaml"))
    ]
    tasks = [spec for _, spec in check_task_records(records, known, problems)]
    suites = []
    suites_path = seed_dir / "suites.yaml"
    if suites_path.exists():
        slugs = {spec["slug"] for spec in tasks}
        suites = _check_suites(suites_path, _read_yaml(suites_path, problems), slugs, problems)
    if problems:
        raise SeedError(problems)
    return taxonomies, tasks, suites


# --- writing -----------------------------------------------------------------------------


def _write_taxonomy(spec: dict, report: SeedReport) -> None:
    taxonomy, created = Taxonomy.objects.get_or_create(
        name=spec["name"],
        version=spec["version"],
        defaults={"country": spec["country"], "description": spec["description"]},
    )
    report.counts["taxonomies created" if created else "taxonomies unchanged"] += 1
    by_code = {o.code: o for o in Occupation.objects.filter(taxonomy=taxonomy)}
    # Occupations imported from an official file keep its figures, parents and source: the
    # seed only adds those the file lacks.
    imported = TaxonomyImport.objects.filter(
        taxonomy=taxonomy, kind__in=[TaxonomyImport.Kind.OEWS, TaxonomyImport.Kind.TAXONOMY]
    ).exists()
    for row in spec["occupations"]:
        if imported and row["code"] in by_code:
            report.counts["occupations kept as imported"] += 1
            continue
        values = {
            k: row[k]
            for k in (
                "title",
                "level",
                "employment",
                "mean_annual_wage",
                "employment_flag",
                "wage_flag",
                "source",
            )
        }
        parent = by_code.get(row["parent"]) if row["parent"] else None
        existing = by_code.get(row["code"])
        if existing is None:
            by_code[row["code"]] = Occupation.objects.create(
                taxonomy=taxonomy, code=row["code"], parent=parent, **values
            )
            report.counts["occupations created"] += 1
            continue
        changed = existing.parent_id != (parent.pk if parent else None) or any(
            getattr(existing, k) != v for k, v in values.items()
        )
        if changed:
            for k, v in values.items():
                setattr(existing, k, v)
            existing.parent = parent
            existing.save()
            report.counts["occupations updated"] += 1
        else:
            report.counts["occupations unchanged"] += 1


def _version_matches(
    version: TaskVersion, spec: dict, statements: list[TaskStatement] | None
) -> bool:
    """Whether the version holds the record's content, rubric and, when the record lists
    them (`statements`: those of them in the database), task statements."""
    same_fields = all(getattr(version, name) == spec[name] for name in TASK_FIELDS)
    stored = [(c.text, c.points, c.tag, c.critical) for c in version.criteria.all()]
    wanted = [(c["text"], c["points"], c["tag"], c["critical"]) for c in spec["criteria"]]
    if statements is None:
        return same_fields and stored == wanted
    cited = set(version.task_statements.values_list("pk", flat=True))
    return same_fields and stored == wanted and cited == {s.pk for s in statements}


def cited_in_database(spec: dict) -> tuple[list[TaskStatement], int]:
    """The task statements a checked record cites that are in the database, and how many
    it cites that are not (left out: their taxonomy may not be imported yet)."""
    keys = set(spec["task_statements"] or ())
    found = statements_named(keys)
    return found, len(keys) - len(found)


def task_fields(spec: dict, occupations: dict[tuple[str, str], Occupation]) -> dict:
    """The Task fields a checked record sets; without a canary the task keeps its own."""
    fields = {
        "occupation": occupations[(spec["taxonomy"], spec["occupation"])],
        "title": spec["title"],
        "visibility": spec["visibility"],
    }
    if spec["canary"] is not None:
        fields["canary"] = spec["canary"]
    return fields


def create_version(
    task: Task,
    spec: dict,
    *,
    number: int,
    user=None,
    statements: Iterable[TaskStatement] = (),
) -> TaskVersion:
    """A new, unlocked version of the task with the record's content and rubric, citing
    `statements` (cited_in_database: those of the record's that exist)."""
    version = TaskVersion.objects.create_with_rubric(
        task=task,
        number=number,
        content={name: spec[name] for name in TASK_FIELDS},
        criteria=spec["criteria"],
        user=user,
    )
    statements = list(statements)
    if statements:
        version.task_statements.set(statements)
    return version


def _write_task(
    spec: dict, occupations: dict[tuple[str, str], Occupation], report: SeedReport
) -> TaskVersion:
    wanted = task_fields(spec, occupations)
    task, created = Task.objects.get_or_create(
        slug=spec["slug"], defaults={**wanted, "status": Task.Status.PUBLISHED}
    )
    if not created and any(getattr(task, k) != v for k, v in wanted.items()):
        for k, v in wanted.items():
            setattr(task, k, v)
        task.save()
    # A seed that lists no task statements leaves those of the version as they are.
    statements = None
    if spec["task_statements"] is not None:
        statements, missing = cited_in_database(spec)
        if missing:
            report.notes.append(
                f"task {spec['slug']} cites {missing} task statement(s) not in the database; "
                "they were left out (import their taxonomy and seed again to cite them)"
            )
    latest = task.versions.prefetch_related("criteria").order_by("-number").first()
    if latest is not None and _version_matches(latest, spec, statements):
        report.counts["task versions unchanged"] += 1
        return latest
    version = create_version(
        task, spec, number=(latest.number + 1) if latest else 1, statements=statements or ()
    )
    # Seed tasks arrive reviewed and published: their versions are frozen and published at once.
    version.lock()
    TaskVersion.objects.filter(pk=version.pk).update(published_at=timezone.now())
    Task.objects.filter(pk=task.pk).update(published_version=version, status=Task.Status.PUBLISHED)
    report.counts["task versions created"] += 1
    return version


def _write_suite(spec: dict, versions: dict[str, TaskVersion], report: SeedReport) -> None:
    suite, created = Suite.objects.get_or_create(
        slug=spec["slug"],
        defaults={
            "name": spec["name"],
            "description": spec["description"],
            "system_prompt": spec["system_prompt"],
        },
    )
    wanted = [
        versions[slug] for slug in (sorted(versions) if spec["tasks"] == "all" else spec["tasks"])
    ]
    current = set(suite.task_versions.values_list("pk", flat=True))
    same_versions = current == {v.pk for v in wanted}
    same_prompt = suite.system_prompt == spec["system_prompt"]
    if same_versions and same_prompt:
        report.counts["suites created" if created else "suites unchanged"] += 1
        return
    if suite.is_frozen:
        # What models are asked must not change under a run's results.
        if not same_versions:
            report.notes.append(
                f"suite {suite.slug} is frozen by a run, so new task versions were not added "
                "to it; add a new suite to measure them"
            )
        if not same_prompt:
            report.notes.append(
                f"suite {suite.slug} is frozen by a run, so its system prompt was not changed; "
                "add a new suite to use the new one"
            )
        return
    if not same_prompt:
        suite.system_prompt = spec["system_prompt"]
        suite.save(update_fields=["system_prompt"])
    if not same_versions:
        suite.task_versions.set(wanted)
    report.counts["suites created" if created else "suites updated"] += 1


def load_seeds(seed_dir: Path = SEED_DIR) -> SeedReport:
    """Check every seed file, then write them all in one transaction."""
    taxonomies, tasks, suites = read_seeds(seed_dir)
    report = SeedReport()
    with transaction.atomic():
        for spec in taxonomies:
            _write_taxonomy(spec, report)
        occupations = occupations_by_code()
        versions = {spec["slug"]: _write_task(spec, occupations, report) for spec in tasks}
        for spec in suites:
            _write_suite(spec, versions, report)
    return report
