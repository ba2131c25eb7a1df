"""The authoring pages as experts use them, through the test client (no JavaScript)."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from graders.models import Grader
from occupations import workflow
from occupations.models import Suite, Task, TaskVersion
from occupations.quality import check_version
from tests.authoring import (
    GOOD_INSTRUCTIONS,
    jsonl_task_line,
    make_world,
    publish_through_review,
    resave,
    write_draft,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(seeded, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return make_world()


def editor_post(version: TaskVersion, criteria: list[tuple[str, int, str, bool]], **fields):
    data = {
        "revision": version.revision,
        "version_number": version.number,
        "title": version.task.title,
        "visibility": version.task.visibility,
        "instructions": GOOD_INSTRUCTIONS,
        "context": "Letter of 14 March: termination.",
        "deliverable": "A table of events.",
        "estimated_minutes": 90,
        "minutes_estimate_method": "Timed two paralegals",
        "reference_solution": "14 March: termination letter.",
        "pass_threshold": 0.7,
        "criteria-TOTAL_FORMS": len(criteria) + 1,
        "criteria-INITIAL_FORMS": 0,
        "criteria-MIN_NUM_FORMS": 0,
        "criteria-MAX_NUM_FORMS": 1000,
    }
    for index, (text, points, tag, critical) in enumerate(criteria):
        data.update(
            {
                f"criteria-{index}-text": text,
                f"criteria-{index}-points": points,
                f"criteria-{index}-tag": tag,
                f"criteria-{index}-ORDER": index + 1,
            }
        )
        if critical:
            data[f"criteria-{index}-critical"] = "on"
    data.update(fields)
    return data


SIX_CRITERIA = [
    ("Lists the 14 March termination letter", 5, "accuracy", True),
    ("Gives a source for every entry", 3, "completeness", False),
    ("Orders the events by date", 2, "accuracy", False),
    ("Flags the conflicting hearing dates", 4, "reasoning", False),
    ("Uses a table with date, event and source", 1, "instruction_following", False),
    ("Invents a settlement offer", -6, "accuracy", False),
]


def test_an_author_creates_writes_and_submits_a_task_without_javascript(client, world):
    client.force_login(world.users["author_a"])
    page = client.get(reverse("occupations:new_task"), {"q": "paralegal"})
    assert page.status_code == 200
    options = [str(o) for o in page.context["form"].fields["occupation"].queryset]
    assert options == ["23-2011 Paralegals and Legal Assistants"]
    response = client.post(
        reverse("occupations:new_task"),
        {
            "occupation": world.occupation_a.pk,
            "title": "Build a chronology",
            "visibility": "public",
        },
    )
    task = Task.objects.get(title="Build a chronology")
    assert response.url == reverse("occupations:edit", args=[task.slug])
    version = task.latest_version()
    response = client.post(
        reverse("occupations:edit", args=[task.slug]), editor_post(version, SIX_CRITERIA)
    )
    assert response.status_code == 302
    version.refresh_from_db()
    assert version.revision == 1
    first = version.criteria.order_by("order").first()
    assert (first.order, first.points, first.critical) == (1, 5, True)
    assert version.criteria.count() == 6
    page = client.get(reverse("occupations:edit", args=[task.slug]))
    assert page.context["positive_total"] == 15
    response = client.post(
        reverse("occupations:edit", args=[task.slug]),
        editor_post(version, SIX_CRITERIA, submit="1"),
    )
    assert response.url == reverse("occupations:task", args=[task.slug])
    task.refresh_from_db()
    assert task.status == Task.Status.IN_REVIEW


def test_the_editor_reports_field_errors_at_the_top_and_keeps_the_input(client, world):
    client.force_login(world.users["author_a"])
    version = write_draft(world.users["author_a"], world.occupation_a)
    bad = editor_post(
        version, [("Counts zero", 0, "accuracy", False)], estimated_minutes="", title="Kept title"
    )
    page = client.post(reverse("occupations:edit", args=[version.task.slug]), bad)
    assert page.status_code == 200
    html = page.content.decode()
    assert "There is a problem" in html
    assert 'href="#id_estimated_minutes"' in html
    assert 'href="#id_criteria-0-points"' in html
    assert "Points cannot be 0" in html
    assert 'value="Kept title"' in html
    version.refresh_from_db()
    assert version.revision == 1, "nothing was saved"


def test_a_stale_editor_is_refused_and_its_text_is_not_lost(client, world):
    client.force_login(world.users["author_a"])
    version = write_draft(world.users["author_a"], world.occupation_a)
    stale = editor_post(version, SIX_CRITERIA, deliverable="Mine")
    url = reverse("occupations:edit", args=[version.task.slug])
    assert (
        client.post(url, editor_post(version, SIX_CRITERIA, deliverable="Theirs")).status_code
        == 302
    )
    page = client.post(url, stale)
    assert page.status_code == 200
    assert "Your changes were not saved" in page.content.decode()
    assert page.context["form"]["deliverable"].value() == "Mine"
    version.refresh_from_db()
    assert version.deliverable == "Theirs"
    auto = client.post(url, stale, HTTP_X_REQUESTED_WITH="fetch")
    assert auto.status_code == 409
    fresh = editor_post(version, SIX_CRITERIA, deliverable="Autosaved")
    saved = client.post(url, fresh, HTTP_X_REQUESTED_WITH="fetch")
    assert saved.json() == {"revision": version.revision + 1, "saved": True}


def test_markdown_preview_is_sanitised(client, world):
    client.force_login(world.users["author_a"])
    version = write_draft(
        world.users["author_a"],
        world.occupation_a,
        instructions=GOOD_INSTRUCTIONS + "\n\n**Bold** <script>alert(1)</script>"
        "[x](javascript:alert(2))",
    )
    html = client.get(reverse("occupations:task", args=[version.task.slug])).content.decode()
    assert "<strong>Bold</strong>" in html
    assert "<script>alert(1)" not in html
    assert "javascript:alert(2)" not in html


def test_reviewers_approve_from_their_queue_and_publish(client, world):
    author = world.users["author_a"]
    version = write_draft(author, world.occupation_a)
    workflow.submit(version, user=author)
    slug = version.task.slug
    for name in ("reviewer_a", "reviewer_a2"):
        client.force_login(world.users[name])
        queue = client.get(reverse("occupations:review_queue"))
        assert [t.slug for t in queue.context["tasks"]] == [slug]
        client.post(reverse("occupations:review", args=[slug]), {"decision": "approve"})
        assert not client.get(reverse("occupations:review_queue")).context["tasks"]
    client.post(reverse("occupations:publish", args=[slug]))
    task = Task.objects.get(slug=slug)
    assert task.status == Task.Status.PUBLISHED
    client.force_login(author)
    assert not client.get(reverse("occupations:review_queue")).context["tasks"]


def test_comments_anchor_to_a_criterion_and_versions_can_be_compared(client, world):
    author, reviewer = world.users["author_a"], world.users["reviewer_a"]
    version = write_draft(author, world.occupation_a)
    workflow.submit(version, user=author)
    criterion = version.criteria.get(order=2)
    client.force_login(reviewer)
    client.post(
        reverse("occupations:comment", args=[version.task.slug]),
        {"version": version.number, "criterion": criterion.pk, "body": "Which documents?"},
    )
    comment = version.comments.get()
    assert (comment.criterion, comment.author) == (criterion, reviewer)
    workflow.review(version, reviewer=reviewer, decision="request_changes", note="Sources.")
    draft = workflow.start_new_version(version.task, user=author)
    resave(
        draft,
        author,
        criteria=[workflow.CriterionDraft("Names the source of every entry", 3)],
        deliverable="A table with sources.",
    )
    client.force_login(author)
    editor = client.get(reverse("occupations:edit", args=[version.task.slug])).content.decode()
    assert "What reviewers said about version 1" in editor
    assert "Which documents?" in editor and "Sources." in editor
    client.force_login(reviewer)
    page = client.get(reverse("occupations:diff", args=[version.task.slug]))
    sections = dict(page.context["sections"])
    assert "-A table: date, event, source document." in sections["deliverable"]
    assert "+A table with sources." in sections["deliverable"]
    assert any(line.startswith("+[+3] Names the source") for line in sections["rubric"])


def test_attachments_are_checked_by_content_and_served_safely(client, world):
    author = world.users["author_a"]
    version = write_draft(author, world.occupation_a)
    client.force_login(author)
    url = reverse("occupations:upload_attachment", args=[version.task.slug])
    client.post(url, {"file": SimpleUploadedFile("ledger.csv", b"date,amount\n2026-01-02,10\n")})
    client.post(url, {"file": SimpleUploadedFile("evil.pdf", b"<html><script>x</script>")})
    attachment = version.attachments.get()
    assert attachment.kind == "csv"
    assert "2026-01-02" in attachment.extracted_text
    download = client.get(reverse("occupations:attachment", args=[attachment.pk]))
    assert download["Content-Type"] == "application/octet-stream"
    assert download["X-Content-Type-Options"] == "nosniff"
    assert "attachment" in download["Content-Disposition"]
    client.force_login(world.users["author_b"])
    assert client.get(reverse("occupations:attachment", args=[attachment.pk])).status_code == 404


def test_calibration_shows_the_reference_passing_and_an_empty_answer_failing(
    client, world, make_endpoint
):
    Grader.objects.create(name="Simulated judge", judge=make_endpoint("sim-judge"))
    author = world.users["author_a"]
    version = write_draft(
        author,
        world.occupation_a,
        reference_solution="Chronology: 14 March termination letter listed as an event; "
        "the source document of every entry is given; the conflicting hearing dates are "
        "flagged.",
    )
    client.force_login(author)
    page = client.post(reverse("graders:calibrate", args=[version.task.slug]))
    result = page.context["result"]
    assert result.reference_score >= version.pass_threshold
    assert result.empty_score == 0
    assert result.passes
    assert not any(check.misfires for check in result.checks)
    assert "The rubric behaves" in page.content.decode()


def test_operators_assemble_suites_from_published_versions(client, world):
    author = world.users["author_a"]
    reviewers = [world.users["reviewer_a"], world.users["reviewer_a2"]]
    task = publish_through_review(write_draft(author, world.occupation_a), author, reviewers)
    workflow.publish(task, user=reviewers[0])
    unpublished = write_draft(author, world.occupation_a, title="Unfinished")
    client.force_login(world.users["operator"])
    form = client.get(reverse("occupations:new_suite")).context["form"]
    choices = set(form.fields["task_versions"].queryset)
    assert task.latest_version() in choices
    assert unpublished not in choices
    response = client.post(
        reverse("occupations:new_suite"),
        {"name": "Legal 2026", "slug": "legal-2026", "task_versions": [task.latest_version().pk]},
    )
    assert response.url == reverse("occupations:suite", args=["legal-2026"])
    suite = Suite.objects.get(slug="legal-2026")
    assert list(suite.task_versions.all()) == [task.latest_version()]
    suite.freeze()
    page = client.get(reverse("occupations:suite", args=["legal-2026"]))
    assert "Frozen on" in page.content.decode()
    client.force_login(world.users["author_a"])
    assert client.get(reverse("occupations:suites")).status_code == 403


def test_a_panel_page_shows_coverage_of_its_employment(client, world):
    client.force_login(world.users["reviewer_a"])
    page = client.get(reverse("occupations:panel", args=["legal"]))
    assert page.status_code == 200
    codes = [o.code for o in page.context["occupations"]]
    assert codes == ["23-1011", "23-2011"]
    # The seeds publish a paralegal task; lawyers have none yet.
    paralegals, lawyers = 367_220, 747_750
    assert page.context["coverage"] == pytest.approx(paralegals / (paralegals + lawyers))


def test_authors_import_tasks_into_their_panels_only(client, world):
    client.force_login(world.users["author_a"])
    url = reverse("occupations:import")
    good = SimpleUploadedFile("tasks.jsonl", (jsonl_task_line("imported-one") + "\n").encode())
    checked = client.post(url, {"file": good, "dry_run": "on"})
    assert "1 task(s) would be created" in checked.content.decode()
    assert not Task.objects.filter(slug="imported-one").exists()
    good.seek(0)
    assert client.post(url, {"file": good}).url == reverse("occupations:my_tasks")
    imported = Task.objects.get(slug="imported-one")
    assert imported.status == Task.Status.DRAFT
    assert world.users["author_a"] in imported.owners.all()
    nurses = SimpleUploadedFile(
        "tasks.jsonl", (jsonl_task_line("nursing-one", "29-1141") + "\n").encode()
    )
    page = client.post(url, {"file": nurses})
    assert "29-1141 is not in your panels" in page.content.decode()
    assert not Task.objects.filter(slug="nursing-one").exists()
    broken = SimpleUploadedFile("tasks.jsonl", b"{not json}\n")
    assert "line 1" in client.post(url, {"file": broken}).content.decode()


def test_export_holds_only_what_the_user_may_read_and_no_held_out_unless_asked(client, world):
    author = world.users["author_a"]
    write_draft(author, world.occupation_a, title="Public one")
    held = write_draft(author, world.occupation_a, title="Secret one", visibility="held_out")
    client.force_login(author)
    body = client.get(reverse("occupations:export")).content.decode()
    assert "Public one" in body
    assert "Secret one" not in body and str(held.task.canary) not in body
    assert (
        "Secret one"
        in client.get(reverse("occupations:export"), {"held_out": "1"}).content.decode()
    )
    client.force_login(world.users["author_b"])
    other = client.get(reverse("occupations:export"), {"held_out": "1"}).content.decode()
    assert "Public one" not in other and "Secret one" not in other


def test_a_save_that_arrives_after_the_version_was_frozen_keeps_the_text_on_screen(client, world):
    author = world.users["author_a"]
    version = write_draft(author, world.occupation_a)
    client.force_login(author)
    late = editor_post(version, SIX_CRITERIA, deliverable="Typed while someone submitted")
    workflow.submit(version, user=author)
    page = client.post(reverse("occupations:edit", args=[version.task.slug]), late)
    assert page.status_code == 200
    assert "Your changes were not saved" in page.content.decode()
    assert page.context["form"]["deliverable"].value() == "Typed while someone submitted"


def test_bad_version_numbers_in_requests_are_not_found(client, world):
    author = world.users["author_a"]
    version = write_draft(author, world.occupation_a)
    workflow.submit(version, user=author)
    workflow.review(
        version, reviewer=world.users["reviewer_a"], decision="request_changes", note="More."
    )
    workflow.start_new_version(version.task, user=author)
    client.force_login(world.users["reviewer_a"])
    slug = version.task.slug
    assert client.get(reverse("occupations:diff", args=[slug])).status_code == 200
    assert client.get(reverse("occupations:diff", args=[slug]), {"a": "x"}).status_code == 404
    response = client.post(reverse("occupations:comment", args=[slug]), {"version": "x"})
    assert response.status_code == 404


def test_a_review_or_comment_that_fails_comes_back_with_what_was_typed(client, world):
    author = world.users["author_a"]
    version = write_draft(author, world.occupation_a)
    workflow.submit(version, user=author)
    client.force_login(world.users["reviewer_a"])
    slug = version.task.slug
    page = client.post(
        reverse("occupations:review", args=[slug]), {"note": "Half a thought about sources"}
    )
    assert page.status_code == 200
    assert "There is a problem" in page.content.decode()
    assert page.context["review_form"]["note"].value() == "Half a thought about sources"
    page = client.post(
        reverse("occupations:review", args=[slug]), {"decision": "request_changes", "note": ""}
    )
    assert page.context["review_form"].errors["note"] == ["Say what should change."]
    page = client.post(reverse("occupations:comment", args=[slug]), {"version": 1, "body": ""})
    assert page.status_code == 200
    assert "There is a problem" in page.content.decode()


def test_saving_a_draft_keeps_comments_anchored_and_reorders_in_place(client, world):
    author = world.users["author_a"]
    version = write_draft(author, world.occupation_a)
    first, second = version.criteria.order_by("order")[:2]
    workflow.comment(version, user=world.users["reviewer_a"], body="Tighten", criterion=second)
    client.force_login(author)
    url = reverse("occupations:edit", args=[version.task.slug])
    form = client.get(url).context["rubric"]
    data = editor_post(version, [])
    data.update(
        {
            key: value
            for index, row in enumerate(form.initial)
            for key, value in {
                f"criteria-{index}-criterion_id": row["criterion_id"],
                f"criteria-{index}-text": row["text"],
                f"criteria-{index}-points": row["points"],
                f"criteria-{index}-tag": row["tag"],
                # The first two swap places.
                f"criteria-{index}-ORDER": {0: 2, 1: 1}.get(index, index + 1),
            }.items()
        }
    )
    data["criteria-TOTAL_FORMS"] = len(form.initial)
    data["criteria-1-text"] = "Gives the source document of every entry, by number"
    assert client.post(url, data).status_code == 302
    second.refresh_from_db()
    first.refresh_from_db()
    assert (second.order, first.order) == (1, 2)
    assert second.text.endswith("by number")
    assert version.comments.get().criterion == second


def test_submission_waits_for_a_passing_calibration_of_the_current_text(
    client, world, make_endpoint, settings
):
    settings.EVALBUILDER_REQUIRE_CALIBRATION = True
    Grader.objects.create(name="Simulated judge", judge=make_endpoint("sim-judge"))
    author = world.users["author_a"]
    reference = (
        "Chronology: 14 March termination letter listed as an event; the source document of "
        "every entry is given; the conflicting hearing dates are flagged."
    )
    version = write_draft(author, world.occupation_a, reference_solution=reference)
    with pytest.raises(workflow.NotReadyError) as caught:
        workflow.submit(version, user=author)
    assert [p.field for p in caught.value.problems] == ["calibration"]
    client.force_login(author)
    client.post(reverse("graders:calibrate", args=[version.task.slug]))
    version.refresh_from_db()
    assert version.calibration["passed"] is True
    # An edit to what the grader reads asks for a new calibration ...
    edited = resave(version, author, reference_solution="Nothing useful.")
    assert [p.field for p in check_version(edited)] == ["calibration"]
    client.post(reverse("graders:calibrate", args=[version.task.slug]))
    edited.refresh_from_db()
    assert edited.calibration["passed"] is False, "the useless reference fails calibration"
    assert "calibration failed" in check_version(edited)[0].message
    # ... and the calibrated text, saved again unchanged, can be submitted.
    restored = resave(edited, author, reference_solution=reference)
    client.post(reverse("graders:calibrate", args=[version.task.slug]))
    restored.refresh_from_db()
    unchanged = resave(restored, author)
    workflow.submit(unchanged, user=author)
    unchanged.refresh_from_db()
    assert unchanged.is_locked
