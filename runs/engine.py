"""The execution engine: a chunk of (task version, attempt) pairs, sampled concurrently.

Model calls run concurrently in one event loop under a per-endpoint limit; the results are
written afterwards in one statement that skips rows already there, so a chunk that is
redelivered (a worker killed mid-way) never duplicates a sample.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from django.conf import settings

from occupations.models import TaskVersion
from runs.models import CachedResponse, ModelEndpoint, Run, Sample
from runs.prompting import task_messages
from runs.providers import (
    ModelRequest,
    ModelResponse,
    ProviderError,
    RetryPolicy,
    call_with_retries,
    get_provider,
)

logger = logging.getLogger(__name__)

WorkItem = tuple[int, int]
"""(task version id, attempt index)."""


def retry_policy() -> RetryPolicy:
    return RetryPolicy(
        max_attempts=settings.EVALBUILDER_MAX_ATTEMPTS,
        base_delay=settings.EVALBUILDER_RETRY_BASE_DELAY,
        max_delay=settings.EVALBUILDER_RETRY_MAX_DELAY,
    )


@dataclass
class CallOutcome:
    """The result of one model call after retries: a response or an error."""

    response: ModelResponse | None
    error: ProviderError | None
    tries: int
    cached: bool = False


def _internal(error: Exception) -> ProviderError:
    return ProviderError("internal", f"{type(error).__name__}: {error}")


async def call_many(
    endpoint: ModelEndpoint,
    requests: Sequence[ModelRequest],
    *,
    concurrency: int,
    task_versions: Sequence[TaskVersion] = (),
) -> list[CallOutcome]:
    """Send every request to the endpoint, at most `concurrency` at a time, in order."""
    try:
        provider = get_provider(
            endpoint, timeout=settings.EVALBUILDER_REQUEST_TIMEOUT, task_versions=task_versions
        )
    except Exception as error:
        failure = error if isinstance(error, ProviderError) else _internal(error)
        return [CallOutcome(None, failure, 0) for _ in requests]
    limit = asyncio.Semaphore(max(1, concurrency))
    policy = retry_policy()

    async def one(request: ModelRequest) -> CallOutcome:
        async with limit:
            try:
                response, tries = await call_with_retries(provider, request, policy)
            except ProviderError as error:
                return CallOutcome(None, error, error.tries)
            except Exception as error:
                logger.exception("unexpected error calling %s", endpoint.slug)
                return CallOutcome(None, _internal(error), 1)
            return CallOutcome(response, None, tries)

    try:
        return await asyncio.gather(*(one(request) for request in requests))
    finally:
        await provider.aclose()


def cache_key(endpoint: ModelEndpoint, request: ModelRequest) -> str:
    """What makes two calls the same call: provider, model, parameters, messages, attempt."""
    identity = {
        "provider": endpoint.provider,
        "model": endpoint.model_id,
        "base_url": endpoint.base_url,
        "parameters": endpoint.parameters,
        "messages": request.messages,
        "max_output_tokens": request.max_output_tokens,
        "json_output": request.json_output,
        "attempt": request.metadata.get("attempt"),
    }
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()


def complete_all(
    endpoint: ModelEndpoint,
    requests: Sequence[ModelRequest],
    *,
    task_versions: Sequence[TaskVersion] = (),
    use_cache: bool = True,
) -> list[CallOutcome]:
    """Every request answered from the response cache or by the endpoint, in order.

    New answers are stored in the cache (even when it was not read), so that identical work
    later makes no API call; the first answer to a call is the one kept. Simulated models
    are not cached: they cost nothing.
    """
    caching = not endpoint.is_simulated
    keys = [cache_key(endpoint, request) for request in requests] if caching else []
    cached = (
        {entry.key: entry for entry in CachedResponse.objects.filter(key__in=keys)}
        if caching and use_cache
        else {}
    )
    missing = [i for i in range(len(requests)) if not caching or keys[i] not in cached]
    fetched = (
        asyncio.run(
            call_many(
                endpoint,
                [requests[i] for i in missing],
                concurrency=settings.EVALBUILDER_ENDPOINT_CONCURRENCY,
                task_versions=task_versions,
            )
        )
        if missing
        else []
    )
    outcomes: list[CallOutcome | None] = [None] * len(requests)
    for index, outcome in zip(missing, fetched, strict=True):
        outcomes[index] = outcome
    if caching:
        CachedResponse.objects.bulk_create(
            [
                CachedResponse(
                    key=keys[index],
                    provider=endpoint.provider,
                    model_id=endpoint.model_id,
                    text=outcome.response.text,
                    input_tokens=outcome.response.input_tokens,
                    output_tokens=outcome.response.output_tokens,
                )
                for index, outcome in zip(missing, fetched, strict=True)
                if outcome.response is not None
            ],
            ignore_conflicts=True,
        )
        for index, key in enumerate(keys):
            if outcomes[index] is None:
                entry = cached[key]
                response = ModelResponse(
                    entry.text, entry.input_tokens, entry.output_tokens, latency_ms=0
                )
                outcomes[index] = CallOutcome(response, None, tries=0, cached=True)
    return outcomes  # type: ignore[return-value]


def sample_chunk(run: Run, items: Sequence[WorkItem]) -> int:
    """Sample every pair of the chunk not sampled yet; returns how many were sampled now."""
    wanted = {(int(version_id), int(attempt)) for version_id, attempt in items}
    already = set(
        Sample.objects.filter(run=run, task_version_id__in={v for v, _ in wanted}).values_list(
            "task_version_id", "attempt"
        )
    )
    todo = sorted(wanted - already)
    if not todo:
        return 0
    versions = (
        TaskVersion.objects.select_related("task")
        .prefetch_related("criteria")
        .in_bulk({version_id for version_id, _ in todo})
    )
    requests = [
        ModelRequest(
            messages=task_messages(versions[version_id]),
            metadata={"task_version_id": version_id, "attempt": attempt},
        )
        for version_id, attempt in todo
    ]
    outcomes = complete_all(
        run.endpoint,
        requests,
        task_versions=list(versions.values()),
        use_cache=not run.fresh_samples,
    )
    rows = []
    for (version_id, attempt), outcome in zip(todo, outcomes, strict=True):
        if outcome.response is not None:
            response = outcome.response
            rows.append(
                Sample(
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
            )
        else:
            assert outcome.error is not None
            logger.warning(
                "run %s: sample of task version %s attempt %s failed (%s) after %s tries",
                run.pk,
                version_id,
                attempt,
                outcome.error.kind,
                outcome.tries,
            )
            rows.append(
                Sample(
                    run=run,
                    task_version_id=version_id,
                    attempt=attempt,
                    status=Sample.Status.FAILED,
                    tries=outcome.tries,
                    error_kind=outcome.error.kind,
                    error=str(outcome.error)[:2000],
                )
            )
    Sample.objects.bulk_create(rows, ignore_conflicts=True)
    return len(rows)
