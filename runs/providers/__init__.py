"""One small interface over every model provider.

A provider turns a `ModelRequest` into a `ModelResponse` or raises `ProviderError` with a
kind that says whether trying again can help. Retrying is done once, by the run engine
(`runs.engine.call_with_retries`), so the SDKs' own retries are turned off.
"""

from __future__ import annotations

import datetime
import math
import random
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from runs.models import ModelEndpoint


ContentPart = dict[str, Any]
"""One part of a message in OpenAI chat format: {"type": "text", "text": ...} or
{"type": "image_url", "image_url": {"url": "data:image/png;base64,..."}}."""

Message = dict[str, Any]
"""{"role": "system" | "user" | "assistant", "content": text or a list of ContentParts}."""


@dataclass(frozen=True)
class OutputSchema:
    """A JSON schema the reply must follow, for providers that can enforce one."""

    name: str
    """Letters, digits, '_' and '-', at most 64: OpenAI's rule for a schema's name, and
    Anthropic's for the tool that carries it."""
    schema: dict[str, Any]
    """A JSON Schema object in the subset OpenAI's strict mode takes: every property
    required, additionalProperties false."""


@dataclass(frozen=True)
class ModelRequest:
    """What is sent to a model."""

    messages: list[Message]
    """Chat messages; content is text, or a list of parts when images go with it."""
    max_output_tokens: int | None = None
    """Upper bound on the reply's length; None leaves the provider's default."""
    json_output: bool = False
    """Ask for a single JSON object (judges)."""
    output_schema: OutputSchema | None = None
    """Ask for a reply that follows this schema: OpenAI's json_schema response format, or a
    forced tool call on Anthropic. Where the endpoint cannot enforce it, the prompt must
    still ask for the shape, and the reply is parsed as text."""
    temperature: float | None = None
    """Overrides the endpoint's temperature (judges ask for 0); None keeps the endpoint's.
    Left out for reasoning models, which refuse or ignore it (see `request_temperature`)."""
    metadata: dict[str, Any] = field(default_factory=dict)
    """Ids the simulated provider uses to look up what it 'knows'; never sent to an API."""


@dataclass(frozen=True)
class RateLimits:
    """The request budget a provider reports in its response headers."""

    limit: int | None = None
    """Requests allowed per minute."""
    remaining: int | None = None
    """Requests left before the provider starts refusing."""
    reset_seconds: float | None = None
    """Seconds until the budget is whole again."""


@dataclass(frozen=True)
class ModelResponse:
    """What came back, with what it cost in tokens and time."""

    text: str
    input_tokens: int = 0
    output_tokens: int = 0
    latency_ms: int = 0
    rate_limits: RateLimits | None = None


def content_text(content: str | list[ContentPart]) -> str:
    """The text of a message's content, its text parts joined; images are left out."""
    if isinstance(content, str):
        return content
    return "\n\n".join(part["text"] for part in content if part.get("type") == "text")


class ProviderError(Exception):
    """A failed model call, classified so that the retry layer knows what to do."""

    # A malformed reply is usually a proxy or a connection cut short: worth another try.
    RETRYABLE = frozenset(
        {"rate_limit", "server_error", "overloaded", "timeout", "connection", "bad_response"}
    )

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
        if (endpoint.parameters or {}).get("api") == "responses":
            from runs.providers.openai_responses import OpenAIResponsesProvider

            return OpenAIResponsesProvider(endpoint, timeout=timeout)
        from runs.providers.openai_chat import OpenAIChatProvider

        return OpenAIChatProvider(endpoint, timeout=timeout)
    if kind == ModelEndpoint.Provider.ANTHROPIC:
        from runs.providers.anthropic_messages import AnthropicMessagesProvider

        return AnthropicMessagesProvider(endpoint, timeout=timeout)
    if kind == ModelEndpoint.Provider.SIMULATED:
        from runs.providers.simulated import SimulatedProvider

        return SimulatedProvider(endpoint, task_versions)
    if kind == ModelEndpoint.Provider.IMPORTED:
        raise ValueError(
            f"Endpoint {endpoint.slug!r} holds imported results (Inspect eval logs); it has "
            "no API to call"
        )
    raise ValueError(f"Endpoint {endpoint.slug!r} has unknown provider {kind!r}")


OPENAI_STYLE = frozenset({"openai", "openai_compatible"})
REAL_PROVIDERS = OPENAI_STYLE | {"anthropic"}
EVERY_PROVIDER = REAL_PROVIDERS | {"simulated"}
REASONING_EFFORTS = ("none", "minimal", "low", "medium", "high", "xhigh", "max")
"""The values the openai SDK's ReasoningEffort allows."""
MIN_THINKING_BUDGET = 1024  # the Messages API's smallest budget_tokens
STRUCTURED_OUTPUT_MODES = ("json_schema", "json_object", "none")
"""How an OpenAI-style endpoint is asked for a schema's shape: json_schema (the default,
strict), json_object for servers that only know JSON mode, none for servers that know
neither (the prompt still asks for JSON)."""


@dataclass(frozen=True)
class Parameter:
    """One key of ModelEndpoint.parameters: what it must be and which providers read it."""

    kind: type
    """bool, int, float (an int is a float too) or str."""
    providers: frozenset[str]
    """The ModelEndpoint.provider values whose providers read it."""
    choices: tuple[str, ...] = ()
    """The values allowed, when they are a fixed few."""
    minimum: float | None = None
    maximum: float | None = None


# ModelEndpoint.parameters' help_text describes these keys; keep the two in step.
PARAMETERS: dict[str, Parameter] = {
    "temperature": Parameter(float, REAL_PROVIDERS, minimum=0, maximum=2),
    "top_p": Parameter(float, REAL_PROVIDERS, minimum=0, maximum=1),
    "seed": Parameter(int, OPENAI_STYLE),
    "max_output_tokens": Parameter(int, REAL_PROVIDERS, minimum=1),
    "reasoning_effort": Parameter(str, OPENAI_STYLE, choices=REASONING_EFFORTS),
    "thinking_budget": Parameter(int, frozenset({"anthropic"}), minimum=MIN_THINKING_BUDGET),
    "api": Parameter(str, OPENAI_STYLE, choices=("chat", "responses")),
    "structured_output": Parameter(str, OPENAI_STYLE, choices=STRUCTURED_OUTPUT_MODES),
    "vision": Parameter(bool, EVERY_PROVIDER),
    "skill": Parameter(float, frozenset({"simulated"})),
    "latency_ms": Parameter(int, frozenset({"simulated"}), minimum=0),
    "failure_rate": Parameter(float, frozenset({"simulated"}), minimum=0, maximum=1),
}

_KIND_WORDS = {bool: "true or false", int: "a whole number", float: "a number", str: "text"}


def _has_kind(value: object, kind: type) -> bool:
    if isinstance(value, bool):  # JSON true is not the number 1
        return kind is bool
    if kind is float:
        return isinstance(value, int | float) and math.isfinite(value)
    return isinstance(value, kind)


def parameter_problems(provider: str, parameters: object) -> list[str]:
    """What is wrong with an endpoint's parameters, one message per problem naming its key."""
    if not isinstance(parameters, dict):
        return ['parameters must be a JSON object, e.g. {"temperature": 0.2}']
    if provider == "imported":
        # Results read from a log: nothing is ever sent to the model.
        return [f"{key}: imported endpoints take no parameters" for key in parameters]
    problems = []
    for key, value in parameters.items():
        spec = PARAMETERS.get(key)
        if spec is None:
            known = ", ".join(name for name, p in PARAMETERS.items() if provider in p.providers)
            problems.append(f"{key}: unknown parameter; {provider} endpoints take {known}")
        elif provider not in spec.providers:
            problems.append(f"{key}: not used by {provider} endpoints")
        elif not _has_kind(value, spec.kind):
            problems.append(f"{key}: must be {_KIND_WORDS[spec.kind]}, got {value!r}")
        elif spec.choices and value not in spec.choices:
            problems.append(f"{key}: must be one of {', '.join(spec.choices)}, got {value!r}")
        elif spec.minimum is not None and value < spec.minimum:
            problems.append(f"{key}: must be at least {spec.minimum}, got {value!r}")
        elif spec.maximum is not None and value > spec.maximum:
            problems.append(f"{key}: must be at most {spec.maximum}, got {value!r}")
    if provider == "anthropic" and "thinking_budget" in parameters:
        # The Messages API's rules for a model that thinks.
        if "temperature" in parameters:
            problems.append("temperature: cannot be set with thinking_budget")
        top_p = parameters.get("top_p")
        if _has_kind(top_p, float) and top_p < 0.95:
            problems.append(f"top_p: must be at least 0.95 with thinking_budget, got {top_p!r}")
    if parameters.get("api") == "responses" and "seed" in parameters:
        problems.append("seed: the Responses API takes no seed")
    return problems


# Reasoning models reject a sampling temperature (OpenAI answers 400 "Unsupported value:
# 'temperature'"), and an endpoint may be registered without reasoning_effort, so the
# model id is read too: OpenAI's o1, o3 and o4 families and every gpt-5 model reason.
# Ids may carry a router's or fine-tune's prefix ("openai/o3-mini", "ft:gpt-5-mini:...").
_REASONING_MODEL_ID = re.compile(r"(?:^|[/:])(?:o[134]|gpt-5)(?![0-9a-z])", re.I)


def is_reasoning_model(parameters: dict[str, Any], model_id: str = "") -> bool:
    """An endpoint that reasons before answering: set up to (OpenAI reasoning effort,
    Anthropic extended thinking), or a model id of a known reasoning family."""
    return (
        bool(parameters.get("reasoning_effort"))
        or bool(parameters.get("thinking_budget"))
        or bool(_REASONING_MODEL_ID.search(model_id))
    )


def request_temperature(parameters: dict[str, Any], request: ModelRequest) -> float | None:
    """The temperature to send: the request's, else the endpoint's, and none at all from
    the request for a reasoning model, since reasoning models reject or ignore a sampling
    temperature and their reasoning is not made deterministic by one."""
    if request.temperature is None or is_reasoning_model(parameters):
        return parameters.get("temperature")
    return request.temperature


def reply_format(parameters: dict[str, Any], request: ModelRequest) -> str | None:
    """How an OpenAI-style API is asked for the reply's shape: "json_schema" (strict) when
    the request has a schema and the endpoint takes one (its `structured_output`),
    "json_object" where it only knows JSON mode, None when nothing is asked or the endpoint
    takes neither. Each API spells the chosen format its own way."""
    mode = parameters.get("structured_output", "json_schema")
    if mode == "none" or not (request.output_schema or request.json_output):
        return None
    if request.output_schema is not None and mode == "json_schema":
        return "json_schema"
    return "json_object"


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


_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")
_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def _duration_seconds(value: str) -> float | None:
    """OpenAI's reset durations: '20ms', '1s', '6m0s', '1h2m3.5s'."""
    parts = _DURATION_PART.findall(value)
    if not parts or "".join(n + u for n, u in parts) != value.strip():
        return None
    return sum(float(number) * _DURATION_UNITS[unit] for number, unit in parts)


def _int_header(headers: Any, name: str) -> int | None:
    value = headers.get(name)
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def rate_limits_from_headers(headers: Any) -> RateLimits | None:
    """Request limits from OpenAI's x-ratelimit-* or Anthropic's anthropic-ratelimit-*
    headers; None when the server sends neither (most local servers)."""
    if headers is None:
        return None
    limit = _int_header(headers, "x-ratelimit-limit-requests")
    if limit is not None:
        reset = headers.get("x-ratelimit-reset-requests")
        return RateLimits(
            limit=limit,
            remaining=_int_header(headers, "x-ratelimit-remaining-requests"),
            reset_seconds=_duration_seconds(reset) if reset else None,
        )
    limit = _int_header(headers, "anthropic-ratelimit-requests-limit")
    if limit is not None:
        reset = headers.get("anthropic-ratelimit-requests-reset")
        reset_seconds = None
        if reset:
            try:
                moment = datetime.datetime.fromisoformat(reset.replace("Z", "+00:00"))
                reset_seconds = max(0.0, moment.timestamp() - time.time())
            except ValueError:
                pass
        return RateLimits(
            limit=limit,
            remaining=_int_header(headers, "anthropic-ratelimit-requests-remaining"),
            reset_seconds=reset_seconds,
        )
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
