"""Public report pages: aggregates only, never held-out task content.

Every figure comes from reports.selectors (aggregated in the database, cached whole); the
views only turn those results into charts and pass them to the templates. What a page
shows is in its query string (ReportFilters.query()), so every view can be shared.
"""

from __future__ import annotations

import math

from django.db.models import F
from django.http import Http404, QueryDict
from django.shortcuts import get_object_or_404, render

from occupations import statements
from occupations.models import Occupation, Taxonomy
from reports import charts, selectors
from reports.forms import NationalFilterForm, ReportFilterForm, national_options, reported_models
from reports.selectors import ReportFilters
from runs.models import ModelEndpoint


def _page(request, filters: ReportFilters, form: ReportFilterForm | None = None) -> dict:
    """What every report page shows around its figures: the grader, the filter form and
    the query string its links keep."""
    query = filters.query()
    return {
        "filters": filters,
        "grader": filters.grader,
        "filter_form": form or ReportFilterForm(filters),
        "query": f"?{query}" if query else "",
        "hidden_filters": list(QueryDict(query).lists()),
    }


# --- figures to chart inputs -----------------------------------------------------------


def _trend_points(models, frontier) -> list[charts.TrendPoint]:
    on_frontier = {p.model.endpoint.pk for p in frontier}
    return [
        charts.TrendPoint(
            when=m.endpoint.release_date,
            value=m.success.point,
            low=m.success.low,
            high=m.success.high,
            label=str(m.endpoint),
            on_frontier=m.endpoint.pk in on_frontier,
        )
        for m in models
        if m.success is not None
    ]


def _crossing(projection) -> charts.Crossing:
    return charts.Crossing(
        threshold=projection.threshold,
        when=projection.when,
        low=projection.low,
        high=projection.high,
        already_crossed=projection.already_crossed,
    )


def _next_crossing(trend) -> charts.Crossing | None:
    """The success threshold worth drawing: 50 %, or 80 % once 50 % is passed."""
    if trend is None:
        return None
    return _crossing(trend.to_80 if trend.to_50.already_crossed else trend.to_50)


def _beyond_longest_task(report) -> set[int]:
    """Endpoint ids whose horizon is beyond the longest task: infinite on the frontier."""
    return {p.model.endpoint.pk for p in report.horizon_frontier if math.isinf(p.value)}


def _horizon_points(models, frontier, beyond: set[int]) -> list[charts.HorizonPoint]:
    on_frontier = {p.model.endpoint.pk for p in frontier}
    points = []
    for m in models:
        horizon = m.horizon
        is_beyond = m.endpoint.pk in beyond
        usable = horizon is not None and (horizon.fit.decreasing or is_beyond)
        minutes = horizon.p50_minutes.point if usable else None
        points.append(
            charts.HorizonPoint(
                when=m.endpoint.release_date,
                minutes=math.inf if is_beyond else minutes,
                low=horizon.p50_minutes.low if usable else None,
                high=horizon.p50_minutes.high if usable else None,
                label=str(m.endpoint),
                on_frontier=m.endpoint.pk in on_frontier,
            )
        )
    return points


def _estimate(interval) -> charts.Estimate:
    if interval is None:
        return charts.Estimate(None)
    return charts.Estimate(interval.point, interval.low, interval.high)


def _figure_charts(subject: str, report) -> dict:
    """The success trend, reliability and horizon charts of a category or occupation report,
    each with its one-sentence summary."""
    points = _trend_points(report.models, report.frontier)
    trend = report.success_trend
    crossing = _next_crossing(trend)
    fit = (
        charts.TrendFit(trend.line.fitted, trend.line.first_date, trend.line.last_date)
        if trend
        else None
    )
    success = charts.success_trend_chart(
        points,
        title=f"Success rate by model release date: {subject}",
        trend=fit,
        crossing=crossing,
    )
    success_summary = charts.success_summary(points, subject=subject.lower(), crossing=crossing)

    # The report's one k; each model is measured over its tasks with at least k tries.
    k = report.k
    reliability_rows = [
        charts.ReliabilityRow(
            str(m.endpoint),
            _estimate(m.reliability.pass_at_1),
            _estimate(m.reliability.pass_at_k),
            _estimate(m.reliability.pass_hat_k),
        )
        for m in report.models
        if m.reliability is not None
    ]
    reliability = (
        charts.reliability_chart(
            reliability_rows, title=f"One try against {k} tries: {subject}", k=k
        )
        if k is not None
        else None
    )
    reliability_notes = [
        f"{m.endpoint}: not drawn, fewer than {k} tries on every task."
        if m.reliability is None
        else f"{m.endpoint}: {_tasks_left_out(m.reliability_tasks_left_out)}."
        for m in report.models
        if k is not None and (m.reliability is None or m.reliability_tasks_left_out)
    ]

    beyond = _beyond_longest_task(report)
    longest = report.longest_task_minutes
    horizon_points = _horizon_points(report.models, report.horizon_frontier, beyond)
    projection = report.horizon_trend
    horizon_fit = horizon_crossing = None
    if projection is not None:
        line = projection.trend.line
        horizon_fit = charts.TrendFit(
            projection.trend.fitted,
            line.first_date,
            line.last_date,
            projection.trend.doubling_months,
            projection.trend.doubling_months_low,
            projection.trend.doubling_months_high,
        )
        horizon_crossing = _crossing(projection.to_working_day)
    horizon = charts.time_horizon_chart(
        horizon_points,
        title=f"50 % time horizon by model release date: {subject}",
        trend=horizon_fit,
        crossing=horizon_crossing,
        longest_task_minutes=longest,
    )
    return {
        "success_chart": success,
        "success_summary": success_summary,
        "projections": [trend.to_50, trend.to_80] if trend else [],
        "reliability_chart": reliability,
        "reliability_summary": (
            charts.reliability_summary(reliability_rows, k=k) if k is not None else ""
        ),
        "reliability_k": k,
        "reliability_notes": reliability_notes,
        "horizon_chart": horizon,
        "horizon_summary": charts.horizon_summary(
            horizon_points,
            trend=horizon_fit,
            crossing=horizon_crossing,
            longest_task_minutes=longest,
        ),
        "beyond_longest_task": beyond,
    }


def _tasks_left_out(count: int) -> str:
    return f"{count} task{'' if count == 1 else 's'} with fewer tries left out"


# --- pages -----------------------------------------------------------------------------


def home(request):
    filters = ReportFilters.from_query(request.GET)
    success, min_tasks = national_options(request.GET)
    overview = selectors.national_overview(
        filters, success_level=success / 100, min_tasks=min_tasks
    )
    level = f"{success} % success"
    points = [
        charts.IndexPoint(p.when, p.employment_index, p.wage_index, overview.coverage)
        for p in overview.index_over_time
    ]
    chart = charts.national_index_chart(
        points, title="Share of national work the best models reach", level=level
    )
    summary = charts.national_summary(points, level=level, coverage=overview.coverage)
    return render(
        request,
        "reports/home.html",
        {
            **_page(request, filters, NationalFilterForm(filters, success, min_tasks)),
            "overview": overview,
            "success": success,
            "min_tasks": min_tasks,
            "national_chart": chart,
            "national_summary": summary,
            "not_covered": charts.NOT_COVERED,
            "measured": sum(1 for c in overview.categories if c.success is not None),
        },
    )


def job_category(request, pk: int):
    category = get_object_or_404(
        Occupation.objects.select_related("taxonomy"), pk=pk, job_category_id=F("pk")
    )
    filters = ReportFilters.from_query(request.GET)
    report = selectors.category_report(category, filters)
    return render(
        request,
        "reports/job_category.html",
        {
            **_page(request, filters),
            "category": category,
            "report": report,
            **_figure_charts(category.title, report),
        },
    )


def occupation(request, pk: int):
    occupation = get_object_or_404(
        Occupation.objects.select_related("taxonomy", "job_category"), pk=pk
    )
    filters = ReportFilters.from_query(request.GET)
    report = selectors.occupation_report(occupation, filters)
    frontier_models = []
    for point in report.frontier:
        if point.model.endpoint not in frontier_models:
            frontier_models.append(point.model.endpoint)
    task_rows = [(task, [task.success.get(m.pk) for m in frontier_models]) for task in report.tasks]
    return render(
        request,
        "reports/occupation.html",
        {
            **_page(request, filters),
            "occupation": occupation,
            "report": report,
            "frontier_models": frontier_models,
            "task_rows": task_rows,
            **_figure_charts(occupation.title, report),
        },
    )


def model(request, slug: str):
    endpoint = get_object_or_404(ModelEndpoint, slug=slug)
    filters = ReportFilters.from_query(request.GET)
    report = selectors.model_report(endpoint, filters)
    label = str(endpoint)
    bars = [charts.ProfileBar(c.category.title, _estimate(c.success)) for c in report.categories]
    return render(
        request,
        "reports/model.html",
        {
            **_page(request, filters),
            "endpoint": endpoint,
            "report": report,
            "profile_chart": charts.profile_chart(
                bars, title=f"{label}: success rate by job category", model=label
            ),
            "profile_summary": charts.profile_summary(bars, model=label),
            "others": [m for m in reported_models() if m.pk != endpoint.pk],
        },
    )


def compare(request):
    filters = ReportFilters.from_query(request.GET)
    context = {**_page(request, filters), "models": list(reported_models())}
    slugs = request.GET.get("a", ""), request.GET.get("b", "")
    if not all(slugs):
        pickers = [("a", None), ("b", None)]
        return render(
            request, "reports/compare.html", {**context, "comparison": None, "pickers": pickers}
        )
    found = ModelEndpoint.objects.in_bulk(list(slugs), field_name="slug")
    if any(slug not in found for slug in slugs):
        raise Http404("No such model.")
    a, b = found[slugs[0]], found[slugs[1]]
    comparison = selectors.compare_models(a, b, filters)
    bars = [
        charts.ProfileBar(row.category.title, _estimate(row.a_success), _estimate(row.b_success))
        for row in comparison.categories
    ]
    return render(
        request,
        "reports/compare.html",
        {
            **context,
            "comparison": comparison,
            "a": a,
            "b": b,
            "pickers": [("a", a), ("b", b)],
            "extra_hidden": [("a", a.slug), ("b", b.slug)],
            "profile_chart": charts.profile_chart(
                bars,
                title=f"{a} and {b}: success rate by job category",
                model=str(a),
                comparison=str(b),
            ),
            "profile_summary": charts.profile_summary(bars, model=str(a), comparison=str(b)),
        },
    )


def _credited(shown: Taxonomy | None, sources) -> list[Taxonomy]:
    """The taxonomy a page shows and the sources of its statements, each once."""
    found = [shown] if shown is not None else []
    return found + [source for source in sources if source != shown]


def statement_coverage(request):
    """Per job category then occupation, how many of the core task statements reachable
    from it the published tasks cite (held-out tasks count; no task is named), with the
    credit lines of the taxonomy shown and of every statement source."""
    filters = ReportFilters.from_query(request.GET)
    level = filters.occupation_level
    rows = (
        statements.statement_coverage(
            Occupation.objects.filter(taxonomy=filters.taxonomy, level=level)
        )
        if filters.taxonomy is not None
        else []
    )
    return render(
        request,
        "reports/statement_coverage.html",
        {
            "taxonomy": filters.taxonomy,
            "taxonomies": Taxonomy.objects.order_by("name", "version"),
            "level": level,
            "levels": Occupation.Level.choices,
            "groups": statements.coverage_groups(rows),
            "total": statements.coverage_total(rows),
            "sources": _credited(filters.taxonomy, statements.statement_sources()),
        },
    )
