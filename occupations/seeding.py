"""Load the taxonomy, tasks and suites in seeds/ (YAML), idempotently and all-or-nothing.

Every file is read and checked before anything is written; any problem is reported with
its file, record and field, and nothing is written. Loading the same files twice changes
nothing. Published task versions never change: edited seed content becomes a new version.
"""

from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import yaml
from django.db import transaction

from occupations.models import Occupation, RubricCriterion, Suite, Task, TaskVersion, Taxonomy

SEED_DIR = Path(__file__).resolve().parent.parent / "seeds"
DEFAULT_TAXONOMY = "SOC 2018"  # what a task file's occupation code refers to unless it says
TASK_FIELDS = (
    "instructions",
    "context",
    "deliverable",
    "estimated_minutes",
    "minutes_estimate_method",
    "reference_solution",
    "pass_threshold",
)


@dataclass(frozen=True)
class SeedProblem:
    file: str
    record: str
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}: {self.record}: field '{self.field}': {self.message}"


class SeedError(ValueError):
    """One or more problems in seed files; nothing was written."""

    def __init__(self, problems: list[SeedProblem]) -> None:
        self.problems = problems
        super().__init__(
            f"{len(problems)} problem(s) in seed files, nothing was written:\n"
            + "\n".join(f"  {p}" for p in problems)
        )


@dataclass
class SeedReport:
    counts: Counter = field(default_factory=Counter)
    notes: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        parts = [f"{name}: {count}" for name, count in sorted(self.counts.items())]
        return ", ".join(parts) or "nothing to do"


def _label(path: Path) -> str:
    """A seed file as its messages name it: 'tasks/x.yaml', 'suites.yaml'."""
    return path.name if path.parent.name in ("seeds", "") else f"{path.parent.name}/{path.name}"


class _Checker:
    """Collects problems for one file so all of them are reported at once."""

    def __init__(self, path: Path, problems: list[SeedProblem]) -> None:
        self.file = _label(path)
        self.problems = problems

    def problem(self, record: str, field_name: str, message: str) -> None:
        self.problems.append(SeedProblem(self.file, record, field_name, message))

    def text(self, data: dict, record: str, name: str, *, required: bool = True) -> str:
        value = data.get(name)
        if value is None or (isinstance(value, str) and not value.strip()):
            if required:
                self.problem(record, name, "is missing")
            return ""
        if not isinstance(value, str):
            self.problem(record, name, f"must be text, got {type(value).__name__}")
            return ""
        return value

    def integer(self, data: dict, record: str, name: str, low: int, high: int) -> int | None:
        value = data.get(name)
        if value is None:
            self.problem(record, name, "is missing")
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            self.problem(record, name, f"must be a whole number, got {value!r}")
            return None
        if not low <= value <= high:
            self.problem(record, name, f"must be between {low} and {high}, got {value}")
            return None
        return value


def _read_yaml(path: Path, problems: list[SeedProblem]) -> Any:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark else "file"
        problems.append(SeedProblem(_label(path), where, "-", f"is not valid YAML: {error}"))
    except OSError as error:
        problems.append(SeedProblem(_label(path), "file", "-", f"cannot be read: {error}"))
    return None


# --- reading and checking -------------------------------------------------------------


def _check_taxonomy(path: Path, data: Any, problems: list[SeedProblem]) -> dict | None:
    check = _Checker(path, problems)
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


def _check_task(path: Path, data: Any, known: set[tuple[str, str]], problems: list[SeedProblem]):
    check = _Checker(path, problems)
    if not isinstance(data, dict):
        check.problem("file", "-", "must be a mapping describing one task")
        return None
    slug = str(data.get("slug") or "").strip()
    record = f"task {slug or path.stem}"
    if not slug:
        check.problem(record, "slug", "is missing")
    taxonomy = str(data.get("taxonomy") or DEFAULT_TAXONOMY).strip()
    occupation = str(data.get("occupation") or "").strip()
    if not occupation:
        check.problem(record, "occupation", "is missing")
    elif (taxonomy, occupation) not in known:
        check.problem(record, "occupation", f"unknown occupation code {occupation!r} in {taxonomy}")
    visibility = data.get("visibility", Task.Visibility.PUBLIC)
    if visibility not in Task.Visibility.values:
        check.problem(record, "visibility", "must be 'public' or 'held_out'")
    canary = data.get("canary")
    if canary is not None:
        try:
            canary = uuid.UUID(str(canary))
        except ValueError:
            check.problem(record, "canary", f"must be a GUID, got {canary!r}")
            canary = None
    elif visibility == Task.Visibility.HELD_OUT:
        check.problem(record, "canary", "is missing: every held-out task carries a canary GUID")
    task = {
        "slug": slug,
        "taxonomy": taxonomy,
        "occupation": occupation,
        "visibility": visibility,
        "canary": canary,
        "title": check.text(data, record, "title"),
        "instructions": check.text(data, record, "instructions"),
        "context": check.text(data, record, "context", required=False),
        "deliverable": check.text(data, record, "deliverable"),
        "reference_solution": check.text(data, record, "reference_solution"),
        "minutes_estimate_method": check.text(
            data, record, "minutes_estimate_method", required=False
        ),
        "estimated_minutes": check.integer(data, record, "estimated_minutes", 1, 60 * 24 * 5),
    }
    threshold = data.get("pass_threshold")
    if (
        not isinstance(threshold, int | float)
        or isinstance(threshold, bool)
        or not (0 <= threshold <= 1)
    ):
        check.problem(record, "pass_threshold", f"must be a number from 0 to 1, got {threshold!r}")
    task["pass_threshold"] = float(threshold) if isinstance(threshold, int | float) else 0.0
    rubric = data.get("rubric")
    criteria = []
    if not isinstance(rubric, list) or not rubric:
        check.problem(record, "rubric", "must be a non-empty list of criteria")
    else:
        for index, item in enumerate(rubric, 1):
            where = f"{record} criterion {index}"
            if not isinstance(item, dict):
                check.problem(where, "-", "must be a mapping with text and points")
                continue
            text = check.text(item, where, "text")
            points = item.get("points")
            if isinstance(points, bool) or not isinstance(points, int):
                check.problem(where, "points", f"must be a whole number, got {points!r}")
                points = 0
            elif not -10 <= points <= 10 or points == 0:
                check.problem(where, "points", f"must be -10..10 and not 0, got {points}")
            tag = str(item.get("tag") or RubricCriterion.Tag.ACCURACY)
            if len(tag) > 40:
                check.problem(where, "tag", "must be at most 40 characters")
            critical = item.get("critical", False)
            if not isinstance(critical, bool):
                check.problem(where, "critical", f"must be true or false, got {critical!r}")
            criteria.append({"text": text, "points": points, "tag": tag, "critical": critical})
        if rubric and not any(c["points"] > 0 for c in criteria):
            check.problem(record, "rubric", "needs at least one criterion with positive points")
    task["criteria"] = criteria
    return task


def _check_suites(path: Path, data: Any, slugs: set[str], problems: list[SeedProblem]):
    check = _Checker(path, problems)
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
                "tasks": tasks,
            }
        )
    return found


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
    known |= {
        (f"{name} {version}", code)
        for name, version, code in Occupation.objects.values_list(
            "taxonomy__name", "taxonomy__version", "code"
        )
    }
    tasks = []
    slugs: dict[str, str] = {}
    for path in sorted((seed_dir / "tasks").glob("*.yaml")):
        checked = _check_task(path, _read_yaml(path, problems), known, problems)
        if checked:
            if checked["slug"] in slugs:
                problems.append(
                    SeedProblem(
                        path.name,
                        f"task {checked['slug']}",
                        "slug",
                        f"already used by {slugs[checked['slug']]}",
                    )
                )
            slugs[checked["slug"]] = path.name
            tasks.append(checked)
    suites = []
    suites_path = seed_dir / "suites.yaml"
    if suites_path.exists():
        suites = _check_suites(suites_path, _read_yaml(suites_path, problems), set(slugs), problems)
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
    for row in spec["occupations"]:
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


def _version_matches(version: TaskVersion, spec: dict) -> bool:
    same_fields = all(getattr(version, name) == spec[name] for name in TASK_FIELDS)
    stored = [(c.text, c.points, c.tag, c.critical) for c in version.criteria.all()]
    wanted = [(c["text"], c["points"], c["tag"], c["critical"]) for c in spec["criteria"]]
    return same_fields and stored == wanted


def _write_task(
    spec: dict, occupations: dict[tuple[str, str], Occupation], report: SeedReport
) -> TaskVersion:
    wanted = {
        "occupation": occupations[(spec["taxonomy"], spec["occupation"])],
        "title": spec["title"],
        "visibility": spec["visibility"],
    }
    if spec["canary"] is not None:
        wanted["canary"] = spec["canary"]
    task, created = Task.objects.get_or_create(
        slug=spec["slug"], defaults={**wanted, "status": Task.Status.PUBLISHED}
    )
    if not created and any(getattr(task, k) != v for k, v in wanted.items()):
        for k, v in wanted.items():
            setattr(task, k, v)
        task.save()
    latest = task.versions.prefetch_related("criteria").order_by("-number").first()
    if latest is not None and _version_matches(latest, spec):
        report.counts["task versions unchanged"] += 1
        return latest
    version = TaskVersion.objects.create(
        task=task,
        number=(latest.number + 1) if latest else 1,
        **{name: spec[name] for name in TASK_FIELDS},
    )
    RubricCriterion.objects.bulk_create(
        RubricCriterion(task_version=version, order=order, **criterion)
        for order, criterion in enumerate(spec["criteria"], 1)
    )
    # Seed tasks arrive reviewed and published, so their versions are frozen at once.
    version.lock()
    report.counts["task versions created"] += 1
    return version


def _write_suite(spec: dict, versions: dict[str, TaskVersion], report: SeedReport) -> None:
    suite, created = Suite.objects.get_or_create(
        slug=spec["slug"], defaults={"name": spec["name"], "description": spec["description"]}
    )
    wanted = [
        versions[slug] for slug in (sorted(versions) if spec["tasks"] == "all" else spec["tasks"])
    ]
    current = set(suite.task_versions.values_list("pk", flat=True))
    if current == {v.pk for v in wanted}:
        report.counts["suites created" if created else "suites unchanged"] += 1
        return
    if suite.is_frozen:
        report.notes.append(
            f"suite {suite.slug} is frozen by a run, so new task versions were not added to it; "
            "add a new suite to measure them"
        )
        return
    suite.task_versions.set(wanted)
    report.counts["suites created" if created else "suites updated"] += 1


def load_seeds(seed_dir: Path = SEED_DIR) -> SeedReport:
    """Check every seed file, then write them all in one transaction."""
    taxonomies, tasks, suites = read_seeds(seed_dir)
    report = SeedReport()
    with transaction.atomic():
        for spec in taxonomies:
            _write_taxonomy(spec, report)
        occupations = {
            (str(o.taxonomy), o.code): o for o in Occupation.objects.select_related("taxonomy")
        }
        versions = {spec["slug"]: _write_task(spec, occupations, report) for spec in tasks}
        for spec in suites:
            _write_suite(spec, versions, report)
    return report
