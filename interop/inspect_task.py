"""A suite as an Inspect AI task: a dataset, a task file and a README, in one folder.

The task file grades like the platform's rubric grader: one judge call per criterion with
the newest judge prompt (graders.prompts.PROMPT_VERSION), the reply read as
graders.prompts reads it, and the score and success of graders.scoring. Those parts are
written into the file from the code that grades here, at export time, so the two cannot
drift apart: the prompt as templates cut from a rendered prompt, the reply parsing and the
scoring as their source. The task file imports Inspect AI (it runs inside Inspect); this
module does not.
"""

from __future__ import annotations

import inspect
import json
import pprint
import re
from pathlib import Path

from django.utils import timezone

from graders import prompts, scoring
from occupations.jsonl import suite_versions
from occupations.models import RubricCriterion, Suite, TaskVersion
from runs.prompting import task_messages, task_prompt
from runs.providers import judging

DATASET_FILE = "dataset.jsonl"
TASK_FILE = "task.py"
README_FILE = "README.md"

TASK_MARK = "<<TASK>>"
CRITERION_MARK = "<<CRITERION>>"
OUTPUT_MARK = "<<OUTPUT>>"
"""Placeholders of the judge prompt templates; filled in one pass, so that a task or an
output that contains a placeholder is never filled in again."""


def sample_id(version: TaskVersion) -> str:
    """The Inspect sample id of a task version: its task's slug and its number."""
    return f"{version.task.slug}-v{version.number}"


def suite_identifier(suite: Suite) -> str:
    """The name of the task function: `suite_` and the slug as a Python name, so that no
    slug (`generate`, `json`, a keyword) can shadow a name the task file uses."""
    return "suite_" + re.sub(r"\W", "_", suite.slug)


def sample_record(suite: Suite, version: TaskVersion) -> dict:
    """One Inspect sample: the messages a model gets here, the reference solution as target,
    and what grading needs under metadata.evalbuilder."""
    task = version.task
    metadata = {
        "suite": suite.slug,
        "task_version": version.pk,
        "task": task.slug,
        "version": version.number,
        "taxonomy": str(task.occupation.taxonomy),
        "occupation": task.occupation.code,
        "estimated_minutes": version.estimated_minutes,
        "pass_threshold": version.pass_threshold,
    }
    if task.is_held_out:
        metadata["canary"] = str(task.canary)
    metadata["rubric"] = [
        {
            "order": c.order,
            "text": c.text,
            "points": c.points,
            "tag": c.tag,
            "critical": c.critical,
        }
        for c in version.criteria.all()
    ]
    return {
        "id": sample_id(version),
        "input": task_messages(version, suite=suite),
        "target": version.reference_solution,
        "metadata": {"evalbuilder": metadata},
    }


def judge_templates(version: TaskVersion) -> tuple[str, str, str]:
    """The system message and the user message templates (positive and negative criterion)
    of the newest per-criterion judge prompt, cut from prompts rendered for `version`."""
    task_text = task_prompt(version)
    system = ""
    templates = []
    for points in (1, -1):
        criterion = RubricCriterion(
            task_version=version, order=0, text=CRITERION_MARK, points=points
        )
        system_message, user_message = prompts.per_criterion_messages(
            version, criterion, OUTPUT_MARK, prompts.PROMPT_VERSION
        )
        user = user_message["content"]
        if user.count(task_text) != 1:
            raise ValueError(f"the judge prompt does not hold the task of {version} once")
        templates.append(user.replace(task_text, TASK_MARK))
        system = system_message["content"]
    return system, templates[0], templates[1]


def _source(obj) -> str:
    return inspect.getsource(obj).rstrip() + "\n"


def render_task_file(suite: Suite, versions: list[TaskVersion]) -> str:
    """The text of task.py for a suite whose exported versions are `versions`."""
    system, positive, negative = judge_templates(versions[0])
    prompt = prompts.prompt_for(prompts.PROMPT_VERSION)
    schema = prompt.per_criterion_schema
    name = suite_identifier(suite)
    fence = prompts._FENCE
    prompt_tag = judging._PROMPT_TAG
    parts = [
        TASK_FILE_HEAD.format(
            suite_name=_docstring_safe(suite.name),
            suite_slug=suite.slug,
            exported=timezone.now().date().isoformat(),
            prompt_version=prompts.PROMPT_VERSION,
        ),
        "# --- the judge prompt " + "-" * 68 + "\n\n",
        f"PROMPT_VERSION = {prompts.PROMPT_VERSION!r}\n",
        f"JUDGE_SYSTEM = {python_text(system)}\n",
        f"JUDGE_TEMPERATURE = {prompt.temperature!r}\n",
        f"VERDICT_SCHEMA_NAME = {schema.name if schema else None!r}\n",
        f"VERDICT_SCHEMA = {pprint.pformat(schema.schema, sort_dicts=False) if schema else None}\n",
        "# The user message, by the sign of the criterion's points; placeholders filled in one\n",
        "# pass by judge_messages().\n",
        f"POSITIVE_TEMPLATE = {python_text(positive)}\n",
        f"NEGATIVE_TEMPLATE = {python_text(negative)}\n",
        f"TASK_MARK, CRITERION_MARK, OUTPUT_MARK = {TASK_MARK!r}, {CRITERION_MARK!r}, "
        f"{OUTPUT_MARK!r}\n",
        f"_PLACEHOLDER = re.compile({_placeholder_pattern()!r})\n",
        f"_PROMPT_TAG = re.compile({prompt_tag.pattern!r}, re.I)\n\n\n",
        _source(judging.escape_prompt_tags),
        "\n\n",
        JUDGE_MESSAGES_SOURCE,
        "\n\n# --- reading judge replies " + "-" * 63 + "\n\n",
        f"_FENCE = re.compile({fence.pattern!r}, re.S)\n\n\n",
        _source(prompts.JudgeReplyError),
        "\n\n",
        _source(prompts._load_object),
        "\n\n",
        _source(prompts._verdict_of),
        "\n\n",
        _source(prompts.parse_per_criterion),
        "\n\n# --- scoring (HealthBench) " + "-" * 63 + "\n\n",
    ]
    scoring_parts = [
        scoring.CriterionOutcome,
        scoring.rubric_score,
        scoring.is_success,
        scoring.tag_scores,
        scoring.SampleScore,
        scoring.score_sample,
    ]
    parts.append("\n\n".join(_source(part) for part in scoring_parts))
    parts.append(TASK_FILE_INSPECT.replace("SUITE_FUNCTION", name))
    return "".join(parts)


def python_text(text: str, width: int = 80) -> str:
    """A string as a Python expression that reads like the text: one literal per line (long
    lines broken after a space), joined by the parser inside parentheses."""
    pieces: list[str] = []
    for line in text.splitlines(keepends=True):
        while len(line) > width:
            cut = line.rfind(" ", 0, width)
            cut = width if cut <= 0 else cut + 1
            pieces.append(line[:cut])
            line = line[cut:]
        pieces.append(line)
    if len(pieces) <= 1:
        return repr(text)
    return "(\n" + "".join(f"    {piece!r}\n" for piece in pieces) + ")"


def _docstring_safe(text: str) -> str:
    return text.replace("\\", "/").replace('"', "'")


def _placeholder_pattern() -> str:
    return "|".join(re.escape(mark) for mark in (TASK_MARK, CRITERION_MARK, OUTPUT_MARK))


def render_readme(suite: Suite, *, include_held_out: bool, held_out: int, total: int) -> str:
    """README.md of an exported suite: how to run it and what the files are."""
    name = suite_identifier(suite)
    warning = HELD_OUT_WARNING.format(held_out=held_out) if include_held_out and held_out else ""
    return README_TEXT.format(
        suite_name=suite.name,
        suite_slug=suite.slug,
        total=total,
        name=name,
        held_out_warning=warning,
        prompt_version=prompts.PROMPT_VERSION,
    )


def write_suite(suite: Suite, directory: Path, *, include_held_out: bool) -> list[Path]:
    """Write the suite as an Inspect task into `directory`: dataset.jsonl, task.py and
    README.md. Held-out task versions go in only with `include_held_out`; the caller
    decides who may ask for them. Returns the paths written."""
    versions = list(suite_versions(suite, include_held_out=include_held_out))
    if not versions:
        held = "" if include_held_out else " (held-out versions were left out)"
        raise ValueError(f"Suite {suite.slug!r} has no task versions to export{held}")
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    dataset = directory / DATASET_FILE
    with dataset.open("w", encoding="utf-8") as out:
        for version in versions:
            out.write(json.dumps(sample_record(suite, version), ensure_ascii=False) + "\n")
    task_file = directory / TASK_FILE
    task_file.write_text(render_task_file(suite, versions), encoding="utf-8")
    readme = directory / README_FILE
    held_out = sum(1 for v in versions if v.task.is_held_out)
    readme.write_text(
        render_readme(
            suite, include_held_out=include_held_out, held_out=held_out, total=len(versions)
        ),
        encoding="utf-8",
    )
    return [dataset, task_file, readme]


TASK_FILE_HEAD = '''"""{suite_name}: the evalbuilder suite {suite_slug!r} as an Inspect AI task.

Exported on {exported}. Each sample is one task version: the messages a model is sent, the
reference solution as target, and the rubric under metadata["evalbuilder"].

    inspect eval task.py --model openai/gpt-4o --model-role grader=anthropic/claude-sonnet-4-0

The scorer grades as evalbuilder's rubric grader does: one judge call per criterion with
judge prompt {prompt_version}, the verdict read from the judge's reply, and the HealthBench
score (points of the criteria met over the positive points) with success (score at or above
the task's pass threshold, no critical criterion failed). A judge reply without a verdict
leaves the sample unscored, never scored 0. The judge is the model of the "grader" role,
else the task argument grader, else the model under test.

The judge prompt, the reply parsing and the scoring below are written from evalbuilder's
own code at export time: export the suite again rather than edit them.
"""

import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

'''

JUDGE_MESSAGES_SOURCE = '''def judge_messages(
    task: str, criterion: str, points: int, output: str
) -> list[dict]:
    """The judge's system and user messages about one criterion of one output."""
    template = NEGATIVE_TEMPLATE if points < 0 else POSITIVE_TEMPLATE
    values = {
        TASK_MARK: task,
        CRITERION_MARK: criterion,
        OUTPUT_MARK: escape_prompt_tags(output),
    }
    user = _PLACEHOLDER.sub(lambda match: values[match.group(0)], template)
    return [{"role": "system", "content": JUDGE_SYSTEM}, {"role": "user", "content": user}]
'''

TASK_FILE_INSPECT = '''

# --- the Inspect task ------------------------------------------------------------------

from inspect_ai import Epochs, Task, task  # noqa: E402
from inspect_ai.dataset import json_dataset  # noqa: E402
from inspect_ai.model import (  # noqa: E402
    ChatMessageSystem,
    ChatMessageUser,
    GenerateConfig,
    ResponseSchema,
    get_model,
)
from inspect_ai.scorer import (  # noqa: E402
    Metric,
    Score,
    ScoreReducer,
    Scorer,
    Target,
    metric,
    score_reducer,
    scorer,
)
from inspect_ai.scorer import SampleScore as ScoredSample  # noqa: E402
from inspect_ai.solver import TaskState, generate  # noqa: E402
from inspect_ai.util import JSONSchema, collect  # noqa: E402

DATASET = Path(__file__).resolve().parent / "dataset.jsonl"


def judge_config() -> GenerateConfig:
    """Temperature 0 and the verdict's JSON schema, as evalbuilder asks its judges."""
    schema = None
    if VERDICT_SCHEMA is not None:
        schema = ResponseSchema(
            name=VERDICT_SCHEMA_NAME,
            json_schema=JSONSchema.model_validate(VERDICT_SCHEMA),
            strict=True,
        )
    return GenerateConfig(temperature=JUDGE_TEMPERATURE, response_schema=schema)


def _is_unscored(score: Score) -> bool:
    return isinstance(score.value, float) and math.isnan(score.value)


@metric
def mean_score() -> Metric:
    """The mean rubric score of the scored samples, clipped to [0, 1] (HealthBench)."""

    def compute(scores: list[ScoredSample]) -> float:
        values = [s.score.as_float() for s in scores if not _is_unscored(s.score)]
        if not values:
            return float("nan")
        return min(1.0, max(0.0, sum(values) / len(values)))

    return compute


@metric
def success_rate() -> Metric:
    """The share of scored attempts that succeeded."""

    def compute(scores: list[ScoredSample]) -> float:
        values = [
            float((s.score.metadata or {}).get("success", 0))
            for s in scores
            if not _is_unscored(s.score)
        ]
        return sum(values) / len(values) if values else float("nan")

    return compute


@score_reducer(name="evalbuilder_epochs")
def epoch_mean() -> ScoreReducer:
    """One score per sample over its epochs: the mean score, and as success the share of
    scored epochs that succeeded; unscored epochs are left out."""

    def reduce(scores: list[Score]) -> Score:
        scored = [s for s in scores if not _is_unscored(s)]
        if not scored:
            return Score.unscored(
                reason="no epoch was scored",
                explanation="; ".join(s.explanation or "" for s in scores),
            )
        successes = [float((s.metadata or {}).get("success", 0)) for s in scored]
        return Score(
            value=sum(s.as_float() for s in scored) / len(scored),
            answer=scored[0].answer,
            explanation=scored[0].explanation,
            metadata={"success": sum(successes) / len(successes), "epochs": len(scored)},
        )

    return reduce


@scorer(metrics=[mean_score(), success_rate()])
def rubric_scorer(grader: str | None = None) -> Scorer:
    """evalbuilder's rubric grader: one judge call per criterion, the HealthBench score."""

    async def score(state: TaskState, target: Target) -> Score:
        judge = get_model(grader) if grader else get_model(role="grader")
        meta = state.metadata["evalbuilder"]
        rubric = meta["rubric"]
        output = state.output.completion
        config = judge_config()

        async def ask(criterion: dict) -> str:
            messages = judge_messages(
                state.input_text, criterion["text"], criterion["points"], output
            )
            reply = await judge.generate(
                [
                    ChatMessageSystem(content=messages[0]["content"]),
                    ChatMessageUser(content=messages[1]["content"]),
                ],
                config=config,
            )
            return reply.completion

        replies = await collect(*(ask(criterion) for criterion in rubric))
        criteria = []
        for criterion, reply in zip(rubric, replies, strict=True):
            try:
                met, explanation = parse_per_criterion(reply)
            except JudgeReplyError as error:
                return Score.unscored(
                    reason=f"unusable judge reply: {error}",
                    answer=output,
                    explanation=(
                        f"criterion {criterion['order']}: unusable judge reply: {error}"
                    ),
                    metadata={"reply": reply},
                )
            criteria.append(
                {
                    "order": criterion["order"],
                    "points": criterion["points"],
                    "met": met,
                    "explanation": explanation,
                }
            )
        result = score_sample(
            [
                CriterionOutcome(
                    points=c["points"], met=v["met"], critical=c["critical"], tag=c["tag"]
                )
                for c, v in zip(rubric, criteria, strict=True)
            ],
            meta["pass_threshold"],
        )
        met_count = sum(1 for v in criteria if v["met"] == (v["points"] > 0))
        return Score(
            value=result.score,
            answer=output,
            explanation=(
                f"{met_count} of {len(criteria)} criteria in the answer's favour; "
                f"score {result.score:.3f}, {'success' if result.success else 'no success'}"
            ),
            metadata={
                "success": result.success,
                "tag_scores": result.tag_scores,
                "criteria": criteria,
                "prompt_version": PROMPT_VERSION,
            },
        )

    return score


@task
def SUITE_FUNCTION(grader: str | None = None, epochs: int = 1) -> Task:
    """The suite's task versions, answered in one generation each, graded by rubric."""
    return Task(
        dataset=json_dataset(str(DATASET)),
        solver=generate(),
        scorer=rubric_scorer(grader),
        epochs=Epochs(epochs, epoch_mean()),
    )
'''

HELD_OUT_WARNING = """
## Held-out tasks: keep these files private

This export holds {held_out} held-out task version(s). Held-out tasks measure models on
work they cannot have seen: do not publish these files, commit them to a public repository
or send them to a service that may train on them. Each held-out sample carries its canary
GUID (in its text and in metadata["evalbuilder"]["canary"]) so that a leak can be detected.
"""

README_TEXT = """# {suite_name} ({suite_slug}) as an Inspect AI task

{total} task version(s) of the evalbuilder suite `{suite_slug}`, ready for
[Inspect AI](https://inspect.aisi.org.uk/).
{held_out_warning}
## Run it

    pip install inspect-ai
    inspect eval task.py --model openai/gpt-4o --model-role grader=anthropic/claude-sonnet-4-0

- `--model` is the model measured; `--model-role grader=...` is the judge that grades its
  answers (without it, `-T grader=...` names one, else the measured model judges itself).
- `--epochs 3` (or `-T epochs=3`) asks for three attempts at every task.
- The log lands in `./logs`; `inspect view` shows it.

Each sample's score is the HealthBench rubric score: the points of the criteria met
(negative criteria count when the undesirable behaviour is present) over the positive
points. Success means a score at or above the task's pass threshold with no critical
criterion failed. Metrics: `mean_score` (clipped to 0-1) and `success_rate`. A judge reply
without a verdict leaves the sample unscored rather than scoring it 0.

## Bring the results back

The `.eval` log can be imported into evalbuilder as a run of this suite, where its samples
are graded again by the platform's grader and join the trend reports:

    python manage.py import_eval_log logs/<log>.eval --release-date YYYY-MM-DD

or on the page Runs > Start a run > Import its eval log.

## Files

- `dataset.jsonl`: one sample per task version. `id` is the task's slug and version
  (`slug-v2`); `input` the system and user messages; `target` the reference solution;
  `metadata.evalbuilder` the suite, task version id, task, version number, taxonomy,
  occupation code, estimated minutes, pass threshold and the rubric (order, text, points,
  tag, critical).
- `task.py`: the task `{name}` with its scorer `rubric_scorer`. The judge prompt
  ({prompt_version}), the reading of judge replies and the scoring are written from
  evalbuilder's code: export the suite again rather than edit them.
- `README.md`: this file.
"""
