"""Blind grading by human experts: queues, independent grades, disagreements, reconciliation.

A human grader collects `grades_per_sample` independent grades per queued sample, one per
expert. Experts never learn which model wrote an output, and each walks the queue in an
order of their own, so that no two experts see the same runs side by side. Where experts
split on a criterion, a reconciling expert records the final verdicts as one more grade,
marked `is_reconciled`.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Mapping
from dataclasses import dataclass, field

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import (
    BigIntegerField,
    Count,
    Exists,
    F,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
)
from django.db.models.functions import Cast, Coalesce, Mod

from graders.models import CriterionVerdict, ExpertQueueItem, Grade, Grader
from graders.scoring import CriterionOutcome, score_sample
from occupations.models import RubricCriterion
from occupations.permissions import can_view, visible_tasks
from runs.models import Run, Sample

COMMENT_MAX_LENGTH = 4000
"""Longest comment an expert may leave on one criterion or on the whole output."""

# A prime above every queue position (positions are below 2**31): position -> (a * position
# + b) mod P is then a permutation, and a different (a, b) per expert gives each expert a
# different order that the database can sort by.
_ORDER_PRIME = 2_147_483_659


class ExpertGradingError(ValueError):
    """A grade or queue change that was refused; `field` names the form field at fault."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class ExpertVerdict:
    """An expert's verdict on one criterion."""

    met: bool
    """For a negative criterion: the undesirable behaviour is present."""
    comment: str = ""
    """Why, in the expert's words; optional."""


# --- queues ----------------------------------------------------------------------------


def human_graders() -> QuerySet[Grader]:
    """Human graders that collect expert grades now."""
    return Grader.objects.filter(kind=Grader.Kind.HUMAN, is_active=True)


def independent_grades(grader: Grader) -> QuerySet[Grade]:
    """The grader's expert grades given blind, without the reconciliations."""
    return Grade.objects.filter(grader=grader, expert__isnull=False, is_reconciled=False)


def _grades_of_item() -> QuerySet[Grade]:
    return Grade.objects.filter(
        sample=OuterRef("sample"),
        grader=OuterRef("grader"),
        expert__isnull=False,
        is_reconciled=False,
    )


def with_grade_counts(items: QuerySet[ExpertQueueItem]) -> QuerySet[ExpertQueueItem]:
    """Queue items annotated with `graded`: their independent expert grades so far."""
    counted = _grades_of_item().order_by().values("sample").annotate(n=Count("pk")).values("n")[:1]
    return items.annotate(graded=Coalesce(Subquery(counted, output_field=IntegerField()), Value(0)))


def _expert_order(expert: AbstractBaseUser) -> tuple[int, int]:
    """The expert's own (multiplier, offset) for shuffling queue positions."""
    digest = hashlib.sha256(f"expert-queue-order:{expert.pk}".encode()).digest()
    multiplier = int.from_bytes(digest[:4], "big") % (_ORDER_PRIME - 1) + 1
    offset = int.from_bytes(digest[4:8], "big") % _ORDER_PRIME
    return multiplier, offset


def open_items(grader: Grader, expert: AbstractBaseUser) -> QuerySet[ExpertQueueItem]:
    """Items the expert may grade now, in the expert's own shuffled order.

    That is: items whose task the expert may read, which the expert has not graded, and
    which still lack independent grades.
    """
    multiplier, offset = _expert_order(expert)
    mine = _grades_of_item().filter(expert=expert)
    # Cast first: position times a 31-bit multiplier needs 64 bits on every database.
    shuffled = Mod(
        Cast("position", BigIntegerField()) * Value(multiplier, BigIntegerField())
        + Value(offset, BigIntegerField()),
        Value(_ORDER_PRIME, BigIntegerField()),
    )
    return (
        with_grade_counts(
            ExpertQueueItem.objects.filter(
                grader=grader,
                sample__task_version__task__in=visible_tasks(expert),
            )
        )
        .exclude(Exists(mine))
        .filter(graded__lt=grader.grades_per_sample)
        .annotate(expert_order=shuffled)
        .order_by("expert_order", "pk")
    )


def next_item(grader: Grader, expert: AbstractBaseUser) -> ExpertQueueItem | None:
    """The next item the expert should grade, or None when nothing waits for them."""
    return open_items(grader, expert).first()


def graded_by(grader: Grader, expert: AbstractBaseUser) -> int:
    """How many samples the expert has graded for this grader."""
    return independent_grades(grader).filter(expert=expert).count()


@dataclass(frozen=True)
class QueueSummary:
    """A human grader's queue as its operator sees it."""

    queued: int
    """Samples in the queue."""
    complete: int
    """Samples with all the independent grades wanted."""
    grades: int
    """Independent expert grades collected."""
    reconciled: int
    """Samples whose disagreement was reconciled."""


def queue_summary(grader: Grader) -> QueueSummary:
    items = with_grade_counts(ExpertQueueItem.objects.filter(grader=grader))
    return QueueSummary(
        queued=items.count(),
        complete=items.filter(graded__gte=grader.grades_per_sample).count(),
        grades=independent_grades(grader).count(),
        reconciled=Grade.objects.filter(grader=grader, is_reconciled=True).count(),
    )


def enqueueable_runs() -> QuerySet[Run]:
    """Runs with finished samples, newest first, annotated with `done` (their count)."""
    return (
        Run.objects.select_related("suite", "endpoint")
        .annotate(done=Count("samples", filter=Q(samples__status=Sample.Status.DONE)))
        .filter(done__gt=0)
        .order_by("-created_at")
    )


@transaction.atomic
def enqueue_run(
    grader: Grader,
    run: Run,
    *,
    count: int | None = None,
    added_by: AbstractBaseUser | None = None,
    rng: random.Random | None = None,
) -> list[ExpertQueueItem]:
    """Queue `count` finished samples of a run, drawn at random (all when None).

    Samples already in the grader's queue are never queued twice; when fewer than `count`
    are left, all of them are queued.
    """
    if not grader.is_human:
        raise ExpertGradingError("Only a human grader has an expert queue.", field="grader")
    if not grader.is_active:
        raise ExpertGradingError(
            f"{grader.label} no longer collects grades; queue samples for its newest version.",
            field="grader",
        )
    if count is not None and count < 1:
        raise ExpertGradingError("Queue at least one sample.", field="count")
    candidates = list(
        Sample.objects.filter(run=run, status=Sample.Status.DONE)
        .exclude(expert_queue__grader=grader)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    if not candidates:
        raise ExpertGradingError(
            f"Run #{run.pk} has no finished samples that are not in this queue already.",
            field="run",
        )
    if count is not None and count < len(candidates):
        candidates = (rng or random.SystemRandom()).sample(candidates, count)
    return ExpertQueueItem.objects.bulk_create(
        [ExpertQueueItem(grader=grader, sample_id=pk, added_by=added_by) for pk in candidates]
    )


# --- grades -----------------------------------------------------------------------------


def _outcomes(
    criteria: list[RubricCriterion], verdicts: Mapping[int, ExpertVerdict]
) -> list[CriterionOutcome]:
    missing = [c for c in criteria if c.pk not in verdicts]
    if missing:
        names = ", ".join(f"criterion {c.order}" for c in missing)
        raise ExpertGradingError(f"Give a verdict on every criterion: none for {names}.")
    unknown = set(verdicts) - {c.pk for c in criteria}
    if unknown:
        raise ExpertGradingError(
            f"Verdicts were given on criteria that are not in this task's rubric: "
            f"{', '.join(str(pk) for pk in sorted(unknown))}."
        )
    for criterion in criteria:
        if len(verdicts[criterion.pk].comment) > COMMENT_MAX_LENGTH:
            raise ExpertGradingError(
                f"Keep the comment under {COMMENT_MAX_LENGTH} characters.",
                field=f"comment_{criterion.pk}",
            )
    return [
        CriterionOutcome(
            points=c.points, met=verdicts[c.pk].met, critical=c.critical, tag=c.tag or ""
        )
        for c in criteria
    ]


def _write_grade(
    grader: Grader,
    sample: Sample,
    expert: AbstractBaseUser,
    verdicts: Mapping[int, ExpertVerdict],
    comment: str,
    *,
    reconciled: bool,
) -> Grade:
    if len(comment) > COMMENT_MAX_LENGTH:
        raise ExpertGradingError(
            f"Keep the comment under {COMMENT_MAX_LENGTH} characters.", field="comment"
        )
    criteria = list(sample.task_version.criteria.order_by("order"))
    outcomes = _outcomes(criteria, verdicts)
    scored = score_sample(outcomes, sample.task_version.pass_threshold)
    grade = Grade.objects.create(
        sample=sample,
        grader=grader,
        expert=expert,
        is_reconciled=reconciled,
        status=Grade.Status.SCORED,
        score=scored.score,
        success=scored.success,
        tag_scores=scored.tag_scores,
        comment=comment.strip(),
        grader_config=grader.config(),
    )
    CriterionVerdict.objects.bulk_create(
        [
            CriterionVerdict(
                grade=grade,
                criterion=c,
                met=verdicts[c.pk].met,
                explanation=verdicts[c.pk].comment.strip(),
            )
            for c in criteria
        ]
    )
    return grade


def _check_may_grade(grader: Grader, sample: Sample, expert: AbstractBaseUser) -> None:
    if not grader.is_human:
        raise ExpertGradingError("Only a human grader takes expert grades.")
    if not expert.is_authenticated or not expert.has_perm("graders.add_grade"):
        raise ExpertGradingError("You may not grade samples.")
    if not can_view(expert, sample.task_version.task):
        raise ExpertGradingError("You may not see this task, so you cannot grade it.")


@transaction.atomic
def record_expert_grade(
    item: ExpertQueueItem,
    expert: AbstractBaseUser,
    verdicts: Mapping[int, ExpertVerdict],
    comment: str = "",
) -> Grade:
    """Write one expert's blind grade of a queued sample; refuses and writes nothing when
    the expert graded it already, its quota is full, or the verdicts do not fit its rubric."""
    # Locking the item makes concurrent grades of one sample take turns, so the quota holds.
    item = (
        ExpertQueueItem.objects.select_for_update()
        .select_related("grader", "sample__task_version__task")
        .get(pk=item.pk)
    )
    grader, sample = item.grader, item.sample
    _check_may_grade(grader, sample, expert)
    grades = independent_grades(grader).filter(sample=sample)
    if grades.filter(expert=expert).exists():
        raise ExpertGradingError("You have graded this sample already.")
    if grades.count() >= grader.grades_per_sample:
        raise ExpertGradingError(
            f"This sample has its {grader.grades_per_sample} expert grades already."
        )
    return _write_grade(grader, sample, expert, verdicts, comment, reconciled=False)


# --- disagreements and reconciliation ---------------------------------------------------


@dataclass
class ExpertVote:
    """One expert's verdict on a criterion, as the reconciliation page shows it."""

    expert_label: str
    """"Expert 1", "Expert 2"...: experts stay anonymous to each other."""
    met: bool
    comment: str


@dataclass
class CriterionSplit:
    """How the experts voted on one criterion of a sample."""

    criterion: RubricCriterion
    votes: list[ExpertVote] = field(default_factory=list)

    @property
    def met(self) -> int:
        return sum(1 for v in self.votes if v.met)

    @property
    def not_met(self) -> int:
        return sum(1 for v in self.votes if not v.met)

    @property
    def disagrees(self) -> bool:
        return self.met > 0 and self.not_met > 0


@dataclass
class Disagreement:
    """A sample whose independent expert grades differ on at least one criterion."""

    sample: Sample
    splits: list[CriterionSplit]
    """Every criterion of the rubric, in order, with its votes."""
    overall_comments: list[ExpertVote]
    """Each expert's overall comment (with their success verdict as `met`)."""
    reconciled: Grade | None

    @property
    def split_criteria(self) -> list[CriterionSplit]:
        return [s for s in self.splits if s.disagrees]

    @property
    def experts(self) -> int:
        return len(self.overall_comments)


@dataclass(frozen=True)
class DisagreementRow:
    """One line of the disagreements list."""

    sample: Sample
    experts: int
    split_criteria: int
    reconciled: bool


def _split_counts(grader: Grader) -> dict[int, int]:
    """{sample id: number of criteria on which its independent expert grades split}."""
    rows = (
        CriterionVerdict.objects.filter(
            grade__grader=grader, grade__expert__isnull=False, grade__is_reconciled=False
        )
        .values("grade__sample", "criterion")
        .annotate(n=Count("pk"), n_met=Count("pk", filter=Q(met=True)))
        .filter(n_met__gt=0, n_met__lt=F("n"))
        .order_by()
    )
    splits: dict[int, int] = {}
    for row in rows:
        splits[row["grade__sample"]] = splits.get(row["grade__sample"], 0) + 1
    return splits


def disagreements(grader: Grader, viewer: AbstractBaseUser) -> list[DisagreementRow]:
    """Disagreeing samples of the grader whose task the viewer may read; unreconciled first.

    Only samples with all their independent grades are listed (see `disagreement`).
    """
    splits = _split_counts(grader)
    samples = (
        Sample.objects.filter(pk__in=splits, task_version__task__in=visible_tasks(viewer))
        .select_related("task_version__task__occupation")
        .annotate(
            experts=Count(
                "grades",
                filter=Q(
                    grades__grader=grader,
                    grades__expert__isnull=False,
                    grades__is_reconciled=False,
                ),
                distinct=True,
            ),
            reconciled=Exists(
                Grade.objects.filter(sample=OuterRef("pk"), grader=grader, is_reconciled=True)
            ),
        )
        .filter(experts__gte=grader.grades_per_sample)
        .order_by("reconciled", "task_version__task__title", "pk")
    )
    return [
        DisagreementRow(
            sample=s, experts=s.experts, split_criteria=splits[s.pk], reconciled=s.reconciled
        )
        for s in samples
    ]


def disagreement(grader: Grader, sample: Sample) -> Disagreement | None:
    """Per criterion, how the experts split on this sample; None when they agree, or when
    the sample still lacks some of its `grades_per_sample` independent grades."""
    grades = list(
        independent_grades(grader)
        .filter(sample=sample)
        .order_by("created_at", "pk")
        .prefetch_related("verdicts")
    )
    criteria = list(sample.task_version.criteria.order_by("order"))
    splits = [CriterionSplit(criterion=c) for c in criteria]
    by_criterion = {s.criterion.pk: s for s in splits}
    overall = []
    for number, grade in enumerate(grades, start=1):
        label = f"Expert {number}"
        overall.append(ExpertVote(label, bool(grade.success), grade.comment))
        for verdict in grade.verdicts.all():
            split = by_criterion.get(verdict.criterion_id)
            if split is not None:
                split.votes.append(ExpertVote(label, verdict.met, verdict.explanation))
    # Below its quota the sample is open to experts who have not graded it; showing them
    # the others' votes would end blind, independent grading.
    if len(grades) < max(2, grader.grades_per_sample) or not any(s.disagrees for s in splits):
        return None
    reconciled = (
        Grade.objects.filter(sample=sample, grader=grader, is_reconciled=True)
        .prefetch_related("verdicts")
        .first()
    )
    return Disagreement(sample, splits, overall, reconciled)


@transaction.atomic
def reconcile(
    grader: Grader,
    sample: Sample,
    expert: AbstractBaseUser,
    verdicts: Mapping[int, ExpertVerdict],
    comment: str = "",
) -> Grade:
    """Record the final verdicts for a sample the experts disagree on, once it has all its
    independent grades; one per sample."""
    # Locking the sample makes two reconcilers take turns, so only one reconciliation lands.
    sample = (
        Sample.objects.select_for_update().select_related("task_version__task").get(pk=sample.pk)
    )
    _check_may_grade(grader, sample, expert)
    if Grade.objects.filter(sample=sample, grader=grader, is_reconciled=True).exists():
        raise ExpertGradingError("This disagreement was reconciled already.")
    graded = independent_grades(grader).filter(sample=sample).count()
    if graded < grader.grades_per_sample:
        raise ExpertGradingError(
            f"This sample has {graded} of its {grader.grades_per_sample} independent expert "
            "grades; it can be reconciled once it has them all."
        )
    if disagreement(grader, sample) is None:
        raise ExpertGradingError("The experts agree on this sample; there is nothing to reconcile.")
    return _write_grade(grader, sample, expert, verdicts, comment, reconciled=True)
