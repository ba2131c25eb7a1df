"""Batch runs through the real openai and anthropic SDKs, against the fake provider.

In eager mode a poll's countdown is ignored and the next poll runs at once, so the fake's
batches end within a few polls (batch_delay 0.05 s). Tests of a batch still in flight drive
the tasks themselves: without eager_celery, tasks enqueued go to the test broker and wait.
"""

import json
import re
import time
from decimal import Decimal

import pytest

from graders.models import Grade
from runs import batches, services, tasks
from runs.fake_server import MODEL_ROUTES, FakeConfig, FakeProvider, request_text
from runs.models import CachedResponse, ModelEndpoint, ProviderBatch, Run, Sample, Schedule

pytestmark = pytest.mark.django_db(transaction=True)

QUICK = 0.05  # seconds before a fake batch ends
KINDS = ["openai-chat", "openai-responses", "anthropic"]


@pytest.fixture(autouse=True)
def keys_and_quick_polls(monkeypatch, settings):
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "test-key")
    settings.EVALBUILDER_BATCH_POLL_SECONDS = 0


def batch_model(make_endpoint, fake: FakeProvider, kind: str) -> ModelEndpoint:
    """A priced model on the fake: 2 per million tokens read, 8 per million written."""
    prices = {"input_price_per_mtok": Decimal("2"), "output_price_per_mtok": Decimal("8")}
    if kind == "anthropic":
        return make_endpoint(
            "fake-claude",
            provider=ModelEndpoint.Provider.ANTHROPIC,
            base_url=fake.anthropic_url,
            parameters={"temperature": 0.3},
            **prices,
        )
    parameters = {"api": "responses"} if kind == "openai-responses" else {"seed": 7}
    return make_endpoint(
        f"fake-{kind}",
        provider=ModelEndpoint.Provider.OPENAI,
        base_url=fake.openai_url,
        parameters=parameters,
        **prices,
    )


def first_line(request: dict) -> str:
    """The first line of the task in a request of any of the three shapes."""
    user_text = next(text for text in request_text(request) if "## Deliverable" in text)
    return user_text.strip().splitlines()[0][:80]


def answer_naming_the_task(request: dict) -> str:
    return f"Answer to: {first_line(request)}"


def expected_answer(sample: Sample) -> str:
    return f"Answer to: {sample.task_version.instructions.strip().splitlines()[0][:80]}"


def batch_requests(fake: FakeProvider) -> list[dict]:
    """Every request that went into a batch, as the provider received it."""
    sent = []
    for stored in fake.files.values():
        if stored["object"]["purpose"] == "batch":
            sent += [json.loads(line) for line in stored["content"].decode().splitlines()]
    for request in fake.requests:
        if request["method"] == "POST" and request["path"] == "/v1/messages/batches":
            sent += request["json"]["requests"]
    return sent


def live_calls(fake: FakeProvider) -> list[dict]:
    return [request for request in fake.requests if request["path"] in MODEL_ROUTES]


def wait_for_the_fake(fake: FakeProvider) -> None:
    """Until every batch the fake holds has ended."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        states = [b["status"] for b in fake.openai_batches.values()] + [
            b["processing_status"] for b in fake.anthropic_batches.values()
        ]
        if all(state in ("completed", "expired", "ended", "cancelled") for state in states):
            return
        time.sleep(0.02)
    raise AssertionError("the fake's batches did not end")


def start_without_polling(run: Run) -> ProviderBatch:
    """Start a batch run and submit its batch, leaving its polls on the broker."""
    services.start_run(run)
    tasks.submit_batch(run.pk, seq=0)
    return ProviderBatch.objects.get(run=run)


@pytest.mark.parametrize("kind", KINDS)
def test_a_batch_run_samples_every_item_once_at_half_price(
    kind, eager_celery, small_suite, make_endpoint, simulated_grader, settings
):
    settings.EVALBUILDER_BATCH_HELD_OUT = True
    with FakeProvider(FakeConfig(batch_delay=QUICK), reply=answer_naming_the_task) as fake:
        model = batch_model(make_endpoint, fake, kind)
        run = services.create_run(small_suite, model, samples_per_task=3, use_batch=True)
        sent = batch_requests(fake)
        assert live_calls(fake) == []
    run.refresh_from_db()
    assert run.status == Run.Status.COMPLETED
    samples = list(run.samples.select_related("task_version"))
    assert len(samples) == 6
    for sample in samples:
        assert sample.status == Sample.Status.DONE
        # Results come back shuffled: each answer is the one to its own task.
        assert sample.output == expected_answer(sample)
        assert sample.cost == model.cost_of(sample.input_tokens, sample.output_tokens) / 2
        assert sample.cost > 0
        assert (sample.tries, sample.cached) == (1, False)
    batch = run.provider_batches.get()
    assert (batch.status, batch.round, batch.succeeded) == (ProviderBatch.Status.ENDED, 1, 6)
    assert len(sent) == 6
    assert {entry["custom_id"] for entry in sent} == set(batch.items)
    assert all(re.fullmatch(r"s-\d+-\d", entry["custom_id"]) for entry in sent)
    assert Grade.objects.filter(sample__run=run).count() == 6


def test_a_batch_asks_what_a_live_call_would(eager_celery, small_suite, make_endpoint):
    """The params of a batch request are a live call's body: temperature included."""
    with FakeProvider(FakeConfig(batch_delay=QUICK)) as fake:
        model = batch_model(make_endpoint, fake, "anthropic")
        services.create_run(small_suite, model, use_batch=True)
        services.create_run(small_suite, model, fresh_samples=True)
        batched = batch_requests(fake)[0]["params"]
        live = next(call["json"] for call in live_calls(fake) if call["json"] == batched)
    assert live["temperature"] == 0.3
    assert live["max_tokens"] > 0


@pytest.mark.parametrize("kind", ["openai-chat", "anthropic"])
def test_held_out_tasks_stay_out_of_batches_and_are_sampled_live(
    kind, eager_celery, small_suite, make_endpoint, simulated_grader
):
    held_out = small_suite.task_versions.get(task__visibility="held_out")
    with FakeProvider(FakeConfig(batch_delay=QUICK), reply=answer_naming_the_task) as fake:
        model = batch_model(make_endpoint, fake, kind)
        run = services.create_run(small_suite, model, samples_per_task=2, use_batch=True)
        sent = json.dumps(batch_requests(fake))
        live = live_calls(fake)
    run.refresh_from_db()
    assert run.status == Run.Status.COMPLETED
    assert held_out.task.canary_string not in sent
    assert f"s-{held_out.pk}-" not in sent
    assert len(live) == 2
    assert all(held_out.task.canary_string in json.dumps(call["json"]) for call in live)
    for sample in run.samples.all():
        live_price = model.cost_of(sample.input_tokens, sample.output_tokens)
        held = sample.task_version_id == held_out.pk
        assert sample.cost == (live_price if held else live_price / 2)
        assert sample.output == expected_answer(sample)


def test_held_out_tasks_go_in_batches_when_the_setting_allows(
    eager_celery, small_suite, make_endpoint, settings
):
    settings.EVALBUILDER_BATCH_HELD_OUT = True
    held_out = small_suite.task_versions.get(task__visibility="held_out")
    with FakeProvider(FakeConfig(batch_delay=QUICK)) as fake:
        run = services.create_run(
            small_suite, batch_model(make_endpoint, fake, "openai-chat"), use_batch=True
        )
        assert held_out.task.canary_string in json.dumps(batch_requests(fake))
        assert live_calls(fake) == []
    assert run.samples.count() == 2


@pytest.mark.parametrize("kind", ["openai-chat", "anthropic"])
def test_errored_items_go_again_in_a_new_round_and_end_done(
    kind, eager_celery, small_suite, make_endpoint, settings
):
    settings.EVALBUILDER_BATCH_HELD_OUT = True
    config = FakeConfig(batch_delay=QUICK, batch_error_rate=0.5, seed=3)
    with FakeProvider(config, reply=answer_naming_the_task) as fake:
        model = batch_model(make_endpoint, fake, kind)
        run = services.create_run(small_suite, model, samples_per_task=3, use_batch=True)
    samples = list(run.samples.select_related("task_version"))
    assert len(samples) == 6
    assert all(s.status == Sample.Status.DONE for s in samples)
    assert all(s.output == expected_answer(s) for s in samples)
    rounds = list(run.provider_batches.values_list("round", "errored"))
    assert rounds[0][1] > 0, "the first round had errors"
    assert len(rounds) > 1
    assert [r for r, _ in rounds] == list(range(1, len(rounds) + 1))
    assert max(s.tries for s in samples) == len(rounds)
    assert sum(s.tries > 1 for s in samples) == rounds[0][1]


@pytest.mark.parametrize("kind", ["openai-chat", "anthropic"])
def test_expired_items_go_again_until_they_are_answered(
    kind, eager_celery, small_suite, make_endpoint, settings
):
    settings.EVALBUILDER_BATCH_HELD_OUT = True
    # Half of each batch expires, rounded: 3 of 6, then 2 of 3, 1 of 2, none of 1.
    with FakeProvider(FakeConfig(batch_delay=QUICK, batch_expired_share=0.5)) as fake:
        model = batch_model(make_endpoint, fake, kind)
        run = services.create_run(small_suite, model, samples_per_task=3, use_batch=True)
    assert list(run.provider_batches.values_list("round", "expired")) == [
        (1, 3),
        (2, 2),
        (3, 1),
        (4, 0),
    ]
    tries = sorted(run.samples.filter(status=Sample.Status.DONE).values_list("tries", flat=True))
    assert tries == [1, 1, 1, 2, 3, 4]


def test_items_still_failing_after_the_last_round_are_failed_samples(
    eager_celery, small_suite, make_endpoint, simulated_grader, settings
):
    settings.EVALBUILDER_BATCH_HELD_OUT = True
    settings.EVALBUILDER_MAX_ATTEMPTS = 2
    with FakeProvider(FakeConfig(batch_delay=QUICK, batch_error_rate=1.0)) as fake:
        model = batch_model(make_endpoint, fake, "openai-chat")
        run = services.create_run(small_suite, model, samples_per_task=2, use_batch=True)
    run.refresh_from_db()
    assert run.provider_batches.count() == 2
    samples = list(run.samples.all())
    assert len(samples) == 4
    for sample in samples:
        assert (sample.status, sample.error_kind, sample.tries) == ("failed", "server_error", 2)
        assert "Injected batch item failure" in sample.error
    assert run.status == Run.Status.FAILED


def test_a_big_run_is_split_over_several_batches(
    eager_celery, small_suite, make_endpoint, settings
):
    settings.EVALBUILDER_BATCH_HELD_OUT = True
    settings.EVALBUILDER_BATCH_MAX_ITEMS = 2
    with FakeProvider(FakeConfig(batch_delay=QUICK), reply=answer_naming_the_task) as fake:
        model = batch_model(make_endpoint, fake, "openai-responses")
        run = services.create_run(small_suite, model, samples_per_task=3, use_batch=True)
        assert len(fake.openai_batches) == 3
    assert [len(b.items) for b in run.provider_batches.all()] == [2, 2, 2]
    samples = list(run.samples.select_related("task_version"))
    assert len(samples) == 6
    assert all(s.output == expected_answer(s) for s in samples)


def test_cached_answers_are_not_sent_again(eager_celery, small_suite, make_endpoint, settings):
    settings.EVALBUILDER_BATCH_HELD_OUT = True
    with FakeProvider(FakeConfig(batch_delay=QUICK)) as fake:
        model = batch_model(make_endpoint, fake, "anthropic")
        first = services.create_run(small_suite, model, samples_per_task=2, use_batch=True)
        second = services.create_run(small_suite, model, samples_per_task=2, use_batch=True)
        assert len(fake.anthropic_batches) == 1
    assert CachedResponse.objects.count() == 4
    assert not second.provider_batches.exists()
    assert second.samples.filter(cached=True, cost=0).count() == 4
    assert list(second.samples.values_list("output", flat=True)) == list(
        first.samples.values_list("output", flat=True)
    )


def test_a_redelivered_poll_writes_nothing_twice(small_suite, make_endpoint, settings):
    settings.EVALBUILDER_BATCH_HELD_OUT = True
    with FakeProvider(FakeConfig(batch_delay=QUICK)) as fake:
        model = batch_model(make_endpoint, fake, "openai-chat")
        run = services.create_run(small_suite, model, samples_per_task=2, use_batch=True)
        batch = start_without_polling(run)
        tasks.submit_batch(run.pk, seq=0)  # a redelivered submission sends nothing
        assert len(fake.openai_batches) == 1
        wait_for_the_fake(fake)
        # Two deliveries of one poll, both of which read the batch before either wrote.
        first, second = (
            ProviderBatch.objects.get(pk=batch.pk),
            ProviderBatch.objects.get(pk=batch.pk),
        )
        batches.poll_batch(first, polls=0)
        written = list(run.samples.values_list("pk", flat=True))
        batches.poll_batch(second, polls=0)
        tasks.poll_batch(batch.pk, polls=0)
    assert len(written) == 4
    assert list(run.samples.values_list("pk", flat=True)) == written
    assert CachedResponse.objects.count() == 4
    batch.refresh_from_db()
    assert (batch.status, batch.succeeded) == (ProviderBatch.Status.ENDED, 4)


def test_a_poll_of_a_batch_still_running_asks_again_once(small_suite, make_endpoint):
    with FakeProvider(FakeConfig(batch_delay=5)) as fake:
        run = services.create_run(
            small_suite, batch_model(make_endpoint, fake, "anthropic"), use_batch=True
        )
        batch = start_without_polling(run)
        tasks.poll_batch(batch.pk, polls=0)
        tasks.poll_batch(batch.pk, polls=0)  # redelivered: it sends no second next poll
    batch.refresh_from_db()
    assert (batch.status, batch.polls) == (ProviderBatch.Status.SUBMITTED, 1)
    run.refresh_from_db()
    assert run.heartbeat_at is not None, "a waiting run shows the watchdog it is alive"


@pytest.mark.parametrize("kind", ["openai-chat", "anthropic"])
@pytest.mark.parametrize("stop", [services.cancel_run, services.pause_run])
def test_stopping_a_run_cancels_its_batch_in_flight(kind, stop, small_suite, make_endpoint):
    with FakeProvider(FakeConfig(batch_delay=5)) as fake:
        run = services.create_run(
            small_suite, batch_model(make_endpoint, fake, kind), use_batch=True
        )
        batch = start_without_polling(run)
        assert stop(run)
        tasks.poll_batch(batch.pk, polls=0)
        provider_batch = (fake.openai_batches | fake.anthropic_batches)[batch.provider_batch_id]
    assert provider_batch.get("status", provider_batch.get("processing_status")) in (
        "cancelled",
        "ended",
    )
    assert provider_batch.get("cancelled_at") or provider_batch.get("cancel_initiated_at")
    batch.refresh_from_db()
    assert (batch.status, batch.canceled) == (ProviderBatch.Status.ENDED, 1)
    assert not run.samples.exists()


def test_a_spent_budget_stops_the_next_round(eager_celery, small_suite, make_endpoint, settings):
    settings.EVALBUILDER_BATCH_HELD_OUT = True
    config = FakeConfig(batch_delay=QUICK, batch_error_rate=0.5, seed=3)
    with FakeProvider(config) as fake:
        model = batch_model(make_endpoint, fake, "openai-chat")
        run = services.create_run(
            small_suite, model, samples_per_task=3, use_batch=True, budget=Decimal("0.0001")
        )
    run.refresh_from_db()
    assert run.status == Run.Status.PAUSED
    assert "budget" in run.stop_reason
    batch = run.provider_batches.get()
    assert run.samples.count() == batch.succeeded < 6


def test_a_batch_run_without_a_key_pauses_with_the_reason(
    eager_celery, small_suite, make_endpoint, monkeypatch
):
    monkeypatch.delenv("ANTHROPIC_API_KEY")
    with FakeProvider() as fake:
        model = batch_model(make_endpoint, fake, "anthropic")
        run = services.create_run(small_suite, model, use_batch=True)
        assert fake.requests == []
    run.refresh_from_db()
    assert run.status == Run.Status.PAUSED
    assert "ANTHROPIC_API_KEY" in run.stop_reason
    assert not run.samples.exists()


def test_a_simulated_model_has_no_batch_api_and_samples_live(
    eager_celery, small_suite, make_endpoint, simulated_grader
):
    run = services.create_run(small_suite, make_endpoint("sim-model"), use_batch=True)
    run.refresh_from_db()
    assert run.status == Run.Status.COMPLETED
    assert run.samples.count() == 2
    assert not run.provider_batches.exists()


def test_a_schedule_that_uses_batches_starts_batch_runs(small_suite, make_endpoint):
    schedule = Schedule.objects.create(name="Weekly", suite=small_suite, use_batch=True)
    schedule.endpoints.set([make_endpoint("sim-model")])
    [run] = services.trigger_schedule(schedule)
    assert run.use_batch
    [run] = services.trigger_schedule(schedule, use_batch=False)
    assert not run.use_batch


def test_a_paused_batch_run_resumes_in_a_batch_at_the_batch_price(
    eager_celery, small_suite, make_endpoint, simulated_grader, settings
):
    settings.EVALBUILDER_BATCH_HELD_OUT = True
    with FakeProvider(FakeConfig(batch_delay=QUICK)) as fake:
        model = batch_model(make_endpoint, fake, "openai-chat")
        run = services.create_run(
            small_suite, model, samples_per_task=2, use_batch=True, budget=Decimal("0")
        )
        run.refresh_from_db()
        assert run.status == Run.Status.PAUSED and not run.samples.exists()
        assert services.resume_run(run, budget=Decimal("10"))
        assert live_calls(fake) == [], "resumed in a batch, not live"
    run.refresh_from_db()
    assert run.status == Run.Status.COMPLETED
    for sample in run.samples.all():
        assert sample.cost == model.cost_of(sample.input_tokens, sample.output_tokens) / 2
