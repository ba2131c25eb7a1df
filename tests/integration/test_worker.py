"""A schedule fired by a real beat process and run by a real Celery worker.

The broker is the one this test process uses: Redis when CELERY_BROKER_URL says so (CI),
otherwise the embedded filesystem broker.
"""

import datetime
import json

import pytest
from celery import current_app
from django.db import connection
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from graders.models import Grade
from runs import services
from runs.models import Run, Sample
from tests.integration.conftest import WORKER_ARGS, database_url, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_beat_fires_a_schedule_and_the_worker_samples_and_grades_it(
    small_suite, make_endpoint, simulated_grader, child_env, start_child, test_broker
):
    env = {**child_env, "DATABASE_URL": database_url(connection.settings_dict)}
    env["CELERY_BROKER_URL"] = current_app.conf.broker_url
    current_app.control.purge()  # messages left by other tests name rows that are gone
    models = [
        make_endpoint("sim-a", release_date=datetime.date(2023, 5, 1)),
        make_endpoint("sim-b", release_date=datetime.date(2025, 5, 1)),
    ]
    schedule = services.save_schedule(
        name="Nightly",
        suite=small_suite,
        endpoints=models,
        cron="0 2 * * *",
        samples_per_task=2,
    )
    # Beside the nightly cron entry, a one-off entry due now: beat must send it at once.
    every_second, _ = IntervalSchedule.objects.get_or_create(
        every=1, period=IntervalSchedule.SECONDS
    )
    PeriodicTask.objects.create(
        name="fire the schedule now",
        task="runs.tasks.run_schedule",
        interval=every_second,
        kwargs=json.dumps({"schedule_id": schedule.pk}),
        one_off=True,
    )
    worker = start_child("worker", WORKER_ARGS, env)
    beat = start_child(
        "beat",
        ["-m", "celery", "-A", "evalbuilder", "beat", "--loglevel=INFO", "--max-interval=1"],
        env,
    )

    def finished():
        statuses = list(Run.objects.values_list("status", flat=True))
        return len(statuses) == 2 and all(s == Run.Status.COMPLETED for s in statuses)

    try:
        wait_for(finished, timeout=120, what="both runs to complete")
    except AssertionError:
        print(worker.output()[-5000:], beat.output()[-3000:])
        raise
    assert Run.objects.filter(schedule=schedule).count() == 2, "the one-off entry fired once"
    for run in Run.objects.all():
        assert run.samples.count() == 4
        assert run.samples.filter(status=Sample.Status.DONE).count() == 4
        assert Grade.objects.filter(sample__run=run, status=Grade.Status.SCORED).count() == 4
    assert "Scheduler: Sending due task fire the schedule now" in beat.output()
