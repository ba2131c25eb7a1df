"""Grading: judge calls for each sample, scores, and closing a run once it is fully graded.

For each sample and LLM grader: the pre-filter may score the answer 0 without a judge call
(graders.prefilter); the family guard keeps a judge off models of its own family; each
judge is asked with the grader's prompt version; an ensemble takes each criterion's
majority. A grade the judges could not reach is unscored with the reason, never scored 0.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from typing import Any, NamedTuple

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef, QuerySet
from django.utils import timezone

from graders import prefilter, prompts
from graders.models import CriterionVerdict, Grade, Grader
from graders.scoring import CriterionOutcome, score_sample
from graders.validation import with_latest_validation
from occupations.models import RubricCriterion, TaskVersion
from runs.engine import CallOutcome, complete_all, forget_cached
from runs.models import ModelEndpoint, Run, Sample
from runs.providers import Message, ModelRequest, OutputSchema, is_reasoning_model
from runs.services import FINISH_GRADING_TASK, GRADE_SAMPLES_TASK, enqueue

logger = logging.getLogger(__name__)

REFRESH_RUN_RESULTS_TASK = "reports.tasks.refresh_run_results"
"""Rebuilds the report results a run feeds; reports is downstream, so reached by name."""

COST_QUANTUM = Decimal("0.000001")
"""The precision costs are stored to (CriterionVerdict.cost, Grade.judge_cost)."""


class Verdict(NamedTuple):
    """The verdict on one criterion of one sample, with what it cost."""

    met: bool
    """For a negative criterion: the undesirable behaviour is present."""
    explanation: str
    raw_reply: str
    votes: list[dict[str, Any]] = []
    """Each judge's verdict in an ensemble: {judge, met, explanation}."""
    input_tokens: int = 0
    output_tokens: int = 0
    cost: Decimal = Decimal("0")
    """Of this verdict's calls, summed over judges; in batched mode, an even share."""


@dataclass
class Judgement:
    """What the judges said about one sample, before it is written."""

    verdicts: dict[int, Verdict] = field(default_factory=dict)
    """{criterion id: verdict}"""
    unscored_reason: str = ""
    input_tokens: int = 0
    output_tokens: int = 0
    cost: Decimal = Decimal("0")
    """Every judge call made for the sample, unusable replies included; cached calls are free."""
    cached_calls: int = 0
    """Judge calls answered from the response cache, every ensemble judge's counted."""
    prefilter: str = ""
    """The pre-filter's reason code when it scored the answer 0 without a judge."""
    flags: list[str] = field(default_factory=list)


@dataclass
class _JudgeReading:
    """One judge's reading of one sample: a verdict per criterion, or why it has none."""

    verdicts: dict[int, tuple[bool, str, str, int, int, Decimal]] = field(default_factory=dict)
    """{criterion id: (met, explanation, raw reply, input tokens, output tokens, cost)}"""
    failure: str = ""


def same_family(judge: ModelEndpoint, family: str | None) -> bool:
    """Judge and model of one family (case-insensitive); a blank family matches nothing."""
    mine, theirs = (judge.family or "").strip().casefold(), (family or "").strip().casefold()
    return bool(mine) and mine == theirs


def _split(total: int, parts: int) -> list[int]:
    """`total` in `parts` whole shares that add up to it, the remainder on the first ones."""
    share, rest = divmod(total, parts)
    return [share + (1 if i < rest else 0) for i in range(parts)]


def _split_cost(total: Decimal, parts: int) -> list[Decimal]:
    """A cost in `parts` shares to the cent's ten-thousandth that add up to it."""
    units = int((total / COST_QUANTUM).to_integral_value())
    return [COST_QUANTUM * n for n in _split(units, parts)]


def _prefiltered(criteria: Sequence[RubricCriterion], reason: str, flags: list[str]) -> Judgement:
    """Every criterion not met, negative ones too (behaviour absent), so the score is 0."""
    why = f"Pre-filter ({reason}): {prefilter.REASONS[reason]}; scored 0 without a judge call."
    return Judgement(
        verdicts={c.pk: Verdict(False, why, "") for c in criteria},
        prefilter=reason,
        flags=flags,
    )


class _Spent(NamedTuple):
    """What one judge's calls about one sample used; calls answered from the cache are free."""

    input_tokens: int = 0
    output_tokens: int = 0
    cost: Decimal = Decimal("0")
    cached_calls: int = 0


def _judge_request(
    judge: ModelEndpoint,
    prompt: prompts.JudgePrompt,
    messages: list[Message],
    schema: OutputSchema | None,
) -> ModelRequest:
    # A reasoning model refuses a temperature, and 0 would not make its reasoning repeatable.
    reasoning = is_reasoning_model(judge.parameters or {}, judge.model_id)
    return ModelRequest(
        messages=messages,
        json_output=True,
        output_schema=schema,
        temperature=None if reasoning else prompt.temperature,
        metadata={"purpose": "judge"},
    )


def _read_judge(
    judge: ModelEndpoint,
    prompt: prompts.JudgePrompt,
    mode: str,
    work: Sequence[tuple[int, TaskVersion, list[RubricCriterion], str]],
    *,
    use_cache: bool = True,
) -> tuple[dict[int, _JudgeReading], dict[int, _Spent]]:
    """Ask one judge about every (index, version, criteria, output); its readings by index,
    and what its calls used by index. `use_cache=False` asks the judge afresh.

    A reply that cannot be read is removed from the response cache, so that grading the
    sample again asks the judge again instead of reading the same reply."""
    plans: list[tuple[int, list[RubricCriterion]]] = []
    requests: list[ModelRequest] = []
    for index, version, criteria, output in work:
        if mode == Grader.Mode.BATCHED:
            plans.append((index, criteria))
            messages = prompt.batched(version, criteria, output)
            requests.append(_judge_request(judge, prompt, messages, prompt.batched_schema))
        else:
            for criterion in criteria:
                plans.append((index, [criterion]))
                messages = prompt.per_criterion(version, criterion, output)
                requests.append(
                    _judge_request(judge, prompt, messages, prompt.per_criterion_schema)
                )
    outcomes: list[CallOutcome] = (
        complete_all(judge, requests, use_cache=use_cache) if requests else []
    )
    readings = {index: _JudgeReading() for index, *_ in work}
    spent = {index: _Spent() for index, *_ in work}
    unreadable: list[ModelRequest] = []
    for (index, targets), request, outcome in zip(plans, requests, outcomes, strict=True):
        reading = readings[index]
        if outcome.error is not None:
            reading.failure = reading.failure or (
                f"judge call failed ({outcome.error.kind}): {outcome.error}"
            )
            continue
        assert outcome.response is not None
        response = outcome.response
        # A cached verdict cost nothing this time.
        tokens_in, tokens_out = (
            (0, 0)
            if outcome.cached
            else (
                response.input_tokens,
                response.output_tokens,
            )
        )
        cost = judge.cost_of(tokens_in, tokens_out) if tokens_in or tokens_out else Decimal("0")
        before = spent[index]
        spent[index] = _Spent(
            before.input_tokens + tokens_in,
            before.output_tokens + tokens_out,
            before.cost + cost,
            before.cached_calls + int(outcome.cached),
        )
        try:
            if mode == Grader.Mode.BATCHED:
                parsed = prompts.parse_batched(response.text, [c.pk for c in targets])
            else:
                parsed = {targets[0].pk: prompts.parse_per_criterion(response.text)}
        except prompts.JudgeReplyError as error:
            reading.failure = reading.failure or f"unusable judge reply: {error}"
            unreadable.append(request)
            continue
        # A batched call's tokens and cost are shared evenly by the criteria it answered.
        shares = zip(
            _split(tokens_in, len(parsed)),
            _split(tokens_out, len(parsed)),
            _split_cost(cost, len(parsed)),
            strict=True,
        )
        for (cid, (met, why)), (share_in, share_out, share_cost) in zip(
            parsed.items(), shares, strict=True
        ):
            reading.verdicts[cid] = (met, why, response.text, share_in, share_out, share_cost)
    # A reply that did not parse is a successful call all the same, so it was cached.
    forget_cached(judge, unreadable)
    return readings, spent


def _combine(
    criteria: Sequence[RubricCriterion],
    eligible: Sequence[ModelEndpoint],
    readings: dict[int, _JudgeReading],
) -> tuple[dict[int, Verdict], str]:
    """Each criterion's majority verdict over the judges that read the whole sample, or why
    the sample has none."""
    usable = [
        j
        for j in eligible
        if not readings[j.pk].failure and all(c.pk in readings[j.pk].verdicts for c in criteria)
    ]
    if len(usable) * 2 <= len(eligible):
        failed = [j for j in eligible if j not in usable]
        if len(eligible) == 1:
            return {}, readings[failed[0].pk].failure or "the judge gave no verdict"
        failures = "; ".join(
            f"{j.slug}: {readings[j.pk].failure or 'the judge gave no verdict'}" for j in failed
        )
        return {}, (
            f"only {len(usable)} of {len(eligible)} judges gave a usable verdict, fewer than "
            f"a majority: {failures}"
        )
    verdicts: dict[int, Verdict] = {}
    for criterion in criteria:
        ballots = [(judge, readings[judge.pk].verdicts[criterion.pk]) for judge in usable]
        yes = sum(1 for _, ballot in ballots if ballot[0])
        no = len(ballots) - yes
        if yes != no:
            met = yes > no
            note = ""
        else:
            # A tie counts against the answer (not met; for a negative criterion, present):
            # a grade should not rise on a verdict the judges could not agree on.
            met = criterion.points < 0
            note = f"Judges split {yes}-{no}; a tie counts against the answer. "
        chosen = next(ballot for _, ballot in ballots if ballot[0] == met)
        single = len(ballots) == 1
        verdicts[criterion.pk] = Verdict(
            met=met,
            explanation=note + chosen[1],
            raw_reply=chosen[2]
            if single
            else "\n\n".join(f"[{judge.slug}]\n{ballot[2]}" for judge, ballot in ballots),
            votes=[]
            if single
            else [
                {"judge": judge.slug, "met": ballot[0], "explanation": ballot[1]}
                for judge, ballot in ballots
            ],
            input_tokens=sum(ballot[3] for _, ballot in ballots),
            output_tokens=sum(ballot[4] for _, ballot in ballots),
            cost=sum((ballot[5] for _, ballot in ballots), Decimal("0")),
        )
    return verdicts, ""


def judge_samples(
    grader: Grader, samples: Sequence[Sample], *, fresh: bool = False
) -> list[Judgement]:
    """Ask the grader's judges about every criterion of every sample; `fresh` asks them
    again rather than reading their cached answers."""
    return judge_outputs(
        grader,
        [(sample.task_version, sample.output) for sample in samples],
        families=[sample.run.endpoint.family for sample in samples],
        fresh=fresh,
    )


def judge_outputs(
    grader: Grader,
    outputs: Sequence[tuple[TaskVersion, str]],
    *,
    families: Sequence[str | None] | None = None,
    screen: bool | None = None,
    fresh: bool = False,
) -> list[Judgement]:
    """Ask the grader's judges about every criterion of every (version, output) pair.

    `families` are the model families of the outputs, for the family guard (None: unknown,
    e.g. a reference solution). `screen` overrides the grader's pre-filter setting. `fresh`
    asks the judges again instead of reading the response cache.
    """
    try:
        prompt = prompts.prompt_for(grader.prompt_version)
    except prompts.UnknownPromptVersion as error:
        # A grader names the prompt it was validated with; another prompt is another grader.
        return [Judgement(unscored_reason=str(error)) for _ in outputs]
    judges = grader.judges()
    if not judges:
        return [Judgement(unscored_reason="the grader has no judge model") for _ in outputs]
    screen = grader.prefilter if screen is None else screen
    families = list(families) if families is not None else [None] * len(outputs)
    judgements: list[Judgement | None] = [None] * len(outputs)
    criteria_of: dict[int, list[RubricCriterion]] = {}
    eligible_of: dict[int, list[ModelEndpoint]] = {}
    flags_of: dict[int, list[str]] = {}
    for index, ((version, output), family) in enumerate(zip(outputs, families, strict=True)):
        criteria = list(version.criteria.all())
        criteria_of[index] = criteria
        screening = prefilter.screen(output) if screen else prefilter.Screening()
        flags = screening.flags
        if screening.caught:
            judgements[index] = _prefiltered(criteria, screening.reason, flags)
            continue
        kin = [judge for judge in judges if same_family(judge, family)]
        if grader.allow_same_family:
            eligible = judges
            if kin:
                flags = [*flags, "same_family"]
        else:
            # A judge never grades a model of its own family; in an ensemble it sits out.
            eligible = [judge for judge in judges if judge not in kin]
        if not eligible:
            judgements[index] = Judgement(
                unscored_reason=(
                    f"family guard: judge {', '.join(j.slug for j in kin)} is of the graded "
                    f"model's own family ({family}); allow same-family grading in a new "
                    "version of the grader to grade it anyway"
                ),
                flags=flags,
            )
            continue
        eligible_of[index] = eligible
        flags_of[index] = flags
    readings: dict[int, dict[int, _JudgeReading]] = {index: {} for index in eligible_of}
    for judge in judges:
        work = [
            (index, outputs[index][0], criteria_of[index], outputs[index][1])
            for index, eligible in eligible_of.items()
            if judge in eligible
        ]
        if not work:
            continue
        by_index, spent = _read_judge(judge, prompt, grader.mode, work, use_cache=not fresh)
        for index, reading in by_index.items():
            readings[index][judge.pk] = reading
            judgement = judgements[index] or Judgement(flags=flags_of[index])
            judgements[index] = judgement
            used = spent[index]
            judgement.input_tokens += used.input_tokens
            judgement.output_tokens += used.output_tokens
            judgement.cost += used.cost
            judgement.cached_calls += used.cached_calls
    for index, eligible in eligible_of.items():
        judgement = judgements[index] or Judgement(flags=flags_of[index])
        judgements[index] = judgement
        judgement.verdicts, judgement.unscored_reason = _combine(
            criteria_of[index], eligible, readings[index]
        )
    return [j if j is not None else Judgement() for j in judgements]


@transaction.atomic
def record_grade(grader: Grader, sample: Sample, judgement: Judgement) -> Grade | None:
    """Write one grade with its verdicts; None when this grader had graded the sample already.

    A grade the judges could not reach is unscored with the reason, never scored 0.
    """
    criteria = list(sample.task_version.criteria.all())
    reason = judgement.unscored_reason
    if not reason and any(c.pk not in judgement.verdicts for c in criteria):
        reason = "the judge gave no verdict for some criteria"
    fields: dict[str, Any] = {
        "grader_config": grader.config(),
        "prompt_version": grader.prompt_version,
        "prefilter": judgement.prefilter,
        "flags": judgement.flags,
        "judge_input_tokens": judgement.input_tokens,
        "judge_output_tokens": judgement.output_tokens,
        "judge_cost": judgement.cost,
        "judge_cached_calls": judgement.cached_calls,
    }
    if reason:
        fields.update(status=Grade.Status.UNSCORED, unscored_reason=reason[:2000])
    else:
        result = score_sample(
            [
                CriterionOutcome(
                    points=c.points,
                    met=judgement.verdicts[c.pk].met,
                    critical=c.critical,
                    tag=c.tag,
                )
                for c in criteria
            ],
            sample.task_version.pass_threshold,
        )
        fields.update(
            status=Grade.Status.SCORED,
            score=result.score,
            success=result.success,
            tag_scores=result.tag_scores,
        )
    grade, created = Grade.objects.get_or_create(
        sample=sample, grader=grader, expert=None, defaults=fields
    )
    if not created:
        return None  # graded meanwhile by a redelivered or parallel task
    if grade.status == Grade.Status.SCORED:
        CriterionVerdict.objects.bulk_create(
            [
                CriterionVerdict(
                    grade=grade,
                    criterion_id=criterion_id,
                    met=verdict.met,
                    explanation=verdict.explanation[:2000],
                    raw_reply=verdict.raw_reply,
                    votes=verdict.votes,
                    input_tokens=verdict.input_tokens,
                    output_tokens=verdict.output_tokens,
                    cost=verdict.cost,
                )
                for criterion_id, verdict in judgement.verdicts.items()
            ]
        )
    return grade


def active_graders() -> list[Grader]:
    """LLM graders that grade every new sample; human graders have queues instead."""
    return list(
        Grader.objects.filter(is_active=True, kind=Grader.Kind.LLM_RUBRIC, judge__isnull=False)
        .select_related("judge")
        .prefetch_related("extra_judges")
    )


def report_graders() -> QuerySet[Grader]:
    """LLM grader versions that reports can use: those with scored grades, newest first."""
    scored = Grade.objects.filter(grader=OuterRef("pk"), status=Grade.Status.SCORED)
    return (
        Grader.objects.filter(Exists(scored), kind=Grader.Kind.LLM_RUBRIC)
        .select_related("judge")
        .order_by("-created_at", "-pk")
    )


def default_grader() -> Grader | None:
    """The grader whose grades are shown unless another is asked for (reports, the run page,
    calibration): the newest active LLM grader version with scored grades whose latest
    validation against experts passed, else the newest active one with scored grades, else
    the newest active one (nothing graded yet), else the newest version with scored grades
    (every grader retired)."""
    active = Grader.objects.filter(is_active=True, kind=Grader.Kind.LLM_RUBRIC)
    return (
        with_latest_validation(report_graders().filter(is_active=True))
        .filter(latest_validation_passed=True)
        .first()
        or report_graders().filter(is_active=True).first()
        or active.select_related("judge").order_by("-created_at", "-pk").first()
        or report_graders().first()
    )


def grade_samples(
    sample_ids: Iterable[int], graders: Sequence[Grader] | None = None, *, fresh: bool = False
) -> int:
    """Grade the given samples with every active LLM grader, or with `graders`; returns
    grades written. `fresh` asks the judges again rather than reading cached answers (a
    regrade of unscored grades, whose cached replies are what failed)."""
    sample_ids = list(sample_ids)
    written = 0
    graded_runs: set[int] = set()
    for grader in graders if graders is not None else active_graders():
        if grader.is_human:
            continue  # experts grade from their queue
        samples = list(
            Sample.objects.filter(pk__in=sample_ids, status=Sample.Status.DONE)
            .exclude(grades__grader=grader)
            .select_related("task_version__task", "run__endpoint")
            .prefetch_related("task_version__criteria")
        )
        if not samples:
            continue
        judgements = judge_samples(grader, samples, fresh=fresh)
        for sample, judgement in zip(samples, judgements, strict=True):
            if record_grade(grader, sample, judgement) is not None:
                written += 1
                graded_runs.add(sample.run_id)
    # Grades landing on a run that is already complete (a regrade) change its reported results.
    for run_id in Run.objects.filter(pk__in=graded_runs, status=Run.Status.COMPLETED).values_list(
        "pk", flat=True
    ):
        enqueue(REFRESH_RUN_RESULTS_TASK, run_id=run_id)
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
        if any_done:
            enqueue(REFRESH_RUN_RESULTS_TASK, run_id=run.pk)
    return bool(closed)
