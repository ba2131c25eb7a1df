import datetime

import pytest
from django.core.management import call_command
from django.db.models import Count, Q, Sum

from graders import services as grading
from graders.models import Grade, Grader
from reports import materialise
from reports.models import ResultsVersion, TaskResult
from runs import services
from runs.models import Run, Sample

pytestmark = pytest.mark.django_db


def run_graded(demo_suite, endpoint, capture, samples_per_task=2) -> Run:
    with capture(execute=True):
        run = services.create_run(demo_suite, endpoint, samples_per_task=samples_per_task)
    run.refresh_from_db()
    assert run.status == Run.Status.COMPLETED
    return run


@pytest.fixture
def two_runs(
    eager_celery, demo_suite, make_endpoint, simulated_grader, django_capture_on_commit_callbacks
) -> list[Run]:
    return [
        run_graded(
            demo_suite,
            make_endpoint(slug, release_date=released, family=family),
            django_capture_on_commit_callbacks,
        )
        for slug, released, family in (
            ("sim-early", datetime.date(2023, 6, 1), "Aster"),
            ("sim-late", datetime.date(2025, 6, 1), "Borealis"),
        )
    ]


def direct_aggregation(grader: Grader) -> dict[tuple, tuple]:
    """The same figures straight from grades and samples, to check the materialised table."""
    completed = Q(sample__run__status=Run.Status.COMPLETED)
    figures = {}
    for row in (
        Grade.objects.filter(completed, grader=grader, expert__isnull=True)
        .values("sample__run__endpoint", "sample__run__suite", "sample__task_version")
        .annotate(
            n=Count("pk", filter=Q(status=Grade.Status.SCORED)),
            c=Count("pk", filter=Q(status=Grade.Status.SCORED, success=True)),
            s=Sum("score", filter=Q(status=Grade.Status.SCORED)),
            u=Count("pk", filter=Q(status=Grade.Status.UNSCORED)),
        )
    ):
        key = (
            row["sample__run__endpoint"],
            row["sample__run__suite"],
            row["sample__task_version"],
        )
        figures[key] = (row["n"], row["c"], pytest.approx(row["s"] or 0.0), row["u"])
    return figures


def materialised(grader: Grader) -> dict[tuple, tuple]:
    return {
        (r.endpoint_id, r.suite_id, r.task_version_id): (
            r.attempts,
            r.successes,
            r.score_sum,
            r.unscored,
        )
        for r in TaskResult.objects.filter(grader=grader)
    }


def test_finishing_a_run_materialises_exactly_what_its_grades_say(two_runs, simulated_grader):
    expected = direct_aggregation(simulated_grader)
    assert len(expected) == 2 * Sample.objects.values("task_version").distinct().count()
    assert materialised(simulated_grader) == expected
    row = TaskResult.objects.select_related("task_version__task__occupation", "endpoint").first()
    occupation = row.task_version.task.occupation
    assert row.occupation_id == occupation.pk
    assert row.job_category_id == occupation.job_category_id
    assert row.estimated_minutes == row.task_version.estimated_minutes
    assert row.visibility == row.task_version.task.visibility
    assert row.attempts + row.unscored + row.failed == 2


def test_a_refresh_is_idempotent_and_bumps_the_results_version(two_runs, simulated_grader):
    before = materialised(simulated_grader)
    version = ResultsVersion.objects.get(grader=simulated_grader)
    written = materialise.refresh_run(two_runs[0].pk)
    assert written.graders == 1 and written.rows == len(before) // 2
    assert materialised(simulated_grader) == before
    after = ResultsVersion.objects.get(grader=simulated_grader)
    assert after.token != version.token and after.refreshes == version.refreshes + 1


def test_only_completed_runs_count(two_runs, simulated_grader):
    early, late = two_runs
    Run.objects.filter(pk=late.pk).update(status=Run.Status.CANCELLED)
    materialise.refresh_run(late.pk)
    endpoints = set(TaskResult.objects.values_list("endpoint_id", flat=True))
    assert endpoints == {early.endpoint_id}
    assert materialised(simulated_grader) == direct_aggregation(simulated_grader)


def test_failed_samples_are_counted_for_their_task(two_runs, simulated_grader):
    early = two_runs[0]
    sample = Sample.objects.filter(run=early).first()
    Grade.objects.filter(sample=sample).delete()
    Sample.objects.filter(pk=sample.pk).update(status=Sample.Status.FAILED)
    materialise.refresh_run(early.pk)
    row = TaskResult.objects.get(
        grader=simulated_grader, endpoint=early.endpoint, task_version=sample.task_version
    )
    assert row.failed == 1 and row.attempts + row.unscored == 1


def test_regrading_a_completed_run_refreshes_its_results(
    two_runs, simulated_grader, make_endpoint, django_capture_on_commit_callbacks
):
    rival = Grader.objects.create(name="Rival judge", judge=make_endpoint("rival-judge"))
    early = two_runs[0]
    assert not TaskResult.objects.filter(grader=rival).exists()
    sample_ids = list(Sample.objects.filter(run=early).values_list("pk", flat=True))
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        grading.grade_samples(sample_ids, [rival])
    assert callbacks, "the regrade enqueued a refresh"
    assert materialised(rival) == direct_aggregation(rival)
    assert set(TaskResult.objects.filter(grader=rival).values_list("endpoint", flat=True)) == {
        early.endpoint_id
    }


def test_grading_that_writes_nothing_sends_no_refresh(
    two_runs, simulated_grader, django_capture_on_commit_callbacks
):
    sample_ids = list(Sample.objects.filter(run=two_runs[0]).values_list("pk", flat=True))
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        written = grading.grade_samples(sample_ids, [simulated_grader])
    assert written == 0 and callbacks == []


def test_the_command_rebuilds_everything(two_runs, simulated_grader, capsys):
    before = materialised(simulated_grader)
    TaskResult.objects.all().delete()
    call_command("refresh_reports")
    assert materialised(simulated_grader) == before
    call_command("refresh_reports", run=two_runs[0].pk)
    call_command("refresh_reports", grader=simulated_grader.pk)
    assert materialised(simulated_grader) == before
    assert "rows" in capsys.readouterr().out


def test_samples_replayed_from_the_response_cache_are_not_counted_again(
    two_runs, simulated_grader, django_capture_on_commit_callbacks
):
    before = materialised(simulated_grader)
    early = two_runs[0]
    replay = run_graded(early.suite, early.endpoint, django_capture_on_commit_callbacks)
    assert materialised(simulated_grader) != before  # fresh samples pool
    Sample.objects.filter(run=replay).update(cached=True)
    materialise.refresh_run(replay.pk)
    assert materialised(simulated_grader) == before


def test_deleting_a_run_removes_its_results(
    two_runs, simulated_grader, django_capture_on_commit_callbacks
):
    early, late = two_runs
    before = materialised(simulated_grader)
    version = ResultsVersion.objects.get(grader=simulated_grader).token
    with django_capture_on_commit_callbacks(execute=True):
        late.delete()
    assert set(TaskResult.objects.values_list("endpoint_id", flat=True)) == {early.endpoint_id}
    assert materialised(simulated_grader) == {
        key: value for key, value in before.items() if key[0] == early.endpoint_id
    }
    assert ResultsVersion.objects.get(grader=simulated_grader).token != version
