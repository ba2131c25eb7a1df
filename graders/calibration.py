"""Calibration of a rubric before review: the grader scores the reference solution and an
empty answer, and the author sees which criteria misfire."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.utils import timezone

from graders.models import Grader
from graders.scoring import CriterionOutcome, rubric_score
from graders.services import Judgement, judge_outputs
from occupations.models import RubricCriterion, TaskVersion
from occupations.quality import content_fingerprint


@dataclass(frozen=True)
class CriterionCheck:
    criterion: RubricCriterion
    on_reference: bool | None
    """Met (for a negative criterion: behaviour present) on the reference; None if unknown."""
    on_empty: bool | None
    explanation: str

    @property
    def misfires(self) -> bool:
        """The reference should meet every positive criterion and no negative one; an empty
        answer should meet nothing."""
        wanted_on_reference = self.criterion.points > 0
        return self.on_reference not in (None, wanted_on_reference) or bool(self.on_empty)


@dataclass(frozen=True)
class Calibration:
    grader: Grader
    checks: list[CriterionCheck]
    reference_score: float | None
    empty_score: float | None
    threshold: float
    empty_limit: float
    unscored_reason: str

    @property
    def passes(self) -> bool:
        return (
            not self.unscored_reason
            and self.reference_score is not None
            and self.reference_score >= self.threshold
            and self.empty_score is not None
            and self.empty_score <= self.empty_limit
        )


def _score(criteria: list[RubricCriterion], judgement: Judgement) -> float | None:
    if judgement.unscored_reason or any(c.pk not in judgement.verdicts for c in criteria):
        return None
    return rubric_score(
        [CriterionOutcome(c.points, judgement.verdicts[c.pk].met, c.critical) for c in criteria]
    )


def calibrate(version: TaskVersion, grader: Grader) -> Calibration:
    criteria = list(version.criteria.order_by("order"))
    # The pre-filter is off here: it would score the empty answer 0 whatever the rubric
    # says, and hide the criteria that an empty answer meets, which is what this looks for.
    reference, empty = judge_outputs(
        grader, [(version, version.reference_solution), (version, "")], screen=False
    )
    checks = []
    for criterion in criteria:
        on_reference = reference.verdicts.get(criterion.pk)
        on_empty = empty.verdicts.get(criterion.pk)
        checks.append(
            CriterionCheck(
                criterion=criterion,
                on_reference=on_reference.met if on_reference else None,
                on_empty=on_empty.met if on_empty else None,
                explanation=on_reference.explanation if on_reference else "",
            )
        )
    return Calibration(
        grader=grader,
        checks=checks,
        reference_score=_score(criteria, reference),
        empty_score=_score(criteria, empty),
        threshold=version.pass_threshold,
        empty_limit=settings.EVALBUILDER_CALIBRATION_EMPTY_MAX,
        unscored_reason=reference.unscored_reason or empty.unscored_reason,
    )


def record(version: TaskVersion, result: Calibration) -> None:
    """Keep the outcome on the draft, with a fingerprint of what was judged."""
    if version.is_locked:
        return
    version.calibration = {
        "fingerprint": content_fingerprint(version),
        "passed": result.passes,
        "reference_score": result.reference_score,
        "empty_score": result.empty_score,
        "grader": result.grader.name,
        "at": timezone.now().isoformat(),
    }
    version.save(update_fields=["calibration"])
