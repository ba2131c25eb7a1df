"""What judging costs: tokens and money per grader, and what batched mode saves.

Only judge grades count (expert grades have no judge). Means and savings leave out grades
answered from the judge response cache, which cost nothing this time. The database sums
and averages.
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
    cached: int
    """Grades with a judge call answered from the response cache. Their totals leave the
    cached calls out, so they are left out of the means, which they would pull down."""
    input_tokens: int
    output_tokens: int
    total_cost: Decimal
    mean_cost: Decimal | None
    """Mean judge cost per graded sample over the grades without a cached call; None when
    there is no such grade."""
    mean_input_tokens: float | None
    mean_output_tokens: float | None

    @property
    def mean_tokens(self) -> float | None:
        if self.mean_input_tokens is None or self.mean_output_tokens is None:
            return None
        return self.mean_input_tokens + self.mean_output_tokens

    @property
    def measured(self) -> int:
        """Grades the means are taken over."""
        return self.grades - self.cached


@dataclass(frozen=True)
class BatchingSaving:
    """Batched against per-criterion judging by the same judges, on the samples both graded."""

    per_criterion: Grader
    batched: Grader
    shared_samples: int
    """Samples both graded with no judge call answered from the cache."""
    cost_ratio: float | None
    """Batched mean cost per sample over per-criterion mean cost; None when not measured or
    when the per-criterion judging cost nothing (an unpriced judge)."""
    token_ratio: float | None
    """The same ratio for judge tokens (input and output)."""
    cached: int = 0
    """Grades of the two graders on samples both graded that were answered from the judge
    cache: left out, with their sample, since a cached call costs nothing."""

    @property
    def measured(self) -> bool:
        return self.shared_samples > 0

    @property
    def cached_note(self) -> str:
        if not self.cached:
            return ""
        return f"; {self.cached} grades answered from the judge cache left out"

    @property
    def summary(self) -> str:
        if not self.measured:
            if self.cached:
                return (
                    "not measured: on every sample both graders graded, a grade was answered "
                    f"from the judge cache ({self.cached} grades left out)"
                )
            return "not measured: the two graders have graded no sample in common"
        parts = []
        if self.cost_ratio is not None:
            parts.append(f"costs {self.cost_ratio:.0%} of per-criterion judging")
        if self.token_ratio is not None:
            parts.append(f"uses {self.token_ratio:.0%} of its tokens")
        if not parts:
            shared = self.shared_samples
            return f"not measured: no judge tokens were spent on the {shared} shared samples"
        shared = f"{self.shared_samples} shared samples{self.cached_note}"
        return f"batched judging {' and '.join(parts)} ({shared})"


def _judge_cost(row: dict) -> JudgeCost:
    return JudgeCost(
        grades=row["n"],
        unscored=row["unscored"],
        cached=row["cached"],
        input_tokens=row["input_tokens"] or 0,
        output_tokens=row["output_tokens"] or 0,
        total_cost=row["total_cost"] or Decimal("0"),
        mean_cost=row["mean_cost"],
        mean_input_tokens=row["mean_input"],
        mean_output_tokens=row["mean_output"],
    )


UNCACHED = Q(judge_cached_calls=0)
"""Grades whose judge calls were all made, and paid for, when they were graded."""


def _aggregates() -> dict:
    return {
        "n": Count("pk"),
        "unscored": Count("pk", filter=Q(status=Grade.Status.UNSCORED)),
        "cached": Count("pk", filter=~UNCACHED),
        "input_tokens": Sum("judge_input_tokens"),
        "output_tokens": Sum("judge_output_tokens"),
        "total_cost": Sum("judge_cost"),
        "mean_cost": Avg("judge_cost", filter=UNCACHED),
        "mean_input": Avg("judge_input_tokens", filter=UNCACHED),
        "mean_output": Avg("judge_output_tokens", filter=UNCACHED),
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


def _judge_set(grader: Grader) -> frozenset[int]:
    return frozenset(judge.pk for judge in grader.judges())


def _ratio(numerator: float | Decimal | None, denominator: float | Decimal | None) -> float | None:
    if numerator is None or not denominator:
        return None
    return float(numerator) / float(denominator)


def batching_saving(per_criterion: Grader, batched: Grader) -> BatchingSaving:
    """Mean judge cost and tokens per sample of the two graders on the samples both graded.

    A sample where either grade was answered from the judge cache is left out: the cache,
    not the mode, made it cheap.
    """
    judged = Grade.objects.filter(expert__isnull=True, grader__in=[per_criterion, batched])
    by_batched = judged.filter(grader=batched).values("sample")
    in_common = judged.filter(grader=per_criterion, sample__in=by_batched).values("sample")
    on_common = judged.filter(sample__in=in_common)
    from_cache = on_common.exclude(UNCACHED)
    rows = (
        on_common.exclude(sample__in=from_cache.values("sample"))
        .values("grader")
        .annotate(
            n=Count("pk"),
            mean_cost=Avg("judge_cost"),
            mean_tokens=Avg("judge_input_tokens") + Avg("judge_output_tokens"),
        )
    )
    by_grader = {row["grader"]: row for row in rows}
    cached = from_cache.count()
    if batched.pk not in by_grader:
        return BatchingSaving(per_criterion, batched, 0, None, None, cached)
    mine, theirs = by_grader[batched.pk], by_grader[per_criterion.pk]
    return BatchingSaving(
        per_criterion=per_criterion,
        batched=batched,
        shared_samples=mine["n"],
        cost_ratio=_ratio(mine["mean_cost"], theirs["mean_cost"]),
        token_ratio=_ratio(mine["mean_tokens"], theirs["mean_tokens"]),
        cached=cached,
    )


def batching_savings(grader: Grader) -> list[BatchingSaving]:
    """The grader against every LLM grader in the other mode with the same judges, judge
    prompt and pre-filter: with another prompt or pre-filter, the difference in cost is
    not the mode's alone."""
    if grader.is_human or grader.judge_id is None:
        return []
    other_mode = (
        Grader.Mode.PER_CRITERION if grader.mode == Grader.Mode.BATCHED else Grader.Mode.BATCHED
    )
    judges = _judge_set(grader)
    others = (
        Grader.objects.filter(
            kind=Grader.Kind.LLM_RUBRIC,
            mode=other_mode,
            judge=grader.judge_id,
            prompt_version=grader.prompt_version,
            prefilter=grader.prefilter,
        )
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
