"""Checks a task version must pass before it can be submitted for review."""

from __future__ import annotations

import difflib
import hashlib
import re
from dataclasses import dataclass

from django.conf import settings

from occupations.models import TaskVersion

# Criteria this alike are the same check written twice (difflib ratio on normalised text).
NEAR_DUPLICATE_RATIO = 0.9


@dataclass(frozen=True)
class QualityProblem:
    """One reason a version is not ready, tied to the field (or criterion) to fix."""

    field: str
    """Form field the problem belongs to, e.g. 'instructions' or 'rubric'."""
    message: str
    criterion: int | None = None
    """1-based position of the criterion, when the problem is about one."""


def _normalise(text: str) -> str:
    return " ".join(re.findall(r"[a-z0-9]+", text.lower()))


def content_fingerprint(version: TaskVersion) -> str:
    """A digest of everything a grader reads when calibrating: a change means calibrate again."""
    parts = [str(getattr(version, name)) for name in TaskVersion.CONTENT_FIELDS]
    parts += [
        f"{c.order}|{c.points}|{c.critical}|{c.tag}|{c.text}"
        for c in version.criteria.order_by("order")
    ]
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


def calibration_problem(version: TaskVersion) -> QualityProblem | None:
    """Why the version's calibration does not let it be submitted, if it does not."""
    if not settings.EVALBUILDER_REQUIRE_CALIBRATION:
        return None
    result = version.calibration or {}
    if result.get("fingerprint") != content_fingerprint(version):
        message = "Calibrate the rubric on the current text before submitting."
    elif not result.get("passed"):
        message = (
            "The last calibration failed: the reference solution must reach the threshold and "
            "an empty answer must score near zero. Fix the misfiring criteria and calibrate again."
        )
    else:
        return None
    return QualityProblem("calibration", message)


def check_version(version: TaskVersion) -> list[QualityProblem]:
    """Every problem that blocks submission; an empty list means the version is ready."""
    problems: list[QualityProblem] = []
    minimum = settings.EVALBUILDER_MIN_INSTRUCTIONS_CHARS
    if len(version.instructions.strip()) < minimum:
        problems.append(
            QualityProblem(
                "instructions",
                f"Instructions are too short to describe real work: write at least "
                f"{minimum} characters (now {len(version.instructions.strip())}).",
            )
        )
    if not version.deliverable.strip():
        problems.append(QualityProblem("deliverable", "Say what must be handed back."))
    if not version.reference_solution.strip():
        problems.append(
            QualityProblem(
                "reference_solution", "Write the reference solution an expert would give."
            )
        )
    if not version.estimated_minutes:
        problems.append(QualityProblem("estimated_minutes", "Estimate the minutes the work takes."))
    if not version.minutes_estimate_method.strip():
        problems.append(
            QualityProblem("minutes_estimate_method", "Say how the minutes were estimated.")
        )
    criteria = list(version.criteria.order_by("order"))
    if not any(c.points > 0 for c in criteria):
        problems.append(
            QualityProblem(
                "rubric", "The rubric needs at least one criterion with positive points."
            )
        )
    seen: list[tuple[int, str]] = []
    for position, criterion in enumerate(criteria, 1):
        if not -10 <= criterion.points <= 10 or criterion.points == 0:
            problems.append(
                QualityProblem("rubric", "Points must be between -10 and +10, not 0.", position)
            )
        text = _normalise(criterion.text)
        if not text:
            problems.append(QualityProblem("rubric", "The criterion has no text.", position))
            continue
        for earlier, earlier_text in seen:
            if re.findall(r"\d+", text) != re.findall(r"\d+", earlier_text):
                continue  # "clause 4.1" and "clause 4.2" are two checks, however alike
            ratio = difflib.SequenceMatcher(None, text, earlier_text).ratio()
            if ratio >= NEAR_DUPLICATE_RATIO:
                problems.append(
                    QualityProblem(
                        "rubric",
                        f"Criterion {position} repeats criterion {earlier}: merge them or make "
                        "each check one distinct thing.",
                        position,
                    )
                )
                break
        seen.append((position, text))
    calibration = calibration_problem(version)
    if calibration is not None:
        problems.append(calibration)
    return problems
