"""The run engine: adaptive concurrency, budgets, pause, cancel, resume and redelivery."""

import asyncio
import time
from decimal import Decimal

import pytest

from runs import engine, services
from runs.fake_server import FakeConfig, FakeProvider, Planned
from runs.limits import AdaptiveLimiter
from runs.models import CachedResponse, ModelEndpoint, Run, Sample
from runs.providers import ModelRequest, ModelResponse, ProviderError, RateLimits

# Runs are enqueued when their transaction commits, so these tests commit.
pytestmark = pytest.mark.django_db(transaction=True)

# --- the adaptive limit -----------------------------------------------------------------


def test_a_rate_limit_episode_halves_the_limit_once_and_success_grows_it_back():
    async def scenario():
        limiter = AdaptiveLimiter(16)
        tickets = []
        for _ in range(5):  # five calls sent together, all answered 429
            async with limiter.slot() as ticket:
                tickets.append(ticket)
        for ticket in tickets:
            limiter.rate_limited(ticket, retry_after=None)
        assert limiter.allowed == 8, "one episode, one decrease"
        async with limiter.slot() as ticket:
            pass
        limiter.rate_limited(ticket, retry_after=None)  # sent after the decrease: a new one
        assert limiter.allowed == 4
        for _ in range(200):
            limiter.succeeded()
        assert limiter.allowed == 16, "additive increase back up to the ceiling"

    asyncio.run(scenario())


def test_the_limit_caps_calls_in_flight_and_retry_after_holds_new_ones():
    async def scenario():
        limiter = AdaptiveLimiter(3)
        in_flight, peak = 0, 0

        async def call():
            nonlocal in_flight, peak
            async with limiter.slot():
                in_flight += 1
                peak = max(peak, in_flight)
                await asyncio.sleep(0.01)
                in_flight -= 1

        await asyncio.gather(*(call() for _ in range(20)))
        assert peak == 3
        async with limiter.slot() as ticket:
            pass
        limiter.rate_limited(ticket, retry_after=0.3)
        started = time.monotonic()
        async with limiter.slot():
            waited = time.monotonic() - started
        assert waited >= 0.25

    asyncio.run(scenario())


def test_the_providers_request_budget_paces_calls_and_a_spent_budget_waits_for_reset():
    async def scenario():
        limiter = AdaptiveLimiter(50)
        async with limiter.slot() as first:
            pass
        # 600 a minute: one call every 0.1 s; 5 left, with one more already sent.
        async with limiter.slot():
            pass
        limiter.observe(first, RateLimits(limit=600, remaining=5, reset_seconds=0.6))
        assert limiter.remaining == 4
        limiter.next_start = time.monotonic()  # no late starts to make up
        started = time.monotonic()
        for _ in range(4):
            async with limiter.slot():
                pass
        paced = time.monotonic() - started
        assert 0.25 <= paced < 0.6, "the calls left go at the pace"
        async with limiter.slot():  # the budget is spent: wait for the reset
            pass
        assert time.monotonic() - started >= 0.55

    asyncio.run(scenario())


def test_what_a_limiter_learnt_carries_over_to_the_next_chunk_of_the_endpoint():
    from runs.limits import limiter_for, remember

    async def learn():
        limiter = limiter_for(9001, 40)
        async with limiter.slot() as ticket:
            pass
        limiter.rate_limited(ticket, retry_after=None)
        limiter.observe(ticket, RateLimits(limit=1200, remaining=0, reset_seconds=30))
        remember(9001, limiter)

    asyncio.run(learn())
    later = limiter_for(9001, 40)
    assert later.allowed == 20
    assert later.interval == 0.05
    assert later.remaining is not None and later.remaining <= 0, "no burst into a spent budget"
    assert limiter_for(9002, 40).allowed == 40, "other endpoints start afresh"


class _Flaky:
    """A provider answering 429 with retry-after to the first `failures` calls."""

    def __init__(self, failures: int, kind: str = "rate_limit") -> None:
        self.failures = failures
        self.kind = kind
        self.calls = 0

    async def complete(self, request: ModelRequest) -> ModelResponse:
        self.calls += 1
        if self.calls <= self.failures:
            raise ProviderError(self.kind, "slow down", retry_after=0.01)
        return ModelResponse("ok", 10, 5)

    async def aclose(self) -> None:
        return None


def _run_calls(endpoint, provider, count, control=None):
    outcomes = {}
    asyncio.run(
        engine.call_many(
            endpoint,
            [ModelRequest(messages=[{"role": "user", "content": str(i)}]) for i in range(count)],
            deliver=outcomes.__setitem__,
            control=control,
        )
    )
    return [outcomes[i] for i in range(count)]


@pytest.fixture
def flaky_endpoint(make_endpoint, monkeypatch):
    def make(provider, **fields):
        monkeypatch.setattr(engine, "get_provider", lambda *args, **kwargs: provider)
        return make_endpoint(f"flaky-{id(provider)}", **fields)

    return make


def test_rate_limited_calls_are_retried_and_succeed(flaky_endpoint, settings):
    settings.EVALBUILDER_MAX_ATTEMPTS = 4
    provider = _Flaky(failures=3)
    outcomes = _run_calls(flaky_endpoint(provider, max_concurrency=4), provider, 6)
    assert all(outcome.response is not None for outcome in outcomes)
    assert sum(outcome.tries for outcome in outcomes) == 9


def test_an_auth_error_stops_every_call_without_retrying(flaky_endpoint):
    provider = _Flaky(failures=100, kind="auth")
    control = engine.CallControl()
    outcomes = _run_calls(flaky_endpoint(provider, max_concurrency=1), provider, 5, control)
    assert provider.calls == 1, "no retry, and no further call after the first refusal"
    assert control.fatal is not None and control.fatal.kind == "auth"
    assert not any(outcome.attempted for outcome in outcomes)


def test_a_budget_stops_new_calls_once_spent(flaky_endpoint):
    provider = _Flaky(failures=0)
    endpoint = flaky_endpoint(
        provider,
        max_concurrency=1,
        input_price_per_mtok=Decimal("100000"),  # 10 tokens in: 1.00 a call
        output_price_per_mtok=Decimal("0"),
    )
    control = engine.CallControl(budget=Decimal("3"))
    outcomes = _run_calls(endpoint, provider, 10, control)
    assert control.reason == "budget"
    assert provider.calls == 3
    assert sum(outcome.response is not None for outcome in outcomes) == 3


# --- runs: budget, pause, cancel, resume, redelivery --------------------------------------


@pytest.fixture
def priced_fake(make_endpoint, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    with FakeProvider() as fake:

        def make(**fields):
            return make_endpoint(
                "priced",
                provider=ModelEndpoint.Provider.OPENAI,
                base_url=fake.openai_url,
                input_price_per_mtok=Decimal("1000"),
                output_price_per_mtok=Decimal("1000"),
                **fields,
            )

        yield fake, make


def test_a_run_stops_at_its_budget_and_resumes_with_a_larger_one(
    eager_celery, small_suite, simulated_grader, priced_fake
):
    fake, make = priced_fake
    run = services.create_run(
        small_suite, make(max_concurrency=1), samples_per_task=3, budget=Decimal("0.0001")
    )
    run.refresh_from_db()
    assert run.status == Run.Status.PAUSED
    assert "budget" in run.stop_reason
    assert run.samples.count() == 1, "stopped after the call that reached the budget"
    assert run.samples.get().cost >= run.budget

    assert services.resume_run(run)  # same budget: stops again at once, nothing spent
    run.refresh_from_db()
    assert run.status == Run.Status.PAUSED and run.samples.count() == 1

    assert services.resume_run(run, budget=Decimal("10"))
    run.refresh_from_db()
    assert run.status == Run.Status.COMPLETED
    assert run.samples.count() == 6
    assert len(fake.requests) == 6, "no call was made twice"
    progress = services.run_progress(run)
    assert progress["cost"] == sum(s.cost for s in run.samples.all())
    assert progress["cost"] < Decimal("10")


def test_pause_stops_new_calls_and_resume_finishes_without_repeats(
    eager_celery, small_suite, simulated_grader, priced_fake, monkeypatch
):
    fake, make = priced_fake
    real_check = engine._run_is_current
    looks = []

    def pause_after_some_calls(run, seq):
        looks.append(seq)
        if len(fake.requests) >= 2 and not any(s == "paused" for s in looks):
            services.pause_run(run)
            looks.append("paused")
        return real_check(run, seq)

    monkeypatch.setattr(engine, "_run_is_current", pause_after_some_calls)
    monkeypatch.setattr(engine, "LOOK_AT_RUN_EVERY_SECONDS", 0)
    fake.plan(*[Planned(delay=0.2) for _ in range(6)])
    run = services.create_run(small_suite, make(max_concurrency=1), samples_per_task=3)
    run.refresh_from_db()
    assert run.status == Run.Status.PAUSED
    assert run.stop_reason == "Paused by an operator."
    sampled = run.samples.count()
    assert 1 <= sampled < 6
    assert len(fake.requests) == sampled, "what was sent before the pause is kept"

    monkeypatch.setattr(engine, "_run_is_current", real_check)
    assert services.resume_run(run)
    run.refresh_from_db()
    assert run.status == Run.Status.COMPLETED
    assert run.samples.count() == 6
    assert len(fake.requests) == 6


def test_a_cancelled_run_samples_nothing_more(
    eager_celery, small_suite, make_endpoint, simulated_grader, monkeypatch
):
    sent = []
    monkeypatch.setattr(services, "enqueue", lambda name, **kwargs: sent.append(kwargs))
    run = services.create_run(small_suite, make_endpoint("sim-model"))
    services.start_run(run)
    assert services.cancel_run(run)
    assert not services.cancel_run(run), "cancelling twice does nothing"
    assert not services.resume_run(run)
    chunk = next(kwargs for kwargs in sent if "items" in kwargs)
    monkeypatch.undo()
    services.run_chunk(Run.objects.get(pk=run.pk), chunk["items"], chunk["seq"])
    run.refresh_from_db()
    assert run.status == Run.Status.CANCELLED
    assert run.finished_at is not None
    assert not run.samples.exists()


def test_a_redelivered_chunk_writes_nothing_twice_and_hands_on_once(
    small_suite, make_endpoint, simulated_grader, monkeypatch, settings
):
    settings.EVALBUILDER_CHUNK_SIZE = 1
    sent = []
    monkeypatch.setattr(services, "enqueue", lambda name, **kwargs: sent.append((name, kwargs)))
    run = services.create_run(
        small_suite, make_endpoint("sim-model", max_concurrency=1), samples_per_task=3
    )
    services.start_run(run)
    first = next(kwargs for name, kwargs in sent if name == "runs.tasks.run_chunk")
    sent.clear()
    run = Run.objects.select_related("endpoint").get(pk=run.pk)
    services.run_chunk(run, first["items"], first["seq"])
    assert len(first["items"]) == 5, "five rounds of the endpoint's concurrency"
    assert Sample.objects.filter(run=run).count() == 5
    handed_on = [kwargs for name, kwargs in sent if name == "runs.tasks.run_chunk"]
    assert len(handed_on) == 1 and handed_on[0]["seq"] == first["seq"] + 1

    sent.clear()  # the same message delivered again, after the worker died before its ack
    services.run_chunk(
        Run.objects.select_related("endpoint").get(pk=run.pk), first["items"], first["seq"]
    )
    assert Sample.objects.filter(run=run).count() == 5
    assert not [name for name, _ in sent if name == "runs.tasks.run_chunk"]


def test_calls_are_paced_to_the_budget_the_provider_reports(make_endpoint, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    with FakeProvider(FakeConfig(rpm=600)) as fake:  # headers say: one call per 0.1 s
        endpoint = make_endpoint(
            "paced",
            provider=ModelEndpoint.Provider.OPENAI,
            base_url=fake.openai_url,
            max_concurrency=2,
        )
        started = time.monotonic()
        outcomes = engine.complete_all(
            endpoint,
            [ModelRequest(messages=[{"role": "user", "content": f"n{i}"}]) for i in range(30)],
        )
        took = time.monotonic() - started
        stats = fake.stats()
    assert all(outcome.response is not None for outcome in outcomes)
    assert outcomes[0].response.rate_limits.limit == 600
    assert stats["rate_limited"] == 0
    # The first two go before any header is seen, up to a second's worth more at once (late
    # starts made up), and the rest one per 0.1 s.
    assert took >= 1.2


def test_asking_afresh_replaces_the_cached_answer_and_a_forgotten_one_is_asked_again(
    make_endpoint, monkeypatch
):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    count = iter(range(1, 100))
    with FakeProvider(reply=lambda request: f"answer {next(count)}") as fake:
        endpoint = make_endpoint(
            "cached", provider=ModelEndpoint.Provider.OPENAI, base_url=fake.openai_url
        )
        request = ModelRequest(messages=[{"role": "user", "content": "same question"}])
        (asked,) = engine.complete_all(endpoint, [request])
        (cached,) = engine.complete_all(endpoint, [request])
        # The same call twice in one go: one cache entry, no conflict.
        fresh = engine.complete_all(endpoint, [request, request], use_cache=False)
        (after,) = engine.complete_all(endpoint, [request])
        assert engine.forget_cached(endpoint, [request]) == 1
        (again,) = engine.complete_all(endpoint, [request])
    assert (asked.response.text, asked.cached) == ("answer 1", False)
    assert (cached.response.text, cached.cached) == ("answer 1", True)
    assert {o.response.text for o in fresh} == {"answer 2", "answer 3"}
    assert not any(o.cached for o in fresh)
    # Asked afresh, the new answer is the one kept for later calls.
    assert after.cached and after.response.text == fresh[1].response.text
    assert (again.response.text, again.cached) == ("answer 4", False)
    assert CachedResponse.objects.get(model_id="cached").text == "answer 4"
