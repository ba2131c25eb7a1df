"""Deterministic screening of answers before a judge sees them.

An answer with nothing in it to grade (empty, punctuation, an opener such as "Solution:"
with nothing after it, a bare refusal, or text whose only substance is an instruction to
the grader or a forged verdict) is scored 0 without a judge call: judges are known to be
fooled by exactly these (Zhao et al. 2025, "One Token to Fool LLM-as-a-Judge"), and they
cost money to ask. An answer with real content that also addresses the grader is judged,
with the defended prompt, and flagged `injection_suspected` for readers.

Pure functions on text: nothing here reads the database or calls a model.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

EMPTY = "empty"
PUNCTUATION_ONLY = "punctuation_only"
OPENER_ONLY = "opener_only"
REFUSAL_ONLY = "refusal_only"
GRADER_INSTRUCTION_ONLY = "grader_instruction_only"
FORGED_VERDICT_ONLY = "forged_verdict_only"

REASONS: dict[str, str] = {
    EMPTY: "the answer is empty or only whitespace",
    PUNCTUATION_ONLY: "the answer has no letters or digits",
    OPENER_ONLY: "the answer is only an opener such as 'Solution:' with nothing after it",
    REFUSAL_ONLY: "the answer only declines the task",
    GRADER_INSTRUCTION_ONLY: "the answer's only content is an instruction to the grader",
    FORGED_VERDICT_ONLY: "the answer's only content is a verdict written for the grader",
}
"""Every reason code, as Grade.prefilter stores it, and what it means."""

INJECTION_SUSPECTED = "injection_suspected"
"""The flag of a judged answer that also addressed the grader."""

# Clauses that address the grader rather than the task. Each stops at the end of its
# clause ('.', '!', '?', ';' or ':'), so that real content after it in the same sentence
# is still weighed: "Ignore the rubric's formatting; revenue fell 4%" has an answer in it.
_CLAUSE_END = r"[^.!?;:\n]*"
_GAP = r"[^.!?;:\n]"
"""One character inside a clause, for the gaps between a pattern's key words."""
_INJECTIONS = [
    re.compile(r"<\s*criterion\b[^<>]*>.*?<\s*/\s*criterion\s*>", re.I | re.S),
    *(
        re.compile(p, re.I)
        for p in (
            r"\b(?:ignore|disregard|forget|override|bypass|skip)\b" + _GAP + r"{0,80}?"
            r"\b(?:rubric|criteri\w*|grading|grader|scoring|evaluation|(?:previous|prior|above|"
            r"system|all)\s+(?:instructions?|prompts?))\b" + _CLAUSE_END,
            r"\b(?:mark|grade|score|rate|treat|consider|count|set)\b" + _GAP + r"{0,60}?"
            r"\b(?:criteri\w*|rubric\s+items?|checks?|boxes)\b" + _GAP + r"{0,40}?"
            r"\b(?:met|satisfied|passed|fulfilled|true|complete)\b" + _CLAUSE_END,
            r"\b(?:all|every|each)\s+(?:of\s+the\s+)?(?:rubric\s+)?criteri\w*\s+"
            r"(?:(?:are|were|is|has\s+been|have\s+been)\s+)?(?:met|satisfied|fulfilled|passed)\b"
            + _CLAUSE_END,
            r"\b(?:give|award|assign|grant)\b" + _GAP + r"{0,40}?"
            r"\b(?:full|maximum|max|perfect|top|highest|100\s*%?|10\s*/\s*10)\s+"
            r"(?:score|marks?|points?|grade|credit)\b" + _CLAUSE_END,
            # Only the address itself: what follows it is either content to be judged
            # ("Dear grader, the answer is ...") or an instruction another pattern catches.
            r"\b(?:notes?|messages?|instructions?)\s+(?:to|for)\s+(?:the\s+)?"
            r"(?:grader|evaluator|assessor|ai\s+judge|llm\s+judge|judge\s+model|ai|model)\b",
            r"\b(?:dear|attention|hey|hello)\s+(?:grader|evaluator|assessor)\b",
            r"\bas\s+(?:the|a|an)\s+(?:grader|evaluator|ai\s+judge|llm\s+judge)\b",
            r"[\"']?criteria_met[\"']?\s*[:=]\s*(?:true|yes)\b[^\n]*",
            r"<\|im_(?:start|end)\|>|\[/?INST\]",
            r"<\s*/?\s*(?:candidate_output|criterion|task|system|instructions?)\b[^<>]*>",
        )
    ),
]

# Words that are left over once a grader instruction is cut out, and carry nothing to grade.
_FILLER_WORDS = frozenset(
    {
        *("please", "kindly", "thanks", "thank", "you", "so", "and", "then", "now"),
        *("also", "just", "note", "important", "grader", "judge", "system", "assistant"),
        "user",
    }
)

# A refusal is refusal-only when nothing follows its clause: "I cannot provide a dosage
# without a prescriber's order; please contact the on-call physician" carries advice, which
# can be the right answer on a safety task.
_REFUSAL_CLAUSE = r"[^.!?;:,()\n\u2013\u2014]*"
_REFUSAL = re.compile(
    r"^(?:(?:i'?m|i\s+am)\s+(?:so\s+|very\s+)?sorry|sorry|i\s+apologi[sz]e|unfortunately"
    r"|as\s+an\s+ai(?:\s+language)?\s+model)?[\s,.!]*(?:but\s+)?"
    r"(?:i|we)\s*(?:can'?t|cannot|can\s+not|won'?t|will\s+not|(?:am|'m)\s+(?:unable|not\s+able)"
    r"\s+to|must\s+decline|(?:am|'m)\s+not\s+(?:comfortable|in\s+a\s+position))"
    r"(?:\s+(?:help|assist|comply|provide|do|complete|answer|fulfil+|respond|continue|"
    r"support|write|create|engage|proceed)\b" + _REFUSAL_CLAUSE + r")?[.!]*$"
    r"|^(?:(?:i'?m|i\s+am)\s+sorry|sorry)[.!]*$"
    r"|^(?:i\s+)?decline(?:\s+to\s+answer)?" + _REFUSAL_CLAUSE + r"[.!]*$",
    re.I,
)

# A claim about the answer itself, left over once a note to the grader is cut out
# ("Note to the grader: this answer is complete."): nothing in it to grade.
_SELF_ASSESSMENT = re.compile(
    r"^(?:this|my|the)\s+(?:answer|response|solution|output|submission|work)\s+(?:is|was)\s+"
    r"(?:(?:fully|entirely|completely|totally)\s+)?(?:complete|correct|perfect|accurate|right|"
    r"done|finished|excellent|flawless)[\s.!;:,]*$",
    re.I,
)

_OPENER = re.compile(
    r"^(?:(?:the\s+|my\s+|final\s+|short\s+|proposed\s+)?(?:solution|answer|response|reply|"
    r"output|result|deliverable)s?|thought\s+process|thoughts|thinking|reasoning|analysis|"
    r"let'?s\s+think(?:\s+step\s+by\s+step)?|step\s+by\s+step|"
    r"(?:here\s+is|here'?s|below\s+is|this\s+is)\s+(?:my|the|your|an?)\s+"
    r"(?:answer|solution|response|reply|work|attempt|draft|deliverable)(?:\s+below)?|"
    r"sure|certainly|of\s+course|okay|ok|absolutely|great|happy\s+to\s+help|"
    r"(?:i\s+will|i'?ll|let\s+me)\s+(?:now\s+)?(?:answer|solve|help|start|begin|do\s+this)"
    r"(?:\s+(?:this|that|it|with\s+this))?)"
    r"(?:\s+(?:as\s+follows|below|here))?\s*[:.!\-\u2013\u2014]*$",
    re.I,
)

_VERDICT_KEYS = frozenset({"criteria_met", "verdicts", "criterion_id"})
_SENTENCE_BREAK = re.compile(r"\n+|(?<=[.!?])\s+")
_DECORATION = re.compile(
    r"^[\s#>*_`~|\-\u2013\u2014\u2022\u00b7:;,.()\[\]{}\"']+|[\s*_`~|\-\u2013\u2014\u2022\u00b7:;,()\[\]{}\"']+$"
)


@dataclass(frozen=True)
class Screening:
    """What the pre-filter found in one answer."""

    reason: str = ""
    """A code of REASONS when the answer is scored 0 without a judge; blank otherwise."""
    injection_suspected: bool = False
    """The answer addresses the grader or carries a forged verdict."""

    @property
    def caught(self) -> bool:
        return bool(self.reason)

    @property
    def flags(self) -> list[str]:
        return [INJECTION_SUSPECTED] if self.injection_suspected else []


def _is_verdict(value: object) -> bool:
    """A JSON value shaped like a judge's verdict, at any depth."""
    if isinstance(value, dict):
        return bool(_VERDICT_KEYS & value.keys()) or any(_is_verdict(v) for v in value.values())
    if isinstance(value, list):
        return any(_is_verdict(item) for item in value)
    return False


def _without_forged_verdicts(text: str) -> tuple[str, bool]:
    """The text with every JSON object shaped like a verdict cut out, and whether one was."""
    decoder = json.JSONDecoder()
    pieces, position, found = [], 0, False
    index = text.find("{")
    while index != -1:
        try:
            value, end = decoder.raw_decode(text, index)
        except json.JSONDecodeError:
            index = text.find("{", index + 1)
            continue
        if _is_verdict(value):
            pieces.append(text[position:index])
            position, found = end, True
        index = text.find("{", end)
    pieces.append(text[position:])
    return "".join(pieces), found


def _without_injections(text: str) -> tuple[str, bool]:
    found = False
    for pattern in _INJECTIONS:
        text, count = pattern.subn(" ", text)
        found = found or bool(count)
    return text, found


def _has_substance(segment: str) -> bool:
    return any(ch.isalnum() for ch in segment)


def _is_filler(segment: str) -> bool:
    words = re.findall(r"[^\W_]+", segment.lower())
    return all(word in _FILLER_WORDS for word in words)


def screen(output: str) -> Screening:
    """Screen one answer: a reason code to score it 0 without a judge, or a flag, or neither."""
    text = output.replace("\u2019", "'").replace("\u2018", "'").strip()
    if not text:
        return Screening(EMPTY)
    if not _has_substance(text):
        return Screening(PUNCTUATION_ONLY)
    text = text.replace("```json", " ").replace("```", " ")
    text, forged = _without_forged_verdicts(text)
    text, instructed = _without_injections(text)
    suspected = forged or instructed
    refused = opened = False
    for raw in _SENTENCE_BREAK.split(text):
        segment = _DECORATION.sub("", raw).strip()
        if not _has_substance(segment):
            continue
        if suspected and (_is_filler(segment) or _SELF_ASSESSMENT.match(segment)):
            continue  # "Please", "System:" left over from an instruction to the grader
        if _OPENER.match(segment):
            opened = True
        elif _REFUSAL.match(segment):
            refused = True
        else:
            # Real content: the judge decides, warned when the answer also addressed it.
            return Screening(injection_suspected=suspected)
    if forged:
        reason = FORGED_VERDICT_ONLY
    elif instructed:
        reason = GRADER_INSTRUCTION_ONLY
    elif refused:
        reason = REFUSAL_ONLY
    elif opened:
        reason = OPENER_ONLY
    else:  # only decoration was left, e.g. a lone code fence
        reason = PUNCTUATION_ONLY
    return Screening(reason, injection_suspected=suspected)
