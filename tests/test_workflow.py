"""The review workflow, quality checks and who may see what, as services."""

import pytest
from django.test import override_settings

from occupations import permissions, workflow
from occupations.models import Review, Task, TaskEvent
from occupations.quality import check_version
from tests.authoring import (
    good_criteria,
    make_world,
    publish_through_review,
    resave,
    write_draft,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(seeded):
    return make_world()


def test_a_task_goes_from_draft_through_two_reviews_to_published(world):
    author, first, second = (world.users[u] for u in ("author_a", "reviewer_a", "reviewer_a2"))
    version = write_draft(author, world.occupation_a)
    task = version.task
    assert task.status == Task.Status.DRAFT
    workflow.submit(version, user=author)
    version.refresh_from_db()
    assert version.is_locked
    task.refresh_from_db()
    assert task.status == Task.Status.IN_REVIEW
    workflow.review(version, reviewer=first, decision=Review.Decision.APPROVE)
    task.refresh_from_db()
    assert task.status == Task.Status.IN_REVIEW, "one approval of two is not enough"
    workflow.review(version, reviewer=second, decision=Review.Decision.APPROVE)
    task.refresh_from_db()
    assert task.status == Task.Status.APPROVED
    workflow.publish(task, user=first)
    task.refresh_from_db()
    assert task.status == Task.Status.PUBLISHED
    assert task.published_version == version
    assert Task.objects.published().filter(pk=task.pk).exists()
    actions = list(task.events.values_list("action", "actor__username"))
    assert actions == [
        ("created", "author_a"),
        ("saved", "author_a"),
        ("submitted", "author_a"),
        ("approved", "reviewer_a"),
        ("approved", "reviewer_a2"),
        ("published", "reviewer_a"),
    ]
    assert task.events.get(action=TaskEvent.Action.PUBLISHED).to_status == "published"


@override_settings(EVALBUILDER_REQUIRED_APPROVALS=1)
def test_the_number_of_approvals_is_configurable(world):
    version = write_draft(world.users["author_a"], world.occupation_a)
    workflow.submit(version, user=world.users["author_a"])
    workflow.review(version, reviewer=world.users["reviewer_a"], decision="approve")
    version.task.refresh_from_db()
    assert version.task.status == Task.Status.APPROVED


def test_authors_cannot_review_their_own_task_nor_review_twice(world):
    author, reviewer = world.users["author_a"], world.users["reviewer_a"]
    version = write_draft(author, world.occupation_a)
    workflow.submit(version, user=author)
    with pytest.raises(workflow.WorkflowError, match="own task"):
        workflow.review(version, reviewer=author, decision="approve")
    assert not permissions.can_review(author, version.task)
    workflow.review(version, reviewer=reviewer, decision="approve")
    with pytest.raises(workflow.WorkflowError, match="already"):
        workflow.review(version, reviewer=reviewer, decision="approve")


def test_requested_changes_lead_to_a_new_version_and_the_old_one_stays_frozen(world):
    author, reviewer = world.users["author_a"], world.users["reviewer_a"]
    version = write_draft(author, world.occupation_a)
    workflow.submit(version, user=author)
    with pytest.raises(workflow.WorkflowError, match="what should change"):
        workflow.review(version, reviewer=reviewer, decision="request_changes")
    workflow.review(version, reviewer=reviewer, decision="request_changes", note="Cite sources.")
    task = Task.objects.get(pk=version.task_id)
    assert task.status == Task.Status.CHANGES_REQUESTED
    draft = workflow.start_new_version(task, user=author)
    assert draft.number == 2 and not draft.is_locked
    assert [c.text for c in draft.criteria.order_by("order")] == [c.text for c in good_criteria()]
    resave(draft, author, criteria=good_criteria(), deliverable="A table with sources.")
    version.refresh_from_db()
    assert version.deliverable == "A table: date, event, source document."
    task.refresh_from_db()
    assert task.status == Task.Status.DRAFT


def test_editing_a_published_task_makes_a_new_draft_and_keeps_the_published_version(world):
    author = world.users["author_a"]
    reviewers = [world.users["reviewer_a"], world.users["reviewer_a2"]]
    version = write_draft(author, world.occupation_a)
    task = publish_through_review(version, author, reviewers)
    workflow.publish(task, user=reviewers[0])
    draft = workflow.start_new_version(task, user=author)
    task.refresh_from_db()
    assert task.published_version == version
    assert draft.number == 2
    assert Task.objects.published().filter(pk=task.pk).exists()
    with pytest.raises(workflow.WorkflowError, match="cannot change"):
        workflow.save_draft(
            version,
            user=author,
            expected_revision=version.revision,
            title="x",
            visibility="public",
            fields={n: getattr(version, n) for n in workflow.VERSION_FIELDS},
            criteria=good_criteria(),
        )


def test_two_people_saving_the_same_draft_do_not_overwrite_each_other(world):
    author = world.users["author_a"]
    version = write_draft(author, world.occupation_a)
    loaded_by_both = version.revision
    fields = {n: getattr(version, n) for n in workflow.VERSION_FIELDS}
    workflow.save_draft(
        version,
        user=author,
        expected_revision=loaded_by_both,
        title="First",
        visibility="public",
        fields={**fields, "deliverable": "First person's text"},
        criteria=good_criteria(),
    )
    with pytest.raises(workflow.ConcurrentEditError, match="not saved"):
        workflow.save_draft(
            version,
            user=author,
            expected_revision=loaded_by_both,
            title="Second",
            visibility="public",
            fields={**fields, "deliverable": "Second person's text"},
            criteria=good_criteria(),
        )
    version.refresh_from_db()
    assert version.deliverable == "First person's text"
    assert version.task.title == "First"


def test_quality_checks_block_submission_until_fixed(world):
    author = world.users["author_a"]
    version = write_draft(author, world.occupation_a, instructions="Too short.")
    duplicate = [
        *good_criteria(),
        workflow.CriterionDraft("Lists the 14 March termination letter as an event.", 2),
    ]
    version = resave(version, author, criteria=duplicate, minutes_estimate_method="")
    fields = {p.field for p in check_version(version)}
    assert fields == {"instructions", "minutes_estimate_method", "rubric"}
    duplicate_problem = next(p for p in check_version(version) if p.field == "rubric")
    assert duplicate_problem.criterion == 5
    with pytest.raises(workflow.NotReadyError) as caught:
        workflow.submit(version, user=author)
    assert len(caught.value.problems) == 3
    version.refresh_from_db()
    assert not version.is_locked


def test_a_rubric_without_positive_points_is_not_ready(world):
    author = world.users["author_a"]
    version = write_draft(author, world.occupation_a)
    version = resave(
        version, author, criteria=[workflow.CriterionDraft("Invents facts not in the file", -5)]
    )
    assert [p.field for p in check_version(version)] == ["rubric"]


def test_panels_scope_what_each_expert_sees(world):
    users = world.users
    held_out = write_draft(
        users["author_a"], world.occupation_a, title="Secret", visibility="held_out"
    ).task
    public = write_draft(users["author_a"], world.occupation_a, title="Open").task
    assert permissions.can_view(users["author_a"], held_out)
    assert permissions.can_view(users["reviewer_a"], held_out)
    assert permissions.can_view(users["operator"], held_out)
    assert permissions.can_view(users["admin"], held_out)
    assert not permissions.can_view(users["author_b"], held_out)
    assert not permissions.can_view(users["author_b"], public)
    assert not permissions.can_view(users["analyst"], held_out)
    assert permissions.can_view(users["analyst"], public)
    assert permissions.can_author(users["author_a"], public)
    assert not permissions.can_author(users["reviewer_a"], public)
    assert not permissions.can_author(users["operator"], public)


def published_task(world, **draft):
    author = world.users["author_a"]
    reviewers = [world.users["reviewer_a"], world.users["reviewer_a2"]]
    task = publish_through_review(
        write_draft(author, world.occupation_a, **draft), author, reviewers
    )
    workflow.publish(task, user=reviewers[0])
    task.refresh_from_db()
    return task


def test_only_a_published_task_can_be_retired_and_a_retired_one_stays_retired(world):
    author = world.users["author_a"]
    draft = write_draft(author, world.occupation_a, title="Not yet")
    with pytest.raises(workflow.WorkflowError, match="Only a published task"):
        workflow.retire(draft.task, user=world.users["reviewer_a"])
    task = published_task(world)
    workflow.retire(task, user=world.users["reviewer_a"])
    assert not Task.objects.published().filter(pk=task.pk).exists()
    with pytest.raises(workflow.WorkflowError, match="retired"):
        workflow.start_new_version(task, user=author)


def test_a_published_task_stays_retirable_while_a_new_draft_is_open(world):
    task = published_task(world)
    workflow.start_new_version(task, user=world.users["author_a"])
    workflow.retire(task, user=world.users["reviewer_a"])
    task.refresh_from_db()
    assert task.status == Task.Status.RETIRED


def test_visibility_and_title_cannot_change_after_review_except_by_an_admin(world):
    task = published_task(world, title="Secret", visibility="held_out")
    author = world.users["author_a"]
    draft = workflow.start_new_version(task, user=author)
    fields = {n: getattr(draft, n) for n in workflow.VERSION_FIELDS}
    with pytest.raises(workflow.WorkflowError, match="administrator"):
        workflow.save_draft(
            draft,
            user=author,
            expected_revision=draft.revision,
            title="Secret",
            visibility="public",
            fields=fields,
            criteria=good_criteria(),
        )
    task.refresh_from_db()
    assert task.visibility == Task.Visibility.HELD_OUT
    assert not permissions.can_view(world.users["analyst"], task)
    workflow.save_draft(
        draft,
        user=world.users["admin"],
        expected_revision=draft.revision,
        title="Renamed",
        visibility="held_out",
        fields=fields,
        criteria=good_criteria(),
    )
    task.refresh_from_db()
    assert task.title == "Renamed"


def test_approvals_of_an_earlier_version_do_not_count_and_its_reviewers_see_the_next(world):
    from occupations.views import _review_queue

    author, first = world.users["author_a"], world.users["reviewer_a"]
    version = write_draft(author, world.occupation_a)
    workflow.submit(version, user=author)
    workflow.review(version, reviewer=first, decision="approve")
    workflow.review(
        version,
        reviewer=world.users["reviewer_a2"],
        decision="request_changes",
        note="Add sources.",
    )
    draft = workflow.start_new_version(version.task, user=author)
    workflow.submit(draft, user=author)
    assert workflow.approvals(draft) == 0
    assert list(_review_queue(first)) == [version.task]
    workflow.review(draft, reviewer=first, decision="approve")
    assert not _review_queue(first).exists()
    draft.task.refresh_from_db()
    assert draft.task.status == Task.Status.IN_REVIEW, "one approval of this version so far"


def test_an_editor_opened_on_an_older_version_cannot_overwrite_the_new_draft(world):
    task = published_task(world)
    author = world.users["author_a"]
    draft = workflow.start_new_version(task, user=author)
    # A tab left open on version 1 when it was new had revision 0, as the new draft has now.
    assert draft.revision == 0
    with pytest.raises(workflow.ConcurrentEditError, match="opened on version 1"):
        workflow.save_draft(
            draft,
            user=author,
            expected_revision=0,
            expected_version=1,
            title=task.title,
            visibility=task.visibility,
            fields={n: getattr(draft, n) for n in workflow.VERSION_FIELDS},
            criteria=[workflow.CriterionDraft("Something else entirely", 2)],
        )
    assert draft.criteria.count() == len(good_criteria())


def test_reviewers_who_own_a_task_cannot_publish_or_retire_it(world):
    author_reviewer = world.users["reviewer_a"]
    from occupations.models import Panel, PanelMembership

    PanelMembership.objects.create(
        panel=world.panel_a, user=author_reviewer, role=Panel.Role.AUTHOR
    )
    version = write_draft(author_reviewer, world.occupation_a)
    assert not permissions.can_decide(author_reviewer, version.task)
    assert permissions.can_decide(world.users["reviewer_a2"], version.task)
    assert not permissions.can_comment(world.users["analyst"], version.task)
    assert permissions.can_comment(world.users["operator"], version.task)


def test_criteria_that_differ_only_in_a_figure_are_not_duplicates(world):
    author = world.users["author_a"]
    version = write_draft(author, world.occupation_a)
    version = workflow.save_draft(
        version,
        user=author,
        expected_revision=version.revision,
        title="Chronology",
        visibility="public",
        fields={n: getattr(version, n) for n in workflow.VERSION_FIELDS},
        criteria=[
            workflow.CriterionDraft("Cites clause 4.1 of the lease", 2),
            workflow.CriterionDraft("Cites clause 4.2 of the lease", 2),
        ],
    )
    assert check_version(version) == []
