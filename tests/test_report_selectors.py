import datetime
from decimal import Decimal

import pytest
from django.http import QueryDict
from django.utils import timezone

from graders.models import Grade, Grader
from occupations.models import Occupation, Suite, Task, TaskVersion, Taxonomy
from reports import materialise, selectors
from reports.models import ResultsVersion, TaskResult
from reports.selectors import ReportFilters
from runs.models import ModelEndpoint

pytestmark = pytest.mark.django_db


def slugs(report) -> list[str]:
    return [m.endpoint.slug for m in report.models]


def test_a_category_report_gives_every_figure_with_intervals(graded_models, simulated_grader):
    category = Occupation.objects.get(code="13-0000")
    report = selectors.category_report(category, ReportFilters(simulated_grader))
    assert slugs(report) == ["sim-early", "sim-mid", "sim-late"]
    for figures in report.models:
        assert figures.tasks == 3 and figures.samples + figures.unscored == 9
        for interval in (figures.score, figures.success):
            assert 0 <= interval.low <= interval.point <= interval.high <= 1
        gap = figures.reliability
        assert gap.k == 3 and gap.pass_hat_k.point <= gap.pass_at_1.point <= gap.pass_at_k.point
        assert figures.horizon is not None and figures.horizon.resamples == 1000
    assert report.frontier and report.frontier[0].model.endpoint.slug == "sim-early"
    values = [p.value for p in report.frontier]
    assert values == sorted(values)
    assert report.success_trend is not None
    assert report.success_trend.to_50.extrapolation is True
    rows = {row.occupation.code: row for row in report.occupations}
    assert "13-2011" in rows and rows["13-2011"].tasks_with_results >= 1
    assert rows["13-2011"].best_model is not None


def test_filters_narrow_by_family_release_dates_and_suite(
    graded_models, simulated_grader, demo_suite
):
    category = Occupation.objects.get(code="13-0000")
    by_family = ReportFilters(simulated_grader, families=("Aster",))
    assert slugs(selectors.category_report(category, by_family)) == ["sim-early", "sim-mid"]
    by_dates = ReportFilters(
        simulated_grader,
        released_from=datetime.date(2024, 1, 1),
        released_to=datetime.date(2024, 12, 31),
    )
    assert slugs(selectors.category_report(category, by_dates)) == ["sim-mid"]
    other = Suite.objects.create(name="Other", slug="other")
    assert (
        selectors.category_report(category, ReportFilters(simulated_grader, suite=other)).models
        == ()
    )
    same = selectors.category_report(category, ReportFilters(simulated_grader, suite=demo_suite))
    assert len(same.models) == 3


def test_filters_round_trip_through_the_query_string_and_ignore_unknown_values(
    graded_models, simulated_grader, demo_suite
):
    query = QueryDict(
        f"grader={simulated_grader.pk}&suite={demo_suite.pk}&family=Aster&family=Nope"
        "&from=2024-01-01&to=not-a-date&level=broad&bogus=1",
        mutable=False,
    )
    filters = ReportFilters.from_query(query)
    assert filters == ReportFilters(
        simulated_grader,
        suite=demo_suite,
        families=("Aster",),
        released_from=datetime.date(2024, 1, 1),
        level="broad",
        taxonomy=selectors.default_taxonomy(),
    )
    assert ReportFilters.from_query(QueryDict(filters.query())) == filters
    junk = ReportFilters.from_query(QueryDict("grader=999&suite=x&level=galaxy&taxonomy=999"))
    assert junk == ReportFilters(selectors.default_grader(), taxonomy=selectors.default_taxonomy())


def test_held_out_task_titles_never_appear_in_an_occupation_report(graded_models, simulated_grader):
    held_out = Task.objects.filter(visibility=Task.Visibility.HELD_OUT).first()
    report = selectors.occupation_report(held_out.occupation, ReportFilters(simulated_grader))
    rows = [row for row in report.tasks if row.task_id == held_out.pk]
    assert rows and all(row.held_out and row.title is None for row in rows)
    assert held_out.title not in repr(report)
    assert set(rows[0].success) == {m.endpoint.pk for m in report.models}


def test_a_model_report_and_a_comparison(graded_models, simulated_grader):
    early, late = (ModelEndpoint.objects.get(slug=s) for s in ("sim-early", "sim-late"))
    filters = ReportFilters(simulated_grader)
    profile = selectors.model_report(late, filters)
    assert profile.overall.tasks == TaskResult.objects.filter(endpoint=late).count()
    assert len(profile.categories) >= 8
    assert sum(c.tasks for c in profile.categories) == profile.overall.tasks
    comparison = selectors.compare_models(late, early, filters)
    assert comparison.overall.shared_tasks == profile.overall.tasks
    d = comparison.overall.difference
    assert d.low <= d.point <= d.high
    assert d.point == pytest.approx(
        comparison.overall.a_success.point - comparison.overall.b_success.point
    )


def test_a_refresh_invalidates_cached_reports(
    graded_models, simulated_grader, django_assert_num_queries
):
    category = Occupation.objects.get(code="13-0000")
    filters = ReportFilters(simulated_grader)
    first = selectors.category_report(category, filters)
    with django_assert_num_queries(1):  # the results version; the figures come from the cache
        assert repr(selectors.category_report(category, filters)) == repr(first)  # nan != nan
    late = graded_models[-1]
    Grade.objects.filter(sample__run=late, status=Grade.Status.SCORED).update(success=False)
    assert repr(selectors.category_report(category, filters)) == repr(first)  # not refreshed
    materialise.refresh_run(late.pk)
    fresh = selectors.category_report(category, filters)
    assert [m.success.point for m in fresh.models if m.endpoint == late.endpoint] == [0.0]


# --- the national index on a hand-built world -----------------------------------------


def make_task(unit: Occupation, slug: str, minutes: int) -> TaskVersion:
    """A published task of the occupation with one version of that many human minutes."""
    task = Task.objects.create(
        slug=slug, occupation=unit, title=f"Task {slug}", status=Task.Status.PUBLISHED
    )
    version = TaskVersion.objects.create_with_rubric(
        task=task,
        number=1,
        content={
            "instructions": "x",
            "deliverable": "x",
            "reference_solution": "x",
            "estimated_minutes": minutes,
        },
        criteria=[{"text": "x", "points": 1}],
    )
    Task.objects.filter(pk=task.pk).update(published_version=version)
    return version


def add_result(grader, suite, model, version: TaskVersion, n: int, c: int) -> None:
    """A materialised row, written straight into the table."""
    task = version.task
    TaskResult.objects.create(
        grader=grader,
        endpoint=model,
        suite=suite,
        task_version=version,
        task=task,
        occupation=task.occupation,
        job_category=task.occupation.job_category,
        estimated_minutes=version.estimated_minutes,
        visibility=task.visibility,
        attempts=n,
        successes=c,
        score_sum=c * 0.9,
        unscored=0,
        failed=0,
        refreshed_at=timezone.now(),
    )


@pytest.fixture
def small_world(db, make_endpoint):
    """Two job categories, three detailed occupations with known employment and wages, and
    results written straight into the materialised table.

    a1 (100 people, wage 10): 2 published tasks; M1 succeeds 8/10 and 6/10 -> 0.7.
    a2 (300 people, wage 20): 2 published tasks; M1 2/10, 4/10 -> 0.3; M2 6/10, 6/10 -> 0.6.
    b1 (600 people, wage 5): 1 published task (not covered at 2 tasks); M2 10/10.
    """
    taxonomy = Taxonomy.objects.create(name="SOC", version="test")

    def occupation(code, level, parent=None, employment=None, wage=None):
        return Occupation.objects.create(
            taxonomy=taxonomy,
            code=code,
            title=f"Occupation {code}",
            level=level,
            parent=parent,
            employment=employment,
            mean_annual_wage=None if wage is None else Decimal(wage),
        )

    major_a = occupation("A", Occupation.Level.MAJOR, employment=400)
    major_b = occupation("B", Occupation.Level.MAJOR, employment=600)
    units = {
        "a1": occupation("a1", Occupation.Level.DETAILED, major_a, 100, 10),
        "a2": occupation("a2", Occupation.Level.DETAILED, major_a, 300, 20),
        "b1": occupation("b1", Occupation.Level.DETAILED, major_b, 600, 5),
    }
    judge = make_endpoint("judge")
    grader = Grader.objects.create(name="Judge", judge=judge)
    m1 = make_endpoint("m1", release_date=datetime.date(2024, 1, 1))
    m2 = make_endpoint("m2", release_date=datetime.date(2025, 1, 1))
    suite = Suite.objects.create(name="World", slug="world")
    results = {
        "a1": [{m1: (10, 8)}, {m1: (10, 6)}],
        "a2": [{m1: (10, 2), m2: (10, 6)}, {m1: (10, 4), m2: (10, 6)}],
        "b1": [{m2: (10, 10)}],
    }
    for code, tasks in results.items():
        for i, by_model in enumerate(tasks):
            version = make_task(units[code], f"{code}-{i}", 10 * (i + 1))
            for model, (n, c) in by_model.items():
                add_result(grader, suite, model, version, n, c)
    ResultsVersion.objects.create(grader=grader, token="t1", refreshed_at=timezone.now())
    return grader, m1, m2, major_a, major_b


def test_the_national_index_and_coverage_equal_hand_computed_values(small_world):
    grader, m1, m2, _, _ = small_world
    overview = selectors.national_overview(ReportFilters(grader), success_level=0.5, min_tasks=2)
    assert overview.employment_total == 1000
    assert overview.wage_bill_total == pytest.approx(100 * 10 + 300 * 20 + 600 * 5)
    assert overview.coverage == pytest.approx(0.4)  # a1 and a2 have 2 published tasks
    assert overview.employment_index == pytest.approx(0.4)  # a1 (0.7), a2 (0.6 by M2)
    assert overview.wage_index == pytest.approx(7000 / 10000)
    assert overview.occupations_met == 2 and overview.occupations_covered == 2
    # b1 succeeds fully but has one published task: not covered, so not met.
    timeline = [(p.when, p.employment_index, p.wage_index) for p in overview.index_over_time]
    assert timeline == [
        (m1.release_date, pytest.approx(0.1), pytest.approx(0.1)),
        (m2.release_date, pytest.approx(0.4), pytest.approx(0.7)),
    ]
    rows = {row.category.code: row for row in overview.categories}
    assert rows["A"].frontier_model == m2 and rows["A"].success.point == pytest.approx(0.6)
    assert rows["A"].published_tasks == 4 and rows["A"].employment == 400
    assert rows["B"].frontier_model == m2 and rows["B"].tasks == 1
    stricter = selectors.national_overview(ReportFilters(grader), success_level=0.65, min_tasks=2)
    assert stricter.employment_index == pytest.approx(0.1)


def test_occupations_without_results_are_not_met_and_show_in_coverage(small_world):
    grader, m1, _, major_a, _ = small_world
    Occupation.objects.create(
        taxonomy=major_a.taxonomy,
        code="a3",
        title="Unmeasured",
        level=Occupation.Level.DETAILED,
        parent=major_a,
        employment=1000,
    )
    overview = selectors.national_overview(ReportFilters(grader), min_tasks=2)
    assert overview.employment_total == 2000
    assert overview.coverage == pytest.approx(0.2)
    assert overview.employment_index == pytest.approx(0.2)
    report = selectors.category_report(major_a, ReportFilters(grader))
    rows = {row.occupation.code: row for row in report.occupations}
    assert rows["a3"].best_model is None and rows["a3"].tasks_with_results == 0
    assert rows["a1"].best_model == m1 and rows["a1"].best_success.point == pytest.approx(0.7)


def test_the_index_over_time_matches_the_index_of_models_released_by_each_date(small_world):
    grader, m1, m2, _, _ = small_world
    m1.release_date = datetime.date(2026, 1, 1)  # registered first, released last
    m1.save()
    overview = selectors.national_overview(ReportFilters(grader), min_tasks=2)
    assert [p.when for p in overview.index_over_time] == [m2.release_date, m1.release_date]
    for point in overview.index_over_time:
        then = selectors.national_overview(
            ReportFilters(grader, released_to=point.when), min_tasks=2
        )
        assert (point.employment_index, point.wage_index) == (
            pytest.approx(then.employment_index),
            pytest.approx(then.wage_index),
        )
    assert overview.index_over_time[0].employment_index == pytest.approx(0.3)  # a2 by m2


def test_no_covered_occupation_gives_no_index_but_a_coverage_of_zero(small_world):
    grader, *_ = small_world
    overview = selectors.national_overview(ReportFilters(grader), min_tasks=3)
    assert overview.coverage == 0.0 and overview.occupations_covered == 0
    assert overview.employment_index is None and overview.wage_index is None
    assert overview.index_over_time
    assert all(
        p.employment_index is None and p.wage_index is None for p in overview.index_over_time
    )


def test_an_occupation_best_model_needs_the_category_minimum_of_tasks(small_world, make_endpoint):
    grader, m1, _, major_a, _ = small_world
    lucky = make_endpoint("lucky", release_date=datetime.date(2025, 6, 1))
    a1_task = TaskResult.objects.filter(occupation__code="a1").first().task_version
    add_result(grader, Suite.objects.get(slug="world"), lucky, a1_task, 10, 10)
    report = selectors.category_report(major_a, ReportFilters(grader), min_tasks=2)
    rows = {row.occupation.code: row for row in report.occupations}
    assert rows["a1"].best_model == m1  # 2 tasks at 0.7 beat 1 task at 1.0


def test_a_report_computes_reliability_at_one_k_and_counts_tasks_left_out(
    small_world, make_endpoint
):
    grader, m1, m2, major_a, _ = small_world
    short = make_task(Occupation.objects.get(code="a2"), "a2-short", 5)
    add_result(grader, Suite.objects.get(slug="world"), m1, short, 3, 2)
    report = selectors.category_report(major_a, ReportFilters(grader))
    assert report.k == 10
    figures = {f.endpoint: f for f in report.models}
    assert figures[m1].tasks == 5 and figures[m1].reliability_tasks_left_out == 1
    assert figures[m1].reliability.k == 10 and figures[m1].reliability.tasks == 4
    assert figures[m2].reliability.k == 10 and figures[m2].reliability_tasks_left_out == 0
    alone = selectors.category_report(
        major_a, ReportFilters(grader, released_from=datetime.date(2024, 6, 1))
    )
    assert alone.k == 10 and alone.models[0].endpoint == m2


def test_a_model_beyond_the_longest_task_stays_on_the_horizon_frontier(small_world, make_endpoint):
    grader, _, _, major_a, _ = small_world
    suite = Suite.objects.get(slug="world")
    major_c = Occupation.objects.create(
        taxonomy=major_a.taxonomy, code="C", title="C", level=Occupation.Level.MAJOR
    )
    unit = Occupation.objects.create(
        taxonomy=major_a.taxonomy,
        code="c1",
        title="c1",
        level=Occupation.Level.DETAILED,
        parent=major_c,
    )
    versions = [make_task(unit, f"c1-{m}", m) for m in (10, 20, 40, 80)]
    models = {
        "falling": (datetime.date(2024, 1, 1), (9, 5, 1, 0)),
        "better": (datetime.date(2024, 6, 1), (10, 9, 5, 1)),
        "everything": (datetime.date(2025, 1, 1), (10, 10, 10, 10)),
    }
    for slug, (released, successes) in models.items():
        model = make_endpoint(slug, release_date=released)
        for version, c in zip(versions, successes, strict=True):
            add_result(grader, suite, model, version, 10, c)
    report = selectors.category_report(major_c, ReportFilters(grader))
    assert report.longest_task_minutes == 80
    frontier = [(p.model.endpoint.slug, p.value) for p in report.horizon_frontier]
    assert [slug for slug, _ in frontier] == ["falling", "better", "everything"]
    assert frontier[-1][1] == float("inf") and all(v < 80 for _, v in frontier[:-1])
    assert report.horizon_trend is not None and report.horizon_trend_left_out == 1
    assert report.horizon_trend.trend.line.points == 2


def test_reports_read_one_taxonomy_the_largest_by_default(small_world):
    grader, m1, _, major_a, _ = small_world
    other = Taxonomy.objects.create(name="ISCO", version="test")
    group = Occupation.objects.create(
        taxonomy=other, code="1", title="Managers", level=Occupation.Level.MAJOR, employment=5
    )
    unit = Occupation.objects.create(
        taxonomy=other,
        code="11",
        title="Chief executives",
        level=Occupation.Level.DETAILED,
        parent=group,
        employment=5,
    )
    add_result(grader, Suite.objects.get(slug="world"), m1, make_task(unit, "isco", 10), 10, 9)
    assert selectors.default_taxonomy() == major_a.taxonomy  # 5 occupations against 2
    filters = ReportFilters.from_query(QueryDict(f"grader={grader.pk}"))
    assert filters.taxonomy == major_a.taxonomy
    assert f"taxonomy={major_a.taxonomy.pk}" in filters.query()
    national = selectors.national_overview(filters, min_tasks=2)
    assert [c.category.code for c in national.categories] == ["A", "B"]
    assert national.employment_total == 1000
    assert selectors.model_report(m1, filters).overall.tasks == 4
    isco = ReportFilters.from_query(QueryDict(f"grader={grader.pk}&taxonomy={other.pk}"))
    national = selectors.national_overview(isco, min_tasks=1)
    assert [c.category.code for c in national.categories] == ["1"]
    assert national.employment_total == 5 and national.employment_index == pytest.approx(1.0)
    assert selectors.model_report(m1, isco).overall.tasks == 1
    assert selectors.category_report(major_a, isco).models == ()


def test_an_edited_release_date_or_family_shows_at_once(
    graded_models, simulated_grader, django_capture_on_commit_callbacks
):
    category = Occupation.objects.get(code="13-0000")
    later = ReportFilters(simulated_grader, released_from=datetime.date(2025, 1, 1))
    renamed = ReportFilters(simulated_grader, families=("Comet",))
    assert slugs(selectors.category_report(category, later)) == ["sim-late"]
    assert slugs(selectors.category_report(category, renamed)) == []
    early = ModelEndpoint.objects.get(slug="sim-early")
    early.release_date, early.family = datetime.date(2026, 1, 1), "Comet"
    with django_capture_on_commit_callbacks(execute=True):
        early.save()
    assert slugs(selectors.category_report(category, later)) == ["sim-late", "sim-early"]
    assert slugs(selectors.category_report(category, renamed)) == ["sim-early"]
