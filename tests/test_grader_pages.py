"""The grader pages, the reports naming their grader, and the demo's graders."""

from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from evalbuilder.demo import install_demo
from graders.models import Grade, Grader, GraderValidation
from reports import materialise, selectors
from runs.models import Run
from tests.authoring import make_user

pytestmark = pytest.mark.django_db


def grade_all(grader: Grader, run: Run, score: float, **fields) -> None:
    for sample in run.samples.all():
        values = {"status": Grade.Status.SCORED, "score": score, "success": score >= 0.5}
        Grade.objects.create(grader=grader, sample=sample, **{**values, **fields})


def llm_form(judge, **overrides) -> dict:
    data = {
        "name": "Frontier judge",
        "kind": "llm_rubric",
        "judge": judge.pk,
        "mode": "per_criterion",
        "prompt_version": "rubric-v1",
        "prefilter": "on",
        "grades_per_sample": "2",
    }
    data.update(overrides)
    return data


@pytest.mark.parametrize(
    ("role", "viewing", "changing"),
    [
        ("author", 403, 403),
        ("reviewer", 403, 403),
        ("operator", 200, 200),
        ("analyst", 200, 200),
        ("admin", 200, 200),
    ],
)
def test_grader_pages_answer_each_role_by_its_permissions(
    client, users, simulated_grader, run, role, viewing, changing
):
    client.force_login(users[role])
    pk = {"pk": simulated_grader.pk}
    assert client.get(reverse("graders:grader_list")).status_code == viewing
    assert client.get(reverse("graders:grader", kwargs=pk)).status_code == viewing
    assert client.get(reverse("graders:grader_create")).status_code == changing
    assert client.get(reverse("graders:new_version", kwargs=pk)).status_code == changing
    answer = client.post(reverse("graders:regrade", kwargs=pk), {"runs": [run.pk]})
    assert answer.status_code == (302 if changing == 200 else 403)


def viewer():
    """Someone who may look at graders and change nothing."""
    user = make_user("grader-viewer")
    user.user_permissions.add(Permission.objects.get(codename="view_grader"))
    return user


def test_signed_out_visitors_are_sent_to_sign_in(client, simulated_grader):
    answer = client.get(reverse("graders:grader", kwargs={"pk": simulated_grader.pk}))
    assert answer.status_code == 302 and "/accounts/login/" in answer["Location"]


def test_the_list_shows_versions_counts_cost_and_the_latest_validation(
    client, users, simulated_grader, run
):
    grade_all(simulated_grader, run, 0.5, judge_cost=Decimal("0.004"))
    experts = Grader.objects.create(name="Expert panel", kind=Grader.Kind.HUMAN)
    GraderValidation.objects.create(
        grader=simulated_grader,
        experts=experts,
        samples=4,
        items=12,
        margin=0.05,
        passed=True,
        figures={},
    )
    client.force_login(users["analyst"])
    page = client.get(reverse("graders:grader_list")).content.decode()
    assert "Simulated judge v1" in page and "Expert panel v1" in page
    assert "0.004000" in page
    assert "passed" in page and reverse("graders:validation", args=[simulated_grader.pk]) in page
    assert "Add a grader" in page
    client.force_login(viewer())
    assert "Add a grader" not in client.get(reverse("graders:grader_list")).content.decode()


def test_an_operator_creates_graders_and_a_taken_name_is_refused_on_the_field(
    client, users, simulated_grader
):
    client.force_login(users["operator"])
    url = reverse("graders:grader_create")
    answer = client.post(url, llm_form(simulated_grader.judge, mode="batched"))
    created = Grader.objects.get(name="Frontier judge")
    assert answer.status_code == 302 and answer["Location"] == reverse(
        "graders:grader", args=[created.pk]
    )
    assert (created.version, created.mode, created.judge) == (1, "batched", simulated_grader.judge)
    answer = client.post(url, llm_form(simulated_grader.judge))
    assert "make a new version of it instead" in answer.context["form"].errors["name"][0]
    answer = client.post(url, llm_form(simulated_grader.judge, name="Panel", kind="human"))
    assert "has no judge model" in answer.context["form"].errors["judge"][0]
    answer = client.post(url, llm_form(simulated_grader.judge, prompt_version="rubric-v9"))
    assert "prompt_version" in answer.context["form"].errors
    answer = client.post(
        url,
        {
            "name": "Panel",
            "kind": "human",
            "mode": "per_criterion",
            "prompt_version": "rubric-v1",
            "grades_per_sample": "3",
        },
    )
    panel = Grader.objects.get(name="Panel")
    assert panel.is_human and panel.judge is None and panel.grades_per_sample == 3
    page = client.get(reverse("graders:grader", args=[panel.pk])).content.decode()
    assert "Expert grades per sample" in page and reverse("graders:expert_queues") in page
    assert "Judge cost" not in page


def test_the_new_version_page_is_prefilled_and_makes_the_next_version_of_a_graded_grader(
    client, users, simulated_grader, run
):
    grade_all(simulated_grader, run, 0.5)
    client.force_login(users["operator"])
    url = reverse("graders:new_version", args=[simulated_grader.pk])
    form = client.get(url).context["form"]
    assert form["judge"].value() == simulated_grader.judge_id
    assert form["mode"].value() == "per_criterion"
    unchanged = llm_form(simulated_grader.judge, prompt_version=simulated_grader.prompt_version)
    unchanged.pop("name")
    answer = client.post(url, unchanged)
    assert "Nothing changed" in answer.content.decode()
    answer = client.post(url, {**unchanged, "mode": "batched"})
    second = Grader.objects.get(name=simulated_grader.name, version=2)
    assert answer["Location"] == reverse("graders:grader", args=[second.pk])
    simulated_grader.refresh_from_db()
    assert not simulated_grader.is_active and second.supersedes == simulated_grader
    # The old version's page points at the latest one, and a new version starts from it.
    answer = client.get(url)
    assert answer.status_code == 302 and answer["Location"].endswith(
        reverse("graders:new_version", args=[second.pk])
    )
    page = client.get(reverse("graders:grader", args=[simulated_grader.pk])).content.decode()
    assert "This version was replaced" in page and f'href="/graders/{second.pk}/"' in page


def test_the_detail_page_shows_cost_saving_progress_and_the_regrade_form(
    client, users, simulated_grader, run
):
    batched = Grader.objects.create(
        name="Batched", judge=simulated_grader.judge, mode=Grader.Mode.BATCHED
    )
    grade_all(simulated_grader, run, 0.5, judge_input_tokens=800, judge_cost=Decimal("0.008"))
    grade_all(batched, run, 0.5, judge_input_tokens=200, judge_cost=Decimal("0.002"))
    client.force_login(users["operator"])
    page = client.get(reverse("graders:grader", args=[batched.pk])).content.decode()
    assert "batched judging costs 25% of per-criterion judging" in page
    assert "4 shared samples" in page
    assert "0.002000" in page  # mean cost per sample
    assert reverse("graders:regrade", args=[batched.pk]) in page
    assert f'value="{run.pk}"' in page
    client.force_login(viewer())
    page = client.get(reverse("graders:grader", args=[batched.pk])).content.decode()
    assert reverse("graders:regrade", args=[batched.pk]) not in page


def test_regrading_from_the_page_queues_the_chosen_runs(
    client, users, simulated_grader, run, django_capture_on_commit_callbacks, monkeypatch
):
    sent = []
    monkeypatch.setattr(
        "graders.regrading.enqueue", lambda name, **kwargs: sent.append((name, kwargs))
    )
    client.force_login(users["operator"])
    url = reverse("graders:regrade", args=[simulated_grader.pk])
    answer = client.post(url, {"runs": [run.pk]}, follow=True)
    done = sorted(run.samples.values_list("pk", flat=True))
    assert sent == [
        (
            "graders.tasks.grade_samples",
            {"sample_ids": done, "grader_ids": [simulated_grader.pk], "fresh": False},
        )
    ]
    assert f"4 samples of run(s) #{run.pk} queued" in answer.content.decode()
    answer = client.post(url, {}, follow=True)
    assert "Nothing was queued" in answer.content.decode()


# --- reports -----------------------------------------------------------------------------


@pytest.fixture
def two_graders(run, simulated_grader):
    """The older grader scores 20 %, its newer version 90 %, on the same completed run."""
    grade_all(simulated_grader, run, 0.2)
    newer = Grader.objects.create(
        name=simulated_grader.name,
        version=2,
        supersedes=simulated_grader,
        judge=simulated_grader.judge,
        prompt_version="rubric-v2",
        allow_same_family=True,
    )
    Grader.objects.filter(pk=simulated_grader.pk).update(is_active=False)
    grade_all(newer, run, 0.9)
    materialise.refresh_run(run.pk)  # grades written by hand: refresh as grading would
    return simulated_grader, newer


def test_reports_name_the_grader_version_and_honour_the_choice(client, run, two_graders):
    older, newer = two_graders
    task = run.samples.first().task_version.task
    category = reverse("reports:job_category", args=[task.occupation.job_category_id])

    page = client.get(category).content.decode()
    assert "Graded by <strong>Simulated judge v2</strong>" in page
    assert "rubric-v2" in page and "same-family judging" in page
    assert f'<option value="{newer.pk}" selected>' in page
    assert "90 %" in page

    page = client.get(f"{category}?grader={older.pk}").content.decode()
    assert "Graded by <strong>Simulated judge v1</strong>" in page
    assert "same-family judging" not in page
    assert "20 %" in page and "90 %" not in page

    home = client.get(f"{reverse('reports:home')}?grader={older.pk}").content.decode()
    assert "Graded by <strong>Simulated judge v1</strong>" in home
    assert f"{category}?grader={older.pk}" in home
    # An unknown choice falls back to the default rather than failing the page.
    page = client.get(f"{category}?grader=999999").content.decode()
    assert "Graded by <strong>Simulated judge v2</strong>" in page


def test_reports_prefer_an_active_grader_whose_latest_validation_passed(client, run, two_graders):
    older, newer = two_graders
    rival = Grader.objects.create(name="Rival judge", judge=newer.judge)
    grade_all(rival, run, 0.5)
    experts = Grader.objects.create(name="Experts", kind=Grader.Kind.HUMAN)
    assert selectors.default_grader() == rival  # newest active, nothing validated yet

    def validation(grader: Grader, passed: bool) -> None:
        GraderValidation.objects.create(
            grader=grader,
            experts=experts,
            samples=30,
            items=90,
            margin=0.05,
            passed=passed,
            figures={},
        )

    validation(newer, True)
    assert selectors.default_grader() == newer
    validation(newer, False)  # only the latest validation counts
    assert selectors.default_grader() == rival
    validation(older, True)  # a retired version is not the default, validated or not
    assert selectors.default_grader() == rival


def test_human_graders_are_not_offered_to_reports(client, run, two_graders):
    experts = Grader.objects.create(name="Experts", kind=Grader.Kind.HUMAN)
    page = client.get(f"{reverse('reports:home')}?grader={experts.pk}").content.decode()
    assert "Simulated judge v2" in page and "Experts v1" not in page


# --- demo ----------------------------------------------------------------------------------


def test_the_demo_installs_a_batched_judge_and_an_expert_panel_once(seeded):
    first = install_demo()
    names = {g.name: g for g in first.graders}
    per_criterion = names["Simulated rubric judge (per criterion)"]
    batched = names["Simulated rubric judge (batched)"]
    panel = names["Expert panel"]
    assert first.grader == per_criterion
    assert per_criterion.judge == batched.judge == first.judge
    assert (per_criterion.mode, batched.mode) == ("per_criterion", "batched")
    assert panel.is_human and panel.judge is None and panel.grades_per_sample == 2
    assert all(g.is_active for g in first.graders)
    second = install_demo()
    assert [g.pk for g in second.graders] == [g.pk for g in first.graders]
    assert Grader.objects.count() == 3
