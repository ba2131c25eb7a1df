"""The real openai and anthropic SDKs against a fake provider on 127.0.0.1."""

import asyncio
import datetime
import time

import pytest

from runs.models import ModelEndpoint
from runs.providers import (
    ModelRequest,
    ProviderError,
    RetryPolicy,
    call_with_retries,
    get_provider,
)
from tests.fake_provider import FakeProvider, Planned

QUICK = RetryPolicy(max_attempts=4, base_delay=0.01, max_delay=0.5)
REQUEST = ModelRequest(
    messages=[
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Summarise the file."},
    ],
    max_output_tokens=100,
)


@pytest.fixture
def fake():
    with FakeProvider() as server:
        yield server


@pytest.fixture(autouse=True)
def keys(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "test-openai-key")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "test-anthropic-key")


def endpoint(provider: str, base_url: str, **fields) -> ModelEndpoint:
    """An unsaved endpoint: providers need no database."""
    return ModelEndpoint(
        slug="m",
        display_name="M",
        provider=provider,
        model_id="model-x",
        release_date=datetime.date(2025, 1, 1),
        base_url=base_url,
        **fields,
    )


def call(
    ep: ModelEndpoint,
    request: ModelRequest = REQUEST,
    policy: RetryPolicy = QUICK,
    timeout: float = 5.0,
):
    async def go():
        provider = get_provider(ep, timeout=timeout)
        try:
            return await call_with_retries(provider, request, policy)
        finally:
            await provider.aclose()

    return asyncio.run(go())


def test_openai_chat_completion_through_the_sdk(fake):
    fake.plan(Planned(text="The chronology has 12 events."))
    ep = endpoint("openai", fake.openai_url, parameters={"temperature": 0.2})
    response, tries = call(ep)
    assert response.text == "The chronology has 12 events."
    assert (response.input_tokens, response.output_tokens, tries) == (11, 7, 1)
    sent = fake.requests[0]
    assert sent["path"] == "/v1/chat/completions"
    assert sent["json"]["model"] == "model-x"
    assert sent["json"]["max_completion_tokens"] == 100
    assert sent["json"]["temperature"] == 0.2
    assert sent["headers"]["authorization"] == "Bearer test-openai-key"


def test_openai_compatible_servers_get_max_tokens_and_json_mode(fake):
    ep = endpoint("openai_compatible", fake.openai_url)
    call(ep, ModelRequest(messages=REQUEST.messages, max_output_tokens=50, json_output=True))
    sent = fake.requests[0]["json"]
    assert sent["max_tokens"] == 50
    assert sent["response_format"] == {"type": "json_object"}


def test_anthropic_messages_through_the_sdk(fake):
    fake.plan(Planned(text="Handover written."))
    response, _ = call(endpoint("anthropic", fake.anthropic_url))
    assert response.text == "Handover written."
    assert (response.input_tokens, response.output_tokens) == (13, 5)
    sent = fake.requests[0]
    assert sent["path"] == "/v1/messages"
    assert sent["json"]["system"] == "Be brief."
    assert sent["json"]["messages"] == [{"role": "user", "content": "Summarise the file."}]
    assert sent["json"]["max_tokens"] == 100
    assert sent["headers"]["authorization"] == "Bearer test-anthropic-key"


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_rate_limits_are_retried_after_the_time_the_server_asks(fake, provider):
    fake.plan(Planned(status=429, headers={"retry-after-ms": "300"}), Planned(text="ok"))
    ep = endpoint(provider, fake.openai_url if provider == "openai" else fake.anthropic_url)
    started = time.monotonic()
    response, tries = call(ep)
    assert response.text == "ok"
    assert tries == 2
    assert time.monotonic() - started >= 0.3
    assert len(fake.requests) == 2, "the SDK's own retries must be off"


@pytest.mark.parametrize("status,kind", [(500, "server_error"), (529, "overloaded")])
def test_server_errors_are_retried_up_to_the_limit(fake, status, kind):
    fake.plan(*[Planned(status=status)] * 4)
    with pytest.raises(ProviderError) as caught:
        call(endpoint("anthropic", fake.anthropic_url))
    assert caught.value.kind == kind
    assert caught.value.tries == 4
    assert len(fake.requests) == 4


def test_authentication_errors_are_not_retried(fake):
    fake.plan(Planned(status=401))
    with pytest.raises(ProviderError) as caught:
        call(endpoint("openai", fake.openai_url))
    assert caught.value.kind == "auth"
    assert len(fake.requests) == 1


def test_an_exhausted_quota_is_not_retried(fake):
    body = {
        "error": {
            "message": "You exceeded your quota",
            "type": "insufficient_quota",
            "code": "insufficient_quota",
        }
    }
    fake.plan(Planned(status=429, body=body))
    with pytest.raises(ProviderError) as caught:
        call(endpoint("openai", fake.openai_url))
    assert caught.value.kind == "spend_limit"
    assert len(fake.requests) == 1


def test_a_slow_reply_times_out_and_is_retried(fake):
    fake.plan(Planned(text="late", delay=1.0), Planned(text="on time"))
    response, tries = call(endpoint("openai", fake.openai_url), timeout=0.3)
    assert response.text == "on time"
    assert tries == 2


def test_a_malformed_body_is_a_bad_response(fake):
    fake.plan(*[Planned(body="{not json")] * 4)
    with pytest.raises(ProviderError) as caught:
        call(endpoint("openai", fake.openai_url))
    assert caught.value.kind == "bad_response"
    assert caught.value.tries == 1


def test_a_missing_key_fails_clearly(monkeypatch):
    monkeypatch.delenv("ANTHROPIC_API_KEY")
    with pytest.raises(ProviderError) as caught:
        call(endpoint("anthropic", "http://127.0.0.1:9"))
    assert caught.value.kind == "auth"
    assert "ANTHROPIC_API_KEY" in str(caught.value)


def test_an_endpoint_can_name_its_own_key_variable(fake, monkeypatch):
    monkeypatch.setenv("LOCAL_VLLM_KEY", "local-secret")
    call(endpoint("openai_compatible", fake.openai_url, api_key_env="LOCAL_VLLM_KEY"))
    assert fake.requests[0]["headers"]["authorization"] == "Bearer local-secret"
