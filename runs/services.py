"""Run lifecycle: create runs, fan them out into chunks, and hand samples on to grading.

Celery tasks in runs/tasks.py load objects by id and call these functions. Grading lives
downstream (graders/), so it is reached only by task name with ids.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from datetime import timedelta
from decimal import Decimal

from celery import current_app
from django.conf import settings
from django.db import transaction
from django.db.models import Count, Q, Sum
from django.utils import timezone
from django_celery_beat.models import CrontabSchedule, PeriodicTask

from occupations.models import Suite
from runs import engine
from runs.cron import parse_cron
from runs.models import ModelEndpoint, Run, Sample, Schedule

logger = logging.getLogger(__name__)

GRADE_SAMPLES_TASK = "graders.tasks.grade_samples"
FINISH_GRADING_TASK = "graders.tasks.finish_run_grading"
RUN_SCHEDULE_TASK = "runs.tasks.run_schedule"


def enqueue(task_name: str, **kwargs) -> None:
    """Send a Celery task by name once the current transaction commits."""
    transaction.on_commit(lambda: current_app.signature(task_name, kwargs=kwargs).delay())


@transaction.atomic
def create_run(
    suite: Suite,
    endpoint: ModelEndpoint,
    *,
    samples_per_task: int = 1,
    schedule: Schedule | None = None,
    trigger_id: str = "",
    fresh_samples: bool = False,
    budget: Decimal | None = None,
    use_batch: bool = False,
) -> Run:
    """Queue a run of a suite on an endpoint; the suite is frozen from now on.

    Calls identical to earlier ones are answered from the response cache unless
    `fresh_samples` asks the model again. `use_batch` samples through the provider's batch
    API (runs/batches.py).
    """
    if samples_per_task < 1:
        raise ValueError("samples_per_task must be at least 1")
    if endpoint.provider == ModelEndpoint.Provider.IMPORTED:
        raise ValueError(
            f"Model {endpoint.slug!r} holds imported results and cannot be called: "
            "import its eval logs instead"
        )
    version_count = check_suite_runnable(suite)
    suite.freeze()
    run = Run.objects.create(
        suite=suite,
        endpoint=endpoint,
        schedule=schedule,
        trigger_id=trigger_id,
        fresh_samples=fresh_samples,
        budget=budget,
        samples_per_task=samples_per_task,
        planned_samples=version_count * samples_per_task,
        use_batch=use_batch,
    )
    enqueue("runs.tasks.start_run", run_id=run.pk)
    return run


def check_suite_runnable(suite: Suite) -> int:
    """The number of task versions of a suite that can be run; ValueError naming what keeps
    it from being run (no versions, unsubmitted ones, ones without a positive criterion)."""
    versions = suite.task_versions.all()
    version_count = versions.count()
    if version_count == 0:
        raise ValueError(f"Suite {suite.slug!r} has no task versions to run")
    drafts = [str(v) for v in versions.filter(submitted_at__isnull=True)]
    if drafts:
        raise ValueError(f"Suite {suite.slug!r} holds unsubmitted versions: {', '.join(drafts)}")
    unscorable = [str(v) for v in versions.exclude(criteria__points__gt=0)]
    if unscorable:
        raise ValueError(
            f"Suite {suite.slug!r} holds versions without a positive criterion: "
            f"{', '.join(unscorable)}"
        )
    return version_count


@transaction.atomic
def trigger_schedule(
    schedule: Schedule,
    *,
    trigger_id: str = "",
    endpoint_ids: Iterable[int] | None = None,
    use_batch: bool | None = None,
) -> list[Run]:
    """One run per active endpoint of the schedule (or of `endpoint_ids` among them).

    A trigger id (the beat message's id) makes a redelivered trigger start nothing twice.
    The runs use batch APIs as the schedule says, unless `use_batch` says otherwise.
    """
    endpoints = schedule.endpoints.filter(is_active=True).exclude(
        provider=ModelEndpoint.Provider.IMPORTED
    )
    if endpoint_ids is not None:
        endpoints = endpoints.filter(pk__in=list(endpoint_ids))
    done = set()
    if trigger_id:
        done = set(Run.objects.filter(trigger_id=trigger_id).values_list("endpoint", flat=True))
    return [
        create_run(
            schedule.suite,
            endpoint,
            samples_per_task=schedule.samples_per_task,
            schedule=schedule,
            trigger_id=trigger_id,
            budget=schedule.budget_per_run,
            use_batch=schedule.use_batch if use_batch is None else use_batch,
        )
        for endpoint in endpoints.order_by("release_date", "pk")
        if endpoint.pk not in done
    ]


def work_items(run: Run) -> list[engine.WorkItem]:
    version_ids = sorted(run.suite.task_versions.values_list("pk", flat=True))
    return [(v, a) for v in version_ids for a in range(run.samples_per_task)]


def missing_items(run: Run) -> list[engine.WorkItem]:
    """Work items of the run that have no sample yet."""
    written = set(Sample.objects.filter(run=run).values_list("task_version_id", "attempt"))
    return [item for item in work_items(run) if item not in written]


def chunk_size(run: Run) -> int:
    """Items per chunk: enough to keep the endpoint's limit busy for several rounds."""
    return max(settings.EVALBUILDER_CHUNK_SIZE, 5 * run.endpoint.max_concurrency)


def _send_next_chunk(run: Run, seq: int) -> bool:
    """Enqueue chunk `seq + 1` with the next missing items, if chunk `seq` is still current.

    Advancing `chunk_seq` with a conditional update makes this happen once per chunk even
    when a chunk is redelivered after it had already handed on.
    """
    missing = missing_items(run)
    if not missing:
        return False
    advanced = Run.objects.filter(pk=run.pk, status=Run.Status.RUNNING, chunk_seq=seq).update(
        chunk_seq=seq + 1
    )
    if advanced:
        items = missing[: chunk_size(run)]
        enqueue("runs.tasks.run_chunk", run_id=run.pk, items=[list(i) for i in items], seq=seq + 1)
    return bool(advanced)


@transaction.atomic
def start_run(run: Run) -> None:
    """Set a queued run going: its first chunk samples, and each chunk hands on to the next.

    Redelivered, it starts nothing twice: only a queued run is started here.
    """
    run = Run.objects.select_for_update().select_related("endpoint").get(pk=run.pk)
    if run.status != Run.Status.QUEUED:
        logger.info("run %s is %s; not starting it again", run.pk, run.status)
        return
    run.status, run.started_at, run.heartbeat_at = Run.Status.RUNNING, timezone.now(), None
    run.save(update_fields=["status", "started_at", "heartbeat_at"])
    if run.use_batch and not run.endpoint.is_simulated:
        enqueue("runs.tasks.submit_batch", run_id=run.pk, seq=run.chunk_seq)
        return
    if run.use_batch:
        logger.info("run %s: simulated models have no batch API; sampling live", run.pk)
    if not _send_next_chunk(run, run.chunk_seq):
        finish_sampling_if_done(run)


def run_chunk(run: Run, items: Sequence[engine.WorkItem], seq: int | None = None) -> None:
    """Sample one chunk, pass its samples to grading, and hand on to the next chunk.

    Grading is asked for every done sample of the chunk, not only the ones written now:
    a chunk redelivered after a crash between writing and enqueueing still gets graded
    (grading skips samples it has graded already).
    """
    if run.status != Run.Status.RUNNING or (seq is not None and run.chunk_seq != seq):
        logger.info(
            "run %s is %s at chunk %s; skipping chunk %s", run.pk, run.status, run.chunk_seq, seq
        )
        return
    result = engine.sample_chunk(run, items, seq=seq)
    with transaction.atomic():
        done = done_sample_ids(run, items)
        if done:
            enqueue(GRADE_SAMPLES_TASK, sample_ids=done)
        if result.stop in ("budget", "fatal"):
            pause_run(run, reason=stop_message(result))
            return
        if result.stop == "run":
            return  # paused, cancelled, or superseded by a newer chunk
        current = seq if seq is not None else Run.objects.get(pk=run.pk).chunk_seq
        if not _send_next_chunk(run, current):
            finish_sampling_if_done(run)


def stop_message(result: engine.ChunkResult) -> str:
    if result.stop == "budget":
        return f"Stopped: {result.detail}. Raise the budget and resume to go on."
    return f"Stopped: the provider refused ({result.detail}). Fix it and resume."


# --- operator controls ----------------------------------------------------------------


@transaction.atomic
def pause_run(run: Run, *, reason: str = "Paused by an operator.") -> bool:
    """Stop sending new calls; calls in flight finish and are kept. Resume goes on from there."""
    paused = Run.objects.filter(
        pk=run.pk, status__in=[Run.Status.QUEUED, Run.Status.RUNNING]
    ).update(status=Run.Status.PAUSED, stop_reason=reason[:500])
    if paused:
        logger.info("run %s paused: %s", run.pk, reason)
    return bool(paused)


@transaction.atomic
def resume_run(run: Run, *, budget=None) -> bool:
    """Go on with a paused run from its missing samples, optionally with a new budget."""
    run = Run.objects.select_for_update().select_related("endpoint").get(pk=run.pk)
    if run.status != Run.Status.PAUSED:
        return False
    if budget is not None:
        run.budget = budget
    run.status, run.stop_reason, run.heartbeat_at = Run.Status.RUNNING, "", timezone.now()
    if run.started_at is None:
        run.started_at = timezone.now()
    run.save(update_fields=["status", "stop_reason", "heartbeat_at", "budget", "started_at"])
    if run.use_batch and not run.endpoint.is_simulated:
        # Whatever batch was in flight at the pause is read when it ends; the rest goes in
        # a new batch, still at the batch price.
        enqueue("runs.tasks.submit_batch", run_id=run.pk, seq=run.chunk_seq)
    else:
        restart_chain(run)
    return True


@transaction.atomic
def cancel_run(run: Run, *, reason: str = "Cancelled by an operator.") -> bool:
    """End the run for good; samples and grades written so far stay for the record."""
    cancelled = Run.objects.filter(
        pk=run.pk, status__in=[Run.Status.QUEUED, Run.Status.RUNNING, Run.Status.PAUSED]
    ).update(status=Run.Status.CANCELLED, stop_reason=reason[:500], finished_at=timezone.now())
    return bool(cancelled)


def restart_chain(run: Run) -> None:
    """Start a new chunk chain for a running run; an older chain stops at its next look."""
    seq = Run.objects.get(pk=run.pk).chunk_seq
    if not _send_next_chunk(run, seq):
        finish_sampling_if_done(run)


def watch_runs() -> list[int]:
    """Restart runs whose chunks have gone silent (a lost broker message, a dead worker on a
    broker that does not redeliver). Returns the ids of the runs restarted."""
    silent_since = timezone.now() - timedelta(seconds=settings.EVALBUILDER_STALL_SECONDS)
    stalled = Run.objects.filter(status=Run.Status.RUNNING).filter(
        Q(heartbeat_at__lt=silent_since) | Q(heartbeat_at__isnull=True, started_at__lt=silent_since)
    )
    restarted = []
    for run in stalled.select_related("endpoint"):
        with transaction.atomic():
            logger.warning(
                "run %s has been silent since %s; restarting its chunks",
                run.pk,
                run.heartbeat_at or run.started_at,
            )
            Run.objects.filter(pk=run.pk).update(heartbeat_at=timezone.now())
            restart_chain(run)
            restarted.append(run.pk)
    return restarted


def done_sample_ids(run: Run, items: Sequence[engine.WorkItem]) -> list[int]:
    wanted = {(int(version), int(attempt)) for version, attempt in items}
    rows = Sample.objects.filter(
        run=run, status=Sample.Status.DONE, task_version_id__in={v for v, _ in wanted}
    ).values_list("pk", "task_version_id", "attempt")
    return [pk for pk, version, attempt in rows if (version, attempt) in wanted]


def finish_sampling_if_done(run: Run) -> bool:
    """Move a run whose samples are all written on to grading (once, whoever gets here first)."""
    if Sample.objects.filter(run=run).count() < run.planned_samples:
        return False
    moved = Run.objects.filter(pk=run.pk, status=Run.Status.RUNNING).update(
        status=Run.Status.GRADING, sampled_at=timezone.now()
    )
    if moved:
        enqueue(FINISH_GRADING_TASK, run_id=run.pk)
    return bool(moved)


def wait_for_runs(
    run_ids: Sequence[int],
    *,
    timeout: float,
    on_progress: Callable[[list[Run]], None] | None = None,
    poll: float = 1.0,
) -> list[Run]:
    """Block until every run has finished; TimeoutError after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        runs = list(Run.objects.filter(pk__in=run_ids).select_related("endpoint"))
        if on_progress is not None:
            on_progress(runs)
        if len(runs) == len(run_ids) and all(run.is_finished for run in runs):
            return runs
        if time.monotonic() > deadline:
            raise TimeoutError(f"runs {sorted(run_ids)} did not finish within {timeout:.0f} s")
        time.sleep(poll)


def run_progress(run: Run) -> dict:
    """Where a run stands: counts, tokens, cost, errors by kind, rate and time left.

    The rate is of samples written by this run's calls (answers from the cache are not
    counted, they come at once), over the time the run has been sampling.
    """
    samples = Sample.objects.filter(run=run)
    totals = samples.aggregate(
        written=Count("pk"),
        done=Count("pk", filter=Q(status=Sample.Status.DONE)),
        failed=Count("pk", filter=Q(status=Sample.Status.FAILED)),
        cached=Count("pk", filter=Q(cached=True)),
        tries=Sum("tries", default=0),
        input_tokens=Sum("input_tokens", default=0),
        output_tokens=Sum("output_tokens", default=0),
        cost=Sum("cost", default=Decimal("0")),
    )
    totals["planned"] = run.planned_samples
    totals["remaining"] = max(0, run.planned_samples - totals["written"])
    totals["retries"] = max(0, totals.pop("tries") - (totals["written"] - totals["cached"]))
    totals["errors_by_kind"] = dict(
        samples.filter(status=Sample.Status.FAILED)
        .values_list("error_kind")
        .annotate(n=Count("pk"))
        .order_by("-n", "error_kind")
    )
    end = run.sampled_at or (timezone.now() if run.status == Run.Status.RUNNING else None)
    elapsed = (end - run.started_at).total_seconds() if end and run.started_at else 0.0
    fresh = totals["written"] - totals["cached"]
    rate = fresh / elapsed if elapsed > 0 and fresh > 0 else 0.0
    totals["elapsed_seconds"] = round(elapsed, 1)
    totals["samples_per_minute"] = round(rate * 60, 1)
    totals["eta_seconds"] = (
        round(totals["remaining"] / rate) if rate > 0 and run.status == Run.Status.RUNNING else None
    )
    totals["concurrency"] = run.concurrency
    totals["budget"] = run.budget
    return totals


def schedule_cost(schedule: Schedule) -> dict:
    """Tokens and cost of every run a schedule started."""
    return Sample.objects.filter(run__schedule=schedule).aggregate(
        runs=Count("run", distinct=True),
        input_tokens=Sum("input_tokens", default=0),
        output_tokens=Sum("output_tokens", default=0),
        cost=Sum("cost", default=Decimal("0")),
    )


@transaction.atomic
def register_endpoint(
    endpoint: ModelEndpoint,
    *,
    run_suite: Suite | None = None,
    samples_per_task: int = 1,
    budget: Decimal | None = None,
) -> Run | None:
    """Save a new model endpoint and, if asked, queue a run of a suite on it at once."""
    endpoint.full_clean()
    endpoint.save()
    if run_suite is None:
        return None
    return create_run(run_suite, endpoint, samples_per_task=samples_per_task, budget=budget)


def current_suite() -> Suite | None:
    """The suite a newly registered model is measured on: the latest one a schedule runs,
    else the latest suite."""
    scheduled = (
        Schedule.objects.filter(enabled=True)
        .select_related("suite")
        .order_by("-created_at")
        .first()
    )
    if scheduled is not None:
        return scheduled.suite
    return Suite.objects.order_by("-created_at").first()


# --- schedules ----------------------------------------------------------------------


@transaction.atomic
def sync_periodic_task(schedule: Schedule) -> PeriodicTask:
    """Create or update the beat entry that fires this schedule."""
    crontab, _ = CrontabSchedule.objects.get_or_create(
        **parse_cron(schedule.cron), timezone=settings.TIME_ZONE
    )
    values = {
        "crontab": crontab,
        "task": RUN_SCHEDULE_TASK,
        "kwargs": json.dumps({"schedule_id": schedule.pk}),
        "enabled": schedule.enabled,
        "description": f"Runs suite {schedule.suite} for schedule {schedule.name}",
    }
    periodic, _ = PeriodicTask.objects.update_or_create(
        name=f"evalbuilder schedule {schedule.pk}", defaults=values
    )
    if schedule.periodic_task_id != periodic.pk:
        Schedule.objects.filter(pk=schedule.pk).update(periodic_task=periodic)
        schedule.periodic_task = periodic
    return periodic


@transaction.atomic
def save_schedule(
    *,
    name: str,
    suite: Suite,
    endpoints: Iterable[ModelEndpoint],
    cron: str,
    samples_per_task: int,
    enabled: bool = True,
    budget_per_run: Decimal | None = None,
    use_batch: bool = False,
    schedule: Schedule | None = None,
    created_by=None,
) -> Schedule:
    """Create a schedule, or update `schedule` (else the one of that name), with its beat
    entry."""
    parse_cron(cron)  # fail before writing anything
    endpoints = list(endpoints)
    imported = [e.slug for e in endpoints if e.provider == ModelEndpoint.Provider.IMPORTED]
    if imported:
        raise ValueError(
            f"Models {', '.join(imported)} hold imported results and cannot be scheduled"
        )
    values = {
        "name": name,
        "suite": suite,
        "cron": cron,
        "samples_per_task": samples_per_task,
        "enabled": enabled,
        "budget_per_run": budget_per_run,
        "use_batch": use_batch,
    }
    if schedule is None:
        schedule, _ = Schedule.objects.update_or_create(
            name=name, defaults=values, create_defaults={**values, "created_by": created_by}
        )
    else:
        for field, value in values.items():
            setattr(schedule, field, value)
        schedule.save()
    schedule.endpoints.set(endpoints)
    sync_periodic_task(schedule)
    return schedule
