"""The audit trail: what is recorded, by whom and from where; that it cannot be edited; and
the administrators' pages that browse and export it."""

import csv
import io
import json

import pytest
from celery.signals import task_postrun, task_prerun
from django.contrib.auth.models import Group, Permission
from django.core.management import call_command
from django.db import connection, transaction
from django.db.utils import DatabaseError
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from django.utils.functional import SimpleLazyObject
from django_celery_beat.models import IntervalSchedule, PeriodicTask
from django_otp.plugins.otp_totp.models import TOTPDevice

from audit import trail
from audit.middleware import AuditContextMiddleware
from audit.models import AuditEvent, ImmutableEventError
from evalbuilder.csv_cells import spreadsheet_safe
from graders import validation
from graders.models import ExpertQueueItem, Grade, Grader
from occupations import permissions, workflow
from occupations.models import Attachment, Panel, RubricCriterion, Suite, Task, TaskVersion
from reports.models import Release
from reports.selectors import default_taxonomy
from runs import services as run_services
from runs.models import Run, Sample, Schedule
from tests.authoring import (
    current_criteria,
    make_user,
    make_world,
    publish_through_review,
    resave,
    write_draft,
)
from tests.test_validation import World as ValidationWorld

pytestmark = pytest.mark.django_db

CANARY_PHRASE = "Quillfeather reconciliation of the Marrowby ledger"


@pytest.fixture
def world(seeded):
    return make_world()


class NewEvents:
    """The events recorded after a mark (the start of the test, or a call of mark())."""

    def __init__(self) -> None:
        self.mark()

    def mark(self) -> None:
        self.last = AuditEvent.objects.order_by("-pk").values_list("pk", flat=True).first() or 0

    def __call__(self, **filters) -> list[AuditEvent]:
        return list(AuditEvent.objects.filter(pk__gt=self.last, **filters).order_by("pk"))


@pytest.fixture
def since() -> NewEvents:
    return NewEvents()


def editor_data(version: TaskVersion, **changes) -> dict:
    """What the editor posts to save the draft as it stands, with `changes` made."""
    task = Task.objects.get(pk=version.task_id)
    criteria = list(version.criteria.order_by("order"))
    data = {
        "revision": version.revision,
        "version_number": version.number,
        "title": task.title,
        "visibility": task.visibility,
        **{name: getattr(version, name) for name in TaskVersion.CONTENT_FIELDS},
        "criteria-TOTAL_FORMS": len(criteria),
        "criteria-INITIAL_FORMS": len(criteria),
        "criteria-MIN_NUM_FORMS": 0,
        "criteria-MAX_NUM_FORMS": 1000,
    }
    for index, criterion in enumerate(criteria):
        data.update(
            {
                f"criteria-{index}-criterion_id": criterion.pk,
                f"criteria-{index}-text": criterion.text,
                f"criteria-{index}-points": criterion.points,
                f"criteria-{index}-tag": criterion.tag,
                f"criteria-{index}-ORDER": index + 1,
            }
        )
        if criterion.critical:
            data[f"criteria-{index}-critical"] = "on"
    data.update(changes)
    return data


# --- changes made through the pages ---------------------------------------------------------


def test_a_task_created_on_its_page_is_recorded_with_its_author_and_address(client, world, since):
    author = world.users["author_a"]
    client.force_login(author)
    response = client.post(
        reverse("occupations:new_task"),
        {
            "occupation": world.occupation_a.pk,
            "title": "Bank reconciliation",
            "visibility": "public",
        },
    )
    assert response.status_code == 302
    task = Task.objects.get(title="Bank reconciliation")
    created = since(action="create", target_type__startswith="occupations.")
    assert [(e.target_type, e.target_id) for e in created] == [
        ("occupations.task", str(task.pk)),
        ("occupations.taskversion", str(task.latest_version().pk)),
    ]
    for event in created:
        assert (event.actor_id, event.actor_username) == (author.pk, "author_a")
        assert (event.address, event.outcome, event.source) == ("127.0.0.1", "success", "web")
        assert (event.method, event.path) == ("POST", reverse("occupations:new_task"))
    assert created[0].target_label == task.slug
    assert created[0].details == {"values": {"status": "draft", "visibility": "public"}}


def test_an_edited_draft_records_which_fields_changed_and_an_unchanged_save_records_nothing(
    client, world, since
):
    author = world.users["author_a"]
    version = write_draft(author, world.occupation_a)
    client.force_login(author)
    url = reverse("occupations:edit", args=[version.task.slug])
    since.mark()
    client.post(url, editor_data(version, deliverable="A table with a column of sources."))
    [edit] = since(target_type="occupations.taskversion")
    assert (edit.action, edit.actor_username, edit.address) == ("update", "author_a", "127.0.0.1")
    assert edit.details == {"fields": ["deliverable"]}, "names of text fields, never their text"

    version.refresh_from_db()
    since.mark()
    response = client.post(url, editor_data(version), HTTP_X_REQUESTED_WITH="fetch")
    assert response.json()["saved"] is True
    assert not since(), "an autosave that changes nothing leaves no event"


def test_publishing_records_a_transition_from_approved_to_published(client, world, since):
    author, first, second = (world.users[u] for u in ("author_a", "reviewer_a", "reviewer_a2"))
    task = publish_through_review(write_draft(author, world.occupation_a), author, [first, second])
    client.force_login(first)
    since.mark()
    client.post(reverse("occupations:publish", args=[task.slug]))
    [published] = since(target_type="occupations.task")
    assert published.action == "transition"
    assert published.details["field"] == "status"
    assert (published.details["from"], published.details["to"]) == ("approved", "published")
    assert published.details["changes"]["published_version"] == {
        "from": None,
        "to": task.latest_version().pk,
    }
    assert (published.actor_username, published.address) == ("reviewer_a", "127.0.0.1")


def test_a_refused_action_changes_nothing_and_records_no_change(client, world, since):
    version = write_draft(world.users["author_a"], world.occupation_a)
    client.force_login(world.users["author_b"])  # of the other panel
    since.mark()
    response = client.post(reverse("occupations:publish", args=[version.task.slug]))
    assert response.status_code == 404
    assert not since(action__in=["create", "update", "transition", "delete"])


# --- changes made elsewhere -------------------------------------------------------------------


def test_state_changes_of_graders_schedules_and_releases_are_transitions(
    world, small_suite, make_endpoint, since
):
    grader = Grader.objects.create(name="Judge", judge=make_endpoint("judge"))
    schedule = Schedule.objects.create(name="Weekly", suite=small_suite)
    release = Release.objects.create(
        series="ai-and-work",
        version=1,
        title="AI and work",
        suite=small_suite,
        grader=grader,
        taxonomy=default_taxonomy(),
        period_start="2024-01-01",
        period_end="2024-12-31",
        disclosure_min_tasks=5,
        prepared_by=world.users["analyst"],
    )
    grader.is_active = False
    grader.save()
    schedule.enabled = False
    schedule.save()
    release.status = Release.Status.DRAFT
    release.save()
    transitions = [
        (e.target_type, e.details["field"], e.details["from"], e.details["to"])
        for e in since(action="transition")
    ]
    assert transitions == [
        ("graders.grader", "is_active", True, False),
        ("runs.schedule", "enabled", True, False),
        ("reports.release", "status", "preparing", "draft"),
    ]
    assert since(action="create", target_type="reports.release")[0].target_label == "ai-and-work-v1"


def test_changes_outside_a_request_are_recorded_as_a_command_without_an_actor(
    world, small_suite, since
):
    schedule = Schedule.objects.create(name="Nightly", suite=small_suite)
    schedule.delete()
    [created, deleted] = since(target_type="runs.schedule")
    assert (created.action, deleted.action) == ("create", "delete")
    assert (deleted.source, deleted.actor_id, deleted.address, deleted.path) == (
        "command",
        None,
        None,
        "",
    )
    assert deleted.target_label == "Nightly"


def test_deleting_a_panel_records_its_memberships_as_deleted_through_it(world, since):
    panel = world.panel_b
    pk = panel.pk
    panel.delete()
    deleted = {e.target_type: e for e in since(action="delete")}
    assert set(deleted) == {"occupations.panelmembership", "occupations.panel"}
    assert deleted["occupations.panelmembership"].details == {"via": f"occupations.panel #{pk}"}
    assert deleted["occupations.panel"].details == {}
    assert deleted["occupations.panel"].target_id == str(pk)


def test_changes_made_by_a_worker_task_name_the_worker_and_the_task(world, small_suite, since):
    from reports.tasks import fill_release as task

    task_prerun.send(sender=task, task_id="t-1", task=task, args=(), kwargs={})
    try:
        Schedule.objects.create(name="From a worker", suite=small_suite)
    finally:
        task_postrun.send(sender=task, task_id="t-1", task=task, args=(), kwargs={})
    Schedule.objects.create(name="After it", suite=small_suite)
    during, after = since(target_type="runs.schedule")
    assert (during.source, during.details["task"], during.actor_id) == ("worker", task.name, None)
    assert after.source == "command"


def test_group_memberships_are_recorded_on_the_user_from_either_side(world, since):
    user = world.users["author_b"]
    operators = Group.objects.get(name="operator")
    user.groups.add(operators)
    operators.user_set.remove(user)
    user.groups.clear()  # still an author: clearing removes that
    changes = [(e.target_label, e.details) for e in since(target_type="auth.user")]
    assert changes == [
        ("author_b", {"fields": ["groups"], "added": ["operator"]}),
        ("author_b", {"fields": ["groups"], "removed": ["operator"]}),
        ("author_b", {"fields": ["groups"], "removed": ["author"]}),
    ]


def test_enrolling_a_device_is_recorded_but_its_key_and_counters_are_not(world, since):
    device = TOTPDevice.objects.create(user=world.users["author_a"], name="Phone", confirmed=False)
    device.confirmed = True
    device.save()
    device.throttling_failure_count = 3
    device.last_t = 123
    device.save()
    device.key = "0" * 40
    device.save()
    events = since(target_type="otp_totp.totpdevice")
    assert [e.action for e in events] == ["create", "transition", "update"]
    assert events[0].target_label == "Phone of author_a"
    assert (events[1].details["from"], events[1].details["to"]) == (False, True)
    assert events[2].details == {"fields": ["key"]}
    assert "0" * 40 not in json.dumps([e.details for e in events])


# --- signing in ---------------------------------------------------------------------------


def test_sign_ins_failures_lockouts_and_sign_outs_are_recorded(client, world, settings, since):
    settings.AXES_FAILURE_LIMIT = 3
    login = reverse("login")
    client.post(login, {"username": "author_a", "password": "pw-author_a"})
    client.post(reverse("logout"))
    for _ in range(3):
        client.post(login, {"username": "author_a", "password": "not-the-password"})
    events = since(action__in=["sign_in", "sign_out", "sign_in_failed", "locked_out"])
    assert [e.action for e in events[:2]] == ["sign_in", "sign_out"]
    # The lockout is heard while the third failure is being handled.
    assert sorted(e.action for e in events[2:]) == ["locked_out", *["sign_in_failed"] * 3]
    signed_in, signed_out, failed = events[0], events[1], events[2]
    [locked] = [e for e in events if e.action == "locked_out"]
    assert (signed_in.actor_username, signed_in.address, signed_in.outcome) == (
        "author_a",
        "127.0.0.1",
        "success",
    )
    assert signed_out.actor_username == "author_a"
    assert (failed.actor_id, failed.outcome, failed.details) == (
        None,
        "failed",
        {"username": "author_a"},
    )
    assert (locked.outcome, locked.details, locked.address) == (
        "denied",
        {"username": "author_a"},
        "127.0.0.1",
    )
    assert "not-the-password" not in json.dumps([e.details for e in events])


# --- held-out content ---------------------------------------------------------------------


def test_a_view_and_a_download_of_held_out_content_are_recorded_and_public_ones_are_not(
    world, since
):
    author = world.users["author_a"]
    held_out = write_draft(author, world.occupation_a, title="Secret", visibility="held_out")
    public = write_draft(author, world.occupation_a, title="Open")
    request = RequestFactory().get("/tasks/secret/", REMOTE_ADDR="10.0.0.7")
    request.user = author

    viewed = trail.record_held_out_access(request, held_out.task, "task page")
    downloaded = trail.record_held_out_access(request, held_out, "download attachment 3")
    refused = trail.record_held_out_access(request, held_out.task, "edit page", outcome="denied")
    assert trail.record_held_out_access(request, public.task, "task page") is None

    assert [(e.action, e.outcome) for e in since(action__endswith="held_out")] == [
        ("view_held_out", "success"),
        ("download_held_out", "success"),
        ("view_held_out", "denied"),
    ]
    assert (viewed.target_type, viewed.target_id) == ("occupations.task", str(held_out.task_id))
    assert (viewed.actor_username, viewed.address) == ("author_a", "10.0.0.7")
    assert downloaded.details == {"what": "download attachment 3", "version": 1}
    assert refused.details == {"what": "edit page"}


def test_the_run_page_records_the_held_out_tasks_it_shows_only_to_those_it_shows(
    client, users, run, since
):
    held_out = Task.objects.distinct().get(
        versions__samples__run=run, visibility=Task.Visibility.HELD_OUT
    )
    client.force_login(users["analyst"])  # sees the run, not held-out outputs
    assert client.get(reverse("graders:run", args=[run.pk])).status_code == 200
    assert not since(action="view_held_out")
    client.force_login(users["operator"])
    assert client.get(reverse("graders:run", args=[run.pk])).status_code == 200
    [viewed] = since(action="view_held_out")
    assert (viewed.target_id, viewed.actor_username) == (str(held_out.pk), "operator")
    assert viewed.details["what"] == f"outputs of run {run.pk}"


def test_an_expert_grading_a_held_out_sample_is_recorded(client, world, make_endpoint, since):
    author, reviewer = world.users["author_a"], world.users["reviewer_a"]
    version = write_draft(author, world.occupation_a, title="Hidden", visibility="held_out")
    workflow.submit(version, user=author)
    endpoint = make_endpoint("sim-expert-model")
    suite = Suite.objects.create(name="Experts", slug="experts")
    run = Run.objects.create(suite=suite, endpoint=endpoint, status=Run.Status.COMPLETED)
    sample = Sample.objects.create(
        run=run, task_version=version, attempt=0, status=Sample.Status.DONE, output="An answer."
    )
    grader = Grader.objects.create(name="Experts", kind=Grader.Kind.HUMAN)
    item = ExpertQueueItem.objects.create(grader=grader, sample=sample)
    client.force_login(reviewer)
    assert client.get(reverse("graders:expert_grade", args=[item.pk])).status_code == 200
    [viewed] = since(action="view_held_out")
    assert (viewed.target_id, viewed.actor_username) == (str(version.task_id), "reviewer_a")
    assert viewed.details == {"what": "expert grading", "version": 1}


def test_the_text_of_a_held_out_task_never_enters_the_trail(client, world, since):
    author = world.users["author_a"]
    version = write_draft(author, world.occupation_a, title="Ledger", visibility="held_out")
    canary = version.task.canary_string
    client.force_login(author)
    client.post(
        reverse("occupations:edit", args=[version.task.slug]),
        editor_data(
            version,
            instructions=f"{version.instructions}\n\n{CANARY_PHRASE}. {canary}",
            reference_solution=f"{CANARY_PHRASE} done.",
            **{"criteria-0-text": f"Mentions the {CANARY_PHRASE}"},
        ),
    )
    client.get(reverse("occupations:task", args=[version.task.slug]))
    client.get(reverse("occupations:edit", args=[version.task.slug]))
    version.refresh_from_db()
    assert CANARY_PHRASE in version.instructions, "the edit went through"
    workflow.submit(version, user=author)
    criterion = version.criteria.first()
    TaskVersion.objects.filter(pk=version.pk).update(submitted_at=None)
    criterion.delete()  # named by its position, not its text
    events = since()
    assert any(e.action == "view_held_out" for e in events)
    trail_text = json.dumps(
        [
            [e.target_label, e.details, e.path, e.target_type, e.actor_username]
            for e in AuditEvent.objects.all()
        ]
    )
    assert CANARY_PHRASE not in trail_text
    assert str(version.task.canary) not in trail_text


# --- the trail cannot be edited -----------------------------------------------------------


def test_recorded_events_cannot_be_changed_or_deleted_from_the_application(world):
    event = trail.record("sign_out", actor=world.users["author_a"])
    event.outcome = "failed"
    with pytest.raises(ImmutableEventError):
        event.save()
    with pytest.raises(ImmutableEventError):
        event.delete()
    with pytest.raises(ImmutableEventError):
        AuditEvent.objects.filter(pk=event.pk).update(outcome="failed")
    with pytest.raises(ImmutableEventError):
        AuditEvent.objects.filter(pk=event.pk).delete()
    with pytest.raises(ImmutableEventError), transaction.atomic():
        AuditEvent.objects.bulk_update([event], ["outcome"])
    world.users["author_a"].delete()
    assert AuditEvent.objects.get(pk=event.pk).outcome == "success"
    assert AuditEvent.objects.get(pk=event.pk).actor_username == "author_a"


def test_an_event_cannot_be_overwritten_by_a_new_one_with_its_id_or_by_the_base_manager(world):
    event = trail.record("sign_out", actor=world.users["author_a"])
    forged = {"pk": event.pk, "action": "sign_in", "outcome": "failed", "source": "web"}
    with pytest.raises(ImmutableEventError):
        AuditEvent(**forged).save()
    with pytest.raises(ImmutableEventError):
        AuditEvent._base_manager.filter(pk=event.pk).update(outcome="failed")
    with pytest.raises(ImmutableEventError):
        AuditEvent._base_manager.filter(pk=event.pk).delete()
    with pytest.raises(ImmutableEventError):
        AuditEvent.objects.bulk_create(
            [AuditEvent(**forged)],
            update_conflicts=True,
            unique_fields=["id"],
            update_fields=["action", "outcome"],
        )
    with pytest.raises(ImmutableEventError):
        AuditEvent.objects.bulk_create([AuditEvent(**forged)], ignore_conflicts=True)
    stored = AuditEvent.objects.get(pk=event.pk)
    assert (stored.action, stored.outcome) == ("sign_out", "success")


def refused_by_the_database(event: AuditEvent) -> None:
    for statement in (
        "UPDATE audit_auditevent SET outcome = 'failed' WHERE id = %s",
        "DELETE FROM audit_auditevent WHERE id = %s",
        "DELETE FROM audit_auditevent",
    ):
        params = [event.pk] if "%s" in statement else None
        with (
            pytest.raises(DatabaseError, match="cannot be changed or deleted"),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute(statement, params)
    assert AuditEvent.objects.get(pk=event.pk).outcome == "success"


def test_the_database_refuses_changes_to_events_whoever_asks(world):
    refused_by_the_database(trail.record("sign_out", actor=world.users["author_a"]))


@pytest.mark.django_db(transaction=True)
def test_flushing_the_whole_database_empties_the_trail_and_keeps_it_guarded(seeded):
    trail.record("sign_out")
    call_command("flush", interactive=False, verbosity=0)
    assert not AuditEvent.objects.exists()
    refused_by_the_database(trail.record("sign_in_failed"))


def test_the_admin_shows_events_read_only_to_superusers_only(client, users, since):
    event = trail.record("sign_out", actor=users["author"])
    client.force_login(users["admin"])
    since.mark()
    listed = client.get(reverse("admin:audit_auditevent_changelist"), {"action__exact": "sign_out"})
    assert listed.status_code == 200
    page = client.get(reverse("admin:audit_auditevent_change", args=[event.pk]))
    assert page.status_code == 200 and b'name="_save"' not in page.content
    looks = since(action="view_audit")
    assert [(e.actor_username, e.target_id, e.details) for e in looks] == [
        ("admin", "", {"page": "admin list", "query": "action__exact=sign_out"}),
        ("admin", str(event.pk), {"page": "admin event"}),
    ]
    assert client.get(reverse("admin:audit_auditevent_add")).status_code == 403
    assert client.get(reverse("admin:audit_auditevent_delete", args=[event.pk])).status_code == 403
    staff = make_user("staff_operator", "operator")
    staff.is_staff = True
    staff.save()
    client.force_login(staff)
    assert client.get(reverse("admin:audit_auditevent_changelist")).status_code == 403


# --- the pages ------------------------------------------------------------------------------


def test_the_request_is_kept_without_reading_its_user_until_an_event_is_recorded():
    def unreadable():
        raise AssertionError("the user was read")

    request = RequestFactory().get("/")
    request.user = SimpleLazyObject(unreadable)
    seen = []
    AuditContextMiddleware(lambda r: seen.append(trail.current_context()) or "answer")(request)
    assert seen[0].request is request and seen[0].source == "web"
    assert trail.current_context() is None


def test_only_admins_browse_the_trail_and_refusals_are_recorded(client, users, since):
    url = reverse("audit:events")
    response = client.get(url)
    assert response.status_code == 302 and reverse("login") in response["Location"]
    for role in ("author", "reviewer", "operator", "analyst"):
        client.force_login(users[role])
        assert client.get(url).status_code == 403
        assert client.get(reverse("audit:export")).status_code == 403
    refused = since(outcome="denied")
    # Once each: the middleware does not record again what the page recorded.
    assert sorted((e.action, e.actor_username) for e in refused) == sorted(
        (action, role)
        for action in ("view_audit", "export_audit")
        for role in ("author", "reviewer", "operator", "analyst")
    )


def test_admins_filter_the_trail_and_their_look_is_recorded(client, users, since):
    trail.record("sign_in_failed", outcome="failed", details={"username": "mallory"})
    trail.record("sign_out", actor=users["author"])
    client.force_login(users["admin"])
    page = client.get(reverse("audit:events"), {"action": "sign_in_failed", "outcome": "failed"})
    assert page.status_code == 200
    shown = list(page.context["page"])
    assert [e.details for e in shown] == [{"username": "mallory"}]
    assert "mallory" in page.content.decode()
    [looked] = since(action="view_audit")
    assert looked.actor_username == "admin"
    assert looked.details == {
        "filters": {"action": "sign_in_failed", "outcome": "failed"},
        "page": 1,
    }

    by_actor = client.get(reverse("audit:events"), {"actor": "author"}).context["page"]
    assert {e.actor_username for e in by_actor} == {"author"}
    searched = client.get(reverse("audit:events"), {"q": "author"}).context["page"]
    assert any(e.target_label == "author" for e in searched)

    bad = client.get(reverse("audit:events"), {"since": "2025-02-30", "outcome": "failed"})
    assert bad.status_code == 200 and "Enter a valid date" in bad.content.decode()
    assert {e.outcome for e in bad.context["page"]} == {"failed"}, "valid filters still apply"


def test_the_export_streams_filtered_events_as_csv_and_json_lines(client, users, since):
    trail.record("sign_in_failed", outcome="failed", details={"username": "=HYPERLINK(1)"})
    trail.record("sign_out", actor=users["author"])
    client.force_login(users["admin"])
    response = client.get(reverse("audit:export"), {"outcome": "failed"})
    assert response.status_code == 200 and response.streaming
    assert response["Content-Disposition"].startswith('attachment; filename="audit-events-')
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [row["action"] for row in rows] == ["sign_in_failed"]
    assert json.loads(rows[0]["details"]) == {"username": "=HYPERLINK(1)"}

    lines = client.get(reverse("audit:export"), {"format": "jsonl", "actor": "author"})
    records = [json.loads(line) for line in b"".join(lines.streaming_content).splitlines()]
    assert [(r["action"], r["actor_username"]) for r in records] == [("sign_out", "author")]

    exports = since(action="export_audit")
    assert [e.details for e in exports] == [
        {"filters": {"outcome": "failed"}, "format": "csv"},
        {"filters": {"actor": "author"}, "format": "jsonl"},
    ]


def test_an_export_with_a_bad_filter_is_refused_and_names_it(client, users):
    client.force_login(users["admin"])
    bad_date = client.get(reverse("audit:export"), {"since": "yesterday"})
    assert bad_date.status_code == 400 and bad_date.content.startswith(b"since:")
    reversed_range = client.get(
        reverse("audit:export"), {"since": "2025-02-02", "until": "2025-02-01"}
    )
    assert reversed_range.status_code == 400 and b"until:" in reversed_range.content
    bad_format = client.get(reverse("audit:export"), {"format": "xml"})
    assert bad_format.status_code == 400 and bad_format.content.startswith(b"format:")


def test_panels_memberships_are_named_by_user_role_and_panel(world, since):
    panel = Panel.objects.create(name="Accounting panel", slug="accounting")
    membership = panel.memberships.create(user=world.users["author_a"], role="author")
    membership.role = "reviewer"
    membership.save()
    events = since(target_type="occupations.panelmembership")
    assert [e.action for e in events] == ["create", "update"]
    assert events[1].target_label == "author_a (reviewer) in Accounting panel"
    assert events[1].details == {
        "fields": ["role"],
        "changes": {"role": {"from": "author", "to": "reviewer"}},
    }


# --- held-out content in the admin and on the validation page ----------------------------------


def task_of(record, lookup: str) -> Task:
    for name in filter(None, lookup.split("__")):
        record = getattr(record, name)
    return record


ADMIN_LISTS = [
    (Task, ""),
    (TaskVersion, "task"),
    (RubricCriterion, "task_version__task"),
    (Attachment, "task_version__task"),
    (Sample, "task_version__task"),
]


def admin_url(model, view: str, *args) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


def audit_inserts(queries) -> list:
    return [q for q in queries if q["sql"].startswith('INSERT INTO "audit_auditevent"')]


@pytest.fixture
def hidden(world) -> TaskVersion:
    """A held-out draft of panel A, with an attachment."""
    version = write_draft(
        world.users["author_a"], world.occupation_a, title="Hidden", visibility="held_out"
    )
    Attachment.objects.create(
        task_version=version,
        file="attachments/notes.txt",
        original_name="notes.txt",
        kind="txt",
        size=5,
        sha256="0" * 64,
    )
    return version


def test_admin_lists_of_task_content_record_one_view_per_held_out_task_shown(
    client, world, run, hidden, since
):
    client.force_login(world.users["admin"])
    for model, lookup in ADMIN_LISTS:
        since.mark()
        with CaptureQueriesContext(connection) as queries:
            response = client.get(admin_url(model, "changelist"))
        assert response.status_code == 200
        shown = {task_of(record, lookup) for record in response.context["cl"].result_list}
        expected = sorted(str(task.pk) for task in shown if task.is_held_out)
        assert expected, f"the {model.__name__} list shows held-out content"
        viewed = since(action="view_held_out")
        assert sorted(e.target_id for e in viewed) == expected, model.__name__
        assert {(e.actor_username, e.details["what"]) for e in viewed} == {
            ("admin", f"admin list of {model._meta.verbose_name_plural}")
        }
        assert len(audit_inserts(queries)) == 1, "one INSERT for the whole page"


def test_admin_pages_of_one_record_record_a_view_of_its_task_when_held_out(
    client, world, run, hidden, since
):
    sample = run.samples.filter(task_version__task__visibility="held_out").first()
    grade = Grade.objects.create(
        sample=sample,
        grader=Grader.objects.create(name="Experts", kind=Grader.Kind.HUMAN),
        status="scored",
        score=0.5,
    )
    criterion = hidden.criteria.first()
    pages = [
        (admin_url(Task, "change", hidden.task_id), hidden.task_id, "task"),
        (admin_url(TaskVersion, "change", hidden.pk), hidden.task_id, "task version"),
        (admin_url(TaskVersion, "history", hidden.pk), hidden.task_id, "task version"),
        (admin_url(RubricCriterion, "change", criterion.pk), hidden.task_id, "rubric criterion"),
        (admin_url(RubricCriterion, "delete", criterion.pk), hidden.task_id, "rubric criterion"),
        (admin_url(Sample, "change", sample.pk), sample.task_version.task_id, "sample"),
        (admin_url(Grade, "change", grade.pk), sample.task_version.task_id, "grade"),
    ]
    client.force_login(world.users["admin"])
    for url, task_id, kind in pages:
        since.mark()
        assert client.get(url).status_code == 200, url
        [viewed] = since()
        assert (viewed.action, viewed.target_id) == ("view_held_out", str(task_id)), url
        assert viewed.details["what"].startswith("admin ") and kind in viewed.details["what"]

    public = write_draft(world.users["author_a"], world.occupation_a, title="Open")
    since.mark()
    assert client.get(admin_url(TaskVersion, "change", public.pk)).status_code == 200
    assert not since(action="view_held_out")


@pytest.fixture
def validated(seeded, make_endpoint) -> ValidationWorld:
    """A validation whose criteria include a held-out task's (nurse-shift-handover)."""
    validated = ValidationWorld(make_endpoint)
    validation.validate(validated.judge, validated.panel)
    return validated


def test_the_validation_page_and_csv_record_the_held_out_tasks_whose_criteria_they_show(
    client, validated, since
):
    nurse = Task.objects.get(slug="nurse-shift-handover")
    urls = [
        reverse(name, kwargs={"pk": validated.judge.pk})
        for name in ("graders:validation", "graders:validation_export")
    ]
    client.force_login(make_user("some-operator", "operator"))  # reads held-out criteria
    since.mark()
    for url in urls:
        assert client.get(url).status_code == 200
    assert [(e.action, e.target_id, e.details) for e in since()] == [
        ("view_held_out", str(nurse.pk), {"what": "grader validation page"}),
        ("download_held_out", str(nurse.pk), {"what": "export of the grader validation as CSV"}),
    ]

    client.force_login(make_user("some-analyst", "analyst"))  # sees them by id only
    since.mark()
    for url in urls:
        assert client.get(url).status_code == 200
    assert not since()


def test_the_validation_csv_keeps_a_name_typed_like_a_formula_as_text(client, validated):
    Grader.objects.filter(pk=validated.judge.pk).update(name="\t=HYPERLINK(1)")
    client.force_login(make_user("some-analyst", "analyst"))
    response = client.get(reverse("graders:validation_export", kwargs={"pk": validated.judge.pk}))
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert {row["grader"] for row in rows} == {"'\t=HYPERLINK(1) v1"}


@pytest.mark.parametrize("typed", ["=1+1", "+1", "-1", "@SUM(A1)", "\t=1+1", "\r=1+1"])
def test_a_csv_cell_that_starts_like_a_formula_is_kept_as_text(typed):
    assert spreadsheet_safe(typed) == "'" + typed


def test_other_csv_cells_are_written_as_they_are():
    assert [spreadsheet_safe(value) for value in ("Judge v1", 3, None, "")] == [
        "Judge v1",
        "3",
        "",
        "",
    ]


# --- what the review found missing ------------------------------------------------------------


def test_a_refused_request_is_recorded_once_as_a_denied_access_to_its_path(client, users, since):
    client.force_login(users["author"])
    url = reverse("graders:run_list")
    since.mark()
    assert client.get(url).status_code == 403
    [refused] = since()
    assert (refused.action, refused.outcome) == ("access", "denied")
    assert refused.actor_username == "author"
    assert (refused.method, refused.path, refused.address) == ("GET", url, "127.0.0.1")


def test_groups_and_their_permissions_are_recorded(world, since):
    group = Group.objects.create(name="auditors")
    permission = Permission.objects.get(codename="view_run")
    group.permissions.add(permission)
    permission.group_set.remove(group)  # from the other side
    group.name = "inspectors"
    group.save()
    group.delete()
    assert [(e.action, e.target_label, e.details) for e in since(target_type="auth.group")] == [
        ("create", "auditors", {}),
        ("update", "auditors", {"fields": ["permissions"], "added": ["view_run"]}),
        ("update", "auditors", {"fields": ["permissions"], "removed": ["view_run"]}),
        ("update", "inspectors", {"fields": ["name"]}),
        ("delete", "inspectors", {}),
    ]


def test_submitting_and_publishing_record_the_versions_lifecycle_dates(world, since):
    author, first, second = (world.users[u] for u in ("author_a", "reviewer_a", "reviewer_a2"))
    version = write_draft(author, world.occupation_a)
    since.mark()
    task = publish_through_review(version, author, [first, second])
    workflow.publish(task, user=first)
    version.refresh_from_db()
    events = since(target_type="occupations.taskversion")
    assert [(e.action, e.details["field"], e.details["from"], e.details["to"]) for e in events] == [
        ("transition", "submitted_at", None, version.submitted_at.isoformat()),
        ("transition", "published_at", None, version.published_at.isoformat()),
    ]
    assert events[0].actor_id is None and events[1].target_id == str(version.pk)


def test_beat_entries_are_recorded_but_not_the_bookkeeping_of_their_runs(world, since):
    hourly = IntervalSchedule.objects.create(every=1, period=IntervalSchedule.HOURS)
    entry = PeriodicTask.objects.create(name="Refresh", task="reports.tasks.x", interval=hourly)
    entry.total_run_count += 1
    entry.last_run_at = timezone.now()
    entry.save()
    entry.enabled = False
    entry.save()
    events = since(target_type__startswith="django_celery_beat.")
    assert [(e.action, e.target_type, e.target_label) for e in events] == [
        ("create", "django_celery_beat.intervalschedule", "every 1 hours"),
        ("create", "django_celery_beat.periodictask", "Refresh"),
        ("transition", "django_celery_beat.periodictask", "Refresh"),
    ]
    assert (events[2].details["from"], events[2].details["to"]) == (True, False)


def test_held_out_tasks_are_named_by_id_and_an_export_records_each_one(client, world, since):
    author = world.users["author_a"]
    client.force_login(author)
    client.post(
        reverse("occupations:new_task"),
        {
            "occupation": world.occupation_a.pk,
            "title": "Quiet merger memo",
            "visibility": "held_out",
        },
    )
    task = Task.objects.get(title="Quiet merger memo")
    labels = {e.target_type: e.target_label for e in since(action="create")}
    assert labels["occupations.task"] == f"task #{task.pk}"
    assert labels["occupations.taskversion"] == f"task #{task.pk} v1"

    since.mark()
    assert client.get(reverse("occupations:export"), {"held_out": "1"}).status_code == 200
    downloaded = since(action="download_held_out")
    held_out = permissions.visible_tasks(author).filter(visibility=Task.Visibility.HELD_OUT)
    assert sorted(e.target_id for e in downloaded) == sorted(str(t.pk) for t in held_out)
    assert {e.details["what"] for e in downloaded} == {"export of tasks as JSON Lines"}
    recorded = json.dumps([[e.target_label, e.details] for e in AuditEvent.objects.all()])
    assert task.slug not in recorded


def test_a_removed_criterion_is_recorded_once_as_its_deletion(world, since):
    author = world.users["author_a"]
    version = write_draft(author, world.occupation_a)
    removed = version.criteria.order_by("order").last()
    since.mark()
    resave(version, author, criteria=current_criteria(version)[:-1])
    assert [(e.action, e.target_id) for e in since(target_type="occupations.rubriccriterion")] == [
        ("delete", str(removed.pk))
    ]
    assert not [e for e in since() if "rubric" in e.details], "not counted again in a summary"


def test_the_run_page_records_every_held_out_task_it_shows_in_one_insert(
    client, users, demo_suite, make_endpoint, since
):
    run = run_services.create_run(demo_suite, make_endpoint("sim-wide"), samples_per_task=1)
    for version_id, attempt in run_services.work_items(run):
        Sample.objects.create(run=run, task_version_id=version_id, attempt=attempt, status="done")
    client.force_login(users["operator"])
    with CaptureQueriesContext(connection) as queries:
        assert client.get(reverse("graders:run", args=[run.pk])).status_code == 200
    held_out = Task.objects.filter(versions__suites=demo_suite, visibility="held_out")
    assert sorted(e.target_id for e in since(action="view_held_out")) == sorted(
        str(task.pk) for task in held_out
    )
    assert held_out.count() == 2 and len(audit_inserts(queries)) == 1
