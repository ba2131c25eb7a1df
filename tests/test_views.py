import datetime
import html

import pytest
from django.contrib.auth import get_user_model
from django.db import models
from django.urls import reverse

from evalbuilder.roles import ensure_role_groups
from graders import services as grading
from graders.models import Grade, Grader
from occupations.models import Occupation, Task
from runs import services
from runs.models import Run, Sample

pytestmark = pytest.mark.django_db


@pytest.fixture
def graded(
    eager_celery, demo_suite, make_endpoint, simulated_grader, django_capture_on_commit_callbacks
) -> list[Run]:
    runs = []
    for slug, released in (
        ("sim-early", datetime.date(2023, 6, 1)),
        ("sim-late", datetime.date(2025, 6, 1)),
    ):
        with django_capture_on_commit_callbacks(execute=True):
            runs.append(
                services.create_run(
                    demo_suite, make_endpoint(slug, release_date=released), samples_per_task=2
                )
            )
    for run in runs:
        run.refresh_from_db()
        assert run.status == Run.Status.COMPLETED
    return runs


def login_as(client, role: str):
    groups = ensure_role_groups()
    user = get_user_model().objects.create_user(username=role, password="x")
    user.groups.add(groups[role])
    client.force_login(user)
    return user


def test_the_home_page_lists_every_job_category_with_its_frontier(client, graded):
    response = client.get(reverse("reports:home"))
    assert response.status_code == 200
    page = response.content.decode()
    assert page.count('href="/categories/') == 23
    assert "Legal Occupations" in page
    assert "Sim Late" in page
    assert "simulated" in page
    assert "not measured" in page  # categories without tasks say so
    categories = response.context["overview"].categories
    measured = [c for c in categories if c.success is not None]
    assert len(measured) == response.context["measured"] >= 8
    assert all(0 <= c.success.low <= c.success.point <= c.success.high <= 1 for c in measured)


def test_a_job_category_page_shows_the_trend_chart_and_its_table(client, graded):
    category = Occupation.objects.get(code="13-0000")
    response = client.get(reverse("reports:job_category", args=[category.pk]))
    assert response.status_code == 200
    page = response.content.decode()
    assert "<svg" in page and 'class="frontier"' in page
    models = response.context["report"].models
    assert [m.endpoint.slug for m in models] == ["sim-early", "sim-late"]
    for m in models:
        assert 0 <= m.score.low <= m.score.point <= m.score.high <= 1
        assert m.tasks == 3 and m.samples + m.unscored == 6
    assert response.context["success_summary"].startswith("The best model succeeds on")
    assert "Accountants and Auditors" in page


def test_a_page_for_a_non_category_occupation_is_not_found(client, seeded):
    detailed = Occupation.objects.get(code="23-2011")
    assert client.get(reverse("reports:job_category", args=[detailed.pk])).status_code == 404


def test_run_pages_need_sign_in_and_the_right_role(client, graded):
    run = graded[0]
    url = reverse("graders:run", args=[run.pk])
    response = client.get(url)
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]
    login_as(client, "author")
    assert client.get(url).status_code == 403
    assert client.get(reverse("graders:run_list")).status_code == 403


def every_run_page(client, run: Run) -> str:
    url = reverse("graders:run", args=[run.pk])
    first = client.get(url)
    assert first.status_code == 200
    pages = first.context["page"].paginator.num_pages
    return "".join(client.get(url, {"page": n}).content.decode() for n in range(1, pages + 1))


def held_out_lines(run: Run) -> list[str]:
    """Distinctive lines of the run's outputs on held-out tasks."""
    return [
        html.escape(line[:30])
        for sample in run.samples.filter(task_version__task__visibility=Task.Visibility.HELD_OUT)
        for line in sample.output.splitlines()
        if len(line) > 30
    ]


def test_an_operator_sees_samples_grades_and_held_out_outputs(client, graded):
    login_as(client, "operator")
    run = graded[1]
    assert client.get(reverse("graders:run_list")).status_code == 200
    body = every_run_page(client, run)
    assert "Completed" in body
    assert 'class="met"' in body
    assert "content hidden" not in body
    lines = held_out_lines(run)
    assert lines and all(line in body for line in lines)


def test_an_analyst_sees_run_results_but_not_held_out_content(client, graded):
    login_as(client, "analyst")
    run = graded[1]
    body = every_run_page(client, run)
    assert "Held-out task: content hidden." in body
    lines = held_out_lines(run)
    assert lines and not any(line in body for line in lines)


def test_public_pages_hold_no_held_out_content(client, graded):
    pages = client.get(reverse("reports:home")).content.decode()
    for category in Occupation.objects.filter(job_category_id=models.F("pk")):
        pages += client.get(reverse("reports:job_category", args=[category.pk])).content.decode()
    for occupation in Occupation.objects.filter(tasks__isnull=False).distinct():
        pages += client.get(reverse("reports:occupation", args=[occupation.pk])).content.decode()
    for task in Task.objects.filter(visibility=Task.Visibility.HELD_OUT):
        version = task.latest_version()
        assert str(task.canary) not in pages
        assert html.escape(task.title) not in pages
        for line in version.reference_solution.splitlines() + version.context.splitlines():
            if len(line) > 40:
                assert html.escape(line.strip()[:40]) not in pages


def test_the_health_check_answers_whatever_the_host(client, db, settings):
    settings.ALLOWED_HOSTS = ["evalbuilder.example.org"]
    response = client.get("/healthz", HTTP_HOST="127.0.0.1:8000")
    assert (response.status_code, response.content) == (200, b"ok")
    assert client.get("/", HTTP_HOST="127.0.0.1:8000").status_code == 400


def test_signing_in_and_out_through_the_forms(client, db):
    from django.contrib.auth import get_user_model

    get_user_model().objects.create_user(username="expert", password="a long passphrase")
    signed_in = client.post(
        reverse("login"), {"username": "expert", "password": "a long passphrase"}
    )
    assert signed_in.url == reverse("occupations:my_tasks")
    assert client.get(signed_in.url).status_code == 200
    signed_out = client.post(reverse("logout"))
    assert signed_out.url == reverse("reports:home")


def test_sign_in_page(client, db):
    response = client.get(reverse("login"))
    assert response.status_code == 200
    assert b'<label for="id_username">' in response.content


def test_the_run_page_scores_with_the_grader_reports_use_and_names_it(
    client, graded, simulated_grader
):
    run = graded[1]
    done = list(run.samples.filter(status=Sample.Status.DONE))
    # Both sort before the default grader by name: an old version and an expert panel.
    retired = Grader.objects.create(
        name="A retired judge", judge=simulated_grader.judge, is_active=False
    )
    experts = Grader.objects.create(name="Aa experts", kind=Grader.Kind.HUMAN)
    expert = login_as(client, "operator")
    for sample in done:
        Grade.objects.create(
            sample=sample, grader=retired, status=Grade.Status.SCORED, score=0.111, success=False
        )
        Grade.objects.create(
            sample=sample,
            grader=experts,
            expert=expert,
            status=Grade.Status.SCORED,
            score=0.987,
            success=True,
        )

    response = client.get(reverse("graders:run", args=[run.pk]))

    assert response.context["score_grader"] == simulated_grader
    shown = [s.shown_grade for s in response.context["page"] if s.status == Sample.Status.DONE]
    assert shown and all(g.grader == simulated_grader and g.expert is None for g in shown)
    body = response.content.decode()
    assert 'Score <span class="muted" data-score-grader>(Simulated judge v1)</span>' in body
    # The other grades are listed below, each with its grader's label.
    assert "<strong>A retired judge v1</strong>" in body
    assert "<strong>Aa experts v1</strong>" in body and "expert grade" in body


@pytest.fixture
def world(seeded, settings, tmp_path):
    from tests.authoring import make_world

    settings.MEDIA_ROOT = tmp_path / "media"
    return make_world()


def test_calibration_uses_the_grader_reports_use(client, world, make_endpoint):
    from tests.authoring import write_draft

    first_by_name = Grader.objects.create(name="A judge", judge=make_endpoint("sim-judge-a"))
    newest = Grader.objects.create(name="Z judge", judge=make_endpoint("sim-judge-z"))
    assert grading.default_grader() == newest != first_by_name
    author = world.users["author_a"]
    version = write_draft(author, world.occupation_a)
    client.force_login(author)
    page = client.post(reverse("graders:calibrate", args=[version.task.slug]))
    assert page.context["result"].grader == newest
