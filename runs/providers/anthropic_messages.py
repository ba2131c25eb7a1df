"""Anthropic models via the Messages API.

A request with an output schema is sent with one tool whose input_schema is the schema,
and tool_choice forcing that tool: the tool call's input is the reply, returned as JSON
text. Extended thinking refuses a forced tool choice, so a thinking endpoint gets no tool;
the prompt asks for the JSON and the caller parses the text.
"""

import json
import os
import time
from typing import Any, TypeVar

import anthropic
from anthropic.types import Message

from runs.models import ModelEndpoint
from runs.providers import (
    ContentPart,
    ModelRequest,
    ModelResponse,
    ProviderError,
    RateLimits,
    content_text,
    elapsed_ms,
    from_sdk_error,
    rate_limits_from_headers,
    request_temperature,
)

DEFAULT_MAX_TOKENS = 4096  # the Messages API requires a limit


def anthropic_part(part: ContentPart) -> dict[str, Any]:
    """A chat content part (OpenAI format) as an Anthropic content block."""
    if part.get("type") == "text":
        return {"type": "text", "text": part["text"]}
    if part.get("type") == "image_url":
        url = part["image_url"]["url"]
        header, _, data = url.partition(",")
        if url.startswith("data:") and header.endswith(";base64"):
            media_type = header.removeprefix("data:").removesuffix(";base64")
            source = {"type": "base64", "media_type": media_type, "data": data}
        else:
            source = {"type": "url", "url": url}
        return {"type": "image", "source": source}
    return part


Client = TypeVar("Client", anthropic.AsyncAnthropic, anthropic.Anthropic)

# Body fields this SDK's messages.create() has no argument for; the API still takes them.
UNNAMED_FIELDS = ("temperature", "top_p")


def anthropic_client(
    endpoint: ModelEndpoint,
    *,
    timeout: float,
    client_class: type[Client] = anthropic.AsyncAnthropic,
) -> Client:
    """The SDK client for an Anthropic endpoint, its own retries off; asynchronous for model
    calls, `client_class=anthropic.Anthropic` for batches."""
    key_env = endpoint.api_key_env or "ANTHROPIC_API_KEY"
    api_key = os.environ.get(key_env)
    if not api_key:
        raise ProviderError("auth", f"{key_env} is not set in the environment")
    base_url = endpoint.base_url or os.environ.get("ANTHROPIC_BASE_URL") or None
    return client_class(api_key=api_key, base_url=base_url, timeout=timeout, max_retries=0)


def request_kwargs(endpoint: ModelEndpoint, request: ModelRequest) -> dict[str, Any]:
    """The body of a Messages call: a batch request's params, and (with UNNAMED_FIELDS moved
    to extra_body) the SDK's keyword arguments."""
    params: dict[str, Any] = dict(endpoint.parameters or {})
    system = "\n\n".join(
        content_text(m["content"]) for m in request.messages if m["role"] == "system"
    )
    messages = [
        {
            "role": m["role"],
            "content": m["content"]
            if isinstance(m["content"], str)
            else [anthropic_part(part) for part in m["content"]],
        }
        for m in request.messages
        if m["role"] != "system"
    ]
    max_tokens = request.max_output_tokens or params.get("max_output_tokens") or DEFAULT_MAX_TOKENS
    kwargs: dict[str, Any] = {"model": endpoint.model_id, "messages": messages}
    if system:
        kwargs["system"] = system
    temperature = request_temperature(params, request)
    if temperature is not None:
        params["temperature"] = temperature
    budget = params.get("thinking_budget")
    if budget:
        kwargs["thinking"] = {"type": "enabled", "budget_tokens": budget}
        # Thinking counts against max_tokens, which must exceed the budget: the answer
        # keeps the room it was given, on top of the thinking.
        max_tokens += budget
        # A thinking model refuses a temperature.
        params.pop("temperature", None)
    elif request.output_schema is not None:
        schema = request.output_schema
        kwargs["tools"] = [
            {
                "name": schema.name,
                "description": "Record your answer in exactly this structure.",
                "input_schema": schema.schema,
            }
        ]
        kwargs["tool_choice"] = {"type": "tool", "name": schema.name}
    kwargs["max_tokens"] = max_tokens
    kwargs.update({name: params[name] for name in UNNAMED_FIELDS if name in params})
    return kwargs


def model_response(
    message: Message, *, latency_ms: int = 0, rate_limits: RateLimits | None = None
) -> ModelResponse:
    """What a message says, live or from a batch."""
    # Thinking blocks are the model's working, not its answer. A forced tool call's input
    # is the answer of a request with an output schema.
    tool_inputs = [block.input for block in message.content if block.type == "tool_use"]
    if tool_inputs:
        text = json.dumps(tool_inputs[0])
    else:
        text = "".join(block.text for block in message.content if block.type == "text")
    return ModelResponse(
        text=text,
        input_tokens=message.usage.input_tokens,
        output_tokens=message.usage.output_tokens,
        latency_ms=latency_ms,
        rate_limits=rate_limits,
    )


class AnthropicMessagesProvider:
    def __init__(self, endpoint: ModelEndpoint, *, timeout: float) -> None:
        self.endpoint = endpoint
        self.client = anthropic_client(endpoint, timeout=timeout)

    async def complete(self, request: ModelRequest) -> ModelResponse:
        kwargs = request_kwargs(self.endpoint, request)
        extra = {name: kwargs.pop(name) for name in UNNAMED_FIELDS if name in kwargs}
        if extra:
            kwargs["extra_body"] = extra
        started = time.monotonic()
        try:
            raw = await self.client.messages.with_raw_response.create(**kwargs)
            message = await raw.parse()
        except anthropic.AnthropicError as error:
            raise from_sdk_error(error, anthropic) from error
        except (ValueError, TypeError, KeyError) as error:
            # A body that is not the JSON the SDK expects (a broken proxy, a truncated reply).
            raise ProviderError("bad_response", f"unreadable reply: {error}") from error
        return model_response(
            message,
            latency_ms=elapsed_ms(started),
            rate_limits=rate_limits_from_headers(raw.headers),
        )

    async def aclose(self) -> None:
        await self.client.close()
