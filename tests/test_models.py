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
    from runs.engine import task_messages

    task = Task.objects.filter(visibility=Task.Visibility.HELD_OUT).first()
    prompt = task_messages(task.latest_version())[-1]["content"]
    assert str(task.canary) in prompt
    public = Task.objects.filter(visibility=Task.Visibility.PUBLIC).first()
    assert "canary" not in task_messages(public.latest_version())[-1]["content"]
