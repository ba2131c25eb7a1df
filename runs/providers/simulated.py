"""Simulated models and a simulated judge, for offline demos and tests.

A simulated model "knows" a share of each task's reference solution that grows with its
release date and shrinks with the task's length, and sometimes commits the undesirable
behaviours its rubric warns against. Its outputs are deterministic in (model, task version,
attempt), so a demo shows the same believable trend every time. Everything it produces is
labelled simulated wherever it appears.

The simulated judge really reads the output: for each criterion in the judge prompt it
checks whether the criterion's content terms occur in the candidate output.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
import random
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from runs.models import ModelEndpoint
from runs.providers import ModelRequest, ModelResponse, ProviderError, content_text
from runs.providers.judging import OUTPUT_CLOSE, OUTPUT_OPEN
from runs.providers.textmatch import coverage, criterion_matches

# Ability on a logit scale grows linearly with years since this date.
ABILITY_EPOCH = date(2023, 1, 1)
ABILITY_AT_EPOCH = -2.1
ABILITY_PER_YEAR = 1.0


@dataclass(frozen=True)
class TaskKnowledge:
    """What a simulated model may draw on for one task version."""

    reference_segments: tuple[str, ...]
    undesirable_behaviours: tuple[str, ...]
    estimated_minutes: int


def ability(release_date: date) -> float:
    years = (release_date - ABILITY_EPOCH).days / 365.25
    return ABILITY_AT_EPOCH + ABILITY_PER_YEAR * years


def difficulty(estimated_minutes: int) -> float:
    """Longer tasks are harder: half a logit per doubling beyond half an hour."""
    return 0.5 * math.log2(max(estimated_minutes, 1) / 30)


def _sigmoid(x: float) -> float:
    return 1 / (1 + math.exp(-x))


def _token_estimate(text: str) -> int:
    return max(1, round(len(text.split()) * 1.3))


def _segments(reference: str) -> tuple[str, ...]:
    return tuple(line for line in (raw.rstrip() for raw in reference.splitlines()) if line.strip())


class SimulatedProvider:
    def __init__(self, endpoint: ModelEndpoint, task_versions: Iterable = ()) -> None:
        self.endpoint = endpoint
        self.knowledge = {
            version.pk: TaskKnowledge(
                reference_segments=_segments(version.reference_solution),
                undesirable_behaviours=tuple(
                    c.text for c in version.criteria.all() if c.points < 0
                ),
                estimated_minutes=version.estimated_minutes,
            )
            for version in task_versions
        }
        params = endpoint.parameters or {}
        self.skill = float(params.get("skill", ability(endpoint.release_date)))
        self.latency_ms = int(params.get("latency_ms", 0))
        self.failure_rate = float(params.get("failure_rate", 0.0))

    async def complete(self, request: ModelRequest) -> ModelResponse:
        if self.latency_ms:
            await asyncio.sleep(self.latency_ms / 1000)
        # It reads the text only: image parts are there for models that see.
        prompt = "\n".join(content_text(m["content"]) for m in request.messages)
        rng = random.Random(self._seed(request))
        if self.failure_rate and rng.random() < self.failure_rate:
            raise ProviderError("server_error", "simulated server error")
        if request.metadata.get("purpose") == "judge":
            text = judge_reply(content_text(request.messages[-1]["content"]))
        else:
            text = self._attempt(request, rng)
        return ModelResponse(
            text=text,
            input_tokens=_token_estimate(prompt),
            output_tokens=_token_estimate(text),
            latency_ms=self.latency_ms,
        )

    async def aclose(self) -> None:
        return None

    def _seed(self, request: ModelRequest) -> int:
        key = json.dumps(
            [self.endpoint.model_id, request.metadata, request.messages], sort_keys=True
        )
        return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big")

    def _attempt(self, request: ModelRequest, rng: random.Random) -> str:
        known = self.knowledge.get(request.metadata.get("task_version_id"))
        if known is None:
            return "I do not have enough information to complete this task."
        margin = self.skill - difficulty(known.estimated_minutes)
        p_recall = _sigmoid(margin + 0.8)
        p_mistake = _sigmoid(-margin - 2.0)
        lines = [line for line in known.reference_segments if rng.random() < p_recall]
        for behaviour in known.undesirable_behaviours:
            if rng.random() < p_mistake:
                # A simulated lapse: the output commits the behaviour the rubric penalises.
                lines.insert(rng.randrange(len(lines) + 1), f"Also: {behaviour.rstrip('.')}.")
        if not lines:
            return "Here is a summary of the task. More detail would be needed to finish it."
        return "\n".join(lines)


_CRITERION = re.compile(r'<criterion(?: id="(?P<id>[^"]+)")?>\s*(?P<text>.*?)\s*</criterion>', re.S)


def judge_reply(prompt: str) -> str:
    """Answer a judge's user message (per-criterion or batched) as JSON, by term matching."""
    # Criteria are read only from the trusted part before the output, and the output runs
    # to the last closing tag, so an output cannot smuggle in criteria of its own.
    trusted, _, rest = prompt.partition(OUTPUT_OPEN)
    output = rest.rpartition(OUTPUT_CLOSE)[0] if OUTPUT_CLOSE in rest else rest
    criteria = list(_CRITERION.finditer(trusted))
    if not criteria:
        return json.dumps({"explanation": "No criterion found in the prompt.", "verdicts": []})

    def verdict(text: str) -> tuple[bool, str]:
        share = coverage(text, output)
        met = criterion_matches(text, output)
        return met, f"{share:.0%} of the criterion's key terms appear in the output."

    if len(criteria) == 1 and criteria[0].group("id") is None:
        met, why = verdict(criteria[0].group("text"))
        return json.dumps({"explanation": why, "criteria_met": met})
    verdicts = []
    for match in criteria:
        met, why = verdict(match.group("text"))
        verdicts.append(
            {"criterion_id": match.group("id"), "explanation": why, "criteria_met": met}
        )
    return json.dumps({"verdicts": verdicts})
