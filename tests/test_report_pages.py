"""The public report pages on a small seeded database: three simulated models, graded."""

import html
import math
import re
from pathlib import Path

import pytest
from django.db.models import F
from django.db.models.functions import Least
from django.urls import reverse

from occupations.models import Occupation, Suite, Task, Taxonomy
from reports.models import TaskResult
from reports.templatetags.report_figures import duration
from runs.models import ModelEndpoint

pytestmark = pytest.mark.django_db

WARM_QUERIES = 12
"""Most queries a warm report page makes: the grader and filter lookups, the results
version, the choices of the filter form; never the figures themselves."""


def category() -> Occupation:
    return Occupation.objects.get(code="13-0000")


def report_urls() -> list[str]:
    held_out = Task.objects.filter(visibility=Task.Visibility.HELD_OUT).first()
    return [
        reverse("reports:home"),
        reverse("reports:job_category", args=[category().pk]),
        reverse("reports:occupation", args=[held_out.occupation_id]),
        reverse("reports:model", args=["sim-late"]),
        reverse("reports:compare") + "?a=sim-late&b=sim-early",
    ]


def intervals(page: str) -> list[str]:
    """Figures written with their interval, e.g. "62 % (55-69 %)"."""
    return re.findall(r"\d+ % \(\d+-\d+ %\)", page)


def test_every_report_page_answers_anonymous_visitors_with_figures_and_intervals(
    client, graded_models
):
    for url in report_urls():
        response = client.get(url)
        assert response.status_code == 200, url
        page = response.content.decode()
        assert intervals(page), url
        assert "simulated" in page, url


def test_the_national_overview_gives_the_index_with_coverage_and_every_category(
    client, graded_models
):
    response = client.get(reverse("reports:home"), {"min_tasks": "1"})
    page = response.content.decode()
    overview = response.context["overview"]
    assert overview.coverage > 0 and overview.employment_index is not None
    assert "Share of employment" in page and "Coverage of employment" in page
    assert "at least <strong>1</strong> published task" in page
    assert "<strong>50 %</strong>" in page
    # The national index chart with its data table and its one-sentence summary.
    assert 'class="chart' in page and "Data: Share of national work" in page
    assert response.context["national_summary"] in page
    categories = Occupation.objects.filter(job_category_id=F("pk"))
    for c in categories:
        assert reverse("reports:job_category", args=[c.pk]) in page
    assert "Sim Late" in page and "not measured" in page


def test_the_default_coverage_rule_says_why_the_demo_index_is_empty(client, graded_models):
    page = client.get(reverse("reports:home")).content.decode()
    assert "at least <strong>5</strong> published tasks" in page
    assert "No occupation is covered yet" in page


def test_a_category_page_shows_trend_projection_reliability_and_horizons(client, graded_models):
    response = client.get(reverse("reports:job_category", args=[category().pk]))
    page = response.content.decode()
    report = response.context["report"]
    assert [m.endpoint.slug for m in report.models] == ["sim-early", "sim-mid", "sim-late"]
    # Per-model table: success, pass@k, pass^k and horizons, each with its interval.
    assert report.k == 3 and "pass@3 <span" in page and "pass^3 <span" in page
    for slug in ("sim-early", "sim-mid", "sim-late"):
        assert reverse("reports:model", args=[slug]) in page
    # Three charts, each with a data table and a summary sentence.
    for name in ("success_chart", "reliability_chart", "horizon_chart"):
        chart = response.context[name]
        assert chart.svg in page and f"Data: {html.escape(chart.title)}" in page
    assert response.context["success_summary"] in page
    assert "Given 3 tries, the best model" in page  # the reliability gap in words
    assert "time horizon" in response.context["horizon_summary"]
    assert "extrapolation" in page
    assert report.success_trend is not None
    assert "Projection" in page and "50 % success:" in page and "80 % success:" in page
    # Occupations link to their pages.
    accountants = Occupation.objects.get(code="13-2011")
    assert reverse("reports:occupation", args=[accountants.pk]) in page


def test_the_trend_and_its_projection_are_drawn_when_frontier_dates_differ(client, graded_models):
    response = client.get(reverse("reports:job_category", args=[category().pk]))
    report = response.context["report"]
    assert report.success_trend is not None, "the seeded models should form a trend"
    page = response.content.decode()
    assert 'class="trend"' in page
    assert "Projection <span" in page and "extrapolation" in page


def test_an_occupation_page_lists_held_out_tasks_without_their_titles(client, graded_models):
    held_out = Task.objects.filter(visibility=Task.Visibility.HELD_OUT).first()
    response = client.get(reverse("reports:occupation", args=[held_out.occupation_id]))
    page = response.content.decode()
    assert "Held-out task" in page
    assert html.escape(held_out.title) not in page
    assert str(held_out.canary) not in page
    assert str(held_out.latest_version().estimated_minutes) in page
    assert response.context["success_chart"].svg in page


def test_public_report_pages_hold_no_held_out_titles(client, graded_models):
    pages = "".join(client.get(url).content.decode() for url in report_urls())
    for occupation in Occupation.objects.filter(tasks__isnull=False).distinct():
        pages += client.get(reverse("reports:occupation", args=[occupation.pk])).content.decode()
    for task in Task.objects.filter(visibility=Task.Visibility.HELD_OUT):
        assert html.escape(task.title) not in pages
        assert str(task.canary) not in pages


def test_a_model_page_shows_its_profile_its_horizon_and_a_comparison_form(client, graded_models):
    response = client.get(reverse("reports:model", args=["sim-late"]))
    page = response.content.decode()
    report = response.context["report"]
    assert len(report.categories) >= 8
    chart = response.context["profile_chart"]
    assert chart.svg in page and f"Data: {html.escape(chart.title)}" in page
    assert "50 % time horizon" in page and "80 % time horizon" in page
    assert f'action="{reverse("reports:compare")}"' in page
    assert '<option value="sim-early">' in page and '<option value="sim-late">' not in page


def test_the_comparison_gives_both_models_and_the_difference_with_its_interval(
    client, graded_models
):
    response = client.get(reverse("reports:compare"), {"a": "sim-late", "b": "sim-early"})
    page = response.content.decode()
    comparison = response.context["comparison"]
    assert comparison.a.slug == "sim-late" and comparison.b.slug == "sim-early"
    assert len(comparison.categories) >= 8
    assert re.search(r"[+-]\d+ points \([+-]\d+ to [+-]\d+\)", page)
    assert "Profiles side by side" in page and response.context["profile_chart"].svg in page
    picker = client.get(reverse("reports:compare")).content.decode()
    assert '<select id="compare-a" name="a">' in picker and "Sim Mid" in picker


def test_unknown_models_and_categories_are_not_found(client, graded_models):
    assert client.get(reverse("reports:model", args=["no-such-model"])).status_code == 404
    missing = client.get(reverse("reports:compare"), {"a": "sim-late", "b": "nope"})
    assert missing.status_code == 404
    detailed = Occupation.objects.get(code="13-2011")
    assert client.get(reverse("reports:job_category", args=[detailed.pk])).status_code == 404
    assert client.get(reverse("reports:occupation", args=[999999])).status_code == 404


def test_filters_narrow_the_figures_and_survive_in_the_links(client, graded_models, demo_suite):
    url = reverse("reports:job_category", args=[category().pk])
    response = client.get(url, {"family": "Aster", "from": "2023-01-01", "suite": demo_suite.pk})
    report = response.context["report"]
    assert [m.endpoint.slug for m in report.models] == ["sim-early", "sim-mid"]
    page = response.content.decode()
    query = response.context["query"]
    assert "family=Aster" in query and "from=2023-01-01" in query
    assert f"suite={demo_suite.pk}" in query
    assert f'{reverse("reports:model", args=["sim-mid"])}{html.escape(query)}"' in page
    assert f'{reverse("reports:home")}{html.escape(query)}"' in page
    # The form shows what is applied.
    assert 'value="Aster" id="id_family_0" checked' in page or (
        'name="family" value="Aster"' in page and "checked" in page
    )
    assert 'name="from" value="2023-01-01"' in page
    home = client.get(reverse("reports:home"), {"family": "Borealis"})
    assert {
        c.frontier_model.slug for c in home.context["overview"].categories if c.frontier_model
    } == {"sim-late"}
    other = Suite.objects.create(name="Other", slug="other")
    empty = client.get(url, {"suite": other.pk})
    assert empty.context["report"].models == ()
    assert "No graded results yet for these filters" in empty.content.decode()


def test_unknown_filter_values_are_ignored(client, graded_models):
    url = reverse("reports:job_category", args=[category().pk])
    response = client.get(
        url,
        {
            "grader": "999999",
            "suite": "x",
            "family": "Nope",
            "from": "yesterday",
            "to": "2024-13-45",
            "level": "galaxy",
            "success": "77",
            "min_tasks": "-3",
        },
    )
    assert response.status_code == 200
    assert len(response.context["report"].models) == 3
    home = client.get(reverse("reports:home"), {"success": "77", "min_tasks": "many"})
    assert home.status_code == 200
    assert (home.context["success"], home.context["min_tasks"]) == (50, 5)


def test_the_taxonomy_level_changes_the_occupation_rows(client, graded_models):
    url = reverse("reports:job_category", args=[category().pk])
    detailed = client.get(url).context["report"].occupations
    assert len(detailed) > 1 and {r.occupation.level for r in detailed} == {"detailed"}
    major = client.get(url, {"level": "major"}).context["report"].occupations
    assert [r.occupation for r in major] == [category()]  # the seeds have no broad groups


def test_warm_report_pages_make_a_bounded_number_of_queries(
    client, graded_models, django_assert_max_num_queries
):
    for url in report_urls():
        assert client.get(url).status_code == 200  # cold: computes and caches the figures
        with django_assert_max_num_queries(WARM_QUERIES):
            assert client.get(url).status_code == 200


def test_simulated_models_stay_labelled_on_every_page(client, graded_models):
    for url in report_urls()[1:]:
        page = client.get(url).content.decode()
        assert "Sim Late (simulated)" in page or 'tag-sim">simulated' in page
    assert ModelEndpoint.objects.filter(slug="sim-late", provider="simulated").exists()


def test_the_national_index_reads_not_measured_when_no_occupation_is_covered(client, graded_models):
    response = client.get(reverse("reports:home"))  # the demo has too few tasks to cover any
    overview = response.context["overview"]
    assert overview.employment_index is None and overview.coverage == 0
    page = response.content.decode()
    not_covered = "not measured: no occupation is covered yet"
    assert f"<dt>Share of employment</dt><dd>{not_covered}</dd>" in page
    assert f"<dt>Share of the wage bill</dt><dd>{not_covered}</dd>" in page
    assert "<dt>Coverage of employment</dt><dd>0 %</dd>" in page  # coverage is still a figure
    summary = f"The national index is {not_covered}; tasks cover 0 % of employment."
    assert response.context["national_summary"] == summary
    assert f'<p class="lead summary">{summary}</p>' in page


def test_a_model_that_succeeds_at_every_task_length_is_beyond_the_longest_task(
    client, graded_models
):
    TaskResult.objects.filter(endpoint__slug="sim-late", job_category=category()).update(
        successes=F("attempts")
    )
    response = client.get(reverse("reports:job_category", args=[category().pk]))
    report = response.context["report"]
    [beyond] = [p for p in report.horizon_frontier if math.isinf(p.value)]
    assert beyond.model.endpoint.slug == "sim-late" and report.horizon_trend_left_out == 1
    said = f"beyond the longest task ({duration(report.longest_task_minutes)})"
    page = response.content.decode()
    model_row = page[page.index(reverse("reports:model", args=["sim-late"])) :]
    assert said in model_row[: model_row.index("</tr>")]
    # Drawn as an arrow at the top edge, and said so in the chart's data table and notes.
    chart = response.context["horizon_chart"]
    assert 'class="arrow off-chart"' in chart.svg
    assert {row[0]: row for row in chart.rows}["Sim Late (simulated)"][2] == said
    assert any(note.startswith("Sim Late") and said in note for note in chart.notes)
    assert "1 frontier point left out of the trend fit" in page


def test_reliability_uses_one_k_and_says_which_tasks_each_model_leaves_out(client, graded_models):
    rows = TaskResult.objects.filter(job_category=category())
    first = min(rows.values_list("task_version_id", flat=True))
    rows.filter(endpoint__slug="sim-mid", task_version_id=first).update(
        attempts=2, successes=Least("successes", 2)
    )
    rows.filter(endpoint__slug="sim-early").update(attempts=1, successes=Least("successes", 1))
    response = client.get(reverse("reports:job_category", args=[category().pk]))
    report = response.context["report"]
    assert report.k == 3
    page = response.content.decode()
    assert "pass@3 <span" in page and "Reliability: one try against 3" in page
    chart = response.context["reliability_chart"]
    assert chart.title.startswith("One try against 3 tries")
    assert [row[0] for row in chart.rows] == ["Sim Mid (simulated)", "Sim Late (simulated)"]
    mid = page[page.index(reverse("reports:model", args=["sim-mid"])) :]
    assert "1 task with fewer tries left out" in mid[: mid.index("</tr>")]
    assert "Sim Mid (simulated): 1 task with fewer tries left out." in page
    assert "Sim Early (simulated): not drawn, fewer than 3 tries on every task." in page
    early = page[page.index(reverse("reports:model", args=["sim-early"])) :]
    assert "fewer than 3 tries on every task: not measured" in early[: early.index("</tr>")]


def test_the_taxonomy_filter_appears_with_a_second_taxonomy_and_stays_in_links(
    client, graded_models
):
    url = reverse("reports:job_category", args=[category().pk])
    assert 'name="taxonomy"' not in client.get(url).content.decode()  # one taxonomy: no choice
    isco = Taxonomy.objects.create(name="ISCO", version="08")
    managers = Occupation.objects.create(
        taxonomy=isco, code="1", title="Managers", level=Occupation.Level.MAJOR
    )
    managers.job_category = managers
    managers.save()
    soc = category().taxonomy
    page = client.get(url).content.decode()
    assert '<select name="taxonomy"' in page
    assert f'<option value="{soc.pk}" selected>{soc}</option>' in page
    assert f'<option value="{isco.pk}">ISCO 08</option>' in page
    response = client.get(reverse("reports:home"), {"taxonomy": isco.pk, "min_tasks": "1"})
    assert [c.category for c in response.context["overview"].categories] == [managers]
    page = response.content.decode()
    assert f'<option value="{isco.pk}" selected>ISCO 08</option>' in page
    query = html.escape(response.context["query"])
    assert f"taxonomy={isco.pk}" in query
    assert f'{reverse("reports:job_category", args=[managers.pk])}?{query[1:]}"' in page
    assert f'{reverse("reports:compare")}{query}"' in page


def test_the_reading_guide_and_the_footnote_say_what_each_interval_resamples(client, graded_models):
    page = client.get(reverse("reports:job_category", args=[category().pk])).content.decode()
    readme = " ".join((Path(__file__).resolve().parents[1] / "README.md").read_text().split())
    for text in (page, readme):
        assert "success-rate and time-horizon intervals resample tasks, then attempts" in text
        assert "Each task version counts once" in text
    assert "every task counts once" not in readme.lower()
    assert "resample tasks only" in page and "resample tasks only" in readme
