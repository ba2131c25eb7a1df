"""Every route of the site, as every role: the allowed and the denied answers.

Every URL pattern the resolver holds has a rule, and a pattern added without one fails
the sweep, so no page ships without a rule: the table below names every route outside
Django's admin site (the project's apps, the two-step sign-in pages, the audit trail and
Django's account pages), and one rule covers every pattern of the admin site. The API's
OpenAPI schema and the table agree: every documented operation has a row, and every API
row that is an operation is documented.
"""

import datetime
import re
from collections.abc import Callable
from dataclasses import dataclass
from http.cookies import SimpleCookie

import pytest
from django.apps import apps
from django.contrib.contenttypes.models import ContentType
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.urls import URLPattern, URLResolver, get_resolver, resolve, reverse

from graders import experts as expert_grading
from graders import validation
from graders.models import ExpertQueueItem, Grader
from occupations import attachments, workflow
from occupations.models import Occupation, Panel, PanelMembership, Suite, Task
from reports import releases
from reports.models import Release
from reports.release_tables import TABLES
from reports.selectors import default_taxonomy
from runs import services as run_services
from runs.models import Sample
from tests.authoring import make_user, make_world, publish_through_review, write_draft

pytestmark = pytest.mark.django_db

ROLES = ("anonymous", "author_a", "author_b", "reviewer_a", "operator", "analyst", "admin")
OWN_APPS = {"reports", "occupations", "runs", "graders", "interop", "api", "mfa", "audit"}
ADMIN = "admin"
"""The namespace of Django's admin site, whose patterns share one rule (admin_answer)."""


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
    "reports:statement_coverage": Route("GET", (200, 200, 200, 200, 200, 200, 200)),
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
    "occupations:import": Route("GET", (302, 302, 302, 403, 403, 403, 302)),
    "interop:import_tasks": Route("GET", (302, 200, 200, 403, 403, 403, 200)),
    "interop:export_suite": Route("GET", (302, 403, 403, 403, 200, 403, 200)),
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
    "interop:import_eval_log": Route("GET", (302, 403, 403, 403, 200, 403, 200)),
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
    # Two-step sign-in. Operators and admins have an app (the test client passes their code
    # step), so the set-up page sends them on; new recovery codes and removing the app both
    # need a code, so a POST without one shows the form again.
    "mfa:manage": Route("GET", (302, 200, 200, 200, 200, 200, 200)),
    "mfa:verify": Route("GET", (302, 302, 302, 302, 302, 302, 302)),
    "mfa:setup": Route("GET", (302, 200, 200, 200, 302, 200, 302)),
    "mfa:recovery_codes": Route("POST", (302, 302, 302, 302, 200, 302, 200)),
    "mfa:remove": Route("POST", (302, 302, 302, 302, 200, 302, 200)),
    # The audit trail is for administrators alone.
    "audit:events": Route("GET", (302, 403, 403, 403, 403, 403, 200)),
    "audit:export": Route("GET", (302, 403, 403, 403, 403, 403, 200)),
    # Django's account pages: signing in and resetting a password are open to everyone;
    # changing one needs a signed-in person. The reset link of the sweep is not valid, so
    # its page says so (200) rather than asking for a new password.
    "login": Route("GET", (200, 200, 200, 200, 200, 200, 200)),
    "logout": Route("POST", (302, 302, 302, 302, 302, 302, 302)),
    "password_change": Route("GET", (302, 200, 200, 200, 200, 200, 200)),
    "password_change_done": Route("GET", (302, 200, 200, 200, 200, 200, 200)),
    "password_reset": Route("GET", (200, 200, 200, 200, 200, 200, 200)),
    "password_reset_done": Route("GET", (200, 200, 200, 200, 200, 200, 200)),
    "password_reset_confirm": Route("GET", (200, 200, 200, 200, 200, 200, 200)),
    "password_reset_complete": Route("GET", (200, 200, 200, 200, 200, 200, 200)),
}

API_PAGES = {"api:index", "api:schema", "api:docs"}
"""API routes that are pages about the API rather than operations of it: not in its schema."""


@dataclass(frozen=True)
class Endpoint:
    """One URL pattern, as the resolver holds it."""

    key: str
    """'namespace:name', a bare name (Django's account pages), or the route of an unnamed
    pattern: what a rule is filed under."""
    namespace: str | None
    route: str
    """The whole route from the site's root, as ResolverMatch.route gives it."""
    callback: Callable


def endpoints() -> list[Endpoint]:
    """Every pattern of the URLconf, named or not, in every namespace."""
    found = []

    def walk(patterns, prefix: str, namespace: str | None) -> None:
        for entry in patterns:
            pattern = str(entry.pattern).removeprefix("^")
            if isinstance(entry, URLResolver):
                inner = entry.namespace or namespace
                if entry.namespace and namespace:
                    inner = f"{namespace}:{entry.namespace}"
                walk(entry.url_patterns, prefix + pattern, inner)
            elif isinstance(entry, URLPattern):
                route = prefix + pattern
                if entry.name is None:
                    key = route
                else:
                    key = f"{namespace}:{entry.name}" if namespace else entry.name
                found.append(Endpoint(key, namespace, route, entry.callback))

    walk(get_resolver().url_patterns, "", None)
    return found


PARAMETER = re.compile(r"<(?:\w+:)?(\w+)>|\(\?P<(\w+)>[^()]*\)")


def fill(route: str, values: dict[str, str]) -> str:
    """The address of a route with each parameter, path converter or regex group, replaced
    by its value."""
    path = PARAMETER.sub(lambda m: values[m.group(1) or m.group(2)], route)
    return "/" + path.removesuffix("$")


def test_every_route_has_a_rule():
    """A pattern without a rule, named or not, anywhere outside the admin site, fails; so
    does a rule left behind by a route that is gone."""
    found = {e.key for e in endpoints() if e.namespace != ADMIN}
    assert found - set(TABLE) == set(), "routes without a rule"
    assert set(TABLE) - found == set(), "rules of routes that are gone"
    # Each rule of the project's apps is filed under its own namespace.
    assert {key.split(":")[0] for key in TABLE if ":" in key} == OWN_APPS


def test_every_operation_of_the_api_schema_has_a_rule_and_every_api_route_is_documented(client):
    response = client.get(reverse("api:schema"), {"format": "json"})
    assert response.status_code == 200
    documented = set()
    for path, operations in response.json()["paths"].items():
        for method, operation in operations.items():
            if method == "parameters":
                continue
            match = resolve(documented_address(path, operation.get("parameters", [])))
            assert match.view_name in TABLE, f"{method.upper()} {path}: no rule"
            assert TABLE[match.view_name].method == method.upper(), f"{method.upper()} {path}"
            documented.add(match.view_name)
    api_routes = {key for key in TABLE if key.startswith("api:")}
    assert api_routes - API_PAGES - documented == set(), "API routes missing from the schema"
    assert documented & API_PAGES == set()


def documented_address(path: str, parameters: list[dict]) -> str:
    """A schema path with each path parameter replaced by a value its converter accepts."""
    values = {}
    for parameter in parameters:
        if parameter["in"] == "path":
            schema = parameter["schema"]
            if "enum" in schema:
                values[parameter["name"]] = str(schema["enum"][0])
            else:
                values[parameter["name"]] = "1" if schema.get("type") == "integer" else "a-slug"
    return re.sub(r"{(\w+)}", lambda m: values[m.group(1)], path)


@pytest.fixture
def world(seeded, settings, tmp_path, make_endpoint):
    settings.MEDIA_ROOT = tmp_path
    return build_world(make_endpoint)


def build_world(make_endpoint) -> tuple[dict, dict, dict]:
    """A held-out task in review (v2, after a published v1) and a public draft with a file,
    a run, a schedule, graders, expert grading and releases: (users, the URL kwargs of each
    route, the data each POST route is sent)."""
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
        "interop:export_suite": {"slug": suite.slug, "format": "healthbench"},
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
            "password_reset_confirm": {"uidb64": "MQ", "token": "not-a-reset-token"},
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


def address(endpoint: Endpoint, kwargs: dict | None) -> str:
    """The endpoint's address: reversed by name, or filled in for an unnamed pattern."""
    if endpoint.key == endpoint.route:
        return fill(endpoint.route, kwargs or {})
    return reverse(endpoint.key, kwargs=kwargs)


class Visitor:
    """A test client as one role; each request's effects are undone, the session included,
    so every request meets the same world and a sign-out does not carry over."""

    def __init__(self, client, user) -> None:
        self.client = client
        if user is not None:
            client.force_login(user)
        self.cookies = {name: morsel.value for name, morsel in client.cookies.items()}
        self.queries: list[dict] = []
        """The SQL of the last request, before it was undone."""

    def request(self, method: str, url: str, data: dict | None = None):
        try:
            with transaction.atomic(), CaptureQueriesContext(connection) as captured:
                if method == "GET":
                    response = self.client.get(url)
                else:
                    response = self.client.post(url, data or {})
                transaction.set_rollback(True)
        finally:
            self.client.cookies = SimpleCookie(self.cookies)
        self.queries = captured.captured_queries
        return response


@pytest.mark.parametrize("role", ROLES)
def test_each_role_gets_the_answer_its_rule_gives(client, world, role):
    users, kwargs, post_data = world
    visitor = Visitor(client, None if role == "anonymous" else users[role])
    by_key = {e.key: e for e in endpoints()}
    wrong = []
    for name, route in TABLE.items():
        url = address(by_key[name], kwargs.get(name))
        response = visitor.request(route.method, url, post_data.get(name))
        expected = route.answers[ROLES.index(role)]
        if response.status_code != expected:
            wrong.append(f"{name}: {response.status_code}, expected {expected}")
    assert not wrong, f"as {role}:\n" + "\n".join(wrong)


def admin_values(route: str) -> dict[str, str]:
    """Plausible values for the parameters of an admin route: the id of an existing row of
    the route's model (or 1 where it has none), an app of the site, a page it lacks."""
    model = None
    if found := re.match(r"admin/(\w+)/(\w+)/", route):
        try:
            model = apps.get_model(found.group(1), found.group(2))
        except LookupError:
            model = None
    row = (model or Task).objects.order_by("pk").first()
    object_id = str(row.pk) if row is not None else "1"
    return {
        "object_id": object_id,
        "id": object_id,
        "pk": object_id,
        "app_label": "occupations",
        "content_type_id": str(ContentType.objects.get_for_model(Task).pk),
        "url": "no-such-page/",
    }


def admin_answer(role: str, endpoint: Endpoint, response) -> str | None:
    """What is wrong with the admin site's answer, if anything. Only administrators get in:
    everyone else is sent to the admin's sign-in (or refused), and never shown a page but
    that sign-in form; administrators may be refused a page or sent on, never a server
    error."""
    if role == "admin":
        return (
            f"{response.status_code} for an administrator" if response.status_code >= 500 else None
        )
    if endpoint.key == "admin:login":
        return None if response.status_code == 200 else f"{response.status_code}, expected 200"
    if response.status_code in (403, 404):
        return None
    if response.status_code == 302:
        target = response["Location"]
        allowed = (reverse("admin:login"), reverse("admin:index"))
        return None if target.startswith(allowed) else f"redirected to {target}"
    return f"{response.status_code} for {role}"


def test_only_administrators_get_into_any_page_of_the_admin_site(client, world):
    users, _, _ = world
    admin_endpoints = [e for e in endpoints() if e.namespace == ADMIN]
    # Every model's pages and the site's own, the app index and the catch-all included.
    assert len(admin_endpoints) > 100
    wrong = []
    for role in ROLES:
        visitor = Visitor(client, None if role == "anonymous" else users[role])
        for endpoint in admin_endpoints:
            url = fill(endpoint.route, admin_values(endpoint.route))
            assert resolve(url).route == endpoint.route, (url, endpoint.route)
            problem = admin_answer(role, endpoint, visitor.request("GET", url))
            if problem:
                wrong.append(f"{role} {url} ({endpoint.key}): {problem}")
        client.logout()
    assert not wrong, "\n".join(wrong)
