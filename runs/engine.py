"""The execution engine: a chunk of (task version, attempt) pairs, sampled concurrently.

Model calls run concurrently in one event loop under a per-endpoint limit; the results are
written afterwards in one statement that skips rows already there, so a chunk that is
redelivered (a worker killed mid-way) never duplicates a sample.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from django.conf import settings

from occupations.models import TaskVersion
from runs.models import ModelEndpoint, Run, Sample
from runs.providers import (
    ModelRequest,
    ModelResponse,
    ProviderError,
    RetryPolicy,
    call_with_retries,
    get_provider,
)

logger = logging.getLogger(__name__)

SYSTEM_PROMPT = (
    "You are an experienced professional doing a piece of real work for a client or "
    "employer. Do the work completely, using only the material provided, and hand back "
    "the deliverable asked for."
)

WorkItem = tuple[int, int]
"""(task version id, attempt index)."""


def task_prompt(version: TaskVersion) -> str:
    """What a model is asked for one task version: instructions, input material, deliverable."""
    parts = [version.instructions.strip()]
    if version.context.strip():
        parts.append("## Input material\n\n" + version.context.strip())
    parts.append("## Deliverable\n\n" + version.deliverable.strip())
    if version.task.is_held_out:
        # The canary travels with held-out text so that a leak into training data shows.
        parts.append(version.task.canary_string)
    return "\n\n".join(parts)


def task_messages(version: TaskVersion) -> list[dict[str, str]]:
    return [
        {"role": "system", "content": SYSTEM_PROMPT},
        {"role": "user", "content": task_prompt(version)},
    ]


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
    outcomes = asyncio.run(
        call_many(
            run.endpoint,
            requests,
            concurrency=settings.EVALBUILDER_ENDPOINT_CONCURRENCY,
            task_versions=list(versions.values()),
        )
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
                    cost=run.endpoint.cost_of(response.input_tokens, response.output_tokens),
                    latency_ms=response.latency_ms,
                    tries=outcome.tries,
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
