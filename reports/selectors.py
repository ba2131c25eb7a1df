"""Read-side queries for report pages.

The new selectors (national_overview, category_report, occupation_report, model_report,
compare_models) read only the materialised results (reports.models.TaskResult) plus small
lookups of occupations, tasks and models. The database sums each model's rows per task
version (pooling suites); the per-task columns then go into numpy, and the statistics come
from reports.stats. Figures are fractions (0..1) with intervals.

"Each task counts once" (in every mean over tasks, bootstrap and horizon fit) means each
task version counts once: the unit is the task version, so two versions of one task in
pooled suites count as two tasks, and "tasks" in every figure counts task versions.

Whole results are cached,
keyed by the function, its arguments and the grader's ResultsVersion, which every refresh
changes, so a warm page never recomputes and a refresh is never hidden by the cache.
"""

from __future__ import annotations

import hashlib
import math
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import date
from typing import Any, TypeVar
from urllib.parse import urlencode

import numpy as np
from django.conf import settings
from django.core.cache import cache
from django.db.models import (
    Count,
    F,
    Sum,
)

from graders import services as grading
from graders.models import Grader
from occupations.models import Occupation, Suite, Task, Taxonomy
from reports import stats
from reports.models import ResultsVersion, TaskResult
from runs.models import ModelEndpoint

T = TypeVar("T")

RESAMPLES = 1000
"""Bootstrap resamples behind every interval (seeded, so figures are the same every time)."""
SEED = 0
LEVEL = 0.95
WORKING_DAY_MINUTES = 480.0
"""The horizon threshold projected: an 8-hour working day."""
SUCCESS_THRESHOLDS = (0.5, 0.8)
"""Success rates the frontier trend is projected to."""
MIN_TASKS = 5
"""Tasks a model needs in an occupation or job category to be its best model (or, where
no model has that many, as many as any model has)."""

report_graders = grading.report_graders
default_grader = grading.default_grader


def primary_key(value: object) -> int | None:
    """A primary key from a query-string value; None for anything else (signs, non-ASCII
    digits such as '²', or numbers too large for a database key)."""
    text = str(value) if value is not None else ""
    if text.isascii() and text.isdigit() and len(text) <= 18:
        return int(text)
    return None


def chosen_grader(value: str | None) -> Grader | None:
    """The grader a report page was asked for (?grader=<pk>), among report_graders();
    the default for a missing or unknown value."""
    pk = primary_key(value)
    if pk is not None:
        grader = report_graders().filter(pk=pk).first()
        if grader is not None:
            return grader
    return default_grader()


# --- filters ---------------------------------------------------------------------------


def default_taxonomy() -> Taxonomy | None:
    """The taxonomy reports show unless asked otherwise: the one with the most occupations
    (ties: the lowest pk); None when there is no taxonomy."""
    return Taxonomy.objects.annotate(size=Count("occupations")).order_by("-size", "pk").first()


def _date_or_none(value: str | None) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None


@dataclass(frozen=True)
class ReportFilters:
    """What a report page shows: one grader's results, optionally narrowed."""

    grader: Grader | None
    """The grader version whose grades are reported (None: nothing graded yet)."""
    suite: Suite | None = None
    """Only results on this suite (None: every suite, a model's suites pooled)."""
    families: tuple[str, ...] = ()
    """Only models of these families (empty: all)."""
    endpoints: tuple[int, ...] = ()
    """Only these models, by ModelEndpoint id (empty: all)."""
    released_from: date | None = None
    """Only models released on or after this date."""
    released_to: date | None = None
    """Only models released on or before this date."""
    level: str | None = None
    """Taxonomy level of the occupations that occupation rows and the national index are
    computed at (an Occupation.Level value; None: detailed)."""
    taxonomy: Taxonomy | None = None
    """Only occupations, job categories and national totals of this taxonomy (None: every
    taxonomy; from_query always picks one, default_taxonomy() unless asked)."""

    @classmethod
    def from_query(cls, query: Mapping[str, Any]) -> ReportFilters:
        """Filters from a page's query string (a QueryDict); unknown values are ignored:
        ?grader=<pk>&suite=<pk>&family=<name>(repeatable)&model=<pk>(repeatable)
        &from=<date>&to=<date>&level=<level>&taxonomy=<pk>."""
        getlist = getattr(query, "getlist", None)
        suite_pk = primary_key(query.get("suite"))
        suite = Suite.objects.filter(pk=suite_pk).first() if suite_pk is not None else None
        asked = getlist("family") if getlist else ([query["family"]] if "family" in query else [])
        # A NUL names nothing stored, and PostgreSQL refuses to compare one.
        asked = [family for family in asked if "\x00" not in family]
        families: tuple[str, ...] = ()
        if asked:
            known = set(
                ModelEndpoint.objects.filter(family__in=asked).values_list("family", flat=True)
            )
            families = tuple(sorted({f for f in asked if f in known}))
        level = query.get("level")
        taxonomy_pk = primary_key(query.get("taxonomy"))
        taxonomy = (
            Taxonomy.objects.filter(pk=taxonomy_pk).first() if taxonomy_pk is not None else None
        )
        wanted = getlist("model") if getlist else ([query["model"]] if "model" in query else [])
        endpoints = tuple(sorted({pk for v in wanted if (pk := primary_key(v)) is not None}))
        return cls(
            grader=chosen_grader(query.get("grader")),
            suite=suite,
            families=families,
            endpoints=endpoints,
            released_from=_date_or_none(query.get("from")),
            released_to=_date_or_none(query.get("to")),
            level=level if level in Occupation.Level.values else None,
            taxonomy=taxonomy or default_taxonomy(),
        )

    def query(self) -> str:
        """The shareable query string (without '?'; empty when nothing is chosen)."""
        pairs: list[tuple[str, str]] = []
        if self.grader is not None:
            pairs.append(("grader", str(self.grader.pk)))
        if self.suite is not None:
            pairs.append(("suite", str(self.suite.pk)))
        pairs += [("family", family) for family in self.families]
        pairs += [("model", str(pk)) for pk in self.endpoints]
        if self.released_from:
            pairs.append(("from", self.released_from.isoformat()))
        if self.released_to:
            pairs.append(("to", self.released_to.isoformat()))
        if self.level:
            pairs.append(("level", self.level))
        if self.taxonomy is not None:
            pairs.append(("taxonomy", str(self.taxonomy.pk)))
        return urlencode(pairs)

    @property
    def occupation_level(self) -> str:
        return self.level or Occupation.Level.DETAILED


# --- result types ----------------------------------------------------------------------


@dataclass(frozen=True)
class ModelFigures:
    """One model's results over a set of tasks (a job category, an occupation, everything)."""

    endpoint: ModelEndpoint
    samples: int
    """Scored samples behind the figures."""
    tasks: int
    """Task versions with at least one scored sample (each counts once)."""
    score: stats.Interval | None
    """Clipped mean rubric score over tasks (each task's mean first), bootstrap over tasks."""
    success: stats.Interval | None
    """Success rate (pass@1) over tasks, two-level bootstrap from each task's (n, c)."""
    reliability: stats.ReliabilityGap | None
    """pass@1, pass@k and pass^k at the report's k, over the model's tasks with at least k
    scored attempts (None when the report has no k, or the model no such task)."""
    reliability_tasks_left_out: int
    """Tasks with scored attempts but fewer than the report's k, left out of reliability."""
    horizon: stats.HorizonEstimate | None
    """p50 and p80 time horizons (METR) with intervals; None with under 3 tasks or one
    task length. Check horizon.fit.decreasing before reading the horizons as crossings."""
    unscored: int
    """Samples the grader could not score (left out of the figures)."""
    failed: int
    """Samples whose model call failed (left out of the figures)."""
    longest_task_minutes: float | None = None
    """Estimated human minutes of the longest task the model has scored results on: a
    horizon whose curve is still at its level there is "beyond the longest task"."""


@dataclass(frozen=True)
class FrontierPoint:
    """A model that raised the best value reached by its release date."""

    when: date
    value: float
    """On a horizon frontier, math.inf for a model whose fitted curve does not fall below
    50 % up to the longest task it was measured on ("beyond the longest task")."""
    model: ModelFigures


@dataclass(frozen=True)
class SuccessTrend:
    """Logit-scale trend of the frontier success rate, and when it reaches 50 % and 80 %.
    The projections are extrapolations (Projection.extrapolation is always True)."""

    line: stats.TrendLine
    to_50: stats.Projection
    to_80: stats.Projection


@dataclass(frozen=True)
class HorizonProjection:
    """Exponential trend of the frontier p50 horizon, and when it reaches a working day
    (480 minutes), an extrapolation."""

    trend: stats.HorizonTrend
    to_working_day: stats.Projection


@dataclass(frozen=True)
class OccupationRow:
    """An occupation in a job category with its employment and its best model."""

    occupation: Occupation
    employment: int | None
    published_tasks: int
    tasks_with_results: int
    """Tasks of the occupation that some model has scored results on."""
    best_model: ModelEndpoint | None
    """The model with the highest success rate on the occupation's tasks, among models with
    at least min_tasks of them (or as many as any model has, if fewer)."""
    best_success: stats.Interval | None
    best_tasks: int = 0
    """Tasks behind best_success."""


@dataclass(frozen=True)
class CategoryReport:
    category: Occupation
    filters: ReportFilters
    models: tuple[ModelFigures, ...]
    """Every model with results, by release date then name."""
    frontier: tuple[FrontierPoint, ...]
    """Success-rate frontier over release dates."""
    success_trend: SuccessTrend | None
    """None with fewer than two frontier points on distinct dates."""
    horizon_frontier: tuple[FrontierPoint, ...]
    """p50-horizon frontier over release dates; a value is math.inf for a model beyond the
    longest task (see FrontierPoint)."""
    horizon_trend: HorizonProjection | None
    """Fitted on the finite frontier points only; None with fewer than two distinct dates."""
    horizon_trend_left_out: int
    """Frontier points left out of the horizon trend: infinite ones (beyond the longest task)."""
    longest_task_minutes: float | None
    """Estimated human minutes of the longest task with scored results (None: no results)."""
    k: int | None
    """Tries per task that reliability is computed at: the most common number of scored
    attempts per task over every model and task here (ties: the smaller); None below 2."""
    occupations: tuple[OccupationRow, ...]
    """The category's occupations at the filters' level (default: detailed)."""


@dataclass(frozen=True)
class TaskRow:
    """One task version of an occupation with each model's success on it."""

    task_id: int
    task_version_id: int
    title: str | None
    """None for a held-out task: its content never leaves the people allowed to see it."""
    held_out: bool
    minutes: int
    """Estimated human minutes."""
    success: dict[int, float]
    """Endpoint id -> success rate on this task (scored attempts only)."""
    attempts: dict[int, int]
    """Endpoint id -> scored attempts."""


@dataclass(frozen=True)
class OccupationReport:
    occupation: Occupation
    filters: ReportFilters
    models: tuple[ModelFigures, ...]
    frontier: tuple[FrontierPoint, ...]
    success_trend: SuccessTrend | None
    horizon_frontier: tuple[FrontierPoint, ...]
    """As CategoryReport.horizon_frontier."""
    horizon_trend: HorizonProjection | None
    horizon_trend_left_out: int
    longest_task_minutes: float | None
    k: int | None
    """As CategoryReport.k."""
    tasks: tuple[TaskRow, ...]
    """Task versions of the occupation (and of occupations under it) with results."""


@dataclass(frozen=True)
class CategoryOverview:
    """A job category on the national overview."""

    category: Occupation
    employment: int | None
    """The category's own employment figure."""
    wage_bill: float | None
    """Employment x mean annual wage, where both are known."""
    published_tasks: int
    frontier_model: ModelEndpoint | None
    """The model with the highest success rate over the category's tasks, among models that
    attempted at least min_tasks of them (or as many as any model did, if fewer)."""
    tasks: int
    """Tasks behind the frontier model's figures."""
    success: stats.Interval | None
    score: stats.Interval | None


@dataclass(frozen=True)
class IndexPoint:
    """The national index using only models released by a date."""

    when: date
    employment_index: float | None
    """None when no occupation is covered with models released by then: not measured."""
    wage_index: float | None
    occupations_met: int


@dataclass(frozen=True)
class NationalOverview:
    """Per job category and for the nation.

    The indexes are shares of employment (wage bill) in occupations at the filters' level
    (detailed by default) and taxonomy that are covered (at least min_tasks published
    tasks, and results) and whose best model's success rate over the occupation's tasks is
    at least success_level. Occupations without results, or not covered, count as not met:
    the denominator is all employment at that level, so coverage bounds the index and gaps
    show. With no occupation covered the indexes are None (not measured), not 0.

    The best model is picked per occupation after seeing the results, among every model
    with enough tasks there, so its success rate is biased upwards: the maximum of several
    noisy rates exceeds the true best rate on average, the more so the fewer tasks each
    model has in the occupation and the more models compete. Read the indexes as upper
    leaning where occupations have few tasks.
    """

    filters: ReportFilters
    success_level: float
    min_tasks: int
    level: str
    categories: tuple[CategoryOverview, ...]
    employment_total: int
    """Employment of every occupation at the level (with a figure)."""
    wage_bill_total: float
    occupations: int
    occupations_covered: int
    occupations_met: int
    coverage: float | None
    """Share of employment in covered occupations (0 when none is covered; None only when
    no occupation has an employment figure)."""
    wage_coverage: float | None
    employment_index: float | None
    """None when no occupation is covered: not measured."""
    wage_index: float | None
    """None when no occupation is covered: not measured."""
    index_over_time: tuple[IndexPoint, ...]
    """One point per distinct release date of the models with results."""


@dataclass(frozen=True)
class CategoryProfile:
    """One model's results in one job category."""

    category: Occupation
    tasks: int
    samples: int
    score: stats.Interval | None
    success: stats.Interval | None


@dataclass(frozen=True)
class ModelReport:
    endpoint: ModelEndpoint
    filters: ReportFilters
    overall: ModelFigures
    """Across every task, with the overall time horizon."""
    categories: tuple[CategoryProfile, ...]
    k: int | None
    """As CategoryReport.k, over the model's tasks."""


@dataclass(frozen=True)
class ComparisonRow:
    """Two models in one job category (category None: across all)."""

    category: Occupation | None
    a_success: stats.Interval | None
    b_success: stats.Interval | None
    shared_tasks: int
    """Tasks both models have scored results on."""
    difference: stats.Interval | None
    """a minus b success rate over the shared tasks, bootstrap over those tasks."""


@dataclass(frozen=True)
class ModelComparison:
    a: ModelEndpoint
    b: ModelEndpoint
    filters: ReportFilters
    overall: ComparisonRow
    categories: tuple[ComparisonRow, ...]


# --- the cache -------------------------------------------------------------------------


def results_version(grader: Grader | None) -> str | None:
    """The token of the grader's materialised results; None before the first refresh."""
    if grader is None:
        return None
    return ResultsVersion.objects.filter(grader=grader).values_list("token", flat=True).first()


_uncached: ContextVar[bool] = ContextVar("reports_uncached", default=False)


@contextmanager
def uncached() -> Iterator[None]:
    """Compute every figure afresh inside the block, neither reading nor filling the cache:
    the cache is keyed by results only, so employment figures, published tasks or model
    details edited within REPORTS_CACHE_SECONDS would otherwise be missed (official releases
    are prepared this way)."""
    token = _uncached.set(True)
    try:
        yield
    finally:
        _uncached.reset(token)


def _remember(name: str, filters: ReportFilters, parts: tuple, compute: Callable[[], T]) -> T:
    """The cached result of compute(), keyed by name, arguments and results version."""
    token = results_version(filters.grader)
    if token is None or _uncached.get():
        return compute()  # nothing materialised (cheap, no version to key by), or asked afresh
    raw = f"{name}|{token}|{filters.query()}|{filters.grader.pk}|{parts!r}"
    key = "reports:" + hashlib.sha256(raw.encode()).hexdigest()
    found = cache.get(key)
    if found is not None:
        return found
    value = compute()
    cache.set(key, value, settings.REPORTS_CACHE_SECONDS)
    return value


# --- per-task rows ---------------------------------------------------------------------


@dataclass(frozen=True)
class _Rows:
    """Per (model, task version) results as numpy columns."""

    endpoint: np.ndarray
    version: np.ndarray
    task: np.ndarray
    occupation: np.ndarray
    category: np.ndarray
    minutes: np.ndarray
    held_out: np.ndarray
    n: np.ndarray
    c: np.ndarray
    score_sum: np.ndarray
    unscored: np.ndarray
    failed: np.ndarray

    def where(self, mask: np.ndarray) -> _Rows:
        return _Rows(**{name: getattr(self, name)[mask] for name in self.__dataclass_fields__})

    def __len__(self) -> int:
        return int(self.n.size)


_KEYS = (
    "endpoint_id",
    "task_version_id",
    "task_id",
    "occupation_id",
    "job_category_id",
    "estimated_minutes",
    "visibility",
)


def _results(filters: ReportFilters):
    rows = TaskResult.objects.filter(grader=filters.grader)
    if filters.suite is not None:
        rows = rows.filter(suite=filters.suite)
    if filters.taxonomy is not None:
        rows = rows.filter(occupation__taxonomy=filters.taxonomy)
    # The model's family and release date are read live through the join (few endpoints).
    if filters.families:
        rows = rows.filter(endpoint__family__in=filters.families)
    if filters.endpoints:
        rows = rows.filter(endpoint__in=filters.endpoints)
    if filters.released_from:
        rows = rows.filter(endpoint__release_date__gte=filters.released_from)
    if filters.released_to:
        rows = rows.filter(endpoint__release_date__lte=filters.released_to)
    return rows


def _load(filters: ReportFilters, **scope) -> _Rows:
    """Each model's results per task version, summed over suites in the database."""
    rows = list(
        _results(filters)
        .filter(**scope)
        .values(*_KEYS)
        .annotate(
            n=Sum("attempts"),
            c=Sum("successes"),
            s=Sum("score_sum"),
            u=Sum("unscored"),
            f=Sum("failed"),
        )
        .order_by()
        .values_list(*_KEYS, "n", "c", "s", "u", "f")
    )
    columns = list(zip(*rows, strict=True)) if rows else [()] * 12
    ints = [np.array(col, dtype=np.int64) for col in columns[:4]]
    return _Rows(
        endpoint=ints[0],
        version=ints[1],
        task=ints[2],
        occupation=ints[3],
        category=np.array([-1 if v is None else v for v in columns[4]], dtype=np.int64),
        minutes=np.array(columns[5], dtype=float),
        held_out=np.array(columns[6], dtype=object) == Task.Visibility.HELD_OUT,
        n=np.array(columns[7], dtype=np.int64),
        c=np.array(columns[8], dtype=np.int64),
        score_sum=np.array(columns[9], dtype=float),
        unscored=np.array(columns[10], dtype=np.int64),
        failed=np.array(columns[11], dtype=np.int64),
    )


def _attempts(n: np.ndarray, c: np.ndarray) -> list[np.ndarray]:
    """0/1 attempts of each task from its (n, c): what the two-level bootstrap resamples."""
    return [
        np.repeat((1.0, 0.0), (ci, ni - ci)) for ni, ci in zip(n.tolist(), c.tolist(), strict=True)
    ]


def _score_interval(task_means: np.ndarray, seed: int) -> stats.Interval:
    low, high = stats.bootstrap_ci(task_means, level=LEVEL, resamples=RESAMPLES, seed=seed)
    return stats.Interval(stats.clipped_mean(task_means.tolist()), low, high, LEVEL)


def _success_interval(n: np.ndarray, c: np.ndarray, seed: int) -> stats.Interval:
    return stats.hierarchical_bootstrap_ci(
        _attempts(n, c), level=LEVEL, resamples=RESAMPLES, seed=seed
    )


def _report_k(rows: _Rows) -> int | None:
    """The k of a report: the most common number of scored attempts per task over every
    model and task in the rows (ties: the smaller, leaving fewer tasks out); None below 2."""
    n = rows.n[rows.n > 0]
    if not n.size:
        return None
    k = int(np.bincount(n).argmax())
    return k if k >= 2 else None


def _figures(endpoint: ModelEndpoint, rows: _Rows, k: int | None) -> ModelFigures:
    """Every figure of one model over the given rows (all of that model), reliability at
    the report's k over the tasks with at least k scored attempts."""
    scored = rows.where(rows.n > 0)
    unscored, failed = int(rows.unscored.sum()), int(rows.failed.sum())
    if not len(scored):
        return ModelFigures(endpoint, 0, 0, None, None, None, 0, None, unscored, failed)
    seed = SEED + endpoint.pk
    n, c = scored.n, scored.c
    reliability, left_out = None, 0
    if k is not None:
        enough = n >= k
        left_out = int((~enough).sum())
        if enough.any():
            reliability = stats.reliability_gap(
                n[enough], c[enough], k, level=LEVEL, resamples=RESAMPLES, seed=seed
            )
    estimate = None
    if len(scored) >= 3 and np.unique(scored.minutes).size >= 2:
        estimate = stats.bootstrap_time_horizon(
            scored.minutes, _attempts(n, c), level=LEVEL, resamples=RESAMPLES, seed=seed
        )
    return ModelFigures(
        endpoint=endpoint,
        samples=int(n.sum()),
        tasks=len(scored),
        score=_score_interval(scored.score_sum / n, seed),
        success=_success_interval(n, c, seed),
        reliability=reliability,
        reliability_tasks_left_out=left_out,
        horizon=estimate,
        unscored=unscored,
        failed=failed,
        longest_task_minutes=float(scored.minutes.max()),
    )


def _by_model(rows: _Rows, k: int | None) -> list[ModelFigures]:
    endpoints = ModelEndpoint.objects.in_bulk(np.unique(rows.endpoint).tolist())
    figures = [_figures(endpoints[e], rows.where(rows.endpoint == e), k) for e in endpoints]
    figures = [f for f in figures if f.tasks]
    return sorted(figures, key=lambda f: (f.endpoint.release_date, f.endpoint.display_name))


def _frontier(models: list[ModelFigures]) -> list[FrontierPoint]:
    points = [(m.endpoint.release_date, m.success.point, m) for m in models if m.success]
    return [FrontierPoint(when, value, m) for when, value, m in stats.frontier(points)]


def _horizon_point(figures: ModelFigures, longest: float) -> float | None:
    """A model's p50 horizon on the frontier: math.inf when its fitted curve is still at or
    above 50 % on the longest task it was measured on (it succeeds at every length measured,
    whatever the slope); the finite p50 of a falling curve; otherwise None (no horizon)."""
    fit = figures.horizon.fit
    if fit.success_probability(longest) >= 0.5:
        return math.inf
    if fit.decreasing and 0 < fit.p50_minutes < math.inf:
        return fit.p50_minutes
    return None


def _horizon_frontier(models: list[ModelFigures], rows: _Rows) -> list[FrontierPoint]:
    points = []
    for m in models:
        if m.horizon is None:
            continue
        mine = (rows.endpoint == m.endpoint.pk) & (rows.n > 0)
        value = _horizon_point(m, float(rows.minutes[mine].max()))
        if value is not None:
            points.append((m.endpoint.release_date, value, m))
    return [FrontierPoint(when, value, m) for when, value, m in stats.frontier(points)]


def _longest_task(rows: _Rows) -> float | None:
    scored = rows.n > 0
    return float(rows.minutes[scored].max()) if scored.any() else None


def _trends(
    frontier: list[FrontierPoint], horizons: list[FrontierPoint]
) -> tuple[SuccessTrend | None, HorizonProjection | None]:
    """The success trend, and the horizon trend over the finite horizon points only."""
    horizons = [p for p in horizons if math.isfinite(p.value)]
    success = None
    if len({p.when for p in frontier}) >= 2:
        line = stats.fit_logit_trend([p.when for p in frontier], [p.value for p in frontier])
        to_50, to_80 = (stats.project_crossing(line, t) for t in SUCCESS_THRESHOLDS)
        success = SuccessTrend(line, to_50, to_80)
    horizon = None
    if len({p.when for p in horizons}) >= 2:
        trend = stats.fit_horizon_trend([p.when for p in horizons], [p.value for p in horizons])
        horizon = HorizonProjection(trend, stats.project_crossing(trend.line, WORKING_DAY_MINUTES))
    return success, horizon


# --- occupations -----------------------------------------------------------------------


@dataclass(frozen=True)
class _Tree:
    """Every occupation's parent and level, to map occupations up to a level."""

    parent: dict[int, int | None]
    level: dict[int, str]

    @classmethod
    def load(cls) -> _Tree:
        rows = Occupation.objects.values_list("pk", "parent_id", "level")
        return cls({pk: parent for pk, parent, _ in rows}, {pk: lvl for pk, _, lvl in rows})

    def at_level(self, occupation: int, level: str) -> int | None:
        """The occupation itself or its ancestor at the level; None if it sits above it."""
        current: int | None = occupation
        while current is not None:
            if self.level[current] == level:
                return current
            current = self.parent[current]
        return None

    def under(self, occupation: int) -> set[int]:
        """The occupation and every occupation below it."""
        children: dict[int, list[int]] = defaultdict(list)
        for pk, parent in self.parent.items():
            if parent is not None:
                children[parent].append(pk)
        found, todo = set(), [occupation]
        while todo:
            pk = todo.pop()
            found.add(pk)
            todo.extend(children[pk])
        return found


def _published_counts(tree: _Tree, level: str) -> dict[int, int]:
    """Published tasks per occupation at the level (tasks of occupations below it count)."""
    counts: dict[int, int] = defaultdict(int)
    for occupation, tasks in (
        Task.objects.published().values_list("occupation").annotate(n=Count("pk")).order_by()
    ):
        mapped = tree.at_level(occupation, level)
        if mapped is not None:
            counts[mapped] += tasks
    return counts


def _rates_by_group(
    rows: _Rows, groups: np.ndarray, group_count: int, models: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(groups x models) mean success rate over tasks and task counts; rows with n > 0 and a
    group index >= 0. models are the endpoint ids, in column order (any order)."""
    keep = (rows.n > 0) & (groups >= 0)
    column_of = {int(m): i for i, m in enumerate(models.tolist())}
    column = np.array([column_of[int(e)] for e in rows.endpoint[keep].tolist()], dtype=np.int64)
    cell = groups[keep] * models.size + column
    rate = rows.c[keep] / rows.n[keep]
    size = group_count * models.size
    total = np.bincount(cell, weights=rate, minlength=size).reshape(group_count, models.size)
    tasks = np.bincount(cell, minlength=size).reshape(group_count, models.size)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(tasks > 0, total / np.maximum(tasks, 1), np.nan), tasks


def _best(rates: np.ndarray, tasks: np.ndarray, min_tasks: int) -> np.ndarray:
    """Per row, the column of the best rate among models with enough tasks; -1 if none."""
    enough = tasks >= np.minimum(min_tasks, tasks.max(axis=1, keepdims=True))
    eligible = np.where(enough & (tasks > 0), rates, -np.inf)
    best = eligible.argmax(axis=1)
    return np.where(np.isfinite(eligible.max(axis=1)), best, -1)


def _occupation_rows(
    category: Occupation, rows: _Rows, filters: ReportFilters, tree: _Tree, min_tasks: int
) -> list[OccupationRow]:
    level = filters.occupation_level
    occupations = list(
        Occupation.objects.filter(job_category=category, level=level).order_by("code")
    )
    if not occupations:
        return []
    index = {o.pk: i for i, o in enumerate(occupations)}
    mapped = {pk: tree.at_level(pk, level) for pk in np.unique(rows.occupation).tolist()}
    groups = np.array(
        [index.get(mapped[pk], -1) if mapped[pk] is not None else -1 for pk in rows.occupation],
        dtype=np.int64,
    )
    models = np.unique(rows.endpoint)
    rates, tasks = _rates_by_group(rows, groups, len(occupations), models)
    best = _best(rates, tasks, min_tasks) if models.size else np.full(len(occupations), -1)
    published = _published_counts(tree, level)
    endpoints = ModelEndpoint.objects.in_bulk(models.tolist())
    result = []
    for i, occupation in enumerate(occupations):
        in_occupation = (groups == i) & (rows.n > 0)
        model, interval, best_tasks = None, None, 0
        if best[i] >= 0:
            model = endpoints[int(models[best[i]])]
            mine = rows.where(in_occupation & (rows.endpoint == model.pk))
            interval = _success_interval(mine.n, mine.c, SEED + model.pk)
            best_tasks = len(mine)
        result.append(
            OccupationRow(
                occupation=occupation,
                employment=occupation.employment,
                published_tasks=published.get(occupation.pk, 0),
                tasks_with_results=int(np.unique(rows.version[in_occupation]).size),
                best_model=model,
                best_success=interval,
                best_tasks=best_tasks,
            )
        )
    return result


def scored_tasks(filters: ReportFilters, **scope) -> int:
    """Task versions with scored results under the filters (every model), e.g. in a job
    category: what figures pooled over models, such as trends, are based on."""
    return (
        _results(filters).filter(attempts__gt=0, **scope).values("task_version").distinct().count()
    )


def _group_figures(rows) -> dict:
    """The fields CategoryReport and OccupationReport share, from one group's rows: every
    model's figures, the frontiers and their trends, the longest task and the report's k."""
    k = _report_k(rows)
    models = _by_model(rows, k)
    frontier, horizons = _frontier(models), _horizon_frontier(models, rows)
    success, horizon = _trends(frontier, horizons)
    return {
        "models": tuple(models),
        "frontier": tuple(frontier),
        "success_trend": success,
        "horizon_frontier": tuple(horizons),
        "horizon_trend": horizon,
        "horizon_trend_left_out": sum(1 for p in horizons if math.isinf(p.value)),
        "longest_task_minutes": _longest_task(rows),
        "k": k,
    }


# --- the selectors ---------------------------------------------------------------------


def category_report(
    category: Occupation, filters: ReportFilters, *, min_tasks: int = MIN_TASKS
) -> CategoryReport:
    """Every model's figures on a job category's tasks, the frontier and its trends, and the
    category's occupations with their best models (min_tasks as in national_overview)."""

    def compute() -> CategoryReport:
        rows = _load(filters, job_category=category)
        return CategoryReport(
            category=category,
            filters=filters,
            **_group_figures(rows),
            occupations=tuple(_occupation_rows(category, rows, filters, _Tree.load(), min_tasks)),
        )

    return _remember("category_report", filters, (category.pk, min_tasks), compute)


def occupation_report(occupation: Occupation, filters: ReportFilters) -> OccupationReport:
    """The figures of category_report for one occupation (and those under it), with one row
    per task version; titles of held-out tasks are never given."""

    def compute() -> OccupationReport:
        under = _Tree.load().under(occupation.pk)
        rows = _load(filters, occupation__in=under)
        titles = dict(
            Task.objects.filter(
                pk__in=np.unique(rows.task).tolist(), visibility=Task.Visibility.PUBLIC
            ).values_list("pk", "title")
        )
        tasks = []
        scored = rows.where(rows.n > 0)
        for version in np.unique(scored.version).tolist():
            mine = scored.where(scored.version == version)
            task_id = int(mine.task[0])
            held_out = bool(mine.held_out[0])
            tasks.append(
                TaskRow(
                    task_id=task_id,
                    task_version_id=version,
                    title=None if held_out else titles.get(task_id),
                    held_out=held_out,
                    minutes=int(mine.minutes[0]),
                    success={
                        int(e): float(c / n)
                        for e, n, c in zip(mine.endpoint, mine.n, mine.c, strict=True)
                    },
                    attempts={int(e): int(n) for e, n in zip(mine.endpoint, mine.n, strict=True)},
                )
            )
        tasks.sort(key=lambda t: (t.minutes, t.task_id, t.task_version_id))
        return OccupationReport(
            occupation=occupation,
            filters=filters,
            **_group_figures(rows),
            tasks=tuple(tasks),
        )

    return _remember("occupation_report", filters, (occupation.pk,), compute)


def model_report(endpoint: ModelEndpoint, filters: ReportFilters) -> ModelReport:
    """One model across job categories, and its overall figures and time horizon."""

    def compute() -> ModelReport:
        rows = _load(filters, endpoint=endpoint)
        k = _report_k(rows)
        overall = _figures(endpoint, rows, k)
        categories = Occupation.objects.in_bulk(
            np.unique(rows.category[rows.category >= 0]).tolist()
        )
        profiles = []
        for category in sorted(categories.values(), key=lambda o: (o.taxonomy_id, o.code)):
            mine = rows.where((rows.category == category.pk) & (rows.n > 0))
            if not len(mine):
                continue
            seed = SEED + endpoint.pk
            profiles.append(
                CategoryProfile(
                    category=category,
                    tasks=len(mine),
                    samples=int(mine.n.sum()),
                    score=_score_interval(mine.score_sum / mine.n, seed),
                    success=_success_interval(mine.n, mine.c, seed),
                )
            )
        return ModelReport(endpoint, filters, overall, tuple(profiles), k)

    return _remember("model_report", filters, (endpoint.pk,), compute)


def _comparison(category: Occupation | None, a: _Rows, b: _Rows, seed: int) -> ComparisonRow:
    a, b = a.where(a.n > 0), b.where(b.n > 0)
    a_success = _success_interval(a.n, a.c, seed) if len(a) else None
    b_success = _success_interval(b.n, b.c, seed) if len(b) else None
    shared, a_at, b_at = np.intersect1d(a.version, b.version, return_indices=True)
    difference = None
    if shared.size:
        diffs = a.c[a_at] / a.n[a_at] - b.c[b_at] / b.n[b_at]
        rng = np.random.default_rng(seed)
        picks = rng.integers(0, diffs.size, size=(RESAMPLES, diffs.size))
        low, high = stats.percentile_interval(diffs[picks].mean(axis=1), LEVEL)
        difference = stats.Interval(float(diffs.mean()), low, high, LEVEL)
    return ComparisonRow(category, a_success, b_success, int(shared.size), difference)


def compare_models(a: ModelEndpoint, b: ModelEndpoint, filters: ReportFilters) -> ModelComparison:
    """Both models' success rates per job category, and the difference over shared tasks."""

    def compute() -> ModelComparison:
        rows = _load(filters, endpoint__in=[a.pk, b.pk])
        of_a, of_b = rows.where(rows.endpoint == a.pk), rows.where(rows.endpoint == b.pk)
        categories = Occupation.objects.in_bulk(
            np.unique(rows.category[rows.category >= 0]).tolist()
        )
        per_category = [
            _comparison(
                category,
                of_a.where(of_a.category == category.pk),
                of_b.where(of_b.category == category.pk),
                SEED,
            )
            for category in sorted(categories.values(), key=lambda o: (o.taxonomy_id, o.code))
        ]
        overall = _comparison(None, of_a, of_b, SEED)
        return ModelComparison(a, b, filters, overall, tuple(per_category))

    return _remember("compare_models", filters, (a.pk, b.pk), compute)


def national_overview(
    filters: ReportFilters, *, success_level: float = 0.5, min_tasks: int = MIN_TASKS
) -> NationalOverview:
    """Per job category its frontier model with intervals; for the nation the employment-
    and wage-weighted indexes, coverage, and the index over release dates (see
    NationalOverview for how occupations without results count)."""

    def compute() -> NationalOverview:
        return _national(filters, success_level, min_tasks)

    return _remember("national_overview", filters, (success_level, min_tasks), compute)


def _national(filters: ReportFilters, success_level: float, min_tasks: int) -> NationalOverview:
    level = filters.occupation_level
    tree = _Tree.load()
    rows = _load(filters)
    models = np.unique(rows.endpoint)
    endpoints = ModelEndpoint.objects.in_bulk(models.tolist())

    # Job categories: the frontier model by success rate, with intervals.
    in_taxonomy = {} if filters.taxonomy is None else {"taxonomy": filters.taxonomy}
    categories = list(
        Occupation.objects.filter(job_category_id=F("pk"), **in_taxonomy)
        .select_related("taxonomy")
        .order_by("taxonomy", "code")
    )
    category_index = {o.pk: i for i, o in enumerate(categories)}
    category_groups = np.array([category_index.get(c, -1) for c in rows.category.tolist()])
    rates, tasks = (
        _rates_by_group(rows, category_groups.astype(np.int64), len(categories), models)
        if models.size
        else (np.empty((len(categories), 0)), np.empty((len(categories), 0), int))
    )
    best = _best(rates, tasks, min_tasks) if models.size else np.full(len(categories), -1)
    published_by_category: dict[int, int] = dict(
        Task.objects.published()
        .values_list("occupation__job_category")
        .annotate(n=Count("pk"))
        .order_by()
    )
    overviews = []
    for i, category in enumerate(categories):
        model, success, score, count = None, None, None, 0
        if best[i] >= 0:
            model = endpoints[int(models[best[i]])]
            mine = rows.where((category_groups == i) & (rows.endpoint == model.pk) & (rows.n > 0))
            success = _success_interval(mine.n, mine.c, SEED + model.pk)
            score = _score_interval(mine.score_sum / mine.n, SEED + model.pk)
            count = len(mine)
        overviews.append(
            CategoryOverview(
                category=category,
                employment=category.employment,
                wage_bill=_wage_bill(category.employment, category.mean_annual_wage),
                published_tasks=published_by_category.get(category.pk, 0),
                frontier_model=model,
                tasks=count,
                success=success,
                score=score,
            )
        )

    # The nation: occupations at the level, their employment and wage bills.
    units = list(
        Occupation.objects.filter(level=level, **in_taxonomy).values_list(
            "pk", "employment", "mean_annual_wage"
        )
    )
    unit_index = {pk: i for i, (pk, _, _) in enumerate(units)}
    employment = np.array([e or 0 for _, e, _ in units], dtype=float)
    wages = np.array([_wage_bill(e, w) or 0.0 for _, e, w in units], dtype=float)
    published = _published_counts(tree, level)
    mapped = {pk: tree.at_level(pk, level) for pk in np.unique(rows.occupation).tolist()}
    unit_groups = np.array(
        [unit_index.get(mapped[pk], -1) if mapped[pk] else -1 for pk in rows.occupation.tolist()],
        dtype=np.int64,
    )
    order = np.argsort([endpoints[int(m)].release_date for m in models], kind="stable")
    models_by_date = models[order]
    if models.size:
        unit_rates, unit_tasks = _rates_by_group(rows, unit_groups, len(units), models_by_date)
    else:
        unit_rates = np.full((len(units), 0), np.nan)
        unit_tasks = np.zeros((len(units), 0), dtype=np.int64)
    enough_tasks = np.array([published.get(pk, 0) >= min_tasks for pk, _, _ in units], dtype=bool)
    dates = [endpoints[int(m)].release_date for m in models_by_date]

    def covered_by(columns: int) -> np.ndarray:
        """Units with enough published tasks and results of the first `columns` models."""
        return enough_tasks & (unit_tasks[:, :columns] > 0).any(axis=1)

    def met_by(columns: int) -> np.ndarray:
        """Covered units whose best model among the first `columns` (by date) meets the level."""
        if columns == 0:
            return np.zeros(len(units), dtype=bool)
        window_rates, window_tasks = unit_rates[:, :columns], unit_tasks[:, :columns]
        best_unit = _best(window_rates, window_tasks, min_tasks)
        picked = np.take_along_axis(window_rates, np.maximum(best_unit, 0)[:, None], axis=1)[:, 0]
        return (
            covered_by(columns)
            & (best_unit >= 0)
            & (np.nan_to_num(picked, nan=-1.0) >= success_level)
        )

    def share(weights: np.ndarray, mask: np.ndarray) -> float | None:
        total = weights.sum()
        return float(weights[mask].sum() / total) if total > 0 else None

    def index(weights: np.ndarray, met: np.ndarray, covered: np.ndarray) -> float | None:
        """The share met; None (not measured) when no occupation is covered."""
        return share(weights, met) if covered.any() else None

    covered = covered_by(len(dates))
    met = met_by(len(dates))
    over_time = []
    for when in sorted(set(dates)):
        columns = sum(1 for d in dates if d <= when)
        then, covered_then = met_by(columns), covered_by(columns)
        over_time.append(
            IndexPoint(
                when,
                index(employment, then, covered_then),
                index(wages, then, covered_then),
                int(then.sum()),
            )
        )
    return NationalOverview(
        filters=filters,
        success_level=success_level,
        min_tasks=min_tasks,
        level=level,
        categories=tuple(overviews),
        employment_total=int(employment.sum()),
        wage_bill_total=float(wages.sum()),
        occupations=len(units),
        occupations_covered=int(covered.sum()),
        occupations_met=int(met.sum()),
        coverage=share(employment, covered),
        wage_coverage=share(wages, covered),
        employment_index=index(employment, met, covered),
        wage_index=index(wages, met, covered),
        index_over_time=tuple(over_time),
    )


def _wage_bill(employment: int | None, wage) -> float | None:
    if employment is None or wage is None:
        return None
    return float(employment) * float(wage)
