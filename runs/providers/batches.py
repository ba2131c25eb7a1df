"""Batch APIs: many model requests handed over at once, answered within 24 hours at half price.

OpenAI: the requests go up as a JSONL file (Files API, purpose "batch") and a batch is made
of it; the answers come back in an output file and an error file. Anthropic: Message Batches
take the requests in the create call and stream the results once the batch has ended. Both
answer in no particular order, so results are joined to requests by custom id, never by
position.

A request's body is built by the provider module's `request_kwargs`, the function that builds
a live call, so a batch asks exactly what a live call would. Answers are read with the SDKs'
own types and the same `model_response` functions as live answers. The clients here are
synchronous: each of their calls is one short step of a Celery task.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING, Any, Protocol

import anthropic
import openai
from anthropic.types.shared import ErrorResponse
from openai.types.chat import ChatCompletion
from openai.types.responses import Response

from runs.providers import (
    ModelRequest,
    ModelResponse,
    ProviderError,
    classify_status,
    from_sdk_error,
)

if TYPE_CHECKING:
    from runs.models import ModelEndpoint

MEGABYTE = 1024 * 1024

BatchOutcome = ModelResponse | ProviderError | None
"""What became of one request: an answer, an error, or None when it was cancelled unrun."""

# Anthropic's error types, as the HTTP status a live call would have met.
ANTHROPIC_ERROR_STATUS = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "timeout_error": 504,
    "overloaded_error": 529,
}


@dataclass(frozen=True)
class BatchState:
    """Where a provider batch stands."""

    ended: bool
    """The provider will answer nothing more: results, if any, can be read."""
    cancelled: bool = False
    """Someone asked for it to be cancelled; requests it did not run have no result."""
    failure: str = ""
    """Why the provider refused the whole batch (it then has no results)."""


class BatchClient(Protocol):
    max_items: int
    """Most requests the provider takes in one batch."""
    max_bytes: int
    """Largest batch, in bytes of JSON, the provider takes (kept a little under its limit)."""

    def entry(self, custom_id: str, request: ModelRequest) -> dict[str, Any]:
        """One request as the batch API takes it."""
        ...

    def submit(self, entries: Sequence[dict[str, Any]]) -> str:
        """Hand the requests over as one batch; returns the provider's id of it."""
        ...

    def state(self, batch_id: str) -> BatchState: ...

    def results(self, batch_id: str) -> dict[str, BatchOutcome]:
        """The outcome of each request that has one, by custom id."""
        ...

    def cancel(self, batch_id: str) -> None: ...

    def close(self) -> None: ...


@contextmanager
def sdk_errors(sdk: ModuleType, base: type[Exception]) -> Iterator[None]:
    """SDK exceptions (and bodies the SDK cannot read) raised as ProviderError."""
    try:
        yield
    except base as error:
        raise from_sdk_error(error, sdk) from error
    except (ValueError, TypeError, KeyError) as error:
        raise ProviderError("bad_response", f"unreadable reply: {error}") from error


def batch_client(endpoint: ModelEndpoint, *, timeout: float) -> BatchClient:
    """The batch API of a real endpoint (simulated models have none)."""
    from runs.models import ModelEndpoint

    if endpoint.provider == ModelEndpoint.Provider.ANTHROPIC:
        return AnthropicBatches(endpoint, timeout=timeout)
    if endpoint.provider in (
        ModelEndpoint.Provider.OPENAI,
        ModelEndpoint.Provider.OPENAI_COMPATIBLE,
    ):
        return OpenAIBatches(endpoint, timeout=timeout)
    raise ValueError(f"Endpoint {endpoint.slug!r} ({endpoint.provider}) has no batch API")


# --- OpenAI Batch API -----------------------------------------------------------------------


class OpenAIBatches:
    """Chat Completions or Responses requests (the endpoint's `api`) through the Batch API."""

    max_items = 50_000
    max_bytes = 190 * MEGABYTE  # the API takes input files of up to 200 MB
    ended_statuses = frozenset({"completed", "expired", "cancelled", "failed"})

    def __init__(self, endpoint: ModelEndpoint, *, timeout: float) -> None:
        from runs.providers import openai_chat, openai_responses

        self.endpoint = endpoint
        uses_responses = (endpoint.parameters or {}).get("api") == "responses"
        self.api = openai_responses if uses_responses else openai_chat
        self.body_type = Response if uses_responses else ChatCompletion
        self.url = "/v1/responses" if uses_responses else "/v1/chat/completions"
        self.client = openai_chat.openai_client(
            endpoint, timeout=timeout, client_class=openai.OpenAI
        )

    def entry(self, custom_id: str, request: ModelRequest) -> dict[str, Any]:
        return {
            "custom_id": custom_id,
            "method": "POST",
            "url": self.url,
            "body": self.api.request_kwargs(self.endpoint, request),
        }

    def submit(self, entries: Sequence[dict[str, Any]]) -> str:
        content = "".join(json.dumps(entry) + "\n" for entry in entries).encode()
        with sdk_errors(openai, openai.OpenAIError):
            uploaded = self.client.files.create(file=("requests.jsonl", content), purpose="batch")
            batch = self.client.batches.create(
                input_file_id=uploaded.id, endpoint=self.url, completion_window="24h"
            )
        return batch.id

    def state(self, batch_id: str) -> BatchState:
        with sdk_errors(openai, openai.OpenAIError):
            batch = self.client.batches.retrieve(batch_id)
        failure = ""
        if batch.status == "failed":
            errors = batch.errors.data if batch.errors and batch.errors.data else []
            failure = "; ".join(f"{e.message} [{e.code}]" for e in errors) or "the batch failed"
        return BatchState(
            ended=batch.status in self.ended_statuses,
            cancelled=batch.status in ("cancelling", "cancelled"),
            failure=failure,
        )

    def results(self, batch_id: str) -> dict[str, BatchOutcome]:
        outcomes: dict[str, BatchOutcome] = {}
        with sdk_errors(openai, openai.OpenAIError):
            batch = self.client.batches.retrieve(batch_id)
            for file_id in (batch.output_file_id, batch.error_file_id):
                if not file_id:
                    continue
                for text in self.client.files.content(file_id).text.splitlines():
                    if text.strip():
                        line = json.loads(text)
                        outcomes[line["custom_id"]] = self.outcome(line)
        return outcomes

    def outcome(self, line: dict[str, Any]) -> BatchOutcome:
        """One line of an output or error file."""
        response, error = line.get("response"), line.get("error")
        if response is None or error:
            code = (error or {}).get("code") or ""
            message = (error or {}).get("message") or "no response"
            if code == "batch_expired":
                return ProviderError("expired", message)
            if code == "batch_cancelled":
                return None
            return ProviderError("server_error", f"{message} [{code}]")
        status = response.get("status_code")
        body = response.get("body")
        if status != 200:
            detail = body.get("error") if isinstance(body, dict) else None
            detail = detail if isinstance(detail, dict) else {}
            message = detail.get("message") or f"HTTP {status}"
            code = detail.get("code") or detail.get("type")
            return classify_status(int(status or 500), f"{message} [{code}]" if code else message)
        try:
            return self.api.model_response(self.body_type.model_validate(body))
        except ProviderError as failure:
            return failure
        except (ValueError, TypeError, KeyError, AttributeError) as failure:
            return ProviderError("bad_response", f"unreadable reply: {failure}")

    def cancel(self, batch_id: str) -> None:
        with sdk_errors(openai, openai.OpenAIError):
            self.client.batches.cancel(batch_id)

    def close(self) -> None:
        self.client.close()


# --- Anthropic Message Batches --------------------------------------------------------------


def anthropic_error(error: ErrorResponse) -> ProviderError:
    """An errored request's error, classified as a live call's would be."""
    kind, message = error.error.type, error.error.message
    if kind == "billing_error":
        return ProviderError("spend_limit", f"{message} [{kind}]")
    return classify_status(ANTHROPIC_ERROR_STATUS.get(kind, 500), f"{message} [{kind}]")


class AnthropicBatches:
    """Messages requests through Message Batches."""

    max_items = 100_000
    max_bytes = 240 * MEGABYTE  # the API takes batches of up to 256 MB

    def __init__(self, endpoint: ModelEndpoint, *, timeout: float) -> None:
        from runs.providers import anthropic_messages

        self.endpoint = endpoint
        self.api = anthropic_messages
        self.client = anthropic_messages.anthropic_client(
            endpoint, timeout=timeout, client_class=anthropic.Anthropic
        )

    def entry(self, custom_id: str, request: ModelRequest) -> dict[str, Any]:
        # The params are the body of a live call: temperature and top_p included as they are.
        return {"custom_id": custom_id, "params": self.api.request_kwargs(self.endpoint, request)}

    def submit(self, entries: Sequence[dict[str, Any]]) -> str:
        with sdk_errors(anthropic, anthropic.AnthropicError):
            batch = self.client.messages.batches.create(requests=list(entries))
        return batch.id

    def state(self, batch_id: str) -> BatchState:
        with sdk_errors(anthropic, anthropic.AnthropicError):
            batch = self.client.messages.batches.retrieve(batch_id)
        return BatchState(
            ended=batch.processing_status == "ended",
            cancelled=batch.cancel_initiated_at is not None,
        )

    def results(self, batch_id: str) -> dict[str, BatchOutcome]:
        outcomes: dict[str, BatchOutcome] = {}
        with sdk_errors(anthropic, anthropic.AnthropicError):
            for line in self.client.messages.batches.results(batch_id):
                result = line.result
                if result.type == "succeeded":
                    outcomes[line.custom_id] = self.api.model_response(result.message)
                elif result.type == "errored":
                    outcomes[line.custom_id] = anthropic_error(result.error)
                elif result.type == "expired":
                    outcomes[line.custom_id] = ProviderError(
                        "expired", "the batch expired before this request was run"
                    )
                else:
                    outcomes[line.custom_id] = None
        return outcomes

    def cancel(self, batch_id: str) -> None:
        with sdk_errors(anthropic, anthropic.AnthropicError):
            self.client.messages.batches.cancel(batch_id)

    def close(self) -> None:
        self.client.close()
