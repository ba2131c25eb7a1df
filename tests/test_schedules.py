import datetime
import json

import pytest
from celery import current_app
from django.utils import timezone
from django_celery_beat.models import PeriodicTask
from django_celery_beat.schedulers import DatabaseScheduler

from runs import services
from runs.models import Run, Schedule
from runs.tasks import run_schedule

pytestmark = pytest.mark.django_db


def make_schedule(suite, endpoints, **overrides) -> Schedule:
    values = {
        "name": "Weekly",
        "suite": suite,
        "endpoints": endpoints,
        "cron": "0 3 * * 1",
        "samples_per_task": 2,
    }
    values.update(overrides)
    return services.save_schedule(**values)


def test_saving_a_schedule_creates_its_beat_entry(small_suite, make_endpoint):
    schedule = make_schedule(small_suite, [make_endpoint("a"), make_endpoint("b")])
    entry = PeriodicTask.objects.get(pk=schedule.periodic_task_id)
    assert entry.task == "runs.tasks.run_schedule"
    assert json.loads(entry.kwargs) == {"schedule_id": schedule.pk}
    assert (entry.crontab.minute, entry.crontab.hour, entry.crontab.day_of_week) == ("0", "3", "1")
    assert entry.enabled


def test_changing_a_schedule_updates_the_same_beat_entry(small_suite, make_endpoint):
    endpoints = [make_endpoint("a")]
    first = make_schedule(small_suite, endpoints)
    second = make_schedule(small_suite, endpoints, cron="30 1 * * *", enabled=False)
    assert first.pk == second.pk
    assert PeriodicTask.objects.filter(name__startswith="evalbuilder schedule").count() == 1
    entry = PeriodicTask.objects.get(pk=second.periodic_task_id)
    assert (entry.crontab.minute, entry.crontab.hour) == ("30", "1")
    assert not entry.enabled


def test_a_bad_cron_expression_is_rejected_and_nothing_is_saved(small_suite, make_endpoint):
    with pytest.raises(ValueError, match="cron needs 5 fields"):
        make_schedule(small_suite, [make_endpoint("a")], cron="every monday")
    assert not Schedule.objects.exists()
    assert not PeriodicTask.objects.filter(name__startswith="evalbuilder").exists()


def test_deleting_a_schedule_removes_its_beat_entry(small_suite, make_endpoint):
    schedule = make_schedule(small_suite, [make_endpoint("a")])
    schedule.delete()
    assert not PeriodicTask.objects.filter(name__startswith="evalbuilder").exists()


def test_the_beat_scheduler_finds_the_schedule_and_knows_when_it_is_due(small_suite, make_endpoint):
    schedule = make_schedule(small_suite, [make_endpoint("a")], cron="0 * * * *")
    PeriodicTask.objects.filter(pk=schedule.periodic_task_id).update(
        last_run_at=timezone.now() - datetime.timedelta(hours=2)
    )
    scheduler = DatabaseScheduler(app=current_app, lazy=True)
    entries = scheduler.all_as_schedule()
    entry = entries[f"evalbuilder schedule {schedule.pk}"]
    assert entry.task == "runs.tasks.run_schedule"
    assert entry.kwargs == {"schedule_id": schedule.pk}
    assert entry.is_due().is_due


def test_a_fired_schedule_starts_one_run_per_active_model(small_suite, make_endpoint):
    active, inactive = make_endpoint("a"), make_endpoint("b", is_active=False)
    schedule = make_schedule(small_suite, [active, inactive])
    run_schedule(schedule.pk)
    run = Run.objects.get()
    assert run.endpoint == active
    assert run.schedule == schedule
    assert run.samples_per_task == 2
    assert run.planned_samples == 4


def test_a_disabled_or_deleted_schedule_starts_nothing(small_suite, make_endpoint):
    schedule = make_schedule(small_suite, [make_endpoint("a")], enabled=False)
    run_schedule(schedule.pk)
    run_schedule(schedule.pk + 1000)
    assert not Run.objects.exists()


@pytest.mark.parametrize(
    "cron,field",
    [
        ("61 * * * *", "minute"),
        ("0 25 * * *", "hour"),
        ("0 2 * * funday", "day of week"),
        ("0 2 32 * *", "day of month"),
    ],
)
def test_impossible_cron_values_are_rejected_naming_the_field(
    small_suite, make_endpoint, cron, field
):
    with pytest.raises(ValueError, match=f"cron field {field}"):
        make_schedule(small_suite, [make_endpoint("a")], cron=cron)
    schedule = Schedule(name="x", suite=small_suite, cron=cron)
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError) as caught:
        schedule.full_clean()
    assert "cron" in caught.value.message_dict
