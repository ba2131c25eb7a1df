"""The execution engine: a chunk of (task version, attempt) pairs, sampled concurrently.

Model calls run in an asyncio event loop on a thread of their own, under the endpoint's
adaptive concurrency limit (runs/limits.py), with one retry layer. The calling thread keeps
the database: it writes samples as they arrive, a few at a time, in statements that skip
rows already there, so a chunk killed mid-way loses only the calls in flight and a chunk that
is redelivered never duplicates a sample. Between writes it looks at the run, so that a
pause, a cancellation, a spent budget or a fatal provider error stops new calls at once.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import InterfaceError, OperationalError, connection
from django.db.models import Sum
from django.utils import timezone

from occupations.models import TaskVersion
from runs.limits import AdaptiveLimiter, learnt_limit, limiter_for, remember
from runs.models import CachedResponse, ModelEndpoint, Run, Sample
from runs.prompting import endpoint_takes_images, task_messages
from runs.providers import (
    ModelRequest,
    ModelResponse,
    Provider,
    ProviderError,
    RetryPolicy,
    get_provider,
)

logger = logging.getLogger(__name__)

WorkItem = tuple[int, int]
"""(task version id, attempt index)."""

FATAL_KINDS = frozenset({"auth", "spend_limit"})
"""Errors that every further call to the endpoint would meet too: stop, do not retry."""

RATE_KINDS = frozenset({"rate_limit", "overloaded"})

WRITE_EVERY_SAMPLES = 50
WRITE_EVERY_SECONDS = 0.25
LOOK_AT_RUN_EVERY_SECONDS = 1.0


def heartbeat_seconds() -> float:
    """Often enough that the watchdog never takes a live chunk for a stalled one."""
    return min(15.0, settings.EVALBUILDER_STALL_SECONDS / 3)


def _heartbeat(run: Run, control: CallControl) -> None:
    Run.objects.filter(pk=run.pk).update(heartbeat_at=timezone.now(), concurrency=control.limit)


def retry_policy() -> RetryPolicy:
    return RetryPolicy(
        max_attempts=settings.EVALBUILDER_MAX_ATTEMPTS,
        base_delay=settings.EVALBUILDER_RETRY_BASE_DELAY,
        max_delay=settings.EVALBUILDER_RETRY_MAX_DELAY,
    )


@dataclass
class CallOutcome:
    """The result of one model call after retries: a response, an error, or neither when
    the call was never made because the work stopped first."""

    response: ModelResponse | None
    error: ProviderError | None
    tries: int
    cached: bool = False

    @property
    def attempted(self) -> bool:
        return self.response is not None or self.error is not None


NOT_ATTEMPTED = CallOutcome(None, None, 0)


def _internal(error: Exception) -> ProviderError:
    return ProviderError("internal", f"{type(error).__name__}: {error}")


@dataclass
class CallControl:
    """What may stop a batch of calls early, shared between the event loop and its caller."""

    stop: threading.Event = field(default_factory=threading.Event)
    reason: str = ""
    fatal: ProviderError | None = None
    budget: Decimal | None = None
    """Cost the calls may still spend; None for no cap."""
    spent: Decimal = Decimal("0")
    limit: int = 0
    """The endpoint's concurrency limit as last set, for progress reports."""

    def halt(self, reason: str) -> None:
        if not self.stop.is_set():
            self.reason = reason
            self.stop.set()


async def call_with_retries(
    provider: Provider,
    request: ModelRequest,
    policy: RetryPolicy,
    *,
    limiter: AdaptiveLimiter | None = None,
    control: CallControl | None = None,
) -> CallOutcome:
    """One request, retried on transient errors, each try under the limiter and a timeout.

    Capped exponential backoff with jitter between tries; a server's retry-after wins, and
    also holds every other call to the endpoint through the limiter. Authentication and
    spend-limit errors are not retried: they stop the work (see CallControl.fatal).
    """
    limiter = limiter or AdaptiveLimiter(1)
    control = control or CallControl()
    timeout = settings.EVALBUILDER_REQUEST_TIMEOUT
    tries = 0
    while True:
        async with limiter.slot() as ticket:
            if control.stop.is_set():
                return CallOutcome(None, None, tries)
            tries += 1
            try:
                # The SDK's timeout is per read; this one bounds the whole try.
                async with asyncio.timeout(timeout + 5):
                    response = await provider.complete(request)
            except TimeoutError:
                error = ProviderError("timeout", f"no complete answer within {timeout:.0f} s")
            except ProviderError as failure:
                error = failure
            except Exception as failure:
                logger.exception("unexpected error calling %s", request.metadata)
                error = _internal(failure)
            else:
                limiter.succeeded()
                limiter.observe(ticket, response.rate_limits)
                control.limit = limiter.allowed
                return CallOutcome(response, None, tries)
            if error.kind in RATE_KINDS:
                limiter.rate_limited(ticket, error.retry_after)
                control.limit = limiter.allowed
        error.tries = tries
        if error.kind in FATAL_KINDS:
            # Not written as a failed sample: once fixed, resuming the run asks again.
            control.fatal = control.fatal or error
            control.halt(f"{error.kind}: {error}")
            return CallOutcome(None, None, tries)
        if not error.retryable or tries >= policy.max_attempts:
            return CallOutcome(None, error, tries)
        await asyncio.sleep(policy.delay(tries, error))


async def call_many(
    endpoint: ModelEndpoint,
    requests: Sequence[ModelRequest],
    *,
    deliver: Callable[[int, CallOutcome], None],
    control: CallControl | None = None,
    task_versions: Sequence[TaskVersion] = (),
) -> None:
    """Send every request to the endpoint under its adaptive limit; `deliver(index, outcome)`
    is called as each one ends. Requests not sent because the work stopped get NOT_ATTEMPTED."""
    control = control or CallControl()
    try:
        provider = get_provider(
            endpoint, timeout=settings.EVALBUILDER_REQUEST_TIMEOUT, task_versions=task_versions
        )
    except Exception as error:
        failure = error if isinstance(error, ProviderError) else _internal(error)
        fatal = failure.kind in FATAL_KINDS
        if fatal:
            control.fatal = failure
            control.halt(f"{failure.kind}: {failure}")
        for index in range(len(requests)):
            deliver(index, NOT_ATTEMPTED if fatal else CallOutcome(None, failure, 0))
        return
    limiter = limiter_for(endpoint.pk, endpoint.max_concurrency)
    control.limit = limiter.allowed
    policy = retry_policy()

    async def one(index: int, request: ModelRequest) -> None:
        outcome = await call_with_retries(
            provider, request, policy, limiter=limiter, control=control
        )
        if outcome.response is not None and control.budget is not None:
            control.spent += endpoint.cost_of(
                outcome.response.input_tokens, outcome.response.output_tokens
            )
            if control.spent >= control.budget:
                control.halt("budget")
        deliver(index, outcome)

    try:
        await asyncio.gather(*(one(index, request) for index, request in enumerate(requests)))
    finally:
        remember(endpoint.pk, limiter)
        await provider.aclose()


def cache_key(endpoint: ModelEndpoint, request: ModelRequest) -> str:
    """What makes two calls the same call: provider, model, parameters, messages, attempt,
    and the reply's requested shape and temperature."""
    identity: dict[str, object] = {
        "provider": endpoint.provider,
        "model": endpoint.model_id,
        "base_url": endpoint.base_url,
        "parameters": endpoint.parameters,
        "messages": request.messages,
        "max_output_tokens": request.max_output_tokens,
        "json_output": request.json_output,
        "attempt": request.metadata.get("attempt"),
    }
    # Added only when set, so that the keys of requests without them, cached before these
    # fields existed, stay the same.
    if request.output_schema is not None:
        identity["output_schema"] = dataclasses.asdict(request.output_schema)
    if request.temperature is not None:
        identity["temperature"] = request.temperature
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()


def cached_outcome(entry: CachedResponse) -> CallOutcome:
    response = ModelResponse(entry.text, entry.input_tokens, entry.output_tokens, latency_ms=0)
    return CallOutcome(response, None, tries=0, cached=True)


def cache_entry(endpoint: ModelEndpoint, key: str, response: ModelResponse) -> CachedResponse:
    return CachedResponse(
        key=key,
        provider=endpoint.provider,
        model_id=endpoint.model_id,
        text=response.text,
        input_tokens=response.input_tokens,
        output_tokens=response.output_tokens,
    )


def read_cache(endpoint: ModelEndpoint, keys: Sequence[str]) -> dict[str, CachedResponse]:
    return {entry.key: entry for entry in CachedResponse.objects.filter(key__in=keys)}


def forget_cached(endpoint: ModelEndpoint, requests: Sequence[ModelRequest]) -> int:
    """Remove the cached answers to these requests, so that the next identical call asks the
    endpoint again (an answer the caller could not use). Returns the entries removed."""
    if endpoint.is_simulated or not requests:
        return 0
    keys = [cache_key(endpoint, request) for request in requests]
    return CachedResponse.objects.filter(key__in=keys).delete()[0]


def complete_all(
    endpoint: ModelEndpoint,
    requests: Sequence[ModelRequest],
    *,
    task_versions: Sequence[TaskVersion] = (),
    use_cache: bool = True,
) -> list[CallOutcome]:
    """Every request answered from the response cache or by the endpoint, in order.

    New answers are stored in the cache, so that identical work later makes no API call.
    Reading the cache, the first answer to a call is the one kept; with `use_cache=False`
    (asked afresh) the new answer replaces the one cached, so later work reads the answer
    that was last asked for. Simulated models are not cached: they cost nothing.
    """
    caching = not endpoint.is_simulated
    keys = [cache_key(endpoint, request) for request in requests] if caching else []
    cached = read_cache(endpoint, keys) if caching and use_cache else {}
    outcomes: list[CallOutcome] = [
        cached_outcome(cached[keys[i]]) if caching and keys[i] in cached else NOT_ATTEMPTED
        for i in range(len(requests))
    ]
    missing = [i for i in range(len(requests)) if not outcomes[i].cached]
    control = CallControl()
    if missing:

        def deliver(position: int, outcome: CallOutcome) -> None:
            outcomes[missing[position]] = outcome

        asyncio.run(
            call_many(
                endpoint,
                [requests[i] for i in missing],
                deliver=deliver,
                task_versions=task_versions,
                control=control,
            )
        )
        for i in missing:
            if not outcomes[i].attempted:  # stopped by a fatal error before it was sent
                failure = control.fatal or ProviderError("internal", "the call was not sent")
                outcomes[i] = CallOutcome(None, failure, 0)
    if caching:
        # One entry per key: identical requests in one call would otherwise conflict.
        entries = {
            keys[i]: cache_entry(endpoint, keys[i], response)
            for i in missing
            if (response := outcomes[i].response) is not None
        }
        if use_cache:
            CachedResponse.objects.bulk_create(entries.values(), ignore_conflicts=True)
        else:
            CachedResponse.objects.bulk_create(
                entries.values(),
                update_conflicts=True,
                unique_fields=["key"],
                update_fields=["text", "input_tokens", "output_tokens"],
            )
    return outcomes


# --- sampling a chunk of a run ---------------------------------------------------------


@dataclass
class ChunkResult:
    """What a chunk did, and why it stopped early if it did."""

    written: int = 0
    stop: str = ""
    """"" (all done), "time" (out of time: the rest goes to the next chunk), "budget",
    "fatal", or "run" (the run was paused, cancelled or handed to a newer chunk)."""
    detail: str = ""


class _SampleWriter:
    """Turns call outcomes into sample rows and writes them a few at a time."""

    def __init__(self, run: Run, todo: Sequence[WorkItem], keys: Sequence[str]) -> None:
        self.run = run
        self.todo = todo
        self.keys = keys
        self.samples: list[Sample] = []
        self.cache_entries: list[CachedResponse] = []
        self.written = 0

    def add(self, index: int, outcome: CallOutcome) -> None:
        if not outcome.attempted:
            return  # left for a later chunk
        version_id, attempt = self.todo[index]
        self.samples.append(sample_row(self.run, version_id, attempt, outcome))
        if self.keys and outcome.response is not None and not outcome.cached:
            self.cache_entries.append(
                cache_entry(self.run.endpoint, self.keys[index], outcome.response)
            )

    def flush(self) -> None:
        with_db_retry(self._write)

    def _write(self) -> None:
        if self.cache_entries:
            CachedResponse.objects.bulk_create(self.cache_entries, ignore_conflicts=True)
            self.cache_entries = []
        if self.samples:
            Sample.objects.bulk_create(self.samples, ignore_conflicts=True)
            self.written += len(self.samples)
            self.samples = []

    @property
    def pending(self) -> int:
        return len(self.samples)


def sample_row(run: Run, version_id: int, attempt: int, outcome: CallOutcome) -> Sample:
    if outcome.response is None:
        assert outcome.error is not None
        logger.warning(
            "run %s: sample of task version %s attempt %s failed (%s) after %s tries",
            run.pk,
            version_id,
            attempt,
            outcome.error.kind,
            outcome.tries,
        )
        return Sample(
            run=run,
            task_version_id=version_id,
            attempt=attempt,
            status=Sample.Status.FAILED,
            tries=outcome.tries,
            error_kind=outcome.error.kind,
            error=str(outcome.error)[:2000],
        )
    response = outcome.response
    return Sample(
        run=run,
        task_version_id=version_id,
        attempt=attempt,
        status=Sample.Status.DONE,
        output=response.text,
        input_tokens=response.input_tokens,
        output_tokens=response.output_tokens,
        # A cached answer was paid for once, by the run that first asked.
        cost=0
        if outcome.cached
        else run.endpoint.cost_of(response.input_tokens, response.output_tokens),
        latency_ms=response.latency_ms,
        tries=outcome.tries,
        cached=outcome.cached,
    )


DB_RETRY_SECONDS = (0.5, 1, 2, 4, 8, 15, 30)


def with_db_retry(action: Callable[[], object]) -> object:
    """Run a database action, riding out a database restart: on a lost connection, close it
    and try again after a pause, so the answers already paid for are not dropped."""
    for pause in (*DB_RETRY_SECONDS, None):
        try:
            return action()
        except (OperationalError, InterfaceError) as error:
            if pause is None:
                raise
            logger.warning("database unavailable (%s); trying again in %s s", error, pause)
            connection.close()
            time.sleep(pause)
    raise AssertionError("unreachable")


def run_cost(run: Run) -> Decimal:
    return Sample.objects.filter(run=run).aggregate(total=Sum("cost", default=Decimal("0")))[
        "total"
    ]


def _run_is_current(run: Run, seq: int | None) -> bool:
    state = Run.objects.filter(pk=run.pk).values("status", "chunk_seq").first()
    if state is None or state["status"] != Run.Status.RUNNING:
        return False
    return seq is None or state["chunk_seq"] == seq


def sample_chunk(run: Run, items: Sequence[WorkItem], *, seq: int | None = None) -> ChunkResult:
    """Sample every pair of the chunk not sampled yet, writing samples as they come.

    `seq` is the chunk's place in the run's chain: when the run has moved on to a newer
    chunk (resumed after a pause, or restarted by the watchdog) this one stops.
    """
    wanted = {(int(version_id), int(attempt)) for version_id, attempt in items}
    already = set(
        Sample.objects.filter(run=run, task_version_id__in={v for v, _ in wanted}).values_list(
            "task_version_id", "attempt"
        )
    )
    todo = sorted(wanted - already)
    if not todo:
        return ChunkResult()
    endpoint = run.endpoint
    versions = (
        TaskVersion.objects.select_related("task")
        .prefetch_related("criteria", "attachments")
        .in_bulk({version_id for version_id, _ in todo})
    )
    vision = endpoint_takes_images(endpoint)
    requests = [
        ModelRequest(
            messages=task_messages(versions[version_id], suite=run.suite, vision=vision),
            metadata={"task_version_id": version_id, "attempt": attempt},
        )
        for version_id, attempt in todo
    ]
    caching = not endpoint.is_simulated
    keys = [cache_key(endpoint, request) for request in requests] if caching else []
    writer = _SampleWriter(run, todo, keys)
    cached = read_cache(endpoint, keys) if caching and not run.fresh_samples else {}
    to_call = []
    for index, key in enumerate(keys or [None] * len(todo)):
        if key is not None and key in cached:
            writer.add(index, cached_outcome(cached[key]))
        else:
            to_call.append(index)
    writer.flush()
    control = CallControl()
    if run.budget is not None:
        control.budget = run.budget - run_cost(run)
        if control.budget <= 0:
            return ChunkResult(writer.written, "budget", f"budget of {run.budget} reached")
    if to_call:
        _call_and_write(run, seq, endpoint, requests, to_call, versions, writer, control)
    if control.fatal is not None:
        return ChunkResult(writer.written, "fatal", control.reason)
    if control.reason == "internal":
        return ChunkResult(writer.written, "fatal", "internal error; see the worker's log")
    if control.reason == "budget":
        return ChunkResult(writer.written, "budget", f"budget of {run.budget} reached")
    return ChunkResult(writer.written, control.reason, "")


def _call_and_write(
    run: Run,
    seq: int | None,
    endpoint: ModelEndpoint,
    requests: Sequence[ModelRequest],
    to_call: Sequence[int],
    versions: dict[int, TaskVersion],
    writer: _SampleWriter,
    control: CallControl,
) -> None:
    """Run the calls on a thread of their own and write their outcomes from this one."""
    arrived: queue.Queue[tuple[int, CallOutcome] | None] = queue.Queue()

    def deliver(position: int, outcome: CallOutcome) -> None:
        arrived.put((to_call[position], outcome))

    def calls() -> None:
        try:
            asyncio.run(
                call_many(
                    endpoint,
                    [requests[i] for i in to_call],
                    deliver=deliver,
                    control=control,
                    task_versions=list(versions.values()),
                )
            )
        except Exception:
            logger.exception("run %s: the call loop failed", run.pk)
            control.halt("internal")
        finally:
            arrived.put(None)

    control.limit = control.limit or int(learnt_limit(endpoint.pk, endpoint.max_concurrency))
    with_db_retry(lambda: _heartbeat(run, control))
    caller = threading.Thread(target=calls, name=f"run-{run.pk}-calls", daemon=True)
    caller.start()
    started = last_write = last_look = last_beat = time.monotonic()
    deadline = started + settings.EVALBUILDER_CHUNK_SECONDS
    try:
        while True:
            try:
                message = arrived.get(timeout=0.25)
            except queue.Empty:
                message = False
            if message is None:
                break
            if message:
                writer.add(*message)
            now = time.monotonic()
            if writer.pending >= WRITE_EVERY_SAMPLES or (
                writer.pending and now - last_write >= WRITE_EVERY_SECONDS
            ):
                writer.flush()
                last_write = now
            if now - last_look >= LOOK_AT_RUN_EVERY_SECONDS:
                last_look = now
                if not with_db_retry(lambda: _run_is_current(run, seq)):
                    control.halt("run")
                elif now >= deadline:
                    control.halt("time")
            if now - last_beat >= heartbeat_seconds():
                last_beat = now
                with_db_retry(lambda: _heartbeat(run, control))
    except SoftTimeLimitExceeded:
        # Out of time: keep what came back and hand the rest to the next chunk.
        logger.warning("run %s: chunk reached the soft time limit", run.pk)
        control.halt("time")
    finally:
        # Whatever already came back is kept, even when the task is being stopped.
        while True:
            try:
                message = arrived.get_nowait()
            except queue.Empty:
                break
            if message:
                writer.add(*message)
        writer.flush()
        with_db_retry(lambda: _heartbeat(run, control))
        caller.join(timeout=settings.EVALBUILDER_REQUEST_TIMEOUT + 10)
