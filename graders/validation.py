"""Validating an LLM grader against expert graders, and the release gate that relies on it.

A grader is trusted when it agrees with experts about as well as experts agree with each
other (HealthBench compares its grader's macro-F1 with physicians' against physicians;
GDPval reports grader-expert agreement beside expert-expert agreement). The unit compared
is an *item*: one rubric criterion of one sample that the grader scored and that at least
one expert graded independently (reconciliations are not independent and are left out).

- Grader vs experts: the grader's verdict on an item paired with each expert's verdict.
- Experts vs experts: every pair of different experts on the item, in both orders, so
  that no expert is taken as the truth for another.

The two comparisons that decide the verdict cover the same items: those with at least two
independent expert verdicts, the only ones the experts' baseline can be measured on
(otherwise the grader could be measured on hundreds of items against a baseline of two).
The grader's figures on every expert-graded item are kept beside them, as context only.

Figures are computed overall, by criterion tag, by job category and by criterion, and kept
in a GraderValidation so that a release can cite the validation it relied on.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from django.conf import settings
from django.db import transaction
from django.db.models import OuterRef, QuerySet, Subquery

from graders import agreement
from graders.agreement import VerdictPair
from graders.models import CriterionVerdict, Grade, Grader, GraderValidation
from occupations.models import Occupation, RubricCriterion

OVERALL = "all"


class ValidationInputError(ValueError):
    """The graders given cannot be validated against each other; names the argument."""


@dataclass(frozen=True)
class CriterionInfo:
    """What the breakdowns need to know of one rubric criterion."""

    tag: str
    task_id: int
    order: int
    job_category_id: int | None


@dataclass
class Item:
    """One criterion of one sample: the grader's verdict and each expert's."""

    grader_met: bool | None = None
    expert_verdicts: dict[int, bool] = field(default_factory=dict)
    """Expert user id -> met."""

    @property
    def has_expert_baseline(self) -> bool:
        """Two or more experts judged it, so experts can be compared with each other on it."""
        return len(self.expert_verdicts) >= 2

    def grader_pairs(self) -> list[VerdictPair]:
        if self.grader_met is None:
            return []
        return [(self.grader_met, met) for met in self.expert_verdicts.values()]

    def expert_pairs(self) -> list[VerdictPair]:
        # Ordered pairs of different experts, so the measures do not depend on who is first.
        return [
            (self.expert_verdicts[a], self.expert_verdicts[b])
            for a, b in itertools.permutations(sorted(self.expert_verdicts), 2)
        ]


@dataclass(frozen=True)
class GroupFigures:
    """The two comparisons over one group of items (all, one tag, one job category ...)."""

    key: str
    label: str
    items: int
    """Items of the group with at least two expert verdicts: both comparisons cover these."""
    grader: agreement.Agreement
    """Grader vs experts on those items."""
    experts: agreement.Agreement
    """Experts vs experts on the same items: the baseline the grader is held to."""
    all_items: int
    """Every item of the group, graded by one expert or more."""
    grader_all_items: agreement.Agreement
    """Grader vs experts on every item: context only, never compared with the baseline."""

    def as_dict(self) -> dict:
        return {
            "key": self.key,
            "label": self.label,
            "items": self.items,
            "grader": self.grader.as_dict(),
            "experts": self.experts.as_dict(),
            "all_items": self.all_items,
            "grader_all_items": self.grader_all_items.as_dict(),
        }


@dataclass(frozen=True)
class ValidationResult:
    """A grader's agreement with experts, and whether it is good enough for a release."""

    grader: Grader
    experts: Grader
    samples: int
    """Samples the grader scored with a criterion that two or more experts graded: the
    samples the verdict rests on, and what the minimum number of samples applies to."""
    items: int
    """Sample criteria the verdict compares: the grader's verdict and two or more experts'."""
    all_samples: int
    """Samples the grader scored that at least one expert graded (context)."""
    all_items: int
    """Sample criteria with the grader's and at least one expert's verdict (context)."""
    expert_count: int
    margin: float
    min_samples: int
    passed: bool
    reason: str
    """Why it passed or not, in plain words."""
    overall: GroupFigures
    by_tag: list[GroupFigures]
    by_job_category: list[GroupFigures]
    by_criterion: list[GroupFigures]
    criteria: dict[int, CriterionInfo]

    def figures(self) -> dict:
        """The JSON kept in GraderValidation.figures. Criterion text is not copied in: pages
        look it up, so that held-out wording stays behind the task's permissions."""
        return {
            "reason": self.reason,
            "min_samples": self.min_samples,
            "all_samples": self.all_samples,
            "all_items": self.all_items,
            "expert_count": self.expert_count,
            "overall": self.overall.as_dict(),
            "by_tag": [group.as_dict() for group in self.by_tag],
            "by_job_category": [group.as_dict() for group in self.by_job_category],
            "by_criterion": [
                {
                    **group.as_dict(),
                    "criterion": int(group.key),
                    "task": self.criteria[int(group.key)].task_id,
                    "order": self.criteria[int(group.key)].order,
                    "tag": self.criteria[int(group.key)].tag,
                }
                for group in self.by_criterion
            ],
        }


def collect_items(grader: Grader, experts: Grader) -> dict[tuple[int, int], Item]:
    """Items keyed by (sample id, criterion id), loaded with two value queries.

    Only scored grades count: an unscored grade's verdicts, if any, are not a judgement of
    the whole answer. Expert verdicts are kept only on samples the grader scored.
    """
    scored = Grade.Status.SCORED
    grader_verdicts = CriterionVerdict.objects.filter(
        grade__grader=grader, grade__expert__isnull=True, grade__status=scored
    ).values_list("grade__sample_id", "criterion_id", "met")
    graded_samples = Grade.objects.filter(grader=grader, expert__isnull=True, status=scored).values(
        "sample_id"
    )
    expert_verdicts = CriterionVerdict.objects.filter(
        grade__grader=experts,
        grade__expert__isnull=False,
        grade__is_reconciled=False,
        grade__status=scored,
        grade__sample_id__in=graded_samples,
    ).values_list("grade__sample_id", "criterion_id", "grade__expert_id", "met")

    items: dict[tuple[int, int], Item] = defaultdict(Item)
    for sample_id, criterion_id, expert_id, met in expert_verdicts.iterator():
        items[(sample_id, criterion_id)].expert_verdicts[expert_id] = met
    for sample_id, criterion_id, met in grader_verdicts.iterator():
        item = items.get((sample_id, criterion_id))
        if item is not None:
            item.grader_met = met
    # An expert verdict on a criterion the grader did not judge cannot be compared.
    return {key: item for key, item in items.items() if item.grader_met is not None}


def criterion_info(criterion_ids: Iterable[int]) -> dict[int, CriterionInfo]:
    rows = RubricCriterion.objects.filter(pk__in=list(criterion_ids)).values_list(
        "pk",
        "tag",
        "task_version__task_id",
        "order",
        "task_version__task__occupation__job_category_id",
    )
    return {
        pk: CriterionInfo(tag=tag, task_id=task_id, order=order, job_category_id=category)
        for pk, tag, task_id, order, category in rows
    }


def group_figures(key: str, label: str, items: Sequence[Item]) -> GroupFigures:
    with_baseline = [item for item in items if item.has_expert_baseline]
    return GroupFigures(
        key=key,
        label=label,
        items=len(with_baseline),
        grader=agreement.measure([pair for item in with_baseline for pair in item.grader_pairs()]),
        experts=agreement.measure([pair for item in with_baseline for pair in item.expert_pairs()]),
        all_items=len(items),
        grader_all_items=agreement.measure(
            [pair for item in items for pair in item.grader_pairs()]
        ),
    )


def tag_label(tag: str) -> str:
    choices = dict(RubricCriterion.Tag.choices)
    return str(choices.get(tag, tag.replace("_", " ").capitalize()))


def compute(
    grader: Grader,
    experts: Grader,
    *,
    margin: float | None = None,
    min_samples: int | None = None,
) -> ValidationResult:
    """Compare `grader` with the expert grades of the human grader `experts`; stores nothing."""
    if grader.is_human:
        raise ValidationInputError(
            f"grader: {grader.label} is a human grader; only LLM graders are validated "
            "against experts."
        )
    if not experts.is_human:
        raise ValidationInputError(
            f"experts: {experts.label} is not a human grader, so its grades cannot be the "
            "expert reference."
        )
    if margin is None:
        margin = settings.EVALBUILDER_VALIDATION_MARGIN
    if min_samples is None:
        min_samples = settings.EVALBUILDER_VALIDATION_MIN_SAMPLES

    items = collect_items(grader, experts)
    criteria = criterion_info({criterion_id for _, criterion_id in items})
    samples = len({sample_id for (sample_id, _), item in items.items() if item.has_expert_baseline})
    expert_count = len({expert for item in items.values() for expert in item.expert_verdicts})

    by_tag: dict[str, list[Item]] = defaultdict(list)
    by_category: dict[int | None, list[Item]] = defaultdict(list)
    by_criterion: dict[int, list[Item]] = defaultdict(list)
    for (_, criterion_id), item in items.items():
        info = criteria[criterion_id]
        by_tag[info.tag].append(item)
        by_category[info.job_category_id].append(item)
        by_criterion[criterion_id].append(item)

    categories = {
        pk: (code, title)
        for pk, code, title in Occupation.objects.filter(
            pk__in=[pk for pk in by_category if pk is not None]
        ).values_list("pk", "code", "title")
    }
    overall = group_figures(OVERALL, "All criteria", list(items.values()))
    tag_groups = [group_figures(tag, tag_label(tag), by_tag[tag]) for tag in sorted(by_tag)]
    category_groups = sorted(
        (
            group_figures(*categories.get(pk, ("none", "No job category")), category_items)
            for pk, category_items in by_category.items()
        ),
        key=lambda group: group.key,
    )
    criterion_groups = sorted(
        (
            group_figures(str(pk), f"criterion {pk}", criterion_items)
            for pk, criterion_items in by_criterion.items()
        ),
        # The criteria where the grader agrees least with experts come first: they are the
        # ones to read before trusting the grader.
        key=lambda group: (
            group.grader.agreement if group.grader.agreement is not None else 2.0,
            group.grader_all_items.agreement
            if group.grader_all_items.agreement is not None
            else 2.0,
            criteria[int(group.key)].task_id,
            criteria[int(group.key)].order,
        ),
    )
    passed, reason = judge(overall, samples=samples, margin=margin, min_samples=min_samples)
    return ValidationResult(
        grader=grader,
        experts=experts,
        samples=samples,
        items=overall.items,
        all_samples=len({sample_id for sample_id, _ in items}),
        all_items=len(items),
        expert_count=expert_count,
        margin=margin,
        min_samples=min_samples,
        passed=passed,
        reason=reason,
        overall=overall,
        by_tag=tag_groups,
        by_job_category=category_groups,
        by_criterion=criterion_groups,
        criteria=criteria,
    )


def _count(number: int, one: str, many: str) -> str:
    return f"{number} {one if number == 1 else many}"


def judge(
    overall: GroupFigures, *, samples: int, margin: float, min_samples: int
) -> tuple[bool, str]:
    """Whether the figures are good enough for a release, and why, in plain words.

    `overall` compares the grader and the experts on the same items, those with two or
    more expert verdicts; `samples` counts the samples those items belong to.
    """
    grader_f1 = overall.grader.macro_f1
    expert_f1 = overall.experts.macro_f1
    if grader_f1 is None or expert_f1 is None:
        return False, (
            "No criterion that the grader scored was graded by two or more experts, so "
            "there is no expert baseline to compare with: have at least "
            f"{_count(max(min_samples, 1), 'sample', 'samples')} graded by at least two experts."
        )
    if samples < min_samples:
        return False, (
            "Not enough samples graded by two or more experts: "
            f"{_count(samples, 'sample', 'samples')} graded by the grader and by at least "
            f"two experts, and a validation needs at least {min_samples}. Only these "
            "samples count, because the experts' agreement with each other, which the "
            "grader is held to, can only be measured where two experts graded."
        )
    figures = (
        f"on the {_count(overall.items, 'criterion', 'criteria')} of "
        f"{_count(samples, 'sample', 'samples')} that at least two experts graded, "
        f"macro-F1 {grader_f1:.2f} against the experts, experts agree with each other at "
        f"{expert_f1:.2f}"
    )
    # Rounded so that floating-point noise (0.80 - 0.05 = 0.7500000000000001) cannot
    # decide a tie.
    if round(grader_f1, 6) >= round(expert_f1 - margin, 6):
        return True, f"Good enough for a release: {figures}, within the {margin:.2f} margin."
    return False, (
        f"Not good enough for a release: {figures}; the grader may be at most "
        f"{margin:.2f} below the experts."
    )


def save_validation(result: ValidationResult, user=None) -> GraderValidation:
    """Keep a computed validation, by `user` (None from the command line)."""
    return GraderValidation.objects.create(
        grader=result.grader,
        experts=result.experts,
        computed_by=user if user is not None and user.is_authenticated else None,
        samples=result.samples,
        items=result.items,
        margin=result.margin,
        passed=result.passed,
        figures=result.figures(),
    )


def validate(grader: Grader, experts: Grader, user=None) -> GraderValidation:
    """Compute the grader's agreement with the experts and keep it."""
    with transaction.atomic():
        return save_validation(compute(grader, experts), user)


LATEST_FIRST = ("-computed_at", "-pk")
"""A grader's validations, latest first; the pk decides between equal times."""


def latest_validation(grader: Grader) -> GraderValidation | None:
    """The grader's latest validation (the one the release gate reads), or None."""
    return grader.validations.select_related("experts").order_by(*LATEST_FIRST).first()


def with_latest_validation(graders: QuerySet[Grader]) -> QuerySet[Grader]:
    """`graders` annotated with their latest validation, for lists: `latest_validation_id`,
    `latest_validation_passed` and `latest_validation_at`, each None when never validated.

    The same validation as `latest_validation` picks, in one query for the whole list.
    """
    latest = GraderValidation.objects.filter(grader=OuterRef("pk")).order_by(*LATEST_FIRST)
    return graders.annotate(
        latest_validation_id=Subquery(latest.values("pk")[:1]),
        latest_validation_passed=Subquery(latest.values("passed")[:1]),
        latest_validation_at=Subquery(latest.values("computed_at")[:1]),
    )


def release_gate(grader: Grader) -> tuple[bool, str]:
    """Whether the grader's scores may enter an official release, and why.

    This is the check that building an official release must call for every grader whose
    scores the release includes, and refuse the release when it says no: nothing else
    enforces it. With EVALBUILDER_RELEASE_REQUIRES_VALIDATION on, an LLM grader needs its
    latest validation (of this very version: a new version starts unvalidated) to have
    passed. Human expert graders are the reference that LLM graders are validated against,
    so they are always allowed. With the setting off, every grader is allowed and the
    reason says so.
    """
    if not settings.EVALBUILDER_RELEASE_REQUIRES_VALIDATION:
        return True, (
            "Official releases do not require validated graders on this installation "
            "(EVALBUILDER_RELEASE_REQUIRES_VALIDATION is off)."
        )
    if grader.is_human:
        return True, (
            f"{grader.label} is a human expert grader: experts are the reference graders "
            "are validated against, so it needs no validation."
        )
    latest = latest_validation(grader)
    if latest is None:
        return False, (
            f"{grader.label} has never been validated against experts; validate it before "
            "its scores enter a release."
        )
    when = latest.computed_at.strftime("%Y-%m-%d")
    reason = latest.figures.get("reason", "")
    if not latest.passed:
        return False, (
            f"{grader.label} did not pass its latest validation ({when}, against "
            f"{latest.experts.label}): {reason}"
        )
    return True, (
        f"{grader.label} passed its latest validation ({when}, against "
        f"{latest.experts.label}): {reason}"
    )
