"""Every route of the application, as every role: the allowed and the denied answers.

The table names every route of the project's apps. A route added without a row here
fails the sweep, so no page ships without a rule. Django's own admin and account pages
are left to Django.
"""

import datetime
from dataclasses import dataclass

import pytest
from django.db import transaction
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from graders import experts as expert_grading
from graders import validation
from graders.models import ExpertQueueItem, Grader
from occupations import attachments, workflow
from occupations.models import Occupation, Panel, PanelMembership, Suite
from reports import releases
from reports.models import Release
from reports.release_tables import TABLES
from reports.selectors import default_taxonomy
from runs import services as run_services
from runs.models import Sample
from tests.authoring import make_user, make_world, publish_through_review, write_draft

pytestmark = pytest.mark.django_db

ROLES = ("anonymous", "author_a", "author_b", "reviewer_a", "operator", "analyst", "admin")
OWN_APPS = {"reports", "occupations", "runs", "graders", "api"}


@dataclass(frozen=True)
class Route:
    method: str
    answers: tuple[int, ...]
    """Expected status per role, in the order of ROLES."""


# 302 for a signed-out visitor is the redirect to sign in; for a POST by someone allowed it
# is the redirect back to the task after the action.
TABLE: dict[str, Route] = {
    "reports:home": Route("GET", (200, 200, 200, 200, 200, 200, 200)),
    "reports:job_category": Route("GET", (200, 200, 200, 200, 200, 200, 200)),
    "reports:occupation": Route("GET", (200, 200, 200, 200, 200, 200, 200)),
    "reports:model": Route("GET", (200, 200, 200, 200, 200, 200, 200)),
    "reports:compare": Route("GET", (200, 200, 200, 200, 200, 200, 200)),
    "graders:run_list": Route("GET", (302, 403, 403, 403, 200, 200, 200)),
    "graders:run": Route("GET", (302, 403, 403, 403, 200, 200, 200)),
    "graders:calibrate": Route("POST", (302, 200, 404, 403, 403, 403, 200)),
    "graders:grader_list": Route("GET", (302, 403, 403, 403, 200, 200, 200)),
    "graders:grader_create": Route("GET", (302, 403, 403, 403, 200, 200, 200)),
    "graders:grader": Route("GET", (302, 403, 403, 403, 200, 200, 200)),
    "graders:new_version": Route("GET", (302, 403, 403, 403, 200, 200, 200)),
    "graders:regrade": Route("POST", (302, 403, 403, 403, 302, 302, 302)),
    "graders:validation": Route("GET", (302, 403, 403, 403, 200, 200, 200)),
    "graders:validation_export": Route("GET", (302, 403, 403, 403, 200, 200, 200)),
    "graders:expert_queues": Route("GET", (302, 403, 403, 200, 200, 200, 200)),
    "graders:expert_next": Route("GET", (302, 403, 403, 302, 403, 403, 302)),
    "graders:expert_grade": Route("GET", (302, 403, 403, 200, 403, 403, 200)),
    "graders:expert_enqueue": Route("POST", (302, 403, 403, 403, 302, 302, 302)),
    "graders:disagreements": Route("GET", (302, 403, 403, 200, 403, 403, 200)),
    "graders:reconcile": Route("GET", (302, 403, 403, 200, 403, 403, 200)),
    "occupations:my_tasks": Route("GET", (302, 200, 200, 200, 200, 200, 200)),
    "occupations:new_task": Route("GET", (302, 200, 200, 403, 403, 403, 200)),
    "occupations:import": Route("GET", (302, 200, 200, 403, 403, 403, 200)),
    "occupations:export": Route("GET", (302, 200, 200, 200, 200, 200, 200)),
    "occupations:task": Route("GET", (302, 200, 404, 200, 200, 404, 200)),
    "occupations:edit": Route("GET", (302, 200, 404, 403, 403, 403, 200)),
    "occupations:new_version": Route("POST", (302, 302, 404, 403, 403, 404, 302)),
    "occupations:review": Route("POST", (302, 403, 404, 302, 403, 404, 302)),
    "occupations:publish": Route("POST", (302, 403, 404, 302, 403, 404, 302)),
    "occupations:retire": Route("POST", (302, 403, 404, 302, 403, 404, 302)),
    "occupations:comment": Route("POST", (302, 302, 404, 302, 302, 404, 302)),
    "occupations:diff": Route("GET", (302, 200, 404, 200, 200, 404, 200)),
    "occupations:upload_attachment": Route("POST", (302, 302, 404, 403, 403, 403, 302)),
    "occupations:attachment": Route("GET", (302, 200, 404, 200, 200, 200, 200)),
    "occupations:delete_attachment": Route("POST", (302, 302, 404, 403, 403, 403, 302)),
    "occupations:review_queue": Route("GET", (302, 200, 200, 200, 200, 200, 200)),
    "occupations:panel": Route("GET", (302, 200, 403, 200, 200, 403, 200)),
    "occupations:suites": Route("GET", (302, 403, 403, 403, 200, 403, 200)),
    "occupations:new_suite": Route("GET", (302, 403, 403, 403, 200, 403, 200)),
    "occupations:suite": Route("GET", (302, 403, 403, 403, 200, 403, 200)),
    "runs:models": Route("GET", (302, 403, 403, 403, 200, 200, 200)),
    "runs:new_model": Route("GET", (302, 403, 403, 403, 200, 403, 200)),
    "runs:edit_model": Route("GET", (302, 403, 403, 403, 200, 403, 200)),
    "runs:schedules": Route("GET", (302, 403, 403, 403, 200, 403, 200)),
    "runs:new_schedule": Route("GET", (302, 403, 403, 403, 200, 403, 200)),
    "runs:edit_schedule": Route("GET", (302, 403, 403, 403, 200, 403, 200)),
    "runs:run_schedule": Route("POST", (302, 403, 403, 403, 302, 403, 302)),
    "runs:new_run": Route("GET", (302, 403, 403, 403, 200, 403, 200)),
    "runs:pause": Route("POST", (302, 403, 403, 403, 302, 403, 302)),
    "runs:resume": Route("POST", (302, 403, 403, 403, 302, 403, 302)),
    "runs:cancel": Route("POST", (302, 403, 403, 403, 302, 403, 302)),
    "runs:progress": Route("GET", (302, 403, 403, 403, 200, 200, 200)),
    # Approved releases are public; drafts exist only for those who prepare releases.
    "reports:release_list": Route("GET", (200, 200, 200, 200, 200, 200, 200)),
    "reports:release_new": Route("GET", (302, 403, 403, 403, 403, 200, 200)),
    "reports:release": Route("GET", (404, 404, 404, 404, 404, 200, 200)),
    "reports:release_approve": Route("POST", (302, 403, 403, 403, 403, 302, 302)),
    "reports:release_correct": Route("GET", (302, 403, 403, 403, 403, 200, 200)),
    "reports:release_discard": Route("POST", (302, 403, 403, 403, 403, 302, 302)),
    "reports:release_download": Route("GET", (200, 200, 200, 200, 200, 200, 200)),
    # The read-only API: public aggregates and approved releases for everyone, drafts only for
    # those who prepare releases (here by session; tests/test_api.py covers tokens).
    "api:index": Route("GET", (302, 302, 302, 302, 302, 302, 302)),
    "api:releases": Route("GET", (200, 200, 200, 200, 200, 200, 200)),
    "api:release": Route("GET", (404, 404, 404, 404, 404, 200, 200)),
    "api:release_table": Route("GET", (404, 404, 404, 404, 404, 200, 200)),
    "api:national": Route("GET", (200, 200, 200, 200, 200, 200, 200)),
    "api:category": Route("GET", (200, 200, 200, 200, 200, 200, 200)),
    "api:models": Route("GET", (200, 200, 200, 200, 200, 200, 200)),
    # The world's model has no graded results, and the API names only models with results.
    "api:model": Route("GET", (404, 404, 404, 404, 404, 404, 404)),
    "api:schema": Route("GET", (200, 200, 200, 200, 200, 200, 200)),
    "api:docs": Route("GET", (200, 200, 200, 200, 200, 200, 200)),
}


def project_routes() -> set[str]:
    names = set()

    def walk(patterns, namespace):
        for entry in patterns:
            if isinstance(entry, URLResolver):
                walk(entry.url_patterns, entry.namespace or namespace)
            elif isinstance(entry, URLPattern) and entry.name and namespace in OWN_APPS:
                names.add(f"{namespace}:{entry.name}")

    walk(get_resolver().url_patterns, None)
    return names


def test_every_route_has_a_rule():
    assert project_routes() == set(TABLE)


@pytest.fixture
def world(seeded, settings, tmp_path, make_endpoint):
    """A held-out task in review (v2, after a published v1) and a public draft with a file."""
    settings.MEDIA_ROOT = tmp_path
    world = make_world()
    users = world.users
    reviewers = [users["reviewer_a"], users["reviewer_a2"]]
    first = write_draft(users["author_a"], world.occupation_a, title="Held", visibility="held_out")
    held = publish_through_review(first, users["author_a"], reviewers)
    workflow.publish(held, user=reviewers[0])
    second = workflow.start_new_version(held, user=users["author_a"])
    workflow.submit(second, user=users["author_a"])
    draft = write_draft(users["author_a"], world.occupation_a, title="Draft")
    from django.core.files.uploadedfile import SimpleUploadedFile

    attachment = attachments.add_attachment(
        draft, SimpleUploadedFile("notes.txt", b"Meeting notes"), users["author_a"]
    )
    suite = Suite.objects.create(name="Open suite", slug="open-suite")
    grader = Grader.objects.create(name="Simulated judge", judge=make_endpoint("sim-judge"))
    model = make_endpoint("sim-model")
    run = run_services.create_run(Suite.objects.get(slug="demo"), model)
    schedule = run_services.save_schedule(
        name="Weekly", suite=run.suite, endpoints=[model], cron="0 2 * * 1", samples_per_task=1
    )
    kwargs = {
        "reports:job_category": {"pk": Occupation.objects.get(code="23-0000").pk},
        "reports:occupation": {"pk": Occupation.objects.get(code="23-2011").pk},
        "reports:model": {"slug": model.slug},
        "graders:run": {"pk": run.pk},
        "graders:calibrate": {"slug": draft.task.slug},
        "occupations:task": {"slug": held.slug},
        "occupations:edit": {"slug": draft.task.slug},
        "occupations:new_version": {"slug": held.slug},
        "occupations:review": {"slug": held.slug},
        "occupations:publish": {"slug": held.slug},
        "occupations:retire": {"slug": held.slug},
        "occupations:comment": {"slug": held.slug},
        "occupations:diff": {"slug": held.slug},
        "occupations:upload_attachment": {"slug": draft.task.slug},
        "occupations:attachment": {"pk": attachment.pk},
        "occupations:delete_attachment": {"pk": attachment.pk},
        "occupations:panel": {"slug": "legal"},
        "occupations:suite": {"slug": suite.slug},
        "runs:edit_model": {"slug": model.slug},
        "runs:edit_schedule": {"pk": schedule.pk},
        "runs:run_schedule": {"pk": schedule.pk},
        "runs:pause": {"pk": run.pk},
        "runs:resume": {"pk": run.pk},
        "runs:cancel": {"pk": run.pk},
        "runs:progress": {"pk": run.pk},
    }
    post_data = {
        "occupations:review": {"decision": "approve"},
        "occupations:comment": {"version": second.number, "body": "Looks right."},
    }
    experts = expert_world(users, world.panel_a, first, run, grader)
    draft, approved = release_world(users["analyst"], run.suite, grader, model)
    kwargs.update(
        {
            "reports:release": {"identifier": draft.identifier},
            "reports:release_approve": {"identifier": draft.identifier},
            "reports:release_discard": {"identifier": draft.identifier},
            "reports:release_correct": {"identifier": approved.identifier},
            "reports:release_download": {"identifier": approved.identifier, "fmt": "json"},
            "api:release": {"identifier": draft.identifier},
            "api:release_table": {"identifier": draft.identifier, "table_id": "national"},
            "api:category": {"pk": Occupation.objects.get(code="23-0000").pk},
            "api:model": {"slug": model.slug},
        }
    )
    kwargs.update(
        {
            "graders:grader": {"pk": grader.pk},
            "graders:new_version": {"pk": grader.pk},
            "graders:regrade": {"pk": grader.pk},
            "graders:validation": {"pk": grader.pk},
            "graders:validation_export": {"pk": grader.pk},
            "graders:expert_next": {"pk": experts["grader"].pk},
            "graders:expert_enqueue": {"pk": experts["grader"].pk},
            "graders:disagreements": {"pk": experts["grader"].pk},
            "graders:expert_grade": {"item": experts["open_item"].pk},
            "graders:reconcile": {"pk": experts["grader"].pk, "sample": experts["split"].pk},
        }
    )
    post_data.update(
        {
            "graders:regrade": {"runs": [run.pk]},
            "graders:expert_enqueue": {"run": run.pk, "count": 1},
        }
    )
    return users, kwargs, post_data


def expert_world(users, panel, version, run, grader) -> dict:
    """Expert grading of a held-out task: one sample waiting, one the experts split on, one
    not queued; and a validation of the LLM grader against those experts."""
    experts = Grader.objects.create(name="Legal experts", kind="human", grades_per_sample=2)
    samples = [
        Sample.objects.create(
            run=run,
            task_version=version,
            attempt=attempt,
            output=f"Answer {attempt}",
            status=Sample.Status.DONE,
        )
        for attempt in range(3)
    ]
    open_item = ExpertQueueItem.objects.create(grader=experts, sample=samples[0])
    split_item = ExpertQueueItem.objects.create(grader=experts, sample=samples[1])
    third = make_user("reviewer_a3", "reviewer")
    PanelMembership.objects.create(panel=panel, user=third, role=Panel.Role.REVIEWER)
    criteria = list(version.criteria.order_by("order"))
    for expert, dissent in ((users["reviewer_a2"], False), (third, True)):
        verdicts = {
            c.pk: expert_grading.ExpertVerdict(met=c.points > 0 and not (dissent and i == 0))
            for i, c in enumerate(criteria)
        }
        expert_grading.record_expert_grade(split_item, expert, verdicts)
    validation.validate(grader, experts, users["admin"])
    return {"grader": experts, "open_item": open_item, "split": samples[1]}


def release_world(analyst, suite, grader, model) -> tuple[Release, Release]:
    """A draft release and an approved one, sealed but without figures: the routes' rules
    do not depend on the figures (the release pages' tests prepare real ones)."""
    made = []
    for series, status in (("draft-series", "draft"), ("approved-series", "approved")):
        release = Release.objects.create(
            series=series,
            version=1,
            title=f"Release {series}",
            suite=suite,
            grader=grader,
            taxonomy=default_taxonomy(),
            period_start=datetime.date(2024, 1, 1),
            period_end=datetime.date(2025, 12, 31),
            disclosure_min_tasks=5,
            scope=releases.release_scope(suite, grader, default_taxonomy(), [model]),
            tables={spec.id: [] for spec in TABLES},
            methodology={
                "schema_version": 1,
                "sections": [],
                "notes": [],
                "suppressed": {"primary": 0, "secondary": 0},
            },
            prepared_by=analyst,
            status=Release.Status.DRAFT,
            checksum="",
        )
        # Models are set while a draft: an approved release's models never change.
        release.endpoints.set([model])
        approval = (
            {"status": status, "approved_by": analyst, "release_date": datetime.date(2026, 1, 5)}
            if status == "approved"
            else {}
        )
        Release.objects.filter(pk=release.pk).update(
            checksum=releases.checksum(releases.canonical_content(release)), **approval
        )
        made.append(Release.objects.get(pk=release.pk))
    return made[0], made[1]


@pytest.mark.parametrize("role", ROLES)
def test_each_role_gets_the_answer_its_rule_gives(client, world, role):
    users, kwargs, post_data = world
    if role != "anonymous":
        client.force_login(users[role])
    wrong = []
    for name, route in TABLE.items():
        url = reverse(name, kwargs=kwargs.get(name))
        # Each request's effects are undone, so every route sees the same world.
        with transaction.atomic():
            if route.method == "GET":
                response = client.get(url)
            else:
                response = client.post(url, post_data.get(name, {}))
            transaction.set_rollback(True)
        expected = route.answers[ROLES.index(role)]
        if response.status_code != expected:
            wrong.append(f"{name}: {response.status_code}, expected {expected}")
    assert not wrong, f"as {role}:\n" + "\n".join(wrong)
