"""Read-side queries for report pages. The database aggregates; Python shapes small results."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date

from django.db.models import (
    Avg,
    Case,
    Count,
    F,
    FloatField,
    Max,
    Q,
    When,
)

from graders import services as grading
from graders.models import Grade, Grader
from occupations.models import Occupation, Task
from reports import stats
from runs.models import ModelEndpoint, Run, Sample


@dataclass(frozen=True)
class ModelResult:
    """One model's results in one job category."""

    endpoint: ModelEndpoint
    mean_score: float
    """Clipped mean rubric score."""
    ci_low: float
    ci_high: float
    success_rate: float
    samples: int
    """Scored samples behind the figures."""
    tasks: int
    unscored: int = 0
    """Samples the grader could not score (left out of the figures)."""
    failed: int = 0
    """Samples whose model call failed (left out of the figures)."""


@dataclass(frozen=True)
class CategorySummary:
    category: Occupation
    published_tasks: int
    frontier_score: float | None
    frontier_model: ModelEndpoint | None


report_graders = grading.report_graders
default_grader = grading.default_grader


def chosen_grader(value: str | None) -> Grader | None:
    """The grader a report page was asked for (?grader=<pk>), among report_graders();
    the default for a missing or unknown value."""
    if value and value.isdigit():
        grader = report_graders().filter(pk=int(value)).first()
        if grader is not None:
            return grader
    return default_grader()


def _scored(grader: Grader):
    """Scored grades of finished runs: a run still in progress is not a result yet."""
    return Grade.objects.filter(
        grader=grader, status=Grade.Status.SCORED, sample__run__status=Run.Status.COMPLETED
    )


def _per_task(grades):
    """One row per (job category, model, task): mean score, success rate, samples.

    Reports weigh every task once, whatever its number of attempts, so aggregates over a
    model are means of these rows.
    """
    return grades.values(
        category=F("sample__task_version__task__occupation__job_category"),
        endpoint=F("sample__run__endpoint"),
        task=F("sample__task_version__task"),
    ).annotate(
        mean=Avg("score"),
        success=Avg(Case(When(success=True, then=1.0), default=0.0, output_field=FloatField())),
        samples=Count("pk"),
    )


def job_categories():
    """Top-level groups of every taxonomy, with their published task counts."""
    return (
        Occupation.objects.filter(job_category_id=F("pk"))
        .select_related("taxonomy")
        .annotate(
            published_tasks=Count(
                "members__tasks",
                filter=Q(members__tasks__published_version__isnull=False)
                & ~Q(members__tasks__status=Task.Status.RETIRED),
            )
        )
        .order_by("taxonomy", "code")
    )


def category_summaries(grader: Grader | None) -> list[CategorySummary]:
    """Every job category with its task count and the best model's clipped mean score."""
    task_means: dict[tuple[int, int], list[float]] = defaultdict(list)
    if grader is not None:
        for row in _per_task(_scored(grader)):
            task_means[(row["category"], row["endpoint"])].append(row["mean"])
    best: dict[int, tuple[float, int]] = {}
    for (category_id, endpoint_id), means in task_means.items():
        score = stats.clipped_mean(means)
        if category_id not in best or score > best[category_id][0]:
            best[category_id] = (score, endpoint_id)
    endpoints = ModelEndpoint.objects.in_bulk({e for _, e in best.values()})
    summaries = []
    for category in job_categories():
        score, endpoint_id = best.get(category.pk, (None, None))
        summaries.append(
            CategorySummary(
                category=category,
                published_tasks=category.published_tasks,
                frontier_score=score,
                frontier_model=endpoints.get(endpoint_id),
            )
        )
    return summaries


def category_results(category: Occupation, grader: Grader | None) -> list[ModelResult]:
    """Per model in a job category: clipped mean over tasks with a task-bootstrap interval,
    success rate, and how many samples were left out (unscored grades, failed calls)."""
    if grader is None:
        return []
    in_category = {"sample__task_version__task__occupation__job_category": category}
    rows_by_endpoint: dict[int, list[dict]] = defaultdict(list)
    for row in _per_task(_scored(grader).filter(**in_category)):
        rows_by_endpoint[row["endpoint"]].append(row)
    unscored = dict(
        Grade.objects.filter(
            grader=grader,
            status=Grade.Status.UNSCORED,
            sample__run__status=Run.Status.COMPLETED,
            **in_category,
        )
        .values_list("sample__run__endpoint")
        .annotate(n=Count("pk"))
    )
    failed = dict(
        Sample.objects.filter(
            status=Sample.Status.FAILED,
            run__status=Run.Status.COMPLETED,
            task_version__task__occupation__job_category=category,
        )
        .values_list("run__endpoint")
        .annotate(n=Count("pk"))
    )
    endpoints = ModelEndpoint.objects.in_bulk(list(rows_by_endpoint))
    results = []
    for endpoint_id, rows in rows_by_endpoint.items():
        means = [row["mean"] for row in rows]
        low, high = stats.bootstrap_ci(means)
        results.append(
            ModelResult(
                endpoint=endpoints[endpoint_id],
                mean_score=stats.clipped_mean(means),
                ci_low=low,
                ci_high=high,
                success_rate=sum(row["success"] for row in rows) / len(rows),
                samples=sum(row["samples"] for row in rows),
                tasks=len(rows),
                unscored=unscored.get(endpoint_id, 0),
                failed=failed.get(endpoint_id, 0),
            )
        )
    return sorted(results, key=lambda r: (r.endpoint.release_date, r.endpoint.display_name))


def frontier_of(results: list[ModelResult]) -> list[tuple[date, float, ModelResult]]:
    return stats.frontier([(r.endpoint.release_date, r.mean_score, r) for r in results])


def category_occupations(category: Occupation):
    """Occupations of a job category with their published task counts."""
    return (
        Occupation.objects.filter(job_category=category)
        .exclude(pk=category.pk)
        .annotate(
            published_tasks=Count(
                "tasks",
                filter=Q(tasks__published_version__isnull=False)
                & ~Q(tasks__status=Task.Status.RETIRED),
            ),
            last_update=Max("tasks__updated_at"),
        )
        .order_by("code")
    )
