"""Run lifecycle: create runs, fan them out into chunks, and hand samples on to grading.

Celery tasks in runs/tasks.py load objects by id and call these functions. Grading lives
downstream (graders/), so it is reached only by task name with ids.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable, Sequence

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
) -> Run:
    """Queue a run of a suite on an endpoint; the suite is frozen from now on.

    Calls identical to earlier ones are answered from the response cache unless
    `fresh_samples` asks the model again.
    """
    if samples_per_task < 1:
        raise ValueError("samples_per_task must be at least 1")
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
    suite.freeze()
    run = Run.objects.create(
        suite=suite,
        endpoint=endpoint,
        schedule=schedule,
        trigger_id=trigger_id,
        fresh_samples=fresh_samples,
        samples_per_task=samples_per_task,
        planned_samples=version_count * samples_per_task,
    )
    enqueue("runs.tasks.start_run", run_id=run.pk)
    return run


@transaction.atomic
def trigger_schedule(
    schedule: Schedule, *, trigger_id: str = "", endpoint_ids: Iterable[int] | None = None
) -> list[Run]:
    """One run per active endpoint of the schedule (or of `endpoint_ids` among them).

    A trigger id (the beat message's id) makes a redelivered trigger start nothing twice.
    """
    endpoints = schedule.endpoints.filter(is_active=True)
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


def chunked(items: Sequence, size: int) -> Iterable[Sequence]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


@transaction.atomic
def start_run(run: Run) -> None:
    """Fan a run out into chunk tasks for every pair not sampled yet.

    Redelivered after a crash, it sends the missing chunks again rather than nothing.
    """
    run = Run.objects.select_for_update().get(pk=run.pk)
    if run.status == Run.Status.QUEUED:
        run.status, run.started_at = Run.Status.RUNNING, timezone.now()
        run.save(update_fields=["status", "started_at"])
    elif run.status != Run.Status.RUNNING:
        logger.info("run %s is %s; not starting it again", run.pk, run.status)
        return
    missing = missing_items(run)
    for chunk in chunked(missing, settings.EVALBUILDER_CHUNK_SIZE):
        enqueue("runs.tasks.run_chunk", run_id=run.pk, items=[list(i) for i in chunk])
    if not missing:
        finish_sampling_if_done(run)


def run_chunk(run: Run, items: Sequence[engine.WorkItem]) -> None:
    """Sample one chunk, pass its samples to grading, and close sampling when all are in.

    Grading is asked for every done sample of the chunk, not only the ones written now:
    a chunk redelivered after a crash between writing and enqueueing still gets graded
    (grading skips samples it has graded already).
    """
    if run.status not in (Run.Status.RUNNING, Run.Status.GRADING):
        logger.info("run %s is %s; skipping a chunk", run.pk, run.status)
        return
    engine.sample_chunk(run, items)
    with transaction.atomic():
        done = done_sample_ids(run, items)
        if done:
            enqueue(GRADE_SAMPLES_TASK, sample_ids=done)
        finish_sampling_if_done(run)


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


def run_progress(run: Run) -> dict[str, int]:
    """Counts, tokens and cost of a run's samples, in one query."""
    totals = Sample.objects.filter(run=run).aggregate(
        written=Count("pk"),
        done=Count("pk", filter=Q(status=Sample.Status.DONE)),
        failed=Count("pk", filter=Q(status=Sample.Status.FAILED)),
        input_tokens=Sum("input_tokens", default=0),
        output_tokens=Sum("output_tokens", default=0),
        cost=Sum("cost", default=0),
    )
    totals["planned"] = run.planned_samples
    return totals


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
) -> Schedule:
    """Create or update a schedule by name, with its beat entry."""
    parse_cron(cron)  # fail before writing anything
    schedule, _ = Schedule.objects.update_or_create(
        name=name,
        defaults={
            "suite": suite,
            "cron": cron,
            "samples_per_task": samples_per_task,
            "enabled": enabled,
        },
    )
    schedule.endpoints.set(list(endpoints))
    sync_periodic_task(schedule)
    return schedule
