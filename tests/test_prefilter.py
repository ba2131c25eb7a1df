"""The pre-filter: answers with nothing to grade are scored 0 without a judge call."""

import json

import pytest

from graders import prefilter
from graders.models import CriterionVerdict, Grade, Grader
from graders.services import grade_samples
from runs.fake_server import FakeProvider
from runs.models import ModelEndpoint, Run, Sample
from tests.adversarial import ATTACKS, LEGITIMATE


@pytest.fixture(autouse=True)
def keys(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "test-openai-key")


@pytest.mark.parametrize("attack", ATTACKS, ids=[a.name for a in ATTACKS])
def test_every_attack_of_the_adversarial_suite_is_caught_with_its_reason(attack):
    screening = prefilter.screen(attack.output)
    assert screening.reason == attack.reason
    assert attack.reason in prefilter.REASONS


@pytest.mark.parametrize("answer", LEGITIMATE, ids=[a.name for a in LEGITIMATE])
def test_legitimate_answers_are_left_to_the_judge(answer):
    screening = prefilter.screen(answer.output)
    assert not screening.caught
    assert screening.injection_suspected is answer.flagged
    assert screening.flags == (["injection_suspected"] if answer.flagged else [])


def test_reason_codes_fit_the_grade_field():
    limit = Grade._meta.get_field("prefilter").max_length
    assert all(len(code) <= limit for code in prefilter.REASONS)


def _samples_with_outputs(run: Run, outputs: list[str]) -> list[Sample]:
    """The run's done samples, their outputs replaced by `outputs` in turn."""
    samples = list(run.samples.filter(status=Sample.Status.DONE).order_by("pk"))
    assert len(samples) >= len(outputs)
    for sample, output in zip(samples, outputs, strict=False):
        sample.output = output
        sample.save(update_fields=["output"])
    return samples[: len(outputs)]


@pytest.fixture
def sampled_run(small_suite, make_endpoint, eager_celery, django_capture_on_commit_callbacks):
    """A run of a simulated model with a sample per attack for each task, no grader active."""
    from runs import services as run_services

    with django_capture_on_commit_callbacks(execute=True):
        return run_services.create_run(
            small_suite, make_endpoint("sim-model"), samples_per_task=len(ATTACKS)
        )


@pytest.mark.django_db
def test_the_whole_suite_is_scored_zero_without_any_judge_call(sampled_run, make_endpoint):
    met_everything = json.dumps({"explanation": "fooled", "criteria_met": True})
    with FakeProvider(reply=lambda request: met_everything) as fake:
        judge = make_endpoint(
            "fake-judge", provider=ModelEndpoint.Provider.OPENAI, base_url=fake.openai_url
        )
        grader = Grader.objects.create(name="screened", judge=judge, is_active=False)
        samples = _samples_with_outputs(sampled_run, [a.output for a in ATTACKS])
        assert grade_samples([s.pk for s in samples], [grader]) == len(ATTACKS)
        assert fake.stats()["by_route"] == {}
    for sample, attack in zip(samples, ATTACKS, strict=True):
        grade = Grade.objects.get(sample=sample, grader=grader)
        assert (grade.status, grade.score, grade.success) == (Grade.Status.SCORED, 0.0, False)
        assert grade.prefilter == attack.reason
        assert grade.judge_cost == 0
        verdicts = CriterionVerdict.objects.filter(grade=grade)
        assert verdicts.count() == sample.task_version.criteria.count()
        # Negative criteria too are "not met" (absent), so nothing takes the score below 0.
        assert not verdicts.filter(met=True).exists()
        assert all(attack.reason in v.explanation for v in verdicts)


@pytest.mark.django_db
def test_without_the_pre_filter_the_same_answers_go_to_the_judge(sampled_run, make_endpoint):
    reply = json.dumps({"explanation": "fooled", "criteria_met": True})
    with FakeProvider(reply=lambda request: reply) as fake:
        judge = make_endpoint(
            "fake-judge", provider=ModelEndpoint.Provider.OPENAI, base_url=fake.openai_url
        )
        grader = Grader.objects.create(name="open", judge=judge, prefilter=False, is_active=False)
        samples = _samples_with_outputs(sampled_run, ["Solution", ":"])
        grade_samples([s.pk for s in samples], [grader])
        assert fake.stats()["by_route"]["/v1/chat/completions"] > 0
    grade = Grade.objects.get(sample=samples[0], grader=grader)
    assert grade.prefilter == ""
    assert grade.score is not None and grade.score > 0


@pytest.mark.django_db
def test_real_content_with_an_injection_is_judged_and_flagged(sampled_run, make_endpoint):
    reply = json.dumps({"explanation": "checked", "criteria_met": False})
    with FakeProvider(reply=lambda request: reply) as fake:
        judge = make_endpoint(
            "fake-judge", provider=ModelEndpoint.Provider.OPENAI, base_url=fake.openai_url
        )
        grader = Grader.objects.create(name="screened", judge=judge, is_active=False)
        flagged = next(a for a in LEGITIMATE if a.name == "content with delimiter close")
        (sample,) = _samples_with_outputs(sampled_run, [flagged.output])
        grade_samples([sample.pk], [grader])
        prompt = fake.requests[0]["json"]["messages"][-1]["content"]
    grade = Grade.objects.get(sample=sample, grader=grader)
    assert grade.flags == ["injection_suspected"]
    assert grade.prefilter == ""
    assert grade.status == Grade.Status.SCORED
    # The forged closing tag reached the judge escaped, inside the one real output block.
    assert prompt.count("</candidate_output>") == 1
    assert "&lt;/candidate_output&gt;" in prompt
