"""Public report pages: aggregates only, never task content."""

from datetime import timedelta

from django.db.models import F
from django.shortcuts import get_object_or_404, render

from occupations.models import Occupation
from reports import selectors
from reports.charts import TrendPoint, trend_chart


def home(request):
    grader = selectors.default_grader()
    summaries = selectors.category_summaries(grader)
    return render(
        request,
        "reports/home.html",
        {
            "summaries": summaries,
            "grader": grader,
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
    grader = selectors.default_grader()
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
            "category": category,
            "grader": grader,
            "results": results,
            "frontier_ids": on_frontier,
            "chart": chart,
            "summary": _summary_sentence(category, frontier),
            "occupations": selectors.category_occupations(category),
        },
    )
