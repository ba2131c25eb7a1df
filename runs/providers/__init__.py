"""One small interface over every model provider.

A provider turns a `ModelRequest` into a `ModelResponse` or raises `ProviderError` with a
kind that says whether trying again can help. Retrying is done once, by `call_with_retries`,
so the SDKs' own retries are turned off.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from runs.models import ModelEndpoint


@dataclass(frozen=True)
class ModelRequest:
    """What is sent to a model."""

    messages: list[dict[str, str]]
    """Chat messages, each {"role": "system" | "user" | "assistant", "content": text}."""
    max_output_tokens: int | None = None
    """Upper bound on the reply's length; None leaves the provider's default."""
    json_output: bool = False
    """Ask for a single JSON object (judges)."""
    metadata: dict[str, Any] = field(default_factory=dict)
    """Ids the simulated provider uses to look up what it 'knows'; never sent to an API."""


@dataclass(frozen=True)
class ModelResponse:
    """What came back, with what it cost in tokens and time."""

    text: str
    input_tokens: int = 0
    output_tokens: int = 0
    latency_ms: int = 0


class ProviderError(Exception):
    """A failed model call, classified so that the retry layer knows what to do."""

    RETRYABLE = frozenset({"rate_limit", "server_error", "overloaded", "timeout", "connection"})

    def __init__(self, kind: str, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.retry_after = retry_after
        self.tries = 1

    @property
    def retryable(self) -> bool:
        return self.kind in self.RETRYABLE


class Provider(Protocol):
    async def complete(self, request: ModelRequest) -> ModelResponse: ...

    async def aclose(self) -> None: ...


def get_provider(
    endpoint: ModelEndpoint, *, timeout: float, task_versions: Iterable[Any] = ()
) -> Provider:
    """The provider client for an endpoint. Call it inside the event loop that will use it.

    `task_versions` (with criteria prefetched) are what a simulated model may draw on;
    real providers ignore them.
    """
    from runs.models import ModelEndpoint

    kind = endpoint.provider
    if kind in (ModelEndpoint.Provider.OPENAI, ModelEndpoint.Provider.OPENAI_COMPATIBLE):
        from runs.providers.openai_chat import OpenAIChatProvider

        return OpenAIChatProvider(endpoint, timeout=timeout)
    if kind == ModelEndpoint.Provider.ANTHROPIC:
        from runs.providers.anthropic_messages import AnthropicMessagesProvider

        return AnthropicMessagesProvider(endpoint, timeout=timeout)
    if kind == ModelEndpoint.Provider.SIMULATED:
        from runs.providers.simulated import SimulatedProvider

        return SimulatedProvider(endpoint, task_versions)
    raise ValueError(f"Endpoint {endpoint.slug!r} has unknown provider {kind!r}")


@dataclass(frozen=True)
class RetryPolicy:
    """Capped exponential backoff with jitter; a server's retry-after wins when it gives one."""

    max_attempts: int = 4
    base_delay: float = 1.0
    max_delay: float = 60.0

    def delay(self, attempt: int, error: ProviderError) -> float:
        if error.retry_after is not None:
            return min(error.retry_after, self.max_delay)
        backoff = min(self.max_delay, self.base_delay * 2 ** (attempt - 1))
        return backoff * random.uniform(0.5, 1.0)


async def call_with_retries(
    provider: Provider, request: ModelRequest, policy: RetryPolicy
) -> tuple[ModelResponse, int]:
    """Call the provider until it answers or fails for good; returns the response and tries.

    The final ProviderError carries the number of tries in `tries`.
    """
    attempt = 0
    while True:
        attempt += 1
        try:
            return await provider.complete(request), attempt
        except ProviderError as error:
            error.tries = attempt
            if not error.retryable or attempt >= policy.max_attempts:
                raise
            await asyncio.sleep(policy.delay(attempt, error))


def elapsed_ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)


def retry_after_from_headers(headers: Any) -> float | None:
    """Seconds to wait from `retry-after-ms` or `retry-after` (seconds form only)."""
    if headers is None:
        return None
    value = headers.get("retry-after-ms")
    if value:
        try:
            return float(value) / 1000
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value:
        try:
            return float(value)
        except ValueError:
            return None
    return None


def classify_status(status: int, message: str, headers: Any = None) -> ProviderError:
    """Map an HTTP status from any provider to a ProviderError."""
    if status == 429:
        # OpenAI says "insufficient_quota" on 429 when the account is out of credit:
        # waiting will not help.
        if "insufficient_quota" in message or "spend limit" in message.lower():
            return ProviderError("spend_limit", message)
        return ProviderError("rate_limit", message, retry_after=retry_after_from_headers(headers))
    if status == 529:
        return ProviderError("overloaded", message, retry_after=retry_after_from_headers(headers))
    if status in (401, 403):
        return ProviderError("auth", message)
    if status == 408:
        return ProviderError("timeout", message)
    if status >= 500:
        return ProviderError("server_error", message, retry_after=retry_after_from_headers(headers))
    return ProviderError("bad_request", message)


def from_sdk_error(error: Exception, sdk: Any) -> ProviderError:
    """Translate an exception of the openai or anthropic SDK (they share a shape)."""
    if isinstance(error, sdk.APITimeoutError):
        return ProviderError("timeout", str(error))
    if isinstance(error, sdk.APIConnectionError):
        return ProviderError("connection", str(error))
    if isinstance(error, sdk.APIStatusError):
        code = " ".join(str(getattr(error, name, "") or "") for name in ("code", "type"))
        message = f"{error} [{code.strip()}]" if code.strip() else str(error)
        return classify_status(error.status_code, message, error.response.headers)
    if isinstance(error, sdk.APIResponseValidationError):
        return ProviderError("bad_response", str(error))
    return ProviderError("bad_response", f"{type(error).__name__}: {error}")
