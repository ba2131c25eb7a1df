"""Batch runs: a run sampled through its provider's batch API, at half the price of live calls.

The flow, in short Celery tasks (runs/tasks.py), none of which waits on the provider:

- `submit_batch` takes the run's missing items, writes the samples the response cache can
  answer, and hands the rest to the provider as one batch (several past the size caps).
- `poll_batch` asks where a batch stands, every EVALBUILDER_BATCH_POLL_SECONDS. Once it has
  ended, its answers become samples at the batch price (and go into the response cache),
  they are sent to grading, and `submit_batch` is asked again: requests that errored or
  expired go in a batch of the next round, up to EVALBUILDER_MAX_ATTEMPTS rounds, after
  which they are written as failed samples.
- When no batch is in flight and nothing is left to submit, the ordinary chunk chain takes
  over: it samples live whatever is still missing (the held-out tasks, which stay out of
  batches unless EVALBUILDER_BATCH_HELD_OUT, since providers keep batch files for a while)
  and moves the run on to grading, exactly as a live run ends.

A run's batches hold the run while `run.chunk_seq` is the number they were submitted under,
as a chunk does. Pausing or cancelling the run, or a live chain taking over (resume, the
watchdog), makes them stale: each is then cancelled at its next poll, keeps what the
provider had already answered, and submits nothing more.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Sequence
from decimal import Decimal
from typing import Any

from celery import current_app
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from occupations.models import TaskVersion
from runs import engine, services
from runs.models import CachedResponse, ProviderBatch, Run, Sample
from runs.prompting import endpoint_takes_images, task_messages
from runs.providers import ModelRequest, ModelResponse, ProviderError
from runs.providers.batches import BatchClient, BatchOutcome, BatchState, batch_client

logger = logging.getLogger(__name__)

SUBMIT_TASK = "runs.tasks.submit_batch"
POLL_TASK = "runs.tasks.poll_batch"

BATCH_PRICE = Decimal("0.5")
"""Share of the live price that a batch answer costs: both providers halve it."""

RESUBMITTED_KINDS = ProviderError.RETRYABLE | {"expired"}
"""Failures that another round may get past; the others are written as failed at once."""


def custom_id(version_id: int, attempt: int) -> str:
    """A request's id in a batch: unique in the run, and saying nothing of the task."""
    return f"s-{version_id}-{attempt}"


def _is_current(run: Run, seq: int) -> bool:
    return Run.objects.filter(pk=run.pk, status=Run.Status.RUNNING, chunk_seq=seq).exists()


def _beat(run: Run) -> None:
    """A sign of life, so that the watchdog does not take a waiting run for a stalled one."""
    Run.objects.filter(pk=run.pk).update(heartbeat_at=timezone.now())


def _enqueue_later(task_name: str, **kwargs) -> None:
    """Send a task once the transaction commits, to run a poll interval from now."""
    countdown = settings.EVALBUILDER_BATCH_POLL_SECONDS
    transaction.on_commit(
        lambda: current_app.signature(task_name, kwargs=kwargs).apply_async(countdown=countdown)
    )


def _client(run: Run) -> BatchClient:
    return batch_client(run.endpoint, timeout=settings.EVALBUILDER_REQUEST_TIMEOUT)


def _stop(run: Run, stop: str, detail: str) -> None:
    services.pause_run(run, reason=services.stop_message(engine.ChunkResult(0, stop, detail)))


# --- submitting -----------------------------------------------------------------------------


def submit_batch(run: Run, seq: int, *, tries: int = 0) -> None:
    """Submit the run's missing items that may go in a batch, or, with none left, hand the run
    to the live chunk chain. `tries` counts submissions that met a transient error."""
    if not _is_current(run, seq):
        logger.info("run %s has moved on from %s; submitting no batch", run.pk, seq)
        return
    if ProviderBatch.objects.filter(run=run, status=ProviderBatch.Status.SUBMITTED).exists():
        return  # the last batch in flight to end asks again
    _beat(run)
    endpoint = run.endpoint
    missing = services.missing_items(run)
    versions = (
        TaskVersion.objects.select_related("task")
        .prefetch_related("attachments")
        .in_bulk({version_id for version_id, _ in missing})
    )
    batchable = [
        (version_id, attempt)
        for version_id, attempt in missing
        if settings.EVALBUILDER_BATCH_HELD_OUT or not versions[version_id].task.is_held_out
    ]
    history = _history(run)
    rows: list[Sample] = []
    to_ask: list[tuple[str, int, ModelRequest]] = []
    vision = endpoint_takes_images(endpoint)
    for version_id, attempt in batchable:
        sent_rounds, failure = history.get(custom_id(version_id, attempt), (0, None))
        if failure and (
            failure["kind"] not in RESUBMITTED_KINDS
            or sent_rounds >= settings.EVALBUILDER_MAX_ATTEMPTS
        ):
            error = ProviderError(failure["kind"], failure["error"])
            outcome = engine.CallOutcome(None, error, tries=sent_rounds)
            rows.append(engine.sample_row(run, version_id, attempt, outcome))
            continue
        request = ModelRequest(
            messages=task_messages(versions[version_id], suite=run.suite, vision=vision),
            metadata={"task_version_id": version_id, "attempt": attempt},
        )
        to_ask.append((custom_id(version_id, attempt), sent_rounds + 1, request))
    keys = {cid: engine.cache_key(endpoint, request) for cid, _, request in to_ask}
    cached = engine.read_cache(endpoint, list(keys.values())) if not run.fresh_samples else {}
    for cid, _, request in to_ask:
        if keys[cid] in cached:
            outcome = engine.cached_outcome(cached[keys[cid]])
            meta = request.metadata
            rows.append(engine.sample_row(run, meta["task_version_id"], meta["attempt"], outcome))
    _write(run, rows)
    to_send = [(cid, round_, request) for cid, round_, request in to_ask if keys[cid] not in cached]
    if not to_send:
        # Nothing in flight and nothing to send: the live chain samples what is left.
        services.restart_chain(run)
        return
    if run.budget is not None and engine.run_cost(run) >= run.budget:
        _stop(run, "budget", f"budget of {run.budget} reached")
        return
    _send(run, seq, to_send, keys, tries)


def _history(run: Run) -> dict[str, tuple[int, dict | None]]:
    """For each request sent before: the rounds it has been through and its last failure."""
    history: dict[str, tuple[int, dict | None]] = {}
    ended = ProviderBatch.objects.filter(run=run, status=ProviderBatch.Status.ENDED)
    for batch in ended.order_by("round", "pk").only("items", "failures"):
        for cid, item in batch.items.items():
            history[cid] = (item["round"], batch.failures.get(cid))
    return history


def _write(run: Run, rows: Sequence[Sample]) -> None:
    """Write samples (skipping any already there) and send the done ones to grading."""
    if not rows:
        return
    with transaction.atomic():
        Sample.objects.bulk_create(rows, ignore_conflicts=True)
        done = services.done_sample_ids(run, [(row.task_version_id, row.attempt) for row in rows])
        if done:
            services.enqueue(services.GRADE_SAMPLES_TASK, sample_ids=done)


def _send(
    run: Run,
    seq: int,
    to_send: Sequence[tuple[str, int, ModelRequest]],
    keys: dict[str, str],
    tries: int,
) -> None:
    """Submit the requests as one batch or several, once per `seq` however often asked.

    The batches are polled only once all of them are recorded: a batch that ended before
    the others were submitted would otherwise ask for a round with theirs still unsent.
    """
    claimed = Run.objects.filter(pk=run.pk, status=Run.Status.RUNNING, chunk_seq=seq).update(
        chunk_seq=seq + 1
    )
    if not claimed:
        return
    seq += 1
    try:
        client = _client(run)
    except ProviderError as error:
        _refused(run, seq, error, tries, submitted=0)
        return
    created: list[ProviderBatch] = []
    refusal: ProviderError | None = None
    try:
        entries = [(cid, round_, client.entry(cid, request)) for cid, round_, request in to_send]
        requests = {cid: request for cid, _, request in to_send}
        max_items = min(settings.EVALBUILDER_BATCH_MAX_ITEMS, client.max_items)
        for part in _parts(entries, max_items, client.max_bytes):
            try:
                batch_id = client.submit([entry for _, _, entry in part])
            except ProviderError as error:
                refusal = error
                break
            items = {
                cid: {
                    "task_version": requests[cid].metadata["task_version_id"],
                    "attempt": requests[cid].metadata["attempt"],
                    "round": round_,
                    "cache_key": keys[cid],
                }
                for cid, round_, _ in part
            }
            created.append(
                ProviderBatch.objects.create(
                    run=run,
                    provider_batch_id=batch_id,
                    round=max(item["round"] for item in items.values()),
                    seq=seq,
                    items=items,
                )
            )
            logger.info("run %s: batch %s of %s requests submitted", run.pk, batch_id, len(items))
    finally:
        client.close()
        if refusal is not None:
            _refused(run, seq, refusal, tries, submitted=len(created))
        with transaction.atomic():
            for batch in created:
                _enqueue_later(POLL_TASK, batch_id=batch.pk, polls=0)


def _parts(
    entries: Sequence[tuple[str, int, dict[str, Any]]], max_items: int, max_bytes: int
) -> Iterator[list[tuple[str, int, dict[str, Any]]]]:
    """The entries in runs that keep under both caps."""
    part: list[tuple[str, int, dict[str, Any]]] = []
    size = 0
    for entry in entries:
        entry_size = len(json.dumps(entry[2]).encode()) + 1
        if part and (len(part) >= max_items or size + entry_size > max_bytes):
            yield part
            part, size = [], 0
        part.append(entry)
        size += entry_size
    if part:
        yield part


def _refused(run: Run, seq: int, error: ProviderError, tries: int, submitted: int) -> None:
    """A submission failed: try again later if that can help, else pause with the reason."""
    logger.warning("run %s: submitting a batch failed (%s: %s)", run.pk, error.kind, error)
    if error.retryable and tries + 1 < settings.EVALBUILDER_MAX_ATTEMPTS:
        if not submitted:  # else the last batch of this submission to end asks again
            with transaction.atomic():
                _enqueue_later(SUBMIT_TASK, run_id=run.pk, seq=seq, tries=tries + 1)
        return
    _stop(run, "fatal", f"{error.kind}: {error}")


# --- polling --------------------------------------------------------------------------------


def poll_batch(batch: ProviderBatch, *, polls: int = 0) -> None:
    """Ask the provider where a batch stands; once it has ended, write what it answered.

    A batch whose run has stopped or moved on is cancelled (best effort) and what it had
    answered is kept. `polls` is this poll's number: of two deliveries of one poll, only one
    sends the next.
    """
    if batch.status != ProviderBatch.Status.SUBMITTED:
        return
    run = batch.run
    current = _is_current(run, batch.seq)
    if current:
        _beat(run)
    try:
        client = _client(run)
        try:
            state = client.state(batch.provider_batch_id)
            if not (state.ended or state.cancelled or current):
                _cancel(client, batch)
                state = client.state(batch.provider_batch_id)
            outcomes = (
                client.results(batch.provider_batch_id) if state.ended and not state.failure else {}
            )
        finally:
            client.close()
    except ProviderError as error:
        if error.retryable:
            logger.warning("run %s: polling batch %s failed (%s)", run.pk, batch, error)
            _poll_again(batch, polls)
        else:
            _fail(batch, f"{error.kind}: {error}", current)
        return
    if not state.ended:
        _poll_again(batch, polls)
    elif state.failure:
        _fail(batch, state.failure, current)
    else:
        _collect(batch, state, outcomes, current)


def _cancel(client: BatchClient, batch: ProviderBatch) -> None:
    logger.info("run %s has stopped; cancelling batch %s", batch.run_id, batch)
    try:
        client.cancel(batch.provider_batch_id)
    except ProviderError as error:
        logger.warning("cancelling batch %s failed (%s); it runs to its end", batch, error)


def _poll_again(batch: ProviderBatch, polls: int) -> None:
    with transaction.atomic():
        moved = ProviderBatch.objects.filter(
            pk=batch.pk, status=ProviderBatch.Status.SUBMITTED, polls=polls
        ).update(polls=polls + 1)
        if moved:
            _enqueue_later(POLL_TASK, batch_id=batch.pk, polls=polls + 1)


def _fail(batch: ProviderBatch, reason: str, current: bool) -> None:
    """The provider refused the whole batch: its requests are left to a resumed run."""
    with transaction.atomic():
        moved = ProviderBatch.objects.filter(
            pk=batch.pk, status=ProviderBatch.Status.SUBMITTED
        ).update(status=ProviderBatch.Status.FAILED, ended_at=timezone.now(), error=reason)
        if moved and current:
            _stop(batch.run, "fatal", f"batch {batch.provider_batch_id} failed: {reason}")


def _collect(
    batch: ProviderBatch, state: BatchState, outcomes: dict[str, BatchOutcome], current: bool
) -> None:
    """Write an ended batch's answers as samples, once, and ask for the next round."""
    run = batch.run
    endpoint = run.endpoint
    rows: list[Sample] = []
    cache_entries: list[CachedResponse] = []
    failures: dict[str, dict[str, str]] = {}
    counts = {"succeeded": 0, "errored": 0, "expired": 0, "canceled": 0}
    for cid, item in batch.items.items():
        if cid in outcomes:
            outcome = outcomes[cid]
        elif state.cancelled:
            outcome = None
        else:
            outcome = ProviderError("expired", "the provider returned no result for it")
        if isinstance(outcome, ModelResponse):
            counts["succeeded"] += 1
            row = engine.sample_row(
                run,
                item["task_version"],
                item["attempt"],
                engine.CallOutcome(outcome, None, tries=item["round"]),
            )
            row.cost *= BATCH_PRICE
            row.latency_ms = None  # a batch says when it ended, not how long each answer took
            rows.append(row)
            cache_entries.append(engine.cache_entry(endpoint, item["cache_key"], outcome))
        elif isinstance(outcome, ProviderError):
            counts["expired" if outcome.kind == "expired" else "errored"] += 1
            failures[cid] = {"kind": outcome.kind, "error": str(outcome)[:2000]}
        else:
            counts["canceled"] += 1
    unknown = set(outcomes) - set(batch.items)
    if unknown:
        logger.warning("batch %s answered %s requests it was not sent", batch, len(unknown))
    with transaction.atomic():
        moved = ProviderBatch.objects.filter(
            pk=batch.pk, status=ProviderBatch.Status.SUBMITTED
        ).update(
            status=ProviderBatch.Status.ENDED,
            ended_at=timezone.now(),
            failures=failures,
            **counts,
        )
        if not moved:
            return  # another delivery of this poll got here first
        CachedResponse.objects.bulk_create(cache_entries, ignore_conflicts=True)
        _write(run, rows)
        logger.info("run %s: batch %s ended %s", run.pk, batch, counts)
        fatal = next((f for f in failures.values() if f["kind"] in engine.FATAL_KINDS), None)
        if current and fatal is not None:
            _stop(run, "fatal", f"{fatal['kind']}: {fatal['error']}")
        elif current:
            services.enqueue(SUBMIT_TASK, run_id=run.pk, seq=batch.seq)
