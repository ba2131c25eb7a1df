"""Celery tasks of reports: thin, by id, idempotent."""

from celery import shared_task

from evalbuilder.celery import DATABASE_RETRY
from reports import materialise, releases
from reports.models import Release


@shared_task(name="reports.tasks.refresh_run_results", **DATABASE_RETRY)
def refresh_run_results(run_id: int) -> None:
    """Rebuild the materialised results a run feeds (sent when its grading closes, and when
    grades of a completed run are written later, a regrade)."""
    materialise.refresh_run(run_id)


@shared_task(name="reports.tasks.refresh_all_results", **DATABASE_RETRY)
def refresh_all_results() -> None:
    """Rebuild every materialised result."""
    materialise.refresh_all()


@shared_task(name="reports.tasks.fill_release", acks_late=True, **DATABASE_RETRY)
def fill_release(release_id: int) -> None:
    """Compute and seal the figures of a release being prepared (once, however often the
    message is delivered)."""
    release = Release.objects.filter(pk=release_id).first()
    if release is not None:
        releases.fill_release(release)
