"""Public report pages: aggregates only, never task content."""

from datetime import timedelta

from django.db.models import F
from django.shortcuts import get_object_or_404, render

from occupations.models import Occupation
from reports import selectors
from reports.charts import TrendPoint, trend_chart


def _grader_context(request) -> dict:
    """The grader a report page uses, the choice of others, and the query that keeps it."""
    grader = selectors.chosen_grader(request.GET.get("grader"))
    asked = request.GET.get("grader", "")
    return {
        "grader": grader,
        "grader_choices": selectors.report_graders(),
        "grader_query": f"?grader={grader.pk}" if grader is not None and asked else "",
    }


def home(request):
    context = _grader_context(request)
    summaries = selectors.category_summaries(context["grader"])
    return render(
        request,
        "reports/home.html",
        {
            **context,
            "summaries": summaries,
            "measured": sum(1 for s in summaries if s.frontier_score is not None),
        },
    )


def _summary_sentence(category: Occupation, frontier) -> str:
    if not frontier:
        return f"No graded results yet for {category.title.lower()}."
    when, score, best = frontier[-1]
    sentence = (
        f"The best model, {best.endpoint}, scores {score:.0%} "
        f"({best.ci_low:.0%}-{best.ci_high:.0%}) on {category.title.lower()} tasks"
    )
    earlier = [p for p in frontier if p[0] <= when - timedelta(days=365)]
    if earlier:
        sentence += f"; a year before its release the best score was {earlier[-1][1]:.0%}"
    return sentence + "."


def job_category(request, pk: int):
    category = get_object_or_404(
        Occupation.objects.select_related("taxonomy"), pk=pk, job_category_id=F("pk")
    )
    context = _grader_context(request)
    grader = context["grader"]
    results = selectors.category_results(category, grader)
    frontier = selectors.frontier_of(results)
    on_frontier = {id(point[2]) for point in frontier}
    chart = trend_chart(
        [
            TrendPoint(
                when=r.endpoint.release_date,
                value=r.mean_score,
                low=r.ci_low,
                high=r.ci_high,
                label=str(r.endpoint),
                on_frontier=id(r) in on_frontier,
            )
            for r in results
        ],
        title=f"Mean rubric score by model release date: {category.title}",
    )
    return render(
        request,
        "reports/job_category.html",
        {
            **context,
            "category": category,
            "results": results,
            "frontier_ids": on_frontier,
            "chart": chart,
            "summary": _summary_sentence(category, frontier),
            "occupations": selectors.category_occupations(category),
        },
    )
