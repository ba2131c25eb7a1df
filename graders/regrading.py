"""Grader versions and regrading: a changed configuration is a new version, and past runs
can be graded again by it while the grades of earlier versions stay as they were."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count, Exists, Max, OuterRef, Q, QuerySet

from audit import trail
from graders.models import Grade, Grader
from graders.services import GRADE_BATCH
from runs.models import ModelEndpoint, Run, Sample
from runs.services import GRADE_SAMPLES_TASK, enqueue

logger = logging.getLogger(__name__)

CHANGEABLE = (*Grader.CONFIG_FIELDS, "extra_judges")
"""What a new version may change; the name stays, so reports can follow one grader."""

EXPERT_SETTINGS = ("grades_per_sample", "is_active")
"""What an edit of a human grader may change, in place even once it has grades: experts
grade it, so it has no grading configuration to version, and a new version would leave its
queue and the reference grades of validations behind."""


@dataclass(frozen=True)
class RegradeQueued:
    """What one regrade request sent to the workers."""

    grader: Grader
    runs: list[int]
    """Ids of the runs whose samples were queued."""
    samples: int
    """Samples queued for grading by this grader version."""
    batches: int
    """Grading messages sent (each carries up to GRADE_BATCH samples)."""
    deleted_unscored: int = 0
    """Unscored grades of this grader removed so that their samples are graded again."""


@dataclass(frozen=True)
class RunGradingProgress:
    """How far one grader version has graded one run."""

    run: Run
    total: int
    """Done samples of the run (the ones a grader can grade)."""
    graded: int
    """Done samples this grader has graded, scored or not."""
    unscored: int
    """Samples this grader could not score (judge failures and unusable replies)."""

    @property
    def pending(self) -> int:
        return max(self.total - self.graded, 0)

    @property
    def is_complete(self) -> bool:
        return self.graded >= self.total


def _check_changes(changes: Mapping[str, object]) -> None:
    unknown = sorted(set(changes) - set(CHANGEABLE))
    if unknown:
        raise ValidationError({unknown[0]: "A grader version cannot change this field."})


def _apply(grader: Grader, changes: Mapping[str, object]) -> None:
    for field in Grader.CONFIG_FIELDS:
        if field in changes:
            setattr(grader, field, changes[field])
    if grader.kind == Grader.Kind.HUMAN:
        # A human grader has no judges: experts grade it through its queue.
        grader.judge = None


def _extra_judges(grader: Grader, changes: Mapping[str, object]) -> list[ModelEndpoint]:
    if grader.kind == Grader.Kind.HUMAN:
        return []
    chosen = changes.get("extra_judges")
    return list(chosen) if chosen is not None else []


def latest_version(grader: Grader) -> Grader:
    """The newest version of the grader's name."""
    return Grader.objects.filter(name=grader.name).order_by("-version").first() or grader


def has_changes(grader: Grader, changes: Mapping[str, object]) -> bool:
    """Whether the changes differ from the grader's current configuration."""
    for field in Grader.CONFIG_FIELDS:
        if field in changes and changes[field] != getattr(grader, field):
            return True
    if "extra_judges" in changes:
        before = {e.pk for e in grader.extra_judges.all()}
        return before != {e.pk for e in changes["extra_judges"] or []}  # type: ignore[union-attr]
    return False


def new_version(grader: Grader, changes: Mapping[str, object], user=None) -> Grader:
    """Make the next version of a grader with the changes applied, and deactivate the old one.

    The new version is active, so samples that land from now on are graded by it; the old
    version's grades stay with it. Extra judges are copied unless `changes` names them.
    Human graders have no versions (see EXPERT_SETTINGS), so a human grader, or a change
    that would make one, is refused. Raises ValidationError naming the field of the first
    problem.
    """
    with transaction.atomic():
        current = Grader.objects.select_for_update().get(pk=grader.pk)
        if current.is_human:
            raise ValidationError(
                {
                    "kind": f"{current.label} is graded by experts, so it has no grading "
                    "configuration to version: change its expert grades per sample instead."
                }
            )
        if changes.get("kind", current.kind) == Grader.Kind.HUMAN:
            raise ValidationError(
                {
                    "kind": "A new version keeps its grader's kind: add a human grader "
                    "under a name of its own instead."
                }
            )
        _check_changes(changes)
        newer = Grader.objects.filter(supersedes=current).first()
        if newer is not None:
            raise ValidationError(
                {
                    "version": f"{current.label} was already replaced by {newer.label}: "
                    "make the new version from the latest one."
                }
            )
        number = Grader.objects.filter(name=current.name).aggregate(n=Max("version"))["n"]
        version = Grader(
            name=current.name,
            version=number + 1,
            supersedes=current,
            is_active=True,
            **{field: getattr(current, field) for field in Grader.CONFIG_FIELDS},
        )
        _apply(version, changes)
        version.full_clean()
        version.save()
        if "extra_judges" in changes:
            version.extra_judges.set(_extra_judges(version, changes))
        else:
            version.extra_judges.set(current.extra_judges.all())
        Grader.objects.filter(pk=current.pk).update(is_active=False)
        trail.record_transition(current, "is_active", True, False)
    grader.is_active = False
    by = f" (by {user})" if user is not None else ""
    logger.info("grader %s replaced by %s%s", current.label, version.label, by)
    return version


def change_expert_settings(grader: Grader, changes: Mapping[str, object], user=None) -> Grader:
    """Change a human grader's EXPERT_SETTINGS in place, graded or not; its queue and grades
    stay with it. Raises ValidationError naming the field of the first problem."""
    if not grader.is_human:
        raise ValidationError(
            {"kind": f"{grader.label} is an LLM grader: change its configuration instead."}
        )
    unknown = sorted(set(changes) - set(EXPERT_SETTINGS))
    if unknown:
        raise ValidationError(
            {
                unknown[0]: f"{grader.label} is graded by experts: only its expert grades per "
                "sample and whether it is active can change."
            }
        )
    wanted = changes.get("grades_per_sample")
    if isinstance(wanted, int) and wanted < 1:
        raise ValidationError({"grades_per_sample": "A sample needs at least one expert grade."})
    with transaction.atomic():
        current = Grader.objects.select_for_update().get(pk=grader.pk)
        for field in EXPERT_SETTINGS:
            if field in changes:
                setattr(current, field, changes[field])
        current.full_clean()
        current.save(update_fields=list(EXPERT_SETTINGS))
    by = f" (by {user})" if user is not None else ""
    logger.info(
        "grader %s takes %s expert grades per sample, %s%s",
        current.label,
        current.grades_per_sample,
        "active" if current.is_active else "inactive",
        by,
    )
    return current


def change_grader(grader: Grader, changes: Mapping[str, object], user=None) -> tuple[Grader, bool]:
    """Apply a configuration change: in place while the grader has graded nothing, else as a
    new version. Returns the grader that now carries the change and whether it is new.
    A human grader's settings always change in place (change_expert_settings)."""
    if grader.is_human:
        return change_expert_settings(grader, changes, user), False
    _check_changes(changes)
    if grader.grades.exists():
        return new_version(grader, changes, user), True
    with transaction.atomic():
        current = Grader.objects.select_for_update().get(pk=grader.pk)
        if current.grades.exists():  # graded between the check and the lock
            return new_version(current, changes, user), True
        _apply(current, changes)
        current.full_clean()
        current.save()
        if "extra_judges" in changes or current.is_human:
            current.extra_judges.set(_extra_judges(current, changes))
    return current, False


def regradable_runs() -> QuerySet[Run]:
    """Runs with samples a grader can grade, newest first."""
    done = Sample.objects.filter(run=OuterRef("pk"), status=Sample.Status.DONE)
    return Run.objects.filter(Exists(done)).select_related("endpoint", "suite").order_by("-pk")


def regrade(grader: Grader, runs: Iterable[Run], only_unscored: bool = False) -> RegradeQueued:
    """Queue the done samples of the runs for grading by this grader version.

    Samples the grader has graded already are left alone, so grades are never written twice
    and other versions' grades stay. With `only_unscored`, this grader's unscored grades of
    those runs (judge failures) are deleted and their samples graded again. Messages go out
    in batches once the transaction commits.
    """
    if grader.is_human:
        raise ValidationError(
            {"grader": f"{grader.label} is graded by experts: add samples to its queue instead."}
        )
    run_ids = sorted({run.pk for run in runs})
    if not run_ids:
        raise ValidationError({"runs": "Choose at least one run to grade again."})
    deleted = 0
    with transaction.atomic():
        done = Sample.objects.filter(run_id__in=run_ids, status=Sample.Status.DONE)
        if only_unscored:
            unscored = Grade.objects.filter(
                grader=grader, expert__isnull=True, status=Grade.Status.UNSCORED, sample__in=done
            )
            sample_ids = sorted(unscored.values_list("sample_id", flat=True))
            deleted = len(sample_ids)
            unscored.delete()  # their verdicts go with them
        else:
            sample_ids = sorted(
                done.exclude(grades__grader=grader).values_list("pk", flat=True).distinct()
            )
        batches = 0
        for start in range(0, len(sample_ids), GRADE_BATCH):
            enqueue(
                GRADE_SAMPLES_TASK,
                sample_ids=sample_ids[start : start + GRADE_BATCH],
                grader_ids=[grader.pk],
                # The judges' cached replies are what failed: ask them again.
                fresh=only_unscored,
            )
            batches += 1
    logger.info(
        "regrading %s samples of runs %s by %s (%s unscored grades removed)",
        len(sample_ids),
        run_ids,
        grader.label,
        deleted,
    )
    return RegradeQueued(grader, run_ids, len(sample_ids), batches, deleted)


def grading_progress(grader: Grader, runs: QuerySet[Run] | None = None) -> list[RunGradingProgress]:
    """Per run: done samples, samples this grader has graded, and how many it left unscored."""
    runs = regradable_runs() if runs is None else runs
    of_grader = Q(samples__grades__grader=grader)
    rows = runs.annotate(
        total_done=Count("samples", filter=Q(samples__status=Sample.Status.DONE), distinct=True),
        graded_by=Count(
            "samples", filter=of_grader & Q(samples__status=Sample.Status.DONE), distinct=True
        ),
        unscored_by=Count(
            "samples",
            filter=of_grader & Q(samples__grades__status=Grade.Status.UNSCORED),
            distinct=True,
        ),
    )
    return [
        RunGradingProgress(
            run=run, total=run.total_done, graded=run.graded_by, unscored=run.unscored_by
        )
        for run in rows
    ]
