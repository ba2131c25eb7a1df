"""Refresh the materialised results (reports.models.TaskResult) with set-based SQL.

One aggregate query over samples and one grader's grades, grouped by (model, suite, task
version), is compiled by the ORM and inserted with INSERT ... SELECT in the same
transaction that deletes the rows it replaces: no sample ever passes through Python.
Every refresh changes the grader's ResultsVersion, which is what cached report figures are
keyed by. Refreshing twice gives the same rows, so a repeated Celery message is harmless.

What counts: samples of COMPLETED runs only; a grader's own grades (expert grades are a
human grader's and never reach reports); every completed run of a model on a suite is
pooled. Samples replayed from the response cache (Sample.cached) are left out: a cached
sample repeats, word for word, an answer the model gave before (in the run that first
asked), so counting it again would add an attempt perfectly correlated with one already
counted and overstate n. A row is kept when the grader graded at least one of its samples
or a model call failed, so that tasks a model always failed on still show their failures.

A deleted run's rows are rebuilt by reports.signals (its model on its suite, from the
runs that remain).
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass

from django.db import connection, transaction
from django.db.models import (
    Count,
    Exists,
    F,
    FilteredRelation,
    FloatField,
    OuterRef,
    Q,
    QuerySet,
    Sum,
    Value,
)
from django.db.models.functions import Coalesce
from django.utils import timezone

from graders.models import Grade, Grader
from reports.models import ResultsVersion, TaskResult
from runs.models import Run, Sample

logger = logging.getLogger(__name__)

# TaskResult column <- alias of the aggregate query (aliases may not clash with Sample fields).
_COLUMNS = {
    "endpoint_id": "r_endpoint",
    "suite_id": "r_suite",
    "task_version_id": "r_task_version",
    "task_id": "r_task",
    "occupation_id": "r_occupation",
    "job_category_id": "r_job_category",
    "estimated_minutes": "r_minutes",
    "visibility": "r_visibility",
    "attempts": "r_attempts",
    "successes": "r_successes",
    "score_sum": "r_score_sum",
    "unscored": "r_unscored",
    "failed": "r_failed",
}


@dataclass(frozen=True)
class Refreshed:
    """What one refresh wrote."""

    graders: int
    """Grader versions whose results were refreshed."""
    rows: int
    """TaskResult rows written."""


def aggregate_results(grader_id: int, samples: QuerySet[Sample]) -> QuerySet:
    """The aggregate query: one row per (model, suite, task version) of the given samples of
    completed runs, fresh ones only (not replayed from the cache), with the grader's counts.
    Aliases are the values of _COLUMNS."""
    scored = Q(graded__status=Grade.Status.SCORED)
    rows = (
        samples.filter(run__status=Run.Status.COMPLETED, cached=False)
        .annotate(
            graded=FilteredRelation(
                "grades", condition=Q(grades__grader_id=grader_id, grades__expert__isnull=True)
            )
        )
        .values(
            r_endpoint=F("run__endpoint_id"),
            r_suite=F("run__suite_id"),
            r_task_version=F("task_version_id"),
            r_task=F("task_version__task_id"),
            r_occupation=F("task_version__task__occupation_id"),
            r_job_category=F("task_version__task__occupation__job_category_id"),
            r_minutes=F("task_version__estimated_minutes"),
            r_visibility=F("task_version__task__visibility"),
        )
        .annotate(
            r_attempts=Count("graded__id", filter=scored),
            r_successes=Count("graded__id", filter=scored & Q(graded__success=True)),
            r_score_sum=Coalesce(
                Sum("graded__score", filter=scored), Value(0.0), output_field=FloatField()
            ),
            r_unscored=Count("graded__id", filter=Q(graded__status=Grade.Status.UNSCORED)),
            r_failed=Count("id", filter=Q(status=Sample.Status.FAILED)),
        )
        .filter(Q(r_attempts__gt=0) | Q(r_unscored__gt=0) | Q(r_failed__gt=0))
        .order_by()
    )
    return rows


def _insert(grader_id: int, samples: QuerySet[Sample]) -> int:
    inner, params = aggregate_results(grader_id, samples).query.sql_with_params()
    table = connection.ops.quote_name(TaskResult._meta.db_table)
    columns = ", ".join(
        connection.ops.quote_name(c) for c in ["grader_id", "refreshed_at", *_COLUMNS]
    )
    picked = ", ".join(f"agg.{connection.ops.quote_name(a)}" for a in _COLUMNS.values())
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} ({columns}) SELECT %s, %s, {picked} FROM ({inner}) agg",
            [grader_id, now, *params],
        )
        return cursor.rowcount


def _locked_version(grader_id: int) -> ResultsVersion:
    """The grader's version row, locked: refreshes of one grader take turns."""
    version, _ = ResultsVersion.objects.select_for_update().get_or_create(
        grader_id=grader_id, defaults={"token": uuid.uuid4().hex, "refreshed_at": timezone.now()}
    )
    return version


def _bump(grader_id: int) -> None:
    ResultsVersion.objects.filter(grader_id=grader_id).update(
        token=uuid.uuid4().hex, refreshes=F("refreshes") + 1, refreshed_at=timezone.now()
    )


def refresh_results(grader_id: int, endpoint_id: int, suite_id: int) -> int:
    """Rebuild one grader's rows for one model on one suite; returns rows written."""
    with transaction.atomic():
        _locked_version(grader_id)
        TaskResult.objects.filter(
            grader_id=grader_id, endpoint_id=endpoint_id, suite_id=suite_id
        ).delete()
        written = _insert(
            grader_id, Sample.objects.filter(run__endpoint_id=endpoint_id, run__suite_id=suite_id)
        )
        _bump(grader_id)
    return written


def graders_of(endpoint_id: int, suite_id: int) -> list[int]:
    """Graders with grades on this model's samples of this suite, or rows to replace."""
    graded = Grade.objects.filter(
        grader=OuterRef("pk"),
        expert__isnull=True,
        sample__run__endpoint_id=endpoint_id,
        sample__run__suite_id=suite_id,
    )
    held = TaskResult.objects.filter(
        grader=OuterRef("pk"), endpoint_id=endpoint_id, suite_id=suite_id
    )
    return list(
        Grader.objects.filter(Exists(graded) | Exists(held))
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def invalidate_cached_reports() -> int:
    """Make every cached report stale (a new ResultsVersion token for every grader) without
    rewriting rows: for changes read live through joins, such as a model's release date or
    family. Returns the graders touched."""
    return ResultsVersion.objects.update(token=uuid.uuid4().hex, refreshed_at=timezone.now())


def refresh_model_suite(endpoint_id: int, suite_id: int) -> Refreshed:
    """Rebuild one model's rows on one suite for every grader with grades or rows there
    (after a run of it is deleted, from the runs that remain)."""
    graders = graders_of(endpoint_id, suite_id)
    rows = sum(refresh_results(g, endpoint_id, suite_id) for g in graders)
    return Refreshed(len(graders), rows)


def refresh_run(run_id: int) -> Refreshed:
    """Rebuild the rows the run feeds: its model on its suite, for every grader that graded
    it (or had rows there). Any run status: a run that did not complete writes nothing."""
    run = Run.objects.filter(pk=run_id).values("endpoint_id", "suite_id").first()
    if run is None:
        return Refreshed(0, 0)
    refreshed = refresh_model_suite(run["endpoint_id"], run["suite_id"])
    logger.info(
        "run %s: %s result rows refreshed for %s graders", run_id, refreshed.rows, refreshed.graders
    )
    return refreshed


def refresh_grader(grader_id: int) -> int:
    """Rebuild every row of one grader; returns rows written."""
    with transaction.atomic():
        _locked_version(grader_id)
        TaskResult.objects.filter(grader_id=grader_id).delete()
        written = _insert(grader_id, Sample.objects.all())
        _bump(grader_id)
    return written


def refresh_all() -> Refreshed:
    """Rebuild the whole table: every grader with grades; rows of others are removed."""
    graded = Grade.objects.filter(grader=OuterRef("pk"), expert__isnull=True)
    graders = list(
        Grader.objects.filter(Exists(graded)).order_by("pk").values_list("pk", flat=True)
    )
    with transaction.atomic():
        stale = TaskResult.objects.exclude(grader_id__in=graders)
        for grader_id in stale.values_list("grader_id", flat=True).distinct():
            _locked_version(grader_id)
            _bump(grader_id)
        stale.delete()
    rows = sum(refresh_grader(g) for g in graders)
    return Refreshed(len(graders), rows)
