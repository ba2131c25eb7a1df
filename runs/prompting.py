"""What a model is asked for a task version: the messages sent to it."""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING

from occupations.attachments import AttachmentKind
from occupations.models import Attachment, Suite, TaskVersion
from runs.providers import ContentPart, Message

if TYPE_CHECKING:
    from runs.models import ModelEndpoint

SYSTEM_PROMPT = (
    "You are an experienced professional doing a piece of real work for a client or "
    "employer. Do the work completely, using only the material provided, and hand back "
    "the deliverable asked for."
)

IMAGE_MEDIA_TYPES: dict[str, str] = {
    AttachmentKind.PNG: "image/png",
    AttachmentKind.JPEG: "image/jpeg",
}


def endpoint_takes_images(endpoint: ModelEndpoint) -> bool:
    """Whether image attachments are sent to this endpoint as images (parameter `vision`)."""
    return (endpoint.parameters or {}).get("vision") is True


def task_prompt(version: TaskVersion) -> str:
    """What a model is asked for one task version, as text: images are named, not shown.

    Judges see the task this way too.
    """
    return "\n\n".join(
        part for part in _prompt_parts(version, vision=False) if isinstance(part, str)
    )


def task_messages(
    version: TaskVersion, *, suite: Suite | None = None, vision: bool = False
) -> list[Message]:
    """The system and user messages for one task version, as run in `suite`.

    With `vision`, image attachments go in the user message as image parts (OpenAI chat
    format), which makes its content a list of parts; otherwise the content is text.
    """
    system = (suite.system_prompt.strip() if suite else "") or SYSTEM_PROMPT
    parts = _prompt_parts(version, vision=vision)
    content: str | list[ContentPart] = [
        {"type": "text", "text": part} if isinstance(part, str) else part for part in parts
    ]
    if len(parts) == 1 and isinstance(parts[0], str):
        content = parts[0]  # text alone stays a string, which every server understands
    return [{"role": "system", "content": system}, {"role": "user", "content": content}]


def _prompt_parts(version: TaskVersion, *, vision: bool) -> list[str | ContentPart]:
    """The user message as text parts and image parts, in order; without images, one text."""
    parts: list[str | ContentPart] = [version.instructions.strip()]
    if version.context.strip():
        parts.append("## Input material\n\n" + version.context.strip())
    attachments = list(version.attachments.all())
    if attachments:
        parts.append("## Attachments")
        for attachment in attachments:
            parts.extend(_attachment_parts(attachment, vision=vision))
    parts.append("## Deliverable\n\n" + version.deliverable.strip())
    if version.task.is_held_out:
        # The canary travels with held-out text so that a leak into training data shows.
        parts.append(version.task.canary_string)
    return _merged(parts)


def _attachment_parts(attachment: Attachment, *, vision: bool) -> list[str | ContentPart]:
    heading = f"### {attachment.original_name}"
    media_type = IMAGE_MEDIA_TYPES.get(attachment.kind)
    if media_type is None:
        text = attachment.extracted_text.strip() or "[No text could be read from this file.]"
        return [f"{heading}\n\n{text}"]
    if not vision:
        return [f"{heading}\n\n[Image {attachment.original_name} is left out: only text is given.]"]
    with attachment.file.open("rb") as stored:
        data = base64.b64encode(stored.read()).decode("ascii")
    image: ContentPart = {
        "type": "image_url",
        "image_url": {"url": f"data:{media_type};base64,{data}"},
    }
    return [heading, image]


def _merged(parts: list[str | ContentPart]) -> list[str | ContentPart]:
    """Neighbouring text sections joined into one text part, images kept in place."""
    merged: list[str | ContentPart] = []
    for part in parts:
        if isinstance(part, str) and merged and isinstance(merged[-1], str):
            merged[-1] = f"{merged[-1]}\n\n{part}"
        else:
            merged.append(part)
    return merged
