"""What a change of a grader becomes (a version, or an edit of a human grader's expert
settings), what judging costs once the response cache answers some calls, and the grader
pages that show both."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from graders import costs, regrading
from graders.models import ExpertQueueItem, Grade, Grader, GraderValidation
from runs.models import Sample

pytestmark = pytest.mark.django_db


@pytest.fixture
def panel(run, users) -> Grader:
    """A human grader with every sample of the run queued and one of them graded by an
    expert."""
    panel = Grader.objects.create(name="Expert panel", kind=Grader.Kind.HUMAN)
    for sample in run.samples.all():
        ExpertQueueItem.objects.create(grader=panel, sample=sample)
    Grade.objects.create(
        grader=panel,
        sample=run.samples.first(),
        expert=users["reviewer"],
        status=Grade.Status.SCORED,
        score=1.0,
        success=True,
    )
    return panel


def grade(grader: Grader, sample: Sample, tokens: int, cost: str, cached: int = 0) -> Grade:
    return Grade.objects.create(
        grader=grader,
        sample=sample,
        status=Grade.Status.SCORED,
        score=0.5,
        success=False,
        judge_input_tokens=tokens,
        judge_cost=Decimal(cost),
        judge_cached_calls=cached,
    )


# --- human graders have no versions ------------------------------------------------------


def test_a_graded_human_grader_changes_its_grades_per_sample_in_place_and_keeps_its_queue(
    panel,
):
    changed, is_new = regrading.change_grader(panel, {"grades_per_sample": 3, "is_active": False})

    assert not is_new and changed.pk == panel.pk and changed.version == 1
    panel.refresh_from_db()
    assert (panel.grades_per_sample, panel.is_active) == (3, False)
    assert Grader.objects.filter(name=panel.name).count() == 1
    assert panel.queue.count() == 4 and panel.grades.count() == 1


def test_a_human_grader_refuses_a_new_version_and_any_change_but_its_expert_settings(panel):
    with pytest.raises(ValidationError) as refused:
        regrading.new_version(panel, {"grades_per_sample": 3})
    assert "no grading configuration to version" in refused.value.message_dict["kind"][0]
    with pytest.raises(ValidationError) as refused:
        regrading.change_grader(panel, {"mode": Grader.Mode.BATCHED})
    assert "only its expert grades per sample" in refused.value.message_dict["mode"][0]
    with pytest.raises(ValidationError) as refused:
        regrading.change_grader(panel, {"grades_per_sample": 0})
    assert "at least one expert grade" in refused.value.message_dict["grades_per_sample"][0]
    assert Grader.objects.filter(name=panel.name).count() == 1
    panel.refresh_from_db()
    assert panel.grades_per_sample == 2 and panel.mode == Grader.Mode.PER_CRITERION


def test_a_new_version_of_an_llm_grader_cannot_turn_it_into_a_human_grader(run, simulated_grader):
    grade(simulated_grader, run.samples.first(), 10, "0")
    with pytest.raises(ValidationError) as refused:
        regrading.new_version(simulated_grader, {"kind": Grader.Kind.HUMAN, "judge": None})
    assert "keeps its grader's kind" in refused.value.message_dict["kind"][0]
    assert Grader.objects.filter(name=simulated_grader.name).count() == 1


@pytest.mark.parametrize(
    ("role", "status"),
    [("author", 403), ("reviewer", 403), ("operator", 200), ("analyst", 200), ("admin", 200)],
)
def test_the_new_version_page_of_a_human_grader_answers_each_role(
    client, users, panel, role, status
):
    client.force_login(users[role])
    assert client.get(reverse("graders:new_version", args=[panel.pk])).status_code == status


def test_the_new_version_page_of_a_human_grader_edits_its_grades_per_sample(client, users, panel):
    client.force_login(users["operator"])
    detail = client.get(reverse("graders:grader", args=[panel.pk])).content.decode()
    assert "Change expert grades per sample" in detail and "Make a new version" not in detail
    url = reverse("graders:new_version", args=[panel.pk])
    page = client.get(url).content.decode()
    assert "no judge configuration to version" in page
    assert 'name="grades_per_sample"' in page and 'name="judge"' not in page

    answer = client.post(url, {"grades_per_sample": "0", "is_active": "on"})
    assert "grades_per_sample" in answer.context["form"].errors
    answer = client.post(url, {"grades_per_sample": "3", "is_active": "on"}, follow=True)

    assert answer.redirect_chain[-1][0] == reverse("graders:grader", args=[panel.pk])
    assert "now takes 3 expert grades per sample" in answer.content.decode()
    panel.refresh_from_db()
    assert panel.grades_per_sample == 3 and panel.is_active and panel.version == 1
    assert Grader.objects.filter(name=panel.name).count() == 1
    assert panel.queue.count() == 4 and panel.grades.count() == 1


def test_the_new_version_page_of_an_llm_grader_asks_nothing_about_experts(
    client, users, simulated_grader
):
    client.force_login(users["operator"])
    page = client.get(reverse("graders:new_version", args=[simulated_grader.pk])).content.decode()
    assert 'name="judge"' in page and 'name="grades_per_sample"' not in page


# --- judge cost leaves out what the cache answered ---------------------------------------


def test_the_mean_judge_cost_leaves_out_grades_answered_from_the_cache(run, simulated_grader):
    s1, s2, s3, s4 = run.samples.order_by("pk")
    grade(simulated_grader, s1, 1000, "0.010000")
    grade(simulated_grader, s2, 3000, "0.030000")
    grade(simulated_grader, s3, 0, "0", cached=2)
    grade(simulated_grader, s4, 500, "0.005000", cached=1)  # partly from the cache

    cost = costs.grader_cost(simulated_grader)

    assert (cost.grades, cost.cached, cost.measured) == (4, 2, 2)
    assert cost.total_cost == Decimal("0.045") and cost.input_tokens == 4500
    assert cost.mean_cost == pytest.approx(Decimal("0.02"))
    assert cost.mean_input_tokens == pytest.approx(2000)
    assert costs.grader_costs([simulated_grader])[simulated_grader.pk].mean_cost == (
        pytest.approx(Decimal("0.02"))
    )


def test_the_batched_saving_leaves_out_samples_a_cached_grade_answered(run, make_endpoint):
    judge = make_endpoint("priced-judge")
    per_criterion = Grader.objects.create(name="Per criterion", judge=judge)
    batched = Grader.objects.create(name="Batched", judge=judge, mode=Grader.Mode.BATCHED)
    s1, s2, s3, s4 = run.samples.order_by("pk")
    for sample in (s1, s2, s3):
        grade(per_criterion, sample, 1000, "0.020000")
    grade(per_criterion, s4, 0, "0", cached=3)
    grade(batched, s1, 200, "0.004000")
    grade(batched, s2, 200, "0.004000")
    grade(batched, s3, 0, "0", cached=1)  # would make batching look free
    grade(batched, s4, 200, "0.004000")

    (saving,) = costs.batching_savings(batched)

    assert (saving.shared_samples, saving.cached) == (2, 2)
    assert saving.cost_ratio == pytest.approx(0.2) and saving.token_ratio == pytest.approx(0.2)
    assert saving.summary == (
        "batched judging costs 20% of per-criterion judging and uses 20% of its tokens "
        "(2 shared samples; 2 grades answered from the judge cache left out)"
    )
    Grade.objects.filter(grader=batched).update(judge_cached_calls=1)
    (unmeasured,) = costs.batching_savings(batched)
    assert not unmeasured.measured and unmeasured.cached == 5
    assert unmeasured.summary.startswith("not measured") and "judge cache" in unmeasured.summary


def test_the_batched_saving_pairs_only_graders_with_the_same_prompt_and_prefilter(
    run, make_endpoint
):
    judge = make_endpoint("priced-judge")
    batched = Grader.objects.create(
        name="Batched", judge=judge, mode=Grader.Mode.BATCHED, prompt_version="rubric-v2"
    )
    Grader.objects.create(name="Older prompt", judge=judge, prompt_version="rubric-v1")
    Grader.objects.create(
        name="No pre-filter", judge=judge, prompt_version="rubric-v2", prefilter=False
    )
    assert costs.batching_savings(batched) == []
    twin = Grader.objects.create(name="Twin", judge=judge, prompt_version="rubric-v2")
    assert [s.per_criterion for s in costs.batching_savings(batched)] == [twin]


def test_the_grader_pages_show_the_cost_without_the_cached_grades(
    client, users, run, simulated_grader
):
    batched = Grader.objects.create(
        name="Batched", judge=simulated_grader.judge, mode=Grader.Mode.BATCHED
    )
    s1, s2, s3, s4 = run.samples.order_by("pk")
    for sample in (s1, s2, s3):
        grade(simulated_grader, sample, 1000, "0.010000")
        grade(batched, sample, 300, "0.003000")
    grade(simulated_grader, s4, 0, "0", cached=1)
    grade(batched, s4, 0, "0", cached=1)
    client.force_login(users["analyst"])

    page = client.get(reverse("graders:grader", args=[batched.pk])).content.decode()
    assert "0.003000" in page and "over 3 grades; 1 answered from the judge cache" in page
    assert "costs 30% of per-criterion judging" in page
    assert "3 shared samples; 2 grades answered from the judge cache left out" in page

    listing = client.get(reverse("graders:grader_list")).content.decode()
    assert "0.010000" in listing and "0.003000" in listing and "1 cached left out" in listing


def test_the_list_reads_every_graders_cost_and_validation_in_a_fixed_number_of_queries(
    client, users, run, make_endpoint
):
    client.force_login(users["analyst"])
    url = reverse("graders:grader_list")

    def queries_with(graders: int) -> int:
        for n in range(Grader.objects.count(), graders):
            grader = Grader.objects.create(name=f"Judge {n}", judge=make_endpoint(f"judge-{n}"))
            grade(grader, run.samples.first(), 100, "0.001000")
        with CaptureQueriesContext(connection) as captured:
            assert client.get(url).status_code == 200
        return len(captured)

    assert queries_with(2) == queries_with(6)


# --- the latest validation ----------------------------------------------------------------


def test_both_pages_show_the_same_latest_validation_when_two_share_a_time(
    client, users, simulated_grader
):
    experts = Grader.objects.create(name="Experts", kind=Grader.Kind.HUMAN)
    for passed in (True, False):
        GraderValidation.objects.create(
            grader=simulated_grader,
            experts=experts,
            samples=30,
            items=90,
            margin=0.05,
            passed=passed,
            figures={},
        )
    at = timezone.now() - timedelta(days=1)
    GraderValidation.objects.filter(grader=simulated_grader).update(computed_at=at)
    client.force_login(users["analyst"])

    detail = client.get(reverse("graders:grader", args=[simulated_grader.pk]))
    assert detail.context["validation"].passed is False
    assert ">not passed</a> against Experts v1" in detail.content.decode()
    listing = client.get(reverse("graders:grader_list"))
    (row,) = [grader for grader, _ in listing.context["rows"] if grader == simulated_grader]
    assert row.latest_validation_passed is False
