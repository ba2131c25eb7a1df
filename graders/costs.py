"""What judging costs: tokens and money per grade and per grader, and what batched mode saves.

Only judge grades count (expert grades have no judge). The database sums and averages.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Avg, Count, Q, Sum

from graders.models import Grade, Grader


@dataclass(frozen=True)
class JudgeCost:
    """Judge usage of one grader version over the grades it wrote."""

    grades: int
    """Judge grades (one per sample), scored or unscored."""
    unscored: int
    input_tokens: int
    output_tokens: int
    total_cost: Decimal
    mean_cost: Decimal | None
    """Mean judge cost per graded sample; None before the first grade."""
    mean_input_tokens: float | None
    mean_output_tokens: float | None

    @property
    def mean_tokens(self) -> float | None:
        if self.mean_input_tokens is None or self.mean_output_tokens is None:
            return None
        return self.mean_input_tokens + self.mean_output_tokens


@dataclass(frozen=True)
class GradeCost:
    """Judge usage of one grade, with the sum over its verdicts (equal unless verdicts were
    written by hand)."""

    input_tokens: int
    output_tokens: int
    cost: Decimal
    verdict_cost: Decimal


@dataclass(frozen=True)
class BatchingSaving:
    """Batched against per-criterion judging by the same judges, on the samples both graded."""

    per_criterion: Grader
    batched: Grader
    shared_samples: int
    cost_ratio: float | None
    """Batched mean cost per sample over per-criterion mean cost; None when not measured or
    when the per-criterion judging cost nothing (an unpriced judge)."""
    token_ratio: float | None
    """The same ratio for judge tokens (input and output)."""

    @property
    def measured(self) -> bool:
        return self.shared_samples > 0

    @property
    def summary(self) -> str:
        if not self.measured:
            return "not measured: the two versions have graded no sample in common"
        parts = []
        if self.cost_ratio is not None:
            parts.append(f"costs {self.cost_ratio:.0%} of per-criterion judging")
        if self.token_ratio is not None:
            parts.append(f"uses {self.token_ratio:.0%} of its tokens")
        if not parts:
            shared = self.shared_samples
            return f"not measured: no judge tokens were spent on the {shared} shared samples"
        return f"batched judging {' and '.join(parts)} ({self.shared_samples} shared samples)"


def _judge_cost(row: dict) -> JudgeCost:
    return JudgeCost(
        grades=row["n"],
        unscored=row["unscored"],
        input_tokens=row["input_tokens"] or 0,
        output_tokens=row["output_tokens"] or 0,
        total_cost=row["total_cost"] or Decimal("0"),
        mean_cost=row["mean_cost"],
        mean_input_tokens=row["mean_input"],
        mean_output_tokens=row["mean_output"],
    )


def _aggregates() -> dict:
    return {
        "n": Count("pk"),
        "unscored": Count("pk", filter=Q(status=Grade.Status.UNSCORED)),
        "input_tokens": Sum("judge_input_tokens"),
        "output_tokens": Sum("judge_output_tokens"),
        "total_cost": Sum("judge_cost"),
        "mean_cost": Avg("judge_cost"),
        "mean_input": Avg("judge_input_tokens"),
        "mean_output": Avg("judge_output_tokens"),
    }


def grader_cost(grader: Grader, grades=None) -> JudgeCost:
    """Judge tokens and cost of a grader's grades (or of the given grades of it)."""
    grades = Grade.objects.filter(grader=grader) if grades is None else grades
    return _judge_cost(grades.filter(expert__isnull=True).aggregate(**_aggregates()))


def grader_costs(graders: Iterable[Grader]) -> dict[int, JudgeCost]:
    """Judge cost per grader id, in one query; graders without grades are left out."""
    rows = (
        Grade.objects.filter(grader__in=list(graders), expert__isnull=True)
        .values("grader")
        .annotate(**_aggregates())
    )
    return {row["grader"]: _judge_cost(row) for row in rows}


def grade_cost(grade: Grade) -> GradeCost:
    """One grade's judge tokens and cost, with what its verdicts add up to."""
    verdicts = grade.verdicts.aggregate(cost=Sum("cost"))
    return GradeCost(
        input_tokens=grade.judge_input_tokens,
        output_tokens=grade.judge_output_tokens,
        cost=grade.judge_cost,
        verdict_cost=verdicts["cost"] or Decimal("0"),
    )


def _judge_set(grader: Grader) -> frozenset[int]:
    return frozenset(judge.pk for judge in grader.judges())


def _ratio(numerator: float | Decimal | None, denominator: float | Decimal | None) -> float | None:
    if numerator is None or not denominator:
        return None
    return float(numerator) / float(denominator)


def batching_saving(per_criterion: Grader, batched: Grader) -> BatchingSaving:
    """Mean judge cost and tokens per sample of the two versions on the samples both graded."""
    by_batched = Grade.objects.filter(grader=batched, expert__isnull=True).values("sample")
    shared = Grade.objects.filter(
        grader=per_criterion, expert__isnull=True, sample__in=by_batched
    ).values("sample")
    on_shared = Grade.objects.filter(expert__isnull=True, sample__in=shared)
    both = (
        on_shared.filter(grader__in=[per_criterion, batched])
        .values("grader")
        .annotate(
            n=Count("pk"),
            mean_cost=Avg("judge_cost"),
            mean_tokens=Avg("judge_input_tokens") + Avg("judge_output_tokens"),
        )
    )
    by_grader = {row["grader"]: row for row in both}
    if batched.pk not in by_grader:
        return BatchingSaving(per_criterion, batched, 0, None, None)
    mine, theirs = by_grader[batched.pk], by_grader[per_criterion.pk]
    return BatchingSaving(
        per_criterion=per_criterion,
        batched=batched,
        shared_samples=mine["n"],
        cost_ratio=_ratio(mine["mean_cost"], theirs["mean_cost"]),
        token_ratio=_ratio(mine["mean_tokens"], theirs["mean_tokens"]),
    )


def batching_savings(grader: Grader) -> list[BatchingSaving]:
    """The grader against every LLM grader with the same judges and the other mode."""
    if grader.is_human or grader.judge_id is None:
        return []
    other_mode = (
        Grader.Mode.PER_CRITERION if grader.mode == Grader.Mode.BATCHED else Grader.Mode.BATCHED
    )
    judges = _judge_set(grader)
    others = (
        Grader.objects.filter(kind=Grader.Kind.LLM_RUBRIC, mode=other_mode, judge=grader.judge_id)
        .select_related("judge")
        .prefetch_related("extra_judges")
    )
    savings = []
    for other in others:
        if _judge_set(other) != judges:
            continue
        if grader.mode == Grader.Mode.BATCHED:
            savings.append(batching_saving(other, grader))
        else:
            savings.append(batching_saving(grader, other))
    return savings
