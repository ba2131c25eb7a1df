"""Celery tasks of reports: thin, by id, idempotent."""

from celery import shared_task

from evalbuilder.celery import DATABASE_RETRY
from reports import materialise


@shared_task(name="reports.tasks.refresh_run_results", **DATABASE_RETRY)
def refresh_run_results(run_id: int) -> None:
    """Rebuild the materialised results a run feeds (sent when its grading closes, and when
    grades of a completed run are written later, a regrade)."""
    materialise.refresh_run(run_id)


@shared_task(name="reports.tasks.refresh_all_results", **DATABASE_RETRY)
def refresh_all_results() -> None:
    """Rebuild every materialised result."""
    materialise.refresh_all()
