"""Report selectors at scale: 1,000,000 graded samples on PostgreSQL.

Builds 50 models x 2,000 tasks x 10 attempts over 22 job categories (220 detailed
occupations) in a database of its own, with set-based inserts (INSERT ... SELECT over
generate_series): release dates spread over 2022-2026, task lengths log-uniform from 5
minutes to 16 hours, and a success probability that grows with release date and falls with
task length. Then it refreshes the materialised results (timed) and times the selectors the
pages will call: the national overview, a job-category report and a model report, cold
(cache cleared) and warm (p50 / p95 of 20 calls), with the query count of each; then the
pages themselves through Django's test client (the national overview, a job category, an
occupation, a model and a comparison), cold and warm the same way; finally it prepares an
official release of all 50 models (cold) and times each export format built from it.

    uv run python bench/report_scale.py            # drops evalbuilder_report_bench at the end
    uv run python bench/report_scale.py --keep     # keeps it, to look at it
"""

from __future__ import annotations

import argparse
import datetime
import random
import statistics
import time
from decimal import Decimal

import common

DEFAULT_DATABASE = "evalbuilder_report_bench"
MODELS = 50
TASKS = 2000
ATTEMPTS = 10
CATEGORIES = 22
OCCUPATIONS_PER_CATEGORY = 10
WARM_CALLS = 20


def build_world(seed: int = 7) -> dict:
    """Taxonomy, occupations, tasks and versions, suite, models, grader and runs (the ORM;
    a few thousand rows); returns what the sample inserts need."""
    from django.db import connection
    from django.utils import timezone

    from graders.models import Grader
    from occupations.models import Occupation, Suite, Task, TaskVersion, Taxonomy
    from runs.models import ModelEndpoint, Run

    rng = random.Random(seed)
    taxonomy = Taxonomy.objects.create(name="SOC", version="bench", country="US")
    detailed = []
    for c in range(CATEGORIES):
        major = Occupation.objects.create(
            taxonomy=taxonomy,
            code=f"{11 + 2 * c:02d}-0000",
            title=f"Job category {c + 1}",
            level=Occupation.Level.MAJOR,
        )
        for o in range(OCCUPATIONS_PER_CATEGORY):
            detailed.append(
                Occupation(
                    taxonomy=taxonomy,
                    code=f"{11 + 2 * c:02d}-{1000 + o:04d}",
                    title=f"Occupation {c + 1}.{o + 1}",
                    level=Occupation.Level.DETAILED,
                    parent=major,
                    job_category=major,
                    employment=rng.randint(5_000, 1_500_000),
                    mean_annual_wage=Decimal(rng.randint(25_000, 180_000)),
                )
            )
    Occupation.objects.bulk_create(detailed)
    detailed = list(Occupation.objects.filter(level=Occupation.Level.DETAILED))
    # Category employment is the sum of its occupations, as a statistics office reports it.
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE occupations_occupation m SET employment = s.total FROM (SELECT parent_id, "
            "sum(employment) AS total FROM occupations_occupation WHERE parent_id IS NOT NULL "
            "GROUP BY parent_id) s WHERE m.id = s.parent_id"
        )
    tasks = Task.objects.bulk_create(
        Task(
            slug=f"bench-task-{i}",
            occupation=detailed[i % len(detailed)],
            title=f"Bench task {i}",
            status=Task.Status.PUBLISHED,
            visibility=Task.Visibility.HELD_OUT if i % 10 == 0 else Task.Visibility.PUBLIC,
        )
        for i in range(TASKS)
    )
    now = timezone.now()
    versions = TaskVersion.objects.bulk_create(
        TaskVersion(
            task=task,
            number=1,
            instructions="Do the work.",
            deliverable="The work.",
            reference_solution="The work, done.",
            estimated_minutes=round(5 * 2 ** rng.uniform(0, 7.6)),  # 5 min .. 16 h
            submitted_at=now,
            published_at=now,
        )
        for task in tasks
    )
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE occupations_task t SET published_version_id = v.id "
            "FROM occupations_taskversion v WHERE v.task_id = t.id"
        )
    suite = Suite.objects.create(name="Bench", slug="bench", frozen_at=now)
    Suite.task_versions.through.objects.bulk_create(
        Suite.task_versions.through(suite_id=suite.pk, taskversion_id=v.pk) for v in versions
    )
    start = datetime.date(2022, 1, 1)
    endpoints = ModelEndpoint.objects.bulk_create(
        ModelEndpoint(
            slug=f"bench-model-{m}",
            display_name=f"Bench model {m}",
            provider=ModelEndpoint.Provider.SIMULATED,
            model_id=f"bench-model-{m}",
            family=f"Family {m % 6}",
            release_date=start + datetime.timedelta(days=round(m * 1640 / MODELS)),
        )
        for m in range(MODELS)
    )
    judge = ModelEndpoint.objects.create(
        slug="bench-judge",
        display_name="Bench judge",
        provider=ModelEndpoint.Provider.SIMULATED,
        model_id="bench-judge",
        family="Judge",
        release_date=start,
    )
    Grader.objects.update(is_active=False)
    grader = Grader.objects.create(name="Bench judge", judge=judge)
    Run.objects.bulk_create(
        Run(
            suite=suite,
            endpoint=e,
            samples_per_task=ATTEMPTS,
            status=Run.Status.COMPLETED,
            planned_samples=TASKS * ATTEMPTS,
            finished_at=now,
        )
        for e in endpoints
    )
    return {"suite": suite, "grader": grader, "endpoints": endpoints}


SAMPLES_SQL = """
INSERT INTO runs_sample (run_id, task_version_id, attempt, status, output, input_tokens,
    output_tokens, cost, tries, cached, error_kind, error, created_at)
SELECT r.id, st.taskversion_id, a,
    CASE WHEN random() < 0.005 THEN 'failed' ELSE 'done' END,
    '', 0, 0, 0, 1, false, '', '', now()
FROM runs_run r
JOIN occupations_suite_task_versions st ON st.suite_id = r.suite_id
CROSS JOIN generate_series(0, %s) AS a
"""

# Success: logistic in release year (+1.1 log-odds a year) and task length (-0.55 per
# doubling), with a per-task difficulty; about 1 % of grades unscored.
GRADES_SQL = """
INSERT INTO graders_grade (sample_id, grader_id, is_reconciled, status, score, success,
    tag_scores, unscored_reason, prefilter, flags, comment, grader_config, prompt_version,
    judge_input_tokens, judge_output_tokens, judge_cost, judge_cached_calls, created_at)
SELECT s.id, %s, false,
    CASE WHEN x.unscored THEN 'unscored' ELSE 'scored' END,
    CASE WHEN x.unscored THEN NULL
         WHEN x.u < x.p THEN 0.7 + 0.3 * random() ELSE random() * 0.8 - 0.1 END,
    CASE WHEN x.unscored THEN NULL ELSE x.u < x.p END,
    '{}', CASE WHEN x.unscored THEN 'judge failed' ELSE '' END, '', '[]', '', '{}', 'bench',
    0, 0, 0, 0, now()
FROM runs_sample s
JOIN LATERAL (
    SELECT random() < 0.01 AS unscored, random() AS u,
        1 / (1 + exp(-(-1.5 + 1.1 * ((e.release_date - DATE '2024-01-01') / 365.25)
            - 0.55 * (ln(v.estimated_minutes) / ln(2) - 5)
            + ((v.id * 7919) %% 100 - 50) / 40.0))) AS p
    FROM runs_run r JOIN runs_modelendpoint e ON e.id = r.endpoint_id
    JOIN occupations_taskversion v ON v.id = s.task_version_id
    WHERE r.id = s.run_id
) x ON true
WHERE s.status = 'done'
"""


def timed_calls(call, calls: int) -> list[float]:
    times = []
    for _ in range(calls):
        started = time.perf_counter()
        call()
        times.append((time.perf_counter() - started) * 1000)
    return times


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--postgres", default=common.POSTGRES_SERVER)
    parser.add_argument("--database", default=DEFAULT_DATABASE)
    parser.add_argument("--keep", action="store_true", help="Keep the database afterwards.")
    options = parser.parse_args()
    print(f"Command: {common.command_line()}")
    print(f"Machine: {common.machine_line()}")
    print(common.speed_probe())
    with common.timed("Database created and migrated"):
        url = common.recreate_database(options.postgres, options.database)
    common.setup_django(url, "memory://")
    try:
        run(options)
    finally:
        from django.db import connections

        connections.close_all()
        if not options.keep:
            drop_database(options.postgres, options.database)
            print(f"Database {options.database} dropped")


def drop_database(server: str, name: str) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(f"{server}/postgres", autocommit=True) as admin:
        admin.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


def run(options: argparse.Namespace) -> None:
    from django.core.cache import cache
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from occupations.models import Occupation
    from reports import materialise, selectors
    from reports.models import TaskResult
    from runs.models import Sample

    common.heading("Data")
    with common.timed("World built (ORM: occupations, tasks, versions, models, runs)"):
        world = build_world()
    started = time.monotonic()
    with connection.cursor() as cursor:
        cursor.execute(SAMPLES_SQL, [ATTEMPTS - 1])
        samples = cursor.rowcount
        sampled = time.monotonic()
        cursor.execute(GRADES_SQL, [world["grader"].pk])
        grades = cursor.rowcount
        cursor.execute("ANALYZE")
    print(
        f"{samples:,} samples in {sampled - started:.1f} s, {grades:,} grades in "
        f"{time.monotonic() - sampled:.1f} s (INSERT ... SELECT)"
    )
    failed = Sample.objects.filter(status=Sample.Status.FAILED).count()
    print(f"  {failed:,} failed samples; {samples - failed:,} graded")

    common.heading("Refresh of the materialised results")
    started = time.monotonic()
    refreshed = materialise.refresh_all()
    whole = time.monotonic() - started
    print(f"refresh_all: {refreshed.rows:,} rows for {refreshed.graders} grader in {whole:.1f} s")
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE reports_taskresult")
    run_id = world["endpoints"][0].runs.get().pk
    started = time.monotonic()
    one = materialise.refresh_run(run_id)
    print(
        f"refresh_run (one model's run, 20,000 samples): {one.rows:,} rows in "
        f"{time.monotonic() - started:.2f} s"
    )
    print(f"  table: {TaskResult.objects.count():,} rows")

    common.heading("Selectors (what the pages call)")
    filters = selectors.ReportFilters(world["grader"])
    category = Occupation.objects.filter(level=Occupation.Level.MAJOR).order_by("code")[5]
    endpoint = world["endpoints"][-1]
    pages = {
        "national overview": lambda: selectors.national_overview(filters),
        f"category report ({category.code})": lambda: selectors.category_report(category, filters),
        f"model report ({endpoint.slug})": lambda: selectors.model_report(endpoint, filters),
    }
    print(
        f"{'page':<34} {'cold ms':>9} {'cold q':>7} {'warm p50':>9} {'warm p95':>9} {'warm q':>7}"
    )
    for name, call in pages.items():
        cache.clear()
        with CaptureQueriesContext(connection) as cold_queries:
            cold = timed_calls(call, 1)[0]
        with CaptureQueriesContext(connection) as warm_queries:
            call()
        warm = timed_calls(call, WARM_CALLS)
        print(
            f"{name:<34} {cold:9.0f} {len(cold_queries):7d} {statistics.median(warm):9.2f} "
            f"{percentile(warm, 0.95):9.2f} {len(warm_queries):7d}"
        )
    time_pages(world, category, endpoint)
    time_release(world)
    overview = selectors.national_overview(filters)
    print(
        f"\nNational index at 50 %: employment {overview.employment_index:.1%}, wages "
        f"{overview.wage_index:.1%}, coverage {overview.coverage:.1%} "
        f"({overview.occupations_met} of {overview.occupations} occupations met)"
    )
    report = selectors.category_report(category, filters)
    if report.success_trend is not None:
        to_50 = report.success_trend.to_50
        print(f"{category.code}: frontier reaches 50 % on {to_50.when} (extrapolation)")


def time_release(world: dict) -> None:
    """An official release of every model: preparing it (cold cache: every category and
    model report is computed) and building each export format from it."""
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.core.cache import cache

    from reports import exports, releases, selectors

    common.heading("An official release of all 50 models")
    # The bench grader has no expert validation; the gate is tested elsewhere.
    settings.EVALBUILDER_RELEASE_REQUIRES_VALIDATION = False
    analyst = get_user_model().objects.create_superuser("bench-analyst")
    endpoints = world["endpoints"]
    cache.clear()
    started = time.monotonic()
    release = releases.prepare_release(
        user=analyst,
        series="bench",
        title="Bench release",
        suite=world["suite"],
        grader=world["grader"],
        endpoints=endpoints,
        taxonomy=selectors.default_taxonomy(),
        period_start=min(e.release_date for e in endpoints),
        period_end=max(e.release_date for e in endpoints),
    )
    rows = sum(len(table) for table in release.tables.values())
    suppressed = release.methodology["suppressed"]
    print(
        f"prepare_release (cold): {time.monotonic() - started:.1f} s, {rows:,} rows, "
        f"{suppressed['primary']} primary and {suppressed['secondary']} secondary suppressions"
    )
    release = releases.approve(release, analyst)
    print(f"{'format':<16} {'seconds':>8} {'bytes':>10}")
    for key in exports.FORMATS:
        started = time.monotonic()
        file = exports.build(release, key)
        print(f"{key:<16} {time.monotonic() - started:8.2f} {len(file.data):10,}")


def time_pages(world: dict, category, endpoint) -> None:
    """Each page through Django's test client: cold (cache cleared) and warm (p50 / p95 of
    WARM_CALLS), with the queries of a cold and of a warm call."""
    from django.core.cache import cache
    from django.db import connection
    from django.test import Client
    from django.urls import reverse

    from occupations.models import Occupation

    common.heading("Pages (Django test client: selectors, charts and templates)")
    client = Client(HTTP_HOST="127.0.0.1")
    occupation = Occupation.objects.filter(job_category=category, level="detailed").first()
    other = world["endpoints"][-10]
    pages = {
        "/ (national overview)": reverse("reports:home"),
        f"category ({category.code})": reverse("reports:job_category", args=[category.pk]),
        f"occupation ({occupation.code})": reverse("reports:occupation", args=[occupation.pk]),
        f"model ({endpoint.slug})": reverse("reports:model", args=[endpoint.slug]),
        "compare (two models)": f"{reverse('reports:compare')}?a={endpoint.slug}&b={other.slug}",
    }

    def get(url: str) -> None:
        response = client.get(url)
        assert response.status_code == 200, (url, response.status_code)

    def queries(url: str) -> int:
        """Queries one request makes (a wrapper: the client resets connection.queries)."""
        count = 0

        def counted(execute, sql, params, many, context):
            nonlocal count
            count += 1
            return execute(sql, params, many, context)

        with connection.execute_wrapper(counted):
            get(url)
        return count

    print(
        f"{'page':<34} {'cold ms':>9} {'cold q':>7} {'warm p50':>9} {'warm p95':>9} {'warm q':>7}"
    )
    for name, url in pages.items():
        cache.clear()
        cold = timed_calls(lambda url=url: get(url), 1)[0]
        warm = timed_calls(lambda url=url: get(url), WARM_CALLS)
        warm_queries = queries(url)
        cache.clear()
        cold_queries = queries(url)
        print(
            f"{name:<34} {cold:9.0f} {cold_queries:7d} {statistics.median(warm):9.1f} "
            f"{percentile(warm, 0.95):9.1f} {warm_queries:7d}"
        )


if __name__ == "__main__":
    main()
