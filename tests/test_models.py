import pytest

from occupations.models import LockedVersionError, RubricCriterion, Task, TaskVersion

pytestmark = pytest.mark.django_db


def test_a_published_version_cannot_be_edited(seeded):
    version = TaskVersion.objects.filter(submitted_at__isnull=False).first()
    version.instructions = "Something else"
    with pytest.raises(LockedVersionError):
        version.save()
    with pytest.raises(LockedVersionError):
        version.delete()


def test_the_rubric_of_a_published_version_cannot_change(seeded):
    version = TaskVersion.objects.filter(submitted_at__isnull=False).first()
    criterion = version.criteria.first()
    criterion.points = 1
    with pytest.raises(LockedVersionError):
        criterion.save()
    with pytest.raises(LockedVersionError):
        RubricCriterion.objects.create(task_version=version, order=99, text="New", points=1)


def test_a_draft_version_can_be_edited_until_it_is_locked(seeded):
    task = Task.objects.first()
    draft = TaskVersion.objects.create(
        task=task,
        number=99,
        instructions="Draft",
        deliverable="Memo",
        estimated_minutes=30,
        reference_solution="Answer",
    )
    draft.instructions = "Better draft"
    draft.save()
    draft.lock()
    draft.refresh_from_db()
    assert draft.instructions == "Better draft"
    assert draft.is_locked


def test_a_major_group_is_its_own_job_category_and_its_members_point_at_it(seeded):
    from occupations.models import Occupation

    major = Occupation.objects.get(code="29-0000")
    nurse = Occupation.objects.get(code="29-1141")
    assert major.job_category_id == major.pk
    assert major.is_job_category
    assert nurse.job_category_id == major.pk
    assert not nurse.is_job_category


def test_held_out_tasks_carry_a_canary_in_their_prompt(seeded):
    from runs.prompting import task_messages

    task = Task.objects.filter(visibility=Task.Visibility.HELD_OUT).first()
    prompt = task_messages(task.latest_version())[-1]["content"]
    assert str(task.canary) in prompt
    public = Task.objects.filter(visibility=Task.Visibility.PUBLIC).first()
    assert "canary" not in task_messages(public.latest_version())[-1]["content"]


def test_bulk_updates_and_deletes_cannot_touch_published_versions(seeded):
    versions = TaskVersion.objects.filter(submitted_at__isnull=False)
    with pytest.raises(LockedVersionError):
        versions.update(instructions="rewritten")
    with pytest.raises(LockedVersionError):
        versions.delete()
    criteria = RubricCriterion.objects.filter(task_version__in=versions)
    with pytest.raises(LockedVersionError):
        criteria.update(points=1)
    with pytest.raises(LockedVersionError):
        criteria.delete()
    with pytest.raises(LockedVersionError):
        criteria.first().delete()
    assert RubricCriterion.objects.filter(points=1).count() < RubricCriterion.objects.count()


def test_a_suite_used_by_a_run_keeps_its_task_versions(seeded):
    from django.db import transaction

    from occupations.models import Suite

    suite = Suite.objects.get(slug="demo")
    version = suite.task_versions.first()
    outsider = Suite.objects.create(name="Other", slug="other")
    suite.freeze()
    attempts = [
        lambda: suite.task_versions.remove(version),
        lambda: suite.task_versions.clear(),
        lambda: version.suites.remove(suite),
        lambda: version.suites.clear(),
    ]
    for attempt in attempts:
        with pytest.raises(LockedVersionError), transaction.atomic():
            attempt()
    assert suite.task_versions.count() == 15
    outsider.task_versions.add(version)
    Suite.objects.filter(pk=outsider.pk).update(frozen_at="2026-01-01T00:00Z")
    with pytest.raises(LockedVersionError, match="other"), transaction.atomic():
        version.suites.set([])
    open_suite = Suite.objects.create(name="Open", slug="open")
    version.suites.add(open_suite)
    open_suite.task_versions.remove(version)
    assert not open_suite.task_versions.exists()
