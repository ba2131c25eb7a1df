"""Run lifecycle: create runs, fan them out into chunks, and hand samples on to grading.

Celery tasks in runs/tasks.py load objects by id and call these functions. Grading lives
downstream (graders/), so it is reached only by task name with ids.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Sequence

from celery import current_app
from django.conf import settings
from django.db import transaction
from django.db.models import Count, Q, Sum
from django.utils import timezone
from django_celery_beat.models import CrontabSchedule, PeriodicTask

from occupations.models import Suite
from runs import engine
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
) -> Run:
    """Queue a run of a suite on an endpoint; the suite is frozen from now on."""
    if samples_per_task < 1:
        raise ValueError("samples_per_task must be at least 1")
    version_count = suite.task_versions.count()
    if version_count == 0:
        raise ValueError(f"Suite {suite.slug!r} has no task versions to run")
    suite.freeze()
    run = Run.objects.create(
        suite=suite,
        endpoint=endpoint,
        schedule=schedule,
        samples_per_task=samples_per_task,
        planned_samples=version_count * samples_per_task,
    )
    enqueue("runs.tasks.start_run", run_id=run.pk)
    return run


def trigger_schedule(schedule: Schedule) -> list[Run]:
    """One run per active endpoint of the schedule."""
    return [
        create_run(
            schedule.suite, endpoint, samples_per_task=schedule.samples_per_task, schedule=schedule
        )
        for endpoint in schedule.endpoints.filter(is_active=True)
    ]


def work_items(run: Run) -> list[engine.WorkItem]:
    version_ids = sorted(run.suite.task_versions.values_list("pk", flat=True))
    return [(v, a) for v in version_ids for a in range(run.samples_per_task)]


def chunked(items: Sequence, size: int) -> Iterable[Sequence]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def start_run(run: Run) -> None:
    """Fan a queued run out into chunk tasks."""
    updated = Run.objects.filter(pk=run.pk, status=Run.Status.QUEUED).update(
        status=Run.Status.RUNNING, started_at=timezone.now()
    )
    if not updated:
        logger.info("run %s is %s; not starting it again", run.pk, run.status)
        return
    with transaction.atomic():
        for chunk in chunked(work_items(run), settings.EVALBUILDER_CHUNK_SIZE):
            enqueue("runs.tasks.run_chunk", run_id=run.pk, items=[list(i) for i in chunk])


def run_chunk(run: Run, items: Sequence[engine.WorkItem]) -> None:
    """Sample one chunk, pass the new samples to grading, and close sampling when all are in."""
    if run.status != Run.Status.RUNNING:
        logger.info("run %s is %s; skipping a chunk", run.pk, run.status)
        return
    sample_ids = engine.sample_chunk(run, items)
    with transaction.atomic():
        if sample_ids:
            enqueue(GRADE_SAMPLES_TASK, sample_ids=sample_ids)
        finish_sampling_if_done(run)


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


def parse_cron(expression: str) -> dict[str, str]:
    """Split five cron fields, naming the bad one in the error."""
    fields = expression.split()
    names = ["minute", "hour", "day_of_month", "month_of_year", "day_of_week"]
    if len(fields) != 5:
        raise ValueError(
            f"cron needs 5 fields ({' '.join(names)}), got {len(fields)}: {expression!r}"
        )
    return dict(zip(names, fields, strict=True))


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
    parse_cron(cron)
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
