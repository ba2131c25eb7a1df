"""The review workflow of a task: drafts, submission, independent review, publication.

draft -> in review -> changes requested | approved -> published -> retired

Submitted versions are frozen. Changing a task after submission starts a new draft
version, copied from the latest one. Every transition is recorded as a TaskEvent.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify

from audit import trail
from occupations import attachments
from occupations.models import (
    Comment,
    Occupation,
    Review,
    RubricCriterion,
    Task,
    TaskEvent,
    TaskVersion,
)
from occupations.quality import QualityProblem, check_version

VERSION_FIELDS = TaskVersion.CONTENT_FIELDS


class WorkflowError(ValueError):
    """An action that the task's state or the user's role does not allow."""


class ConcurrentEditError(WorkflowError):
    """The draft changed since the editor loaded it; saving would overwrite someone's work."""


class NotReadyError(WorkflowError):
    """Quality checks block submission."""

    def __init__(self, problems: list[QualityProblem]) -> None:
        self.problems = problems
        super().__init__(f"{len(problems)} problem(s) block submission")


@dataclass(frozen=True)
class CriterionDraft:
    """A rubric row as the editor sends it."""

    text: str
    points: int
    tag: str = RubricCriterion.Tag.ACCURACY
    critical: bool = False
    pk: int | None = None
    """The criterion this row edits; None for a new one."""


def _record(
    task: Task, version: TaskVersion | None, actor, action: str, *, before: str = "", note: str = ""
) -> None:
    TaskEvent.objects.create(
        task=task,
        version=version,
        actor=actor,
        action=action,
        from_status=before,
        to_status=task.status,
        note=note,
    )


def _update_criteria(version: TaskVersion, criteria: list[CriterionDraft]) -> None:
    """Edit the draft's rubric in place, so comments anchored to a criterion keep it."""
    existing = {c.pk: c for c in version.criteria.all()}
    kept = {c.pk for c in criteria if c.pk in existing}
    # Each removed criterion is recorded as a deletion of its own (post_delete).
    version.criteria.exclude(pk__in=kept).delete()
    # Orders are unique per version: move the kept rows out of the way before renumbering.
    moved = [existing[pk] for pk in kept]
    for criterion in moved:
        criterion.order += 10_000
    RubricCriterion.objects.bulk_update(moved, ["order"])
    changed, added = [], []
    edited = 0
    for order, draft in enumerate(criteria, 1):
        values = {
            "order": order,
            "text": draft.text,
            "points": draft.points,
            "tag": draft.tag,
            "critical": draft.critical,
        }
        if draft.pk in kept:
            criterion = existing[draft.pk]
            before = {name: getattr(criterion, name) for name in values}
            before["order"] -= 10_000  # undo the move out of the way above
            for name, value in values.items():
                setattr(criterion, name, value)
            changed.append(criterion)
            edited += before != values
        else:
            added.append(RubricCriterion(task_version=version, **values))
    RubricCriterion.objects.bulk_update(changed, ["order", "text", "points", "tag", "critical"])
    RubricCriterion.objects.bulk_create(added)
    trail.record_rubric_change(version, added=len(added), changed=edited)


# Saves by one person within this window are one entry in the history, so autosaves do not
# push reviews out of view.
SAVE_EVENT_WINDOW = timedelta(minutes=30)


def _record_save(task: Task, version: TaskVersion, user) -> None:
    last = task.events.order_by("-created_at", "-pk").first()
    recent = timezone.now() - SAVE_EVENT_WINDOW
    if (
        last is not None
        and last.action == TaskEvent.Action.SAVED
        and last.actor_id == user.pk
        and last.version_id == version.pk
        and last.created_at >= recent
    ):
        TaskEvent.objects.filter(pk=last.pk).update(created_at=timezone.now())
        return
    _record(task, version, user, TaskEvent.Action.SAVED)


def is_submitted_before(task: Task) -> bool:
    """Whether any version of the task was ever submitted for review."""
    return task.versions.filter(submitted_at__isnull=False).exists()


def _set_status(task: Task, status: str) -> str:
    before = task.status
    task.status = status
    task.save(update_fields=["status", "updated_at"])
    return before


def unique_slug(title: str) -> str:
    base = slugify(title)[:100] or "task"
    slug, n = base, 2
    while Task.objects.filter(slug=slug).exists():
        slug, n = f"{base}-{n}", n + 1
    return slug


@transaction.atomic
def create_task(*, author, occupation: Occupation, title: str, visibility: str) -> Task:
    """A new task with an empty first draft, owned by its author."""
    task = Task.objects.create(
        slug=unique_slug(title), occupation=occupation, title=title, visibility=visibility
    )
    task.owners.add(author)
    TaskVersion.objects.create(
        task=task,
        number=1,
        instructions="",
        deliverable="",
        estimated_minutes=60,
        reference_solution="",
        created_by=author,
        updated_by=author,
    )
    _record(task, task.latest_version(), author, TaskEvent.Action.CREATED)
    return task


@transaction.atomic
def save_draft(
    version: TaskVersion,
    *,
    user,
    expected_revision: int,
    title: str,
    visibility: str,
    fields: dict,
    criteria: list[CriterionDraft],
    expected_version: int | None = None,
) -> TaskVersion:
    """Save the editor's content over a draft, refusing if someone saved it in between.

    `expected_version` is the version number the editor was opened on: an editor left open
    on an older version must not write over a newer draft whose revision happens to match.
    Title and visibility may change only until the task is first submitted: after that,
    they are part of what reviewers approved (an admin can still change them).
    """
    version = TaskVersion.objects.select_for_update().select_related("task").get(pk=version.pk)
    if version.is_locked:
        raise WorkflowError("This version was submitted and cannot change; start a new version.")
    if expected_version is not None and expected_version != version.number:
        raise ConcurrentEditError(
            f"This editor was opened on version {expected_version}, but the draft is now "
            f"version {version.number}. Your changes were not saved: copy them, reload, and "
            "apply them again."
        )
    if version.revision != expected_revision:
        raise ConcurrentEditError(
            f"Someone saved this draft since you opened it (revision {version.revision}, "
            f"yours {expected_revision}). Your changes were not saved: copy them, reload, "
            "and apply them again."
        )
    task = version.task
    if (task.title, task.visibility) != (title, visibility):
        if is_submitted_before(task) and not user.is_superuser:
            raise WorkflowError(
                "The title and visibility were reviewed with an earlier version; ask an "
                "administrator to change them."
            )
        task.title, task.visibility = title, visibility
        task.save(update_fields=["title", "visibility", "updated_at"])
    for name in VERSION_FIELDS:
        setattr(version, name, fields[name])
    version.revision += 1
    version.updated_by = user
    version.save()
    _update_criteria(version, criteria)
    task.owners.add(user)
    _record_save(task, version, user)
    return version


@transaction.atomic
def start_new_version(task: Task, *, user) -> TaskVersion:
    """A new draft copied from the latest version (content, rubric, attachments and the
    task statements it cites)."""
    task = Task.objects.select_for_update().get(pk=task.pk)
    latest = task.latest_version()
    if not latest.is_locked:
        return latest  # a draft is already open: edit that one
    if task.status == Task.Status.RETIRED:
        raise WorkflowError("The task is retired; write a new task instead.")
    if task.status == Task.Status.IN_REVIEW:
        raise WorkflowError("The task is in review; wait for the reviewers' decision.")
    if task.status == Task.Status.APPROVED:
        raise WorkflowError(
            "The task is approved: publish it first, so the approvals are not thrown away."
        )
    version = TaskVersion.objects.create_with_rubric(
        task=task,
        number=latest.number + 1,
        content={name: getattr(latest, name) for name in VERSION_FIELDS},
        criteria=latest.criteria.order_by("order").values("text", "points", "tag", "critical"),
        user=user,
    )
    attachments.copy_attachments(latest, version)
    version.task_statements.set(latest.task_statements.all())
    before = _set_status(task, Task.Status.DRAFT)
    _record(task, version, user, TaskEvent.Action.NEW_VERSION, before=before)
    return version


@transaction.atomic
def submit(version: TaskVersion, *, user, expected_revision: int | None = None) -> None:
    """Freeze the draft and send it to review, if it passes the quality checks.

    With `expected_revision`, a draft saved by someone else since is not frozen unseen.
    """
    version = TaskVersion.objects.select_for_update().select_related("task").get(pk=version.pk)
    if version.is_locked:
        raise WorkflowError("This version was submitted already.")
    if expected_revision is not None and version.revision != expected_revision:
        raise ConcurrentEditError(
            "Someone saved this draft just now; read their changes before submitting."
        )
    problems = check_version(version)
    if problems:
        raise NotReadyError(problems)
    version.lock()
    before = _set_status(version.task, Task.Status.IN_REVIEW)
    _record(version.task, version, user, TaskEvent.Action.SUBMITTED, before=before)


def approvals(version: TaskVersion) -> int:
    return version.reviews.filter(decision=Review.Decision.APPROVE).count()


def required_approvals() -> int:
    return settings.EVALBUILDER_REQUIRED_APPROVALS


@transaction.atomic
def review(version: TaskVersion, *, reviewer, decision: str, note: str = "") -> Review:
    """Record an independent reviewer's decision; enough approvals approve the task."""
    task = Task.objects.select_for_update().get(pk=version.task_id)
    if task.status != Task.Status.IN_REVIEW or task.latest_version() != version:
        raise WorkflowError("Only the version in review can be reviewed.")
    if task.owners.filter(pk=reviewer.pk).exists():
        raise WorkflowError("Authors cannot review their own task.")
    if version.reviews.filter(reviewer=reviewer).exists():
        raise WorkflowError("You have reviewed this version already.")
    if decision == Review.Decision.REQUEST_CHANGES and not note.strip():
        raise WorkflowError("Say what should change.")
    given = Review.objects.create(version=version, reviewer=reviewer, decision=decision, note=note)
    if decision == Review.Decision.REQUEST_CHANGES:
        before = _set_status(task, Task.Status.CHANGES_REQUESTED)
        _record(
            task, version, reviewer, TaskEvent.Action.CHANGES_REQUESTED, before=before, note=note
        )
    else:
        before = task.status
        if approvals(version) >= required_approvals():
            _set_status(task, Task.Status.APPROVED)
        _record(task, version, reviewer, TaskEvent.Action.APPROVED, before=before, note=note)
    return given


@transaction.atomic
def publish(task: Task, *, user) -> TaskVersion:
    """Make the approved version the one suites and reports use."""
    task = Task.objects.select_for_update().get(pk=task.pk)
    if task.status != Task.Status.APPROVED:
        raise WorkflowError("Only an approved task can be published.")
    version = task.latest_version()
    published_at = timezone.now()
    TaskVersion.objects.filter(pk=version.pk).update(published_at=published_at)
    before = None if version.published_at is None else version.published_at.isoformat()
    trail.record_transition(version, "published_at", before, published_at.isoformat())
    version.published_at = published_at
    task.published_version = version
    task.status = Task.Status.PUBLISHED
    task.save(update_fields=["published_version", "status", "updated_at"])
    _record(task, version, user, TaskEvent.Action.PUBLISHED, before=Task.Status.APPROVED)
    return version


@transaction.atomic
def retire(task: Task, *, user, note: str = "") -> None:
    """Take a published task out of use; suites that hold it keep their versions."""
    task = Task.objects.select_for_update().get(pk=task.pk)
    if task.status == Task.Status.RETIRED:
        raise WorkflowError("The task is retired already.")
    if task.published_version_id is None:
        raise WorkflowError("Only a published task can be retired.")
    before = _set_status(task, Task.Status.RETIRED)
    _record(task, task.latest_version(), user, TaskEvent.Action.RETIRED, before=before, note=note)


@transaction.atomic
def comment(version: TaskVersion, *, user, body: str, criterion: RubricCriterion | None = None):
    if not body.strip():
        raise WorkflowError("A comment needs some text.")
    if criterion is not None and criterion.task_version_id != version.pk:
        raise WorkflowError("That criterion belongs to another version.")
    made = Comment.objects.create(version=version, author=user, body=body, criterion=criterion)
    _record(version.task, version, user, TaskEvent.Action.COMMENTED)
    return made
