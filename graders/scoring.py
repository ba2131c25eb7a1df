"""The rubric score of one graded sample (HealthBench's formula) and its success.

Pure functions on plain values; aggregates over many samples live in reports.stats.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True)
class CriterionOutcome:
    """One criterion's verdict, as the scoring formula needs it."""

    points: int
    """-10..+10; negative points mark an undesirable behaviour."""
    met: bool
    """For a negative criterion: the undesirable behaviour is present."""
    critical: bool = False
    """A failed critical criterion fails the attempt whatever the score."""
    tag: str = ""
    """The axis the criterion measures (accuracy, completeness, ...); blank when untagged."""

    @property
    def failed(self) -> bool:
        """True when this verdict counts against the attempt."""
        return self.met if self.points < 0 else not self.met


def rubric_score(outcomes: Sequence[CriterionOutcome]) -> float:
    """Points of the criteria met (negative ones when present) over the positive points.

    The result can be below 0 when undesirable behaviours outweigh what was met; it is not
    clipped here, because aggregates are clipped after averaging.
    """
    possible = sum(o.points for o in outcomes if o.points > 0)
    if possible <= 0:
        raise ValueError("a rubric needs at least one criterion with positive points")
    earned = sum(o.points for o in outcomes if o.met)
    return earned / possible


def is_success(outcomes: Sequence[CriterionOutcome], threshold: float) -> bool:
    """Score at or above the threshold and no critical criterion failed."""
    if any(o.critical and o.failed for o in outcomes):
        return False
    return rubric_score(outcomes) >= threshold


def tag_scores(outcomes: Sequence[CriterionOutcome]) -> dict[str, float]:
    """The rubric score over each tag's criteria, for tags that have positive points.

    A tag with only negative criteria has nothing to divide by, so it has no sub-score;
    its criteria still count in the sample's score.
    """
    by_tag: dict[str, list[CriterionOutcome]] = {}
    for outcome in outcomes:
        if outcome.tag:
            by_tag.setdefault(outcome.tag, []).append(outcome)
    return {
        tag: rubric_score(group)
        for tag, group in sorted(by_tag.items())
        if any(o.points > 0 for o in group)
    }


@dataclass(frozen=True)
class SampleScore:
    """Everything a grade records about one sample's score."""

    score: float
    success: bool
    tag_scores: dict[str, float] = field(default_factory=dict)


def score_sample(outcomes: Sequence[CriterionOutcome], threshold: float) -> SampleScore:
    """Score, success and per-tag sub-scores of one sample's verdicts."""
    return SampleScore(
        score=rubric_score(outcomes),
        success=is_success(outcomes, threshold),
        tag_scores=tag_scores(outcomes),
    )
