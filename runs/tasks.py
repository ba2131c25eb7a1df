"""Celery tasks of the run engine: thin, by id, idempotent."""

import logging

from celery import shared_task

from evalbuilder.celery import DATABASE_RETRY
from runs import batches, services
from runs.models import ProviderBatch, Run, Schedule

logger = logging.getLogger(__name__)


@shared_task(bind=True, name="runs.tasks.run_schedule")
def run_schedule(self, schedule_id: int, endpoint_ids: list[int] | None = None) -> None:
    schedule = Schedule.objects.filter(pk=schedule_id, enabled=True).first()
    if schedule is None:
        logger.warning("schedule %s is gone or disabled; nothing to run", schedule_id)
        return
    services.trigger_schedule(schedule, trigger_id=self.request.id or "", endpoint_ids=endpoint_ids)


@shared_task(name="runs.tasks.start_run", **DATABASE_RETRY)
def start_run(run_id: int) -> None:
    services.start_run(Run.objects.get(pk=run_id))


@shared_task(name="runs.tasks.run_chunk", **DATABASE_RETRY)
def run_chunk(run_id: int, items: list[list[int]], seq: int | None = None) -> None:
    run = Run.objects.select_related("endpoint", "suite").get(pk=run_id)
    services.run_chunk(run, [(version_id, attempt) for version_id, attempt in items], seq)


@shared_task(name="runs.tasks.submit_batch", **DATABASE_RETRY)
def submit_batch(run_id: int, seq: int, tries: int = 0) -> None:
    run = Run.objects.select_related("endpoint", "suite").get(pk=run_id)
    batches.submit_batch(run, seq, tries=tries)


@shared_task(name="runs.tasks.poll_batch", **DATABASE_RETRY)
def poll_batch(batch_id: int, polls: int = 0) -> None:
    batch = ProviderBatch.objects.select_related("run__endpoint", "run__suite").get(pk=batch_id)
    batches.poll_batch(batch, polls=polls)


@shared_task(name="runs.tasks.watch_runs")
def watch_runs() -> None:
    restarted = services.watch_runs()
    if restarted:
        logger.warning("restarted stalled runs %s", restarted)
