"""Grader versions, regrading past runs, and what judging costs."""

import io
import json
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.core.management.base import CommandError

from graders import costs, regrading
from graders import services as grading
from graders.forms import GraderForm
from graders.models import CriterionVerdict, Grade, Grader
from runs import services as run_services
from runs.fake_server import FakeProvider
from runs.models import ModelEndpoint, Run, Sample


@pytest.fixture(autouse=True)
def keys(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")


def graded_run(suite, endpoint) -> Run:
    """A run sampled and graded in-process by the active graders (eager Celery)."""
    run = run_services.create_run(suite, endpoint, samples_per_task=2)
    run.refresh_from_db()
    assert run.status == Run.Status.COMPLETED
    return run


def done_ids(run: Run) -> set[int]:
    return set(run.samples.filter(status=Sample.Status.DONE).values_list("pk", flat=True))


def graded_ids(grader: Grader, run: Run) -> set[int]:
    return set(
        Grade.objects.filter(grader=grader, sample__run=run).values_list("sample", flat=True)
    )


# --- versions (flows through the workers: transactional database) -------------------------


@pytest.mark.django_db(transaction=True)
def test_a_new_version_freezes_the_old_grades_and_grades_new_samples_itself(
    eager_celery, small_suite, make_endpoint, simulated_grader
):
    first_run = graded_run(small_suite, make_endpoint("sim-model"))
    old_grades = dict(Grade.objects.filter(grader=simulated_grader).values_list("pk", "score"))
    assert len(old_grades) == len(done_ids(first_run)) == 4

    second = regrading.new_version(simulated_grader, {"mode": Grader.Mode.BATCHED})

    simulated_grader.refresh_from_db()
    assert (second.name, second.version, second.mode) == (simulated_grader.name, 2, "batched")
    assert second.supersedes == simulated_grader and second.is_active
    assert not simulated_grader.is_active
    assert simulated_grader.mode == Grader.Mode.PER_CRITERION
    assert dict(Grade.objects.filter(grader=simulated_grader).values_list("pk", "score")) == (
        old_grades
    )
    later_run = graded_run(small_suite, make_endpoint("sim-model-2"))
    assert graded_ids(second, later_run) == done_ids(later_run)
    assert not graded_ids(simulated_grader, later_run)
    assert not graded_ids(second, first_run)


@pytest.mark.django_db(transaction=True)
def test_regrade_grades_exactly_the_chosen_runs_and_keeps_the_old_versions_grades(
    eager_celery, small_suite, make_endpoint, simulated_grader, monkeypatch
):
    chosen = graded_run(small_suite, make_endpoint("sim-model"))
    other = graded_run(small_suite, make_endpoint("sim-model-2"))
    old_grades = Grade.objects.filter(grader=simulated_grader).count()
    second = regrading.new_version(simulated_grader, {"mode": Grader.Mode.BATCHED})
    monkeypatch.setattr(regrading, "GRADE_BATCH", 3)

    queued = regrading.regrade(second, [chosen])

    assert (queued.runs, queued.samples, queued.batches) == ([chosen.pk], 4, 2)
    assert graded_ids(second, chosen) == done_ids(chosen)
    assert not graded_ids(second, other)
    assert Grade.objects.filter(grader=simulated_grader).count() == old_grades
    assert regrading.regrade(second, [chosen]).samples == 0  # nothing is graded twice
    progress = {row.run.pk: row for row in regrading.grading_progress(second)}
    assert (progress[chosen.pk].graded, progress[chosen.pk].total) == (4, 4)
    assert (progress[other.pk].graded, progress[other.pk].pending) == (0, 4)


@pytest.mark.django_db(transaction=True)
def test_only_unscored_regrading_replaces_the_judge_failures_and_nothing_else(
    eager_celery, small_suite, make_endpoint, simulated_grader
):
    run = graded_run(small_suite, make_endpoint("sim-model"))
    failed, kept = list(Grade.objects.filter(grader=simulated_grader, sample__run=run))[:2]
    CriterionVerdict.objects.filter(grade=failed).delete()
    Grade.objects.filter(pk=failed.pk).update(
        status=Grade.Status.UNSCORED, score=None, success=None, unscored_reason="judge timeout"
    )
    assert regrading.grading_progress(simulated_grader)[0].unscored == 1

    queued = regrading.regrade(simulated_grader, [run], only_unscored=True)

    assert (queued.samples, queued.deleted_unscored) == (1, 1)
    regraded = Grade.objects.get(grader=simulated_grader, sample=failed.sample)
    assert regraded.pk != failed.pk and regraded.status == Grade.Status.SCORED
    assert regraded.verdicts.exists()
    assert Grade.objects.filter(pk=kept.pk).exists()
    assert Grade.objects.filter(grader=simulated_grader, sample__run=run).count() == 4
    assert regrading.grading_progress(simulated_grader)[0].unscored == 0


@pytest.mark.django_db(transaction=True)
def test_the_regrade_command_names_the_bad_option_and_queues_the_runs(
    eager_celery, small_suite, make_endpoint, simulated_grader
):
    run = graded_run(small_suite, make_endpoint("sim-model"))
    second = regrading.new_version(simulated_grader, {"prefilter": False})
    out = io.StringIO()
    call_command("regrade", "--grader", second.name, "--run", str(run.pk), stdout=out)
    assert f"4 samples of run(s) {run.pk} queued for {second.label}" in out.getvalue()
    assert graded_ids(second, run) == done_ids(run)
    with pytest.raises(CommandError, match="--grader: no grader 'Nope'"):
        call_command("regrade", "--grader", "Nope", "--run", str(run.pk))
    with pytest.raises(CommandError, match="--run: no run 999"):
        call_command("regrade", "--grader", second.name, "--version", "1", "--run", "999")


# --- rules without workers -------------------------------------------------------------


def grade(grader: Grader, sample: Sample, tokens: tuple[int, int], cost: str, **fields) -> Grade:
    values = {"status": Grade.Status.SCORED, "score": 0.5, "success": False, **fields}
    return Grade.objects.create(
        grader=grader,
        sample=sample,
        judge_input_tokens=tokens[0],
        judge_output_tokens=tokens[1],
        judge_cost=Decimal(cost),
        **values,
    )


@pytest.mark.django_db
def test_editing_the_configuration_of_a_graded_grader_is_refused_on_the_field(
    run, simulated_grader
):
    grade(simulated_grader, run.samples.first(), (10, 2), "0")
    form = GraderForm(
        {
            "name": simulated_grader.name,
            "kind": "llm_rubric",
            "judge": simulated_grader.judge_id,
            "mode": "batched",
            "prompt_version": simulated_grader.prompt_version,
            "prefilter": "on",
            "grades_per_sample": "2",
        },
        instance=simulated_grader,
    )
    assert not form.is_valid()
    assert "make a new version instead" in form.errors["mode"][0]
    simulated_grader.refresh_from_db()
    assert simulated_grader.mode == Grader.Mode.PER_CRITERION


@pytest.mark.django_db
def test_a_grader_without_grades_changes_in_place_and_a_graded_one_gets_a_version(
    run, simulated_grader, make_endpoint
):
    second_judge = make_endpoint("sim-judge-2")
    changed, is_new = regrading.change_grader(
        simulated_grader, {"mode": "batched", "extra_judges": [second_judge]}
    )
    assert not is_new and changed.pk == simulated_grader.pk and changed.version == 1
    assert changed.mode == "batched" and list(changed.extra_judges.all()) == [second_judge]

    grade(changed, run.samples.first(), (10, 2), "0")
    version, is_new = regrading.change_grader(changed, {"allow_same_family": True})
    assert is_new and version.version == 2 and version.allow_same_family
    assert list(version.extra_judges.all()) == [second_judge]  # copied when not changed
    with pytest.raises(ValidationError) as refused:
        regrading.new_version(changed, {"mode": "per_criterion"})
    assert "already replaced by" in refused.value.message_dict["version"][0]
    with pytest.raises(ValidationError) as refused:
        regrading.new_version(version, {"judge": None})
    assert "needs a judge model" in refused.value.message_dict["judge"][0]
    assert Grader.objects.filter(name=changed.name).count() == 2


@pytest.mark.django_db
def test_regrading_refuses_human_graders_and_an_empty_choice(run, simulated_grader):
    experts = Grader.objects.create(name="Experts", kind=Grader.Kind.HUMAN)
    with pytest.raises(ValidationError) as refused:
        regrading.regrade(experts, [run])
    assert "graded by experts" in refused.value.message_dict["grader"][0]
    with pytest.raises(ValidationError) as refused:
        regrading.regrade(simulated_grader, [])
    assert "runs" in refused.value.message_dict


@pytest.mark.django_db
def test_judge_cost_per_grader_and_the_batched_saving_on_shared_samples(run, make_endpoint):
    judge = make_endpoint("priced-judge", input_price_per_mtok=Decimal("1"))
    per_criterion = Grader.objects.create(name="Per criterion", judge=judge)
    batched = Grader.objects.create(name="Batched", judge=judge, mode=Grader.Mode.BATCHED)
    elsewhere = Grader.objects.create(
        name="Batched elsewhere", judge=make_endpoint("other-judge"), mode=Grader.Mode.BATCHED
    )
    s1, s2, s3, s4 = run.samples.order_by("pk")
    for sample in (s1, s2, s3):
        grade(per_criterion, sample, (1000, 100), "0.020000")
    grade(batched, s1, (300, 60), "0.005000")
    grade(batched, s2, (300, 60), "0.005000", status=Grade.Status.UNSCORED, score=None)
    grade(batched, s4, (900, 900), "0.900000")  # not graded per criterion: left out
    grade(elsewhere, s1, (1, 1), "0.000001")

    cost = costs.grader_cost(per_criterion)
    assert (cost.grades, cost.input_tokens, cost.output_tokens) == (3, 3000, 300)
    assert cost.total_cost == Decimal("0.06") and cost.mean_cost == pytest.approx(Decimal("0.02"))
    assert costs.grader_costs([batched])[batched.pk].unscored == 1

    (saving,) = costs.batching_savings(batched)
    assert saving.per_criterion == per_criterion and saving.shared_samples == 2
    assert saving.cost_ratio == pytest.approx(0.25)
    assert saving.token_ratio == pytest.approx(360 / 1100)
    assert "costs 25% of per-criterion judging" in saving.summary
    assert costs.batching_savings(per_criterion)[0].shared_samples == 2

    fresh = Grader.objects.create(name="Batched, unused", judge=judge, mode=Grader.Mode.BATCHED)
    (unmeasured,) = costs.batching_savings(fresh)
    assert not unmeasured.measured and unmeasured.summary.startswith("not measured")
    assert costs.batching_savings(elsewhere) == []


def prose_until_fixed(state: dict):
    """A judge that answers in prose without a verdict until state["fixed"], then in JSON."""

    def reply(request: dict) -> str:
        if not state["fixed"]:
            return "The answer looks reasonable overall."
        return json.dumps({"explanation": "checked", "criteria_met": True})

    return reply


def real_judge(fake, make_endpoint, slug: str):
    return make_endpoint(
        slug,
        provider=ModelEndpoint.Provider.OPENAI,
        base_url=fake.openai_url,
        input_price_per_mtok=Decimal("1"),
    )


@pytest.mark.django_db(transaction=True)
def test_only_unscored_regrading_asks_a_real_judge_again_after_a_reply_without_verdict(
    eager_celery, small_suite, make_endpoint
):
    run = graded_run(small_suite, make_endpoint("sim-model"))
    state = {"fixed": False}
    with FakeProvider(reply=prose_until_fixed(state)) as fake:
        grader = Grader.objects.create(
            name="Real judge", judge=real_judge(fake, make_endpoint, "gpt-judge"), is_active=False
        )
        grading.grade_samples(done_ids(run), [grader])
        assert {g.status for g in Grade.objects.filter(grader=grader)} == {"unscored"}
        first_calls = len(fake.requests)
        state["fixed"] = True

        queued = regrading.regrade(grader, [run], only_unscored=True)

        assert queued.deleted_unscored == queued.samples == 4
        assert len(fake.requests) == 2 * first_calls  # every call made again
    grades = Grade.objects.filter(grader=grader, sample__run=run)
    assert grades.count() == 4
    assert all(g.status == Grade.Status.SCORED and g.score is not None for g in grades)
    assert all(g.judge_cached_calls == 0 and g.judge_cost > 0 for g in grades)


@pytest.mark.django_db(transaction=True)
def test_only_unscored_regrading_asks_every_judge_afresh_not_the_cache(
    eager_celery, small_suite, make_endpoint
):
    run = graded_run(small_suite, make_endpoint("sim-model"))
    state = {"fixed": False}
    steady = json.dumps({"explanation": "checked", "criteria_met": True})
    replies = {"steady": lambda request: steady, "shaky": prose_until_fixed(state)}
    with FakeProvider(reply=lambda request: replies[request["model"]](request)) as fake:
        grader = Grader.objects.create(
            name="Pair", judge=real_judge(fake, make_endpoint, "steady"), is_active=False
        )
        grader.extra_judges.set([real_judge(fake, make_endpoint, "shaky")])
        grading.grade_samples(done_ids(run), [grader])
        # One of two judges is not a majority: unscored, while the steady answers are cached.
        assert {g.status for g in Grade.objects.filter(grader=grader)} == {"unscored"}
        steady_calls = [r["json"]["model"] for r in fake.requests].count("steady")
        fake.requests.clear()
        state["fixed"] = True

        regrading.regrade(grader, [run], only_unscored=True)

        asked = [r["json"]["model"] for r in fake.requests]
    assert asked.count("steady") == steady_calls
    grades = Grade.objects.filter(grader=grader, sample__run=run)
    assert all(g.status == Grade.Status.SCORED and g.judge_cached_calls == 0 for g in grades)
