"""Grading: judge calls for each sample, scores, and closing a run once it is fully graded."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from graders import prompts
from graders.models import CriterionVerdict, Grade, Grader
from graders.scoring import CriterionOutcome, is_success, rubric_score
from occupations.models import RubricCriterion, TaskVersion
from runs.engine import CallOutcome, complete_all
from runs.models import Run, Sample
from runs.providers import ModelRequest
from runs.services import FINISH_GRADING_TASK, GRADE_SAMPLES_TASK, enqueue

logger = logging.getLogger(__name__)


@dataclass
class Judgement:
    """What the judge said about one sample, before it is written."""

    verdicts: dict[int, tuple[bool, str, str]] = field(default_factory=dict)
    """{criterion id: (met, explanation, raw reply)}"""
    unscored_reason: str = ""
    input_tokens: int = 0
    output_tokens: int = 0


def _judge_request(messages: list[dict[str, str]]) -> ModelRequest:
    return ModelRequest(messages=messages, json_output=True, metadata={"purpose": "judge"})


def judge_samples(grader: Grader, samples: Sequence[Sample]) -> list[Judgement]:
    """Ask the grader's judge about every criterion of every sample, concurrently."""
    return judge_outputs(grader, [(sample.task_version, sample.output) for sample in samples])


def judge_outputs(grader: Grader, outputs: Sequence[tuple[TaskVersion, str]]) -> list[Judgement]:
    """Ask the grader's judge about every criterion of every (version, output) pair."""
    if grader.prompt_version != prompts.PROMPT_VERSION:
        # A grader names the prompt it was validated with; another prompt is another grader.
        reason = (
            f"grader asks for judge prompt {grader.prompt_version!r}, "
            f"but this installation has {prompts.PROMPT_VERSION!r}"
        )
        return [Judgement(unscored_reason=reason) for _ in outputs]
    plans: list[tuple[int, list[RubricCriterion] | RubricCriterion]] = []
    requests: list[ModelRequest] = []
    for index, (version, output) in enumerate(outputs):
        criteria = list(version.criteria.all())
        if grader.mode == Grader.Mode.BATCHED:
            plans.append((index, criteria))
            requests.append(_judge_request(prompts.batched_messages(version, criteria, output)))
        else:
            for criterion in criteria:
                plans.append((index, criterion))
                requests.append(
                    _judge_request(prompts.per_criterion_messages(version, criterion, output))
                )
    outcomes: list[CallOutcome] = complete_all(grader.judge, requests)
    judgements = [Judgement() for _ in outputs]
    for (index, target), outcome in zip(plans, outcomes, strict=True):
        judgement = judgements[index]
        if outcome.error is not None:
            judgement.unscored_reason = judgement.unscored_reason or (
                f"judge call failed ({outcome.error.kind}): {outcome.error}"
            )
            continue
        assert outcome.response is not None
        if not outcome.cached:  # a cached verdict cost nothing this time
            judgement.input_tokens += outcome.response.input_tokens
            judgement.output_tokens += outcome.response.output_tokens
        reply = outcome.response.text
        try:
            if isinstance(target, list):
                parsed = prompts.parse_batched(reply, [c.pk for c in target])
                for criterion_id, (met, why) in parsed.items():
                    judgement.verdicts[criterion_id] = (met, why, reply)
            else:
                met, why = prompts.parse_per_criterion(reply)
                judgement.verdicts[target.pk] = (met, why, reply)
        except prompts.JudgeReplyError as error:
            judgement.unscored_reason = judgement.unscored_reason or (
                f"unusable judge reply: {error}"
            )
    return judgements


@transaction.atomic
def record_grade(grader: Grader, sample: Sample, judgement: Judgement) -> Grade | None:
    """Write one grade with its verdicts; None when this grader had graded the sample already."""
    criteria = list(sample.task_version.criteria.all())
    cost = (
        grader.judge.cost_of(judgement.input_tokens, judgement.output_tokens)
        if grader.judge
        else Decimal("0")
    )
    reason = judgement.unscored_reason
    if not reason and any(c.pk not in judgement.verdicts for c in criteria):
        reason = "the judge gave no verdict for some criteria"
    fields: dict = {
        "judge_input_tokens": judgement.input_tokens,
        "judge_output_tokens": judgement.output_tokens,
        "judge_cost": cost,
    }
    if reason:
        fields.update(status=Grade.Status.UNSCORED, unscored_reason=reason[:2000])
    else:
        outcomes = [
            CriterionOutcome(points=c.points, met=judgement.verdicts[c.pk][0], critical=c.critical)
            for c in criteria
        ]
        fields.update(
            status=Grade.Status.SCORED,
            score=rubric_score(outcomes),
            success=is_success(outcomes, sample.task_version.pass_threshold),
        )
    grade, created = Grade.objects.get_or_create(sample=sample, grader=grader, defaults=fields)
    if not created:
        return None  # graded meanwhile by a redelivered or parallel task
    CriterionVerdict.objects.bulk_create(
        [
            CriterionVerdict(
                grade=grade, criterion_id=cid, met=met, explanation=why[:2000], raw_reply=raw
            )
            for cid, (met, why, raw) in judgement.verdicts.items()
        ]
    )
    return grade


def active_graders() -> list[Grader]:
    return list(
        Grader.objects.filter(
            is_active=True, kind=Grader.Kind.LLM_RUBRIC, judge__isnull=False
        ).select_related("judge")
    )


def grade_samples(sample_ids: Iterable[int], graders: Sequence[Grader] | None = None) -> int:
    """Grade the given samples with every active LLM grader; returns grades written."""
    sample_ids = list(sample_ids)
    written = 0
    for grader in graders if graders is not None else active_graders():
        samples = list(
            Sample.objects.filter(pk__in=sample_ids, status=Sample.Status.DONE)
            .exclude(grades__grader=grader)
            .select_related("task_version__task")
            .prefetch_related("task_version__criteria")
        )
        if not samples:
            continue
        for sample, judgement in zip(samples, judge_samples(grader, samples), strict=True):
            if record_grade(grader, sample, judgement) is not None:
                written += 1
    return written


def ungraded_samples(run: Run, graders: Sequence[Grader]):
    """Done samples of a run that some active grader has not graded yet."""
    pending = Sample.objects.none()
    for grader in graders:
        graded = Grade.objects.filter(sample=OuterRef("pk"), grader=grader)
        pending = pending | Sample.objects.filter(run=run, status=Sample.Status.DONE).exclude(
            Exists(graded)
        )
    return pending


GRADE_BATCH = 50


def watch_grading() -> list[int]:
    """Send grading again for runs whose grading has gone silent (a grading message lost
    with a dead worker): ungraded samples are enqueued again. Returns the run ids."""
    silent_since = timezone.now() - timedelta(seconds=settings.EVALBUILDER_STALL_SECONDS)
    recent = Grade.objects.filter(sample__run=OuterRef("pk"), created_at__gte=silent_since)
    stalled = Run.objects.filter(status=Run.Status.GRADING, sampled_at__lt=silent_since).exclude(
        Exists(recent)
    )
    graders = active_graders()
    restarted = []
    for run in stalled:
        pending = list(ungraded_samples(run, graders).values_list("pk", flat=True).distinct())
        logger.warning("run %s: grading silent; sending %s samples again", run.pk, len(pending))
        with transaction.atomic():
            for start in range(0, len(pending), GRADE_BATCH):
                enqueue(GRADE_SAMPLES_TASK, sample_ids=pending[start : start + GRADE_BATCH])
            if not pending:
                enqueue(FINISH_GRADING_TASK, run_id=run.pk)
        restarted.append(run.pk)
    return restarted


def finish_run_grading(run: Run) -> bool:
    """Close a run whose samples are all written and graded; True when this call closed it."""
    if run.status != Run.Status.GRADING:
        return False
    if ungraded_samples(run, active_graders()).exists():
        return False
    any_done = Sample.objects.filter(run=run, status=Sample.Status.DONE).exists()
    closed = Run.objects.filter(pk=run.pk, status=Run.Status.GRADING).update(
        status=Run.Status.COMPLETED if any_done else Run.Status.FAILED,
        finished_at=timezone.now(),
        error="" if any_done else "every sample failed; see the samples for their errors",
    )
    if closed:
        logger.info("run %s finished", run.pk)
    return bool(closed)
