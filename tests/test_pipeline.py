"""A run from creation to graded samples, with Celery tasks executed in-process."""

import json

import pytest

from graders import services as grading
from graders.models import CriterionVerdict, Grade, Grader
from runs import services
from runs.fake_server import FakeProvider, Planned
from runs.models import ModelEndpoint, Run, Sample

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def keys(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")


def test_a_run_of_a_simulated_model_is_sampled_graded_and_completed(
    eager_celery, small_suite, make_endpoint, simulated_grader
):
    model = make_endpoint("sim-model")
    run = services.create_run(small_suite, model, samples_per_task=3)
    run.refresh_from_db()
    assert run.status == Run.Status.COMPLETED
    assert run.planned_samples == 6
    assert run.samples.filter(status=Sample.Status.DONE).count() == 6
    grades = Grade.objects.filter(sample__run=run)
    assert grades.count() == 6
    assert not grades.exclude(status=Grade.Status.SCORED).exists()
    for grade in grades:
        criteria = grade.sample.task_version.criteria.count()
        assert grade.verdicts.count() == criteria
        assert grade.score is not None and grade.score <= 1.0
    assert small_suite.__class__.objects.get(pk=small_suite.pk).is_frozen


def test_later_simulated_models_score_higher(
    eager_celery, demo_suite, make_endpoint, simulated_grader
):
    import datetime

    old = make_endpoint("sim-old", release_date=datetime.date(2023, 2, 1))
    new = make_endpoint("sim-new", release_date=datetime.date(2025, 10, 1))
    means = {}
    for model in (old, new):
        run = services.create_run(demo_suite, model, samples_per_task=2)
        scores = Grade.objects.filter(sample__run=run).values_list("score", flat=True)
        means[model.slug] = sum(scores) / len(scores)
    assert means["sim-new"] > means["sim-old"] + 0.3


def test_simulated_outputs_are_deterministic(
    eager_celery, small_suite, make_endpoint, simulated_grader
):
    model = make_endpoint("sim-model")
    first = services.create_run(small_suite, model, samples_per_task=2)
    second = services.create_run(small_suite, model, samples_per_task=2)
    outputs = [
        list(run.samples.order_by("task_version", "attempt").values_list("output", flat=True))
        for run in (first, second)
    ]
    assert outputs[0] == outputs[1]
    assert len(set(outputs[0])) > 1, "attempts differ from each other"


def test_a_run_survives_provider_errors(
    eager_celery, small_suite, make_endpoint, simulated_grader, settings
):
    settings.EVALBUILDER_MAX_ATTEMPTS = 2
    with FakeProvider(reply=lambda request: "An answer.") as fake:
        # Every first try fails; so does the first retry, which uses up its sample's tries.
        # (A try waiting to retry gives up its place, so the others go first.)
        fake.plan(*[Planned(status=500)] * 5)
        model = make_endpoint(
            "fake-openai",
            provider=ModelEndpoint.Provider.OPENAI,
            base_url=fake.openai_url,
            max_concurrency=1,
        )
        run = services.create_run(small_suite, model, samples_per_task=2)
    run.refresh_from_db()
    assert run.status == Run.Status.COMPLETED
    failed = run.samples.get(status=Sample.Status.FAILED)
    assert failed.error_kind == "server_error"
    assert failed.tries == 2
    assert "500" in failed.error
    assert run.samples.filter(status=Sample.Status.DONE, tries=2).count() == 3
    assert Grade.objects.filter(sample__run=run).count() == 3


def test_a_run_without_an_api_key_pauses_with_the_reason_and_resumes_once_it_is_set(
    eager_celery, small_suite, make_endpoint, simulated_grader, monkeypatch
):
    monkeypatch.delenv("OPENAI_API_KEY")
    with FakeProvider() as fake:
        model = make_endpoint(
            "no-key", provider=ModelEndpoint.Provider.OPENAI, base_url=fake.openai_url
        )
        run = services.create_run(small_suite, model)
        run.refresh_from_db()
        # Every call would meet the same error: nothing is retried or written as failed.
        assert run.status == Run.Status.PAUSED
        assert "OPENAI_API_KEY" in run.stop_reason
        assert not run.samples.exists()
        assert fake.requests == []

        monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
        assert services.resume_run(run)
    run.refresh_from_db()
    assert run.status == Run.Status.COMPLETED
    assert run.samples.filter(status=Sample.Status.DONE).count() == run.planned_samples


def test_a_judge_that_answers_badly_leaves_grades_unscored(
    eager_celery, small_suite, make_endpoint
):
    replies = iter(["not json at all", json.dumps({"criteria_met": "yes"})] * 1000)
    with FakeProvider(reply=lambda request: next(replies)) as fake:
        judge = make_endpoint(
            "fake-judge", provider=ModelEndpoint.Provider.OPENAI, base_url=fake.openai_url
        )
        Grader.objects.create(name="Broken judge", judge=judge)
        run = services.create_run(small_suite, make_endpoint("sim-model"))
    run.refresh_from_db()
    assert run.status == Run.Status.COMPLETED
    grades = Grade.objects.filter(sample__run=run)
    assert grades.count() == 2
    for grade in grades:
        assert grade.status == Grade.Status.UNSCORED
        assert grade.score is None
        assert "unusable judge reply" in grade.unscored_reason


def test_a_judge_that_is_down_leaves_grades_unscored_with_the_reason(
    eager_celery, small_suite, make_endpoint, settings
):
    settings.EVALBUILDER_MAX_ATTEMPTS = 1
    with FakeProvider() as fake:
        fake.plan(*[Planned(status=503)] * 1000)
        judge = make_endpoint(
            "down-judge", provider=ModelEndpoint.Provider.OPENAI, base_url=fake.openai_url
        )
        Grader.objects.create(name="Down judge", judge=judge)
        run = services.create_run(small_suite, make_endpoint("sim-model"))
    grade = Grade.objects.filter(sample__run=run).first()
    assert grade.status == Grade.Status.UNSCORED
    assert "judge call failed (server_error)" in grade.unscored_reason


def test_redelivered_chunks_and_grading_write_nothing_twice(
    eager_celery, small_suite, make_endpoint, simulated_grader
):
    run = services.create_run(small_suite, make_endpoint("sim-model"), samples_per_task=2)
    items = services.work_items(run)
    samples, grades = Sample.objects.count(), Grade.objects.count()
    verdicts = CriterionVerdict.objects.count()
    Run.objects.filter(pk=run.pk).update(status=Run.Status.RUNNING)
    run.refresh_from_db()
    services.run_chunk(run, items)
    grading.grade_samples(list(run.samples.values_list("pk", flat=True)))
    assert (Sample.objects.count(), Grade.objects.count()) == (samples, grades)
    assert CriterionVerdict.objects.count() == verdicts


def test_batched_and_per_criterion_modes_agree_on_the_simulated_judge(
    eager_celery, small_suite, make_endpoint
):
    judge = make_endpoint("sim-judge")
    per_criterion = Grader.objects.create(name="per", judge=judge, is_active=False)
    batched = Grader.objects.create(
        name="batched", judge=judge, mode=Grader.Mode.BATCHED, is_active=False
    )
    run = services.create_run(small_suite, make_endpoint("sim-model"), samples_per_task=2)
    ids = list(run.samples.values_list("pk", flat=True))
    grading.grade_samples(ids, [per_criterion, batched])
    for sample_id in ids:
        verdicts = {
            grader.pk: dict(
                CriterionVerdict.objects.filter(
                    grade__sample_id=sample_id, grade__grader=grader
                ).values_list("criterion_id", "met")
            )
            for grader in (per_criterion, batched)
        }
        assert verdicts[per_criterion.pk] == verdicts[batched.pk]
        assert verdicts[per_criterion.pk]


def test_run_suite_queues_runs_from_the_command_line(
    eager_celery, small_suite, make_endpoint, simulated_grader, capsys
):
    from django.core.management import call_command

    make_endpoint("sim-a")
    make_endpoint("sim-b")
    call_command(
        "run_suite",
        "--suite",
        "small",
        "--model",
        "sim-a",
        "--model",
        "sim-b",
        "--samples",
        "2",
        "--wait",
    )
    out = capsys.readouterr().out
    assert out.count("queued run") == 2
    assert Run.objects.filter(status=Run.Status.COMPLETED).count() == 2


def test_run_suite_names_the_bad_option(small_suite):
    from django.core.management import call_command
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="--model: no model endpoint with slug 'nope'"):
        call_command("run_suite", "--suite", "small", "--model", "nope")
    with pytest.raises(CommandError, match="--suite: no suite"):
        call_command("run_suite", "--suite", "missing", "--model", "nope")
    assert not Run.objects.exists()


def test_a_chunk_that_crashed_after_writing_its_samples_is_still_graded_when_redelivered(
    eager_celery, small_suite, make_endpoint, simulated_grader
):
    run = services.create_run(small_suite, make_endpoint("sim-model"), samples_per_task=2)
    # Replay the crash: samples of a running run written, the worker gone before it could
    # ask for grading, then the broker redelivering the chunk.
    Grade.objects.all().delete()
    Run.objects.filter(pk=run.pk).update(status=Run.Status.RUNNING)
    run.refresh_from_db()
    services.run_chunk(run, services.work_items(run))
    run.refresh_from_db()
    assert run.status == Run.Status.COMPLETED
    assert Grade.objects.filter(sample__run=run, status=Grade.Status.SCORED).count() == 4


def test_a_run_whose_chunk_message_was_lost_is_restarted_by_the_watchdog(
    eager_celery, small_suite, make_endpoint, simulated_grader, monkeypatch, settings
):
    sent = []
    monkeypatch.setattr(services, "enqueue", lambda name, **kwargs: sent.append(name))
    run = services.create_run(small_suite, make_endpoint("sim-model"))
    services.start_run(run)
    services.start_run(run)  # a redelivered start sends nothing twice
    assert sent.count("runs.tasks.run_chunk") == 1
    monkeypatch.undo()  # the chunk message is lost: nothing ran it

    assert services.watch_runs() == []  # not silent for long enough yet
    settings.EVALBUILDER_STALL_SECONDS = 0
    assert services.watch_runs() == [run.pk]
    run.refresh_from_db()
    assert run.status == Run.Status.COMPLETED
    assert run.samples.count() == 2


def test_an_unexpected_error_inside_a_provider_fails_samples_not_the_run(
    eager_celery, small_suite, make_endpoint, simulated_grader
):
    broken = make_endpoint("sim-broken", parameters={"latency_ms": "fast"})
    run = services.create_run(small_suite, broken)
    run.refresh_from_db()
    assert run.status == Run.Status.FAILED
    assert set(run.samples.values_list("error_kind", flat=True)) == {"internal"}
    assert "ValueError" in run.samples.first().error


def test_a_redelivered_schedule_trigger_starts_each_run_once(
    eager_celery, small_suite, make_endpoint, simulated_grader
):
    schedule = services.save_schedule(
        name="Nightly",
        suite=small_suite,
        endpoints=[make_endpoint("a"), make_endpoint("b")],
        cron="0 1 * * *",
        samples_per_task=1,
    )
    services.trigger_schedule(schedule, trigger_id="beat-message-1")
    services.trigger_schedule(schedule, trigger_id="beat-message-1")
    assert Run.objects.count() == 2
    services.trigger_schedule(schedule, trigger_id="beat-message-2")
    assert Run.objects.count() == 4


def test_runs_refuse_suites_with_drafts_or_unscorable_versions(small_suite, make_endpoint):
    from occupations.models import Suite, Task, TaskVersion

    task = Task.objects.first()
    draft = TaskVersion.objects.create(
        task=task,
        number=50,
        instructions="x",
        deliverable="y",
        estimated_minutes=10,
        reference_solution="z",
    )
    with_draft = Suite.objects.create(name="Drafts", slug="drafts")
    with_draft.task_versions.set([draft])
    with pytest.raises(ValueError, match="unsubmitted versions"):
        services.create_run(with_draft, make_endpoint("a"))
    draft.lock()
    with pytest.raises(ValueError, match="without a positive criterion"):
        services.create_run(with_draft, make_endpoint("b"))
    assert not Run.objects.exists()
    with_draft.refresh_from_db()
    assert not with_draft.is_frozen


def test_identical_work_again_makes_no_api_calls_unless_fresh_samples_are_asked_for(
    eager_celery, small_suite, make_endpoint
):
    from runs.models import CachedResponse

    replies = iter(f"Answer number {n}." for n in range(1000))
    verdict = json.dumps({"explanation": "ok", "criteria_met": True})
    with FakeProvider(
        reply=lambda request: verdict if "criterion" in json.dumps(request) else next(replies)
    ) as fake:
        model = make_endpoint(
            "fake-model",
            provider=ModelEndpoint.Provider.OPENAI,
            base_url=fake.openai_url,
            input_price_per_mtok=1,
            output_price_per_mtok=1,
        )
        judge = make_endpoint(
            "fake-judge", provider=ModelEndpoint.Provider.OPENAI, base_url=fake.openai_url
        )
        Grader.objects.create(name="Fake judge", judge=judge)
        first = services.create_run(small_suite, model, samples_per_task=2)
        calls_first = len(fake.requests)
        second = services.create_run(small_suite, model, samples_per_task=2)
        assert len(fake.requests) == calls_first, "the second run is served from the cache"
        fresh = services.create_run(small_suite, model, samples_per_task=2, fresh_samples=True)
        model_calls = [r for r in fake.requests if r["json"]["model"] == "fake-model"]
    for run in (first, second, fresh):
        run.refresh_from_db()
        assert run.status == Run.Status.COMPLETED
    outputs = [
        list(run.samples.order_by("task_version", "attempt").values_list("output", flat=True))
        for run in (first, second, fresh)
    ]
    assert outputs[0] == outputs[1]
    assert len(set(outputs[0])) == 4, "attempts are separate calls, cached separately"
    assert outputs[2] != outputs[0]
    assert len(model_calls) == 8, "four calls for the first run, none for the second, four fresh"
    assert not second.samples.filter(cached=False).exists()
    assert sum(s.cost for s in second.samples.all()) == 0
    assert all(s.cost > 0 for s in first.samples.all())
    assert not fresh.samples.filter(cached=True).exists()
    # The first answer to a call stays cached: a later run without fresh samples repeats it.
    assert CachedResponse.objects.filter(model_id="fake-model").count() == 4


def test_simulated_models_are_not_cached(
    eager_celery, small_suite, make_endpoint, simulated_grader
):
    from runs.models import CachedResponse

    services.create_run(small_suite, make_endpoint("sim-model"))
    assert not CachedResponse.objects.exists()
