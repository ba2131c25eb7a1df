"""Read-side queries for report pages. The database aggregates; Python shapes small results."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date

from django.db.models import Avg, Case, Count, F, FloatField, Max, Q, When

from graders.models import Grade, Grader
from occupations.models import Occupation, Task
from reports import stats
from runs.models import ModelEndpoint


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
    tasks: int


@dataclass(frozen=True)
class CategorySummary:
    category: Occupation
    published_tasks: int
    frontier_score: float | None
    frontier_model: ModelEndpoint | None


def default_grader() -> Grader | None:
    """The grader reports use unless told otherwise: the first active rubric judge."""
    return (
        Grader.objects.filter(is_active=True, kind=Grader.Kind.LLM_RUBRIC).order_by("pk").first()
        or Grader.objects.order_by("pk").first()
    )


def _scored(grader: Grader):
    return Grade.objects.filter(grader=grader, status=Grade.Status.SCORED)


def job_categories():
    """Top-level groups of every taxonomy, with their published task counts."""
    return (
        Occupation.objects.filter(job_category_id=F("pk"))
        .select_related("taxonomy")
        .annotate(
            published_tasks=Count(
                "members__tasks", filter=Q(members__tasks__status=Task.Status.PUBLISHED)
            )
        )
        .order_by("taxonomy", "code")
    )


def category_summaries(grader: Grader | None) -> list[CategorySummary]:
    """Every job category with its task count and the best model's clipped mean score."""
    best: dict[int, tuple[float, int]] = {}
    if grader is not None:
        rows = (
            _scored(grader)
            .values(
                category=F("sample__task_version__task__occupation__job_category"),
                endpoint=F("sample__run__endpoint"),
            )
            .annotate(mean=Avg("score"))
        )
        for row in rows:
            score = stats.clip_unit(row["mean"])
            if row["category"] not in best or score > best[row["category"]][0]:
                best[row["category"]] = (score, row["endpoint"])
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
    """Per model in a job category: clipped mean with a task-bootstrap interval, success rate."""
    if grader is None:
        return []
    scored = _scored(grader).filter(sample__task_version__task__occupation__job_category=category)
    per_task = scored.values(
        endpoint=F("sample__run__endpoint"), task=F("sample__task_version__task")
    ).annotate(mean=Avg("score"))
    task_means: dict[int, list[float]] = defaultdict(list)
    for row in per_task:
        task_means[row["endpoint"]].append(row["mean"])
    totals = scored.values(endpoint=F("sample__run__endpoint")).annotate(
        mean=Avg("score"),
        success=Avg(Case(When(success=True, then=1.0), default=0.0, output_field=FloatField())),
        samples=Count("pk"),
        tasks=Count("sample__task_version__task", distinct=True),
    )
    endpoints = ModelEndpoint.objects.in_bulk([row["endpoint"] for row in totals])
    results = []
    for row in totals:
        low, high = stats.bootstrap_ci(task_means[row["endpoint"]])
        results.append(
            ModelResult(
                endpoint=endpoints[row["endpoint"]],
                mean_score=stats.clip_unit(row["mean"]),
                ci_low=low,
                ci_high=high,
                success_rate=row["success"] or 0.0,
                samples=row["samples"],
                tasks=row["tasks"],
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
            published_tasks=Count("tasks", filter=Q(tasks__status=Task.Status.PUBLISHED)),
            last_update=Max("tasks__updated_at"),
        )
        .order_by("code")
    )
