import io
import json
import zipfile

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.urls import reverse

from audit.models import AuditEvent
from interop.formats import EXPORTERS, IMPORTERS
from occupations.models import Task
from tests.authoring import make_user, make_world

pytestmark = pytest.mark.django_db


def zip_names(content: bytes) -> list[str]:
    return zipfile.ZipFile(io.BytesIO(content)).namelist()


def zip_text(content: bytes, suffix: str) -> str:
    archive = zipfile.ZipFile(io.BytesIO(content))
    [name] = [n for n in archive.namelist() if n.endswith(suffix)]
    return archive.read(name).decode()


def test_the_registry_lists_inspect_healthbench_and_gdpval():
    assert set(EXPORTERS) == {"inspect", "healthbench", "gdpval"}
    assert set(IMPORTERS) == {"healthbench", "gdpval"}


@pytest.mark.parametrize("format_name", ["healthbench", "gdpval"])
def test_the_export_command_leaves_held_out_tasks_out_unless_asked(
    small_suite, tmp_path, format_name
):
    held_out = small_suite.task_versions.get(task__visibility=Task.Visibility.HELD_OUT).task
    out = io.StringIO()

    call_command(
        "export_suite",
        "small",
        "--format",
        format_name,
        "--output",
        str(tmp_path / "a"),
        stdout=out,
    )
    call_command(
        "export_suite",
        "small",
        "--format",
        format_name,
        "--output",
        str(tmp_path / "b"),
        "--include-held-out",
    )

    filename = EXPORTERS[format_name].filename
    assert str(held_out.canary) not in (tmp_path / "a" / filename).read_text()
    assert str(held_out.canary) in (tmp_path / "b" / filename).read_text()
    assert "1 held-out task(s) left out" in out.getvalue()


def test_the_export_command_writes_a_zip_when_asked(small_suite, tmp_path):
    call_command(
        "export_suite", "small", "--format", "healthbench", "--output", str(tmp_path), "--zip"
    )

    assert zip_names((tmp_path / "small-healthbench.zip").read_bytes()) == [
        "small-healthbench/healthbench.jsonl"
    ]


def test_the_export_command_names_an_unknown_suite(seeded, tmp_path):
    with pytest.raises(CommandError, match="No suite with slug 'nope'"):
        call_command("export_suite", "nope", "--format", "gdpval", "--output", str(tmp_path))


def healthbench_line(prompt_id: str, points: int = 5) -> str:
    return json.dumps(
        {
            "prompt": [{"role": "user", "content": "My child has a fever of 39.5 C. What now?"}],
            "rubrics": [
                {
                    "criterion": "Asks the child's age",
                    "points": points,
                    "tags": ["axis:completeness"],
                }
            ],
            "prompt_id": prompt_id,
            "ideal_completions_data": {"ideal_completion": "How old is your child?"},
        }
    )


def test_the_import_command_prints_every_problem_and_writes_nothing(seeded, tmp_path):
    make_user("importer", "author")
    path = tmp_path / "hb.jsonl"
    path.write_text(healthbench_line("good") + "\n" + healthbench_line("bad", points=11) + "\n")
    count = Task.objects.count()

    with pytest.raises(CommandError) as raised:
        call_command(
            "import_suite",
            str(path),
            "--format",
            "healthbench",
            "--as",
            "importer",
            "--occupation",
            "29-1141",
            "--minutes",
            "10",
        )

    assert "line 2: task bad criterion 1: field 'rubrics[0].points'" in str(raised.value)
    assert Task.objects.count() == count


def test_the_import_command_creates_drafts_and_a_dry_run_none(seeded, tmp_path):
    make_user("importer", "author")
    path = tmp_path / "hb.jsonl"
    path.write_text(healthbench_line("fever") + "\n")
    arguments = ["import_suite", str(path), "--format", "healthbench", "--as", "importer"]
    arguments += ["--occupation", "29-1141", "--minutes", "10"]

    call_command(*arguments, "--dry-run", stdout=io.StringIO())
    assert not Task.objects.filter(slug="fever").exists()
    out = io.StringIO()
    call_command(*arguments, stdout=out)

    assert Task.objects.get(slug="fever").status == Task.Status.DRAFT
    assert "before adding them to a suite" in out.getvalue()


def test_an_operator_downloads_a_suite_without_its_held_out_tasks(client, small_suite):
    held_out = small_suite.task_versions.get(task__visibility=Task.Visibility.HELD_OUT).task
    client.force_login(make_user("op", "operator"))

    response = client.get(reverse("interop:export_suite", args=["small", "healthbench"]))

    assert response.status_code == 200 and response["Content-Type"] == "application/zip"
    assert "attachment" in response["Content-Disposition"]
    content = b"".join(response.streaming_content) if response.streaming else response.content
    text = zip_text(content, "healthbench.jsonl")
    assert len(text.splitlines()) == 1 and str(held_out.canary) not in text
    assert not AuditEvent.objects.filter(action=AuditEvent.Action.DOWNLOAD_HELD_OUT).exists()


def test_held_out_tasks_come_with_the_download_only_when_asked_and_it_is_recorded(
    client, small_suite
):
    held_out = small_suite.task_versions.get(task__visibility=Task.Visibility.HELD_OUT).task
    client.force_login(make_user("op", "operator"))

    response = client.get(reverse("interop:export_suite", args=["small", "gdpval"]) + "?held_out=1")

    assert str(held_out.canary) in zip_text(response.content, "gdpval.jsonl")
    event = AuditEvent.objects.get(action=AuditEvent.Action.DOWNLOAD_HELD_OUT)
    assert event.target_id == str(held_out.pk)


def test_the_suite_list_links_each_format(client, small_suite):
    client.force_login(make_user("op", "operator"))

    page = client.get(reverse("occupations:suites")).content.decode()

    for name in EXPORTERS:
        assert reverse("interop:export_suite", args=["small", name]) in page


def test_a_frozen_suite_page_says_how_many_held_out_tasks_are_left_out(client, small_suite):
    small_suite.freeze()
    client.force_login(make_user("op", "operator"))

    page = client.get(reverse("occupations:suite", args=["small"])).content.decode()

    assert "1 held-out task left out" in page
    assert reverse("interop:export_suite", args=["small", "inspect"]) + "?held_out=1" in page


def test_people_who_cannot_see_the_suite_page_cannot_download_it(client, small_suite):
    client.force_login(make_user("writer", "author"))
    assert client.get(reverse("interop:export_suite", args=["small", "gdpval"])).status_code == 403
    client.force_login(make_user("op", "operator"))
    assert client.get(reverse("interop:export_suite", args=["small", "csv"])).status_code == 404


@pytest.fixture
def author(seeded, client):
    world = make_world()
    client.force_login(world.users["author_a"])
    return world


def test_the_old_import_address_leads_to_the_import_page_of_every_format(client, author):
    response = client.get(reverse("occupations:import"))
    assert response.url == reverse("interop:import_tasks")
    page = client.get(response.url).content.decode()
    assert "HealthBench" in page and "GDPval" in page


def test_an_author_imports_healthbench_on_the_page_after_checking_it(client, author):
    url = reverse("interop:import_tasks")
    data = {
        "format": "healthbench",
        "occupation": author.occupation_a.pk,
        "minutes": "15",
        "pass_threshold": "0.6",
        "dry_run": "on",
    }

    checked = client.post(
        url, {**data, "file": SimpleUploadedFile("hb.jsonl", healthbench_line("hb-one").encode())}
    )
    assert "1 task(s) would be created" in checked.content.decode()
    assert not Task.objects.filter(slug="hb-one").exists()
    del data["dry_run"]
    done = client.post(
        url, {**data, "file": SimpleUploadedFile("hb.jsonl", healthbench_line("hb-one").encode())}
    )

    assert done.url == reverse("occupations:my_tasks")
    version = Task.objects.get(slug="hb-one").latest_version()
    assert version.pass_threshold == 0.6 and version.estimated_minutes == 15


def test_the_page_lists_every_problem_and_imports_nothing(client, author):
    url = reverse("interop:import_tasks")
    lines = healthbench_line("one", points=0) + "\n{broken\n" + healthbench_line("two") + "\n"

    page = client.post(
        url,
        {
            "format": "healthbench",
            "file": SimpleUploadedFile("hb.jsonl", lines.encode()),
            "occupation": author.occupation_a.pk,
            "minutes": "10",
        },
    )

    problems = page.context["problems"]
    assert len(problems) == 3
    assert "line 1" in problems[0] and "rubrics[0].points" in problems[0]
    assert "line 1" in problems[1] and "'rubrics': needs at least one" in problems[1]
    assert "line 2" in problems[2] and "not valid JSON" in problems[2]
    assert not Task.objects.filter(slug__in=["one", "two"]).exists()


def test_an_author_cannot_import_into_another_panels_occupation(client, author):
    nurses = Task.objects.none()
    page = client.post(
        reverse("interop:import_tasks"),
        {
            "format": "gdpval",
            "file": SimpleUploadedFile(
                "rows.jsonl",
                json.dumps(
                    {
                        "task_id": "nurse-1",
                        "occupation": "Registered Nurses",
                        "prompt": "Write the handover note.",
                        "rubric_json": json.dumps(
                            [{"rubric_item_id": "a", "score": 3, "criterion": "Covers meds"}]
                        ),
                    }
                ).encode(),
            ),
            "minutes": "30",
            "reference": "To be written.",
        },
    )

    assert any("29-1141 is not in your panels" in p for p in page.context["problems"])
    assert not Task.objects.filter(slug="nurse-1").exists() and not nurses.exists()


def test_gdpval_reference_files_come_in_a_zip_on_the_page(client, author, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("reference_files/a/notes.txt", "Call the client on Monday.")
    row = {
        "task_id": "para-1",
        "occupation": "Paralegals and Legal Assistants",
        "prompt": "Summarise the attached notes for the partner.",
        "reference_files": ["reference_files/a/notes.txt"],
        "rubric_json": json.dumps(
            [{"rubric_item_id": "a", "score": 3, "criterion": "Mentions Monday"}]
        ),
    }

    response = client.post(
        reverse("interop:import_tasks"),
        {
            "format": "gdpval",
            "file": SimpleUploadedFile("rows.jsonl", json.dumps(row).encode()),
            "reference_files": SimpleUploadedFile("files.zip", buffer.getvalue()),
            "minutes": "30",
            "reference": "To be written.",
        },
    )

    assert response.status_code == 302
    [attachment] = Task.objects.get(slug="para-1").latest_version().attachments.all()
    assert attachment.original_name == "notes.txt"


def test_a_reference_files_upload_that_is_not_a_zip_is_refused_by_name(client, author):
    page = client.post(
        reverse("interop:import_tasks"),
        {
            "format": "gdpval",
            "file": SimpleUploadedFile("rows.jsonl", b'{"task_id": "x"}\n'),
            "reference_files": SimpleUploadedFile("files.zip", b"not a zip at all"),
        },
    )

    assert "files.zip is not a zip archive" in " ".join(
        page.context["form"].errors["reference_files"]
    )
