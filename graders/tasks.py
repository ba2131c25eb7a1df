"""Celery tasks of grading: thin, by id, idempotent."""

from celery import shared_task

from evalbuilder.celery import DATABASE_RETRY
from graders import services
from graders.models import Grader
from runs.models import Run, Sample


@shared_task(name="graders.tasks.grade_samples", **DATABASE_RETRY)
def grade_samples(
    sample_ids: list[int], grader_ids: list[int] | None = None, fresh: bool = False
) -> None:
    """Grade samples with the active LLM graders, or with the grader versions named (a
    regrade); `fresh` asks the judges again instead of reading their cached answers."""
    graders = None
    if grader_ids is not None:
        graders = list(
            Grader.objects.filter(
                pk__in=grader_ids, kind=Grader.Kind.LLM_RUBRIC, judge__isnull=False
            ).select_related("judge")
        )
    services.grade_samples(sample_ids, graders, fresh=fresh)
    run_ids = set(Sample.objects.filter(pk__in=sample_ids).values_list("run_id", flat=True))
    for run in Run.objects.filter(pk__in=run_ids, status=Run.Status.GRADING):
        services.finish_run_grading(run)


@shared_task(name="graders.tasks.finish_run_grading", **DATABASE_RETRY)
def finish_run_grading(run_id: int) -> None:
    services.finish_run_grading(Run.objects.get(pk=run_id))


@shared_task(name="graders.tasks.watch_grading")
def watch_grading() -> None:
    services.watch_grading()
