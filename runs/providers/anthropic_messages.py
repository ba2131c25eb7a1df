"""Anthropic models via the Messages API."""

import os
import time
from typing import Any

import anthropic

from runs.models import ModelEndpoint
from runs.providers import ModelRequest, ModelResponse, ProviderError, elapsed_ms, from_sdk_error

DEFAULT_MAX_TOKENS = 4096  # the Messages API requires a limit


class AnthropicMessagesProvider:
    def __init__(self, endpoint: ModelEndpoint, *, timeout: float) -> None:
        self.endpoint = endpoint
        key_env = endpoint.api_key_env or "ANTHROPIC_API_KEY"
        api_key = os.environ.get(key_env)
        if not api_key:
            raise ProviderError("auth", f"{key_env} is not set in the environment")
        base_url = endpoint.base_url or os.environ.get("ANTHROPIC_BASE_URL") or None
        self.client = anthropic.AsyncAnthropic(
            api_key=api_key, base_url=base_url, timeout=timeout, max_retries=0
        )

    async def complete(self, request: ModelRequest) -> ModelResponse:
        params: dict[str, Any] = dict(self.endpoint.parameters or {})
        system = "\n\n".join(m["content"] for m in request.messages if m["role"] == "system")
        messages = [m for m in request.messages if m["role"] != "system"]
        kwargs: dict[str, Any] = {
            "model": self.endpoint.model_id,
            "messages": messages,
            "max_tokens": request.max_output_tokens
            or params.get("max_output_tokens")
            or DEFAULT_MAX_TOKENS,
        }
        if system:
            kwargs["system"] = system
        if "thinking_budget" in params:
            kwargs["thinking"] = {"type": "enabled", "budget_tokens": params["thinking_budget"]}
        extra = {name: params[name] for name in ("temperature", "top_p") if name in params}
        if extra:
            kwargs["extra_body"] = extra
        started = time.monotonic()
        try:
            message = await self.client.messages.create(**kwargs)
        except anthropic.AnthropicError as error:
            raise from_sdk_error(error, anthropic) from error
        except (ValueError, TypeError, KeyError) as error:
            # A body that is not the JSON the SDK expects (a broken proxy, a truncated reply).
            raise ProviderError("bad_response", f"unreadable reply: {error}") from error
        text = "".join(getattr(block, "text", "") for block in message.content)
        return ModelResponse(
            text=text,
            input_tokens=message.usage.input_tokens,
            output_tokens=message.usage.output_tokens,
            latency_ms=elapsed_ms(started),
        )

    async def aclose(self) -> None:
        await self.client.close()
