import csv
import io
import json
import uuid
import zipfile
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import IntegrityError

from interop import gdpval
from interop.conversion import FolderFiles, ImportOptions, ZipFiles
from interop.formats import export_zip, import_text
from occupations import attachments, jsonl, workflow
from occupations.jsonl import TaskImportError
from occupations.models import Attachment, Suite, Task, TaskStatement, TaskVersion
from tests.authoring import make_world, publish_through_review, write_draft

pytestmark = pytest.mark.django_db

CSV_TEXT = "Date,Amount\n2025-01-02,120.50\n2025-01-03,80.00\n"


@pytest.fixture
def world(seeded, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return make_world()


@pytest.fixture
def files(tmp_path):
    folder = tmp_path / "gdpval"
    (folder / "reference_files" / "abc").mkdir(parents=True)
    (folder / "reference_files" / "abc" / "ledger.csv").write_text(CSV_TEXT)
    (folder / "reference_files" / "abc" / "memo.txt").write_text("Close the books by Friday.")
    return folder


def gdpval_row(task_id: str = "83d10b06-26d1-4636-a32c-23f92c57f30b", **changes) -> dict:
    """A GDPval row as the published data set holds one (rubric_json is a JSON string)."""
    rubric = [
        {"rubric_item_id": "r1", "score": 2, "criterion": "Totals the ledger to 200.50"},
        {"rubric_item_id": "r2", "score": 1, "criterion": "Names the deadline", "tags": []},
        {"rubric_item_id": "r3", "score": -2, "criterion": "Invents an entry"},
    ]
    row = {
        "task_id": task_id,
        "sector": "Legal",
        "occupation": "Paralegals and Legal Assistants",
        "prompt": "Reconcile the attached ledger and write a memo on what is missing.",
        "reference_files": ["reference_files/abc/ledger.csv", "reference_files/abc/memo.txt"],
        "reference_file_urls": ["https://example.invalid/ledger.csv"],
        "reference_file_hf_uris": ["hf://datasets/x/ledger.csv"],
        "rubric_pretty": "[+2] Totals the ledger\n[+1] Names the deadline",
        "rubric_json": json.dumps(rubric),
    }
    row.update(changes)
    return row


def options(folder, **changes) -> ImportOptions:
    values = {"minutes": 240, "reference": "The panel writes this.", "files": FolderFiles(folder)}
    values.update(changes)
    return ImportOptions(**values)


def as_lines(*rows: dict) -> str:
    return "".join(json.dumps(row) + "\n" for row in rows)


def counts() -> tuple[int, int, int]:
    return Task.objects.count(), TaskVersion.objects.count(), Attachment.objects.count()


def test_a_row_becomes_a_draft_with_its_reference_files_attached(world, files):
    author = world.users["author_a"]
    report = import_text("gdpval", as_lines(gdpval_row()), user=author, options=options(files))

    task = Task.objects.get(slug=report.slugs[0])
    version = task.latest_version()
    assert task.slug == "83d10b06-26d1-4636-a32c-23f92c57f30b"
    assert task.occupation.code == "23-2011"  # matched by its title
    assert version.instructions.startswith("Reconcile the attached ledger")
    assert version.estimated_minutes == 240
    assert version.reference_solution == "The panel writes this."
    assert [(c.points, c.text) for c in version.criteria.all()] == [
        (2, "Totals the ledger to 200.50"),
        (1, "Names the deadline"),
        (-2, "Invents an entry"),
    ]
    attached = list(version.attachments.order_by("created_at", "pk"))
    assert [(a.original_name, a.kind) for a in attached] == [
        ("ledger.csv", "csv"),
        ("memo.txt", "txt"),
    ]
    assert "120.50" in attached[0].extracted_text


def test_csv_rows_with_rubric_json_as_text_are_read(world, files):
    buffer = io.StringIO()
    row = gdpval_row(reference_files=json.dumps(["reference_files/abc/memo.txt"]))
    writer = csv.DictWriter(buffer, fieldnames=list(row))
    writer.writeheader()
    writer.writerow({k: v if isinstance(v, str) else json.dumps(v) for k, v in row.items()})

    report = import_text(
        "gdpval", buffer.getvalue(), user=world.users["author_a"], options=options(files)
    )

    assert len(report.slugs) == 1
    assert Task.objects.get(slug=report.slugs[0]).latest_version().attachments.count() == 1


def test_every_problem_names_its_line_and_the_gdpval_field(world, files):
    too_many = gdpval_row(
        "t2", rubric_json=json.dumps([{"rubric_item_id": "a", "score": 15, "criterion": "x"}])
    )
    unknown = gdpval_row("t3", occupation="Astronaut Pastry Chef")
    missing = gdpval_row("t4", reference_files=["reference_files/abc/nope.pdf"])
    escaping = gdpval_row("t5", reference_files=["../secrets.txt"])
    zero = gdpval_row(
        "t6", rubric_json=json.dumps([{"rubric_item_id": "a", "score": 0, "criterion": "x"}])
    )
    text = as_lines(gdpval_row("t1"), too_many, unknown, missing, escaping, zero)
    before = counts()

    with pytest.raises(TaskImportError) as raised:
        import_text("gdpval", text, user=world.users["author_a"], options=options(files))

    found = [(p.file, p.field) for p in raised.value.problems]
    assert found == [
        ("line 2", "rubric_json[0].score"),
        ("line 3", "occupation"),
        ("line 4", "reference_files[0]"),
        ("line 5", "reference_files[0]"),
        ("line 6", "rubric_json[0].score"),
        ("line 6", "rubric_json"),  # and so it has no criterion with positive points
    ]
    messages = [p.message for p in raised.value.problems]
    assert "between -10 and 10, got 15" in messages[0]
    assert "Astronaut Pastry Chef" in messages[1]
    assert "outside" in messages[3]
    assert counts() == before


def test_a_reference_file_refused_as_an_upload_is_refused_here(world, files):
    (files / "reference_files" / "abc" / "page.txt").write_text("<html><script>x</script></html>")
    row = gdpval_row(reference_files=["reference_files/abc/page.txt"])

    with pytest.raises(TaskImportError) as raised:
        import_text("gdpval", as_lines(row), user=world.users["author_a"], options=options(files))

    [problem] = raised.value.problems
    assert problem.field == "reference_files[0]" and "web page" in problem.message


def test_without_a_reference_solution_the_row_says_how_to_give_one(world, files):
    with pytest.raises(TaskImportError) as raised:
        import_text(
            "gdpval",
            as_lines(gdpval_row()),
            user=world.users["author_a"],
            options=options(files, reference=""),
        )
    assert [p.field for p in raised.value.problems] == ["reference_solution"]


def test_a_dry_run_checks_the_files_and_writes_nothing(world, files):
    before = counts()
    report = import_text(
        "gdpval",
        as_lines(gdpval_row()),
        user=world.users["author_a"],
        options=options(files),
        dry_run=True,
    )
    assert report.created == 1 and counts() == before


def test_reference_files_are_read_from_a_zip(world, files):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("reference_files/abc/ledger.csv", CSV_TEXT)
        archive.writestr("reference_files/abc/memo.txt", "Close the books by Friday.")
    zipped = ZipFiles(buffer.getvalue(), "files.zip")

    report = import_text(
        "gdpval",
        as_lines(gdpval_row()),
        user=world.users["author_a"],
        options=options(files, files=zipped),
    )

    assert Task.objects.get(slug=report.slugs[0]).latest_version().attachments.count() == 2


def published(world, *, title: str, visibility: str, files: dict[str, bytes]) -> TaskVersion:
    author = world.users["author_a"]
    version = write_draft(author, world.occupation_a, title=title, visibility=visibility)
    for name, data in files.items():
        attachments.add_attachment(version, SimpleUploadedFile(name, data), author)
    task = publish_through_review(
        version, author, [world.users["reviewer_a"], world.users["reviewer_a2"]]
    )
    workflow.publish(task, user=world.users["reviewer_a"])
    return TaskVersion.objects.get(pk=version.pk)


@pytest.fixture
def suite(world) -> Suite:
    public = published(
        world,
        title="Reconcile the ledger",
        visibility="public",
        files={
            "ledger.csv": CSV_TEXT.encode(),
            "notes.txt": b"First note.",
            "x/notes.txt": b"Second note.",
        },
    )
    held_out = published(
        world,
        title="Secret chronology",
        visibility="held_out",
        files={"memo.txt": b"Held-out memo."},
    )
    suite = Suite.objects.create(name="Ledger", slug="ledger")
    suite.task_versions.set([public, held_out])
    return suite


def test_export_then_import_restores_every_field_and_attachment(world, suite, tmp_path):
    originals = {v.task.slug: v for v in suite.task_versions.select_related("task")}
    canaries = {slug: v.task.canary for slug, v in originals.items()}
    out = tmp_path / "out"
    gdpval.write_suite(suite, out, include_held_out=True)
    for version in originals.values():
        Task.objects.filter(pk=version.task_id).update(canary=uuid.uuid4())

    report = import_text(
        "gdpval",
        (out / gdpval.FILENAME).read_text(encoding="utf-8"),
        user=world.users["author_a"],
        options=ImportOptions(prefix="copy-", files=FolderFiles(out)),
    )

    assert sorted(s.removeprefix("copy-") for s in report.slugs) == sorted(originals)
    for slug, version in originals.items():
        copy = Task.objects.get(slug=f"copy-{slug}")
        copied = copy.latest_version()
        assert (copy.title, copy.occupation, copy.visibility) == (
            version.task.title,
            version.task.occupation,
            version.task.visibility,
        )
        for name in TaskVersion.CONTENT_FIELDS:
            assert getattr(copied, name) == getattr(version, name), name
        assert [(c.text, c.points, c.tag, c.critical) for c in copied.criteria.all()] == [
            (c.text, c.points, c.tag, c.critical) for c in version.criteria.all()
        ]

        def files_of(v):
            return [
                (a.original_name, a.kind, a.sha256, a.extracted_text)
                for a in v.attachments.order_by("created_at", "pk")
            ]

        assert files_of(copied) == files_of(version)
        if version.task.is_held_out:
            assert copy.canary == canaries[slug]


def test_the_export_writes_rubric_json_as_text_with_stable_ids(suite, tmp_path):
    gdpval.write_suite(suite, tmp_path / "a", include_held_out=False)
    gdpval.write_suite(suite, tmp_path / "b", include_held_out=False)

    first = (tmp_path / "a" / gdpval.FILENAME).read_text(encoding="utf-8")
    assert first == (tmp_path / "b" / gdpval.FILENAME).read_text(encoding="utf-8")
    [row] = [json.loads(line) for line in first.splitlines()]
    rubric = json.loads(row["rubric_json"])
    assert (
        isinstance(row["rubric_json"], str)
        and len({item["rubric_item_id"] for item in rubric}) == 4
    )
    assert row["occupation"] == "Paralegals and Legal Assistants"
    for path in row["reference_files"]:
        assert (tmp_path / "a" / path).is_file()
    assert "Secret chronology" not in first
    assert len(row["reference_files"]) == 3


def csv_of(*rows: dict) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]))
    writer.writeheader()
    for row in rows:
        writer.writerow({k: v if isinstance(v, str) else json.dumps(v) for k, v in row.items()})
    return buffer.getvalue()


def test_a_csv_prompt_longer_than_csvs_default_field_limit_is_read(world, files):
    long_prompt = "Reconcile the ledger line by line. " * 6000  # over 131,072 characters
    text = csv_of(gdpval_row(prompt=long_prompt, reference_files=[]))

    report = import_text(
        "gdpval", text, user=world.users["author_a"], options=options(files), dry_run=True
    )

    assert report.created == 1


def test_a_csv_row_that_cannot_be_read_is_a_problem_naming_its_row(world, files, settings):
    settings.EVALBUILDER_MAX_IMPORT_BYTES = 5_000
    text = csv_of(gdpval_row("t1", reference_files=[]), gdpval_row("t2", prompt="x" * 6_000))
    try:
        with pytest.raises(TaskImportError) as raised:
            import_text("gdpval", text, user=world.users["author_a"], options=options(files))
    finally:
        csv.field_size_limit(131_072)

    [found] = raised.value.problems
    assert (found.file, found.field) == ("row 3", "-")
    assert "cannot be read as CSV (field larger than field limit (5000))" in found.message


def test_the_sites_export_zip_uploads_back_as_the_reference_files(world, suite):
    zipped = export_zip(suite, "gdpval", include_held_out=False)
    with zipfile.ZipFile(io.BytesIO(zipped)) as archive:
        text = archive.read("ledger-gdpval/gdpval.jsonl").decode()

    report = import_text(
        "gdpval",
        text,
        user=world.users["author_a"],
        options=ImportOptions(prefix="copy-", files=ZipFiles(zipped, "ledger-gdpval.zip")),
    )

    assert report.created == 1
    copy = Task.objects.get(slug=f"copy-{suite.task_versions.first().task.slug}")
    assert copy.latest_version().attachments.count() > 0


def test_fields_missing_from_the_evalbuilder_object_are_named_inside_it(world, files):
    row = gdpval_row(reference_files=[], evalbuilder={"slug": "x", "title": "A title"})

    with pytest.raises(TaskImportError) as raised:
        import_text("gdpval", as_lines(row), user=world.users["author_a"], options=options(files))

    fields = {p.field for p in raised.value.problems}
    assert "evalbuilder.instructions" in fields and "evalbuilder.occupation" in fields
    assert not fields & {"instructions", "occupation", "prompt"}


def test_an_export_carries_the_cited_task_statements_and_an_import_cites_them_again(
    world, tmp_path
):
    author = world.users["author_a"]
    version = write_draft(author, world.occupation_a, title="Cite statements")
    cited = TaskStatement.objects.create(
        occupation=world.occupation_a, statement_id=901, text="Prepare legal documents."
    )
    TaskStatement.objects.create(
        occupation=world.occupation_a, statement_id=902, text="Call clients."
    )
    version.task_statements.set([cited])
    suite = Suite.objects.create(name="Cites", slug="cites")
    suite.task_versions.set([version])
    gdpval.write_suite(suite, tmp_path / "out", include_held_out=True)
    [row] = [json.loads(line) for line in (tmp_path / "out" / gdpval.FILENAME).open()]
    assert row["evalbuilder"]["task_statements"] == [
        {"taxonomy": str(world.occupation_a.taxonomy), "occupation": "23-2011", "statement_id": 901}
    ]
    row["evalbuilder"]["task_statements"].append(
        {"taxonomy": "ISCO-08", "occupation": "2611", "statement_id": 77}
    )

    report = import_text(
        "gdpval",
        as_lines(row),
        user=author,
        options=ImportOptions(prefix="copy-", files=FolderFiles(tmp_path / "out")),
    )

    copy = Task.objects.get(slug=report.slugs[0]).latest_version()
    assert list(copy.task_statements.all()) == [cited]
    assert copy.number == 1


def test_a_failed_write_leaves_no_stored_reference_file_behind(world, files, monkeypatch, settings):
    def clash(**kwargs):
        raise IntegrityError("duplicate key value violates unique constraint")

    monkeypatch.setattr(jsonl.TaskEvent.objects, "create", clash)
    before = counts()

    with pytest.raises(TaskImportError) as raised:
        import_text(
            "gdpval", as_lines(gdpval_row()), user=world.users["author_a"], options=options(files)
        )

    assert "was made while this import ran" in str(raised.value.problems[0])
    stored = [p for p in Path(settings.MEDIA_ROOT).rglob("*") if p.is_file()]
    assert stored == [] and counts() == before
