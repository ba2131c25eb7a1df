"""OpenAI models via the Responses API, for endpoints with parameters {"api": "responses"}.

Messages arrive in chat format: system messages become `instructions`, the others `input`,
and chat image parts become `input_image`. Nothing is stored on OpenAI's side (store=False).
"""

import time
from typing import Any

import openai
from openai.types.responses import Response

from runs.models import ModelEndpoint
from runs.providers import (
    ContentPart,
    Message,
    ModelRequest,
    ModelResponse,
    ProviderError,
    RateLimits,
    content_text,
    elapsed_ms,
    from_sdk_error,
    rate_limits_from_headers,
    reply_format,
    request_temperature,
)
from runs.providers.openai_chat import openai_client

# A response that failed after it was accepted says why in `error.code`.
ERROR_KINDS = {"server_error": "server_error", "rate_limit_exceeded": "rate_limit"}


def responses_part(part: ContentPart) -> dict[str, Any]:
    """A chat content part as a Responses input part."""
    if part.get("type") == "text":
        return {"type": "input_text", "text": part["text"]}
    if part.get("type") == "image_url":
        image = part["image_url"]
        return {
            "type": "input_image",
            "image_url": image["url"],
            "detail": image.get("detail", "auto"),
        }
    return part


def responses_input(messages: list[Message]) -> tuple[str, list[dict[str, Any]]]:
    """(instructions, input) for chat messages."""
    instructions = "\n\n".join(
        content_text(m["content"]) for m in messages if m["role"] == "system"
    )
    items = []
    for message in messages:
        if message["role"] == "system":
            continue
        content = message["content"]
        if not isinstance(content, str):
            content = [responses_part(part) for part in content]
        items.append({"role": message["role"], "content": content})
    return instructions, items


def request_kwargs(endpoint: ModelEndpoint, request: ModelRequest) -> dict[str, Any]:
    """The body of a Responses call: the SDK's keyword arguments, and a batch line's body."""
    params: dict[str, Any] = dict(endpoint.parameters or {})
    instructions, items = responses_input(request.messages)
    kwargs: dict[str, Any] = {"model": endpoint.model_id, "input": items, "store": False}
    if instructions:
        kwargs["instructions"] = instructions
    max_tokens = request.max_output_tokens or params.get("max_output_tokens")
    if max_tokens:
        kwargs["max_output_tokens"] = max_tokens
    if "top_p" in params:
        kwargs["top_p"] = params["top_p"]
    temperature = request_temperature(params, request)
    if temperature is not None:
        kwargs["temperature"] = temperature
    if "reasoning_effort" in params:
        kwargs["reasoning"] = {"effort": params["reasoning_effort"]}
    text_format = responses_text_format(params, request)
    if text_format is not None:
        kwargs["text"] = {"format": text_format}
    return kwargs


def responses_text_format(params: dict[str, Any], request: ModelRequest) -> dict[str, Any] | None:
    """The Responses API's text.format for the request (see reply_format)."""
    kind = reply_format(params, request)
    if kind == "json_schema":
        assert request.output_schema is not None
        return {
            "type": "json_schema",
            "name": request.output_schema.name,
            "schema": request.output_schema.schema,
            "strict": True,
        }
    return {"type": kind} if kind else None


def model_response(
    response: Response, *, latency_ms: int = 0, rate_limits: RateLimits | None = None
) -> ModelResponse:
    """What a response says, live or from a batch."""
    if response.error is not None:
        kind = ERROR_KINDS.get(response.error.code, "bad_request")
        raise ProviderError(kind, f"{response.error.message} [{response.error.code}]")
    try:
        text = response.output_text
    except (ValueError, TypeError, KeyError, AttributeError) as error:
        raise ProviderError("bad_response", f"unreadable reply: {error}") from error
    usage = response.usage
    return ModelResponse(
        text=text,
        input_tokens=usage.input_tokens if usage else 0,
        output_tokens=usage.output_tokens if usage else 0,
        latency_ms=latency_ms,
        rate_limits=rate_limits,
    )


class OpenAIResponsesProvider:
    def __init__(self, endpoint: ModelEndpoint, *, timeout: float) -> None:
        self.endpoint = endpoint
        self.client = openai_client(endpoint, timeout=timeout)

    async def complete(self, request: ModelRequest) -> ModelResponse:
        started = time.monotonic()
        try:
            raw = await self.client.responses.with_raw_response.create(
                **request_kwargs(self.endpoint, request)
            )
            response = raw.parse()
        except openai.OpenAIError as error:
            raise from_sdk_error(error, openai) from error
        except (ValueError, TypeError, KeyError, AttributeError) as error:
            # A body that is not the JSON the SDK expects (a broken proxy, a truncated reply).
            raise ProviderError("bad_response", f"unreadable reply: {error}") from error
        return model_response(
            response,
            latency_ms=elapsed_ms(started),
            rate_limits=rate_limits_from_headers(raw.headers),
        )

    async def aclose(self) -> None:
        await self.client.close()
