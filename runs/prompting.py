"""What a model is asked for a task version: the messages sent to it."""

from __future__ import annotations

from occupations.models import TaskVersion

SYSTEM_PROMPT = (
    "You are an experienced professional doing a piece of real work for a client or "
    "employer. Do the work completely, using only the material provided, and hand back "
    "the deliverable asked for."
)


def task_prompt(version: TaskVersion) -> str:
    """What a model is asked for one task version: instructions, input material, deliverable."""
    parts = [version.instructions.strip()]
    if version.context.strip():
        parts.append("## Input material\n\n" + version.context.strip())
    parts.append("## Deliverable\n\n" + version.deliverable.strip())
    if version.task.is_held_out:
        # The canary travels with held-out text so that a leak into training data shows.
        parts.append(version.task.canary_string)
    return "\n\n".join(parts)


def task_messages(version: TaskVersion) -> list[dict[str, str]]:
    return [
        {"role": "system", "content": SYSTEM_PROMPT},
        {"role": "user", "content": task_prompt(version)},
    ]
