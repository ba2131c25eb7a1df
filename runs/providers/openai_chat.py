"""OpenAI and OpenAI-compatible servers (vLLM, Ollama, llama.cpp, gateways) via Chat Completions."""

import os
import time
from typing import Any, TypeVar

import openai
from openai.types.chat import ChatCompletion

from runs.models import ModelEndpoint
from runs.providers import (
    ModelRequest,
    ModelResponse,
    ProviderError,
    RateLimits,
    elapsed_ms,
    from_sdk_error,
    rate_limits_from_headers,
    reply_format,
    request_temperature,
)

Client = TypeVar("Client", openai.AsyncOpenAI, openai.OpenAI)


def openai_client(
    endpoint: ModelEndpoint, *, timeout: float, client_class: type[Client] = openai.AsyncOpenAI
) -> Client:
    """The SDK client for an OpenAI or OpenAI-compatible endpoint, its own retries off;
    asynchronous for model calls, `client_class=openai.OpenAI` for batches."""
    key_env = endpoint.api_key_env or "OPENAI_API_KEY"
    api_key = os.environ.get(key_env)
    if not api_key:
        if endpoint.provider != ModelEndpoint.Provider.OPENAI_COMPATIBLE:
            raise ProviderError("auth", f"{key_env} is not set in the environment")
        api_key = "not-needed"  # local servers often take any key
    base_url = endpoint.base_url or os.environ.get("OPENAI_BASE_URL") or None
    return client_class(api_key=api_key, base_url=base_url, timeout=timeout, max_retries=0)


def request_kwargs(endpoint: ModelEndpoint, request: ModelRequest) -> dict[str, Any]:
    """The body of a Chat Completions call: the SDK's keyword arguments, and a batch line's body."""
    params: dict[str, Any] = dict(endpoint.parameters or {})
    # Messages are already in chat format, image parts included.
    kwargs: dict[str, Any] = {"model": endpoint.model_id, "messages": request.messages}
    max_tokens = request.max_output_tokens or params.get("max_output_tokens")
    if max_tokens:
        # OpenAI itself wants max_completion_tokens; most compatible servers know max_tokens.
        compatible = endpoint.provider == ModelEndpoint.Provider.OPENAI_COMPATIBLE
        kwargs["max_tokens" if compatible else "max_completion_tokens"] = max_tokens
    for name in ("top_p", "seed", "reasoning_effort"):
        if name in params:
            kwargs[name] = params[name]
    temperature = request_temperature(params, request)
    if temperature is not None:
        kwargs["temperature"] = temperature
    response_format = chat_response_format(params, request)
    if response_format is not None:
        kwargs["response_format"] = response_format
    return kwargs


def chat_response_format(params: dict[str, Any], request: ModelRequest) -> dict[str, Any] | None:
    """Chat Completions' response_format for the request (see reply_format)."""
    kind = reply_format(params, request)
    if kind == "json_schema":
        assert request.output_schema is not None
        return {
            "type": "json_schema",
            "json_schema": {
                "name": request.output_schema.name,
                "schema": request.output_schema.schema,
                "strict": True,
            },
        }
    return {"type": kind} if kind else None


def model_response(
    completion: ChatCompletion, *, latency_ms: int = 0, rate_limits: RateLimits | None = None
) -> ModelResponse:
    """What a chat completion says, live or from a batch."""
    if not completion.choices:
        raise ProviderError("bad_response", "the reply had no choices")
    usage = completion.usage
    return ModelResponse(
        text=completion.choices[0].message.content or "",
        input_tokens=usage.prompt_tokens if usage else 0,
        output_tokens=usage.completion_tokens if usage else 0,
        latency_ms=latency_ms,
        rate_limits=rate_limits,
    )


class OpenAIChatProvider:
    def __init__(self, endpoint: ModelEndpoint, *, timeout: float) -> None:
        self.endpoint = endpoint
        self.client = openai_client(endpoint, timeout=timeout)

    async def complete(self, request: ModelRequest) -> ModelResponse:
        started = time.monotonic()
        try:
            raw = await self.client.chat.completions.with_raw_response.create(
                **request_kwargs(self.endpoint, request)
            )
            completion = raw.parse()
        except openai.OpenAIError as error:
            raise from_sdk_error(error, openai) from error
        except (ValueError, TypeError, KeyError) as error:
            # A body that is not the JSON the SDK expects (a broken proxy, a truncated reply).
            raise ProviderError("bad_response", f"unreadable reply: {error}") from error
        return model_response(
            completion,
            latency_ms=elapsed_ms(started),
            rate_limits=rate_limits_from_headers(raw.headers),
        )

    async def aclose(self) -> None:
        await self.client.close()
