import json
import uuid
from copy import deepcopy
from pathlib import Path

import pytest
import yaml
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from jsonschema import Draft202012Validator

from occupations.jsonl import TaskImportError, export_tasks, import_tasks
from occupations.models import (
    Occupation,
    RubricCriterion,
    Suite,
    Task,
    TaskEvent,
    TaskStatement,
    TaskVersion,
    Taxonomy,
)
from occupations.seeding import SEED_DIR, TASK_SCHEMA, TASK_SCHEMA_PATH, SeedError, load_seeds

pytestmark = pytest.mark.django_db


@pytest.fixture
def importer():
    load_seeds()
    return get_user_model().objects.create_user("importer", password="x")


def exported(*, include_held_out: bool) -> list[dict]:
    tasks = Task.objects.order_by("slug")
    return [json.loads(line) for line in export_tasks(tasks, include_held_out=include_held_out)]


def as_lines(records: list[dict]) -> list[str]:
    return [json.dumps(record) + "\n" for record in records]


def copy_of(record: dict) -> dict:
    """The record under a new slug, and a new canary where it has one: an import only creates."""
    copy = {**record, "slug": f"{record['slug']}-copy"}
    if "canary" in copy:
        copy["canary"] = str(uuid.uuid4())
    return copy


def a_valid_record() -> dict:
    return copy_of(exported(include_held_out=False)[0])


def table_sizes() -> dict[str, int]:
    return {m.__name__: m.objects.count() for m in (Task, TaskVersion, RubricCriterion, TaskEvent)}


def test_exported_tasks_import_again_with_every_field_and_criterion(importer):
    originals = exported(include_held_out=True)
    copies = [copy_of(record) for record in originals]

    report = import_tasks(as_lines(copies), user=importer)

    assert report.created == len(originals) == Task.objects.filter(slug__endswith="-copy").count()
    again = {record["slug"]: record for record in exported(include_held_out=True)}
    for copy in copies:
        assert again[copy["slug"]] == copy
    assert all(len(copy["rubric"]) >= 6 for copy in copies)


def test_held_out_tasks_are_exported_only_when_asked(importer):
    held_out = list(Task.objects.filter(visibility=Task.Visibility.HELD_OUT))
    assert held_out

    public_only = "\n".join(export_tasks(Task.objects.all(), include_held_out=False))
    everything = "\n".join(export_tasks(Task.objects.all(), include_held_out=True))

    for task in held_out:
        version = task.published_version
        texts = (version.instructions, version.context, version.reference_solution)
        # The texts as a JSON line holds them: quoted, with newlines escaped.
        secrets = [str(task.canary), *(json.dumps(t, ensure_ascii=False)[1:-1] for t in texts)]
        for secret in secrets:
            assert secret not in public_only
            assert secret in everything
    assert Task.objects.count() == len(everything.splitlines())
    assert Task.objects.count() - len(held_out) == len(public_only.splitlines())


def test_a_task_exports_its_published_version_not_a_later_draft(importer):
    task = Task.objects.filter(visibility=Task.Visibility.PUBLIC).first()
    published = task.published_version
    TaskVersion.objects.create(
        task=task,
        number=published.number + 1,
        instructions="A draft in progress.",
        deliverable="x",
        estimated_minutes=5,
        reference_solution="x",
    )
    (line,) = export_tasks([task], include_held_out=False)
    assert json.loads(line)["instructions"] == published.instructions


def test_every_bad_line_is_reported_with_its_number_and_field_and_nothing_is_written(importer):
    good = a_valid_record()
    too_many_points = {**deepcopy(good), "slug": "too-many-points"}
    too_many_points["rubric"][1]["points"] = 12
    unknown_occupation = {**good, "slug": "unknown-occupation", "occupation": "99-9999"}
    lines = [
        json.dumps(good),
        "{not json",
        "",
        json.dumps(too_many_points),
        json.dumps(unknown_occupation),
    ]
    before = table_sizes()

    with pytest.raises(TaskImportError) as caught:
        import_tasks(lines, user=importer)

    assert table_sizes() == before
    problems = {(p.file, p.field) for p in caught.value.problems}
    assert problems == {("line 2", "-"), ("line 4", "points"), ("line 5", "occupation")}
    message = str(caught.value)
    assert "3 problem(s) in the imported lines, nothing was written" in message
    assert "line 2: task: field '-': is not valid JSON" in message
    assert "line 4: task too-many-points criterion 2: field 'points'" in message
    assert "(at $.rubric[1].points)" in message
    assert "line 5: task unknown-occupation: field 'occupation'" in message
    assert "'99-9999'" in message


def test_an_existing_slug_is_refused(importer):
    existing = exported(include_held_out=False)[0]
    with pytest.raises(TaskImportError) as caught:
        import_tasks(as_lines([{**existing, "canary": str(uuid.uuid4())}]), user=importer)
    message = str(caught.value)
    assert f"line 1: task {existing['slug']}: field 'slug': slug '{existing['slug']}'" in message
    assert "is not available" in message


def test_a_canary_of_another_task_is_refused(importer):
    held_out = next(r for r in exported(include_held_out=True) if r["visibility"] == "held_out")
    with pytest.raises(TaskImportError) as caught:
        import_tasks(as_lines([{**held_out, "slug": "a-copy"}]), user=importer)
    message = str(caught.value)
    assert "line 1: task a-copy: field 'canary': canary is not available" in message
    # The other task may be one the importer cannot see: it is never named.
    assert held_out["slug"] not in message


def test_a_slug_twice_in_one_file_is_refused(importer):
    record = a_valid_record()
    with pytest.raises(TaskImportError) as caught:
        import_tasks(as_lines([record, record]), user=importer)
    assert "line 2: task " in str(caught.value)
    assert "field 'slug': already used by line 1" in str(caught.value)


def test_a_dry_run_reports_what_it_would_create_and_writes_nothing(importer):
    record = a_valid_record()
    before = table_sizes()

    report = import_tasks(as_lines([record]), user=importer, dry_run=True)

    assert (report.dry_run, report.slugs, report.problems) == (True, [record["slug"]], [])
    assert table_sizes() == before


def test_imported_tasks_are_unlocked_drafts_owned_by_the_importer(importer):
    record = a_valid_record()
    canary = uuid.uuid4()
    import_tasks(as_lines([{**record, "canary": str(canary)}]), user=importer)

    task = Task.objects.get(slug=record["slug"])
    (version,) = task.versions.all()
    assert task.status == Task.Status.DRAFT
    assert task.published_version is None
    assert task.canary == canary
    assert list(task.owners.all()) == [importer]
    assert (version.number, version.is_locked, version.created_by) == (1, False, importer)
    assert task.events.get().action == TaskEvent.Action.CREATED


def test_the_schema_is_valid_and_every_seed_task_follows_it():
    Draft202012Validator.check_schema(TASK_SCHEMA)
    validator = Draft202012Validator(
        TASK_SCHEMA, format_checker=Draft202012Validator.FORMAT_CHECKER
    )
    paths = sorted((SEED_DIR / "tasks").glob("*.yaml"))
    assert paths
    for path in paths:
        errors = [e.message for e in validator.iter_errors(yaml.safe_load(path.read_text()))]
        assert errors == [], path.name


def test_every_field_of_the_schema_is_described():
    schema = json.loads(TASK_SCHEMA_PATH.read_text())
    criterion = schema["$defs"]["criterion"]["properties"]
    fields = {**schema["properties"], **criterion}
    assert all(spec.get("description") for spec in fields.values())


def test_the_commands_export_and_import_end_to_end(importer, tmp_path: Path):
    exported_file = tmp_path / "tasks.jsonl"
    call_command("export_tasks", "--output", str(exported_file))
    records = [json.loads(line) for line in exported_file.read_text().splitlines()]
    assert len(records) == Task.objects.exclude(visibility=Task.Visibility.HELD_OUT).count()

    copies = tmp_path / "copies.jsonl"
    copies.write_text("".join(as_lines([copy_of(r) for r in records])))
    call_command("import_tasks", str(copies), "--as", "importer", "--dry-run")
    assert not Task.objects.filter(slug__endswith="-copy").exists()
    call_command("import_tasks", str(copies), "--as", "importer")
    assert Task.objects.filter(slug__endswith="-copy").count() == len(records)


def test_the_export_command_writes_a_suites_versions_to_stdout(importer, capsys):
    suite = Suite.objects.filter(task_versions__isnull=False).distinct().first()
    call_command("export_tasks", "--suite", suite.slug, "--include-held-out")
    slugs = [json.loads(line)["slug"] for line in capsys.readouterr().out.splitlines()]
    assert slugs == sorted(suite.task_versions.values_list("task__slug", flat=True))


def test_the_import_command_fails_naming_the_line_and_writes_nothing(importer, tmp_path: Path):
    record = a_valid_record()
    bad = tmp_path / "bad.jsonl"
    bad.write_text("".join(as_lines([record, {**record, "slug": "x", "estimated_minutes": 0}])))
    before = table_sizes()

    with pytest.raises(CommandError) as caught:
        call_command("import_tasks", str(bad), "--as", "importer")

    assert "bad.jsonl" in str(caught.value)
    assert "line 2: task x: field 'estimated_minutes'" in str(caught.value)
    assert isinstance(caught.value.__cause__, SeedError)
    assert table_sizes() == before


def test_the_example_line_in_the_docs_imports(importer):
    docs = (Path(__file__).resolve().parent.parent / "docs" / "task-format.md").read_text()
    example = docs.split("```json\n", 1)[1].split("```", 1)[0]
    report = import_tasks([example], user=importer, dry_run=True)
    assert report.slugs == ["paralegal-deadline-memo"]


def test_a_pass_threshold_of_nan_is_not_a_number(importer):
    line = json.dumps({**a_valid_record(), "pass_threshold": float("nan")})
    assert "NaN" in line
    with pytest.raises(TaskImportError, match="field 'pass_threshold': must be a number, got nan"):
        import_tasks([line], user=importer)


@pytest.fixture
def paralegal_statements(importer) -> list[TaskStatement]:
    """Two O*NET task statements of paralegals, imported into this database."""
    onet = Taxonomy.objects.create(name="O*NET-SOC", version="26.3")
    paralegals = Occupation.objects.create(
        taxonomy=onet, code="23-2011.00", title="Paralegals", level="detailed"
    )
    return [
        TaskStatement.objects.create(occupation=paralegals, statement_id=number, text=text)
        for number, text in ((8821, "Prepare legal documents."), (8822, "Call witnesses."))
    ]


def cite(statement: TaskStatement) -> dict:
    return {
        "taxonomy": "O*NET-SOC 26.3",
        "occupation": statement.occupation.code,
        "statement_id": statement.statement_id,
    }


NOT_IMPORTED = {"taxonomy": "ISCO-08", "occupation": "2611", "statement_id": 77}
"""A statement of a taxonomy this database does not hold."""


def test_an_export_lists_the_task_statements_the_version_cites_and_only_then(
    importer, paralegal_statements
):
    record = a_valid_record()
    import_tasks(as_lines([record]), user=importer)
    task = Task.objects.get(slug=record["slug"])
    (uncited_line,) = export_tasks([task], include_held_out=False)
    assert "task_statements" not in json.loads(uncited_line)

    task.latest_version().task_statements.set(paralegal_statements[::-1])
    (line,) = export_tasks([task], include_held_out=False)

    assert json.loads(line)["task_statements"] == [
        {"taxonomy": "O*NET-SOC 26.3", "occupation": "23-2011.00", "statement_id": 8821},
        {"taxonomy": "O*NET-SOC 26.3", "occupation": "23-2011.00", "statement_id": 8822},
    ]


def test_an_import_cites_the_statements_in_the_database_and_leaves_out_the_others(
    importer, paralegal_statements
):
    prepare, _ = paralegal_statements
    record = {**a_valid_record(), "task_statements": [cite(prepare), NOT_IMPORTED]}

    report = import_tasks(as_lines([record]), user=importer)

    version = Task.objects.get(slug=record["slug"]).latest_version()
    assert list(version.task_statements.all()) == [prepare]
    assert report.statements_left_out == 1
    assert "1 cited task statement(s) are not in the database and were left out" in str(report)
    (line,) = export_tasks([version.task], include_held_out=False)
    assert json.loads(line) == {**record, "task_statements": [cite(prepare)]}


def test_a_dry_run_counts_the_statements_it_would_leave_out_and_cites_nothing(
    importer, paralegal_statements
):
    records = [
        {**a_valid_record(), "task_statements": [NOT_IMPORTED, cite(paralegal_statements[0])]},
        {**copy_of(a_valid_record()), "task_statements": [NOT_IMPORTED]},
    ]
    before = table_sizes()

    report = import_tasks(as_lines(records), user=importer, dry_run=True)

    assert report.statements_left_out == 2
    assert str(report).startswith("2 task(s) would be created; dry run")
    assert table_sizes() == before


def test_an_import_without_task_statements_says_nothing_of_them(importer):
    report = import_tasks(as_lines([a_valid_record()]), user=importer)
    assert report.statements_left_out == 0
    assert str(report) == "1 task(s) created as drafts"


@pytest.mark.parametrize(
    ("statements", "path", "message"),
    [
        ("all", "$.task_statements", "must be a list, got 'all'"),
        (["8821"], "$.task_statements[0]", "must be a mapping, got '8821'"),
        ([{**NOT_IMPORTED, "statement_id": 0}], "$.task_statements[0].statement_id", "at least 1"),
        (
            [{**NOT_IMPORTED, "statement_id": "77"}],
            "$.task_statements[0].statement_id",
            "must be a whole number, got '77'",
        ),
        (
            [NOT_IMPORTED, {"taxonomy": "ISCO-08", "statement_id": 78}],
            "$.task_statements[1].occupation",
            "is missing",
        ),
        (
            [{**NOT_IMPORTED, "text": "Write code."}],
            "$.task_statements[0].text",
            "is not a field of this record",
        ),
    ],
)
def test_a_badly_shaped_task_statement_is_refused_naming_its_path(
    importer, statements, path, message
):
    record = {**a_valid_record(), "task_statements": statements}
    before = table_sizes()

    with pytest.raises(TaskImportError) as caught:
        import_tasks(as_lines([record]), user=importer)

    (found,) = caught.value.problems
    assert (found.file, found.path) == ("line 1", path)
    assert message in found.message
    assert table_sizes() == before


def test_a_problem_in_a_task_statement_names_the_statement_and_its_field(importer):
    record = {**a_valid_record(), "task_statements": [{**NOT_IMPORTED, "statement_id": -3}]}
    with pytest.raises(TaskImportError) as caught:
        import_tasks(as_lines([record]), user=importer)
    assert (
        f"line 1: task {record['slug']} task statement 1: field 'statement_id': "
        "must be at least 1, got -3 (at $.task_statements[0].statement_id)"
    ) in str(caught.value)
